/* The one C++ file of libttrelay: phone numbers through libphonenumber, whose tables know
 * every country's calling code, trunk prefix, international prefix and number lengths.
 * Nothing C++ crosses phone.h: no exception leaves, no object outlives a call. The one
 * lasting object is libphonenumber's own PhoneNumberUtil singleton, built on first use and
 * held by a static pointer until exit (LeakSanitizer counts it reachable). */
#include "phone.h"

#include <cstring>
#include <string>

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

/* E.164 allows at most 15 digits after the "+". */
#define PHONE_E164_DIGITS 15

/* region as libphonenumber spells it (upper case), or its "unknown region" code. */
static std::string phone_region(const char *region)
{
    std::string r = "ZZ";

    if (region && strlen(region) == 2) {
        for (int i = 0; i < 2; i++) {
            char c = region[i];
            if (c >= 'a' && c <= 'z')
                c = (char)(c - 'a' + 'A');
            if (c < 'A' || c > 'Z')
                return "ZZ";
            r[(size_t)i] = c;
        }
    }
    return r;
}

/* Valid by libphonenumber's tables; or, for a range those tables lack (allocated after the
 * installed package was built, or reserved like Ofcom's 07700 900xxx), a length its
 * country uses and a shape its numbering plan has a national format for. The format is
 * what refuses a mistyped length ("07700 90012") and a number read in the wrong country
 * ("06 12345678" in US): libphonenumber writes those as bare digits. A length only dialled
 * locally ("555 1234" in US) is refused: its area code is unknown. */
static bool phone_acceptable(const PhoneNumberUtil &util, const PhoneNumber &n)
{
    std::string nsn, national;

    if (util.IsValidNumber(n))
        return true;
    if (util.IsPossibleNumberWithReason(n) != PhoneNumberUtil::IS_POSSIBLE)
        return false;
    util.GetNationalSignificantNumber(n, &nsn);
    util.Format(n, PhoneNumberUtil::NATIONAL, &national);
    return national != nsn;
}

static int phone_format(const char *number, const char *region, char *out, size_t size)
{
    const PhoneNumberUtil &util = *PhoneNumberUtil::GetInstance();
    PhoneNumber n;
    std::string e164;

    if (util.Parse(number, phone_region(region), &n) != PhoneNumberUtil::NO_PARSING_ERROR)
        return -1;
    if (!phone_acceptable(util, n))
        return -1;
    util.Format(n, PhoneNumberUtil::E164, &e164);
    if (e164.size() < 2 || e164.size() > PHONE_E164_DIGITS + 1 || e164.size() >= size)
        return -1;
    memcpy(out, e164.c_str(), e164.size() + 1);
    return 0;
}

extern "C" int phone_format_e164(const char *number, const char *region, char *out, size_t size)
{
    int rc = -1;

    if (!out || size == 0)
        return -1;
    out[0] = '\0';
    if (!number)
        return -1;
    /* Only std::bad_alloc can be thrown here; C callers get a refusal, not an unwind. */
    try {
        rc = phone_format(number, region, out, size);
    } catch (...) {
        rc = -1;
    }
    if (rc != 0)
        out[0] = '\0';
    return rc;
}

extern "C" int phone_region_known(const char *region)
{
    std::string r = phone_region(region);

    try {
        return r != "ZZ" && PhoneNumberUtil::GetInstance()->GetCountryCodeForRegion(r) != 0;
    } catch (...) {
        return 0;
    }
}
