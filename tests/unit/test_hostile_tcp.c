/*
 * Hostile TCP input (the "hostile input" regression suite), end to end through one stack: each
 * malformed or abusive segment is dropped (nothing sent, or exactly the right answer), counted
 * under its reason, the stack still answers a valid ping afterwards, and tp_fini checks that no
 * buffer leaked. Names carry the CVE a case mirrors where one exists (AMNESIA:33, INFRA:HALT).
 *
 * The option parser's byte-level rules are in test_wire_tcp.c; RFC 9293 / 5961 / 7323 behaviour
 * (resets, challenge ACKs, PAWS, out-of-window segments, trimming, MSS of 1, wraparound of a
 * whole transfer) is in test_tcp_rules*.c. This file checks what reaches the stack whole.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tcp_peer.h"
#include "wire/checksum.h"

static struct tp t;
static uint8_t frame[2048];

static void start(void)
{
    tp_init(&t, NULL);
}

static void teardown(void)
{
    tp_fini(&t);
}

TestSuite(hostile, .fini = teardown);

/* After every hostile segment the stack must still answer a valid ping. */
static void still_answers_a_ping(void)
{
    static uint8_t ping[128];
    size_t before = t.f.sent_count;
    size_t n = fx_build_echo_request(ping, FX_PEER_IP, FX_STACK_IP, 9, 99, "abcdefgh", 8);
    fx_input(&t.f, t.now, ping, n);
    cr_assert_eq(t.f.sent_count, before + 1, "the stack no longer answers a valid ping");
    cr_assert_eq(fx_l3(&t.f.sent[before])[20], 0, "an echo reply");
    t.next_frame = t.f.sent_count;
}

/* A SYN to the listener, as a frame the test may edit before sending (TCP header at frame + 34). */
static size_t build_syn(const struct fx_tcp_options *opt)
{
    struct fx_tcp_segment syn = {.src = FX_PEER_IP, .dst = FX_STACK_IP, .sport = TP_PEER_PORT,
                                 .dport = TP_STACK_PORT, .seq = TP_PEER_ISS, .flags = TCP_SYN, .window = 65535};
    if (opt != NULL)
        syn.opt = *opt;
    return fx_build_tcp(frame, &syn);
}

/* Recomputes the TCP checksum of frame (20-byte IP header) after an edit, so only the edit is wrong. */
static void fix_tcp_checksum(size_t n)
{
    uint8_t *tcp = frame + 34;
    size_t len = n - 34;
    be16_put(tcp + 16, 0);
    uint32_t sum = csum_pseudo_ipv4(FX_PEER_IP, FX_STACK_IP, 6, (uint16_t)len);
    be16_put(tcp + 16, csum_finish(csum_add(sum, tcp, len)));
}

static void send_frame(size_t n) { fx_input(&t.f, t.now, frame, n); }

static void expect_dropped(const char *counter, uint64_t count)
{
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, counter), count, "%s", counter);
    still_answers_a_ping();
}

/* A SYN carrying exactly these option bytes (padded to a multiple of 4 with EOL by the builder). */
static void send_syn_with_raw_options(const uint8_t *raw, size_t len)
{
    struct fx_tcp_options o = {.raw = raw, .raw_len = len};
    send_frame(build_syn(&o));
}

static void established(void)
{
    start();
    tp_listen(&t, 8);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
}

/* ---- the header ---------------------------------------------------------------------------------- */

Test(hostile, tcp_shorter_than_its_header_is_dropped_and_counted)
{
    start();
    tp_listen(&t, 8);
    build_syn(NULL);
    /* Cut the segment to 12 bytes, keeping the IP header consistent. */
    be16_put(frame + 14 + 2, 20 + 12);
    fx_fix_ipv4_checksum(frame);
    send_frame(34 + 12);
    expect_dropped("tcp.drop_truncated", 1);
}

Test(hostile, tcp_data_offset_below_5_is_dropped_and_counted)
{
    start();
    tp_listen(&t, 8);
    for (uint8_t off = 0; off < 5; off++) {
        size_t n = build_syn(NULL);
        frame[34 + 12] = (uint8_t)(off << 4);
        fix_tcp_checksum(n);
        send_frame(n);
    }
    expect_dropped("tcp.drop_bad_offset", 5);
}

