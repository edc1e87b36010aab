/*
 * What a connection sends and when (RFC 9293 3.8, 3.10; RFC 5681; RFC 896).
 * Every segment leaves through tcp_send_segment, which fills in the ACK, the
 * window and the options the connection negotiated.
 */
#include <errno.h>
#include <string.h>

#include "tcp.h"

/* Timestamps tick in milliseconds (RFC 7323 5.4: between 1 ms and 1 s per tick). */
static uint32_t tcp_ts_now(ts_time now)
{
    return (uint32_t)(now / 1000);
}

uint32_t tcp_receive_window(const struct tcp_conn *c)
{
    size_t space = c->rcv.cap > c->rcv.len ? c->rcv.cap - c->rcv.len : 0;
    /* RFC 9293 3.8.6.2.2 (receiver SWS avoidance): do not offer a sliver; wait until it is worth a segment. */
    size_t threshold = c->rcv.cap / 2 < c->rcv_mss ? c->rcv.cap / 2 : c->rcv_mss;
    uint32_t advertised = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
    if (space < threshold && space > advertised)
        space = advertised;
    uint32_t max = c->wscale_ok ? (65535u << c->rcv_wscale) : 65535u;
    return space > max ? max : (uint32_t)space;
}

static uint16_t tcp_window_field(struct tcp_conn *c, bool syn)
{
    uint32_t window = tcp_receive_window(c);
    /* RFC 9293 3.8.6: never shrink the window we already offered (the right edge does not move left). */
    if (SEQ_LT(c->rcv_nxt + window, c->rcv_adv))
        window = c->rcv_adv - c->rcv_nxt;
    /* RFC 7323 2.2: the window in a SYN is never scaled. */
    uint8_t shift = syn || !c->wscale_ok ? 0 : c->rcv_wscale;
    uint32_t field = window >> shift;
    /* RFC 7323 appendix F: rounding the scaled field down could pull the right edge back by up to
     * 2^shift - 1 bytes; round up instead when the edge we offered needs it. */
    if (SEQ_LT(c->rcv_nxt + (field << shift), c->rcv_adv))
        field++;
    if (field > 65535)
        field = 65535;
    uint32_t right = c->rcv_nxt + (field << shift);
    if (SEQ_GT(right, c->rcv_adv))
        c->rcv_adv = right;
    return (uint16_t)field;
}

static void tcp_fill_options(struct ts_stack *st, ts_time now, struct tcp_conn *c, uint8_t flags,
                             struct tcp_options *opt)
{
    memset(opt, 0, sizeof *opt);
    bool syn = (flags & TCP_SYN) != 0;
    bool answering = syn && (flags & TCP_ACK) != 0;
    if (syn) {
        opt->has_mss = true;
        opt->mss = c->rcv_mss;
        /* In a SYN-ACK, offer each option only if the peer's SYN did (RFC 7323 2.2, 3.2; RFC 2018 2). */
        opt->has_wscale = !answering || c->wscale_ok;
        opt->wscale = c->rcv_wscale;
        opt->sack_permitted = !answering || c->sack_ok;
        opt->has_timestamps = !answering || c->ts_ok;
    } else {
        opt->has_timestamps = c->ts_ok;
    }
    if (opt->has_timestamps) {
        opt->ts_val = tcp_ts_now(now);
        opt->ts_ecr = (flags & TCP_ACK) ? c->ts_recent : 0;
    }
    /* RFC 2018 4: SACK blocks go on ACKs while out-of-order data is held. */
    if (!syn && c->sack_ok && c->ooo != NULL) {
        unsigned room = opt->has_timestamps ? 3 : 4;
        opt->sack_count = (uint8_t)tcp_sack_blocks(c, opt->sack, room);
    }
    (void)st;
}

static uint32_t tcp_segment_room(const struct tcp_conn *c);

/* The device fills our checksums (and may cut super-segments) unless the segment loops back to us. */
static bool tcp_link_offloads(const struct ts_stack *st, const struct tcp_conn *c, uint32_t offload)
{
    return (st->link.offloads & offload) == offload && !ipv4_is_local(st, c->pcb->remote.addr);
}

/*
 * Builds and sends one segment: seq, flags, data_len bytes from the send ring at seq. More data
 * than one segment holds (tcp_output checked the link does TSO) leaves as one super-segment the
 * device cuts into segments of tcp_segment_room bytes, each with these headers.
 */
