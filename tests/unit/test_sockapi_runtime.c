/* The runtime thread: it follows the stack's timers, including ones a socket call just set. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "sockapi_pair.h"

static struct ts_net *net;
static struct ts_netdev *far_end;

/* Net a alone on a memlink whose other end nobody answers on, with fast ARP retries. */
static void setup(void)
{
    struct ts_netdev *near = NULL;
    cr_assert_eq(ts_memlink_pair(1500, &near, &far_end), 0);
    struct ts_stack_config cfg;
    ts_stack_config_init(&cfg);
    const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
    memcpy(cfg.mac, mac, sizeof(mac));
    cfg.addr = SOCKAPI_ADDR_A;
    cfg.prefix_len = 24;
    cfg.seed = 3;
    cfg.timing.arp_retry_interval = TS_MSEC(40);
    cfg.timing.arp_max_retries = 3;
    char err[128];
    net = ts_net_start(&cfg, near, err, sizeof(err));
    cr_assert_not_null(net, "%s", err);
}

static void teardown(void)
{
    cr_expect_eq(ts_net_stop(net), 0, "the stack leaked packet buffers");
    ts_netdev_destroy(far_end);
}

TestSuite(sockapi_runtime, .init = setup, .fini = teardown, .timeout = 20);

Test(sockapi_runtime, a_send_that_starts_arp_wakes_the_runtime_for_the_retries)
{
    /* Let the runtime settle into its long idle sleep first. */
    sockapi_sleep_ms(200);
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sockapi_sin(TS_IPV4(10, 0, 0, 2), 9);
    cr_assert_eq(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), 0);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(fd, 5000), 0);
    int64_t start = sockapi_now_ms();
    cr_assert_eq(ts_send(fd, "hello?", 6, 0), 6, "%s", strerror(errno));

    /* Three requests 40 ms apart, then EHOSTUNREACH: well under the runtime's 1 s idle sleep. */
    char buf[8];
    cr_assert_eq(ts_recv(fd, buf, sizeof(buf), 0), -1);
    int64_t elapsed = sockapi_now_ms() - start;
    cr_assert_eq(errno, EHOSTUNREACH, "got %s", strerror(errno));
    cr_assert_geq(elapsed, 100, "after %lld ms", (long long)elapsed);
    cr_assert_lt(elapsed, 700, "after %lld ms: the runtime slept through the ARP timer", (long long)elapsed);
    cr_assert_geq(ts_memlink_pending(far_end), 3, "the requests went out");
}

struct counter_probe {
    bool saw_udp;
    bool saw_sock;
};

static void probe(void *ctx, const char *layer, const char *name, uint64_t value)
{
    (void)name;
    (void)value;
    struct counter_probe *p = ctx;
    p->saw_udp |= strcmp(layer, "udp") == 0;
    p->saw_sock |= strcmp(layer, "sock") == 0;
}

Test(sockapi_runtime, counters_can_be_read_while_the_runtime_runs)
{
    struct counter_probe p = {false, false};
    ts_net_counters_foreach(net, probe, &p);
    cr_assert(p.saw_udp);
    cr_assert(p.saw_sock);
    ts_net_lock(net);
    uint64_t opened = 99;
    cr_assert(ts_stack_counter(ts_net_stack(net), "sock.opened", &opened));
    ts_net_unlock(net);
    cr_assert_eq(opened, 0);
}

/* The runtime polls the core after every batch of frames, so ACKs may wait for the batch's end. */
Test(sockapi_runtime, the_runtime_holds_in_order_acks_to_the_end_of_each_batch)
{
    ts_net_lock(net);
    bool held = ts_stack_config_of(ts_net_stack(net))->tcp_ack_at_batch_end;
    ts_net_unlock(net);
    cr_assert(held, "ts_net_start turns on cfg.tcp_ack_at_batch_end; the caller's config had it off");
}

Test(sockapi_runtime, stop_with_sockets_still_open_frees_everything)
{
    for (int i = 0; i < 10; i++)
        cr_assert_geq(ts_socket(AF_INET, SOCK_DGRAM, 0), 0);
    cr_expect_eq(ts_net_stop(net), 0, "the stack leaked packet buffers");
    net = NULL;
    cr_assert_null(ts_net_default());
    /* All ten descriptors are gone: a new net's first socket gets descriptor 0. */
    struct ts_netdev *a = NULL;
    struct ts_netdev *b = NULL;
    cr_assert_eq(ts_memlink_pair(1500, &a, &b), 0);
    struct ts_stack_config cfg;
    ts_stack_config_init(&cfg);
    cfg.addr = SOCKAPI_ADDR_A;
    cfg.prefix_len = 24;
    char err[128];
    net = ts_net_start(&cfg, a, err, sizeof(err));
    cr_assert_not_null(net, "%s", err);
    cr_assert_eq(ts_socket(AF_INET, SOCK_DGRAM, 0), 0);
    ts_netdev_destroy(b);
}
