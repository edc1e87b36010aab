/*
 * The checks a person reviewing a blessed case would otherwise do by hand:
 * reassemble every datagram the stack sent, verify its ICMP or UDP checksum
 * over the whole message (a fragment's dissection cannot), and compare what
 * the stack echoed with what the peer sent: echo replies against the request
 * with the same identifier and sequence number (RFC 792: the data must come
 * back unchanged), UDP echoes against the datagram they answer, and ICMP
 * errors' quotes against the datagram they quote (RFC 792: its header and
 * first 64 bits of data). TCP segments get their checksum checked (RFC 9293
 * 3.1 pseudo header) and the first transmission of each byte told from a
 * retransmission; each direction of each connection is then put back together
 * and the stack's stream compared with the one it received (for an echo they
 * are equal). Sent frames are numbered #1, #2, ... as in the harness's diffs;
 * the peer's by their capture frame number.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "replay_internal.h"

#define MAX_DATAGRAM 65535
#define MAX_STREAM_BYTES (8u << 20) /* a direction of a connection the review puts back together */
#define MAX_STREAMS 32

struct datagram {
    uint32_t src, dst;
    uint8_t proto;
    uint16_t id;
    bool from_stack;
    bool complete;
    unsigned first, last;  /* capture frame indexes, or sent-frame numbers for the stack's */
    ts_time t;             /* when its last frame came (the peer's) or its first went (the stack's) */
    uint8_t *l4;           /* the whole payload once complete */
    size_t l4_len;
    uint8_t *seen;         /* one flag per byte while reassembling */
    uint8_t header[60];    /* fragment zero's header, for matching quotes */
    size_t header_len;
    bool have_header;
};

struct datagrams {
    struct datagram *d;
    size_t n, cap;
};

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static struct datagram *find_pending(struct datagrams *all, const uint8_t *ip, bool from_stack)
{
    for (size_t i = 0; i < all->n; i++) {
        struct datagram *d = &all->d[i];
        if (!d->complete && d->from_stack == from_stack && d->src == rd32(ip + 12) && d->dst == rd32(ip + 16) &&
            d->proto == ip[9] && d->id == rd16(ip + 4))
            return d;
    }
    if (all->n == all->cap) {
        size_t ncap = all->cap ? all->cap * 2 : 16;
        struct datagram *nd = realloc(all->d, ncap * sizeof(*nd));
        if (!nd)
            return NULL;
        all->d = nd;
        all->cap = ncap;
    }
    struct datagram *d = &all->d[all->n];
    memset(d, 0, sizeof(*d));
    d->l4 = calloc(1, MAX_DATAGRAM);
    d->seen = calloc(1, MAX_DATAGRAM);
    if (!d->l4 || !d->seen) {
        free(d->l4);
        free(d->seen);
        return NULL;
    }
    d->src = rd32(ip + 12);
    d->dst = rd32(ip + 16);
    d->proto = ip[9];
    d->id = rd16(ip + 4);
    d->from_stack = from_stack;
    all->n++;
    return d;
}

static bool covered(const struct datagram *d)
{
    for (size_t i = 0; i < d->l4_len; i++)
        if (!d->seen[i])
            return false;
    return true;
}

/* Adds one frame; frames that are not well-formed IPv4 are not datagrams to review. */
static void add_frame(struct datagrams *all, const struct replay_frame *fr, unsigned number, bool from_stack)
{
    const uint8_t *f = fr->data;
    size_t len = fr->len;
    if (len < 34 || rd16(f + 12) != 0x0800 || (f[14] >> 4) != 4)
        return;
    const uint8_t *ip = f + 14;
    size_t hlen = (size_t)(ip[0] & 0x0f) * 4, total = rd16(ip + 2);
    if (hlen < 20 || total < hlen || total > len - 14 || replay_inet_checksum(ip, hlen, 0) != 0)
        return;
    size_t off = (size_t)(rd16(ip + 6) & 0x1fff) * 8, plen = total - hlen;
    bool mf = rd16(ip + 6) & 0x2000;
    if (off + plen > MAX_DATAGRAM)
        return;
    struct datagram *d = find_pending(all, ip, from_stack);
    if (!d)
        return;
    if (!d->first || !from_stack)
        d->t = fr->t;
    if (!d->first)
        d->first = number;
    d->last = number;
    memcpy(d->l4 + off, ip + hlen, plen);
    memset(d->seen + off, 1, plen);
    if (off == 0) {
        memcpy(d->header, ip, hlen);
        d->header_len = hlen;
        d->have_header = true;
    }
    if (!mf)
        d->l4_len = off + plen;
    if (d->l4_len && covered(d))
        d->complete = true;
}

