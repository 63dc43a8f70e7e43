/* Private to the SQLite store files (store_sqlite.c: open, schema, group-commit writer;
 * store_query.c: the forwarder's and the admin API's statements). */
#ifndef TTR_STORE_INTERNAL_H
#define TTR_STORE_INTERNAL_H
#include <pthread.h>
#include <sqlite3.h>
#include "store.h"

#define NAMES_MAX 8

enum job_type { JOB_CONVERSION, JOB_TOUCH };

struct job {
    enum job_type type;
    const struct conversion *c;
    const char *data;             /* conversion JSON, built by the submitter */
    const char *pixel;
    int test;
    long long due_ms;
    const struct touch *t;
    enum store_result result;
    long long id;
    int done;
    pthread_cond_t cond;          /* signalled for this job only: no thundering herd */
    struct job *next;
};

struct store {
    sqlite3 *wdb;                 /* writer thread only */
    sqlite3 *work;                /* forwarder side, under work_lock */
    sqlite3 *admin;               /* admin side, under admin_lock */
    pthread_mutex_t work_lock;
    pthread_mutex_t admin_lock;

    pthread_t writer;
    pthread_mutex_t qlock;
    pthread_cond_t qwork;
    struct job *head, *tail;
    int stopping;
    int writer_started;
    unsigned long long commits, committed_rows;
    int last_commit_failed;

    sqlite3_stmt *ins_conv, *find_conv, *ins_ref, *ins_touch, *up_visitor, *ins_vkey, *release;
    /* On the work connection (forwarder thread), prepared once. */
    sqlite3_stmt *find_touch[6]; /* per enum match_key */
    sqlite3_stmt *find_visitor, *consume, *promote;
    int in_work_tx;
    long long checkpoint_ms;
};

void store_work_finalize(struct store *st);

#endif
