/*
 * RFC 1122 requirements (MUST) for IPv4 (3.2.1, 3.3), ICMP (3.2.2) and UDP (4.1) that no other
 * test checked, on one stack with a recording link (tests/support/core_fixture.h). Test names
 * carry the RFC 1122 section; docs/conformance.md maps every requirement to its test or says why
 * it does not apply.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "core_fixture.h"
#include "wire/checksum.h"

static struct fx f;
static bool started;
static uint8_t frame[4096];

static void start(const struct ts_stack_config *cfg)
{
    fx_init(&f, cfg);
    fx_learn_peer(&f, 0);
    started = true;
}

static void teardown(void)
{
    if (started)
        fx_fini(&f);
    started = false;
}

TestSuite(conformance_ip, .fini = teardown);

static struct ts_pcb *udp_bound(uint16_t port)
{
    int err;
    struct ts_pcb *pcb = ts_pcb_open(f.st, TS_PCB_UDP, &err);
    cr_assert_not_null(pcb);
    struct ts_sockaddr local = {0, port};
    cr_assert_eq(ts_pcb_bind(pcb, &local), 0);
    return pcb;
}

static uint8_t *ip_hdr(uint8_t *buf)
{
    return buf + 14;
}

/* Inserts IPv4 options after the 20-byte header of a built frame; returns the new length. */
static size_t insert_ip_options(uint8_t *buf, size_t len, const uint8_t *opt, size_t opt_len)
{
    uint8_t *ip = ip_hdr(buf);
    memmove(ip + 20 + opt_len, ip + 20, len - 14 - 20);
    memcpy(ip + 20, opt, opt_len);
    ip[0] = (uint8_t)(0x40 | ((20 + opt_len) / 4));
    be16_put(ip + 2, (uint16_t)(be16_get(ip + 2) + opt_len));
    fx_fix_ipv4_checksum(buf);
    return len + opt_len;
}

/* ---- 3.2.1.1 version, 3.2.1.3 addressing ----------------------------------------------------------- */

Test(conformance_ip, rfc1122_3_2_1_1_a_datagram_whose_version_is_not_4_is_silently_discarded)
{
    start(NULL);
    struct ts_pcb *pcb = udp_bound(7);
    for (uint8_t version = 0; version < 16; version++) {
        if (version == 4)
            continue;
        size_t n = fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 7, "v", 1);
        ip_hdr(frame)[0] = (uint8_t)((version << 4) | 5);
        fx_fix_ipv4_checksum(frame);
        fx_input(&f, 1, frame, n);
    }
    cr_assert_eq(f.sent_count, 0, "silently: no ICMP error either");
    cr_assert_eq(fx_counter(&f, "ip.drop_bad_version"), 15);
    cr_assert_eq(ts_pcb_next_size(pcb), -EAGAIN);
    ts_pcb_close(pcb);
}

Test(conformance_ip, rfc1122_3_2_1_3_a_datagram_from_an_invalid_source_address_is_silently_discarded)
{
    start(NULL);
    struct ts_pcb *pcb = udp_bound(7);
    const ts_ipv4_addr bad[] = {TS_IPV4(255, 255, 255, 255), TS_IPV4(10, 0, 0, 255), TS_IPV4(224, 0, 0, 9),
                                TS_IPV4(240, 0, 0, 1), TS_IPV4(127, 0, 0, 1)};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = fx_build_udp(frame, bad[i], 5000, FX_STACK_IP, 7, "s", 1);
        fx_input(&f, 1, frame, n);
        n = fx_build_udp(frame, bad[i], 5000, FX_STACK_IP, 9, "s", 1); /* a closed port: no error either */
        fx_input(&f, 1, frame, n);
        n = fx_build_echo_request(frame, bad[i], FX_STACK_IP, 1, 1, "p", 1);
        fx_input(&f, 1, frame, n);
    }
    cr_assert_eq(f.sent_count, 0);
    cr_assert_eq(fx_counter(&f, "ip.drop_bad_source"), 15);
    cr_assert_eq(ts_pcb_next_size(pcb), -EAGAIN);
    ts_pcb_close(pcb);
}

