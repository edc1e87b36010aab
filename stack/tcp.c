/*
 * A TCP connection's life and the user's calls on it (RFC 9293 3.10.1-3.10.6):
 * open, send, receive, close, abort, status; and the one function that changes
 * a connection's state, so every transition is traced.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp.h"

static const char *const state_names[] = {
    [TS_TCP_CLOSED] = "CLOSED",           [TS_TCP_LISTEN] = "LISTEN",
    [TS_TCP_SYN_SENT] = "SYN-SENT",       [TS_TCP_SYN_RECEIVED] = "SYN-RECEIVED",
    [TS_TCP_ESTABLISHED] = "ESTABLISHED", [TS_TCP_FIN_WAIT_1] = "FIN-WAIT-1",
    [TS_TCP_FIN_WAIT_2] = "FIN-WAIT-2",   [TS_TCP_CLOSE_WAIT] = "CLOSE-WAIT",
    [TS_TCP_CLOSING] = "CLOSING",         [TS_TCP_LAST_ACK] = "LAST-ACK",
    [TS_TCP_TIME_WAIT] = "TIME-WAIT",
};

const char *ts_tcp_state_name(enum ts_tcp_state state)
{
    if ((unsigned)state >= sizeof state_names / sizeof state_names[0])
        return "?";
    return state_names[state];
}

uint32_t tcp_rel_snd(const struct tcp_conn *c, uint32_t seq)
{
    return seq - c->iss;
}

uint32_t tcp_rel_rcv(const struct tcp_conn *c, uint32_t seq)
{
    return seq - c->irs;
}

/* RFC 9293 3.7.1 / RFC 879: MSS = MTU minus the IP and TCP headers without options. */
uint16_t tcp_mss_for_link(const struct ts_stack *st)
{
    size_t mss = st->link.mtu - IPV4_MIN_HDR_LEN - TCP_MIN_HDR_LEN;
    return (uint16_t)(mss > 65495 ? 65495 : mss);
}

struct tcp_conn *tcp_conn_new(struct ts_pcb *pcb)
{
    struct ts_stack *st = pcb->st;
    /* Room in the timer heap first, so arming a timer later never needs memory. */
    if (tcp_timers_reserve(st, st->tcp_conn_count + 1) != 0)
        return NULL;
    struct tcp_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    st->tcp_conn_count++;
    st->mem_in_use += sizeof *c;
    c->pcb = pcb;
    c->state = TS_TCP_CLOSED;
    c->snd.cap = tcp_ring_cap_for(pcb->sndbuf);
    c->rcv.cap = tcp_ring_cap_for(pcb->rcvbuf);
    c->rto = st->cfg.timing.tcp_rto_initial;
    c->rto_at = c->delack_at = c->persist_at = c->keepalive_at = c->timewait_at = TS_TIME_NEVER;
    c->rcv_mss = tcp_mss_for_link(st);
    c->user_mss = pcb->user_mss;
    if (c->user_mss != 0 && c->user_mss < c->rcv_mss)
        c->rcv_mss = c->user_mss;
    c->snd_mss = 536; /* RFC 9293 3.7.1: the default when the peer sends no MSS option */
    c->nodelay = pcb->nodelay;
    c->keepalive = pcb->keepalive;
    c->keepidle = pcb->keepidle ? TS_SEC(pcb->keepidle) : st->cfg.timing.tcp_keepidle;
    c->keepintvl = pcb->keepintvl ? TS_SEC(pcb->keepintvl) : st->cfg.timing.tcp_keepintvl;
    c->keepcnt = pcb->keepcnt ? pcb->keepcnt : st->cfg.timing.tcp_keepcnt;
    /* RFC 7323 2.3: the smallest shift that lets the whole receive buffer be advertised. */
    while (c->rcv_wscale < 14 && (c->rcv.cap >> c->rcv_wscale) > 65535)
        c->rcv_wscale++;
    tcp_cc_init(&c->cc, pcb->congestion, c->snd_mss);
    pcb->tcp = c;
    return c;
}

void tcp_conn_free(struct ts_stack *st, struct tcp_conn *c)
{
    tcp_ring_free(st, &c->snd);
    tcp_ring_free(st, &c->rcv);
    tcp_ooo_clear(st, c);
    tcp_timer_forget(st, c);
    if (c->pcb != NULL) {
        tcp_unhash(c->pcb);
        c->pcb->tcp = NULL;
    }
    st->tcp_conn_count--;
    st->mem_in_use -= sizeof *c;
    free(c);
}

