/*
 * Congestion control (stack/tcp_cc.c) driven on a simulated clock: no connection, no device. A
 * "round trip" acknowledges the window that was open at its start, in SMSS-sized ACKs spread evenly
 * over the RTT, from a sender that keeps the window full.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "tcp_cc.h"

#define MSS 1460u
#define SEG(n) ((uint32_t)(n) * MSS)

static struct tcp_cc cc_new(enum ts_tcp_congestion algorithm)
{
    struct tcp_cc cc;
    tcp_cc_init(&cc, algorithm, MSS);
    return cc;
}

static void round_trip(struct tcp_cc *cc, ts_time *now, ts_time rtt)
{
    uint32_t window = cc->cwnd;
    uint32_t acks = (window + cc->mss - 1) / cc->mss;
    ts_time start = *now;
    uint32_t left = window;
    for (uint32_t i = 1; i <= acks; i++) {
        uint32_t acked = left < cc->mss ? left : cc->mss;
        left -= acked;
        *now = start + rtt * (ts_time)i / (ts_time)acks;
        tcp_cc_on_ack(cc, *now, acked, rtt, window);
    }
}

/* A connection in congestion avoidance, with cwnd and ssthresh both at `window`. */
static struct tcp_cc cc_avoiding(enum ts_tcp_congestion algorithm, uint32_t window)
{
    struct tcp_cc cc = cc_new(algorithm);
    cc.cwnd = window;
    cc.ssthresh = window;
    return cc;
}

/* A CUBIC connection just out of fast recovery from a loss at cwnd = flight = w_max. */
static struct tcp_cc cubic_after_loss(uint32_t w_max)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_CUBIC, w_max);
    tcp_cc_enter_recovery(&cc, TS_SEC(1), w_max);
    tcp_cc_exit_recovery(&cc, w_max);
    return cc;
}

/* RFC 9438 eq. 1 in segments, as the tests' reference. */
static double w_cubic_segments(double t, double k, double w_max_segments)
{
    double d = t - k;
    return 0.4 * d * d * d + w_max_segments;
}

/* ---- initial window and ssthresh (RFC 6928 2, RFC 5681 3.1) ---- */

Test(tcp_cc, initial_window_is_ten_segments_for_a_1460_mss)
{
    struct tcp_cc cc = cc_new(TS_CC_RENO);
    cr_assert_eq(cc.cwnd, 14600u);
}

Test(tcp_cc, initial_window_is_min_of_ten_segments_and_max_of_two_segments_and_14600_bytes)
{
    static const struct {
        uint32_t mss, iw;
    } cases[] = {
        {536, 5360},    /* 10 * 536: ten segments fit under 14600 */
        {1000, 10000},  /* still ten segments */
        {1460, 14600},  /* exactly both */
        {1500, 14600},  /* ten would be 15000: the 14600-byte ceiling wins */
        {4000, 14600},  /* 3.65 segments' worth */
        {8960, 17920},  /* jumbo: two segments, above 14600 */
        {65535, 131070},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tcp_cc cc;
        tcp_cc_init(&cc, TS_CC_CUBIC, cases[i].mss);
        cr_assert_eq(cc.cwnd, cases[i].iw, "mss %u: cwnd %u, expected %u", cases[i].mss, cc.cwnd, cases[i].iw);
    }
}

Test(tcp_cc, initial_ssthresh_is_arbitrarily_high_and_no_recovery_is_in_progress)
{
    struct tcp_cc cc = cc_new(TS_CC_CUBIC);
    cr_assert_eq(cc.ssthresh, TCP_CC_SSTHRESH_INITIAL);
    cr_assert_geq(cc.ssthresh, TCP_CC_CWND_MAX);
    cr_assert_not(cc.in_recovery);
    cr_assert_eq(cc.algorithm, TS_CC_CUBIC);
}

Test(tcp_cc, a_zero_or_oversized_mss_is_sanitised_instead_of_stalling_or_overflowing)
{
    struct tcp_cc cc;
    tcp_cc_init(&cc, TS_CC_RENO, 0);
    cr_assert_eq(cc.mss, 1u);
    cr_assert_eq(cc.cwnd, 10u);
    tcp_cc_init(&cc, TS_CC_RENO, UINT32_MAX);
    cr_assert_eq(cc.mss, 65535u);
    cr_assert_eq(cc.cwnd, 131070u);
}