Test(hostile, tcp_data_offset_beyond_the_segment_is_dropped_and_counted)
{
    start();
    tp_listen(&t, 8);
    size_t n = build_syn(NULL); /* 20 bytes of header, no data: offsets 6..15 all claim too much */
    for (uint8_t off = 6; off <= 15; off++) {
        frame[34 + 12] = (uint8_t)(off << 4);
        fix_tcp_checksum(n);
        send_frame(n);
    }
    expect_dropped("tcp.drop_bad_offset", 10);
}

/* ---- options ------------------------------------------------------------------------------------- */

Test(hostile, tcp_option_of_length_0_is_dropped_without_looping)
{
    start();
    tp_listen(&t, 8);
    static const uint8_t unknown_len0[] = {0x63, 0, 1, 1};
    static const uint8_t mss_len0[] = {2, 0, 5, 0xb4};
    send_syn_with_raw_options(unknown_len0, sizeof unknown_len0);
    send_syn_with_raw_options(mss_len0, sizeof mss_len0);
    expect_dropped("tcp.drop_bad_option", 2);
}

Test(hostile, tcp_option_of_length_1_is_dropped_and_counted)
{
    start();
    tp_listen(&t, 8);
    static const uint8_t unknown_len1[] = {0x63, 1, 1, 1};
    static const uint8_t wscale_len1[] = {1, 3, 1, 7};
    send_syn_with_raw_options(unknown_len1, sizeof unknown_len1);
    send_syn_with_raw_options(wscale_len1, sizeof wscale_len1);
    expect_dropped("tcp.drop_bad_option", 2);
}

Test(hostile, tcp_option_running_past_the_header_is_dropped_and_counted)
{
    start();
    tp_listen(&t, 8);
    /* NOP NOP, then timestamps claiming 10 bytes where 6 remain (header of 28 bytes). */
    static const uint8_t ts_past[] = {1, 1, 8, 10, 0, 0, 0, 1};
    /* SACK claiming 34 bytes in an 8-byte option area. */
    static const uint8_t sack_past[] = {1, 1, 5, 34, 0, 0, 0, 1};
    send_syn_with_raw_options(ts_past, sizeof ts_past);
    send_syn_with_raw_options(sack_past, sizeof sack_past);
    expect_dropped("tcp.drop_bad_option", 2);
}

Test(hostile, tcp_truncated_mss_window_scale_timestamp_and_sack_options_are_dropped_and_counted)
{
    start();
    tp_listen(&t, 8);
    static const uint8_t mss3[] = {2, 3, 5, 1};             /* MSS needs 4 */
    static const uint8_t wscale2[] = {3, 2, 1, 1};          /* window scale needs 3 */
    static const uint8_t ts6[] = {8, 6, 0, 0, 0, 1, 1, 1};  /* timestamps need 10 */
    static const uint8_t sack6[] = {5, 6, 0, 0, 0, 1, 1, 1}; /* SACK needs 2 + 8n */
    send_syn_with_raw_options(mss3, sizeof mss3);
    send_syn_with_raw_options(wscale2, sizeof wscale2);
    send_syn_with_raw_options(ts6, sizeof ts6);
    send_syn_with_raw_options(sack6, sizeof sack6);
    expect_dropped("tcp.drop_bad_option", 4);
    cr_assert_eq(fx_counter(&t.f, "tcp.passive_opens"), 0);
}

Test(hostile, tcp_mss_of_0_is_raised_and_data_still_flows_in_whole_segments)
{
    /* An MSS of 0 taken literally means segments that carry nothing: a sender loops forever. */
    start();
    tp_listen(&t, 8);
    static const uint8_t mss0[] = {2, 4, 0, 0};
    struct fx_tcp_options o = {.raw = mss0, .raw_len = sizeof mss0};
    tp_open_passive(&t, &o);
    struct ts_tcp_info info = tp_info(&t);
    cr_assert_eq(info.snd_mss, 88, "RFC 9293 3.7.1 leaves a floor to us: Linux's 88");
    static uint8_t data[1000];
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), (ssize_t)sizeof data);
    const struct tp_seg *s = tp_next(&t);
    cr_assert_eq(s->len, 88);
    still_answers_a_ping();
}

/* ---- SACK ---------------------------------------------------------------------------------------- */

/* Ten segments in flight on a SACK connection; returns SND.UNA. */
static uint32_t segments_in_flight(uint32_t *smss)
{
    established();
    static uint8_t data[8000];
    tp_pattern(data, sizeof data, 5);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_CONGESTION, TS_CC_RENO), 0);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), (ssize_t)sizeof data);
    const struct tp_seg *s;
    *smss = 0;
    while ((s = tp_try_next(&t)) != NULL)
        if (*smss == 0)
            *smss = (uint32_t)s->len;
    cr_assert_gt(*smss, 0);
    return t.stack_nxt;
}

