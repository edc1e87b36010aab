/*
 * TCP inside the core (RFC 9293 and the extensions the tapstack issue lists).
 *
 *   tcp.c         connections' life: creation, the one place state changes (tcp_set_state),
 *                 user calls (connect, send, recv, shutdown, close, abort), options, TCP_INFO
 *   tcp_listen.c  passive open: listeners, the SYN queue, SYN cookies, the accept queue
 *   tcp_in.c      segment arrival, RFC 9293 3.10.7 step by step
 *   tcp_out.c     what to send and when: data within the windows, Nagle, ACKs, SYN, FIN, RST
 *   tcp_timer.c   retransmission (RFC 6298), delayed ACK, persist, keepalive, TIME-WAIT
 *   tcp_timer_heap.c  which connections have a timer due: a min-heap, no scans
 *   tcp_buf.c     the send and receive byte rings and the out-of-order queue
 *   tcp_cc.c      congestion control (RFC 5681, RFC 6582, RFC 9438)
 *   tcp_isn.c     ISNs (RFC 6528) and SYN cookies
 *
 * Input:  ipv4_deliver -> tcp_input -> (listener) tcp_listen_input | tcp_segment_arrives
 * Output: tcp_output -> tcp_send_segment -> ipv4_output
 */
#ifndef TS_TCP_H
#define TS_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "tcp_cc.h"
#include "tcp_isn.h"
#include "tcp_seq.h"
#include "tcp_trace.h"
#include "wire/tcp.h"

/* A byte ring: the send buffer (bytes from SND.UNA on) and the receive buffer (bytes not yet read). */
/* 32-bit sizes: a buffer is at most 1 GiB (tcp_ring_cap_for), the most a scaled window can offer. */
struct tcp_ring {
    uint8_t *data;  /* allocated when the first byte arrives, given back when it drains */
    uint32_t cap;   /* the buffer size the socket asked for: what windows are computed from */
    uint32_t size;  /* bytes allocated: grows with the bytes held (2 KiB, 4 KiB, ...) up to cap */
    uint32_t start; /* index of the first byte */
    uint32_t len;   /* bytes held */
};

/* RFC 7323 2.3: a window scaled by at most 14 covers 1 GiB; a larger buffer could never be offered. */
#define TCP_RING_CAP_MAX (1u << 30)
/*
 * cfg.tcp_ack_at_batch_end holds an ACK to the end of the input batch only while it would cover at
 * most this much: one GSO super-segment's worth, the stretch a Linux receiver's GRO makes anyway. More
 * unacknowledged data than that is acknowledged at once (RFC 5681 4.2 asks for every second segment).
 */
#define TCP_ACK_HOLD_MAX_BYTES 65535u

static inline uint32_t tcp_ring_cap_for(size_t bytes)
{
    return bytes > TCP_RING_CAP_MAX ? TCP_RING_CAP_MAX : (uint32_t)bytes;
}

/* A received segment's essentials, parsed once and passed down (no file-static "current segment"). */
struct tcp_segment {
    struct tcp_hdr hdr;
    const uint8_t *data;
    size_t len;        /* data bytes */
    uint32_t seg_len;  /* RFC 9293 SEG.LEN: data plus one for SYN and one for FIN */
    ts_ipv4_addr src, dst;
    uint8_t ttl;
};

struct tcp_conn {
    enum ts_tcp_state state;
    struct ts_pcb *pcb;        /* the pcb this connection belongs to (freed together) */
    struct ts_pcb *listener;   /* for a passive open until accepted: the listener it came from */
    bool accepted;             /* handed to the user by accept (or an active open) */
    bool user_closed;          /* the user gave the pcb back: free it when the connection ends */

    /* RFC 9293 3.3.1: send sequence variables */
    uint32_t iss, snd_una, snd_nxt, snd_max, snd_wl1, snd_wl2;
    uint32_t snd_wnd;          /* bytes (scaled) */
    uint32_t max_snd_wnd;      /* largest window the peer offered: SWS avoidance (RFC 9293 3.8.6.2.1) */
    /* receive sequence variables */
    uint32_t irs, rcv_nxt;
    uint32_t rcv_adv;          /* right edge of the window we advertised last */

