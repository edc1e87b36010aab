/*
 * SipHash-2-4, RFC 6528 initial sequence numbers and SYN cookies (stack/tcp_isn.c).
 * Everything here is a pure function of (key, inputs, time), so every test is
 * deterministic: fixed keys, fixed tuples, times passed in.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_isn.h"

/* ---- fixtures ------------------------------------------------------------- */

static struct tcp_secret test_secret(void)
{
    struct tcp_secret s;
    for (int i = 0; i < 16; i++) {
        s.isn_key[i] = (uint8_t)(0xa0 + i);
        s.cookie_key[i] = (uint8_t)(0x31 * (i + 1));
    }
    return s;
}

static struct tcp_four_tuple test_tuple(void)
{
    return (struct tcp_four_tuple){
        .local_addr = TS_IPV4(10, 0, 0, 1),
        .remote_addr = TS_IPV4(10, 0, 0, 2),
        .local_port = 80,
        .remote_port = 40000,
    };
}

/* An arbitrary, not round, point in time: about 11.6 days, mid cookie period. */
#define T0 ((ts_time)1000000 * 1000000 + 12345678)
#define COOKIE_PERIOD TS_SEC(64)

static const uint16_t mss_table[8] = {536, 1200, 1360, 1400, 1440, 1452, 1460, 8960};

/* ---- SipHash-2-4 ---------------------------------------------------------- */

/*
 * The 64 outputs published with the SipHash reference implementation
 * (vectors.h, vectors_sip64): key 00 01 .. 0f, message 00 01 .. (len - 1),
 * len = 0..63, each read as a little-endian 64-bit integer.
 */
static const uint64_t sip64_reference[64] = {
    0x726fdb47dd0e0e31ull, 0x74f839c593dc67fdull, 0x0d6c8009d9a94f5aull, 0x85676696d7fb7e2dull,
    0xcf2794e0277187b7ull, 0x18765564cd99a68dull, 0xcbc9466e58fee3ceull, 0xab0200f58b01d137ull,
    0x93f5f5799a932462ull, 0x9e0082df0ba9e4b0ull, 0x7a5dbbc594ddb9f3ull, 0xf4b32f46226bada7ull,
    0x751e8fbc860ee5fbull, 0x14ea5627c0843d90ull, 0xf723ca908e7af2eeull, 0xa129ca6149be45e5ull,
    0x3f2acc7f57c29bdbull, 0x699ae9f52cbe4794ull, 0x4bc1b3f0968dd39cull, 0xbb6dc91da77961bdull,
    0xbed65cf21aa2ee98ull, 0xd0f2cbb02e3b67c7ull, 0x93536795e3a33e88ull, 0xa80c038ccd5ccec8ull,
    0xb8ad50c6f649af94ull, 0xbce192de8a85b8eaull, 0x17d835b85bbb15f3ull, 0x2f2e6163076bcfadull,
    0xde4daaaca71dc9a5ull, 0xa6a2506687956571ull, 0xad87a3535c49ef28ull, 0x32d892fad841c342ull,
    0x7127512f72f27cceull, 0xa7f32346f95978e3ull, 0x12e0b01abb051238ull, 0x15e034d40fa197aeull,
    0x314dffbe0815a3b4ull, 0x027990f029623981ull, 0xcadcd4e59ef40c4dull, 0x9abfd8766a33735cull,
    0x0e3ea96b5304a7d0ull, 0xad0c42d6fc585992ull, 0x187306c89bc215a9ull, 0xd4a60abcf3792b95ull,
    0xf935451de4f21df2ull, 0xa9538f0419755787ull, 0xdb9acddff56ca510ull, 0xd06c98cd5c0975ebull,
    0xe612a3cb9ecba951ull, 0xc766e62cfcadaf96ull, 0xee64435a9752fe72ull, 0xa192d576b245165aull,
    0x0a8787bf8ecb74b2ull, 0x81b3e73d20b49b6full, 0x7fa8220ba3b2eceaull, 0x245731c13ca42499ull,
    0xb78dbfaf3a8d83bdull, 0xea1ad565322a1a0bull, 0x60e61c23a3795013ull, 0x6606d7e446282b93ull,
    0x6ca4ecb15c5f91e1ull, 0x9f626da15c9625f3ull, 0xe51b38608ef25f57ull, 0x958a324ceb064572ull,
};

