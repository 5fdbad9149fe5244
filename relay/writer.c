/*
 * writer.c - the pending queue and the batch in flight (see writer.h).
 * Every function here runs on the loop thread except write_run, which the
 * writer thread runs and which touches nothing but its batch (batch.c).
 */
#include "writer.h"

#include "errors.h"
#include "lastseq.h"
#include "log.h"
#include "metrics.h"
#include "seqalloc.h"
#include "timefmt.h"
#include "workq.h"

#include <stdlib.h>

struct writer {
    const struct config *cfg;
    struct workq *q;
    struct msgstore *store;
    struct seqalloc *seqa;
    struct redis_pub *pub;
    const struct lastseq *lastseq;
    struct metrics *metrics;
    const struct writer_events *ev;
    void *arg;
    writer_write_fn *write; /* NULL: batch_write */
    void *write_arg;
    struct outmsg *pending, *pending_tail; /* FIFO for the next batch */
    size_t npending, pending_bytes;
    size_t writing;            /* messages in the batch in flight (0: idle) */
    int seq_mysql_down_logged; /* one log line per MySQL outage of the writer */
};

struct write_job {
    struct job base;
    struct writer *w; /* loop side only: the thread uses the three below */
    struct msgstore *store;
    struct seqalloc *seqa;
    struct redis_pub *pub;
    writer_write_fn *write;
    void *write_arg;
    struct outmsg **batch;
    size_t n;
    int64_t started_ms;
    int rc; /* ERR_UNAVAILABLE when the store could not be reached at all */
};

struct writer *writer_new(const struct config *cfg, struct workq *q, struct msgstore *store,
                          struct seqalloc *seqa, struct redis_pub *pub,
                          const struct lastseq *lastseq, struct metrics *metrics,
                          const struct writer_events *ev, void *arg)
{
    struct writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    *w = (struct writer){.cfg = cfg,
                         .q = q,
                         .store = store,
                         .seqa = seqa,
                         .pub = pub,
                         .lastseq = lastseq,
                         .metrics = metrics,
                         .ev = ev,
                         .arg = arg};
    return w;
}

void writer_free(struct writer *w)
{
    if (!w)
        return;
    while (w->pending) {
        struct outmsg *om = w->pending;
        w->pending = om->next;
        outmsg_free(om);
    }
    free(w);
}

void writer_set_write(struct writer *w, writer_write_fn *write, void *arg)
{
    w->write = write;
    w->write_arg = arg;
}

size_t writer_queued(const struct writer *w)
{
    return w->npending;
}

size_t writer_writing(const struct writer *w)
{
    return w->writing;
}

/* write_run: the writer thread. */
static void write_run(struct job *j, void *ctx)
{
    struct write_job *wj = (struct write_job *) j;
    (void) ctx;
    if (wj->write)
        wj->rc = wj->write(wj->write_arg, wj->batch, wj->n);
    else
        wj->rc = batch_write(wj->store, wj->seqa, wj->pub, wj->batch, wj->n);
}

/* write_done: the loop again. */
static void write_done(struct job *j, int status)
{
    struct write_job *wj = (struct write_job *) j;
    struct writer *w = wj->w;
    int outage = status == WORKQ_OK && wj->rc == ERR_UNAVAILABLE;
    if (status == WORKQ_CANCELLED) {
        /* Never written: each sender gets an ERROR, never an ACK. */
        for (size_t i = 0; i < wj->n; i++)
            wj->batch[i]->status = OUTMSG_CANCELLED;
    } else {
        metrics_observe_batch(w->metrics, wj->n, timefmt_mono_ms() - wj->started_ms);
        w->writing = 0;
        int up = w->seqa ? seqalloc_mysql_up(w->seqa) : 1; /* none: tests */
        if (!up && !w->seq_mysql_down_logged)
            log_warn("seq_mysql_down", "seqs=memory repair=on_return");
        else if (up && w->seq_mysql_down_logged)
            log_info("seq_mysql_up", "seqs=mysql");
        w->seq_mysql_down_logged = !up;
        if (outage)
            log_warn("store_unavailable", "batch=%zu pending=%zu", wj->n, w->npending);
    }
    w->ev->batch_done(w->arg, wj->batch, wj->n);
    for (size_t i = 0; i < wj->n; i++)
        outmsg_free(wj->batch[i]);
    /* Messages queued meanwhile would wait for the same time-out. Refused
     * after the batch is answered: they were sent after it, and a client
     * gets its answers in the order it sent. */
    if (outage)
        writer_fail_pending(w, "message store unavailable, retry later");
    free(wj->batch);
    free(wj);
}

void writer_fail_pending(struct writer *w, const char *why)
{
    while (w->pending) {
        struct outmsg *om = w->pending;
        w->pending = om->next;
        w->ev->failed(w->arg, om, why);
        metrics_refuse(w->metrics, REFUSE_STORE_UNAVAILABLE);
        outmsg_free(om);
    }
    w->pending_tail = NULL;
    w->npending = 0;
    w->pending_bytes = 0;
}

int writer_enqueue(struct writer *w, struct outmsg *om, size_t sender_unanswered)
{
    size_t max = (size_t) w->cfg->max_pending_messages;
    if (w->npending >= max || w->pending_bytes + om->bytes > WRITER_MAX_BYTES ||
        (w->npending >= max / 4 * 3 && sender_unanswered >= WRITER_LIGHT)) {
        metrics_refuse(w->metrics, REFUSE_STORE_UNAVAILABLE);
        return ERR_UNAVAILABLE;
    }
    om->next = NULL;
    if (w->pending_tail)
        w->pending_tail->next = om;
    else
        w->pending = om;
    w->pending_tail = om;
    w->npending++;
    w->pending_bytes += om->bytes;
    w->metrics->messages_in++;
    return 0;
}

void writer_kick(struct writer *w)
{
    if (w->writing > 0 || w->npending == 0)
        return;
    size_t n = w->npending < (size_t) w->cfg->write_batch_max ? w->npending
                                                              : (size_t) w->cfg->write_batch_max;
    struct write_job *wj = calloc(1, sizeof *wj);
    struct outmsg **batch = calloc(n, sizeof(struct outmsg *));
    if (!wj || !batch) {
        free(wj);
        free(batch);
        return; /* try again next iteration */
    }
    for (size_t i = 0; i < n; i++) {
        struct outmsg *om = w->pending;
        w->pending = om->next;
        om->next = NULL;
        w->pending_bytes -= om->bytes;
        if (lastseq_get(w->lastseq, om->m.room_id, &om->seq_hint) != 0)
            om->seq_hint = -1;
        batch[i] = om;
    }
    if (!w->pending)
        w->pending_tail = NULL;
    w->npending -= n;
    wj->base.run = write_run;
    wj->base.done = write_done;
    wj->w = w;
    wj->store = w->store;
    wj->seqa = w->seqa;
    wj->pub = w->pub;
    wj->write = w->write;
    wj->write_arg = w->write_arg;
    wj->batch = batch;
    wj->n = n;
    wj->started_ms = timefmt_mono_ms();
    w->writing = n;
    workq_submit(w->q, &wj->base);
}
