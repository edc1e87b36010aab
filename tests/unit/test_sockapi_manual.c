/*
 * Manual mode: two stacks the test creates and drives itself on a virtual
 * clock, joined by a tiny queue link, with sockets through ts_net_attach.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "sockapi_pair.h"
#include "tapstack/pcb.h"

#define QLINK_FRAMES 64
#define QLINK_FRAME_MAX 1600

/* One direction of the link: frames wait here until the test delivers them. */
struct qlink {
    uint8_t frames[QLINK_FRAMES][QLINK_FRAME_MAX];
    size_t len[QLINK_FRAMES];
    unsigned count;
    unsigned dropped;
};

static int qlink_transmit(void *ctx, ts_time now, const uint8_t *frame, size_t len)
{
    (void)now;
    struct qlink *q = ctx;
    if (q->count == QLINK_FRAMES || len > QLINK_FRAME_MAX) {
        q->dropped++;
        return -ENOBUFS;
    }
    memcpy(q->frames[q->count], frame, len);
    q->len[q->count++] = len;
    return 0;
}

static struct qlink to_a, to_b;
static struct ts_stack *stack_a, *stack_b;
static struct ts_net *net_a, *net_b;
static ts_time vnow;

static struct ts_stack *make_stack(ts_ipv4_addr addr, uint8_t mac_last, uint64_t seed, struct qlink *out)
{
    struct ts_stack_config cfg;
    ts_stack_config_init(&cfg);
    const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, mac_last};
    memcpy(cfg.mac, mac, sizeof(mac));
    cfg.addr = addr;
    cfg.prefix_len = 24;
    cfg.seed = seed;
    struct ts_link link = {.ctx = out, .transmit = qlink_transmit, .mtu = 1500};
    return ts_stack_new(&cfg, &link);
}

static void setup(void)
{
    memset(&to_a, 0, sizeof(to_a));
    memset(&to_b, 0, sizeof(to_b));
    vnow = TS_SEC(1000);
    stack_a = make_stack(SOCKAPI_ADDR_A, 1, 11, &to_b);
    stack_b = make_stack(SOCKAPI_ADDR_B, 2, 22, &to_a);
    cr_assert_not_null(stack_a);
    cr_assert_not_null(stack_b);
    net_a = ts_net_attach(stack_a);
    net_b = ts_net_attach(stack_b);
    cr_assert_not_null(net_a);
    cr_assert_not_null(net_b);
}

static void teardown(void)
{
    ts_net_detach(net_a);
    ts_net_detach(net_b);
    cr_expect_eq(ts_stack_free(stack_a), 0, "stack a leaked packet buffers");
    cr_expect_eq(ts_stack_free(stack_b), 0, "stack b leaked packet buffers");
}

TestSuite(sockapi_manual, .init = setup, .fini = teardown, .timeout = 20);

/* Hands every queued frame to its receiver; frames sent meanwhile wait for the next call. */
static unsigned deliver(struct qlink *q, struct ts_net *net)
{
    static struct qlink batch;
    memcpy(&batch, q, sizeof(batch));
    q->count = 0;
    for (unsigned i = 0; i < batch.count; i++)
        ts_net_drive_input(net, vnow, batch.frames[i], batch.len[i]);
    return batch.count;
}

/* Advances the virtual clock in 1 ms steps, delivering frames and running timers, until both links are quiet. */
static void run_until_quiet(int max_steps)
{
    for (int step = 0; step < max_steps; step++) {
        vnow += TS_MSEC(1);
        unsigned moved = deliver(&to_b, net_b) + deliver(&to_a, net_a);
        ts_net_drive_poll(net_a, vnow);
        ts_net_drive_poll(net_b, vnow);
        if (moved == 0 && to_a.count == 0 && to_b.count == 0)
            return;
    }
}

