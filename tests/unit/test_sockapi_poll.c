/* ts_poll over descriptors of one net and of two. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
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

TestSuite(sockapi_poll, .init = setup, .fini = teardown, .timeout = 20);

struct delayed_send {
    int fd;
    long delay_ms;
    struct sockaddr_in to;
    ssize_t result;
};

static void *send_later(void *arg)
{
    struct delayed_send *ds = arg;
    sockapi_sleep_ms(ds->delay_ms);
    ds->result = ts_sendto(ds->fd, "ping", 4, 0, (const struct sockaddr *)&ds->to, sizeof(ds->to));
    return NULL;
}

Test(sockapi_poll, times_out_with_zero_when_nothing_arrives)
{
    int fd = sockapi_udp_bound(pair.b, 7100);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int64_t start = sockapi_now_ms();
    cr_assert_eq(ts_poll(&pfd, 1, 150), 0);
    int64_t elapsed = sockapi_now_ms() - start;
    cr_assert_eq(pfd.revents, 0);
    cr_assert_geq(elapsed, 140, "returned after %lld ms", (long long)elapsed);
    cr_assert_lt(elapsed, 1500, "returned after %lld ms", (long long)elapsed);
}

Test(sockapi_poll, zero_timeout_returns_at_once)
{
    int fd = sockapi_udp_bound(pair.b, 7101);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int64_t start = sockapi_now_ms();
    cr_assert_eq(ts_poll(&pfd, 1, 0), 0);
    cr_assert_lt(sockapi_now_ms() - start, 100);
}

Test(sockapi_poll, reports_pollin_when_a_datagram_arrives_while_waiting)
{
    int server = sockapi_udp_bound(pair.b, 7102);
    struct delayed_send ds = {
        .fd = ts_socket(AF_INET, SOCK_DGRAM, 0), .delay_ms = 100, .to = sockapi_sin(SOCKAPI_ADDR_B, 7102)};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, send_later, &ds), 0);

    struct pollfd pfd = {.fd = server, .events = POLLIN};
    int64_t start = sockapi_now_ms();
    int n = ts_poll(&pfd, 1, 5000);
    int64_t elapsed = sockapi_now_ms() - start;
    pthread_join(t, NULL);
    cr_assert_eq(ds.result, 4);
    cr_assert_eq(n, 1);
    cr_assert_eq(pfd.revents, POLLIN);
    cr_assert_lt(elapsed, 3000, "woke after %lld ms", (long long)elapsed);
    char buf[8];
    cr_assert_eq(ts_recv(server, buf, sizeof(buf), MSG_DONTWAIT), 4);
}

Test(sockapi_poll, a_udp_socket_is_writable_at_once)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLOUT};
    cr_assert_eq(ts_poll(&pfd, 1, 1000), 1);
    cr_assert_eq(pfd.revents, POLLOUT);
}

Test(sockapi_poll, only_requested_events_are_reported)
{
    int server = sockapi_udp_bound(pair.b, 7103);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 7103);
    cr_assert_eq(ts_sendto(client, "x", 1, 0, (const struct sockaddr *)&to, sizeof(to)), 1);
    struct pollfd pfd = {.fd = server, .events = POLLIN};
    cr_assert_eq(ts_poll(&pfd, 1, 5000), 1);
    pfd.events = POLLOUT;
    cr_assert_eq(ts_poll(&pfd, 1, 0), 1);
    cr_assert_eq(pfd.revents, POLLOUT, "POLLIN was not asked for");
    pfd.events = 0;
    cr_assert_eq(ts_poll(&pfd, 1, 0), 0);
}

Test(sockapi_poll, watches_descriptors_of_two_nets_at_once)
{
    /* The first descriptor is on net a, the one that becomes readable on net b. */
    int on_a = sockapi_udp_bound(pair.a, 7104);
    int on_b = sockapi_udp_bound(pair.b, 7105);
    struct delayed_send ds = {
        .fd = ts_socket_on(pair.a, AF_INET, SOCK_DGRAM, 0), .delay_ms = 100, .to = sockapi_sin(SOCKAPI_ADDR_B, 7105)};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, send_later, &ds), 0);
    struct pollfd pfd[2] = {{.fd = on_a, .events = POLLIN}, {.fd = on_b, .events = POLLIN}};
    int n = ts_poll(pfd, 2, 5000);
    pthread_join(t, NULL);
    cr_assert_eq(n, 1);
    cr_assert_eq(pfd[0].revents, 0);
    cr_assert_eq(pfd[1].revents, POLLIN);
}

struct poller {
    struct pollfd pfd;
    int result;
    int64_t elapsed_ms;
};

static void *poll_in_thread(void *arg)
{
    struct poller *p = arg;
    int64_t start = sockapi_now_ms();
    p->result = ts_poll(&p->pfd, 1, 5000);
    p->elapsed_ms = sockapi_now_ms() - start;
    return NULL;
}

Test(sockapi_poll, a_descriptor_closed_by_another_thread_wakes_the_poller_with_pollnval)
{
    int fd = sockapi_udp_bound(pair.b, 7106);
    struct poller p = {.pfd = {.fd = fd, .events = POLLIN}};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, poll_in_thread, &p), 0);
    sockapi_sleep_ms(100);
    cr_assert_eq(ts_close(fd), 0);
    pthread_join(t, NULL);
    cr_assert_eq(p.result, 1);
    cr_assert_eq(p.pfd.revents, POLLNVAL);
    cr_assert_lt(p.elapsed_ms, 3000, "woke after %lld ms", (long long)p.elapsed_ms);
}

Test(sockapi_poll, no_descriptors_just_waits_for_the_timeout)
{
    int64_t start = sockapi_now_ms();
    cr_assert_eq(ts_poll(NULL, 0, 100), 0);
    int64_t elapsed = sockapi_now_ms() - start;
    cr_assert_geq(elapsed, 95);
    cr_assert_lt(elapsed, 1500);
}
