/*
 * The TCP header and its options on the wire (RFC 9293 3.1-3.2, RFC 7323, RFC 2018): parse and emit
 * against segments Linux 6.18 sent (captured on a veth pair in a private network namespace, transmit
 * checksum offload off so the checksums are the real ones), and every malformed header rejected with
 * its reason.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "wire/checksum.h"
#include "wire/tcp.h"

#define LINUX_ADDR 0x0a000001u /* 10.0.0.1 */
#define PEER_ADDR 0x0a000002u  /* 10.0.0.2 */

/* Linux connects 10.0.0.1:45678 -> 10.0.0.2:80: MSS 1460, SACK permitted, timestamps, NOP, window scale 10. */
static const uint8_t linux_syn[40] = {
    0xb2, 0x6e, 0x00, 0x50, 0x55, 0xcd, 0x62, 0xce, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0,
    0x9f, 0xfe, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x54, 0x42, 0xd9, 0x6e,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
};

/* A Linux listener on 10.0.0.1:80 answers a SYN (ISN 0x11223344, TSval 1000) from 10.0.0.2:45678. */
static const uint8_t linux_syn_ack[40] = {
    0x00, 0x50, 0xb2, 0x6e, 0x0c, 0x82, 0x18, 0x86, 0x11, 0x22, 0x33, 0x45, 0xa0, 0x12, 0xfe, 0x88,
    0xe6, 0xa2, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0xf6, 0xd6, 0x37, 0xd2,
    0x00, 0x00, 0x03, 0xe8, 0x01, 0x03, 0x03, 0x0a,
};

/* The same Linux end after two out-of-order segments: a duplicate ACK with timestamps and two SACK
 * blocks, the most recent first (RFC 2018 4). */
static const uint8_t linux_dup_ack_two_sack_blocks[52] = {
    0x00, 0x50, 0xb2, 0x6e, 0x0c, 0x82, 0x18, 0x87, 0x11, 0x22, 0x33, 0x45, 0xd0, 0x10, 0x00, 0x40,
    0xa7, 0xda, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0xf6, 0xd6, 0x38, 0x05, 0x00, 0x00, 0x03, 0xe9,
    0x01, 0x01, 0x05, 0x12, 0x11, 0x22, 0x34, 0x71, 0x11, 0x22, 0x34, 0xd5, 0x11, 0x22, 0x33, 0xa9,
    0x11, 0x22, 0x34, 0x0d,
};

static enum tcp_parse_result parse(const uint8_t *buf, size_t len, struct tcp_hdr *h)
{
    const uint8_t *data;
    size_t data_len;
    return tcp_parse(buf, len, LINUX_ADDR, PEER_ADDR, h, &data, &data_len);
}

/* Emits h (whose data, if any, is already at buf + header length) and compares with the golden bytes. */
static void assert_emit_reproduces(const struct tcp_hdr *h, const uint8_t *golden, size_t len)
{
    uint8_t buf[TCP_MAX_HDR_LEN];
    memset(buf, 0xee, sizeof buf);
    cr_assert_eq(tcp_options_len(&h->opt) + TCP_MIN_HDR_LEN, len, "the options take the same room");
    size_t hdr_len = tcp_emit(h, buf, 0, LINUX_ADDR, PEER_ADDR);
    cr_assert_eq(hdr_len, len);
    for (size_t i = 0; i < len; i++)
        cr_assert_eq(buf[i], golden[i], "byte %zu: 0x%02x, Linux sent 0x%02x", i, buf[i], golden[i]);
}

