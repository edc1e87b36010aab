/*
 * The explained trace (docs/trace.md): every TCP decision names the rule it
 * follows, frame lines read like tcpdump, and the machine-readable "cc" line
 * keeps its exact format. Real scenarios on one stack and a hand-driven peer
 * (tests/support/tcp_peer.h); the stack's trace is collected line by line.
 */
#define _POSIX_C_SOURCE 200809L /* unsetenv */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_peer.h"

static struct tp t;

#define LOG_MAX (1 << 20)
static char log_text[LOG_MAX];
static size_t log_used;
static bool echo; /* TS_TEST_TRACE=1: also print the trace, as the apps do */

static void collect(void *ctx, const struct ts_trace_event *ev)
{
    (void)ctx;
    if (echo)
        fprintf(stderr, "%10.6f %-4s %s\n", (double)(ev->now - TP_START) / 1e6, ts_trace_layer_name(ev->layer),
                ev->text);
    int n = snprintf(log_text + log_used, LOG_MAX - log_used, "%s %s\n", ts_trace_layer_name(ev->layer), ev->text);
    if (n > 0 && log_used + (size_t)n < LOG_MAX)
        log_used += (size_t)n;
}

/* tp_init would install its own printer for TS_TEST_TRACE: keep ours, which also prints. */
static void take_over_test_trace(void)
{
    if (getenv("TS_TEST_TRACE") != NULL) {
        echo = true;
        unsetenv("TS_TEST_TRACE");
    }
}

static void start(void)
{
    take_over_test_trace();
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    cfg.trace = collect;
    cfg.trace_mask = TS_TRACE_ALL;
    log_used = 0;
    log_text[0] = '\0';
    tp_init(&t, &cfg);
}

static void teardown(void)
{
    tp_fini(&t);
}

TestSuite(trace_explained, .fini = teardown);

/* The first line of the trace holding every one of the fragments (NULL-terminated), copied into line. */
static bool find_line(char *line, size_t cap, const char *first, ...)
{
    const char *p = log_text;
    while (*p != '\0') {
        const char *end = strchr(p, '\n');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        snprintf(line, cap, "%.*s", (int)len, p);
        bool all = true;
        va_list ap;
        va_start(ap, first);
        for (const char *frag = first; frag != NULL && all; frag = va_arg(ap, const char *))
            all = strstr(line, frag) != NULL;
        va_end(ap);
        if (all)
            return true;
        p = end != NULL ? end + 1 : p + len;
    }
    line[0] = '\0';
    return false;
}

#define ASSERT_LINE(...)                                                                                          \
    do {                                                                                                          \
        char line_[600];                                                                                          \
        cr_assert(find_line(line_, sizeof line_, __VA_ARGS__, NULL), "no trace line with " #__VA_ARGS__           \
                                                                     " in:\n%s", log_text);                       \
    } while (0)

/* A duration as the trace writes it: "2 s", "600 ms", "312.5 ms" is "312.500 ms". */
static void duration_text(ts_time us, char *buf, size_t cap)
{
    if (us % TS_SEC(1) == 0)
        snprintf(buf, cap, "%lld s", (long long)(us / TS_SEC(1)));
    else if (us % 1000 == 0)
        snprintf(buf, cap, "%lld ms", (long long)(us / 1000));
    else
        snprintf(buf, cap, "%lld.%03d ms", (long long)(us / 1000), (int)(us % 1000));
}

/* ---- frame lines ------------------------------------------------------------------------------------ */

Test(trace_explained, frame_lines_read_like_tcpdump_absolute_on_syns_relative_after)
{
    start();
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    ASSERT_LINE("tcp rx 10.0.0.1:40000 > 10.0.0.2:80 Flags [S], seq 4096, win 65535, options [mss 1460,sackOK,TS val ",
                "wscale 7], length 0");
    char iss[40];
    snprintf(iss, sizeof iss, "Flags [S.], seq %u, ack 4097, ", t.stack_iss);
    ASSERT_LINE("tcp tx 10.0.0.2:80 > 10.0.0.1:40000 ", iss, "options [mss 1460,sackOK,TS val ");
    /* The handshake's last ACK: relative numbers, the window scaled by the peer's shift (7). */
    ASSERT_LINE("tcp rx 10.0.0.1:40000 > 10.0.0.2:80 Flags [.], seq 1, ack 1, win 8388480, options [TS val ");
    uint8_t data[100];
    tp_pattern(data, sizeof data, 1);
    tp_send_data(&t, data, sizeof data);
    ASSERT_LINE("Flags [P.], seq 1, ack 1, ", "length 100");
}

