/* Stream sockets through the socket API: opening, connecting, accepting, the byte stream and its ends. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/uio.h>

#include "sockapi_tcp.h"

static struct sockapi_pair pair;

static void setup(void)
{
    cr_assert(sockapi_tcp_pair_start(&pair, NULL), "fixture: %s", pair.error);
}

static void teardown(void)
{
    sockapi_pair_stop(&pair);
}

TestSuite(sockapi_tcp, .init = setup, .fini = teardown, .timeout = 20);

static void assert_fails_with(long rc, int err)
{
    int got = errno;
    cr_assert_eq(rc, -1, "expected failure with %s, got %ld", strerror(err), rc);
    cr_assert_eq(got, err, "expected %s, got %s", strerror(err), strerror(got));
}

static void connect_pair(uint16_t port, int *client, int *server)
{
    cr_assert(sockapi_tcp_connected(&pair, port, client, server), "connection setup on port %u: %s", port,
              strerror(errno));
}

/* ---- opening --------------------------------------------------------------------------------- */

Test(sockapi_tcp, stream_sockets_open_with_protocol_zero_or_tcp_and_say_sock_stream)
{
    int a = ts_socket(AF_INET, SOCK_STREAM, 0);
    int b = ts_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP);
    cr_assert_geq(a, 0, "%s", strerror(errno));
    cr_assert_geq(b, 0, "%s", strerror(errno));
    int type = 0;
    socklen_t len = sizeof(type);
    cr_assert_eq(ts_getsockopt(b, SOL_SOCKET, SO_TYPE, &type, &len), 0);
    cr_assert_eq(type, SOCK_STREAM);
    cr_assert(ts_fcntl(b, F_GETFL, 0) & O_NONBLOCK);
    cr_assert_eq(ts_fcntl(a, F_GETFL, 0) & O_NONBLOCK, 0);
    assert_fails_with(ts_socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
}

Test(sockapi_tcp, listen_and_accept_refuse_datagram_sockets)
{
    int fd = sockapi_udp_bound(pair.b, 7300);
    assert_fails_with(ts_listen(fd, 4), EOPNOTSUPP);
    assert_fails_with(ts_accept(fd, NULL, NULL), EOPNOTSUPP);
}

Test(sockapi_tcp, accept_on_a_socket_that_does_not_listen_is_einval)
{
    int fd = ts_socket_on(pair.b, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = sockapi_sin(0, 7301);
    cr_assert_eq(ts_bind(fd, (const struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_fails_with(ts_accept(fd, NULL, NULL), EINVAL);
    assert_fails_with(ts_accept4(fd, NULL, NULL, 0x4000000), EINVAL);
}

Test(sockapi_tcp, non_blocking_accept_with_nothing_pending_is_eagain_and_says_acceptconn)
{
    int lfd = sockapi_tcp_listener(pair.b, 7302, 4);
    cr_assert_geq(lfd, 0, "%s", strerror(errno));
    int on = -1;
    socklen_t len = sizeof(on);
    cr_assert_eq(ts_getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len), 0);
    cr_assert_eq(on, 1);
    cr_assert_eq(ts_fcntl(lfd, F_SETFL, O_NONBLOCK), 0);
    assert_fails_with(ts_accept(lfd, NULL, NULL), EAGAIN);
}

Test(sockapi_tcp, blocking_accept_honours_so_rcvtimeo)
{
    int lfd = sockapi_tcp_listener(pair.b, 7303, 4);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(lfd, 150), 0);
    int64_t start = sockapi_now_ms();
    assert_fails_with(ts_accept(lfd, NULL, NULL), EAGAIN);
    int64_t elapsed = sockapi_now_ms() - start;
    cr_assert_geq(elapsed, 140, "returned after %lld ms", (long long)elapsed);
    cr_assert_lt(elapsed, 1500, "returned after %lld ms", (long long)elapsed);
}

/* ---- connect and accept ------------------------------------------------------------------------ */

Test(sockapi_tcp, connect_accept_and_echo_round_trip_with_the_right_addresses)
{
    int lfd = sockapi_tcp_listener(pair.b, 7310, 4);
    cr_assert_geq(lfd, 0, "%s", strerror(errno));
    int c = sockapi_tcp_connect(pair.a, SOCKAPI_ADDR_B, 7310);
    cr_assert_geq(c, 0, "connect: %s", strerror(errno));
    struct sockaddr_in peer;
    socklen_t plen = sizeof(peer);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(lfd, 3000), 0);
    int s = ts_accept(lfd, (struct sockaddr *)&peer, &plen);
    cr_assert_geq(s, 0, "accept: %s", strerror(errno));
    cr_assert_eq(plen, sizeof(peer));
    cr_assert_eq(peer.sin_family, AF_INET);
    cr_assert_eq(ntohl(peer.sin_addr.s_addr), SOCKAPI_ADDR_A);

    struct sockaddr_in local;
    socklen_t llen = sizeof(local);
    cr_assert_eq(ts_getsockname(c, (struct sockaddr *)&local, &llen), 0);
    cr_assert_eq(local.sin_port, peer.sin_port, "the client's port is the one the server sees");
    struct sockaddr_in server_name;
    socklen_t slen = sizeof(server_name);
    cr_assert_eq(ts_getpeername(c, (struct sockaddr *)&server_name, &slen), 0);
    cr_assert_eq(ntohl(server_name.sin_addr.s_addr), SOCKAPI_ADDR_B);
    cr_assert_eq(ntohs(server_name.sin_port), 7310);

    cr_assert_eq(sockapi_set_rcvtimeo_ms(s, 3000), 0);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(c, 3000), 0);
    cr_assert_eq(ts_send(c, "hello", 5, 0), 5, "%s", strerror(errno));
    char buf[16];
    cr_assert_eq(ts_recv(s, buf, sizeof(buf), 0), 5, "%s", strerror(errno));
    cr_assert_eq(memcmp(buf, "hello", 5), 0);
    cr_assert_eq(ts_send(s, buf, 5, 0), 5, "%s", strerror(errno));
    memset(buf, 0, sizeof(buf));
    cr_assert_eq(ts_recv(c, buf, sizeof(buf), 0), 5, "%s", strerror(errno));
    cr_assert_eq(memcmp(buf, "hello", 5), 0);
}

