/*
 * Hostile input, link to transport (the "hostile input" regression suite): one test per class of
 * malformed frame the existing core tests do not already cover, named after the class and, where
 * one exists, the published vulnerability it mirrors (Ripple20, AMNESIA:33, INFRA:HALT). Each
 * checks that the frame is dropped (nothing sent, or exactly the right ICMP error), counted under
 * its reason, that the stack still answers a valid ping, and (fx_fini) that no buffer leaked.
 *
 * Already covered elsewhere, not repeated here: IHL < 5, bad header checksum, total length beyond
 * the frame (test_core_ipv4.c); every fragment class (test_core_ipv4.c); ICMP shorter than its
 * header, ICMP quoting less than a header (test_core_icmp_udp.c); UDP length below 8.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "core_fixture.h"
#include "wire/checksum.h"

static struct fx f;
static uint8_t frame[2048];

static void setup(void)
{
    fx_init(&f, NULL);
    fx_learn_peer(&f, 0);
}
static void teardown(void) { fx_fini(&f); }

TestSuite(hostile, .init = setup, .fini = teardown);

/* After every hostile frame the stack must still answer a valid ping with a well-formed reply. */
static void still_answers_a_ping(void)
{
    static uint8_t ping[128];
    size_t before = f.sent_count;
    size_t n = fx_build_echo_request(ping, FX_PEER_IP, FX_STACK_IP, 9, 99, "abcdefgh", 8);
    fx_input(&f, 5000, ping, n);
    cr_assert_eq(f.sent_count, before + 1, "the stack no longer answers a valid ping");
    const uint8_t *ip = fx_l3(&f.sent[before]);
    cr_assert_eq(ip[20], 0, "an echo reply");
    cr_assert_eq(be16_get(ip + 2), 20 + 8 + 8);
}

static void expect_silent_drop(const char *counter)
{
    cr_assert_eq(f.sent_count, 0, "nothing may be sent in answer to a malformed frame");
    cr_assert_eq(fx_counter(&f, counter), 1, "%s", counter);
    still_answers_a_ping();
}

static struct ts_pcb *udp_pcb(uint16_t port)
{
    int err;
    struct ts_pcb *pcb = ts_pcb_open(f.st, TS_PCB_UDP, &err);
    cr_assert_not_null(pcb);
    struct ts_sockaddr local = {0, port};
    cr_assert_eq(ts_pcb_bind(pcb, &local), 0);
    return pcb;
}

/* An ICMP message from the peer: type, code, the 4 "rest" bytes, then body; checksummed. */
static size_t build_icmp(uint8_t type, uint8_t code, uint32_t rest, const uint8_t *body, size_t body_len)
{
    static uint8_t msg[1024];
    cr_assert_leq(8 + body_len, sizeof msg);
    memset(msg, 0, 8);
    msg[0] = type;
    msg[1] = code;
    be32_put(msg + 4, rest);
    memcpy(msg + 8, body, body_len);
    be16_put(msg + 2, csum_finish(csum_add(0, msg, 8 + body_len)));
    return fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 1, 77, 0, msg, 8 + body_len);
}

/* ---- Ethernet ------------------------------------------------------------------------------------ */

Test(hostile, ethernet_runt_frame_is_dropped_and_counted)
{
    size_t n = fx_build_echo_request(frame, FX_PEER_IP, FX_STACK_IP, 9, 1, "abcdefgh", 8);
    cr_assert_gt(n, 13);
    for (size_t len = 0; len < 14; len++)
        fx_input(&f, 1, frame, len);
    cr_assert_eq(f.sent_count, 0);
    cr_assert_eq(fx_counter(&f, "eth.drop_runt"), 14);
    still_answers_a_ping();
}

Test(hostile, ethernet_trailing_padding_is_never_echoed_back)
{
    size_t n = fx_build_echo_request(frame, FX_PEER_IP, FX_STACK_IP, 9, 1, "abcdefgh", 8);
    memset(frame + n, 0xee, 200); /* far more than the minimum frame needs */
    fx_input(&f, 1, frame, n + 200);
    cr_assert_eq(f.sent_count, 1);
    const uint8_t *ip = fx_l3(&f.sent[0]);
    cr_assert_eq(be16_get(ip + 2), 20 + 8 + 8, "the reply carries the 8 data bytes, not the padding");
    cr_assert_arr_eq(ip + 28, "abcdefgh", 8);
}