Test(tcp_cc, an_unknown_algorithm_at_init_falls_back_to_cubic)
{
    struct tcp_cc cc;
    tcp_cc_init(&cc, (enum ts_tcp_congestion)7, MSS);
    cr_assert_eq(cc.algorithm, TS_CC_CUBIC);
}

/* ---- slow start (RFC 5681 3.1) ---- */

Test(tcp_cc, slow_start_doubles_cwnd_every_round_trip)
{
    enum ts_tcp_congestion algorithms[] = {TS_CC_RENO, TS_CC_CUBIC};
    for (size_t a = 0; a < 2; a++) {
        struct tcp_cc cc = cc_new(algorithms[a]);
        ts_time now = TS_SEC(1);
        uint32_t expected = SEG(10);
        for (int rtt = 0; rtt < 5; rtt++) {
            round_trip(&cc, &now, TS_MSEC(50));
            expected *= 2;
            cr_assert_eq(cc.cwnd, expected, "%s rtt %d: cwnd %u, expected %u", tcp_cc_name(algorithms[a]), rtt,
                         cc.cwnd, expected);
        }
    }
}

Test(tcp_cc, slow_start_counts_at_most_one_smss_per_ack)
{
    struct tcp_cc cc = cc_new(TS_CC_RENO);
    tcp_cc_on_ack(&cc, TS_SEC(1), SEG(2), 0, SEG(10));
    cr_assert_eq(cc.cwnd, SEG(11), "a delayed ACK for two segments still adds one SMSS");
    tcp_cc_on_ack(&cc, TS_SEC(1), 100, 0, SEG(10));
    cr_assert_eq(cc.cwnd, SEG(11) + 100, "a small ACK adds what it acknowledged");
}

Test(tcp_cc, cwnd_does_not_grow_while_less_than_half_of_it_is_in_flight)
{
    enum ts_tcp_congestion algorithms[] = {TS_CC_RENO, TS_CC_CUBIC};
    for (size_t a = 0; a < 2; a++) {
        struct tcp_cc cc = cc_new(algorithms[a]);
        tcp_cc_on_ack(&cc, TS_SEC(1), MSS, 0, SEG(4));
        cr_assert_eq(cc.cwnd, SEG(10), "%s: 4 of 10 segments in flight is application-limited",
                     tcp_cc_name(algorithms[a]));
        tcp_cc_on_ack(&cc, TS_SEC(1), MSS, 0, SEG(5));
        cr_assert_eq(cc.cwnd, SEG(11), "%s: half the window in flight counts as using it", tcp_cc_name(algorithms[a]));
    }
}

Test(tcp_cc, an_ack_of_nothing_changes_nothing)
{
    struct tcp_cc cc = cc_new(TS_CC_RENO);
    tcp_cc_on_ack(&cc, TS_SEC(1), 0, 0, SEG(10));
    cr_assert_eq(cc.cwnd, SEG(10));
}

/* ---- Reno congestion avoidance (RFC 5681 3.1, RFC 3465 2.1) ---- */

Test(tcp_cc, reno_congestion_avoidance_grows_one_smss_per_round_trip)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(20));
    ts_time now = TS_SEC(1);
    for (int rtt = 1; rtt <= 10; rtt++) {
        round_trip(&cc, &now, TS_MSEC(100));
        cr_assert_eq(cc.cwnd, SEG(20 + rtt), "after %d round trips: cwnd %u", rtt, cc.cwnd);
    }
}

Test(tcp_cc, reno_congestion_avoidance_counts_bytes_so_delayed_acks_do_not_slow_it)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(20));
    for (int i = 0; i < 10; i++)
        tcp_cc_on_ack(&cc, TS_SEC(1), SEG(2), 0, SEG(20));
    cr_assert_eq(cc.cwnd, SEG(21), "ten ACKs of two segments are one window: one SMSS");
}

Test(tcp_cc, a_stretch_ack_covering_many_windows_banks_at_most_one_window_of_progress)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(20));
    tcp_cc_on_ack(&cc, TS_SEC(1), SEG(100), 0, SEG(20));
    cr_assert_eq(cc.cwnd, SEG(21), "one SMSS per ACK at most");
    for (int i = 0; i < 10; i++)
        tcp_cc_on_ack(&cc, TS_SEC(1), 1, 0, SEG(21));
    cr_assert_leq(cc.cwnd, SEG(22), "the other 99 windows were not kept for later ACKs");
}

