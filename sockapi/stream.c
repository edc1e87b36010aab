/*
 * What SOCK_STREAM adds to the socket calls: the passive side (listen,
 * accept), shutdown, and the stream forms of connect, send, recv and close.
 *
 *   ts_listen, ts_accept4   ts_pcb_listen; ts_pcb_accept retried on the net's condition variable
 *   ts_stream_connect       ts_pcb_connect (-EINPROGRESS), then (blocking) wait for the handshake
 *   ts_stream_send          ts_pcb_send until all of buf is queued (blocking) or what fits
 *   ts_stream_recv          ts_pcb_recv into iovecs; MSG_WAITALL loops, MSG_PEEK reads from the start again
 *   ts_shutdown             ts_pcb_shutdown; a connected datagram socket only records SHUT_RD
 *   ts_stream_linger        SO_LINGER's wait inside ts_close
 *
 * Everything here runs under the net lock; waits release it while they sleep
 * (ts_sock_wait_change), so after every wait the socket may have been closed
 * and the connection may be in any state: each loop looks again.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sockapi_internal.h"

/* MSG_PEEK over several iovecs goes through a bounce buffer of at most this many bytes (a short peek is legal). */
#define TS_STREAM_PEEK_BOUNCE_MAX (256 * 1024)

/* ---- connection state ------------------------------------------------------------------------ */

/* The connection's state as TCP_INFO reports it. Net lock held. */
static enum ts_tcp_state stream_state(const struct ts_sock *sock)
{
    struct ts_tcp_info info;
    if (sock->pcb == NULL || ts_pcb_tcp_info(sock->pcb, &info) < 0)
        return TS_TCP_CLOSED;
    return info.state;
}

static bool handshake_pending(enum ts_tcp_state state)
{
    return state == TS_TCP_SYN_SENT || state == TS_TCP_SYN_RECEIVED;
}

/* Whether more bytes may still arrive: the peer has not finished and nothing has failed. Net lock held. */
static bool stream_may_grow(const struct ts_sock *sock)
{
    if (ts_pcb_events(sock->pcb) & (TS_EV_ERROR | TS_EV_HUP))
        return false;
    switch (stream_state(sock)) {
    case TS_TCP_SYN_SENT:
    case TS_TCP_SYN_RECEIVED:
    case TS_TCP_ESTABLISHED:
    case TS_TCP_FIN_WAIT_1:
    case TS_TCP_FIN_WAIT_2:
        return true;
    default:
        return false; /* the peer's FIN is in (CLOSE-WAIT, LAST-ACK, CLOSING, TIME-WAIT) or it is over */
    }
}

/*
 * Bytes already moved by this call are its result; an error that shows up
 * after them is left pending for the next call (the core would clear it if
 * asked again), as Linux does.
 */
static bool error_pending(const struct ts_sock *sock)
{
    return (ts_pcb_events(sock->pcb) & TS_EV_ERROR) != 0;
}

bool ts_stream_has_peer(const struct ts_sock *sock)
{
    enum ts_tcp_state state = stream_state(sock);
    return state != TS_TCP_CLOSED && state != TS_TCP_LISTEN && state != TS_TCP_SYN_SENT;
}

/* ---- connect ------------------------------------------------------------------------------------ */

/* After the handshake: 0 if it succeeded, else the error it ended with (ECONNREFUSED, ETIMEDOUT, ...). */
static int handshake_result(struct ts_sock *sock)
{
    if (stream_state(sock) != TS_TCP_CLOSED)
        return 0;
    int err = ts_pcb_take_error(sock->pcb);
    return err != 0 ? -err : -ECONNABORTED;
}

/* Linux (inet_stream_connect): a blocking connect waits up to SO_SNDTIMEO; when that passes, EINPROGRESS. */
static int wait_for_handshake(struct ts_sock *sock)
{
    ts_time timeo = sock->sndtimeo;
    ts_time deadline = ts_sock_deadline(timeo);
    while (handshake_pending(stream_state(sock))) {
        int rc = ts_sock_wait_change(sock, false, timeo, deadline);
        if (rc == -EAGAIN)
            return -EINPROGRESS;
        if (rc < 0)
            return rc;
    }
    return handshake_result(sock);
}

