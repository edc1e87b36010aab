/*
 * The socket calls: descriptors in, core pcb calls under the net's lock out.
 *
 * Every call follows one pattern:
 *   ts_sock_enter(fd)   reference the object the descriptor names, lock its net,
 *                       fail with EBADF if it is (or gets) closed
 *   validate arguments  in the order Linux does, so errno matches
 *   core call           retried after a wait on the net's condition variable
 *                       while it says -EAGAIN and the call may block
 *   ts_sock_leave()     unlock, drop the reference
 *
 * Streams share the entry points: connect, send and recv hand over to
 * stream.c once the arguments are checked, and close gives a TCP pcb back
 * gracefully (or with a RST, or after a SO_LINGER wait).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "sockapi_internal.h"

/* No IPv4 datagram carries more than this; checked here so the length always fits an ssize_t. */
#define TS_MAX_DATAGRAM 65535

int ts_fail(int neg_errno)
{
    errno = -neg_errno;
    return -1;
}

/* ---- entering and leaving a call -------------------------------------------------- */

struct ts_sock *ts_sock_enter(int fd)
{
    struct ts_sock *sock = ts_fd_acquire(fd);
    if (sock == NULL)
        return NULL;
    pthread_mutex_lock(&sock->net->lock);
    if (sock->closed) {
        pthread_mutex_unlock(&sock->net->lock);
        ts_fd_release(sock);
        return NULL;
    }
    return sock;
}

void ts_sock_leave(struct ts_sock *sock)
{
    pthread_mutex_unlock(&sock->net->lock);
    ts_fd_release(sock);
}

ssize_t ts_sock_leave_with(struct ts_sock *sock, ssize_t result)
{
    ts_sock_leave(sock);
    if (result < 0)
        return ts_fail((int)result);
    return result;
}

/*
 * Hands the pcb back to the core. A stream closes gracefully in the
 * background (ts_pcb_close_at), or with a RST when SO_LINGER says "abort"
 * (l_onoff 1, l_linger 0). Net lock held.
 */
static void release_pcb(struct ts_sock *sock)
{
    struct ts_pcb *pcb = sock->pcb;
    if (pcb == NULL)
        return;
    sock->pcb = NULL;
    ts_pcb_set_event_callback(pcb, NULL, NULL);
    ts_time now = ts_net_now(sock->net);
    if (sock->pcb_type == TS_PCB_TCP && sock->linger_on && sock->linger_secs == 0)
        ts_pcb_abort(pcb, now);
    else
        ts_pcb_close_at(pcb, now);
    ts_net_kick(sock->net);
}

/* Wakes threads blocked on this socket: they see `closed` and fail with EBADF. Net lock held. */
static void mark_closed(struct ts_sock *sock)
{
    sock->closed = true;
    pthread_cond_broadcast(&sock->net->cond);
}

void ts_sock_shut(struct ts_sock *sock)
{
    if (sock->closed)
        return;
    mark_closed(sock);
    release_pcb(sock);
}

bool ts_sock_may_block(const struct ts_sock *sock)
{
    return !sock->nonblocking && !sock->net->manual;
}

int ts_sock_wait_change(struct ts_sock *sock, bool dontwait, ts_time timeo, ts_time deadline)
{
    struct ts_net *net = sock->net;
    if (dontwait || !ts_sock_may_block(sock) || timeo == TS_TIMEO_NONE)
        return -EAGAIN;
    if (!ts_net_wait(net, deadline))
        return -EAGAIN;
    if (sock->closed)
        return -EBADF;
    return 0;
}

/* ---- addresses --------------------------------------------------------------------------- */

/*
 * A user's sockaddr to host order. Linux's checks, in its order: a length
 * beyond sockaddr_storage or below sockaddr_in is EINVAL, an unreadable
 * address EFAULT, a family other than AF_INET EAFNOSUPPORT. bind() also
 * accepts AF_UNSPEC with INADDR_ANY, as Linux does for old programs.
 */
