/*
 * RFC 9293 Appendix B requirements (MUST-n) that no other test checked, one stack driven by a
 * hand-made peer (tests/support/tcp_peer.h). Each test is named after the requirement it checks;
 * docs/conformance.md maps every MUST-1..MUST-69 to its test or says why it does not apply.
 * Segment layout, checksums and options: here; windows, keep-alive, PSH and ACK aggregation:
 * test_conformance_tcp_data.c.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tcp_peer.h"
#include "wire/checksum.h"

static struct tp t;
static uint8_t frame[2048];

static void start(const struct ts_stack_config *cfg)
{
    tp_init(&t, cfg);
}

static void teardown(void)
{
    tp_fini(&t);
}

TestSuite(conformance_tcp, .fini = teardown);

static void established(void)
{
    start(NULL);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
}

/* The IPv4 header of a frame the stack sent. */
static const uint8_t *ip_of(const struct fx_frame *fr)
{
    return fx_l3(fr);
}

/* ---- an audit of every TCP segment the stack sends, byte by byte --------------------------------------- */

struct audit {
    unsigned segments;
    uint8_t flags_seen;   /* OR of every segment's flags */
    unsigned with_mss, with_sack_blocks, with_eol;
    struct tp_seg last;   /* the last segment drained */
};

/*
 * Checks every TCP segment sent since the last one the harness examined, from its raw bytes (not
 * through the stack's parser): MUST-2 the checksum covers the pseudo-header, header and data;
 * MUST-65 an MSS option only in a SYN; MUST-68 every option but EOL and NOP has a length of at
 * least 2 and stays inside the header; MUST-69 whatever follows an EOL is zero. Then hands the
 * segments to the harness (tp_try_next) so the test goes on as usual.
 */
static void audit_and_drain(struct audit *a)
{
    for (size_t i = t.next_frame; i < t.f.sent_count; i++) {
        const struct fx_frame *fr = &t.f.sent[i];
        if (fx_ethertype(fr) != 0x0800)
            continue;
        const uint8_t *ip = ip_of(fr);
        if (ip[9] != 6)
            continue;
        size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
        size_t tcp_len = be16_get(ip + 2) - ihl;
        const uint8_t *tcp = ip + ihl;
        uint32_t sum = csum_pseudo_ipv4(be32_get(ip + 12), be32_get(ip + 16), 6, (uint16_t)tcp_len);
        cr_assert_eq(csum_finish(csum_add(sum, tcp, tcp_len)), 0, "MUST-2: segment %u fails its checksum",
                     a->segments);
        uint8_t flags = tcp[13];
        a->flags_seen |= flags;
        a->segments++;
        size_t hdr_len = (size_t)(tcp[12] >> 4) * 4;
        cr_assert_geq(hdr_len, 20);
        cr_assert_leq(hdr_len, tcp_len);
        const uint8_t *opt = tcp + 20;
        size_t opt_len = hdr_len - 20;
        size_t k = 0;
        while (k < opt_len) {
            uint8_t kind = opt[k];
            if (kind == 0) {
                a->with_eol++;
                for (size_t z = k + 1; z < opt_len; z++)
                    cr_assert_eq(opt[z], 0, "MUST-69: byte %zu after the EOL is not zero", z);
                break;
            }
            if (kind == 1) {
                k++;
                continue;
            }
            cr_assert_lt(k + 1, opt_len, "MUST-68: option %u has no length byte", kind);
            uint8_t len = opt[k + 1];
            cr_assert_geq(len, 2, "MUST-68: option %u has length %u", kind, len);
            cr_assert_leq(k + len, opt_len, "option %u runs past the header", kind);
            if (kind == 2) {
                cr_assert(flags & TCP_SYN, "MUST-65: an MSS option in a segment without SYN");
                a->with_mss++;
            }
            if (kind == 5)
                a->with_sack_blocks++;
            k += len;
        }
    }
    for (const struct tp_seg *s; (s = tp_try_next(&t)) != NULL;)
        a->last = *s;
}