int ts_stream_connect(struct ts_sock *sock, const struct ts_sockaddr *remote)
{
    int rc = ts_pcb_connect(sock->pcb, ts_net_now(sock->net), remote);
    ts_net_kick(sock->net);
    if (rc == -EISCONN && stream_state(sock) == TS_TCP_CLOSED) {
        /* The attempt failed (non-blocking, say): its error is reported once, as Linux does. */
        int err = ts_pcb_take_error(sock->pcb);
        if (err != 0)
            return -err;
    }
    if (rc != -EINPROGRESS && rc != -EALREADY)
        return rc;
    /* A blocking connect on a socket whose handshake is already under way joins the wait (Linux). */
    if (!ts_sock_may_block(sock))
        return rc;
    return wait_for_handshake(sock);
}

/* ---- send --------------------------------------------------------------------------------------- */

ssize_t ts_stream_send(struct ts_sock *sock, const void *buf, size_t len, int flags)
{
    if (len == 0)
        return ts_pcb_send(sock->pcb, ts_net_now(sock->net), buf, 0);
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    const uint8_t *bytes = buf;
    bool dontwait = (flags & MSG_DONTWAIT) != 0;
    ts_time timeo = sock->sndtimeo;
    ts_time deadline = ts_sock_deadline(timeo);
    size_t done = 0;
    for (;;) {
        if (done > 0 && error_pending(sock))
            return (ssize_t)done;
        ssize_t n = ts_pcb_send(sock->pcb, ts_net_now(sock->net), bytes + done, len - done);
        ts_net_kick(sock->net);
        if (n > 0) {
            done += (size_t)n;
            if (done == len)
                return (ssize_t)done;
            continue; /* the buffer filled: the next call says -EAGAIN and we wait for room */
        }
        if (n != -EAGAIN)
            return done > 0 ? (ssize_t)done : n;
        /* Out of room: a non-blocking send returns what it queued (a partial write); a blocking one waits. */
        int rc = ts_sock_wait_change(sock, dontwait, timeo, deadline);
        if (rc < 0)
            return done > 0 ? (ssize_t)done : rc;
    }
}

/* ---- recv --------------------------------------------------------------------------------------- */

/* Where the next received byte goes. */
struct iov_cursor {
    const struct iovec *iov;
    size_t iovcnt;
    size_t index;  /* current iovec */
    size_t offset; /* bytes already filled in it */
    size_t left;   /* bytes this call may still store (at most SSIZE_MAX in all) */
};

static size_t iov_total(const struct iovec *iov, size_t iovcnt)
{
    size_t total = 0;
    for (size_t i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > SSIZE_MAX - total)
            return SSIZE_MAX;
        total += iov[i].iov_len;
    }
    return total;
}

/*
 * Takes what is queued, iovec after iovec, without waiting. Returns the bytes
 * stored, 0 only at end of stream, -EAGAIN when nothing is queued, or an error.
 */
static ssize_t read_available(struct ts_sock *sock, struct iov_cursor *cur)
{
    size_t total = 0;
    ts_time now = ts_net_now(sock->net);
    while (cur->left > 0 && cur->index < cur->iovcnt) {
        const struct iovec *v = &cur->iov[cur->index];
        size_t want = v->iov_len - cur->offset;
        if (want == 0) {
            cur->index++;
            cur->offset = 0;
            continue;
        }
        if (want > cur->left)
            want = cur->left;
        if (total > 0 && error_pending(sock))
            break;
        ssize_t n = ts_pcb_recv(sock->pcb, now, (uint8_t *)v->iov_base + cur->offset, want, false);
        if (n <= 0) {
            if (total == 0)
                return n;
            break;
        }
        total += (size_t)n;
        cur->offset += (size_t)n;
        cur->left -= (size_t)n;
        if ((size_t)n < want)
            break; /* the queue is empty */
    }
    /* Reading opened the window: the window update the core sent may have moved its timers. */
    ts_net_kick(sock->net);
    return (ssize_t)total;
}

