/* Normalization and hashing of match keys, identical for webhooks and /collect:
 * email trimmed and lower-cased, phone to E.164, values already 64-hex passed through. */
#ifndef TTR_NORMALIZE_H
#define TTR_NORMALIZE_H
#include <stddef.h>

/* Normalized email into out; returns 0, or -1 when raw is not an email. */
int normalize_email(const char *raw, char *out, size_t size);
/* Phone to E.164 ("+14045551234") through libphonenumber. country is ISO 3166-1 alpha-2
 * (either case; may be NULL/""), used when the number is national (no + or 00 prefix):
 * without it a national number is refused. Digits and " -.()/" only; refused (-1, out "")
 * when the length is impossible for the country or the number no phone of it. */
int normalize_phone(const char *raw, const char *country, char *out, size_t size);
/* SHA-256 hex of the normalized value into out[65]; a 64-hex input is lower-cased and kept.
 * Returns 0, or -1 (out set to "") when the value is empty or invalid. */
int normalize_hash_email(const char *raw, char out[65]);
int normalize_hash_phone(const char *raw, const char *country, char out[65]);
/* external_id: trimmed, then hashed (64-hex passed through). */
int normalize_hash_external_id(const char *raw, char out[65]);
/* Removes what could be an email address or a phone number from a URL, in place: userinfo,
 * any query or fragment value or item holding an '@' (also percent-encoded, up to three
 * times), a path segment holding one past its first character ("/@brand" stays), the value
 * of a query or fragment key that names a phone ("phone", "tel", "text_reminder_number"…),
 * any value that is written as a phone number ("+1 404…", "(404) 555-1234"), and a path
 * segment that is an international one. Raw emails and phones are never stored. */
void normalize_scrub_url(char *url);

#endif