static int addr_from_user(const struct sockaddr *sa, socklen_t len, bool unspec_any_ok, struct ts_sockaddr *out)
{
    if (len > sizeof(struct sockaddr_storage))
        return -EINVAL;
    if (sa == NULL)
        return len == 0 ? -EINVAL : -EFAULT;
    if (len < sizeof(struct sockaddr_in))
        return -EINVAL;
    struct sockaddr_in sin;
    memcpy(&sin, sa, sizeof(sin));
    bool unspec_any = unspec_any_ok && sin.sin_family == AF_UNSPEC && sin.sin_addr.s_addr == htonl(INADDR_ANY);
    if (sin.sin_family != AF_INET && !unspec_any)
        return -EAFNOSUPPORT;
    out->addr = ntohl(sin.sin_addr.s_addr);
    out->port = ntohs(sin.sin_port);
    return 0;
}

/* Checks an output address buffer before anything irreversible happens (a datagram taken, say). */
int ts_addr_check_out(const struct sockaddr *sa, const socklen_t *len)
{
    if (sa == NULL)
        return 0;
    if (len == NULL)
        return -EFAULT;
    if ((int)*len < 0)
        return -EINVAL;
    return 0;
}

/* Writes as much of a sockaddr_in as *len allows and sets *len to its full size, as POSIX says. */
void ts_addr_to_user(const struct ts_sockaddr *in, struct sockaddr *sa, socklen_t *len)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(in->addr);
    sin.sin_port = htons(in->port);
    size_t n = *len < sizeof(sin) ? *len : sizeof(sin);
    memcpy(sa, &sin, n);
    *len = sizeof(sin);
}

/* ---- creation ------------------------------------------------------------------------------- */

/* Which pcb a (domain, type, protocol) triple asks for, with Linux's errno for each refusal. */
static int pcb_type_for(int domain, int type, int protocol, enum ts_pcb_type *pcb_type, int *proto_out)
{
    if (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC | 0xf))
        return -EINVAL;
    if (domain != AF_INET)
        return -EAFNOSUPPORT;
    int base = type & 0xf;
    if (base == 0 || base > SOCK_PACKET || protocol < 0)
        return -EINVAL;
    switch (base) {
    case SOCK_DGRAM:
        if (protocol == 0 || protocol == IPPROTO_UDP) {
            *pcb_type = TS_PCB_UDP;
            *proto_out = IPPROTO_UDP;
            return 0;
        }
        if (protocol == IPPROTO_ICMP) {
            *pcb_type = TS_PCB_ICMP_ECHO;
            *proto_out = IPPROTO_ICMP;
            return 0;
        }
        return -EPROTONOSUPPORT;
    case SOCK_STREAM:
        if (protocol == 0 || protocol == IPPROTO_TCP) {
            *pcb_type = TS_PCB_TCP;
            *proto_out = IPPROTO_TCP;
            return 0;
        }
        return -EPROTONOSUPPORT;
    default:
        /* A socket type Linux knows (SOCK_RAW, SOCK_SEQPACKET, ...) that AF_INET here does not offer. */
        return -ESOCKTNOSUPPORT;
    }
}

void ts_sock_attach_pcb(struct ts_sock *sock, struct ts_pcb *pcb, bool nonblocking)
{
    ts_pcb_set_event_callback(pcb, ts_net_on_pcb_event, sock->net);
    sock->pcb = pcb;
    sock->nonblocking = nonblocking;
    sock->rcvtimeo = 0;
    sock->sndtimeo = 0;
    int dontfrag = 0;
    ts_pcb_getopt(pcb, TS_OPT_DONTFRAG, &dontfrag);
    sock->pmtudisc = dontfrag ? IP_PMTUDISC_DO : IP_PMTUDISC_DONT;
    sock->recvttl = false;
    sock->recvtos = false;
    sock->linger_on = false;
    sock->linger_secs = 0;
    sock->shut_rd = false;
}

/* Opens the pcb and fills the socket's defaults. Net lock held. */
static int open_pcb(struct ts_sock *sock, bool nonblocking)
{
    int err = 0;
    struct ts_pcb *pcb = ts_pcb_open(sock->net->st, sock->pcb_type, &err);
    if (pcb == NULL)
        return err < 0 ? err : -ENOMEM;
    ts_sock_attach_pcb(sock, pcb, nonblocking);
    return 0;
}

