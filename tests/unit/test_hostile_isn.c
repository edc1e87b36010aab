/*
 * NUMBER:JACK (and INFRA:HALT's CVE-2020-35685): stacks whose initial sequence numbers or ephemeral
 * ports follow a pattern let an off-path attacker guess them and inject into or spoof connections.
 * test_tcp_isn.c checks the RFC 6528 hash itself; this file checks what leaves the stack end to
 * end: 5000 ISNs from a listener's SYN,ACKs to SYNs from consecutive source ports, 5000 from the
 * SYNs of consecutive connects, and the 5000 ephemeral ports those connects chose. Each series must
 * show no simple pattern: consecutive differences neither constant nor small, every bit set about
 * half the time, and values spread evenly over 64 buckets (a chi-square test with bounds generous
 * enough never to fail by chance: for 63 degrees of freedom the mean is 63 and the sd about 11).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core_fixture.h"
#include "wire/checksum.h"
#include "wire/tcp.h"

#define SAMPLES 5000
#define BUCKETS 64
#define LISTEN_PORT 80
#define EPHEMERAL_LOW 32768u  /* the range the stack documents in pcb.c (Linux's default) */
#define EPHEMERAL_HIGH 60999u

static struct fx f;
static uint8_t frame[256];

static void setup(void)
{
    fx_init(&f, NULL);
    fx_learn_peer(&f, 0);
}
static void teardown(void) { fx_fini(&f); }

TestSuite(hostile, .init = setup, .fini = teardown);

/* The TCP header of the only frame sent since the last clear. */
static const uint8_t *only_tcp_sent(void)
{
    cr_assert_geq(f.sent_count, 1);
    const uint8_t *ip = fx_l3(&f.sent[0]);
    cr_assert_eq(ip[9], 6, "a TCP segment");
    return ip + (ip[0] & 0x0f) * 4;
}

/* ---- the statistics -------------------------------------------------------------------------------- */

/* Consecutive differences: fewer than 1% may repeat the previous difference or be "small". */
static void assert_differences_irregular(const char *what, const uint32_t *v, size_t n, uint32_t small)
{
    size_t repeats = 0, smalls = 0;
    for (size_t i = 2; i < n; i++) {
        uint32_t d = v[i] - v[i - 1];
        if (d == v[i - 1] - v[i - 2])
            repeats++;
        int32_t sd = (int32_t)d;
        if ((uint32_t)abs(sd == INT32_MIN ? 0 : sd) < small)
            smalls++;
    }
    cr_assert_lt(repeats, n / 100, "%s: %zu consecutive differences repeat", what, repeats);
    cr_assert_lt(smalls, n / 100, "%s: %zu consecutive differences are below %u", what, smalls, small);
}

/* Each of the low `bits` bits is set in 50% +- 7 standard deviations of the samples. */
static void assert_bits_balanced(const char *what, const uint32_t *v, size_t n, unsigned bits)
{
    double sd = sqrt((double)n) / 2;
    for (unsigned b = 0; b < bits; b++) {
        size_t ones = 0;
        for (size_t i = 0; i < n; i++)
            ones += (v[i] >> b) & 1u;
        double off = fabs((double)ones - (double)n / 2);
        cr_assert_lt(off, 7 * sd, "%s: bit %u is set in %zu of %zu", what, b, ones, n);
    }
}

/* Chi-square of v mapped onto BUCKETS equal buckets by bucket_of; 63 degrees of freedom. */
static double chi_square(const uint32_t *v, size_t n, unsigned (*bucket_of)(uint32_t))
{
    size_t count[BUCKETS] = {0};
    for (size_t i = 0; i < n; i++)
        count[bucket_of(v[i])]++;
    double expected = (double)n / BUCKETS, chi = 0;
    for (unsigned k = 0; k < BUCKETS; k++)
        chi += ((double)count[k] - expected) * ((double)count[k] - expected) / expected;
    return chi;
}

static unsigned top_six_bits(uint32_t x) { return x >> 26; }
static unsigned low_six_bits(uint32_t x) { return x & 63u; }
static unsigned port_bucket(uint32_t port)
{
    return (unsigned)((port - EPHEMERAL_LOW) * BUCKETS / (EPHEMERAL_HIGH - EPHEMERAL_LOW + 1));
}

/* A chi-square above 150 for 63 degrees of freedom has a probability far below 1e-8. */
#define CHI_SQUARE_BOUND 150.0

static void assert_isns_unpredictable(const char *what, const uint32_t *isn, size_t n)
{
    assert_differences_irregular(what, isn, n, 1u << 16);
    assert_bits_balanced(what, isn, n, 32);
    double hi = chi_square(isn, n, top_six_bits), lo = chi_square(isn, n, low_six_bits);
    cr_assert_lt(hi, CHI_SQUARE_BOUND, "%s: chi-square of the top bits is %.1f", what, hi);
    cr_assert_lt(lo, CHI_SQUARE_BOUND, "%s: chi-square of the low bits is %.1f", what, lo);
}

/* ---- collecting ------------------------------------------------------------------------------------ */

