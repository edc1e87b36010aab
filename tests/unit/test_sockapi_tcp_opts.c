/* Stream socket options: SOL_SOCKET ones that matter for streams, IPPROTO_TCP, TCP_INFO; and handshakes that fail. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include "sockapi_tcp.h"

static struct sockapi_pair pair;

/* Failures come quickly: ARP gives up after two 50 ms tries, a SYN is tried twice 100 ms apart. */
static void fast_failures(struct ts_stack_config *cfg)
{
    cfg->timing.arp_retry_interval = TS_MSEC(50);
    cfg->timing.arp_max_retries = 2;
    cfg->timing.tcp_rto_initial = TS_MSEC(100);
    cfg->timing.tcp_syn_retries = 2;
}

static void setup(void)
{
    cr_assert(sockapi_tcp_pair_start(&pair, fast_failures), "fixture: %s", pair.error);
}

static void teardown(void)
{
    sockapi_pair_stop(&pair);
}

TestSuite(sockapi_tcp_opts, .init = setup, .fini = teardown, .timeout = 20);

static void assert_fails_with(long rc, int err)
{
    int got = errno;
    cr_assert_eq(rc, -1, "expected failure with %s, got %ld", strerror(err), rc);
    cr_assert_eq(got, err, "expected %s, got %s", strerror(err), strerror(got));
}

static int set_int(int fd, int level, int name, int value)
{
    return ts_setsockopt(fd, level, name, &value, sizeof(value));
}

static int get_int(int fd, int level, int name)
{
    int value = -12345;
    socklen_t len = sizeof(value);
    cr_assert_eq(ts_getsockopt(fd, level, name, &value, &len), 0, "getsockopt(%d, %d): %s", level, name,
                 strerror(errno));
    cr_assert_eq(len, sizeof(value));
    return value;
}

static void connect_pair(uint16_t port, int *client, int *server)
{
    cr_assert(sockapi_tcp_connected(&pair, port, client, server), "connection setup on port %u: %s", port,
              strerror(errno));
}

/* ---- TCP_CONGESTION ----------------------------------------------------------------------------------- */

static void assert_congestion(int fd, const char *expected)
{
    char name[32];
    memset(name, 'x', sizeof(name));
    socklen_t len = sizeof(name);
    cr_assert_eq(ts_getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len), 0, "%s", strerror(errno));
    cr_assert_eq(len, 16, "Linux's TCP_CA_NAME_MAX, zero-padded");
    cr_assert_str_eq(name, expected);
}

Test(sockapi_tcp_opts, tcp_congestion_is_cubic_by_default_takes_reno_and_refuses_unknown_names)
{
    int fd = ts_socket(AF_INET, SOCK_STREAM, 0);
    assert_congestion(fd, "cubic");
    cr_assert_eq(ts_setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "reno", 4), 0, "%s", strerror(errno));
    assert_congestion(fd, "reno");
    assert_fails_with(ts_setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "vegas", 6), ENOENT);
    assert_congestion(fd, "reno");
    /* The length counts, not a terminator: "cubicle" cut to 5 bytes is "cubic". */
    cr_assert_eq(ts_setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "cubicle", 5), 0);
    assert_congestion(fd, "cubic");
    assert_fails_with(ts_setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "reno", 0), EINVAL);
    char shortbuf[3];
    socklen_t len = sizeof(shortbuf);
    cr_assert_eq(ts_getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, shortbuf, &len), 0);
    cr_assert_eq(len, 3, "a short buffer is filled and no more");
    cr_assert_eq(memcmp(shortbuf, "cub", 3), 0);
}

Test(sockapi_tcp_opts, tcp_congestion_set_on_a_connection_shows_in_tcp_info)
{
    int c, s;
    connect_pair(7600, &c, &s);
    cr_assert_eq(ts_setsockopt(c, IPPROTO_TCP, TCP_CONGESTION, "reno", 5), 0, "%s", strerror(errno));
    struct ts_tcp_info info;
    cr_assert_eq(ts_tcp_info(c, &info), 0);
    cr_assert_str_eq(info.congestion, "reno");
    assert_congestion(c, "reno");
    assert_congestion(s, "cubic");
}