Test(sockapi_manual, datagrams_cross_between_two_hand_driven_stacks)
{
    int server = ts_socket_on(net_b, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in any = sockapi_sin(0, 9000);
    cr_assert_eq(ts_bind(server, (const struct sockaddr *)&any, sizeof(any)), 0);
    int client = ts_socket_on(net_a, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 9000);
    cr_assert_eq(ts_sendto(client, "manual", 6, 0, (const struct sockaddr *)&to, sizeof(to)), 6, "%s",
                 strerror(errno));

    run_until_quiet(100);

    char buf[16];
    struct sockaddr_in from;
    socklen_t fromlen = sizeof(from);
    cr_assert_eq(ts_recvfrom(server, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen), 6, "%s",
                 strerror(errno));
    cr_assert_arr_eq(buf, "manual", 6);
    cr_assert_eq(ntohl(from.sin_addr.s_addr), SOCKAPI_ADDR_A);

    cr_assert_eq(ts_sendto(server, "back", 4, 0, (const struct sockaddr *)&from, fromlen), 4);
    run_until_quiet(100);
    cr_assert_eq(ts_recv(client, buf, sizeof(buf), 0), 4);
    cr_assert_arr_eq(buf, "back", 4);
    cr_assert_eq(to_a.dropped + to_b.dropped, 0);
}

Test(sockapi_manual, a_blocking_call_that_would_wait_fails_with_ewouldblock_at_once)
{
    int fd = ts_socket_on(net_a, AF_INET, SOCK_DGRAM, 0);
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
    int server = ts_socket_on(net_b, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in any = sockapi_sin(0, 9002);
    cr_assert_eq(ts_bind(server, (const struct sockaddr *)&any, sizeof(any)), 0);
    int client = ts_socket_on(net_a, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 9002);
    cr_assert_eq(ts_connect(client, (const struct sockaddr *)&to, sizeof(to)), 0);
    cr_assert_eq(ts_send(client, "p", 1, 0), 1);
    struct pollfd pfd = {.fd = server, .events = POLLIN};
    cr_assert_eq(ts_poll(&pfd, 1, 0), 0);
    run_until_quiet(100);
    cr_assert_eq(ts_poll(&pfd, 1, 0), 1);
    cr_assert_eq(pfd.revents, POLLIN);
}

Test(sockapi_manual, arp_retries_run_on_the_drivers_clock)
{
    run_until_quiet(100); /* the gratuitous ARPs of the first poll */
    to_b.count = 0;
    /* Nobody answers for 10.0.0.9: the request is retried on virtual time only. */
    int fd = ts_socket_on(net_a, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sockapi_sin(TS_IPV4(10, 0, 0, 9), 9);
    cr_assert_eq(ts_sendto(fd, "?", 1, 0, (const struct sockaddr *)&to, sizeof(to)), 1, "%s", strerror(errno));
    cr_assert_eq(to_b.count, 1, "one ARP request at once");
    to_b.count = 0;

    ts_net_lock(net_a);
    ts_time deadline = ts_stack_next_deadline(stack_a);
    ts_net_unlock(net_a);
    cr_assert_neq(deadline, TS_TIME_NEVER, "a retry is scheduled");
    cr_assert_gt(deadline, vnow, "on the driver's clock, after its last `now`");

    ts_net_drive_poll(net_a, deadline - 1);
    cr_assert_eq(to_b.count, 0, "not before the deadline");
    ts_net_drive_poll(net_a, deadline);
    cr_assert_eq(to_b.count, 1, "the retry at the deadline");
}

Test(sockapi_manual, detach_closes_the_nets_descriptors_and_leaves_the_stack_usable)
{
    int fd = ts_socket_on(net_a, AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0);
    ts_net_detach(net_a);
    char buf[4];
    cr_assert_eq(ts_recv(fd, buf, sizeof(buf), 0), -1);
    cr_assert_eq(errno, EBADF);
    /* The caller still owns the stack: its pcbs are gone, it still runs. */
    ts_stack_poll(stack_a, vnow);
    cr_assert_eq(ts_stack_pbufs_in_use(stack_a), 0);
    net_a = ts_net_attach(stack_a);
    cr_assert_not_null(net_a);
    int again = ts_socket_on(net_a, AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(again, fd, "the lowest descriptor is free again");
}

Test(sockapi_manual, attach_makes_the_first_net_the_default)
{
    cr_assert_eq(ts_net_default(), net_a);
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0);
    ts_net_set_default(net_b);
    cr_assert_eq(ts_net_default(), net_b);
    ts_net_set_default(NULL);
    cr_assert_eq(ts_socket(AF_INET, SOCK_DGRAM, 0), -1);
    cr_assert_eq(errno, ENETDOWN);
}
