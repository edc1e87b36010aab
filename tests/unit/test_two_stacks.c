/*
 * Two stacks joined by the in-memory link in one process, driven on a virtual
 * clock: no kernel, no threads, fully repeatable. The impaired runs check the
 * property that matters on a bad network: whatever is delivered is exactly
 * what was sent, and nothing crashes, leaks or stalls.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tapstack/netdev.h"
#include "tapstack/pcb.h"
#include "tapstack/stack.h"

#define ADDR_A TS_IPV4(10, 0, 0, 1)
#define ADDR_B TS_IPV4(10, 0, 0, 2)

struct side {
    struct ts_netdev *dev;
    struct ts_stack *st;
    ts_time now;
};

static struct side a, b;
static ts_time now;
static uint8_t rxbuf[TS_NETDEV_MAX_FRAME];

static int transmit(void *ctx, ts_time when, const uint8_t *frame, size_t len)
{
    struct side *s = ctx;
    int err = ts_netdev_transmit(s->dev, when, frame, len);
    cr_assert_eq(err, 0);
    return err;
}

static void side_init(struct side *s, struct ts_netdev *dev, ts_ipv4_addr addr, uint8_t last_mac_byte, uint64_t seed)
{
    struct ts_stack_config cfg;
    ts_stack_config_init(&cfg);
    uint8_t mac[6] = {2, 0, 0, 0, 0, last_mac_byte};
    memcpy(cfg.mac, mac, 6);
    cfg.addr = addr;
    cfg.prefix_len = 24;
    cfg.seed = seed;
    s->dev = dev;
    struct ts_link link = {.ctx = s, .transmit = transmit, .mtu = 1500};
    s->st = ts_stack_new(&cfg, &link);
    cr_assert_not_null(s->st);
}

static void setup_link(const char *impair)
{
    struct ts_netdev *da, *db;
    cr_assert_eq(ts_memlink_pair(1500, &da, &db), 0);
    if (impair != NULL) {
        struct ts_impair_spec spec;
        char err[128];
        cr_assert_eq(ts_impair_parse(impair, &spec, err, sizeof err), 0, "%s", err);
        da = ts_impair_wrap(da, &spec, 7);
        cr_assert_not_null(da);
    }
    now = TS_SEC(1000);
    side_init(&a, da, ADDR_A, 1, 1);
    side_init(&b, db, ADDR_B, 2, 2);
}

static void teardown(void)
{
    cr_expect_eq(ts_stack_free(a.st), 0, "stack A leaked packet buffers");
    cr_expect_eq(ts_stack_free(b.st), 0, "stack B leaked packet buffers");
    ts_netdev_destroy(a.dev);
    ts_netdev_destroy(b.dev);
}

static void side_step(struct side *s)
{
    size_t len;
    ts_time when;
    for (int i = 0; i < 256; i++) {
        int r = ts_netdev_receive(s->dev, now, rxbuf, sizeof rxbuf, &len, &when);
        if (r != 1)
            break;
        ts_stack_input(s->st, now, rxbuf, len);
    }
    ts_netdev_poll(s->dev, now);
    if (ts_stack_next_deadline(s->st) <= now)
        ts_stack_poll(s->st, now);
}

/* Runs both sides for `duration` of virtual time in 100 µs steps. */
static void run_for(ts_time duration)
{
    ts_time end = now + duration;
    while (now < end) {
        side_step(&a);
        side_step(&b);
        now += 100;
    }
}

static struct ts_pcb *udp_bound(struct ts_stack *st, uint16_t port)
{
    int err;
    struct ts_pcb *pcb = ts_pcb_open(st, TS_PCB_UDP, &err);
    cr_assert_not_null(pcb);
    struct ts_sockaddr local = {0, port};
    cr_assert_eq(ts_pcb_bind(pcb, &local), 0);
    return pcb;
}

Test(two_stacks, first_datagram_waits_for_arp_then_arrives, .fini = teardown)
{
    setup_link(NULL);
    struct ts_pcb *rx = udp_bound(b.st, 7);
    struct ts_pcb *tx = udp_bound(a.st, 4000);
    struct ts_sockaddr to = {ADDR_B, 7};
    cr_assert_eq(ts_pcb_sendto(tx, now, "hello", 5, &to), 5);
    run_for(TS_MSEC(5));
    char buf[16];
    struct ts_sockaddr from;
    cr_assert_eq(ts_pcb_recvfrom(rx, buf, sizeof buf, &from, false, NULL), 5);
    cr_assert_arr_eq(buf, "hello", 5);
    cr_assert_eq(from.addr, ADDR_A);
    cr_assert_eq(from.port, 4000);
    uint64_t resolved = 0;
    cr_assert(ts_stack_counter(a.st, "arp.resolved", &resolved));
    cr_assert_eq(resolved, 1);
    ts_pcb_close(rx);
    ts_pcb_close(tx);
}

