/* IPv4 input checks, fragmentation on output and reassembly on input (RFC 791, RFC 1122 3.2.1, 3.3.2). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core_fixture.h"
#include "wire/checksum.h"

static struct fx f;
static uint8_t frame[70000];

static void setup(void)
{
    fx_init(&f, NULL);
    fx_learn_peer(&f, 0);
}
static void teardown(void) { fx_fini(&f); }

TestSuite(core_ipv4, .init = setup, .fini = teardown);

static size_t valid_ping(uint16_t seq)
{
    return fx_build_echo_request(frame, FX_PEER_IP, FX_STACK_IP, 9, seq, "abcdefgh", 8);
}

/* After every malformed frame the stack must still answer a valid ping. */
static void still_answers(void)
{
    size_t before = f.sent_count;
    size_t n = valid_ping(99);
    fx_input(&f, 5000, frame, n);
    cr_assert_eq(f.sent_count, before + 1, "the stack no longer answers a valid ping");
}

Test(core_ipv4, bad_header_checksum_is_dropped_and_counted)
{
    size_t n = valid_ping(1);
    frame[14 + 10] ^= 0xff;
    fx_input(&f, 1, frame, n);
    cr_assert_eq(f.sent_count, 0);
    cr_assert_eq(fx_counter(&f, "ip.drop_bad_checksum"), 1);
    still_answers();
}

Test(core_ipv4, ihl_below_five_is_dropped_and_counted)
{
    size_t n = valid_ping(1);
    frame[14] = 0x44;
    fx_fix_ipv4_checksum(frame);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(fx_counter(&f, "ip.drop_bad_header_length"), 1);
    still_answers();
}

Test(core_ipv4, total_length_beyond_the_frame_is_dropped_and_counted)
{
    size_t n = valid_ping(1);
    be16_put(frame + 14 + 2, (uint16_t)(n - 14 + 1));
    fx_fix_ipv4_checksum(frame);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(fx_counter(&f, "ip.drop_bad_total_length"), 1);
    still_answers();
}

Test(core_ipv4, ethernet_padding_after_the_datagram_is_ignored)
{
    size_t n = fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 7, "x", 1);
    cr_assert_lt(n, 60);
    memset(frame + n, 0xee, 60 - n); /* what a NIC pads a short frame with */
    int err;
    struct ts_pcb *pcb = ts_pcb_open(f.st, TS_PCB_UDP, &err);
    struct ts_sockaddr local = {0, 7};
    cr_assert_eq(ts_pcb_bind(pcb, &local), 0);
    fx_input(&f, 1, frame, 60);
    char buf[8];
    cr_assert_eq(ts_pcb_recvfrom(pcb, buf, sizeof buf, NULL, false, NULL), 1);
    ts_pcb_close(pcb);
}

Test(core_ipv4, datagram_for_another_host_is_not_forwarded)
{
    size_t n = fx_build_echo_request(frame, FX_PEER_IP, TS_IPV4(10, 0, 0, 3), 9, 1, "x", 1);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(f.sent_count, 0);
    cr_assert_eq(fx_counter(&f, "ip.drop_not_for_us"), 1);
}

Test(core_ipv4, broadcast_source_is_dropped)
{
    size_t n = fx_build_echo_request(frame, TS_IPV4(10, 0, 0, 255), FX_STACK_IP, 9, 1, "x", 1);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(f.sent_count, 0);
    cr_assert_eq(fx_counter(&f, "ip.drop_bad_source"), 1);
}

Test(core_ipv4, unknown_protocol_gets_protocol_unreachable)
{
    size_t n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 99, 7, 0, (const uint8_t *)"data", 4);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(fx_counter(&f, "ip.drop_unknown_protocol"), 1);
    cr_assert_eq(f.sent_count, 1);
    const uint8_t *icmp = fx_l3(&f.sent[0]) + 20;
    cr_assert_eq(icmp[0], 3);
    cr_assert_eq(icmp[1], 2);
}

static struct ts_pcb *bound_udp(uint16_t port)
{
    int err;
    struct ts_pcb *pcb = ts_pcb_open(f.st, TS_PCB_UDP, &err);
    cr_assert_not_null(pcb);
    struct ts_sockaddr local = {0, port};
    cr_assert_eq(ts_pcb_bind(pcb, &local), 0);
    return pcb;
}