/* SOCK_CLOEXEC is accepted and ignored: tapstack descriptors do not survive exec anyway. */
static int open_socket(struct ts_net *net, int domain, int type, int protocol)
{
    enum ts_pcb_type pcb_type;
    int proto = 0;
    int rc = pcb_type_for(domain, type, protocol, &pcb_type, &proto);
    if (rc < 0)
        return ts_fail(rc);
    struct ts_sock *sock = ts_sock_new(net, &rc);
    if (sock == NULL)
        return ts_fail(rc);
    sock->type = type & 0xf;
    sock->protocol = proto;
    sock->pcb_type = pcb_type;

    pthread_mutex_lock(&sock->net->lock);
    rc = open_pcb(sock, (type & SOCK_NONBLOCK) != 0);
    pthread_mutex_unlock(&sock->net->lock);
    if (rc < 0) {
        ts_fd_release(sock);
        return ts_fail(rc);
    }
    int fd = ts_fd_publish(sock);
    if (fd < 0) {
        pthread_mutex_lock(&sock->net->lock);
        ts_sock_shut(sock);
        pthread_mutex_unlock(&sock->net->lock);
        ts_fd_release(sock);
        return ts_fail(fd);
    }
    return fd;
}

int ts_socket(int domain, int type, int protocol)
{
    return open_socket(NULL, domain, type, protocol);
}

int ts_socket_on(struct ts_net *net, int domain, int type, int protocol)
{
    if (net == NULL)
        return ts_fail(-EINVAL);
    return open_socket(net, domain, type, protocol);
}

int ts_close(int fd)
{
    struct ts_sock *sock = ts_fd_unpublish(fd);
    if (sock == NULL)
        return ts_fail(-EBADF);
    struct ts_net *net = sock->net;
    pthread_mutex_lock(&net->lock);
    /* Open for sure (whoever closes a socket takes its descriptor out of the table first); kept as a guard. */
    if (!sock->closed) {
        mark_closed(sock);
        bool linger = sock->pcb_type == TS_PCB_TCP && sock->linger_on && sock->linger_secs != 0;
        if (linger && ts_sock_may_block(sock))
            ts_stream_linger(sock);
        release_pcb(sock);
    }
    pthread_mutex_unlock(&net->lock);
    ts_fd_release(sock);
    return 0;
}

/* ---- addresses: bind, connect, names ---------------------------------------------------------- */

int ts_bind(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct ts_sock *sock = ts_sock_enter(fd);
    if (sock == NULL)
        return ts_fail(-EBADF);
    struct ts_sockaddr local;
    int rc = addr_from_user(addr, addrlen, true, &local);
    if (rc == 0)
        rc = ts_pcb_bind(sock->pcb, &local);
    return (int)ts_sock_leave_with(sock, rc);
}

/* connect() with AF_UNSPEC dissolves the association (POSIX); anything else must be AF_INET. */
static int connect_target(const struct sockaddr *addr, socklen_t addrlen, struct ts_sockaddr *remote)
{
    if (addrlen > sizeof(struct sockaddr_storage))
        return -EINVAL;
    if (addr == NULL)
        return addrlen == 0 ? -EINVAL : -EFAULT;
    if (addrlen < sizeof(sa_family_t))
        return -EINVAL;
    sa_family_t family;
    memcpy(&family, &addr->sa_family, sizeof(family));
    if (family == AF_UNSPEC) {
        *remote = (struct ts_sockaddr){.addr = 0, .port = 0};
        return 0;
    }
    return addr_from_user(addr, addrlen, false, remote);
}