/* A duplicate ACK of una carrying up to 3 SACK blocks (with timestamps, 3 is what fits). */
static void dup_ack_with_sack(uint32_t una, unsigned count, const uint32_t blocks[][2])
{
    struct fx_tcp_segment seg = {.seq = t.peer_nxt, .ack = una, .flags = TCP_ACK, .window = t.peer_window,
                                 .opt = tp_options(&t)};
    cr_assert(count <= 3);
    seg.opt.sack_count = count;
    for (unsigned i = 0; i < count; i++) {
        seg.opt.sack[i][0] = blocks[i][0];
        seg.opt.sack[i][1] = blocks[i][1];
    }
    tp_input(&t, seg);
}

Test(hostile, tcp_sack_blocks_outside_what_was_sent_are_ignored)
{
    uint32_t smss;
    uint32_t una = segments_in_flight(&smss);
    uint32_t sent_end = una + 8000;
    /* Beyond SND.MAX, wholly below SND.UNA, inverted, and half a sequence space away: were any of
     * them believed, three segments' worth of SACKed data would start recovery at the first or
     * second duplicate ACK (RFC 6675 5); the third duplicate ACK would start it anyway. */
    const uint32_t first[3][2] = {{sent_end, sent_end + 100000}, {una - 100000, una}, {una + 5 * smss, una + smss}};
    const uint32_t second[1][2] = {{una + 0x80000000u, una + 0x80000000u + 5000}};
    dup_ack_with_sack(una, 3, first);
    dup_ack_with_sack(una, 1, second);
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, "tcp.fast_retransmits"), 0, "no SACK block was credible");
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    still_answers_a_ping();
}

Test(hostile, tcp_sack_block_reaching_below_snd_una_counts_only_what_lies_above_it)
{
    /* RFC 2018 3: a block reports data the receiver holds beyond the cumulative ACK; a block that
     * claims a megabyte below SND.UNA and one byte above it is evidence of one byte, not of loss. */
    uint32_t smss;
    uint32_t una = segments_in_flight(&smss);
    const uint32_t straddling[1][2] = {{una - 1000000, una + smss + 1}};
    dup_ack_with_sack(una, 1, straddling);
    cr_assert_eq(fx_counter(&t.f, "tcp.fast_retransmits"), 0, "one duplicate ACK is no evidence of loss");
    tp_expect_nothing(&t);
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    still_answers_a_ping();
}

/* ---- flags and the urgent pointer ------------------------------------------------------------------ */

Test(hostile, tcp_urgent_pointer_past_the_segment_cve_2020_17437_cve_2021_31400_delivers_the_data_inline)
{
    established();
    struct fx_tcp_segment seg = {.src = FX_PEER_IP, .dst = FX_STACK_IP, .sport = TP_PEER_PORT,
                                 .dport = TP_STACK_PORT, .seq = t.peer_nxt, .ack = t.stack_nxt,
                                 .flags = TCP_ACK | TCP_PSH | TCP_URG, .window = t.peer_window,
                                 .opt = tp_options(&t), .data = "abc", .len = 3};
    size_t n = fx_build_tcp(frame, &seg);
    be16_put(frame + 34 + 18, 0xffff); /* urgent data 65535 bytes away, in a 3-byte segment */
    size_t hlen = (size_t)(frame[34 + 12] >> 4) * 4;
    cr_assert_eq(n, 34 + hlen + 3);
    fix_tcp_checksum(n);
    send_frame(n);
    t.peer_nxt += 3;
    tp_advance(&t, t.now + TS_MSEC(500));
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    uint8_t out[16];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, out, sizeof out, false), 3);
    cr_assert_arr_eq(out, "abc", 3);
    still_answers_a_ping();
}

Test(hostile, tcp_segment_with_no_flags_is_dropped_and_counted)
{
    established();
    tp_send(&t, 0, t.peer_nxt, 0, "null", 4);
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_no_ack"), 1);
    uint8_t out[8];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, out, sizeof out, false), -EAGAIN, "its data is not delivered");
    /* And to a listener (the "null scan"). */
    struct fx_tcp_segment null_seg = {.sport = TP_PEER_PORT + 1, .seq = 5, .window = 1000};
    tp_input(&t, null_seg);
    expect_dropped("tcp.drop_no_ack", 2);
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
}