void tcp_set_state(struct ts_stack *st, ts_time now, struct tcp_conn *c, enum ts_tcp_state next, const char *why)
{
    char local[16], remote[16];
    enum ts_tcp_state prev = c->state;
    if (prev == next)
        return;
    c->state = next;
    if (next == TS_TCP_ESTABLISHED)
        st->counters.tcp.established++;
    TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "%s:%u > %s:%u %s -> %s (%s)",
             ipv4_addr_format(c->pcb->local.addr ? c->pcb->local.addr : st->cfg.addr, local), c->pcb->local.port,
             ipv4_addr_format(c->pcb->remote.addr, remote), c->pcb->remote.port, ts_tcp_state_name(prev),
             ts_tcp_state_name(next), why);
}

void tcp_notify(struct tcp_conn *c)
{
    if (c->pcb != NULL)
        pcb_notify(c->pcb);
}

/* Frees the pcb of a connection nobody holds any more: closed by the user, or never accepted. */
static void tcp_release_if_orphan(struct ts_stack *st, struct tcp_conn *c)
{
    struct ts_pcb *pcb = c->pcb;
    if (c->user_closed) {
        tcp_conn_free(st, c);
        pcb_destroy(pcb);
    }
}

/* The rule that ends a connection, for the trace (the caller traced the decision that led here). */
static const char *tcp_finish_rule(const struct tcp_conn *c, ts_time now, int err)
{
    switch (err) {
    case 0:
        if (c->state == TS_TCP_TIME_WAIT && c->timewait_at <= now)
            return "RFC 9293 3.10.8: time-wait timeout (2 MSL) expired, TCB deleted";
        if (c->state == TS_TCP_LAST_ACK)
            return "RFC 9293 3.10.7.4 fifth check: our FIN acknowledged in LAST-ACK, TCB deleted";
        if (c->state == TS_TCP_SYN_RECEIVED)
            return "RFC 9293 3.10.7.4 second check: RST, the passive open returns to LISTEN";
        return "RFC 9293 3.10.7.4 second check: RST in a closing state, TCB deleted";
    case ECONNRESET:
        return "RFC 9293 3.10.7.4 second check: RST received, ECONNRESET";
    case ECONNREFUSED:
        return "RFC 9293 3.10.7.3 second check: connection refused, ECONNREFUSED";
    case ETIMEDOUT:
        if (c->state == TS_TCP_FIN_WAIT_2)
            return "FIN-WAIT-2 limit with the socket closed (as Linux), ETIMEDOUT";
        return "RFC 1122 4.2.3.5 / RFC 9293 3.8.3: retransmission or keep-alive limit reached, ETIMEDOUT";
    default:
        return "RFC 1122 4.2.3.9 / RFC 9293 3.9.2: hard ICMP error while opening, connection aborted";
    }
}

void tcp_conn_finish(struct ts_stack *st, ts_time now, struct tcp_conn *c, int err)
{
    tcp_set_state(st, now, c, TS_TCP_CLOSED, tcp_finish_rule(c, now, err));
    tcp_timers_stop(c);
    tcp_ooo_clear(st, c);
    tcp_ring_free(st, &c->snd);
    if (err != 0 && c->pcb != NULL)
        c->pcb->pending_error = err;
    if (c->listener != NULL && !c->accepted) {
        /* A child that dies before accept: it returns to nothing (RFC 9293 3.10.7.4: "return to LISTEN"). */
        tcp_listen_forget_child(st, c);
        c->user_closed = true;
    }
    tcp_notify(c);
    tcp_release_if_orphan(st, c);
}

/* A segment's pcb: its connection by the 4-tuple, else a listener on the port (two hash lookups). */
struct ts_pcb *tcp_find(struct ts_stack *st, ts_ipv4_addr local, uint16_t lport, ts_ipv4_addr remote,
                        uint16_t rport, bool *is_listener)
{
    *is_listener = false;
    struct ts_pcb *conn = tcp_lookup_connection(st, local, lport, remote, rport, true);
    if (conn != NULL)
        return conn;
    struct ts_pcb *listener = tcp_lookup_listener(st, local, lport);
    *is_listener = listener != NULL;
    return listener;
}