static void tcp_send_segment(struct ts_stack *st, ts_time now, struct tcp_conn *c, uint32_t seq, uint8_t flags,
                             size_t data_len)
{
    struct tcp_hdr h = {
        .src_port = c->pcb->local.port,
        .dst_port = c->pcb->remote.port,
        .seq = seq,
        .flags = flags,
    };
    if (c->state != TS_TCP_SYN_SENT || (flags & TCP_ACK)) {
        h.flags |= TCP_ACK;
        h.ack = c->rcv_nxt;
    }
    tcp_fill_options(st, now, c, h.flags, &h.opt);
    h.window = tcp_window_field(c, (flags & TCP_SYN) != 0);
    size_t opt_len = tcp_options_len(&h.opt);
    uint32_t room = tcp_segment_room(c);
    bool super_segment = data_len > room;
    /* A link that sums and gathers takes the data from the send ring as it lies: one copy fewer. */
    bool gather = data_len > 0 && tcp_link_offloads(st, c, TS_LINK_TX_CSUM | TS_LINK_TX_GATHER);
    size_t inline_len = gather ? 0 : data_len;
    struct ts_pbuf *pb =
        pbuf_alloc_pooled(st, PBUF_HEADROOM, TCP_MIN_HDR_LEN + opt_len + inline_len, super_segment && !gather);
    if (pb == NULL)
        return;
    if (gather)
        tcp_ring_spans(&c->snd, seq - c->snd_una, data_len, pb->ext, pb->ext_len);
    else if (data_len > 0)
        tcp_ring_copy_out(&c->snd, seq - c->snd_una, pb->data + TCP_MIN_HDR_LEN + opt_len, data_len);
    if (tcp_link_offloads(st, c, TS_LINK_TX_CSUM)) {
        tcp_emit_partial(&h, pb->data, data_len, st->cfg.addr, c->pcb->remote.addr);
        pb->tx_csum_partial = true;
        pb->tx_csum_offset = TCP_CSUM_OFFSET;
        pb->tx_gso_size = super_segment ? (uint16_t)room : 0;
        if (super_segment)
            st->counters.tcp.tx_tso_segments++;
    } else {
        tcp_emit(&h, pb->data, data_len, st->cfg.addr, c->pcb->remote.addr);
    }
    if (h.flags & TCP_ACK) {
        c->last_ack_sent = c->rcv_nxt;
        c->ack_pending = false;
        c->ack_held_for_batch = false;
        c->segments_unacked = 0;
        tcp_timer_set(c, &c->delack_at, TS_TIME_NEVER);
    }
    st->counters.tcp.tx_segments++;
    if (TRACE_ON(st, TS_TRACE_TCP)) {
        bool relative = !(h.flags & TCP_SYN); /* absolute on SYNs, as tcpdump */
        tcp_trace_segment(st, now, TS_TRACE_TX, st->cfg.addr, c->pcb->remote.addr, &h, relative ? c->iss : 0,
                          relative ? c->irs : 0, (uint32_t)h.window << (c->wscale_ok && relative ? c->rcv_wscale : 0),
                          data_len, NULL);
    }
    struct ipv4_out out = {
        .src = st->cfg.addr,
        .dst = c->pcb->remote.addr,
        .protocol = IPV4_PROTO_TCP,
        .ttl = c->pcb->ttl,
        .tos = c->pcb->tos, /* RFC 9293 3.9.1 (MUST-48): the user's DSCP; no ECN, so those bits are 0 */
        .dont_fragment = true, /* RFC 9293 3.7.2 leaves PMTUD to the host; segments never exceed the MSS */
        .owner_id = c->pcb->id,
    };
    int err = ipv4_output(st, now, pb, &out);
    if (err == -EHOSTUNREACH || err == -ENETUNREACH)
        c->pcb->pending_error = -err;
    c->last_send = now;
}

void tcp_send_ack(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    tcp_send_segment(st, now, c, c->snd_nxt, TCP_ACK, 0);
}

void tcp_send_syn(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    uint8_t flags = c->state == TS_TCP_SYN_RECEIVED ? TCP_SYN | TCP_ACK : TCP_SYN;
    tcp_send_segment(st, now, c, c->iss, flags, 0);
    c->snd_nxt = c->iss + 1;
    if (SEQ_GT(c->snd_nxt, c->snd_max))
        c->snd_max = c->snd_nxt;
    if (c->rto_at == TS_TIME_NEVER)
        tcp_rto_arm(st, now, c);
}