/* ---- fast retransmit and NewReno fast recovery (RFC 5681 3.2, RFC 6582 3.2) ---- */

Test(tcp_cc, reno_fast_recovery_sets_ssthresh_to_half_the_flight_and_inflates_by_three_segments)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(20));
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(20));
    cr_assert(cc.in_recovery);
    cr_assert_eq(cc.ssthresh, SEG(10));
    cr_assert_eq(cc.cwnd, SEG(13));
}

Test(tcp_cc, loss_ssthresh_comes_from_the_flight_not_from_cwnd)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(40));
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(12));
    cr_assert_eq(cc.ssthresh, SEG(6));
}

Test(tcp_cc, loss_ssthresh_is_at_least_two_segments)
{
    enum ts_tcp_congestion algorithms[] = {TS_CC_RENO, TS_CC_CUBIC};
    for (size_t a = 0; a < 2; a++) {
        struct tcp_cc cc = cc_avoiding(algorithms[a], SEG(3));
        tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(2));
        cr_assert_eq(cc.ssthresh, SEG(2), "%s", tcp_cc_name(algorithms[a]));
        cr_assert_eq(cc.cwnd, SEG(5), "%s", tcp_cc_name(algorithms[a]));
    }
}

Test(tcp_cc, each_further_duplicate_ack_in_recovery_inflates_cwnd_by_one_smss)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(20));
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(20));
    for (int i = 1; i <= 4; i++) {
        tcp_cc_on_dupack(&cc);
        cr_assert_eq(cc.cwnd, SEG(13 + i));
    }
}

Test(tcp_cc, partial_ack_deflates_by_the_amount_acked_and_adds_back_one_smss)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(20));
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(20));
    tcp_cc_on_dupack(&cc);
    tcp_cc_on_dupack(&cc);
    cr_assert_eq(cc.cwnd, SEG(15));
    tcp_cc_on_partial_ack(&cc, SEG(3));
    cr_assert_eq(cc.cwnd, SEG(15) - SEG(3) + MSS);
    cr_assert(cc.in_recovery);
    cr_assert_eq(cc.ssthresh, SEG(10), "a partial ACK leaves ssthresh alone");
}

Test(tcp_cc, partial_ack_of_less_than_one_smss_adds_nothing_back)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(20));
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(20));
    tcp_cc_on_partial_ack(&cc, 500);
    cr_assert_eq(cc.cwnd, SEG(13) - 500);
}

Test(tcp_cc, partial_acks_never_deflate_cwnd_below_one_smss)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(4));
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(4));
    tcp_cc_on_partial_ack(&cc, MSS - 1);
    tcp_cc_on_partial_ack(&cc, SEG(100));
    cr_assert_eq(cc.cwnd, SEG(1));
}

Test(tcp_cc, full_ack_sets_cwnd_to_min_of_ssthresh_and_flight_plus_one_smss)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(20));
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(20));
    tcp_cc_on_dupack(&cc);
    tcp_cc_exit_recovery(&cc, SEG(4));
    cr_assert_not(cc.in_recovery);
    cr_assert_eq(cc.cwnd, SEG(5), "little outstanding: flight + SMSS, no burst");

    cc = cc_avoiding(TS_CC_RENO, SEG(20));
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(20));
    tcp_cc_exit_recovery(&cc, SEG(15));
    cr_assert_eq(cc.cwnd, SEG(10), "plenty outstanding: ssthresh");

    cc = cc_avoiding(TS_CC_RENO, SEG(20));
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(20));
    tcp_cc_exit_recovery(&cc, 0);
    cr_assert_eq(cc.cwnd, SEG(2), "nothing outstanding: max(FlightSize, SMSS) + SMSS");
}

Test(tcp_cc, after_recovery_reno_is_in_congestion_avoidance)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(20));
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(20));
    tcp_cc_exit_recovery(&cc, SEG(15));
    ts_time now = TS_SEC(2);
    round_trip(&cc, &now, TS_MSEC(100));
    cr_assert_eq(cc.cwnd, SEG(11));
}

