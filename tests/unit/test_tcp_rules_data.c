/*
 * TCP's data-transfer rules, one test each, on one stack driven by a hand-made
 * peer (tests/support/tcp_peer.h): sequence numbers across the 2^32 wrap in both
 * directions, the receive window that never shrinks, and silly window syndrome
 * avoidance on both sides.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_peer.h"
#include "tcp_seq.h"

static struct tp t;

static void start(const struct ts_stack_config *cfg)
{
    tp_init(&t, cfg);
}

static void teardown(void)
{
    tp_fini(&t);
}

TestSuite(tcp_data, .fini = teardown);

#define TRANSFER (100u * 1024u)

/* The right edge of the window an ACK from the stack offers: SEG.ACK + SEG.WND << shift. */
static uint32_t right_edge(const struct tp_seg *s, uint8_t shift)
{
    return s->h.ack + ((uint32_t)s->h.window << shift);
}

/*
 * The peer sends TRANSFER bytes in 1448-byte segments from t.peer_nxt, the application reading as they
 * come. Every ACK must acknowledge exactly what arrived so far and never pull the window's right edge back.
 */
static void peer_sends_transfer(const uint8_t *data, uint8_t our_shift)
{
    static uint8_t out[TRANSFER];
    size_t sent = 0, read = 0;
    uint32_t start = t.peer_nxt, last_ack = t.peer_nxt, edge = t.peer_nxt;
    while (sent < TRANSFER) {
        size_t n = TRANSFER - sent < 1448 ? TRANSFER - sent : 1448;
        tp_send_data(&t, data + sent, n);
        sent += n;
        t.now += TS_MSEC(1);
        for (;;) {
            ssize_t r = ts_pcb_recv(t.pcb, t.now, out + read, sizeof out - read, false);
            if (r <= 0)
                break;
            read += (size_t)r;
        }
        for (const struct tp_seg *s; (s = tp_try_next(&t)) != NULL;) {
            cr_assert_eq(s->h.flags, TCP_ACK);
            cr_assert_eq(s->h.seq, t.stack_nxt);
            cr_assert(SEQ_GEQ(s->h.ack, last_ack) && SEQ_LEQ(s->h.ack, t.peer_nxt), "ack %u outside [%u, %u]",
                      s->h.ack, last_ack, t.peer_nxt);
            cr_assert(SEQ_GEQ(right_edge(s, our_shift), edge), "the window shrank: right edge %u after %u",
                      right_edge(s, our_shift), edge);
            last_ack = s->h.ack;
            edge = right_edge(s, our_shift);
        }
    }
    const struct tp_seg *s = tp_run_until_segment(&t, t.now + TS_SEC(1));
    if (s != NULL)
        last_ack = s->h.ack;
    cr_assert_eq(last_ack, t.peer_nxt, "everything acknowledged in the end");
    cr_assert_eq(t.peer_nxt - start, TRANSFER);
    for (ssize_t r; (r = ts_pcb_recv(t.pcb, t.now, out + read, sizeof out - read, false)) > 0;)
        read += (size_t)r;
    cr_assert_eq(read, TRANSFER);
    cr_assert_arr_eq(out, data, TRANSFER);
}

/*
 * The stack sends TRANSFER bytes; the peer acknowledges every segment. Each segment must start where
 * the previous one ended (no retransmission, no gap) and carry the right bytes.
 */
static void stack_sends_transfer(const uint8_t *data)
{
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, TRANSFER), (ssize_t)TRANSFER);
    size_t got = 0;
    for (int rounds = 0; got < TRANSFER; rounds++) {
        cr_assert_lt(rounds, 10000);
        const struct tp_seg *s = tp_try_next(&t);
        if (s == NULL) {
            s = tp_run_until_segment(&t, t.now + TS_SEC(1));
            cr_assert_not_null(s, "the stack stopped after %zu bytes", got);
        }
        cr_assert_eq(s->h.seq, t.stack_nxt + (uint32_t)got, "segment at %u, expected %u", s->h.seq,
                     t.stack_nxt + (uint32_t)got);
        cr_assert_eq(s->h.ack, t.peer_nxt);
        cr_assert_leq(got + s->len, TRANSFER);
        cr_assert_arr_eq(s->data, data + got, s->len);
        got += s->len;
        t.now += 100; /* microseconds */
        tp_send_ack(&t, t.stack_nxt + (uint32_t)got);
    }
    cr_assert_eq(tp_info(&t).unacked, 0);
    cr_assert_eq(tp_info(&t).retransmits, 0);
}

