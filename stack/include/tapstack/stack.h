/*
 * tapstack core: the pure, single-threaded protocol engine.
 *
 * The core never reads a clock, never does I/O and never starts a thread.
 * Frames and the current time come in as arguments; frames leave through the
 * struct ts_link the caller supplies; socket events leave through a callback.
 * Everything the core owns hangs off one struct ts_stack, so several stacks
 * can live in one process (two of them joined by an in-memory link is how the
 * tests exercise it).
 *
 *   ts_stack_input(st, now, frame)  -> eth -> arp | ipv4 -> icmp | udp
 *   ts_stack_poll(st, now)          -> ARP retries and expiry, reassembly timeouts
 *   ts_stack_next_deadline(st)      -> when ts_stack_poll must run next
 */
#ifndef TAPSTACK_STACK_H
#define TAPSTACK_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Time in microseconds from an arbitrary origin chosen by whoever drives the stack. */
typedef int64_t ts_time;
#define TS_TIME_NEVER INT64_MAX
#define TS_MSEC(ms) ((ts_time)(ms) * 1000)
#define TS_SEC(s) ((ts_time)(s) * 1000000)

/* IPv4 addresses cross the public API in host byte order. */
typedef uint32_t ts_ipv4_addr;
#define TS_IPV4(a, b, c, d) \
    ((ts_ipv4_addr)(((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d)))

/*
 * What a device promises about one frame, beside its bytes (the virtio-net
 * header's meaning, which a TAP with IFF_VNET_HDR speaks). Zero = an ordinary frame.
 *
 * Received: TS_FRAME_CSUM_PARTIAL says the frame never crossed a wire (the
 * kernel built it) and its TCP/UDP checksum field holds only the pseudo-header
 * sum; TS_FRAME_CSUM_VERIFIED says the device checked the checksum. Either way
 * the core skips that one transport checksum check; a frame without a flag is
 * always checked. gso_size > 0 marks a TCP super-segment (larger than the MTU)
 * that the sender's stack meant as segments of gso_size bytes.
 *
 * Sent (only to a link that advertises the offload): TS_FRAME_CSUM_PARTIAL asks
 * the device to fill the checksum over frame[csum_start..len) into
 * csum_start + csum_offset; gso_size > 0 asks it to cut the TCP segment into
 * segments of gso_size payload bytes (TSO).
 */
#define TS_FRAME_CSUM_PARTIAL 0x1u
#define TS_FRAME_CSUM_VERIFIED 0x2u

struct ts_frame_meta {
    uint32_t flags;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t gso_size;
};

/* Offloads a link may advertise in struct ts_link's offloads. */
/*
 * RFC 1071: the Internet checksum of data (one's complement of the one's-complement sum of its
 * 16-bit words). For devices that complete a checksum the core left to them (a partial checksum
 * already holds the pseudo-header sum, so summing from csum_start gives the whole one).
 */
uint16_t ts_inet_checksum(const void *data, size_t len);

#define TS_LINK_TX_CSUM 0x1u /* fills TCP checksums marked TS_FRAME_CSUM_PARTIAL */
#define TS_LINK_TSO4 0x2u    /* cuts TCP/IPv4 super-segments (needs TS_LINK_TX_CSUM) */
#define TS_LINK_TX_GATHER 0x4u /* takes a frame in parts (transmit_gather): TCP data leaves from the send buffer */

/* One piece of a frame handed over in parts: the headers, then the payload where it lies. */
struct ts_frame_part {
    const uint8_t *data;
    size_t len;
};

/* Parts a gathered frame has at most: the headers and the two spans of a ring that wraps. */
#define TS_FRAME_PARTS_MAX 3

/* What the core needs from a device, and nothing more. */
struct ts_link {
    void *ctx;
    /*
     * Called once per outgoing Ethernet frame (no FCS). The frame is only valid during the call.
     * Returns 0, or a negative errno if the device refused the frame (a full queue): Ethernet is
     * best effort, so the core counts it (eth.drop_tx_link) and the protocols recover as from any loss.
     */
    int (*transmit)(void *ctx, ts_time now, const uint8_t *frame, size_t len);
    size_t mtu; /* IP MTU of the link, e.g. 1500 */
    /*
     * Optional offloads (zero for a plain link: every frame the core sends is then a standard,
     * checksummed frame no larger than the MTU). With any bit set, transmit_meta must be given;
     * the core calls it, instead of transmit, for every frame that carries a promise.
     */
    uint32_t offloads;
    size_t tso_max; /* with TS_LINK_TSO4: the largest IP datagram one TSO frame may hold (<= 65535) */
    int (*transmit_meta)(void *ctx, ts_time now, const uint8_t *frame, size_t len,
                         const struct ts_frame_meta *meta);
    /*
     * With TS_LINK_TX_GATHER (and TS_LINK_TX_CSUM: the device sums what it sends): one frame as
     * nparts pieces to be sent back to back, headers first. Like transmit's frame, the pieces are
     * valid only during the call; the core uses it for TCP segments whose payload it would
     * otherwise copy out of the send buffer just to be copied again by the device.
     */
    int (*transmit_gather)(void *ctx, ts_time now, const struct ts_frame_part *parts, unsigned nparts,
                           const struct ts_frame_meta *meta);
};

/* ---- trace -------------------------------------------------------------- */

enum ts_trace_layer {
    TS_TRACE_ETH = 1u << 0,
    TS_TRACE_ARP = 1u << 1,
    TS_TRACE_IP = 1u << 2,
    TS_TRACE_ICMP = 1u << 3,
    TS_TRACE_UDP = 1u << 4,
    TS_TRACE_TCP = 1u << 5,
    TS_TRACE_SOCK = 1u << 6,
    TS_TRACE_ALL = 0x7f,
};

enum ts_trace_kind {
    TS_TRACE_RX,    /* a frame or header was received and accepted by this layer */
    TS_TRACE_TX,    /* this layer sent something */
    TS_TRACE_DROP,  /* this layer dropped input; the text names the counter */
    TS_TRACE_STATE, /* a state change: ARP entry resolved, datagram reassembled, ... */
};

struct ts_trace_event {
    ts_time now;
    enum ts_trace_layer layer;
    enum ts_trace_kind kind;
    const char *text; /* one human-readable line, no newline; valid only during the callback */
};

typedef void (*ts_trace_fn)(void *ctx, const struct ts_trace_event *ev);

const char *ts_trace_layer_name(enum ts_trace_layer layer);
/* Parses "all", "none" or a comma list like "arp,ip,udp" into a mask; -1 on an unknown name. */
int ts_trace_parse_mask(const char *spec, uint32_t *mask);

/* ---- configuration ------------------------------------------------------ */

struct ts_stack_limits {
    unsigned arp_cache_entries;      /* size of the neighbour table */
    unsigned arp_queue_per_entry;    /* packets held while one address resolves */
    unsigned arp_queue_total;        /* packets held while any address resolves */
    unsigned reasm_max_datagrams;    /* datagrams in reassembly at once */
    unsigned reasm_max_fragments;    /* fragments kept for one datagram */
    size_t reasm_max_bytes;          /* bytes held by all reassemblies together */
    unsigned icmp_errors_per_sec;    /* token-bucket rate for ICMP errors we send */
    unsigned icmp_error_burst;       /* token-bucket depth */
    unsigned max_sockets;            /* protocol control blocks open at once */
    size_t udp_rcvbuf_default;       /* bytes queued per UDP socket unless SO_RCVBUF says otherwise */
    size_t tcp_rcvbuf_default;       /* receive buffer per connection unless SO_RCVBUF says otherwise */
    size_t tcp_sndbuf_default;       /* send buffer per connection unless SO_SNDBUF says otherwise */
    size_t tcp_ooo_max_bytes;        /* out-of-order data held per connection */
    unsigned tcp_ooo_max_segments;   /* out-of-order segments held per connection (each costs a buffer) */
    unsigned tcp_syn_queue;          /* half-open connections per listener before SYN cookies */
    unsigned tcp_challenge_acks_per_sec; /* RFC 5961 7: challenge ACKs sent per second, all connections */
};

struct ts_stack_timing {
    ts_time arp_reachable;        /* how long a resolved entry is trusted (RFC 1122 2.3.2.1) */
    ts_time arp_retry_interval;   /* between ARP requests for an unresolved address */
    unsigned arp_max_retries;     /* requests sent before giving up with EHOSTUNREACH */
    ts_time reasm_timeout;        /* RFC 791: fragments of an incomplete datagram are discarded after this */
    ts_time tcp_msl;              /* TIME-WAIT lasts 2*MSL (RFC 9293 3.4.2) */
    ts_time tcp_rto_initial;      /* RFC 6298 2.1: 1 s */
    ts_time tcp_rto_min;          /* RFC 6298 2.4 says 1 s; Linux uses 200 ms */
    ts_time tcp_rto_max;          /* RFC 6298 2.5: at least 60 s */
    /* SYN (and SYN,ACK) retransmissions before ETIMEDOUT. Default 7: with the RTO starting at 1 s and
     * doubling (capped at tcp_rto_max, 120 s), the connect fails 247 s after the first SYN, above
     * RFC 9293 3.8.3's 3 minutes (MUST-23); Linux's 6 give up after 127 s. */
    unsigned tcp_syn_retries;
    unsigned tcp_data_retries;    /* data retransmissions in a row before ETIMEDOUT (RFC 1122 4.2.3.5 R2) */
    ts_time tcp_delack;           /* delayed-ACK timer (at most 500 ms, RFC 1122 4.2.3.2) */
    ts_time tcp_fin_wait2_timeout;/* an orphaned FIN-WAIT-2 connection gives up after this */
    ts_time tcp_oow_ack_interval; /* per connection, at most one ACK this often answers unacceptable
                                     segments without data (Linux's tcp_invalid_ratelimit); 0: no limit */
    ts_time tcp_keepidle, tcp_keepintvl;
    unsigned tcp_keepcnt;
};

struct ts_stack_config {
    uint8_t mac[6];
    ts_ipv4_addr addr;   /* host order */
    uint8_t prefix_len;  /* 0..32 */
    ts_ipv4_addr gateway; /* 0 = none: only on-link destinations are reachable */
    uint8_t default_ttl;
    bool gratuitous_arp;  /* announce our address when first polled (RFC 5227 2.3) */
    /*
     * ACKs for in-order data wait for the end of the driver's input batch: the ACK that RFC 9293 3.8.6.3
     * makes due on every second full-sized segment is not sent from ts_stack_input but from the next
     * ts_stack_poll (its deadline is "now", so ts_stack_next_deadline says so). Several segments of one
     * connection in a batch then share one ACK, and so does a read in between that opens the window.
     * An ACK is held only while it covers at most 64 KB (what one GRO or GSO super-segment covers).
     * Only for drivers that poll after each batch with the same clock (the sockapi runtime does; ts_net
     * turns it on there). Duplicate ACKs, a filled gap and a FIN are still answered at once. Off by default:
     * each ts_stack_input then answers on its own, as the replay cases expect.
     */
    bool tcp_ack_at_batch_end;
    /*
     * Seeds the stack's random generator (IP IDs, ephemeral ports, later ISNs).
     * The core cannot read entropy itself: the runtime fills this from the OS
     * unless the user asked for a fixed seed, so runs are unpredictable by default
     * and repeatable on request.
     */
    uint64_t seed;
    struct ts_stack_limits limits;
    struct ts_stack_timing timing;
    ts_trace_fn trace;
    void *trace_ctx;
    uint32_t trace_mask; /* layers traced from the start; see ts_stack_set_trace_mask */
};

/* Fills cfg with defaults: no address, TTL 64, gratuitous ARP on, every limit at its default. */
void ts_stack_config_init(struct ts_stack_config *cfg);

/* ---- lifecycle and driving ---------------------------------------------- */

struct ts_stack;

/* Returns NULL if cfg is invalid (prefix > 32, zero MTU) or memory runs out. The link is copied. */
struct ts_stack *ts_stack_new(const struct ts_stack_config *cfg, const struct ts_link *link);
/*
 * Closes every pcb, drops every queue and frees the stack. Returns the number of
 * packet buffers still allocated after that: 0 in a correct stack, anything else
 * is a leak (tests assert on it).
 */
size_t ts_stack_free(struct ts_stack *st);

/* Hands one received Ethernet frame to the stack. The frame is not kept after the call. */
void ts_stack_input(struct ts_stack *st, ts_time now, const uint8_t *frame, size_t len);
/* The same, with what the device promises about the frame (NULL = nothing, as ts_stack_input). */
void ts_stack_input_meta(struct ts_stack *st, ts_time now, const uint8_t *frame, size_t len,
                         const struct ts_frame_meta *meta);
/* Runs every timer that is due at `now`. */
void ts_stack_poll(struct ts_stack *st, ts_time now);
/* When ts_stack_poll must run next, or TS_TIME_NEVER. */
ts_time ts_stack_next_deadline(const struct ts_stack *st);

void ts_stack_set_trace_mask(struct ts_stack *st, uint32_t mask);
uint32_t ts_stack_trace_mask(const struct ts_stack *st);

const struct ts_stack_config *ts_stack_config_of(const struct ts_stack *st);

/* Static ARP entries never expire and are never replaced by what the wire says. */
int ts_stack_arp_add_static(struct ts_stack *st, ts_ipv4_addr ip, const uint8_t mac[6]);

/* ---- counters and resources ---------------------------------------------- */

/*
 * Calls fn once per counter, in a fixed order, with the layer's name
 * ("eth", "arp", "ip", "icmp", "udp", "sock", "mem") and the counter's name
 * ("rx_frames", "drop_bad_checksum", ...). Names starting with "drop_" count
 * input thrown away, one counter per reason.
 */
typedef void (*ts_counter_fn)(void *ctx, const char *layer, const char *name, uint64_t value);
void ts_stack_counters_foreach(const struct ts_stack *st, ts_counter_fn fn, void *ctx);
/* Looks one counter up by "layer.name"; returns false if there is no such counter. */
bool ts_stack_counter(const struct ts_stack *st, const char *layer_dot_name, uint64_t *value);

/* Packet buffers currently allocated (queued datagrams, fragments, packets awaiting ARP). */
size_t ts_stack_pbufs_in_use(const struct ts_stack *st);
/* Bytes of heap the stack holds right now (buffers, queues, tables). */
size_t ts_stack_memory_in_use(const struct ts_stack *st);

/*
 * What the stack holds against each of its limits (docs/limits.md), and the
 * most it has held. "High water" marks are taken at every packet-buffer
 * allocation and at the end of every ts_stack_input and ts_stack_poll.
 * Per-listener and per-connection queues report the fullest one.
 */
struct ts_stack_usage {
    size_t memory_bytes, memory_high_water;     /* ts_stack_memory_in_use() */
    size_t pbufs, pbufs_high_water;             /* ts_stack_pbufs_in_use() */
    unsigned sockets;                           /* of limits.max_sockets (TIME-WAIT included) */
    unsigned tcp_time_wait;                     /* connections in TIME-WAIT */
    unsigned tcp_syn_queue, tcp_syn_queue_high_water; /* fullest listener, of limits.tcp_syn_queue */
    unsigned tcp_accept_queue;                  /* fullest listener's accept queue (limit: its backlog) */
    unsigned tcp_accept_backlog;                /* that listener's backlog */
    size_t tcp_ooo_bytes;                       /* fullest connection, of limits.tcp_ooo_max_bytes */
    unsigned tcp_ooo_segments;                  /* fullest connection, of limits.tcp_ooo_max_segments */
    unsigned arp_entries;                       /* of limits.arp_cache_entries */
    unsigned arp_queued, arp_queued_high_water; /* of limits.arp_queue_total */
    unsigned reasm_datagrams;                   /* of limits.reasm_max_datagrams */
    size_t reasm_bytes, reasm_bytes_high_water; /* of limits.reasm_max_bytes */
    size_t udp_queued_bytes;                    /* fullest UDP/ICMP socket, charged against its SO_RCVBUF */
    unsigned loopback_queued;                   /* datagrams to ourselves not yet delivered */
};
void ts_stack_get_usage(const struct ts_stack *st, struct ts_stack_usage *out);

#ifdef __cplusplus
}
#endif
#endif
