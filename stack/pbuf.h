/*
 * Packet buffers. A pbuf is one contiguous buffer with headroom in front of the
 * data, so each layer on the way out prepends its header in place
 * (pbuf_push) instead of copying the payload again. The input path parses the
 * caller's frame where it lies and copies only what must outlive the call
 * (a queued datagram, a fragment awaiting reassembly).
 *
 * Every pbuf belongs to one stack, which counts them: a test that has closed
 * everything checks ts_stack_pbufs_in_use() == 0 to prove nothing leaked.
 * Buffers of the common size come from a small free list so the steady-state
 * path does not call malloc.
 */
#ifndef TS_PBUF_H
#define TS_PBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapstack/stack.h"

/* Room for Ethernet + IPv4 with options in front of a transport header. */
#define PBUF_HEADROOM 96

struct ts_pbuf {
    struct ts_pbuf *next;  /* for whichever queue holds it */
    uint8_t *data;         /* first byte of the packet */
    size_t len;            /* bytes from data */
    size_t capacity;       /* bytes in storage[] */
    /* Metadata for the queue that holds it. */
    ts_ipv4_addr peer_addr; /* a received datagram's source, or a queued packet's next hop */
    uint16_t peer_port;
    uint8_t ttl;           /* a received datagram's IP TTL and TOS */
    uint8_t tos;
    ts_ipv4_addr local_addr; /* a received datagram's IP destination: ours or a broadcast (IP_PKTINFO) */
    bool fin;              /* a queued TCP segment that carried the FIN */
    uint32_t offset;       /* position in a larger whole: a fragment's byte offset in its datagram */
    uint32_t owner_id;     /* pcb that sent it (0: the stack itself), told if ARP gives up */
    /* Outgoing offload requests (see struct ts_frame_meta): set by TCP, turned into frame offsets by eth_output. */
    bool tx_csum_partial;  /* the transport checksum field holds the pseudo-header sum only */
    uint8_t tx_csum_offset; /* where that field sits from the transport header */
    uint16_t tx_gso_size;  /* a TSO super-segment: payload bytes per segment; 0 = an ordinary packet */
    /*
     * Outgoing TCP data left where it lies (a link with TS_LINK_TX_GATHER): bytes that follow
     * data[0..len) on the wire, in the send ring. Only valid inside the call that built the packet:
     * anything that keeps the packet longer (the ARP queue, loopback) calls pbuf_own_data first.
     */
    const uint8_t *ext[2];
    uint32_t ext_len[2];
    uint8_t storage[];
};

struct ts_stack;

/* A buffer with `headroom` bytes before data and room for len bytes of data; NULL if memory runs out (counted). */
struct ts_pbuf *pbuf_alloc(struct ts_stack *st, size_t headroom, size_t len);
/* The same; with large_class, a buffer beyond the MTU comes from (and returns to) a small pool of 64 KiB ones. */
struct ts_pbuf *pbuf_alloc_pooled(struct ts_stack *st, size_t headroom, size_t len, bool large_class);
void pbuf_free(struct ts_stack *st, struct ts_pbuf *pb);
/* The memory a pbuf_alloc(st, headroom, len) holds, buffer and header: what a queue charges for it. */
size_t pbuf_truesize_for(size_t headroom, size_t len);
/* The packet's length on the wire: its own bytes and those it refers to (ext). */
static inline size_t pbuf_wire_len(const struct ts_pbuf *pb)
{
    return pb->len + pb->ext_len[0] + pb->ext_len[1];
}
/*
 * A packet that owns all its bytes: pb itself if it refers to none, else a copy (pb is freed either
 * way). NULL, with pb freed and the loss counted, if memory runs out.
 */
struct ts_pbuf *pbuf_own_data(struct ts_stack *st, struct ts_pbuf *pb);
/* Frees a whole singly linked chain. */
void pbuf_free_chain(struct ts_stack *st, struct ts_pbuf *head);
/* Moves data back by n bytes (prepending a header); returns the new start. The headroom must suffice. */
uint8_t *pbuf_push(struct ts_pbuf *pb, size_t n);
size_t pbuf_headroom(const struct ts_pbuf *pb);
/* Releases the free list (stack teardown). */
void pbuf_pool_drain(struct ts_stack *st);

/* A FIFO of pbufs linked through ->next. */
struct pbuf_queue {
    struct ts_pbuf *head, *tail;
    size_t count;
    size_t bytes;
};
void pbuf_queue_push(struct pbuf_queue *q, struct ts_pbuf *pb);
struct ts_pbuf *pbuf_queue_pop(struct pbuf_queue *q);
void pbuf_queue_clear(struct ts_stack *st, struct pbuf_queue *q);

#endif
