/*
 * Resource limits (docs/limits.md): each bound holds at its configured value, what
 * goes past it is counted, and ts_stack_get_usage reports occupancy and high-water
 * marks. The floods themselves run in tests/integration/test_flood_*.sh.
 */
#include <criterion/criterion.h>
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

TestSuite(limits, .fini = teardown);

static void established_with(const struct ts_stack_config *cfg)
{
    start(cfg);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
}

static struct ts_stack_usage usage(void)
{
    struct ts_stack_usage u;
    ts_stack_get_usage(t.f.st, &u);
    return u;
}

Test(limits, out_of_window_pure_acks_are_answered_once_per_interval)
{
    established_with(NULL);
    /* RFC 9293 3.10.7.4 answers each with an ACK; a blind flood of them gets one per 500 ms. */
    uint32_t far = t.peer_nxt + 0x40000000u;
    tp_send(&t, TCP_ACK, far, t.stack_nxt, NULL, 0);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    for (int i = 0; i < 10; i++)
        tp_send(&t, TCP_ACK, far + (uint32_t)i * 7919, t.stack_nxt, NULL, 0);
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, "tcp.oow_acks_limited"), 10);
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_out_of_window"), 11);
    t.now += TS_MSEC(500);
    tp_send(&t, TCP_ACK, far, t.stack_nxt, NULL, 0);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
}

Test(limits, out_of_window_data_is_always_answered)
{
    established_with(NULL);
    /* Old data is a retransmission whose ACK was lost: the sender waits for our answer. */
    for (int i = 0; i < 5; i++) {
        tp_send(&t, TCP_ACK | TCP_PSH, t.peer_nxt - 3, t.stack_nxt, "old", 3);
        tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    }
    cr_assert_eq(fx_counter(&t.f, "tcp.oow_acks_limited"), 0);
}

Test(limits, oow_ack_limit_of_zero_answers_every_segment)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    cfg.timing.tcp_oow_ack_interval = 0;
    established_with(&cfg);
    for (int i = 0; i < 3; i++) {
        tp_send(&t, TCP_ACK, t.peer_nxt + 0x40000000u, t.stack_nxt, NULL, 0);
        tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    }
}

Test(limits, out_of_order_queue_is_bounded_in_segments_as_well_as_bytes)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    cfg.limits.tcp_ooo_max_segments = 4;
    established_with(&cfg);
    /* Six one-byte segments after a two-byte hole: four are kept, two dropped under drop_ooo_full. */
    for (uint32_t i = 0; i < 6; i++) {
        tp_send(&t, TCP_ACK | TCP_PSH, t.peer_nxt + 2 + i, t.stack_nxt, "x", 1);
        tp_next(&t); /* the duplicate ACK with SACK blocks */
    }
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_ooo_full"), 2);
    struct ts_stack_usage u = usage();
    cr_assert_eq(u.tcp_ooo_segments, 4);
    cr_assert_eq(u.tcp_ooo_bytes, 4);
    /* The hole filled, the four drain in order. */
    tp_send(&t, TCP_ACK | TCP_PSH, t.peer_nxt, t.stack_nxt, "ab", 2);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt + 6);
    cr_assert_eq(usage().tcp_ooo_segments, 0);
}

Test(limits, challenge_ack_rate_follows_its_limit)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    cfg.limits.tcp_challenge_acks_per_sec = 2;
    established_with(&cfg);
    struct fx_tcp_segment rst = {.seq = t.peer_nxt + 1, .flags = TCP_RST};
    for (int i = 0; i < 2; i++) {
        tp_input(&t, rst);
        tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    }
    tp_input(&t, rst);
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, "tcp.challenge_acks"), 2);
    cr_assert_eq(fx_counter(&t.f, "tcp.challenge_acks_limited"), 1);
}

Test(limits, usage_reports_the_syn_queue_against_its_limit_and_its_high_water)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    cfg.limits.tcp_syn_queue = 2;
    start(&cfg);
    tp_listen(&t, 8);
    for (uint16_t i = 0; i < 3; i++) {
        struct fx_tcp_segment syn = {.sport = (uint16_t)(TP_PEER_PORT + i), .dport = TP_STACK_PORT,
                                     .seq = TP_PEER_ISS, .flags = TCP_SYN, .window = 65535};
        tp_input(&t, syn);
        const struct tp_seg *s = tp_next(&t);
        cr_assert_eq(s->h.flags, TCP_SYN | TCP_ACK);
        cr_assert_eq(s->h.ack, TP_PEER_ISS + 1);
    }
    struct ts_stack_usage u = usage();
    cr_assert_eq(u.tcp_syn_queue, 2, "the queue is full at its limit");
    cr_assert_eq(u.tcp_syn_queue_high_water, 2);
    cr_assert_eq(fx_counter(&t.f, "tcp.syn_cookies_sent"), 1, "the third SYN got a cookie, not a slot");
    cr_assert_eq(u.sockets, 3, "the listener and two half-open connections");
    cr_assert_eq(u.pbufs, 0);
    cr_assert_geq(u.memory_high_water, u.memory_bytes);
    cr_assert_gt(u.pbufs_high_water, 0);
    cr_assert_eq(u.memory_bytes, ts_stack_memory_in_use(t.f.st));
}

Test(limits, memory_high_water_survives_the_memory_going_back)
{
    start(NULL);
    size_t base = ts_stack_memory_in_use(t.f.st);
    /* A fragment held in reassembly, then the datagram given up: memory returns, the marks stay. */
    uint8_t frame[256], payload[64];
    memset(payload, 0x5a, sizeof payload);
    size_t n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 17, 77, 0x2000, payload, sizeof payload);
    fx_input(&t.f, t.now, frame, n);
    struct ts_stack_usage held = usage();
    cr_assert_eq(held.reasm_datagrams, 1);
    cr_assert_eq(held.reasm_bytes, sizeof payload);
    tp_advance(&t, t.now + TS_SEC(31));
    struct ts_stack_usage after = usage();
    cr_assert_eq(after.reasm_datagrams, 0);
    cr_assert_eq(after.reasm_bytes, 0);
    cr_assert_eq(after.reasm_bytes_high_water, sizeof payload);
    cr_assert_gt(after.memory_high_water, base);
    cr_assert_eq(fx_counter(&t.f, "ip.drop_frag_timeout"), 1);
}
