/*
 * Segment arrival (RFC 9293 3.10.7), in the RFC's order, with RFC 5961's
 * stricter RST/SYN/ACK checks, RFC 7323's PAWS and RTT measurement, RFC 2018
 * SACK, and RFC 5681 / RFC 6582 loss recovery.
 *
 *   tcp_input                 parse, find the connection (or listener, or none)
 *   tcp_segment_arrives       per state:
 *     tcp_syn_sent_arrives      3.10.7.3
 *     otherwise                 3.10.7.4: first..eighth check
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tcp.h"
#include "wire/icmp.h"

/* ---- input dispatch ------------------------------------------------------------ */

static bool tcp_parse_segment(struct ts_stack *st, ts_time now, const struct ipv4_rx *rx, struct tcp_segment *seg)
{
    switch (tcp_parse_checked(rx->payload, rx->payload_len, rx->hdr.src, rx->hdr.dst, !rx->l4_csum_trusted, &seg->hdr,
                              &seg->data, &seg->len)) {
    case TCP_PARSE_OK:
        break;
    case TCP_PARSE_TRUNCATED:
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_truncated, "%zu bytes, shorter than the 20-byte header (RFC 9293 3.1)",
                rx->payload_len);
        return false;
    case TCP_PARSE_BAD_OFFSET:
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_bad_offset, "data offset outside 20..%zu (RFC 9293 3.1)",
                rx->payload_len);
        return false;
    case TCP_PARSE_BAD_CHECKSUM:
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_bad_checksum, "checksum does not verify (RFC 9293 3.1, MUST-2)");
        return false;
    case TCP_PARSE_BAD_OPTION:
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_bad_option, "malformed option (RFC 9293 3.1, RFC 1122 4.2.2.5)");
        return false;
    }
    if (rx->l4_csum_trusted)
        st->counters.tcp.rx_csum_trusted++;
    seg->src = rx->hdr.src;
    seg->dst = rx->hdr.dst;
    seg->ttl = rx->hdr.ttl;
    seg->seg_len = (uint32_t)seg->len + ((seg->hdr.flags & TCP_SYN) ? 1 : 0) + ((seg->hdr.flags & TCP_FIN) ? 1 : 0);
    return true;
}

void tcp_input(struct ts_stack *st, ts_time now, const struct ipv4_rx *rx)
{
    struct tcp_segment seg;
    if (!tcp_parse_segment(st, now, rx, &seg))
        return;
    st->counters.tcp.rx_segments++;
    /* RFC 9293 3.9.1 (MUST-57): a segment to a broadcast or multicast address is discarded. */
    if (rx->to_broadcast) {
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_broadcast, "to a broadcast address (RFC 1122 4.2.3.10)");
        return;
    }
    bool is_listener;
    struct ts_pcb *pcb = tcp_find(st, seg.dst, seg.hdr.dst_port, seg.src, seg.hdr.src_port, &is_listener);
    if (TRACE_ON(st, TS_TRACE_TCP))
        tcp_trace_rx(st, now, pcb != NULL && !is_listener ? pcb->tcp : NULL, &seg);
    if (pcb == NULL) {
        /* RFC 9293 3.10.7.1: CLOSED. An incoming RST is discarded; anything else is answered with a RST. */
        if (seg.hdr.flags & TCP_RST) {
            TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_rst_no_socket, "RFC 9293 3.10.7.1: RST for no connection, "
                    "ignored");
            return;
        }
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_no_socket, "RFC 9293 3.10.7.1: no connection on port %u, answering "
                "with a reset",
                seg.hdr.dst_port);
        tcp_send_reset_for(st, now, &seg);
        return;
    }
    if (is_listener)
        tcp_listen_input(st, now, pcb, &seg);
    else
        tcp_segment_arrives(st, now, pcb->tcp, &seg);
    if (TRACE_ON(st, TS_TRACE_TCP))
        tcp_trace_cc_after_segment(st, now, seg.dst, seg.hdr.dst_port, seg.src, seg.hdr.src_port);
}

/* ---- options ------------------------------------------------------------------ */

void tcp_apply_syn_options(struct ts_stack *st, ts_time now, struct tcp_conn *c, const struct tcp_options *opt)
{
    /* RFC 9293 3.7.1 (MUST-15): without an MSS option, assume 536. Clamp what the peer says to sane bounds:
     * at least 88 (Linux's floor, so a hostile MSS of 1 cannot make us send a segment per byte). */
    uint32_t mss = opt->has_mss ? opt->mss : 536;
    if (mss < 88)
        mss = 88;
    uint32_t ours = tcp_mss_for_link(st);
    if (mss > ours)
        mss = ours;
    if (c->user_mss != 0 && mss > c->user_mss)
        mss = c->user_mss;
    /* RFC 7323 2.2: scaling is on only if both SYNs carried the option; the shift is at most 14 (2.3). */
    c->wscale_ok = opt->has_wscale;
    c->snd_wscale = opt->wscale > 14 ? 14 : opt->wscale;
    if (!c->wscale_ok)
        c->rcv_wscale = 0;
    c->ts_ok = opt->has_timestamps;
    if (c->ts_ok) {
        /* RFC 7323 5.5: TS.Recent is valid for 24 days from when it was set, so its age starts now
         * (left at 0, PAWS would stay off until the first update on a clock already past 24 days). */
        c->ts_recent = opt->ts_val;
        c->ts_recent_age = now;
    }
    c->sack_ok = opt->sack_permitted;
    /* RFC 7323 3.2: the timestamp option's 12 bytes come out of every segment's payload. */
    c->snd_mss = (uint16_t)(mss - (c->ts_ok ? 12 : 0));
    tcp_cc_init(&c->cc, c->pcb->congestion, c->snd_mss);
    /* RFC 5681 3.1 / RFC 6928 2: if the SYN or SYN,ACK had to be retransmitted, start from one segment. */
    if (c->retransmits > 0)
        c->cc.cwnd = c->snd_mss;
    TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
             "RFC 9293 3.7.1: send MSS %u (peer's %u%s, link's %u%s); RFC 7323 2.2: window scale %s (send shift %u, "
             "receive shift %u); RFC 7323 3.2: timestamps %s; RFC 2018 2: SACK %s; RFC 5681 3.1: initial cwnd %u",
             c->snd_mss, opt->has_mss ? opt->mss : 536u, opt->has_mss ? "" : ", none sent: 536 assumed", ours,
             c->ts_ok ? ", less 12 for timestamps (RFC 6691)" : "", c->wscale_ok ? "on" : "off",
             c->wscale_ok ? c->snd_wscale : 0, c->rcv_wscale, c->ts_ok ? "on" : "off", c->sack_ok ? "on" : "off",
             c->cc.cwnd);
}