Test(wire_tcp, linux_syn_parses_field_by_field)
{
    struct tcp_hdr h;
    const uint8_t *data;
    size_t data_len;
    cr_assert_eq(tcp_parse(linux_syn, sizeof linux_syn, LINUX_ADDR, PEER_ADDR, &h, &data, &data_len), TCP_PARSE_OK);
    cr_assert_eq(h.src_port, 45678);
    cr_assert_eq(h.dst_port, 80);
    cr_assert_eq(h.seq, 0x55cd62ceu);
    cr_assert_eq(h.ack, 0);
    cr_assert_eq(h.data_offset, 40);
    cr_assert_eq(h.flags, TCP_SYN);
    cr_assert_eq(h.window, 64240);
    cr_assert_eq(h.checksum, 0x9ffe);
    cr_assert_eq(h.urgent, 0);
    cr_assert(h.opt.has_mss);
    cr_assert_eq(h.opt.mss, 1460);
    cr_assert(h.opt.sack_permitted);
    cr_assert(h.opt.has_timestamps);
    cr_assert_eq(h.opt.ts_val, 0x5442d96eu);
    cr_assert_eq(h.opt.ts_ecr, 0);
    cr_assert(h.opt.has_wscale);
    cr_assert_eq(h.opt.wscale, 10);
    cr_assert_eq(h.opt.sack_count, 0);
    cr_assert_eq(data, linux_syn + 40);
    cr_assert_eq(data_len, 0);
}

Test(wire_tcp, linux_syn_round_trips_byte_for_byte)
{
    struct tcp_hdr h;
    cr_assert_eq(parse(linux_syn, sizeof linux_syn, &h), TCP_PARSE_OK);
    assert_emit_reproduces(&h, linux_syn, sizeof linux_syn);
}

Test(wire_tcp, linux_syn_ack_parses_and_round_trips)
{
    struct tcp_hdr h;
    cr_assert_eq(parse(linux_syn_ack, sizeof linux_syn_ack, &h), TCP_PARSE_OK);
    cr_assert_eq(h.src_port, 80);
    cr_assert_eq(h.dst_port, 45678);
    cr_assert_eq(h.seq, 0x0c821886u);
    cr_assert_eq(h.ack, 0x11223345u);
    cr_assert_eq(h.flags, TCP_SYN | TCP_ACK);
    cr_assert_eq(h.window, 65160);
    cr_assert_eq(h.opt.mss, 1460);
    cr_assert(h.opt.sack_permitted);
    cr_assert_eq(h.opt.ts_val, 0xf6d637d2u);
    cr_assert_eq(h.opt.ts_ecr, 1000, "echoes the SYN's TSval");
    cr_assert_eq(h.opt.wscale, 10);
    assert_emit_reproduces(&h, linux_syn_ack, sizeof linux_syn_ack);
}

Test(wire_tcp, linux_dup_ack_with_two_sack_blocks_parses_and_round_trips)
{
    struct tcp_hdr h;
    cr_assert_eq(parse(linux_dup_ack_two_sack_blocks, sizeof linux_dup_ack_two_sack_blocks, &h), TCP_PARSE_OK);
    cr_assert_eq(h.flags, TCP_ACK);
    cr_assert_eq(h.ack, 0x11223345u);
    cr_assert_eq(h.window, 64);
    cr_assert_not(h.opt.has_mss);
    cr_assert_not(h.opt.has_wscale);
    cr_assert_not(h.opt.sack_permitted);
    cr_assert(h.opt.has_timestamps);
    cr_assert_eq(h.opt.ts_val, 0xf6d63805u);
    cr_assert_eq(h.opt.ts_ecr, 1001);
    cr_assert_eq(h.opt.sack_count, 2);
    cr_assert_eq(h.opt.sack[0].left, 0x11223471u);
    cr_assert_eq(h.opt.sack[0].right, 0x112234d5u);
    cr_assert_eq(h.opt.sack[1].left, 0x112233a9u);
    cr_assert_eq(h.opt.sack[1].right, 0x1122340du);
    assert_emit_reproduces(&h, linux_dup_ack_two_sack_blocks, sizeof linux_dup_ack_two_sack_blocks);
}