static void free_datagrams(struct datagrams *all)
{
    for (size_t i = 0; i < all->n; i++) {
        free(all->d[i].l4);
        free(all->d[i].seen);
    }
    free(all->d);
}

/* ---- checks ------------------------------------------------------------------------------ */

static void range(struct replay_buf *b, const char *label, unsigned first, unsigned last)
{
    if (first == last)
        replay_buf_printf(b, "%s %u", label, first);
    else
        replay_buf_printf(b, "%ss %u-%u", label, first, last);
}

static void compare_data(struct replay_buf *b, const char *what, const uint8_t *got, size_t glen, const uint8_t *want,
                         size_t wlen, const struct datagram *peer)
{
    size_t common = glen < wlen ? glen : wlen, off = 0;
    while (off < common && got[off] == want[off])
        off++;
    if (off == common && glen == wlen)
        replay_buf_printf(b, "; %s equals the peer's (", what);
    else if (off < common)
        replay_buf_printf(b, "; %s DIFFERS from the peer's at offset %zu (", what, off);
    else
        replay_buf_printf(b, "; %s length %zu, the peer's %zu (", what, glen, wlen);
    range(b, "capture frame", peer->first, peer->last);
    replay_buf_printf(b, ")");
}

static const struct datagram *find_peer(const struct datagrams *in, uint8_t proto, bool (*match)(const struct datagram *,
                                        const struct datagram *), const struct datagram *out)
{
    /* The latest one before the answer wins: an answer goes to the last copy that arrived. */
    const struct datagram *found = NULL;
    for (size_t i = 0; i < in->n; i++)
        if (in->d[i].complete && in->d[i].proto == proto && in->d[i].t <= out->t && match(&in->d[i], out) &&
            (!found || in->d[i].t >= found->t))
            found = &in->d[i];
    return found;
}

static bool echo_pair(const struct datagram *req, const struct datagram *rep)
{
    return req->l4_len >= 8 && req->l4[0] == 8 && req->src == rep->dst && rd16(req->l4 + 4) == rd16(rep->l4 + 4) &&
           rd16(req->l4 + 6) == rd16(rep->l4 + 6);
}

static bool udp_pair(const struct datagram *q, const struct datagram *a)
{
    return q->l4_len >= 8 && q->src == a->dst && rd16(q->l4) == rd16(a->l4 + 2) && rd16(q->l4 + 2) == rd16(a->l4);
}

static bool quoted_by(const struct datagram *orig, const struct datagram *err)
{
    const uint8_t *q = err->l4 + 8;
    size_t qlen = err->l4_len - 8;
    return orig->have_header && qlen >= orig->header_len + 8 && memcmp(q, orig->header, orig->header_len) == 0 &&
           memcmp(q + orig->header_len, orig->l4, 8) == 0;
}