/* ---- sequence numbers across 2^32 (RFC 9293 3.4) ------------------------------------------------------------ */

Test(tcp_data, peer_isn_just_below_2_32_and_100kb_across_the_wrap_arrive_intact)
{
    start(NULL);
    t.peer_iss = 0xffffff00u;
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    static uint8_t data[TRANSFER];
    tp_pattern(data, sizeof data, 7);
    peer_sends_transfer(data, 2);
    cr_assert_lt(t.peer_nxt, 0x20000u, "the peer's sequence numbers wrapped");
    /* And back: our data still carries the right ACK. */
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "end", 3), 3);
    tp_expect(&t, TCP_ACK | TCP_PSH, t.stack_nxt, t.peer_nxt);
}

Test(tcp_data, our_iss_just_below_2_32_and_100kb_across_the_wrap_leave_intact)
{
    start(NULL);
    /* A first connection shows ISS = now / 4 + F(4-tuple) (RFC 6528, tcp_isn.c): learn F. */
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    const struct tp_seg *sa = tp_open_passive(&t, &o);
    uint32_t f = sa->h.seq - (uint32_t)((uint64_t)sa->when / 4);
    /* It ends (the peer resets it) and its pcb is given back: the 4-tuple is free again. */
    struct fx_tcp_segment rst = {.seq = t.peer_nxt, .flags = TCP_RST};
    tp_input(&t, rst);
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSED);
    ts_pcb_close_at(t.pcb, t.now);
    t.pcb = NULL;
    /* Pick the time of the second SYN so that its ISS lands 50,000 below 2^32. */
    uint32_t target = 0u - 50000u;
    uint64_t ticks = (uint32_t)(target - f);
    ts_time when = (ts_time)ticks * 4;
    while (when <= t.now + TS_SEC(1))
        when += (ts_time)4 << 32;
    tp_advance(&t, when);
    t.peer_iss = 0x20000000u;
    sa = tp_open_passive(&t, &o);
    cr_assert_eq(sa->h.seq, target, "ISS %u, expected %u: tcp_isn is not now / 4 + F", sa->h.seq, target);
    static uint8_t data[TRANSFER];
    tp_pattern(data, sizeof data, 8);
    stack_sends_transfer(data);
    cr_assert_lt(t.stack_nxt + TRANSFER, 0x20000u, "our sequence numbers wrapped");
    /* The peer's data is acknowledged across our wrapped numbers too. */
    t.stack_nxt += TRANSFER;
    tp_send_data(&t, "tail", 4);
    tp_send_data(&t, "tail", 4);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
}

/* ---- the receive window (RFC 9293 3.8.6, 3.8.6.2.2) ----------------------------------------------------------- */

Test(tcp_data, window_right_edge_never_moves_left_with_odd_sized_segments_and_a_scaled_window)
{
    start(NULL);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    /* The application reads nothing: the window closes by exactly what arrives, never more. */
    static const size_t sizes[] = {1001, 3, 999, 1447, 1, 2, 1448, 577, 1199, 5};
    uint8_t data[1448];
    tp_pattern(data, sizeof data, 9);
    uint32_t edge = t.peer_nxt + 65535; /* what the SYN,ACK offered */
    for (int round = 0; round < 30; round++) {
        size_t n = sizes[round % 10];
        tp_send_data(&t, data, n);
        t.now += TS_MSEC(1);
        const struct tp_seg *s = tp_run_until_segment(&t, t.now + TS_SEC(1));
        cr_assert_not_null(s);
        cr_assert_eq(s->h.ack, t.peer_nxt);
        uint32_t right = right_edge(s, 2);
        cr_assert(SEQ_GEQ(right, edge), "round %d: right edge %u moved left of %u by %d", round, right, edge,
                  (int)(edge - right));
        edge = right;
    }
}