int ts_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct ts_sock *sock = ts_sock_enter(fd);
    if (sock == NULL)
        return ts_fail(-EBADF);
    struct ts_sockaddr remote;
    int rc;
    if (sock->type == SOCK_STREAM) {
        /* A stream cannot dissolve its connection with AF_UNSPEC here: only AF_INET peers. */
        rc = addr_from_user(addr, addrlen, false, &remote);
        if (rc == 0)
            rc = ts_stream_connect(sock, &remote);
        return (int)ts_sock_leave_with(sock, rc);
    }
    rc = connect_target(addr, addrlen, &remote);
    if (rc == 0) {
        rc = ts_pcb_connect(sock->pcb, ts_net_now(sock->net), &remote);
        ts_net_kick(sock->net);
    }
    return (int)ts_sock_leave_with(sock, rc);
}

static int get_name(int fd, struct sockaddr *addr, socklen_t *addrlen, bool peer)
{
    struct ts_sock *sock = ts_sock_enter(fd);
    if (sock == NULL)
        return ts_fail(-EBADF);
    int rc = addrlen == NULL ? -EFAULT : ts_addr_check_out(addr, addrlen);
    if (rc == 0 && addr == NULL && *addrlen > 0)
        rc = -EFAULT;
    struct ts_sockaddr name = {0, 0};
    if (rc == 0 && peer && sock->type == SOCK_STREAM && !ts_stream_has_peer(sock))
        rc = -ENOTCONN;
    if (rc == 0)
        rc = peer ? ts_pcb_remote(sock->pcb, &name) : ts_pcb_local(sock->pcb, &name);
    if (rc == 0) {
        if (addr != NULL)
            ts_addr_to_user(&name, addr, addrlen);
        else
            *addrlen = sizeof(struct sockaddr_in);
    }
    return (int)ts_sock_leave_with(sock, rc);
}

int ts_getsockname(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    return get_name(fd, addr, addrlen, false);
}

int ts_getpeername(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    return get_name(fd, addr, addrlen, true);
}

/* ---- data ---------------------------------------------------------------------------------------- */

#define TS_SEND_FLAGS (MSG_DONTWAIT | MSG_NOSIGNAL)
#define TS_RECV_FLAGS (MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC)
#define TS_STREAM_RECV_FLAGS (MSG_DONTWAIT | MSG_PEEK | MSG_WAITALL)

static ssize_t send_checked(struct ts_sock *sock, const void *buf, size_t len, int flags,
                            const struct ts_sockaddr *to)
{
    ts_time timeo = sock->sndtimeo;
    ts_time deadline = ts_sock_deadline(timeo);
    for (;;) {
        ssize_t n = ts_pcb_sendto(sock->pcb, ts_net_now(sock->net), buf, len, to);
        ts_net_kick(sock->net);
        if (n != -EAGAIN)
            return n;
        int rc = ts_sock_wait_change(sock, (flags & MSG_DONTWAIT) != 0, timeo, deadline);
        if (rc < 0)
            return rc;
    }
}

/*
 * MSG_NOSIGNAL is accepted (tapstack raises no signals); other flags a
 * socket here has no use for fail with EOPNOTSUPP rather than being ignored.
 * A stream ignores the address, as Linux's TCP does (only its length is checked).
 */
ssize_t ts_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen)
{
    struct ts_sock *sock = ts_sock_enter(fd);
    if (sock == NULL)
        return ts_fail(-EBADF);
    if (flags & ~TS_SEND_FLAGS)
        return ts_sock_leave_with(sock, -EOPNOTSUPP);
    if (buf == NULL && len > 0)
        return ts_sock_leave_with(sock, -EFAULT);
    if (sock->type == SOCK_STREAM) {
        if (to != NULL && tolen > sizeof(struct sockaddr_storage))
            return ts_sock_leave_with(sock, -EINVAL);
        return ts_sock_leave_with(sock, ts_stream_send(sock, buf, len, flags));
    }
    struct ts_sockaddr dst;
    if (to != NULL) {
        int rc = addr_from_user(to, tolen, false, &dst);
        if (rc < 0)
            return ts_sock_leave_with(sock, rc);
    }
    if (len > TS_MAX_DATAGRAM)
        return ts_sock_leave_with(sock, -EMSGSIZE);
    return ts_sock_leave_with(sock, send_checked(sock, buf, len, flags, to != NULL ? &dst : NULL));
}