static void review_icmp(struct replay_buf *b, const struct datagram *d, const struct datagrams *in)
{
    replay_buf_printf(b, "ICMP type %u code %u, %zu bytes: checksum %s", d->l4[0], d->l4[1], d->l4_len,
                      replay_inet_checksum(d->l4, d->l4_len, 0) == 0 ? "ok" : "BAD");
    if (d->l4[0] == 0 && d->l4_len >= 8) {
        const struct datagram *req = find_peer(in, 1, echo_pair, d);
        replay_buf_printf(b, "; id 0x%04x seq %u", rd16(d->l4 + 4), rd16(d->l4 + 6));
        if (req)
            compare_data(b, "data", d->l4 + 8, d->l4_len - 8, req->l4 + 8, req->l4_len - 8, req);
        else
            replay_buf_printf(b, "; NO matching echo request from the peer");
        return;
    }
    if (d->l4[0] != 3 && d->l4[0] != 11 && d->l4[0] != 12)
        return;
    /* Fragment zero is enough: a reassembly timeout quotes a datagram that never completed. */
    const struct datagram *orig = NULL;
    for (size_t i = 0; i < in->n && !orig; i++)
        if (quoted_by(&in->d[i], d))
            orig = &in->d[i];
    if (orig) {
        replay_buf_printf(b, "; quotes the header and first 8 data bytes of ");
        range(b, "capture frame", orig->first, orig->first);
    } else {
        replay_buf_printf(b, "; the quote matches NO datagram from the peer");
    }
}

/* ---- TCP ---------------------------------------------------------------------------------- */

/* One direction of a connection, put back together from its segments. */
struct stream {
    uint32_t src, dst;
    uint16_t sport, dport;
    bool from_stack;
    uint32_t isn;
    uint8_t *bytes;     /* relative offset -> byte */
    uint8_t *seen;
    uint32_t end;       /* highest relative end of data seen */
    unsigned segments, retransmitted;
    bool fin, rst;
};

struct streams {
    struct stream s[MAX_STREAMS];
    unsigned n;
};

static struct stream *stream_of(struct streams *all, const uint8_t *ip, const uint8_t *t, bool from_stack)
{
    uint32_t src = rd32(ip + 12), dst = rd32(ip + 16);
    uint16_t sport = rd16(t), dport = rd16(t + 2);
    for (unsigned i = 0; i < all->n; i++) {
        struct stream *x = &all->s[i];
        if (x->src == src && x->dst == dst && x->sport == sport && x->dport == dport)
            return x;
    }
    if (all->n == MAX_STREAMS)
        return NULL;
    struct stream *x = &all->s[all->n++];
    memset(x, 0, sizeof(*x));
    *x = (struct stream){.src = src, .dst = dst, .sport = sport, .dport = dport, .from_stack = from_stack,
                         .isn = rd32(t + 4) - ((t[13] & 0x02) ? 0 : 1)};
    return x;
}

/* Adds a segment's data; returns whether all of it had been seen before (a retransmission). */
static bool stream_add(struct stream *x, uint32_t rel, const uint8_t *data, size_t len)
{
    if (len == 0 || rel >= MAX_STREAM_BYTES || len > MAX_STREAM_BYTES - rel)
        return false;
    if (!x->bytes) {
        x->bytes = calloc(1, MAX_STREAM_BYTES);
        x->seen = calloc(1, MAX_STREAM_BYTES);
        if (!x->bytes || !x->seen)
            return false;
    }
    bool old = true;
    for (size_t i = 0; i < len; i++) {
        old &= x->seen[rel + i] != 0;
        x->seen[rel + i] = 1;
        x->bytes[rel + i] = data[i];
    }
    if (rel + len > x->end)
        x->end = rel + (uint32_t)len;
    return old;
}

/* The TCP header of a whole IPv4 datagram in a frame (TCP is never fragmented here: DF), or NULL. */
static const uint8_t *frame_tcp(const struct replay_frame *fr, const uint8_t **ip, size_t *seg_len)
{
    const uint8_t *f = fr->data;
    if (fr->len < 54 || rd16(f + 12) != 0x0800 || (f[14] >> 4) != 4)
        return NULL;
    const uint8_t *p = f + 14;
    size_t hlen = (size_t)(p[0] & 0x0f) * 4, total = rd16(p + 2);
    if (p[9] != 6 || hlen < 20 || total < hlen + 20 || total > fr->len - 14 || (rd16(p + 6) & 0x3fff) != 0)
        return NULL;
    *ip = p;
    *seg_len = total - hlen;
    return p + hlen;
}