/* recv without MSG_PEEK: what is there (or, with MSG_WAITALL, everything asked for unless the stream ends). */
static ssize_t recv_consume(struct ts_sock *sock, const struct iovec *iov, size_t iovcnt, size_t room, int flags)
{
    struct iov_cursor cur = {.iov = iov, .iovcnt = iovcnt, .index = 0, .offset = 0, .left = room};
    bool waitall = (flags & MSG_WAITALL) != 0;
    bool dontwait = (flags & MSG_DONTWAIT) != 0;
    ts_time timeo = sock->rcvtimeo;
    ts_time deadline = ts_sock_deadline(timeo);
    size_t done = 0;
    for (;;) {
        if (done > 0 && error_pending(sock))
            return (ssize_t)done;
        ssize_t n = read_available(sock, &cur);
        if (n > 0) {
            done += (size_t)n;
            if (done == room || !waitall)
                return (ssize_t)done;
            continue;
        }
        if (n == 0)
            return (ssize_t)done; /* end of stream */
        if (n != -EAGAIN)
            return done > 0 ? (ssize_t)done : n;
        int rc = ts_sock_wait_change(sock, dontwait, timeo, deadline);
        if (rc < 0)
            return done > 0 ? (ssize_t)done : rc;
    }
}

static void copy_to_iov(const uint8_t *data, size_t len, const struct iovec *iov, size_t iovcnt)
{
    for (size_t i = 0; i < iovcnt && len > 0; i++) {
        size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;
        if (n > 0)
            memcpy(iov[i].iov_base, data, n);
        data += n;
        len -= n;
    }
}

/* The one iovec with room in it, or NULL if the room is spread over several (or there is none). */
static const struct iovec *single_iov(const struct iovec *iov, size_t iovcnt)
{
    const struct iovec *found = NULL;
    for (size_t i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len == 0)
            continue;
        if (found != NULL)
            return NULL;
        found = &iov[i];
    }
    return found;
}

/*
 * Copies the first `room` queued bytes and leaves them queued. The core
 * peeks into one buffer, so bytes spread over several iovecs pass through a
 * bounce buffer (ENOMEM if it cannot be had: nothing is lost, nothing taken).
 */
static ssize_t peek_once(struct ts_sock *sock, const struct iovec *iov, size_t iovcnt, size_t room)
{
    ts_time now = ts_net_now(sock->net);
    const struct iovec *one = single_iov(iov, iovcnt);
    if (one != NULL)
        return ts_pcb_recv(sock->pcb, now, one->iov_base, room, true);
    uint8_t *bounce = malloc(room);
    if (bounce == NULL)
        return -ENOMEM;
    ssize_t n = ts_pcb_recv(sock->pcb, now, bounce, room, true);
    if (n > 0)
        copy_to_iov(bounce, (size_t)n, iov, iovcnt);
    free(bounce);
    return n;
}

/* recv with MSG_PEEK; with MSG_WAITALL it waits until `room` bytes are queued or the stream can grow no more. */
static ssize_t recv_peek(struct ts_sock *sock, const struct iovec *iov, size_t iovcnt, size_t room, int flags)
{
    if (single_iov(iov, iovcnt) == NULL && room > TS_STREAM_PEEK_BOUNCE_MAX)
        room = TS_STREAM_PEEK_BOUNCE_MAX;
    bool waitall = (flags & MSG_WAITALL) != 0;
    bool dontwait = (flags & MSG_DONTWAIT) != 0;
    ts_time timeo = sock->rcvtimeo;
    ts_time deadline = ts_sock_deadline(timeo);
    for (;;) {
        ssize_t n = peek_once(sock, iov, iovcnt, room);
        bool wants_more = n > 0 && waitall && (size_t)n < room && stream_may_grow(sock);
        if (n != -EAGAIN && !wants_more)
            return n;
        int rc = ts_sock_wait_change(sock, dontwait, timeo, deadline);
        if (rc < 0)
            return n > 0 ? n : rc;
    }
}

