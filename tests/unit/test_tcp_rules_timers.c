/*
 * TCP's timing rules, one test each, on one stack driven by a hand-made peer
 * (tests/support/tcp_peer.h) on a virtual clock: delayed ACKs, Nagle,
 * retransmission and RTT estimation, fast retransmit and NewReno, zero-window
 * probing, keep-alive, TIME-WAIT.
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

TestSuite(tcp_timers, .fini = teardown);

/* An established connection with Linux's options (timestamps: the ACK clock is exact). */
static void established(void)
{
    start(NULL);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
}

/* An established connection without timestamps or SACK, whose handshake measured `rtt`. */
static void established_plain(ts_time rtt, uint16_t mss)
{
    start(NULL);
    struct fx_tcp_options o = {.mss = mss};
    t.handshake_rtt = rtt;
    tp_open_passive(&t, &o);
}

/* An active open from our port `port` to the peer: the SYN is sent, not yet examined. */
static void connect_from(uint16_t port)
{
    t.stack_port = port;
    tp_connect(&t);
}

static double rel(ts_time when)
{
    return (double)(when - TP_START) / 1e6;
}

/* ---- delayed ACK (RFC 9293 3.8.6.3, RFC 1122 4.2.3.2) ------------------------------------------------- */

Test(tcp_timers, one_full_segment_is_acked_when_the_200ms_timer_fires)
{
    established();
    uint8_t data[1448];
    tp_pattern(data, sizeof data, 1);
    ts_time sent = t.now;
    tp_send_data(&t, data, sizeof data);
    tp_expect_nothing(&t);
    const struct tp_seg *ack = tp_run_until_segment(&t, t.now + TS_SEC(1));
    cr_assert_not_null(ack);
    cr_assert_eq(ack->h.flags, TCP_ACK);
    cr_assert_eq(ack->h.ack, t.peer_nxt);
    cr_assert_eq(ack->when, sent + TS_MSEC(200), "ACK at %.6f s", rel(ack->when));
    cr_assert_eq(fx_counter(&t.f, "tcp.delayed_acks"), 1);
}

Test(tcp_timers, second_full_segment_is_acked_at_once)
{
    established();
    uint8_t data[2 * 1448];
    tp_pattern(data, sizeof data, 2);
    tp_send_data(&t, data, 1448);
    tp_expect_nothing(&t);
    t.now += TS_MSEC(10);
    tp_send_data(&t, data + 1448, 1448);
    const struct tp_seg *ack = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(ack->when, t.now);
    /* Nothing is left for the timer. */
    tp_advance(&t, t.now + TS_SEC(1));
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, "tcp.delayed_acks"), 0);
}

Test(tcp_timers, out_of_order_data_gets_an_immediate_duplicate_ack_with_sack_blocks)
{
    established();
    uint8_t data[3 * 1448];
    tp_pattern(data, sizeof data, 3);
    uint32_t base = t.peer_nxt;
    /* The first segment is lost; the second and third arrive. */
    tp_send(&t, TCP_ACK, base + 1448, t.stack_nxt, data + 1448, 1448);
    const struct tp_seg *dup = tp_expect(&t, TCP_ACK, t.stack_nxt, base);
    cr_assert_eq(dup->when, t.now, "RFC 5681 4.2: at once, not delayed");
    cr_assert_eq(dup->h.opt.sack_count, 1, "RFC 2018 4");
    cr_assert_eq(dup->h.opt.sack[0].left, base + 1448);
    cr_assert_eq(dup->h.opt.sack[0].right, base + 2 * 1448);
    cr_assert(dup->h.opt.has_timestamps);
    tp_send(&t, TCP_ACK, base + 2 * 1448, t.stack_nxt, data + 2 * 1448, 1448);
    dup = tp_expect(&t, TCP_ACK, t.stack_nxt, base);
    cr_assert_eq(dup->h.opt.sack_count, 1, "adjacent segments form one block");
    cr_assert_eq(dup->h.opt.sack[0].left, base + 1448);
    cr_assert_eq(dup->h.opt.sack[0].right, base + 3 * 1448);
    /* The segment that fills the hole is acknowledged at once, and the SACK blocks are gone. */
    tp_send(&t, TCP_ACK, base, t.stack_nxt, data, 1448);
    const struct tp_seg *ack = tp_expect(&t, TCP_ACK, t.stack_nxt, base + 3 * 1448);
    cr_assert_eq(ack->when, t.now);
    cr_assert_eq(ack->h.opt.sack_count, 0);
    uint8_t out[sizeof data];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, out, sizeof out, false), (ssize_t)sizeof data);
    cr_assert_arr_eq(out, data, sizeof data);
}

