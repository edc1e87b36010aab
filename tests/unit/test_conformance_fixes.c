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
#include "wire/checksum.h"
#include "wire/icmp.h"

static struct tp t;
static uint8_t frame[2048];
static uint32_t last_sent_seq; /* the sequence number of the stack's last data segment or SYN */

static void start(const struct ts_stack_config *cfg)
{
    tp_init(&t, cfg);
}

static void teardown(void)
{
    tp_fini(&t);
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

/* ---- MUST-21 (the core's option; end to end through ts_setsockopt: test_conformance_fixes_sock.c) ----- */

/* Sends 100 bytes the peer never acknowledges; returns when they left (t.now). */
static void send_unacknowledged(void)
{
    uint8_t data[100];
    tp_pattern(data, sizeof data, 21);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), (ssize_t)sizeof data);
    const struct tp_seg *s = tp_next(&t);
    cr_assert_eq(s->len, sizeof data);
    last_sent_seq = s->h.seq;
}

/* Runs the timers until the connection is CLOSED (at most limit); returns when it closed. */
static ts_time run_until_closed(ts_time limit)
{
    while (tp_state(&t) != TS_TCP_CLOSED && t.now < limit) {
        ts_time next = ts_stack_next_deadline(t.f.st);
        cr_assert_neq(next, TS_TIME_NEVER, "a timer must be running");
        tp_advance(&t, next < limit ? next : limit);
        while (tp_try_next(&t) != NULL)
            ;
    }
    return t.now;
}

Test(conformance_fixes, must_21_the_user_timeout_replaces_r2_for_one_connection)
{
    established();
    int v = -1;
    cr_assert_eq(ts_pcb_getopt(t.pcb, TS_OPT_USER_TIMEOUT, &v), 0);
    cr_assert_eq(v, 0, "0 by default: the stack's tcp_data_retries");
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_USER_TIMEOUT, -1), -EINVAL);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_USER_TIMEOUT, 5000), 0);
    cr_assert_eq(ts_pcb_getopt(t.pcb, TS_OPT_USER_TIMEOUT, &v), 0);
    cr_assert_eq(v, 5000);
    ts_time sent = t.now;
    send_unacknowledged();
    ts_time closed = run_until_closed(t.now + TS_SEC(3600));
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSED);
    cr_assert_eq(closed, sent + TS_SEC(5), "aborted 5 s after the data left, not after 15 retransmissions");
    cr_assert_eq(ts_pcb_take_error(t.pcb), ETIMEDOUT);
}

Test(conformance_fixes, must_21_a_long_user_timeout_outlasts_the_retransmission_count)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    cfg.timing.tcp_data_retries = 3; /* R2 by count: 0.2 + 0.4 + 0.8 + 1.6 s */
    start(&cfg);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_USER_TIMEOUT, 30000), 0);
    ts_time sent = t.now;
    send_unacknowledged();
    ts_time closed = run_until_closed(t.now + TS_SEC(3600));
    cr_assert_eq(closed, sent + TS_SEC(30));
    cr_assert_eq(ts_pcb_take_error(t.pcb), ETIMEDOUT);
    cr_assert_gt(tp_info(&t).retransmits, 3);
}

Test(conformance_fixes, must_21_the_user_timeout_bounds_an_unanswered_connect_and_is_inherited_by_accept)
{
    start(NULL);
    int err;
    t.pcb = ts_pcb_open(t.f.st, TS_PCB_TCP, &err);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_USER_TIMEOUT, 10000), 0);
    struct ts_sockaddr remote = {FX_PEER_IP, TP_PEER_PORT};
    ts_time t0 = t.now;
    cr_assert_eq(ts_pcb_connect(t.pcb, t.now, &remote), -EINPROGRESS);
    cr_assert_eq(tp_next(&t)->h.flags, TCP_SYN);
    cr_assert_eq(run_until_closed(t0 + TS_SEC(600)), t0 + TS_SEC(10));
    cr_assert_eq(ts_pcb_take_error(t.pcb), ETIMEDOUT);
    ts_pcb_close(t.pcb);
    /* A listener's value reaches the connections it accepts. */
    struct ts_pcb *l = tp_listen(&t, 4);
    cr_assert_eq(ts_pcb_setopt(l, TS_OPT_USER_TIMEOUT, 1234), 0);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    int v = 0;
    cr_assert_eq(ts_pcb_getopt(t.pcb, TS_OPT_USER_TIMEOUT, &v), 0);
    cr_assert_eq(v, 1234);
}