static void reference_key_and_message(uint8_t key[16], uint8_t msg[64])
{
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
}

Test(tcp_isn_siphash, reproduces_the_published_values_for_empty_one_word_and_partial_messages)
{
    uint8_t key[16], msg[64];
    reference_key_and_message(key, msg);
    /* Empty (only the length block), 7 bytes (full tail), 8 (one whole word + empty tail), 15, 63. */
    cr_assert_eq(siphash24(key, msg, 0), 0x726fdb47dd0e0e31ull);
    cr_assert_eq(siphash24(key, msg, 7), 0xab0200f58b01d137ull);
    cr_assert_eq(siphash24(key, msg, 8), 0x93f5f5799a932462ull);
    cr_assert_eq(siphash24(key, msg, 15), 0xa129ca6149be45e5ull);
    cr_assert_eq(siphash24(key, msg, 63), 0x958a324ceb064572ull);
}

Test(tcp_isn_siphash, matches_all_64_reference_vectors)
{
    uint8_t key[16], msg[64];
    reference_key_and_message(key, msg);
    for (size_t len = 0; len < 64; len++)
        cr_assert_eq(siphash24(key, msg, len), sip64_reference[len], "length %zu: got %016llx", len,
                     (unsigned long long)siphash24(key, msg, len));
}

Test(tcp_isn_siphash, result_does_not_depend_on_buffer_alignment)
{
    uint8_t key[16], msg[64];
    reference_key_and_message(key, msg);
    uint8_t shifted[64 + 7];
    for (size_t offset = 1; offset < 8; offset++) {
        memcpy(shifted + offset, msg, 64);
        for (size_t len = 0; len < 64; len += 5)
            cr_assert_eq(siphash24(key, shifted + offset, len), sip64_reference[len]);
    }
}

Test(tcp_isn_siphash, null_data_with_zero_length_is_the_empty_message)
{
    uint8_t key[16], msg[64];
    reference_key_and_message(key, msg);
    cr_assert_eq(siphash24(key, NULL, 0), sip64_reference[0]);
}

Test(tcp_isn_siphash, length_byte_separates_messages_that_differ_by_trailing_zeros)
{
    uint8_t key[16], msg[64];
    reference_key_and_message(key, msg);
    uint8_t zeros[16] = {0};
    cr_assert_neq(siphash24(key, zeros, 3), siphash24(key, zeros, 4));
    cr_assert_neq(siphash24(key, zeros, 8), siphash24(key, zeros, 9));
}

/* ---- initial sequence numbers --------------------------------------------- */

Test(tcp_isn, same_key_tuple_and_time_give_the_same_isn)
{
    struct tcp_secret s = test_secret();
    struct tcp_four_tuple t = test_tuple();
    struct tcp_secret copy = s;
    struct tcp_four_tuple tcopy = t;
    cr_assert_eq(tcp_isn(&s, &t, T0), tcp_isn(&copy, &tcopy, T0));
    cr_assert_eq(tcp_isn(&s, &t, 0), tcp_isn(&s, &t, 0));
}

Test(tcp_isn, changing_any_field_of_the_four_tuple_changes_the_isn)
{
    struct tcp_secret s = test_secret();
    struct tcp_four_tuple variants[6];
    for (int i = 0; i < 6; i++)
        variants[i] = test_tuple();
    variants[1].local_addr ^= 1;
    variants[2].remote_addr ^= 1;
    variants[3].local_port ^= 1;
    variants[4].remote_port ^= 1;
    /* The other direction of the same connection. */
    variants[5].local_addr = variants[0].remote_addr;
    variants[5].remote_addr = variants[0].local_addr;
    variants[5].local_port = variants[0].remote_port;
    variants[5].remote_port = variants[0].local_port;

    uint32_t isn[6];
    for (int i = 0; i < 6; i++)
        isn[i] = tcp_isn(&s, &variants[i], T0);
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++)
            cr_assert_neq(isn[i], isn[j], "variants %d and %d share ISN %08x", i, j, isn[i]);
}

