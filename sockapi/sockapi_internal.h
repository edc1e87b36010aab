/*
 * Private to sockapi/: the net, the socket object behind a descriptor, and
 * the small internal API the files share.
 *
 *   net.c      struct ts_net: lifecycle (start/stop, attach/detach), manual driving,
 *              the default net, the clock a socket call hands the core, waits
 *   runtime.c  the runtime thread: device wait_fd + stack deadline -> core
 *   fdtable.c  the process-wide descriptor table and socket reference counts
 *   socket.c   ts_socket, bind, connect, send*, recv* (recvmsg's control messages too), close, names, fcntl
 *   stream.c   what SOCK_STREAM adds: listen, accept, shutdown, the stream sides of connect, send,
 *              recv and close (blocking handshake, send loops, MSG_WAITALL, SO_LINGER)
 *   sockopt.c  ts_setsockopt / ts_getsockopt, ts_tcp_info
 *   poll.c     ts_poll
 *
 * Locking (the order every file keeps):
 *   - A net's lock guards its stack, its device and every field of its sockets
 *     marked "net lock" below. sockapi holds at most one net lock at a time, so
 *     two nets can never deadlock against each other.
 *   - The descriptor-table mutex is a leaf: it may be taken with or without a
 *     net lock held, and nothing else is ever taken while it is held. It guards
 *     the table, socket reference counts, the default net and each net's count
 *     of live sockets.
 *   - A pcb's event callback runs inside a core call, so under the net lock; it
 *     only broadcasts the net's condition variable.
 */
#ifndef TAPSTACK_SOCKAPI_INTERNAL_H
#define TAPSTACK_SOCKAPI_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "tapstack/pcb.h"
#include "tapstack/socket.h"

/* Frames taken from the device per runtime iteration before the lock is released again. */
#define TS_RUNTIME_RX_BATCH 64
/* Longest the runtime thread sleeps without looking at the clock again. */
#define TS_RUNTIME_MAX_SLEEP TS_SEC(1)

struct ts_net {
    struct ts_stack *st;
    struct ts_netdev *dev; /* NULL in manual mode */
    bool manual;           /* attached: the caller drives the stack and owns it */

    pthread_mutex_t lock;
    pthread_cond_t cond; /* broadcast on every pcb event and on every close; CLOCK_MONOTONIC */

    /* net lock */
    ts_time manual_now;   /* manual mode: the latest `now` the caller drove with */
    bool stopping;        /* runtime thread: leave the loop */
    ts_time sleep_until;  /* runtime thread: when it wakes by itself at the latest */
    bool in_batch;        /* runtime thread: inside one wake-up's work; pcb events wait for its end */
    bool events_deferred; /* a pcb event happened during the batch: broadcast when it ends */

    /* fd-table mutex */
    bool dead;             /* stop/detach has begun: no new sockets on this net */
    unsigned live_sockets; /* socket objects that still point at this net */

    /* runtime mode only; touched by the runtime thread and by start/stop */
    pthread_t thread;
    bool thread_running;
    int wake_fd; /* eventfd: written to make the runtime recompute its timeout; -1 in manual mode */
    uint8_t *rxbuf;
};

/* Timeouts: 0 waits forever, TS_TIMEO_NONE never waits (a negative SO_RCVTIMEO, as Linux). */
#define TS_TIMEO_NONE ((ts_time)-1)

/* Fields ordered by size so a socket takes 64 bytes: one exists per connection, a hundred thousand of them. */
struct ts_sock {
    struct ts_net *net;         /* fixed for the object's life */
    int type;                   /* SOCK_DGRAM or SOCK_STREAM */
    int protocol;               /* IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_TCP */
    enum ts_pcb_type pcb_type;

    /* fd-table mutex */
    unsigned refs; /* the table's reference while a descriptor names it, plus one per call in flight */

    /* net lock */
    struct ts_pcb *pcb; /* NULL once closed */
    ts_time rcvtimeo;
    ts_time sndtimeo;
    int pmtudisc;    /* the IP_MTU_DISCOVER value last set, for getsockopt */
    int linger_secs; /* SO_LINGER l_linger: 0 aborts on close, > 0 bounds a blocking close's wait, < 0 no bound */
    bool closed;
    bool nonblocking;
    bool recvttl;   /* IP_RECVTTL: ts_recvmsg hands over each datagram's TTL */
    bool recvtos;   /* IP_RECVTOS: ... and its TOS */
    bool pktinfo;   /* IP_PKTINFO: ... and the address it was sent to (RFC 1122 4.1.3.5) */
    bool linger_on; /* SO_LINGER l_onoff (streams) */
    bool shut_rd;   /* a connected datagram socket was shut for reading: a blocked receive returns 0 */
};

/* ---- net.c ---- */