/* ---- RFC 5961 challenge ACKs ----------------------------------------------------- */

/* RFC 5961 7: challenge ACKs are rate limited (limits.tcp_challenge_acks_per_sec; Linux: 1000 a second
 * per host, here per stack), so a blind attacker cannot turn us into an ACK amplifier. */
static void tcp_challenge_ack(struct ts_stack *st, ts_time now, struct tcp_conn *c, const char *why)
{
    if (now - st->tcp_challenge_window_start >= TS_SEC(1)) {
        st->tcp_challenge_window_start = now;
        st->tcp_challenge_acks = 0;
    }
    if (st->tcp_challenge_acks >= st->cfg.limits.tcp_challenge_acks_per_sec) {
        st->counters.tcp.challenge_acks_limited++;
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "%s; RFC 5961 7: %u challenge ACKs this second, none sent",
                 why, st->tcp_challenge_acks);
        return;
    }
    st->tcp_challenge_acks++;
    st->counters.tcp.challenge_acks++;
    TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "%s: sending a challenge ACK", why);
    tcp_send_ack(st, now, c);
}

/*
 * RFC 9293 3.10.7.4 answers an unacceptable segment with an ACK, so each segment a blind attacker
 * spoofs would make us send one. Like Linux (tcp_invalid_ratelimit), the answers to segments that
 * occupy no sequence space (or carry a SYN) are limited to one per timing.tcp_oow_ack_interval per
 * connection. Data or a FIN is always answered: its sender may be retransmitting because our ACK
 * was lost, and it waits for this one.
 */
static void tcp_ack_unacceptable(struct ts_stack *st, ts_time now, struct tcp_conn *c, const struct tcp_segment *seg)
{
    ts_time interval = st->cfg.timing.tcp_oow_ack_interval;
    bool limited = seg->seg_len == 0 || (seg->hdr.flags & TCP_SYN);
    if (limited && interval > 0 && c->oow_ack_sent && now - c->oow_ack_at < interval) {
        st->counters.tcp.oow_acks_limited++;
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "the ACK is not sent: at most one per %lld ms per connection for segments without data (as "
                 "Linux's tcp_invalid_ratelimit, in the spirit of RFC 5961 7)", (long long)(interval / 1000));
        return;
    }
    c->oow_ack_sent = true;
    c->oow_ack_at = now;
    tcp_send_ack(st, now, c);
}

/* ---- SYN-SENT (RFC 9293 3.10.7.3) ------------------------------------------------- */

static void tcp_syn_sent_arrives(struct ts_stack *st, ts_time now, struct tcp_conn *c, const struct tcp_segment *seg)
{
    const struct tcp_hdr *h = &seg->hdr;
    bool ack_ok = false;
    /* First, check the ACK bit: it must acknowledge our SYN and nothing more. */
    if (h->flags & TCP_ACK) {
        if (SEQ_LEQ(h->ack, c->iss) || SEQ_GT(h->ack, c->snd_nxt)) {
            TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_syn_sent_bad, "RFC 9293 3.10.7.3 first check: ACK %u outside "
                    "(ISS, SND.NXT], %s", tcp_rel_snd(c, h->ack),
                    (h->flags & TCP_RST) ? "RST ignored" : "sending a reset");
            if (!(h->flags & TCP_RST))
                tcp_send_reset_for(st, now, seg);
            return;
        }
        ack_ok = true;
    }
    /* Second, the RST bit: only with an acceptable ACK (RFC 5961 3.2); then the connection is refused. */
    if (h->flags & TCP_RST) {
        if (!ack_ok) {
            TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_syn_sent_bad, "RFC 9293 3.10.7.3 second check (RFC 5961 3.2): "
                    "RST without an acceptable ACK, ignored");
            return;
        }
        st->counters.tcp.resets_received++;
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 9293 3.10.7.3 second check: RST acknowledging our SYN: connection refused");
        tcp_conn_finish(st, now, c, ECONNREFUSED);
        return;
    }
    /* Fourth, the SYN bit. */
    if (!(h->flags & TCP_SYN)) {
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_syn_sent_bad, "RFC 9293 3.10.7.3 fifth check: neither SYN nor RST, "
                "dropped");
        return;
    }
    c->irs = h->seq;
    c->rcv_nxt = h->seq + 1;
    c->rcv_adv = c->rcv_nxt;
    tcp_apply_syn_options(st, now, c, &h->opt);
    if (ack_ok) {
        c->snd_una = h->ack;
        tcp_timer_set(c, &c->rto_at, TS_TIME_NEVER);
        tcp_rtt_handshake_done(st, now, c);
    }
    /* RFC 7323 2.2: the window in a SYN is never scaled. */
    c->snd_wnd = h->window;
    c->max_snd_wnd = c->snd_wnd;
    c->snd_wl1 = h->seq;
    c->snd_wl2 = h->ack;
    if (SEQ_GT(c->snd_una, c->iss)) {
        tcp_set_state(st, now, c, TS_TCP_ESTABLISHED, "RFC 9293 3.10.7.3 fourth check: SYN,ACK acknowledges our SYN");
        c->pcb->ever_connected = true;
        tcp_keepalive_reset(c, now);
        tcp_send_ack(st, now, c);
        tcp_notify(c);
        tcp_output(st, now, c);
        return;
    }
    /* A SYN without ACK: simultaneous open. */
    tcp_set_state(st, now, c, TS_TCP_SYN_RECEIVED,
                  "RFC 9293 3.10.7.3 fourth check: SYN without ACK, simultaneous open (3.5 figure 8)");
    tcp_send_syn(st, now, c);
}