Test(conformance_ip, rfc1122_3_2_1_3_and_3_3_6_what_we_send_has_our_source_and_only_ip_broadcasts_go_to_link_broadcast)
{
    start(NULL);
    struct ts_pcb *pcb = udp_bound(4000);
    cr_assert_eq(ts_pcb_setopt(pcb, TS_OPT_BROADCAST, 1), 0);
    struct ts_sockaddr to[] = {{FX_PEER_IP, 9}, {TS_IPV4(10, 0, 0, 255), 9}, {TS_IPV4(255, 255, 255, 255), 9}};
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(ts_pcb_sendto(pcb, 1, "b", 1, &to[i]), 1);
    size_t n = fx_build_echo_request(frame, FX_PEER_IP, FX_STACK_IP, 1, 1, "p", 1);
    fx_input(&f, 1, frame, n);
    n = fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 9, "closed", 6);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(f.sent_count, 5);
    for (size_t i = 0; i < f.sent_count; i++) {
        const uint8_t *ip = fx_l3(&f.sent[i]);
        cr_assert_eq(be32_get(ip + 12), FX_STACK_IP, "frame %zu: our own address as source", i);
        bool link_broadcast = memcmp(f.sent[i].data, "\xff\xff\xff\xff\xff\xff", 6) == 0;
        bool ip_broadcast = be32_get(ip + 16) == TS_IPV4(10, 0, 0, 255) || be32_get(ip + 16) == 0xffffffffu;
        cr_assert_eq(link_broadcast, ip_broadcast, "frame %zu: link broadcast only for an IP broadcast", i);
    }
    ts_pcb_close(pcb);
}

/* ---- 3.2.1.7 time to live ---------------------------------------------------------------------------- */

Test(conformance_ip, rfc1122_3_2_1_7_a_datagram_arriving_with_ttl_0_or_1_is_still_delivered)
{
    start(NULL);
    struct ts_pcb *pcb = udp_bound(7);
    for (uint8_t ttl = 0; ttl < 2; ttl++) {
        size_t n = fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 7, "t", 1);
        ip_hdr(frame)[8] = ttl;
        fx_fix_ipv4_checksum(frame);
        fx_input(&f, 1, frame, n);
        struct ts_dgram_info info;
        cr_assert_eq(ts_pcb_peek_info(pcb, &info), 0, "TTL %u: delivered", ttl);
        cr_assert_eq(info.ttl, ttl);
        char buf[4];
        cr_assert_eq(ts_pcb_recvfrom(pcb, buf, sizeof buf, NULL, false, NULL), 1);
    }
    ts_pcb_close(pcb);
}

Test(conformance_ip, rfc1122_3_2_1_7_the_ttl_is_configurable_for_the_stack_and_each_socket_and_never_0)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    cfg.default_ttl = 33;
    start(&cfg);
    size_t n = fx_build_echo_request(frame, FX_PEER_IP, FX_STACK_IP, 1, 1, "p", 1);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(fx_l3(&f.sent[0])[8], 33, "the echo reply has the configured TTL");
    struct ts_pcb *pcb = udp_bound(4000);
    struct ts_sockaddr to = {FX_PEER_IP, 9};
    cr_assert_eq(ts_pcb_sendto(pcb, 1, "u", 1, &to), 1);
    cr_assert_eq(fx_l3(&f.sent[1])[8], 33);
    cr_assert_eq(ts_pcb_setopt(pcb, TS_OPT_TTL, 200), 0);
    cr_assert_eq(ts_pcb_sendto(pcb, 1, "u", 1, &to), 1);
    cr_assert_eq(fx_l3(&f.sent[2])[8], 200, "the socket's own TTL");
    cr_assert_eq(ts_pcb_setopt(pcb, TS_OPT_TTL, 0), -EINVAL, "TTL 0 is never sent");
    cr_assert_eq(ts_pcb_setopt(pcb, TS_OPT_TTL, 256), -EINVAL);
    ts_pcb_close(pcb);
    teardown();
    /* A configured TTL of 0 falls back to the default instead of being sent. */
    cfg.default_ttl = 0;
    start(&cfg);
    n = fx_build_echo_request(frame, FX_PEER_IP, FX_STACK_IP, 1, 1, "p", 1);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(fx_l3(&f.sent[0])[8], 64);
}

/* ---- 3.2.1.8 options ----------------------------------------------------------------------------------- */