/* ---- TCP_INFO ------------------------------------------------------------------------------------------- */

Test(sockapi_tcp_opts, tcp_info_shows_established_and_a_measured_rtt_after_a_transfer)
{
    int c, s;
    connect_pair(7601, &c, &s);
    enum { LEN = 200000 };
    uint8_t *buf = malloc(LEN);
    for (size_t i = 0; i < LEN; i++)
        buf[i] = sockapi_tcp_pattern(9, i);
    cr_assert_eq(ts_send(c, buf, LEN, 0), LEN, "%s", strerror(errno));
    uint8_t *in = malloc(LEN);
    cr_assert(sockapi_tcp_recv_all(s, in, LEN));
    cr_assert_eq(memcmp(in, buf, LEN), 0);

    /* Every byte is acknowledged shortly after the peer has read it all. */
    struct ts_tcp_info info;
    int64_t until = sockapi_now_ms() + 2000;
    do {
        cr_assert_eq(ts_tcp_info(c, &info), 0, "%s", strerror(errno));
    } while (info.bytes_acked < LEN && sockapi_now_ms() < until && (sockapi_sleep_ms(5), true));
    cr_assert_eq(info.state, TS_TCP_ESTABLISHED);
    cr_assert_gt(info.srtt, 0);
    cr_assert_gt(info.rto, 0);
    cr_assert_geq(info.bytes_acked, LEN);
    cr_assert_gt(info.snd_mss, 0);
    cr_assert_gt(info.cwnd, 0);

    struct ts_tcp_info via_opt;
    socklen_t len = sizeof(via_opt);
    cr_assert_eq(ts_getsockopt(s, IPPROTO_TCP, TCP_INFO, &via_opt, &len), 0, "%s", strerror(errno));
    cr_assert_eq(len, sizeof(via_opt));
    cr_assert_eq(via_opt.state, TS_TCP_ESTABLISHED);
    cr_assert_geq(via_opt.bytes_received, LEN);
    free(buf);
    free(in);
}

Test(sockapi_tcp_opts, tcp_info_of_a_listener_and_of_an_unconnected_socket)
{
    int lfd = sockapi_tcp_listener(pair.b, 7602, 4);
    struct ts_tcp_info info;
    cr_assert_eq(ts_tcp_info(lfd, &info), 0);
    cr_assert_eq(info.state, TS_TCP_LISTEN);
    int fd = ts_socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(ts_tcp_info(fd, &info), 0);
    cr_assert_eq(info.state, TS_TCP_CLOSED);
    assert_fails_with(ts_tcp_info(fd, NULL), EFAULT);
    assert_fails_with(ts_tcp_info(9999, &info), EBADF);
    assert_fails_with(ts_setsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, sizeof(info)), ENOPROTOOPT);
}

/* ---- the other options --------------------------------------------------------------------------------- */

Test(sockapi_tcp_opts, nodelay_keepalive_and_its_timers_round_trip)
{
    int fd = ts_socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
    cr_assert_eq(set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1), 0);
    cr_assert_eq(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
    cr_assert_eq(set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 5), 0);
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
    cr_assert_eq(set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, 30), 0);
    cr_assert_eq(set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, 5), 0);
    cr_assert_eq(set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, 4), 0);
    cr_assert_eq(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 30);
    cr_assert_eq(get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), 5);
    cr_assert_eq(get_int(fd, IPPROTO_TCP, TCP_KEEPCNT), 4);
    assert_fails_with(set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, 0), EINVAL);
    assert_fails_with(set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, -1), EINVAL);
    assert_fails_with(ts_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, "", 1), EINVAL);
    assert_fails_with(set_int(fd, IPPROTO_TCP, 9999, 1), ENOPROTOOPT);
}

