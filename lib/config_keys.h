/* Unknown configuration keys: a typo such as "dry_runn" or "colect" is refused with the
 * file, the line and the nearest known key, instead of silently taking a default. */
#ifndef TTR_CONFIG_KEYS_H
#define TTR_CONFIG_KEYS_H
#include <libconfig.h>
#include <stddef.h>

/* known: every accepted dotted path; the elements of a list of groups are written "[]"
 * ("sources.[].id"). A known path's value is not descended into (its loader checks it).
 * Returns 0, or -1 with "FILE:LINE: unknown key … (did you mean …?)" in err. */
int config_keys_check(const config_t *lc, const char *const *known, size_t nknown,
                      const char *file, char *err, size_t errlen);
/* Edit distance (insertions, deletions, substitutions, adjacent swaps), bounded at 99. */
int config_keys_distance(const char *a, const char *b);

#endif