/* ---- ACKs held to the end of an input batch (cfg.tcp_ack_at_batch_end) ---------------------------------- */

/* An established connection (Linux's options) on a stack whose driver polls after each batch of frames. */
static void established_batching(void)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    cfg.tcp_ack_at_batch_end = true;
    start(&cfg);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
}

Test(tcp_timers, batching_holds_the_second_segment_ack_for_the_poll_that_ends_the_batch)
{
    established_batching();
    uint8_t data[4 * 1448];
    tp_pattern(data, sizeof data, 4);
    for (int i = 0; i < 4; i++)
        tp_send_data(&t, data + i * 1448, 1448);
    tp_expect_nothing(&t);
    cr_assert_eq(ts_stack_next_deadline(t.f.st), t.now, "the held ACK is due now");
    ts_stack_poll(t.f.st, t.now);
    const struct tp_seg *ack = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(ack->when, t.now);
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, "tcp.acks_at_batch_end"), 1, "four segments, one ACK");
    cr_assert_eq(fx_counter(&t.f, "tcp.delayed_acks"), 0);
}

Test(tcp_timers, batching_never_holds_an_ack_for_more_than_64_KB)
{
    established_batching();
    uint8_t data[1448];
    tp_pattern(data, sizeof data, 8);
    /* 45 full segments (65,160 bytes) are held for the end of the batch, as one GRO super-segment's ACK. */
    for (int i = 0; i < 45; i++)
        tp_send_data(&t, data, sizeof data);
    tp_expect_nothing(&t);
    /* The 46th would stretch the ACK past 64 KB: acknowledged at once. */
    tp_send_data(&t, data, sizeof data);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    ts_stack_poll(t.f.st, t.now);
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, "tcp.acks_at_batch_end"), 0);
}

Test(tcp_timers, batching_lets_a_read_in_the_batch_carry_the_ack_with_the_opened_window)
{
    established_batching();
    uint8_t data[8 * 1448];
    tp_pattern(data, sizeof data, 5);
    for (int i = 0; i < 8; i++)
        tp_send_data(&t, data + i * 1448, 1448);
    tp_expect_nothing(&t);
    uint8_t out[sizeof data];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, out, sizeof out, false), (ssize_t)sizeof data);
    cr_assert_arr_eq(out, data, sizeof data);
    /* The read opened the window by more than 2 MSS: its window update is the ACK. */
    const struct tp_seg *ack = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    size_t cap = (size_t)ack->h.window << 7;
    cr_assert_geq(cap, sizeof data, "the window update offers the read space again");
    ts_stack_poll(t.f.st, t.now);
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, "tcp.acks_at_batch_end"), 0);
}

Test(tcp_timers, batching_still_answers_out_of_order_data_and_a_fin_at_once)
{
    established_batching();
    uint8_t data[3 * 1448];
    tp_pattern(data, sizeof data, 6);
    uint32_t base = t.peer_nxt;
    tp_send_data(&t, data, 1448);
    tp_send_data(&t, data + 1448, 1448);
    tp_expect_nothing(&t);
    /* A segment beyond a hole: RFC 5681 4.2's duplicate ACK leaves with the input, and covers the held ACK. */
    uint8_t beyond[1448];
    tp_pattern(beyond, sizeof beyond, 7);
    tp_send(&t, TCP_ACK, base + 3 * 1448, t.stack_nxt, beyond, sizeof beyond);
    const struct tp_seg *dup = tp_expect(&t, TCP_ACK, t.stack_nxt, base + 2 * 1448);
    cr_assert_eq(dup->h.opt.sack_count, 1);
    ts_stack_poll(t.f.st, t.now);
    tp_expect_nothing(&t);
    /* The segment that fills the hole: acknowledged at once. */
    tp_send(&t, TCP_ACK, base + 2 * 1448, t.stack_nxt, data + 2 * 1448, 1448);
    tp_expect(&t, TCP_ACK, t.stack_nxt, base + 4 * 1448);
    /* The FIN: acknowledged at once. */
    tp_send(&t, TCP_ACK | TCP_FIN, base + 4 * 1448, t.stack_nxt, NULL, 0);
    tp_expect(&t, TCP_ACK, t.stack_nxt, base + 4 * 1448 + 1);
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSE_WAIT);
    cr_assert_eq(fx_counter(&t.f, "tcp.acks_at_batch_end"), 0);
}

