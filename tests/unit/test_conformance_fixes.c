/*
 * Requirements docs/conformance.md listed as not met until they were fixed, one test per rule,
 * named after it: invalid source addresses (MUST-63), keep-alives held back while data is
 * outstanding (MUST-26), the SYN's 3 minutes (MUST-23), soft errors (MUST-47). One stack driven by
 * a hand-made peer (tests/support/tcp_peer.h). The socket-level ones (MUST-21, MUST-48, RFC 1122
 * 4.1.3.5, getsockname after connect) are in test_conformance_fixes_sock.c.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tcp_peer.h"
#include "wire/icmp.h"

static struct tp t;
static bool started;
static uint8_t frame[2048];

static void start(const struct ts_stack_config *cfg)
{
    tp_init(&t, cfg);
    started = true;
}

static void teardown(void)
{
    if (started)
        tp_fini(&t);
    started = false;
}

TestSuite(conformance_fixes, .fini = teardown);

/* ---- MUST-63 ------------------------------------------------------------------------------------------ */

Test(conformance_fixes, must_63_a_syn_from_0_0_0_0_is_dropped_and_counted_and_never_answered)
{
    start(NULL);
    tp_listen(&t, 8);
    struct fx_tcp_segment syn = {.src = 0, .dst = FX_STACK_IP, .sport = TP_PEER_PORT, .dport = TP_STACK_PORT,
                                 .seq = t.peer_iss, .flags = TCP_SYN, .window = 65535, .opt = {.mss = 1460}};
    size_t n = fx_build_tcp(frame, &syn);
    fx_input(&t.f, t.now, frame, n);
    /* Nor to a closed port (which would otherwise get a reset), nor a bare ACK. */
    syn.dport = 9;
    n = fx_build_tcp(frame, &syn);
    fx_input(&t.f, t.now, frame, n);
    struct fx_tcp_segment ack = syn;
    ack.flags = TCP_ACK;
    ack.ack = 12345;
    n = fx_build_tcp(frame, &ack);
    fx_input(&t.f, t.now, frame, n);
    tp_advance(&t, t.now + TS_SEC(10));
    tp_expect_nothing(&t);
    cr_assert_eq(t.f.sent_count, 0, "nothing at all was sent, not even an ARP request");
    cr_assert_eq(fx_counter(&t.f, "ip.drop_bad_source"), 3);
    cr_assert_eq(fx_counter(&t.f, "tcp.rx_segments"), 0, "TCP never saw them");
    int err;
    cr_assert_null(ts_pcb_accept(t.listener, &err));
    /* The same SYN from a real host is answered. */
    syn.src = FX_PEER_IP;
    syn.dport = TP_STACK_PORT;
    n = fx_build_tcp(frame, &syn);
    fx_input(&t.f, t.now, frame, n);
    const struct tp_seg *s = tp_next(&t);
    cr_assert_eq(s->h.flags, TCP_SYN | TCP_ACK);
}

Test(conformance_fixes, must_63_rfc1122_3_2_1_3_udp_and_icmp_never_answer_an_invalid_source)
{
    start(NULL);
    const ts_ipv4_addr bad[] = {0, TS_IPV4(255, 255, 255, 255), TS_IPV4(10, 0, 0, 255), TS_IPV4(224, 0, 0, 5),
                                TS_IPV4(127, 0, 0, 1)};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = fx_build_echo_request(frame, bad[i], FX_STACK_IP, 1, 1, "p", 1);
        fx_input(&t.f, t.now, frame, n);
        n = fx_build_udp(frame, bad[i], 5000, FX_STACK_IP, 9, "closed port", 11);
        fx_input(&t.f, t.now, frame, n);
    }
    tp_advance(&t, t.now + TS_SEC(2));
    cr_assert_eq(t.f.sent_count, 0, "no echo reply, no port unreachable, no ARP request");
    /* Echo requests from all five and UDP from all but 0.0.0.0 are dropped by IP; UDP from 0.0.0.0 (a
     * booting host) reaches UDP, which finds no socket and stays silent. */
    cr_assert_eq(fx_counter(&t.f, "ip.drop_bad_source"), 9);
    cr_assert_eq(fx_counter(&t.f, "udp.drop_no_socket"), 1);
    cr_assert_eq(fx_counter(&t.f, "icmp.tx_messages"), 0);
}

