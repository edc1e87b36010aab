/*
 * TCP's timers, each an absolute deadline in the connection:
 *   rto_at        retransmission (RFC 6298), also for SYN and FIN
 *   delack_at     delayed ACK (RFC 1122 4.2.3.2, at most 500 ms; 200 ms here by default)
 *   persist_at    zero-window probes (RFC 9293 3.8.6.1, RFC 1122 4.2.2.17)
 *   keepalive_at  keep-alive probes (RFC 1122 4.2.3.6)
 *   timewait_at   TIME-WAIT's 2 MSL (RFC 9293 3.4.2), or an orphaned FIN-WAIT-2's limit
 * Every write to one goes through tcp_timer_set, which keeps the connection's place in the
 * stack's timer heap (tcp_timer_heap.c): polls and deadlines never scan connections.
 */
#include <errno.h>

#include "tcp.h"

/* RFC 6298 2.2-2.4: the first sample sets SRTT and RTTVAR; later ones smooth them (alpha 1/8, beta 1/4). */
void tcp_rtt_sample(struct ts_stack *st, ts_time now, struct tcp_conn *c, ts_time rtt)
{
    if (rtt < 0)
        return;
    if (rtt == 0)
        rtt = 1;
    bool first = !c->have_rtt;
    if (!c->have_rtt) {
        c->srtt = rtt;
        c->rttvar = rtt / 2;
        c->have_rtt = true;
    } else {
        ts_time delta = c->srtt > rtt ? c->srtt - rtt : rtt - c->srtt;
        c->rttvar = (3 * c->rttvar + delta) / 4;
        c->srtt = (7 * c->srtt + rtt) / 8;
    }
    /* RTO = SRTT + max(G, K*RTTVAR), K = 4; the clock granularity G is 1 µs here. */
    ts_time rto = c->srtt + (4 * c->rttvar > 1 ? 4 * c->rttvar : 1);
    if (rto < st->cfg.timing.tcp_rto_min)
        rto = st->cfg.timing.tcp_rto_min; /* 2.4 */
    if (rto > st->cfg.timing.tcp_rto_max)
        rto = st->cfg.timing.tcp_rto_max; /* 2.5 */
    TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
             "%s: RTT %lld us: SRTT %lld us, RTTVAR %lld us, RTO %lld -> %lld us%s",
             first ? "RFC 6298 2.2 (first sample)" : "RFC 6298 2.3", (long long)rtt, (long long)c->srtt,
             (long long)c->rttvar, (long long)c->rto, (long long)rto,
             rto == st->cfg.timing.tcp_rto_min ? " (RFC 6298 2.4: raised to the minimum)"
             : rto == st->cfg.timing.tcp_rto_max ? " (RFC 6298 2.5: capped at the maximum)"
                                                : "");
    c->rto = rto;
}

/*
 * The ACK of our SYN (or SYN,ACK) arrived. Sent once and its time known (a SYN cookie keeps none), it
 * gives the first RTT sample (Karn: not if retransmitted). RFC 6298 5.7: if the timer expired awaiting
 * it and RTO started below 3 s, RTO is re-initialized to 3 s for the data. The count of retransmissions
 * in a row starts afresh: tcp_data_retries bounds the data's, not the SYN's.
 */
void tcp_rtt_handshake_done(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    c->backoff = 0;
    c->retransmits_in_row = 0;
    if (c->retransmits == 0) {
        if (c->rtt_started != TS_TIME_NEVER)
            tcp_rtt_sample(st, now, c, now - c->rtt_started);
        return;
    }
    if (st->cfg.timing.tcp_rto_initial < TS_SEC(3)) {
        c->rto = TS_SEC(3) < st->cfg.timing.tcp_rto_max ? TS_SEC(3) : st->cfg.timing.tcp_rto_max;
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 6298 5.7: the SYN was retransmitted, no RTT sample (Karn); RTO %lld us for the data",
                 (long long)c->rto);
    }
}

void tcp_rto_arm(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    (void)st;
    tcp_timer_set(c, &c->rto_at, now + c->rto);
}

void tcp_keepalive_reset(struct tcp_conn *c, ts_time now)
{
    c->keepalive_probes = 0;
    tcp_timer_set(c, &c->keepalive_at, c->keepalive ? now + c->keepidle : TS_TIME_NEVER);
}

