/*
 * The harness's dissector for TCP (RFC 9293 3.1) and its options (RFC 9293
 * 3.2 MSS, RFC 7323 window scale and timestamps, RFC 2018 SACK), and the
 * flows that turn sequence numbers into numbers relative to each side's ISN.
 *
 * Like dissect.c it trusts nothing and rejects nothing: a segment whose data
 * offset or options do not parse keeps its bytes as a field, so it still
 * compares and prints. Every value is compared exactly; relative numbers are
 * only shown, next to the exact ones.
 *
 *   replay_dissect_tcp -> header fields -> dissect_options -> payload
 *   replay_describe_tcp -> "TCP 40000 > 7 [S.] seq 0 ack 1 win 65535 <mss 1460,...> len 0"
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "replay_internal.h"

#define TCP_HDR_MIN 20
#define IPPROTO_TCP_ 6

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10
#define F_URG 0x20
#define F_ECE 0x40
#define F_CWR 0x80

#define OPT_EOL 0
#define OPT_NOP 1
#define OPT_MSS 2
#define OPT_WSCALE 3
#define OPT_SACK_PERMITTED 4
#define OPT_SACK 5
#define OPT_TIMESTAMPS 8

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* ---- flows ------------------------------------------------------------------------ */

static struct replay_flow *flow_find(struct replay_tcp_flows *fl, uint32_t src, uint16_t sport, uint32_t dst,
                                     uint16_t dport)
{
    for (unsigned i = 0; i < fl->n; i++) {
        struct replay_flow *f = &fl->f[i];
        if (f->src == src && f->dst == dst && f->sport == sport && f->dport == dport)
            return f;
    }
    return NULL;
}

bool replay_flows_isn(const struct replay_tcp_flows *fl, uint32_t src, uint16_t sport, uint32_t dst,
                      uint16_t dport, uint32_t *isn)
{
    if (!fl)
        return false;
    struct replay_flow *f = flow_find((struct replay_tcp_flows *)fl, src, sport, dst, dport);
    if (f)
        *isn = f->isn;
    return f != NULL;
}

/* The TCP header of a whole, unfragmented IPv4 datagram in an Ethernet frame, or NULL. */
static const uint8_t *tcp_of_frame(const uint8_t *frame, size_t len, const uint8_t **ip)
{
    if (len < 14 + 20 || rd16(frame + 12) != 0x0800)
        return NULL;
    const uint8_t *p = frame + 14;
    size_t hlen = (size_t)(p[0] & 0x0f) * 4;
    if ((p[0] >> 4) != 4 || hlen < 20 || p[9] != IPPROTO_TCP_ || (rd16(p + 6) & 0x1fff) != 0 ||
        len < 14 + hlen + TCP_HDR_MIN)
        return NULL;
    *ip = p;
    return p + hlen;
}

static struct replay_flow *flow_add(struct replay_tcp_flows *fl)
{
    if (fl->n < REPLAY_MAX_FLOWS)
        return &fl->f[fl->n++];
    struct replay_flow *f = &fl->f[fl->next_evict];
    fl->next_evict = (fl->next_evict + 1) % REPLAY_MAX_FLOWS;
    return f;
}

void replay_flows_learn(struct replay_tcp_flows *fl, const uint8_t *frame, size_t len)
{
    const uint8_t *ip, *t = tcp_of_frame(frame, len, &ip);
    if (!fl || !t)
        return;
    uint32_t src = rd32(ip + 12), dst = rd32(ip + 16), seq = rd32(t + 4);
    uint16_t sport = rd16(t), dport = rd16(t + 2);
    bool syn = t[13] & F_SYN;
    struct replay_flow *f = flow_find(fl, src, sport, dst, dport);
    if (!f) {
        f = flow_add(fl);
        *f = (struct replay_flow){.src = src, .dst = dst, .sport = sport, .dport = dport, .isn = seq,
                                  .from_syn = syn};
    } else if (syn && (!f->from_syn || f->ended)) {
        f->isn = seq;
        f->from_syn = true;
        f->ended = false;
    }
    if (t[13] & (F_FIN | F_RST)) {
        f->ended = true;
        struct replay_flow *back = flow_find(fl, dst, dport, src, sport);
        if (back)
            back->ended = true;
    }
}

/* ---- fields ------------------------------------------------------------------------- */

static void set_rel(struct replay_field *f, const struct replay_dissection *d, uint32_t src, uint16_t sport,
                    uint32_t dst, uint16_t dport)
{
    uint32_t isn;
    if (f && replay_flows_isn(d->flows, src, sport, dst, dport, &isn)) {
        f->has_rel = true;
        f->rel = (uint32_t)f->value - isn;
    }
}

