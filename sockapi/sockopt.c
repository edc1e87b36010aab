/*
 * ts_setsockopt / ts_getsockopt, and ts_tcp_info.
 *
 * Options map onto the core's ts_pcb_setopt where the core implements them
 * (SO_REUSEADDR, SO_BROADCAST, SO_RCVBUF, SO_SNDBUF, SO_KEEPALIVE, IP_TTL, IP_TOS, DF
 * through IP_MTU_DISCOVER, the IPPROTO_TCP options); timeouts, SO_TYPE,
 * SO_LINGER, the IP_MTU_DISCOVER mode and the IP_RECVTTL / IP_RECVTOS
 * switches (read by ts_recvmsg) live in the socket object. SO_KEEPALIVE and
 * SO_LINGER are stream options here (ENOPROTOOPT on datagram sockets, where
 * Linux records them without effect); IPPROTO_TCP options are ENOPROTOOPT on
 * anything but a stream, as on Linux. Lengths follow POSIX: a set with a short value is EINVAL, a get
 * into a short buffer is silently truncated, and *optlen says how much was
 * written. Buffer sizes are taken as given (Linux doubles them to cover
 * its bookkeeping; the core counts payload bytes, so there is nothing to cover).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/time.h>

#include "sockapi_internal.h"

/* ---- values in --------------------------------------------------------------------- */

static int read_int(const void *optval, socklen_t optlen, int *out)
{
    if (optlen < sizeof(int))
        return -EINVAL;
    if (optval == NULL)
        return -EFAULT;
    memcpy(out, optval, sizeof(int));
    return 0;
}

/*
 * struct timeval -> socket timeout, Linux's rules: usec outside [0, 1e6) is
 * EDOM, {0, 0} waits forever, a negative tv_sec never waits, and anything too
 * long to count in microseconds waits forever too.
 */
static int read_timeout(const void *optval, socklen_t optlen, ts_time *out)
{
    struct timeval tv;
    if (optlen < sizeof(tv))
        return -EINVAL;
    if (optval == NULL)
        return -EFAULT;
    memcpy(&tv, optval, sizeof(tv));
    if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
        return -EDOM;
    if (tv.tv_sec < 0) {
        *out = TS_TIMEO_NONE;
        return 0;
    }
    if (tv.tv_sec >= (INT64_MAX / 1000000) - 1) {
        *out = 0;
        return 0;
    }
    *out = (ts_time)tv.tv_sec * 1000000 + tv.tv_usec;
    return 0;
}

static int set_core_option(struct ts_sock *sock, enum ts_pcb_option opt, const void *optval, socklen_t optlen,
                           bool as_bool)
{
    int value;
    int rc = read_int(optval, optlen, &value);
    if (rc < 0)
        return rc;
    if (as_bool)
        value = value != 0;
    else if (value < 1)
        value = 1; /* Linux raises a buffer size below its minimum to the minimum instead of failing */
    return ts_pcb_setopt(sock->pcb, opt, value);
}

/* An int handed to the core as it is (the core checks its range). */
static int set_core_int(struct ts_sock *sock, enum ts_pcb_option opt, const void *optval, socklen_t optlen)
{
    int value;
    int rc = read_int(optval, optlen, &value);
    if (rc < 0)
        return rc;
    return ts_pcb_setopt(sock->pcb, opt, value);
}

/* SO_LINGER: struct linger, kept in the socket for ts_close (a stream option here). */
static int set_linger(struct ts_sock *sock, const void *optval, socklen_t optlen)
{
    if (sock->type != SOCK_STREAM)
        return -ENOPROTOOPT;
    struct linger lg;
    if (optlen < sizeof(lg))
        return -EINVAL;
    if (optval == NULL)
        return -EFAULT;
    memcpy(&lg, optval, sizeof(lg));
    sock->linger_on = lg.l_onoff != 0;
    sock->linger_secs = lg.l_linger;
    return 0;
}

static int set_socket_level(struct ts_sock *sock, int optname, const void *optval, socklen_t optlen)
{
    switch (optname) {
    case SO_KEEPALIVE:
        return set_core_option(sock, TS_OPT_KEEPALIVE, optval, optlen, true);
    case SO_LINGER:
        return set_linger(sock, optval, optlen);
    case SO_REUSEADDR:
        return set_core_option(sock, TS_OPT_REUSEADDR, optval, optlen, true);
    case SO_BROADCAST:
        return set_core_option(sock, TS_OPT_BROADCAST, optval, optlen, true);
    case SO_RCVBUF:
        return set_core_option(sock, TS_OPT_RCVBUF, optval, optlen, false);
    case SO_SNDBUF:
        return set_core_option(sock, TS_OPT_SNDBUF, optval, optlen, false);
    case SO_RCVTIMEO:
        return read_timeout(optval, optlen, &sock->rcvtimeo);
    case SO_SNDTIMEO:
        return read_timeout(optval, optlen, &sock->sndtimeo);
    default:
        /* SO_ERROR, SO_TYPE and SO_ACCEPTCONN are read-only: Linux answers ENOPROTOOPT to setting them too. */
        return -ENOPROTOOPT;
    }
}

