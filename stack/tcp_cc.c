/*
 * Congestion control: how large cwnd and ssthresh are, and nothing else.
 *
 * Loss recovery is NewReno for both algorithms (RFC 6582; RFC 9438 4.2: CUBIC "does not make any
 * changes to the TCP Fast Recovery and Fast Retransmit algorithms"). The algorithms differ in how far
 * ssthresh falls on a loss (Reno to 1/2 of the flight, CUBIC to 0.7) and in how cwnd grows in
 * congestion avoidance (Reno one SMSS per RTT, CUBIC along the cubic curve).
 *
 *   tcp_cc_on_ack -> cwnd_limited? -> slow_start | reno_avoidance
 *                                   | cubic_avoidance -> cubic_start_epoch, cubic_update_w_est, cubic_target
 *   tcp_cc_enter_recovery, tcp_cc_on_rto -> remember_congestion_event, loss_ssthresh
 *
 * Units: struct tcp_cc holds bytes; CUBIC's formulas are in segments and seconds (RFC 9438 4.1.2) and are
 * converted where they are evaluated. Every cwnd is capped at TCP_CC_CWND_MAX, so sums never wrap.
 *
 * Left out on purpose: HyStart++ (RFC 9438 4.10 allows Reno's slow start instead), the spurious-loss
 * undo of RFC 9438 4.9 (a MAY, and it needs timestamps or D-SACK from the connection), and PRR (RFC 6937).
 */
#include <stdint.h>
#include <string.h>

#include "tcp_cc.h"

/*
 * RFC 9438 4.1.1: C = 0.4 segments/s^3, beta_cubic = 0.7 (kept as 7/10 so that byte counts are scaled
 * exactly: 0.7 has no exact double); 4.3: alpha_cubic = 3 (1 - beta) / (1 + beta).
 */
#define CUBIC_C 0.4
#define CUBIC_BETA_NUM 7u
#define CUBIC_BETA_DEN 10u
#define CUBIC_BETA ((double)CUBIC_BETA_NUM / CUBIC_BETA_DEN)
#define CUBIC_ALPHA (3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA))

/* RFC 6928 2: the initial window's 14600-byte limit (two segments if those are larger). */
#define TCP_CC_IW_BYTES 14600u
/* The MSS option is 16 bits (RFC 9293 3.2), so no SMSS is larger. */
#define TCP_CC_MSS_MAX 65535u
/* Fractions of a byte of growth are carried in 1/65536 byte. */
#define FRAC_ONE 65536.0

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

static uint32_t cwnd_clamp(uint64_t bytes)
{
    return bytes > TCP_CC_CWND_MAX ? TCP_CC_CWND_MAX : (uint32_t)bytes;
}

/* Seconds from `from` to `to`, never negative; computed in double so no pair of times can overflow. */
static double seconds_between(ts_time from, ts_time to)
{
    double s = ((double)to - (double)from) / 1e6;
    return s > 0.0 ? s : 0.0;
}

/*
 * Cube root of x >= 0 by Newton's method, started from a power of two at or above the root so that the
 * iterates fall monotonically onto it. A dozen lines here keep the core (and every program linking it)
 * free of libm for the one cbrt() it would need.
 */
static double cube_root(double x)
{
    if (!(x > 0.0))
        return 0.0;
    double y = 1.0;
    for (int i = 0; i < 1100 && y * y * y < x; i++)
        y *= 2.0;
    for (int i = 0; i < 100; i++) {
        double next = (2.0 * y + x / (y * y)) / 3.0;
        if (!(next < y))
            break;
        y = next;
    }
    return y;
}

/*
 * Adds per_window * acked / cwnd bytes: "per_window bytes for each window acknowledged", the per-ACK
 * growth RFC 9438 4.3-4.5 write as x / cwnd in segments. Large windows make that well under a byte per
 * ACK, so the fraction not yet earned is carried to the next ACK in *frac instead of being lost.
 */
