/*
 * The inside of a stack: struct ts_stack and the calls the protocol files make
 * to each other. Nothing here is part of the public API.
 *
 * Input:  ts_stack_input -> eth_input -> arp_input
 *                                     -> ipv4_input -> ipv4_reasm_input (fragments)
 *                                                   -> icmp_input | udp_input
 * Output: udp_output | icmp_* -> ipv4_output (fragments if needed) -> ipv4_send_packet
 *                            -> arp_resolve_and_send (queues while resolving) -> eth_output -> link.transmit
 */
#ifndef TS_INTERNAL_H
#define TS_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "counters.h"
#include "pbuf.h"
#include "rng.h"
#include "tcp_isn.h"
#include "tapstack/pcb.h"
#include "tapstack/stack.h"
#include "wire/ethernet.h"
#include "wire/ipv4.h"

/* ---- ARP ---------------------------------------------------------------------- */

enum arp_state {
    ARP_FREE,
    ARP_INCOMPLETE, /* request sent, packets waiting */
    ARP_REACHABLE,  /* resolved; trusted until expires */
    ARP_STATIC,     /* configured; never expires, never overwritten from the wire */
};

struct arp_entry {
    enum arp_state state;
    ts_ipv4_addr ip;
    uint8_t mac[ETH_ADDR_LEN];
    ts_time expires;       /* REACHABLE: when the entry is dropped */
    ts_time next_retry;    /* INCOMPLETE: when the next request goes out */
    unsigned requests_sent;
    bool refresh_sent;     /* REACHABLE: a unicast refresh request is out */
    ts_time last_used;
    struct pbuf_queue pending; /* IP packets (starting at the IP header) waiting for this entry */
};

/* ---- IPv4 reassembly --------------------------------------------------------------- */

struct reasm_entry {
    bool in_use;
    ts_ipv4_addr src, dst;
    uint16_t id;
    uint8_t protocol;
    ts_time expires;
    struct ts_pbuf *fragments; /* sorted by offset; each pbuf holds one fragment's data, ->offset its position */
    unsigned fragment_count;
    size_t bytes;              /* data bytes held */
    size_t total_len;          /* payload length once the last fragment (MF=0) arrived, else 0 */
    bool have_last;
    /* The first fragment's IP header and first 8 data bytes: what an ICMP time exceeded quotes. */
    uint8_t first_quote[IPV4_MAX_HDR_LEN + 8];
    size_t first_quote_len;
    struct ipv4_hdr first_hdr;
};

/* ---- protocol control blocks ------------------------------------------------------- */

/* Which lookup table a TCP pcb's tuple_next links it into (pcb_table.c). */
enum pcb_hashed {
    PCB_HASHED_NONE,
    PCB_HASHED_CONN,     /* st->tcp_conns: a connection, by its 4-tuple */
    PCB_HASHED_LISTENER, /* st->tcp_listeners: a listener, by its port */
};

struct ts_pcb {
    struct ts_stack *st;
    struct ts_pcb *next; /* in st->pcbs, newest first */
    struct ts_pcb *prev; /* (doubly linked: a pcb leaves in O(1)) */
    uint32_t id;         /* never reused within a stack: queued packets name their sender by it */
    enum ts_pcb_type type;
    struct ts_sockaddr local;
    struct ts_sockaddr remote;
    bool bound;
    bool connected;
    bool reuseaddr;
    bool broadcast;
    bool dontfrag;
    bool in_ports;       /* bound, hence in its port's group (pcb_table.c) */
    uint8_t ttl;
    uint8_t tos;         /* IP_TOS */
    size_t rcvbuf;
    size_t sndbuf;
    int pending_error;     /* positive errno, 0 if none */
    enum pcb_hashed hashed; /* which table tuple_next links it into (pcb_table.c) */
    ts_pcb_event_fn event_fn;
    void *event_ctx;

    /*
     * What only one kind of pcb uses shares its room: a datagram socket's queue, or a TCP
     * listener's queues (a TCP pcb is never a datagram socket). Every use checks the type
     * (or `listening`) first; 40 bytes less for each of a hundred thousand connections.
     */
    union {
        struct {                   /* UDP and ICMP sockets */
            struct pbuf_queue rxq; /* received datagrams; ->peer_addr/peer_port hold the source */
            size_t rxq_charge;     /* bytes charged against rcvbuf */
        };
        struct {                        /* a listening TCP pcb */
            struct ts_pcb *accept_head; /* established, unaccepted children */
            struct ts_pcb *accept_tail;
            unsigned backlog;
            unsigned accept_count;
            unsigned syn_count;         /* children still in SYN-RECEIVED */
        };
    };