Test(conformance_ip, rfc1122_3_2_1_8_unknown_options_and_the_stream_identifier_are_ignored)
{
    start(NULL);
    struct ts_pcb *pcb = udp_bound(7);
    /* Stream identifier (136), an unassigned option (0x9e), record route with one empty slot, NOP, EOL. */
    static const uint8_t opt[] = {136, 4, 0x12, 0x34, 0x9e, 4, 0xaa, 0xbb, 7, 7, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    size_t n = fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 7, "opts", 4);
    n = insert_ip_options(frame, n, opt, sizeof opt);
    fx_input(&f, 1, frame, n);
    char buf[8];
    cr_assert_eq(ts_pcb_recvfrom(pcb, buf, sizeof buf, NULL, false, NULL), 4);
    cr_assert_arr_eq(buf, "opts", 4);
    /* An echo request with the same options is answered. */
    n = fx_build_echo_request(frame, FX_PEER_IP, FX_STACK_IP, 1, 1, "p", 1);
    n = insert_ip_options(frame, n, opt, sizeof opt);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(f.sent_count, 1);
    cr_assert_eq(fx_l3(&f.sent[0])[20], 0, "echo reply");
    cr_assert_eq(fx_counter(&f, "ip.drop_bad_options"), 0);
    ts_pcb_close(pcb);
}

/* ---- 3.2.2 ICMP --------------------------------------------------------------------------------------- */

static size_t icmp_message(uint8_t *buf, uint8_t type, uint8_t code, const uint8_t *body, size_t body_len)
{
    uint8_t msg[8 + 64] = {type, code};
    cr_assert_leq(body_len, 64);
    memcpy(msg + 8, body, body_len);
    be16_put(msg + 2, csum_finish(csum_add(0, msg, 8 + body_len)));
    return fx_build_ipv4(buf, FX_PEER_IP, FX_STACK_IP, 1, 5, 0, msg, 8 + body_len);
}

Test(conformance_ip, rfc1122_3_2_2_an_icmp_message_of_unknown_type_is_silently_discarded)
{
    start(NULL);
    /* Unassigned types, and timestamp, information and address mask requests we do not implement. */
    const uint8_t types[] = {1, 2, 7, 13, 15, 17, 42, 200, 255};
    static const uint8_t body[8] = {0};
    for (size_t i = 0; i < sizeof types; i++) {
        size_t n = icmp_message(frame, types[i], 0, body, sizeof body);
        fx_input(&f, 1, frame, n);
    }
    cr_assert_eq(f.sent_count, 0, "no answer, no error");
    cr_assert_eq(fx_counter(&f, "icmp.drop_unknown_type"), sizeof types);
}

/* A connected UDP socket that sent one datagram, and the error a router returns about it. */
static int udp_error_from(uint8_t type, uint8_t code)
{
    int err;
    struct ts_pcb *pcb = ts_pcb_open(f.st, TS_PCB_UDP, &err);
    struct ts_sockaddr peer = {FX_PEER_IP, 9};
    cr_assert_eq(ts_pcb_connect(pcb, 0, &peer), 0);
    size_t before = f.sent_count;
    cr_assert_eq(ts_pcb_sendto(pcb, 1, "hi", 2, NULL), 2);
    cr_assert_eq(f.sent_count, before + 1);
    const struct fx_frame *sent = &f.sent[before];
    size_t n = icmp_message(frame, type, code, fx_l3(sent), fx_l3_len(sent) < 64 ? fx_l3_len(sent) : 64);
    fx_input(&f, 2, frame, n);
    int got = ts_pcb_take_error(pcb);
    ts_pcb_close(pcb);
    return got;
}

Test(conformance_ip, rfc1122_3_2_2_1_4_5_unreachable_time_exceeded_and_parameter_problem_reach_the_socket)
{
    start(NULL);
    cr_assert_eq(udp_error_from(3, 1), EHOSTUNREACH, "destination (host) unreachable");
    cr_assert_eq(udp_error_from(3, 0), ENETUNREACH, "destination (net) unreachable");
    cr_assert_eq(udp_error_from(11, 0), EHOSTUNREACH, "time exceeded in transit");
    cr_assert_eq(udp_error_from(12, 0), EPROTO, "parameter problem");
}

