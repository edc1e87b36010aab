/*
 * A read-only view of the TCP control block for tools (pcb.h, "a read-only view").
 *
 * Copies what RFC 9293 3.3.1 calls the TCB's variables, and the state the
 * extensions keep beside them (RFC 6298 timers, RFC 5681 windows, the
 * out-of-order queue), into a public struct, so a program outside the core can
 * show them without knowing struct tcp_conn. Nothing here changes the stack.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "tcp.h"

const char *ts_tcp_timer_name(enum ts_tcp_timer timer)
{
    switch (timer) {
    case TS_TCP_TIMER_RTO:
        return "rto";
    case TS_TCP_TIMER_DELACK:
        return "delack";
    case TS_TCP_TIMER_PERSIST:
        return "persist";
    case TS_TCP_TIMER_KEEPALIVE:
        return "keepalive";
    case TS_TCP_TIMER_TIMEWAIT:
        return "time-wait";
    case TS_TCP_TIMER_COUNT:
        break;
    }
    return "?";
}

static void view_listener(const struct ts_pcb *pcb, struct ts_tcp_view *v)
{
    v->listener = true;
    v->state = TS_TCP_LISTEN;
    v->syn_queue = pcb->syn_count;
    v->accept_queue = pcb->accept_count;
}

static void view_timers(const struct tcp_conn *c, struct ts_tcp_view *v)
{
    v->timer_at[TS_TCP_TIMER_RTO] = c->rto_at;
    v->timer_at[TS_TCP_TIMER_DELACK] = c->delack_at;
    v->timer_at[TS_TCP_TIMER_PERSIST] = c->persist_at;
    v->timer_at[TS_TCP_TIMER_KEEPALIVE] = c->keepalive_at;
    v->timer_at[TS_TCP_TIMER_TIMEWAIT] = c->timewait_at;
}

static void view_conn(const struct tcp_conn *c, struct ts_tcp_view *v)
{
    v->state = c->state;
    v->accepted = c->accepted;
    v->user_closed = c->user_closed;
    /* RFC 9293 3.3.1: the send and receive sequence variables */
    v->iss = c->iss;
    v->snd_una = c->snd_una;
    v->snd_nxt = c->snd_nxt;
    v->snd_wnd = c->snd_wnd;
    v->snd_wl1 = c->snd_wl1;
    v->snd_wl2 = c->snd_wl2;
    v->irs = c->irs;
    v->rcv_nxt = c->rcv_nxt;
    v->rcv_wnd = tcp_receive_window(c);
    v->snd_mss = c->snd_mss;
    v->rcv_mss = c->rcv_mss;
    v->wscale = c->wscale_ok;
    v->snd_wscale = c->wscale_ok ? c->snd_wscale : 0;
    v->rcv_wscale = c->wscale_ok ? c->rcv_wscale : 0;
    v->timestamps = c->ts_ok;
    v->sack = c->sack_ok;
    v->cwnd = c->cc.cwnd;
    v->ssthresh = c->cc.ssthresh;
    v->in_recovery = c->cc.in_recovery;
    v->have_rtt = c->have_rtt;
    v->srtt = c->srtt;
    v->rttvar = c->rttvar;
    v->rto = c->rto;
    v->backoff = c->backoff;
    v->retransmits = c->retransmits;
    v->dupacks = c->dupacks;
    view_timers(c, v);
    v->snd_buffered = c->snd.len;
    v->snd_buf_size = c->snd.cap;
    v->rcv_buffered = c->rcv.len;
    v->rcv_buf_size = c->rcv.cap;
    v->ooo_bytes = c->ooo_bytes;
    v->fin_sent = c->fin_sent;
    v->fin_received = c->fin_received;
}

int ts_tcp_view_of(const struct ts_pcb *pcb, struct ts_tcp_view *view)
{
    if (pcb == NULL || view == NULL || pcb->type != TS_PCB_TCP)
        return -EINVAL;
    if (pcb->tcp == NULL && !pcb->listening)
        return -ENOTCONN;
    memset(view, 0, sizeof(*view));
    for (unsigned i = 0; i < TS_TCP_TIMER_COUNT; i++)
        view->timer_at[i] = TS_TIME_NEVER;
    view->pcb_id = pcb->id;
    view->local = pcb->local;
    view->remote = pcb->remote;
    if (pcb->tcp)
        view_conn(pcb->tcp, view);
    else
        view_listener(pcb, view);
    view->state_name = ts_tcp_state_name(view->state);
    return 0;
}

size_t ts_stack_tcp_views(const struct ts_stack *st, struct ts_tcp_view *out, size_t max)
{
    size_t n = 0;
    if (st == NULL)
        return 0;
    for (const struct ts_pcb *p = st->pcbs; p; p = p->next) {
        struct ts_tcp_view v;
        if (ts_tcp_view_of(p, &v) != 0)
            continue;
        if (out && n < max)
            out[n] = v;
        n++;
    }
    return n;
}
