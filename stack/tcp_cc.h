/*
 * Congestion control (RFC 5681, RFC 6582 NewReno, RFC 9438 CUBIC), kept apart
 * from the state machine: the connection tells it what happened, it says how
 * big cwnd and ssthresh are. Pure functions over one struct: no clock reads,
 * times come in as arguments.
 *
 * The connection calls:
 *   tcp_cc_init          when the connection is established (RFC 6928 initial window)
 *   tcp_cc_on_ack        for each ACK that advances SND.UNA outside recovery
 *   tcp_cc_enter_recovery on the third duplicate ACK (RFC 5681 3.2 / RFC 6582 3.2 step 2)
 *   tcp_cc_on_partial_ack while in recovery, for an ACK below the recovery point
 *   tcp_cc_exit_recovery when an ACK covers the recovery point (RFC 6582 3.2 step 3)
 *   tcp_cc_on_dupack     for each further duplicate ACK in recovery (cwnd inflation)
 *   tcp_cc_on_rto        when the retransmission timer expires (RFC 5681 3.1 eq. 4, cwnd = 1 MSS)
 *   tcp_cc_on_idle_restart after an idle period longer than RTO (RFC 5681 4.1)
 */
#ifndef TS_TCP_CC_H
#define TS_TCP_CC_H

#include <stdbool.h>
#include <stdint.h>

#include "tapstack/pcb.h"
#include "tapstack/stack.h"

struct tcp_cc {
    enum ts_tcp_congestion algorithm;
    uint32_t mss;       /* sender MSS (SMSS) in bytes */
    uint32_t cwnd;      /* bytes */
    uint32_t ssthresh;  /* bytes */
    bool in_recovery;
    uint32_t bytes_acked; /* RFC 3465 byte counting in congestion avoidance (Reno) */
    /* CUBIC (RFC 9438) state */
    uint32_t w_max;        /* bytes: cwnd at the last congestion event, after fast convergence (4.7); 0 = unknown */
    uint32_t w_last_max;   /* bytes: cwnd just before the last reduction (RFC 9438 cwnd_prior, 4.3 and 4.6) */
    ts_time epoch_start;   /* start of the current congestion-avoidance epoch; 0 = none */
    double k;              /* seconds (4.2 eq. 2) */
    uint32_t w_est;        /* bytes: the Reno-friendly estimate (4.3) */
    uint32_t cwnd_at_epoch;
    uint32_t cwnd_frac;    /* CUBIC growth earned but short of a whole byte, in 1/65536 byte (4.4, 4.5) */
    uint32_t w_est_frac;   /* the same for W_est (4.3) */
    bool timed_out;        /* an RTO cut cwnd, no new data acked since: another RTO keeps ssthresh (RFC 5681 3.1) */
};

/* The largest cwnd kept: a window beyond 2^30 bytes can never be used (RFC 7323 2.3 caps the send window below it). */
#define TCP_CC_CWND_MAX (UINT32_C(1) << 30)
/* RFC 5681 3.1: the initial ssthresh "MAY be arbitrarily high". */
#define TCP_CC_SSTHRESH_INITIAL (UINT32_MAX / 2)

void tcp_cc_init(struct tcp_cc *cc, enum ts_tcp_congestion algorithm, uint32_t mss);
/*
 * acked: bytes newly acknowledged; rtt: the latest RTT sample (0 if none); flight: bytes in flight before the ACK.
 * cwnd grows only while at least half of it is in flight (RFC 9438 5.8, RFC 7661): an application-limited
 * sender does not earn a window it never used.
 */
void tcp_cc_on_ack(struct tcp_cc *cc, ts_time now, uint32_t acked, ts_time rtt, uint32_t flight);
/* flight: bytes outstanding when the third duplicate ACK arrives. */
void tcp_cc_enter_recovery(struct tcp_cc *cc, ts_time now, uint32_t flight);
void tcp_cc_on_dupack(struct tcp_cc *cc);
void tcp_cc_on_partial_ack(struct tcp_cc *cc, uint32_t acked);
/* flight: bytes still outstanding after the ACK that ends recovery. */
void tcp_cc_exit_recovery(struct tcp_cc *cc, uint32_t flight);
/* flight: bytes outstanding when the timer expired. Call it on every expiry: repeats keep ssthresh. */
void tcp_cc_on_rto(struct tcp_cc *cc, ts_time now, uint32_t flight);
void tcp_cc_on_idle_restart(struct tcp_cc *cc);
/* Changes the algorithm mid-connection (a setsockopt): keeps cwnd and ssthresh, resets CUBIC's epoch. */
void tcp_cc_set_algorithm(struct tcp_cc *cc, enum ts_tcp_congestion algorithm);
const char *tcp_cc_name(enum ts_tcp_congestion algorithm);

#endif