/* A passive open, data both ways (with a hole, so SACK blocks ride on our ACKs), a FIN, then an abort. */
static void passive_conversation(struct audit *a)
{
    start(NULL);
    tp_listen(&t, 8);
    struct fx_tcp_segment syn = {.seq = t.peer_iss, .flags = TCP_SYN, .window = 65535, .opt = tp_linux_syn_options(&t)};
    tp_input(&t, syn);
    audit_and_drain(a);
    const struct tp_seg *sa = &a->last;
    cr_assert_eq(sa->h.flags, TCP_SYN | TCP_ACK);
    t.stack_iss = sa->h.seq;
    t.stack_nxt = sa->h.seq + 1;
    t.peer_nxt = t.peer_iss + 1;
    t.peer_ts = true;
    t.ts_echo = sa->h.opt.ts_val;
    tp_send_ack(&t, t.stack_nxt);
    int err;
    t.pcb = ts_pcb_accept(t.listener, &err);
    cr_assert_not_null(t.pcb);
    /* Out of order, then the hole filled. */
    uint8_t data[3000];
    tp_pattern(data, sizeof data, 7);
    tp_send(&t, TCP_ACK, t.peer_nxt + 1000, t.stack_nxt, data + 1000, 1000);
    audit_and_drain(a);
    tp_send(&t, TCP_ACK | TCP_PSH, t.peer_nxt, t.stack_nxt, data, 1000);
    t.peer_nxt += 2000;
    tp_advance(&t, t.now + TS_SEC(1));
    audit_and_drain(a);
    /* Seven bytes: an odd length, so the checksum pads a zero byte. */
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "odd-len", 7), 7);
    audit_and_drain(a);
    t.stack_nxt += 7;
    tp_send_ack(&t, t.stack_nxt);
    cr_assert_eq(ts_pcb_shutdown(t.pcb, t.now, TS_SHUT_WR), 0);
    audit_and_drain(a);
    ts_pcb_abort(t.pcb, t.now);
    t.pcb = NULL;
    audit_and_drain(a);
}

Test(conformance_tcp, must_2_every_segment_sent_carries_a_checksum_over_pseudo_header_header_and_data)
{
    struct audit a = {0};
    passive_conversation(&a);
    cr_assert_geq(a.segments, 5);
    uint8_t all = TCP_SYN | TCP_ACK | TCP_PSH | TCP_FIN | TCP_RST;
    cr_assert_eq(a.flags_seen & all, all, "SYN,ACK, data, FIN and RST were all checked (flags seen 0x%02x)",
                 a.flags_seen);
}

Test(conformance_tcp, must_65_68_69_mss_only_on_syns_every_option_has_its_length_and_padding_is_zero)
{
    struct audit a = {0};
    passive_conversation(&a);
    cr_assert_eq(a.with_mss, 1, "the SYN,ACK carries the MSS option, nothing else does");
    cr_assert_geq(a.with_sack_blocks, 1, "a SACK option was among the segments checked");
    teardown();
    /* The active side: its SYN carries every option we offer. */
    struct audit b = {0};
    start(NULL);
    int err;
    t.pcb = ts_pcb_open(t.f.st, TS_PCB_TCP, &err);
    struct ts_sockaddr remote = {FX_PEER_IP, TP_PEER_PORT};
    cr_assert_eq(ts_pcb_connect(t.pcb, t.now, &remote), -EINPROGRESS);
    audit_and_drain(&b);
    cr_assert_eq(b.segments, 1);
    cr_assert_eq(b.with_mss, 1);
    cr_assert_eq(b.flags_seen, TCP_SYN);
}

/* ---- MUST-1: the window is unsigned ------------------------------------------------------------------- */

