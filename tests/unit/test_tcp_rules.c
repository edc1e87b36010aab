/*
 * TCP's rules, one test each, on ONE stack driven by a hand-made peer (tests/support/tcp_peer.h):
 * opening and refusing connections, options, resets, RFC 5961's checks, PAWS, the acceptability
 * test, SYN cookies, MSS and window-scale limits. Timers are in test_tcp_rules_timers.c, data
 * transfer and windows in test_tcp_rules_data.c.
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

TestSuite(tcp_rules, .fini = teardown);

static struct fx_tcp_options no_options(void)
{
    struct fx_tcp_options o = {0};
    return o;
}

/* ---- RFC 9293 3.10.7.1: segments for no connection ------------------------------------------------ */

Test(tcp_rules, syn_to_a_closed_port_gets_rst_ack_with_seq_0_and_ack_seg_seq_plus_seg_len)
{
    start(NULL);
    struct fx_tcp_segment syn = {.seq = 1000, .flags = TCP_SYN, .window = 65535, .opt = tp_linux_syn_options(&t)};
    tp_input(&t, syn);
    const struct tp_seg *s = tp_expect(&t, TCP_RST | TCP_ACK, 0, 1001);
    cr_assert_eq(s->h.src_port, TP_STACK_PORT);
    cr_assert_eq(s->h.dst_port, TP_PEER_PORT);
    cr_assert_eq(s->h.window, 0);
    cr_assert_eq(s->h.data_offset, 20, "a reset carries no options");
    cr_assert_eq(s->len, 0);
    /* SEG.LEN counts the SYN, the data and the FIN. */
    syn.data = "hello";
    syn.len = 5;
    syn.flags = TCP_SYN | TCP_FIN;
    tp_input(&t, syn);
    tp_expect(&t, TCP_RST | TCP_ACK, 0, 1000 + 1 + 5 + 1);
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_no_socket"), 2);
    cr_assert_eq(fx_counter(&t.f, "tcp.resets_sent"), 2);
}

Test(tcp_rules, ack_to_a_closed_port_gets_rst_with_seq_seg_ack)
{
    start(NULL);
    tp_send(&t, TCP_ACK, 5000, 0xdeadbeef, "data", 4);
    const struct tp_seg *s = tp_expect(&t, TCP_RST, 0xdeadbeef, 0);
    cr_assert_eq(s->h.ack, 0);
    cr_assert_eq(s->h.window, 0);
}

Test(tcp_rules, rst_to_a_closed_port_is_dropped_without_an_answer)
{
    start(NULL);
    tp_send(&t, TCP_RST, 5000, 0, NULL, 0);
    tp_send(&t, TCP_RST | TCP_ACK, 5000, 77, NULL, 0);
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_rst_no_socket"), 2);
    cr_assert_eq(fx_counter(&t.f, "tcp.resets_sent"), 0);
}

Test(tcp_rules, segment_to_a_bound_but_not_listening_port_gets_a_reset)
{
    start(NULL);
    int err;
    struct ts_pcb *pcb = ts_pcb_open(t.f.st, TS_PCB_TCP, &err);
    struct ts_sockaddr local = {0, TP_STACK_PORT};
    cr_assert_eq(ts_pcb_bind(pcb, &local), 0);
    struct fx_tcp_segment syn = {.seq = 1, .flags = TCP_SYN, .window = 1000};
    tp_input(&t, syn);
    tp_expect(&t, TCP_RST | TCP_ACK, 0, 2);
}

/* ---- options in the handshake (RFC 9293 3.7.1, RFC 7323 2.2 / 3.2, RFC 2018 2) ------------------ */

