/*
 * Protocol control blocks: the core's sockets.
 *
 * A pcb is what the BSD-like API in sockapi/ is built on, and what a program
 * that drives the stack itself (single thread, its own clock) uses directly.
 * Every call is non-blocking and returns a negative errno on failure
 * (-EAGAIN when it would have to wait). The core reports readiness changes
 * through the event callback so a blocking layer above knows when to retry.
 *
 * Types:
 *   TS_PCB_UDP         datagrams over UDP (RFC 768)
 *   TS_PCB_ICMP_ECHO   ping socket, as Linux's SOCK_DGRAM/IPPROTO_ICMP: the caller
 *                      writes an ICMP echo request (header + data); the stack sets the
 *                      identifier to the pcb's local "port" and fills the checksum;
 *                      reads return echo replies whose identifier matches.
 *   TS_PCB_TCP         a byte stream (RFC 9293); see "streams" below.
 */
#ifndef TAPSTACK_PCB_H
#define TAPSTACK_PCB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tapstack/stack.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ts_pcb_type {
    TS_PCB_UDP = 1,
    TS_PCB_ICMP_ECHO = 2,
    TS_PCB_TCP = 3,
};

/* Readiness bits, the same meaning as poll(2)'s. */
enum ts_pcb_event {
    TS_EV_READABLE = 1u << 0, /* POLLIN */
    TS_EV_WRITABLE = 1u << 1, /* POLLOUT */
    TS_EV_ERROR = 1u << 2,    /* POLLERR: a pending error, see ts_pcb_take_error */
    TS_EV_HUP = 1u << 3,      /* POLLHUP */
};

struct ts_pcb;

/* Called (inside whichever core call caused it) when a pcb's readiness may have changed. */
typedef void (*ts_pcb_event_fn)(void *ctx, struct ts_pcb *pcb, uint32_t events);

struct ts_sockaddr {
    ts_ipv4_addr addr; /* host order; 0 = any */
    uint16_t port;     /* host order; 0 = any/unbound */
};

/* Returns NULL with *err set (-EMFILE at the socket limit, -EPROTONOSUPPORT, -ENOMEM). */
struct ts_pcb *ts_pcb_open(struct ts_stack *st, enum ts_pcb_type type, int *err);
/*
 * Gives the pcb back. A datagram pcb is freed with everything queued on it.
 * A TCP pcb is closed gracefully (RFC 9293 3.10.4: queued data is still sent,
 * then a FIN); the connection lives on inside the stack until it has finished
 * (FIN-WAIT, TIME-WAIT) but the pcb must not be used again. A listener's
 * unaccepted connections are reset. ts_pcb_close acts at the latest time the
 * stack has seen; ts_pcb_close_at passes the time explicitly.
 */
void ts_pcb_close(struct ts_pcb *pcb);
void ts_pcb_close_at(struct ts_pcb *pcb, ts_time now);

void ts_pcb_set_event_callback(struct ts_pcb *pcb, ts_pcb_event_fn fn, void *ctx);
void *ts_pcb_event_ctx(const struct ts_pcb *pcb);
enum ts_pcb_type ts_pcb_type_of(const struct ts_pcb *pcb);

/*
 * Binds the local address. addr must be 0 or the stack's own address (else
 * -EADDRNOTAVAIL); port 0 picks an ephemeral port (RFC 6056). -EADDRINUSE if
 * another pcb holds the same port unless both set SO_REUSEADDR; -EINVAL if
 * already bound.
 */
int ts_pcb_bind(struct ts_pcb *pcb, const struct ts_sockaddr *local);
/* Sets the default destination and filters input to it; binds an ephemeral port first if needed.
 * addr 0 / port 0 dissolves the association (AF_UNSPEC in BSD terms). */
int ts_pcb_connect(struct ts_pcb *pcb, ts_time now, const struct ts_sockaddr *remote);

/*
 * Sends one datagram. to == NULL uses the connected peer (-EDESTADDRREQ if none).
 * Returns len, or -EMSGSIZE (too big for one IP datagram, or DF set and above the MTU),
 * -EACCES (broadcast without SO_BROADCAST), -EHOSTUNREACH / -ENETUNREACH (no route),
 * -ENOBUFS (ARP queue full), or a pending error.
 */