    /* negotiated options */
    uint16_t snd_mss;          /* what we may send per segment (peer's MSS option, capped) */
    uint16_t rcv_mss;          /* what we announced */
    uint16_t user_mss;         /* TCP_MAXSEG, 0 = none */
    bool wscale_ok;
    uint8_t snd_wscale;        /* the peer's shift: applied to windows it advertises */
    uint8_t rcv_wscale;        /* our shift: applied to windows we advertise */
    bool ts_ok;
    uint32_t ts_recent;        /* RFC 7323 4.3: TS.Recent */
    ts_time ts_recent_age;     /* when TS.Recent was last updated (PAWS 24-day rule) */
    uint32_t last_ack_sent;    /* RFC 7323 4.3: Last.ACK.sent */
    bool sack_ok;

    /* buffers */
    struct tcp_ring snd;       /* bytes from SND.UNA to the last byte the user queued */
    struct tcp_ring rcv;       /* in-order bytes the user has not read */
    struct ts_pbuf *ooo;       /* out-of-order segments, sorted by ->offset (their sequence number) */
    size_t ooo_bytes;
    unsigned ooo_segments;     /* pbufs in the queue: bounded by limits.tcp_ooo_max_segments */
    bool oow_ack_sent;         /* an ACK answered an unacceptable segment at oow_ack_at (rate limit) */
    ts_time oow_ack_at;
    uint32_t ooo_recent;       /* a byte of the out-of-order segment that arrived last (RFC 2018 4) */

    /* the FIN we send: queued by close/shutdown, sent after the data */
    bool fin_queued;
    bool fin_sent;
    uint32_t fin_seq;
    bool fin_received;         /* the peer's FIN is in sequence (RCV.NXT covers it) */
    bool read_shutdown;        /* SHUT_RD: arriving data is acknowledged and thrown away */

    /* RFC 6298 */
    ts_time srtt, rttvar, rto;
    bool have_rtt;
    bool rtt_timing;           /* Karn: timing one segment, none retransmitted since */
    uint32_t rtt_seq;
    ts_time rtt_started;
    unsigned backoff;          /* RTO doublings since the last ACK of new data */
    unsigned retransmits_in_row;
    ts_time unacked_since;     /* at the first RTO expiry in a row: when the oldest unacknowledged segment
                                * was sent (the timer's start); the user timeout counts from it */
    int soft_error;            /* RFC 1122 4.2.3.9: the last soft ICMP error (positive errno), 0 if none */

    /* congestion control and loss recovery */
    struct tcp_cc cc;
    struct tcp_cc_seen cc_seen; /* what the last "cc" trace line showed (tcp_trace.c) */
    unsigned dupacks;
    uint32_t limited_transmit; /* RFC 3042: bytes beyond cwnd the first two duplicate ACKs allow */
    uint32_t recover;          /* RFC 6582: highest sequence sent when recovery began (the ISS at first) */
    ts_time last_send;         /* for the idle restart (RFC 5681 4.1) */
    /* RFC 2018 / RFC 6675: what the peer told us it holds beyond SND.UNA */
    struct tcp_sack_block sacked[8];
    unsigned sacked_count;
    uint32_t high_rxt;         /* RFC 6675 HighRxt: highest sequence retransmitted in this recovery */

    /* delayed ACK (RFC 9293 3.8.6.3, RFC 1122 4.2.3.2) */
    unsigned segments_unacked; /* full-sized segments received since our last ACK */
    bool ack_pending;
    bool ack_held_for_batch;   /* due now, but sent when the input batch ends (cfg.tcp_ack_at_batch_end) */

    /* timers: absolute deadlines, TS_TIME_NEVER when off. Read them freely; write them only with
     * tcp_timer_set, which keeps the connection's place in the stack's timer heap. */
    ts_time rto_at, delack_at, persist_at, keepalive_at, timewait_at;
    uint32_t timer_slot;       /* index in st->timer_heap, or in st->timer_due while polled */
    uint8_t timer_where;       /* nowhere, in the heap, or due (tcp_timer_heap.c) */
    unsigned persist_backoff;
    bool sws_override;         /* RFC 9293 3.8.6.2.1: the override timeout fired; send what the window allows */
    unsigned keepalive_probes;

