/* libphonenumber behind a C interface (lib/phone.cc): reads a phone number the way its
 * country writes it and gives back E.164. normalize.c decides what is offered to it. */
#ifndef TTR_PHONE_H
#define TTR_PHONE_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* E.164 ("+447700900123") of number into out, or -1 (out set to "") when libphonenumber
 * cannot read it or it is no phone of its country (see phone.cc for the rule). number is
 * "+" and digits, or national digits read in region (ISO 3166-1 alpha-2, either case;
 * NULL or "" for none). Borrowed arguments; no allocation survives the call. Thread-safe. */
int phone_format_e164(const char *number, const char *region, char *out, size_t size);
/* 1 when libphonenumber knows region (a country with a calling code), else 0. */
int phone_region_known(const char *region);

#ifdef __cplusplus
}
#endif
#endif
