/* ARP (RFC 826, RFC 1122 2.3.2) as the core implements it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "core_fixture.h"
#include "wire/checksum.h"

static struct fx f;
static uint8_t frame[2048];
static const uint8_t zero_mac[6];

static void setup(void) { fx_init(&f, NULL); }
static void teardown(void) { fx_fini(&f); }

TestSuite(core_arp, .init = setup, .fini = teardown);

static const uint8_t *arp_of(size_t i)
{
    cr_assert_lt(i, f.sent_count);
    cr_assert_eq(fx_ethertype(&f.sent[i]), 0x0806);
    return fx_l3(&f.sent[i]);
}

Test(core_arp, first_poll_announces_our_address_once)
{
    ts_stack_poll(f.st, 0);
    ts_stack_poll(f.st, 10);
    cr_assert_eq(f.sent_count, 1);
    const uint8_t *a = arp_of(0);
    cr_assert_eq(be16_get(a + 6), 1, "an announcement is a request (RFC 5227 2.3)");
    cr_assert_eq(be32_get(a + 14), FX_STACK_IP);
    cr_assert_eq(be32_get(a + 24), FX_STACK_IP);
    cr_assert_arr_eq(f.sent[0].data, "\xff\xff\xff\xff\xff\xff", 6);
}

Test(core_arp, request_for_our_address_gets_a_reply_to_the_asker)
{
    size_t n = fx_build_arp(frame, 1, fx_peer_mac, FX_PEER_IP, zero_mac, FX_STACK_IP, (const uint8_t *)"\xff\xff\xff\xff\xff\xff");
    fx_input(&f, 100, frame, n);
    cr_assert_eq(f.sent_count, 1);
    const uint8_t *a = arp_of(0);
    cr_assert_eq(be16_get(a + 6), 2);
    cr_assert_arr_eq(a + 8, fx_stack_mac, 6);
    cr_assert_eq(be32_get(a + 14), FX_STACK_IP);
    cr_assert_arr_eq(a + 18, fx_peer_mac, 6);
    cr_assert_eq(be32_get(a + 24), FX_PEER_IP);
    cr_assert_arr_eq(f.sent[0].data, fx_peer_mac, 6, "the reply is unicast to the asker");
    cr_assert_eq(fx_counter(&f, "arp.tx_replies"), 1);
}

Test(core_arp, request_teaches_us_the_sender_so_a_ping_reply_needs_no_resolution)
{
    size_t n = fx_build_arp(frame, 1, fx_peer_mac, FX_PEER_IP, zero_mac, FX_STACK_IP, (const uint8_t *)"\xff\xff\xff\xff\xff\xff");
    fx_input(&f, 100, frame, n);
    fx_clear_sent(&f);
    n = fx_build_echo_request(frame, FX_PEER_IP, FX_STACK_IP, 1, 1, "abc", 3);
    fx_input(&f, 200, frame, n);
    cr_assert_eq(f.sent_count, 1);
    cr_assert_eq(fx_ethertype(&f.sent[0]), 0x0800, "the echo reply goes out at once, no ARP request first");
}

Test(core_arp, request_for_another_address_is_not_answered)
{
    size_t n = fx_build_arp(frame, 1, fx_peer_mac, FX_PEER_IP, zero_mac, TS_IPV4(10, 0, 0, 9), (const uint8_t *)"\xff\xff\xff\xff\xff\xff");
    fx_input(&f, 100, frame, n);
    cr_assert_eq(f.sent_count, 0);
    cr_assert_eq(fx_counter(&f, "arp.drop_not_for_us"), 1);
}

Test(core_arp, someone_claiming_our_address_is_counted_as_a_conflict_and_not_learned)
{
    const uint8_t intruder[6] = {2, 9, 9, 9, 9, 9};
    size_t n = fx_build_arp(frame, 2, intruder, FX_STACK_IP, zero_mac, FX_STACK_IP, (const uint8_t *)"\xff\xff\xff\xff\xff\xff");
    fx_input(&f, 100, frame, n);
    cr_assert_eq(f.sent_count, 0);
    cr_assert_eq(fx_counter(&f, "arp.drop_address_conflict"), 1);
}

Test(core_arp, truncated_and_foreign_packets_are_dropped_with_their_reason)
{
    size_t n = fx_build_arp(frame, 1, fx_peer_mac, FX_PEER_IP, zero_mac, FX_STACK_IP, (const uint8_t *)"\xff\xff\xff\xff\xff\xff");
    fx_input(&f, 100, frame, n - 1);
    frame[14 + 1] = 6; /* hardware type 6 */
    fx_input(&f, 100, frame, n);
    cr_assert_eq(f.sent_count, 0);
    cr_assert_eq(fx_counter(&f, "arp.drop_truncated"), 1);
    cr_assert_eq(fx_counter(&f, "arp.drop_unsupported"), 1);
}

