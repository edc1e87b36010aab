/*
 * Byte rings for the send and receive buffers, and the out-of-order queue.
 * A ring's memory is allocated when the first byte arrives, grows with the
 * bytes it holds (2 KiB, 4 KiB, ... up to the socket's buffer size) and is
 * given back when it drains, so an idle connection holds no buffer and a
 * connection holding a few bytes holds a small one (what lets many connections
 * fit). Blocks given back are kept in a small per-stack cache by size, so a
 * request/response exchange reuses them instead of calling malloc and free.
 */
#include <stdlib.h>
#include <string.h>

#include "tcp.h"

#define RING_MIN_BLOCK 2048u
/* Bytes of drained blocks kept for reuse, whatever the number of connections. */
#define RING_CACHE_MAX_BYTES (1024u * 1024u)

/* The cache list a block of this size belongs to, or -1 (a size that is not 2 KiB << k). */
static int ring_class(size_t size)
{
    for (int k = 0; k < TCP_RING_CLASSES; k++)
        if (size == (size_t)RING_MIN_BLOCK << k)
            return k;
    return -1;
}

/* A cached block holds the address of the next one in its first bytes. */
static uint8_t *cached_next(const uint8_t *block)
{
    uint8_t *next;
    memcpy(&next, block, sizeof(uint8_t *));
    return next;
}

static void cached_link(uint8_t *block, uint8_t *next)
{
    memcpy(block, &next, sizeof(uint8_t *));
}

static uint8_t *block_get(struct ts_stack *st, size_t size)
{
    int k = ring_class(size);
    if (k >= 0 && st->ring_cache[k] != NULL) {
        uint8_t *block = st->ring_cache[k];
        st->ring_cache[k] = cached_next(block);
        st->ring_cache_bytes -= size;
        return block;
    }
    uint8_t *block = malloc(size);
    if (block == NULL) {
        st->counters.mem.drop_no_memory++;
        return NULL;
    }
    st->mem_in_use += size;
    return block;
}

static void block_put(struct ts_stack *st, uint8_t *block, size_t size)
{
    int k = ring_class(size);
    if (k >= 0 && st->ring_cache_bytes + size <= RING_CACHE_MAX_BYTES) {
        cached_link(block, st->ring_cache[k]);
        st->ring_cache[k] = block;
        st->ring_cache_bytes += size;
        return;
    }
    st->mem_in_use -= size;
    free(block);
}

void tcp_ring_cache_drain(struct ts_stack *st)
{
    for (int k = 0; k < TCP_RING_CLASSES; k++) {
        while (st->ring_cache[k] != NULL) {
            uint8_t *block = st->ring_cache[k];
            st->ring_cache[k] = cached_next(block);
            st->mem_in_use -= (size_t)RING_MIN_BLOCK << k;
            free(block);
        }
    }
    st->ring_cache_bytes = 0;
}

/* The block size for `need` bytes: the next power of two from 2 KiB, never beyond cap. */
static size_t ring_block_size(const struct tcp_ring *r, size_t need)
{
    size_t size = RING_MIN_BLOCK;
    while (size < need && size < r->cap)
        size *= 2;
    return size > r->cap ? r->cap : size;
}

/* Moves the bytes into a block that holds need bytes; -1 (the ring unchanged) if none can be had. */
static int ring_grow(struct ts_stack *st, struct tcp_ring *r, size_t need)
{
    size_t size = ring_block_size(r, need);
    uint8_t *block = block_get(st, size);
    if (block == NULL)
        return -1;
    if (r->data != NULL) {
        tcp_ring_copy_out(r, 0, block, r->len);
        block_put(st, r->data, r->size);
    }
    r->data = block;
    r->size = size;
    r->start = 0;
    return 0;
}

size_t tcp_ring_space(const struct tcp_ring *r)
{
    return r->cap - r->len;
}

ssize_t tcp_ring_append(struct ts_stack *st, struct tcp_ring *r, const uint8_t *data, size_t len)
{
    size_t n = len < tcp_ring_space(r) ? len : tcp_ring_space(r);
    if (n == 0)
        return 0;
    /*
     * Grown with room for as much again: a bulk receiver's ring drains to empty after
     * each read and refills 64 KiB at a time, and growing to the exact need would copy
     * the first super-segment into a bigger block on every second one.
     */
    if (r->len + n > r->size && ring_grow(st, r, 2 * (r->len + n)) != 0)
        return -1;
    size_t tail = (r->start + r->len) % r->size;
    size_t first = n < r->size - tail ? n : r->size - tail;
    memcpy(r->data + tail, data, first);
    memcpy(r->data, data + first, n - first);
    r->len += n;
    return (ssize_t)n;
}

void tcp_ring_copy_out(const struct tcp_ring *r, size_t offset, uint8_t *out, size_t len)
{
    if (len == 0)
        return;
    size_t from = (r->start + offset) % r->size;
    size_t first = len < r->size - from ? len : r->size - from;
    memcpy(out, r->data + from, first);
    memcpy(out + first, r->data, len - first);
}

unsigned tcp_ring_spans(const struct tcp_ring *r, size_t offset, size_t len, const uint8_t *span[2],
                        uint32_t span_len[2])
{
    span[0] = span[1] = NULL;
    span_len[0] = span_len[1] = 0;
    if (len == 0)
        return 0;
    size_t from = (r->start + offset) % r->size;
    size_t first = len < r->size - from ? len : r->size - from;
    span[0] = r->data + from;
    span_len[0] = (uint32_t)first;
    if (first == len)
        return 1;
    span[1] = r->data;
    span_len[1] = (uint32_t)(len - first);
    return 2;
}

