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

#include "pair_fixture.h"

#define ADDR_A PAIR_ADDR_A
#define ADDR_B PAIR_ADDR_B

static struct pair p;

static void setup_link(const char *impair)
{
    pair_init(&p, impair, NULL, NULL);
}

static void teardown(void)
{
    pair_fini(&p);
}

static void run_for(ts_time duration)
{
    pair_run(&p, duration);
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
    struct ts_pcb *rx = udp_bound(p.b.st, 7);
    struct ts_pcb *tx = udp_bound(p.a.st, 4000);
    struct ts_sockaddr to = {ADDR_B, 7};
    cr_assert_eq(ts_pcb_sendto(tx, p.now, "hello", 5, &to), 5);
    run_for(TS_MSEC(5));
    char buf[16];
    struct ts_sockaddr from;
    cr_assert_eq(ts_pcb_recvfrom(rx, buf, sizeof buf, &from, false, NULL), 5);
    cr_assert_arr_eq(buf, "hello", 5);
    cr_assert_eq(from.addr, ADDR_A);
    cr_assert_eq(from.port, 4000);
    uint64_t resolved = 0;
    cr_assert(ts_stack_counter(p.a.st, "arp.resolved", &resolved));
    cr_assert_eq(resolved, 1);
    ts_pcb_close(rx);
    ts_pcb_close(tx);
}

Test(two_stacks, ping_socket_gets_its_echo_reply, .fini = teardown)
{
    setup_link(NULL);
    int err;
    struct ts_pcb *ping = ts_pcb_open(p.a.st, TS_PCB_ICMP_ECHO, &err);
    uint8_t req[8 + 56] = {8, 0, 0, 0, 0, 0, 0, 1};
    for (size_t i = 8; i < sizeof req; i++)
        req[i] = (uint8_t)i;
    struct ts_sockaddr to = {ADDR_B, 0};
    cr_assert_eq(ts_pcb_sendto(ping, p.now, req, sizeof req, &to), (ssize_t)sizeof req);
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
    struct ts_pcb *rx = udp_bound(p.b.st, 7);
    struct ts_pcb *tx = udp_bound(p.a.st, 4000);
    static uint8_t data[60000], got[65536];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 31 + 7);
    struct ts_sockaddr to = {ADDR_B, 7};
    cr_assert_eq(ts_pcb_sendto(tx, p.now, data, sizeof data, &to), (ssize_t)sizeof data);
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
    struct ts_pcb *rx = udp_bound(p.b.st, 7);
    struct ts_pcb *tx = udp_bound(p.a.st, 4000);
    ts_pcb_setopt(rx, TS_OPT_RCVBUF, 4 << 20);
    /* Resolve first (ARP frames can be lost too: retried). */
    struct ts_sockaddr to = {ADDR_B, 7};
    enum { COUNT = 2000 };
    static uint8_t buf[2048], expect[2048];
    uint32_t delivered = 0, intact = 0;
    for (uint32_t i = 0; i < COUNT; i++) {
        size_t len = make_datagram(i, buf);
        ssize_t r = ts_pcb_sendto(tx, p.now, buf, len, &to);
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
    ts_stack_counter(p.b.st, "udp.drop_bad_checksum", &v), bad += v;
    ts_stack_counter(p.b.st, "ip.drop_bad_checksum", &v), bad += v;
    cr_assert_gt(bad, 0, "corrupted frames were caught by checksums");
    ts_pcb_close(rx);
    ts_pcb_close(tx);
}