void tcp_timewait_start(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    /* delack_at stays: the ACK of the FIN that brought us here is still due (RFC 9293 3.10.7.4). */
    tcp_timer_set(c, &c->rto_at, TS_TIME_NEVER);
    tcp_timer_set(c, &c->persist_at, TS_TIME_NEVER);
    tcp_timer_set(c, &c->keepalive_at, TS_TIME_NEVER);
    tcp_ring_free(st, &c->snd);
    tcp_timer_set(c, &c->timewait_at, now + 2 * st->cfg.timing.tcp_msl);
    if (TRACE_ON(st, TS_TRACE_TCP)) {
        char t[24];
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "RFC 9293 3.6.1 (MUST-13): TIME-WAIT lingers 2 MSL (%s)",
                 tcp_trace_time(2 * st->cfg.timing.tcp_msl, t));
    }
}

/* TS_OPT_USER_TIMEOUT in microseconds, 0 when unset. */
static ts_time tcp_user_timeout(const struct tcp_conn *c)
{
    return c->pcb != NULL ? TS_MSEC(c->pcb->user_timeout_ms) : 0;
}

/* RFC 9293 3.8.3 R2: the retransmission count (tcp_syn_retries / tcp_data_retries), or, when the
 * application set one (MUST-21), the time the oldest segment has been waiting for its ACK. */
static bool tcp_r2_reached(const struct ts_stack *st, ts_time now, const struct tcp_conn *c, bool handshake)
{
    ts_time user = tcp_user_timeout(c);
    if (user > 0)
        return now - c->unacked_since >= user;
    unsigned limit = handshake ? st->cfg.timing.tcp_syn_retries : st->cfg.timing.tcp_data_retries;
    return c->retransmits_in_row >= limit;
}

/* With a user timeout the timer also fires when it runs out, not only at the next backed-off RTO. */
static void tcp_rto_clamp_to_user_timeout(struct tcp_conn *c)
{
    ts_time user = tcp_user_timeout(c);
    if (user > 0 && c->rto_at != TS_TIME_NEVER && c->rto_at > c->unacked_since + user)
        tcp_timer_set(c, &c->rto_at, c->unacked_since + user);
}

/*
 * RFC 6298 5.4-5.7: retransmit the earliest unacknowledged segment and back the timer off.
 * Returns false if the connection gave up (and may have been freed with its pcb).
 */
static bool tcp_rto_expired(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    bool handshake = c->state == TS_TCP_SYN_SENT || c->state == TS_TCP_SYN_RECEIVED;
    st->counters.tcp.rto_expired++;
    if (c->retransmits_in_row == 0)
        c->unacked_since = now - c->rto;
    if (tcp_r2_reached(st, now, c, handshake)) {
        st->counters.tcp.timeouts++;
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 1122 4.2.3.5: RTO expired after %u retransmissions without an ACK (R2): giving up, ETIMEDOUT",
                 c->retransmits_in_row);
        /* RFC 9293 3.8.4 (MUST-47), as Linux: a soft error seen meanwhile says more than ETIMEDOUT. */
        int err = c->soft_error != 0 ? c->soft_error : ETIMEDOUT;
        if (err != ETIMEDOUT)
            TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                     "RFC 9293 3.8.4 (MUST-47): reporting the soft error (errno %d) instead", err);
        tcp_conn_finish(st, now, c, err);
        return false;
    }
    c->retransmits_in_row++;
    c->backoff++;
    ts_time old = c->rto;
    c->rto = c->rto * 2 > st->cfg.timing.tcp_rto_max ? st->cfg.timing.tcp_rto_max : c->rto * 2; /* 5.5 */
    if (TRACE_ON(st, TS_TRACE_TCP)) {
        char from[24], to[24];
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 6298 5.5: RTO expired, backing off to %s (from %s, retransmission %u); RFC 6298 5.4: resending "
                 "%s",
                 tcp_trace_time(c->rto, to), tcp_trace_time(old, from), c->retransmits_in_row,
                 handshake ? "our SYN" : "from SND.UNA");
    }
    c->rtt_timing = false; /* Karn */
    if (handshake) {
        c->retransmits++;
        st->counters.tcp.retransmits++;
        tcp_send_syn(st, now, c);
        tcp_rto_arm(st, now, c);
        tcp_rto_clamp_to_user_timeout(c);
        tcp_trace_cc(st, now, c);
        return true;
    }
    /* RFC 5681 3.1 eq. 4 and RFC 6582 4.2: loss window, and leave any fast recovery. */
    uint32_t flight = c->snd_max - c->snd_una;
    bool repeated = c->cc.timed_out;
    tcp_cc_on_rto(&c->cc, now, flight);
    TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
             "%s: after the timeout ssthresh %u, cwnd %u (loss window, RFC 5681 3.1); RFC 6582 3.2 step 4: recover "
             "%u, recovery left; RFC 2018 8: SACK information forgotten",
             repeated                          ? "RFC 5681 3.1: a repeated timeout keeps ssthresh"
             : c->cc.algorithm == TS_CC_CUBIC ? "RFC 9438 4.8 / 4.6: flight x 0.7, at least 2 SMSS"
                                               : "RFC 5681 3.1 eq. 4: max(FlightSize / 2, 2 SMSS)",
             c->cc.ssthresh, c->cc.cwnd, tcp_rel_snd(c, c->snd_max));
    c->recover = c->snd_max;
    c->dupacks = 0;
    c->sacked_count = 0; /* RFC 2018 8: after a timeout the SACK information may be stale */
    c->snd_nxt = c->snd_una;
    tcp_timer_set(c, &c->rto_at, TS_TIME_NEVER);
    tcp_output(st, now, c);
    if (c->rto_at == TS_TIME_NEVER)
        tcp_rto_arm(st, now, c);
    tcp_rto_clamp_to_user_timeout(c);
    tcp_trace_cc(st, now, c);
    return true;
}

