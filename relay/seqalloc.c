/*
 * seqalloc.c - batch seqs from MySQL with an in-memory fallback (see
 * seqalloc.h).
 *
 * Per batch: one transaction that reserves every room of the batch in
 * ascending room order (two relays lock rows in the same order, so they
 * cannot deadlock), and after the insert one transaction, rooms in the
 * same order, that records what was stored (last_seq, the last message,
 * the senders' read watermarks, seqs left empty). Both use statements
 * over many rows (two per 32 rooms to reserve, one per 32 senders to
 * record, with no transaction when no seq was left empty): the writer
 * waits for every round trip to MySQL, and a statement per room made a
 * burst of new rooms wait on them. Rooms that need repair
 * (served from memory, or collided) are settled first. A failed MySQL call switches to memory for a
 * backoff period (1 s doubling to 16 s), so an outage costs one time-out per period, not one per
 * batch.
 */
#include "seqalloc.h"

#include "errors.h"
#include "i64map.h"
#include "room_seq.h"
#include "room_state.h"
#include "timefmt.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 16000  /* a hung MySQL costs one time-out per period */
#define MAX_REMEMBER   100000 /* rooms whose last reservation is remembered */

/* What must reach MySQL before the room is reserved there again. */
struct repair {
    int64_t issued; /* highest seq handed out from memory, or -1 */
    int64_t stored; /* highest seq stored meanwhile, or -1 */
    int collided;   /* raise to the store's maximum first */
};

struct seqalloc {
    struct sqldb *db;
    seqgen_load_fn *load;
    void *arg;
    struct seqgen *mem;     /* fallback counters; reset whenever MySQL takes over */
    int mem_fresh;          /* mem holds no counter from before the last MySQL use */
    struct i64map reserved; /* room -> int64_t *: last seq reserved in MySQL */
    struct i64map repairs;  /* room -> struct repair * */
    int64_t retry_ms;       /* monotonic: do not ask MySQL before this */
    int backoff_ms;         /* the next wait after a failure */
    int up;                 /* atomically read by other threads */
    seq_probe_fn *probe;    /* settles uncertain seqs; NULL: never */
    void *probe_arg;
    struct uncertain *unsure; /* oldest first */
    size_t nunsure;
    struct held *held; /* oldest first */
    size_t nheld;
};

/* A seq whose write timed out: a gap, unless the write landed after all. */
struct uncertain {
    int64_t room_id, seq;
    int64_t since_ms; /* monotonic */
    int settled;      /* recorded (or found stored) in the open transaction */
};

/* A batch's outcome that could not reach MySQL yet (it was away, or the
 * transaction failed): kept, with its own copy of what the room list
 * needs, and written with the next batch that reaches MySQL. */
struct held {
    struct chat_message m; /* room, seq, type, sender, created_at; preview in message */
    struct seq_result r;   /* r.m points at m */
};

#define MAX_UNSURE   4096  /* beyond, the oldest are counted as messages */
#define MAX_HELD     16384 /* outcomes kept while MySQL is away; beyond, the oldest go */
#define PROBES_BATCH 8     /* store look-ups per batch, to bound its latency */

static void held_clear(struct seqalloc *sa);

/* fallback_seed: the loader for mem: what this writer reserved last, else
 * the store's maximum (the caller passes the loop's hint itself). */
static int fallback_seed(void *arg, int64_t room_id, int64_t *last)
{
    struct seqalloc *sa = arg;
    int64_t *v = i64map_get(&sa->reserved, room_id);
    if (v) {
        *last = *v;
        return 0;
    }
    return sa->load(sa->arg, room_id, last);
}

struct seqalloc *seqalloc_new(struct sqldb *db, seqgen_load_fn *load, void *arg)
{
    struct seqalloc *sa = calloc(1, sizeof *sa);
    if (!sa)
        return NULL;
    sa->db = db;
    sa->load = load;
    sa->arg = arg;
    sa->up = db != NULL;
    sa->mem_fresh = 1;
    sa->backoff_ms = BACKOFF_MIN_MS;
    i64map_init(&sa->reserved);
    i64map_init(&sa->repairs);
    if (!(sa->mem = seqgen_new(fallback_seed, sa, MAX_REMEMBER))) {
        free(sa);
        return NULL;
    }
    return sa;
}