/* ---- MUST-47 ------------------------------------------------------------------------------------------ */

/* The peer's router answers a segment of the stack (its IP header and first 8 TCP bytes: the ports and
 * seq) with an ICMP destination unreachable of this code. */
static void icmp_unreachable_about(uint32_t seq, uint8_t code)
{
    uint8_t icmp[8 + 20 + 8] = {ICMP_DEST_UNREACH, code};
    uint8_t *ip = icmp + 8;
    ip[0] = 0x45;
    be16_put(ip + 2, 20 + 20);
    ip[8] = 64;
    ip[9] = 6;
    be32_put(ip + 12, FX_STACK_IP);
    be32_put(ip + 16, FX_PEER_IP);
    be16_put(ip + 10, csum_finish(csum_add(0, ip, 20)));
    be16_put(ip + 20, t.stack_port);
    be16_put(ip + 22, t.peer_port);
    be32_put(ip + 24, seq);
    be16_put(icmp + 2, csum_finish(csum_add(0, icmp, sizeof icmp)));
    size_t n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 1, 77, 0, icmp, sizeof icmp);
    fx_input(&t.f, t.now, frame, n);
}

Test(conformance_fixes, must_47_a_soft_icmp_error_is_reported_without_aborting_and_replaces_etimedout)
{
    established();
    send_unacknowledged();
    icmp_unreachable_about(last_sent_seq, ICMP_UNREACH_HOST);
    /* Remembered, readable (and cleared) without harm to the connection. */
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    cr_assert_eq(ts_pcb_take_error(t.pcb), 0, "not a hard error");
    cr_assert_eq(ts_pcb_take_soft_error(t.pcb), EHOSTUNREACH);
    cr_assert_eq(ts_pcb_take_soft_error(t.pcb), 0, "reading clears it");
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    /* Seen again during the retransmissions, then R2: the application learns why (as Linux). */
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_USER_TIMEOUT, 3000), 0);
    tp_advance(&t, t.now + TS_MSEC(500));
    while (tp_try_next(&t) != NULL)
        ;
    icmp_unreachable_about(last_sent_seq, ICMP_UNREACH_NET);
    run_until_closed(t.now + TS_SEC(60));
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSED);
    cr_assert_eq(ts_pcb_take_error(t.pcb), ENETUNREACH, "not ETIMEDOUT");
}

Test(conformance_fixes, must_47_an_acknowledgment_of_new_data_forgets_the_soft_error)
{
    established();
    send_unacknowledged();
    icmp_unreachable_about(last_sent_seq, ICMP_UNREACH_HOST);
    t.stack_nxt += 100;
    tp_send_ack(&t, t.stack_nxt);
    cr_assert_eq(ts_pcb_take_soft_error(t.pcb), 0, "the path works again");
}

Test(conformance_fixes, must_47_a_connect_that_times_out_after_a_host_unreachable_fails_with_ehostunreach)
{
    start(NULL);
    connect_unanswered();
    const struct tp_seg *syn = tp_next(&t);
    cr_assert_eq(syn->h.flags, TCP_SYN);
    t.stack_port = syn->h.src_port;
    last_sent_seq = syn->h.seq;
    icmp_unreachable_about(last_sent_seq, ICMP_UNREACH_HOST);
    cr_assert_eq(tp_state(&t), TS_TCP_SYN_SENT, "a soft error does not abort the open");
    run_until_closed(t.now + TS_SEC(600));
    cr_assert_eq(ts_pcb_take_error(t.pcb), EHOSTUNREACH);
}