Test(tcp_isn, clock_part_ticks_every_4_microseconds_250000_times_a_second)
{
    struct tcp_secret s = test_secret();
    struct tcp_four_tuple t = test_tuple();
    ts_time tick_start = T0 - T0 % 4;
    uint32_t base = tcp_isn(&s, &t, tick_start);

    cr_assert_eq(tcp_isn(&s, &t, tick_start + 3), base, "within one 4 us tick the ISN holds still");
    cr_assert_eq((uint32_t)(tcp_isn(&s, &t, tick_start + 4) - base), 1u);
    cr_assert_eq((uint32_t)(tcp_isn(&s, &t, tick_start + TS_SEC(1)) - base), 250000u);
    cr_assert_eq((uint32_t)(tcp_isn(&s, &t, tick_start + TS_SEC(60)) - base), 60u * 250000u);
}

Test(tcp_isn, wraps_modulo_2_to_the_32_after_about_4_hours_46_minutes)
{
    struct tcp_secret s = test_secret();
    struct tcp_four_tuple t = test_tuple();
    ts_time wrap = (ts_time)4 << 32; /* 2^32 ticks of 4 us */
    cr_assert_eq(tcp_isn(&s, &t, T0 + wrap), tcp_isn(&s, &t, T0));
    cr_assert_eq((uint32_t)(tcp_isn(&s, &t, T0 + wrap - 4) - tcp_isn(&s, &t, T0)), UINT32_MAX);
}

Test(tcp_isn, different_isn_keys_give_different_isns)
{
    struct tcp_secret s = test_secret();
    struct tcp_four_tuple t = test_tuple();
    uint32_t base = tcp_isn(&s, &t, T0);
    for (int bit = 0; bit < 128; bit++) {
        struct tcp_secret other = s;
        other.isn_key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_neq(tcp_isn(&other, &t, T0), base, "flipping key bit %d left the ISN unchanged", bit);
    }
}

Test(tcp_isn, cookie_key_does_not_influence_the_isn)
{
    struct tcp_secret s = test_secret();
    struct tcp_four_tuple t = test_tuple();
    struct tcp_secret other = s;
    other.cookie_key[0] ^= 0xff;
    cr_assert_eq(tcp_isn(&other, &t, T0), tcp_isn(&s, &t, T0));
}

/*
 * Consecutive connections from one client (ports 40000, 40001, ...), one every
 * millisecond. Beyond the clock's known advance, each ISN must look unrelated
 * to the previous one: an off-path attacker who opens a connection learns
 * nothing about the next one's ISN (RFC 6528 1, the Morris/Bellovin attack).
 */
#define SAMPLE_COUNT 10000
#define SAMPLE_SPACING TS_MSEC(1)