static void syn_from(uint16_t sport, ts_time now)
{
    struct fx_tcp_segment syn = {.src = FX_PEER_IP, .dst = FX_STACK_IP, .sport = sport, .dport = LISTEN_PORT,
                                 .seq = 7777, .flags = TCP_SYN, .window = 65535};
    size_t n = fx_build_tcp(frame, &syn);
    fx_input(&f, now, frame, n);
}

/* Resets the half-open connection at RCV.NXT, so the SYN queue never fills (no cookies) and no
 * state piles up: each SYN,ACK comes from the ordinary path. */
static void reset_from(uint16_t sport, ts_time now)
{
    struct fx_tcp_segment rst = {.src = FX_PEER_IP, .dst = FX_STACK_IP, .sport = sport, .dport = LISTEN_PORT,
                                 .seq = 7778, .flags = TCP_RST};
    size_t n = fx_build_tcp(frame, &rst);
    fx_input(&f, now, frame, n);
}

Test(hostile, syn_ack_isns_to_consecutive_source_ports_cve_2020_35685_follow_no_pattern)
{
    int err;
    struct ts_pcb *listener = ts_pcb_open(f.st, TS_PCB_TCP, &err);
    cr_assert_not_null(listener);
    struct ts_sockaddr local = {0, LISTEN_PORT};
    cr_assert_eq(ts_pcb_bind(listener, &local), 0);
    cr_assert_eq(ts_pcb_listen(listener, 16), 0);
    static uint32_t isn[SAMPLES];
    ts_time now = TS_SEC(1);
    for (size_t i = 0; i < SAMPLES; i++, now += TS_MSEC(1)) {
        uint16_t sport = (uint16_t)(20000 + i);
        fx_clear_sent(&f);
        syn_from(sport, now);
        const uint8_t *tcp = only_tcp_sent();
        cr_assert_eq(tcp[13], TCP_SYN | TCP_ACK);
        isn[i] = be32_get(tcp + 4);
        reset_from(sport, now);
    }
    cr_assert_eq(fx_counter(&f, "tcp.syn_cookies_sent"), 0, "every SYN,ACK took the ordinary path");
    assert_isns_unpredictable("SYN,ACK ISNs", isn, SAMPLES);
    ts_pcb_close(listener);
}

Test(hostile, syn_ack_isns_at_one_instant_follow_no_pattern_either)
{
    /* With the clock standing still, only the hash separates consecutive ports. */
    int err;
    struct ts_pcb *listener = ts_pcb_open(f.st, TS_PCB_TCP, &err);
    struct ts_sockaddr local = {0, LISTEN_PORT};
    cr_assert_eq(ts_pcb_bind(listener, &local), 0);
    cr_assert_eq(ts_pcb_listen(listener, 16), 0);
    static uint32_t isn[SAMPLES];
    for (size_t i = 0; i < SAMPLES; i++) {
        uint16_t sport = (uint16_t)(1024 + i);
        fx_clear_sent(&f);
        syn_from(sport, TS_SEC(1));
        isn[i] = be32_get(only_tcp_sent() + 4);
        reset_from(sport, TS_SEC(1));
    }
    assert_isns_unpredictable("same-instant ISNs", isn, SAMPLES);
    ts_pcb_close(listener);
}

Test(hostile, connect_isns_and_ephemeral_ports_follow_no_pattern)
{
    static uint32_t isn[SAMPLES], port[SAMPLES];
    struct ts_sockaddr peer = {FX_PEER_IP, 443};
    ts_time now = TS_SEC(1);
    for (size_t i = 0; i < SAMPLES; i++, now += TS_MSEC(1)) {
        int err;
        struct ts_pcb *pcb = ts_pcb_open(f.st, TS_PCB_TCP, &err);
        cr_assert_not_null(pcb);
        fx_clear_sent(&f);
        cr_assert_eq(ts_pcb_connect(pcb, now, &peer), -EINPROGRESS);
        const uint8_t *tcp = only_tcp_sent();
        cr_assert_eq(tcp[13], TCP_SYN);
        port[i] = be16_get(tcp);
        isn[i] = be32_get(tcp + 4);
        cr_assert(port[i] >= EPHEMERAL_LOW && port[i] <= EPHEMERAL_HIGH, "port %u", port[i]);
        ts_pcb_abort(pcb, now);
    }
    assert_isns_unpredictable("connect ISNs", isn, SAMPLES);
    /* Ports: a 28232-port range, so a difference below 16 happens by chance about 0.1% of the time. */
    assert_differences_irregular("ephemeral ports", port, SAMPLES, 16);
    double chi = chi_square(port, SAMPLES, port_bucket);
    cr_assert_lt(chi, CHI_SQUARE_BOUND, "ephemeral ports: chi-square %.1f", chi);
    uint32_t offset[SAMPLES];
    for (size_t i = 0; i < SAMPLES; i++)
        offset[i] = port[i] - EPHEMERAL_LOW;
    assert_bits_balanced("ephemeral port offsets", offset, SAMPLES, 8);
}