Test(conformance_tcp, must_1_a_window_field_above_32767_is_an_unsigned_count)
{
    start(NULL);
    struct fx_tcp_options o = {.mss = 1460};
    t.peer_window = 0xfff0; /* negative if read as a signed 16-bit number */
    tp_open_passive(&t, &o);
    cr_assert_eq(tp_info(&t).snd_wnd, 0xfff0);
    uint8_t data[2920];
    tp_pattern(data, sizeof data, 1);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), (ssize_t)sizeof data);
    const struct tp_seg *s1 = tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    cr_assert_eq(s1->len, 1460, "the window lets data out");
    const struct tp_seg *s2 = tp_expect(&t, TCP_ACK | TCP_PSH, t.stack_nxt + 1460, t.peer_nxt);
    cr_assert_eq(s2->len, 1460);
    struct ts_tcp_view v;
    cr_assert_eq(ts_tcp_view_of(t.pcb, &v), 0);
    cr_assert_eq(v.snd_wnd, 0xfff0u);
}

/* ---- MUST-3: the receiver checks the checksum ------------------------------------------------------- */

Test(conformance_tcp, must_3_a_segment_whose_checksum_fails_is_dropped_and_its_data_never_delivered)
{
    established();
    struct fx_tcp_segment seg = {.src = FX_PEER_IP, .dst = FX_STACK_IP, .sport = TP_PEER_PORT, .dport = TP_STACK_PORT,
                                 .seq = t.peer_nxt, .ack = t.stack_nxt, .flags = TCP_ACK | TCP_PSH,
                                 .window = 65535, .opt = tp_options(&t), .data = "hello", .len = 5};
    size_t n = fx_build_tcp(frame, &seg);
    frame[n - 1] ^= 0x20; /* "hellO": one bit of the data, the checksum left as it was */
    fx_input(&t.f, t.now, frame, n);
    tp_advance(&t, t.now + TS_SEC(1));
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_bad_checksum"), 1);
    char buf[8];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, buf, sizeof buf, false), -EAGAIN);
    /* The same segment, intact, is taken. */
    tp_send_data(&t, "hello", 5);
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, buf, sizeof buf, false), 5);
    cr_assert_arr_eq(buf, "hello", 5);
}

/* ---- MUST-5, MUST-6, MUST-64: options anywhere, unknown ones, any alignment ----------------------------- */

Test(conformance_tcp, must_6_unknown_options_are_skipped_by_their_length_and_the_known_ones_still_read)
{
    start(NULL);
    /* An experimental option (kind 253, RFC 4727) before the MSS, and an unassigned kind 99 after it. */
    static const uint8_t raw[] = {253, 4, 0xab, 0xcd, 2, 4, 0x03, 0xe8, 99, 3, 0x55};
    struct fx_tcp_options o = {.raw = raw, .raw_len = sizeof raw};
    const struct tp_seg *sa = tp_open_passive(&t, &o);
    cr_assert(sa->h.opt.has_mss);
    cr_assert_eq(tp_info(&t).snd_mss, 1000, "the MSS between the unknown options was read");
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
}

Test(conformance_tcp, must_5_an_option_on_a_data_segment_is_received_and_the_data_taken)
{
    start(NULL);
    struct fx_tcp_options o = {.mss = 1200};
    tp_open_passive(&t, &o);
    /* MSS (meaningless outside a SYN, so ignored), an unknown option and NOPs, on a data segment. */
    static const uint8_t raw[] = {2, 4, 0x00, 0x58, 1, 1, 254, 6, 1, 2, 3, 4};
    struct fx_tcp_segment seg = {.seq = t.peer_nxt, .ack = t.stack_nxt, .flags = TCP_ACK | TCP_PSH,
                                 .window = 65535, .data = "data", .len = 4};
    seg.opt.raw = raw;
    seg.opt.raw_len = sizeof raw;
    tp_input(&t, seg);
    t.peer_nxt += 4;
    char buf[8];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, buf, sizeof buf, false), 4);
    cr_assert_arr_eq(buf, "data", 4);
    cr_assert_eq(tp_info(&t).snd_mss, 1200, "an MSS outside the SYN changes nothing");
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_bad_option"), 0);
}