Test(trace_explained, sack_blocks_are_decoded_relative_to_the_isn)
{
    start();
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    uint8_t data[100];
    tp_pattern(data, sizeof data, 2);
    /* 100 bytes beyond a 100-byte hole: the stack answers at once with a SACK block [201, 301). */
    t.peer_nxt += 100;
    tp_send_data(&t, data, sizeof data);
    ASSERT_LINE("RFC 9293 3.10.7.4 seventh check: 100 bytes at 101 beyond RCV.NXT 1, queued out of order",
                "RFC 5681 4.2: immediate duplicate ACK");
    ASSERT_LINE("tcp tx ", "Flags [.], seq 1, ack 1, ", "sack 1 {101:201}]");
}

/* ---- the rules -------------------------------------------------------------------------------------- */

Test(trace_explained, out_of_window_segment_names_the_acceptability_test)
{
    start();
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    uint8_t data[10] = {0};
    /* A segment far beyond the receive window (RCV.NXT is relative 1). */
    tp_send(&t, TCP_ACK, t.peer_nxt + 1000000, t.stack_nxt, data, sizeof data);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    ASSERT_LINE("tcp drop [tcp.drop_out_of_window] RFC 9293 3.10.7.4 first check: seq 1000001 len 10 outside window "
                "[1, ",
                "): not acceptable, sending ACK");
}

Test(trace_explained, rst_and_syn_in_window_name_rfc_5961)
{
    start();
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    tp_send(&t, TCP_RST, t.peer_nxt + 10, 0, NULL, 0);
    ASSERT_LINE("RFC 5961 3.2: RST in the window but not at RCV.NXT: sending a challenge ACK");
    tp_send(&t, TCP_SYN, t.peer_nxt + 10, 0, NULL, 0);
    ASSERT_LINE("RFC 5961 4.2: SYN in a synchronized state: sending a challenge ACK");
    tp_send(&t, TCP_RST, t.peer_nxt, 0, NULL, 0);
    ASSERT_LINE("RFC 9293 3.10.7.4 second check: RST at RCV.NXT in ESTABLISHED: connection reset");
    ASSERT_LINE("ESTABLISHED -> CLOSED (RFC 9293 3.10.7.4 second check: RST received, ECONNRESET)");
}

Test(trace_explained, rto_expiry_names_rfc_6298_5_5_and_the_backed_off_value)
{
    start();
    struct fx_tcp_options o = {.mss = 1460};
    t.handshake_rtt = TS_MSEC(100);
    tp_open_passive(&t, &o);
    ts_time rto = tp_info(&t).rto;
    uint8_t data[1000];
    tp_pattern(data, sizeof data, 3);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), 1000);
    tp_next(&t);
    ASSERT_LINE("RFC 6298 5.1: data sent, retransmission timer started");
    cr_assert_not_null(tp_run_until_segment(&t, t.now + TS_SEC(10)));
    char expected[128], value[48];
    duration_text(2 * rto, value, sizeof value);
    snprintf(expected, sizeof expected, "RFC 6298 5.5: RTO expired, backing off to %s", value);
    ASSERT_LINE(expected, "RFC 6298 5.4: resending from SND.UNA");
    ASSERT_LINE("RFC 9438 4.8 / 4.6: flight x 0.7, at least 2 SMSS: after the timeout ssthresh 2920, cwnd 1460");
    cr_assert_eq(tp_info(&t).rto, 2 * rto);
}

Test(trace_explained, third_duplicate_ack_names_rfc_5681_3_2)
{
    start();
    struct fx_tcp_options o = {.mss = 1000};
    t.handshake_rtt = TS_MSEC(10);
    tp_open_passive(&t, &o);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_CONGESTION, TS_CC_RENO), 0);
    static uint8_t data[6 * 1000];
    tp_pattern(data, sizeof data, 4);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), (ssize_t)sizeof data);
    for (int i = 0; i < 6; i++)
        tp_next(&t);
    uint32_t una = t.stack_nxt;
    tp_send_ack(&t, una);
    ASSERT_LINE("RFC 5681 2: duplicate ACK #1 for 1", "RFC 3042 2: limited transmit");
    tp_send_ack(&t, una);
    tp_send_ack(&t, una);
    ASSERT_LINE("RFC 5681 3.2: third duplicate ACK: fast retransmit seq 1", "RFC 5681 3.2 step 2 (eq. 4): "
                "ssthresh 3000 cwnd 6000");
    ASSERT_LINE("retransmit seq 1 len 1000", "RFC 6298 3 (Karn)");
    tp_send_ack(&t, una);
    ASSERT_LINE("RFC 5681 3.2 step 4: duplicate ACK in fast recovery, cwnd inflated to 7000");
    tp_send_ack(&t, una + 6000);
    ASSERT_LINE("RFC 6582 3.2 step 3: full ACK 6001 covers recover 6001, fast recovery over");
}