/* ---- Nagle (RFC 896, RFC 9293 3.7.4) ------------------------------------------------------------------ */

Test(tcp_timers, nagle_holds_a_small_segment_until_the_outstanding_data_is_acked)
{
    established();
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "first", 5), 5);
    tp_expect(&t, TCP_ACK | TCP_PSH, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "second", 6), 6);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "third", 5), 5);
    tp_expect_nothing(&t);
    tp_advance(&t, t.now + TS_MSEC(100));
    tp_expect_nothing(&t);
    t.stack_nxt += 5;
    tp_send_ack(&t, t.stack_nxt);
    const struct tp_seg *s = tp_expect(&t, TCP_ACK | TCP_PSH, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(s->len, 11, "the small writes went out together");
    cr_assert_arr_eq(s->data, "secondthird", 11);
}

Test(tcp_timers, nodelay_sends_each_small_write_at_once)
{
    established();
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_NODELAY, 1), 0);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "first", 5), 5);
    tp_expect(&t, TCP_ACK | TCP_PSH, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "second", 6), 6);
    const struct tp_seg *s = tp_expect(&t, TCP_ACK | TCP_PSH, t.stack_nxt + 5, t.peer_nxt);
    cr_assert_eq(s->len, 6);
}

Test(tcp_timers, setting_nodelay_flushes_what_nagle_held)
{
    established();
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "first", 5), 5);
    tp_next(&t);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "second", 6), 6);
    tp_expect_nothing(&t);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_NODELAY, 1), 0);
    cr_assert_eq(tp_expect(&t, TCP_ACK | TCP_PSH, t.stack_nxt + 5, t.peer_nxt)->len, 6);
}

/* ---- retransmission (RFC 6298) ------------------------------------------------------------------------- */

Test(tcp_timers, syn_is_retransmitted_from_1s_doubling_and_connect_fails_with_etimedout)
{
    start(NULL);
    connect_from(50000);
    ts_time t0 = t.now;
    const struct tp_seg *syn = tp_next(&t);
    uint32_t iss = syn->h.seq;
    /* RFC 6298 2.1: RTO = 1 s; 5.5: doubled at each expiry; 7 retransmissions (RFC 9293 3.8.3 MUST-23:
     * at least 3 minutes; Linux's tcp_syn_retries is 6). */
    ts_time at = t0, rto = TS_SEC(1);
    for (int i = 0; i < 7; i++) {
        at += rto;
        rto = rto * 2 > TS_SEC(120) ? TS_SEC(120) : rto * 2; /* 5.5's "maximum value": tcp_rto_max */
        const struct tp_seg *s = tp_run_until_segment(&t, t0 + TS_SEC(300));
        cr_assert_not_null(s);
        cr_assert_eq(s->h.flags, TCP_SYN);
        cr_assert_eq(s->h.seq, iss, "the same ISS every time");
        cr_assert(s->h.opt.has_mss && s->h.opt.sack_permitted && s->h.opt.has_timestamps && s->h.opt.has_wscale);
        cr_assert_eq(s->when, at, "retransmission %d at %.3f s, expected %.3f s", i + 1, rel(s->when), rel(at));
        cr_assert_eq(tp_state(&t), TS_TCP_SYN_SENT);
    }
    /* The eighth expiry (127 s + 120 s, the RTO's maximum) gives up. */
    cr_assert_null(tp_run_until_segment(&t, at + rto - 1));
    cr_assert_eq(tp_state(&t), TS_TCP_SYN_SENT);
    tp_advance(&t, at + rto);
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSED);
    cr_assert_eq(at + rto, t0 + TS_SEC(247));
    cr_assert_eq(ts_pcb_events(t.pcb) & TS_EV_ERROR, TS_EV_ERROR);
    cr_assert_eq(ts_pcb_take_error(t.pcb), ETIMEDOUT);
    tp_expect_nothing(&t);
    cr_assert_eq(ts_stack_next_deadline(t.f.st), TS_TIME_NEVER, "no timer left");
}