static void collect_consecutive_port_isns(uint32_t *isn, uint32_t *residual)
{
    struct tcp_secret s = test_secret();
    struct tcp_four_tuple t = test_tuple();
    for (int i = 0; i < SAMPLE_COUNT; i++) {
        ts_time now = T0 + i * SAMPLE_SPACING;
        t.remote_port = (uint16_t)(40000 + i);
        isn[i] = tcp_isn(&s, &t, now);
        residual[i] = isn[i] - (uint32_t)(now / 4); /* the hash part F alone */
    }
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static size_t count_distinct(uint32_t *values, size_t n)
{
    qsort(values, n, sizeof values[0], compare_u32);
    size_t distinct = n > 0;
    for (size_t i = 1; i < n; i++)
        distinct += values[i] != values[i - 1];
    return distinct;
}

/* Pearson's statistic of the low 8 bits over 256 equally likely buckets (255 degrees of freedom). */
static double chi_square_low_byte(const uint32_t *values, size_t n)
{
    unsigned buckets[256] = {0};
    for (size_t i = 0; i < n; i++)
        buckets[values[i] & 0xff]++;
    double expected = (double)n / 256.0, chi2 = 0;
    for (int b = 0; b < 256; b++) {
        double d = buckets[b] - expected;
        chi2 += d * d / expected;
    }
    return chi2;
}

Test(tcp_isn, consecutive_ports_give_isns_with_no_constant_difference)
{
    static uint32_t isn[SAMPLE_COUNT], residual[SAMPLE_COUNT], diff[SAMPLE_COUNT - 1], diff2[SAMPLE_COUNT - 2];
    collect_consecutive_port_isns(isn, residual);
    for (int i = 0; i + 1 < SAMPLE_COUNT; i++)
        diff[i] = isn[i + 1] - isn[i];
    for (int i = 0; i + 2 < SAMPLE_COUNT; i++)
        diff2[i] = diff[i + 1] - diff[i];

    /* A counter or a linear generator would repeat one step (or one second difference) throughout. */
    cr_assert_geq(count_distinct(diff, SAMPLE_COUNT - 1), SAMPLE_COUNT - 1 - 10);
    cr_assert_geq(count_distinct(diff2, SAMPLE_COUNT - 2), SAMPLE_COUNT - 2 - 10);
    /* Nor do distinct tuples collide beyond what chance allows for 10000 draws from 2^32. */
    cr_assert_geq(count_distinct(isn, SAMPLE_COUNT), SAMPLE_COUNT - 10);
}

Test(tcp_isn, consecutive_ports_spread_the_low_bits_evenly)
{
    static uint32_t isn[SAMPLE_COUNT], residual[SAMPLE_COUNT], diff[SAMPLE_COUNT - 1];
    collect_consecutive_port_isns(isn, residual);
    for (int i = 0; i + 1 < SAMPLE_COUNT; i++)
        diff[i] = isn[i + 1] - isn[i];

    /*
     * 255 degrees of freedom: mean 255, standard deviation about 22.6. 400 is
     * more than 6 deviations out, generous enough never to trip on a fair hash
     * and far below what a counter (about 10000) or a stride would give.
     */
    cr_assert_lt(chi_square_low_byte(isn, SAMPLE_COUNT), 400.0);
    cr_assert_lt(chi_square_low_byte(residual, SAMPLE_COUNT), 400.0);
    cr_assert_lt(chi_square_low_byte(diff, SAMPLE_COUNT - 1), 400.0);
}

Test(tcp_isn, every_bit_of_the_hash_part_is_set_about_half_the_time)
{
    static uint32_t isn[SAMPLE_COUNT], residual[SAMPLE_COUNT];
    collect_consecutive_port_isns(isn, residual);
    for (int bit = 0; bit < 32; bit++) {
        int ones = 0;
        for (int i = 0; i < SAMPLE_COUNT; i++)
            ones += (residual[i] >> bit) & 1;
        /* Binomial(10000, 1/2): standard deviation 50, so 4500..5500 is 10 deviations each way. */
        cr_assert(ones > 4500 && ones < 5500, "bit %d set %d times in %d", bit, ones, SAMPLE_COUNT);
    }
}

/* ---- SYN cookies ---------------------------------------------------------- */

static uint32_t make_cookie_at(uint16_t mss, ts_time now)
{
    struct tcp_secret s = test_secret();
    struct tcp_four_tuple t = test_tuple();
    return tcp_cookie_make(&s, &t, 0x12345678u, mss, now);
}

static bool check_cookie_at(uint32_t cookie, ts_time now, uint16_t *mss)
{
    struct tcp_secret s = test_secret();
    struct tcp_four_tuple t = test_tuple();
    return tcp_cookie_check(&s, &t, 0x12345678u, cookie, now, mss);
}

Test(tcp_cookie, round_trips_every_mss_class)
{
    for (int i = 0; i < 8; i++) {
        uint32_t cookie = make_cookie_at(mss_table[i], T0);
        uint16_t mss = 0;
        cr_assert(check_cookie_at(cookie, T0, &mss), "MSS %u", mss_table[i]);
        cr_assert_eq(mss, mss_table[i]);
    }
}

Test(tcp_cookie, mss_encodes_the_largest_table_value_not_above_the_peers_mss)
{
    static const struct {
        uint16_t peer, expected;
    } cases[] = {
        {536, 536},   {537, 536},   {1199, 536},  {1200, 1200}, {1359, 1200}, {1360, 1360},
        {1399, 1360}, {1400, 1400}, {1439, 1400}, {1440, 1440}, {1451, 1440}, {1452, 1452},
        {1459, 1452}, {1460, 1460}, {1461, 1460}, {8959, 1460}, {8960, 8960}, {9000, 8960},
        {65535, 8960},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t mss = 0;
        cr_assert(check_cookie_at(make_cookie_at(cases[i].peer, T0), T0, &mss));
        cr_assert_eq(mss, cases[i].expected, "peer MSS %u encoded as %u, want %u", cases[i].peer, mss,
                     cases[i].expected);
    }
}

Test(tcp_cookie, mss_below_every_table_value_encodes_the_smallest)
{
    static const uint16_t small[] = {0, 1, 88, 535};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        uint16_t mss = 0;
        cr_assert(check_cookie_at(make_cookie_at(small[i], T0), T0, &mss));
        cr_assert_eq(mss, 536, "peer MSS %u", small[i]);
    }
}