Test(core_ipv4, large_datagram_leaves_in_fragments_of_eight_byte_multiples)
{
    struct ts_pcb *pcb = bound_udp(4000);
    static uint8_t data[4000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)i;
    struct ts_sockaddr to = {FX_PEER_IP, 9};
    cr_assert_eq(ts_pcb_sendto(pcb, 1, data, sizeof data, &to), (ssize_t)sizeof data);
    cr_assert_eq(f.sent_count, 3, "4008 bytes of UDP in 1480-byte pieces");
    size_t expected_offset = 0;
    uint16_t id = be16_get(fx_l3(&f.sent[0]) + 4);
    for (size_t i = 0; i < f.sent_count; i++) {
        const uint8_t *ip = fx_l3(&f.sent[i]);
        uint16_t ff = be16_get(ip + 6);
        size_t len = be16_get(ip + 2) - 20u;
        cr_assert_eq(be16_get(ip + 4), id, "all fragments share the identification");
        cr_assert_eq((size_t)(ff & 0x1fff) * 8, expected_offset);
        cr_assert_eq((ff & 0x2000) != 0, i + 1 < f.sent_count, "MF on all but the last");
        cr_assert_leq(be16_get(ip + 2), 1500);
        if (i + 1 < f.sent_count)
            cr_assert_eq(len % 8, 0);
        cr_assert_eq(csum_finish(csum_add(0, ip, 20)), 0);
        expected_offset += len;
    }
    cr_assert_eq(expected_offset, 4008);
    cr_assert_eq(fx_counter(&f, "ip.tx_fragments"), 3);
    ts_pcb_close(pcb);
}

Test(core_ipv4, dont_fragment_above_the_mtu_fails_with_emsgsize)
{
    struct ts_pcb *pcb = bound_udp(4000);
    cr_assert_eq(ts_pcb_setopt(pcb, TS_OPT_DONTFRAG, 1), 0);
    static uint8_t data[2000];
    struct ts_sockaddr to = {FX_PEER_IP, 9};
    cr_assert_eq(ts_pcb_sendto(pcb, 1, data, sizeof data, &to), -EMSGSIZE);
    cr_assert_eq(f.sent_count, 0);
    cr_assert_eq(ts_pcb_sendto(pcb, 1, data, 1472, &to), 1472, "1472 + 28 fits exactly");
    ts_pcb_close(pcb);
}

Test(core_ipv4, datagram_over_64k_is_refused)
{
    struct ts_pcb *pcb = bound_udp(4000);
    static uint8_t data[65508];
    struct ts_sockaddr to = {FX_PEER_IP, 9};
    cr_assert_eq(ts_pcb_sendto(pcb, 1, data, sizeof data, &to), -EMSGSIZE);
    cr_assert_eq(ts_pcb_sendto(pcb, 1, data, 65507, &to), 65507);
    ts_pcb_close(pcb);
}

/* ---- reassembly ------------------------------------------------------------ */

static uint8_t udp_payload[3000];
static uint8_t udp_datagram[3008];

/* A 3008-byte UDP datagram to port 7, cut into fragments at the given byte offsets. */
static void make_udp_datagram(void)
{
    for (size_t i = 0; i < sizeof udp_payload; i++)
        udp_payload[i] = (uint8_t)(i * 7);
    size_t n = fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 7, udp_payload, sizeof udp_payload);
    cr_assert_eq(n, 14 + 20 + sizeof udp_datagram);
    memcpy(udp_datagram, frame + 34, sizeof udp_datagram);
}

static void send_fragment(ts_time now, uint16_t id, size_t offset, size_t len, bool more)
{
    static uint8_t fr[2000];
    uint16_t field = (uint16_t)((offset / 8) | (more ? 0x2000 : 0));
    size_t n = fx_build_ipv4(fr, FX_PEER_IP, FX_STACK_IP, 17, id, field, udp_datagram + offset, len);
    fx_input(&f, now, fr, n);
}

static void expect_datagram(struct ts_pcb *pcb)
{
    static uint8_t got[4000];
    cr_assert_eq(ts_pcb_recvfrom(pcb, got, sizeof got, NULL, false, NULL), (ssize_t)sizeof udp_payload);
    cr_assert_arr_eq(got, udp_payload, sizeof udp_payload);
}

Test(core_ipv4, fragments_in_order_are_reassembled)
{
    struct ts_pcb *pcb = bound_udp(7);
    make_udp_datagram();
    send_fragment(1, 1, 0, 1480, true);
    send_fragment(2, 1, 1480, 1480, true);
    send_fragment(3, 1, 2960, 48, false);
    expect_datagram(pcb);
    cr_assert_eq(fx_counter(&f, "ip.reassembled"), 1);
    ts_pcb_close(pcb);
}

Test(core_ipv4, fragments_out_of_order_are_reassembled)
{
    struct ts_pcb *pcb = bound_udp(7);
    make_udp_datagram();
    send_fragment(1, 2, 2960, 48, false);
    send_fragment(2, 2, 0, 1480, true);
    send_fragment(3, 2, 1480, 1480, true);
    expect_datagram(pcb);
    ts_pcb_close(pcb);
}

Test(core_ipv4, duplicated_fragment_is_dropped_alone)
{
    struct ts_pcb *pcb = bound_udp(7);
    make_udp_datagram();
    send_fragment(1, 3, 0, 1480, true);
    send_fragment(2, 3, 0, 1480, true);
    send_fragment(3, 3, 1480, 1480, true);
    send_fragment(4, 3, 2960, 48, false);
    expect_datagram(pcb);
    cr_assert_eq(fx_counter(&f, "ip.drop_frag_duplicate"), 1);
    ts_pcb_close(pcb);
}