Test(tcp_rules, syn_ack_offers_window_scale_sack_and_timestamps_only_if_the_syn_did)
{
    start(NULL);
    tp_listen(&t, 8);
    for (unsigned mask = 0; mask < 8; mask++) {
        struct fx_tcp_options o = {.mss = 1460,
                                   .has_wscale = (mask & 1) != 0,
                                   .wscale = 7,
                                   .sack_permitted = (mask & 2) != 0,
                                   .timestamps = (mask & 4) != 0,
                                   .ts_val = 4242 + mask};
        struct fx_tcp_segment syn = {.sport = (uint16_t)(41000 + mask), .seq = 100 * mask, .flags = TCP_SYN,
                                     .window = 29200, .opt = o};
        tp_input(&t, syn);
        const struct tp_seg *s = tp_next(&t);
        cr_assert_eq(s->h.flags, TCP_SYN | TCP_ACK);
        cr_assert_eq(s->h.dst_port, 41000 + mask);
        cr_assert_eq(s->h.ack, 100 * mask + 1);
        cr_assert(s->h.opt.has_mss, "the MSS option is always sent");
        cr_assert_eq(s->h.opt.mss, 1460);
        cr_assert_eq(s->h.opt.has_wscale, o.has_wscale, "mask %u", mask);
        if (o.has_wscale)
            cr_assert_eq(s->h.opt.wscale, 2, "the smallest shift that covers a 128 KiB buffer");
        cr_assert_eq(s->h.opt.sack_permitted, o.sack_permitted, "mask %u", mask);
        cr_assert_eq(s->h.opt.has_timestamps, o.timestamps, "mask %u", mask);
        if (o.timestamps) {
            cr_assert_eq(s->h.opt.ts_ecr, 4242 + mask, "TSecr echoes the SYN's TSval");
            cr_assert_eq(s->h.opt.ts_val, (uint32_t)(t.now / 1000));
        }
        cr_assert_eq(s->h.window, 65535, "RFC 7323 2.2: the window of a SYN is not scaled");
        cr_assert_eq(s->h.opt.sack_count, 0);
    }
}

Test(tcp_rules, syn_without_options_gets_mss_only_and_no_window_scaling_afterwards)
{
    start(NULL);
    struct fx_tcp_options none = no_options();
    t.peer_window = 1000;
    const struct tp_seg *sa = tp_open_passive(&t, &none);
    cr_assert_eq(sa->h.data_offset, 24, "the SYN,ACK carries the MSS option and nothing else");
    cr_assert_eq(sa->h.opt.mss, 1460);
    struct ts_tcp_info info = tp_info(&t);
    cr_assert_eq(info.state, TS_TCP_ESTABLISHED);
    cr_assert_eq(info.snd_mss, 536, "RFC 9293 3.7.1: no MSS option means 536");
    cr_assert_eq(info.rcv_wscale, 0);
    cr_assert_eq(info.snd_wscale, 0);
    cr_assert_eq(info.snd_wnd, 1000, "the peer's window is taken unscaled");
    cr_assert_not(info.timestamps);
    cr_assert_not(info.sack);
    /* Data from the peer: our ACK's window is unscaled too, so a 128 KiB buffer shows as 65535. */
    uint8_t data[536];
    tp_pattern(data, sizeof data, 1);
    tp_send_data(&t, data, sizeof data);
    const struct tp_seg *ack = tp_run_until_segment(&t, t.now + TS_SEC(1));
    cr_assert_not_null(ack);
    cr_assert_eq(ack->h.ack, t.peer_nxt);
    cr_assert_eq(ack->h.window, 65535);
    cr_assert_eq(ack->h.data_offset, 20, "no timestamps on later segments");
}

