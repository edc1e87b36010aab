/*
 * Drafting the action lines of a recorded case from its capture, for
 * scripts/record-case.sh: a capture shows what ts-ping sent, not when it
 * called sendto, nor when the runtime first polled the stack. Each echo
 * request from the stack becomes
 *
 *   at T ping DST seq N size S [stamp SEC.USEC]
 *
 * where T is the time of the request or, if the stack had to resolve DST
 * first, of the ARP request that the send started (the datagram waited for
 * the reply); the stamp is the send time ts-ping wrote into the data.
 *
 * For TCP (ts-nc), what the stack sent on connections no tcp-echo app serves:
 *
 *   at T tcp-connect DST:PORT          its SYN (or the ARP request before it)
 *   at T tcp-send ... | tcp-send-pattern N   the bytes it sent for the first time at T
 *   at T tcp-shutdown wr               its first FIN
 *
 * A write is put at the time its first byte left the stack. When that was in
 * the same instant as an input frame that arrived before it, the input released
 * it (an ACK ending Nagle's wait or opening a window, in the runtime's batch):
 * the app had written it earlier, so the write goes 1 us before, and the
 * replayed input releases it in the same order as live. How much one write
 * holds follows PSH: the stack sets it on the segment that empties its send
 * buffer, so the bytes up to the next PSH were all in the buffer together
 * (as far as the send buffer had room, counting what the peer had acknowledged).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "replay_internal.h"

/* Sequence-space comparisons (RFC 9293 3.4): a signed difference, so they hold across the wrap. */
#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) SEQ_LT(b, a)
#define SEQ_GEQ(a, b) SEQ_LEQ(b, a)

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static bool is_arp_request_for(const struct replay_frame *f, uint32_t dst)
{
    return f->from_stack && f->len >= 42 && rd16(f->data + 12) == 0x0806 && rd16(f->data + 20) == 1 &&
           rd32(f->data + 38) == dst && rd32(f->data + 28) != dst; /* not our own announcement */
}

/* The first fragment (or whole datagram) of an ICMP echo request from the stack; its IP header in *ip. */
static bool is_echo_request(const struct replay_frame *f, const uint8_t **ip)
{
    if (!f->from_stack || f->len < 14 + 20 + 8 || rd16(f->data + 12) != 0x0800)
        return false;
    const uint8_t *p = f->data + 14;
    size_t hlen = (size_t)(p[0] & 0x0f) * 4;
    if (hlen < 20 || f->len < 14 + hlen + 8 || p[9] != 1 || (rd16(p + 6) & 0x1fff) != 0)
        return false;
    *ip = p;
    return p[hlen] == 8;
}

/* The ICMP message length: this datagram's payload, or up to the end of its last fragment. */
static size_t echo_length(const struct replay_case *c, size_t i, const uint8_t *ip)
{
    size_t hlen = (size_t)(ip[0] & 0x0f) * 4;
    if (!(rd16(ip + 6) & 0x2000))
        return rd16(ip + 2) - hlen;
    for (size_t j = i + 1; j < c->n_frames; j++) {
        const struct replay_frame *f = &c->frames[j];
        if (!f->from_stack || f->len < 34 || rd16(f->data + 12) != 0x0800)
            continue;
        const uint8_t *q = f->data + 14;
        if (rd16(q + 4) != rd16(ip + 4) || (rd16(q + 6) & 0x2000))
            continue;
        return (size_t)(rd16(q + 6) & 0x1fff) * 8 + rd16(q + 2) - (size_t)(q[0] & 0x0f) * 4;
    }
    return rd16(ip + 2) - hlen; /* the last fragment is missing: the size is a guess */
}