ssize_t ts_pcb_sendto(struct ts_pcb *pcb, ts_time now, const void *data, size_t len,
                      const struct ts_sockaddr *to);
/*
 * Takes the oldest datagram; copies at most cap bytes and sets *truncated when
 * the datagram was longer (MSG_TRUNC). peek leaves it queued. -EAGAIN when empty;
 * a pending error is returned first (and cleared), as POSIX asks.
 */
ssize_t ts_pcb_recvfrom(struct ts_pcb *pcb, void *buf, size_t cap, struct ts_sockaddr *from,
                        bool peek, bool *truncated);

/* Current readiness (TS_EV_* bits). */
uint32_t ts_pcb_events(const struct ts_pcb *pcb);
/* Returns and clears the pending asynchronous error (positive errno), or 0. */
int ts_pcb_take_error(struct ts_pcb *pcb);
/*
 * Returns and clears the soft error a TCP connection remembers (RFC 9293 3.8.4 MUST-47, RFC 1122
 * 4.2.3.9): an ICMP unreachable or time exceeded about its segments that did not abort it, e.g.
 * EHOSTUNREACH; 0 if none. The connection goes on. Should it then time out, the error reported is
 * this one rather than ETIMEDOUT (as Linux). SO_ERROR reads it when no hard error is pending.
 */
int ts_pcb_take_soft_error(struct ts_pcb *pcb);

int ts_pcb_local(const struct ts_pcb *pcb, struct ts_sockaddr *out);
/* -ENOTCONN if not connected. */
int ts_pcb_remote(const struct ts_pcb *pcb, struct ts_sockaddr *out);

enum ts_pcb_option {
    TS_OPT_REUSEADDR, /* bool */
    TS_OPT_BROADCAST, /* bool: may send to broadcast addresses */
    TS_OPT_RCVBUF,    /* bytes of queued datagrams */
    TS_OPT_SNDBUF,    /* bytes; UDP keeps no send queue, recorded for getsockopt */
    TS_OPT_TTL,       /* IP_TTL, 1..255 */
    TS_OPT_DONTFRAG,  /* set DF on outgoing datagrams; larger than the MTU fails with EMSGSIZE */
    TS_OPT_TOS,       /* IP_TOS, 0..255: the TOS / DS field of every datagram sent (RFC 1122 3.2.1.6,
                       * RFC 9293 MUST-48); on TCP only the DSCP bits are the user's, the two ECN bits
                       * (RFC 3168) stay the stack's, as on Linux */
    /* TCP only */
    TS_OPT_NODELAY,     /* bool: no Nagle (RFC 896) */
    TS_OPT_KEEPALIVE,   /* bool (RFC 9293 3.8.4 / RFC 1122 4.2.3.6) */
    TS_OPT_KEEPIDLE,    /* seconds idle before the first probe */
    TS_OPT_KEEPINTVL,   /* seconds between probes */
    TS_OPT_KEEPCNT,     /* unanswered probes before ETIMEDOUT */
    TS_OPT_CONGESTION,  /* enum ts_tcp_congestion */
    TS_OPT_MAXSEG,      /* bytes: caps the MSS we send and use */
    /* milliseconds sent data (or a SYN) may stay unacknowledged before the connection is aborted with
     * ETIMEDOUT, replacing the retransmission count (RFC 9293 3.8.3 R2, MUST-21; Linux's TCP_USER_TIMEOUT);
     * 0 = the stack's tcp_data_retries / tcp_syn_retries */
    TS_OPT_USER_TIMEOUT,
};

enum ts_tcp_congestion { TS_CC_CUBIC = 0, TS_CC_RENO = 1 };
int ts_pcb_setopt(struct ts_pcb *pcb, enum ts_pcb_option opt, int value);
int ts_pcb_getopt(const struct ts_pcb *pcb, enum ts_pcb_option opt, int *value);

/* ---- streams (TS_PCB_TCP) ------------------------------------------------------
 *
 * ts_pcb_bind and ts_pcb_local/remote work as for datagrams. Readiness:
 *   READABLE  data to read, or the peer's FIN (a read returns 0), or (listener) a
 *             connection to accept
 *   WRITABLE  connected and the send buffer has room
 *   ERROR     a pending error: ECONNREFUSED, ECONNRESET, ETIMEDOUT, EHOSTUNREACH
 *   HUP       both directions are finished (closed or reset)
 */