/* Formats a message into errbuf if there is one. */
void ts_set_message(char *errbuf, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The time a socket call hands the core: the monotonic clock, or the manual driver's latest. Net lock held. */
ts_time ts_net_now(const struct ts_net *net);
/* After a core call that may have moved the stack's next deadline earlier: wake the runtime thread. Net lock held. */
void ts_net_kick(struct ts_net *net);
/*
 * Waits on the net's condition variable until woken or until `deadline` (a
 * ts_sock_clock() value; 0 = no deadline). Returns false once the deadline has
 * passed. Net lock held.
 */
bool ts_net_wait(struct ts_net *net, ts_time deadline);
/* CLOCK_MONOTONIC in microseconds, the clock every wait deadline is on. */
ts_time ts_sock_clock(void);
/* The absolute deadline for a relative socket timeout (0 when it never expires). */
ts_time ts_sock_deadline(ts_time timeo);
/* The pcb event callback: broadcasts the net's condition variable. */
void ts_net_on_pcb_event(void *ctx, struct ts_pcb *pcb, uint32_t events);

/* ---- runtime.c ---- */

int ts_runtime_start(struct ts_net *net, char *errbuf, size_t errlen);
void ts_runtime_stop(struct ts_net *net);

/* ---- fdtable.c ---- */

/* Publishes sock under the lowest free descriptor; takes over the caller's reference. -EMFILE if full. */
int ts_fd_publish(struct ts_sock *sock);
/* Takes a reference on the socket fd names, or NULL (EBADF). */
struct ts_sock *ts_fd_acquire(int fd);
/* Drops a reference; the last one frees the object. Any lock may be held. */
void ts_fd_release(struct ts_sock *sock);
/* Removes fd from the table and hands back the table's reference, or NULL if fd names nothing. */
struct ts_sock *ts_fd_unpublish(int fd);
/*
 * Holds the lowest free descriptor for a socket accept has yet to produce, as
 * Linux allocates accept's descriptor before it waits: no call can use the
 * number until ts_fd_fill. -EMFILE if the table is full.
 */
int ts_fd_reserve(void);
/* Puts sock (and the caller's reference) under a reserved fd; -ENETDOWN (slot freed) if its net is retired. */
int ts_fd_fill(int fd, struct ts_sock *sock);
/* Gives a reserved, unfilled descriptor back. */
void ts_fd_unreserve(int fd);
/*
 * A new socket object on net (NULL: the default net) with one reference,
 * counted as live on the net. NULL with *err = -ENETDOWN if there is no such
 * net or it is being stopped, -ENOMEM if memory runs out.
 */
struct ts_sock *ts_sock_new(struct ts_net *net, int *err);
/* Marks net dead (no new sockets) and clears the default net if it is net. */
void ts_fd_retire_net(struct ts_net *net);
/* Removes the next descriptor naming a retired net at or after *cursor (start at 0); hands back the table's reference. */
struct ts_sock *ts_fd_take_next(struct ts_net *net, size_t *cursor);
/* Blocks until no socket object points at net any more. */
void ts_fd_wait_net_idle(struct ts_net *net);
void ts_fd_set_default(struct ts_net *net);
struct ts_net *ts_fd_default(void);
/* Sets default to net only if there is none yet. */
void ts_fd_offer_default(struct ts_net *net);

/* ---- socket.c ---- */

/* References the socket fd names and locks its net; NULL (EBADF) if fd names nothing or it is closed. */
struct ts_sock *ts_sock_enter(int fd);
/* Unlocks and drops the reference ts_sock_enter took. */
void ts_sock_leave(struct ts_sock *sock);

/* Leaves the call and returns its result, or -1 with errno for a negative errno value. */
ssize_t ts_sock_leave_with(struct ts_sock *sock, ssize_t result);

/* Marks the socket closed, gives its pcb back to the core and wakes every waiter. Net lock held. */
void ts_sock_shut(struct ts_sock *sock);
/* Makes pcb the socket's, with an open socket's defaults. Net lock held. */
void ts_sock_attach_pcb(struct ts_sock *sock, struct ts_pcb *pcb, bool nonblocking);
/*
 * After a core call said -EAGAIN: waits until something on the net changes.
 * Returns 0 to retry, or the errno the call fails with: -EAGAIN if it may not
 * block (non-blocking socket, dontwait, manual mode, negative timeout) or the
 * timeout expired, -EBADF if the socket was closed meanwhile. Net lock held.
 */
int ts_sock_wait_change(struct ts_sock *sock, bool dontwait, ts_time timeo, ts_time deadline);
/* Whether a call on sock may wait at all (blocking socket on a runtime-mode net). */
bool ts_sock_may_block(const struct ts_sock *sock);
/* Sets errno from a negative errno value and returns -1. */
int ts_fail(int neg_errno);

/* Output address checks and conversion (POSIX: written up to *len, *len set to the full size). */
int ts_addr_check_out(const struct sockaddr *sa, const socklen_t *len);
void ts_addr_to_user(const struct ts_sockaddr *in, struct sockaddr *sa, socklen_t *len);

/* ---- stream.c ---- */

/* connect() on a stream, after the address was checked: starts the handshake and waits for it if blocking. */
int ts_stream_connect(struct ts_sock *sock, const struct ts_sockaddr *remote);
/* send() on a stream: queues all of buf (blocking) or what fits (non-blocking). flags are already checked. */
ssize_t ts_stream_send(struct ts_sock *sock, const void *buf, size_t len, int flags);
/* recv() on a stream into iovecs already checked; MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT. */
ssize_t ts_stream_recv(struct ts_sock *sock, const struct iovec *iov, size_t iovcnt, int flags);
/*
 * ts_close's SO_LINGER wait for a stream with a positive linger time on a
 * blocking socket: sends the FIN and waits until it is acknowledged, the
 * connection ends or the time passes. The socket is already marked closed.
 */
void ts_stream_linger(struct ts_sock *sock);
/* ENOTCONN for getpeername while the handshake is under way or after the connection ended, as Linux. */
bool ts_stream_has_peer(const struct ts_sock *sock);

#endif