/* ---- the other states (RFC 9293 3.10.7.4) ------------------------------------------ */

/* RFC 9293 3.10.7.4 "first check sequence number": the four cases of the acceptability test. */
static uint32_t tcp_acceptance_window(const struct tcp_conn *c)
{
    uint32_t wnd = tcp_receive_window(c);
    if (SEQ_GT(c->rcv_adv, c->rcv_nxt) && c->rcv_adv - c->rcv_nxt > wnd)
        wnd = c->rcv_adv - c->rcv_nxt; /* what we offered stays acceptable */
    return wnd;
}

static bool tcp_segment_acceptable(const struct tcp_conn *c, const struct tcp_segment *seg)
{
    uint32_t wnd = tcp_acceptance_window(c);
    uint32_t seq = seg->hdr.seq;
    if (seg->seg_len == 0) {
        if (wnd == 0)
            return seq == c->rcv_nxt;
        return seq_in_range(seq, c->rcv_nxt, c->rcv_nxt + wnd);
    }
    if (wnd == 0)
        return false;
    return seq_in_range(seq, c->rcv_nxt, c->rcv_nxt + wnd) ||
           seq_in_range(seq + seg->seg_len - 1, c->rcv_nxt, c->rcv_nxt + wnd);
}

/* RFC 7323 5.3: PAWS. A segment whose timestamp is older than TS.Recent is an old duplicate. */
static bool tcp_paws_rejects(const struct tcp_conn *c, ts_time now, const struct tcp_segment *seg)
{
    if (!c->ts_ok || !seg->hdr.opt.has_timestamps || (seg->hdr.flags & TCP_RST))
        return false;
    /* 5.5: TS.Recent older than 24 days is invalid, and so cannot reject anything. */
    if (now - c->ts_recent_age > TS_SEC(24 * 24 * 3600))
        return false;
    return SEQ_LT(seg->hdr.opt.ts_val, c->ts_recent);
}

static void tcp_handle_rst(struct ts_stack *st, ts_time now, struct tcp_conn *c, const struct tcp_segment *seg)
{
    /* RFC 5961 3.2: only an exact match resets; an in-window RST gets a challenge ACK. */
    if (seg->hdr.seq != c->rcv_nxt) {
        st->counters.tcp.drop_rst_out_of_window++;
        tcp_challenge_ack(st, now, c, "RFC 5961 3.2: RST in the window but not at RCV.NXT");
        return;
    }
    st->counters.tcp.resets_received++;
    TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "RFC 9293 3.10.7.4 second check: RST at RCV.NXT in %s: %s",
             ts_tcp_state_name(c->state),
             c->state == TS_TCP_SYN_RECEIVED ? (c->listener != NULL ? "back to LISTEN" : "connection refused")
             : c->state == TS_TCP_ESTABLISHED || c->state == TS_TCP_FIN_WAIT_1 || c->state == TS_TCP_FIN_WAIT_2 ||
                     c->state == TS_TCP_CLOSE_WAIT
                 ? "connection reset"
                 : "connection closed");
    switch (c->state) {
    case TS_TCP_SYN_RECEIVED:
        /* Passive: back to LISTEN (the child goes away); active: refused. */
        tcp_conn_finish(st, now, c, c->listener != NULL ? 0 : ECONNREFUSED);
        return;
    case TS_TCP_ESTABLISHED:
    case TS_TCP_FIN_WAIT_1:
    case TS_TCP_FIN_WAIT_2:
    case TS_TCP_CLOSE_WAIT:
        tcp_conn_finish(st, now, c, ECONNRESET);
        return;
    default: /* CLOSING, LAST-ACK, TIME-WAIT */
        tcp_conn_finish(st, now, c, 0);
        return;
    }
}

/* RFC 2018 / RFC 6675: remember which ranges beyond SND.UNA the peer holds. */
static uint32_t tcp_sacked_bytes(const struct tcp_conn *c);

/* Returns true if the option told us about data the peer holds that we did not know of. */
static bool tcp_note_sack(struct tcp_conn *c, const struct tcp_options *opt)
{
    if (!c->sack_ok)
        return false;
    /* Forget blocks SND.UNA has passed. */
    unsigned kept = 0;
    for (unsigned i = 0; i < c->sacked_count; i++)
        if (SEQ_GT(c->sacked[i].right, c->snd_una))
            c->sacked[kept++] = c->sacked[i];
    c->sacked_count = kept;
    uint32_t known = tcp_sacked_bytes(c);
    for (unsigned i = 0; i < opt->sack_count; i++) {
        struct tcp_sack_block b = opt->sack[i];
        /* A block must lie within what we sent (RFC 2018 and RFC 5961's spirit: ignore the impossible). */
        if (!SEQ_LT(b.left, b.right) || SEQ_LEQ(b.right, c->snd_una) || SEQ_GT(b.right, c->snd_max))
            continue;
        /* RFC 2018 3 / RFC 6675 2: a block describes data held beyond the cumulative ACK; the part
         * below SND.UNA says nothing about loss and must not count as SACKed bytes (a block reaching
         * far below SND.UNA would otherwise fake DupThresh segments of evidence on one ACK). */
        if (SEQ_LT(b.left, c->snd_una))
            b.left = c->snd_una;
        bool merged = false;
        for (unsigned k = 0; k < c->sacked_count && !merged; k++) {
            struct tcp_sack_block *m = &c->sacked[k];
            if (SEQ_LEQ(b.left, m->right) && SEQ_LEQ(m->left, b.right)) {
                m->left = SEQ_MIN(m->left, b.left);
                m->right = SEQ_MAX(m->right, b.right);
                merged = true;
            }
        }
        if (!merged && c->sacked_count < sizeof c->sacked / sizeof c->sacked[0])
            c->sacked[c->sacked_count++] = b;
    }
    return tcp_sacked_bytes(c) > known;
}

static uint32_t tcp_sacked_bytes(const struct tcp_conn *c)
{
    uint32_t bytes = 0;
    for (unsigned i = 0; i < c->sacked_count; i++)
        bytes += c->sacked[i].right - c->sacked[i].left;
    return bytes;
}