Test(tcp_timers, lost_data_is_retransmitted_when_the_rto_expires_backing_off)
{
    established_plain(TS_MSEC(100), 1460);
    /* RFC 6298 2.2: the handshake's 100 ms gives SRTT 100 ms, RTTVAR 50 ms, RTO 100 + 4 * 50 = 300 ms. */
    cr_assert_eq(tp_info(&t).rto, TS_MSEC(300));
    uint8_t data[1000];
    tp_pattern(data, sizeof data, 4);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), 1000);
    ts_time sent = t.now;
    tp_expect(&t, TCP_ACK | TCP_PSH, t.stack_nxt, t.peer_nxt);
    ts_time expected = sent;
    for (ts_time rto = TS_MSEC(300); rto <= TS_MSEC(2400); rto *= 2) {
        expected += rto;
        const struct tp_seg *s = tp_run_until_segment(&t, t.now + TS_SEC(10));
        cr_assert_not_null(s);
        cr_assert_eq(s->h.seq, t.stack_nxt);
        cr_assert_eq(s->len, 1000);
        cr_assert_arr_eq(s->data, data, 1000);
        cr_assert_eq(s->when, expected, "at %.3f s, expected %.3f s", rel(s->when), rel(expected));
    }
    cr_assert_eq(tp_info(&t).retransmits, 4);
    cr_assert_eq(fx_counter(&t.f, "tcp.rto_expired"), 4);
    /* The ACK ends it: nothing more is sent. */
    t.stack_nxt += 1000;
    tp_send_ack(&t, t.stack_nxt);
    tp_advance(&t, t.now + TS_SEC(60));
    tp_expect_nothing(&t);
    cr_assert_eq(tp_info(&t).unacked, 0);
}

Test(tcp_timers, each_rtt_sample_recomputes_the_rto)
{
    established_plain(TS_MSEC(100), 1460);
    struct ts_tcp_info info = tp_info(&t);
    cr_assert_eq(info.srtt, TS_MSEC(100));
    cr_assert_eq(info.rttvar, TS_MSEC(50));
    cr_assert_eq(info.rto, TS_MSEC(300));
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "abc", 3), 3);
    tp_next(&t);
    t.now += TS_MSEC(200);
    t.stack_nxt += 3;
    tp_send_ack(&t, t.stack_nxt);
    /* RFC 6298 2.3: RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5 ms; SRTT = 7/8 * 100 + 1/8 * 200 = 112.5 ms. */
    info = tp_info(&t);
    cr_assert_eq(info.rttvar, 62500);
    cr_assert_eq(info.srtt, 112500);
    cr_assert_eq(info.rto, 112500 + 4 * 62500);
}

Test(tcp_timers, karn_takes_no_rtt_sample_from_a_retransmitted_segment)
{
    established_plain(TS_MSEC(100), 1460);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "abc", 3), 3);
    tp_next(&t);
    const struct tp_seg *re = tp_run_until_segment(&t, t.now + TS_SEC(1));
    cr_assert_not_null(re);
    cr_assert_eq(re->h.seq, t.stack_nxt, "retransmitted after 300 ms");
    /* The ACK comes 10 ms after the retransmission: for which copy? No sample (RFC 6298 3). */
    t.now += TS_MSEC(10);
    t.stack_nxt += 3;
    tp_send_ack(&t, t.stack_nxt);
    struct ts_tcp_info info = tp_info(&t);
    cr_assert_eq(info.srtt, TS_MSEC(100));
    cr_assert_eq(info.rttvar, TS_MSEC(50));
    cr_assert_eq(info.rto, TS_MSEC(600), "the backed-off RTO stays until a valid sample (RFC 6298 5.7 note)");
    /* The next segment, sent once, gives a sample again. */
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "def", 3), 3);
    tp_next(&t);
    t.now += TS_MSEC(100);
    t.stack_nxt += 3;
    tp_send_ack(&t, t.stack_nxt);
    info = tp_info(&t);
    cr_assert_eq(info.srtt, TS_MSEC(100));
    cr_assert_eq(info.rttvar, 37500);
    cr_assert_eq(info.rto, TS_MSEC(100) + 4 * 37500);
}