Test(tcp_cc, recovery_calls_outside_recovery_are_ignored)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(20));
    tcp_cc_on_dupack(&cc);
    tcp_cc_on_partial_ack(&cc, SEG(5));
    tcp_cc_exit_recovery(&cc, SEG(1));
    cr_assert_eq(cc.cwnd, SEG(20));
    cr_assert_eq(cc.ssthresh, SEG(20));
}

Test(tcp_cc, entering_recovery_twice_reduces_only_once)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(20));
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(20));
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(13));
    cr_assert_eq(cc.ssthresh, SEG(10));
    cr_assert_eq(cc.cwnd, SEG(13));
}

Test(tcp_cc, acks_reported_as_new_during_recovery_do_not_grow_cwnd)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(20));
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(20));
    tcp_cc_on_ack(&cc, TS_SEC(1), SEG(20), 0, SEG(20));
    cr_assert_eq(cc.cwnd, SEG(13));
}

/* ---- retransmission timeout (RFC 5681 3.1 eq. 4, RFC 6582 3.2 step 4, RFC 9438 4.8) ---- */

Test(tcp_cc, rto_sets_cwnd_to_one_segment_and_ssthresh_to_half_the_flight)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(20));
    tcp_cc_on_rto(&cc, TS_SEC(1), SEG(16));
    cr_assert_eq(cc.cwnd, SEG(1));
    cr_assert_eq(cc.ssthresh, SEG(8));
}

Test(tcp_cc, a_repeated_rto_for_the_same_data_holds_ssthresh_constant)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(20));
    tcp_cc_on_rto(&cc, TS_SEC(1), SEG(16));
    tcp_cc_on_rto(&cc, TS_SEC(2), SEG(1));
    cr_assert_eq(cc.ssthresh, SEG(8));
    cr_assert_eq(cc.cwnd, SEG(1));

    /* New data acknowledged: the next timeout is a new loss and recomputes ssthresh. */
    tcp_cc_on_ack(&cc, TS_SEC(3), MSS, 0, SEG(1));
    tcp_cc_on_rto(&cc, TS_SEC(4), SEG(6));
    cr_assert_eq(cc.ssthresh, SEG(3));
}

Test(tcp_cc, rto_ends_fast_recovery_without_raising_ssthresh)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(20));
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(20));
    tcp_cc_on_rto(&cc, TS_SEC(2), SEG(30));
    cr_assert_not(cc.in_recovery);
    cr_assert_eq(cc.cwnd, SEG(1));
    cr_assert_eq(cc.ssthresh, SEG(10), "eq. 4 bounds ssthresh from above; the recovery already lowered it");
}

Test(tcp_cc, after_an_rto_slow_start_runs_up_to_ssthresh)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(20));
    tcp_cc_on_rto(&cc, TS_SEC(1), SEG(16));
    ts_time now = TS_SEC(2);
    round_trip(&cc, &now, TS_MSEC(100));
    round_trip(&cc, &now, TS_MSEC(100));
    round_trip(&cc, &now, TS_MSEC(100));
    cr_assert_eq(cc.cwnd, SEG(8), "1, 2, 4, 8 segments");
    round_trip(&cc, &now, TS_MSEC(100));
    cr_assert_eq(cc.cwnd, SEG(9), "at ssthresh: congestion avoidance");
}

/* ---- idle restart (RFC 5681 4.1) ---- */

Test(tcp_cc, idle_restart_caps_cwnd_at_the_initial_window_and_keeps_ssthresh)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(50));
    tcp_cc_on_idle_restart(&cc);
    cr_assert_eq(cc.cwnd, SEG(10));
    cr_assert_eq(cc.ssthresh, SEG(50));
}

Test(tcp_cc, idle_restart_keeps_a_cwnd_already_below_the_initial_window)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_RENO, SEG(4));
    tcp_cc_on_idle_restart(&cc);
    cr_assert_eq(cc.cwnd, SEG(4));
}

/* ---- CUBIC (RFC 9438) ---- */