/* ---- user calls ------------------------------------------------------------------------ */

int tcp_user_connect(struct ts_pcb *pcb, ts_time now, const struct ts_sockaddr *remote)
{
    struct ts_stack *st = pcb->st;
    if (pcb->listening)
        return -EISCONN;
    if (pcb->tcp != NULL) {
        if (pcb->tcp->state == TS_TCP_SYN_SENT || pcb->tcp->state == TS_TCP_SYN_RECEIVED)
            return -EALREADY;
        if (pcb->tcp->state != TS_TCP_CLOSED)
            return -EISCONN;
        return -EISCONN; /* a finished connection cannot be reused, as with BSD sockets */
    }
    if (remote->addr == 0 || remote->port == 0)
        return -EINVAL;
    if (ipv4_is_broadcast(st, remote->addr) || (remote->addr >> 28) == 0xe)
        return -ENETUNREACH;
    if (st->cfg.addr == 0)
        return -ENETUNREACH;
    if (!pcb->bound) {
        struct ts_sockaddr any = {0, 0};
        int err = ts_pcb_bind(pcb, &any);
        if (err != 0)
            return err == -EADDRINUSE ? -EADDRNOTAVAIL : err;
    }
    /* The connection's local address is now fixed: getsockname reports it, not 0.0.0.0 (as Linux). */
    if (pcb->local.addr == 0)
        pcb->local.addr = st->cfg.addr;
    /* Two connections with one 4-tuple could not be told apart (RFC 9293 3.4). */
    if (tcp_lookup_connection(st, pcb->local.addr, pcb->local.port, remote->addr, remote->port, false) != NULL)
        return -EADDRNOTAVAIL;
    struct tcp_conn *c = tcp_conn_new(pcb);
    if (c == NULL)
        return -ENOMEM;
    pcb->remote = *remote;
    if (tcp_hash_connection(pcb) != 0) {
        memset(&pcb->remote, 0, sizeof pcb->remote);
        tcp_conn_free(st, c);
        return -ENOMEM;
    }
    pcb->connected = true;
    pcb->ever_connected = true;
    c->accepted = true;
    struct tcp_four_tuple t = {st->cfg.addr, remote->addr, pcb->local.port, remote->port};
    c->iss = tcp_isn(&st->tcp_secret, &t, now);
    c->snd_una = c->snd_nxt = c->snd_max = c->iss;
    c->recover = c->iss; /* RFC 6582 3.2 step 1 */
    c->rtt_started = now;
    st->counters.tcp.active_opens++;
    TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "RFC 6528 3: ISN %u from the clock and a keyed hash of the 4-tuple",
             c->iss);
    tcp_set_state(st, now, c, TS_TCP_SYN_SENT, "RFC 9293 3.10.1: OPEN (active), SYN sent");
    tcp_send_syn(st, now, c);
    return -EINPROGRESS;
}

ssize_t ts_pcb_send(struct ts_pcb *pcb, ts_time now, const void *data, size_t len)
{
    if (pcb == NULL || pcb->type != TS_PCB_TCP || (data == NULL && len > 0))
        return -EINVAL;
    struct ts_stack *st = pcb->st;
    struct tcp_conn *c = pcb->tcp;
    if (pcb->pending_error != 0)
        return -ts_pcb_take_error(pcb);
    if (c == NULL)
        return pcb->ever_connected ? -EPIPE : -ENOTCONN;
    switch (c->state) {
    case TS_TCP_SYN_SENT:
    case TS_TCP_SYN_RECEIVED:
        return -EAGAIN; /* like Linux: a non-blocking send before the handshake completes waits */
    case TS_TCP_ESTABLISHED:
    case TS_TCP_CLOSE_WAIT:
        break;
    case TS_TCP_CLOSED:
        return c->fin_queued || pcb->ever_connected ? -EPIPE : -ENOTCONN;
    default:
        return -EPIPE; /* RFC 9293 3.10.2: "connection closing" */
    }
    if (c->fin_queued)
        return -EPIPE;
    if (len == 0)
        return 0;
    ssize_t n = tcp_ring_append(st, &c->snd, data, len);
    if (n < 0)
        return -ENOBUFS;
    if (n == 0)
        return -EAGAIN;
    tcp_output(st, now, c);
    tcp_trace_cc(st, now, c);
    ipv4_flush_loopback(st, now);
    return n;
}