static void review_tcp_segment(struct replay_buf *b, struct streams *all, const struct replay_frame *fr, unsigned k)
{
    const uint8_t *ip, *t;
    size_t seg_len;
    if (!(t = frame_tcp(fr, &ip, &seg_len)))
        return;
    size_t thlen = (size_t)(t[12] >> 4) * 4;
    struct stream *x = stream_of(all, ip, t, fr->from_stack);
    if (!x || thlen < 20 || thlen > seg_len)
        return;
    if (t[13] & 0x02)
        x->isn = rd32(t + 4);
    uint32_t rel = rd32(t + 4) - x->isn - ((t[13] & 0x02) ? 0 : 1);
    size_t len = seg_len - thlen;
    bool retransmission = stream_add(x, rel, t + thlen, len);
    x->segments++;
    x->retransmitted += retransmission;
    x->fin |= (t[13] & 0x01) != 0;
    x->rst |= (t[13] & 0x04) != 0;
    if (!fr->from_stack)
        return;
    uint32_t pseudo = rd16(ip + 12) + rd16(ip + 14) + rd16(ip + 16) + rd16(ip + 18) + 6u + (uint32_t)seg_len;
    char flags[16];
    replay_tcp_flags_text(t[13], flags, sizeof(flags));
    replay_buf_printf(b, "  #%u: TCP %u > %u [%s] data %u:%u, checksum %s%s\n", k, rd16(t), rd16(t + 2), flags,
                      rel, rel + (uint32_t)len, replay_inet_checksum(t, seg_len, pseudo) == 0 ? "ok" : "BAD",
                      retransmission ? ", a RETRANSMISSION of bytes sent before" : "");
}

static const struct stream *reverse_of(const struct streams *all, const struct stream *x)
{
    for (unsigned i = 0; i < all->n; i++) {
        const struct stream *y = &all->s[i];
        if (y->src == x->dst && y->dst == x->src && y->sport == x->dport && y->dport == x->sport)
            return y;
    }
    return NULL;
}

static uint32_t contiguous(const struct stream *x)
{
    uint32_t n = 0;
    while (x->seen && n < x->end && x->seen[n])
        n++;
    return n;
}

static void review_streams(struct replay_buf *b, const struct streams *all)
{
    for (unsigned i = 0; i < all->n; i++) {
        const struct stream *x = &all->s[i];
        if (!x->from_stack)
            continue;
        const struct stream *y = reverse_of(all, x);
        uint32_t mine = contiguous(x), theirs = y ? contiguous(y) : 0;
        replay_buf_printf(b, "  stream %u > %u: the stack sent %u bytes in order (%u segments, %u retransmitted)%s%s",
                          x->sport, x->dport, mine, x->segments, x->retransmitted, x->fin ? ", FIN" : "",
                          x->rst ? ", RST" : "");
        if (mine < x->end)
            replay_buf_printf(b, ", then a HOLE before byte %u", x->end);
        if (y)
            replay_buf_printf(b, "; it received %u bytes in order%s", theirs, y->fin ? " and a FIN" : "");
        if (mine && theirs) {
            uint32_t common = mine < theirs ? mine : theirs, off = 0;
            while (off < common && x->bytes[off] == y->bytes[off])
                off++;
            if (off == common)
                replay_buf_printf(b, "; the first %u bytes of both are equal%s", common,
                                  mine == theirs ? " (an echo)" : "");
            else
                replay_buf_printf(b, "; they differ from byte %u (not an echo)", off);
        }
        replay_buf_printf(b, "\n");
    }
}

static void free_streams(struct streams *all)
{
    for (unsigned i = 0; i < all->n; i++) {
        free(all->s[i].bytes);
        free(all->s[i].seen);
    }
}