static void suggest_one(const struct replay_case *c, size_t i, const uint8_t *ip, size_t after,
                        struct replay_buf *b)
{
    const struct replay_frame *f = &c->frames[i];
    const uint8_t *icmp = ip + (size_t)(ip[0] & 0x0f) * 4;
    uint32_t dst = rd32(ip + 16);
    ts_time when = f->t;
    for (size_t j = after; j < i; j++)
        if (is_arp_request_for(&c->frames[j], dst) && c->frames[j].t < when) {
            when = c->frames[j].t;
            break;
        }
    size_t size = echo_length(c, i, ip) - 8;
    if (when < 0)
        when = 0;
    replay_buf_printf(b, "at %" PRId64 ".%06" PRId64 " ping %u.%u.%u.%u seq %u size %zu", when / 1000000,
                      when % 1000000, dst >> 24, (dst >> 16) & 0xff,
                      (dst >> 8) & 0xff, dst & 0xff, rd16(icmp + 6), size);
    size_t in_frame = f->len - (size_t)(icmp + 8 - f->data);
    if (size >= sizeof(struct timeval) && in_frame >= sizeof(struct timeval)) {
        struct timeval tv;
        memcpy(&tv, icmp + 8, sizeof(tv));
        replay_buf_printf(b, " stamp %lld.%06ld", (long long)tv.tv_sec, (long)tv.tv_usec);
    }
    replay_buf_printf(b, "\n");
}

/*
 * The runtime polls the stack for the first time on its thread's first turn,
 * and the stack announces itself then (RFC 5227 2.3). When the app got its
 * first send in before that turn, the announcement comes after other frames,
 * and the case must say when the first poll came.
 */
static void suggest_first_poll(const struct replay_case *c, struct replay_buf *b)
{
    uint32_t self = c->cfg.addr;
    for (size_t i = 0; i < c->n_frames; i++) {
        const struct replay_frame *f = &c->frames[i];
        bool announce = f->from_stack && f->len >= 42 && rd16(f->data + 12) == 0x0806 && rd16(f->data + 20) == 1 &&
                        rd32(f->data + 28) == self && rd32(f->data + 38) == self;
        if (!announce)
            continue;
        if (f->t > 0)
            replay_buf_printf(b, "first-poll %" PRId64 ".%06" PRId64 "  # the stack announced itself only then\n",
                              f->t / 1000000, f->t % 1000000);
        return;
    }
}

/* ---- TCP ------------------------------------------------------------------------------------------ */

#define MAX_TRACKED 16
#define MAX_TEXT_SEND 512 /* longer sends are written as hex */

struct tracked {
    uint32_t peer;
    uint16_t sport, dport; /* the stack's port, the peer's */
    uint32_t iss;
    uint32_t queued_end;   /* relative: the suggested writes queued the stack's bytes [0, queued_end) */
    bool pattern;          /* every byte so far is the stream pattern */
};

struct tcp_suggest {
    const struct replay_case *c;
    struct replay_buf *b;
    struct tracked t[MAX_TRACKED];
    unsigned n;
    size_t arp_after; /* ARP requests before this frame belong to earlier sends */
};

/* The TCP header of a whole IPv4 datagram from the stack (or, with peer, from the peer), or NULL. */
static const uint8_t *frame_tcp(const struct replay_frame *f, bool peer, const uint8_t **ip, size_t *data_len)
{
    if (f->from_stack == peer || f->len < 14 + 40 || rd16(f->data + 12) != 0x0800)
        return NULL;
    const uint8_t *p = f->data + 14;
    size_t hlen = (size_t)(p[0] & 0x0f) * 4, total = rd16(p + 2);
    if (hlen < 20 || p[9] != 6 || (rd16(p + 6) & 0x3fff) != 0 || total > f->len - 14 || total < hlen + 20)
        return NULL;
    const uint8_t *t = p + hlen;
    size_t thlen = (size_t)(t[12] >> 4) * 4;
    if (thlen < 20 || hlen + thlen > total)
        return NULL;
    *ip = p;
    *data_len = total - hlen - thlen;
    return t;
}

static bool served_by_echo(const struct replay_case *c, uint16_t port)
{
    for (unsigned i = 0; i < c->n_tcp_echo; i++)
        if (c->tcp_echo_ports[i] == port)
            return true;
    return false;
}