/* A field name not yet used in this dissection: a repeated option gets "#2", "#3", ... */
static void unique_name(const struct replay_dissection *d, const char *prefix, const char *base, char *out,
                        size_t cap)
{
    char full[64];
    snprintf(out, cap, "%s", base);
    for (unsigned k = 2; k < 10; k++) {
        snprintf(full, sizeof(full), "%s%s", prefix, out);
        if (!replay_field_find(d, full))
            return;
        snprintf(out, cap, "%s#%u", base, k);
    }
}

static struct replay_field *opt_num(struct replay_dissection *d, const char *prefix, const char *base, uint64_t v)
{
    char name[40];
    unique_name(d, prefix, base, name, sizeof(name));
    return replay_add_num(d, prefix, name, v);
}

struct seg_ids {
    uint32_t src, dst;
    uint16_t sport, dport;
};

static void layout_add(char *layout, size_t cap, const char *item)
{
    size_t n = strlen(layout);
    if (n + strlen(item) + 2 < cap)
        snprintf(layout + n, cap - n, "%s%s", n ? "," : "", item);
    else if (n + 4 < cap && strcmp(layout + n - 3, "...") != 0)
        snprintf(layout + n, cap - n, "...");
}

/* RFC 2018 3: each block's edges count in the data sender's sequence space, the other direction's. */
static void sack_fields(struct replay_dissection *d, const char *prefix, const uint8_t *o, size_t olen,
                        const struct seg_ids *id)
{
    for (unsigned b = 0; b + 8 <= olen - 2 && b < 8 * 9; b += 8) {
        char left[32], right[32];
        snprintf(left, sizeof(left), "tcp.opt.sack.%u.left", b / 8 + 1);
        snprintf(right, sizeof(right), "tcp.opt.sack.%u.right", b / 8 + 1);
        struct replay_field *l = opt_num(d, prefix, left, rd32(o + 2 + b));
        struct replay_field *r = opt_num(d, prefix, right, rd32(o + 2 + b + 4));
        set_rel(l, d, id->dst, id->dport, id->src, id->sport);
        set_rel(r, d, id->dst, id->dport, id->src, id->sport);
    }
}

/* One option of kind o[0] and length olen (checked to fit); returns its name for the layout. */
static const char *known_option(struct replay_dissection *d, const char *prefix, const uint8_t *o, size_t olen,
                                const struct seg_ids *id, char *other, size_t other_cap)
{
    switch (o[0]) {
    case OPT_MSS:
        if (olen != 4)
            break;
        opt_num(d, prefix, "tcp.opt.mss", rd16(o + 2));
        return "mss";
    case OPT_WSCALE:
        if (olen != 3)
            break;
        opt_num(d, prefix, "tcp.opt.wscale", o[2]);
        return "wscale";
    case OPT_SACK_PERMITTED:
        if (olen != 2)
            break;
        opt_num(d, prefix, "tcp.opt.sack_permitted", 1);
        return "sackOK";
    case OPT_SACK:
        if (olen < 10 || (olen - 2) % 8 != 0)
            break;
        sack_fields(d, prefix, o, olen, id);
        return "sack";
    case OPT_TIMESTAMPS:
        if (olen != 10)
            break;
        opt_num(d, prefix, "tcp.opt.ts_val", rd32(o + 2));
        opt_num(d, prefix, "tcp.opt.ts_ecr", rd32(o + 6));
        return "TS";
    default:
        break;
    }
    /* Unknown, or a known kind with the wrong length (RFC 9293 3.2 MUST-64, MUST-68): kept as bytes. */
    char name[40], base[32];
    snprintf(base, sizeof(base), "tcp.opt.kind%u", o[0]);
    unique_name(d, prefix, base, name, sizeof(name));
    replay_add_bytes(d, prefix, name, o + 2, olen - 2, NULL);
    snprintf(other, other_cap, "kind%u/len%zu", o[0], olen);
    return other;
}