/* ---- MUST-26 ------------------------------------------------------------------------------------------ */

static void established(void)
{
    start(NULL);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
}

Test(conformance_fixes, must_26_no_keep_alive_probe_while_sent_data_is_unacknowledged)
{
    established();
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPIDLE, 10), 0);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPINTVL, 5), 0);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPCNT, 3), 0);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPALIVE, 1), 0);
    uint8_t data[100];
    tp_pattern(data, sizeof data, 26);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), (ssize_t)sizeof data);
    /* The peer goes silent for 90 s: the retransmission timer governs, with the data, and the idle
     * keep-alive settings (10 s + 3 probes 5 s apart) neither probe nor abort the connection. */
    ts_time limit = t.now + TS_SEC(90);
    unsigned retransmissions = 0;
    for (const struct tp_seg *s; (s = tp_run_until_segment(&t, limit)) != NULL;) {
        cr_assert_eq(s->h.seq, t.stack_nxt, "every segment is the data, never a probe");
        cr_assert_eq(s->len, sizeof data);
        retransmissions++;
    }
    tp_advance(&t, limit);
    cr_assert_geq(retransmissions, 5);
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    cr_assert_eq(fx_counter(&t.f, "tcp.keepalive_probes"), 0);
    /* Everything is acknowledged: from then on the idle time counts, and the first probe follows 10 s later. */
    t.stack_nxt += sizeof data;
    tp_send_ack(&t, t.stack_nxt);
    ts_time acked_at = t.now;
    const struct tp_seg *p = tp_run_until_segment(&t, t.now + TS_SEC(60));
    cr_assert_not_null(p);
    cr_assert_eq(p->h.seq, t.stack_nxt - 1, "a keep-alive probe: SND.NXT - 1");
    cr_assert_eq(p->len, 0);
    cr_assert_eq(p->when, acked_at + TS_SEC(10));
}

/* ---- MUST-23 ------------------------------------------------------------------------------------------ */

/* An active open from the stack to the peer, nobody answering. */
static void connect_unanswered(void)
{
    int err;
    t.pcb = ts_pcb_open(t.f.st, TS_PCB_TCP, &err);
    cr_assert_not_null(t.pcb);
    struct ts_sockaddr remote = {FX_PEER_IP, TP_PEER_PORT};
    cr_assert_eq(ts_pcb_connect(t.pcb, t.now, &remote), -EINPROGRESS);
}

Test(conformance_fixes, must_23_by_default_an_unanswered_syn_is_retransmitted_for_at_least_3_minutes)
{
    start(NULL);
    ts_time t0 = t.now;
    connect_unanswered();
    cr_assert_eq(tp_next(&t)->h.flags, TCP_SYN);
    for (unsigned i = 0; i < 7; i++) {
        const struct tp_seg *s = tp_run_until_segment(&t, t0 + TS_SEC(180));
        cr_assert_not_null(s, "retransmission %u within 3 minutes", i + 1);
        cr_assert_eq(s->h.flags, TCP_SYN);
    }
    /* Three minutes after the first SYN the connect is still going on... */
    tp_advance(&t, t0 + TS_SEC(180));
    cr_assert_eq(tp_state(&t), TS_TCP_SYN_SENT);
    cr_assert_eq(ts_pcb_take_error(t.pcb), 0);
    /* ...and fails 120 s (the RTO's maximum) after the seventh retransmission at 127 s: at 247 s. */
    cr_assert_null(tp_run_until_segment(&t, t0 + TS_SEC(247) - 1));
    cr_assert_eq(tp_state(&t), TS_TCP_SYN_SENT);
    tp_advance(&t, t0 + TS_SEC(247));
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSED);
    cr_assert_eq(ts_pcb_take_error(t.pcb), ETIMEDOUT);
    cr_assert_eq(fx_counter(&t.f, "tcp.timeouts"), 1);
    struct ts_stack_config cfg;
    ts_stack_config_init(&cfg);
    cr_assert_eq(cfg.timing.tcp_syn_retries, 7, "the default");
}
