/* ICMP (RFC 792, RFC 1122 3.2.2) and UDP (RFC 768, RFC 1122 4.1) in the core. */
#include <criterion/criterion.h>
#include <errno.h>
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

TestSuite(core_icmp, .init = setup, .fini = teardown);
TestSuite(core_udp, .init = setup, .fini = teardown);

static struct ts_pcb *open_pcb(enum ts_pcb_type type, uint16_t port)
{
    int err;
    struct ts_pcb *pcb = ts_pcb_open(f.st, type, &err);
    cr_assert_not_null(pcb);
    if (port != 0) {
        struct ts_sockaddr local = {0, port};
        cr_assert_eq(ts_pcb_bind(pcb, &local), 0);
    }
    return pcb;
}

Test(core_icmp, echo_reply_carries_the_request_id_sequence_and_data)
{
    size_t n = fx_build_echo_request(frame, FX_PEER_IP, FX_STACK_IP, 0x1234, 7, "payload!", 8);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(f.sent_count, 1);
    const uint8_t *ip = fx_l3(&f.sent[0]);
    cr_assert_eq(be32_get(ip + 12), FX_STACK_IP);
    cr_assert_eq(be32_get(ip + 16), FX_PEER_IP);
    const uint8_t *icmp = ip + 20;
    cr_assert_eq(icmp[0], 0);
    cr_assert_eq(be16_get(icmp + 4), 0x1234);
    cr_assert_eq(be16_get(icmp + 6), 7);
    cr_assert_arr_eq(icmp + 8, "payload!", 8);
    cr_assert_eq(csum_finish(csum_add(0, icmp, 16)), 0, "checksum verifies");
}

Test(core_icmp, echo_request_to_broadcast_is_ignored)
{
    size_t n = fx_build_echo_request(frame, FX_PEER_IP, TS_IPV4(10, 0, 0, 255), 1, 1, "x", 1);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(f.sent_count, 0);
    cr_assert_eq(fx_counter(&f, "icmp.drop_broadcast_echo"), 1);
}

Test(core_icmp, message_shorter_than_its_header_is_dropped)
{
    size_t n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 1, 1, 0, (const uint8_t *)"\x08\x00\xf7", 3);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(f.sent_count, 0);
    cr_assert_eq(fx_counter(&f, "icmp.drop_truncated"), 1);
}

Test(core_icmp, bad_checksum_is_dropped)
{
    size_t n = fx_build_echo_request(frame, FX_PEER_IP, FX_STACK_IP, 1, 1, "abcd", 4);
    frame[n - 1] ^= 1;
    fx_input(&f, 1, frame, n);
    cr_assert_eq(f.sent_count, 0);
    cr_assert_eq(fx_counter(&f, "icmp.drop_bad_checksum"), 1);
}

Test(core_icmp, ping_socket_sends_a_request_with_its_own_id_and_receives_the_reply)
{
    struct ts_pcb *ping = open_pcb(TS_PCB_ICMP_ECHO, 0);
    uint8_t req[8 + 4] = {8, 0, 0, 0, 0, 0, 0, 3, 'd', 'a', 't', 'a'};
    struct ts_sockaddr to = {FX_PEER_IP, 0};
    cr_assert_eq(ts_pcb_sendto(ping, 1, req, sizeof req, &to), (ssize_t)sizeof req);
    cr_assert_eq(f.sent_count, 1);
    const uint8_t *icmp = fx_l3(&f.sent[0]) + 20;
    struct ts_sockaddr local;
    ts_pcb_local(ping, &local);
    cr_assert_eq(be16_get(icmp + 4), local.port, "the identifier is the socket's");
    cr_assert_eq(be16_get(icmp + 6), 3);
    cr_assert_eq(csum_finish(csum_add(0, icmp, sizeof req)), 0);

    /* The peer answers. */
    static uint8_t reply[200];
    size_t n = fx_build_echo_request(reply, FX_PEER_IP, FX_STACK_IP, local.port, 3, "data", 4);
    reply[34] = 0; /* type echo reply */
    be16_put(reply + 36, 0);
    be16_put(reply + 36, csum_finish(csum_add(0, reply + 34, 12)));
    fx_input(&f, 2, reply, n);
    uint8_t got[64];
    struct ts_sockaddr from;
    cr_assert_eq(ts_pcb_recvfrom(ping, got, sizeof got, &from, false, NULL), 12);
    cr_assert_eq(from.addr, FX_PEER_IP);
    cr_assert_eq(got[0], 0);
    cr_assert_arr_eq(got + 8, "data", 4);
    ts_pcb_close(ping);
}