ssize_t ts_stream_recv(struct ts_sock *sock, const struct iovec *iov, size_t iovcnt, int flags)
{
    size_t room = iov_total(iov, iovcnt);
    /* Linux: a zero-length read returns 0 at once, whatever is queued. */
    if (room == 0)
        return 0;
    if (flags & MSG_PEEK)
        return recv_peek(sock, iov, iovcnt, room, flags);
    return recv_consume(sock, iov, iovcnt, room, flags);
}

/* ---- listen and accept ------------------------------------------------------------------------------ */

int ts_listen(int fd, int backlog)
{
    struct ts_sock *sock = ts_sock_enter(fd);
    if (sock == NULL)
        return ts_fail(-EBADF);
    int rc = sock->type == SOCK_STREAM ? ts_pcb_listen(sock->pcb, backlog) : -EOPNOTSUPP;
    return (int)ts_sock_leave_with(sock, rc);
}

/* Takes the oldest established connection, waiting for one as the socket's mode and SO_RCVTIMEO say. */
static struct ts_pcb *wait_for_connection(struct ts_sock *sock, int *err)
{
    ts_time timeo = sock->rcvtimeo;
    ts_time deadline = ts_sock_deadline(timeo);
    for (;;) {
        struct ts_pcb *pcb = ts_pcb_accept(sock->pcb, err);
        if (pcb != NULL || *err != -EAGAIN)
            return pcb;
        *err = ts_sock_wait_change(sock, false, timeo, deadline);
        if (*err < 0)
            return NULL;
    }
}

/* The accepted socket: a stream on the listener's net with the options Linux copies from the listener. */
static void adopt_connection(struct ts_sock *child, const struct ts_sock *listener, struct ts_pcb *pcb,
                             bool nonblocking)
{
    child->type = SOCK_STREAM;
    child->protocol = IPPROTO_TCP;
    child->pcb_type = TS_PCB_TCP;
    ts_sock_attach_pcb(child, pcb, nonblocking);
    child->rcvtimeo = listener->rcvtimeo;
    child->sndtimeo = listener->sndtimeo;
    child->linger_on = listener->linger_on;
    child->linger_secs = listener->linger_secs;
    child->recvttl = listener->recvttl;
    child->recvtos = listener->recvtos;
}

/*
 * Linux's order: the descriptor and the socket object are had before the
 * wait, so running out of either never costs an established connection.
 */
static int accept_on(struct ts_sock *sock, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    if (sock->type != SOCK_STREAM)
        return -EOPNOTSUPP;
    int rc = ts_addr_check_out(addr, addrlen);
    if (rc < 0)
        return rc;
    struct ts_sock *child = ts_sock_new(sock->net, &rc);
    if (child == NULL)
        return rc;
    int newfd = ts_fd_reserve();
    if (newfd < 0) {
        ts_fd_release(child);
        return newfd;
    }
    struct ts_pcb *pcb = wait_for_connection(sock, &rc);
    if (pcb == NULL) {
        ts_fd_unreserve(newfd);
        ts_fd_release(child);
        return rc;
    }
    adopt_connection(child, sock, pcb, (flags & SOCK_NONBLOCK) != 0);
    struct ts_sockaddr peer = {0, 0};
    ts_pcb_remote(pcb, &peer);
    rc = ts_fd_fill(newfd, child);
    if (rc < 0) {
        /* The net is being stopped: the connection goes with it. */
        ts_sock_shut(child);
        ts_fd_release(child);
        return rc;
    }
    if (addr != NULL)
        ts_addr_to_user(&peer, addr, addrlen);
    return newfd;
}