static void free_values(struct i64map *m)
{
    size_t pos = 0;
    int64_t key;
    void *val;
    while (i64map_next(m, &pos, &key, &val))
        free(val);
    i64map_deinit(m);
}

void seqalloc_free(struct seqalloc *sa)
{
    if (!sa)
        return;
    sqldb_free(sa->db);
    seqgen_free(sa->mem);
    free_values(&sa->reserved);
    free_values(&sa->repairs);
    free(sa->unsure);
    held_clear(sa);
    free(sa->held);
    free(sa);
}

void seqalloc_set_probe(struct seqalloc *sa, seq_probe_fn *probe, void *arg)
{
    sa->probe = probe;
    sa->probe_arg = arg;
}

/* unsure_add: remember an uncertain seq (the oldest goes when full). */
static void unsure_add(struct seqalloc *sa, int64_t room_id, int64_t seq)
{
    if (!sa->probe)
        return;
    if (!sa->unsure && !(sa->unsure = calloc(MAX_UNSURE, sizeof *sa->unsure)))
        return;
    if (sa->nunsure == MAX_UNSURE) {
        memmove(sa->unsure, sa->unsure + 1, (MAX_UNSURE - 1) * sizeof *sa->unsure);
        sa->nunsure--;
    }
    sa->unsure[sa->nunsure++] = (struct uncertain){room_id, seq, timefmt_mono_ms(), 0};
}

/* unsure_commit: the transaction committed: forget the settled seqs;
 * unsure_rollback: it did not: they are still to settle. */
static void unsure_commit(struct seqalloc *sa)
{
    size_t keep = 0;
    for (size_t i = 0; i < sa->nunsure; i++)
        if (!sa->unsure[i].settled)
            sa->unsure[keep++] = sa->unsure[i];
    sa->nunsure = keep;
}

static void unsure_rollback(struct seqalloc *sa)
{
    for (size_t i = 0; i < sa->nunsure; i++)
        sa->unsure[i].settled = 0;
}

static void held_clear(struct seqalloc *sa)
{
    for (size_t i = 0; i < sa->nheld; i++)
        free(sa->held[i].m.message);
    sa->nheld = 0;
}

/* held_add: keep a copy of result r (its message's preview, not the whole
 * text) until MySQL takes it; the oldest goes when full. */
static void held_add(struct seqalloc *sa, const struct seq_result *r)
{
    if (!sa->held && !(sa->held = calloc(MAX_HELD, sizeof *sa->held)))
        return;
    if (sa->nheld == MAX_HELD) {
        free(sa->held[0].m.message);
        memmove(sa->held, sa->held + 1, (MAX_HELD - 1) * sizeof *sa->held);
        sa->nheld--;
    }
    char preview[ROOM_PREVIEW_BUF];
    room_state_preview(r->m, preview, sizeof preview);
    struct held *h = &sa->held[sa->nheld];
    memset(h, 0, sizeof *h);
    h->m.room_id = r->m->room_id;
    h->m.seq = r->m->seq;
    h->m.sender_id = r->m->sender_id;
    h->m.created_at_ms = r->m->created_at_ms;
    /* TEXT keeps its type; the preview of any other type is its name. */
    h->m.type = r->m->type;
    if (!(h->m.message = strdup(preview)))
        return;
    if (h->m.type != CHAT_TEXT) {
        h->m.image_name = h->m.message;
        h->m.message = NULL;
    }
    h->r = *r;
    h->r.m = &h->m;
    sa->nheld++;
}

/* unsure_settle: ask the store about up to PROBES_BATCH uncertain seqs
 * old enough to have settled; record the empty ones as gaps (inside the
 * caller's transaction) and mark them settled, to be forgotten once it
 * commits. Those the store cannot answer now stay. 0 or the MySQL error. */
static int unsure_settle(struct seqalloc *sa)
{
    int64_t now = timefmt_mono_ms();
    size_t probes = 0;
    int rc = 0;
    for (size_t i = 0; i < sa->nunsure; i++) {
        const struct uncertain u = sa->unsure[i];
        int exists = 1;
        if (rc || probes == PROBES_BATCH || now - u.since_ms < SEQALLOC_SETTLE_MS ||
            (probes++, sa->probe(sa->probe_arg, u.room_id, u.seq, &exists) != 0))
            continue;
        if (!exists)
            rc = room_state_gap_add(sa->db, u.room_id, u.seq);
        sa->unsure[i].settled = rc == 0; /* forgotten only once committed */
    }
    return rc;
}