Test(sockapi_tcp_opts, tcp_maxseg_caps_the_segment_size_both_ends_use)
{
    int lfd = sockapi_tcp_listener(pair.b, 7603, 4);
    int c = ts_socket_on(pair.a, AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(set_int(c, IPPROTO_TCP, TCP_MAXSEG, 1000), 0, "%s", strerror(errno));
    assert_fails_with(set_int(c, IPPROTO_TCP, TCP_MAXSEG, 10), EINVAL);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 7603);
    cr_assert_eq(sockapi_set_sndtimeo_ms(c, 3000), 0);
    cr_assert_eq(ts_connect(c, (const struct sockaddr *)&to, sizeof(to)), 0, "%s", strerror(errno));
    cr_assert_eq(sockapi_set_rcvtimeo_ms(lfd, 3000), 0);
    int s = ts_accept(lfd, NULL, NULL);
    cr_assert_geq(s, 0, "%s", strerror(errno));
    int mss = get_int(c, IPPROTO_TCP, TCP_MAXSEG);
    cr_assert_gt(mss, 0);
    cr_assert_leq(mss, 1000);
    struct ts_tcp_info info;
    cr_assert_eq(ts_tcp_info(s, &info), 0);
    cr_assert_leq(info.snd_mss, 1000, "the server sends no more than the client announced");
}

Test(sockapi_tcp_opts, buffer_sizes_linger_and_acceptconn_on_streams)
{
    int fd = ts_socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(set_int(fd, SOL_SOCKET, SO_RCVBUF, 32768), 0);
    cr_assert_eq(set_int(fd, SOL_SOCKET, SO_SNDBUF, 16384), 0);
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_RCVBUF), 32768);
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_SNDBUF), 16384);
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 0);
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_ERROR), 0);
    assert_fails_with(set_int(fd, SOL_SOCKET, SO_ACCEPTCONN, 1), ENOPROTOOPT);

    struct linger lg;
    socklen_t len = sizeof(lg);
    cr_assert_eq(ts_getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len), 0);
    cr_assert_eq(lg.l_onoff, 0);
    lg = (struct linger){.l_onoff = 1, .l_linger = 7};
    assert_fails_with(ts_setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(int)), EINVAL);
    cr_assert_eq(ts_setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    memset(&lg, 0, sizeof(lg));
    cr_assert_eq(ts_getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len), 0);
    cr_assert_eq(lg.l_onoff, 1);
    cr_assert_eq(lg.l_linger, 7);

    int udp = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(get_int(udp, SOL_SOCKET, SO_ACCEPTCONN), 0);
}

Test(sockapi_tcp_opts, tcp_options_on_datagram_sockets_are_enoprotoopt)
{
    int udp = ts_socket(AF_INET, SOCK_DGRAM, 0);
    int optnames[] = {TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_MAXSEG, TCP_CONGESTION, TCP_INFO};
    for (size_t i = 0; i < sizeof(optnames) / sizeof(optnames[0]); i++) {
        assert_fails_with(set_int(udp, IPPROTO_TCP, optnames[i], 1), ENOPROTOOPT);
        char value[sizeof(struct ts_tcp_info)];
        socklen_t len = sizeof(value);
        assert_fails_with(ts_getsockopt(udp, IPPROTO_TCP, optnames[i], value, &len), ENOPROTOOPT);
    }
    struct ts_tcp_info info;
    assert_fails_with(ts_tcp_info(udp, &info), EOPNOTSUPP);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_fails_with(ts_setsockopt(udp, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), ENOPROTOOPT);
}