Test(tcp_timers, handshake_that_retransmitted_its_syn_starts_with_an_rto_of_3s)
{
    start(NULL);
    connect_from(50000);
    uint32_t iss = tp_next(&t)->h.seq;
    cr_assert_not_null(tp_run_until_segment(&t, t.now + TS_SEC(2)), "the SYN again after 1 s");
    t.now += TS_MSEC(100);
    struct fx_tcp_options o = {.mss = 1460};
    struct fx_tcp_segment sa = {.seq = t.peer_iss, .ack = iss + 1, .flags = TCP_SYN | TCP_ACK, .window = 65535,
                                .opt = o};
    tp_input(&t, sa);
    tp_expect(&t, TCP_ACK, iss + 1, t.peer_iss + 1);
    struct ts_tcp_info info = tp_info(&t);
    cr_assert_eq(info.state, TS_TCP_ESTABLISHED);
    /* RFC 6298 5.7: the SYN timed out with an RTO below 3 s: data starts with RTO = 3 s. */
    cr_assert_eq(info.rto, TS_SEC(3));
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "abc", 3), 3);
    ts_time sent = t.now;
    tp_next(&t);
    const struct tp_seg *re = tp_run_until_segment(&t, t.now + TS_SEC(10));
    cr_assert_not_null(re);
    cr_assert_eq(re->when, sent + TS_SEC(3));
}

Test(tcp_timers, syn_ack_retransmitted_by_a_listener_also_starts_with_an_rto_of_3s)
{
    start(NULL);
    tp_listen(&t, 8);
    struct fx_tcp_segment syn = {.seq = t.peer_iss, .flags = TCP_SYN, .window = 65535, .opt = {.mss = 1460}};
    tp_input(&t, syn);
    uint32_t iss = tp_next(&t)->h.seq;
    const struct tp_seg *again = tp_run_until_segment(&t, t.now + TS_SEC(2));
    cr_assert_not_null(again);
    cr_assert_eq(again->h.flags, TCP_SYN | TCP_ACK);
    t.peer_nxt = t.peer_iss + 1;
    tp_send_ack(&t, iss + 1);
    int err;
    t.pcb = ts_pcb_accept(t.listener, &err);
    cr_assert_not_null(t.pcb);
    cr_assert_eq(tp_info(&t).rto, TS_SEC(3));
}

Test(tcp_timers, data_retries_are_counted_afresh_once_the_handshake_is_done)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    cfg.timing.tcp_data_retries = 3;
    start(&cfg);
    connect_from(50000);
    uint32_t iss = tp_next(&t)->h.seq;
    /* Two SYN retransmissions (1 s, 3 s) before the SYN,ACK. */
    cr_assert_not_null(tp_run_until_segment(&t, t.now + TS_SEC(10)));
    cr_assert_not_null(tp_run_until_segment(&t, t.now + TS_SEC(10)));
    struct fx_tcp_segment sa = {.seq = t.peer_iss, .ack = iss + 1, .flags = TCP_SYN | TCP_ACK, .window = 65535,
                                .opt = {.mss = 1460}};
    tp_input(&t, sa);
    tp_expect(&t, TCP_ACK, iss + 1, t.peer_iss + 1);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "abc", 3), 3);
    tp_next(&t);
    /* RFC 1122 4.2.3.5: tcp_data_retries retransmissions of the data, then ETIMEDOUT. */
    int retransmissions = 0;
    while (tp_run_until_segment(&t, t.now + TS_SEC(600)) != NULL)
        retransmissions++;
    cr_assert_eq(retransmissions, 3);
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSED);
    cr_assert_eq(ts_pcb_take_error(t.pcb), ETIMEDOUT);
}

/* ---- fast retransmit and NewReno (RFC 5681 3.2, RFC 6582) ------------------------------------------------ */

#define SMSS 1460u