Test(tcp_rules, passive_open_establishes_on_the_ack_of_our_syn_ack)
{
    start(NULL);
    tp_listen(&t, 8);
    struct fx_tcp_segment syn = {.seq = t.peer_iss, .flags = TCP_SYN, .window = 65535, .opt = tp_linux_syn_options(&t)};
    tp_input(&t, syn);
    const struct tp_seg *sa = tp_next(&t);
    cr_assert_eq(sa->h.flags, TCP_SYN | TCP_ACK);
    uint32_t iss = sa->h.seq;
    int err;
    cr_assert_null(ts_pcb_accept(t.listener, &err), "nothing to accept before the handshake completes");
    cr_assert_eq(err, -EAGAIN);
    cr_assert_eq(ts_pcb_events(t.listener) & TS_EV_READABLE, 0);
    t.peer_ts = true;
    t.peer_nxt = t.peer_iss + 1;
    tp_send_ack(&t, iss + 1);
    tp_expect_nothing(&t);
    cr_assert_eq(ts_pcb_events(t.listener) & TS_EV_READABLE, TS_EV_READABLE);
    t.pcb = ts_pcb_accept(t.listener, &err);
    cr_assert_not_null(t.pcb);
    struct ts_tcp_info info = tp_info(&t);
    cr_assert_eq(info.state, TS_TCP_ESTABLISHED);
    cr_assert_eq(info.snd_mss, 1460 - 12, "the peer's MSS less the timestamp option");
    cr_assert_eq(info.snd_wscale, 7);
    cr_assert_eq(info.rcv_wscale, 2);
    cr_assert_eq(info.snd_wnd, 65535u << 7, "the ACK's window is scaled by the peer's shift");
    cr_assert(info.timestamps);
    cr_assert(info.sack);
}

Test(tcp_rules, active_open_sends_a_syn_with_every_option_and_completes_with_an_ack)
{
    start(NULL);
    t.stack_port = 50000;
    tp_connect(&t);
    cr_assert_eq(tp_state(&t), TS_TCP_SYN_SENT);
    const struct tp_seg *syn = tp_next(&t);
    cr_assert_eq(syn->h.flags, TCP_SYN);
    cr_assert_eq(syn->h.ack, 0);
    cr_assert_eq(syn->h.window, 65535);
    cr_assert_eq(syn->h.opt.mss, 1460);
    cr_assert(syn->h.opt.has_wscale);
    cr_assert_eq(syn->h.opt.wscale, 2);
    cr_assert(syn->h.opt.sack_permitted);
    cr_assert(syn->h.opt.has_timestamps);
    cr_assert_eq(syn->h.opt.ts_val, (uint32_t)(t.now / 1000));
    cr_assert_eq(syn->h.opt.ts_ecr, 0, "RFC 7323 3.2: TSecr is 0 without ACK");
    uint32_t iss = syn->h.seq;
    uint32_t syn_tsval = syn->h.opt.ts_val;

    t.now += TS_MSEC(10);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    o.ts_ecr = syn_tsval;
    struct fx_tcp_segment sa = {.seq = t.peer_iss, .ack = iss + 1, .flags = TCP_SYN | TCP_ACK, .window = 65160,
                                .opt = o};
    tp_input(&t, sa);
    const struct tp_seg *ack = tp_expect(&t, TCP_ACK, iss + 1, t.peer_iss + 1);
    cr_assert_eq(ack->len, 0);
    cr_assert_eq(ack->h.window, 131072 >> 2, "after the SYN the window is scaled by our shift");
    cr_assert(ack->h.opt.has_timestamps);
    cr_assert_eq(ack->h.opt.ts_ecr, o.ts_val);
    cr_assert_not(ack->h.opt.has_mss);
    struct ts_tcp_info info = tp_info(&t);
    cr_assert_eq(info.state, TS_TCP_ESTABLISHED);
    cr_assert_eq(info.snd_wnd, 65160, "RFC 7323 2.2: the SYN,ACK's window is not scaled");
    cr_assert_eq(info.srtt, TS_MSEC(10), "the handshake's RTT is the first sample");
    cr_assert_eq(ts_pcb_events(t.pcb) & TS_EV_WRITABLE, TS_EV_WRITABLE);
}