Test(sockapi_tcp, blocking_connect_to_a_closed_port_fails_with_econnrefused)
{
    int fd = ts_socket_on(pair.a, AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(sockapi_set_sndtimeo_ms(fd, 3000), 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 7311);
    int64_t start = sockapi_now_ms();
    assert_fails_with(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), ECONNREFUSED);
    cr_assert_lt(sockapi_now_ms() - start, 2000);
    struct sockaddr_in peer;
    socklen_t len = sizeof(peer);
    assert_fails_with(ts_getpeername(fd, (struct sockaddr *)&peer, &len), ENOTCONN);
}

/* Waits (bounded) for any of `events` on fd; returns revents. */
static short poll_one(int fd, short events, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int n = ts_poll(&pfd, 1, timeout_ms);
    cr_assert_geq(n, 0, "poll: %s", strerror(errno));
    return n == 0 ? 0 : pfd.revents;
}

static int so_error(int fd)
{
    int err = -1;
    socklen_t len = sizeof(err);
    cr_assert_eq(ts_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    return err;
}

Test(sockapi_tcp, non_blocking_connect_is_einprogress_then_pollout_and_so_error_zero_then_eisconn)
{
    int lfd = sockapi_tcp_listener(pair.b, 7312, 4);
    int fd = ts_socket_on(pair.a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 7312);
    assert_fails_with(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), EINPROGRESS);
    short rev = poll_one(fd, POLLOUT, 3000);
    cr_assert(rev & POLLOUT, "revents 0x%x", rev);
    cr_assert_eq(rev & (POLLERR | POLLHUP), 0, "revents 0x%x", rev);
    cr_assert_eq(so_error(fd), 0);
    assert_fails_with(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), EISCONN);
    cr_assert_eq(ts_fcntl(fd, F_SETFL, 0), 0);
    assert_fails_with(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), EISCONN);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(lfd, 3000), 0);
    cr_assert_geq(ts_accept(lfd, NULL, NULL), 0, "%s", strerror(errno));
}

Test(sockapi_tcp, non_blocking_connect_to_a_closed_port_reports_pollerr_and_econnrefused)
{
    int fd = ts_socket_on(pair.a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 7313);
    assert_fails_with(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), EINPROGRESS);
    short rev = poll_one(fd, POLLOUT, 3000);
    cr_assert(rev & POLLERR, "revents 0x%x", rev);
    cr_assert(rev & POLLHUP, "revents 0x%x", rev);
    cr_assert_eq(so_error(fd), ECONNREFUSED);
    cr_assert_eq(so_error(fd), 0, "reading SO_ERROR clears it");
}