int ts_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    /* SOCK_CLOEXEC is accepted and means nothing here, as for ts_socket. */
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return ts_fail(-EINVAL);
    struct ts_sock *sock = ts_sock_enter(fd);
    if (sock == NULL)
        return ts_fail(-EBADF);
    return (int)ts_sock_leave_with(sock, accept_on(sock, addr, addrlen, flags));
}

int ts_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    return ts_accept4(fd, addr, addrlen, 0);
}

/* ---- shutdown ------------------------------------------------------------------------------------------ */

static int shutdown_stream(struct ts_sock *sock, int how)
{
    enum ts_shutdown_how core_how = how == SHUT_RD ? TS_SHUT_RD : how == SHUT_WR ? TS_SHUT_WR : TS_SHUT_RDWR;
    int rc = ts_pcb_shutdown(sock->pcb, ts_net_now(sock->net), core_how);
    ts_net_kick(sock->net);
    return rc;
}

/*
 * Linux (inet_shutdown): an unconnected datagram socket says ENOTCONN; a
 * connected one accepts, and SHUT_RD wakes its blocked readers with 0.
 */
static int shutdown_datagram(struct ts_sock *sock, int how)
{
    struct ts_sockaddr peer;
    if (ts_pcb_remote(sock->pcb, &peer) < 0)
        return -ENOTCONN;
    if (how != SHUT_WR) {
        sock->shut_rd = true;
        pthread_cond_broadcast(&sock->net->cond);
    }
    return 0;
}

int ts_shutdown(int fd, int how)
{
    struct ts_sock *sock = ts_sock_enter(fd);
    if (sock == NULL)
        return ts_fail(-EBADF);
    int rc;
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        rc = -EINVAL;
    else if (sock->type == SOCK_STREAM)
        rc = shutdown_stream(sock, how);
    else
        rc = shutdown_datagram(sock, how);
    return (int)ts_sock_leave_with(sock, rc);
}

/* ---- close with SO_LINGER --------------------------------------------------------------------------------- */

/* States in which a FIN of ours is (or would be) still waiting for its acknowledgment. */
static bool fin_unacked(enum ts_tcp_state state)
{
    switch (state) {
    case TS_TCP_ESTABLISHED:
    case TS_TCP_CLOSE_WAIT:
    case TS_TCP_FIN_WAIT_1:
    case TS_TCP_CLOSING:
    case TS_TCP_LAST_ACK:
        return true;
    default:
        return false;
    }
}

/*
 * The pcb must not be used once ts_pcb_close_at has it, so the wait happens
 * before: shutdown(SHUT_WR) queues the FIN after the data, and the state
 * tells when it has been acknowledged (FIN-WAIT-2, TIME-WAIT, CLOSED). The
 * socket is already marked closed, so the plain net wait is used (a socket
 * wait would answer EBADF); a net being stopped ends the wait too, since its
 * runtime no longer moves the connection.
 */
void ts_stream_linger(struct ts_sock *sock)
{
    struct ts_net *net = sock->net;
    enum ts_tcp_state state = stream_state(sock);
    if (!fin_unacked(state))
        return;
    /* Unread data turns the close into a reset (RFC 2525 2.17): there is no FIN to wait for. */
    uint8_t byte;
    if (ts_pcb_recv(sock->pcb, ts_net_now(net), &byte, 1, true) > 0)
        return;
    if (state == TS_TCP_ESTABLISHED || state == TS_TCP_CLOSE_WAIT) {
        ts_pcb_shutdown(sock->pcb, ts_net_now(net), TS_SHUT_WR);
        ts_net_kick(net);
    }
    ts_time deadline = sock->linger_secs > 0 ? ts_sock_clock() + TS_SEC(sock->linger_secs) : 0;
    while (fin_unacked(stream_state(sock)) && !net->stopping) {
        if (!ts_net_wait(net, deadline))
            return;
    }
}