Test(tcp_rules, simultaneous_open_goes_syn_sent_syn_received_established)
{
    start(NULL);
    t.stack_port = 50000;
    tp_connect(&t);
    const struct tp_seg *syn = tp_next(&t);
    uint32_t iss = syn->h.seq;
    uint32_t our_tsval = syn->h.opt.ts_val;

    /* RFC 9293 3.5 figure 8: the SYNs cross. */
    t.now += TS_MSEC(5);
    struct fx_tcp_segment peer_syn = {.seq = t.peer_iss, .flags = TCP_SYN, .window = 65535,
                                      .opt = tp_linux_syn_options(&t)};
    tp_input(&t, peer_syn);
    cr_assert_eq(tp_state(&t), TS_TCP_SYN_RECEIVED);
    const struct tp_seg *sa = tp_expect(&t, TCP_SYN | TCP_ACK, iss, t.peer_iss + 1);
    cr_assert_eq(sa->h.opt.mss, 1460);
    cr_assert(sa->h.opt.has_timestamps);

    /* Line 6: the peer's SYN,ACK acknowledges our SYN: ESTABLISHED. */
    t.now += TS_MSEC(5);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    o.ts_ecr = our_tsval;
    struct fx_tcp_segment peer_sa = {.seq = t.peer_iss, .ack = iss + 1, .flags = TCP_SYN | TCP_ACK,
                                     .window = 65535, .opt = o};
    tp_input(&t, peer_sa);
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    cr_assert_eq(ts_pcb_events(t.pcb) & (TS_EV_WRITABLE | TS_EV_ERROR), TS_EV_WRITABLE);
    const struct tp_seg *s = tp_try_next(&t);
    if (s != NULL) {
        cr_assert_eq(s->h.flags, TCP_ACK, "at most an ACK, never a reset");
        cr_assert_eq(s->h.seq, iss + 1);
        cr_assert_eq(s->h.ack, t.peer_iss + 1);
    }
    /* The connection carries data both ways. */
    t.peer_nxt = t.peer_iss + 1;
    t.stack_nxt = iss + 1;
    t.peer_ts = true;
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "ping", 4), 4);
    const struct tp_seg *d = tp_expect(&t, TCP_ACK | TCP_PSH, iss + 1, t.peer_nxt);
    cr_assert_eq(d->len, 4);
    tp_send_data(&t, "pong", 4);
    char buf[8];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, buf, sizeof buf, false), 4);
    cr_assert_arr_eq(buf, "pong", 4);
}

Test(tcp_rules, simultaneous_open_also_completes_on_a_plain_ack)
{
    start(NULL);
    t.stack_port = 50000;
    tp_connect(&t);
    uint32_t iss = tp_next(&t)->h.seq;
    struct fx_tcp_options none = no_options();
    struct fx_tcp_segment peer_syn = {.seq = t.peer_iss, .flags = TCP_SYN, .window = 65535, .opt = none};
    tp_input(&t, peer_syn);
    const struct tp_seg *sa = tp_expect(&t, TCP_SYN | TCP_ACK, iss, t.peer_iss + 1);
    cr_assert_eq(sa->h.data_offset, 24, "answering a SYN without options: MSS only");
    tp_send(&t, TCP_ACK, t.peer_iss + 1, iss + 1, NULL, 0);
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    tp_expect_nothing(&t);
}

/* ---- resets in SYN-RECEIVED -------------------------------------------------------------------------- */

Test(tcp_rules, rst_in_syn_received_returns_to_listen)
{
    start(NULL);
    tp_listen(&t, 8);
    struct fx_tcp_segment syn = {.seq = t.peer_iss, .flags = TCP_SYN, .window = 65535, .opt = tp_linux_syn_options(&t)};
    tp_input(&t, syn);
    cr_assert_eq(tp_next(&t)->h.flags, TCP_SYN | TCP_ACK);
    /* RFC 9293 3.10.7.4: a RST in SYN-RECEIVED from a passive open returns to LISTEN. */
    struct fx_tcp_segment rst = {.seq = t.peer_iss + 1, .flags = TCP_RST};
    tp_input(&t, rst);
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, "tcp.resets_received"), 1);
    int err;
    cr_assert_null(ts_pcb_accept(t.listener, &err));
    cr_assert_eq(err, -EAGAIN);
    cr_assert_eq(ts_pcb_take_error(t.listener), 0, "the listener reports no error");
    cr_assert_eq(ts_pcb_events(t.listener) & (TS_EV_ERROR | TS_EV_HUP | TS_EV_READABLE), 0);
    /* Nothing of the child is left: the same 4-tuple opens afresh and is accepted. */
    tp_advance(&t, t.now + TS_SEC(1));
    cr_assert_eq(tp_try_next(&t), NULL, "the dead child retransmits nothing");
    t.peer_iss = 0x50000;
    const struct tp_seg *sa = tp_open_passive(&t, &syn.opt);
    cr_assert_eq(sa->h.ack, 0x50001);
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    cr_assert_null(ts_pcb_accept(t.listener, &err), "exactly one connection to accept");
}

