#include "pbuf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Headroom plus a full Ethernet-MTU frame: what nearly every packet needs. */
#define PBUF_POOL_SIZE 2048
#define PBUF_POOL_MAX_FREE 256
/* Headroom plus a 64 KiB datagram: TSO super-segments, reassembled or looped-back datagrams. A few
 * are kept so a bulk sender over an offloading link never calls malloc per segment. */
#define PBUF_LARGE_SIZE (PBUF_HEADROOM + 65536)
#define PBUF_LARGE_MAX_FREE 8

/* The pool class a request falls into, or NULL for a one-off size. */
static struct ts_pbuf **pbuf_pool_for(struct ts_stack *st, size_t capacity, size_t **count)
{
    if (capacity == PBUF_POOL_SIZE) {
        *count = &st->pbuf_free_count;
        return &st->pbuf_free_list;
    }
    if (capacity == PBUF_LARGE_SIZE) {
        *count = &st->pbuf_large_free_count;
        return &st->pbuf_large_free_list;
    }
    return NULL;
}

/* Only TSO senders ask for the large class: anything else of an odd size gets exactly what it needs. */
static size_t pbuf_capacity_for(size_t need, bool large_class)
{
    if (need <= PBUF_POOL_SIZE)
        return PBUF_POOL_SIZE;
    return large_class && need <= PBUF_LARGE_SIZE ? PBUF_LARGE_SIZE : need;
}

size_t pbuf_truesize_for(size_t headroom, size_t len)
{
    return sizeof(struct ts_pbuf) + pbuf_capacity_for(headroom + len, false);
}

struct ts_pbuf *pbuf_alloc(struct ts_stack *st, size_t headroom, size_t len)
{
    return pbuf_alloc_pooled(st, headroom, len, false);
}

struct ts_pbuf *pbuf_alloc_pooled(struct ts_stack *st, size_t headroom, size_t len, bool large_class)
{
    size_t need = headroom + len;
    struct ts_pbuf *pb = NULL;
    size_t capacity = pbuf_capacity_for(need, large_class);
    size_t *count = NULL;
    struct ts_pbuf **pool = pbuf_pool_for(st, capacity, &count);
    if (pool != NULL && *pool != NULL) {
        pb = *pool;
        *pool = pb->next;
        (*count)--;
    } else {
        pb = malloc(sizeof *pb + capacity);
        if (pb == NULL) {
            st->counters.mem.drop_no_memory++;
            return NULL;
        }
        st->mem_in_use += sizeof *pb + capacity;
    }
    pb->next = NULL;
    pb->capacity = capacity;
    pb->data = pb->storage + headroom;
    pb->len = len;
    pb->peer_addr = 0;
    pb->peer_port = 0;
    pb->ttl = 0;
    pb->tos = 0;
    pb->fin = false;
    pb->offset = 0;
    pb->owner_id = 0;
    pb->tx_csum_partial = false;
    pb->tx_csum_offset = 0;
    pb->tx_gso_size = 0;
    pb->ext[0] = pb->ext[1] = NULL;
    pb->ext_len[0] = pb->ext_len[1] = 0;
    st->pbufs_in_use++;
    st->counters.mem.pbuf_allocs++;
    mem_note_high_water(st);
    return pb;
}

struct ts_pbuf *pbuf_own_data(struct ts_stack *st, struct ts_pbuf *pb)
{
    if (pb->ext_len[0] == 0 && pb->ext_len[1] == 0)
        return pb;
    size_t wire = pbuf_wire_len(pb);
    /* A gathered packet is a TCP segment, often a super-segment: the large class, as TCP would have asked. */
    struct ts_pbuf *copy = pbuf_alloc_pooled(st, pbuf_headroom(pb), wire, true);
    if (copy == NULL) {
        pbuf_free(st, pb);
        return NULL;
    }
    uint8_t *at = copy->data;
    memcpy(at, pb->data, pb->len);
    at += pb->len;
    for (int k = 0; k < 2; k++) {
        if (pb->ext_len[k] > 0)
            memcpy(at, pb->ext[k], pb->ext_len[k]);
        at += pb->ext_len[k];
    }
    /* Every piece of metadata comes along; only the buffer itself is the copy's own. */
    uint8_t *data = copy->data;
    size_t capacity = copy->capacity;
    *copy = *pb;
    copy->next = NULL;
    copy->data = data;
    copy->len = wire;
    copy->capacity = capacity;
    copy->ext[0] = copy->ext[1] = NULL;
    copy->ext_len[0] = copy->ext_len[1] = 0;
    pbuf_free(st, pb);
    return copy;
}

void pbuf_free(struct ts_stack *st, struct ts_pbuf *pb)
{
    if (pb == NULL)
        return;
    assert(st->pbufs_in_use > 0);
    st->pbufs_in_use--;
    st->counters.mem.pbuf_frees++;
    size_t *count = NULL;
    struct ts_pbuf **pool = pbuf_pool_for(st, pb->capacity, &count);
    size_t max = pb->capacity == PBUF_POOL_SIZE ? PBUF_POOL_MAX_FREE : PBUF_LARGE_MAX_FREE;
    if (pool != NULL && *count < max) {
        pb->next = *pool;
        *pool = pb;
        (*count)++;
        return;
    }
    st->mem_in_use -= sizeof *pb + pb->capacity;
    free(pb);
}

void pbuf_free_chain(struct ts_stack *st, struct ts_pbuf *head)
{
    while (head != NULL) {
        struct ts_pbuf *next = head->next;
        pbuf_free(st, head);
        head = next;
    }
}

uint8_t *pbuf_push(struct ts_pbuf *pb, size_t n)
{
    assert(pbuf_headroom(pb) >= n);
    pb->data -= n;
    pb->len += n;
    return pb->data;
}

size_t pbuf_headroom(const struct ts_pbuf *pb)
{
    return (size_t)(pb->data - pb->storage);
}

void pbuf_pool_drain(struct ts_stack *st)
{
    while (st->pbuf_free_list != NULL) {
        struct ts_pbuf *pb = st->pbuf_free_list;
        st->pbuf_free_list = pb->next;
        st->mem_in_use -= sizeof *pb + pb->capacity;
        free(pb);
    }
    st->pbuf_free_count = 0;
    while (st->pbuf_large_free_list != NULL) {
        struct ts_pbuf *pb = st->pbuf_large_free_list;
        st->pbuf_large_free_list = pb->next;
        st->mem_in_use -= sizeof *pb + pb->capacity;
        free(pb);
    }
    st->pbuf_large_free_count = 0;
}

void pbuf_queue_push(struct pbuf_queue *q, struct ts_pbuf *pb)
{
    pb->next = NULL;
    if (q->tail != NULL)
        q->tail->next = pb;
    else
        q->head = pb;
    q->tail = pb;
    q->count++;
    q->bytes += pb->len;
}

struct ts_pbuf *pbuf_queue_pop(struct pbuf_queue *q)
{
    struct ts_pbuf *pb = q->head;
    if (pb == NULL)
        return NULL;
    q->head = pb->next;
    if (q->head == NULL)
        q->tail = NULL;
    pb->next = NULL;
    q->count--;
    q->bytes -= pb->len;
    return pb;
}

void pbuf_queue_clear(struct ts_stack *st, struct pbuf_queue *q)
{
    pbuf_free_chain(st, q->head);
    q->head = q->tail = NULL;
    q->count = 0;
    q->bytes = 0;
}