Test(core_icmp, errors_are_rate_limited)
{
    struct ts_stack_config cfg;
    fx_fini(&f);
    fx_default_config(&cfg);
    cfg.limits.icmp_error_burst = 3;
    cfg.limits.icmp_errors_per_sec = 1;
    fx_init(&f, &cfg);
    fx_learn_peer(&f, 0);
    for (int i = 0; i < 10; i++) {
        size_t n = fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 9, "x", 1);
        fx_input(&f, 10, frame, n);
    }
    cr_assert_eq(f.sent_count, 3);
    cr_assert_eq(fx_counter(&f, "icmp.tx_errors_rate_limited"), 7);
    size_t n = fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 9, "x", 1);
    fx_input(&f, TS_SEC(1) + 10, frame, n);
    cr_assert_eq(f.sent_count, 4, "a token comes back after a second");
}

Test(core_icmp, source_quench_is_ignored)
{
    uint8_t body[8 + 28] = {4, 0};
    size_t n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 1, 1, 0, body, sizeof body);
    be16_put(frame + 34 + 2, csum_finish(csum_add(0, frame + 34, sizeof body)));
    fx_input(&f, 1, frame, n);
    cr_assert_eq(fx_counter(&f, "icmp.drop_source_quench"), 1);
}

Test(core_udp, datagram_to_a_closed_port_gets_port_unreachable_quoting_what_arrived)
{
    size_t n = fx_build_udp(frame, FX_PEER_IP, 5000, FX_STACK_IP, 9, "hello", 5);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(fx_counter(&f, "udp.drop_no_socket"), 1);
    cr_assert_eq(f.sent_count, 1);
    const uint8_t *ip = fx_l3(&f.sent[0]);
    const uint8_t *icmp = ip + 20;
    cr_assert_eq(icmp[0], 3);
    cr_assert_eq(icmp[1], 3);
    size_t icmp_len = be16_get(ip + 2) - 20u;
    cr_assert_eq(icmp_len, 8 + 20 + 8 + 5, "the whole short datagram, no more");
    cr_assert_arr_eq(icmp + 8, frame + 14, 20 + 8 + 5);
    cr_assert_eq(csum_finish(csum_add(0, icmp, icmp_len)), 0);
}

Test(core_udp, datagram_to_a_broadcast_closed_port_gets_no_error)
{
    size_t n = fx_build_udp(frame, FX_PEER_IP, 5000, 0xffffffffu, 9, "x", 1);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(f.sent_count, 0);
}

Test(core_udp, connected_socket_learns_econnrefused_from_port_unreachable)
{
    struct ts_pcb *pcb = open_pcb(TS_PCB_UDP, 4000);
    struct ts_sockaddr peer = {FX_PEER_IP, 9};
    cr_assert_eq(ts_pcb_connect(pcb, 0, &peer), 0);
    cr_assert_eq(ts_pcb_sendto(pcb, 1, "hi", 2, NULL), 2);
    cr_assert_eq(f.sent_count, 1);
    /* The peer quotes our datagram back in a port unreachable. */
    const struct fx_frame *sent = &f.sent[0];
    static uint8_t err_body[8 + 64];
    size_t quote = fx_l3_len(sent);
    memset(err_body, 0, 8);
    err_body[0] = 3;
    err_body[1] = 3;
    memcpy(err_body + 8, fx_l3(sent), quote);
    be16_put(err_body + 2, csum_finish(csum_add(0, err_body, 8 + quote)));
    size_t n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 1, 2, 0, err_body, 8 + quote);
    fx_input(&f, 2, frame, n);
    cr_assert_eq(ts_pcb_events(pcb) & TS_EV_ERROR, TS_EV_ERROR);
    cr_assert_eq(ts_pcb_take_error(pcb), ECONNREFUSED);
    cr_assert_eq(ts_pcb_take_error(pcb), 0, "reading the error clears it");
    ts_pcb_close(pcb);
}

Test(core_udp, icmp_error_quoting_too_little_is_dropped_without_reading_past_it)
{
    uint8_t body[8 + 20 + 4] = {3, 3};
    body[8] = 0x45;
    size_t n = fx_build_ipv4(frame, FX_PEER_IP, FX_STACK_IP, 1, 2, 0, body, sizeof body);
    be16_put(frame + 34 + 2, csum_finish(csum_add(0, frame + 34, sizeof body)));
    fx_input(&f, 1, frame, n);
    cr_assert_eq(fx_counter(&f, "icmp.drop_error_quote_truncated"), 1);
}

