/*
 * Passive open (RFC 9293 3.10.7.2 LISTEN): a listener answers SYNs with
 * children in SYN-RECEIVED (the SYN queue, bounded), hands established children
 * to accept (the accept queue, bounded by the backlog), and when the SYN queue
 * is full answers with SYN cookies so a SYN flood cannot lock out real clients.
 */
#include <errno.h>
#include <stdlib.h>

#include "tcp.h"

int ts_pcb_listen(struct ts_pcb *pcb, int backlog)
{
    if (pcb == NULL || pcb->type != TS_PCB_TCP)
        return -EOPNOTSUPP;
    if (pcb->tcp != NULL)
        return -EINVAL; /* connected or connecting */
    if (!pcb->bound) {
        struct ts_sockaddr any = {0, 0};
        int err = ts_pcb_bind(pcb, &any);
        if (err != 0)
            return err;
    }
    /* Like Linux: a backlog below 1 means 1, above the SYN queue size is clamped to it. */
    unsigned limit = pcb->st->cfg.limits.tcp_syn_queue;
    pcb->backlog = backlog < 1 ? 1 : (unsigned)backlog > limit ? limit : (unsigned)backlog;
    if (!pcb->listening && tcp_hash_listener(pcb) != 0)
        return -ENOMEM;
    pcb->listening = true;
    return 0;
}

static void accept_queue_push(struct ts_pcb *listener, struct ts_pcb *child)
{
    child->accept_next = NULL;
    if (listener->accept_tail != NULL)
        listener->accept_tail->accept_next = child;
    else
        listener->accept_head = child;
    listener->accept_tail = child;
    listener->accept_count++;
}

static void accept_queue_remove(struct ts_pcb *listener, struct ts_pcb *child)
{
    struct ts_pcb *prev = NULL;
    for (struct ts_pcb *p = listener->accept_head; p != NULL; prev = p, p = p->accept_next) {
        if (p != child)
            continue;
        if (prev != NULL)
            prev->accept_next = p->accept_next;
        else
            listener->accept_head = p->accept_next;
        if (listener->accept_tail == p)
            listener->accept_tail = prev;
        listener->accept_count--;
        p->accept_next = NULL;
        return;
    }
}

struct ts_pcb *ts_pcb_accept(struct ts_pcb *listener, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    if (listener == NULL || listener->type != TS_PCB_TCP || !listener->listening) {
        *err = -EINVAL;
        return NULL;
    }
    struct ts_pcb *child = listener->accept_head;
    if (child == NULL) {
        *err = -EAGAIN;
        return NULL;
    }
    accept_queue_remove(listener, child);
    if (child->tcp != NULL) {
        child->tcp->listener = NULL;
        child->tcp->accepted = true;
    }
    *err = 0;
    return child;
}

/* A child that died before being accepted leaves its listener's queues. */
void tcp_listen_forget_child(struct ts_stack *st, struct tcp_conn *child)
{
    (void)st;
    struct ts_pcb *listener = child->listener;
    if (listener == NULL)
        return;
    if (child->state == TS_TCP_SYN_RECEIVED || !child->pcb->ever_connected) {
        if (listener->syn_count > 0)
            listener->syn_count--;
    } else {
        accept_queue_remove(listener, child->pcb);
    }
    child->listener = NULL;
}

void tcp_listen_established(struct ts_stack *st, ts_time now, struct tcp_conn *child)
{
    (void)st;
    (void)now;
    struct ts_pcb *listener = child->listener;
    if (listener->syn_count > 0)
        listener->syn_count--;
    accept_queue_push(listener, child->pcb);
    pcb_notify(listener);
}

static struct tcp_conn *tcp_child_new(struct ts_stack *st, struct ts_pcb *listener, const struct tcp_segment *seg)
{
    int err;
    struct ts_pcb *pcb = ts_pcb_open(st, TS_PCB_TCP, &err);
    if (pcb == NULL)
        return NULL;
    /* The child inherits the listener's options, as accept()ed sockets do. */
    pcb->rcvbuf = listener->rcvbuf;
    pcb->sndbuf = listener->sndbuf;
    pcb->ttl = listener->ttl;
    pcb->tos = listener->tos;
    pcb->congestion = listener->congestion;
    pcb->nodelay = listener->nodelay;
    pcb->keepalive = listener->keepalive;
    pcb->keepidle = listener->keepidle;
    pcb->keepintvl = listener->keepintvl;
    pcb->keepcnt = listener->keepcnt;
    pcb->user_mss = listener->user_mss;
    pcb->user_timeout_ms = listener->user_timeout_ms;
    pcb->local.addr = seg->dst;
    pcb->local.port = seg->hdr.dst_port;
    pcb->remote.addr = seg->src;
    pcb->remote.port = seg->hdr.src_port;
    pcb->connected = true;
    if (pcb_port_join(pcb) != 0) {
        pcb_destroy(pcb);
        return NULL;
    }
    pcb->bound = true;
    struct tcp_conn *c = tcp_conn_new(pcb);
    if (c == NULL || tcp_hash_connection(pcb) != 0) {
        if (c != NULL)
            tcp_conn_free(st, c);
        pcb_destroy(pcb);
        return NULL;
    }
    c->listener = listener;
    c->irs = seg->hdr.seq;
    c->rcv_nxt = seg->hdr.seq + 1;
    c->rcv_adv = c->rcv_nxt;
    return c;
}