/* The first byte at or above from that the peer does not hold (below the highest SACKed byte), or 0 if none. */
static bool tcp_next_hole(const struct tcp_conn *c, uint32_t from, uint32_t *hole)
{
    uint32_t highest = c->snd_una;
    for (unsigned i = 0; i < c->sacked_count; i++)
        highest = SEQ_MAX(highest, c->sacked[i].right);
    uint32_t seq = SEQ_MAX(from, c->snd_una);
    for (int guard = 0; guard < 16 && SEQ_LT(seq, highest); guard++) {
        bool covered = false;
        for (unsigned i = 0; i < c->sacked_count; i++) {
            if (seq_in_range(seq, c->sacked[i].left, c->sacked[i].right)) {
                seq = c->sacked[i].right;
                covered = true;
            }
        }
        if (!covered) {
            *hole = seq;
            return true;
        }
    }
    return false;
}

/* During recovery, resend the next hole the peer reported (RFC 6675 NextSeg rule 1), else SND.UNA. */
static void tcp_recovery_retransmit(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    uint32_t hole;
    uint32_t from = SEQ_GT(c->high_rxt, c->snd_una) ? c->high_rxt : c->snd_una;
    if (c->sack_ok && tcp_next_hole(c, from, &hole)) {
        tcp_retransmit(st, now, c, hole);
        c->high_rxt = hole + c->snd_mss;
        return;
    }
    if (!SEQ_GT(c->high_rxt, c->snd_una)) {
        tcp_retransmit(st, now, c, c->snd_una);
        c->high_rxt = c->snd_una + c->snd_mss;
    }
}

static void tcp_update_window(struct ts_stack *st, ts_time now, struct tcp_conn *c, const struct tcp_segment *seg)
{
    /* RFC 9293 3.10.7.4: update the send window only from a newer segment (WL1/WL2 guard against old ones). */
    if (SEQ_LT(c->snd_wl1, seg->hdr.seq) || (c->snd_wl1 == seg->hdr.seq && SEQ_LEQ(c->snd_wl2, seg->hdr.ack))) {
        uint32_t window = (uint32_t)seg->hdr.window << (c->wscale_ok ? c->snd_wscale : 0);
        if (window != c->snd_wnd)
            TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                     "RFC 9293 3.10.7.4 fifth check: send window %u -> %u (SND.WL1 %u, SND.WL2 %u)%s", c->snd_wnd,
                     window, tcp_rel_rcv(c, seg->hdr.seq), tcp_rel_snd(c, seg->hdr.ack),
                     window == 0 ? ": zero window (RFC 9293 3.8.6.1)" : "");
        c->snd_wnd = window;
        c->snd_wl1 = seg->hdr.seq;
        c->snd_wl2 = seg->hdr.ack;
        if (c->snd_wnd > c->max_snd_wnd)
            c->max_snd_wnd = c->snd_wnd;
        if (c->snd_wnd > 0)
            tcp_timer_set(c, &c->persist_at, TS_TIME_NEVER);
        return;
    }
    if (((uint32_t)seg->hdr.window << (c->wscale_ok ? c->snd_wscale : 0)) != c->snd_wnd)
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 9293 3.10.7.4 fifth check: window %u not taken: segment older than SND.WL1/SND.WL2",
                 (uint32_t)seg->hdr.window << (c->wscale_ok ? c->snd_wscale : 0));
}

/* The rule by which an ACK outside recovery grew cwnd (cwnd and ssthresh: before the ACK). */
static const char *tcp_growth_rule(const struct tcp_cc *cc, uint32_t cwnd, uint32_t ssthresh)
{
    if (cwnd < ssthresh)
        return "RFC 5681 3.1: slow start";
    if (cc->algorithm != TS_CC_CUBIC)
        return "RFC 5681 3.1: congestion avoidance";
    if (cc->cwnd <= cc->w_est)
        return "RFC 9438 4.3: CUBIC congestion avoidance, Reno-friendly region";
    if (cc->cwnd < cc->w_max)
        return "RFC 9438 4.4: CUBIC congestion avoidance, concave region";
    return "RFC 9438 4.5: CUBIC congestion avoidance, convex region";
}