static struct ts_pcb *udp_pcb(void)
{
    int err;
    struct ts_pcb *pcb = ts_pcb_open(f.st, TS_PCB_UDP, &err);
    cr_assert_not_null(pcb);
    return pcb;
}

Test(core_arp, datagram_waits_for_resolution_and_leaves_when_the_reply_comes)
{
    struct ts_pcb *pcb = udp_pcb();
    struct ts_sockaddr to = {FX_PEER_IP, 9};
    cr_assert_eq(ts_pcb_sendto(pcb, 1000, "x", 1, &to), 1);
    cr_assert_eq(f.sent_count, 1);
    cr_assert_eq(be16_get(arp_of(0) + 6), 1, "a request goes out first");
    cr_assert_eq(be32_get(arp_of(0) + 24), FX_PEER_IP);
    size_t n = fx_build_arp(frame, 2, fx_peer_mac, FX_PEER_IP, fx_stack_mac, FX_STACK_IP, fx_stack_mac);
    fx_input(&f, 2000, frame, n);
    cr_assert_eq(f.sent_count, 2);
    cr_assert_eq(fx_ethertype(&f.sent[1]), 0x0800);
    cr_assert_arr_eq(f.sent[1].data, fx_peer_mac, 6);
    cr_assert_eq(fx_counter(&f, "arp.resolved"), 1);
    ts_pcb_close(pcb);
}

Test(core_arp, unanswered_requests_are_retried_then_the_sender_gets_ehostunreach)
{
    struct ts_pcb *pcb = udp_pcb();
    struct ts_sockaddr to = {TS_IPV4(10, 0, 0, 77), 9};
    cr_assert_eq(ts_pcb_sendto(pcb, 0, "x", 1, &to), 1);
    ts_time t = 0;
    for (int i = 0; i < 10; i++) {
        ts_time next = ts_stack_next_deadline(f.st);
        if (next == TS_TIME_NEVER)
            break;
        t = next;
        ts_stack_poll(f.st, t);
    }
    size_t requests = 0;
    for (size_t i = 0; i < f.sent_count; i++)
        if (fx_ethertype(&f.sent[i]) == 0x0806 && be16_get(fx_l3(&f.sent[i]) + 6) == 1 &&
            be32_get(fx_l3(&f.sent[i]) + 24) == to.addr)
            requests++;
    cr_assert_eq(requests, 3, "arp_max_retries requests, one a second");
    cr_assert_eq(t, TS_SEC(3), "gives up one interval after the last request");
    cr_assert_eq(fx_counter(&f, "arp.failed"), 1);
    cr_assert_eq(fx_counter(&f, "arp.drop_unresolved"), 1);
    cr_assert_eq(ts_pcb_events(pcb) & TS_EV_ERROR, TS_EV_ERROR);
    char buf[4];
    cr_assert_eq(ts_pcb_recvfrom(pcb, buf, sizeof buf, NULL, false, NULL), -EHOSTUNREACH);
    ts_pcb_close(pcb);
}

