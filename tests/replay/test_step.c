/* ts-replay's pure parts (replay/step_xlate.c, step_diff.c): moving the peer's numbers, comparing frames. */
#include <criterion/criterion.h>
#include <string.h>

#include "frames.h"
#include "step_internal.h"

#define HOST TS_IPV4(10, 0, 0, 2)
#define PEER TS_IPV4(10, 0, 0, 1)

static const uint8_t host_mac[6] = {2, 0, 0, 0, 0, 2}, peer_mac[6] = {2, 0, 0, 0, 0, 1};

/* An Ethernet frame holding one TCP segment from src to dst. */
static size_t segment(uint8_t *out, uint32_t src, uint32_t dst, const struct mk_tcp *t)
{
    uint8_t tcp[120], ip[200];
    size_t tl = mk_tcp(tcp, src, dst, t, NULL, 0);
    struct mk_ip h = {.src = src, .dst = dst, .proto = 6, .df = true};
    size_t il = mk_ipv4(ip, &h, tcp, tl);
    bool from_host = src == HOST;
    size_t el = mk_eth(out, from_host ? peer_mac : host_mac, from_host ? host_mac : peer_mac, 0x0800);
    memcpy(out + el, ip, il);
    return el + il;
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static bool tcp_checksum_ok(const uint8_t *f, size_t len)
{
    const uint8_t *ip = f + 14;
    size_t tl = len - 14 - 20;
    uint32_t sum = (uint32_t)((ip[12] << 8) | ip[13]) + (uint32_t)((ip[14] << 8) | ip[15]) +
                   (uint32_t)((ip[16] << 8) | ip[17]) + (uint32_t)((ip[18] << 8) | ip[19]) + 6 + (uint32_t)tl;
    return replay_inet_checksum(ip + 20, tl, sum) == 0;
}

static struct mk_tcp synack(uint32_t iss, uint32_t tsval, int wscale)
{
    return (struct mk_tcp){.sport = 7, .dport = 40000, .seq = iss, .ack = 101, .flags = 0x12, .window = 65535,
                           .opt = {.mss = 1460, .wscale = wscale, .sack_permitted = true, .ts = true,
                                   .ts_val = tsval, .ts_ecr = 55}};
}

static struct step_xlate x;
static uint8_t f[256], out[256];

/* The original host's SYN,ACK (ISS 1000, TSval 7000) and tapstack's (ISS 5000, TSval 9000). */
static void learn_both(void)
{
    memset(&x, 0, sizeof(x));
    struct mk_tcp a = synack(1000, 7000, 10), b = synack(5000, 9000, 2);
    step_xlate_learn(&x, f, segment(f, HOST, PEER, &a), false);
    step_xlate_learn(&x, f, segment(f, HOST, PEER, &b), true);
    struct mk_tcp syn = {.sport = 40000, .dport = 7, .seq = 100, .flags = 0x02, .window = 64240,
                         .opt = {.mss = 1460, .wscale = 7, .sack_permitted = true, .ts = true, .ts_val = 55}};
    step_xlate_learn_peer(&x, f, segment(f, PEER, HOST, &syn));
}

Test(step_xlate, peer_ack_sack_and_tsecr_move_into_tapstacks_numbers_with_a_valid_checksum)
{
    learn_both();
    struct mk_tcp ack = {.sport = 40000, .dport = 7, .seq = 101, .ack = 1001, .flags = 0x10, .window = 500,
                         .opt = {.wscale = -1, .ts = true, .ts_val = 56, .ts_ecr = 7000, .n_sack = 1,
                                 .sack = {{1001, 2001}}}};
    size_t len = segment(f, PEER, HOST, &ack);
    int32_t delta = 0;
    cr_assert(step_xlate_input(&x, f, len, out, &delta));
    cr_assert_eq(delta, 4000);
    const uint8_t *t = out + 34;
    cr_assert_eq(rd32(t + 8), 5001, "RFC 9293 3.10.7.4: the ACK must fall in tapstack's window");
    cr_assert_eq(rd32(t + 4), 101, "the peer's own sequence number is left alone");
    cr_assert(tcp_checksum_ok(out, len));
    bool found_ts = false, found_sack = false;
    for (size_t i = 20; i < (size_t)(t[12] >> 4) * 4;) {
        if (t[i] == 1) {
            i++;
            continue;
        }
        if (t[i] == 8) {
            cr_assert_eq(rd32(t + i + 6), 9000, "TSecr moved by tapstack's TSval - the original's");
            found_ts = true;
        }
        if (t[i] == 5) {
            cr_assert_eq(rd32(t + i + 2), 5001);
            cr_assert_eq(rd32(t + i + 6), 6001);
            found_sack = true;
        }
        i += t[i + 1];
    }
    cr_assert(found_ts && found_sack);
}

Test(step_xlate, equal_numbers_change_nothing)
{
    memset(&x, 0, sizeof(x));
    struct mk_tcp a = synack(1000, 7000, 2);
    size_t n = segment(f, HOST, PEER, &a);
    step_xlate_learn(&x, f, n, false);
    step_xlate_learn(&x, f, n, true);
    struct mk_tcp ack = {.sport = 40000, .dport = 7, .seq = 101, .ack = 1001, .flags = 0x10, .window = 500,
                         .opt = {.wscale = -1, .ts = true, .ts_val = 56, .ts_ecr = 7000}};
    int32_t delta = 7;
    cr_assert_not(step_xlate_input(&x, f, segment(f, PEER, HOST, &ack), out, &delta));
    cr_assert_eq(delta, 0);
}

Test(step_xlate, a_bad_checksum_stays_bad)
{
    learn_both();
    struct mk_tcp ack = {.sport = 40000, .dport = 7, .seq = 101, .ack = 1001, .flags = 0x10, .window = 500,
                         .opt = {.wscale = -1}};
    size_t len = segment(f, PEER, HOST, &ack);
    f[34 + 16] ^= 0x55; /* break the checksum */
    int32_t delta;
    cr_assert(step_xlate_input(&x, f, len, out, &delta));
    cr_assert_not(tcp_checksum_ok(out, len), "a frame the stack should drop is still dropped");
}

Test(step_xlate, window_in_bytes_uses_each_sides_scale)
{
    learn_both();
    struct mk_tcp a = {.sport = 7, .dport = 40000, .seq = 1001, .ack = 101, .flags = 0x10, .window = 64,
                       .opt = {.wscale = -1}};
    size_t n = segment(f, HOST, PEER, &a);
    uint64_t bytes = 0;
    cr_assert(step_xlate_window_bytes(&x, f, n, false, &bytes));
    cr_assert_eq(bytes, 64u << 10);
    cr_assert(step_xlate_window_bytes(&x, f, n, true, &bytes));
    cr_assert_eq(bytes, 64u << 2);
}

Test(step_diff, relative_numbers_count_and_clock_fields_are_left_out)
{
    struct replay_tcp_flows fo = {0}, fu = {0};
    uint8_t fa[256], fb[256];
    struct mk_tcp a = synack(1000, 7000, 2), b = synack(5000, 9000, 2);
    size_t la = segment(fa, HOST, PEER, &a), lb = segment(fb, HOST, PEER, &b);
    replay_flows_learn(&fo, fa, la);
    replay_flows_learn(&fu, fb, lb);
    struct replay_frame orig = {.data = fa, .len = la}, ours = {.data = fb, .len = lb};
    struct replay_buf d = {0};
    cr_assert_eq(step_diff(&fo, &orig, &fu, &ours, &d), 0, "ISN and TSval differ only: %s", d.s ? d.s : "");
    b.window = 1000;
    b.opt.wscale = 7;
    lb = segment(fb, HOST, PEER, &b);
    ours.len = lb;
    cr_assert_eq(step_diff(&fo, &orig, &fu, &ours, &d), 2);
    cr_assert_str_eq(d.s, "tcp.window: original 65535, tapstack 1000; tcp.opt.wscale: original 2, tapstack 7");
    replay_buf_free(&d);
}