/* An ACK that moves SND.UNA forward: free the acknowledged bytes, measure, grow the window. */
static void tcp_new_ack(struct ts_stack *st, ts_time now, struct tcp_conn *c, const struct tcp_segment *seg)
{
    uint32_t ack = seg->hdr.ack;
    uint32_t acked = ack - c->snd_una;
    uint32_t flight = c->snd_max - c->snd_una;
    /* The FIN's sequence number is not a byte in the ring. */
    size_t data_acked = acked > c->snd.len ? c->snd.len : acked;
    tcp_ring_consume(st, &c->snd, data_acked);
    c->bytes_acked += data_acked;
    c->snd_una = ack;
    if (SEQ_LT(c->snd_nxt, c->snd_una))
        c->snd_nxt = c->snd_una;
    /* RFC 6298 / RFC 7323 4.1: measure the RTT (timestamps: from TSecr; else the timed segment, Karn). */
    if (c->ts_ok && seg->hdr.opt.has_timestamps && seg->hdr.opt.ts_ecr != 0) {
        uint32_t echoed = seg->hdr.opt.ts_ecr;
        uint32_t now_ms = (uint32_t)(now / 1000);
        if (SEQ_GEQ(now_ms, echoed)) {
            TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                     "RFC 7323 4.1: TSecr %u echoes our clock of %u ms ago: RTT sample %u.5 ms (mid-tick)", echoed,
                     now_ms - echoed, now_ms - echoed);
            tcp_rtt_sample(st, now, c, (ts_time)(now_ms - echoed) * 1000 + 500);
        }
    } else if (c->rtt_timing && SEQ_GT(ack, c->rtt_seq)) {
        c->rtt_timing = false;
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 6298 3: the timed segment (seq %u, sent once) is acknowledged, RTT sample %lld us",
                 tcp_rel_snd(c, c->rtt_seq), (long long)(now - c->rtt_started));
        tcp_rtt_sample(st, now, c, now - c->rtt_started);
    }
    c->backoff = 0;
    c->retransmits_in_row = 0;
    c->soft_error = 0; /* new data got through: an earlier ICMP error is stale */
    c->limited_transmit = 0;
    /* RFC 6582 3.2 step 3: a full acknowledgment ends recovery; a partial one deflates and resends. */
    if (c->cc.in_recovery) {
        if (SEQ_GEQ(ack, c->recover)) {
            tcp_cc_exit_recovery(&c->cc, c->snd_max - c->snd_una);
            c->dupacks = 0;
            TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                     "RFC 6582 3.2 step 3: full ACK %u covers recover %u, fast recovery over: cwnd %u ssthresh %u",
                     tcp_rel_snd(c, ack), tcp_rel_snd(c, c->recover), c->cc.cwnd, c->cc.ssthresh);
        } else {
            tcp_cc_on_partial_ack(&c->cc, acked);
            TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                     "RFC 6582 3.2 step 3: partial ACK %u below recover %u: cwnd deflated to %u, resending the next "
                     "hole%s",
                     tcp_rel_snd(c, ack), tcp_rel_snd(c, c->recover), c->cc.cwnd,
                     c->sack_ok ? " (RFC 6675 4 NextSeg)" : "");
            tcp_recovery_retransmit(st, now, c);
        }
    } else {
        c->dupacks = 0;
        uint32_t cwnd = c->cc.cwnd, ssthresh = c->cc.ssthresh;
        tcp_cc_on_ack(&c->cc, now, acked, c->srtt, flight);
        if (c->cc.cwnd != cwnd || c->cc.ssthresh != ssthresh)
            TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "%s: cwnd %u -> %u (ssthresh %u, %u bytes acked)",
                     tcp_growth_rule(&c->cc, cwnd, ssthresh), cwnd, c->cc.cwnd, c->cc.ssthresh, acked);
        else if (flight < c->cc.cwnd / 2)
            TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                     "RFC 7661 / RFC 9438 5.8: cwnd %u kept, only %u bytes were in flight (application limited)",
                     c->cc.cwnd, flight);
    }
    /* RFC 6298 5.2/5.3: all acknowledged: stop the timer; else restart it. */
    tcp_timer_set(c, &c->rto_at, TS_TIME_NEVER);
    if (c->snd_max != c->snd_una)
        tcp_rto_arm(st, now, c);
    TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "%s", c->snd_max == c->snd_una
                 ? "RFC 6298 5.2: all data acknowledged, retransmission timer off"
                 : "RFC 6298 5.3: new data acknowledged, retransmission timer restarted");
}

/* RFC 5681 2 "duplicate acknowledgment", and 3.2 fast retransmit on the third. */
static void tcp_dup_ack(struct ts_stack *st, ts_time now, struct tcp_conn *c, const struct tcp_segment *seg,
                        bool new_sack)
{
    /* An ACK that keeps a zero window open is the answer to a window probe (RFC 9293 3.8.6.1): the probe
     * was refused for lack of room, not lost, so it says nothing about loss. */
    uint32_t window = (uint32_t)seg->hdr.window << (c->wscale_ok ? c->snd_wscale : 0);
    /* RFC 5681 2 asks for an unchanged window; RFC 6675 2 also counts an ACK that brings new SACK
     * information, whatever its window (a receiver such as Linux grows its window with every ACK). */
    bool duplicate = seg->len == 0 && !(seg->hdr.flags & (TCP_SYN | TCP_FIN)) && c->snd_max != c->snd_una &&
                     c->snd_wnd != 0 && (window == c->snd_wnd || new_sack);
    if (!duplicate)
        return;
    c->dupacks++;
    TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "RFC 5681 2: duplicate ACK #%u for %u%s%s", c->dupacks,
             tcp_rel_snd(c, c->snd_una), new_sack ? " (RFC 6675 2: new SACK information)" : "",
             !c->cc.in_recovery && c->dupacks <= 2 ? "; RFC 3042 2: limited transmit may send one new segment" : "");
    /* RFC 3042 (Limited Transmit): each of the first two duplicate ACKs lets one new segment out beyond
     * cwnd, so a small window still produces the third duplicate ACK instead of waiting for the RTO. */
    if (!c->cc.in_recovery && c->dupacks <= 2)
        c->limited_transmit = c->dupacks * c->snd_mss;
    if (c->cc.in_recovery) {
        tcp_cc_on_dupack(&c->cc);
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 5681 3.2 step 4: duplicate ACK in fast recovery, cwnd inflated to %u", c->cc.cwnd);
        if (c->sack_ok)
            tcp_recovery_retransmit(st, now, c);
        return;
    }
    /* RFC 6582 4.1: no new recovery until SND.UNA passes the last one's recovery point.
     * RFC 6675 5 (IsLost): with SACK, DupThresh segments' worth of SACKed data above SND.UNA is the
     * same evidence as three duplicate ACKs (it survives lost or coalesced ACKs). */
    bool sack_evidence = c->sack_ok && tcp_sacked_bytes(c) >= 3u * c->snd_mss;
    if ((c->dupacks == 3 || (c->dupacks >= 1 && sack_evidence)) && SEQ_GEQ(c->snd_una, c->recover)) {
        c->limited_transmit = 0;
        c->recover = c->snd_max;
        c->high_rxt = c->snd_una;
        tcp_cc_enter_recovery(&c->cc, now, c->snd_max - c->snd_una);
        st->counters.tcp.fast_retransmits++;
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "%s: fast retransmit seq %u; RFC 6582 3.2 step 2: recover %u; %s: ssthresh %u cwnd %u",
                 c->dupacks == 3 ? "RFC 5681 3.2: third duplicate ACK"
                                 : "RFC 6675 5: DupThresh segments SACKed above SND.UNA",
                 tcp_rel_snd(c, c->snd_una), tcp_rel_snd(c, c->recover),
                 c->cc.algorithm == TS_CC_CUBIC ? "RFC 9438 4.6 (beta 0.7)" : "RFC 5681 3.2 step 2 (eq. 4)",
                 c->cc.ssthresh, c->cc.cwnd);
        tcp_retransmit(st, now, c, c->snd_una);
        c->high_rxt = c->snd_una + c->snd_mss;
    } else if (c->dupacks == 3) {
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 6582 3.2 step 2: third duplicate ACK, but SND.UNA %u has not passed recover %u: no new recovery",
                 tcp_rel_snd(c, c->snd_una), tcp_rel_snd(c, c->recover));
    }
}

