/* Streams under load: a bulk transfer between threads, partial writes, and a listener that accepts slowly. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sockapi_tcp.h"

static struct sockapi_pair pair;

/* A SYN the listener dropped comes back after 100 ms instead of a second, so a test can wait for it. */
static void short_rto(struct ts_stack_config *cfg)
{
    cfg->timing.tcp_rto_initial = TS_MSEC(100);
}

static void setup(void)
{
    cr_assert(sockapi_tcp_pair_start(&pair, short_rto), "fixture: %s", pair.error);
}

static void teardown(void)
{
    sockapi_pair_stop(&pair);
}

TestSuite(sockapi_tcp_transfer, .init = setup, .fini = teardown, .timeout = 30);

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = sockapi_tcp_pattern(seed, i);
}

/* ---- bulk transfer ------------------------------------------------------------------------------- */

#define BULK_BYTES (5u * 1024 * 1024)

struct bulk_sender {
    int fd;
    const uint8_t *data;
    size_t len;
    ssize_t result;
    int err;
};

/* One blocking send of everything: the socket layer loops until all of it is queued. */
static void *send_everything(void *arg)
{
    struct bulk_sender *bs = arg;
    bs->result = ts_send(bs->fd, bs->data, bs->len, 0);
    bs->err = errno;
    if (bs->result == (ssize_t)bs->len)
        ts_shutdown(bs->fd, SHUT_WR);
    return NULL;
}

Test(sockapi_tcp_transfer, five_megabytes_from_one_thread_arrive_intact_in_another)
{
    int c, s;
    cr_assert(sockapi_tcp_connected(&pair, 7400, &c, &s), "%s", strerror(errno));
    cr_assert_eq(sockapi_set_sndtimeo_ms(c, 3000), 0);
    uint8_t *out = malloc(BULK_BYTES);
    uint8_t *in = malloc(BULK_BYTES + 1);
    cr_assert(out != NULL && in != NULL);
    fill_pattern(out, BULK_BYTES, 7);

    struct bulk_sender bs = {.fd = c, .data = out, .len = BULK_BYTES};
    pthread_t t;
    int64_t start = sockapi_now_ms();
    cr_assert_eq(pthread_create(&t, NULL, send_everything, &bs), 0);
    size_t got = 0;
    for (int rounds = 0; rounds < 1000000; rounds++) {
        /* Odd-sized reads, so reads and segments never line up. */
        size_t want = BULK_BYTES + 1 - got < 7777 ? BULK_BYTES + 1 - got : 7777;
        ssize_t n = ts_recv(s, in + got, want, 0);
        if (n <= 0) {
            cr_assert_eq(n, 0, "recv after %zu bytes: %s", got, strerror(errno));
            break;
        }
        got += (size_t)n;
    }
    pthread_join(t, NULL);
    int64_t elapsed = sockapi_now_ms() - start;
    cr_assert_eq(bs.result, (ssize_t)BULK_BYTES, "send returned %zd (%s)", bs.result, strerror(bs.err));
    cr_assert_eq(got, BULK_BYTES, "received %zu bytes", got);
    cr_assert_eq(memcmp(in, out, BULK_BYTES), 0, "the bytes arrive as they were sent");
    cr_assert_lt(elapsed, 3000, "took %lld ms", (long long)elapsed);
    free(out);
    free(in);
}

/* ---- partial writes ------------------------------------------------------------------------------ */

