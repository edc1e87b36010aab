/*
 * Which TCP connections have a timer due, without looking at the others
 * (issue 6: "no O(n) scans per packet or per tick").
 *
 * Each connection with any timer running sits once in a binary min-heap keyed
 * by its earliest deadline (tcp_conn_deadline: the minimum of rto_at, delack_at,
 * persist_at, keepalive_at, timewait_at). Every write to one of those goes
 * through tcp_timer_set, which moves the connection in the heap. So
 *   tcp_next_deadline   reads the root: O(1)
 *   tcp_timer_set       O(log n) when the earliest deadline changes, O(1) otherwise
 *   tcp_poll            pops only the connections that are due: O(k log n)
 *
 * Why a heap and not the timer wheel the issue names: the core keeps exact
 * microsecond deadlines (the replay tests compare every frame's timing on a
 * virtual clock) and ts_stack_next_deadline must return the exact earliest one.
 * A wheel buckets deadlines by tick; answering "exactly when is the next one"
 * means scanning a bucket's entries (all 100,000 keep-alive deadlines can land
 * in one bucket) or cascading in a const query, and rounding deadlines to ticks
 * would change when frames leave. A heap gives the exact minimum at the root
 * and still costs only O(log n) per change; its array is reserved as
 * connections are created, so arming a timer never allocates.
 *
 * Order: connections due in the same poll run in the order the old scan of
 * st->pcbs ran them, newest pcb first (highest id), so recorded replays and
 * seeded tests see the same frames in the same order.
 */
#include <stdlib.h>

#include "tcp.h"

enum { TIMER_NOWHERE, TIMER_IN_HEAP, TIMER_DUE };

static ts_time min_time(ts_time a, ts_time b)
{
    return a < b ? a : b;
}

ts_time tcp_conn_deadline(const struct tcp_conn *c)
{
    ts_time t = min_time(c->rto_at, c->delack_at);
    t = min_time(t, c->persist_at);
    t = min_time(t, c->keepalive_at);
    return min_time(t, c->timewait_at);
}

static void heap_place(struct ts_stack *st, size_t i, struct tcp_timer_entry e)
{
    st->timer_heap[i] = e;
    e.conn->timer_slot = (uint32_t)i;
}

static void sift_up(struct ts_stack *st, size_t i)
{
    struct tcp_timer_entry e = st->timer_heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (st->timer_heap[parent].key <= e.key)
            break;
        heap_place(st, i, st->timer_heap[parent]);
        i = parent;
    }
    heap_place(st, i, e);
}

static void sift_down(struct ts_stack *st, size_t i)
{
    struct tcp_timer_entry e = st->timer_heap[i];
    size_t n = st->timer_count;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && st->timer_heap[child + 1].key < st->timer_heap[child].key)
            child++;
        if (st->timer_heap[child].key >= e.key)
            break;
        heap_place(st, i, st->timer_heap[child]);
        i = child;
    }
    heap_place(st, i, e);
}

static void heap_remove_at(struct ts_stack *st, size_t i)
{
    struct tcp_conn *c = st->timer_heap[i].conn;
    c->timer_where = TIMER_NOWHERE;
    size_t last = --st->timer_count;
    if (i == last)
        return;
    heap_place(st, i, st->timer_heap[last]);
    if (i > 0 && st->timer_heap[i].key < st->timer_heap[(i - 1) / 2].key)
        sift_up(st, i);
    else
        sift_down(st, i);
}

int tcp_timers_reserve(struct ts_stack *st, size_t connections)
{
    if (connections <= st->timer_cap)
        return 0;
    size_t cap = st->timer_cap ? st->timer_cap * 2 : 16;
    while (cap < connections)
        cap *= 2;
    struct tcp_timer_entry *heap = realloc(st->timer_heap, cap * sizeof *heap);
    if (heap == NULL) {
        st->counters.mem.drop_no_memory++;
        return -1;
    }
    st->mem_in_use += (cap - st->timer_cap) * sizeof *heap;
    st->timer_heap = heap;
    st->timer_cap = cap;
    return 0;
}

void tcp_timers_free(struct ts_stack *st)
{
    st->mem_in_use -= st->timer_cap * sizeof *st->timer_heap + st->timer_due_cap * sizeof *st->timer_due;
    free(st->timer_heap);
    free(st->timer_due);
    st->timer_heap = NULL;
    st->timer_due = NULL;
    st->timer_cap = st->timer_count = st->timer_due_cap = st->timer_due_count = 0;
}

