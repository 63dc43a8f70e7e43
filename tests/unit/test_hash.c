/* SHA-256 and HMAC-SHA256 against published vectors, base64 against RFC 4648, and the
 * constant-time comparisons. */
#include "hash.h"
#include "tap.h"

static void test_sha256_vectors(void)
{
    char hex[HASH_HEX_LEN + 1];

    hash_sha256_hex("", 0, hex);
    is_str(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
           "sha256 of the empty string");
    hash_sha256_hex("abc", 3, hex);
    is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "sha256 of abc");
    hash_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
    is_str(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
           "sha256 of the 448-bit NIST message");
    hash_sha256_hex("abcX", 3, hex);
    is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "sha256 hashes exactly len bytes");
}

static void test_hmac_rfc4231(void)
{
    unsigned char key[20], mac[32];
    char hex[65];

    memset(key, 0x0b, sizeof key);
    hash_hmac_sha256(key, sizeof key, "Hi There", 8, mac);
    hash_hex_encode(mac, sizeof mac, hex);
    is_str(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
           "HMAC-SHA256 RFC 4231 test case 1");
    hash_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
    hash_hex_encode(mac, sizeof mac, hex);
    is_str(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
           "HMAC-SHA256 RFC 4231 test case 2");
}

static void test_hex_encode(void)
{
    const unsigned char in[] = {0x00, 0x0f, 0xa5, 0xff};
    char hex[9];

    hash_hex_encode(in, sizeof in, hex);
    is_str(hex, "000fa5ff", "hex encoding is lower-case and zero-padded");
}

static void test_base64_rfc4648(void)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    char enc[32];
    unsigned char dec[32];

    for (int i = 0; i < 7; i++) {
        int n =
            hash_base64_encode((const unsigned char *)plain[i], strlen(plain[i]), enc, sizeof enc);
        is_int(n, strlen(coded[i]), "base64 encode length of '%s'", plain[i]);
        is_str(enc, coded[i], "base64 encode of '%s'", plain[i]);
        n = hash_base64_decode(coded[i], strlen(coded[i]), dec, sizeof dec);
        is_int(n, strlen(plain[i]), "base64 decode length of '%s' excludes padding", coded[i]);
        ok(n >= 0 && memcmp(dec, plain[i], (size_t)n) == 0, "base64 decode of '%s'", coded[i]);
    }
}

static void test_base64_round_trip(void)
{
    unsigned char raw[256], back[256];
    char enc[400];
    int n, m, bad_len = -1;

    for (int i = 0; i < 256; i++)
        raw[i] = (unsigned char)(255 - i);
    for (size_t len = 0; len <= 34 && bad_len < 0; len++) {
        n = hash_base64_encode(raw, len, enc, sizeof enc);
        m = hash_base64_decode(enc, (size_t)n, back, sizeof back);
        if (m != (int)len || memcmp(raw, back, len) != 0)
            bad_len = (int)len;
    }
    is_int(bad_len, -1, "base64 round trip for every length 0..34 (first failing length)");
    n = hash_base64_encode(raw, sizeof raw, enc, sizeof enc);
    is_int(n, 344, "base64 of 256 bytes is 344 chars");
    is_int(hash_base64_decode(enc, (size_t)n, back, sizeof back), 256, "256 bytes decoded");
    ok(memcmp(raw, back, sizeof raw) == 0, "all 256 byte values survive the round trip");
}

static void test_base64_errors(void)
{
    unsigned char out[8];
    char small[4];

    is_int(hash_base64_encode((const unsigned char *)"foo", 3, small, sizeof small), -1,
           "encode refuses a buffer without room for the NUL");
    is_int(hash_base64_decode("Zm9vYmFy", 8, out, 5), -1, "decode refuses a short buffer");
    is_int(hash_base64_decode("Zm9v!mFy", 8, out, sizeof out), -1, "decode refuses '!'");
    is_int(hash_base64_decode("Zm9vY", 5, out, sizeof out), -1,
           "decode refuses an impossible length");
    is_int(hash_base64_decode("Zg==Zg==", 8, out, sizeof out), -1, "padding inside refused");
    is_int(hash_base64_decode("Zg=a", 4, out, sizeof out), -1, "data after padding refused");
    is_int(hash_base64_decode("Z===", 4, out, sizeof out), -1, "three padding chars refused");
    is_int(hash_base64_decode("Zm8", 3, out, sizeof out), 2, "decode tolerates missing padding");
    is_int(hash_base64_decode("Zm9v\nYmFy\n", 10, out, sizeof out), 6, "decode skips line breaks");
}

static void test_compare(void)
{
    ok(hash_equal("abcdef", "abcdef", 6), "equal buffers compare equal");
    ok(!hash_equal("abcdef", "abcdeg", 6), "last byte differs");
    ok(hash_str_equal("secret", "secret"), "equal strings");
    ok(!hash_str_equal("secret", "secre"), "prefix is not equal");
    ok(!hash_str_equal("secret", "Secret"), "case matters");
    ok(!hash_str_equal(NULL, "x"), "NULL is never equal");
    ok(hash_is_sha256_hex("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"),
       "upper-case 64-hex is a hash");
    ok(!hash_is_sha256_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"),
       "63 hex digits is not a hash");
    ok(!hash_is_sha256_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555"),
       "65 hex digits is not a hash");
    ok(!hash_is_sha256_hex("g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
       "a non-hex digit is not a hash");
}

int main(void)
{
    test_sha256_vectors();
    test_hmac_rfc4231();
    test_hex_encode();
    test_base64_rfc4648();
    test_base64_round_trip();
    test_base64_errors();
    test_compare();
    return tap_done();
}