/* IP_TTL: 1..255, or -1 for the stack's default (as Linux). */
static int set_ttl(struct ts_sock *sock, const void *optval, socklen_t optlen)
{
    int ttl;
    int rc = read_int(optval, optlen, &ttl);
    if (rc < 0)
        return rc;
    if (ttl == -1)
        ttl = ts_stack_config_of(sock->net->st)->default_ttl;
    if (ttl < 1 || ttl > 255)
        return -EINVAL;
    return ts_pcb_setopt(sock->pcb, TS_OPT_TTL, ttl);
}

/*
 * IP_MTU_DISCOVER: DO and PROBE set DF (a datagram above the MTU then fails
 * with EMSGSIZE); DONT, WANT, INTERFACE and OMIT leave it clear, since the
 * core keeps no path MTU to "want" discovery against.
 */
static int set_pmtudisc(struct ts_sock *sock, const void *optval, socklen_t optlen)
{
    int mode;
    int rc = read_int(optval, optlen, &mode);
    if (rc < 0)
        return rc;
    if (mode < IP_PMTUDISC_DONT || mode > IP_PMTUDISC_OMIT)
        return -EINVAL;
    bool dontfrag = mode == IP_PMTUDISC_DO || mode == IP_PMTUDISC_PROBE;
    rc = ts_pcb_setopt(sock->pcb, TS_OPT_DONTFRAG, dontfrag);
    if (rc == 0)
        sock->pmtudisc = mode;
    return rc;
}

/* An int boolean kept in the socket object: any nonzero value turns it on. */
static int set_flag(bool *flag, const void *optval, socklen_t optlen)
{
    int value;
    int rc = read_int(optval, optlen, &value);
    if (rc < 0)
        return rc;
    *flag = value != 0;
    return 0;
}

static int set_ip_level(struct ts_sock *sock, int optname, const void *optval, socklen_t optlen)
{
    switch (optname) {
    case IP_TTL:
        return set_ttl(sock, optval, optlen);
    case IP_MTU_DISCOVER:
        return set_pmtudisc(sock, optval, optlen);
    case IP_RECVTTL:
        return set_flag(&sock->recvttl, optval, optlen);
    case IP_RECVTOS:
        return set_flag(&sock->recvtos, optval, optlen);
    case IP_TOS:
        return set_core_int(sock, TS_OPT_TOS, optval, optlen);
    case IP_PKTINFO:
        return set_flag(&sock->pktinfo, optval, optlen);
    default:
        return -ENOPROTOOPT;
    }
}

/* Linux's TCP_CA_NAME_MAX: the room for a congestion control name, NUL included. */
#define TS_CC_NAME_MAX 16

/* TCP_CONGESTION: a name, not necessarily NUL-terminated, at most optlen bytes of it (Linux); ENOENT if unknown. */
static int set_congestion(struct ts_sock *sock, const void *optval, socklen_t optlen)
{
    if (optlen < 1)
        return -EINVAL;
    if (optval == NULL)
        return -EFAULT;
    char name[TS_CC_NAME_MAX];
    size_t n = optlen < sizeof(name) - 1 ? optlen : sizeof(name) - 1;
    memcpy(name, optval, n);
    name[n] = '\0';
    enum ts_tcp_congestion cc;
    if (strcmp(name, "cubic") == 0)
        cc = TS_CC_CUBIC;
    else if (strcmp(name, "reno") == 0)
        cc = TS_CC_RENO;
    else
        return -ENOENT;
    return ts_pcb_setopt(sock->pcb, TS_OPT_CONGESTION, cc);
}

static int set_tcp_level(struct ts_sock *sock, int optname, const void *optval, socklen_t optlen)
{
    if (sock->pcb_type != TS_PCB_TCP)
        return -ENOPROTOOPT;
    switch (optname) {
    case TCP_NODELAY:
        return set_core_option(sock, TS_OPT_NODELAY, optval, optlen, true);
    case TCP_KEEPIDLE:
        return set_core_int(sock, TS_OPT_KEEPIDLE, optval, optlen);
    case TCP_KEEPINTVL:
        return set_core_int(sock, TS_OPT_KEEPINTVL, optval, optlen);
    case TCP_KEEPCNT:
        return set_core_int(sock, TS_OPT_KEEPCNT, optval, optlen);
    case TCP_MAXSEG:
        return set_core_int(sock, TS_OPT_MAXSEG, optval, optlen);
    case TCP_USER_TIMEOUT:
        return set_core_int(sock, TS_OPT_USER_TIMEOUT, optval, optlen);
    case TCP_CONGESTION:
        return set_congestion(sock, optval, optlen);
    default:
        /* TCP_INFO is read-only. */
        return -ENOPROTOOPT;
    }
}