static void review_udp(struct replay_buf *b, const struct datagram *d, const struct datagrams *in)
{
    uint32_t pseudo = (d->src >> 16) + (d->src & 0xffff) + (d->dst >> 16) + (d->dst & 0xffff) + 17u +
                      (uint32_t)d->l4_len;
    bool none = d->l4_len >= 8 && rd16(d->l4 + 6) == 0;
    replay_buf_printf(b, "UDP %u > %u, %zu bytes: length field %s, checksum %s", rd16(d->l4), rd16(d->l4 + 2),
                      d->l4_len, d->l4_len >= 8 && rd16(d->l4 + 4) == d->l4_len ? "ok" : "WRONG",
                      none ? "absent" : replay_inet_checksum(d->l4, d->l4_len, pseudo) == 0 ? "ok" : "BAD");
    const struct datagram *q = find_peer(in, 17, udp_pair, d);
    if (q)
        compare_data(b, "payload", d->l4 + 8, d->l4_len - 8, q->l4 + 8, q->l4_len - 8, q);
}

char *replay_review(const struct replay_frame *frames, size_t n)
{
    struct datagrams in = {0}, sent = {0};
    struct replay_buf b = {0};
    unsigned k = 0;
    for (size_t i = 0; i < n; i++) {
        if (frames[i].from_stack)
            add_frame(&sent, &frames[i], ++k, true);
        else
            add_frame(&in, &frames[i], frames[i].index, false);
    }
    for (size_t i = 0; i < sent.n; i++) {
        const struct datagram *d = &sent.d[i];
        if (d->proto == 6 && d->complete && d->first == d->last)
            continue; /* TCP segments: below, in capture order with their streams */
        replay_buf_printf(&b, "  #%u", d->first);
        if (d->last != d->first)
            replay_buf_printf(&b, "-#%u (reassembled)", d->last);
        replay_buf_printf(&b, ": ");
        if (!d->complete)
            replay_buf_printf(&b, "INCOMPLETE datagram id 0x%04x (fragments missing)", d->id);
        else if (d->proto == 1 && d->l4_len >= 8)
            review_icmp(&b, d, &in);
        else if (d->proto == 17 && d->l4_len >= 8)
            review_udp(&b, d, &in);
        else
            replay_buf_printf(&b, "protocol %u, %zu bytes", d->proto, d->l4_len);
        replay_buf_printf(&b, "\n");
    }
    if (sent.n == 0)
        replay_buf_printf(&b, "  (the stack sent no IPv4 datagrams)\n");
    struct streams *tcp = calloc(1, sizeof(*tcp));
    k = 0;
    for (size_t i = 0; tcp && i < n; i++) {
        k += frames[i].from_stack;
        review_tcp_segment(&b, tcp, &frames[i], k);
    }
    if (tcp) {
        review_streams(&b, tcp);
        free_streams(tcp);
        free(tcp);
    }
    free_datagrams(&in);
    free_datagrams(&sent);
    return replay_buf_take(&b);
}

char *replay_case_dump(const struct replay_case *c)
{
    struct replay_buf b = {0};
    struct replay_tcp_flows *flows = calloc(1, sizeof(*flows));
    replay_buf_printf(&b, "%s: %zu frames in %s\n", c->name, c->n_frames, c->capture_path);
    for (size_t i = 0; i < c->n_frames; i++) {
        const struct replay_frame *f = &c->frames[i];
        char desc[240], t[32];
        replay_flows_learn(flows, f->data, f->len);
        replay_describe_frame_in(flows, f->data, f->len, desc, sizeof(desc));
        replay_format_time(f->t, t, sizeof(t));
        char *fields = replay_dissect_text_in(flows, f->data, f->len);
        replay_buf_printf(&b, "capture frame %u t=%s %s %s\n%s", f->index, t, f->from_stack ? "[stack]" : "[peer] ",
                          desc, fields);
        free(fields);
    }
    free(flows);
    char *checks = replay_review(c->frames, c->n_frames);
    replay_buf_printf(&b, "checks of the stack's datagrams (whole, after reassembly):\n%s", checks);
    free(checks);
    return replay_buf_take(&b);
}