/* Reno, no SACK, no timestamps; ten full segments in flight (the initial window, RFC 6928). */
static uint32_t ten_segments_in_flight(void)
{
    established_plain(TS_MSEC(10), SMSS);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_CONGESTION, TS_CC_RENO), 0);
    static uint8_t data[10 * SMSS];
    tp_pattern(data, sizeof data, 5);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), (ssize_t)sizeof data);
    for (uint32_t i = 0; i < 10; i++) {
        const struct tp_seg *s = tp_next(&t);
        cr_assert_eq(s->h.seq, t.stack_nxt + i * SMSS);
        cr_assert_eq(s->len, SMSS);
    }
    tp_expect_nothing(&t);
    struct ts_tcp_info info = tp_info(&t);
    cr_assert_eq(info.cwnd, 10 * SMSS);
    cr_assert_eq(info.unacked, 10 * SMSS);
    return t.stack_nxt;
}

Test(tcp_timers, third_duplicate_ack_triggers_fast_retransmit_with_reno_cwnd_and_ssthresh)
{
    uint32_t una = ten_segments_in_flight();
    /* The first segment is lost: each of the others draws a duplicate ACK. */
    tp_send_ack(&t, una);
    tp_send_ack(&t, una);
    tp_expect_nothing(&t);
    tp_send_ack(&t, una);
    const struct tp_seg *re = tp_expect(&t, TCP_ACK, una, t.peer_nxt);
    cr_assert_eq(re->len, SMSS);
    struct ts_tcp_info info = tp_info(&t);
    /* RFC 5681 3.2 step 2: ssthresh = max(FlightSize / 2, 2 * SMSS); step 3: cwnd = ssthresh + 3 * SMSS. */
    cr_assert_eq(info.ssthresh, 5 * SMSS);
    cr_assert_eq(info.cwnd, 5 * SMSS + 3 * SMSS);
    cr_assert_eq(fx_counter(&t.f, "tcp.fast_retransmits"), 1);
    /* Step 4: each further duplicate inflates cwnd by SMSS. */
    for (int i = 0; i < 6; i++)
        tp_send_ack(&t, una);
    info = tp_info(&t);
    cr_assert_eq(info.cwnd, 5 * SMSS + 9 * SMSS);
    tp_expect_nothing(&t);
    /* Step 4 again: the inflated window lets new data out (14 SMSS allowed, 10 in flight). */
    static uint8_t more[2 * SMSS];
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, more, sizeof more), (ssize_t)sizeof more);
    cr_assert_eq(tp_expect(&t, TCP_ACK, una + 10 * SMSS, t.peer_nxt)->len, SMSS);
    cr_assert_eq(tp_expect(&t, TCP_ACK | TCP_PSH, una + 11 * SMSS, t.peer_nxt)->len, SMSS);
    /* RFC 6582 3.2 step 3: the ACK of everything up to the recovery point ends recovery:
     * cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS), FlightSize being the two new segments. */
    tp_send_ack(&t, una + 10 * SMSS);
    info = tp_info(&t);
    cr_assert_eq(info.ssthresh, 5 * SMSS);
    cr_assert_eq(info.cwnd, 3 * SMSS);
}

Test(tcp_timers, newreno_partial_ack_retransmits_the_next_hole_and_deflates_cwnd)
{
    uint32_t una = ten_segments_in_flight();
    /* Segments 0 and 5 are lost: eight duplicate ACKs. */
    for (int i = 0; i < 3; i++)
        tp_send_ack(&t, una);
    tp_expect(&t, TCP_ACK, una, t.peer_nxt);
    for (int i = 0; i < 5; i++)
        tp_send_ack(&t, una);
    tp_expect_nothing(&t);
    cr_assert_eq(tp_info(&t).cwnd, 5 * SMSS + 3 * SMSS + 5 * SMSS);
    /* The retransmission arrives: the peer acknowledges up to the second hole, a partial ACK. */
    tp_send_ack(&t, una + 5 * SMSS);
    const struct tp_seg *re = tp_expect(&t, TCP_ACK, una + 5 * SMSS, t.peer_nxt);
    cr_assert_eq(re->len, SMSS, "RFC 6582 3.2 step 3: the first unacknowledged segment, at once");
    struct ts_tcp_info info = tp_info(&t);
    /* Deflated by the 5 SMSS acknowledged, plus one SMSS back. */
    cr_assert_eq(info.cwnd, 13 * SMSS - 5 * SMSS + SMSS);
    cr_assert_eq(info.ssthresh, 5 * SMSS);
    cr_assert_eq(fx_counter(&t.f, "tcp.fast_retransmits"), 1, "a partial ACK is not a new loss event");
    /* The full ACK ends recovery. */
    tp_send_ack(&t, una + 10 * SMSS);
    info = tp_info(&t);
    cr_assert_eq(info.cwnd, 2 * SMSS);
    cr_assert_eq(info.unacked, 0);
    tp_expect_nothing(&t);
}