void tcp_send_rst(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    st->counters.tcp.resets_sent++;
    tcp_send_segment(st, now, c, c->snd_nxt, TCP_RST | TCP_ACK, 0);
}

/* RFC 9293 3.10.7.1: a reset for a segment nobody owns, its numbers taken from the segment. */
void tcp_send_reset_for(struct ts_stack *st, ts_time now, const struct tcp_segment *seg)
{
    if (seg->hdr.flags & TCP_RST)
        return;
    struct tcp_hdr h = {.src_port = seg->hdr.dst_port, .dst_port = seg->hdr.src_port};
    if (seg->hdr.flags & TCP_ACK) {
        /* "If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>" */
        h.seq = seg->hdr.ack;
        h.flags = TCP_RST;
    } else {
        /* "Otherwise, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>" */
        h.seq = 0;
        h.ack = seg->hdr.seq + seg->seg_len;
        h.flags = TCP_RST | TCP_ACK;
    }
    struct ts_pbuf *pb = pbuf_alloc(st, PBUF_HEADROOM, TCP_MIN_HDR_LEN);
    if (pb == NULL)
        return;
    tcp_emit(&h, pb->data, 0, seg->dst, seg->src);
    st->counters.tcp.resets_sent++;
    st->counters.tcp.tx_segments++;
    if (TRACE_ON(st, TS_TRACE_TCP))
        tcp_trace_segment(st, now, TS_TRACE_TX, seg->dst, seg->src, &h, 0, 0, 0, 0,
                          (seg->hdr.flags & TCP_ACK)
                              ? "RFC 9293 3.5.2: reset <SEQ=SEG.ACK><CTL=RST>"
                              : "RFC 9293 3.5.2: reset <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>");
    struct ipv4_out out = {.src = seg->dst, .dst = seg->src, .protocol = IPV4_PROTO_TCP,
                           .ttl = st->cfg.default_ttl, .dont_fragment = true};
    ipv4_output(st, now, pb, &out);
}

/*
 * Data bytes one segment may carry: the send MSS (which already leaves room for
 * timestamps) less the SACK blocks that ride along while we hold out-of-order
 * data, so a full segment never grows past the MTU (RFC 9293 3.7.1: the MSS
 * counts data only; options come out of it).
 */
static uint32_t tcp_segment_room(const struct tcp_conn *c)
{
    uint32_t room = c->snd_mss;
    if (c->sack_ok && c->ooo != NULL) {
        struct tcp_sack_block blocks[4];
        unsigned n = tcp_sack_blocks(c, blocks, c->ts_ok ? 3 : 4);
        if (n > 0)
            room -= 4 + 8 * n;
    }
    return room;
}

/*
 * Data bytes one send may carry: one segment's room, or over a TSO link as many whole segments as
 * the device's largest datagram holds (each segment it cuts repeats our headers, options included).
 */
static uint32_t tcp_send_room(const struct ts_stack *st, const struct tcp_conn *c, uint32_t room)
{
    if (!tcp_link_offloads(st, c, TS_LINK_TX_CSUM | TS_LINK_TSO4) || room == 0)
        return room;
    size_t max = st->link.tso_max > IPV4_MAX_DATAGRAM ? IPV4_MAX_DATAGRAM : st->link.tso_max;
    size_t headers = IPV4_MIN_HDR_LEN + TCP_MIN_HDR_LEN + TCP_MAX_OPTIONS_LEN;
    if (max <= headers)
        return room;
    size_t segments = (max - headers) / room;
    return segments > 1 ? (uint32_t)(segments * room) : room;
}

static uint32_t tcp_send_end(const struct tcp_conn *c)
{
    return c->snd_una + (uint32_t)c->snd.len;
}

/* Bytes the congestion and peer windows allow in flight beyond SND.NXT. */
static uint32_t tcp_usable_window(const struct tcp_conn *c)
{
    uint32_t cwnd = c->cc.cwnd + c->limited_transmit;
    uint32_t window = c->snd_wnd < cwnd ? c->snd_wnd : cwnd;
    uint32_t in_flight = c->snd_nxt - c->snd_una;
    return window > in_flight ? window - in_flight : 0;
}

static bool tcp_range_sacked(const struct tcp_conn *c, uint32_t seq)
{
    for (unsigned i = 0; i < c->sacked_count; i++)
        if (seq_in_range(seq, c->sacked[i].left, c->sacked[i].right))
            return true;
    return false;
}

