/* How streams end: graceful close, SO_LINGER (abort and wait), resets seen by the peer, closes from other threads; and ts_poll over streams. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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

TestSuite(sockapi_tcp_close, .init = setup, .fini = teardown, .timeout = 20);

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

static void set_linger(int fd, int onoff, int secs)
{
    struct linger lg = {.l_onoff = onoff, .l_linger = secs};
    cr_assert_eq(ts_setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0, "%s", strerror(errno));
}

static short poll_one(int fd, short events, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int n = ts_poll(&pfd, 1, timeout_ms);
    cr_assert_geq(n, 0, "poll: %s", strerror(errno));
    return n == 0 ? 0 : pfd.revents;
}

/* ---- graceful close ---------------------------------------------------------------------------------- */

Test(sockapi_tcp_close, close_delivers_the_queued_data_then_the_end_of_the_stream)
{
    int c, s;
    connect_pair(7500, &c, &s);
    enum { LEN = 100000 };
    uint8_t *out = malloc(LEN);
    uint8_t *in = malloc(LEN);
    for (size_t i = 0; i < LEN; i++)
        out[i] = sockapi_tcp_pattern(21, i);
    cr_assert_eq(ts_send(c, out, LEN, 0), LEN, "%s", strerror(errno));
    cr_assert_eq(ts_close(c), 0);
    cr_assert(sockapi_tcp_recv_all(s, in, LEN), "%s", strerror(errno));
    cr_assert_eq(memcmp(in, out, LEN), 0);
    char byte;
    cr_assert_eq(ts_recv(s, &byte, 1, 0), 0, "then EOF: %s", strerror(errno));
    free(in);
    free(out);
}

Test(sockapi_tcp_close, so_linger_with_a_timeout_waits_until_the_fin_is_acknowledged)
{
    int c, s;
    connect_pair(7501, &c, &s);
    set_linger(c, 1, 2);
    struct linger lg;
    socklen_t len = sizeof(lg);
    cr_assert_eq(ts_getsockopt(c, SOL_SOCKET, SO_LINGER, &lg, &len), 0);
    cr_assert_eq(len, sizeof(lg));
    cr_assert(lg.l_onoff);
    cr_assert_eq(lg.l_linger, 2);
    cr_assert_eq(ts_send(c, "bye", 3, 0), 3);
    int64_t start = sockapi_now_ms();
    cr_assert_eq(ts_close(c), 0);
    cr_assert_lt(sockapi_now_ms() - start, 1500, "a responsive peer acknowledges quickly");
    /* The peer's stack acknowledged our FIN, so it has already seen the data and the end of the stream. */
    char buf[8];
    cr_assert_eq(ts_recv(s, buf, sizeof(buf), MSG_DONTWAIT), 3, "%s", strerror(errno));
    cr_assert_eq(ts_recv(s, buf, sizeof(buf), MSG_DONTWAIT), 0, "%s", strerror(errno));
}

Test(sockapi_tcp_close, so_linger_gives_up_after_its_timeout_when_the_peer_is_gone)
{
    int c, s;
    connect_pair(7502, &c, &s);
    set_linger(c, 1, 1);
    cr_expect_eq(ts_net_stop(pair.b), 0, "the stack leaked packet buffers");
    pair.b = NULL;
    int64_t start = sockapi_now_ms();
    cr_assert_eq(ts_close(c), 0);
    int64_t elapsed = sockapi_now_ms() - start;
    cr_assert_geq(elapsed, 900, "returned after %lld ms", (long long)elapsed);
    cr_assert_lt(elapsed, 2500, "returned after %lld ms", (long long)elapsed);
}

/* ---- resets -------------------------------------------------------------------------------------------- */

Test(sockapi_tcp_close, so_linger_zero_aborts_and_the_peer_recv_fails_with_econnreset)
{
    int c, s;
    connect_pair(7510, &c, &s);
    set_linger(c, 1, 0);
    cr_assert_eq(ts_close(c), 0);
    char buf[8];
    assert_fails_with(ts_recv(s, buf, sizeof(buf), 0), ECONNRESET);
    cr_assert(poll_one(s, POLLIN, 0) & POLLHUP, "a reset connection is hung up");
}