Test(tcp_cc, cubic_loss_sets_ssthresh_and_cwnd_to_seventy_percent_of_w_max)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_CUBIC, SEG(100));
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(100));
    cr_assert_eq(cc.w_max, SEG(100));
    cr_assert_eq(cc.w_last_max, SEG(100));
    cr_assert_eq(cc.ssthresh, SEG(70));
    cr_assert_eq(cc.cwnd, SEG(73), "NewReno's inflation by three segments applies to CUBIC too");
    tcp_cc_exit_recovery(&cc, SEG(90));
    cr_assert_eq(cc.cwnd, SEG(70));
}

Test(tcp_cc, cubic_k_is_the_time_the_curve_takes_back_to_w_max)
{
    struct tcp_cc cc = cubic_after_loss(SEG(100));
    tcp_cc_on_ack(&cc, TS_SEC(2), MSS, TS_MSEC(100), SEG(70));
    cr_assert_eq(cc.epoch_start, TS_SEC(2));
    cr_assert_eq(cc.cwnd_at_epoch, SEG(70));
    /* K^3 = (W_max - cwnd_epoch) / C = W_max * (1 - beta) / C = 30 / 0.4 segments. */
    cr_assert_float_eq(cc.k * cc.k * cc.k, 75.0, 1e-9, "K = %f", cc.k);
    cr_assert_float_eq(cc.k, 4.2171633265, 1e-9);
    cr_assert(cc.w_est >= SEG(70) && cc.w_est < SEG(70) + MSS, "W_est starts at cwnd_epoch (plus this ACK's sliver)");
}

Test(tcp_cc, cubic_growth_is_concave_below_w_max_flat_at_k_and_convex_beyond)
{
    const double w_max = 1000.0;
    const ts_time rtt = TS_MSEC(100);
    struct tcp_cc cc = cubic_after_loss(SEG(1000));
    cr_assert_eq(cc.cwnd, SEG(700));
    ts_time now = TS_SEC(2);
    round_trip(&cc, &now, rtt);
    double k = cc.k;
    cr_assert_float_eq(k, 9.0856029641, 1e-6);

    /* Sample cwnd (in segments) at each round trip up to t = 2K, and compare with the curve. */
    double at[200], t_of[200];
    int n = 0;
    while (n < 200) {
        double t = (double)(now - cc.epoch_start) / 1e6;
        at[n] = (double)cc.cwnd / MSS;
        t_of[n] = t;
        double expected = w_cubic_segments(t, k, w_max);
        cr_assert(at[n] >= expected - 1.0 && at[n] <= expected + 1.0,
                  "t %.2f s: cwnd %.1f segments, the curve says %.1f", t, at[n], expected);
        n++;
        if (t > 2 * k)
            break;
        round_trip(&cc, &now, rtt);
    }
    cr_assert(n < 200);

    /* Growth per quarter of the way: concave (slowing) up to K, convex (speeding up) after. */
    int q1 = 0, q2 = 0, q3 = 0, q4 = 0;
    for (int i = 0; i < n; i++) {
        if (t_of[i] <= k / 2)
            q1 = i;
        if (t_of[i] <= k)
            q2 = i;
        if (t_of[i] <= 1.5 * k)
            q3 = i;
        q4 = i;
    }
    double first_half = at[q1] - at[0], second_half = at[q2] - at[q1];
    double after_k = at[q3] - at[q2], later = at[q4] - at[q3];
    cr_assert_gt(first_half, 2 * second_half, "concave: %.1f then %.1f segments", first_half, second_half);
    cr_assert_gt(later, 2 * after_k, "convex: %.1f then %.1f segments", after_k, later);

    /* The plateau: at t = K, cwnd is within 1% of W_max and barely moving. */
    cr_assert(at[q2] > 0.99 * w_max && at[q2] < 1.01 * w_max, "cwnd %.1f at K", at[q2]);
    cr_assert_lt(at[q2 + 1] - at[q2 - 1], 2.0, "growth around K: %.2f segments in two RTTs", at[q2 + 1] - at[q2 - 1]);
}

