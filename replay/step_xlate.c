/*
 * ts-replay: keeping a recorded conversation going when tapstack's numbers
 * are not the original host's.
 *
 * The peer in a capture acknowledges the original host's sequence numbers
 * and echoes its timestamps. Unless tapstack picked the same ISN and its clock
 * read the same (a case with a clock-offset line), those ACKs would be
 * unacceptable (RFC 9293 3.10.7.4) and the replay would end in resets. So each
 * TCP segment from the peer has, before the stack sees it, its ACK number and
 * SACK edges moved by (tapstack's ISS - the original's ISS) of that connection,
 * its TSecr by (tapstack's latest TSval - the original's latest TSval), and its
 * checksum recomputed (a bad one stays bad). With equal numbers nothing changes.
 */
#include <string.h>

#include "step_internal.h"

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)(v >> 16));
    wr16(p + 2, (uint16_t)v);
}

/* A whole TCP segment in an IPv4 frame (not a fragment): its IP header, TCP header and TCP length. */
static bool segment_of(const uint8_t *f, size_t len, const uint8_t **ip, const uint8_t **tcp, size_t *tcp_len)
{
    if (len < 14 + 20 || rd16(f + 12) != 0x0800 || (f[14] >> 4) != 4 || f[14 + 9] != 6)
        return false;
    const uint8_t *p = f + 14;
    size_t hlen = (size_t)(p[0] & 0x0f) * 4, total = rd16(p + 2);
    if (hlen < 20 || total < hlen + 20 || 14 + total > len || (rd16(p + 6) & 0x3fff) != 0)
        return false;
    const uint8_t *t = p + hlen;
    if ((size_t)(t[12] >> 4) * 4 < 20 || (size_t)(t[12] >> 4) * 4 > total - hlen)
        return false;
    *ip = p;
    *tcp = t;
    *tcp_len = total - hlen;
    return true;
}

static uint16_t tcp_checksum(const uint8_t *ip, const uint8_t *tcp, size_t tcp_len)
{
    uint32_t sum = rd16(ip + 12) + rd16(ip + 14) + rd16(ip + 16) + rd16(ip + 18) + 6 + (uint32_t)tcp_len;
    return replay_inet_checksum(tcp, tcp_len, sum);
}

/* The connection as the host sees it: its port, the peer's address and port. */
static struct step_conn *conn_of(struct step_xlate *x, uint16_t hport, uint32_t peer, uint16_t pport, bool add)
{
    for (unsigned i = 0; i < x->n; i++)
        if (x->c[i].hport == hport && x->c[i].peer == peer && x->c[i].pport == pport)
            return &x->c[i];
    if (!add)
        return NULL;
    unsigned i = x->n < STEP_MAX_CONNS ? x->n++ : (x->next_evict++ % STEP_MAX_CONNS);
    memset(&x->c[i], 0, sizeof(x->c[i]));
    x->c[i].hport = hport;
    x->c[i].peer = peer;
    x->c[i].pport = pport;
    return &x->c[i];
}

/* The TSval option's offset in the TCP header, or 0. */
static size_t ts_option(const uint8_t *t)
{
    size_t end = (size_t)(t[12] >> 4) * 4;
    for (size_t i = 20; i < end;) {
        if (t[i] == 0)
            return 0;
        if (t[i] == 1) {
            i++;
            continue;
        }
        if (i + 1 >= end || t[i + 1] < 2 || i + t[i + 1] > end)
            return 0;
        if (t[i] == 8 && t[i + 1] == 10)
            return i + 2;
        i += t[i + 1];
    }
    return 0;
}

/* The window scale option's shift (RFC 7323 2.2), or -1. */
static int wscale_option(const uint8_t *t)
{
    size_t end = (size_t)(t[12] >> 4) * 4;
    for (size_t i = 20; i < end;) {
        if (t[i] == 0)
            return -1;
        if (t[i] == 1) {
            i++;
            continue;
        }
        if (i + 1 >= end || t[i + 1] < 2 || i + t[i + 1] > end)
            return -1;
        if (t[i] == 3 && t[i + 1] == 3)
            return t[i + 2] > 14 ? 14 : t[i + 2];
        i += t[i + 1];
    }
    return -1;
}