/* ---- zero window (RFC 9293 3.8.6.1, RFC 1122 4.2.2.17) --------------------------------------------------- */

Test(tcp_timers, zero_window_is_probed_with_backoff_and_never_times_out_while_answered)
{
    established();
    t.peer_window = 0;
    tp_send_ack(&t, t.stack_nxt);
    static uint8_t data[4000];
    tp_pattern(data, sizeof data, 6);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), (ssize_t)sizeof data);
    tp_expect_nothing(&t);
    ts_time rto = tp_info(&t).rto;
    ts_time last = t.now, interval = 0;
    int probes = 0;
    /* Ten minutes of probes, each answered with a zero window. */
    while (t.now < TP_START + TS_SEC(600)) {
        const struct tp_seg *p = tp_run_until_segment(&t, TP_START + TS_SEC(600));
        if (p == NULL)
            break;
        probes++;
        ts_time gap = p->when - last;
        if (interval == 0)
            cr_assert_eq(gap, rto, "the first probe after one RTO");
        else
            cr_assert_eq(gap, interval * 2 > TS_SEC(60) ? TS_SEC(60) : interval * 2, "probe %d after %.3f s", probes,
                         (double)gap / 1e6);
        interval = gap;
        last = p->when;
        cr_assert_eq(p->h.seq, t.stack_nxt, "every probe carries the first unacknowledged octet");
        cr_assert_eq(p->len, 1);
        cr_assert_eq(p->data[0], data[0]);
        tp_send_ack(&t, t.stack_nxt);
        tp_expect_nothing(&t);
        cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    }
    cr_assert_geq(probes, 12);
    cr_assert_eq(interval, TS_SEC(60), "backed off to 60 s");
    cr_assert_eq(fx_counter(&t.f, "tcp.fast_retransmits"), 0, "answers to probes are not duplicate ACKs");
    cr_assert_eq(ts_pcb_take_error(t.pcb), 0);
    /* The window opens: everything goes, from the first octet, in order. */
    t.peer_window = 65535;
    tp_send_ack(&t, t.stack_nxt);
    size_t got = 0;
    for (int round = 0; round < 4 && got < sizeof data; round++) {
        for (const struct tp_seg *s; (s = tp_try_next(&t)) != NULL;) {
            cr_assert_eq(s->h.seq, t.stack_nxt + (uint32_t)got);
            cr_assert_arr_eq(s->data, data + got, s->len);
            got += s->len;
        }
        tp_send_ack(&t, t.stack_nxt + (uint32_t)got); /* Nagle holds the short tail until this */
    }
    cr_assert_eq(got, sizeof data);
}

/* ---- keep-alive (RFC 9293 3.8.4, RFC 1122 4.2.3.6) ---------------------------------------------------------- */

static void keepalive_10_5_3(void)
{
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPALIVE, 1), 0);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPIDLE, 10), 0);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPINTVL, 5), 0);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPCNT, 3), 0);
}

Test(tcp_timers, keepalive_probes_at_idle_then_interval_and_times_out_after_keepcnt)
{
    established();
    ts_time idle_since = t.now;
    keepalive_10_5_3();
    ts_time when[] = {idle_since + TS_SEC(10), idle_since + TS_SEC(15), idle_since + TS_SEC(20)};
    for (int i = 0; i < 3; i++) {
        const struct tp_seg *p = tp_run_until_segment(&t, t.now + TS_SEC(100));
        cr_assert_not_null(p);
        cr_assert_eq(p->when, when[i], "probe %d at %.3f s", i + 1, rel(p->when));
        cr_assert_eq(p->h.flags, TCP_ACK);
        cr_assert_eq(p->h.seq, t.stack_nxt - 1, "SEG.SEQ = SND.NXT - 1");
        cr_assert_eq(p->h.ack, t.peer_nxt);
        cr_assert_eq(p->len, 0);
    }
    cr_assert_eq(fx_counter(&t.f, "tcp.keepalive_probes"), 3);
    tp_advance(&t, idle_since + TS_SEC(25) - 1);
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    tp_advance(&t, idle_since + TS_SEC(25));
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSED);
    char buf[4];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, buf, sizeof buf, false), -ETIMEDOUT);
}