Test(tcp_cc, cubic_reno_friendly_region_dominates_at_small_rtt_and_window)
{
    const ts_time rtt = TS_MSEC(1);
    struct tcp_cc cc = cubic_after_loss(SEG(20));
    ts_time now = TS_SEC(2);
    for (int i = 0; i < 50; i++)
        round_trip(&cc, &now, rtt);
    double t = (double)(now - cc.epoch_start) / 1e6;
    double cubic = w_cubic_segments(t, cc.k, 20.0);
    double cwnd = (double)cc.cwnd / MSS;
    /* W_est: 14 segments, +0.53 per RTT up to cwnd_prior (20), then +1 per RTT: about 58.7 after 50 RTTs. */
    cr_assert_lt(cubic, 14.5, "the cubic curve has barely moved: %.2f", cubic);
    cr_assert(cwnd > 55.0 && cwnd < 62.0, "cwnd %.2f segments follows the Reno estimate", cwnd);
    cr_assert_eq(cc.cwnd, cc.w_est);
}

Test(tcp_cc, cubic_reno_estimate_grows_at_alpha_cubic_until_cwnd_prior)
{
    struct tcp_cc cc = cubic_after_loss(SEG(100));
    ts_time now = TS_SEC(2);
    for (int i = 0; i < 10; i++)
        round_trip(&cc, &now, TS_MSEC(1));
    /* alpha_cubic = 3 * 0.3 / 1.7: ten windows acknowledged add 5.29 segments. */
    double grown = (double)(cc.w_est - cc.cwnd_at_epoch) / MSS;
    cr_assert(grown > 5.0 && grown < 5.4, "W_est grew %.3f segments", grown);
}

Test(tcp_cc, cubic_fast_convergence_lowers_w_max_after_a_loss_below_the_previous_one)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_CUBIC, SEG(90));
    cc.w_max = SEG(100);
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(90));
    cr_assert_eq(cc.w_max, SEG(90) * 17 / 20, "W_max = cwnd * (1 + beta) / 2");
    cr_assert_eq(cc.w_last_max, SEG(90), "cwnd_prior is cwnd before the reduction");
    cr_assert_eq(cc.ssthresh, SEG(63));
}

Test(tcp_cc, cubic_w_max_is_the_cwnd_at_a_loss_above_the_previous_w_max)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_CUBIC, SEG(90));
    cc.w_max = SEG(80);
    tcp_cc_enter_recovery(&cc, TS_SEC(1), SEG(90));
    cr_assert_eq(cc.w_max, SEG(90));
}

Test(tcp_cc, cubic_never_grows_more_than_half_a_window_per_round_trip)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_CUBIC, SEG(10));
    ts_time now = TS_SEC(1);
    tcp_cc_on_ack(&cc, now, 1, TS_MSEC(100), SEG(10));
    /* A thousand seconds into the epoch the curve is far above cwnd; only the 1.5 clamp holds it. */
    now += TS_SEC(1000);
    for (int i = 0; i < 8; i++) {
        uint32_t before = cc.cwnd;
        round_trip(&cc, &now, TS_MSEC(100));
        cr_assert_leq(cc.cwnd, before + before / 2 + 1, "round trip %d: %u -> %u", i, before, cc.cwnd);
        cr_assert_geq(cc.cwnd, before + before / 2 - MSS, "and the clamp, not less, is what it grows by");
    }
}

Test(tcp_cc, cubic_after_a_timeout_starts_its_curve_at_the_epoch_with_k_zero)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_CUBIC, SEG(100));
    cc.w_max = SEG(120);
    tcp_cc_on_rto(&cc, TS_SEC(1), SEG(100));
    cr_assert_eq(cc.cwnd, SEG(1));
    cr_assert_eq(cc.ssthresh, SEG(70), "ssthresh uses beta_cubic on a timeout too");
    ts_time now = TS_SEC(2);
    while (cc.cwnd < cc.ssthresh) {
        now += TS_MSEC(10);
        tcp_cc_on_ack(&cc, now, MSS, TS_MSEC(100), cc.cwnd);
    }
    cr_assert_eq(cc.cwnd, SEG(70));
    cr_assert_eq(cc.epoch_start, 0, "slow start is not an epoch");
    tcp_cc_on_ack(&cc, now, MSS, TS_MSEC(100), cc.cwnd);
    cr_assert_neq(cc.epoch_start, 0);
    cr_assert_float_eq(cc.k, 0.0, 1e-12);
    cr_assert_eq(cc.w_max, cc.cwnd_at_epoch);
    cr_assert(cc.w_est >= cc.cwnd_at_epoch && cc.w_est < cc.cwnd_at_epoch + MSS, "W_est starts at cwnd_epoch");
}