static void small_receive_buffer(int bytes)
{
    start(NULL);
    tp_listen(&t, 8);
    cr_assert_eq(ts_pcb_setopt(t.listener, TS_OPT_RCVBUF, bytes), 0);
    struct fx_tcp_options o = {.mss = 1460, .timestamps = true, .ts_val = tp_peer_tsval(&t)};
    tp_open_passive(&t, &o);
}

Test(tcp_data, receiver_offers_no_sliver_of_window)
{
    small_receive_buffer(4096);
    uint8_t data[4096];
    tp_pattern(data, sizeof data, 10);
    tp_send_data(&t, data, 1448);
    tp_send_data(&t, data + 1448, 1448);
    const struct tp_seg *ack = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(ack->h.window, 4096 - 2 * 1448);
    tp_send_data(&t, data + 2 * 1448, 4096 - 2 * 1448);
    ack = tp_run_until_segment(&t, t.now + TS_SEC(1));
    cr_assert_not_null(ack);
    cr_assert_eq(ack->h.ack, t.peer_nxt);
    cr_assert_eq(ack->h.window, 0, "full");
    /* RFC 9293 3.8.6.2.2: reading a little does not announce a little window. */
    uint8_t out[4096];
    size_t read = 0;
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(ts_pcb_recv(t.pcb, t.now, out + read, 100, false), 100);
        read += 100;
        tp_expect_nothing(&t);
    }
    /* A probe now still sees a closed window: 1000 free bytes are less than one MSS. */
    tp_send(&t, TCP_ACK, t.peer_nxt, t.stack_nxt, data, 1);
    ack = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(ack->h.window, 0);
    /* Once half the buffer is free, the window update goes out by itself. */
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, out + read, 2048 - read, false), (ssize_t)(2048 - read));
    ack = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(ack->h.window, 2048);
    cr_assert_arr_eq(out, data, 2048);
}

Test(tcp_data, sender_waits_for_the_override_timeout_before_filling_a_small_window)
{
    start(NULL);
    struct fx_tcp_options o = {.mss = 1460, .timestamps = true, .ts_val = tp_peer_tsval(&t)};
    tp_open_passive(&t, &o);
    /* The peer offered 65535 (MAX.SND.WND); now it offers 500 bytes. */
    t.peer_window = 500;
    tp_send_ack(&t, t.stack_nxt);
    static uint8_t data[3000];
    tp_pattern(data, sizeof data, 11);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), (ssize_t)sizeof data);
    ts_time queued = t.now;
    /* RFC 9293 3.8.6.2.1: 500 bytes are neither a full segment nor half the largest window: wait. */
    tp_expect_nothing(&t);
    ts_time rto = tp_info(&t).rto;
    const struct tp_seg *s = tp_run_until_segment(&t, t.now + TS_SEC(5));
    cr_assert_not_null(s);
    cr_assert_eq(s->when, queued + rto, "the override timeout (%.3f s)", (double)(s->when - queued) / 1e6);
    cr_assert_leq(s->when - queued, TS_SEC(1), "RFC 9293 3.8.6.2.1: 0.1 to 1 s");
    cr_assert_eq(s->h.seq, t.stack_nxt);
    cr_assert_eq(s->len, 500, "then the window is filled");
    cr_assert_arr_eq(s->data, data, 500);
    tp_expect_nothing(&t);
    /* A window worth a segment lets full segments go at once. */
    t.peer_window = 65535;
    tp_send_ack(&t, t.stack_nxt + 500);
    const struct tp_seg *full = tp_expect(&t, TCP_ACK, t.stack_nxt + 500, t.peer_nxt);
    cr_assert_eq(full->len, 1448);
}
