/* ttrelayctl init: a production configuration for the sources a user names, its secrets
 * in credential files (0600) and the unit's LoadCredential= drop-in that passes them on. */
#ifndef TTR_SETUP_H
#define TTR_SETUP_H
#include <stddef.h>

struct setup_source {
    char id[64];
    char type[16];
    char kind[8];            /* "" for the type's default */
    const char *secret_file; /* borrowed; NULL: a secret is generated */
    char secret[96];         /* out: the generated secret (to paste into the sender), or "" */
    char secret_path[1024];  /* out: the credential file written */
};

struct setup {
    const char *dir;        /* configuration directory, e.g. /etc/ttrelay */
    const char *state_dir;  /* the unit's StateDirectory, e.g. /var/lib/ttrelay */
    const char *unit_dir;   /* where ttrelayd.service.d/ goes, e.g. /etc/systemd/system */
    const char *pixel;      /* the TikTok pixel code */
    const char *token_file; /* borrowed; NULL with dry_run */
    const char **origins;   /* borrowed: allowed_origins */
    int norigins;
    struct setup_source *sources;
    int nsources;
    int dry_run, force;
    /* out */
    char conf_path[1024];
    char dropin_path[1024];
};

/* Parses "TYPE[:ID[:KIND]]" into src (ID defaults to TYPE). Returns 0 or -1 with err. */
int setup_parse_source(const char *arg, struct setup_source *src, char *err, size_t errlen);
/* Writes the files; refuses to overwrite any unless s->force. Returns 0, or -1 with the
 * reason in err (nothing half-written is left behind for the reasons checked first). */
int setup_write(struct setup *s, char *err, size_t errlen);
/* Where in the sender's settings the URL and secret go (static text). */
const char *setup_source_hint(const char *type);
/* 1 when the sender generates the signing secret itself (it must be passed in). */
int setup_sender_makes_secret(const char *type);

#endif