/* 10.0.0.3 answers nothing: net a knows a MAC for it, but nobody on the link has that MAC. */
static void add_silent_host(void)
{
    const uint8_t nobody[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x33};
    ts_net_lock(pair.a);
    int rc = ts_stack_arp_add_static(ts_net_stack(pair.a), TS_IPV4(10, 0, 0, 3), nobody);
    ts_net_unlock(pair.a);
    cr_assert_eq(rc, 0);
}

Test(sockapi_tcp, a_second_connect_while_the_handshake_runs_is_ealready)
{
    add_silent_host();
    int fd = ts_socket_on(pair.a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in to = sockapi_sin(TS_IPV4(10, 0, 0, 3), 7314);
    assert_fails_with(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), EINPROGRESS);
    assert_fails_with(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), EALREADY);
    cr_assert_eq(poll_one(fd, POLLOUT, 0), 0, "not connected yet");
    struct sockaddr_in peer;
    socklen_t len = sizeof(peer);
    assert_fails_with(ts_getpeername(fd, (struct sockaddr *)&peer, &len), ENOTCONN);
}

Test(sockapi_tcp, a_blocking_connect_that_outlasts_so_sndtimeo_is_einprogress)
{
    add_silent_host();
    int fd = ts_socket_on(pair.a, AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(sockapi_set_sndtimeo_ms(fd, 200), 0);
    struct sockaddr_in to = sockapi_sin(TS_IPV4(10, 0, 0, 3), 7315);
    int64_t start = sockapi_now_ms();
    assert_fails_with(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), EINPROGRESS);
    int64_t elapsed = sockapi_now_ms() - start;
    cr_assert_geq(elapsed, 190, "returned after %lld ms", (long long)elapsed);
    cr_assert_lt(elapsed, 1500, "returned after %lld ms", (long long)elapsed);
    /* The handshake goes on: a later connect is told so. */
    cr_assert_eq(ts_fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    assert_fails_with(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), EALREADY);
}

Test(sockapi_tcp, unconnected_streams_say_enotconn_and_cannot_listen_once_connected)
{
    int fd = ts_socket_on(pair.a, AF_INET, SOCK_STREAM, 0);
    char buf[4];
    assert_fails_with(ts_send(fd, "x", 1, 0), ENOTCONN);
    assert_fails_with(ts_recv(fd, buf, sizeof(buf), 0), ENOTCONN);
    assert_fails_with(ts_shutdown(fd, SHUT_WR), ENOTCONN);
    struct sockaddr_in peer;
    socklen_t len = sizeof(peer);
    assert_fails_with(ts_getpeername(fd, (struct sockaddr *)&peer, &len), ENOTCONN);

    int c, s;
    connect_pair(7316, &c, &s);
    assert_fails_with(ts_listen(c, 4), EINVAL);
    assert_fails_with(ts_shutdown(c, 7), EINVAL);
    struct sockaddr_in unspec = sockapi_sin(0, 0);
    unspec.sin_family = AF_UNSPEC;
    assert_fails_with(ts_connect(c, (const struct sockaddr *)&unspec, sizeof(unspec)), EAFNOSUPPORT);
}

/* ---- the byte stream's ends -------------------------------------------------------------------- */

Test(sockapi_tcp, half_close_gives_eof_one_way_while_the_other_way_still_works)
{
    int c, s;
    connect_pair(7320, &c, &s);
    cr_assert_eq(ts_send(c, "last", 4, 0), 4);
    cr_assert_eq(ts_shutdown(c, SHUT_WR), 0, "%s", strerror(errno));
    assert_fails_with(ts_send(c, "more", 4, 0), EPIPE);

    char buf[16];
    cr_assert_eq(ts_recv(s, buf, sizeof(buf), MSG_WAITALL), 4, "the data, then the end of the stream");
    cr_assert_eq(memcmp(buf, "last", 4), 0);
    cr_assert_eq(ts_recv(s, buf, sizeof(buf), 0), 0, "EOF: %s", strerror(errno));
    cr_assert_eq(ts_recv(s, buf, sizeof(buf), 0), 0, "EOF stays EOF");
    cr_assert(poll_one(s, POLLIN, 0) & POLLIN, "EOF is readable");

    cr_assert_eq(ts_send(s, "reply", 5, 0), 5, "%s", strerror(errno));
    cr_assert_eq(ts_recv(c, buf, sizeof(buf), 0), 5, "%s", strerror(errno));
    cr_assert_eq(memcmp(buf, "reply", 5), 0);
    cr_assert_eq(ts_shutdown(s, SHUT_WR), 0);
    cr_assert_eq(ts_recv(c, buf, sizeof(buf), 0), 0);
    cr_assert(poll_one(c, POLLIN, 1000) & POLLHUP, "both directions finished: POLLHUP");
}

