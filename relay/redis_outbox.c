/*
 * redis_outbox.c - frames for the writer's Redis connection, grouped (see
 * redis_outbox.h).
 *
 * Two groups: `busy`, the job on the queue (owned by the queue until its
 * done runs), and `next`, filling meanwhile. When busy's done runs, next
 * becomes the job. The frames of a group live in one buffer; the events
 * point into it only once the group is submitted (the buffer may move
 * while it fills, so until then each frame is an offset).
 */
#include "redis_outbox.h"

#include "errors.h"

#include <stdlib.h>
#include <string.h>

struct group {
    struct job base;
    struct redis_outbox *ob;
    struct redis_event *ev; /* frame set at submit */
    size_t *off;            /* each frame's offset in bytes */
    size_t n, cap, off_cap;
    char *bytes;
    size_t used, bytes_cap;
};

struct redis_outbox {
    struct workq *q;
    size_t max;
    redis_outbox_publish_fn *publish;
    void *arg;
    struct group *busy; /* submitted, done not yet run */
    struct group *next; /* filling; NULL when empty */
};

static void group_free(struct group *g)
{
    if (!g)
        return;
    free(g->ev);
    free(g->off);
    free(g->bytes);
    free(g);
}

static void group_run(struct job *j, void *ctx)
{
    struct group *g = (struct group *) j;
    (void) ctx;
    g->ob->publish(g->ob->arg, g->ev, g->n);
}

static void submit(struct redis_outbox *ob)
{
    struct group *g = ob->next;
    for (size_t i = 0; i < g->n; i++)
        g->ev[i].frame = g->bytes + g->off[i];
    ob->busy = g;
    ob->next = NULL;
    workq_submit(ob->q, &ob->busy->base);
}

static void group_done(struct job *j, int status)
{
    struct group *g = (struct group *) j;
    struct redis_outbox *ob = g->ob;
    group_free(g);
    ob->busy = NULL;
    /* cancelled: the queue is being freed; what waits is dropped with the outbox */
    if (status == WORKQ_OK && ob->next)
        submit(ob);
}

struct redis_outbox *redis_outbox_new(struct workq *q, size_t max, redis_outbox_publish_fn *publish,
                                      void *arg)
{
    struct redis_outbox *ob = calloc(1, sizeof *ob);
    if (!ob)
        return NULL;
    ob->q = q;
    ob->max = max;
    ob->publish = publish;
    ob->arg = arg;
    return ob;
}

void redis_outbox_free(struct redis_outbox *ob)
{
    if (!ob)
        return;
    group_free(ob->next); /* busy was completed by workq_free */
    free(ob);
}

size_t redis_outbox_waiting(const struct redis_outbox *ob)
{
    return (ob->busy ? ob->busy->n : 0) + (ob->next ? ob->next->n : 0);
}

/* grow: room for n elements of size in *p (capacity *cap). */
static int grow(void *p, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < n)
        c *= 2;
    void *q = realloc(*(void **) p, c * size);
    if (!q)
        return ERR_NOMEM;
    *(void **) p = q;
    *cap = c;
    return 0;
}

int redis_outbox_push(struct redis_outbox *ob, int64_t room_id, int64_t user_id, const char *frame,
                      size_t len)
{
    if (redis_outbox_waiting(ob) >= ob->max)
        return ERR_TOO_LARGE;
    if (!ob->next) {
        if (!(ob->next = calloc(1, sizeof *ob->next)))
            return ERR_NOMEM;
        ob->next->base = (struct job){.run = group_run, .done = group_done};
        ob->next->ob = ob;
    }
    struct group *g = ob->next;
    if (grow(&g->ev, &g->cap, g->n + 1, sizeof *g->ev) != 0 ||
        grow(&g->off, &g->off_cap, g->n + 1, sizeof *g->off) != 0 ||
        grow(&g->bytes, &g->bytes_cap, g->used + len + 1, 1) != 0)
        return ERR_NOMEM; /* an empty group stays for the next push */
    if (len)
        memcpy(g->bytes + g->used, frame, len);
    g->off[g->n] = g->used;
    g->ev[g->n++] = (struct redis_event){.room_id = room_id, .user_id = user_id, .len = len};
    g->used += len;
    if (!ob->busy)
        submit(ob);
    return 0;
}