Test(trace_explained, delayed_ack_and_nagle_name_their_rules)
{
    start();
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    uint8_t data[100];
    tp_pattern(data, sizeof data, 5);
    tp_send_data(&t, data, sizeof data);
    ASSERT_LINE("RFC 9293 3.10.7.4 seventh check: 100 bytes in order, RCV.NXT 101",
                "RFC 9293 3.8.6.3 / RFC 1122 4.2.3.2: ACK delayed up to 200 ms");
    tp_run_until_segment(&t, t.now + TS_SEC(1));
    ASSERT_LINE("RFC 1122 4.2.3.2: delayed-ACK timer expired, sending the ACK");
    /* Nagle: a second small write waits while the first is unacknowledged. */
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, 10), 10);
    tp_next(&t);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, 10), 10);
    tp_expect_nothing(&t);
    ASSERT_LINE("RFC 9293 3.7.4 (Nagle, RFC 896): a short segment waits for the ACK of data in flight: 10 of 10 queued "
                "bytes held back, 10 in flight");
}

Test(trace_explained, zero_window_and_persist_name_rfc_9293_3_8_6_1)
{
    start();
    struct fx_tcp_options o = {.mss = 1460};
    tp_open_passive(&t, &o);
    t.peer_window = 0;
    tp_send_ack(&t, t.stack_nxt);
    ASSERT_LINE("RFC 9293 3.10.7.4 fifth check: send window 65535 -> 0", "zero window (RFC 9293 3.8.6.1)");
    uint8_t data[10] = {0};
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), 10);
    ASSERT_LINE("RFC 9293 3.8.6.1: data waits behind a zero window: persist timer started");
    cr_assert_not_null(tp_run_until_segment(&t, t.now + TS_SEC(10)));
    ASSERT_LINE("RFC 9293 3.8.6.1: persist timer expired with a zero window: sending a window probe (probe 1");
}

Test(trace_explained, paws_names_rfc_7323_5_3)
{
    start();
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    t.now += TS_MSEC(50);
    struct fx_tcp_options old = tp_options(&t);
    old.ts_val -= 100; /* older than the handshake's TSval, which is TS.Recent */
    struct fx_tcp_segment seg = {.seq = t.peer_nxt, .ack = t.stack_nxt, .flags = TCP_ACK | TCP_PSH,
                                 .window = t.peer_window, .opt = old, .data = "old!", .len = 4};
    tp_input(&t, seg);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    ASSERT_LINE("tcp drop [tcp.drop_paws] RFC 7323 5.3: TSval ", "older than TS.Recent ",
                ": old duplicate (PAWS), sending ACK");
}

Test(trace_explained, keepalive_probes_and_their_timeout_name_their_rules)
{
    start();
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPALIVE, 1), 0);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPIDLE, 10), 0);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPINTVL, 5), 0);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_KEEPCNT, 2), 0);
    tp_advance(&t, t.now + TS_SEC(30));
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSED);
    ASSERT_LINE("RFC 9293 3.8.4 / RFC 1122 4.2.3.6: idle, keep-alive probe 1 of 2 (SEG.SEQ = SND.NXT - 1)");
    ASSERT_LINE("RFC 9293 3.8.4 / RFC 1122 4.2.3.6: idle, keep-alive probe 2 of 2");
    ASSERT_LINE("RFC 1122 4.2.3.6 / RFC 9293 3.8.4: 2 keep-alive probes unanswered, ETIMEDOUT");
    ASSERT_LINE("ESTABLISHED -> CLOSED (RFC 1122 4.2.3.5 / RFC 9293 3.8.3: retransmission or keep-alive limit reached, "
                "ETIMEDOUT)");
}

/* ---- every transition of a full open and close names its rule ------------------------------------------ */