Test(sockapi_tcp_opts, accepted_sockets_inherit_the_listeners_options_but_not_its_flags)
{
    int lfd = sockapi_tcp_listener(pair.b, 7604, 4);
    cr_assert_eq(set_int(lfd, IPPROTO_TCP, TCP_NODELAY, 1), 0);
    cr_assert_eq(set_int(lfd, SOL_SOCKET, SO_KEEPALIVE, 1), 0);
    struct linger lg = {.l_onoff = 1, .l_linger = 3};
    cr_assert_eq(ts_setsockopt(lfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(lfd, 1500), 0);
    cr_assert_eq(ts_fcntl(lfd, F_SETFL, O_NONBLOCK), 0);
    int c = sockapi_tcp_connect(pair.a, SOCKAPI_ADDR_B, 7604);
    cr_assert_geq(c, 0, "%s", strerror(errno));
    struct pollfd pfd = {.fd = lfd, .events = POLLIN};
    cr_assert_eq(ts_poll(&pfd, 1, 2000), 1);
    int s = ts_accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    cr_assert_geq(s, 0, "%s", strerror(errno));
    cr_assert(ts_fcntl(s, F_GETFL, 0) & O_NONBLOCK);
    cr_assert_eq(get_int(s, IPPROTO_TCP, TCP_NODELAY), 1);
    cr_assert_eq(get_int(s, SOL_SOCKET, SO_KEEPALIVE), 1);
    struct linger got;
    socklen_t len = sizeof(got);
    cr_assert_eq(ts_getsockopt(s, SOL_SOCKET, SO_LINGER, &got, &len), 0);
    cr_assert_eq(got.l_onoff, 1);
    cr_assert_eq(got.l_linger, 3);
    struct timeval tv;
    len = sizeof(tv);
    cr_assert_eq(ts_getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, &len), 0);
    cr_assert_eq(tv.tv_sec, 1);
    cr_assert_eq(tv.tv_usec, 500000);
    int blocking = ts_accept4(lfd, NULL, NULL, 0);
    cr_assert_eq(blocking, -1, "the listener itself is still non-blocking");
    cr_assert_eq(errno, EAGAIN);
}

/* ---- handshakes that fail ------------------------------------------------------------------------------- */

static short wait_for_failure(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int n = ts_poll(&pfd, 1, 2500);
    cr_assert_eq(n, 1, "poll: %d (%s)", n, strerror(errno));
    return pfd.revents;
}

Test(sockapi_tcp_opts, a_connect_to_an_address_nobody_owns_fails_with_ehostunreach)
{
    int fd = ts_socket_on(pair.a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in to = sockapi_sin(TS_IPV4(10, 0, 0, 9), 7605);
    assert_fails_with(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), EINPROGRESS);
    short rev = wait_for_failure(fd);
    cr_assert(rev & POLLERR, "revents 0x%x", rev);
    cr_assert(rev & POLLHUP, "revents 0x%x", rev);
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_ERROR), EHOSTUNREACH);
}

Test(sockapi_tcp_opts, a_blocking_connect_to_an_address_nobody_owns_fails_with_ehostunreach)
{
    int fd = ts_socket_on(pair.a, AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(sockapi_set_sndtimeo_ms(fd, 2500), 0);
    struct sockaddr_in to = sockapi_sin(TS_IPV4(10, 0, 0, 9), 7607);
    int64_t start = sockapi_now_ms();
    assert_fails_with(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), EHOSTUNREACH);
    cr_assert_lt(sockapi_now_ms() - start, 1000, "ARP gives up after 100 ms");
}

Test(sockapi_tcp_opts, a_connect_whose_syns_go_unanswered_fails_with_etimedout)
{
    /* 10.0.0.3 has an address on the link (a static ARP entry) that nobody owns: the SYNs vanish. */
    const uint8_t nobody[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x33};
    ts_net_lock(pair.a);
    cr_assert_eq(ts_stack_arp_add_static(ts_net_stack(pair.a), TS_IPV4(10, 0, 0, 3), nobody), 0);
    ts_net_unlock(pair.a);
    int fd = ts_socket_on(pair.a, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = sockapi_sin(TS_IPV4(10, 0, 0, 3), 7606);
    int64_t start = sockapi_now_ms();
    assert_fails_with(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), ETIMEDOUT);
    cr_assert_lt(sockapi_now_ms() - start, 2500);
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_ERROR), 0, "the blocking connect reported the error already");
}