static struct tcp_four_tuple tuple_of(const struct tcp_segment *seg)
{
    struct tcp_four_tuple t = {seg->dst, seg->src, seg->hdr.dst_port, seg->hdr.src_port};
    return t;
}

/* The SYN queue is full: answer statelessly; the peer's ACK will carry the cookie back. */
static void tcp_send_syn_cookie(struct ts_stack *st, ts_time now, struct ts_pcb *listener,
                                const struct tcp_segment *seg)
{
    struct tcp_four_tuple t = tuple_of(seg);
    uint16_t peer_mss = seg->hdr.opt.has_mss ? seg->hdr.opt.mss : 536;
    uint32_t cookie = tcp_cookie_make(&st->tcp_secret, &t, seg->hdr.seq, peer_mss, now);
    /* A throwaway connection record builds the SYN,ACK exactly as a real one would, then goes. */
    struct tcp_conn *c = tcp_child_new(st, listener, seg);
    if (c == NULL) {
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_listen_overflow, "RFC 4987 3.6: no socket left to build a SYN cookie, SYN dropped");
        return;
    }
    struct ts_pcb *pcb = c->pcb;
    c->listener = NULL;
    c->iss = cookie;
    c->snd_una = c->snd_nxt = c->snd_max = cookie;
    /* Without state we cannot remember the peer's options: only the MSS (in the cookie) survives. */
    struct tcp_options none = {.has_mss = true, .mss = peer_mss};
    tcp_apply_syn_options(st, now, c, &none);
    c->state = TS_TCP_SYN_RECEIVED;
    st->counters.tcp.syn_cookies_sent++;
    TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
             "RFC 4987 3.6: SYN queue full (%u), answering with a SYN cookie (ISN %u encodes MSS %u; no state kept)",
             listener->syn_count, cookie, peer_mss);
    tcp_send_syn(st, now, c);
    tcp_conn_free(st, c);
    pcb_destroy(pcb);
}

/* An ACK for no child: it may carry one of our cookies back (RFC 4987 3.6). */
static bool tcp_accept_cookie(struct ts_stack *st, ts_time now, struct ts_pcb *listener,
                              const struct tcp_segment *seg)
{
    struct tcp_four_tuple t = tuple_of(seg);
    uint16_t mss;
    if (!tcp_cookie_check(&st->tcp_secret, &t, seg->hdr.seq - 1, seg->hdr.ack - 1, now, &mss))
        return false;
    if (listener->accept_count >= listener->backlog) {
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_listen_overflow,
                "valid SYN cookie (RFC 4987 3.6) but the accept queue is full (%u)", listener->accept_count);
        return true;
    }
    struct tcp_segment syn = *seg;
    syn.hdr.seq = seg->hdr.seq - 1;
    struct tcp_conn *c = tcp_child_new(st, listener, &syn);
    if (c == NULL)
        return true;
    c->iss = seg->hdr.ack - 1;
    /* When the SYN,ACK left is not known (no state was kept): the ACK gives no RTT sample, and RTO
     * stays at its initial 1 s (RFC 6298 2.1). */
    c->rtt_started = TS_TIME_NEVER;
    struct tcp_options opt = {.has_mss = true, .mss = mss};
    tcp_apply_syn_options(st, now, c, &opt);
    st->counters.tcp.syn_cookies_accepted++;
    TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
             "RFC 4987 3.6: the ACK carries a valid SYN cookie: connection rebuilt (MSS %u; window scale, SACK and "
             "timestamps were not kept)", mss);
    st->counters.tcp.passive_opens++;
    c->state = TS_TCP_SYN_RECEIVED;
    listener->syn_count++;
    c->snd_una = c->iss; /* so the ACK below is "new" and completes the handshake */
    c->snd_nxt = c->snd_max = c->iss + 1;
    c->recover = c->iss; /* RFC 6582 3.2 step 1 */
    tcp_segment_arrives(st, now, c, seg);
    return true;
}

