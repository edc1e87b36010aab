#include "tcp_peer.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/checksum.h"

static uint8_t tp_frame[70000];

/* TS_TEST_TRACE=1 in the environment prints the stack's trace: the way to see why a test fails. */
static void tp_trace(void *ctx, const struct ts_trace_event *ev)
{
    (void)ctx;
    fprintf(stderr, "%12.6f %-4s %s\n", (double)(ev->now - TP_START) / 1e6, ts_trace_layer_name(ev->layer),
            ev->text);
}

void tp_init(struct tp *t, const struct ts_stack_config *cfg)
{
    tp_init_offload(t, cfg, 0, 0);
}

void tp_init_offload(struct tp *t, const struct ts_stack_config *cfg, uint32_t offloads, size_t tso_max)
{
    tp_init_offload_unresolved(t, cfg, offloads, tso_max);
    fx_learn_peer(&t->f, TP_START);
}

void tp_init_offload_unresolved(struct tp *t, const struct ts_stack_config *cfg, uint32_t offloads, size_t tso_max)
{
    memset(t, 0, sizeof *t);
    struct ts_stack_config c;
    if (cfg != NULL)
        c = *cfg;
    else
        fx_default_config(&c);
    if (getenv("TS_TEST_TRACE") != NULL) {
        c.trace = tp_trace;
        c.trace_mask = TS_TRACE_TCP | TS_TRACE_IP;
    }
    fx_init_offload(&t->f, &c, offloads, tso_max);
    t->now = TP_START;
    t->peer_port = TP_PEER_PORT;
    t->stack_port = TP_STACK_PORT;
    t->peer_iss = TP_PEER_ISS;
    t->peer_nxt = TP_PEER_ISS;
    t->peer_window = 65535;
    t->peer_ts_base = 7000000;
    t->live = true;
}

void tp_fini(struct tp *t)
{
    if (!t->live)
        return;
    fx_fini(&t->f);
    t->live = false;
}

uint32_t tp_peer_tsval(const struct tp *t)
{
    return t->peer_ts_base + (uint32_t)(t->now / 1000);
}

struct fx_tcp_options tp_linux_syn_options(const struct tp *t)
{
    struct fx_tcp_options o = {.mss = 1460, .sack_permitted = true, .timestamps = true,
                               .ts_val = tp_peer_tsval(t), .has_wscale = true, .wscale = 7};
    return o;
}

struct fx_tcp_options tp_options(const struct tp *t)
{
    struct fx_tcp_options o = {0};
    if (t->peer_ts) {
        o.timestamps = true;
        o.ts_val = tp_peer_tsval(t);
        o.ts_ecr = t->ts_echo;
    }
    return o;
}

void tp_input(struct tp *t, struct fx_tcp_segment seg)
{
    if (seg.src == 0)
        seg.src = FX_PEER_IP;
    if (seg.dst == 0)
        seg.dst = FX_STACK_IP;
    if (seg.sport == 0)
        seg.sport = t->peer_port;
    if (seg.dport == 0)
        seg.dport = t->stack_port;
    size_t n = fx_build_tcp(tp_frame, &seg);
    fx_input(&t->f, t->now, tp_frame, n);
}

void tp_send(struct tp *t, uint8_t flags, uint32_t seq, uint32_t ack, const void *data, size_t len)
{
    struct fx_tcp_segment seg = {.seq = seq, .ack = ack, .flags = flags, .window = t->peer_window,
                                 .opt = tp_options(t), .data = data, .len = len};
    tp_input(t, seg);
}

void tp_send_data(struct tp *t, const void *data, size_t len)
{
    tp_send(t, TCP_ACK | TCP_PSH, t->peer_nxt, t->stack_nxt, data, len);
    t->peer_nxt += (uint32_t)len;
}

void tp_send_ack(struct tp *t, uint32_t ack)
{
    tp_send(t, TCP_ACK, t->peer_nxt, ack, NULL, 0);
}