Test(tcp_cc, cubic_slow_start_below_ssthresh_is_renos)
{
    struct tcp_cc cubic = cc_new(TS_CC_CUBIC), reno = cc_new(TS_CC_RENO);
    cubic.ssthresh = reno.ssthresh = SEG(64);
    ts_time a = TS_SEC(1), b = TS_SEC(1);
    for (int i = 0; i < 2; i++) {
        round_trip(&cubic, &a, TS_MSEC(10));
        round_trip(&reno, &b, TS_MSEC(10));
        cr_assert_eq(cubic.cwnd, reno.cwnd);
    }
    cr_assert_eq(cubic.cwnd, SEG(40));
}

Test(tcp_cc, cubic_epoch_starting_at_time_zero_is_still_an_epoch)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_CUBIC, SEG(10));
    tcp_cc_on_ack(&cc, 0, MSS, TS_MSEC(10), SEG(10));
    ts_time start = cc.epoch_start;
    cr_assert_neq(start, 0);
    tcp_cc_on_ack(&cc, TS_MSEC(10), MSS, TS_MSEC(10), SEG(10));
    cr_assert_eq(cc.epoch_start, start, "the second ACK continues the same epoch");
}

Test(tcp_cc, cubic_idle_restart_and_application_limited_acks_end_the_epoch)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_CUBIC, SEG(10));
    tcp_cc_on_ack(&cc, TS_SEC(1), MSS, TS_MSEC(10), SEG(10));
    cr_assert_neq(cc.epoch_start, 0);
    tcp_cc_on_idle_restart(&cc);
    cr_assert_eq(cc.epoch_start, 0);

    tcp_cc_on_ack(&cc, TS_SEC(2), MSS, TS_MSEC(10), SEG(10));
    cr_assert_eq(cc.epoch_start, TS_SEC(2));
    tcp_cc_on_ack(&cc, TS_SEC(3), MSS, TS_MSEC(10), SEG(2));
    cr_assert_eq(cc.epoch_start, 0, "time spent application-limited is not part of t");
}

Test(tcp_cc, cubic_after_a_long_idle_restarts_from_the_restart_window_without_a_jump)
{
    struct tcp_cc cc = cubic_after_loss(SEG(100));
    ts_time now = TS_SEC(2);
    round_trip(&cc, &now, TS_MSEC(100));
    now += TS_SEC(86400);
    tcp_cc_on_idle_restart(&cc);
    cr_assert_eq(cc.cwnd, SEG(10));
    round_trip(&cc, &now, TS_MSEC(100));
    cr_assert_eq(cc.cwnd, SEG(20), "below ssthresh again: slow start, not a curve a day old");
}

/* ---- robustness: no overflow ---- */

Test(tcp_cc, huge_acks_and_flights_never_push_cwnd_past_the_cap)
{
    enum ts_tcp_congestion algorithms[] = {TS_CC_RENO, TS_CC_CUBIC};
    for (size_t a = 0; a < 2; a++) {
        struct tcp_cc cc = cc_avoiding(algorithms[a], TCP_CC_CWND_MAX - 10);
        ts_time now = TS_SEC(1);
        for (int i = 0; i < 100; i++) {
            uint32_t before = cc.cwnd;
            now += TS_SEC(1000);
            tcp_cc_on_ack(&cc, now, UINT32_MAX, INT64_MAX, UINT32_MAX);
            cr_assert_geq(cc.cwnd, before, "%s: cwnd wrapped", tcp_cc_name(algorithms[a]));
            cr_assert_leq(cc.cwnd, TCP_CC_CWND_MAX, "%s", tcp_cc_name(algorithms[a]));
        }
        cr_assert_eq(cc.cwnd, TCP_CC_CWND_MAX);

        struct tcp_cc ss = cc_new(algorithms[a]);
        ss.cwnd = TCP_CC_CWND_MAX - 1;
        tcp_cc_on_ack(&ss, TS_SEC(1), UINT32_MAX, 0, UINT32_MAX);
        tcp_cc_on_ack(&ss, TS_SEC(1), UINT32_MAX, 0, UINT32_MAX);
        cr_assert_eq(ss.cwnd, TCP_CC_CWND_MAX, "%s: slow start saturates", tcp_cc_name(algorithms[a]));
    }
}