/* RFC 9293 3.10.7.4 "fifth, check the ACK field". Returns false if the segment is to be dropped. */
static bool tcp_check_ack(struct ts_stack *st, ts_time now, struct tcp_conn *c, const struct tcp_segment *seg)
{
    uint32_t ack = seg->hdr.ack;
    if (!(seg->hdr.flags & TCP_ACK)) {
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_no_ack, "RFC 9293 3.10.7.4 fifth check: no ACK bit in %s, dropped",
                ts_tcp_state_name(c->state));
        return false;
    }
    if (c->state == TS_TCP_SYN_RECEIVED) {
        if (!(SEQ_LT(c->snd_una, ack) && SEQ_LEQ(ack, c->snd_nxt))) {
            TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_bad_ack, "RFC 9293 3.10.7.4 fifth check: ACK %u outside "
                    "(SND.UNA, SND.NXT] in SYN-RECEIVED, sending a reset",
                    tcp_rel_snd(c, ack));
            tcp_send_reset_for(st, now, seg);
            return false;
        }
        c->snd_una = ack;
        tcp_timer_set(c, &c->rto_at, TS_TIME_NEVER);
        tcp_rtt_handshake_done(st, now, c);
        c->snd_wnd = (uint32_t)seg->hdr.window << (c->wscale_ok ? c->snd_wscale : 0);
        c->max_snd_wnd = c->snd_wnd;
        c->snd_wl1 = seg->hdr.seq;
        c->snd_wl2 = ack;
        tcp_set_state(st, now, c, TS_TCP_ESTABLISHED, "RFC 9293 3.10.7.4 fifth check: ACK of our SYN");
        c->pcb->ever_connected = true;
        tcp_keepalive_reset(c, now);
        if (c->listener != NULL)
            tcp_listen_established(st, now, c);
        tcp_notify(c);
        return true;
    }
    /* RFC 5961 5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT]. */
    if (SEQ_GT(ack, c->snd_max)) {
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_bad_ack, "RFC 9293 3.10.7.4 fifth check: ACK %u for data not yet "
                "sent, dropped",
                tcp_rel_snd(c, ack));
        tcp_challenge_ack(st, now, c, "RFC 5961 5.2: ACK beyond SND.NXT");
        return false;
    }
    if (SEQ_LT(ack, c->snd_una - c->max_snd_wnd)) {
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_bad_ack, "RFC 5961 5.2: ACK %u below SND.UNA - MAX.SND.WND, dropped",
                tcp_rel_snd(c, ack));
        tcp_challenge_ack(st, now, c, "RFC 5961 5.2: ACK below SND.UNA - MAX.SND.WND");
        return false;
    }
    bool new_sack = false;
    if (c->sack_ok && seg->hdr.opt.sack_count > 0)
        new_sack = tcp_note_sack(c, &seg->hdr.opt);
    if (SEQ_GT(ack, c->snd_una))
        tcp_new_ack(st, now, c, seg);
    else if (ack == c->snd_una)
        tcp_dup_ack(st, now, c, seg, new_sack);
    tcp_update_window(st, now, c, seg);
    if (tcp_ring_space(&c->snd) > 0)
        tcp_notify(c);

    bool fin_acked = c->fin_sent && SEQ_GT(c->snd_una, c->fin_seq);
    switch (c->state) {
    case TS_TCP_FIN_WAIT_1:
        if (fin_acked) {
            tcp_set_state(st, now, c, TS_TCP_FIN_WAIT_2, "RFC 9293 3.10.7.4 fifth check: our FIN acknowledged");
            if (c->user_closed) {
                tcp_timer_set(c, &c->timewait_at, now + st->cfg.timing.tcp_fin_wait2_timeout);
                TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                         "FIN-WAIT-2 with the socket closed: abandoned in %lld s without the peer's FIN (as Linux; "
                         "RFC 9293 3.10.7.4 sets no limit)",
                         (long long)(st->cfg.timing.tcp_fin_wait2_timeout / TS_SEC(1)));
            }
        }
        break;
    case TS_TCP_CLOSING:
        if (fin_acked) {
            tcp_set_state(st, now, c, TS_TCP_TIME_WAIT, "RFC 9293 3.10.7.4 fifth check: our FIN acknowledged in "
                          "CLOSING");
            tcp_timewait_start(st, now, c);
        }
        break;
    case TS_TCP_LAST_ACK:
        if (fin_acked) {
            tcp_conn_finish(st, now, c, 0);
            return false;
        }
        break;
    default:
        break;
    }
    return true;
}

/* "RFC 1122 4.2.3.2: ACK delayed 200 ms" (the delayed-ACK decision, for the trace). */
static const char *tcp_delack_text(ts_time delay, char *buf)
{
    char t[24];
    snprintf(buf, 64, "RFC 9293 3.8.6.3 / RFC 1122 4.2.3.2: ACK delayed up to %s", tcp_trace_time(delay, t));
    return buf;
}