Test(sockapi_tcp, msg_peek_leaves_the_bytes_and_peek_waitall_waits_for_all_of_them)
{
    int c, s;
    connect_pair(7321, &c, &s);
    cr_assert_eq(ts_send(c, "abc", 3, 0), 3);
    cr_assert_eq(ts_send(c, "def", 3, 0), 3);
    char buf[8] = {0};
    cr_assert_eq(ts_recv(s, buf, 6, MSG_PEEK | MSG_WAITALL), 6, "%s", strerror(errno));
    cr_assert_eq(memcmp(buf, "abcdef", 6), 0);
    memset(buf, 0, sizeof(buf));
    cr_assert_eq(ts_recv(s, buf, 3, MSG_PEEK), 3);
    cr_assert_eq(memcmp(buf, "abc", 3), 0);
    cr_assert_eq(ts_recv(s, buf, sizeof(buf), 0), 6);
    cr_assert_eq(memcmp(buf, "abcdef", 6), 0);
    assert_fails_with(ts_recv(s, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT), EAGAIN);
    cr_assert_eq(ts_recv(s, buf, 0, 0), 0, "a zero-length read returns 0 at once");
    assert_fails_with(ts_recv(s, buf, sizeof(buf), MSG_OOB), EOPNOTSUPP);
}

struct chunk_sender {
    int fd;
    int chunks;
    long gap_ms;
    ssize_t sent;
};

static void *send_chunks(void *arg)
{
    struct chunk_sender *cs = arg;
    cs->sent = 0;
    for (int i = 0; i < cs->chunks; i++) {
        sockapi_sleep_ms(cs->gap_ms);
        char chunk[10];
        memset(chunk, 'a' + i, sizeof(chunk));
        ssize_t n = ts_send(cs->fd, chunk, sizeof(chunk), 0);
        if (n < 0)
            return NULL;
        cs->sent += n;
    }
    return NULL;
}

Test(sockapi_tcp, msg_waitall_collects_several_segments_and_stops_short_at_eof)
{
    int c, s;
    connect_pair(7322, &c, &s);
    struct chunk_sender cs = {.fd = c, .chunks = 3, .gap_ms = 50};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, send_chunks, &cs), 0);
    char buf[64];
    cr_assert_eq(ts_recv(s, buf, 30, MSG_WAITALL), 30, "%s", strerror(errno));
    pthread_join(t, NULL);
    cr_assert_eq(cs.sent, 30);
    cr_assert_eq(buf[0], 'a');
    cr_assert_eq(buf[10], 'b');
    cr_assert_eq(buf[29], 'c');

    cr_assert_eq(ts_send(c, "tail", 4, 0), 4);
    cr_assert_eq(ts_shutdown(c, SHUT_WR), 0);
    cr_assert_eq(ts_recv(s, buf, sizeof(buf), MSG_WAITALL), 4, "the end of the stream ends the wait");
    cr_assert_eq(memcmp(buf, "tail", 4), 0);
}

