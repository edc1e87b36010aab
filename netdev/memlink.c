/*
 * The in-memory link: two devices joined back to back, no kernel involved.
 *
 * Each direction is a bounded FIFO of heap copies. Two runtimes in one process
 * may drive the two ends from two threads, so everything shared sits behind one
 * mutex per pair; frames are copied in and out outside it where possible.
 *
 * Readiness: each end owns an eventfd that is non-zero exactly while frames wait
 * for that end. Both the queue and the counter change under the mutex, so the
 * two never disagree for longer than one call.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "netdev_internal.h"

/* Frames one direction may hold before new ones are dropped. Override at build time if a test needs more. */
#ifndef TS_MEMLINK_QUEUE_FRAMES
#define TS_MEMLINK_QUEUE_FRAMES 4096
#endif

struct memlink_frame {
    uint8_t *data;
    size_t len;
};

/* Frames travelling toward one end. */
struct memlink_queue {
    struct memlink_frame ring[TS_MEMLINK_QUEUE_FRAMES];
    size_t head;
    size_t count;
    uint64_t dropped;
};

struct memlink_shared;

struct memlink_end {
    struct ts_netdev dev;
    struct memlink_shared *shared;
    int index;   /* 0 or 1: which queue is ours to read */
    int eventfd; /* readable while queue[index] is not empty */
};

struct memlink_shared {
    pthread_mutex_t lock;
    struct memlink_queue queue[2]; /* queue[i] holds frames toward end i */
    struct memlink_end *end[2];    /* NULL once that end was destroyed */
};

static struct memlink_end *end_of(struct ts_netdev *dev)
{
    return (struct memlink_end *)dev;
}

/* Called with the lock held. */
static void signal_ready(struct memlink_end *end)
{
    uint64_t one = 1;

    /* Cannot fail short of an eventfd overflow, which a 0/1 counter never reaches. */
    (void)!write(end->eventfd, &one, sizeof one);
}

/* Called with the lock held, once the queue toward end is empty. */
static void clear_ready(struct memlink_end *end)
{
    uint64_t value;

    (void)!read(end->eventfd, &value, sizeof value);
}

static int memlink_transmit(struct ts_netdev *dev, ts_time now, const uint8_t *frame, size_t len)
{
    struct memlink_end *self = end_of(dev);
    struct memlink_shared *sh = self->shared;
    int peer = 1 - self->index;
    struct memlink_queue *q = &sh->queue[peer];
    uint8_t *copy;

    (void)now;
    if (len > TS_NETDEV_MAX_FRAME)
        return -EMSGSIZE;
    copy = malloc(len);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, frame, len);

    pthread_mutex_lock(&sh->lock);
    /* A frame sent to a destroyed end, or into a full queue, is lost on the wire: counted, not an error. */
    if (!sh->end[peer] || q->count == TS_MEMLINK_QUEUE_FRAMES) {
        q->dropped++;
        pthread_mutex_unlock(&sh->lock);
        free(copy);
        return 0;
    }
    q->ring[(q->head + q->count) % TS_MEMLINK_QUEUE_FRAMES] = (struct memlink_frame){ copy, len };
    if (q->count++ == 0)
        signal_ready(sh->end[peer]);
    pthread_mutex_unlock(&sh->lock);
    return 0;
}

static int memlink_receive(struct ts_netdev *dev, ts_time now, uint8_t *buf, size_t cap, size_t *len,
                           ts_time *when)
{
    struct memlink_end *self = end_of(dev);
    struct memlink_shared *sh = self->shared;
    struct memlink_queue *q = &sh->queue[self->index];
    struct memlink_frame frame;

    pthread_mutex_lock(&sh->lock);
    if (q->count == 0) {
        pthread_mutex_unlock(&sh->lock);
        return 0;
    }
    frame = q->ring[q->head];
    q->head = (q->head + 1) % TS_MEMLINK_QUEUE_FRAMES;
    if (--q->count == 0)
        clear_ready(self);
    pthread_mutex_unlock(&sh->lock);

    if (frame.len > cap) {
        free(frame.data);
        return -EMSGSIZE; /* dropped: never cut short */
    }
    memcpy(buf, frame.data, frame.len);
    *len = frame.len;
    *when = now;
    free(frame.data);
    return 1;
}