/* RFC 9293 3.10.7.4 "seventh, process the segment text". */
static void tcp_receive_data(struct ts_stack *st, ts_time now, struct tcp_conn *c, const struct tcp_segment *seg,
                             bool *fin_in_order)
{
    uint32_t seq = seg->hdr.seq + ((seg->hdr.flags & TCP_SYN) ? 1 : 0);
    const uint8_t *data = seg->data;
    size_t len = seg->len;
    bool fin = (seg->hdr.flags & TCP_FIN) != 0;
    /* Trim what we already have. */
    if (SEQ_LT(seq, c->rcv_nxt)) {
        uint32_t dup = c->rcv_nxt - seq;
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 9293 3.10.7.4 first check: %u bytes below RCV.NXT %u already received, trimmed",
                 dup > seg->len ? (uint32_t)seg->len : dup, tcp_rel_rcv(c, c->rcv_nxt));
        if (dup >= len) {
            data += len;
            len = 0;
            if (dup > seg->len)
                fin = fin && seq + (uint32_t)seg->len == c->rcv_nxt; /* a FIN already taken */
        } else {
            data += dup;
            len -= dup;
        }
        seq = c->rcv_nxt;
    }
    /*
     * Trim what lies beyond the buffer's right edge, RCV.NXT plus its free space (the FIN with it).
     * Measured from RCV.NXT, not from this segment: an out-of-order segment kept past that edge
     * could not be delivered when the gap fills, and would be lost after being acknowledged.
     */
    uint32_t wnd = (uint32_t)(c->rcv.cap - c->rcv.len);
    uint32_t room = SEQ_LT(seq, c->rcv_nxt + wnd) ? c->rcv_nxt + wnd - seq : 0;
    if (len > room) {
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 9293 3.10.7.4 first check: %zu bytes beyond the receive window trimmed%s", len - room,
                 fin ? " with the FIN" : "");
        len = room;
        fin = false;
    }
    if (len == 0 && !fin)
        return;
    if (c->state != TS_TCP_ESTABLISHED && c->state != TS_TCP_FIN_WAIT_1 && c->state != TS_TCP_FIN_WAIT_2) {
        /* CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer already sent its FIN; more text is ignored. */
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 9293 3.10.7.4 seventh check: text in %s ignored (the peer's FIN came first)",
                 ts_tcp_state_name(c->state));
        return;
    }
    if (seq == c->rcv_nxt) {
        if (len > 0) {
            if (c->read_shutdown)
                TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_after_shutdown,
                        "%zu bytes after SHUT_RD: acknowledged and discarded (RFC 9293 3.10.4 leaves it to the host)",
                        len);
            else
                tcp_ring_append(st, &c->rcv, data, len);
            c->rcv_nxt += (uint32_t)len;
            c->bytes_received += len;
        }
        bool had_ooo = c->ooo != NULL;
        uint32_t in_order_end = c->rcv_nxt;
        if (had_ooo && tcp_ooo_drain(st, c))
            fin = true;
        if (had_ooo && c->rcv_nxt != in_order_end)
            TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                     "RFC 9293 3.10.7.4 seventh check: the gap is filled, queued out-of-order data now in order, "
                     "RCV.NXT %u", tcp_rel_rcv(c, c->rcv_nxt));
        if (fin)
            *fin_in_order = true;
        /* RFC 9293 3.8.6.3 / RFC 5681 4.2: ACK at least every second full segment, at once when a gap fills. */
        /* A super-segment from a GSO device stands for the full-sized segments it holds: ACK it at once. */
        c->segments_unacked += len > c->rcv_mss ? (unsigned)(len / c->rcv_mss) : 1u;
        c->ack_pending = true;
        bool at_once = had_ooo || fin;
        c->ack_held_for_batch = !at_once && c->segments_unacked >= 2 && st->cfg.tcp_ack_at_batch_end &&
                                c->rcv_nxt - c->last_ack_sent <= TCP_ACK_HOLD_MAX_BYTES;
        if (at_once || c->segments_unacked >= 2)
            tcp_timer_set(c, &c->delack_at, now); /* due now: sent below, or by the poll ending the batch */
        else if (c->delack_at == TS_TIME_NEVER)
            tcp_timer_set(c, &c->delack_at, now + st->cfg.timing.tcp_delack);
        if (TRACE_ON(st, TS_TRACE_TCP)) {
            char delay[64];
            TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                     "RFC 9293 3.10.7.4 seventh check: %zu bytes in order%s, RCV.NXT %u; %s", len,
                     fin ? " with the FIN" : "", tcp_rel_rcv(c, c->rcv_nxt),
                     had_ooo ? "RFC 5681 4.2: ACK at once (a gap was filled)"
                     : fin ? "ACK at once (FIN)"
                     : c->ack_held_for_batch ? "RFC 9293 3.8.6.3 / RFC 1122 4.2.3.2: ACK due (second segment), "
                                               "sent when this input batch ends"
                     : c->segments_unacked >= 2 ? "RFC 9293 3.8.6.3 / RFC 1122 4.2.3.2: ACK at once (second segment)"
                     : tcp_delack_text(c->delack_at - now, delay));
        }
        if (len > 0)
            tcp_notify(c);
        return;
    }
    /* Out of order: keep it (bounded) and say at once what we have (RFC 5681 4.2: immediate duplicate ACK). */
    if (!tcp_ooo_insert(st, c, seq, data, len, fin))
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_ooo_full,
                "RFC 9293 3.10.7.4 seventh check: out-of-order queue full, %zu bytes at %u not kept", len,
                tcp_rel_rcv(c, seq));
    else
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 9293 3.10.7.4 seventh check: %zu bytes at %u beyond RCV.NXT %u, queued out of order (%zu bytes "
                 "held); RFC 5681 4.2: immediate duplicate ACK%s",
                 len, tcp_rel_rcv(c, seq), tcp_rel_rcv(c, c->rcv_nxt), c->ooo_bytes,
                 c->sack_ok ? " with SACK blocks (RFC 2018 4)" : "");
    c->ack_pending = true;
    c->ack_held_for_batch = false;
    tcp_timer_set(c, &c->delack_at, now);
}

/* RFC 9293 3.10.7.4 "eighth, check the FIN bit" (the FIN is in order: RCV.NXT has reached it). */
static void tcp_receive_fin(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    c->rcv_nxt++;
    c->fin_received = true;
    c->ack_pending = true;
    c->ack_held_for_batch = false;
    tcp_timer_set(c, &c->delack_at, now);
    switch (c->state) {
    case TS_TCP_SYN_RECEIVED:
    case TS_TCP_ESTABLISHED:
        tcp_set_state(st, now, c, TS_TCP_CLOSE_WAIT, "RFC 9293 3.10.7.4 eighth check: FIN received");
        break;
    case TS_TCP_FIN_WAIT_1:
        if (c->fin_sent && SEQ_GT(c->snd_una, c->fin_seq)) {
            tcp_set_state(st, now, c, TS_TCP_TIME_WAIT,
                          "RFC 9293 3.10.7.4 eighth check: FIN received, ours already acknowledged");
            tcp_timewait_start(st, now, c);
        } else {
            tcp_set_state(st, now, c, TS_TCP_CLOSING,
                          "RFC 9293 3.10.7.4 eighth check: FIN received before the ACK of ours (simultaneous close)");
        }
        break;
    case TS_TCP_FIN_WAIT_2:
        tcp_set_state(st, now, c, TS_TCP_TIME_WAIT, "RFC 9293 3.10.7.4 eighth check: FIN received in FIN-WAIT-2");
        tcp_timewait_start(st, now, c);
        break;
    default:
        break;
    }
    tcp_notify(c);
}