Test(sockapi_tcp_close, send_after_the_peer_reset_reports_the_reset_once_then_epipe)
{
    int c, s;
    connect_pair(7511, &c, &s);
    set_linger(c, 1, 0);
    cr_assert_eq(ts_close(c), 0);
    /* No events asked for: poll returns only once the reset shows (POLLERR, POLLHUP are always reported). */
    short rev = poll_one(s, 0, 2000);
    cr_assert(rev & POLLERR, "revents 0x%x", rev);
    /* As on Linux: the pending error first, then the closed pipe (and no SIGPIPE, which would kill the test). */
    assert_fails_with(ts_send(s, "x", 1, 0), ECONNRESET);
    assert_fails_with(ts_send(s, "x", 1, 0), EPIPE);
    assert_fails_with(ts_send(s, "x", 1, MSG_NOSIGNAL), EPIPE);
}

Test(sockapi_tcp_close, send_after_the_reset_was_read_through_so_error_is_epipe)
{
    int c, s;
    connect_pair(7512, &c, &s);
    set_linger(c, 1, 0);
    cr_assert_eq(ts_close(c), 0);
    cr_assert(poll_one(s, 0, 2000) & POLLERR);
    int err = 0;
    socklen_t len = sizeof(err);
    cr_assert_eq(ts_getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    cr_assert_eq(err, ECONNRESET);
    assert_fails_with(ts_send(s, "x", 1, 0), EPIPE);
}

Test(sockapi_tcp_close, closing_with_unread_data_resets_the_connection)
{
    int c, s;
    connect_pair(7513, &c, &s);
    cr_assert_eq(ts_send(c, "unread", 6, 0), 6);
    cr_assert(poll_one(s, POLLIN, 2000) & POLLIN);
    cr_assert_eq(ts_close(s), 0);
    char buf[8];
    assert_fails_with(ts_recv(c, buf, sizeof(buf), 0), ECONNRESET);
}

Test(sockapi_tcp_close, closing_a_listener_resets_connections_it_never_accepted)
{
    int lfd = sockapi_tcp_listener(pair.b, 7514, 4);
    int c = sockapi_tcp_connect(pair.a, SOCKAPI_ADDR_B, 7514);
    cr_assert_geq(c, 0, "%s", strerror(errno));
    /* The handshake is complete on both sides once the listener reports the connection. */
    cr_assert(poll_one(lfd, POLLIN, 2000) & POLLIN);
    int on = 0;
    socklen_t len = sizeof(on);
    cr_assert_eq(ts_getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len), 0);
    cr_assert_eq(on, 1);
    cr_assert_eq(ts_close(lfd), 0);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(c, 2000), 0);
    char buf[4];
    assert_fails_with(ts_recv(c, buf, sizeof(buf), 0), ECONNRESET);
}

/* ---- closes from another thread ------------------------------------------------------------------------- */

struct blocked_call {
    int fd;
    bool accept;
    long result;
    int err;
};

static void *block_in_thread(void *arg)
{
    struct blocked_call *bc = arg;
    char buf[16];
    bc->result = bc->accept ? ts_accept(bc->fd, NULL, NULL) : ts_recv(bc->fd, buf, sizeof(buf), 0);
    bc->err = errno;
    return NULL;
}

static void assert_close_wakes(int fd, bool accept)
{
    struct blocked_call bc = {.fd = fd, .accept = accept};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, block_in_thread, &bc), 0);
    sockapi_sleep_ms(100);
    int64_t start = sockapi_now_ms();
    cr_assert_eq(ts_close(fd), 0);
    pthread_join(t, NULL);
    cr_assert_eq(bc.result, -1);
    cr_assert_eq(bc.err, EBADF, "got %s", strerror(bc.err));
    cr_assert_lt(sockapi_now_ms() - start, 1000, "woken by the close, not by the 3 s timeout");
}

Test(sockapi_tcp_close, close_from_another_thread_wakes_a_blocked_recv_with_ebadf)
{
    int c, s;
    connect_pair(7520, &c, &s);
    assert_close_wakes(s, false);
    /* The close was graceful: the peer sees the end of the stream. */
    char buf[4];
    cr_assert_eq(ts_recv(c, buf, sizeof(buf), 0), 0, "%s", strerror(errno));
}