Test(tcp_cookie, layout_is_5_bit_counter_then_3_bit_mss_index_then_24_bit_mac)
{
    for (int i = 0; i < 8; i++) {
        for (int64_t period = 0; period < 70; period += 13) {
            ts_time now = period * COOKIE_PERIOD + TS_SEC(5);
            uint32_t cookie = make_cookie_at(mss_table[i], now);
            cr_assert_eq(cookie >> 27, (uint32_t)(period % 32));
            cr_assert_eq((cookie >> 24) & 7, (uint32_t)i);
        }
    }
    /* The MAC covers the rest: two peers' ISNs give different low 24 bits (for these inputs). */
    struct tcp_secret s = test_secret();
    struct tcp_four_tuple t = test_tuple();
    uint32_t a = tcp_cookie_make(&s, &t, 1, 1460, T0), b = tcp_cookie_make(&s, &t, 2, 1460, T0);
    cr_assert_eq(a >> 24, b >> 24);
    cr_assert_neq(a & 0xffffff, b & 0xffffff);
}

Test(tcp_cookie, rejected_for_a_different_four_tuple)
{
    struct tcp_secret s = test_secret();
    struct tcp_four_tuple t = test_tuple();
    uint32_t cookie = tcp_cookie_make(&s, &t, 0x12345678u, 1460, T0);
    uint16_t mss = 0;
    cr_assert(tcp_cookie_check(&s, &t, 0x12345678u, cookie, T0, &mss));

    struct tcp_four_tuple other[5];
    for (int i = 0; i < 5; i++)
        other[i] = t;
    other[0].local_addr ^= 1;
    other[1].remote_addr ^= 1;
    other[2].local_port ^= 1;
    other[3].remote_port ^= 1;
    other[4].local_port = t.remote_port;
    other[4].remote_port = t.local_port;
    for (int i = 0; i < 5; i++)
        cr_assert_not(tcp_cookie_check(&s, &other[i], 0x12345678u, cookie, T0, &mss), "variant %d", i);
}

Test(tcp_cookie, rejected_for_a_different_peer_isn)
{
    struct tcp_secret s = test_secret();
    struct tcp_four_tuple t = test_tuple();
    uint32_t peer_isn = 0x12345678u;
    uint32_t cookie = tcp_cookie_make(&s, &t, peer_isn, 1460, T0);
    static const uint32_t others[] = {0x12345677u, 0x12345679u, 0x92345678u, 0};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        cr_assert_not(tcp_cookie_check(&s, &t, others[i], cookie, T0, NULL), "peer ISN %08x", others[i]);
}

Test(tcp_cookie, rejected_when_any_single_bit_is_flipped)
{
    for (int i = 0; i < 8; i++) {
        uint32_t cookie = make_cookie_at(mss_table[i], T0);
        for (int bit = 0; bit < 32; bit++)
            cr_assert_not(check_cookie_at(cookie ^ (1u << bit), T0, NULL), "MSS %u, bit %d", mss_table[i], bit);
    }
}

Test(tcp_cookie, rejected_under_a_different_cookie_key)
{
    struct tcp_secret s = test_secret();
    struct tcp_four_tuple t = test_tuple();
    uint32_t cookie = tcp_cookie_make(&s, &t, 7, 1460, T0);
    struct tcp_secret other = s;
    other.cookie_key[15] ^= 0x80;
    cr_assert_not(tcp_cookie_check(&other, &t, 7, cookie, T0, NULL));
    /* The ISN key plays no part in cookies. */
    other = s;
    other.isn_key[0] ^= 1;
    cr_assert(tcp_cookie_check(&other, &t, 7, cookie, T0, NULL));
}