/* Puts c where its earliest deadline says: in the heap, moved, or out of it. */
static void tcp_timer_update(struct ts_stack *st, struct tcp_conn *c)
{
    if (c->timer_where == TIMER_DUE)
        return; /* being polled: placed again when its turn is over */
    ts_time key = tcp_conn_deadline(c);
    if (c->timer_where == TIMER_IN_HEAP) {
        size_t i = c->timer_slot;
        ts_time old = st->timer_heap[i].key;
        if (key == TS_TIME_NEVER) {
            heap_remove_at(st, i);
        } else if (key < old) {
            st->timer_heap[i].key = key;
            sift_up(st, i);
        } else if (key > old) {
            st->timer_heap[i].key = key;
            sift_down(st, i);
        }
        return;
    }
    if (key == TS_TIME_NEVER)
        return;
    /* tcp_conn_new reserved a slot for every connection: this cannot overflow. */
    size_t i = st->timer_count++;
    c->timer_where = TIMER_IN_HEAP;
    st->timer_heap[i] = (struct tcp_timer_entry){.key = key, .conn = c};
    sift_up(st, i);
}

void tcp_timer_set(struct tcp_conn *c, ts_time *timer, ts_time at)
{
    *timer = at;
    tcp_timer_update(c->pcb->st, c);
}

void tcp_timers_stop(struct tcp_conn *c)
{
    c->rto_at = c->delack_at = c->persist_at = c->keepalive_at = c->timewait_at = TS_TIME_NEVER;
    tcp_timer_update(c->pcb->st, c);
}

void tcp_timer_forget(struct ts_stack *st, struct tcp_conn *c)
{
    if (c->timer_where == TIMER_IN_HEAP)
        heap_remove_at(st, c->timer_slot);
    else if (c->timer_where == TIMER_DUE)
        st->timer_due[c->timer_slot] = NULL; /* freed while its poll was pending: skipped */
    c->timer_where = TIMER_NOWHERE;
}

ts_time tcp_next_deadline(const struct ts_stack *st)
{
    return st->timer_count > 0 ? st->timer_heap[0].key : TS_TIME_NEVER;
}

static uint32_t conn_id(const struct tcp_conn *c)
{
    return c->pcb != NULL ? c->pcb->id : 0;
}

static int newest_first(const void *a, const void *b)
{
    uint32_t ia = conn_id(*(struct tcp_conn *const *)a), ib = conn_id(*(struct tcp_conn *const *)b);
    return ia < ib ? 1 : ia > ib ? -1 : 0;
}

/* Moves the due connections from the heap to st->timer_due, newest first. Stops early (the rest
 * stay due for the next poll, which the deadline asks for at once) if the list cannot grow. */
static size_t collect_due(struct ts_stack *st, ts_time now)
{
    size_t n = 0;
    while (st->timer_count > 0 && st->timer_heap[0].key <= now) {
        if (n == st->timer_due_cap) {
            size_t cap = st->timer_due_cap ? st->timer_due_cap * 2 : 16;
            struct tcp_conn **due = realloc(st->timer_due, cap * sizeof *due);
            if (due == NULL) {
                st->counters.mem.drop_no_memory++;
                break;
            }
            st->mem_in_use += (cap - st->timer_due_cap) * sizeof *due;
            st->timer_due = due;
            st->timer_due_cap = cap;
        }
        struct tcp_conn *c = st->timer_heap[0].conn;
        heap_remove_at(st, 0);
        st->timer_due[n++] = c;
    }
    if (n > 1)
        qsort(st->timer_due, n, sizeof *st->timer_due, newest_first);
    for (size_t i = 0; i < n; i++) {
        st->timer_due[i]->timer_where = TIMER_DUE;
        st->timer_due[i]->timer_slot = (uint32_t)i;
    }
    return n;
}

void tcp_poll(struct ts_stack *st, ts_time now)
{
    if (st->in_tcp_poll)
        return; /* an event callback polling again: the outer poll finishes the job */
    st->in_tcp_poll = true;
    size_t n = collect_due(st, now);
    st->timer_due_count = n;
    for (size_t i = 0; i < n; i++) {
        struct tcp_conn *c = st->timer_due[i];
        if (c == NULL)
            continue; /* freed by an earlier connection's event */
        tcp_conn_poll(st, now, c);
        c = st->timer_due[i];
        if (c == NULL)
            continue; /* it finished and was freed */
        st->timer_due[i] = NULL;
        c->timer_where = TIMER_NOWHERE;
        tcp_timer_update(st, c);
    }
    st->timer_due_count = 0;
    st->in_tcp_poll = false;
}