    /* user options */
    bool nodelay;
    bool keepalive;
    ts_time keepidle, keepintvl;
    unsigned keepcnt;

    /* statistics for TCP_INFO */
    uint64_t retransmits;
    uint64_t bytes_sent, bytes_acked, bytes_received;
};

/* ---- tcp.c ---- */
struct tcp_conn *tcp_conn_new(struct ts_pcb *pcb);
void tcp_conn_free(struct ts_stack *st, struct tcp_conn *c);
/* The one place a connection changes state; it traces every transition. */
void tcp_set_state(struct ts_stack *st, ts_time now, struct tcp_conn *c, enum ts_tcp_state next, const char *why);
/* Ends the connection: error to the user (0 for none), timers off, pcb freed if the user closed it. */
void tcp_conn_finish(struct ts_stack *st, ts_time now, struct tcp_conn *c, int err);
struct ts_pcb *tcp_find(struct ts_stack *st, ts_ipv4_addr local, uint16_t lport, ts_ipv4_addr remote,
                        uint16_t rport, bool *is_listener);
uint16_t tcp_mss_for_link(const struct ts_stack *st);
void tcp_notify(struct tcp_conn *c);
/* Relative sequence numbers for traces (RFC: "relative to the ISNs"). */
uint32_t tcp_rel_snd(const struct tcp_conn *c, uint32_t seq);
uint32_t tcp_rel_rcv(const struct tcp_conn *c, uint32_t seq);

int tcp_user_connect(struct ts_pcb *pcb, ts_time now, const struct ts_sockaddr *remote);
void tcp_user_close(struct ts_pcb *pcb, ts_time now);
uint32_t tcp_pcb_events(const struct ts_pcb *pcb);
/* The TCP-level options (TS_OPT_NODELAY ...); -ENOPROTOOPT on other pcbs. */
int tcp_setopt(struct ts_pcb *pcb, enum ts_pcb_option opt, int value);
int tcp_getopt(const struct ts_pcb *pcb, enum ts_pcb_option opt, int *value);
/* SO_RCVBUF / SO_SNDBUF on a connection: resizes buffers that hold no data yet. */
int tcp_apply_buffer_size(struct ts_pcb *pcb);
/* An ICMP error about one of our segments (RFC 1122 4.2.3.9). */
void tcp_icmp_error(struct ts_stack *st, ts_time now, struct ts_pcb *pcb, int err, bool hard);

/* ---- tcp_in.c ---- */
void tcp_input(struct ts_stack *st, ts_time now, const struct ipv4_rx *rx);
void tcp_segment_arrives(struct ts_stack *st, ts_time now, struct tcp_conn *c, const struct tcp_segment *seg);
/* Applies the peer's SYN options (MSS, window scale, timestamps, SACK-permitted) to c; now dates TS.Recent. */
void tcp_apply_syn_options(struct ts_stack *st, ts_time now, struct tcp_conn *c, const struct tcp_options *opt);

/* ---- tcp_listen.c ---- */
void tcp_listen_input(struct ts_stack *st, ts_time now, struct ts_pcb *listener, const struct tcp_segment *seg);
/* A child of listener became established: move it to the accept queue. */
void tcp_listen_established(struct ts_stack *st, ts_time now, struct tcp_conn *child);
void tcp_listen_close(struct ts_stack *st, ts_time now, struct ts_pcb *listener);
void tcp_listen_forget_child(struct ts_stack *st, struct tcp_conn *child);

/* ---- tcp_out.c ---- */
/* Sends whatever the windows, Nagle and the state allow, including a FIN. */
void tcp_output(struct ts_stack *st, ts_time now, struct tcp_conn *c);
void tcp_send_ack(struct ts_stack *st, ts_time now, struct tcp_conn *c);
void tcp_send_syn(struct ts_stack *st, ts_time now, struct tcp_conn *c);
/* RFC 9293 3.10.7.1: the reset for a segment that belongs to no connection (or an unacceptable one). */
void tcp_send_reset_for(struct ts_stack *st, ts_time now, const struct tcp_segment *seg);
/* A RST with the connection's current SND.NXT (abort, RFC 9293 3.10.5). */
void tcp_send_rst(struct ts_stack *st, ts_time now, struct tcp_conn *c);
/* Retransmits the segment at SND.UNA (RTO, fast retransmit) or at seq (SACK recovery). */
void tcp_retransmit(struct ts_stack *st, ts_time now, struct tcp_conn *c, uint32_t seq);
/* The window we would advertise now (bytes, before scaling). */
uint32_t tcp_receive_window(const struct tcp_conn *c);
/* A keepalive probe (SEG.SEQ = SND.UNA - 1, no data) or a zero-window probe (RFC 9293 3.8.6.1: the first
 * unacknowledged octet, the same one at each probe). */
