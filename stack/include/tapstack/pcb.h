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
    /* TS_PCB_TCP comes with the TCP issue. */
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
/* Frees the pcb and everything queued on it. Never fails. */
void ts_pcb_close(struct ts_pcb *pcb);

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
};
int ts_pcb_setopt(struct ts_pcb *pcb, enum ts_pcb_option opt, int value);
int ts_pcb_getopt(const struct ts_pcb *pcb, enum ts_pcb_option opt, int *value);

/* Bytes of the next datagram, or -EAGAIN (FIONREAD-like). */
ssize_t ts_pcb_next_size(const struct ts_pcb *pcb);

/* What the IP header said about the next queued datagram (for IP_RECVTTL / IP_RECVTOS and ping's ttl=). */
struct ts_dgram_info {
    struct ts_sockaddr from;
    size_t len;
    uint8_t ttl;
    uint8_t tos;
};
/* Fills info for the datagram the next ts_pcb_recvfrom returns; -EAGAIN if none is queued. */
int ts_pcb_peek_info(const struct ts_pcb *pcb, struct ts_dgram_info *info);

#ifdef __cplusplus
}
#endif
#endif
