/* The walk over a loaded libconfig tree that refuses keys nobody reads. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "config_keys.h"

struct walk {
    const char *const *known;
    size_t nknown;
    const char *file;
    char *err;
    size_t errlen;
};

int config_keys_distance(const char *a, const char *b)
{
    enum { MAXLEN = 64 };
    int d[MAXLEN + 1][MAXLEN + 1];
    size_t la = strlen(a), lb = strlen(b);

    if (la > MAXLEN || lb > MAXLEN)
        return 99;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

/* 2: path is a known key; 1: a known key lies below it (a section); 0: unknown. */
static int path_known(const struct walk *w, const char *path)
{
    size_t n = strlen(path);
    int below = 0;

    for (size_t i = 0; i < w->nknown; i++) {
        if (strcmp(w->known[i], path) == 0)
            return 2;
        if (strncmp(w->known[i], path, n) == 0 && w->known[i][n] == '.')
            below = 1;
    }
    return below;
}

/* The known name under parent ("" at the top) nearest to name, or NULL when none is close. */
static const char *nearest(const struct walk *w, const char *parent, const char *name, char *buf,
                           size_t size)
{
    size_t plen = strlen(parent);
    int best = 3;

    buf[0] = '\0';
    for (size_t i = 0; i < w->nknown; i++) {
        const char *k = w->known[i];
        if (plen && (strncmp(k, parent, plen) != 0 || k[plen] != '.'))
            continue;
        const char *c = plen ? k + plen + 1 : k;
        size_t clen = strcspn(c, ".");
        char cand[64];
        if (clen >= sizeof cand)
            continue;
        memcpy(cand, c, clen);
        cand[clen] = '\0';
        int d = config_keys_distance(name, cand);
        /* Short names need a closer match: "id" is not a typo of "kind". */
        if (d < best && (size_t)d * 3 <= clen + 1) {
            best = d;
            snprintf(buf, size, "%s", cand);
        }
    }
    return buf[0] ? buf : NULL;
}

static int walk_group(const struct walk *w, const config_setting_t *grp, const char *path,
                      const char *shown)
{
    int n = config_setting_length(grp);

    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
        const char *name = config_setting_name(s);
        char p[256], disp[256], near[64];
        int known;

        if (name) {
            snprintf(p, sizeof p, "%s%s%s", path, *path ? "." : "", name);
            snprintf(disp, sizeof disp, "%s%s%s", shown, *shown ? "." : "", name);
        } else {
            snprintf(p, sizeof p, "%s.[]", path);
            snprintf(disp, sizeof disp, "%s[%d]", shown, i);
        }
        known = path_known(w, p);
        if (!known) {
            const char *file = config_setting_source_file(s);
            const char *hint = name ? nearest(w, path, name, near, sizeof near) : NULL;
            snprintf(w->err, w->errlen, "%s:%u: unknown key %s%s%s%s", file ? file : w->file,
                     config_setting_source_line(s), disp, hint ? " (did you mean " : "",
                     hint ? hint : "", hint ? "?)" : "");
            return -1;
        }
        if (known == 1 && config_setting_is_aggregate(s) && walk_group(w, s, p, disp) < 0)
            return -1;
    }
    return 0;
}

int config_keys_check(const config_t *lc, const char *const *known, size_t nknown, const char *file,
                      char *err, size_t errlen)
{
    struct walk w = {known, nknown, file, err, errlen};
    return walk_group(&w, config_root_setting(lc), "", "");
}