void tcp_send_probe(struct ts_stack *st, ts_time now, struct tcp_conn *c, bool keepalive);

/* ---- tcp_timer.c ---- */
/* Runs whichever of c's timers are due (tcp_poll calls it for each connection the heap says is due). */
void tcp_conn_poll(struct ts_stack *st, ts_time now, struct tcp_conn *c);
void tcp_rto_arm(struct ts_stack *st, ts_time now, struct tcp_conn *c);
void tcp_rtt_sample(struct ts_stack *st, ts_time now, struct tcp_conn *c, ts_time rtt);
/* Our SYN (or SYN,ACK) was acknowledged: an RTT sample if it was sent once, else RFC 6298 5.7. */
void tcp_rtt_handshake_done(struct ts_stack *st, ts_time now, struct tcp_conn *c);
void tcp_keepalive_reset(struct tcp_conn *c, ts_time now);
void tcp_timewait_start(struct ts_stack *st, ts_time now, struct tcp_conn *c);

/* ---- tcp_timer_heap.c ---- */
void tcp_poll(struct ts_stack *st, ts_time now);
/* The earliest deadline of any connection: the heap's root, O(1). */
ts_time tcp_next_deadline(const struct ts_stack *st);
/* The earliest of c's own deadlines. */
ts_time tcp_conn_deadline(const struct tcp_conn *c);
/* Sets one of c's timer fields (&c->rto_at ...) to at (TS_TIME_NEVER: off) and moves c in the heap. */
void tcp_timer_set(struct tcp_conn *c, ts_time *timer, ts_time at);
/* Turns every timer of c off. */
void tcp_timers_stop(struct tcp_conn *c);
/* Takes c out of the heap (it is being freed). */
void tcp_timer_forget(struct ts_stack *st, struct tcp_conn *c);
/* Makes room in the heap for this many connections; -1 if memory ran out. */
int tcp_timers_reserve(struct ts_stack *st, size_t connections);
void tcp_timers_free(struct ts_stack *st);

/* ---- tcp_buf.c ---- */
size_t tcp_ring_space(const struct tcp_ring *r);
/* Appends up to len bytes; returns how many fit. Allocates the ring on first use (-1 on no memory). */
ssize_t tcp_ring_append(struct ts_stack *st, struct tcp_ring *r, const uint8_t *data, size_t len);
/* Copies len bytes starting offset bytes after the start, without consuming. */
void tcp_ring_copy_out(const struct tcp_ring *r, size_t offset, uint8_t *out, size_t len);
/* Where those len bytes lie, without copying: one span, or two when the ring wraps. Returns how many. */
unsigned tcp_ring_spans(const struct tcp_ring *r, size_t offset, size_t len, const uint8_t *span[2],
                        uint32_t span_len[2]);
void tcp_ring_consume(struct ts_stack *st, struct tcp_ring *r, size_t len);
void tcp_ring_free(struct ts_stack *st, struct tcp_ring *r);
/* Queues an out-of-order segment (bounded per connection); false if it does not fit. */
bool tcp_ooo_insert(struct ts_stack *st, struct tcp_conn *c, uint32_t seq, const uint8_t *data, size_t len,
                    bool fin);
/* Moves now-in-order data from the out-of-order queue to the receive ring; returns true if a FIN became in order. */
bool tcp_ooo_drain(struct ts_stack *st, struct tcp_conn *c);
void tcp_ooo_clear(struct ts_stack *st, struct tcp_conn *c);
/* Our SACK blocks (RFC 2018 4): the out-of-order queue as ranges, the block holding the segment that
 * arrived last first, then the others in sequence order; returns the count. */
unsigned tcp_sack_blocks(const struct tcp_conn *c, struct tcp_sack_block *out, unsigned max);

#endif