static struct tracked *track(struct tcp_suggest *s, uint32_t peer, uint16_t sport, uint16_t dport)
{
    for (unsigned i = 0; i < s->n; i++)
        if (s->t[i].peer == peer && s->t[i].sport == sport && s->t[i].dport == dport)
            return &s->t[i];
    return NULL;
}

static void put_time(struct replay_buf *b, ts_time t)
{
    if (t < 0)
        t = 0;
    replay_buf_printf(b, "at %" PRId64 ".%06" PRId64, t / 1000000, t % 1000000);
}

static void put_payload(struct replay_buf *b, const uint8_t *p, size_t n)
{
    bool text = n <= MAX_TEXT_SEND;
    for (size_t i = 0; i < n && text; i++)
        text = (p[i] >= 0x20 && p[i] < 0x7f) || p[i] == '\n' || p[i] == '\t' || p[i] == '\r';
    if (!text) {
        replay_buf_printf(b, " hex ");
        for (size_t i = 0; i < n; i++)
            replay_buf_printf(b, "%02x", p[i]);
        return;
    }
    replay_buf_printf(b, " \"");
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n')
            replay_buf_printf(b, "\\n");
        else if (p[i] == '\t')
            replay_buf_printf(b, "\\t");
        else if (p[i] == '\r')
            replay_buf_printf(b, "\\r");
        else if (p[i] == '"' || p[i] == '\\')
            replay_buf_printf(b, "\\%c", p[i]);
        else
            replay_buf_printf(b, "%c", p[i]);
    }
    replay_buf_printf(b, "\"");
}

static bool is_pattern(const uint8_t *p, size_t n, uint64_t off)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != replay_pattern_byte(off + i))
            return false;
    return true;
}

/* The stack's SYN opens a connection the case must open too. */
static void suggest_connect(struct tcp_suggest *s, size_t i, const uint8_t *ip, const uint8_t *t)
{
    const struct replay_frame *f = &s->c->frames[i];
    uint32_t dst = rd32(ip + 16);
    ts_time when = f->t;
    for (size_t j = s->arp_after; j < i; j++)
        if (is_arp_request_for(&s->c->frames[j], dst) && s->c->frames[j].t < when) {
            when = s->c->frames[j].t;
            break;
        }
    s->arp_after = i + 1;
    put_time(s->b, when);
    replay_buf_printf(s->b, " tcp-connect %u.%u.%u.%u:%u\n", dst >> 24, (dst >> 16) & 0xff, (dst >> 8) & 0xff,
                      dst & 0xff, rd16(t + 2));
}

/* Whether an input frame came in the same instant before frame i (the runtime's batch that sent it). */
static bool released_by_input(const struct replay_case *c, size_t i)
{
    for (size_t j = i; j-- > 0 && c->frames[j].t == c->frames[i].t;)
        if (!c->frames[j].from_stack)
            return true;
    return false;
}

/* A segment of a tracked connection from the stack: its data's place in the stream, or false. */
static bool stack_segment(const struct tcp_suggest *s, const struct tracked *k, size_t j, uint32_t *rel,
                          uint32_t *len, uint8_t *flags, const uint8_t **data)
{
    const uint8_t *ip, *t;
    size_t n;
    if (!(t = frame_tcp(&s->c->frames[j], false, &ip, &n)) || rd32(ip + 16) != k->peer || rd16(t) != k->sport ||
        rd16(t + 2) != k->dport || (t[13] & 0x02))
        return false;
    *rel = rd32(t + 4) - k->iss - 1;
    *len = (uint32_t)n;
    *flags = t[13];
    if (data)
        *data = t + (size_t)(t[12] >> 4) * 4;
    return true;
}