/* RFC 9293 3.8.6.2.2: open the window again once it has grown by enough to be worth a segment. */
static void tcp_maybe_window_update(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    uint32_t window = tcp_receive_window(c);
    uint32_t advertised = c->rcv_adv - c->rcv_nxt;
    size_t threshold = c->rcv.cap / 2 < 2u * c->rcv_mss ? c->rcv.cap / 2 : 2u * c->rcv_mss;
    if (SEQ_GT(c->rcv_adv, c->rcv_nxt) && window - advertised < threshold)
        return;
    if (window > advertised && window - advertised >= threshold) {
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "RFC 9293 3.8.6.2.2: receive window %u -> %u grew by at least "
                 "min(RCV.BUFF/2, MSS): sending a window update", advertised, window);
        tcp_send_ack(st, now, c);
    }
}

ssize_t ts_pcb_recv(struct ts_pcb *pcb, ts_time now, void *buf, size_t cap, bool peek)
{
    if (pcb == NULL || pcb->type != TS_PCB_TCP || (buf == NULL && cap > 0))
        return -EINVAL;
    struct ts_stack *st = pcb->st;
    struct tcp_conn *c = pcb->tcp;
    if (c == NULL || c->rcv.len == 0) {
        if (pcb->pending_error != 0)
            return -ts_pcb_take_error(pcb);
        if (c == NULL)
            return pcb->ever_connected ? 0 : -ENOTCONN;
        if (c->fin_received || c->read_shutdown || c->state == TS_TCP_CLOSED)
            return 0;
        if (c->state == TS_TCP_SYN_SENT || c->state == TS_TCP_SYN_RECEIVED)
            return -EAGAIN;
        return -EAGAIN;
    }
    size_t n = cap < c->rcv.len ? cap : c->rcv.len;
    tcp_ring_copy_out(&c->rcv, 0, buf, n);
    if (!peek) {
        tcp_ring_consume(st, &c->rcv, n);
        tcp_maybe_window_update(st, now, c);
        ipv4_flush_loopback(st, now);
    }
    return (ssize_t)n;
}

/* RFC 9293 3.10.4 CLOSE in a synchronized state: the FIN goes after the queued data. */
static void tcp_queue_fin(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    if (c->fin_queued)
        return;
    c->fin_queued = true;
    if (c->state == TS_TCP_ESTABLISHED || c->state == TS_TCP_SYN_RECEIVED)
        tcp_set_state(st, now, c, TS_TCP_FIN_WAIT_1, "RFC 9293 3.10.4: CLOSE, FIN queued after the data");
    else if (c->state == TS_TCP_CLOSE_WAIT)
        tcp_set_state(st, now, c, TS_TCP_LAST_ACK, "RFC 9293 3.10.4: CLOSE in CLOSE-WAIT, FIN queued after the data");
    tcp_output(st, now, c);
}

int ts_pcb_shutdown(struct ts_pcb *pcb, ts_time now, enum ts_shutdown_how how)
{
    if (pcb == NULL || pcb->type != TS_PCB_TCP)
        return -EINVAL;
    if (how != TS_SHUT_RD && how != TS_SHUT_WR && how != TS_SHUT_RDWR)
        return -EINVAL;
    struct ts_stack *st = pcb->st;
    struct tcp_conn *c = pcb->tcp;
    if (c == NULL || c->state == TS_TCP_CLOSED || c->state == TS_TCP_SYN_SENT)
        return -ENOTCONN;
    if (how != TS_SHUT_WR) {
        c->read_shutdown = true;
        tcp_ring_consume(st, &c->rcv, c->rcv.len);
    }
    if (how != TS_SHUT_RD)
        tcp_queue_fin(st, now, c);
    tcp_notify(c);
    ipv4_flush_loopback(st, now);
    return 0;
}