int seqalloc_mysql_up(const struct seqalloc *sa)
{
    return __atomic_load_n(&sa->up, __ATOMIC_RELAXED);
}

static void set_up(struct seqalloc *sa, int up)
{
    __atomic_store_n(&sa->up, up, __ATOMIC_RELAXED);
    if (up) {
        sa->backoff_ms = BACKOFF_MIN_MS;
        return;
    }
    sa->retry_ms = timefmt_mono_ms() + sa->backoff_ms;
    sa->backoff_ms = sa->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : sa->backoff_ms * 2;
}

static int mysql_usable(const struct seqalloc *sa)
{
    return sa->db && timefmt_mono_ms() >= sa->retry_ms;
}

/* repair_get: the room's pending repair, created when missing; NULL when
 * out of memory (the repair is then lost, and the unique index catches
 * what it would have prevented). */
static struct repair *repair_get(struct seqalloc *sa, int64_t room_id)
{
    struct repair *p = i64map_get(&sa->repairs, room_id);
    if (p)
        return p;
    if (!(p = malloc(sizeof *p)))
        return NULL;
    *p = (struct repair){.issued = -1, .stored = -1, .collided = 0};
    if (i64map_put(&sa->repairs, room_id, p) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

static void remember_reserved(struct seqalloc *sa, int64_t room_id, int64_t last)
{
    int64_t *v = i64map_get(&sa->reserved, room_id);
    if (!v) {
        if (i64map_len(&sa->reserved) >= MAX_REMEMBER) {
            free_values(&sa->reserved);
            i64map_init(&sa->reserved);
        }
        if (!(v = malloc(sizeof *v)) || i64map_put(&sa->reserved, room_id, v) != 0) {
            free(v);
            return;
        }
    }
    *v = last;
}

/* settle_repairs: write every pending repair to MySQL. 0, or the error
 * that stopped it (repairs not yet written stay pending). */
static int settle_repairs(struct seqalloc *sa)
{
    size_t pos = 0;
    int64_t room;
    void *val;
    while (i64map_next(&sa->repairs, &pos, &room, &val)) {
        struct repair *p = val;
        int64_t issued = p->issued, stored = p->stored;
        if (p->collided) {
            int64_t max = 0;
            int rc = sa->load(sa->arg, room, &max);
            if (rc)
                return rc;
            if (max > issued)
                issued = max;
            if (max > stored)
                stored = max;
        }
        int rc = room_seq_raise(sa->db, room, issued, stored);
        if (rc)
            return rc;
        free(i64map_del(&sa->repairs, room));
        pos = 0; /* the map changed under the cursor: start over */
    }
    return 0;
}

/* claim_one: one room needs no transaction: its UPDATE commits by itself. */
static int claim_one(struct sqldb *db, struct seq_claim *c)
{
    int64_t last = 0;
    int rc = room_seq_claim(db, c->room_id, c->count, &last);
    if (rc == ERR_NOT_FOUND) {
        c->status = ERR_NOT_FOUND;
        return 0;
    }
    if (rc)
        return rc;
    c->first = last - c->count + 1;
    c->status = 0;
    return 0;
}

/* claim_many: several rooms in one transaction, two statements per 32. */
static int claim_many(struct sqldb *db, struct seq_claim *claims, size_t n)
{
    int64_t *ids = calloc(3 * n, sizeof *ids);
    if (!ids)
        return ERR_INTERNAL;
    int64_t *counts = ids + n, *last = ids + 2 * n;
    for (size_t i = 0; i < n; i++) {
        ids[i] = claims[i].room_id;
        counts[i] = claims[i].count;
    }
    int rc = sqldb_begin(db);
    if (rc == 0 && (rc = room_seq_claim_many(db, ids, counts, n, last)) == 0)
        rc = sqldb_commit(db);
    if (rc) {
        sqldb_rollback(db);
        free(ids);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        claims[i].status = last[i] < 0 ? ERR_NOT_FOUND : 0;
        claims[i].first = last[i] < 0 ? 0 : last[i] - claims[i].count + 1;
    }
    free(ids);
    return 0;
}

/* claim_mysql: reserve every claim at once. 0, or ERR_UNAVAILABLE /
 * ERR_INTERNAL for the batch as a whole. */
static int claim_mysql(struct seqalloc *sa, struct seq_claim *claims, size_t n)
{
    int rc = settle_repairs(sa);
    if (rc)
        return rc;
    rc = n == 1 ? claim_one(sa->db, &claims[0]) : claim_many(sa->db, claims, n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (claims[i].status == 0)
            remember_reserved(sa, claims[i].room_id, claims[i].first + claims[i].count - 1);
    return 0;
}

/* claim_memory: reserve from the fallback counters; each room is marked
 * for repair with what it handed out. */
static void claim_memory(struct seqalloc *sa, struct seq_claim *claims, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct seq_claim *c = &claims[i];
        struct repair *p = repair_get(sa, c->room_id);
        /* A collided room must not be seeded from a stale hint. */
        int64_t hint = p && p->collided ? -1 : c->hint;
        if (p && p->collided) {
            seqgen_forget(sa->mem, c->room_id);
            free(i64map_del(&sa->reserved, c->room_id));
        }
        int64_t seq = 0;
        int rc = seqgen_next(sa->mem, c->room_id, hint, &seq);
        for (int64_t k = 1; rc == 0 && k < c->count; k++) {
            int64_t more;
            rc = seqgen_next(sa->mem, c->room_id, -1, &more);
        }
        if (rc) {
            c->status = rc == ERR_NOMEM ? ERR_INTERNAL : ERR_UNAVAILABLE;
            continue;
        }
        c->first = seq;
        c->status = 0;
        if (p) {
            p->collided = 0; /* the store's maximum seeded it */
            if (seq + c->count - 1 > p->issued)
                p->issued = seq + c->count - 1;
        }
    }
}

void seqalloc_claim(struct seqalloc *sa, struct seq_claim *claims, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        claims[i].first = 0;
        claims[i].status = ERR_UNAVAILABLE;
    }
    if (n == 0)
        return;
    for (size_t i = 1; i < n; i++)
        assert(claims[i - 1].room_id < claims[i].room_id);
    if (mysql_usable(sa)) {
        int rc = claim_mysql(sa, claims, n);
        if (rc == 0) {
            set_up(sa, 1);
            if (!sa->mem_fresh) {
                /* Counters from before MySQL took over again are stale. */
                struct seqgen *fresh = seqgen_new(fallback_seed, sa, MAX_REMEMBER);
                if (fresh) {
                    seqgen_free(sa->mem);
                    sa->mem = fresh;
                    sa->mem_fresh = 1;
                }
            }
            return;
        }
        set_up(sa, 0);
        for (size_t i = 0; i < n; i++)
            claims[i].status = ERR_UNAVAILABLE;
    }
    sa->mem_fresh = 0;
    claim_memory(sa, claims, n);
}

/* by_room_seq: results in lock order (room ascending), each room's
 * messages by seq. */
static int by_room_seq(const void *a, const void *b)
{
    const struct seq_result *x = *(const struct seq_result *const *) a;
    const struct seq_result *y = *(const struct seq_result *const *) b;
    if (x->m->room_id != y->m->room_id)
        return x->m->room_id < y->m->room_id ? -1 : 1;
    return (x->m->seq > y->m->seq) - (x->m->seq < y->m->seq);
}

/* record_room: the gaps of one room (results sorted by seq, r[0..n-1])
 * written now (when gaps is set); one row per sender added to rows
 * (*nrows moved on), each with the room's newest stored message. */
static int record_room(struct seqalloc *sa, const struct seq_result *const *r, size_t n, int gaps,
                       struct room_record *rows, size_t *nrows)
{
    int rc = 0;
    const struct chat_message *newest = NULL;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (gaps && r[i]->burned > 0 && !r[i]->uncertain)
            rc = room_state_gap_add(sa->db, r[i]->m->room_id, r[i]->burned);
        if (gaps && rc == 0 && r[i]->stored && r[i]->burned > 0)
            rc = room_state_gap_fill(sa->db, r[i]->m->room_id, r[i]->m->seq); /* a duplicate */
        if (r[i]->stored)
            newest = r[i]->m;
    }
    /* Each sender's newest message of the room, once. */
    for (size_t i = n; newest && i-- > 0;) {
        if (!r[i]->stored || !r[i]->m)
            continue;
        int seen = 0;
        for (size_t k = i + 1; k < n && !seen; k++)
            seen = r[k]->stored && r[k]->m->sender_id == r[i]->m->sender_id;
        if (!seen)
            rows[(*nrows)++] = (struct room_record){newest, r[i]->m->sender_id, r[i]->m->seq};
    }
    return rc;
}