/* How much of its send buffer the stack had free at `when`: what the peer had acknowledged by then counts. */
static uint32_t buffer_room(const struct tcp_suggest *s, const struct tracked *k, size_t i, ts_time when)
{
    uint32_t acked = 0;
    for (size_t j = 0; j < i && s->c->frames[j].t <= when; j++) {
        const uint8_t *ip, *t;
        size_t n;
        if (!(t = frame_tcp(&s->c->frames[j], true, &ip, &n)) || rd32(ip + 12) != k->peer ||
            rd16(t) != k->dport || rd16(t + 2) != k->sport || !(t[13] & 0x10))
            continue;
        uint32_t rel = rd32(t + 8) - k->iss - 1;
        if (SEQ_GT(rel, acked) && SEQ_LEQ(rel, k->queued_end))
            acked = rel;
    }
    size_t cap = s->c->cfg.limits.tcp_sndbuf_default;
    uint32_t held = k->queued_end - acked;
    return held >= cap ? 0 : (uint32_t)(cap - held);
}

/* The stream's bytes [from, to) as the stack's segments from frame i on carry them. */
static bool gather(const struct tcp_suggest *s, const struct tracked *k, size_t i, uint32_t from, uint32_t to,
                   uint8_t *out)
{
    uint32_t have = from, rel, len;
    uint8_t flags;
    const uint8_t *data;
    for (size_t j = i; j < s->c->n_frames && SEQ_LT(have, to); j++) {
        if (!stack_segment(s, k, j, &rel, &len, &flags, &data) || SEQ_GT(rel, have) || SEQ_LEQ(rel + len, have))
            continue;
        uint32_t take = (SEQ_LT(rel + len, to) ? rel + len : to) - have;
        memcpy(out + (have - from), data + (have - rel), take);
        have += take;
    }
    return have == to;
}

static void emit_write(struct tcp_suggest *s, struct tracked *k, size_t i, ts_time when, uint32_t to)
{
    uint32_t n = to - k->queued_end;
    uint8_t *bytes = malloc(n ? n : 1);
    put_time(s->b, when);
    if (!bytes || !gather(s, k, i, k->queued_end, to, bytes)) {
        replay_buf_printf(s->b, " tcp-send-bytes %u  # the capture does not show these bytes\n", n);
    } else if (k->pattern && is_pattern(bytes, n, k->queued_end)) {
        replay_buf_printf(s->b, " tcp-send-pattern %u\n", n);
    } else {
        k->pattern = false;
        replay_buf_printf(s->b, " tcp-send");
        put_payload(s->b, bytes, n);
        replay_buf_printf(s->b, "\n");
    }
    free(bytes);
    k->queued_end = to;
}

/* An instant at which the stack sent bytes of a connection (or its FIN) for the first time. */
struct instant {
    size_t frame;  /* the first such segment */
    ts_time t;
    bool released; /* an input came first in the same instant: the bytes had been written before */
    uint32_t end;  /* the furthest byte sent by then */
    bool drained;  /* the segment that reached `end` had PSH: the send buffer held nothing more */
    bool fin;      /* the stack's first FIN left then */
};

#define MAX_INSTANTS 8192

static size_t collect_instants(const struct tcp_suggest *s, const struct tracked *k, struct instant *out,
                               uint32_t *total)
{
    size_t n = 0;
    uint32_t end = 0, rel, len;
    uint8_t flags;
    bool fin_seen = false;
    for (size_t j = 0; j < s->c->n_frames; j++) {
        if (!stack_segment(s, k, j, &rel, &len, &flags, NULL))
            continue;
        bool new_data = len > 0 && SEQ_GT(rel + len, end);
        bool new_fin = (flags & 0x01) && !fin_seen;
        if (!new_data && !new_fin)
            continue;
        struct instant *in = n > 0 && out[n - 1].t == s->c->frames[j].t ? &out[n - 1] : NULL;
        if (!in) {
            if (n == MAX_INSTANTS)
                break;
            in = &out[n++];
            *in = (struct instant){.frame = j, .t = s->c->frames[j].t, .released = released_by_input(s->c, j),
                                   .end = end};
        }
        if (new_data) {
            end = rel + len;
            in->end = end;
            in->drained = (flags & 0x08) != 0;
        }
        if (new_fin) {
            fin_seen = true;
            in->fin = true;
        }
    }
    *total = end;
    return n;
}