/* Decodes a sent frame if it is a TCP segment (from the stack to the peer, as asserted). */
static bool tp_decode(const struct fx_frame *fr, struct tp_seg *out)
{
    if (fx_ethertype(fr) != 0x0800)
        return false;
    const uint8_t *ip = fx_l3(fr);
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
    size_t total = be16_get(ip + 2);
    if (ip[9] != 6)
        return false;
    cr_assert_leq(total, fx_l3_len(fr));
    cr_assert_eq(be32_get(ip + 12), FX_STACK_IP);
    cr_assert_eq(be32_get(ip + 16), FX_PEER_IP);
    const uint8_t *data;
    size_t len;
    enum tcp_parse_result r = tcp_parse(ip + ihl, total - ihl, FX_STACK_IP, FX_PEER_IP, &out->h, &data, &len);
    cr_assert_eq(r, TCP_PARSE_OK, "the stack sent a segment that does not parse: %s", tcp_parse_result_name(r));
    cr_assert_leq(len, sizeof out->data, "segment of %zu bytes", len);
    out->when = fr->when;
    out->len = len;
    if (len > 0)
        memcpy(out->data, data, len);
    return true;
}

const struct tp_seg *tp_try_next(struct tp *t)
{
    static struct tp_seg seg;
    cr_assert_eq(t->f.sent_dropped, 0, "the fixture's frame log overflowed");
    while (t->next_frame < t->f.sent_count) {
        const struct fx_frame *fr = &t->f.sent[t->next_frame++];
        bool tcp = tp_decode(fr, &seg);
        if (t->next_frame == t->f.sent_count) {
            fx_clear_sent(&t->f); /* everything examined: make room (frames are copied out) */
            t->next_frame = 0;
        }
        if (!tcp)
            continue;
        if (seg.h.opt.has_timestamps)
            t->ts_echo = seg.h.opt.ts_val;
        return &seg;
    }
    return NULL;
}

const struct tp_seg *tp_next(struct tp *t)
{
    const struct tp_seg *s = tp_try_next(t);
    cr_assert_not_null(s, "expected a segment from the stack at %.6f s, got none",
                       (double)(t->now - TP_START) / 1e6);
    return s;
}

void tp_expect_nothing(struct tp *t)
{
    const struct tp_seg *s = tp_try_next(t);
    if (s != NULL) {
        char flags[32];
        cr_assert_fail("expected no segment, got [%s] seq %u ack %u len %zu at %.6f s",
                       tcp_flags_format(s->h.flags, flags), s->h.seq, s->h.ack, s->len,
                       (double)(s->when - TP_START) / 1e6);
    }
}

const struct tp_seg *tp_expect(struct tp *t, uint8_t flags, uint32_t seq, uint32_t ack)
{
    const struct tp_seg *s = tp_next(t);
    char got[32], want[32];
    cr_assert_eq(s->h.flags, flags, "flags [%s], expected [%s]", tcp_flags_format(s->h.flags, got),
                 tcp_flags_format(flags, want));
    cr_assert_eq(s->h.seq, seq, "seq %u, expected %u (relative %d)", s->h.seq, seq, (int32_t)(s->h.seq - seq));
    if (flags & TCP_ACK)
        cr_assert_eq(s->h.ack, ack, "ack %u, expected %u (relative %d)", s->h.ack, ack, (int32_t)(s->h.ack - ack));
    return s;
}

void tp_advance(struct tp *t, ts_time to)
{
    for (int guard = 0;; guard++) {
        cr_assert_lt(guard, 1000000, "timers keep firing without moving on");
        ts_time d = ts_stack_next_deadline(t->f.st);
        if (d > to)
            break;
        if (d > t->now)
            t->now = d;
        ts_stack_poll(t->f.st, t->now);
    }
    if (to > t->now)
        t->now = to;
}

const struct tp_seg *tp_run_until_segment(struct tp *t, ts_time limit)
{
    for (int guard = 0;; guard++) {
        cr_assert_lt(guard, 1000000, "timers keep firing without moving on");
        const struct tp_seg *s = tp_try_next(t);
        if (s != NULL)
            return s;
        ts_time d = ts_stack_next_deadline(t->f.st);
        if (d > limit) {
            if (limit > t->now)
                t->now = limit;
            return NULL;
        }
        if (d > t->now)
            t->now = d;
        ts_stack_poll(t->f.st, t->now);
    }
}

