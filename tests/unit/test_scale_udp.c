/*
 * Datagram sockets and port allocation with many sockets open (issue 6): a
 * datagram finds its socket among those bound to its port only, and binding
 * (explicit or ephemeral, RFC 6056) examines the pcbs of one port, not all.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "scale_pair.h"

#define SOCKETS 5000u
#define UDP_PORT_BASE 20000u

static struct scale_pair p;
static struct ts_pcb *sock_b[SOCKETS];

static void setup(void)
{
    cr_assert_eq(scale_pair_init(&p, 2 * SOCKETS + 8, 5), 0);
}

static void teardown(void)
{
    for (size_t i = 0; i < SOCKETS; i++)
        if (sock_b[i] != NULL)
            ts_pcb_close(sock_b[i]);
    memset(sock_b, 0, sizeof sock_b);
    cr_expect_eq(scale_pair_fini(&p), 0);
}

TestSuite(scale_udp, .init = setup, .fini = teardown, .timeout = 60);

static uint64_t counter(const struct ts_stack *st, const char *name)
{
    uint64_t v = 0;
    cr_assert(ts_stack_counter(st, name, &v));
    return v;
}

static struct ts_pcb *udp_bound(struct ts_stack *st, uint16_t port)
{
    int err;
    struct ts_pcb *s = ts_pcb_open(st, TS_PCB_UDP, &err);
    cr_assert_not_null(s);
    struct ts_sockaddr local = {0, port};
    cr_assert_eq(ts_pcb_bind(s, &local), 0, "bind to port %u", port);
    return s;
}

Test(scale_udp, each_datagram_reaches_its_port_examining_about_one_socket)
{
    for (size_t i = 0; i < SOCKETS; i++)
        sock_b[i] = udp_bound(p.b.st, (uint16_t)(UDP_PORT_BASE + i));
    struct ts_pcb *sender = udp_bound(p.a.st, 0);
    uint64_t lookups0 = counter(p.b.st, "sock.lookups"), probes0 = counter(p.b.st, "sock.lookup_probes");
    for (size_t i = 0; i < SOCKETS; i += 7) {
        struct ts_sockaddr to = {SCALE_ADDR_B, (uint16_t)(UDP_PORT_BASE + i)};
        cr_assert_eq(ts_pcb_sendto(sender, p.now, &i, sizeof i, &to), (ssize_t)sizeof i);
    }
    scale_pair_pump(&p);
    for (size_t i = 0; i < SOCKETS; i++) {
        size_t got = 0;
        ssize_t n = ts_pcb_recvfrom(sock_b[i], &got, sizeof got, NULL, false, NULL);
        if (i % 7 == 0)
            cr_assert(n == (ssize_t)sizeof got && got == i, "socket %zu got %zd bytes (%zu)", i, n, got);
        else
            cr_assert_eq(n, -EAGAIN, "socket %zu got a datagram meant for another", i);
    }
    double per = (double)(counter(p.b.st, "sock.lookup_probes") - probes0) /
                 (double)(counter(p.b.st, "sock.lookups") - lookups0);
    cr_expect_leq(per, 1.0, "%.2f sockets examined per datagram with %u bound", per, SOCKETS);
    ts_pcb_close(sender);
}

Test(scale_udp, ephemeral_ports_stay_distinct_and_binding_examines_one_port)
{
    uint64_t lookups0 = counter(p.b.st, "sock.lookups");
    static bool used[65536];
    memset(used, 0, sizeof used);
    for (size_t i = 0; i < SOCKETS; i++) {
        sock_b[i] = udp_bound(p.b.st, 0);
        struct ts_sockaddr local;
        ts_pcb_local(sock_b[i], &local);
        cr_assert(local.port >= 32768 && local.port <= 60999, "port %u outside the ephemeral range", local.port);
        cr_assert(!used[local.port], "port %u handed out twice", local.port);
        used[local.port] = true;
    }
    /* RFC 6056 algorithm 1 walks from a random start: with the range a fifth full, a pick tries
     * about 1.2 ports, each one group lookup. */
    double per_bind = (double)(counter(p.b.st, "sock.lookups") - lookups0) / SOCKETS;
    cr_expect_leq(per_bind, 3.0, "%.2f port lookups per ephemeral bind", per_bind);
    /* A port in use stays refused; with SO_REUSEADDR on both, shared (as BSD sockets do). */
    struct ts_sockaddr taken;
    ts_pcb_local(sock_b[0], &taken);
    int err;
    struct ts_pcb *again = ts_pcb_open(p.b.st, TS_PCB_UDP, &err);
    cr_assert_eq(ts_pcb_bind(again, &taken), -EADDRINUSE);
    cr_assert_eq(ts_pcb_setopt(again, TS_OPT_REUSEADDR, 1), 0);
    cr_assert_eq(ts_pcb_bind(again, &taken), -EADDRINUSE, "the first socket did not allow sharing");
    ts_pcb_close(again);
    struct ts_pcb *first = udp_bound(p.b.st, 0), *second = ts_pcb_open(p.b.st, TS_PCB_UDP, &err);
    struct ts_sockaddr shared;
    ts_pcb_local(first, &shared);
    ts_pcb_close(first);
    first = ts_pcb_open(p.b.st, TS_PCB_UDP, &err);
    cr_assert_eq(ts_pcb_setopt(first, TS_OPT_REUSEADDR, 1), 0);
    cr_assert_eq(ts_pcb_setopt(second, TS_OPT_REUSEADDR, 1), 0);
    cr_assert_eq(ts_pcb_bind(first, &shared), 0, "a closed socket's port is free again");
    cr_assert_eq(ts_pcb_bind(second, &shared), 0);
    ts_pcb_close(first);
    ts_pcb_close(second);
}