Test(hostile, tcp_syn_fin_to_a_listener_opens_nothing)
{
    /* SYN+FIN has no meaning (a scanner's probe, or an attempt to slip past a filter): like Linux,
     * drop it rather than open a connection that is already half closed. */
    start();
    tp_listen(&t, 8);
    struct fx_tcp_segment syn_fin = {.seq = TP_PEER_ISS, .flags = TCP_SYN | TCP_FIN, .window = 65535};
    tp_input(&t, syn_fin);
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, "tcp.passive_opens"), 0);
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_syn_fin"), 1);
    int err;
    cr_assert_null(ts_pcb_accept(t.listener, &err));
    still_answers_a_ping();
}

/* ---- windows and sequence space ------------------------------------------------------------------ */

Test(hostile, tcp_data_wholly_beyond_the_receive_window_is_dropped_with_an_ack)
{
    established();
    struct ts_tcp_info info = tp_info(&t);
    tp_send(&t, TCP_ACK, t.peer_nxt + info.rcv_wnd, t.stack_nxt, "late", 4);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_out_of_window"), 1);
    uint8_t out[8];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, out, sizeof out, false), -EAGAIN);
    still_answers_a_ping();
}

Test(hostile, tcp_sequence_half_a_space_away_is_outside_the_window_not_wrapped_into_it)
{
    /* rcv_nxt + 2^31 is as far "behind" as "ahead": modular comparison must not let it in. */
    established();
    tp_send(&t, TCP_ACK, t.peer_nxt + 0x80000000u, t.stack_nxt, "wrap", 4);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    tp_send(&t, TCP_ACK, t.peer_nxt - 0x7fffffffu, t.stack_nxt, "wrap", 4);
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_out_of_window"), 2);
    uint8_t out[8];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, out, sizeof out, false), -EAGAIN);
    /* The connection goes on at rcv_nxt. */
    tp_send_data(&t, "ok", 2);
    tp_advance(&t, t.now + TS_MSEC(500));
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, out, sizeof out, false), 2);
    still_answers_a_ping();
}

/* ---- ICMP errors about a connection ------------------------------------------------------------------ */

/* A port unreachable from the peer quoting a TCP header (first 8 bytes) with this sequence number. */
static void icmp_port_unreachable_quoting(uint16_t sport, uint32_t seq)
{
    uint8_t msg[8 + 20 + 8] = {3, 3};
    uint8_t *q = msg + 8;
    q[0] = 0x45;
    be16_put(q + 2, 60);
    q[8] = 64;
    q[9] = 6;
    be32_put(q + 12, FX_STACK_IP);
    be32_put(q + 16, FX_PEER_IP);
    be16_put(q + 20, sport);
    be16_put(q + 22, TP_PEER_PORT);
    be32_put(q + 24, seq);
    be16_put(msg + 2, csum_finish(csum_add(0, msg, sizeof msg)));
    size_t n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 1, 3, 0, msg, sizeof msg);
    fx_input(&t.f, t.now, frame, n);
}

Test(hostile, icmp_error_quoting_a_sequence_number_we_never_sent_does_not_abort_a_connect)
{
    /* RFC 5927 4.1: the quoted sequence number must lie in SND.UNA..SND.NXT, or a blind attacker
     * who knows only the ports kills every connection being opened. */
    start();
    int err;
    t.pcb = ts_pcb_open(t.f.st, TS_PCB_TCP, &err);
    struct ts_sockaddr peer = {FX_PEER_IP, TP_PEER_PORT};
    cr_assert_eq(ts_pcb_connect(t.pcb, t.now, &peer), -EINPROGRESS);
    const struct tp_seg *syn = tp_next(&t);
    uint16_t sport = syn->h.src_port;
    uint32_t iss = syn->h.seq;
    icmp_port_unreachable_quoting(sport, iss + 100000);
    icmp_port_unreachable_quoting(sport, iss - 1);
    cr_assert_eq(tp_state(&t), TS_TCP_SYN_SENT, "a forged error must not abort the open");
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_icmp_out_of_window"), 2);
    still_answers_a_ping();
    /* The genuine error, quoting our SYN, still refuses the connection (RFC 1122 4.2.3.9). */
    icmp_port_unreachable_quoting(sport, iss);
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSED);
    cr_assert_eq(ts_pcb_take_error(t.pcb), ECONNREFUSED);
    ts_pcb_close(t.pcb);
    t.pcb = NULL;
}