void ts_pcb_abort(struct ts_pcb *pcb, ts_time now)
{
    if (pcb == NULL)
        return;
    struct ts_stack *st = pcb->st;
    if (pcb->type == TS_PCB_TCP && pcb->tcp != NULL) {
        struct tcp_conn *c = pcb->tcp;
        /* RFC 9293 3.10.5 ABORT: a reset in the synchronized states, nothing before. */
        bool reset = c->state != TS_TCP_CLOSED && c->state != TS_TCP_SYN_SENT && c->state != TS_TCP_TIME_WAIT;
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "RFC 9293 3.10.5: ABORT in %s: %s, TCB deleted",
                 ts_tcp_state_name(c->state), reset ? "sending a reset" : "no reset in this state");
        if (reset)
            tcp_send_rst(st, now, c);
        tcp_conn_free(st, c);
    }
    if (pcb->type == TS_PCB_TCP && pcb->listening)
        tcp_listen_close(st, now, pcb);
    pcb_destroy(pcb);
    ipv4_flush_loopback(st, now);
}

/* RFC 9293 3.10.4 CLOSE, state by state. */
void tcp_user_close(struct ts_pcb *pcb, ts_time now)
{
    struct ts_stack *st = pcb->st;
    struct tcp_conn *c = pcb->tcp;
    if (pcb->listening) {
        tcp_listen_close(st, now, pcb);
        pcb_destroy(pcb);
        return;
    }
    if (c == NULL) {
        pcb_destroy(pcb);
        return;
    }
    switch (c->state) {
    case TS_TCP_CLOSED:
    case TS_TCP_SYN_SENT:
        tcp_conn_free(st, c);
        pcb_destroy(pcb);
        return;
    default:
        break;
    }
    /* RFC 2525 2.17: closing with unread data loses it; say so with a reset instead of a FIN. */
    if (c->rcv.len > 0 && c->state != TS_TCP_TIME_WAIT) {
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
                 "RFC 2525 2.17: CLOSE with %zu unread bytes, resetting instead of a FIN", (size_t)c->rcv.len);
        ts_pcb_abort(pcb, now);
        return;
    }
    c->user_closed = true;
    if (c->state != TS_TCP_TIME_WAIT && c->state != TS_TCP_LAST_ACK && c->state != TS_TCP_CLOSING)
        tcp_queue_fin(st, now, c);
    if (c->state == TS_TCP_FIN_WAIT_2 && c->timewait_at == TS_TIME_NEVER)
        tcp_timer_set(c, &c->timewait_at, now + st->cfg.timing.tcp_fin_wait2_timeout);
    ipv4_flush_loopback(st, now);
}

int ts_pcb_tcp_info(const struct ts_pcb *pcb, struct ts_tcp_info *info)
{
    if (pcb == NULL || info == NULL || pcb->type != TS_PCB_TCP)
        return -EINVAL;
    memset(info, 0, sizeof *info);
    info->congestion = tcp_cc_name(pcb->congestion);
    info->nodelay = pcb->nodelay;
    const struct tcp_conn *c = pcb->tcp;
    if (c == NULL) {
        info->state = pcb->listening ? TS_TCP_LISTEN : TS_TCP_CLOSED;
        return 0;
    }
    info->state = c->state;
    info->srtt = c->srtt;
    info->rttvar = c->rttvar;
    info->rto = c->rto;
    info->snd_mss = c->snd_mss;
    info->rcv_mss = c->rcv_mss;
    info->cwnd = c->cc.cwnd;
    info->ssthresh = c->cc.ssthresh;
    info->snd_wnd = c->snd_wnd;
    info->rcv_wnd = tcp_receive_window(c);
    info->snd_wscale = c->wscale_ok ? c->snd_wscale : 0;
    info->rcv_wscale = c->wscale_ok ? c->rcv_wscale : 0;
    info->timestamps = c->ts_ok;
    info->sack = c->sack_ok;
    info->retransmits = c->retransmits;
    info->bytes_sent = c->bytes_sent;
    info->bytes_acked = c->bytes_acked;
    info->bytes_received = c->bytes_received;
    info->unacked = c->snd_max - c->snd_una;
    info->congestion = tcp_cc_name(c->cc.algorithm);
    return 0;
}