static void tcp_flush_ack(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    if (c->ack_pending && !c->ack_held_for_batch && c->delack_at != TS_TIME_NEVER && c->delack_at <= now)
        tcp_send_ack(st, now, c);
}

void tcp_segment_arrives(struct ts_stack *st, ts_time now, struct tcp_conn *c, const struct tcp_segment *seg)
{
    const struct tcp_hdr *h = &seg->hdr;
    if (c->state == TS_TCP_SYN_SENT) {
        tcp_syn_sent_arrives(st, now, c, seg);
        ipv4_flush_loopback(st, now);
        return;
    }
    /*
     * RFC 9293 3.5 figure 8 (simultaneous open), line 6: after our SYN crossed the peer's, its SYN,ACK
     * repeats the SYN we already hold (SEG.SEQ = IRS) and acknowledges ours. The acceptability test would
     * reject it (its one octet, the SYN, lies below RCV.NXT) and the figure's ESTABLISHED would wait for
     * another round trip; take it as the ACK (and data) it carries, without the SYN, as Linux does.
     */
    struct tcp_segment without_syn;
    if (c->state == TS_TCP_SYN_RECEIVED && c->listener == NULL && h->seq == c->irs &&
        (h->flags & (TCP_SYN | TCP_ACK | TCP_RST)) == (TCP_SYN | TCP_ACK)) {
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 9293 3.5 figure 8 line 6: SYN,ACK repeats the SYN we hold: taken as the ACK it carries");
        without_syn = *seg;
        without_syn.hdr.flags &= (uint8_t)~TCP_SYN;
        without_syn.hdr.seq = c->irs + 1;
        without_syn.seg_len--;
        seg = &without_syn;
        h = &seg->hdr;
    }
    /* Our SYN,ACK was lost and the peer sent its SYN again: answer it again (Linux does the same). */
    if (c->state == TS_TCP_SYN_RECEIVED && (h->flags & TCP_SYN) && !(h->flags & (TCP_ACK | TCP_RST)) &&
        h->seq == c->irs) {
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "the peer repeated its SYN in SYN-RECEIVED: our SYN,ACK was lost, sending it again (RFC 9293 3.8.1)");
        tcp_send_syn(st, now, c);
        return;
    }
    /* TIME-WAIT: a retransmitted FIN is acknowledged again and restarts the 2 MSL timer (RFC 9293 3.10.7.4). */
    if (c->state == TS_TCP_TIME_WAIT && (h->flags & TCP_FIN) && !(h->flags & TCP_RST) &&
        h->seq + (uint32_t)seg->len + 1 == c->rcv_nxt) {
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 9293 3.10.7.4 eighth check: FIN retransmitted in TIME-WAIT, acknowledged; 2 MSL restarted");
        tcp_send_ack(st, now, c);
        tcp_timewait_start(st, now, c);
        return;
    }
    /* First: sequence number (with PAWS in front, RFC 7323 5.3). */
    if (tcp_paws_rejects(c, now, seg)) {
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_paws, "RFC 7323 5.3: TSval %u older than TS.Recent %u: old "
                "duplicate (PAWS), sending ACK",
                h->opt.ts_val, c->ts_recent);
        tcp_ack_unacceptable(st, now, c, seg);
        return;
    }
    if (!tcp_segment_acceptable(c, seg)) {
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_out_of_window,
                "RFC 9293 3.10.7.4 first check: seq %u len %u outside window [%u, %u): not acceptable, %s",
                tcp_rel_rcv(c, h->seq), seg->seg_len, tcp_rel_rcv(c, c->rcv_nxt),
                tcp_rel_rcv(c, c->rcv_nxt + tcp_acceptance_window(c)),
                (h->flags & TCP_RST) ? "RST dropped" : "sending ACK");
        if (!(h->flags & TCP_RST))
            tcp_ack_unacceptable(st, now, c, seg);
        return;
    }
    /* RFC 7323 4.3: remember the timestamp of the segment that holds the left window edge. */
    if (c->ts_ok && h->opt.has_timestamps && SEQ_GEQ(h->opt.ts_val, c->ts_recent) &&
        SEQ_LEQ(h->seq, c->last_ack_sent)) {
        c->ts_recent = h->opt.ts_val;
        c->ts_recent_age = now;
    }
    /* Second: the RST bit. */
    if (h->flags & TCP_RST) {
        tcp_handle_rst(st, now, c, seg);
        ipv4_flush_loopback(st, now);
        return;
    }
    /* Fourth: the SYN bit, in a synchronized state: RFC 5961 4.2, a challenge ACK and nothing else. */
    if (h->flags & TCP_SYN) {
        st->counters.tcp.drop_syn_in_window++;
        tcp_challenge_ack(st, now, c, "RFC 9293 3.10.7.4 fourth check / RFC 5961 4.2: SYN in a synchronized state");
        return;
    }
    /* Fifth: the ACK field. */
    if (!tcp_check_ack(st, now, c, seg)) {
        ipv4_flush_loopback(st, now);
        return;
    }
    tcp_keepalive_reset(c, now);
    /* Sixth (URG) is not acted on: urgent data is delivered inline, as with SO_OOBINLINE. */
    /* Seventh: the segment text. Eighth: the FIN. */
    bool fin_in_order = false;
    tcp_receive_data(st, now, c, seg, &fin_in_order);
    if (fin_in_order && !c->fin_received)
        tcp_receive_fin(st, now, c);
    tcp_output(st, now, c);
    tcp_flush_ack(st, now, c);
    ipv4_flush_loopback(st, now);
}