    /* TCP (tcp.h) */
    struct tcp_conn *tcp;       /* the connection; NULL for a listener or a pcb never connected */
    struct ts_pcb *accept_next; /* link in the listener's accept queue */
    bool listening;
    bool ever_connected;
    enum ts_tcp_congestion congestion;
    bool nodelay;
    bool keepalive;
    unsigned keepidle, keepintvl, keepcnt; /* seconds, seconds, probes */
    uint16_t user_mss;
    unsigned user_timeout_ms;   /* TS_OPT_USER_TIMEOUT, 0 = the stack's retry counts */

    /* lookup tables (pcb_table.c): links inside the pcb, so joining a table allocates nothing */
    struct ts_pcb *id_next;     /* in st->pcb_by_id */
    struct ts_pcb *tuple_next;  /* in st->tcp_conns or st->tcp_listeners, as `hashed` says */
    struct ts_pcb *port_next;   /* in st->ports, if this pcb heads its (type, local port) group */
    struct ts_pcb *group_next, *group_prev; /* the other pcbs bound to the same port, newest first */
};

/* A chained hash table of pcbs linked through the pcb field at offset `link`; doubles as it fills. */
struct pcb_table {
    struct ts_pcb **buckets;
    size_t mask;  /* buckets - 1 (a power of two) */
    size_t count;
    size_t link;
    uint64_t (*hash)(const struct ts_stack *st, const struct ts_pcb *pcb);
};

/* A TCP connection's place in the stack's timer heap (tcp_timer_heap.c). */
struct tcp_timer_entry {
    ts_time key; /* the connection's earliest deadline */
    struct tcp_conn *conn;
};

/* ---- the stack ------------------------------------------------------------------------ */

#define IP_ID_BUCKETS 64
#define TCP_RING_CLASSES 12 /* ring blocks of 2 KiB .. 4 MiB */

struct ts_stack {
    struct ts_stack_config cfg;
    struct ts_link link;
    ts_ipv4_addr netmask;
    ts_ipv4_addr subnet_broadcast;
    struct ts_rng rng;
    struct ts_counters counters;
    uint32_t trace_mask;
    char trace_line[512];
    ts_time last_now;       /* the latest time any call passed in */
    bool announce_pending;  /* gratuitous ARP still to send */

    /* packet buffers */
    struct ts_pbuf *pbuf_free_list;
    size_t pbuf_free_count;
    struct ts_pbuf *pbuf_large_free_list; /* TSO-sized buffers (pbuf.c) */
    size_t pbuf_large_free_count;
    size_t pbufs_in_use;
    size_t mem_in_use;
    /* the most each has reached: see struct ts_stack_usage */
    size_t pbufs_high_water;
    size_t mem_high_water;
    size_t reasm_bytes_high_water;
    size_t arp_queued_high_water;
    unsigned syn_queue_high_water;

    /* ARP */
    struct arp_entry *arp_table;
    size_t arp_queued_total;

    /* IPv4 */
    uint16_t ip_id_next[IP_ID_BUCKETS]; /* RFC 6864 / RFC 7739 4.3: per-destination-bucket counters */
    uint64_t ip_id_key;
    struct reasm_entry *reasm;
    size_t reasm_bytes;
    struct pbuf_queue loopback; /* IP datagrams we sent to ourselves, delivered on the way out of the call */
    bool in_loopback;

    /* ICMP error rate limit: a token bucket measured in microtokens */
    int64_t icmp_tokens;
    ts_time icmp_tokens_at;

    /* TCP */
    struct tcp_secret tcp_secret;
    ts_time tcp_challenge_window_start; /* RFC 5961 7: challenge ACKs are rate limited per stack */
    unsigned tcp_challenge_acks;

    /* TCP buffer blocks given back by drained rings, kept for the next ones (tcp_buf.c): one list
     * per power-of-two size from 2 KiB, so steady traffic does not call malloc */
    uint8_t *ring_cache[TCP_RING_CLASSES];
    size_t ring_cache_bytes;

    /* TCP timers: a binary min-heap of connections by their earliest deadline, and the
     * connections one poll found due (tcp_timer_heap.c) */
    struct tcp_timer_entry *timer_heap;
    size_t timer_count, timer_cap;
    struct tcp_conn **timer_due;
    size_t timer_due_count, timer_due_cap;
    bool in_tcp_poll;
    size_t tcp_conn_count;

    /* pcbs */
    struct ts_pcb *pcbs;
    unsigned pcb_count;
    uint32_t next_pcb_id;
    uint8_t pcb_hash_key[16];   /* SipHash key of the lookup tables (hash flooding) */
    struct pcb_table pcb_by_id, tcp_conns, tcp_listeners, ports;
};