/*
 * RFC 896 (Nagle) and RFC 9293 3.8.6.2.1 (sender SWS avoidance): a segment
 * shorter than the MSS goes out only if nothing is unacknowledged (and Nagle is
 * on), or it is all there is and the push is implied, or it is at least half
 * the largest window the peer ever offered.
 */
static bool tcp_may_send_now(const struct tcp_conn *c, uint32_t len, uint32_t available)
{
    if (len >= tcp_segment_room(c) || c->sws_override)
        return true;
    bool idle = c->snd_nxt == c->snd_una;
    bool all_queued_fits = len == available;
    if (all_queued_fits && (idle || c->nodelay))
        return true;
    if (c->max_snd_wnd > 0 && len >= c->max_snd_wnd / 2 && (idle || c->nodelay))
        return true;
    return false;
}

void tcp_output(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    switch (c->state) {
    case TS_TCP_ESTABLISHED:
    case TS_TCP_CLOSE_WAIT:
    case TS_TCP_FIN_WAIT_1:
    case TS_TCP_CLOSING:
    case TS_TCP_LAST_ACK:
        break;
    default:
        return;
    }
    /* RFC 5681 4.1: after an idle period longer than RTO, restart from the restart window. */
    if (c->snd_nxt == c->snd_una && c->last_send != 0 && now - c->last_send > c->rto) {
        uint32_t before = c->cc.cwnd;
        tcp_cc_on_idle_restart(&c->cc);
        if (c->cc.cwnd != before)
            TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                     "RFC 5681 4.1: idle for longer than the RTO, cwnd %u -> %u (restart window)", before, c->cc.cwnd);
    }
    bool sent_any = false;
    for (int guard = 0; guard < 1024; guard++) {
        uint32_t end = tcp_send_end(c);
        /* Skip what the peer already holds (SACK) when resending after a timeout. */
        while (c->sack_ok && SEQ_LT(c->snd_nxt, c->snd_max) && SEQ_LT(c->snd_nxt, end) &&
               tcp_range_sacked(c, c->snd_nxt))
            c->snd_nxt++;
        uint32_t available = SEQ_LT(c->snd_nxt, end) ? end - c->snd_nxt : 0;
        uint32_t usable = tcp_usable_window(c);
        uint32_t room = tcp_segment_room(c);
        uint32_t send_room = tcp_send_room(st, c, room);
        uint32_t len = available < send_room ? available : send_room;
        if (len > usable)
            len = usable;
        /* RFC 896 / RFC 9293 3.8.6.2.1: a super-segment's short tail leaves only where it could leave alone. */
        if (len > room && len % room != 0 && !tcp_may_send_now(c, len % room, available - (len - len % room)))
            len -= len % room;
        /* The FIN rides on the segment that carries the last byte (or alone), once, or again after a timeout. */
        bool fin_now = c->fin_queued && c->snd_nxt + len == end && (!c->fin_sent || c->snd_nxt + len == c->fin_seq);
        if (len == 0 && !fin_now)
            break;
        if (len > 0 && !tcp_may_send_now(c, len, available) && !fin_now) {
            TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "%s: %u of %u queued bytes held back, %u in flight",
                     len < available ? "RFC 9293 3.8.6.2.1 (sender SWS avoidance): the usable window is too small"
                                     : "RFC 9293 3.7.4 (Nagle, RFC 896): a short segment waits for the ACK of data "
                                         "in flight",
                     len, available, c->snd_nxt - c->snd_una);
            break;
        }
        uint8_t flags = TCP_ACK;
        if (len > 0 && c->snd_nxt + len == end)
            flags |= TCP_PSH;
        if (fin_now)
            flags |= TCP_FIN;
        bool retransmission = SEQ_LT(c->snd_nxt, c->snd_max);
        if (retransmission) {
            c->retransmits++;
            st->counters.tcp.retransmits++;
        }
        /* Karn (RFC 6298 3): time only segments sent for the first time, one at a time. */
        if (!c->ts_ok && !c->rtt_timing && !retransmission && len > 0) {
            c->rtt_timing = true;
            c->rtt_seq = c->snd_nxt;
            c->rtt_started = now;
            TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "RFC 6298 3: timing seq %u for an RTT sample (sent once)",
                     tcp_rel_snd(c, c->snd_nxt));
        }
        tcp_send_segment(st, now, c, c->snd_nxt, flags, len);
        c->bytes_sent += len;
        c->snd_nxt += len;
        if (fin_now) {
            c->fin_seq = c->snd_nxt;
            c->fin_sent = true;
            c->snd_nxt++;
        }
        if (SEQ_GT(c->snd_nxt, c->snd_max))
            c->snd_max = c->snd_nxt;
        sent_any = true;
        c->sws_override = false;
        if (fin_now)
            break;
    }
    if (sent_any && c->rto_at == TS_TIME_NEVER) {
        tcp_rto_arm(st, now, c);
        if (TRACE_ON(st, TS_TRACE_TCP)) {
            char t[24];
            TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "RFC 6298 5.1: data sent, retransmission timer started "
                     "(%s)",
                     tcp_trace_time(c->rto, t));
        }
    }
    /*
     * RFC 9293 3.8.6.1: data waits behind a zero window with nothing in flight: probe it.
     * 3.8.6.2.1: data waits behind a window too small to be worth a segment (SWS avoidance) with
     * nothing in flight: the same timer is the override timeout that sends it anyway.
     */
    if (SEQ_LT(c->snd_nxt, tcp_send_end(c)) && c->snd_nxt == c->snd_una && c->persist_at == TS_TIME_NEVER) {
        c->persist_backoff = 0;
        tcp_timer_set(c, &c->persist_at, now + (c->rto > TS_MSEC(200) ? c->rto : TS_MSEC(200)));
        if (TRACE_ON(st, TS_TRACE_TCP)) {
            char t[24];
            TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "%s: persist timer started (%s)",
                     c->snd_wnd == 0 ? "RFC 9293 3.8.6.1: data waits behind a zero window"
                                     : "RFC 9293 3.8.6.2.1: data waits behind a window too small to use",
                     tcp_trace_time(c->persist_at - now, t));
        }
    }
    if (c->ack_pending && !sent_any && c->delack_at == TS_TIME_NEVER)
        tcp_send_ack(st, now, c);
}