static int memlink_wait_fd(struct ts_netdev *dev)
{
    return end_of(dev)->eventfd;
}

static ts_time memlink_next_deadline(struct ts_netdev *dev, ts_time now)
{
    (void)dev;
    (void)now;
    return TS_TIME_NEVER;
}

static void queue_clear(struct memlink_queue *q)
{
    for (; q->count > 0; q->count--) {
        free(q->ring[q->head].data);
        q->head = (q->head + 1) % TS_MEMLINK_QUEUE_FRAMES;
    }
}

static void memlink_destroy(struct ts_netdev *dev)
{
    struct memlink_end *self = end_of(dev);
    struct memlink_shared *sh = self->shared;
    bool last;

    pthread_mutex_lock(&sh->lock);
    sh->end[self->index] = NULL;
    queue_clear(&sh->queue[self->index]);
    close(self->eventfd);
    last = !sh->end[1 - self->index];
    pthread_mutex_unlock(&sh->lock);

    free(self);
    if (last) {
        /* The peer is gone too, so no other thread can still reach the shared state. */
        queue_clear(&sh->queue[0]);
        queue_clear(&sh->queue[1]);
        pthread_mutex_destroy(&sh->lock);
        free(sh);
    }
}

static const struct ts_netdev_ops memlink_ops = {
    .kind = "memlink",
    .transmit = memlink_transmit,
    .receive = memlink_receive,
    .wait_fd = memlink_wait_fd,
    .next_deadline = memlink_next_deadline,
    .poll = NULL,
    .destroy = memlink_destroy,
};

static struct memlink_end *end_new(struct memlink_shared *sh, int index, size_t mtu)
{
    struct memlink_end *end = calloc(1, sizeof *end);

    if (!end)
        return NULL;
    end->eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (end->eventfd < 0) {
        free(end);
        return NULL;
    }
    end->dev.ops = &memlink_ops;
    ts_netdev_set_name(&end->dev, index == 0 ? "memlink-a" : "memlink-b");
    end->dev.mtu = mtu;
    end->dev.has_mac = false; /* each stack on the link picks its own */
    end->shared = sh;
    end->index = index;
    sh->end[index] = end;
    return end;
}

int ts_memlink_pair(size_t mtu, struct ts_netdev **a, struct ts_netdev **b)
{
    struct memlink_shared *sh;
    int saved;

    if (!a || !b || mtu == 0 || mtu > TS_NETDEV_MAX_FRAME)
        return -EINVAL;
    sh = calloc(1, sizeof *sh);
    if (!sh)
        return -ENOMEM;
    if (pthread_mutex_init(&sh->lock, NULL) != 0) {
        free(sh);
        return -ENOMEM;
    }
    if (!end_new(sh, 0, mtu) || !end_new(sh, 1, mtu)) {
        saved = errno ? errno : ENOMEM;
        for (int i = 0; i < 2; i++) {
            if (sh->end[i]) {
                close(sh->end[i]->eventfd);
                free(sh->end[i]);
            }
        }
        pthread_mutex_destroy(&sh->lock);
        free(sh);
        return -saved;
    }
    *a = &sh->end[0]->dev;
    *b = &sh->end[1]->dev;
    return 0;
}

static struct memlink_end *memlink_end_or_null(struct ts_netdev *dev)
{
    return (dev && dev->ops == &memlink_ops) ? end_of(dev) : NULL;
}

size_t ts_memlink_pending(struct ts_netdev *dev)
{
    struct memlink_end *end = memlink_end_or_null(dev);
    size_t count;

    if (!end)
        return 0;
    pthread_mutex_lock(&end->shared->lock);
    count = end->shared->queue[end->index].count;
    pthread_mutex_unlock(&end->shared->lock);
    return count;
}

uint64_t ts_memlink_dropped(struct ts_netdev *dev)
{
    struct memlink_end *end = memlink_end_or_null(dev);
    uint64_t dropped;

    if (!end)
        return 0;
    pthread_mutex_lock(&end->shared->lock);
    dropped = end->shared->queue[end->index].dropped;
    pthread_mutex_unlock(&end->shared->lock);
    return dropped;
}