Test(wire_tcp, emit_checksums_the_data_and_parse_returns_it)
{
    uint8_t buf[TCP_MIN_HDR_LEN + 12 + 5];
    struct tcp_hdr h = {.src_port = 1234, .dst_port = 80, .seq = 7, .ack = 9, .flags = TCP_ACK | TCP_PSH,
                        .window = 512, .opt = {.has_timestamps = true, .ts_val = 1, .ts_ecr = 2}};
    memcpy(buf + TCP_MIN_HDR_LEN + 12, "hello", 5);
    cr_assert_eq(tcp_emit(&h, buf, 5, PEER_ADDR, LINUX_ADDR), TCP_MIN_HDR_LEN + 12);
    uint32_t sum = csum_pseudo_ipv4(PEER_ADDR, LINUX_ADDR, 6, sizeof buf);
    cr_assert_eq(csum_finish(csum_add(sum, buf, sizeof buf)), 0, "the checksum covers pseudo-header, header and data");
    struct tcp_hdr out;
    const uint8_t *data;
    size_t data_len;
    cr_assert_eq(tcp_parse(buf, sizeof buf, PEER_ADDR, LINUX_ADDR, &out, &data, &data_len), TCP_PARSE_OK);
    cr_assert_eq(data_len, 5);
    cr_assert_arr_eq(data, "hello", 5);
    cr_assert_eq(out.flags, TCP_ACK | TCP_PSH);
}

/* ---- malformed headers --------------------------------------------------------------------------- */

/* A bare ACK 10.0.0.1:45678 -> 10.0.0.2:80 with the given option bytes (padded with EOL to a multiple of 4) and
 * a checksum that verifies, so only the options can be wrong. Returns the segment length. */
static size_t segment_with_options(uint8_t *buf, const uint8_t *opt, size_t opt_len)
{
    size_t padded = (opt_len + 3) / 4 * 4;
    memset(buf, 0, TCP_MIN_HDR_LEN + padded);
    be16_put(buf, 45678);
    be16_put(buf + 2, 80);
    be32_put(buf + 4, 1000);
    be32_put(buf + 8, 2000);
    buf[12] = (uint8_t)(((TCP_MIN_HDR_LEN + padded) / 4) << 4);
    buf[13] = TCP_ACK;
    be16_put(buf + 14, 1024);
    if (opt_len > 0)
        memcpy(buf + TCP_MIN_HDR_LEN, opt, opt_len);
    size_t len = TCP_MIN_HDR_LEN + padded;
    uint32_t sum = csum_pseudo_ipv4(LINUX_ADDR, PEER_ADDR, 6, (uint16_t)len);
    be16_put(buf + 16, csum_finish(csum_add(sum, buf, len)));
    return len;
}

static enum tcp_parse_result parse_options(const uint8_t *opt, size_t opt_len, struct tcp_hdr *h)
{
    uint8_t buf[TCP_MAX_HDR_LEN];
    size_t len = segment_with_options(buf, opt, opt_len);
    return parse(buf, len, h);
}

Test(wire_tcp, fewer_than_20_bytes_are_truncated)
{
    struct tcp_hdr h;
    cr_assert_eq(parse(linux_syn, 19, &h), TCP_PARSE_TRUNCATED);
    cr_assert_eq(parse(linux_syn, 0, &h), TCP_PARSE_TRUNCATED);
}

Test(wire_tcp, data_offset_below_5_is_rejected)
{
    uint8_t buf[TCP_MAX_HDR_LEN];
    struct tcp_hdr h;
    for (uint8_t words = 0; words < 5; words++) {
        size_t len = segment_with_options(buf, NULL, 0);
        buf[12] = (uint8_t)(words << 4);
        cr_assert_eq(parse(buf, len, &h), TCP_PARSE_BAD_OFFSET, "data offset %u words", words);
    }
}

Test(wire_tcp, data_offset_beyond_the_segment_is_rejected)
{
    struct tcp_hdr h;
    /* The SYN's 40-byte header cut to 36 bytes: the options would run past the end. */
    cr_assert_eq(parse(linux_syn, 36, &h), TCP_PARSE_BAD_OFFSET);
    uint8_t buf[TCP_MAX_HDR_LEN];
    size_t len = segment_with_options(buf, NULL, 0);
    buf[12] = 0xf0; /* 60 bytes claimed, 20 present */
    cr_assert_eq(parse(buf, len, &h), TCP_PARSE_BAD_OFFSET);
}