/* Passive open (RFC 9293 3.10.1). backlog bounds the connections waiting for accept (at least 1).
 * -EINVAL if not bound or not in CLOSED; binds an ephemeral port first if needed, as Linux does. */
int ts_pcb_listen(struct ts_pcb *pcb, int backlog);
/* Takes the oldest established connection from a listener: a new pcb, or NULL with *err = -EAGAIN
 * (none yet), -EINVAL (not listening). */
struct ts_pcb *ts_pcb_accept(struct ts_pcb *listener, int *err);

/*
 * For TCP, ts_pcb_connect starts an active open and returns -EINPROGRESS; the
 * pcb turns WRITABLE when established, or ERROR (ECONNREFUSED, ETIMEDOUT,
 * EHOSTUNREACH) if it fails. -EISCONN if already connected, -EALREADY while
 * connecting, -EADDRNOTAVAIL when no ephemeral port is free for that peer.
 */

/*
 * Queues up to len bytes for sending and returns how many were taken (fewer when
 * the send buffer fills: a partial write), -EAGAIN if none fit, -ENOTCONN before
 * the connection is established, -EPIPE after shutdown(SHUT_WR) or once the peer
 * reset, or a pending error.
 */
ssize_t ts_pcb_send(struct ts_pcb *pcb, ts_time now, const void *data, size_t len);
/*
 * Copies up to cap received bytes (peek leaves them queued). Returns the count,
 * 0 at end of stream (the peer's FIN, all data read), -EAGAIN when nothing is
 * there yet, -ENOTCONN if never connected, or a pending error (-ECONNRESET ...).
 * Reading opens the receive window; the stack sends a window update when it
 * grows enough (RFC 9293 3.8.6.2.2).
 */
ssize_t ts_pcb_recv(struct ts_pcb *pcb, ts_time now, void *buf, size_t cap, bool peek);

enum ts_shutdown_how { TS_SHUT_RD = 0, TS_SHUT_WR = 1, TS_SHUT_RDWR = 2 };
/* SHUT_WR sends a FIN after queued data; SHUT_RD discards what arrives. -ENOTCONN if not connected. */
int ts_pcb_shutdown(struct ts_pcb *pcb, ts_time now, enum ts_shutdown_how how);
/* Aborts: sends a RST (unless never synchronized) and frees the pcb (SO_LINGER with a zero timeout). */
void ts_pcb_abort(struct ts_pcb *pcb, ts_time now);

enum ts_tcp_state {
    TS_TCP_CLOSED,
    TS_TCP_LISTEN,
    TS_TCP_SYN_SENT,
    TS_TCP_SYN_RECEIVED,
    TS_TCP_ESTABLISHED,
    TS_TCP_FIN_WAIT_1,
    TS_TCP_FIN_WAIT_2,
    TS_TCP_CLOSE_WAIT,
    TS_TCP_CLOSING,
    TS_TCP_LAST_ACK,
    TS_TCP_TIME_WAIT,
};
const char *ts_tcp_state_name(enum ts_tcp_state state);

/* A TCP_INFO-like snapshot. Times in microseconds. */
struct ts_tcp_info {
    enum ts_tcp_state state;
    ts_time srtt, rttvar, rto;
    uint32_t snd_mss, rcv_mss;
    uint32_t cwnd, ssthresh;   /* bytes */
    uint32_t snd_wnd, rcv_wnd; /* bytes, after scaling */
    uint8_t snd_wscale, rcv_wscale;
    bool timestamps, sack, nodelay;
    uint64_t retransmits;      /* segments sent again */
    uint64_t bytes_sent, bytes_acked, bytes_received;
    uint32_t unacked;          /* bytes in flight */
    const char *congestion;    /* "cubic" or "reno" */
};
int ts_pcb_tcp_info(const struct ts_pcb *pcb, struct ts_tcp_info *info);

/* ---- a read-only view of the TCP control block (stack/tcp_view.c) -----------------
 *
 * For tools that show what the core holds (ts-replay --tcb, a debugger's helper):
 * a copy of the RFC 9293 3.3.1 variables and the rest of the TCB, taken at the
 * moment of the call. Sequence numbers are absolute (subtract iss / irs for the
 * relative numbers traces print); times are microseconds on the stack's clock.
 */