Test(sockapi_tcp, recvmsg_scatters_the_stream_over_iovecs_and_names_the_peer)
{
    int c, s;
    connect_pair(7323, &c, &s);
    cr_assert_eq(ts_send(c, "0123456789", 10, 0), 10);
    char first[4], second[16];
    struct iovec iov[2] = {{.iov_base = first, .iov_len = sizeof(first)},
                           {.iov_base = second, .iov_len = sizeof(second)}};
    struct sockaddr_in from;
    char control[64];
    struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = iov, .msg_iovlen = 2,
                         .msg_control = control, .msg_controllen = sizeof(control)};
    /* Peek across both iovecs first (one segment carries all ten bytes), then take them. */
    cr_assert(poll_one(s, POLLIN, 3000) & POLLIN);
    cr_assert_eq(ts_recvmsg(s, &msg, MSG_PEEK), 10, "%s", strerror(errno));
    cr_assert_eq(memcmp(first, "0123", 4), 0);
    cr_assert_eq(memcmp(second, "456789", 6), 0);
    msg.msg_namelen = sizeof(from);
    msg.msg_controllen = sizeof(control);
    memset(first, 0, sizeof(first));
    memset(second, 0, sizeof(second));
    cr_assert_eq(ts_recvmsg(s, &msg, 0), 10, "%s", strerror(errno));
    cr_assert_eq(memcmp(first, "0123", 4), 0);
    cr_assert_eq(memcmp(second, "456789", 6), 0);
    cr_assert_eq(msg.msg_namelen, sizeof(from));
    cr_assert_eq(ntohl(from.sin_addr.s_addr), SOCKAPI_ADDR_A);
    cr_assert_eq(msg.msg_controllen, 0);
    cr_assert_eq(msg.msg_flags, 0);
}

Test(sockapi_tcp, shutdown_of_a_datagram_socket_needs_a_peer_and_shut_rd_wakes_a_reader)
{
    int fd = sockapi_udp_bound(pair.b, 7324);
    assert_fails_with(ts_shutdown(fd, SHUT_RD), ENOTCONN);
    struct sockaddr_in peer = sockapi_sin(SOCKAPI_ADDR_A, 7325);
    cr_assert_eq(ts_connect(fd, (const struct sockaddr *)&peer, sizeof(peer)), 0);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(fd, 3000), 0);
    cr_assert_eq(ts_shutdown(fd, SHUT_RD), 0, "%s", strerror(errno));
    char buf[4];
    int64_t start = sockapi_now_ms();
    cr_assert_eq(ts_recv(fd, buf, sizeof(buf), 0), 0, "a blocking read after SHUT_RD returns 0");
    cr_assert_lt(sockapi_now_ms() - start, 1000);
    assert_fails_with(ts_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
}

struct blocked_accept {
    int lfd;
    int result;
    int err;
    struct sockaddr_in peer;
};

static void *accept_in_thread(void *arg)
{
    struct blocked_accept *ba = arg;
    socklen_t len = sizeof(ba->peer);
    ba->result = ts_accept(ba->lfd, (struct sockaddr *)&ba->peer, &len);
    ba->err = errno;
    return NULL;
}

Test(sockapi_tcp, a_blocked_accept_already_holds_the_lowest_descriptor_as_on_linux)
{
    int lfd = sockapi_tcp_listener(pair.b, 7330, 4);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(lfd, 3000), 0);
    int probe = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(ts_close(probe), 0);
    struct blocked_accept ba = {.lfd = lfd};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, accept_in_thread, &ba), 0);
    sockapi_sleep_ms(100);
    int other = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_neq(other, probe, "the waiting accept holds descriptor %d", probe);
    char buf[4];
    assert_fails_with(ts_recv(probe, buf, sizeof(buf), MSG_DONTWAIT), EBADF);
    assert_fails_with(ts_close(probe), EBADF);
    int c = sockapi_tcp_connect(pair.a, SOCKAPI_ADDR_B, 7330);
    cr_assert_geq(c, 0, "%s", strerror(errno));
    pthread_join(t, NULL);
    cr_assert_eq(ba.result, probe, "accept returns the descriptor it held (%s)", strerror(ba.err));
    cr_assert_eq(ntohl(ba.peer.sin_addr.s_addr), SOCKAPI_ADDR_A);
    cr_assert_eq(ts_send(c, "x", 1, 0), 1);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(probe, 2000), 0);
    cr_assert_eq(ts_recv(probe, buf, sizeof(buf), 0), 1);
}

Test(sockapi_tcp, a_failed_accept_gives_its_descriptor_back)
{
    int lfd = sockapi_tcp_listener(pair.b, 7331, 4);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(lfd, 50), 0);
    int probe = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(ts_close(probe), 0);
    assert_fails_with(ts_accept(lfd, NULL, NULL), EAGAIN);
    cr_assert_eq(ts_socket(AF_INET, SOCK_DGRAM, 0), probe);
}