Test(tcp_cookie, accepted_up_to_63_seconds_later_whatever_the_phase_within_a_period)
{
    static const ts_time phases[] = {0, 1, TS_SEC(1), TS_SEC(32), COOKIE_PERIOD - 1};
    static const ts_time ages[] = {0, 1, TS_SEC(1), TS_SEC(30), TS_SEC(63)};
    for (size_t p = 0; p < sizeof phases / sizeof phases[0]; p++) {
        ts_time made = 1000 * COOKIE_PERIOD + phases[p];
        uint32_t cookie = make_cookie_at(1460, made);
        for (size_t a = 0; a < sizeof ages / sizeof ages[0]; a++) {
            uint16_t mss = 0;
            cr_assert(check_cookie_at(cookie, made + ages[a], &mss), "phase %lld us, age %lld us",
                      (long long)phases[p], (long long)ages[a]);
            cr_assert_eq(mss, 1460);
        }
    }
}

Test(tcp_cookie, accepted_across_a_counter_boundary)
{
    ts_time boundary = 1000 * COOKIE_PERIOD;
    uint32_t cookie = make_cookie_at(1452, boundary - 1);
    uint16_t mss = 0;
    cr_assert(check_cookie_at(cookie, boundary, &mss));
    cr_assert_eq(mss, 1452);
    cr_assert(check_cookie_at(cookie, boundary + COOKIE_PERIOD - 1, &mss), "still inside the next period");
}

Test(tcp_cookie, accepted_across_the_wrap_of_the_5_bit_counter_from_31_to_0)
{
    ts_time made = 31 * COOKIE_PERIOD + TS_SEC(50); /* counter 31 */
    uint32_t cookie = make_cookie_at(1460, made);
    cr_assert_eq(cookie >> 27, 31u);
    uint16_t mss = 0;
    cr_assert(check_cookie_at(cookie, 32 * COOKIE_PERIOD + TS_SEC(10), &mss), "counter 32 reads as 0");
    cr_assert_eq(mss, 1460);
    cr_assert_not(check_cookie_at(cookie, 33 * COOKIE_PERIOD, NULL));
}

Test(tcp_cookie, rejected_128_seconds_or_more_after_it_was_made)
{
    static const ts_time phases[] = {0, TS_SEC(32), COOKIE_PERIOD - 1};
    static const ts_time ages[] = {TS_SEC(128), TS_SEC(129), TS_SEC(200), TS_SEC(3600)};
    for (size_t p = 0; p < sizeof phases / sizeof phases[0]; p++) {
        ts_time made = 1000 * COOKIE_PERIOD + phases[p];
        uint32_t cookie = make_cookie_at(1460, made);
        for (size_t a = 0; a < sizeof ages / sizeof ages[0]; a++)
            cr_assert_not(check_cookie_at(cookie, made + ages[a], NULL), "phase %lld us, age %lld us",
                          (long long)phases[p], (long long)ages[a]);
    }
}

Test(tcp_cookie, rejected_when_the_5_bit_counter_comes_round_again)
{
    /* 32 periods later the counter field reads the same, but the MAC covers the full counter. */
    uint32_t cookie = make_cookie_at(1460, T0);
    cr_assert_eq(make_cookie_at(1460, T0 + 32 * COOKIE_PERIOD) >> 27, cookie >> 27);
    cr_assert_not(check_cookie_at(cookie, T0 + 32 * COOKIE_PERIOD, NULL));
    cr_assert_not(check_cookie_at(cookie, T0 + 33 * COOKIE_PERIOD, NULL));
}

Test(tcp_cookie, rejected_when_presented_before_the_period_it_was_made_in)
{
    uint32_t cookie = make_cookie_at(1460, T0);
    cr_assert_not(check_cookie_at(cookie, T0 - COOKIE_PERIOD, NULL));
    /* Near time zero there is no previous period to fall back to. */
    uint32_t late = make_cookie_at(1460, 31 * COOKIE_PERIOD);
    cr_assert_not(check_cookie_at(late, 0, NULL));
}

Test(tcp_cookie, failed_check_leaves_the_mss_untouched)
{
    uint32_t cookie = make_cookie_at(1460, T0);
    uint16_t mss = 4242;
    cr_assert_not(check_cookie_at(cookie ^ 1, T0, &mss));
    cr_assert_eq(mss, 4242);
}