Test(conformance_ip, rfc1122_3_2_2_no_icmp_error_about_a_source_that_is_not_one_host_or_a_link_broadcast)
{
    start(NULL);
    /* From 0.0.0.0 ("this host", only a source while booting) to a closed port. */
    size_t n = fx_build_udp(frame, 0, 68, FX_STACK_IP, 9, "zero", 4);
    fx_input(&f, 1, frame, n);
    /* To our own address, but sent as a link-layer broadcast. */
    n = fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 9, "bcast", 5);
    memset(frame, 0xff, 6);
    fx_input(&f, 1, frame, n);
    /* An unknown protocol in a link-layer broadcast: no protocol unreachable either. */
    n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 253, 9, 0, (const uint8_t *)"x", 1);
    memset(frame, 0xff, 6);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(f.sent_count, 0);
    /* The same datagrams, unicast from a real host, are answered (3.3.8: errors when not prohibited). */
    n = fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 9, "unicast", 7);
    fx_input(&f, 1, frame, n);
    n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 253, 9, 0, (const uint8_t *)"x", 1);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(f.sent_count, 2);
    cr_assert_eq(fx_l3(&f.sent[0])[20], 3);
    cr_assert_eq(fx_l3(&f.sent[0])[21], 3, "port unreachable");
    cr_assert_eq(fx_l3(&f.sent[1])[21], 2, "protocol unreachable");
}

Test(conformance_ip, rfc1122_3_2_2_no_icmp_error_about_an_icmp_error_even_at_a_reassembly_timeout)
{
    start(NULL);
    /* The first fragment of a destination unreachable (an ICMP error), never completed. */
    uint8_t err_msg[16] = {3, 1};
    size_t n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 1, 0x4444, 0x2000, err_msg, sizeof err_msg);
    fx_input(&f, 1, frame, n);
    /* The first fragment of an echo request, never completed. */
    uint8_t echo[16] = {8, 0};
    n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 1, 0x5555, 0x2000, echo, sizeof echo);
    fx_input(&f, 1, frame, n);
    ts_stack_poll(f.st, 1 + f.cfg.timing.reasm_timeout);
    cr_assert_eq(fx_counter(&f, "ip.drop_frag_timeout"), 2);
    cr_assert_eq(f.sent_count, 1, "time exceeded about the echo request only");
    const uint8_t *ip = fx_l3(&f.sent[0]);
    cr_assert_eq(ip[20], 11);
    cr_assert_eq(be16_get(ip + 20 + 8 + 4), 0x5555, "it quotes the echo request's fragment");
}

/* ---- 3.3.6 broadcasts --------------------------------------------------------------------------------- */

Test(conformance_ip, rfc1122_3_3_6_limited_and_subnet_directed_broadcasts_are_received)
{
    start(NULL);
    struct ts_pcb *pcb = udp_bound(7);
    const ts_ipv4_addr dsts[] = {TS_IPV4(255, 255, 255, 255), TS_IPV4(10, 0, 0, 255)};
    for (size_t i = 0; i < 2; i++) {
        size_t n = fx_build_udp(frame, FX_PEER_IP, 5000, dsts[i], 7, "all", 3);
        memset(frame, 0xff, 6);
        fx_input(&f, 1, frame, n);
        char buf[4];
        cr_assert_eq(ts_pcb_recvfrom(pcb, buf, sizeof buf, NULL, false, NULL), 3, "broadcast form %zu", i);
    }
    cr_assert_eq(f.sent_count, 0);
    ts_pcb_close(pcb);
}

/* ---- 4.1.3.4 UDP checksums ---------------------------------------------------------------------------- */

Test(conformance_ip, rfc1122_4_1_3_4_udp_checksums_are_generated_by_default_and_bad_ones_silently_discarded)
{
    start(NULL);
    struct ts_pcb *pcb = udp_bound(4000);
    struct ts_sockaddr to = {FX_PEER_IP, 9};
    cr_assert_eq(ts_pcb_sendto(pcb, 1, "sum me", 6, &to), 6);
    const uint8_t *ip = fx_l3(&f.sent[0]);
    const uint8_t *udp = ip + 20;
    size_t len = be16_get(udp + 4);
    cr_assert_neq(be16_get(udp + 6), 0, "a checksum is there");
    uint32_t sum = csum_pseudo_ipv4(FX_STACK_IP, FX_PEER_IP, 17, (uint16_t)len);
    cr_assert_eq(csum_finish(csum_add(sum, udp, len)), 0, "and it verifies");
    /* A bad checksum, to a bound port and to a closed one: dropped, and silently (no port unreachable). */
    size_t n = fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 4000, "abc", 3);
    frame[n - 1] ^= 1;
    fx_input(&f, 1, frame, n);
    n = fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 9, "abc", 3);
    frame[n - 1] ^= 1;
    fx_input(&f, 1, frame, n);
    cr_assert_eq(f.sent_count, 1);
    cr_assert_eq(fx_counter(&f, "udp.drop_bad_checksum"), 2);
    cr_assert_eq(ts_pcb_next_size(pcb), -EAGAIN);
    ts_pcb_close(pcb);
}