Test(tcp_cc, recovery_with_a_huge_flight_stays_within_the_cap)
{
    enum ts_tcp_congestion algorithms[] = {TS_CC_RENO, TS_CC_CUBIC};
    for (size_t a = 0; a < 2; a++) {
        struct tcp_cc cc = cc_avoiding(algorithms[a], TCP_CC_CWND_MAX);
        tcp_cc_enter_recovery(&cc, TS_SEC(1), UINT32_MAX);
        cr_assert_leq(cc.cwnd, TCP_CC_CWND_MAX);
        for (int i = 0; i < 10000; i++)
            tcp_cc_on_dupack(&cc);
        cr_assert_eq(cc.cwnd, TCP_CC_CWND_MAX);
        tcp_cc_on_partial_ack(&cc, 0);
        tcp_cc_exit_recovery(&cc, UINT32_MAX);
        cr_assert_leq(cc.cwnd, TCP_CC_CWND_MAX);
        cr_assert_geq(cc.cwnd, SEG(2));
        tcp_cc_on_rto(&cc, TS_SEC(2), UINT32_MAX);
        cr_assert_eq(cc.cwnd, MSS);
    }
}

Test(tcp_cc, cubic_survives_extreme_clock_values)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_CUBIC, SEG(100));
    tcp_cc_on_ack(&cc, INT64_MIN + 1, MSS, 0, SEG(100));
    tcp_cc_on_ack(&cc, INT64_MAX, MSS, INT64_MAX, SEG(100));
    cr_assert_leq(cc.cwnd, SEG(150));
    cr_assert_geq(cc.cwnd, SEG(100));
    tcp_cc_on_ack(&cc, INT64_MIN, MSS, -5, SEG(100));
    cr_assert_geq(cc.cwnd, SEG(100), "time running backwards is treated as no time");
}

/* ---- switching algorithm, names ---- */

Test(tcp_cc, switching_algorithm_keeps_cwnd_and_ssthresh_and_restarts_the_epoch)
{
    struct tcp_cc cc = cubic_after_loss(SEG(100));
    ts_time now = TS_SEC(2);
    round_trip(&cc, &now, TS_MSEC(100));
    uint32_t cwnd = cc.cwnd, ssthresh = cc.ssthresh;
    cr_assert_neq(cc.epoch_start, 0);

    tcp_cc_set_algorithm(&cc, TS_CC_RENO);
    cr_assert_eq(cc.algorithm, TS_CC_RENO);
    cr_assert_eq(cc.cwnd, cwnd);
    cr_assert_eq(cc.ssthresh, ssthresh);
    cr_assert_eq(cc.epoch_start, 0);

    round_trip(&cc, &now, TS_MSEC(100));
    cr_assert_eq(cc.cwnd, cwnd + MSS, "Reno's growth from where CUBIC left off");

    tcp_cc_set_algorithm(&cc, TS_CC_CUBIC);
    cr_assert_eq(cc.cwnd, cwnd + MSS);
    tcp_cc_on_ack(&cc, now, MSS, TS_MSEC(100), cc.cwnd);
    cr_assert_eq(cc.w_max, SEG(100), "the W_max of the last loss is still known");
}

Test(tcp_cc, setting_the_same_or_an_unknown_algorithm_changes_nothing)
{
    struct tcp_cc cc = cc_avoiding(TS_CC_CUBIC, SEG(10));
    tcp_cc_on_ack(&cc, TS_SEC(1), MSS, TS_MSEC(10), SEG(10));
    ts_time epoch = cc.epoch_start;
    tcp_cc_set_algorithm(&cc, TS_CC_CUBIC);
    cr_assert_eq(cc.epoch_start, epoch);
    tcp_cc_set_algorithm(&cc, (enum ts_tcp_congestion)42);
    cr_assert_eq(cc.algorithm, TS_CC_CUBIC);
    cr_assert_eq(cc.epoch_start, epoch);
}

Test(tcp_cc, names_are_the_ones_linux_uses)
{
    cr_assert_str_eq(tcp_cc_name(TS_CC_CUBIC), "cubic");
    cr_assert_str_eq(tcp_cc_name(TS_CC_RENO), "reno");
    cr_assert_str_eq(tcp_cc_name((enum ts_tcp_congestion)42), "unknown");
}
