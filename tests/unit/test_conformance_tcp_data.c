/*
 * RFC 9293 Appendix B requirements (MUST-n) about windows, keep-alives, PSH and ACK generation
 * that no other test checked, on one stack driven by a hand-made peer (tests/support/tcp_peer.h).
 * docs/conformance.md maps every MUST-1..MUST-69 to its test or says why it does not apply.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tcp_peer.h"

static struct tp t;

static void start(const struct ts_stack_config *cfg)
{
    tp_init(&t, cfg);
}

static void teardown(void)
{
    tp_fini(&t);
}

TestSuite(conformance_tcp_data, .fini = teardown);

static void established(void)
{
    start(NULL);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
}

/* ---- keep-alive (RFC 9293 3.8.4): MUST-24 .. MUST-28 ------------------------------------------------ */

/* The first keep-alive probe (SEG.SEQ = SND.NXT - 1, no data) the stack sends before limit, or NULL. */
static const struct tp_seg *next_probe(ts_time limit)
{
    for (;;) {
        const struct tp_seg *s = tp_run_until_segment(&t, limit);
        if (s == NULL)
            return NULL;
        if (s->h.seq == t.stack_nxt - 1 && s->len == 0)
            return s;
    }
}

Test(conformance_tcp_data, must_25_keep_alives_are_off_by_default)
{
    established();
    int on = -1;
    cr_assert_eq(ts_pcb_getopt(t.pcb, TS_OPT_KEEPALIVE, &on), 0);
    cr_assert_eq(on, 0);
    cr_assert_null(next_probe(t.now + TS_SEC(3 * 3600)), "three idle hours without a probe");
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    cr_assert_eq(fx_counter(&t.f, "tcp.keepalive_probes"), 0);
}

Test(conformance_tcp_data, must_28_the_keep_alive_interval_defaults_to_two_hours)
{
    established();
    ts_time idle_since = t.now;
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPALIVE, 1), 0);
    int idle = 0;
    cr_assert_eq(ts_pcb_getopt(t.pcb, TS_OPT_KEEPIDLE, &idle), 0);
    cr_assert_eq(idle, 7200);
    const struct tp_seg *p = next_probe(t.now + TS_SEC(3 * 3600));
    cr_assert_not_null(p);
    cr_assert_eq(p->when, idle_since + TS_SEC(7200), "first probe after exactly two idle hours");
}

Test(conformance_tcp_data, must_24_keep_alives_can_be_turned_on_and_off_for_each_connection)
{
    established();
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPIDLE, 10), 0);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPALIVE, 1), 0);
    cr_assert_not_null(next_probe(t.now + TS_SEC(11)));
    tp_send_ack(&t, t.stack_nxt); /* the probe is answered */
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPALIVE, 0), 0);
    cr_assert_null(next_probe(t.now + TS_SEC(600)), "off again: no more probes");
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
}

Test(conformance_tcp_data, must_26_27_a_probe_goes_out_only_after_the_configured_interval_without_traffic)
{
    established();
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPIDLE, 10), 0);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPALIVE, 1), 0);
    /* The peer sends something every 6 s for a minute: never 10 s of silence, never a probe. */
    for (int i = 0; i < 10; i++) {
        cr_assert_null(next_probe(t.now + TS_SEC(6)), "probe during traffic, round %d", i);
        tp_send_data(&t, "x", 1);
    }
    ts_time last = t.now;
    const struct tp_seg *p = next_probe(t.now + TS_SEC(60));
    cr_assert_not_null(p);
    cr_assert_eq(p->when, last + TS_SEC(10), "10 s after the last segment received");
}

/* ---- MUST-34: window shrinking ------------------------------------------------------------------------ */

Test(conformance_tcp_data, must_34_a_window_the_peer_shrinks_below_what_is_in_flight_is_survived)
{
    start(NULL);
    struct fx_tcp_options o = {.mss = 1000};
    tp_open_passive(&t, &o);
    uint8_t data[6000];
    tp_pattern(data, sizeof data, 9);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_NODELAY, 1), 0);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, 3000), 3000);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tp_next(&t)->len, 1000);
    /* The peer takes the first 1000 bytes and moves its right edge left: SND.UNA + 100 < SND.NXT. */
    t.peer_window = 100;
    tp_send_ack(&t, t.stack_nxt + 1000);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data + 3000, 3000), 3000);
    tp_expect_nothing(&t); /* no new data beyond the shrunken window */
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    /* The window opens again: everything arrives, in order, exactly once. */
    t.peer_window = 65535;
    tp_send_ack(&t, t.stack_nxt + 1000);
    uint32_t next = t.stack_nxt + 3000;
    uint32_t acked = t.stack_nxt + 1000;
    for (int guard = 0; guard < 100 && acked != t.stack_nxt + 6000; guard++) {
        const struct tp_seg *s = tp_run_until_segment(&t, t.now + TS_SEC(10));
        cr_assert_not_null(s);
        uint32_t off = s->h.seq - t.stack_nxt;
        cr_assert_leq(off + s->len, sizeof data);
        cr_assert_arr_eq(s->data, data + off, s->len);
        if (s->h.seq + (uint32_t)s->len - next < 0x80000000u && s->len > 0)
            next = s->h.seq + (uint32_t)s->len;
        acked = next;
        tp_send_ack(&t, acked);
    }
    cr_assert_eq(acked, t.stack_nxt + 6000);
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
}