struct ts_pcb *tp_listen(struct tp *t, int backlog)
{
    int err;
    t->listener = ts_pcb_open(t->f.st, TS_PCB_TCP, &err);
    cr_assert_not_null(t->listener);
    struct ts_sockaddr local = {0, t->stack_port};
    cr_assert_eq(ts_pcb_bind(t->listener, &local), 0);
    cr_assert_eq(ts_pcb_listen(t->listener, backlog), 0);
    return t->listener;
}

static struct tp_seg tp_handshake_seg;

const struct tp_seg *tp_open_passive(struct tp *t, const struct fx_tcp_options *syn_opt)
{
    if (t->listener == NULL)
        tp_listen(t, 8);
    struct fx_tcp_segment syn = {.seq = t->peer_iss, .flags = TCP_SYN, .window = t->peer_window, .opt = *syn_opt};
    tp_input(t, syn);
    const struct tp_seg *sa = tp_next(t);
    cr_assert_eq(sa->h.flags, TCP_SYN | TCP_ACK);
    cr_assert_eq(sa->h.ack, t->peer_iss + 1);
    tp_handshake_seg = *sa;
    t->stack_iss = sa->h.seq;
    t->stack_nxt = sa->h.seq + 1;
    t->peer_nxt = t->peer_iss + 1;
    t->peer_ts = syn_opt->timestamps && sa->h.opt.has_timestamps;
    t->now += t->handshake_rtt;
    tp_send_ack(t, t->stack_nxt);
    int err;
    t->pcb = ts_pcb_accept(t->listener, &err);
    cr_assert_not_null(t->pcb, "accept: %d", err);
    return &tp_handshake_seg;
}

void tp_connect(struct tp *t)
{
    int err;
    t->pcb = ts_pcb_open(t->f.st, TS_PCB_TCP, &err);
    cr_assert_not_null(t->pcb);
    struct ts_sockaddr local = {0, t->stack_port};
    cr_assert_eq(ts_pcb_bind(t->pcb, &local), 0);
    struct ts_sockaddr remote = {FX_PEER_IP, t->peer_port};
    cr_assert_eq(ts_pcb_connect(t->pcb, t->now, &remote), -EINPROGRESS);
}

const struct tp_seg *tp_open_active(struct tp *t, const struct fx_tcp_options *synack_opt)
{
    tp_connect(t);
    const struct tp_seg *syn = tp_next(t);
    cr_assert_eq(syn->h.flags, TCP_SYN);
    tp_handshake_seg = *syn;
    t->stack_iss = syn->h.seq;
    t->stack_nxt = syn->h.seq + 1;
    t->peer_ts = synack_opt->timestamps && syn->h.opt.has_timestamps;
    t->now += t->handshake_rtt;
    struct fx_tcp_segment sa = {.seq = t->peer_iss, .ack = t->stack_nxt, .flags = TCP_SYN | TCP_ACK,
                                .window = t->peer_window, .opt = *synack_opt};
    if (sa.opt.timestamps && sa.opt.ts_ecr == 0)
        sa.opt.ts_ecr = syn->h.opt.ts_val;
    tp_input(t, sa);
    t->peer_nxt = t->peer_iss + 1;
    tp_expect(t, TCP_ACK, t->stack_nxt, t->peer_nxt);
    cr_assert_eq(tp_state(t), TS_TCP_ESTABLISHED);
    return &tp_handshake_seg;
}

enum ts_tcp_state tp_state(const struct tp *t)
{
    struct ts_tcp_info info = tp_info(t);
    return info.state;
}

struct ts_tcp_info tp_info(const struct tp *t)
{
    struct ts_tcp_info info;
    cr_assert_not_null(t->pcb);
    cr_assert_eq(ts_pcb_tcp_info(t->pcb, &info), 0);
    return info;
}

void tp_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
}