/* ---- IPv4 header ------------------------------------------------------------------------------- */

Test(hostile, ipv4_ihl_beyond_data_cve_2020_11896_is_dropped_and_counted)
{
    size_t n = fx_build_echo_request(frame, FX_PEER_IP, FX_STACK_IP, 9, 1, "abcd", 4);
    frame[14] = 0x4f; /* 60-byte header claimed; 32 bytes arrived */
    fx_fix_ipv4_checksum(frame);
    fx_input(&f, 1, frame, n);
    expect_silent_drop("ip.drop_bad_header_length");
}

Test(hostile, ipv4_total_length_below_header_length_cve_2020_11896_is_dropped_and_counted)
{
    size_t n = fx_build_echo_request(frame, FX_PEER_IP, FX_STACK_IP, 9, 1, "abcdefgh", 8);
    be16_put(frame + 14 + 2, 19);
    fx_fix_ipv4_checksum(frame);
    fx_input(&f, 1, frame, n);
    expect_silent_drop("ip.drop_bad_total_length");
}

Test(hostile, ipv4_total_length_below_a_header_with_options_is_dropped_and_counted)
{
    /* IHL 6 (24 bytes) but a total length of 22: the header claims more than the datagram. */
    uint8_t payload[12] = {1, 1, 1, 1}; /* four NOP options, then 8 bytes */
    size_t n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 17, 5, 0, payload, sizeof payload);
    frame[14] = 0x46;
    be16_put(frame + 14 + 2, 22);
    fx_fix_ipv4_checksum(frame);
    fx_input(&f, 1, frame, n);
    expect_silent_drop("ip.drop_bad_total_length");
}

Test(hostile, ipv4_total_length_beyond_frame_is_dropped_before_any_transport_checksum)
{
    /* The checksum of a UDP datagram whose IP length claims bytes that never arrived (uIP read them). */
    struct ts_pcb *pcb = udp_pcb(7);
    size_t n = fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 7, "abcdef", 6);
    be16_put(frame + 14 + 2, 1400);
    fx_fix_ipv4_checksum(frame);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(ts_pcb_next_size(pcb), -EAGAIN);
    ts_pcb_close(pcb);
    expect_silent_drop("ip.drop_bad_total_length");
}

Test(hostile, ipv4_option_running_past_the_header_is_dropped_and_counted)
{
    /* IHL 6: NOP, then a record-route option claiming 11 bytes where 3 remain in the header. */
    uint8_t payload[4 + 8 + 8] = {1, 7, 11, 4};
    payload[4] = 8; /* an echo request follows the options */
    be16_put(payload + 4 + 4, 9);
    be16_put(payload + 4 + 6, 1);
    memcpy(payload + 12, "abcdefgh", 8);
    be16_put(payload + 4 + 2, csum_finish(csum_add(0, payload + 4, 16)));
    size_t n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 1, 5, 0, payload, sizeof payload);
    frame[14] = 0x46;
    fx_fix_ipv4_checksum(frame);
    fx_input(&f, 1, frame, n);
    expect_silent_drop("ip.drop_bad_options");
}

Test(hostile, ipv4_option_of_length_zero_is_dropped_without_looping)
{
    uint8_t payload[4 + 8] = {0x44, 0, 0, 0}; /* a timestamp option of length 0: a parser that adds 0 spins */
    payload[4] = 8;
    be16_put(payload + 4 + 2, csum_finish(csum_add(0, payload + 4, 8)));
    size_t n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 1, 5, 0, payload, sizeof payload);
    frame[14] = 0x46;
    fx_fix_ipv4_checksum(frame);
    fx_input(&f, 1, frame, n);
    expect_silent_drop("ip.drop_bad_options");
}

/* ---- ICMP -------------------------------------------------------------------------------------- */

Test(hostile, icmp_error_quoting_a_header_that_claims_more_than_arrived_cve_2020_11898_is_dropped)
{
    /* The quoted IPv4 header says IHL 15 (60 bytes): only 20 + 8 arrived. */
    uint8_t quote[28] = {0x4f, 0};
    be16_put(quote + 2, 1500);
    quote[8] = 64;
    quote[9] = 17;
    be32_put(quote + 12, FX_STACK_IP);
    be32_put(quote + 16, FX_PEER_IP);
    size_t n = build_icmp(3, 3, 0, quote, sizeof quote);
    fx_input(&f, 1, frame, n);
    expect_silent_drop("icmp.drop_error_quote_truncated");
}