Test(wire_tcp, bad_checksum_is_rejected)
{
    uint8_t buf[sizeof linux_syn];
    memcpy(buf, linux_syn, sizeof buf);
    buf[4] ^= 0x01; /* one bit of the sequence number */
    struct tcp_hdr h;
    cr_assert_eq(parse(buf, sizeof buf, &h), TCP_PARSE_BAD_CHECKSUM);
    /* The right bytes under the wrong pseudo-header fail as well. */
    const uint8_t *data;
    size_t data_len;
    cr_assert_eq(tcp_parse(linux_syn, sizeof linux_syn, LINUX_ADDR, PEER_ADDR + 1, &h, &data, &data_len),
                 TCP_PARSE_BAD_CHECKSUM);
}

Test(wire_tcp, option_length_0_is_rejected)
{
    const uint8_t opt[] = {30, 0, 0, 0};
    struct tcp_hdr h;
    cr_assert_eq(parse_options(opt, sizeof opt, &h), TCP_PARSE_BAD_OPTION);
}

Test(wire_tcp, option_length_1_is_rejected)
{
    const uint8_t opt[] = {30, 1, 1, 1};
    struct tcp_hdr h;
    cr_assert_eq(parse_options(opt, sizeof opt, &h), TCP_PARSE_BAD_OPTION);
}

Test(wire_tcp, option_running_past_the_header_is_rejected)
{
    const uint8_t opt[] = {1, 30, 10, 0}; /* NOP, then an option claiming 10 bytes of the 3 left */
    struct tcp_hdr h;
    cr_assert_eq(parse_options(opt, sizeof opt, &h), TCP_PARSE_BAD_OPTION);
}

Test(wire_tcp, option_kind_in_the_last_byte_without_a_length_is_rejected)
{
    const uint8_t opt[] = {1, 1, 1, 2}; /* NOP NOP NOP, then MSS's kind with no room for its length */
    struct tcp_hdr h;
    cr_assert_eq(parse_options(opt, sizeof opt, &h), TCP_PARSE_BAD_OPTION);
}

Test(wire_tcp, mss_of_length_3_is_rejected)
{
    const uint8_t opt[] = {2, 3, 5, 1};
    struct tcp_hdr h;
    cr_assert_eq(parse_options(opt, sizeof opt, &h), TCP_PARSE_BAD_OPTION);
}

Test(wire_tcp, window_scale_of_length_2_is_rejected)
{
    const uint8_t opt[] = {3, 2, 1, 1};
    struct tcp_hdr h;
    cr_assert_eq(parse_options(opt, sizeof opt, &h), TCP_PARSE_BAD_OPTION);
}

Test(wire_tcp, sack_permitted_of_length_3_is_rejected)
{
    const uint8_t opt[] = {4, 3, 0, 1};
    struct tcp_hdr h;
    cr_assert_eq(parse_options(opt, sizeof opt, &h), TCP_PARSE_BAD_OPTION);
}

Test(wire_tcp, timestamps_of_length_9_are_rejected)
{
    const uint8_t opt[] = {1, 1, 8, 9, 0, 0, 0, 1, 0, 0, 0, 0};
    struct tcp_hdr h;
    cr_assert_eq(parse_options(opt, sizeof opt, &h), TCP_PARSE_BAD_OPTION);
}

Test(wire_tcp, sack_of_length_6_is_rejected)
{
    const uint8_t opt[] = {1, 1, 5, 6, 0, 0, 0, 1};
    struct tcp_hdr h;
    cr_assert_eq(parse_options(opt, sizeof opt, &h), TCP_PARSE_BAD_OPTION);
}

Test(wire_tcp, sack_of_length_2_plus_7_is_rejected)
{
    const uint8_t opt[] = {1, 1, 5, 9, 0, 0, 0, 1, 0, 0, 0, 2};
    struct tcp_hdr h;
    cr_assert_eq(parse_options(opt, sizeof opt, &h), TCP_PARSE_BAD_OPTION);
}