/* ---- MUST-58, MUST-59: ACKs are aggregated -------------------------------------------------------------- */

Test(conformance_tcp_data, must_58_59_segments_queued_behind_a_hole_are_all_processed_before_one_ack)
{
    established();
    uint8_t data[4000];
    tp_pattern(data, sizeof data, 11);
    uint32_t base = t.peer_nxt;
    /* Three segments above a hole of 1000 bytes: each gets its immediate duplicate ACK (RFC 5681 4.2). */
    for (int i = 1; i < 4; i++) {
        tp_send(&t, TCP_ACK, base + 1000u * (uint32_t)i, t.stack_nxt, data + 1000 * i, 1000);
        const struct tp_seg *d = tp_expect(&t, TCP_ACK, t.stack_nxt, base);
        cr_assert_eq(d->h.opt.sack_count, 1);
    }
    /* The hole fills: the queue is drained and ONE acknowledgment covers all of it. */
    tp_send(&t, TCP_ACK | TCP_PSH, base, t.stack_nxt, data, 1000);
    tp_expect(&t, TCP_ACK, t.stack_nxt, base + 4000);
    tp_advance(&t, t.now + TS_SEC(1));
    tp_expect_nothing(&t);
    uint8_t buf[4000];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, buf, sizeof buf, false), 4000);
    cr_assert_arr_eq(buf, data, sizeof data);
}

/* ---- MUST-60, MUST-61: PSH without a PUSH flag on SEND -------------------------------------------------- */

Test(conformance_tcp_data, must_60_61_psh_marks_the_segment_that_empties_the_queue_and_nothing_waits_forever)
{
    established();
    uint32_t mss = tp_info(&t).snd_mss;
    uint8_t data[3000];
    tp_pattern(data, sizeof data, 13);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), (ssize_t)sizeof data);
    const struct tp_seg *s = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(s->len, mss, "a full segment, more queued behind it: no PSH");
    s = tp_expect(&t, TCP_ACK, t.stack_nxt + mss, t.peer_nxt);
    cr_assert_eq(s->len, mss);
    tp_expect_nothing(&t); /* Nagle holds the short tail while data is unacknowledged ... */
    tp_send_ack(&t, t.stack_nxt + 2 * mss);
    /* ... and lets it go, with PSH, as soon as the data before it is acknowledged. */
    s = tp_expect(&t, TCP_ACK | TCP_PSH, t.stack_nxt + 2 * mss, t.peer_nxt);
    cr_assert_eq(s->len, sizeof data - 2 * mss);
    /* Unacknowledged, it is not held either: the retransmission timer sends it again, still with PSH. */
    s = tp_run_until_segment(&t, t.now + TS_SEC(5));
    cr_assert_not_null(s);
    cr_assert_eq(s->h.flags, TCP_ACK | TCP_PSH);
    cr_assert_eq(s->h.seq, t.stack_nxt + 2 * mss);
}

/* ---- MUST-66: RST (and the acceptability test) with a zero receive window ----------------------------- */

Test(conformance_tcp_data, must_66_a_rst_at_rcv_nxt_is_processed_while_the_receive_window_is_zero)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    cfg.limits.tcp_rcvbuf_default = 4000;
    start(&cfg);
    struct fx_tcp_options o = {.mss = 1000};
    tp_open_passive(&t, &o);
    uint8_t data[1000];
    tp_pattern(data, sizeof data, 17);
    const struct tp_seg *last = NULL;
    for (int i = 0; i < 4; i++) {
        tp_send_data(&t, data, sizeof data);
        for (const struct tp_seg *s; (s = tp_try_next(&t)) != NULL;)
            last = s;
    }
    tp_advance(&t, t.now + TS_SEC(1));
    for (const struct tp_seg *s; (s = tp_try_next(&t)) != NULL;)
        last = s;
    cr_assert_not_null(last);
    cr_assert_eq(last->h.ack, t.peer_nxt);
    cr_assert_eq(last->h.window, 0, "the receive window is closed");
    /* More data is not acceptable at a zero window: it is answered with an ACK and dropped. */
    tp_send(&t, TCP_ACK, t.peer_nxt, t.stack_nxt, data, 100);
    const struct tp_seg *a = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(a->h.window, 0);
    /* A RST at RCV.NXT is still processed. */
    struct fx_tcp_segment rst = {.seq = t.peer_nxt, .flags = TCP_RST};
    tp_input(&t, rst);
    tp_expect_nothing(&t);
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSED);
    cr_assert_eq(ts_pcb_take_error(t.pcb), ECONNRESET);
}