static uint32_t growth_with_carry(uint32_t *frac, uint32_t acked, double per_window, uint32_t cwnd)
{
    if (!(per_window > 0.0) || cwnd == 0)
        return 0;
    double owed = (double)*frac / FRAC_ONE + (double)acked * per_window / (double)cwnd;
    if (owed >= (double)TCP_CC_CWND_MAX) {
        *frac = 0;
        return TCP_CC_CWND_MAX;
    }
    uint32_t whole = (uint32_t)owed;
    *frac = (uint32_t)((owed - (double)whole) * FRAC_ONE);
    return whole;
}

static bool algorithm_known(enum ts_tcp_congestion algorithm)
{
    return algorithm == TS_CC_CUBIC || algorithm == TS_CC_RENO;
}

/* RFC 6928 2: IW = min(10*MSS, max(2*MSS, 14600)). */
static uint32_t initial_window(uint32_t mss)
{
    uint32_t ten_segments = 10u * mss;
    uint32_t cap = max_u32(2u * mss, TCP_CC_IW_BYTES);
    return cwnd_clamp(min_u32(ten_segments, cap));
}

/*
 * The ssthresh after a loss, from the data in flight (RFC 5681 3.1 calls using cwnd instead "an easy
 * mistake to make"). Reno: RFC 5681 3.1 eq. 4, max(FlightSize / 2, 2*SMSS). CUBIC: RFC 9438 4.6,
 * flight_size * beta_cubic, and at least 2 SMSS.
 */
static uint32_t loss_ssthresh(const struct tcp_cc *cc, uint32_t flight)
{
    uint32_t reduced = cc->algorithm == TS_CC_CUBIC ? (uint32_t)((uint64_t)flight * CUBIC_BETA_NUM / CUBIC_BETA_DEN)
                                                    : flight / 2;
    return max_u32(reduced, 2u * cc->mss);
}

/*
 * What a congestion event records before cwnd falls (kept for both algorithms, so a switch to CUBIC
 * finds a W_max). RFC 9438 4.7 fast convergence: a loss below the previous W_max means this flow's
 * share shrank, so W_max is lowered further, to cwnd * (1 + beta) / 2, and the flow plateaus earlier,
 * leaving room for a newcomer. (4.7 would have it off for a flow known to be alone; a host cannot know
 * that, so it is always on, as in Linux.) RFC 9438 4.6: cwnd_prior = cwnd.
 */
static void remember_congestion_event(struct tcp_cc *cc)
{
    if (cc->cwnd < cc->w_max)
        cc->w_max = (uint32_t)((uint64_t)cc->cwnd * (CUBIC_BETA_DEN + CUBIC_BETA_NUM) / (2u * CUBIC_BETA_DEN));
    else
        cc->w_max = cc->cwnd;
    cc->w_last_max = cc->cwnd;
}

/* Ends the congestion-avoidance epoch: the next congestion-avoidance ACK starts a new one (RFC 9438 4.2). */
static void end_epoch(struct tcp_cc *cc)
{
    cc->epoch_start = 0;
    cc->bytes_acked = 0;
    cc->cwnd_frac = 0;
    cc->w_est_frac = 0;
}

/*
 * RFC 9438 5.8: CUBIC "does not increase its congestion window if a flow is application-limited", and
 * neither does Reno here. RFC 7661 4 counts a window as used (validated) while at least half of it is in
 * flight; that is the test, with the flight before this ACK standing in for RFC 7661's pipeACK.
 */
static bool cwnd_limited(const struct tcp_cc *cc, uint32_t flight)
{
    return 2u * (uint64_t)flight >= cc->cwnd;
}

/*
 * RFC 5681 3.1 eq. 2: in slow start, cwnd += min(N, SMSS) per ACK. RFC 3465 would allow L = 2*SMSS
 * to make up for delayed ACKs; this keeps RFC 5681's conservative bound.
 */
static void slow_start(struct tcp_cc *cc, uint32_t acked)
{
    cc->cwnd = cwnd_clamp((uint64_t)cc->cwnd + min_u32(acked, cc->mss));
}

