/*
 * The TCP timer heap (stack/tcp_timer_heap.c) must always agree with the
 * connections' own deadlines: every write to a timer field goes through
 * tcp_timer_set, and a write that bypassed it would leave a connection's timer
 * unfired. These tests drive busy, lossy conversations (retransmissions,
 * delayed ACKs, zero windows, keep-alive, FIN-WAIT and TIME-WAIT) and after
 * every step compare the heap with a scan of every connection.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "pair_fixture.h"
#include "scale_pair.h"
#include "tcp.h"

#define CONNS 6

static struct pair p;

static void teardown(void)
{
    if (p.a.st != NULL)
        pair_fini(&p);
}

TestSuite(scale_timers, .fini = teardown, .timeout = 60);

/* Each connection with a deadline is in the heap under exactly that key; the heap is ordered. */
static void check_heap(const struct ts_stack *st)
{
    size_t with_deadline = 0;
    for (const struct ts_pcb *pcb = st->pcbs; pcb != NULL; pcb = pcb->next) {
        const struct tcp_conn *c = pcb->tcp;
        if (pcb->type != TS_PCB_TCP || c == NULL)
            continue;
        ts_time deadline = tcp_conn_deadline(c);
        if (deadline == TS_TIME_NEVER)
            continue;
        with_deadline++;
        cr_assert_lt(c->timer_slot, st->timer_count, "a connection with a deadline is missing from the heap");
        cr_assert_eq(st->timer_heap[c->timer_slot].conn, c);
        cr_assert_eq(st->timer_heap[c->timer_slot].key, deadline, "heap key %lld, the connection's deadline %lld",
                     (long long)st->timer_heap[c->timer_slot].key, (long long)deadline);
    }
    cr_assert_eq(st->timer_count, with_deadline, "the heap holds a connection without a deadline");
    for (size_t i = 1; i < st->timer_count; i++)
        cr_assert_leq(st->timer_heap[(i - 1) / 2].key, st->timer_heap[i].key, "heap order broken at %zu", i);
}

static void step_and_check(void)
{
    pair_run(&p, p.step);
    check_heap(p.a.st);
    check_heap(p.b.st);
}

static void drain(struct ts_pcb *pcb)
{
    uint8_t buf[4096];
    while (ts_pcb_recv(pcb, p.now, buf, sizeof buf, false) > 0)
        ;
}

Test(scale_timers, heap_follows_every_deadline_through_lossy_transfers_and_closes)
{
    pair_init(&p, "loss=5%,reorder=10%,dup=1%", NULL, NULL);
    struct ts_pcb *l = pair_tcp_listen(p.b.st, 80, 16);
    struct ts_pcb *client[CONNS], *server[CONNS];
    for (int i = 0; i < CONNS; i++)
        client[i] = pair_tcp_connect(&p, l, 80, &server[i]);
    /* Keep-alive with short intervals on two, a small receive buffer (zero windows) on one. */
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(ts_pcb_setopt(server[i], TS_OPT_KEEPALIVE, 1), 0);
        cr_assert_eq(ts_pcb_setopt(server[i], TS_OPT_KEEPIDLE, 1), 0);
        cr_assert_eq(ts_pcb_setopt(server[i], TS_OPT_KEEPINTVL, 1), 0);
    }
    static uint8_t data[64 * 1024];
    memset(data, 'd', sizeof data);
    bool client_gone[CONNS] = {false};
    for (int round = 0; round < 30000; round++) {
        for (int i = 0; i < CONNS; i++) {
            if (client_gone[i])
                continue;
            if (round < 15000 && round % (i + 2) == 0)
                ts_pcb_send(client[i], p.now, data, 1000 + (size_t)i * 700);
            if (round % 3 == 0)
                ts_pcb_send(server[i], p.now, data, 300);
            /* Connection 5's reader sleeps for a while: its peer meets a zero window and probes. */
            if (i != 5 || round > 8000)
                drain(server[i]);
            drain(client[i]);
        }
        if (round == 20000) {
            ts_pcb_close_at(client[0], p.now);       /* FIN-WAIT, then TIME-WAIT */
            ts_pcb_shutdown(server[1], p.now, TS_SHUT_WR);
            ts_pcb_abort(client[2], p.now);          /* a reset */
            client_gone[0] = client_gone[2] = true;
        }
        step_and_check();
    }
    for (int i = 0; i < CONNS; i++) {
        if (!client_gone[i])
            ts_pcb_close_at(client[i], p.now);
        ts_pcb_close_at(server[i], p.now);
    }
    ts_pcb_close_at(l, p.now);
    for (int i = 0; i < 20000; i++)
        step_and_check();
    pair_run(&p, TS_SEC(130));
    check_heap(p.a.st);
    check_heap(p.b.st);
    cr_expect_eq(ts_stack_next_deadline(p.a.st), TS_TIME_NEVER, "client stack still has a timer");
    cr_expect_eq(ts_stack_next_deadline(p.b.st), TS_TIME_NEVER, "server stack still has a timer");
}

/* The TCP destination ports of the frames queued one way, in order. */
static size_t queued_dst_ports(const struct scale_queue *q, uint16_t *ports, size_t max)
{
    size_t n = 0;
    for (size_t at = 0; at < q->len && n < max;) {
        uint32_t len;
        memcpy(&len, q->buf + at, sizeof len);
        const uint8_t *ip = q->buf + at + sizeof len + 14;
        const uint8_t *tcp = ip + (ip[0] & 0x0f) * 4;
        ports[n++] = (uint16_t)(tcp[2] << 8 | tcp[3]);
        at += sizeof len + len;
    }
    return n;
}

/* Connections due at one instant run newest first, as the scan of the pcb list ran them before. */
Test(scale_timers, connections_due_together_run_newest_first)
{
    struct scale_pair sp;
    cr_assert_eq(scale_pair_init(&sp, 4, 3), 0);
    cr_assert_eq(scale_pair_open(&sp, 4), 4);
    /* One small segment to each server at the same instant: each owes a delayed ACK, all due together. */
    for (int i = 0; i < 4; i++)
        cr_assert_eq(ts_pcb_send(sp.clients[i], sp.now, "x", 1), 1);
    scale_pair_pump(&sp);
    ts_time due = ts_stack_next_deadline(sp.b.st);
    cr_assert_eq(due, sp.now + ts_stack_config_of(sp.b.st)->timing.tcp_delack);
    cr_assert_eq(sp.b.st->timer_count, 4);
    sp.now = due;
    ts_stack_poll(sp.b.st, due);
    uint16_t ports[8];
    cr_assert_eq(queued_dst_ports(&sp.ba, ports, 8), 4, "one delayed ACK per connection");
    /* Server pcbs were created in the clients' order, so the newest serves the last client port. */
    for (int i = 0; i < 4; i++)
        cr_expect_eq(ports[i], SCALE_LPORT_BASE + 3 - (unsigned)i, "ACK %d went to port %u", i, ports[i]);
    cr_expect_eq(ts_stack_next_deadline(sp.b.st), TS_TIME_NEVER);
    scale_pair_pump(&sp);
    cr_expect(scale_pair_close_all(&sp));
    cr_expect_eq(scale_pair_fini(&sp), 0);
}