void tcp_retransmit(struct ts_stack *st, ts_time now, struct tcp_conn *c, uint32_t seq)
{
    uint32_t end = tcp_send_end(c);
    uint32_t len = SEQ_LT(seq, end) ? end - seq : 0;
    if (len > tcp_segment_room(c))
        len = tcp_segment_room(c);
    uint8_t flags = TCP_ACK;
    if (c->fin_sent && seq + len == c->fin_seq && len < tcp_segment_room(c))
        flags |= TCP_FIN;
    if (len == 0 && !(flags & TCP_FIN)) {
        if (c->fin_sent && seq == c->fin_seq)
            flags |= TCP_FIN;
        else
            return;
    }
    c->retransmits++;
    st->counters.tcp.retransmits++;
    c->rtt_timing = false; /* Karn: a retransmitted segment's ACK is ambiguous */
    TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
             "retransmit seq %u len %u%s; RFC 6298 3 (Karn): its ACK will give no RTT sample", tcp_rel_snd(c, seq), len,
             (flags & TCP_FIN) ? " with the FIN" : "");
    tcp_send_segment(st, now, c, seq, flags, len);
    if (c->rto_at == TS_TIME_NEVER)
        tcp_rto_arm(st, now, c);
}

void tcp_send_probe(struct ts_stack *st, ts_time now, struct tcp_conn *c, bool keepalive)
{
    if (keepalive) {
        /* RFC 9293 3.8.4 / RFC 1122 4.2.3.6: SEG.SEQ = SND.NXT - 1, no data: the peer answers with an ACK. */
        st->counters.tcp.keepalive_probes++;
        tcp_send_segment(st, now, c, c->snd_una - 1, TCP_ACK, 0);
        return;
    }
    /*
     * RFC 9293 3.8.6.1: a zero-window probe carries one octet: the first one not acknowledged, again
     * at each probe (probing with the next octet each time would leave a hole when the window opens).
     * SND.NXT stays at SND.UNA (the probe persists, nothing is in flight for the RTO); only SND.MAX
     * covers the octet, so the peer may acknowledge it.
     */
    st->counters.tcp.zero_window_probes++;
    uint32_t end = tcp_send_end(c);
    if (SEQ_LT(c->snd_una, end)) {
        tcp_send_segment(st, now, c, c->snd_una, TCP_ACK, 1);
        if (SEQ_GT(c->snd_una + 1, c->snd_max))
            c->snd_max = c->snd_una + 1;
    } else {
        tcp_send_segment(st, now, c, c->snd_una - 1, TCP_ACK, 0);
    }
}
