/* Many threads, closes from elsewhere, and nets stopped under blocked callers. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "sockapi_pair.h"

static struct sockapi_pair pair;

static void setup(void)
{
    cr_assert(sockapi_pair_start(&pair), "fixture: %s", pair.error);
}

static void teardown(void)
{
    sockapi_pair_stop(&pair);
}

TestSuite(sockapi_threads, .init = setup, .fini = teardown, .timeout = 30);

struct blocked_recv {
    int fd;
    ssize_t result;
    int err;
    int64_t elapsed_ms;
};

static void *recv_in_thread(void *arg)
{
    struct blocked_recv *br = arg;
    char buf[64];
    int64_t start = sockapi_now_ms();
    br->result = ts_recv(br->fd, buf, sizeof(buf), 0);
    br->err = errno;
    br->elapsed_ms = sockapi_now_ms() - start;
    return NULL;
}

Test(sockapi_threads, close_from_another_thread_wakes_a_blocked_recv_with_ebadf)
{
    int fd = sockapi_udp_bound(pair.b, 7200);
    cr_assert_geq(fd, 0);
    /* A safety net: a broken wake-up shows as EAGAIN after 5 s instead of a hang. */
    cr_assert_eq(sockapi_set_rcvtimeo_ms(fd, 5000), 0);
    struct blocked_recv br = {.fd = fd};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, recv_in_thread, &br), 0);
    sockapi_sleep_ms(100);
    cr_assert_eq(ts_close(fd), 0);
    pthread_join(t, NULL);
    cr_assert_eq(br.result, -1);
    cr_assert_eq(br.err, EBADF, "got %s", strerror(br.err));
    cr_assert_lt(br.elapsed_ms, 3000);
}

Test(sockapi_threads, a_reused_descriptor_number_never_reaches_the_old_callers)
{
    int fd = sockapi_udp_bound(pair.b, 7201);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(fd, 5000), 0);
    struct blocked_recv br = {.fd = fd};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, recv_in_thread, &br), 0);
    sockapi_sleep_ms(100);

    /* Close and at once reopen: POSIX hands out the lowest free number, the same one. */
    cr_assert_eq(ts_close(fd), 0);
    int again = sockapi_udp_bound(pair.b, 7202);
    cr_assert_eq(again, fd);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(again, 5000), 0);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 7202);
    cr_assert_eq(ts_sendto(client, "new", 3, 0, (const struct sockaddr *)&to, sizeof(to)), 3);

    pthread_join(t, NULL);
    cr_assert_eq(br.result, -1, "the old caller must not get the new socket's data");
    cr_assert_eq(br.err, EBADF);
    char buf[8];
    cr_assert_eq(ts_recv(again, buf, sizeof(buf), 0), 3, "%s", strerror(errno));
}

Test(sockapi_threads, stopping_a_net_closes_its_descriptors_and_wakes_blocked_callers)
{
    int fd = sockapi_udp_bound(pair.b, 7203);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(fd, 5000), 0);
    int other = sockapi_udp_bound(pair.a, 7203);
    struct blocked_recv br = {.fd = fd};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, recv_in_thread, &br), 0);
    sockapi_sleep_ms(100);

    cr_expect_eq(ts_net_stop(pair.b), 0, "the stack leaked packet buffers");
    pair.b = NULL;
    pthread_join(t, NULL);
    cr_assert_eq(br.result, -1);
    cr_assert_eq(br.err, EBADF, "got %s", strerror(br.err));
    cr_assert_lt(br.elapsed_ms, 3000);
    char buf[4];
    cr_assert_eq(ts_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
    cr_assert_eq(errno, EBADF);
    /* Net a is untouched. */
    cr_assert_eq(ts_recv(other, buf, sizeof(buf), MSG_DONTWAIT), -1);
    cr_assert_eq(errno, EAGAIN);
}

Test(sockapi_threads, stopping_the_default_net_leaves_no_default)
{
    cr_assert_eq(ts_net_default(), pair.a);
    cr_expect_eq(ts_net_stop(pair.a), 0, "the stack leaked packet buffers");
    pair.a = NULL;
    cr_assert_null(ts_net_default());
    cr_assert_eq(ts_socket(AF_INET, SOCK_DGRAM, 0), -1);
    cr_assert_eq(errno, ENETDOWN);
}

/* ---- several senders ---------------------------------------------------------------- */

#define SENDERS 4
#define PER_SENDER 150

struct sender {
    int fd;
    int id;
    int failures;
    int last_errno;
};

static void *send_burst(void *arg)
{
    struct sender *s = arg;
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 7300);
    for (int seq = 0; seq < PER_SENDER; seq++) {
        char msg[32];
        int len = snprintf(msg, sizeof(msg), "%d:%d", s->id, seq);
        if (ts_sendto(s->fd, msg, (size_t)len, 0, (const struct sockaddr *)&to, sizeof(to)) != len) {
            s->failures++;
            s->last_errno = errno;
        }
    }
    return NULL;
}