/* ---- RFC 5961: blind reset, SYN and data injection ------------------------------------------------------ */

static void established(void)
{
    start(NULL);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
}

Test(tcp_rules, in_window_rst_not_at_rcv_nxt_gets_a_challenge_ack_and_the_connection_survives)
{
    established();
    struct fx_tcp_segment rst = {.seq = t.peer_nxt + 1000, .flags = TCP_RST, .window = 0};
    tp_input(&t, rst);
    const struct tp_seg *s = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(s->len, 0);
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    cr_assert_eq(ts_pcb_take_error(t.pcb), 0);
    cr_assert_eq(fx_counter(&t.f, "tcp.challenge_acks"), 1);
    cr_assert_eq(fx_counter(&t.f, "tcp.resets_received"), 0);
}

Test(tcp_rules, rst_exactly_at_rcv_nxt_resets_with_econnreset)
{
    established();
    struct fx_tcp_segment rst = {.seq = t.peer_nxt, .flags = TCP_RST, .window = 0};
    tp_input(&t, rst);
    tp_expect_nothing(&t);
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSED);
    uint32_t ev = ts_pcb_events(t.pcb);
    cr_assert_eq(ev & (TS_EV_ERROR | TS_EV_HUP), TS_EV_ERROR | TS_EV_HUP);
    char buf[4];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, buf, sizeof buf, false), -ECONNRESET);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "x", 1), -EPIPE, "then the stream is finished");
}

Test(tcp_rules, rst_outside_the_window_is_ignored)
{
    established();
    uint32_t seqs[] = {t.peer_nxt - 1, t.peer_nxt + 131072 + 10, t.peer_nxt + 0x80000000u};
    for (size_t i = 0; i < 3; i++) {
        struct fx_tcp_segment rst = {.seq = seqs[i], .flags = TCP_RST, .window = 0};
        tp_input(&t, rst);
    }
    tp_expect_nothing(&t);
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_out_of_window"), 3);
}

Test(tcp_rules, syn_in_established_gets_a_challenge_ack)
{
    established();
    /* RFC 5961 4.2: whatever its sequence number, a SYN is answered with an ACK and changes nothing. */
    uint32_t seqs[] = {t.peer_nxt + 10, t.peer_nxt, t.peer_iss};
    for (size_t i = 0; i < 3; i++) {
        struct fx_tcp_segment syn = {.seq = seqs[i], .flags = TCP_SYN, .window = 65535,
                                     .opt = tp_linux_syn_options(&t)};
        tp_input(&t, syn);
        const struct tp_seg *s = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
        cr_assert_eq(s->len, 0);
    }
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    cr_assert_eq(ts_pcb_take_error(t.pcb), 0);
}

Test(tcp_rules, challenge_acks_are_rate_limited_per_second)
{
    established();
    struct fx_tcp_segment rst = {.seq = t.peer_nxt + 1, .flags = TCP_RST};
    for (int i = 0; i < 1000; i++) {
        tp_input(&t, rst);
        tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    }
    /* RFC 5961 7: the 1001st within the second goes unanswered. */
    tp_input(&t, rst);
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, "tcp.challenge_acks_limited"), 1);
    t.now += TS_SEC(1);
    tp_input(&t, rst);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
}

Test(tcp_rules, ack_for_data_never_sent_is_dropped_with_a_challenge_ack)
{
    established();
    tp_send(&t, TCP_ACK | TCP_PSH, t.peer_nxt, t.stack_nxt + 1000, "evil", 4);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    char buf[8];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, buf, sizeof buf, false), -EAGAIN, "its data is not taken");
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_bad_ack"), 1);
    cr_assert_eq(tp_info(&t).unacked, 0);
}