Test(tcp_timers, answered_keepalive_probe_restarts_the_idle_time)
{
    established();
    ts_time idle_since = t.now;
    keepalive_10_5_3();
    const struct tp_seg *p = tp_run_until_segment(&t, t.now + TS_SEC(100));
    cr_assert_eq(p->when, idle_since + TS_SEC(10));
    t.now += TS_MSEC(20);
    ts_time answered = t.now;
    tp_send_ack(&t, t.stack_nxt);
    tp_expect_nothing(&t);
    p = tp_run_until_segment(&t, t.now + TS_SEC(100));
    cr_assert_not_null(p);
    cr_assert_eq(p->when, answered + TS_SEC(10), "KEEPIDLE again from the answer, at %.3f s", rel(p->when));
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
}

Test(tcp_timers, keepintvl_alone_keeps_the_configured_idle_time)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    cfg.timing.tcp_keepidle = TS_SEC(30);
    start(&cfg);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    ts_time idle_since = t.now;
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPALIVE, 1), 0);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPINTVL, 5), 0);
    const struct tp_seg *p = tp_run_until_segment(&t, t.now + TS_SEC(8000));
    cr_assert_not_null(p);
    cr_assert_eq(p->when, idle_since + TS_SEC(30), "first probe at %.3f s", rel(p->when));
    int v;
    cr_assert_eq(ts_pcb_getopt(t.pcb, TS_OPT_KEEPIDLE, &v), 0);
    cr_assert_eq(v, 30);
}

/* ---- TIME-WAIT (RFC 9293 3.4.2, 3.10.7.4) ------------------------------------------------------------------- */

Test(tcp_timers, time_wait_lasts_2_msl_and_a_retransmitted_fin_is_acked_again_and_restarts_it)
{
    established();
    cr_assert_eq(ts_pcb_shutdown(t.pcb, t.now, TS_SHUT_WR), 0);
    tp_expect(&t, TCP_ACK | TCP_FIN, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(tp_state(&t), TS_TCP_FIN_WAIT_1);
    t.stack_nxt++;
    tp_send_ack(&t, t.stack_nxt);
    cr_assert_eq(tp_state(&t), TS_TCP_FIN_WAIT_2);
    tp_send(&t, TCP_ACK | TCP_FIN, t.peer_nxt, t.stack_nxt, NULL, 0);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt + 1);
    cr_assert_eq(tp_state(&t), TS_TCP_TIME_WAIT);
    ts_time entered = t.now;
    const ts_time two_msl = TS_SEC(60); /* MSL 30 s by default, as Linux */
    cr_assert_eq(ts_stack_next_deadline(t.f.st), entered + two_msl);
    /* The peer did not get our ACK and sends its FIN again, 59 s later. */
    tp_advance(&t, entered + TS_SEC(59));
    cr_assert_eq(tp_state(&t), TS_TCP_TIME_WAIT);
    tp_send(&t, TCP_ACK | TCP_FIN, t.peer_nxt, t.stack_nxt, NULL, 0);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt + 1);
    ts_time restarted = t.now;
    tp_advance(&t, restarted + two_msl - 1);
    cr_assert_eq(tp_state(&t), TS_TCP_TIME_WAIT, "the timer restarted with the FIN");
    tp_advance(&t, restarted + two_msl);
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSED);
    tp_expect_nothing(&t);
    cr_assert_eq(ts_pcb_take_error(t.pcb), 0, "a clean end");
    /* The 4-tuple is free: a segment for it now meets a closed port. */
    tp_send(&t, TCP_ACK, t.peer_nxt + 1, t.stack_nxt, NULL, 0);
    tp_expect(&t, TCP_RST, t.stack_nxt, 0);
}