uint32_t tcp_pcb_events(const struct ts_pcb *pcb)
{
    uint32_t ev = 0;
    const struct tcp_conn *c = pcb->tcp;
    if (pcb->pending_error != 0)
        ev |= TS_EV_ERROR;
    if (pcb->listening)
        return ev | (pcb->accept_count > 0 ? TS_EV_READABLE : 0);
    if (c == NULL)
        return ev | (pcb->ever_connected ? TS_EV_HUP | TS_EV_READABLE : 0);
    if (c->rcv.len > 0 || c->fin_received || c->read_shutdown)
        ev |= TS_EV_READABLE;
    bool can_send = c->state == TS_TCP_ESTABLISHED || c->state == TS_TCP_CLOSE_WAIT;
    if (can_send && !c->fin_queued && tcp_ring_space(&c->snd) > 0)
        ev |= TS_EV_WRITABLE;
    if (c->state == TS_TCP_CLOSED)
        ev |= TS_EV_HUP | TS_EV_READABLE | (c->fin_queued ? 0 : TS_EV_WRITABLE);
    else if (c->fin_received && c->fin_queued)
        ev |= TS_EV_HUP;
    return ev;
}

void tcp_destroy_all(struct ts_stack *st)
{
    for (struct ts_pcb *pcb = st->pcbs; pcb != NULL; pcb = pcb->next)
        if (pcb->type == TS_PCB_TCP && pcb->tcp != NULL)
            tcp_conn_free(st, pcb->tcp);
}

/* RFC 1122 4.2.3.9: protocol, port and fragmentation-needed unreachables are hard errors that abort a
 * connection still opening; Linux reports them as ECONNREFUSED in SYN-SENT. Other errors are soft:
 * remembered, reported only if the connection then times out. */
void tcp_icmp_error(struct ts_stack *st, ts_time now, struct ts_pcb *pcb, int err, bool hard)
{
    struct tcp_conn *c = pcb->tcp;
    if (c == NULL)
        return;
    if (hard && (c->state == TS_TCP_SYN_SENT || c->state == TS_TCP_SYN_RECEIVED)) {
        TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE, "RFC 1122 4.2.3.9: hard ICMP error (errno %d) in %s: open "
                 "aborted",
                 err, ts_tcp_state_name(c->state));
        tcp_conn_finish(st, now, c, err);
        return;
    }
    /* RFC 9293 3.8.4 (MUST-47): remembered for the application (ts_pcb_take_soft_error, SO_ERROR) and
     * reported instead of ETIMEDOUT if the connection then times out. */
    c->soft_error = err;
    TS_TRACE(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
             "RFC 1122 4.2.3.9: soft ICMP error (errno %d) in %s: noted for SO_ERROR, "
             "reported if the connection times out",
             err, ts_tcp_state_name(c->state));
}

int ts_pcb_take_soft_error(struct ts_pcb *pcb)
{
    if (pcb->type != TS_PCB_TCP || pcb->tcp == NULL)
        return 0;
    int err = pcb->tcp->soft_error;
    pcb->tcp->soft_error = 0;
    return err;
}

/* RFC 5927 4.1: an ICMP error is believed only if the TCP header it quotes carries a sequence number
 * in SND.UNA..SND.NXT-1 (here SND.MAX-1: after a retransmission timeout SND.NXT steps back, yet
 * segments beyond it are still in flight); otherwise anyone who guesses the ports could abort a
 * connection being opened (in SYN-SENT the only such number is our ISS). */
bool tcp_icmp_seq_acceptable(struct ts_stack *st, ts_time now, struct ts_pcb *pcb, uint32_t seq)
{
    const struct tcp_conn *c = pcb->tcp;
    if (c == NULL)
        return false;
    if (SEQ_LEQ(c->snd_una, seq) && SEQ_LT(seq, c->snd_max))
        return true;
    TS_DROP(st, now, TS_TRACE_TCP, tcp, drop_icmp_out_of_window,
            "RFC 5927 4.1: ICMP error quotes seq %u, outside [SND.UNA %u, SND.MAX %u): ignored", tcp_rel_snd(c, seq),
            tcp_rel_snd(c, c->snd_una), tcp_rel_snd(c, c->snd_max));
    return false;
}