void tcp_listen_input(struct ts_stack *st, ts_time now, struct ts_pcb *listener, const struct tcp_segment *seg)
{
    const struct tcp_hdr *h = &seg->hdr;
    /* RFC 9293 3.10.7.2: first check for a RST: ignore it. */
    if (h->flags & TCP_RST) {
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_rst_no_socket, "RFC 9293 3.10.7.2 first check: RST to a listener, "
                "ignored");
        return;
    }
    /* Second, an ACK: a cookie coming back, or else a reset <SEQ=SEG.ACK><CTL=RST>. */
    if (h->flags & TCP_ACK) {
        if (!(h->flags & TCP_SYN) && tcp_accept_cookie(st, now, listener, seg))
            return;
        if (!(h->flags & TCP_SYN))
            st->counters.tcp.drop_bad_cookie++;
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 9293 3.10.7.2 second check: ACK to a listener%s: sending a reset",
                 (h->flags & TCP_SYN) ? "" : " (no valid SYN cookie, RFC 4987 3.6)");
        tcp_send_reset_for(st, now, seg);
        return;
    }
    /* Third, the SYN. */
    if (!(h->flags & TCP_SYN)) {
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_no_ack, "RFC 9293 3.10.7.2 fourth check: neither SYN, ACK nor RST "
                "to a listener, dropped");
        return;
    }
    /* RFC 9293 3.10.7.2 would queue a FIN that rides on a SYN, opening a connection already half
     * closed. No real opener sends SYN+FIN: it is a scanner's probe or a filter-evasion trick, so
     * (as Linux does) it opens nothing and is counted. */
    if (h->flags & TCP_FIN) {
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_syn_fin,
                "SYN with FIN to a listener opens nothing (RFC 9293 3.10.7.2 would queue the FIN; as Linux, dropped)");
        return;
    }
    if (listener->accept_count >= listener->backlog) {
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_listen_overflow,
                "RFC 9293 3.10.7.2 third check: accept queue full (%u), SYN dropped: the peer will retransmit it",
                listener->accept_count);
        return;
    }
    if (listener->syn_count >= st->cfg.limits.tcp_syn_queue) {
        tcp_send_syn_cookie(st, now, listener, seg);
        return;
    }
    struct tcp_conn *c = tcp_child_new(st, listener, seg);
    if (c == NULL) {
        TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_listen_overflow,
                "RFC 9293 3.10.7.2 third check: no memory or socket for a new connection, SYN dropped");
        return;
    }
    struct tcp_four_tuple t = tuple_of(seg);
    c->iss = tcp_isn(&st->tcp_secret, &t, now);
    c->snd_una = c->snd_nxt = c->snd_max = c->iss;
    c->recover = c->iss; /* RFC 6582 3.2 step 1 */
    c->rtt_started = now;
    tcp_apply_syn_options(st, now, c, &h->opt);
    c->snd_wnd = h->window; /* RFC 7323 2.2: never scaled in a SYN */
    c->max_snd_wnd = c->snd_wnd;
    c->snd_wl1 = h->seq;
    listener->syn_count++;
    if (listener->syn_count > st->syn_queue_high_water)
        st->syn_queue_high_water = listener->syn_count;
    st->counters.tcp.passive_opens++;
    TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "RFC 6528 3: ISN %u from the clock and a keyed hash of the 4-tuple",
             c->iss);
    tcp_set_state(st, now, c, TS_TCP_SYN_RECEIVED, "RFC 9293 3.10.7.2 third check: SYN to a listener, SYN,ACK sent");
    tcp_send_syn(st, now, c);
    /* Data on the SYN waits in the out-of-order queue until the handshake completes (RFC 9293 3.10.7.2). */
    if (seg->len > 0) {
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 9293 3.10.7.2: %zu bytes of data on the SYN queued until the handshake completes", seg->len);
        tcp_ooo_insert(st, c, h->seq + 1, seg->data, seg->len, false);
    }
    ipv4_flush_loopback(st, now);
}

/* Walks every pcb to find the listener's children: once per listener closed, never per packet. */
void tcp_listen_close(struct ts_stack *st, ts_time now, struct ts_pcb *listener)
{
    listener->listening = false;
    tcp_unhash(listener);
    /* Children not yet accepted are reset (RFC 9293 3.10.4: "any outstanding RECEIVEs..." / Linux). */
    for (struct ts_pcb *pcb = st->pcbs, *next; pcb != NULL; pcb = next) {
        next = pcb->next;
        struct tcp_conn *c = pcb->tcp;
        if (pcb->type != TS_PCB_TCP || c == NULL || c->listener != listener)
            continue;
        c->listener = NULL;
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 9293 3.10.4: the listener closed, its unaccepted connection on port %u is reset",
                 pcb->remote.port);
        if (c->state != TS_TCP_CLOSED)
            tcp_send_rst(st, now, c);
        tcp_conn_free(st, c);
        pcb_destroy(pcb);
    }
    listener->accept_head = listener->accept_tail = NULL;
    listener->accept_count = 0;
    listener->syn_count = 0;
}