Test(sockapi_tcp_transfer, a_small_send_buffer_gives_partial_writes_then_eagain_then_pollout_again)
{
    int lfd = sockapi_tcp_listener(pair.b, 7401, 4);
    int rcvbuf = 8192;
    cr_assert_eq(ts_setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
    int c = ts_socket_on(pair.a, AF_INET, SOCK_STREAM, 0);
    int sndbuf = 4096;
    cr_assert_eq(ts_setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    int got_sndbuf = 0;
    socklen_t len = sizeof(got_sndbuf);
    cr_assert_eq(ts_getsockopt(c, SOL_SOCKET, SO_SNDBUF, &got_sndbuf, &len), 0);
    cr_assert_eq(got_sndbuf, sndbuf);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 7401);
    cr_assert_eq(sockapi_set_sndtimeo_ms(c, 3000), 0);
    cr_assert_eq(ts_connect(c, (const struct sockaddr *)&to, sizeof(to)), 0, "%s", strerror(errno));
    cr_assert_eq(sockapi_set_rcvtimeo_ms(lfd, 3000), 0);
    int s = ts_accept(lfd, NULL, NULL);
    cr_assert_geq(s, 0, "%s", strerror(errno));
    cr_assert_eq(ts_fcntl(c, F_SETFL, O_NONBLOCK), 0);

    /* The server does not read: the sender fills its buffer and the peer's window, then must stop. */
    enum { CHUNK = 65536, LIMIT = 1024 * 1024 };
    uint8_t *out = malloc(LIMIT);
    fill_pattern(out, LIMIT, 11);
    size_t queued = 0;
    bool saw_partial = false;
    bool saw_eagain = false;
    int64_t until = sockapi_now_ms() + 2000;
    while (!saw_eagain && queued + CHUNK <= LIMIT && sockapi_now_ms() < until) {
        ssize_t n = ts_send(c, out + queued, CHUNK, 0);
        if (n < 0) {
            cr_assert_eq(errno, EAGAIN, "%s", strerror(errno));
            /* Room may still come back while acknowledgments arrive; EAGAIN after a quiet moment is final. */
            struct pollfd pfd = {.fd = c, .events = POLLOUT};
            if (ts_poll(&pfd, 1, 100) == 0)
                saw_eagain = true;
            continue;
        }
        cr_assert_gt(n, 0);
        cr_assert_leq(n, CHUNK);
        saw_partial |= n < CHUNK;
        queued += (size_t)n;
    }
    cr_assert(saw_partial, "a non-blocking send into a 4 KiB buffer returns less than 64 KiB");
    cr_assert(saw_eagain, "with the peer not reading, the sender runs out of room (%zu bytes queued)", queued);
    cr_assert_lt(queued, LIMIT, "the peer's 8 KiB window bounds what is in flight");

    /* The server drains: every byte queued arrives in order, and the sender may write again. */
    uint8_t *in = malloc(queued);
    cr_assert(sockapi_tcp_recv_all(s, in, queued), "%s", strerror(errno));
    cr_assert_eq(memcmp(in, out, queued), 0);
    struct pollfd pfd = {.fd = c, .events = POLLOUT};
    cr_assert_eq(ts_poll(&pfd, 1, 2000), 1);
    cr_assert(pfd.revents & POLLOUT);
    cr_assert_gt(ts_send(c, out, 100, MSG_DONTWAIT), 0, "%s", strerror(errno));
    free(in);
    free(out);
}

Test(sockapi_tcp_transfer, msg_dontwait_on_a_blocking_socket_returns_what_fits)
{
    int c, s;
    cr_assert(sockapi_tcp_connected(&pair, 7402, &c, &s), "%s", strerror(errno));
    int sndbuf = 2048;
    cr_assert_eq(ts_setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    enum { BIG = 300000 };
    uint8_t *big = malloc(BIG);
    fill_pattern(big, BIG, 3);
    ssize_t n = ts_send(c, big, BIG, MSG_DONTWAIT);
    cr_assert_gt(n, 0, "%s", strerror(errno));
    cr_assert_lt(n, BIG, "a 2 KiB buffer cannot take 300000 bytes at once");
    uint8_t *in = malloc((size_t)n);
    cr_assert(sockapi_tcp_recv_all(s, in, (size_t)n));
    cr_assert_eq(memcmp(in, big, (size_t)n), 0);
    free(in);
    free(big);
}

Test(sockapi_tcp_transfer, a_blocking_send_that_outlasts_so_sndtimeo_returns_the_bytes_queued)
{
    int c, s;
    cr_assert(sockapi_tcp_connected(&pair, 7403, &c, &s), "%s", strerror(errno));
    cr_assert_eq(sockapi_set_sndtimeo_ms(c, 200), 0);
    enum { BIG = 2 * 1024 * 1024 };
    uint8_t *out = malloc(BIG);
    fill_pattern(out, BIG, 5);
    int64_t start = sockapi_now_ms();
    ssize_t n = ts_send(c, out, BIG, 0);
    int64_t elapsed = sockapi_now_ms() - start;
    cr_assert_gt(n, 0, "%s", strerror(errno));
    cr_assert_lt(n, BIG, "the peer never reads: not everything fits");
    cr_assert_geq(elapsed, 190, "returned after %lld ms", (long long)elapsed);
    cr_assert_lt(elapsed, 2000, "returned after %lld ms", (long long)elapsed);
    /*
     * Once nothing more fits at all the answer is EAGAIN. Bytes still draining
     * into the peer's window (on a loaded machine, or the window's last scraps
     * that silly-window avoidance holds back a while) may let a few more
     * timed-out sends queue a little first.
     */
    bool saw_eagain = false;
    for (int round = 0; round < 12 && !saw_eagain; round++) {
        ssize_t again = ts_send(c, out, BIG, 0);
        if (again < 0) {
            cr_assert_eq(errno, EAGAIN, "%s", strerror(errno));
            saw_eagain = true;
        } else {
            cr_assert_lt(again, BIG, "the peer never reads: only part of it fits");
        }
    }
    cr_assert(saw_eagain);
    free(out);
}

/* ---- a listener that accepts slowly ------------------------------------------------------------------ */

#define BACKLOG_CLIENTS 4

Test(sockapi_tcp_transfer, connections_beyond_the_backlog_wait_and_are_all_accepted)
{
    int lfd = sockapi_tcp_listener(pair.b, 7404, 1);
    cr_assert_geq(lfd, 0, "%s", strerror(errno));
    cr_assert_eq(sockapi_set_rcvtimeo_ms(lfd, 2500), 0);
    int clients[BACKLOG_CLIENTS];
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 7404);
    for (int i = 0; i < BACKLOG_CLIENTS; i++) {
        clients[i] = ts_socket_on(pair.a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        cr_assert_eq(ts_connect(clients[i], (const struct sockaddr *)&to, sizeof(to)), -1);
        cr_assert_eq(errno, EINPROGRESS);
    }
    int64_t start = sockapi_now_ms();
    bool seen[BACKLOG_CLIENTS] = {false};
    for (int k = 0; k < BACKLOG_CLIENTS; k++) {
        sockapi_sleep_ms(100); /* a slow server */
        struct sockaddr_in peer;
        socklen_t plen = sizeof(peer);
        int s = ts_accept(lfd, (struct sockaddr *)&peer, &plen);
        cr_assert_geq(s, 0, "accept %d: %s", k, strerror(errno));
        /* Which client is it? Its local port says. */
        int which = -1;
        for (int i = 0; i < BACKLOG_CLIENTS; i++) {
            struct sockaddr_in local;
            socklen_t llen = sizeof(local);
            cr_assert_eq(ts_getsockname(clients[i], (struct sockaddr *)&local, &llen), 0);
            if (local.sin_port == peer.sin_port)
                which = i;
        }
        cr_assert_geq(which, 0, "the accepted peer is one of the clients");
        cr_assert(!seen[which], "client %d accepted twice", which);
        seen[which] = true;
        /* The connection works: the client's byte reaches this accepted socket. */
        struct pollfd pfd = {.fd = clients[which], .events = POLLOUT};
        cr_assert_eq(ts_poll(&pfd, 1, 2000), 1);
        cr_assert_eq(pfd.revents & POLLERR, 0);
        char tag = (char)('0' + which);
        cr_assert_eq(ts_send(clients[which], &tag, 1, 0), 1, "%s", strerror(errno));
        cr_assert_eq(sockapi_set_rcvtimeo_ms(s, 2000), 0);
        char got = 0;
        cr_assert_eq(ts_recv(s, &got, 1, 0), 1, "%s", strerror(errno));
        cr_assert_eq(got, tag);
    }
    cr_assert_lt(sockapi_now_ms() - start, 3000);
}