Test(core_udp, received_datagram_is_queued_with_its_source)
{
    struct ts_pcb *pcb = open_pcb(TS_PCB_UDP, 7);
    size_t n = fx_build_udp(frame, FX_PEER_IP, 5555, FX_STACK_IP, 7, "abc", 3);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(ts_pcb_events(pcb) & TS_EV_READABLE, TS_EV_READABLE);
    char buf[2];
    struct ts_sockaddr from;
    bool truncated = false;
    cr_assert_eq(ts_pcb_recvfrom(pcb, buf, sizeof buf, &from, true, &truncated), 3, "peek reports the full length");
    cr_assert(truncated);
    cr_assert_eq(ts_pcb_recvfrom(pcb, buf, sizeof buf, &from, false, &truncated), 3);
    cr_assert_eq(from.addr, FX_PEER_IP);
    cr_assert_eq(from.port, 5555);
    cr_assert_eq(ts_pcb_recvfrom(pcb, buf, sizeof buf, &from, false, NULL), -EAGAIN);
    ts_pcb_close(pcb);
}

Test(core_udp, bad_checksum_and_bad_length_are_dropped_with_their_reasons)
{
    struct ts_pcb *pcb = open_pcb(TS_PCB_UDP, 7);
    size_t n = fx_build_udp(frame, FX_PEER_IP, 5555, FX_STACK_IP, 7, "abc", 3);
    frame[n - 1] ^= 1;
    fx_input(&f, 1, frame, n);
    n = fx_build_udp(frame, FX_PEER_IP, 5555, FX_STACK_IP, 7, "abc", 3);
    be16_put(frame + 34 + 4, 7);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(fx_counter(&f, "udp.drop_bad_checksum"), 1);
    cr_assert_eq(fx_counter(&f, "udp.drop_bad_length"), 1);
    cr_assert_eq(ts_pcb_next_size(pcb), -EAGAIN);
    ts_pcb_close(pcb);
}

Test(core_udp, full_receive_buffer_drops_and_counts)
{
    struct ts_pcb *pcb = open_pcb(TS_PCB_UDP, 7);
    cr_assert_eq(ts_pcb_setopt(pcb, TS_OPT_RCVBUF, 2048), 0);
    static uint8_t data[1000];
    for (int i = 0; i < 3; i++) {
        size_t n = fx_build_udp(frame, FX_PEER_IP, 5555, FX_STACK_IP, 7, data, sizeof data);
        fx_input(&f, 1, frame, n);
    }
    cr_assert_eq(fx_counter(&f, "udp.drop_rcvbuf_full"), 2, "a 1000-byte datagram holds a 2 KiB buffer: one fits in 2048");
    cr_assert_eq(ts_pcb_next_size(pcb), 1000);
    ts_pcb_close(pcb);
}

Test(core_udp, a_flood_of_empty_datagrams_holds_no_more_memory_than_the_receive_buffer)
{
    struct ts_pcb *pcb = open_pcb(TS_PCB_UDP, 7);
    int rcvbuf = 0;
    cr_assert_eq(ts_pcb_getopt(pcb, TS_OPT_RCVBUF, &rcvbuf), 0);
    size_t before = ts_stack_memory_in_use(f.st);
    for (int i = 0; i < 2000; i++) {
        size_t n = fx_build_udp(frame, FX_PEER_IP, 5555, FX_STACK_IP, 7, "", 0);
        fx_input(&f, 1, frame, n);
    }
    struct ts_stack_usage u;
    ts_stack_get_usage(f.st, &u);
    cr_assert_leq(u.udp_queued_bytes, (size_t)rcvbuf, "charged within SO_RCVBUF");
    cr_assert_gt(fx_counter(&f, "udp.drop_rcvbuf_full"), 1000, "most of the flood is dropped");
    /* Each queued datagram's buffer is charged whole: the queue's memory stays within the buffer size. */
    size_t grown = ts_stack_memory_in_use(f.st) - before;
    cr_assert_leq(grown, (size_t)rcvbuf + 4096, "%zu bytes held for a %d-byte receive buffer", grown, rcvbuf);
    ts_pcb_close(pcb);
}

