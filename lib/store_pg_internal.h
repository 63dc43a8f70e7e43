/* Private to the PostgreSQL store files (store_pg.c: connections, statements, schema,
 * wake-ups; store_pg_write.c: the group write; store_pg_query.c: matcher, sender, admin). */
#ifndef TTR_STORE_PG_INTERNAL_H
#define TTR_STORE_PG_INTERNAL_H
#include <libpq-fe.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include "store_pg.h"

/* Advisory lock classes (the first key of the two-key form), apart from other users of
 * the database; the second key is 0 or hashtext(pixel). */
#define PG_LOCK_MIGRATE 1953759233
#define PG_LOCK_PURGE 1953759234
#define PG_LOCK_PIXEL 1953759235
#define PG_CHANNEL "ttrelay"
#define PG_PIXELS_HELD_MAX 64
#define PG_PREPARED_MAX 16

/* One connection with its role's mutex. db is NULL while closed: the next call reopens. */
struct pg_conn {
    PGconn *db;
    pthread_mutex_t lock;
    const char *role;
    const char *conninfo;
    unsigned generation; /* bumped at every (re)connect: session state did not survive */
    char sqlstate[6];    /* of the last failed statement, "" if none */
    /* Statements prepared on this session (by the address of their SQL text), valid while
     * prepared_generation is generation. */
    const char *prepared[PG_PREPARED_MAX];
    int nprepared;
    unsigned prepared_generation;
};

struct store_be {
    char *conninfo;
    struct pg_conn writer, match, work, admin, listen;
    unsigned match_tx_generation; /* match.generation when the open promote tx began */
    int in_match_tx;
    int match_tx_promoted; /* promotions in the open promote tx: its commit notifies */
    unsigned listen_generation; /* listen.generation when LISTEN was issued */
    int last_write_failed;      /* atomic */
    long long reclaimed;        /* atomic */
    /* Pixels whose advisory lock this store's sender connection holds (under work.lock). */
    char held[PG_PIXELS_HELD_MAX][64];
    int nheld;
    unsigned held_generation;
};

/* Statement parameters, all text (typed by oid): every value is new (owned). */
struct pg_params {
    int n, cap;
    char **v;
    Oid *types;
    int failed; /* out of memory: running the statement fails */
};
#define PG_TEXT 25
#define PG_INT8 20
void pg_params_text(struct pg_params *p, const char *s); /* NULL: SQL NULL */
void pg_params_int(struct pg_params *p, long long v);
void pg_params_ids(struct pg_params *p, const long long *ids, int n); /* a bigint[] */
void pg_params_free(struct pg_params *p);

/* A growing SQL text. */
struct pg_sql {
    char *s;
    size_t len, cap;
    int failed;
};
void pg_sql_add(struct pg_sql *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs sql on pc, whose lock the caller holds, connecting first when closed. The result
 * (new: PQclear) or NULL on error (logged; a lost connection is closed so that the next
 * call reopens it). */
PGresult *pg_conn_exec(struct pg_conn *pc, const char *sql, const struct pg_params *p);
/* Same for the matcher's frequent statements: prepared once per session (sql must be a
 * string constant: its address names it; PG_PREPARED_MAX of them per connection, beyond
 * which it runs unprepared), which spares the server parsing and planning it again. */
PGresult *pg_conn_exec_prepared(struct pg_conn *pc, const char *sql, const struct pg_params *p);
/* Same with values by fmt: 'i' long long, 's' text (NULL: SQL NULL). */
PGresult *pg_conn_query(struct pg_conn *pc, const char *sql, const char *fmt, ...);
PGresult *pg_conn_vquery(struct pg_conn *pc, const char *sql, const char *fmt, va_list ap);
PGresult *pg_conn_vquery_prepared(struct pg_conn *pc, const char *sql, const char *fmt,
                                  va_list ap);
/* Rows changed (or returned), or -1. */
long long pg_conn_run(struct pg_conn *pc, const char *sql, const char *fmt, ...);
/* Opens pc when closed. 0 or -1. */
int pg_conn_ready(struct pg_conn *pc);

long long pg_value_int(const PGresult *r, int row, int col);
/* "" for NULL. */
const char *pg_value_text(const PGresult *r, int row, int col);
/* New copy, NULL for NULL. */
char *pg_value_dup(const PGresult *r, int row, int col);

/* The columns read_event expects, with and without the stored conversion. The last is when
 * the conversion began: the matched touch's capture or the webhook's receipt, the earlier
 * (touch_id and received_ms resolve to the outer row, conversions or a CTE of its rows). */
#define PG_ORIGIN_COL                                                                              \
    "LEAST(received_ms, COALESCE((SELECT t.ts*1000 FROM touches t WHERE t.id=touch_id),"           \
    " received_ms))"
#define PG_EVENT_COLS                                                                              \
    "id,source,kind,object_id,pixel,state,test,received_ms,due_ms,sent_ms,event_time,attempts,"    \
    "event_name,event_id,matched_by,touch_id,last_error,request_id,data,payload,match_"            \
    "info," PG_ORIGIN_COL
#define PG_EVENT_COLS_NO_DATA                                                                      \
    "id,source,kind,object_id,pixel,state,test,received_ms,due_ms,sent_ms,event_time,attempts,"    \
    "event_name,event_id,matched_by,touch_id,last_error,request_id,NULL,payload,"                  \
    "NULL," PG_ORIGIN_COL
/* Event rows of a result (PG_EVENT_COLS first) into a new array (*rows; NULL when none).
 * Count or -1; r is cleared either way (NULL: -1). */
int pg_take_events(PGresult *r, struct event_row **rows);
/* A LIMIT value: a negative limit means none (as SQLite's). */
long long pg_limit(int limit);

/* A copy of s that is valid UTF-8 (each invalid byte becomes '?'): PostgreSQL refuses
 * invalid text, and one bad user agent must not fail a whole group. New, or NULL. */
char *pg_utf8_dup(const char *s);

#endif