Test(conformance_tcp, must_64_options_are_read_whatever_their_alignment)
{
    start(NULL);
    /* NOP, then MSS at offset 1, SACK-permitted at 5, window scale at 7: nothing on a word boundary. */
    static const uint8_t raw[] = {1, 2, 4, 0x02, 0x58, 4, 2, 3, 3, 2};
    struct fx_tcp_options o = {.raw = raw, .raw_len = sizeof raw};
    const struct tp_seg *sa = tp_open_passive(&t, &o);
    cr_assert(sa->h.opt.sack_permitted, "SACK-permitted at an odd offset was seen");
    cr_assert(sa->h.opt.has_wscale, "the window scale at an odd offset was seen");
    struct ts_tcp_info info = tp_info(&t);
    cr_assert_eq(info.snd_mss, 600);
    cr_assert(info.sack);
    cr_assert_eq(info.snd_wscale, 2);
}

/* ---- MUST-11: SYN-RECEIVED remembers how it was reached ---------------------------------------------- */

Test(conformance_tcp, must_11_rst_in_syn_received_after_an_active_open_refuses_the_connection)
{
    start(NULL);
    t.stack_port = 50000;
    tp_connect(&t);
    uint32_t iss = tp_next(&t)->h.seq;
    /* The SYNs cross: SYN-SENT -> SYN-RECEIVED by the active path. */
    struct fx_tcp_segment peer_syn = {.seq = t.peer_iss, .flags = TCP_SYN, .window = 65535, .opt = {.mss = 1460}};
    tp_input(&t, peer_syn);
    tp_expect(&t, TCP_SYN | TCP_ACK, iss, t.peer_iss + 1);
    cr_assert_eq(tp_state(&t), TS_TCP_SYN_RECEIVED);
    /* RFC 9293 3.10.7.4: a RST here (active open) means "connection refused", not a return to LISTEN. */
    struct fx_tcp_segment rst = {.seq = t.peer_iss + 1, .flags = TCP_RST};
    tp_input(&t, rst);
    tp_expect_nothing(&t);
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSED);
    cr_assert_eq(ts_pcb_take_error(t.pcb), ECONNREFUSED);
    tp_advance(&t, t.now + TS_SEC(10));
    tp_expect_nothing(&t);
}

/* ---- MUST-16: the effective send MSS --------------------------------------------------------------- */

Test(conformance_tcp, must_16_segments_carry_the_peers_mss_less_the_options_that_ride_along)
{
    start(NULL);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    o.mss = 1000;
    tp_open_passive(&t, &o);
    cr_assert_eq(tp_info(&t).snd_mss, 988, "1000 less the 12 bytes of the timestamp option");
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_NODELAY, 1), 0);
    uint8_t data[3000];
    tp_pattern(data, sizeof data, 2);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), (ssize_t)sizeof data);
    size_t got = 0;
    for (const struct tp_seg *s; (s = tp_try_next(&t)) != NULL;) {
        cr_assert_leq(s->len, 988);
        /* RFC 6691: the MSS counts data only, so the datagram stays within MSS + 40. */
        cr_assert_leq(20 + (size_t)s->h.data_offset + s->len, 1000 + 40);
        cr_assert_arr_eq(s->data, data + got, s->len);
        got += s->len;
    }
    cr_assert_eq(got, sizeof data);
}

/* ---- MUST-41, MUST-42: passive opens beside other connections --------------------------------------- */

Test(conformance_tcp, must_41_a_second_passive_open_on_a_port_fails_and_leaves_the_first_alone)
{
    established();
    int err;
    struct ts_pcb *again = ts_pcb_open(t.f.st, TS_PCB_TCP, &err);
    cr_assert_not_null(again);
    cr_assert_eq(ts_pcb_setopt(again, TS_OPT_REUSEADDR, 1), 0);
    struct ts_sockaddr local = {0, TP_STACK_PORT};
    cr_assert_eq(ts_pcb_bind(again, &local), -EADDRINUSE, "someone listens on the port already");
    ts_pcb_close(again);
    /* The listener and its connection carry on as before. */
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    tp_send_data(&t, "abc", 3);
    char buf[4];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, buf, sizeof buf, false), 3);
    for (const struct tp_seg *s; (s = tp_try_next(&t)) != NULL;)
        cr_assert_eq(s->h.flags, TCP_ACK, "at most the ACK of those bytes");
    t.peer_port = 40001;
    t.peer_iss = 0x9000;
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED, "the first listener still accepts");
}