static void tcp_persist_expired(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    if (c->snd_wnd > 0) {
        /* The window opened but too little for SWS avoidance to use it: the override timeout. */
        tcp_timer_set(c, &c->persist_at, TS_TIME_NEVER);
        c->sws_override = true;
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 9293 3.8.6.2.1: SWS override timeout expired, sending what the window (%u) allows", c->snd_wnd);
        tcp_output(st, now, c);
        return;
    }
    TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
             "RFC 9293 3.8.6.1: persist timer expired with a zero window: sending a window probe (probe %u; RFC 1122 "
             "4.2.2.17: never give up while the peer answers)", c->persist_backoff + 1);
    tcp_send_probe(st, now, c, false);
    /* Back off like the RTO, up to 60 s; RFC 1122 4.2.2.17: never give up while the peer answers. */
    if (c->persist_backoff < 16)
        c->persist_backoff++;
    ts_time interval = c->rto << c->persist_backoff;
    if (interval > TS_SEC(60) || interval <= 0)
        interval = TS_SEC(60);
    tcp_timer_set(c, &c->persist_at, now + interval);
}

static void tcp_keepalive_expired(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    if (c->state != TS_TCP_ESTABLISHED && c->state != TS_TCP_CLOSE_WAIT) {
        tcp_timer_set(c, &c->keepalive_at, TS_TIME_NEVER);
        return;
    }
    /* RFC 9293 3.8.4 (MUST-26): probe only an idle connection. While sent data awaits its ACK (or queued
     * data waits for the window) the retransmission or persist timer governs; check again an idle time on
     * (any ACK that arrives restarts the idle time anyway). */
    if (c->snd.len > 0 || c->snd_max != c->snd_una) {
        tcp_timer_set(c, &c->keepalive_at, now + c->keepidle);
        return;
    }
    if (c->keepalive_probes >= c->keepcnt) {
        st->counters.tcp.timeouts++;
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 1122 4.2.3.6 / RFC 9293 3.8.4: %u keep-alive probes unanswered, ETIMEDOUT", c->keepalive_probes);
        tcp_conn_finish(st, now, c, c->soft_error != 0 ? c->soft_error : ETIMEDOUT); /* MUST-47, as above */
        return;
    }
    c->keepalive_probes++;
    TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
             "RFC 9293 3.8.4 / RFC 1122 4.2.3.6: idle, keep-alive probe %u of %u (SEG.SEQ = SND.NXT - 1)",
             c->keepalive_probes, c->keepcnt);
    tcp_send_probe(st, now, c, true);
    tcp_timer_set(c, &c->keepalive_at, now + c->keepintvl);
}

void tcp_conn_poll(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    if (c->timewait_at <= now) {
        tcp_conn_finish(st, now, c, c->state == TS_TCP_TIME_WAIT ? 0 : ETIMEDOUT);
        return;
    }
    if (c->delack_at <= now && c->ack_pending && c->ack_held_for_batch) {
        st->counters.tcp.acks_at_batch_end++;
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 9293 3.8.6.3: the input batch is over, sending the ACK held for it");
        tcp_send_ack(st, now, c);
    } else if (c->delack_at <= now && c->ack_pending) {
        st->counters.tcp.delayed_acks++;
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "RFC 1122 4.2.3.2: delayed-ACK timer expired, sending the ACK");
        tcp_send_ack(st, now, c);
    }
    if (c->delack_at <= now)
        tcp_timer_set(c, &c->delack_at, TS_TIME_NEVER);
    if (c->rto_at <= now && !tcp_rto_expired(st, now, c))
        return;
    if (c->persist_at <= now)
        tcp_persist_expired(st, now, c);
    if (c->keepalive_at <= now)
        tcp_keepalive_expired(st, now, c);
}