/* RFC 9293 3.2: kind, or kind-length-data. The layout (order, NOPs, EOL) is one text field. */
static void dissect_options(struct replay_dissection *d, const char *prefix, const uint8_t *o, size_t len,
                            const struct seg_ids *id)
{
    char layout[64] = "";
    char other[32];
    size_t i = 0;
    while (i < len) {
        if (o[i] == OPT_EOL) {
            layout_add(layout, sizeof(layout), "eol");
            i++;
            if (i < len)
                replay_add_bytes(d, prefix, "tcp.opt.after_eol", o + i, len - i, NULL);
            i = len;
            break;
        }
        if (o[i] == OPT_NOP) {
            layout_add(layout, sizeof(layout), "nop");
            i++;
            continue;
        }
        if (i + 2 > len || o[i + 1] < 2 || i + o[i + 1] > len) {
            layout_add(layout, sizeof(layout), "malformed");
            replay_add_bytes(d, prefix, "tcp.opt.malformed", o + i, len - i, "length runs past the header");
            break;
        }
        layout_add(layout, sizeof(layout), known_option(d, prefix, o + i, o[i + 1], id, other, sizeof(other)));
        i += o[i + 1];
    }
    struct replay_field *f = replay_add_field(d, prefix, "tcp.options", REPLAY_F_TEXT);
    if (f)
        snprintf(f->text, sizeof(f->text), "%s", layout[0] ? layout : "none");
}

/* RFC 9293 3.1: the checksum covers a pseudo header (addresses, zero, protocol, TCP length) and the segment. */
static uint16_t tcp_check(const uint8_t *ip, const uint8_t *tcp, size_t len)
{
    uint32_t sum = rd16(ip + 12) + rd16(ip + 14) + rd16(ip + 16) + rd16(ip + 18);
    sum += IPPROTO_TCP_ + (uint32_t)len;
    return replay_inet_checksum(tcp, len, sum);
}

/* An ICMP error quotes 8 bytes of the segment (RFC 792): ports and sequence number. */
static void dissect_quoted(struct replay_dissection *d, const char *prefix, const uint8_t *p, size_t len,
                           const struct seg_ids *id)
{
    if (len < 8) {
        replay_add_bytes(d, prefix, "tcp.truncated", p, len, NULL);
        return;
    }
    replay_add_num(d, prefix, "tcp.sport", rd16(p));
    replay_add_num(d, prefix, "tcp.dport", rd16(p + 2));
    set_rel(replay_add_num(d, prefix, "tcp.seq", rd32(p + 4)), d, id->src, id->sport, id->dst, id->dport);
    if (len > 8)
        replay_add_bytes(d, prefix, "tcp.rest", p + 8, len - 8, "quoted");
}

void replay_dissect_tcp(struct replay_dissection *d, const char *prefix, const uint8_t *ip, const uint8_t *p,
                        size_t len, bool whole)
{
    struct seg_ids id = {.src = rd32(ip + 12), .dst = rd32(ip + 16)};
    if (len >= 4) {
        id.sport = rd16(p);
        id.dport = rd16(p + 2);
    }
    if (prefix[0] != '\0') {
        dissect_quoted(d, prefix, p, len, &id);
        return;
    }
    if (len < TCP_HDR_MIN) {
        replay_add_bytes(d, prefix, "tcp.truncated", p, len, NULL);
        return;
    }
    unsigned offset = p[12] >> 4;
    size_t hlen = (size_t)offset * 4;
    replay_add_num(d, prefix, "tcp.sport", id.sport);
    replay_add_num(d, prefix, "tcp.dport", id.dport);
    set_rel(replay_add_num(d, prefix, "tcp.seq", rd32(p + 4)), d, id.src, id.sport, id.dst, id.dport);
    struct replay_field *ack = replay_add_num(d, prefix, "tcp.ack", rd32(p + 8));
    if (p[13] & F_ACK) /* without ACK the field means nothing: shown and compared, but not made relative */
        set_rel(ack, d, id.dst, id.dport, id.src, id.sport);
    replay_add_num(d, prefix, "tcp.data_offset", offset);
    replay_add_hex(d, prefix, "tcp.reserved", p[12] & 0x0f, 1);
    struct replay_field *fl = replay_add_field(d, prefix, "tcp.flags", REPLAY_F_TCP_FLAGS);
    if (fl)
        fl->value = p[13];
    replay_add_num(d, prefix, "tcp.window", rd16(p + 14));
    struct replay_field *ck = replay_add_hex(d, prefix, "tcp.checksum", rd16(p + 16), 4);
    replay_add_num(d, prefix, "tcp.urgent", rd16(p + 18));
    if (hlen < TCP_HDR_MIN || hlen > len) {
        if (ck)
            ck->note = "not checked (bad data offset)";
        replay_add_bytes(d, prefix, "tcp.rest", p + TCP_HDR_MIN, len - TCP_HDR_MIN, "bad data offset");
        return;
    }
    if (ck)
        ck->note = !whole ? "not checked" : tcp_check(ip, p, len) == 0 ? "ok" : "BAD";
    dissect_options(d, prefix, p + TCP_HDR_MIN, hlen - TCP_HDR_MIN, &id);
    replay_add_bytes(d, prefix, "tcp.payload", p + hlen, len - hlen, NULL);
}

