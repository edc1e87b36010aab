#include "pair_fixture.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t pair_rxbuf[TS_NETDEV_MAX_FRAME];


static int pair_transmit(void *ctx, ts_time when, const uint8_t *frame, size_t len)
{
    struct pair_side *s = ctx;
    return ts_netdev_transmit(s->dev, when, frame, len);
}

/* TS_TEST_TRACE=1 in the environment prints both stacks' trace: the way to see why a test fails. */
static void pair_trace(void *ctx, const struct ts_trace_event *ev)
{
    fprintf(stderr, "%10.6f %s %-4s %s\n", (double)(ev->now - TS_SEC(1000)) / 1e6, (const char *)ctx,
            ts_trace_layer_name(ev->layer), ev->text);
}

void pair_default_config(struct ts_stack_config *cfg, ts_ipv4_addr addr, uint8_t mac_last, uint64_t seed)
{
    ts_stack_config_init(cfg);
    uint8_t mac[6] = {2, 0, 0, 0, 0, mac_last};
    memcpy(cfg->mac, mac, 6);
    cfg->addr = addr;
    cfg->prefix_len = 24;
    cfg->seed = seed;
    if (getenv("TS_TEST_TRACE") != NULL) {
        cfg->trace = pair_trace;
        cfg->trace_ctx = mac_last == 1 ? "a" : "b";
        cfg->trace_mask = TS_TRACE_ALL & ~(uint32_t)TS_TRACE_ETH;
    }
}

static void side_init(struct pair_side *s, struct ts_netdev *dev, const struct ts_stack_config *cfg)
{
    s->dev = dev;
    struct ts_link link = {.ctx = s, .transmit = pair_transmit, .mtu = 1500};
    s->st = ts_stack_new(cfg, &link);
    cr_assert_not_null(s->st);
}

void pair_init(struct pair *p, const char *impair, const struct ts_stack_config *cfg_a,
               const struct ts_stack_config *cfg_b)
{
    memset(p, 0, sizeof *p);
    struct ts_netdev *da, *db;
    cr_assert_eq(ts_memlink_pair(1500, &da, &db), 0);
    if (impair != NULL) {
        struct ts_impair_spec spec;
        char err[128];
        cr_assert_eq(ts_impair_parse(impair, &spec, err, sizeof err), 0, "%s", err);
        da = ts_impair_wrap(da, &spec, 7);
        cr_assert_not_null(da);
    }
    struct ts_stack_config ca, cb;
    if (cfg_a == NULL) {
        pair_default_config(&ca, PAIR_ADDR_A, 1, 1);
        cfg_a = &ca;
    }
    if (cfg_b == NULL) {
        pair_default_config(&cb, PAIR_ADDR_B, 2, 2);
        cfg_b = &cb;
    }
    p->now = TS_SEC(1000);
    p->step = 100;
    side_init(&p->a, da, cfg_a);
    side_init(&p->b, db, cfg_b);
}

void pair_fini(struct pair *p)
{
    cr_expect_eq(ts_stack_free(p->a.st), 0, "stack a leaked packet buffers");
    cr_expect_eq(ts_stack_free(p->b.st), 0, "stack b leaked packet buffers");
    ts_netdev_destroy(p->a.dev);
    ts_netdev_destroy(p->b.dev);
}

static void side_step(struct pair_side *s, ts_time now)
{
    size_t len;
    ts_time when;
    for (int i = 0; i < 512; i++) {
        int r = ts_netdev_receive(s->dev, now, pair_rxbuf, sizeof pair_rxbuf, &len, &when);
        if (r != 1)
            break;
        ts_stack_input(s->st, now, pair_rxbuf, len);
    }
    ts_netdev_poll(s->dev, now);
    if (ts_stack_next_deadline(s->st) <= now)
        ts_stack_poll(s->st, now);
}

void pair_run(struct pair *p, ts_time duration)
{
    ts_time end = p->now + duration;
    while (p->now < end) {
        side_step(&p->a, p->now);
        side_step(&p->b, p->now);
        p->now += p->step;
    }
}

bool pair_run_until(struct pair *p, ts_time limit, bool (*cond)(void *ctx), void *ctx)
{
    ts_time end = p->now + limit;
    while (p->now < end) {
        if (cond(ctx))
            return true;
        side_step(&p->a, p->now);
        side_step(&p->b, p->now);
        p->now += p->step;
    }
    return cond(ctx);
}

struct ts_pcb *pair_tcp_listen(struct ts_stack *st, uint16_t port, int backlog)
{
    int err;
    struct ts_pcb *l = ts_pcb_open(st, TS_PCB_TCP, &err);
    cr_assert_not_null(l);
    struct ts_sockaddr local = {0, port};
    cr_assert_eq(ts_pcb_bind(l, &local), 0);
    cr_assert_eq(ts_pcb_listen(l, backlog), 0);
    return l;
}

enum ts_tcp_state pair_tcp_state(const struct ts_pcb *pcb)
{
    struct ts_tcp_info info;
    cr_assert_eq(ts_pcb_tcp_info(pcb, &info), 0);
    return info.state;
}

struct ts_pcb *pair_tcp_connect(struct pair *p, struct ts_pcb *listener, uint16_t port, struct ts_pcb **server)
{
    int err;
    struct ts_pcb *c = ts_pcb_open(p->a.st, TS_PCB_TCP, &err);
    cr_assert_not_null(c);
    struct ts_sockaddr to = {PAIR_ADDR_B, port};
    cr_assert_eq(ts_pcb_connect(c, p->now, &to), -EINPROGRESS);
    *server = NULL;
    for (int i = 0; i < 100000 && *server == NULL; i++) {
        pair_run(p, p->step);
        *server = ts_pcb_accept(listener, &err);
    }
    cr_assert_not_null(*server, "no connection to accept");
    pair_run(p, TS_MSEC(1));
    cr_assert_eq(pair_tcp_state(c), TS_TCP_ESTABLISHED);
    cr_assert_eq(pair_tcp_state(*server), TS_TCP_ESTABLISHED);
    return c;
}