/* record_mysql: the batch's outcome: one statement per 32 senders of its
 * rooms (rooms' last message and last_seq, senders' watermarks). Each
 * piece only ever raises a value, so a batch without empty seqs needs no
 * transaction (a failure is held and written again); seqs that hold no
 * message, and the uncertain seqs that have settled when the batch stored
 * something (the store is answering), are written with it in one. 0 or
 * ERR_*. */
static int record_mysql(struct seqalloc *sa, const struct seq_result *const *r, size_t n,
                        int stored_any)
{
    struct room_record *rows = calloc(n, sizeof *rows);
    size_t nrows = 0;
    int gaps = stored_any && sa->nunsure > 0;
    for (size_t i = 0; i < n && !gaps; i++)
        gaps = r[i]->burned > 0;
    int rc = !rows ? ERR_INTERNAL : gaps ? sqldb_begin(sa->db) : 0;
    if (rc == 0 && stored_any && sa->nunsure)
        rc = unsure_settle(sa);
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t k = i + 1;
        while (k < n && r[k]->m->room_id == r[i]->m->room_id)
            k++;
        rc = record_room(sa, r + i, k - i, gaps, rows, &nrows);
        i = k;
    }
    if (rc == 0)
        rc = room_state_record_many(sa->db, rows, nrows);
    if (rc == 0 && gaps)
        rc = sqldb_commit(sa->db);
    if (rc)
        sqldb_rollback(sa->db);
    free(rows);
    return rc;
}