/*
 * RFC 5681 3.1: congestion avoidance adds about one SMSS per RTT. By byte counting (RFC 5681 3.1 allows
 * it; RFC 3465 2.1): once a whole cwnd of bytes has been acknowledged, cwnd += SMSS. Unlike
 * SMSS*SMSS/cwnd per ACK, it is not fooled by delayed ACKs and does not round to zero on large windows.
 * One SMSS at most per ACK: a stretch ACK covering several windows does not bank growth for later.
 */
static void reno_avoidance(struct tcp_cc *cc, uint32_t acked)
{
    uint64_t counted = (uint64_t)cc->bytes_acked + acked;
    if (counted >= cc->cwnd) {
        counted -= cc->cwnd;
        cc->cwnd = cwnd_clamp((uint64_t)cc->cwnd + cc->mss);
    }
    cc->bytes_acked = counted < cc->cwnd ? (uint32_t)counted : cc->cwnd - 1;
}

/* RFC 9438 4.2 eq. 1: W_cubic(t) = C * (t - K)^3 + W_max, in segments; returned in bytes. */
static double cubic_window(const struct tcp_cc *cc, double t)
{
    double d = t - cc->k;
    return (CUBIC_C * d * d * d + (double)cc->w_max / cc->mss) * cc->mss;
}

/*
 * RFC 9438 4.2: a congestion-avoidance stage starts: t_epoch = now, cwnd_epoch = cwnd, and eq. 2,
 * K = cbrt((W_max - cwnd_epoch) / C) in segments. (Right after a loss cwnd_epoch = beta * W_max, and this
 * is RFC 8312's K = cbrt(W_max (1 - beta) / C).) With W_max unknown, K = 0 and W_max = cwnd_epoch, so the
 * curve starts flat and probes upward: after a timeout (4.8), when slow start ended without a loss or the
 * algorithm was switched (4.10). A W_max at or below cwnd is treated the same way rather than giving a
 * negative K. RFC 9438 4.3: W_est starts at cwnd_epoch. The time 0 marks "no epoch", so an epoch starting
 * at time 0 is recorded 1 us late.
 */
static void cubic_start_epoch(struct tcp_cc *cc, ts_time now)
{
    cc->epoch_start = now != 0 ? now : 1;
    cc->cwnd_at_epoch = cc->cwnd;
    if (cc->w_last_max == 0)
        cc->w_last_max = cc->cwnd;
    if (cc->w_max <= cc->cwnd) {
        cc->w_max = cc->cwnd;
        cc->k = 0.0;
    } else {
        cc->k = cube_root((double)(cc->w_max - cc->cwnd) / cc->mss / CUBIC_C);
    }
    cc->w_est = cc->cwnd;
    cc->cwnd_frac = 0;
    cc->w_est_frac = 0;
}

/*
 * RFC 9438 4.3 eq. 4: W_est += alpha_cubic * segments_acked / cwnd, i.e. alpha_cubic SMSS per window
 * acknowledged, counted in bytes as 4.3 asks of byte-counting stacks. alpha_cubic (about 0.53) gives
 * Reno's average window under CUBIC's gentler decrease; once W_est reaches cwnd_prior, alpha is 1, Reno's
 * own rate.
 */
static void cubic_update_w_est(struct tcp_cc *cc, uint32_t acked)
{
    double alpha = cc->w_est >= cc->w_last_max ? 1.0 : CUBIC_ALPHA;
    uint32_t grow = growth_with_carry(&cc->w_est_frac, acked, alpha * cc->mss, cc->cwnd);
    cc->w_est = cwnd_clamp((uint64_t)cc->w_est + grow);
}

/*
 * RFC 9438 4.2: target = W_cubic(t + RTT), kept within [cwnd, 1.5 * cwnd]: cwnd never shrinks while
 * growing and never grows faster than half a window per RTT, below slow start's rate.
 */
static uint32_t cubic_target(const struct tcp_cc *cc, double t)
{
    double w = cubic_window(cc, t);
    double low = (double)cc->cwnd;
    double high = 1.5 * (double)cc->cwnd;
    if (!(w >= low))
        w = low;
    if (w > high)
        w = high;
    return cwnd_clamp((uint64_t)w);
}