Test(conformance_tcp, must_42_a_port_can_listen_while_a_connection_from_it_is_in_syn_sent_or_syn_received)
{
    start(NULL);
    int err;
    /* An active open from port 80 to the peer's port 40000: SYN-SENT. */
    struct ts_pcb *active = ts_pcb_open(t.f.st, TS_PCB_TCP, &err);
    cr_assert_eq(ts_pcb_setopt(active, TS_OPT_REUSEADDR, 1), 0);
    struct ts_sockaddr local = {0, TP_STACK_PORT};
    cr_assert_eq(ts_pcb_bind(active, &local), 0);
    struct ts_sockaddr remote = {FX_PEER_IP, TP_PEER_PORT};
    cr_assert_eq(ts_pcb_connect(active, t.now, &remote), -EINPROGRESS);
    uint32_t active_iss = tp_next(&t)->h.seq;
    /* A listener on the same port 80. */
    t.listener = ts_pcb_open(t.f.st, TS_PCB_TCP, &err);
    cr_assert_eq(ts_pcb_setopt(t.listener, TS_OPT_REUSEADDR, 1), 0);
    cr_assert_eq(ts_pcb_bind(t.listener, &local), 0);
    cr_assert_eq(ts_pcb_listen(t.listener, 8), 0);
    /* A SYN from another port of the peer reaches the listener: a child in SYN-RECEIVED... */
    t.peer_port = 40001;
    struct fx_tcp_segment syn = {.seq = 0x7000, .flags = TCP_SYN, .window = 65535, .opt = {.mss = 1460}};
    tp_input(&t, syn);
    const struct tp_seg *sa = tp_next(&t);
    cr_assert_eq(sa->h.flags, TCP_SYN | TCP_ACK);
    cr_assert_eq(sa->h.dst_port, 40001);
    /* ... while a third peer port still gets its own SYN,ACK from the listener. */
    t.peer_port = 40002;
    syn.seq = 0x8000;
    tp_input(&t, syn);
    sa = tp_next(&t);
    cr_assert_eq(sa->h.flags, TCP_SYN | TCP_ACK);
    cr_assert_eq(sa->h.dst_port, 40002);
    /* The active open completes undisturbed. */
    t.peer_port = TP_PEER_PORT;
    struct fx_tcp_segment peer_sa = {.seq = t.peer_iss, .ack = active_iss + 1, .flags = TCP_SYN | TCP_ACK,
                                     .window = 65535, .opt = {.mss = 1460}};
    tp_input(&t, peer_sa);
    tp_expect(&t, TCP_ACK, active_iss + 1, t.peer_iss + 1);
    struct ts_tcp_info info;
    cr_assert_eq(ts_pcb_tcp_info(active, &info), 0);
    cr_assert_eq(info.state, TS_TCP_ESTABLISHED);
    ts_pcb_abort(active, t.now);
}

/* ---- MUST-43, MUST-44, MUST-45, MUST-46: addresses of an active open ---------------------------------- */