enum ts_tcp_timer {
    TS_TCP_TIMER_RTO,       /* retransmission (RFC 6298), also the SYN's */
    TS_TCP_TIMER_DELACK,    /* delayed ACK (RFC 9293 3.8.6.3) */
    TS_TCP_TIMER_PERSIST,   /* zero-window probe (RFC 9293 3.8.6.1) */
    TS_TCP_TIMER_KEEPALIVE, /* RFC 9293 3.8.4 */
    TS_TCP_TIMER_TIMEWAIT,  /* 2*MSL (RFC 9293 3.4.2) */
    TS_TCP_TIMER_COUNT,
};
/* "rto", "delack", "persist", "keepalive", "time-wait". */
const char *ts_tcp_timer_name(enum ts_tcp_timer timer);

struct ts_tcp_view {
    uint32_t pcb_id;             /* stable for the pcb's life, never reused within a stack */
    struct ts_sockaddr local, remote;
    bool listener;               /* a listening pcb: only the fields marked (L) mean anything */
    bool accepted;               /* handed to the user (accept or an active open) */
    bool user_closed;            /* the user gave the pcb back; the connection is finishing */
    enum ts_tcp_state state;     /* (L) */
    const char *state_name;      /* (L) "ESTABLISHED" ... */
    /* listener: connections waiting (L) */
    unsigned syn_queue, accept_queue;
    /* RFC 9293 3.3.1 */
    uint32_t iss, snd_una, snd_nxt, snd_wnd, snd_wl1, snd_wl2;
    uint32_t irs, rcv_nxt, rcv_wnd; /* rcv_wnd: what we would advertise now, in bytes */
    /* negotiated options */
    uint16_t snd_mss, rcv_mss;
    bool wscale, timestamps, sack;
    uint8_t snd_wscale, rcv_wscale;
    /* congestion control (RFC 5681), RTT (RFC 6298) */
    uint32_t cwnd, ssthresh;
    bool in_recovery;
    bool have_rtt;               /* srtt and rttvar hold a measurement */
    ts_time srtt, rttvar, rto;
    unsigned backoff;            /* RTO doublings since new data was last acknowledged */
    uint64_t retransmits;
    unsigned dupacks;
    /* timers: absolute deadlines on the stack's clock, TS_TIME_NEVER when not armed */
    ts_time timer_at[TS_TCP_TIMER_COUNT];
    /* buffers */
    size_t snd_buffered, snd_buf_size; /* bytes from SND.UNA on, queued by the user / the buffer size */
    size_t rcv_buffered, rcv_buf_size; /* bytes received in order, not yet read / the buffer size */
    size_t ooo_bytes;                  /* out-of-order bytes held (RFC 9293 3.10.7.4) */
    bool fin_sent, fin_received;
};

/* Fills a snapshot of a TCP pcb: 0, -EINVAL (not TCP), -ENOTCONN (neither listening nor connected). */
int ts_tcp_view_of(const struct ts_pcb *pcb, struct ts_tcp_view *view);
/*
 * Snapshots every TCP pcb of the stack, in the stack's order: listeners, the
 * connections they made (accepted or not), active opens, connections the user
 * already closed that are still finishing. Writes at most max views and returns
 * how many there are (call with max 0 to count).
 */
size_t ts_stack_tcp_views(const struct ts_stack *st, struct ts_tcp_view *out, size_t max);

/* Bytes of the next datagram, or -EAGAIN (FIONREAD-like). */
ssize_t ts_pcb_next_size(const struct ts_pcb *pcb);

/* What the IP header said about the next queued datagram (for IP_RECVTTL / IP_RECVTOS / IP_PKTINFO and
 * ping's ttl=). */
struct ts_dgram_info {
    struct ts_sockaddr from;
    size_t len;
    uint8_t ttl;
    uint8_t tos;
    ts_ipv4_addr to; /* RFC 1122 4.1.3.5: the specific destination, our address or a broadcast one */
};
/* Fills info for the datagram the next ts_pcb_recvfrom returns; -EAGAIN if none is queued. */
int ts_pcb_peek_info(const struct ts_pcb *pcb, struct ts_dgram_info *info);

#ifdef __cplusplus
}
#endif
#endif