void tcp_ring_free(struct ts_stack *st, struct tcp_ring *r)
{
    if (r->data != NULL)
        block_put(st, r->data, r->size);
    r->data = NULL;
    r->size = 0;
    r->start = 0;
    r->len = 0;
}

void tcp_ring_consume(struct ts_stack *st, struct tcp_ring *r, size_t len)
{
    if (len > r->len)
        len = r->len;
    r->len -= len;
    r->start = r->len == 0 ? 0 : (r->start + len) % r->size;
    if (r->len == 0)
        tcp_ring_free(st, r);
}

void tcp_ooo_clear(struct ts_stack *st, struct tcp_conn *c)
{
    pbuf_free_chain(st, c->ooo);
    c->ooo = NULL;
    c->ooo_bytes = 0;
    c->ooo_segments = 0;
}

/*
 * Queues [seq, seq+len) (+FIN) keeping the queue sorted and free of overlap:
 * bytes already held are trimmed from the new segment, so each byte is stored once.
 */
bool tcp_ooo_insert(struct ts_stack *st, struct tcp_conn *c, uint32_t seq, const uint8_t *data, size_t len,
                    bool fin)
{
    struct ts_pbuf **pp = &c->ooo;
    while (*pp != NULL && SEQ_LEQ((*pp)->offset + (uint32_t)(*pp)->len, seq))
        pp = &(*pp)->next;
    /* Trim the front against the segment before (if it covers part of ours). */
    if (*pp != NULL && SEQ_LT((*pp)->offset, seq + (uint32_t)len) && SEQ_LEQ((*pp)->offset, seq)) {
        uint32_t covered = (*pp)->offset + (uint32_t)(*pp)->len - seq;
        if (covered >= len && !fin)
            return true; /* all of it is already here */
        if (covered > len)
            covered = (uint32_t)len;
        seq += covered;
        data += covered;
        len -= covered;
        pp = &(*pp)->next;
    }
    /* Trim the end against the segment after. */
    if (*pp != NULL && SEQ_LT((*pp)->offset, seq + (uint32_t)len)) {
        len = (*pp)->offset - seq;
        fin = false;
    }
    if (len == 0 && !fin)
        return true;
    /* Bytes and segments both: a flood of one-byte segments would otherwise hold a buffer per byte. */
    if (c->ooo_bytes + len > st->cfg.limits.tcp_ooo_max_bytes ||
        c->ooo_segments >= st->cfg.limits.tcp_ooo_max_segments)
        return false;
    struct ts_pbuf *pb = pbuf_alloc(st, 0, len);
    if (pb == NULL)
        return false;
    if (len > 0)
        memcpy(pb->data, data, len);
    pb->offset = seq;
    pb->fin = fin;
    c->ooo_recent = seq;
    pb->next = *pp;
    *pp = pb;
    c->ooo_bytes += len;
    c->ooo_segments++;
    return true;
}

bool tcp_ooo_drain(struct ts_stack *st, struct tcp_conn *c)
{
    bool fin = false;
    while (c->ooo != NULL && SEQ_LEQ(c->ooo->offset, c->rcv_nxt)) {
        struct ts_pbuf *pb = c->ooo;
        uint32_t end = pb->offset + (uint32_t)pb->len;
        if (SEQ_GT(end, c->rcv_nxt) || (pb->fin && end == c->rcv_nxt)) {
            size_t skip = c->rcv_nxt - pb->offset;
            size_t n = pb->len - skip;
            if (!c->read_shutdown)
                tcp_ring_append(st, &c->rcv, pb->data + skip, n);
            c->rcv_nxt += (uint32_t)n;
            c->bytes_received += n;
            if (pb->fin)
                fin = true;
        }
        c->ooo = pb->next;
        c->ooo_bytes -= pb->len;
        c->ooo_segments--;
        pbuf_free(st, pb);
        if (fin)
            break;
    }
    return fin;
}

/*
 * RFC 2018 4: "The first SACK block MUST specify the contiguous block of data
 * containing the segment which triggered this ACK"; the others follow in
 * sequence order, lowest first, which is what a sender repairing from SND.UNA
 * upward needs most.
 */
unsigned tcp_sack_blocks(const struct tcp_conn *c, struct tcp_sack_block *out, unsigned max)
{
    struct tcp_sack_block all[32];
    unsigned n = 0;
    for (const struct ts_pbuf *pb = c->ooo; pb != NULL && n < 32; pb = pb->next) {
        uint32_t left = pb->offset, right = pb->offset + (uint32_t)pb->len;
        if (n > 0 && all[n - 1].right == left) {
            all[n - 1].right = right; /* adjacent segments form one block */
            continue;
        }
        if (left == right)
            continue;
        all[n].left = left;
        all[n].right = right;
        n++;
    }
    unsigned first = 0;
    for (unsigned i = 0; i < n; i++)
        if (seq_in_range(c->ooo_recent, all[i].left, all[i].right))
            first = i;
    unsigned count = 0;
    if (n > 0 && max > 0)
        out[count++] = all[first];
    for (unsigned i = 0; i < n && count < max; i++)
        if (i != first)
            out[count++] = all[i];
    return count;
}