Test(two_stacks, ping_socket_gets_its_echo_reply, .fini = teardown)
{
    setup_link(NULL);
    int err;
    struct ts_pcb *ping = ts_pcb_open(a.st, TS_PCB_ICMP_ECHO, &err);
    uint8_t req[8 + 56] = {8, 0, 0, 0, 0, 0, 0, 1};
    for (size_t i = 8; i < sizeof req; i++)
        req[i] = (uint8_t)i;
    struct ts_sockaddr to = {ADDR_B, 0};
    cr_assert_eq(ts_pcb_sendto(ping, now, req, sizeof req, &to), (ssize_t)sizeof req);
    run_for(TS_MSEC(5));
    uint8_t reply[128];
    cr_assert_eq(ts_pcb_recvfrom(ping, reply, sizeof reply, NULL, false, NULL), (ssize_t)sizeof req);
    cr_assert_eq(reply[0], 0, "echo reply");
    cr_assert_arr_eq(reply + 8, req + 8, sizeof req - 8);
    ts_pcb_close(ping);
}

Test(two_stacks, large_datagrams_cross_fragmented_and_come_out_whole, .fini = teardown)
{
    setup_link(NULL);
    struct ts_pcb *rx = udp_bound(b.st, 7);
    struct ts_pcb *tx = udp_bound(a.st, 4000);
    static uint8_t data[60000], got[65536];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 31 + 7);
    struct ts_sockaddr to = {ADDR_B, 7};
    cr_assert_eq(ts_pcb_sendto(tx, now, data, sizeof data, &to), (ssize_t)sizeof data);
    run_for(TS_MSEC(10));
    cr_assert_eq(ts_pcb_recvfrom(rx, got, sizeof got, NULL, false, NULL), (ssize_t)sizeof data);
    cr_assert_arr_eq(got, data, sizeof data);
    ts_pcb_close(rx);
    ts_pcb_close(tx);
}

/* Datagram i carries i and a pattern derived from it, so a corrupted one cannot pass for another. */
static size_t make_datagram(uint32_t i, uint8_t *buf)
{
    size_t len = 16 + (i * 37) % 1400;
    memcpy(buf, &i, 4);
    for (size_t k = 4; k < len; k++)
        buf[k] = (uint8_t)(i * 13 + k * 7);
    return len;
}

Test(two_stacks, impaired_link_never_delivers_a_damaged_datagram, .fini = teardown)
{
    setup_link("loss=5%,reorder=10%,dup=5%,corrupt=5%,delay=1ms");
    struct ts_pcb *rx = udp_bound(b.st, 7);
    struct ts_pcb *tx = udp_bound(a.st, 4000);
    ts_pcb_setopt(rx, TS_OPT_RCVBUF, 4 << 20);
    /* Resolve first (ARP frames can be lost too: retried). */
    struct ts_sockaddr to = {ADDR_B, 7};
    enum { COUNT = 2000 };
    static uint8_t buf[2048], expect[2048];
    uint32_t delivered = 0, intact = 0;
    for (uint32_t i = 0; i < COUNT; i++) {
        size_t len = make_datagram(i, buf);
        ssize_t r = ts_pcb_sendto(tx, now, buf, len, &to);
        cr_assert(r == (ssize_t)len || r == -ENOBUFS || r == -EHOSTUNREACH, "sendto: %zd", r);
        run_for(TS_MSEC(1));
        ssize_t got;
        while ((got = ts_pcb_recvfrom(rx, buf, sizeof buf, NULL, false, NULL)) > 0) {
            uint32_t id;
            memcpy(&id, buf, 4);
            delivered++;
            cr_assert_lt(id, COUNT, "a datagram that was never sent arrived");
            size_t want = make_datagram(id, expect);
            cr_assert_eq((size_t)got, want, "datagram %u arrived with the wrong length", id);
            cr_assert_arr_eq(buf, expect, want, "datagram %u arrived damaged", id);
            intact++;
        }
    }
    run_for(TS_SEC(4));
    cr_assert_eq(intact, delivered);
    cr_assert_gt(delivered, COUNT * 8 / 10, "far more lost than 5%% loss and 5%% corruption explain: %u", delivered);
    uint64_t bad = 0, v;
    ts_stack_counter(b.st, "udp.drop_bad_checksum", &v), bad += v;
    ts_stack_counter(b.st, "ip.drop_bad_checksum", &v), bad += v;
    cr_assert_gt(bad, 0, "corrupted frames were caught by checksums");
    ts_pcb_close(rx);
    ts_pcb_close(tx);
}
