/* Private to the SQLite store files (store_sqlite.c: open, schema, group-commit writer;
 * store_query.c: the forwarder's and the admin API's statements). */
#ifndef TTR_STORE_INTERNAL_H
#define TTR_STORE_INTERNAL_H
#include <pthread.h>
#include <sqlite3.h>
#include "store.h"

#define NAMES_MAX 8

enum job_type { JOB_CONVERSION, JOB_TOUCH, JOB_DELIVERY };

/* One row for the writer. Jobs are heap-allocated and own copies of what they write;
 * the writer calls done() after the commit that holds them, then frees them. */
struct job {
    enum job_type type;
    struct conversion c; /* JOB_CONVERSION (contents_json not kept: it is in data) */
    char *data;          /* conversion JSON, built by the submitter */
    char pixel[64];
    int test;
    long long due_ms;
    long long clock_offset_ms; /* clock_wall_offset_ms() when due_ms was computed */
    struct touch t;            /* JOB_TOUCH */
    struct delivery d;         /* JOB_DELIVERY (done is NULL: nobody waits) */
    enum store_result result;
    long long id;
    store_done_fn done;
    void *arg;
    struct job *next;
};

struct store {
    sqlite3 *wdb;   /* writer thread only */
    sqlite3 *work;  /* forwarder's sender side, under work_lock */
    sqlite3 *admin; /* admin side, under admin_lock */
    sqlite3 *match; /* matching and promotion (forwarder's matcher), under match_lock */
    pthread_mutex_t work_lock;
    pthread_mutex_t match_lock;
    pthread_mutex_t admin_lock;

    pthread_t writer;
    pthread_mutex_t qlock;
    pthread_cond_t qwork;
    struct job *head, *tail;
    int stopping;
    int writer_started;
    unsigned long long commits, committed_rows;
    int last_commit_failed;
    int last_update_failed; /* the work connection's last state change (atomic) */
    int db_fd, wal_fd;      /* our own descriptors of the files, to see them deleted */
    char path[512];
    long long clock_offset_ms; /* writer only: wall - monotonic at its last look */

    sqlite3_stmt *ins_conv, *find_conv, *up_data, *ins_ref, *ins_touch, *up_visitor, *ins_vkey, *release;
    sqlite3_stmt *ins_delivery;
    /* On the match connection, prepared once. */
    sqlite3_stmt *find_touch[6]; /* per enum match_key */
    sqlite3_stmt *find_visitor, *consume, *promote, *count_ip_ua, *has_key, *get_touch, *hold;
    sqlite3_stmt *consent_q;
    int in_match_tx;
    long long checkpoint_ms;
    int wal_pages;           /* the WAL's length after the last commit, in pages (atomic) */
    int wal_next_checkpoint; /* writer only: length at which it checkpoints next */
};

void store_work_finalize(struct store *st);

#endif