Test(core_udp, binding_a_taken_port_fails_unless_both_reuse)
{
    struct ts_pcb *a = open_pcb(TS_PCB_UDP, 7);
    int err;
    struct ts_pcb *b = ts_pcb_open(f.st, TS_PCB_UDP, &err);
    struct ts_sockaddr local = {0, 7};
    cr_assert_eq(ts_pcb_bind(b, &local), -EADDRINUSE);
    ts_pcb_close(a);
    a = ts_pcb_open(f.st, TS_PCB_UDP, &err);
    ts_pcb_setopt(a, TS_OPT_REUSEADDR, 1);
    ts_pcb_setopt(b, TS_OPT_REUSEADDR, 1);
    cr_assert_eq(ts_pcb_bind(a, &local), 0);
    cr_assert_eq(ts_pcb_bind(b, &local), 0);
    struct ts_sockaddr foreign = {TS_IPV4(10, 0, 0, 99), 8};
    cr_assert_eq(ts_pcb_bind(ts_pcb_open(f.st, TS_PCB_UDP, &err), &foreign), -EADDRNOTAVAIL);
    ts_pcb_close(a);
    ts_pcb_close(b);
}

Test(core_udp, ephemeral_ports_are_random_in_range_and_repeat_with_the_seed)
{
    uint16_t first[8], again[8];
    for (int round = 0; round < 2; round++) {
        fx_fini(&f);
        fx_init(&f, NULL);
        for (int i = 0; i < 8; i++) {
            int err;
            struct ts_pcb *pcb = ts_pcb_open(f.st, TS_PCB_UDP, &err);
            struct ts_sockaddr any = {0, 0};
            cr_assert_eq(ts_pcb_bind(pcb, &any), 0);
            struct ts_sockaddr local;
            ts_pcb_local(pcb, &local);
            cr_assert_geq(local.port, 32768);
            cr_assert_leq(local.port, 60999);
            (round == 0 ? first : again)[i] = local.port;
        }
    }
    cr_assert_arr_eq(first, again, sizeof first, "the same seed gives the same ports");
    int sequential = 0;
    for (int i = 1; i < 8; i++)
        sequential += first[i] == first[i - 1] + 1;
    cr_assert_lt(sequential, 7, "ports do not simply count up");
}

Test(core_udp, broadcast_needs_so_broadcast)
{
    struct ts_pcb *pcb = open_pcb(TS_PCB_UDP, 4000);
    struct ts_sockaddr to = {TS_IPV4(10, 0, 0, 255), 9};
    cr_assert_eq(ts_pcb_sendto(pcb, 1, "x", 1, &to), -EACCES);
    cr_assert_eq(ts_pcb_setopt(pcb, TS_OPT_BROADCAST, 1), 0);
    cr_assert_eq(ts_pcb_sendto(pcb, 1, "x", 1, &to), 1);
    cr_assert_eq(f.sent_count, 1);
    cr_assert_arr_eq(f.sent[0].data, "\xff\xff\xff\xff\xff\xff", 6, "broadcast needs no ARP");
    ts_pcb_close(pcb);
}

Test(core_udp, unconnected_send_without_destination_fails)
{
    struct ts_pcb *pcb = open_pcb(TS_PCB_UDP, 0);
    cr_assert_eq(ts_pcb_sendto(pcb, 1, "x", 1, NULL), -EDESTADDRREQ);
    ts_pcb_close(pcb);
}

Test(core_udp, off_link_destination_without_gateway_is_unreachable)
{
    struct ts_stack_config cfg;
    fx_fini(&f);
    fx_default_config(&cfg);
    cfg.gateway = 0;
    fx_init(&f, &cfg);
    struct ts_pcb *pcb = open_pcb(TS_PCB_UDP, 0);
    struct ts_sockaddr to = {TS_IPV4(192, 0, 2, 1), 9};
    cr_assert_eq(ts_pcb_sendto(pcb, 1, "x", 1, &to), -ENETUNREACH);
    ts_pcb_close(pcb);
}

Test(core_udp, peek_info_reports_the_next_datagram_ttl_and_source)
{
    struct ts_pcb *pcb = open_pcb(TS_PCB_UDP, 7);
    struct ts_dgram_info info;
    cr_assert_eq(ts_pcb_peek_info(pcb, &info), -EAGAIN);
    size_t n = fx_build_udp(frame, FX_PEER_IP, 5555, FX_STACK_IP, 7, "abc", 3);
    frame[14 + 8] = 17; /* TTL */
    fx_fix_ipv4_checksum(frame);
    fx_input(&f, 1, frame, n);
    cr_assert_eq(ts_pcb_peek_info(pcb, &info), 0);
    cr_assert_eq(info.ttl, 17);
    cr_assert_eq(info.len, 3);
    cr_assert_eq(info.from.addr, FX_PEER_IP);
    cr_assert_eq(info.from.port, 5555);
    ts_pcb_close(pcb);
}
