/* Wire formats: parse and emit against golden bytes, and every malformed header rejected with its reason. */
#include <criterion/criterion.h>
#include <string.h>

#include "wire/arp.h"
#include "wire/checksum.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

/* An ICMP echo request 192.168.0.1 -> 192.168.0.199, as a tcpdump of Linux's ping shows it. */
static const uint8_t golden_ipv4_header[20] = {
    0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
};

Test(checksum, rfc1071_example_sums_to_ddf2)
{
    /* RFC 1071 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (one's complement), so the checksum is 220d. */
    const uint8_t words[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    cr_assert_eq(csum_add(0, words, sizeof words) & 0xffff, 0xddf0);
    cr_assert_eq(csum_finish(csum_add(0, words, sizeof words)), 0x220d);
}

Test(checksum, odd_length_pads_a_zero_byte_on_the_right)
{
    const uint8_t odd[] = {0x12, 0x34, 0x56};
    const uint8_t even[] = {0x12, 0x34, 0x56, 0x00};
    cr_assert_eq(csum_finish(csum_add(0, odd, 3)), csum_finish(csum_add(0, even, 4)));
}

Test(checksum, a_header_with_its_checksum_sums_to_zero)
{
    cr_assert_eq(csum_finish(csum_add(0, golden_ipv4_header, 20)), 0);
}

Test(ipv4, parses_the_golden_header)
{
    uint8_t buf[0x73] = {0};
    memcpy(buf, golden_ipv4_header, 20);
    struct ipv4_hdr h;
    const uint8_t *payload;
    size_t payload_len;
    cr_assert_eq(ipv4_parse(buf, sizeof buf, &h, &payload, &payload_len), IPV4_PARSE_OK);
    cr_assert_eq(h.ihl, 20);
    cr_assert_eq(h.total_len, 0x73);
    cr_assert(h.dont_fragment);
    cr_assert_not(h.more_fragments);
    cr_assert_eq(h.ttl, 64);
    cr_assert_eq(h.protocol, IPV4_PROTO_UDP);
    cr_assert_eq(h.src, 0xc0a80001u);
    cr_assert_eq(h.dst, 0xc0a800c7u);
    cr_assert_eq(payload, buf + 20);
    cr_assert_eq(payload_len, 0x73 - 20);
}

Test(ipv4, emit_reproduces_the_golden_header)
{
    struct ipv4_hdr h = {.ihl = 20, .total_len = 0x73, .id = 0, .dont_fragment = true, .ttl = 64,
                         .protocol = IPV4_PROTO_UDP, .src = 0xc0a80001u, .dst = 0xc0a800c7u};
    uint8_t out[20];
    ipv4_emit(&h, out);
    cr_assert_arr_eq(out, golden_ipv4_header, 20);
}

Test(ipv4, link_padding_beyond_total_length_is_trimmed)
{
    uint8_t buf[60] = {0};
    struct ipv4_hdr h = {.ihl = 20, .total_len = 28, .ttl = 1, .protocol = 1, .src = 1, .dst = 2};
    ipv4_emit(&h, buf);
    struct ipv4_hdr out;
    const uint8_t *payload;
    size_t payload_len;
    cr_assert_eq(ipv4_parse(buf, sizeof buf, &out, &payload, &payload_len), IPV4_PARSE_OK);
    cr_assert_eq(payload_len, 8);
}

static enum ipv4_parse_result parse_edited(void (*edit)(uint8_t *buf), size_t len)
{
    uint8_t buf[0x73] = {0};
    memcpy(buf, golden_ipv4_header, 20);
    edit(buf);
    be16_put(buf + 10, 0);
    be16_put(buf + 10, csum_finish(csum_add(0, buf, (size_t)(buf[0] & 0xf) * 4 > 20 ? 20 : (size_t)(buf[0] & 0xf) * 4)));
    struct ipv4_hdr h;
    const uint8_t *p;
    size_t n;
    return ipv4_parse(buf, len, &h, &p, &n);
}

static void set_version_6(uint8_t *b) { b[0] = 0x65; }
static void set_ihl_4(uint8_t *b) { b[0] = 0x44; }
static void set_total_below_header(uint8_t *b) { be16_put(b + 2, 19); }
static void set_total_beyond_frame(uint8_t *b) { be16_put(b + 2, 0x74); }
static void no_edit(uint8_t *b) { (void)b; }

Test(ipv4, version_other_than_4_is_rejected)
{
    cr_assert_eq(parse_edited(set_version_6, 0x73), IPV4_PARSE_BAD_VERSION);
}

Test(ipv4, ihl_below_5_is_rejected)
{
    cr_assert_eq(parse_edited(set_ihl_4, 0x73), IPV4_PARSE_BAD_HEADER_LEN);
}

Test(ipv4, total_length_below_the_header_is_rejected)
{
    cr_assert_eq(parse_edited(set_total_below_header, 0x73), IPV4_PARSE_BAD_TOTAL_LEN);
}

Test(ipv4, total_length_beyond_the_frame_is_rejected)
{
    cr_assert_eq(parse_edited(set_total_beyond_frame, 0x73), IPV4_PARSE_BAD_TOTAL_LEN);
}

Test(ipv4, fewer_than_20_bytes_are_truncated)
{
    cr_assert_eq(parse_edited(no_edit, 19), IPV4_PARSE_TRUNCATED);
}

Test(ipv4, ihl_beyond_the_data_is_rejected)
{
    uint8_t buf[24];
    memcpy(buf, golden_ipv4_header, 20);
    buf[0] = 0x4f; /* 60-byte header in a 24-byte buffer */
    struct ipv4_hdr h;
    const uint8_t *p;
    size_t n;
    cr_assert_eq(ipv4_parse(buf, sizeof buf, &h, &p, &n), IPV4_PARSE_BAD_HEADER_LEN);
}

Test(ipv4, bad_checksum_is_rejected)
{
    uint8_t buf[0x73] = {0};
    memcpy(buf, golden_ipv4_header, 20);
    buf[11] ^= 1;
    struct ipv4_hdr h;
    const uint8_t *p;
    size_t n;
    cr_assert_eq(ipv4_parse(buf, sizeof buf, &h, &p, &n), IPV4_PARSE_BAD_CHECKSUM);
}

static enum ipv4_parse_result parse_with_options(const uint8_t *opt, size_t opt_len)
{
    uint8_t buf[64] = {0};
    size_t ihl = 20 + opt_len;
    memcpy(buf, golden_ipv4_header, 20);
    buf[0] = (uint8_t)(0x40 | (ihl / 4));
    be16_put(buf + 2, (uint16_t)ihl);
    memcpy(buf + 20, opt, opt_len);
    be16_put(buf + 10, 0);
    be16_put(buf + 10, csum_finish(csum_add(0, buf, ihl)));
    struct ipv4_hdr h;
    const uint8_t *p;
    size_t n;
    return ipv4_parse(buf, ihl, &h, &p, &n);
}

Test(ipv4, well_formed_options_are_skipped)
{
    const uint8_t opt[8] = {0x01, 0x07, 0x07, 0x04, 0, 0, 0, 0}; /* NOP, record route with room for one address */
    cr_assert_eq(parse_with_options(opt, sizeof opt), IPV4_PARSE_OK);
}

Test(ipv4, option_running_past_the_header_is_rejected)
{
    const uint8_t opt[4] = {0x07, 0x27, 0x04, 0x00}; /* record route claiming 39 bytes */
    cr_assert_eq(parse_with_options(opt, sizeof opt), IPV4_PARSE_BAD_OPTIONS);
}

Test(ipv4, option_of_length_below_2_is_rejected)
{
    const uint8_t opt[4] = {0x07, 0x01, 0x00, 0x00};
    cr_assert_eq(parse_with_options(opt, sizeof opt), IPV4_PARSE_BAD_OPTIONS);
}

Test(udp, emit_then_parse_round_trips_with_a_valid_checksum)
{
    uint8_t buf[8 + 5];
    memcpy(buf + 8, "hello", 5);
    struct udp_hdr h = {.src_port = 4000, .dst_port = 7};
    udp_emit(&h, buf, 5, 0x0a000001, 0x0a000002);
    struct udp_hdr out;
    const uint8_t *data;
    size_t len;
    cr_assert_eq(udp_parse(buf, sizeof buf, 0x0a000001, 0x0a000002, &out, &data, &len), UDP_PARSE_OK);
    cr_assert_eq(out.src_port, 4000);
    cr_assert_eq(out.dst_port, 7);
    cr_assert_eq(len, 5);
    cr_assert_arr_eq(data, "hello", 5);
}

Test(udp, zero_checksum_means_none_and_is_accepted)
{
    uint8_t buf[10] = {0x0f, 0xa0, 0x00, 0x07, 0x00, 0x0a, 0x00, 0x00, 'h', 'i'};
    struct udp_hdr out;
    const uint8_t *data;
    size_t len;
    cr_assert_eq(udp_parse(buf, sizeof buf, 1, 2, &out, &data, &len), UDP_PARSE_OK);
    cr_assert_eq(len, 2);
}

Test(udp, length_below_8_or_beyond_the_payload_is_rejected)
{
    uint8_t buf[10] = {0x0f, 0xa0, 0x00, 0x07, 0x00, 0x07, 0x00, 0x00, 'h', 'i'};
    struct udp_hdr out;
    const uint8_t *data;
    size_t len;
    cr_assert_eq(udp_parse(buf, sizeof buf, 1, 2, &out, &data, &len), UDP_PARSE_BAD_LENGTH);
    be16_put(buf + 4, 11);
    cr_assert_eq(udp_parse(buf, sizeof buf, 1, 2, &out, &data, &len), UDP_PARSE_BAD_LENGTH);
    cr_assert_eq(udp_parse(buf, 7, 1, 2, &out, &data, &len), UDP_PARSE_TRUNCATED);
}

Test(udp, corrupted_datagram_fails_its_checksum)
{
    uint8_t buf[8 + 5];
    memcpy(buf + 8, "hello", 5);
    struct udp_hdr h = {.src_port = 1, .dst_port = 2};
    udp_emit(&h, buf, 5, 3, 4);
    buf[9] ^= 0x20;
    struct udp_hdr out;
    const uint8_t *data;
    size_t len;
    cr_assert_eq(udp_parse(buf, sizeof buf, 3, 4, &out, &data, &len), UDP_PARSE_BAD_CHECKSUM);
}

Test(icmp, echo_request_round_trips_and_verifies)
{
    uint8_t buf[8 + 4] = {0, 0, 0, 0, 0, 0, 0, 0, 'p', 'i', 'n', 'g'};
    struct icmp_hdr h = {.type = ICMP_ECHO_REQUEST, .rest = (0x1234u << 16) | 7};
    icmp_emit(&h, buf, 4);
    struct icmp_hdr out;
    const uint8_t *body;
    size_t body_len;
    cr_assert_eq(icmp_parse(buf, sizeof buf, &out, &body, &body_len), ICMP_PARSE_OK);
    cr_assert_eq(icmp_echo_id(&out), 0x1234);
    cr_assert_eq(icmp_echo_seq(&out), 7);
    cr_assert_eq(body_len, 4);
    buf[9] ^= 1;
    cr_assert_eq(icmp_parse(buf, sizeof buf, &out, &body, &body_len), ICMP_PARSE_BAD_CHECKSUM);
    cr_assert_eq(icmp_parse(buf, 7, &out, &body, &body_len), ICMP_PARSE_TRUNCATED);
}

Test(arp, request_round_trips_through_emit_and_parse)
{
    struct arp_packet p = {.op = ARP_OP_REQUEST, .sender_mac = {2, 0, 0, 0, 0, 1}, .sender_ip = 0x0a000001,
                           .target_ip = 0x0a000002};
    uint8_t buf[ARP_PACKET_LEN];
    arp_emit(&p, buf);
    const uint8_t golden_start[8] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};
    cr_assert_arr_eq(buf, golden_start, 8);
    struct arp_packet out;
    cr_assert_eq(arp_parse(buf, sizeof buf, &out), ARP_PARSE_OK);
    cr_assert_eq(out.sender_ip, 0x0a000001);
    cr_assert_eq(out.target_ip, 0x0a000002);
    cr_assert_eq(arp_parse(buf, 27, &out), ARP_PARSE_TRUNCATED);
    buf[7] = 9;
    cr_assert_eq(arp_parse(buf, sizeof buf, &out), ARP_PARSE_BAD_OP);
    buf[1] = 6; /* IEEE 802 hardware type: not ours */
    cr_assert_eq(arp_parse(buf, sizeof buf, &out), ARP_PARSE_UNSUPPORTED);
}

Test(ethernet, runt_is_rejected_and_header_parses)
{
    const uint8_t frame[14] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06};
    struct eth_hdr h;
    const uint8_t *payload;
    size_t n;
    cr_assert_not(eth_parse(frame, 13, &h, &payload, &n));
    cr_assert(eth_parse(frame, 14, &h, &payload, &n));
    cr_assert_eq(h.ethertype, ETHERTYPE_ARP);
    cr_assert(eth_addr_is_broadcast(h.dst));
    cr_assert_eq(n, 0);
}