Test(wire_tcp, sack_without_a_block_is_rejected)
{
    const uint8_t opt[] = {1, 1, 5, 2};
    struct tcp_hdr h;
    cr_assert_eq(parse_options(opt, sizeof opt, &h), TCP_PARSE_BAD_OPTION);
}

Test(wire_tcp, sack_with_four_blocks_fills_the_option_space)
{
    uint8_t opt[2 + 2 + 32] = {1, 1, 5, 34};
    for (uint32_t i = 0; i < 4; i++) {
        be32_put(opt + 4 + 8 * i, 100 * (i + 1));
        be32_put(opt + 8 + 8 * i, 100 * (i + 1) + 50);
    }
    struct tcp_hdr h;
    cr_assert_eq(parse_options(opt, sizeof opt, &h), TCP_PARSE_OK);
    cr_assert_eq(h.opt.sack_count, 4);
    cr_assert_eq(h.opt.sack[3].left, 400);
    cr_assert_eq(h.opt.sack[3].right, 450);
}

Test(wire_tcp, unknown_option_is_skipped_by_its_length)
{
    /* Kind 30 (multipath TCP) with 6 bytes whose content would be malformed options, then an MSS. */
    const uint8_t opt[] = {30, 8, 2, 0, 3, 9, 0, 0, 2, 4, 0x05, 0xb4};
    struct tcp_hdr h;
    cr_assert_eq(parse_options(opt, sizeof opt, &h), TCP_PARSE_OK);
    cr_assert(h.opt.has_mss);
    cr_assert_eq(h.opt.mss, 1460);
    cr_assert_not(h.opt.has_wscale);
}

Test(wire_tcp, end_of_option_list_ends_parsing)
{
    /* MSS, EOL, then bytes that would be a malformed option and a window scale: never read. */
    const uint8_t opt[] = {2, 4, 0x02, 0x18, 0, 30, 1, 3, 3, 7, 0, 0};
    struct tcp_hdr h;
    cr_assert_eq(parse_options(opt, sizeof opt, &h), TCP_PARSE_OK);
    cr_assert_eq(h.opt.mss, 536);
    cr_assert_not(h.opt.has_wscale);
}

Test(wire_tcp, nops_alone_parse_to_no_options)
{
    const uint8_t opt[] = {1, 1, 1, 1, 1, 1, 1, 1};
    struct tcp_hdr h;
    cr_assert_eq(parse_options(opt, sizeof opt, &h), TCP_PARSE_OK);
    cr_assert_not(h.opt.has_mss);
    cr_assert_not(h.opt.has_timestamps);
    cr_assert_eq(h.opt.sack_count, 0);
}

Test(wire_tcp, emit_of_a_syn_without_timestamps_pads_sack_permitted_with_nops)
{
    uint8_t buf[TCP_MAX_HDR_LEN];
    struct tcp_hdr h = {.src_port = 1, .dst_port = 2, .flags = TCP_SYN, .window = 100,
                        .opt = {.has_mss = true, .mss = 1460, .sack_permitted = true, .has_wscale = true, .wscale = 7}};
    size_t len = tcp_emit(&h, buf, 0, LINUX_ADDR, PEER_ADDR);
    const uint8_t want[] = {2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7};
    cr_assert_eq(len, TCP_MIN_HDR_LEN + sizeof want);
    cr_assert_arr_eq(buf + TCP_MIN_HDR_LEN, want, sizeof want);
    struct tcp_hdr out;
    cr_assert_eq(parse(buf, len, &out), TCP_PARSE_OK);
    cr_assert(out.opt.sack_permitted);
    cr_assert_eq(out.opt.wscale, 7);
}

Test(wire_tcp, flags_format_names_every_bit)
{
    char buf[32];
    cr_assert_str_eq(tcp_flags_format(TCP_SYN | TCP_ACK, buf), "SYN,ACK");
    cr_assert_str_eq(tcp_flags_format(0, buf), "none");
    cr_assert_str_eq(tcp_flags_format(0xff, buf), "SYN,FIN,RST,PSH,ACK,URG,ECE,CWR");
}