ssize_t ts_send(int fd, const void *buf, size_t len, int flags)
{
    return ts_sendto(fd, buf, len, flags, NULL, 0);
}

/* ---- receiving: one path for ts_recvfrom and ts_recvmsg ------------------------------------------ */

/* What one receive asks for and what it took besides the data. */
struct recv_job {
    const struct iovec *iov; /* where the data goes; validated by the caller */
    size_t iovcnt;
    int flags;
    struct ts_dgram_info info; /* out: sender, full length, TTL and TOS of the datagram taken */
    bool truncated;            /* out: it was longer than the buffers */
};

/* Bytes the buffers hold in all, saturating rather than wrapping. */
static size_t iov_room(const struct iovec *iov, size_t iovcnt)
{
    size_t room = 0;
    for (size_t i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > SIZE_MAX - room)
            return SIZE_MAX;
        room += iov[i].iov_len;
    }
    return room;
}

static void scatter(const uint8_t *data, size_t len, const struct iovec *iov, size_t iovcnt)
{
    for (size_t i = 0; i < iovcnt && len > 0; i++) {
        size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;
        if (n > 0)
            memcpy(iov[i].iov_base, data, n);
        data += n;
        len -= n;
    }
}

/*
 * Takes the next datagram into the job's buffers, or peeks at it. The core
 * copies into one buffer: when the datagram spans several iovecs it goes
 * through a bounce buffer of just the bytes that will be kept, allocated
 * before the datagram is taken, so running out of memory loses nothing.
 * Returns the bytes stored (the full length with MSG_TRUNC), a pending error
 * (the core reports one before any datagram), or -EAGAIN.
 */
static ssize_t receive_once(struct ts_sock *sock, struct recv_job *job)
{
    bool peek = (job->flags & MSG_PEEK) != 0;
    if (ts_pcb_peek_info(sock->pcb, &job->info) < 0)
        return ts_pcb_recvfrom(sock->pcb, NULL, 0, NULL, peek, NULL); /* nothing queued: an error, or -EAGAIN */

    size_t room = iov_room(job->iov, job->iovcnt);
    size_t keep = job->info.len < room ? job->info.len : room;
    ssize_t n;
    if (keep == 0 || keep <= job->iov[0].iov_len) {
        void *buf = job->iovcnt > 0 ? job->iov[0].iov_base : NULL;
        size_t cap = job->iovcnt > 0 ? job->iov[0].iov_len : 0;
        n = ts_pcb_recvfrom(sock->pcb, buf, cap, &job->info.from, peek, &job->truncated);
    } else {
        uint8_t *bounce = malloc(keep);
        if (bounce == NULL)
            return -ENOMEM;
        n = ts_pcb_recvfrom(sock->pcb, bounce, keep, &job->info.from, peek, &job->truncated);
        if (n >= 0)
            scatter(bounce, keep, job->iov, job->iovcnt);
        free(bounce);
    }
    if (n < 0)
        return n;
    /* POSIX: the bytes stored; Linux's MSG_TRUNC asks for the datagram's real length instead. */
    return (job->flags & MSG_TRUNC) ? (ssize_t)job->info.len : (ssize_t)keep;
}

/*
 * Linux: once a connected datagram socket is shut for reading, a receive that
 * would block returns 0 instead (how one thread wakes another blocked in recv).
 */
static bool shut_rd_ends_wait(const struct ts_sock *sock, const struct recv_job *job, ts_time timeo)
{
    return sock->shut_rd && !(job->flags & MSG_DONTWAIT) && ts_sock_may_block(sock) && timeo != TS_TIMEO_NONE;
}

