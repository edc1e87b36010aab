/* The TCP trace's frame lines and "cc" lines (docs/trace.md). Only called with the TCP trace on. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tcp.h"

char *tcp_trace_flags(uint8_t flags, char *buf)
{
    /* tcpdump's letters and order; "." stands for ACK. */
    static const struct {
        uint8_t bit;
        char letter;
    } letters[] = {{TCP_FIN, 'F'}, {TCP_SYN, 'S'}, {TCP_RST, 'R'}, {TCP_PSH, 'P'},
                   {TCP_ACK, '.'}, {TCP_URG, 'U'}, {TCP_ECE, 'E'}, {TCP_CWR, 'W'}};
    size_t n = 0;
    for (size_t i = 0; i < sizeof letters / sizeof letters[0]; i++)
        if (flags & letters[i].bit)
            buf[n++] = letters[i].letter;
    buf[n] = '\0';
    if (n == 0)
        strcpy(buf, "none");
    return buf;
}

/* Appends to buf at *used, never past cap (a line too long is cut, never overrun). */
static void append(char *buf, size_t cap, size_t *used, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void append(char *buf, size_t cap, size_t *used, const char *fmt, ...)
{
    if (*used >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, cap - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used = *used + (size_t)n < cap ? *used + (size_t)n : cap;
}

/* ", options [mss 1460,sackOK,TS val 5 ecr 0,wscale 7,sack 1 {1001:2001}]", or nothing without options. */
static void tcp_trace_options(const struct tcp_options *o, uint32_t sack_base, char *buf, size_t cap)
{
    size_t used = 0;
    const char *sep = "";
    buf[0] = '\0';
    append(buf, cap, &used, ", options [");
    size_t empty = used;
    if (o->has_mss) {
        append(buf, cap, &used, "%smss %u", sep, o->mss);
        sep = ",";
    }
    if (o->sack_permitted) {
        append(buf, cap, &used, "%ssackOK", sep);
        sep = ",";
    }
    if (o->has_timestamps) {
        append(buf, cap, &used, "%sTS val %u ecr %u", sep, o->ts_val, o->ts_ecr);
        sep = ",";
    }
    if (o->has_wscale) {
        append(buf, cap, &used, "%swscale %u", sep, o->wscale);
        sep = ",";
    }
    if (o->sack_count > 0) {
        append(buf, cap, &used, "%ssack %u", sep, o->sack_count);
        for (unsigned i = 0; i < o->sack_count && i < TCP_MAX_SACK_BLOCKS; i++)
            append(buf, cap, &used, " {%u:%u}", o->sack[i].left - sack_base, o->sack[i].right - sack_base);
    }
    if (used == empty)
        buf[0] = '\0';
    else
        append(buf, cap, &used, "]");
}

void tcp_trace_segment(struct ts_stack *st, ts_time now, enum ts_trace_kind kind, ts_ipv4_addr src,
                       ts_ipv4_addr dst, const struct tcp_hdr *h, uint32_t seq_base, uint32_t ack_base,
                       uint32_t win, size_t len, const char *note)
{
    char from[16], to[16], flags[12], ack[24] = "", options[256], tail[96] = "";
    if (h->flags & TCP_ACK)
        snprintf(ack, sizeof ack, ", ack %u", h->ack - ack_base);
    /* SACK blocks name the acknowledged side's sequence space, as the ACK field does. */
    tcp_trace_options(&h->opt, ack_base, options, sizeof options);
    if (note != NULL)
        snprintf(tail, sizeof tail, " (%s)", note);
    trace_emit(st, now, TS_TRACE_TCP, kind, "%s %s:%u > %s:%u Flags [%s], seq %u%s, win %u%s, length %zu%s",
               kind == TS_TRACE_TX ? "tx" : "rx", ipv4_addr_format(src, from), h->src_port,
               ipv4_addr_format(dst, to), h->dst_port, tcp_trace_flags(h->flags, flags), h->seq - seq_base, ack,
               win, options, len, tail);
}

void tcp_trace_rx(struct ts_stack *st, ts_time now, const struct tcp_conn *c, const struct tcp_segment *seg)
{
    const struct tcp_hdr *h = &seg->hdr;
    bool relative = c != NULL && !(h->flags & TCP_SYN);
    uint32_t win = h->window;
    /* RFC 7323 2.2: the window field of a SYN is never scaled; later ones are, once both sides agreed. */
    if (relative && c->wscale_ok)
        win <<= c->snd_wscale;
    tcp_trace_segment(st, now, TS_TRACE_RX, seg->src, seg->dst, h, relative ? c->irs : 0, relative ? c->iss : 0, win,
                      seg->len, NULL);
}

const char *tcp_trace_time(ts_time t, char *buf)
{
    /* 24 bytes hold any of these (the compiler cannot see that times stay below 2^53 us). */
    if (t < 0 || t > TS_SEC(1000000000))
        t = 0;
    if (t % TS_SEC(1) == 0 && t != 0)
        snprintf(buf, 24, "%lld s", (long long)(t / TS_SEC(1)));
    else if (t % 1000 == 0)
        snprintf(buf, 24, "%lld ms", (long long)(t / 1000));
    else
        snprintf(buf, 24, "%lld.%03d ms", (long long)(t / 1000), (int)(t % 1000));
    return buf;
}

char *tcp_trace_conn_name(const struct ts_stack *st, const struct tcp_conn *c, char *buf, size_t cap)
{
    char local[16], remote[16];
    const struct ts_pcb *pcb = c->pcb;
    snprintf(buf, cap, "%s:%u > %s:%u", ipv4_addr_format(pcb->local.addr ? pcb->local.addr : st->cfg.addr, local),
             pcb->local.port, ipv4_addr_format(pcb->remote.addr, remote), pcb->remote.port);
    return buf;
}

static bool tcp_cc_changed(const struct tcp_conn *c)
{
    const struct tcp_cc_seen *s = &c->cc_seen;
    return !s->shown || s->cwnd != c->cc.cwnd || s->ssthresh != c->cc.ssthresh || s->srtt != c->srtt ||
           s->rttvar != c->rttvar || s->rto != c->rto;
}

void tcp_trace_cc(struct ts_stack *st, ts_time now, struct tcp_conn *c)
{
    if (!TRACE_ON(st, TS_TRACE_TCP) || c->pcb == NULL || !tcp_cc_changed(c))
        return;
    char name[48];
    c->cc_seen = (struct tcp_cc_seen){.shown = true, .cwnd = c->cc.cwnd, .ssthresh = c->cc.ssthresh,
                                      .srtt = c->srtt, .rttvar = c->rttvar, .rto = c->rto};
    trace_emit(st, now, TS_TRACE_TCP, TS_TRACE_STATE,
               "cc %s cwnd=%u ssthresh=%u srtt_us=%lld rttvar_us=%lld rto_us=%lld flight=%u state=%s",
               tcp_trace_conn_name(st, c, name, sizeof name), c->cc.cwnd, c->cc.ssthresh,
               (long long)(c->have_rtt ? c->srtt : 0), (long long)(c->have_rtt ? c->rttvar : 0), (long long)c->rto,
               c->snd_max - c->snd_una, ts_tcp_state_name(c->state));
}

void tcp_trace_cc_after_segment(struct ts_stack *st, ts_time now, ts_ipv4_addr local, uint16_t lport,
                                ts_ipv4_addr remote, uint16_t rport)
{
    bool is_listener;
    struct ts_pcb *pcb = tcp_find(st, local, lport, remote, rport, &is_listener);
    if (pcb != NULL && !is_listener && pcb->tcp != NULL && pcb->tcp->state != TS_TCP_CLOSED)
        tcp_trace_cc(st, now, pcb->tcp);
}