int ts_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
{
    struct ts_sock *sock = ts_sock_enter(fd);
    if (sock == NULL)
        return ts_fail(-EBADF);
    int rc;
    if ((int)optlen < 0)
        rc = -EINVAL;
    else if (level == SOL_SOCKET)
        rc = set_socket_level(sock, optname, optval, optlen);
    else if (level == IPPROTO_IP)
        rc = set_ip_level(sock, optname, optval, optlen);
    else if (level == IPPROTO_TCP)
        rc = set_tcp_level(sock, optname, optval, optlen);
    else
        rc = -ENOPROTOOPT;
    ts_sock_leave(sock);
    return rc < 0 ? ts_fail(rc) : 0;
}

/* ---- values out ---------------------------------------------------------------------------- */

/* Copies what fits (POSIX: "silently truncated") and records how much was written. */
static void write_value(const void *value, size_t size, void *optval, socklen_t *optlen)
{
    size_t n = *optlen < size ? *optlen : size;
    if (n > 0)
        memcpy(optval, value, n);
    *optlen = (socklen_t)n;
}

static int write_int(int value, void *optval, socklen_t *optlen)
{
    write_value(&value, sizeof(value), optval, optlen);
    return 0;
}

static int write_timeout(ts_time timeo, void *optval, socklen_t *optlen)
{
    struct timeval tv = {0, 0};
    if (timeo > 0) {
        tv.tv_sec = (time_t)(timeo / 1000000);
        tv.tv_usec = (suseconds_t)(timeo % 1000000);
    }
    write_value(&tv, sizeof(tv), optval, optlen);
    return 0;
}

static int get_core_option(const struct ts_sock *sock, enum ts_pcb_option opt, void *optval, socklen_t *optlen)
{
    int value = 0;
    int rc = ts_pcb_getopt(sock->pcb, opt, &value);
    if (rc < 0)
        return rc;
    return write_int(value, optval, optlen);
}

static int get_linger(const struct ts_sock *sock, void *optval, socklen_t *optlen)
{
    if (sock->type != SOCK_STREAM)
        return -ENOPROTOOPT;
    struct linger lg = {.l_onoff = sock->linger_on, .l_linger = sock->linger_secs};
    write_value(&lg, sizeof(lg), optval, optlen);
    return 0;
}

/* SO_ACCEPTCONN: whether listen() was called (always 0 on a datagram socket). */
static int get_acceptconn(const struct ts_sock *sock, void *optval, socklen_t *optlen)
{
    struct ts_tcp_info info;
    bool listening = sock->pcb_type == TS_PCB_TCP && ts_pcb_tcp_info(sock->pcb, &info) == 0 &&
                     info.state == TS_TCP_LISTEN;
    return write_int(listening, optval, optlen);
}

static int get_socket_level(struct ts_sock *sock, int optname, void *optval, socklen_t *optlen)
{
    switch (optname) {
    case SO_KEEPALIVE:
        return get_core_option(sock, TS_OPT_KEEPALIVE, optval, optlen);
    case SO_LINGER:
        return get_linger(sock, optval, optlen);
    case SO_ACCEPTCONN:
        return get_acceptconn(sock, optval, optlen);
    case SO_REUSEADDR:
        return get_core_option(sock, TS_OPT_REUSEADDR, optval, optlen);
    case SO_BROADCAST:
        return get_core_option(sock, TS_OPT_BROADCAST, optval, optlen);
    case SO_RCVBUF:
        return get_core_option(sock, TS_OPT_RCVBUF, optval, optlen);
    case SO_SNDBUF:
        return get_core_option(sock, TS_OPT_SNDBUF, optval, optlen);
    case SO_RCVTIMEO:
        return write_timeout(sock->rcvtimeo, optval, optlen);
    case SO_SNDTIMEO:
        return write_timeout(sock->sndtimeo, optval, optlen);
    case SO_ERROR: {
        /* Reading SO_ERROR clears it (POSIX). With no hard error pending, a TCP connection's soft error
         * (RFC 9293 3.8.4 MUST-47: an ICMP unreachable that did not abort it) is read and cleared, as
         * Linux does; the connection goes on. */
        int err = ts_pcb_take_error(sock->pcb);
        if (err == 0)
            err = ts_pcb_take_soft_error(sock->pcb);
        return write_int(err, optval, optlen);
    }
    case SO_TYPE:
        return write_int(sock->type, optval, optlen);
    default:
        return -ENOPROTOOPT;
    }
}