/* ---- one-line description -------------------------------------------------------------- */

void replay_tcp_flags_text(unsigned flags, char *buf, size_t cap)
{
    /* tcpdump's letters; "." is ACK. */
    static const struct {
        unsigned bit;
        char letter;
    } order[] = {{F_SYN, 'S'}, {F_FIN, 'F'}, {F_RST, 'R'}, {F_PSH, 'P'}, {F_URG, 'U'},
                 {F_ECE, 'E'}, {F_CWR, 'W'}, {F_ACK, '.'}};
    size_t n = 0;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && n + 1 < cap; i++)
        if (flags & order[i].bit)
            buf[n++] = order[i].letter;
    if (n == 0 && cap > 4) {
        snprintf(buf, cap, "none");
        return;
    }
    buf[n < cap ? n : cap - 1] = '\0';
}

static const struct replay_field *find(const struct replay_dissection *d, const char *name)
{
    return replay_field_find(d, name);
}

/* The value as the reader wants it: relative when the flow is known, exact otherwise. */
static uint32_t seqv(const struct replay_field *f)
{
    return f->has_rel ? f->rel : (uint32_t)f->value;
}

static void describe_options(const struct replay_dissection *d, struct replay_buf *b)
{
    const struct replay_field *layout = find(d, "tcp.options");
    if (!layout || strcmp(layout->text, "none") == 0)
        return;
    replay_buf_printf(b, " <");
    unsigned shown = 0;
    const struct replay_field *f;
    if ((f = find(d, "tcp.opt.mss")))
        replay_buf_printf(b, "%smss %" PRIu64, shown++ ? "," : "", f->value);
    if (find(d, "tcp.opt.sack_permitted"))
        replay_buf_printf(b, "%ssackOK", shown++ ? "," : "");
    const struct replay_field *tv = find(d, "tcp.opt.ts_val"), *te = find(d, "tcp.opt.ts_ecr");
    if (tv && te)
        replay_buf_printf(b, "%sTS val %" PRIu64 " ecr %" PRIu64, shown++ ? "," : "", tv->value, te->value);
    if ((f = find(d, "tcp.opt.wscale")))
        replay_buf_printf(b, "%swscale %" PRIu64, shown++ ? "," : "", f->value);
    for (unsigned k = 1; k <= 4; k++) {
        char ln[32], rn[32];
        snprintf(ln, sizeof(ln), "tcp.opt.sack.%u.left", k);
        snprintf(rn, sizeof(rn), "tcp.opt.sack.%u.right", k);
        const struct replay_field *l = find(d, ln), *r = find(d, rn);
        if (!l || !r)
            break;
        replay_buf_printf(b, "%s%s{%u:%u}", shown++ ? "," : "", k == 1 ? "sack " : "", seqv(l), seqv(r));
    }
    if (shown == 0)
        replay_buf_printf(b, "%s", layout->text);
    replay_buf_printf(b, ">");
}

void replay_describe_tcp(const struct replay_dissection *d, struct replay_buf *b)
{
    const struct replay_field *sport = find(d, "tcp.sport"), *dport = find(d, "tcp.dport");
    const struct replay_field *seq = find(d, "tcp.seq"), *ack = find(d, "tcp.ack"), *fl = find(d, "tcp.flags");
    const struct replay_field *win = find(d, "tcp.window"), *pay = find(d, "tcp.payload");
    if (!sport || !dport)
        return;
    replay_buf_printf(b, " TCP %" PRIu64 " > %" PRIu64, sport->value, dport->value);
    if (!seq || !fl || !win) {
        replay_buf_printf(b, " (truncated)");
        return;
    }
    char flags[16];
    replay_tcp_flags_text((unsigned)fl->value, flags, sizeof(flags));
    size_t plen = pay ? pay->len : 0;
    replay_buf_printf(b, " [%s] seq %u", flags, seqv(seq));
    if (plen)
        replay_buf_printf(b, ":%u", seqv(seq) + (uint32_t)plen);
    if (ack && (fl->value & F_ACK))
        replay_buf_printf(b, " ack %u", seqv(ack));
    replay_buf_printf(b, " win %" PRIu64, win->value);
    describe_options(d, b);
    replay_buf_printf(b, " len %zu", plen);
    const struct replay_field *ck = find(d, "tcp.checksum");
    if (ck && ck->note && strcmp(ck->note, "BAD") == 0)
        replay_buf_printf(b, " (bad checksum)");
}