int tcp_setopt(struct ts_pcb *pcb, enum ts_pcb_option opt, int value)
{
    if (pcb->type != TS_PCB_TCP)
        return -ENOPROTOOPT;
    struct tcp_conn *c = pcb->tcp;
    switch (opt) {
    case TS_OPT_NODELAY:
        pcb->nodelay = value != 0;
        if (c != NULL) {
            c->nodelay = pcb->nodelay;
            if (c->nodelay)
                tcp_output(pcb->st, pcb->st->last_now, c); /* Linux flushes what Nagle held */
        }
        return 0;
    case TS_OPT_KEEPALIVE:
        pcb->keepalive = value != 0;
        if (c != NULL) {
            c->keepalive = pcb->keepalive;
            tcp_keepalive_reset(c, pcb->st->last_now);
        }
        return 0;
    case TS_OPT_KEEPIDLE:
    case TS_OPT_KEEPINTVL:
        if (value < 1 || value > 32767) /* Linux's bounds */
            return -EINVAL;
        if (opt == TS_OPT_KEEPIDLE)
            pcb->keepidle = (unsigned)value;
        else
            pcb->keepintvl = (unsigned)value;
        if (c != NULL) {
            c->keepidle = pcb->keepidle ? TS_SEC(pcb->keepidle) : pcb->st->cfg.timing.tcp_keepidle;
            if (pcb->keepintvl)
                c->keepintvl = TS_SEC(pcb->keepintvl);
            tcp_keepalive_reset(c, pcb->st->last_now);
        }
        return 0;
    case TS_OPT_KEEPCNT:
        if (value < 1 || value > 127)
            return -EINVAL;
        pcb->keepcnt = (unsigned)value;
        if (c != NULL)
            c->keepcnt = pcb->keepcnt;
        return 0;
    case TS_OPT_CONGESTION:
        if (value != TS_CC_CUBIC && value != TS_CC_RENO)
            return -ENOENT; /* Linux: unknown algorithm */
        pcb->congestion = (enum ts_tcp_congestion)value;
        if (c != NULL)
            tcp_cc_set_algorithm(&c->cc, pcb->congestion);
        return 0;
    case TS_OPT_MAXSEG:
        if (value < 88 || value > 65495)
            return -EINVAL;
        pcb->user_mss = (uint16_t)value;
        return 0;
    case TS_OPT_USER_TIMEOUT:
        if (value < 0)
            return -EINVAL;
        pcb->user_timeout_ms = (unsigned)value; /* read by the retransmission timer: applies at once */
        return 0;
    default:
        return -ENOPROTOOPT;
    }
}

int tcp_getopt(const struct ts_pcb *pcb, enum ts_pcb_option opt, int *value)
{
    if (pcb->type != TS_PCB_TCP)
        return -ENOPROTOOPT;
    const struct tcp_conn *c = pcb->tcp;
    switch (opt) {
    case TS_OPT_NODELAY: *value = pcb->nodelay; return 0;
    case TS_OPT_KEEPALIVE: *value = pcb->keepalive; return 0;
    case TS_OPT_KEEPIDLE: *value = (int)(pcb->keepidle ? pcb->keepidle : pcb->st->cfg.timing.tcp_keepidle / TS_SEC(1)); return 0;
    case TS_OPT_KEEPINTVL: *value = (int)(pcb->keepintvl ? pcb->keepintvl : pcb->st->cfg.timing.tcp_keepintvl / TS_SEC(1)); return 0;
    case TS_OPT_KEEPCNT: *value = (int)(pcb->keepcnt ? pcb->keepcnt : pcb->st->cfg.timing.tcp_keepcnt); return 0;
    case TS_OPT_CONGESTION: *value = pcb->congestion; return 0;
    case TS_OPT_USER_TIMEOUT: *value = (int)pcb->user_timeout_ms; return 0;
    case TS_OPT_MAXSEG: *value = c != NULL ? c->snd_mss : (pcb->user_mss ? pcb->user_mss : tcp_mss_for_link(pcb->st)); return 0;
    default: return -ENOPROTOOPT;
    }
}

int tcp_apply_buffer_size(struct ts_pcb *pcb)
{
    struct tcp_conn *c = pcb->tcp;
    if (pcb->type != TS_PCB_TCP || c == NULL)
        return 0;
    /* A ring that holds bytes keeps its size until it drains; an empty one takes the new size now. */
    if (c->snd.data == NULL)
        c->snd.cap = tcp_ring_cap_for(pcb->sndbuf);
    if (c->rcv.data == NULL && c->state == TS_TCP_CLOSED)
        c->rcv.cap = tcp_ring_cap_for(pcb->rcvbuf);
    return 0;
}
