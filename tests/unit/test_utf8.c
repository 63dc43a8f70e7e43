/* UTF-8 checks and character-boundary cuts. */
#include <string.h>

#include "conversion.h"
#include "tap.h"
#include "utf8.h"

int main(void)
{
    char buf[8], s[32];

    ok(utf8_valid("plain ascii"), "ASCII is valid");
    ok(utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "2, 3 and 4 byte characters");
    ok(!utf8_valid("caf\xc3"), "a cut 2-byte character is invalid");
    ok(!utf8_valid("\xc0\xaf"), "an overlong form is invalid");
    ok(!utf8_valid("\xed\xa0\x80"), "a surrogate is invalid");
    ok(!utf8_valid("\xff"), "0xff is invalid");

    str_copy(buf, sizeof buf, "abcdef\xc3\xa9");
    is_str(buf, "abcdef", "str_copy cuts before a 2-byte character that does not fit");
    str_copy(buf, sizeof buf, "abcde\xe2\x82\xac");
    is_str(buf, "abcde", "str_copy cuts before a 3-byte character split at the end");
    str_copy(buf, sizeof buf, "abcd\xe2\x82\xac!");
    is_str(buf, "abcd\xe2\x82\xac", "a character that fits exactly is kept");
    str_copy(buf, sizeof buf, "a\xf0\x9f\x98\x80xyz");
    is_str(buf, "a\xf0\x9f\x98\x80xy", "a 4-byte character before the cut is kept");

    strcpy(s, "x\xe2\x82");
    utf8_trim_partial(s);
    is_str(s, "x", "utf8_trim_partial drops an incomplete tail");
    strcpy(s, "x\xe2\x82\xac");
    utf8_trim_partial(s);
    is_str(s, "x\xe2\x82\xac", "and keeps a complete one");

    strcpy(s, "a\xffz\xc3");
    utf8_scrub(s);
    is_str(s, "a?z?", "utf8_scrub marks every stray byte");
    ok(utf8_has_control("a\tb") && !utf8_has_control("a b"), "control bytes are found");
    return tap_done();
}