/* Each state-change line ("<conn> A -> B (why)") carries an RFC reference in its reason; returns how many. */
static unsigned check_transitions(void)
{
    unsigned n = 0;
    const char *p = log_text;
    while ((p = strstr(p, " -> ")) != NULL) {
        const char *bol = p;
        while (bol > log_text && bol[-1] != '\n')
            bol--;
        const char *eol = strchr(p, '\n');
        size_t len = eol != NULL ? (size_t)(eol - bol) : strlen(bol);
        char line[600];
        snprintf(line, sizeof line, "%.*s", (int)len, bol);
        p = bol + len;
        /* Only state changes: "<STATE> -> <STATE> (" after the connection's name. */
        const char *arrow = strstr(line, " -> ");
        const char *open = strstr(line, " (");
        if (strncmp(line, "tcp 10.", 7) != 0 || open == NULL || open < arrow)
            continue;
        n++;
        cr_assert_not_null(strstr(open, "(RFC "), "a transition without its rule: %s", line);
    }
    return n;
}

Test(trace_explained, every_transition_of_an_active_open_and_close_names_its_rule)
{
    start();
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_active(&t, &o);
    cr_assert_eq(ts_pcb_shutdown(t.pcb, t.now, TS_SHUT_WR), 0);
    tp_expect(&t, TCP_ACK | TCP_FIN, t.stack_nxt, t.peer_nxt);
    t.stack_nxt++;
    tp_send_ack(&t, t.stack_nxt);
    tp_send(&t, TCP_ACK | TCP_FIN, t.peer_nxt, t.stack_nxt, NULL, 0);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt + 1);
    tp_advance(&t, t.now + TS_SEC(61));
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSED);
    ASSERT_LINE("CLOSED -> SYN-SENT (RFC 9293 3.10.1: OPEN (active), SYN sent)");
    ASSERT_LINE("SYN-SENT -> ESTABLISHED (RFC 9293 3.10.7.3 fourth check");
    ASSERT_LINE("ESTABLISHED -> FIN-WAIT-1 (RFC 9293 3.10.4: CLOSE");
    ASSERT_LINE("FIN-WAIT-1 -> FIN-WAIT-2 (RFC 9293 3.10.7.4 fifth check: our FIN acknowledged)");
    ASSERT_LINE("FIN-WAIT-2 -> TIME-WAIT (RFC 9293 3.10.7.4 eighth check");
    ASSERT_LINE("RFC 9293 3.6.1 (MUST-13): TIME-WAIT lingers 2 MSL (60 s)");
    ASSERT_LINE("TIME-WAIT -> CLOSED (RFC 9293 3.10.8: time-wait timeout (2 MSL) expired");
    cr_assert_eq(check_transitions(), 6);
}

Test(trace_explained, every_transition_of_a_passive_open_and_close_names_its_rule)
{
    start();
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    tp_send(&t, TCP_ACK | TCP_FIN, t.peer_nxt, t.stack_nxt, NULL, 0);
    t.peer_nxt++;
    tp_next(&t);
    cr_assert_eq(ts_pcb_shutdown(t.pcb, t.now, TS_SHUT_WR), 0);
    tp_expect(&t, TCP_ACK | TCP_FIN, t.stack_nxt, t.peer_nxt);
    t.stack_nxt++;
    tp_send_ack(&t, t.stack_nxt);
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSED);
    ASSERT_LINE("CLOSED -> SYN-RECEIVED (RFC 9293 3.10.7.2 third check: SYN to a listener");
    ASSERT_LINE("SYN-RECEIVED -> ESTABLISHED (RFC 9293 3.10.7.4 fifth check: ACK of our SYN)");
    ASSERT_LINE("ESTABLISHED -> CLOSE-WAIT (RFC 9293 3.10.7.4 eighth check: FIN received)");
    ASSERT_LINE("CLOSE-WAIT -> LAST-ACK (RFC 9293 3.10.4: CLOSE in CLOSE-WAIT");
    ASSERT_LINE("LAST-ACK -> CLOSED (RFC 9293 3.10.7.4 fifth check: our FIN acknowledged in LAST-ACK");
    ASSERT_LINE("RFC 6528 3: ISN ");
    cr_assert_eq(check_transitions(), 5);
}

/* ---- the cc line ------------------------------------------------------------------------------------ */

struct cc_line {
    char laddr[16], raddr[16], state[16];
    unsigned lport, rport;
    unsigned long cwnd, ssthresh, flight;
    long long srtt, rttvar, rto;
};