/* Checks the flags, then takes one datagram, waiting as the socket's mode and SO_RCVTIMEO say. Net lock held. */
static ssize_t receive_datagram(struct ts_sock *sock, struct recv_job *job)
{
    if (job->flags & ~TS_RECV_FLAGS)
        return -EOPNOTSUPP;
    ts_time timeo = sock->rcvtimeo;
    ts_time deadline = ts_sock_deadline(timeo);
    for (;;) {
        ssize_t n = receive_once(sock, job);
        if (n != -EAGAIN)
            return n;
        if (shut_rd_ends_wait(sock, job, timeo))
            return 0;
        int rc = ts_sock_wait_change(sock, (job->flags & MSG_DONTWAIT) != 0, timeo, deadline);
        if (rc < 0)
            return rc;
    }
}

/* A datagram, or bytes of a stream (whose "sender" is always the peer). Net lock held. */
static ssize_t receive_any(struct ts_sock *sock, struct recv_job *job)
{
    if (sock->type != SOCK_STREAM)
        return receive_datagram(sock, job);
    if (job->flags & ~TS_STREAM_RECV_FLAGS)
        return -EOPNOTSUPP;
    ssize_t n = ts_stream_recv(sock, job->iov, job->iovcnt, job->flags);
    if (n >= 0 && ts_pcb_remote(sock->pcb, &job->info.from) < 0)
        job->info.from = (struct ts_sockaddr){0, 0};
    return n;
}

ssize_t ts_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fromlen)
{
    struct ts_sock *sock = ts_sock_enter(fd);
    if (sock == NULL)
        return ts_fail(-EBADF);
    if (buf == NULL && len > 0)
        return ts_sock_leave_with(sock, -EFAULT);
    int rc = ts_addr_check_out(from, fromlen);
    if (rc < 0)
        return ts_sock_leave_with(sock, rc);
    struct iovec one = {.iov_base = buf, .iov_len = len};
    struct recv_job job = {.iov = &one, .iovcnt = 1, .flags = flags};
    ssize_t n = receive_any(sock, &job);
    if (n >= 0 && from != NULL)
        ts_addr_to_user(&job.info.from, from, fromlen);
    return ts_sock_leave_with(sock, n);
}

ssize_t ts_recv(int fd, void *buf, size_t len, int flags)
{
    return ts_recvfrom(fd, buf, len, flags, NULL, NULL);
}

/*
 * A msghdr's checks, in Linux's order (net/socket.c, then the iovec import):
 * an unreadable header EFAULT, a negative name length EINVAL, more than
 * IOV_MAX iovecs EMSGSIZE, a missing iovec array EFAULT, an iovec length
 * that is negative as an ssize_t EINVAL, a null buffer with room in it EFAULT.
 * All of them before a datagram is touched.
 */
static int check_msghdr(const struct msghdr *msg)
{
    if (msg == NULL)
        return -EFAULT;
    if (msg->msg_name != NULL && (int)msg->msg_namelen < 0)
        return -EINVAL;
    if (msg->msg_iovlen > IOV_MAX)
        return -EMSGSIZE;
    if (msg->msg_iov == NULL && msg->msg_iovlen > 0)
        return -EFAULT;
    for (size_t i = 0; i < msg->msg_iovlen; i++)
        if ((ssize_t)msg->msg_iov[i].iov_len < 0)
            return -EINVAL;
    for (size_t i = 0; i < msg->msg_iovlen; i++)
        if (msg->msg_iov[i].iov_base == NULL && msg->msg_iov[i].iov_len > 0)
            return -EFAULT;
    return 0;
}

/* Fills a caller's msg_control buffer one control message at a time. */
struct cmsg_writer {
    uint8_t *buf; /* NULL: no room at all */
    size_t cap;
    size_t used;
    bool truncated; /* a message was left out for lack of room: MSG_CTRUNC */
};

/*
 * Appends one control message laid out as the CMSG_* macros read it: a
 * header whose cmsg_len is CMSG_LEN(len), the data at CMSG_DATA, padding up
 * to CMSG_SPACE(len) (the last one may go without its padding, as on Linux).
 * Written with memcpy, since nothing obliges the caller to align the buffer.
 */