Test(tcp_rules, ack_older_than_snd_una_minus_max_snd_wnd_is_dropped_with_a_challenge_ack)
{
    established();
    /* The peer's largest window so far: 65535 << 7. */
    uint32_t max_wnd = 65535u << 7;
    tp_send(&t, TCP_ACK | TCP_PSH, t.peer_nxt, t.stack_nxt - max_wnd - 1, "evil", 4);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    char buf[8];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, buf, sizeof buf, false), -EAGAIN);
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_bad_ack"), 1);
    /* An old ACK within MAX.SND.WND is only a duplicate: its data is taken. */
    tp_send(&t, TCP_ACK | TCP_PSH, t.peer_nxt, t.stack_nxt - max_wnd, "good", 4);
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, buf, sizeof buf, false), 4);
    cr_assert_arr_eq(buf, "good", 4);
}

/* ---- PAWS and TS.Recent (RFC 7323) ---------------------------------------------------------------------- */

Test(tcp_rules, paws_drops_a_segment_with_an_older_tsval_and_acks)
{
    established();
    t.now += TS_MSEC(50);
    struct fx_tcp_options o = tp_options(&t);
    uint32_t recent = o.ts_val - 50; /* the handshake's ACK, 50 ms ago, set TS.Recent */
    o.ts_val = recent - 1;
    struct fx_tcp_segment old = {.seq = t.peer_nxt, .ack = t.stack_nxt, .flags = TCP_ACK | TCP_PSH,
                                 .window = t.peer_window, .opt = o, .data = "old!", .len = 4};
    tp_input(&t, old);
    const struct tp_seg *s = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(s->h.opt.ts_ecr, recent, "TS.Recent is unchanged");
    char buf[8];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, buf, sizeof buf, false), -EAGAIN);
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_paws"), 1);
    /* The same segment with a current timestamp is taken. */
    tp_send_data(&t, "new!", 4);
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, buf, sizeof buf, false), 4);
}

Test(tcp_rules, paws_applies_from_the_syn_ack_on_even_with_a_clock_beyond_24_days)
{
    /* The runtime's clock may start anywhere, e.g. at the host's uptime: 30 days here. */
    start(NULL);
    t.now = TS_SEC(30 * 86400);
    t.stack_port = 50000;
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_active(&t, &o);
    struct fx_tcp_options stale = tp_options(&t);
    stale.ts_val = o.ts_val - 1000;
    struct fx_tcp_segment old = {.seq = t.peer_nxt, .ack = t.stack_nxt, .flags = TCP_ACK | TCP_PSH,
                                 .window = t.peer_window, .opt = stale, .data = "old!", .len = 4};
    tp_input(&t, old);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    char buf[8];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, buf, sizeof buf, false), -EAGAIN, "RFC 7323 5.3: an old duplicate");
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_paws"), 1);
}

Test(tcp_rules, ts_recent_takes_the_tsval_of_the_segment_at_last_ack_sent)
{
    established();
    uint8_t data[3 * 1448];
    tp_pattern(data, sizeof data, 2);
    struct fx_tcp_options o = tp_options(&t);
    /* RFC 7323 4.3: two segments under one delayed ACK: the ACK echoes the earlier TSval. */
    uint32_t base = tp_peer_tsval(&t);
    o.ts_val = base + 10;
    struct fx_tcp_segment s1 = {.seq = t.peer_nxt, .ack = t.stack_nxt, .flags = TCP_ACK, .window = t.peer_window,
                                .opt = o, .data = data, .len = 1448};
    tp_input(&t, s1);
    tp_expect_nothing(&t);
    struct fx_tcp_segment s2 = s1;
    s2.seq += 1448;
    s2.data = data + 1448;
    s2.opt.ts_val = base + 15;
    tp_input(&t, s2);
    const struct tp_seg *ack = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt + 2 * 1448);
    cr_assert_eq(ack->h.opt.ts_ecr, base + 10);
    /* A segment beyond a hole does not move TS.Recent either (its SEQ is above Last.ACK.sent). */
    struct fx_tcp_segment s4 = s1;
    s4.seq += 4 * 1448;
    s4.opt.ts_val = base + 20;
    tp_input(&t, s4);
    ack = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt + 2 * 1448);
    cr_assert_eq(ack->h.opt.ts_ecr, base + 10);
    /* The next in-order segment starts at Last.ACK.sent: its TSval is the new TS.Recent. */
    struct fx_tcp_segment s3 = s1;
    s3.seq += 2 * 1448;
    s3.data = data + 2 * 1448;
    s3.opt.ts_val = base + 30;
    tp_input(&t, s3);
    ack = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt + 3 * 1448);
    cr_assert_eq(ack->h.opt.ts_ecr, base + 30);
}