/* Parses a "cc" line in its exact format; false if it does not match to the last character. */
static bool parse_cc(const char *text, struct cc_line *c)
{
    int end = 0;
    int n = sscanf(text,
                   "cc %15[0-9.]:%u > %15[0-9.]:%u cwnd=%lu ssthresh=%lu srtt_us=%lld rttvar_us=%lld rto_us=%lld "
                   "flight=%lu state=%15[A-Z12-]%n",
                   c->laddr, &c->lport, c->raddr, &c->rport, &c->cwnd, &c->ssthresh, &c->srtt, &c->rttvar, &c->rto,
                   &c->flight, c->state, &end);
    return n == 11 && text[end] == '\0';
}

Test(trace_explained, cc_line_has_the_exact_format_and_follows_every_change)
{
    start();
    struct fx_tcp_options o = {.mss = 1000};
    t.handshake_rtt = TS_MSEC(100);
    tp_open_passive(&t, &o);
    uint8_t data[6000];
    tp_pattern(data, sizeof data, 6);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), 6000);
    for (int i = 0; i < 6; i++)
        tp_next(&t);
    t.now += TS_MSEC(50);
    t.stack_nxt += 6000;
    tp_send_ack(&t, t.stack_nxt);

    unsigned lines = 0;
    struct cc_line c, last = {0};
    const char *p = log_text;
    while ((p = strstr(p, "tcp cc ")) != NULL) {
        char text[300];
        const char *eol = strchr(p, '\n');
        snprintf(text, sizeof text, "%.*s", (int)(eol - p - 4), p + 4);
        cr_assert(parse_cc(text, &c), "not in the cc format: %s", text);
        cr_assert_str_eq(c.laddr, "10.0.0.2");
        cr_assert_eq(c.lport, TP_STACK_PORT);
        cr_assert_str_eq(c.raddr, "10.0.0.1");
        cr_assert_eq(c.rport, TP_PEER_PORT);
        lines++;
        last = c;
        p = eol;
    }
    /* The SYN,ACK (initial values), the handshake's RTT sample, the ACK of the data (RTT and cwnd). */
    cr_assert_eq(lines, 3, "one line per change:\n%s", log_text);
    struct ts_tcp_info info = tp_info(&t);
    cr_assert_eq(last.cwnd, info.cwnd);
    cr_assert_eq(last.ssthresh, info.ssthresh);
    cr_assert_eq(last.srtt, info.srtt);
    cr_assert_eq(last.rttvar, info.rttvar);
    cr_assert_eq(last.rto, info.rto);
    cr_assert_eq(last.flight, 0);
    cr_assert_str_eq(last.state, "ESTABLISHED");
    ASSERT_LINE("RFC 5681 3.1: slow start: cwnd 10000 -> 11000 (ssthresh 2147483647, 6000 bytes acked)");
}

Test(trace_explained, cc_line_follows_an_rto_with_the_loss_window)
{
    start();
    struct fx_tcp_options o = {.mss = 1000};
    t.handshake_rtt = TS_MSEC(100);
    tp_open_passive(&t, &o);
    uint8_t data[1000];
    tp_pattern(data, sizeof data, 7);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), 1000);
    tp_next(&t);
    cr_assert_not_null(tp_run_until_segment(&t, t.now + TS_SEC(10)));
    char line[600], expected[200];
    struct ts_tcp_info info = tp_info(&t);
    snprintf(expected, sizeof expected, "cc 10.0.0.2:80 > 10.0.0.1:40000 cwnd=1000 ssthresh=2000 srtt_us=%lld "
             "rttvar_us=%lld "
             "rto_us=%lld flight=1000 state=ESTABLISHED", (long long)info.srtt, (long long)info.rttvar,
                 (long long)info.rto);
    cr_assert(find_line(line, sizeof line, expected, NULL), "no line %s in:\n%s", expected, log_text);
}

/* ---- the trace off costs nothing visible: no line, the same behaviour ---------------------------------- */

Test(trace_explained, with_the_trace_off_no_line_is_delivered)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    cfg.trace = collect;
    cfg.trace_mask = 0;
    take_over_test_trace();
    log_used = 0;
    log_text[0] = '\0';
    tp_init(&t, &cfg);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    uint8_t data[100] = {0};
    tp_send_data(&t, data, sizeof data);
    tp_advance(&t, t.now + TS_SEC(1));
    cr_assert_eq(log_used, 0, "trace lines with the mask off:\n%s", log_text);
}