Test(sockapi_tcp_close, close_from_another_thread_wakes_a_blocked_accept_with_ebadf)
{
    int lfd = sockapi_tcp_listener(pair.b, 7521, 4);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(lfd, 3000), 0);
    assert_close_wakes(lfd, true);
    /* Nobody listens any more. */
    int fd = ts_socket_on(pair.a, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 7521);
    assert_fails_with(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), ECONNREFUSED);
}

Test(sockapi_tcp_close, stopping_a_net_wakes_a_blocked_stream_recv_with_ebadf)
{
    int c, s;
    connect_pair(7522, &c, &s);
    struct blocked_call bc = {.fd = s};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, block_in_thread, &bc), 0);
    sockapi_sleep_ms(100);
    cr_expect_eq(ts_net_stop(pair.b), 0, "the stack leaked packet buffers");
    pair.b = NULL;
    pthread_join(t, NULL);
    cr_assert_eq(bc.result, -1);
    cr_assert_eq(bc.err, EBADF, "got %s", strerror(bc.err));
}

/* ---- poll ------------------------------------------------------------------------------------------------- */

struct delayed_send {
    int fd;
    long delay_ms;
    ssize_t result;
};

static void *send_later(void *arg)
{
    struct delayed_send *ds = arg;
    sockapi_sleep_ms(ds->delay_ms);
    ds->result = ts_send(ds->fd, "late", 4, 0);
    return NULL;
}

Test(sockapi_tcp_close, poll_mixes_listeners_streams_and_datagram_sockets)
{
    int c, s;
    connect_pair(7530, &c, &s);
    int lfd = sockapi_tcp_listener(pair.b, 7531, 4);
    int udp = sockapi_udp_bound(pair.b, 7532);
    struct pollfd pfd[4] = {
        {.fd = lfd, .events = POLLIN},
        {.fd = udp, .events = POLLIN},
        {.fd = s, .events = POLLIN | POLLOUT},
        {.fd = c, .events = POLLIN}, /* on the other net */
    };
    cr_assert_eq(ts_poll(pfd, 4, 0), 1, "only the connected stream is ready, for writing");
    cr_assert_eq(pfd[2].revents, POLLOUT);
    cr_assert_eq(pfd[0].revents | pfd[1].revents | pfd[3].revents, 0);

    /* A pending connection, a datagram and stream data make all of them readable. */
    int c2 = sockapi_tcp_connect(pair.a, SOCKAPI_ADDR_B, 7531);
    cr_assert_geq(c2, 0, "%s", strerror(errno));
    int usend = ts_socket_on(pair.a, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in uto = sockapi_sin(SOCKAPI_ADDR_B, 7532);
    cr_assert_eq(ts_sendto(usend, "dgram", 5, 0, (const struct sockaddr *)&uto, sizeof(uto)), 5);
    cr_assert_eq(ts_send(c, "data", 4, 0), 4);
    cr_assert_eq(ts_send(s, "back", 4, 0), 4);
    int64_t until = sockapi_now_ms() + 2000;
    int ready = 0;
    while (ready < 4 && sockapi_now_ms() < until)
        ready = ts_poll(pfd, 4, 100);
    cr_assert_eq(ready, 4);
    cr_assert_eq(pfd[0].revents, POLLIN);
    cr_assert_eq(pfd[1].revents, POLLIN);
    cr_assert_eq(pfd[2].revents, POLLIN | POLLOUT);
    cr_assert_eq(pfd[3].revents, POLLIN);
}

Test(sockapi_tcp_close, a_blocked_poll_wakes_when_stream_data_arrives)
{
    int c, s;
    connect_pair(7533, &c, &s);
    int udp = sockapi_udp_bound(pair.b, 7534);
    struct delayed_send ds = {.fd = c, .delay_ms = 100};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, send_later, &ds), 0);
    struct pollfd pfd[2] = {{.fd = udp, .events = POLLIN}, {.fd = s, .events = POLLIN}};
    int64_t start = sockapi_now_ms();
    cr_assert_eq(ts_poll(pfd, 2, 3000), 1);
    int64_t elapsed = sockapi_now_ms() - start;
    pthread_join(t, NULL);
    cr_assert_eq(ds.result, 4);
    cr_assert_eq(pfd[1].revents, POLLIN);
    cr_assert_eq(pfd[0].revents, 0);
    cr_assert_geq(elapsed, 80, "returned after %lld ms", (long long)elapsed);
    cr_assert_lt(elapsed, 1500, "returned after %lld ms", (long long)elapsed);
}