static int get_ip_level(struct ts_sock *sock, int optname, void *optval, socklen_t *optlen)
{
    switch (optname) {
    case IP_TTL:
        return get_core_option(sock, TS_OPT_TTL, optval, optlen);
    case IP_MTU_DISCOVER:
        return write_int(sock->pmtudisc, optval, optlen);
    case IP_RECVTTL:
        return write_int(sock->recvttl, optval, optlen);
    case IP_RECVTOS:
        return write_int(sock->recvtos, optval, optlen);
    case IP_TOS:
        return get_core_option(sock, TS_OPT_TOS, optval, optlen);
    case IP_PKTINFO:
        return write_int(sock->pktinfo, optval, optlen);
    default:
        return -ENOPROTOOPT;
    }
}

/* TCP_CONGESTION: the name in a zero-padded field of TS_CC_NAME_MAX bytes, cut to *optlen (Linux). */
static int get_congestion(const struct ts_sock *sock, void *optval, socklen_t *optlen)
{
    int value = TS_CC_CUBIC;
    int rc = ts_pcb_getopt(sock->pcb, TS_OPT_CONGESTION, &value);
    if (rc < 0)
        return rc;
    char name[TS_CC_NAME_MAX];
    memset(name, 0, sizeof(name));
    strcpy(name, value == TS_CC_RENO ? "reno" : "cubic");
    write_value(name, sizeof(name), optval, optlen);
    return 0;
}

static int get_tcp_info(const struct ts_sock *sock, void *optval, socklen_t *optlen)
{
    struct ts_tcp_info info;
    int rc = ts_pcb_tcp_info(sock->pcb, &info);
    if (rc < 0)
        return rc;
    write_value(&info, sizeof(info), optval, optlen);
    return 0;
}

static int get_tcp_level(struct ts_sock *sock, int optname, void *optval, socklen_t *optlen)
{
    if (sock->pcb_type != TS_PCB_TCP)
        return -ENOPROTOOPT;
    switch (optname) {
    case TCP_NODELAY:
        return get_core_option(sock, TS_OPT_NODELAY, optval, optlen);
    case TCP_KEEPIDLE:
        return get_core_option(sock, TS_OPT_KEEPIDLE, optval, optlen);
    case TCP_KEEPINTVL:
        return get_core_option(sock, TS_OPT_KEEPINTVL, optval, optlen);
    case TCP_KEEPCNT:
        return get_core_option(sock, TS_OPT_KEEPCNT, optval, optlen);
    case TCP_MAXSEG:
        return get_core_option(sock, TS_OPT_MAXSEG, optval, optlen);
    case TCP_USER_TIMEOUT:
        return get_core_option(sock, TS_OPT_USER_TIMEOUT, optval, optlen);
    case TCP_CONGESTION:
        return get_congestion(sock, optval, optlen);
    case TCP_INFO:
        return get_tcp_info(sock, optval, optlen);
    default:
        return -ENOPROTOOPT;
    }
}

int ts_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
{
    struct ts_sock *sock = ts_sock_enter(fd);
    if (sock == NULL)
        return ts_fail(-EBADF);
    int rc;
    if (optlen == NULL)
        rc = -EFAULT;
    else if ((int)*optlen < 0)
        rc = -EINVAL;
    else if (optval == NULL && *optlen > 0)
        rc = -EFAULT;
    else if (level == SOL_SOCKET)
        rc = get_socket_level(sock, optname, optval, optlen);
    else if (level == IPPROTO_IP)
        rc = get_ip_level(sock, optname, optval, optlen);
    else if (level == IPPROTO_TCP)
        rc = get_tcp_level(sock, optname, optval, optlen);
    else
        rc = -ENOPROTOOPT;
    ts_sock_leave(sock);
    return rc < 0 ? ts_fail(rc) : 0;
}

int ts_tcp_info(int fd, struct ts_tcp_info *info)
{
    struct ts_sock *sock = ts_sock_enter(fd);
    if (sock == NULL)
        return ts_fail(-EBADF);
    int rc;
    if (info == NULL)
        rc = -EFAULT;
    else if (sock->pcb_type != TS_PCB_TCP)
        rc = -EOPNOTSUPP;
    else
        rc = ts_pcb_tcp_info(sock->pcb, info);
    ts_sock_leave(sock);
    return rc < 0 ? ts_fail(rc) : 0;
}