/* ---- the acceptability test (RFC 9293 3.10.7.4 first check) ------------------------------------------------ */

Test(tcp_rules, segment_outside_the_window_is_answered_with_an_ack_and_dropped)
{
    established();
    tp_send(&t, TCP_ACK | TCP_PSH, t.peer_nxt + 131072 + 1, t.stack_nxt, "far", 3);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    tp_send(&t, TCP_ACK | TCP_PSH, t.peer_nxt - 3, t.stack_nxt, "old", 3);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_out_of_window"), 2);
    char buf[8];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, buf, sizeof buf, false), -EAGAIN);
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
}

Test(tcp_rules, data_beyond_the_window_is_trimmed)
{
    start(NULL);
    tp_listen(&t, 8);
    cr_assert_eq(ts_pcb_setopt(t.listener, TS_OPT_RCVBUF, 2048), 0);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    const struct tp_seg *sa = tp_open_passive(&t, &o);
    cr_assert_eq(sa->h.window, 2048);
    cr_assert_eq(sa->h.opt.wscale, 0, "a 2 KiB buffer needs no scaling");
    uint8_t data[2500];
    tp_pattern(data, sizeof data, 3);
    tp_send(&t, TCP_ACK, t.peer_nxt, t.stack_nxt, data, 1400);
    /* 1100 bytes, of which only 648 fit the window. */
    tp_send(&t, TCP_ACK | TCP_PSH, t.peer_nxt + 1400, t.stack_nxt, data + 1400, 1100);
    const struct tp_seg *ack = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt + 2048);
    cr_assert_eq(ack->h.window, 0);
    uint8_t out[4096];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, out, sizeof out, false), 2048);
    cr_assert_arr_eq(out, data, 2048);
}

/* ---- SYN cookies (RFC 4987 3.6) -------------------------------------------------------------------------- */

static struct ts_stack_config small_syn_queue(void)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    cfg.limits.tcp_syn_queue = 2;
    return cfg;
}

/* Fills the SYN queue with two half-open connections from ports 41000 and 41001. */
static void fill_syn_queue(void)
{
    tp_listen(&t, 2);
    for (uint16_t i = 0; i < 2; i++) {
        struct fx_tcp_segment syn = {.sport = (uint16_t)(41000 + i), .seq = 7000, .flags = TCP_SYN,
                                     .window = 65535, .opt = tp_linux_syn_options(&t)};
        tp_input(&t, syn);
        cr_assert_eq(tp_next(&t)->h.flags, TCP_SYN | TCP_ACK);
    }
}