static void put_cmsg(struct cmsg_writer *w, int level, int type, const void *data, size_t len)
{
    size_t whole = CMSG_LEN(len);
    if (w->buf == NULL || w->cap - w->used < whole) {
        w->truncated = true;
        return;
    }
    struct cmsghdr hdr;
    memset(&hdr, 0, sizeof(hdr));
    hdr.cmsg_len = whole;
    hdr.cmsg_level = level;
    hdr.cmsg_type = type;
    uint8_t *at = w->buf + w->used;
    memcpy(at, &hdr, sizeof(hdr));
    memcpy(at + CMSG_LEN(0), data, len); /* CMSG_LEN(0) is where CMSG_DATA points */
    size_t step = CMSG_SPACE(len);
    w->used += step < w->cap - w->used ? step : w->cap - w->used;
}

/*
 * IP_PKTINFO (RFC 1122 4.1.3.5: UDP passes the specific destination up, so an application can tell a
 * broadcast from a datagram to itself): ipi_addr is the IP destination, ipi_spec_dst the address a
 * reply would come from (ours, also for a broadcast), ipi_ifindex the one interface, 1. Net lock held.
 */
static void put_pktinfo(const struct ts_sock *sock, const struct ts_dgram_info *info, struct cmsg_writer *w)
{
    struct in_pktinfo pi;
    memset(&pi, 0, sizeof(pi));
    pi.ipi_ifindex = 1;
    pi.ipi_spec_dst.s_addr = htonl(ts_stack_config_of(sock->net->st)->addr);
    pi.ipi_addr.s_addr = htonl(info->to);
    put_cmsg(w, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
}

/* The IP header fields the socket asked for, in the order Linux emits them (PKTINFO, TTL, TOS). Net lock held. */
static void put_ip_cmsgs(const struct ts_sock *sock, const struct ts_dgram_info *info, struct cmsg_writer *w)
{
    if (sock->pktinfo)
        put_pktinfo(sock, info, w);
    if (sock->recvttl) {
        int ttl = info->ttl;
        put_cmsg(w, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
    }
    if (sock->recvtos) {
        unsigned char tos = info->tos;
        put_cmsg(w, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
    }
}

/* After a datagram was taken: the sender, the control messages and msg_flags. Net lock held. */
static void fill_msghdr(const struct ts_sock *sock, const struct recv_job *job, struct msghdr *msg)
{
    if (msg->msg_name != NULL)
        ts_addr_to_user(&job->info.from, msg->msg_name, &msg->msg_namelen);
    struct cmsg_writer w = {.buf = msg->msg_control, .cap = msg->msg_control != NULL ? msg->msg_controllen : 0};
    if (sock->type != SOCK_STREAM) /* a byte stream has no per-datagram header to report */
        put_ip_cmsgs(sock, &job->info, &w);
    msg->msg_controllen = w.used;
    msg->msg_flags = (job->truncated ? MSG_TRUNC : 0) | (w.truncated ? MSG_CTRUNC : 0);
}

ssize_t ts_recvmsg(int fd, struct msghdr *msg, int flags)
{
    struct ts_sock *sock = ts_sock_enter(fd);
    if (sock == NULL)
        return ts_fail(-EBADF);
    int rc = check_msghdr(msg);
    if (rc < 0)
        return ts_sock_leave_with(sock, rc);
    struct recv_job job = {.iov = msg->msg_iov, .iovcnt = msg->msg_iovlen, .flags = flags};
    ssize_t n = receive_any(sock, &job);
    if (n >= 0)
        fill_msghdr(sock, &job, msg);
    return ts_sock_leave_with(sock, n);
}

/* ---- descriptor flags ------------------------------------------------------------------------------ */

int ts_fcntl(int fd, int cmd, int arg)
{
    struct ts_sock *sock = ts_sock_enter(fd);
    if (sock == NULL)
        return ts_fail(-EBADF);
    int rc;
    switch (cmd) {
    case F_GETFL:
        rc = O_RDWR | (sock->nonblocking ? O_NONBLOCK : 0);
        break;
    case F_SETFL:
        sock->nonblocking = (arg & O_NONBLOCK) != 0;
        rc = 0;
        break;
    default:
        rc = -EINVAL;
        break;
    }
    return (int)ts_sock_leave_with(sock, rc);
}