Test(hostile, icmp_error_quoting_a_datagram_cut_short_is_used_without_reading_past_the_quote)
{
    /* The quoted datagram claims 1500 bytes, 28 are quoted: that is normal (RFC 792), and the
     * 8 transport bytes are enough to find the socket. */
    struct ts_pcb *pcb = udp_pcb(4000);
    struct ts_sockaddr peer = {FX_PEER_IP, 9};
    cr_assert_eq(ts_pcb_connect(pcb, 0, &peer), 0);
    uint8_t quote[28] = {0x45, 0};
    be16_put(quote + 2, 1500);
    quote[8] = 64;
    quote[9] = 17;
    be32_put(quote + 12, FX_STACK_IP);
    be32_put(quote + 16, FX_PEER_IP);
    be16_put(quote + 20, 4000);
    be16_put(quote + 22, 9);
    be16_put(quote + 24, 1480);
    size_t n = build_icmp(3, 3, 0, quote, sizeof quote);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(ts_pcb_take_error(pcb), ECONNREFUSED);
    ts_pcb_close(pcb);
    cr_assert_eq(f.sent_count, 0);
    still_answers_a_ping();
}

Test(hostile, icmp_error_about_a_datagram_we_did_not_send_is_dropped_and_counted)
{
    uint8_t quote[28] = {0x45, 0};
    quote[9] = 17;
    be32_put(quote + 12, TS_IPV4(10, 0, 0, 77)); /* spoofed: a datagram from someone else */
    be32_put(quote + 16, FX_PEER_IP);
    size_t n = build_icmp(3, 3, 0, quote, sizeof quote);
    fx_input(&f, 1, frame, n);
    expect_silent_drop("icmp.drop_error_not_ours");
}

Test(hostile, icmp_fragmentation_needed_with_a_bogus_mtu_is_ignored_and_counted)
{
    /* RFC 1191: a next-hop MTU below 68 cannot exist; 0 and 67 are both bogus. */
    static const uint16_t bogus[] = {0, 1, 67};
    uint8_t quote[28] = {0x45, 0};
    quote[9] = 17;
    be32_put(quote + 12, FX_STACK_IP);
    be32_put(quote + 16, FX_PEER_IP);
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++) {
        size_t n = build_icmp(3, 4, bogus[i], quote, sizeof quote);
        fx_input(&f, 1, frame, n);
    }
    cr_assert_eq(f.sent_count, 0);
    cr_assert_eq(fx_counter(&f, "icmp.drop_bogus_mtu"), 3);
    still_answers_a_ping();
}

Test(hostile, icmp_error_we_generate_quotes_only_what_exists)
{
    /* An unknown protocol with 3 bytes of payload: the protocol unreachable quotes 20 + 3 bytes,
     * not the 8 transport bytes RFC 792 asks for, since only 3 exist. */
    size_t n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 253, 5, 0, (const uint8_t *)"xyz", 3);
    memset(frame + n, 0xee, 40); /* Ethernet padding must not be quoted either */
    fx_input(&f, 1, frame, n + 40);
    cr_assert_eq(fx_counter(&f, "ip.drop_unknown_protocol"), 1);
    cr_assert_eq(f.sent_count, 1);
    const uint8_t *ip = fx_l3(&f.sent[0]);
    cr_assert_eq(ip[20], 3);
    cr_assert_eq(ip[21], 2);
    size_t icmp_len = be16_get(ip + 2) - 20u;
    cr_assert_eq(icmp_len, 8 + 20 + 3);
    cr_assert_arr_eq(ip + 28, frame + 14, 20 + 3);
    cr_assert_eq(csum_finish(csum_add(0, ip + 20, icmp_len)), 0);
    still_answers_a_ping();
}

/* ---- fragments (the classic classes are in test_core_ipv4.c; these are the edges it leaves) -------- */

static uint8_t udp_datagram[8 + 48];

/* A 48-byte UDP datagram to port 7, kept whole (header included) for slicing into fragments. */
static void make_udp_datagram(void)
{
    uint8_t payload[48];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 5);
    fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 7, payload, sizeof payload);
    memcpy(udp_datagram, frame + 34, sizeof udp_datagram);
}