Test(tcp_rules, full_syn_queue_answers_with_a_cookie_that_establishes_on_the_ack)
{
    struct ts_stack_config cfg = small_syn_queue();
    start(&cfg);
    fill_syn_queue();
    struct fx_tcp_segment syn = {.seq = t.peer_iss, .flags = TCP_SYN, .window = 65535, .opt = tp_linux_syn_options(&t)};
    tp_input(&t, syn);
    const struct tp_seg *sa = tp_next(&t);
    cr_assert_eq(sa->h.flags, TCP_SYN | TCP_ACK);
    cr_assert_eq(sa->h.ack, t.peer_iss + 1);
    cr_assert_eq(sa->h.opt.mss, 1460);
    cr_assert_not(sa->h.opt.has_timestamps, "a cookie keeps no state: no options beyond the MSS");
    cr_assert_not(sa->h.opt.has_wscale);
    cr_assert_eq(fx_counter(&t.f, "tcp.syn_cookies_sent"), 1);
    uint32_t cookie = sa->h.seq;
    /* No state: nothing is retransmitted. */
    tp_advance(&t, t.now + TS_MSEC(100));
    tp_expect_nothing(&t);
    t.peer_nxt = t.peer_iss + 1;
    t.stack_nxt = cookie + 1;
    tp_send(&t, TCP_ACK, t.peer_nxt, cookie + 1, NULL, 0);
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, "tcp.syn_cookies_accepted"), 1);
    int err;
    t.pcb = ts_pcb_accept(t.listener, &err);
    cr_assert_not_null(t.pcb);
    struct ts_sockaddr peer;
    cr_assert_eq(ts_pcb_remote(t.pcb, &peer), 0);
    cr_assert_eq(peer.port, TP_PEER_PORT);
    struct ts_tcp_info info = tp_info(&t);
    cr_assert_eq(info.state, TS_TCP_ESTABLISHED);
    cr_assert_eq(info.snd_mss, 1460, "the MSS travelled in the cookie");
    cr_assert_eq(info.rto, TS_SEC(1), "RFC 6298 2.1: no RTT sample, as the SYN,ACK's time is unknown");
    cr_assert_eq(info.srtt, 0);
    /* It carries data. */
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "hi", 2), 2);
    const struct tp_seg *d = tp_expect(&t, TCP_ACK | TCP_PSH, cookie + 1, t.peer_nxt);
    cr_assert_eq(d->len, 2);
    cr_assert_eq(d->h.window, 65535, "no window scaling was agreed");
}

Test(tcp_rules, ack_with_a_forged_cookie_gets_a_reset)
{
    struct ts_stack_config cfg = small_syn_queue();
    start(&cfg);
    fill_syn_queue();
    tp_send(&t, TCP_ACK, t.peer_iss + 1, 0x12345678, NULL, 0);
    tp_expect(&t, TCP_RST, 0x12345678, 0);
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_bad_cookie"), 1);
    int err;
    cr_assert_null(ts_pcb_accept(t.listener, &err));
}

/* ---- the peer's MSS and window scale, clamped ------------------------------------------------------------ */

Test(tcp_rules, peer_mss_of_1_is_raised_to_88)
{
    start(NULL);
    struct fx_tcp_options o = {.mss = 1};
    tp_open_passive(&t, &o);
    cr_assert_eq(tp_info(&t).snd_mss, 88);
    uint8_t data[300];
    tp_pattern(data, sizeof data, 4);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), 300);
    const struct tp_seg *s = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(s->len, 88, "segments are 88 bytes, not 1");
}

Test(tcp_rules, no_mss_option_means_536_and_a_large_one_is_capped_at_the_link)
{
    start(NULL);
    struct fx_tcp_options none = no_options();
    tp_open_passive(&t, &none);
    cr_assert_eq(tp_info(&t).snd_mss, 536);
    uint8_t data[1000];
    tp_pattern(data, sizeof data, 5);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), 1000);
    cr_assert_eq(tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt)->len, 536);

    teardown();
    start(NULL);
    struct fx_tcp_options jumbo = {.mss = 8960};
    tp_open_passive(&t, &jumbo);
    cr_assert_eq(tp_info(&t).snd_mss, 1460, "never more than our own link allows");
}

Test(tcp_rules, window_scale_above_14_is_taken_as_14)
{
    start(NULL);
    struct fx_tcp_options o = {.mss = 1460, .has_wscale = true, .wscale = 15};
    t.peer_window = 4;
    tp_open_passive(&t, &o);
    struct ts_tcp_info info = tp_info(&t);
    cr_assert_eq(info.snd_wscale, 14, "RFC 7323 2.3");
    cr_assert_eq(info.snd_wnd, 4u << 14);
}