Test(conformance_tcp, must_43_44_45_the_local_address_may_be_given_and_every_segment_comes_from_it)
{
    start(NULL);
    int err;
    t.pcb = ts_pcb_open(t.f.st, TS_PCB_TCP, &err);
    struct ts_sockaddr foreign = {TS_IPV4(10, 0, 0, 3), 0};
    cr_assert_eq(ts_pcb_bind(t.pcb, &foreign), -EADDRNOTAVAIL, "not an address of this host");
    struct ts_sockaddr ours = {FX_STACK_IP, 0};
    cr_assert_eq(ts_pcb_bind(t.pcb, &ours), 0);
    struct ts_sockaddr remote = {FX_PEER_IP, TP_PEER_PORT};
    cr_assert_eq(ts_pcb_connect(t.pcb, t.now, &remote), -EINPROGRESS);
    const struct fx_frame *fr = &t.f.sent[t.f.sent_count - 1];
    cr_assert_eq(be32_get(ip_of(fr) + 12), FX_STACK_IP, "the SYN leaves from the address given");
    struct ts_sockaddr name;
    cr_assert_eq(ts_pcb_local(t.pcb, &name), 0);
    cr_assert_eq(name.addr, FX_STACK_IP);
    /* Unbound: the stack picks its address (the harness asserts every segment's source is 10.0.0.2). */
    struct ts_pcb *other = ts_pcb_open(t.f.st, TS_PCB_TCP, &err);
    struct ts_sockaddr remote2 = {FX_PEER_IP, TP_PEER_PORT + 1};
    cr_assert_eq(ts_pcb_connect(other, t.now, &remote2), -EINPROGRESS);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(tp_next(&t)->h.flags, TCP_SYN);
    /* Later segments (a retransmitted SYN) keep the address. */
    tp_advance(&t, t.now + TS_SEC(1));
    for (int i = 0; i < 2; i++)
        cr_assert_eq(tp_next(&t)->h.flags, TCP_SYN);
    ts_pcb_abort(other, t.now);
}

Test(conformance_tcp, must_46_an_active_open_to_a_broadcast_or_multicast_address_is_refused)
{
    start(NULL);
    const ts_ipv4_addr bad[] = {TS_IPV4(255, 255, 255, 255), TS_IPV4(10, 0, 0, 255), TS_IPV4(224, 0, 0, 1),
                                TS_IPV4(239, 1, 2, 3)};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int err;
        struct ts_pcb *p = ts_pcb_open(t.f.st, TS_PCB_TCP, &err);
        struct ts_sockaddr remote = {bad[i], 80};
        int r = ts_pcb_connect(p, t.now, &remote);
        cr_assert(r < 0 && r != -EINPROGRESS, "connect to address %zu: %d", i, r);
        ts_pcb_close(p);
    }
    tp_expect_nothing(&t);
}

/* ---- MUST-49: the TTL is configurable ------------------------------------------------------------- */

Test(conformance_tcp, must_49_the_ttl_of_segments_is_configurable_per_stack_and_per_connection)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    cfg.default_ttl = 99;
    start(&cfg);
    tp_listen(&t, 8);
    struct fx_tcp_segment syn = {.seq = t.peer_iss, .flags = TCP_SYN, .window = 65535, .opt = {.mss = 1460}};
    tp_input(&t, syn);
    cr_assert_eq(ip_of(&t.f.sent[t.f.sent_count - 1])[8], 99, "the SYN,ACK has the stack's TTL");
    const struct tp_seg *sa = tp_next(&t);
    t.stack_nxt = sa->h.seq + 1;
    t.peer_nxt = t.peer_iss + 1;
    tp_send_ack(&t, t.stack_nxt);
    int err;
    t.pcb = ts_pcb_accept(t.listener, &err);
    cr_assert_not_null(t.pcb);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_TTL, 7), 0);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "x", 1), 1);
    cr_assert_eq(ip_of(&t.f.sent[t.f.sent_count - 1])[8], 7, "the connection's own TTL");
    tp_next(&t);
    cr_assert_eq(ts_pcb_setopt(t.pcb, TS_OPT_TTL, 0), -EINVAL, "a TTL of 0 is never sent");
}

/* ---- MUST-50: IP options the segment arrived with are ignored ------------------------------------------ */