void seqalloc_stored(struct seqalloc *sa, const struct seq_result *res, size_t n)
{
    /* What earlier batches could not record goes first, in the same
     * transaction as this batch's outcome. */
    size_t cap = sa->nheld + n;
    const struct seq_result **r = cap ? calloc(cap, sizeof(const struct seq_result *)) : NULL;
    size_t k = 0;
    int stored_any = 0;
    if (!r)
        return; /* nothing to record, or out of memory: the next batch raises last_seq */
    for (size_t i = 0; i < sa->nheld; i++)
        r[k++] = &sa->held[i].r;
    for (size_t i = 0; i < n; i++) {
        if (res[i].m && (res[i].stored || res[i].burned > 0))
            r[k++] = &res[i];
        if (res[i].m && res[i].burned > 0 && res[i].uncertain)
            unsure_add(sa, res[i].m->room_id, res[i].burned);
        stored_any |= res[i].m && res[i].stored;
    }
    if (k == 0) {
        free(r);
        return;
    }
    qsort(r, k, sizeof(const struct seq_result *), by_room_seq);
    int rc = ERR_UNAVAILABLE, tried = mysql_usable(sa);
    if (tried)
        rc = record_mysql(sa, r, k, stored_any);
    if (rc == 0) {
        unsure_commit(sa);
        held_clear(sa);
        free(r);
        return;
    }
    unsure_rollback(sa);
    if (tried && rc == ERR_UNAVAILABLE)
        set_up(sa, 0);
    for (size_t i = 0; i < n; i++) {
        if (!res[i].m || !(res[i].stored || res[i].burned > 0))
            continue;
        held_add(sa, &res[i]);
        struct repair *p = res[i].stored ? repair_get(sa, res[i].m->room_id) : NULL;
        if (p && res[i].m->seq > p->stored)
            p->stored = res[i].m->seq;
    }
    free(r);
}

void seqalloc_collided(struct seqalloc *sa, int64_t room_id)
{
    struct repair *p = repair_get(sa, room_id);
    if (p)
        p->collided = 1;
    seqgen_forget(sa->mem, room_id);
}