static void cubic_avoidance(struct tcp_cc *cc, ts_time now, uint32_t acked, ts_time rtt)
{
    if (cc->epoch_start == 0)
        cubic_start_epoch(cc, now);
    double t = seconds_between(cc->epoch_start, now);
    cubic_update_w_est(cc, acked);
    /* RFC 9438 4.3: while the curve is below the Reno estimate, cwnd follows the estimate. */
    if (cubic_window(cc, t) < (double)cc->w_est) {
        cc->cwnd = max_u32(cc->cwnd, cc->w_est);
        return;
    }
    /* RFC 9438 4.4 (concave, cwnd < W_max) and 4.5 (convex): cwnd += (target - cwnd) / cwnd per ACK. */
    uint32_t target = cubic_target(cc, t + seconds_between(0, rtt));
    uint32_t grow = growth_with_carry(&cc->cwnd_frac, acked, (double)(target - cc->cwnd), cc->cwnd);
    cc->cwnd = min_u32(cwnd_clamp((uint64_t)cc->cwnd + grow), target);
}

void tcp_cc_init(struct tcp_cc *cc, enum ts_tcp_congestion algorithm, uint32_t mss)
{
    memset(cc, 0, sizeof(*cc));
    cc->algorithm = algorithm_known(algorithm) ? algorithm : TS_CC_CUBIC;
    /* A zero SMSS would stall the connection and divide by zero; no SMSS exceeds the 16-bit option. */
    cc->mss = mss == 0 ? 1 : min_u32(mss, TCP_CC_MSS_MAX);
    cc->cwnd = initial_window(cc->mss);
    cc->ssthresh = TCP_CC_SSTHRESH_INITIAL;
}

void tcp_cc_on_ack(struct tcp_cc *cc, ts_time now, uint32_t acked, ts_time rtt, uint32_t flight)
{
    /* In recovery the connection reports partial and full ACKs instead (RFC 6582 3.2 step 3). */
    if (acked == 0 || cc->in_recovery)
        return;
    /* New data arrived after a timeout: the next expiry is a new loss (RFC 5681 3.1). */
    cc->timed_out = false;
    if (!cwnd_limited(cc, flight)) {
        /* RFC 9438 4.2: t must not include application-limited periods; restart the epoch instead. */
        end_epoch(cc);
        return;
    }
    /* RFC 5681 3.1: slow start while cwnd < ssthresh (at equality either is allowed; avoidance here). */
    if (cc->cwnd < cc->ssthresh) {
        slow_start(cc, acked);
        return;
    }
    if (cc->algorithm == TS_CC_CUBIC)
        cubic_avoidance(cc, now, acked, rtt);
    else
        reno_avoidance(cc, acked);
}

/*
 * RFC 5681 3.2 steps 2 and 3 (entered as RFC 6582 3.2 step 2 says): ssthresh from the flight, then
 * cwnd = ssthresh + 3*SMSS for the three segments the duplicate ACKs report as having left the network.
 * For CUBIC, ssthresh and W_max follow RFC 9438 4.6 and 4.7. A second call in the same recovery is
 * ignored: one loss episode, one reduction.
 */
void tcp_cc_enter_recovery(struct tcp_cc *cc, ts_time now, uint32_t flight)
{
    (void)now;
    if (cc->in_recovery)
        return;
    remember_congestion_event(cc);
    cc->ssthresh = loss_ssthresh(cc, flight);
    cc->cwnd = cwnd_clamp((uint64_t)cc->ssthresh + 3u * (uint64_t)cc->mss);
    cc->in_recovery = true;
    end_epoch(cc);
}

/* RFC 5681 3.2 step 4: each further duplicate ACK means one more segment left the network: cwnd += SMSS. */
void tcp_cc_on_dupack(struct tcp_cc *cc)
{
    if (!cc->in_recovery)
        return;
    cc->cwnd = cwnd_clamp((uint64_t)cc->cwnd + cc->mss);
}