Test(core_arp, resolution_queue_is_bounded)
{
    struct ts_stack_config cfg;
    fx_fini(&f);
    fx_default_config(&cfg);
    cfg.limits.arp_queue_per_entry = 2;
    fx_init(&f, &cfg);
    struct ts_pcb *pcb = udp_pcb();
    struct ts_sockaddr to = {TS_IPV4(10, 0, 0, 77), 9};
    cr_assert_eq(ts_pcb_sendto(pcb, 0, "a", 1, &to), 1);
    cr_assert_eq(ts_pcb_sendto(pcb, 0, "b", 1, &to), 1);
    cr_assert_eq(ts_pcb_sendto(pcb, 0, "c", 1, &to), -ENOBUFS);
    cr_assert_eq(fx_counter(&f, "arp.drop_queue_full"), 1);
    ts_pcb_close(pcb);
}

Test(core_arp, resolved_entry_expires_after_its_reachable_time)
{
    size_t n = fx_build_arp(frame, 1, fx_peer_mac, FX_PEER_IP, zero_mac, FX_STACK_IP, (const uint8_t *)"\xff\xff\xff\xff\xff\xff");
    fx_input(&f, 0, frame, n);
    cr_assert_eq(ts_stack_next_deadline(f.st), 0, "the announcement is still due");
    ts_stack_poll(f.st, 0);
    cr_assert_eq(ts_stack_next_deadline(f.st), f.cfg.timing.arp_reachable);
    ts_stack_poll(f.st, f.cfg.timing.arp_reachable);
    cr_assert_eq(fx_counter(&f, "arp.expired"), 1);
    cr_assert_eq(ts_stack_next_deadline(f.st), TS_TIME_NEVER);
}

Test(core_arp, entry_in_use_near_expiry_is_refreshed_by_unicast)
{
    size_t n = fx_build_arp(frame, 1, fx_peer_mac, FX_PEER_IP, zero_mac, FX_STACK_IP, (const uint8_t *)"\xff\xff\xff\xff\xff\xff");
    fx_input(&f, 0, frame, n);
    ts_stack_poll(f.st, 0);
    fx_clear_sent(&f);
    struct ts_pcb *pcb = udp_pcb();
    struct ts_sockaddr to = {FX_PEER_IP, 9};
    cr_assert_eq(ts_pcb_sendto(pcb, f.cfg.timing.arp_reachable - TS_SEC(1), "x", 1, &to), 1);
    cr_assert_eq(f.sent_count, 2);
    cr_assert_eq(be16_get(arp_of(0) + 6), 1);
    cr_assert_arr_eq(f.sent[0].data, fx_peer_mac, 6, "the refresh is unicast to the known MAC");
    cr_assert_eq(fx_ethertype(&f.sent[1]), 0x0800, "the datagram is not held up by the refresh");
    ts_pcb_close(pcb);
}

Test(core_arp, static_entry_is_used_without_a_request_and_never_overwritten)
{
    const uint8_t other[6] = {2, 7, 7, 7, 7, 7};
    fx_learn_peer(&f, 0);
    size_t n = fx_build_arp(frame, 2, other, FX_PEER_IP, fx_stack_mac, FX_STACK_IP, fx_stack_mac);
    fx_input(&f, 10, frame, n);
    struct ts_pcb *pcb = udp_pcb();
    struct ts_sockaddr to = {FX_PEER_IP, 9};
    cr_assert_eq(ts_pcb_sendto(pcb, 20, "x", 1, &to), 1);
    cr_assert_eq(f.sent_count, 1);
    cr_assert_arr_eq(f.sent[0].data, fx_peer_mac, 6);
    ts_pcb_close(pcb);
}

Test(core_arp, off_link_destination_resolves_the_gateway)
{
    struct ts_pcb *pcb = udp_pcb();
    struct ts_sockaddr to = {TS_IPV4(192, 0, 2, 1), 9};
    cr_assert_eq(ts_pcb_sendto(pcb, 0, "x", 1, &to), 1);
    cr_assert_eq(be32_get(arp_of(0) + 24), FX_PEER_IP, "asks for the gateway, not the destination");
    ts_pcb_close(pcb);
}