/* What the send buffer must have held at an instant: up to its furthest byte, and one more unless it drained. */
static uint32_t held_at(const struct instant *in, uint32_t total)
{
    uint32_t need = in->end + (in->drained ? 0 : 1);
    return SEQ_GT(need, total) ? total : need;
}

/*
 * The writes of one connection. An instant not released by an input is a
 * write. If its last segment did not drain the buffer, what ACKs released
 * after it, up to the first release that drained it and before the next
 * write, was in the buffer already and belongs to it (as far as the buffer
 * had room). An instant that needs more than was written is a write 1 us
 * before it (the app wrote it earlier; the input released it).
 */
static void suggest_writes(struct tcp_suggest *s, struct tracked *k)
{
    struct instant *ins = calloc(MAX_INSTANTS, sizeof(*ins));
    uint32_t total = 0;
    size_t n = ins ? collect_instants(s, k, ins, &total) : 0;
    for (size_t i = 0; i < n; i++) {
        const struct instant *in = &ins[i];
        ts_time when = in->released ? in->t - 1 : in->t;
        if (SEQ_GT(held_at(in, total), k->queued_end)) {
            /* Held back but not drained: ACKs released more of this write; drained: the next bytes came later. */
            uint32_t target = held_at(in, total);
            for (size_t j = i + 1; j < n && ins[j].released && !ins[j - 1].drained; j++)
                if (SEQ_GT(held_at(&ins[j], total), target))
                    target = held_at(&ins[j], total);
            uint32_t room = buffer_room(s, k, in->frame, when);
            if (target - k->queued_end > room)
                target = k->queued_end + room;
            if (SEQ_LT(target, in->end))
                target = in->end; /* the buffer cannot have held less than what left */
            emit_write(s, k, in->frame, when, target);
        }
        if (in->fin) {
            put_time(s->b, when);
            replay_buf_printf(s->b, " tcp-shutdown wr\n");
        }
    }
    free(ins);
}

static void suggest_tcp_frame(struct tcp_suggest *s, size_t i)
{
    const uint8_t *ip, *t;
    size_t len;
    if (!(t = frame_tcp(&s->c->frames[i], false, &ip, &len)))
        return;
    uint16_t sport = rd16(t), dport = rd16(t + 2);
    uint32_t peer = rd32(ip + 16);
    bool syn = t[13] & 0x02, ack = t[13] & 0x10;
    struct tracked *k = track(s, peer, sport, dport);
    if (syn) {
        if (served_by_echo(s->c, sport))
            return;
        if (!ack && (!k || k->iss != rd32(t + 4)))
            suggest_connect(s, i, ip, t);
        if (!k && s->n < MAX_TRACKED)
            k = &s->t[s->n++];
        if (k && k->iss != rd32(t + 4))
            *k = (struct tracked){.peer = peer, .sport = sport, .dport = dport, .iss = rd32(t + 4), .pattern = true};
        return;
    }
}

static void suggest_tcp(const struct replay_case *c, struct replay_buf *b)
{
    struct tcp_suggest s = {.c = c, .b = b};
    for (size_t i = 0; i < c->n_frames; i++)
        suggest_tcp_frame(&s, i);
    for (unsigned i = 0; i < s.n; i++)
        suggest_writes(&s, &s.t[i]);
}

char *replay_case_suggest_actions(const struct replay_case *c)
{
    struct replay_buf b = {0};
    suggest_first_poll(c, &b);
    suggest_tcp(c, &b);
    size_t after = 0; /* ARP requests before this frame belong to earlier sends */
    for (size_t i = 0; i < c->n_frames; i++) {
        const uint8_t *ip;
        if (!is_echo_request(&c->frames[i], &ip))
            continue;
        suggest_one(c, i, ip, after, &b);
        after = i + 1;
    }
    return replay_buf_take(&b);
}