/* Inserts IPv4 options after the 20-byte header of a built frame; returns the new length. */
static size_t insert_ip_options(uint8_t *buf, size_t len, const uint8_t *opt, size_t opt_len)
{
    uint8_t *ip = buf + 14;
    memmove(ip + 20 + opt_len, ip + 20, len - 14 - 20);
    memcpy(ip + 20, opt, opt_len);
    ip[0] = (uint8_t)(0x40 | ((20 + opt_len) / 4));
    be16_put(ip + 2, (uint16_t)(be16_get(ip + 2) + opt_len));
    fx_fix_ipv4_checksum(buf);
    return len + opt_len;
}

Test(conformance_tcp, must_50_ip_options_on_a_syn_are_ignored_and_the_connection_opens)
{
    start(NULL);
    tp_listen(&t, 8);
    /* Record route with room for one address, an unassigned option (kind 0x9e), NOPs and an EOL. */
    static const uint8_t opt[] = {7, 7, 4, 0, 0, 0, 0, 0x9e, 4, 0xaa, 0xbb, 1, 1, 1, 1, 0};
    struct fx_tcp_segment syn = {.src = FX_PEER_IP, .dst = FX_STACK_IP, .sport = TP_PEER_PORT, .dport = TP_STACK_PORT,
                                 .seq = t.peer_iss, .flags = TCP_SYN, .window = 65535, .opt = {.mss = 1460}};
    size_t n = fx_build_tcp(frame, &syn);
    n = insert_ip_options(frame, n, opt, sizeof opt);
    fx_input(&t.f, t.now, frame, n);
    const struct tp_seg *sa = tp_next(&t);
    cr_assert_eq(sa->h.flags, TCP_SYN | TCP_ACK);
    cr_assert_eq(sa->h.ack, t.peer_iss + 1);
    cr_assert_eq(fx_counter(&t.f, "ip.drop_bad_options"), 0);
}

/* ---- MUST-54, MUST-55, MUST-56: ICMP errors about a connection ------------------------------------------- */

/* An ICMP error from a router on the path, quoting the header of a segment we sent with sequence seq. */
static void icmp_error_about_our_segment(uint8_t type, uint8_t code, uint32_t seq)
{
    uint8_t msg[8 + 20 + 8] = {type, code};
    uint8_t *q = msg + 8;
    q[0] = 0x45;
    be16_put(q + 2, 60);
    q[8] = 1;
    q[9] = 6;
    be32_put(q + 12, FX_STACK_IP);
    be32_put(q + 16, FX_PEER_IP);
    be16_put(q + 20, TP_STACK_PORT);
    be16_put(q + 22, TP_PEER_PORT);
    be32_put(q + 24, seq);
    be16_put(msg + 2, csum_finish(csum_add(0, msg, sizeof msg)));
    size_t n = fx_build_ipv4(frame, TS_IPV4(10, 0, 0, 254), FX_STACK_IP, 1, 3, 0, msg, sizeof msg);
    fx_input(&t.f, t.now, frame, n);
}

Test(conformance_tcp, must_56_soft_icmp_errors_do_not_abort_an_established_connection)
{
    established();
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "data", 4), 4);
    tp_next(&t);
    /* Destination unreachable codes 0, 1, 5; time exceeded 0, 1; parameter problem. */
    const uint8_t soft[][2] = {{3, 0}, {3, 1}, {3, 5}, {11, 0}, {11, 1}, {12, 0}};
    for (size_t i = 0; i < sizeof soft / sizeof soft[0]; i++)
        icmp_error_about_our_segment(soft[i][0], soft[i][1], t.stack_nxt);
    cr_assert_eq(fx_counter(&t.f, "icmp.rx_errors"), 6, "each error reached TCP (MUST-54)");
    cr_assert_eq(fx_counter(&t.f, "icmp.drop_error_no_socket"), 0, "each was matched to the connection");
    cr_assert_eq(tp_state(&t), TS_TCP_ESTABLISHED);
    cr_assert_eq(ts_pcb_events(t.pcb) & (TS_EV_ERROR | TS_EV_HUP), 0);
    t.stack_nxt += 4;
    tp_send_ack(&t, t.stack_nxt);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, "more", 4), 4);
    tp_expect(&t, TCP_ACK | TCP_PSH, t.stack_nxt, t.peer_nxt);
}