static void send_fragment(uint8_t protocol, uint16_t id, size_t offset, const uint8_t *data, size_t len, bool more)
{
    static uint8_t fr[2048];
    uint16_t field = (uint16_t)((offset / 8) | (more ? 0x2000 : 0));
    size_t n = fx_build_ipv4(fr, FX_PEER_IP, FX_STACK_IP, protocol, id, field, data, len);
    fx_input(&f, 1, fr, n);
}

Test(hostile, fragment_ending_one_byte_past_65535_cve_2020_17438_is_dropped_and_counted)
{
    /* uIP wrote such a fragment past its reassembly buffer. Offset 65512 plus 4 bytes plus the
     * 20-byte header is 65536: one byte too many. 3 bytes (exactly 65535) are legal and are held. */
    uint8_t data[4] = {0};
    send_fragment(17, 9, 65512, data, 4, false);
    cr_assert_eq(fx_counter(&f, "ip.drop_frag_too_big"), 1);
    send_fragment(17, 10, 65512, data, 3, false);
    cr_assert_eq(fx_counter(&f, "ip.drop_frag_too_big"), 1, "a datagram of exactly 65535 bytes is legal");
    cr_assert_eq(f.sent_count, 0);
    still_answers_a_ping();
}

Test(hostile, fragment_inside_an_earlier_one_teardrop_drops_the_datagram)
{
    struct ts_pcb *pcb = udp_pcb(7);
    make_udp_datagram();
    send_fragment(17, 11, 0, udp_datagram, 32, true);
    send_fragment(17, 11, 8, udp_datagram + 8, 8, true); /* wholly inside the first, and shorter */
    send_fragment(17, 11, 32, udp_datagram + 32, sizeof udp_datagram - 32, false);
    cr_assert_eq(ts_pcb_next_size(pcb), -EAGAIN, "no datagram assembled from overlapping pieces");
    cr_assert_eq(fx_counter(&f, "ip.drop_frag_overlap"), 1);
    ts_pcb_close(pcb);
    cr_assert_eq(f.sent_count, 0);
    still_answers_a_ping();
}

Test(hostile, fragments_of_another_protocol_with_the_same_id_are_not_mixed_in)
{
    /* RFC 791 3.2: a datagram is identified by source, destination, protocol and identification. */
    struct ts_pcb *pcb = udp_pcb(7);
    make_udp_datagram();
    send_fragment(17, 12, 0, udp_datagram, 32, true);
    send_fragment(6, 12, 32, udp_datagram + 32, sizeof udp_datagram - 32, false);
    cr_assert_eq(ts_pcb_next_size(pcb), -EAGAIN);
    send_fragment(17, 12, 32, udp_datagram + 32, sizeof udp_datagram - 32, false);
    cr_assert_eq(ts_pcb_next_size(pcb), 48, "the UDP datagram completes with its own last fragment");
    ts_pcb_close(pcb);
    still_answers_a_ping();
}

/* ---- UDP --------------------------------------------------------------------------------------- */

Test(hostile, udp_length_beyond_the_ip_payload_is_dropped_and_counted)
{
    struct ts_pcb *pcb = udp_pcb(7);
    size_t n = fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 7, "abc", 3);
    be16_put(frame + 34 + 4, 8 + 3 + 200);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(ts_pcb_next_size(pcb), -EAGAIN);
    ts_pcb_close(pcb);
    expect_silent_drop("udp.drop_bad_length");
}

Test(hostile, udp_shorter_than_its_header_is_dropped_and_counted)
{
    uint8_t four[4] = {0x13, 0x88, 0, 7};
    size_t n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 17, 5, 0, four, sizeof four);
    fx_input(&f, 1, frame, n);
    expect_silent_drop("udp.drop_truncated");
}

Test(hostile, udp_length_zero_is_dropped_and_counted)
{
    /* Length 0 is only meaningful in IPv6 jumbograms (RFC 2675); in IPv4 it is malformed. */
    struct ts_pcb *pcb = udp_pcb(7);
    size_t n = fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 7, "abc", 3);
    be16_put(frame + 34 + 4, 0);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(ts_pcb_next_size(pcb), -EAGAIN);
    ts_pcb_close(pcb);
    expect_silent_drop("udp.drop_bad_length");
}