Test(core_ipv4, overlapping_fragment_drops_the_datagram)
{
    struct ts_pcb *pcb = bound_udp(7);
    make_udp_datagram();
    send_fragment(1, 4, 0, 1480, true);
    send_fragment(2, 4, 1472, 1480, true);
    send_fragment(3, 4, 2960, 48, false);
    char buf[8];
    cr_assert_eq(ts_pcb_recvfrom(pcb, buf, sizeof buf, NULL, false, NULL), -EAGAIN);
    cr_assert_eq(fx_counter(&f, "ip.drop_frag_overlap"), 1);
    ts_pcb_close(pcb);
    still_answers();
}

Test(core_ipv4, fragment_past_offset_65535_is_dropped)
{
    static uint8_t fr[2000];
    uint8_t junk[16] = {0};
    size_t n = fx_build_ipv4(fr, FX_PEER_IP, FX_STACK_IP, 17, 5, (uint16_t)(65528 / 8), junk, sizeof junk);
    fx_input(&f, 1, fr, n);
    cr_assert_eq(fx_counter(&f, "ip.drop_frag_too_big"), 1);
    cr_assert_eq(ts_stack_pbufs_in_use(f.st), 0);
}

Test(core_ipv4, zero_length_and_odd_middle_fragments_are_dropped)
{
    make_udp_datagram();
    send_fragment(1, 6, 0, 0, true);
    send_fragment(1, 6, 0, 13, true);
    cr_assert_eq(fx_counter(&f, "ip.drop_frag_bad_length"), 2);
    cr_assert_eq(ts_stack_pbufs_in_use(f.st), 0);
}

Test(core_ipv4, incomplete_datagram_times_out_with_time_exceeded_when_the_first_fragment_came)
{
    make_udp_datagram();
    send_fragment(TS_SEC(1), 7, 0, 1480, true);
    cr_assert_eq(ts_stack_next_deadline(f.st), TS_SEC(1) + f.cfg.timing.reasm_timeout);
    ts_stack_poll(f.st, TS_SEC(1) + f.cfg.timing.reasm_timeout);
    cr_assert_eq(fx_counter(&f, "ip.drop_frag_timeout"), 1);
    cr_assert_eq(f.sent_count, 1);
    const uint8_t *ip = fx_l3(&f.sent[0]);
    cr_assert_eq(ip[9], 1);
    cr_assert_eq(ip[20], 11, "time exceeded");
    cr_assert_eq(ip[21], 1, "code 1: fragment reassembly time exceeded");
    cr_assert_eq(be16_get(ip + 2), 20 + 8 + 20 + 8, "quotes the first fragment's header and 8 bytes");
    cr_assert_eq(ts_stack_pbufs_in_use(f.st), 0);
}

Test(core_ipv4, incomplete_datagram_without_its_first_fragment_times_out_silently)
{
    make_udp_datagram();
    send_fragment(0, 8, 1480, 1480, true);
    ts_stack_poll(f.st, f.cfg.timing.reasm_timeout);
    cr_assert_eq(fx_counter(&f, "ip.drop_frag_timeout"), 1);
    cr_assert_eq(f.sent_count, 0);
}

Test(core_ipv4, reassembly_memory_is_bounded)
{
    struct ts_stack_config cfg;
    fx_fini(&f);
    fx_default_config(&cfg);
    cfg.limits.reasm_max_bytes = 4000;
    fx_init(&f, &cfg);
    fx_learn_peer(&f, 0);
    make_udp_datagram();
    for (uint16_t id = 100; id < 110; id++)
        send_fragment(id, id, 0, 1480, true);
    cr_assert_gt(fx_counter(&f, "ip.drop_frag_no_memory"), 0);
    cr_assert_leq(ts_stack_pbufs_in_use(f.st), 2, "at most 4000 bytes of fragments are held");
}

Test(core_ipv4, too_many_fragments_drop_the_datagram)
{
    struct ts_stack_config cfg;
    fx_fini(&f);
    fx_default_config(&cfg);
    cfg.limits.reasm_max_fragments = 4;
    fx_init(&f, &cfg);
    fx_learn_peer(&f, 0);
    make_udp_datagram();
    for (size_t off = 0; off < 8 * 6; off += 8)
        send_fragment(1, 50, off, 8, true);
    cr_assert_eq(fx_counter(&f, "ip.drop_frag_too_many"), 1);
}

Test(core_ipv4, datagram_to_ourselves_loops_back_without_touching_the_wire)
{
    struct ts_pcb *rx = bound_udp(7);
    struct ts_pcb *tx = bound_udp(8);
    struct ts_sockaddr to = {FX_STACK_IP, 7};
    cr_assert_eq(ts_pcb_sendto(tx, 1, "self", 4, &to), 4);
    cr_assert_eq(f.sent_count, 0);
    char buf[8];
    struct ts_sockaddr from;
    cr_assert_eq(ts_pcb_recvfrom(rx, buf, sizeof buf, &from, false, NULL), 4);
    cr_assert_eq(from.port, 8);
    ts_pcb_close(rx);
    ts_pcb_close(tx);
}