/*
 * RFC 6582 3.2 step 3, partial acknowledgments: deflate cwnd by the newly acknowledged data, and add
 * back SMSS if at least one SMSS was acknowledged, for the retransmission that now takes its place.
 * cwnd never falls below one SMSS here, so the connection can always send.
 */
void tcp_cc_on_partial_ack(struct tcp_cc *cc, uint32_t acked)
{
    if (!cc->in_recovery)
        return;
    uint32_t deflated = cc->cwnd > acked ? cc->cwnd - acked : 0;
    if (acked >= cc->mss)
        deflated = cwnd_clamp((uint64_t)deflated + cc->mss);
    cc->cwnd = max_u32(deflated, cc->mss);
}

/*
 * RFC 6582 3.2 step 3, full acknowledgments, option (1): cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
 * Option (2), cwnd = ssthresh, could release ssthresh - FlightSize bytes in one burst when little is
 * outstanding; option (1) needs no extra burst limiting.
 */
void tcp_cc_exit_recovery(struct tcp_cc *cc, uint32_t flight)
{
    if (!cc->in_recovery)
        return;
    uint64_t flight_plus_one = (uint64_t)max_u32(flight, cc->mss) + cc->mss;
    cc->cwnd = cwnd_clamp(flight_plus_one < cc->ssthresh ? flight_plus_one : cc->ssthresh);
    cc->in_recovery = false;
    end_epoch(cc);
}

/*
 * RFC 5681 3.1: on a timeout, ssthresh = eq. 4 (CUBIC: with beta_cubic, RFC 9438 4.8) and cwnd = LW,
 * one SMSS. "When ... the given segment has already been retransmitted by way of the retransmission
 * timer at least once, the value of ssthresh is held constant": an expiry with no new ACK since the last
 * one leaves it alone. An expiry during fast recovery finds ssthresh already lowered for this loss; eq. 4
 * ("no more than") then only bounds it. RFC 6582 3.2 step 4: a timeout ends fast recovery.
 * RFC 9438 4.8: the first congestion-avoidance stage after a timeout uses K = 0 and W_max = cwnd at its
 * start, which W_max = 0 ("unknown") gives in cubic_start_epoch.
 */
void tcp_cc_on_rto(struct tcp_cc *cc, ts_time now, uint32_t flight)
{
    (void)now;
    if (!cc->timed_out) {
        uint32_t bound = loss_ssthresh(cc, flight);
        if (cc->in_recovery) {
            cc->ssthresh = min_u32(cc->ssthresh, bound);
        } else {
            cc->w_last_max = cc->cwnd;
            cc->ssthresh = bound;
        }
    }
    cc->cwnd = cc->mss;
    cc->w_max = 0;
    cc->in_recovery = false;
    cc->timed_out = true;
    end_epoch(cc);
}

/*
 * RFC 5681 4.1: after an idle period longer than RTO, cwnd = RW = min(IW, cwnd); ssthresh stays.
 * RFC 9438 5.8: the idle time must not count in t, so the epoch restarts with the next ACK.
 */
void tcp_cc_on_idle_restart(struct tcp_cc *cc)
{
    cc->cwnd = min_u32(cc->cwnd, initial_window(cc->mss));
    end_epoch(cc);
}

/*
 * A setsockopt mid-connection: cwnd, ssthresh, W_max and any recovery in progress carry over; only the
 * growth state restarts. Setting the current algorithm again changes nothing; an unknown value is ignored
 * (the socket layer rejects it before it gets here).
 */
void tcp_cc_set_algorithm(struct tcp_cc *cc, enum ts_tcp_congestion algorithm)
{
    if (!algorithm_known(algorithm) || algorithm == cc->algorithm)
        return;
    cc->algorithm = algorithm;
    end_epoch(cc);
}

const char *tcp_cc_name(enum ts_tcp_congestion algorithm)
{
    switch (algorithm) {
    case TS_CC_CUBIC:
        return "cubic";
    case TS_CC_RENO:
        return "reno";
    }
    return "unknown";
}