/* Raises the memory and buffer high-water marks to what is held now (cheap: two compares). */
static inline void mem_note_high_water(struct ts_stack *st)
{
    if (st->mem_in_use > st->mem_high_water)
        st->mem_high_water = st->mem_in_use;
    if (st->pbufs_in_use > st->pbufs_high_water)
        st->pbufs_high_water = st->pbufs_in_use;
}

/* ---- trace ---------------------------------------------------------------------------- */

#define TRACE_ON(st, layer) (((st)->trace_mask & (uint32_t)(layer)) != 0 && (st)->cfg.trace != NULL)

void trace_emit(struct ts_stack *st, ts_time now, enum ts_trace_layer layer, enum ts_trace_kind kind,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define TS_TRACE(st, now, layer, kind, ...)                                                                     \
    do {                                                                                                        \
        if (TRACE_ON(st, layer))                                                                                \
            trace_emit(st, now, layer, kind, __VA_ARGS__);                                                      \
    } while (0)

/* Counts a drop under counters.<group>.<reason> and traces it with the counter's name. */
#define TS_DROP(st, now, layer, group, reason, ...)                                                             \
    do {                                                                                                        \
        (st)->counters.group.reason++;                                                                          \
        if (TRACE_ON(st, layer))                                                                                \
            trace_drop(st, now, layer, #group "." #reason, __VA_ARGS__);                                        \
    } while (0)

void trace_drop(struct ts_stack *st, ts_time now, enum ts_trace_layer layer, const char *counter, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));

/* Formats a MAC as xx:xx:xx:xx:xx:xx into buf (18 bytes). */
char *mac_format(const uint8_t mac[6], char *buf);

/* ---- layers ----------------------------------------------------------------------------- */

/* meta: what the device promised about the frame, or NULL. */
void eth_input(struct ts_stack *st, ts_time now, const uint8_t *frame, size_t len, const struct ts_frame_meta *meta);
/* Prepends the Ethernet header to pb (data starts at the layer-3 header) and transmits. Consumes pb. */
void eth_output(struct ts_stack *st, ts_time now, struct ts_pbuf *pb, const uint8_t dst[6], uint16_t ethertype);

void arp_input(struct ts_stack *st, ts_time now, const struct eth_hdr *eth, const uint8_t *data, size_t len);
/* Sends an IP packet (pb starts at the IP header) to next_hop, resolving it first if needed. Consumes pb.
 * Returns 0, or -ENOBUFS when the resolution queue is full. */
int arp_send_ip(struct ts_stack *st, ts_time now, struct ts_pbuf *pb, ts_ipv4_addr next_hop);
void arp_announce(struct ts_stack *st, ts_time now);
void arp_poll(struct ts_stack *st, ts_time now);
ts_time arp_next_deadline(const struct ts_stack *st);
int arp_init(struct ts_stack *st);
void arp_destroy(struct ts_stack *st);
int arp_add_static(struct ts_stack *st, ts_ipv4_addr ip, const uint8_t mac[6]);

/* What ipv4_input knows about a datagram when it hands the payload up. */
struct ipv4_rx {
    struct ipv4_hdr hdr;
    const uint8_t *header;  /* the IP header as it arrived (for ICMP errors to quote) */
    size_t header_len;
    const uint8_t *payload;
    size_t payload_len;
    bool to_broadcast;      /* sent to a broadcast address: never answered with an ICMP error */
    bool l4_csum_trusted;   /* the device vouched for the TCP/UDP checksum (struct ts_frame_meta) */
};

void ipv4_input(struct ts_stack *st, ts_time now, const uint8_t *data, size_t len, bool link_broadcast,
                bool l4_csum_trusted);
/* Delivers a complete datagram (from the wire or reassembly) to its protocol. */
void ipv4_deliver(struct ts_stack *st, ts_time now, const struct ipv4_rx *rx);

struct ipv4_out {
    ts_ipv4_addr src;
    ts_ipv4_addr dst;
    uint8_t protocol;
    uint8_t ttl;
    uint8_t tos;
    bool dont_fragment;
    uint32_t owner_id;
};
/* Sends pb (data = the transport header and payload; headroom for IP + Ethernet). Fragments it if it
 * does not fit the MTU. Consumes pb. Returns 0 or a negative errno (-EMSGSIZE, -ENETUNREACH, -ENOBUFS). */
int ipv4_output(struct ts_stack *st, ts_time now, struct ts_pbuf *pb, const struct ipv4_out *out);
bool ipv4_is_broadcast(const struct ts_stack *st, ts_ipv4_addr addr);
bool ipv4_is_local(const struct ts_stack *st, ts_ipv4_addr addr);
void ipv4_flush_loopback(struct ts_stack *st, ts_time now);

void ipv4_reasm_input(struct ts_stack *st, ts_time now, const struct ipv4_rx *rx);
void ipv4_reasm_poll(struct ts_stack *st, ts_time now);
ts_time ipv4_reasm_next_deadline(const struct ts_stack *st);
int ipv4_reasm_init(struct ts_stack *st);
void ipv4_reasm_destroy(struct ts_stack *st);

void icmp_input(struct ts_stack *st, ts_time now, const struct ipv4_rx *rx);
/*
 * Sends an ICMP error about the datagram `rx` (RFC 1122 3.2.2), unless the rules
 * forbid it (error about an error, broadcast, non-first fragment, bad source) or
 * the rate limit says no. `rest` is the 4-byte field after the checksum.
 */
void icmp_send_error(struct ts_stack *st, ts_time now, uint8_t type, uint8_t code, uint32_t rest,
                     const struct ipv4_rx *rx);
/* The same, quoting raw bytes (a reassembly timeout has no whole datagram, only the first fragment). */
void icmp_send_error_quoting(struct ts_stack *st, ts_time now, uint8_t type, uint8_t code, uint32_t rest,
                             const struct ipv4_hdr *about, const uint8_t *quote, size_t quote_len);

void udp_input(struct ts_stack *st, ts_time now, const struct ipv4_rx *rx);
ssize_t udp_output(struct ts_pcb *pcb, ts_time now, const void *data, size_t len, const struct ts_sockaddr *to);

/* pcb internals */
/* Unlinks and frees a pcb and its datagram queue (a TCP connection must have been freed first). */
void pcb_destroy(struct ts_pcb *pcb);

/* lookup tables (pcb_table.c) */
void pcb_tables_init(struct ts_stack *st);
void pcb_tables_free(struct ts_stack *st);
/* Enters a new pcb in the id table (-ENOMEM if not even the first buckets could be had). */
int pcb_tables_add(struct ts_pcb *pcb);
/* Takes a pcb out of every table (before it is freed). */
void pcb_tables_remove(struct ts_pcb *pcb);
/* Joins a bound pcb to the group of its (type, local port); -ENOMEM if the table has no buckets at all. */
int pcb_port_join(struct ts_pcb *pcb);
/* The pcbs of this type bound to port, newest first, linked through group_next; NULL if none. */
struct ts_pcb *pcb_port_members(struct ts_stack *st, enum ts_pcb_type type, uint16_t port);
int tcp_hash_connection(struct ts_pcb *pcb);
int tcp_hash_listener(struct ts_pcb *pcb);
void tcp_unhash(struct ts_pcb *pcb);
struct ts_pcb *tcp_lookup_connection(struct ts_stack *st, ts_ipv4_addr local, uint16_t lport, ts_ipv4_addr remote,
                                     uint16_t rport, bool live_only);
struct ts_pcb *tcp_lookup_listener(struct ts_stack *st, ts_ipv4_addr local, uint16_t lport);
void tcp_input(struct ts_stack *st, ts_time now, const struct ipv4_rx *rx);
void tcp_poll(struct ts_stack *st, ts_time now);
ts_time tcp_next_deadline(const struct ts_stack *st);
void tcp_timers_free(struct ts_stack *st);
/* Frees the cached ring blocks (teardown). */
void tcp_ring_cache_drain(struct ts_stack *st);
void tcp_icmp_error(struct ts_stack *st, ts_time now, struct ts_pcb *pcb, int err, bool hard);
/* Whether the sequence number an ICMP error quotes is one we have sent and not seen acknowledged. */
bool tcp_icmp_seq_acceptable(struct ts_stack *st, ts_time now, struct ts_pcb *pcb, uint32_t seq);
/* Frees every TCP connection of the stack (teardown). */
void tcp_destroy_all(struct ts_stack *st);
struct ts_pcb *pcb_find_by_id(struct ts_stack *st, uint32_t id);
/* Records an asynchronous error on a pcb and tells its owner. */
void pcb_report_error(struct ts_pcb *pcb, ts_time now, int err);
void pcb_notify(struct ts_pcb *pcb);
/* Queues a received datagram (copied into a new pbuf) from rx's source; false if the receive buffer is full. */
bool pcb_queue_datagram(struct ts_pcb *pcb, const struct ipv4_rx *rx, const uint8_t *data, size_t len,
                        uint16_t port);
ssize_t icmp_echo_output(struct ts_pcb *pcb, ts_time now, const void *data, size_t len,
                         const struct ts_sockaddr *to);

#endif
