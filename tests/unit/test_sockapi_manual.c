/*
 * Manual mode: two stacks the test creates and drives itself on a virtual
 * clock, joined by a tiny queue link, with sockets through ts_net_attach.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "manual_pair.h"
#include "sockapi_pair.h"
#include "tapstack/pcb.h"

static struct manual_pair mp;

static void setup(void)
{
    manual_pair_init(&mp);
}

static void teardown(void)
{
    manual_pair_fini(&mp);
}

TestSuite(sockapi_manual, .init = setup, .fini = teardown, .timeout = 20);

Test(sockapi_manual, datagrams_cross_between_two_hand_driven_stacks)
{
    int server = ts_socket_on(mp.net_b, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in any = sockapi_sin(0, 9000);
    cr_assert_eq(ts_bind(server, (const struct sockaddr *)&any, sizeof(any)), 0);
    int client = ts_socket_on(mp.net_a, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 9000);
    cr_assert_eq(ts_sendto(client, "manual", 6, 0, (const struct sockaddr *)&to, sizeof(to)), 6, "%s",
                 strerror(errno));

    manual_pair_run_until_quiet(&mp, 100);

    char buf[16];
    struct sockaddr_in from;
    socklen_t fromlen = sizeof(from);
    cr_assert_eq(ts_recvfrom(server, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen), 6, "%s",
                 strerror(errno));
    cr_assert_arr_eq(buf, "manual", 6);
    cr_assert_eq(ntohl(from.sin_addr.s_addr), SOCKAPI_ADDR_A);

    cr_assert_eq(ts_sendto(server, "back", 4, 0, (const struct sockaddr *)&from, fromlen), 4);
    manual_pair_run_until_quiet(&mp, 100);
    cr_assert_eq(ts_recv(client, buf, sizeof(buf), 0), 4);
    cr_assert_arr_eq(buf, "back", 4);
    cr_assert_eq(mp.to_a.dropped + mp.to_b.dropped, 0);
}

Test(sockapi_manual, a_blocking_call_that_would_wait_fails_with_ewouldblock_at_once)
{
    int fd = ts_socket_on(mp.net_a, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in any = sockapi_sin(0, 9001);
    cr_assert_eq(ts_bind(fd, (const struct sockaddr *)&any, sizeof(any)), 0);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(fd, 0), 0); /* wait forever, if it were to wait at all */
    char buf[4];
    int64_t start = sockapi_now_ms();
    cr_assert_eq(ts_recv(fd, buf, sizeof(buf), 0), -1);
    cr_assert_eq(errno, EWOULDBLOCK);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    cr_assert_eq(ts_poll(&pfd, 1, 5000), 0, "nothing can change while the caller is not driving");
    cr_assert_lt(sockapi_now_ms() - start, 500);
}

Test(sockapi_manual, poll_sees_a_datagram_once_the_driver_delivered_it)
{
    int server = ts_socket_on(mp.net_b, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in any = sockapi_sin(0, 9002);
    cr_assert_eq(ts_bind(server, (const struct sockaddr *)&any, sizeof(any)), 0);
    int client = ts_socket_on(mp.net_a, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 9002);
    cr_assert_eq(ts_connect(client, (const struct sockaddr *)&to, sizeof(to)), 0);
    cr_assert_eq(ts_send(client, "p", 1, 0), 1);
    struct pollfd pfd = {.fd = server, .events = POLLIN};
    cr_assert_eq(ts_poll(&pfd, 1, 0), 0);
    manual_pair_run_until_quiet(&mp, 100);
    cr_assert_eq(ts_poll(&pfd, 1, 0), 1);
    cr_assert_eq(pfd.revents, POLLIN);
}

Test(sockapi_manual, arp_retries_run_on_the_drivers_clock)
{
    manual_pair_run_until_quiet(&mp, 100); /* the gratuitous ARPs of the first poll */
    mp.to_b.count = 0;
    /* Nobody answers for 10.0.0.9: the request is retried on virtual time only. */
    int fd = ts_socket_on(mp.net_a, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sockapi_sin(TS_IPV4(10, 0, 0, 9), 9);
    cr_assert_eq(ts_sendto(fd, "?", 1, 0, (const struct sockaddr *)&to, sizeof(to)), 1, "%s", strerror(errno));
    cr_assert_eq(mp.to_b.count, 1, "one ARP request at once");
    mp.to_b.count = 0;

    ts_net_lock(mp.net_a);
    ts_time deadline = ts_stack_next_deadline(mp.stack_a);
    ts_net_unlock(mp.net_a);
    cr_assert_neq(deadline, TS_TIME_NEVER, "a retry is scheduled");
    cr_assert_gt(deadline, mp.now, "on the driver's clock, after its last `now`");

    ts_net_drive_poll(mp.net_a, deadline - 1);
    cr_assert_eq(mp.to_b.count, 0, "not before the deadline");
    ts_net_drive_poll(mp.net_a, deadline);
    cr_assert_eq(mp.to_b.count, 1, "the retry at the deadline");
}

Test(sockapi_manual, detach_closes_the_nets_descriptors_and_leaves_the_stack_usable)
{
    int fd = ts_socket_on(mp.net_a, AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0);
    ts_net_detach(mp.net_a);
    char buf[4];
    cr_assert_eq(ts_recv(fd, buf, sizeof(buf), 0), -1);
    cr_assert_eq(errno, EBADF);
    /* The caller still owns the stack: its pcbs are gone, it still runs. */
    ts_stack_poll(mp.stack_a, mp.now);
    cr_assert_eq(ts_stack_pbufs_in_use(mp.stack_a), 0);
    mp.net_a = ts_net_attach(mp.stack_a);
    cr_assert_not_null(mp.net_a);
    int again = ts_socket_on(mp.net_a, AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(again, fd, "the lowest descriptor is free again");
}

Test(sockapi_manual, attach_makes_the_first_net_the_default)
{
    cr_assert_eq(ts_net_default(), mp.net_a);
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0);
    ts_net_set_default(mp.net_b);
    cr_assert_eq(ts_net_default(), mp.net_b);
    ts_net_set_default(NULL);
    cr_assert_eq(ts_socket(AF_INET, SOCK_DGRAM, 0), -1);
    cr_assert_eq(errno, ENETDOWN);
}

Test(sockapi_manual, a_new_descriptor_is_always_the_lowest_free_one_wherever_the_gap_is)
{
    enum { N = 200 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = ts_socket_on(mp.net_a, AF_INET, SOCK_DGRAM, 0);
        cr_assert_geq(fds[i], 0);
        cr_assert(i == 0 || fds[i] > fds[i - 1], "handed out in increasing order");
    }
    /* Gaps high, then low, then in the middle: each new socket takes the lowest one left. */
    cr_assert_eq(ts_close(fds[150]), 0);
    cr_assert_eq(ts_close(fds[3]), 0);
    cr_assert_eq(ts_close(fds[77]), 0);
    int a = ts_socket_on(mp.net_a, AF_INET, SOCK_DGRAM, 0);
    int b = ts_socket_on(mp.net_a, AF_INET, SOCK_DGRAM, 0);
    int c = ts_socket_on(mp.net_a, AF_INET, SOCK_DGRAM, 0);
    int d = ts_socket_on(mp.net_a, AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(a, fds[3]);
    cr_assert_eq(b, fds[77]);
    cr_assert_eq(c, fds[150]);
    cr_assert_gt(d, fds[N - 1], "no gap left: past the highest");
    cr_assert_eq(ts_close(d), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(ts_close(fds[i]), 0);
}