void step_xlate_learn(struct step_xlate *x, const uint8_t *frame, size_t len, bool ours)
{
    const uint8_t *ip, *t;
    size_t tl;
    if (!segment_of(frame, len, &ip, &t, &tl))
        return;
    struct step_conn *c = conn_of(x, rd16(t), rd32(ip + 16), rd16(t + 2), true);
    struct step_side *s = ours ? &c->ours : &c->orig;
    if (t[13] & 0x02) {
        s->iss = rd32(t + 4);
        s->have_iss = true;
        s->syn_seen = true;
        s->wscale = wscale_option(t);
    }
    size_t ts = ts_option(t);
    if (ts) {
        s->tsval = rd32(t + ts);
        s->have_ts = true;
    }
}

static void shift_sack(uint8_t *t, uint32_t delta)
{
    size_t end = (size_t)(t[12] >> 4) * 4;
    for (size_t i = 20; i < end;) {
        if (t[i] == 0)
            return;
        if (t[i] == 1) {
            i++;
            continue;
        }
        if (i + 1 >= end || t[i + 1] < 2 || i + t[i + 1] > end)
            return;
        if (t[i] == 5)
            for (size_t e = i + 2; e + 4 <= i + t[i + 1]; e += 4)
                wr32(t + e, rd32(t + e) + delta);
        i += t[i + 1];
    }
}

/* The peer's side of a connection: its SYN's options, learned as inputs go by. */
void step_xlate_learn_peer(struct step_xlate *x, const uint8_t *frame, size_t len)
{
    const uint8_t *ip, *t;
    size_t tl;
    if (!segment_of(frame, len, &ip, &t, &tl) || !(t[13] & 0x02))
        return;
    struct step_conn *c = conn_of(x, rd16(t + 2), rd32(ip + 12), rd16(t), true);
    c->peer_syn_seen = true;
    c->peer_wscale = wscale_option(t);
}

bool step_xlate_window_bytes(struct step_xlate *x, const uint8_t *frame, size_t len, bool ours,
                             uint64_t *bytes)
{
    const uint8_t *ip, *t;
    size_t tl;
    if (!segment_of(frame, len, &ip, &t, &tl) || (t[13] & 0x02))
        return false;
    struct step_conn *c = conn_of(x, rd16(t), rd32(ip + 16), rd16(t + 2), false);
    const struct step_side *s = c ? (ours ? &c->ours : &c->orig) : NULL;
    if (!s || !s->syn_seen || !c->peer_syn_seen)
        return false;
    /* RFC 7323 2.2: scaling is on only when both SYNs carried the option */
    int shift = s->wscale >= 0 && c->peer_wscale >= 0 ? s->wscale : 0;
    *bytes = (uint64_t)rd16(t + 14) << shift;
    return true;
}

bool step_xlate_input(struct step_xlate *x, const uint8_t *frame, size_t len, uint8_t *out, int32_t *ack_delta)
{
    const uint8_t *ip, *t;
    size_t tl;
    *ack_delta = 0;
    if (!segment_of(frame, len, &ip, &t, &tl))
        return false;
    struct step_conn *c = conn_of(x, rd16(t + 2), rd32(ip + 12), rd16(t), false);
    if (!c)
        return false;
    uint32_t dseq = c->ours.have_iss && c->orig.have_iss ? c->ours.iss - c->orig.iss : 0;
    uint32_t dts = c->ours.have_ts && c->orig.have_ts ? c->ours.tsval - c->orig.tsval : 0;
    size_t ts = ts_option(t);
    bool ack = t[13] & 0x10;
    if ((dseq == 0 || !ack) && (dts == 0 || !ts || rd32(t + ts + 4) == 0))
        return false;
    bool checksum_ok = tcp_checksum(ip, t, tl) == 0;
    memcpy(out, frame, len);
    uint8_t *oip = out + (ip - frame), *ot = out + (t - frame);
    if (ack && dseq) {
        wr32(ot + 8, rd32(ot + 8) + dseq);
        shift_sack(ot, dseq);
        *ack_delta = (int32_t)dseq;
    }
    if (ts && dts && rd32(ot + ts + 4) != 0)
        wr32(ot + ts + 4, rd32(ot + ts + 4) + dts);
    if (checksum_ok) {
        wr16(ot + 16, 0);
        wr16(ot + 16, tcp_checksum(oip, ot, tl)); /* the sum with the field zero, complemented */
    }
    return true;
}