Test(sockapi_threads, several_threads_sending_on_one_socket_lose_nothing)
{
    int server = sockapi_udp_bound(pair.b, 7300);
    cr_assert_geq(server, 0);
    /* Room for every datagram even if this thread reads none until the senders are done: each tiny
     * datagram holds a whole packet buffer (about 2 KB charged, as Linux charges an skb's truesize). */
    int big = 4 << 20;
    cr_assert_eq(ts_setsockopt(server, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)), 0, "%s", strerror(errno));
    cr_assert_eq(sockapi_set_rcvtimeo_ms(server, 3000), 0);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);

    /* Resolve ARP first so the burst does not pile up in the resolution queue. */
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 7300);
    cr_assert_eq(ts_sendto(client, "warm", 4, 0, (const struct sockaddr *)&to, sizeof(to)), 4);
    char buf[64];
    cr_assert_eq(ts_recv(server, buf, sizeof(buf), 0), 4, "%s", strerror(errno));

    struct sender senders[SENDERS];
    pthread_t threads[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        senders[i] = (struct sender){.fd = client, .id = i};
        cr_assert_eq(pthread_create(&threads[i], NULL, send_burst, &senders[i]), 0);
    }

    static bool seen[SENDERS][PER_SENDER];
    int received = 0;
    int duplicates = 0;
    while (received < SENDERS * PER_SENDER) {
        ssize_t n = ts_recv(server, buf, sizeof(buf) - 1, 0);
        if (n < 0)
            break;
        buf[n] = '\0';
        int id = -1, seq = -1;
        if (sscanf(buf, "%d:%d", &id, &seq) != 2 || id < 0 || id >= SENDERS || seq < 0 || seq >= PER_SENDER)
            continue;
        if (seen[id][seq])
            duplicates++;
        seen[id][seq] = true;
        received++;
    }
    for (int i = 0; i < SENDERS; i++) {
        pthread_join(threads[i], NULL);
        cr_assert_eq(senders[i].failures, 0, "sender %d: %d failures, last %s", i, senders[i].failures,
                     strerror(senders[i].last_errno));
    }
    cr_assert_eq(duplicates, 0);
    cr_assert_eq(received, SENDERS * PER_SENDER);
    for (int id = 0; id < SENDERS; id++)
        for (int seq = 0; seq < PER_SENDER; seq++)
            cr_assert(seen[id][seq], "datagram %d:%d lost", id, seq);
}

/* ---- many sockets, many threads ------------------------------------------------------- */

#define PINGERS 6
#define ROUNDS 40

struct pinger {
    int id;
    int ok;
    int last_errno;
};

/* Each thread owns a socket on net a and ping-pongs with an echo thread on net b. */
static void *ping_pong(void *arg)
{
    struct pinger *p = arg;
    int fd = ts_socket_on(pair.a, AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        p->last_errno = errno;
        return NULL;
    }
    sockapi_set_rcvtimeo_ms(fd, 3000);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 7400);
    for (int r = 0; r < ROUNDS; r++) {
        char msg[32], back[32];
        int len = snprintf(msg, sizeof(msg), "%d/%d", p->id, r);
        if (ts_sendto(fd, msg, (size_t)len, 0, (const struct sockaddr *)&to, sizeof(to)) != len) {
            p->last_errno = errno;
            break;
        }
        ssize_t n = ts_recv(fd, back, sizeof(back), 0);
        if (n != len || memcmp(msg, back, (size_t)len) != 0) {
            p->last_errno = n < 0 ? errno : 0;
            break;
        }
        p->ok++;
    }
    ts_close(fd);
    return NULL;
}

struct echo {
    int fd;
    int echoed;
};

static void *echo_server(void *arg)
{
    struct echo *e = arg;
    char buf[64];
    for (;;) {
        struct sockaddr_in from;
        socklen_t len = sizeof(from);
        ssize_t n = ts_recvfrom(e->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
        if (n < 0)
            return NULL; /* closed (EBADF) or idle for too long */
        if (ts_sendto(e->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len) == n)
            e->echoed++;
    }
}

Test(sockapi_threads, threads_with_their_own_sockets_ping_pong_concurrently)
{
    struct echo e = {.fd = sockapi_udp_bound(pair.b, 7400)};
    cr_assert_geq(e.fd, 0);
    sockapi_set_rcvtimeo_ms(e.fd, 5000);
    pthread_t echo_thread;
    cr_assert_eq(pthread_create(&echo_thread, NULL, echo_server, &e), 0);

    struct pinger pingers[PINGERS];
    pthread_t threads[PINGERS];
    for (int i = 0; i < PINGERS; i++) {
        pingers[i] = (struct pinger){.id = i};
        cr_assert_eq(pthread_create(&threads[i], NULL, ping_pong, &pingers[i]), 0);
    }
    for (int i = 0; i < PINGERS; i++)
        pthread_join(threads[i], NULL);
    /* Closing the echo socket is also how its thread learns to stop. */
    cr_assert_eq(ts_close(e.fd), 0);
    pthread_join(echo_thread, NULL);
    for (int i = 0; i < PINGERS; i++)
        cr_assert_eq(pingers[i].ok, ROUNDS, "pinger %d: %d rounds, last errno %s", i, pingers[i].ok,
                     strerror(pingers[i].last_errno));
    cr_assert_eq(e.echoed, PINGERS * ROUNDS);
}