Test(conformance_tcp, must_54_a_hard_icmp_error_during_the_handshake_aborts_the_connection_it_quotes)
{
    start(NULL);
    t.stack_port = TP_STACK_PORT;
    tp_connect(&t);
    uint32_t iss = tp_next(&t)->h.seq;
    /* Protocol unreachable (code 2) quoting our SYN: the open fails with the error it names. */
    icmp_error_about_our_segment(3, 2, iss);
    cr_assert_eq(tp_state(&t), TS_TCP_CLOSED);
    cr_assert_eq(ts_pcb_take_error(t.pcb), ENOPROTOOPT);
    tp_advance(&t, t.now + TS_SEC(5));
    tp_expect_nothing(&t);
}

Test(conformance_tcp, must_55_source_quench_about_a_connection_is_silently_discarded)
{
    established();
    uint8_t data[1448];
    tp_pattern(data, sizeof data, 3);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), (ssize_t)sizeof data);
    tp_next(&t);
    struct ts_tcp_info before = tp_info(&t);
    icmp_error_about_our_segment(4, 0, t.stack_nxt);
    cr_assert_eq(fx_counter(&t.f, "icmp.drop_source_quench"), 1);
    struct ts_tcp_info after = tp_info(&t);
    cr_assert_eq(after.cwnd, before.cwnd, "no slowing down");
    cr_assert_eq(after.ssthresh, before.ssthresh);
    cr_assert_eq(ts_pcb_take_error(t.pcb), 0);
    tp_expect_nothing(&t);
}

/* ---- MUST-57, MUST-63: address validation of incoming segments --------------------------------------- */

Test(conformance_tcp, must_57_a_syn_to_a_broadcast_address_is_silently_discarded)
{
    start(NULL);
    tp_listen(&t, 8);
    const ts_ipv4_addr dsts[] = {TS_IPV4(10, 0, 0, 255), TS_IPV4(255, 255, 255, 255)};
    for (size_t i = 0; i < 2; i++) {
        struct fx_tcp_segment syn = {.dst = dsts[i], .seq = t.peer_iss, .flags = TCP_SYN, .window = 65535,
                                     .opt = {.mss = 1460}};
        tp_input(&t, syn);
        /* To a closed port as well: no reset either. */
        syn.dport = 9;
        tp_input(&t, syn);
    }
    /* A multicast destination is not one of ours: IP discards it before TCP sees it. */
    struct fx_tcp_segment mcast = {.dst = TS_IPV4(224, 0, 0, 1), .seq = t.peer_iss, .flags = TCP_SYN,
                                   .window = 65535, .opt = {.mss = 1460}};
    tp_input(&t, mcast);
    tp_advance(&t, t.now + TS_SEC(5));
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_broadcast"), 4);
    cr_assert_eq(fx_counter(&t.f, "ip.drop_not_for_us"), 1);
    int err;
    cr_assert_null(ts_pcb_accept(t.listener, &err));
}

Test(conformance_tcp, must_63_a_syn_from_an_invalid_source_address_is_ignored)
{
    start(NULL);
    tp_listen(&t, 8);
    const ts_ipv4_addr srcs[] = {TS_IPV4(255, 255, 255, 255), TS_IPV4(10, 0, 0, 255), TS_IPV4(224, 0, 0, 5),
                                 TS_IPV4(240, 0, 0, 1), TS_IPV4(127, 0, 0, 1)};
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        struct fx_tcp_segment syn = {.src = srcs[i], .seq = t.peer_iss, .flags = TCP_SYN, .window = 65535,
                                     .opt = {.mss = 1460}};
        tp_input(&t, syn);
    }
    tp_advance(&t, t.now + TS_SEC(5));
    tp_expect_nothing(&t);
    cr_assert_eq(fx_counter(&t.f, "ip.drop_bad_source"), 5);
    int err;
    cr_assert_null(ts_pcb_accept(t.listener, &err));
}
