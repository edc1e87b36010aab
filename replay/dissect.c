/*
 * The harness's own small dissector: turns a frame into named fields so two
 * frames can be compared field by field, and describes a frame in one line.
 *
 * It is written apart from the core's wire code on purpose: a replay must not
 * trust the parser it is checking. It never rejects a frame; whatever does not
 * parse is kept as raw bytes, so a malformed frame still compares and prints.
 *
 *   Ethernet II -> ARP (RFC 826)
 *               -> IPv4 (RFC 791) -> ICMP (RFC 792) -> quoted IPv4 header + 8 bytes
 *                                 -> UDP (RFC 768)
 *                                 -> TCP (RFC 9293, dissect_tcp.c)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay_internal.h"

#define ETH_HDR_LEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define IPPROTO_ICMP_ 1
#define IPPROTO_UDP_ 17
#define IPPROTO_TCP_ 6

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

uint16_t replay_inet_checksum(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += rd16(p + i);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* ---- adding fields ------------------------------------------------------------ */

struct replay_field *replay_add_field(struct replay_dissection *d, const char *prefix, const char *name,
                                     enum replay_field_kind kind)
{
    if (d->n == REPLAY_MAX_FIELDS)
        return NULL; /* more than any frame we dissect has; the rest is simply not listed */
    struct replay_field *f = &d->f[d->n++];
    memset(f, 0, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s%s", prefix, name);
    f->kind = kind;
    return f;
}

struct replay_field *replay_add_num(struct replay_dissection *d, const char *prefix, const char *name, uint64_t v)
{
    struct replay_field *f = replay_add_field(d, prefix, name, REPLAY_F_DEC);
    if (f)
        f->value = v;
    return f;
}

struct replay_field *replay_add_hex(struct replay_dissection *d, const char *prefix, const char *name, uint64_t v,
                                    unsigned width)
{
    struct replay_field *f = replay_add_field(d, prefix, name, REPLAY_F_HEX);
    if (f) {
        f->value = v;
        f->width = width;
    }
    return f;
}

static void add_mac(struct replay_dissection *d, const char *prefix, const char *name, const uint8_t *p)
{
    struct replay_field *f = replay_add_field(d, prefix, name, REPLAY_F_MAC);
    if (f) {
        f->bytes = p;
        f->len = 6;
    }
}

static void add_ipv4(struct replay_dissection *d, const char *prefix, const char *name, const uint8_t *p)
{
    struct replay_field *f = replay_add_field(d, prefix, name, REPLAY_F_IPV4);
    if (f)
        f->value = rd32(p);
}

struct replay_field *replay_add_bytes(struct replay_dissection *d, const char *prefix, const char *name,
                                     const uint8_t *p, size_t len, const char *note)
{
    struct replay_field *f = replay_add_field(d, prefix, name, REPLAY_F_BYTES);
    if (f) {
        f->bytes = p;
        f->len = len;
        f->note = note;
    }
    return f;
}

static const char *checksum_note(uint16_t folded)
{
    return folded == 0 ? "ok" : "BAD";
}

/* ---- layers -------------------------------------------------------------------- */

/* RFC 768: the checksum covers a pseudo header (addresses, protocol, UDP length) and the datagram. */
static uint16_t udp_check(const uint8_t *ip, const uint8_t *udp, size_t udp_len)
{
    uint32_t sum = rd16(ip + 12) + rd16(ip + 14) + rd16(ip + 16) + rd16(ip + 18);
    sum += IPPROTO_UDP_ + (uint32_t)udp_len;
    return replay_inet_checksum(udp, udp_len, sum);
}

static void dissect_udp(struct replay_dissection *d, const char *prefix, const uint8_t *ip, const uint8_t *p,
                        size_t len, bool whole)
{
    if (len < 8) {
        replay_add_bytes(d, prefix, "udp.truncated", p, len, NULL);
        return;
    }
    uint16_t ulen = rd16(p + 4);
    replay_add_num(d, prefix, "udp.sport", rd16(p));
    replay_add_num(d, prefix, "udp.dport", rd16(p + 2));
    replay_add_num(d, prefix, "udp.length", ulen);
    struct replay_field *ck = replay_add_hex(d, prefix, "udp.checksum", rd16(p + 6), 4);
    if (ck) {
        if (!whole)
            ck->note = "not checked";
        else if (rd16(p + 6) == 0)
            ck->note = "none";
        else if (ulen < 8 || ulen > len)
            ck->note = "not checked (bad length)";
        else
            ck->note = checksum_note(udp_check(ip, p, ulen));
    }
    size_t data_end = (whole && ulen >= 8 && ulen <= len) ? ulen : len;
    replay_add_bytes(d, prefix, "udp.payload", p + 8, data_end - 8, NULL);
    if (data_end < len)
        replay_add_bytes(d, prefix, "udp.trailing", p + data_end, len - data_end, NULL);
}

static void dissect_ipv4(struct replay_dissection *d, const char *prefix, const uint8_t *p, size_t len,
                         bool quoted, size_t *consumed);

static bool icmp_is_error(uint8_t type)
{
    return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

static void dissect_icmp(struct replay_dissection *d, const char *prefix, const uint8_t *p, size_t len, bool whole)
{
    if (len < 4) {
        replay_add_bytes(d, prefix, "icmp.truncated", p, len, NULL);
        return;
    }
    uint8_t type = p[0];
    replay_add_num(d, prefix, "icmp.type", type);
    replay_add_num(d, prefix, "icmp.code", p[1]);
    struct replay_field *ck = replay_add_hex(d, prefix, "icmp.checksum", rd16(p + 2), 4);
    if (ck)
        ck->note = whole ? checksum_note(replay_inet_checksum(p, len, 0)) : "not checked";
    if (len < 8) {
        replay_add_bytes(d, prefix, "icmp.truncated", p + 4, len - 4, NULL);
        return;
    }
    if (type == 0 || type == 8) {
        replay_add_hex(d, prefix, "icmp.id", rd16(p + 4), 4);
        replay_add_num(d, prefix, "icmp.seq", rd16(p + 6));
        replay_add_bytes(d, prefix, "icmp.data", p + 8, len - 8, NULL);
        return;
    }
    replay_add_hex(d, prefix, "icmp.rest", rd32(p + 4), 8); /* unused, pointer or next-hop MTU */
    if (icmp_is_error(type) && prefix[0] == '\0') {
        /* RFC 792: the error quotes the offending datagram's header and its first 64 bits. */
        dissect_ipv4(d, "icmp.orig.", p + 8, len - 8, true, NULL);
        return;
    }
    replay_add_bytes(d, prefix, "icmp.data", p + 8, len - 8, NULL);
}

static void dissect_ipv4_payload(struct replay_dissection *d, const char *prefix, const uint8_t *ip,
                                 const uint8_t *p, size_t len, bool quoted, bool fragment, bool first)
{
    if (!first) {
        replay_add_bytes(d, prefix, "ipv4.payload", p, len, "fragment");
        return;
    }
    bool whole = !quoted && !fragment;
    if (ip[9] == IPPROTO_UDP_)
        dissect_udp(d, prefix, ip, p, len, whole);
    else if (ip[9] == IPPROTO_TCP_)
        replay_dissect_tcp(d, prefix, ip, p, len, whole);
    else if (ip[9] == IPPROTO_ICMP_)
        dissect_icmp(d, prefix, p, len, whole);
    else
        replay_add_bytes(d, prefix, "ipv4.payload", p, len, NULL);
}

/*
 * RFC 791 3.1. `consumed` receives how much of p the datagram covers (its total
 * length, bounded by len) so the caller can show Ethernet padding after it.
 */
static void dissect_ipv4(struct replay_dissection *d, const char *prefix, const uint8_t *p, size_t len,
                         bool quoted, size_t *consumed)
{
    if (consumed)
        *consumed = len;
    if (len < 20) {
        replay_add_bytes(d, prefix, "ipv4.truncated", p, len, NULL);
        return;
    }
    unsigned ihl = p[0] & 0x0f;
    size_t hlen = (size_t)ihl * 4;
    uint16_t total = rd16(p + 2);
    uint16_t frag = rd16(p + 6);
    replay_add_num(d, prefix, "ipv4.version", p[0] >> 4);
    replay_add_num(d, prefix, "ipv4.ihl", ihl);
    replay_add_hex(d, prefix, "ipv4.tos", p[1], 2);
    struct replay_field *tl = replay_add_num(d, prefix, "ipv4.total_length", total);
    replay_add_hex(d, prefix, "ipv4.id", rd16(p + 4), 4);
    replay_add_num(d, prefix, "ipv4.flag_reserved", (frag >> 15) & 1);
    replay_add_num(d, prefix, "ipv4.flag_df", (frag >> 14) & 1);
    replay_add_num(d, prefix, "ipv4.flag_mf", (frag >> 13) & 1);
    replay_add_num(d, prefix, "ipv4.frag_offset", (uint64_t)(frag & 0x1fff) * 8);
    replay_add_num(d, prefix, "ipv4.ttl", p[8]);
    replay_add_num(d, prefix, "ipv4.protocol", p[9]);
    struct replay_field *ck = replay_add_hex(d, prefix, "ipv4.checksum", rd16(p + 10), 4);
    add_ipv4(d, prefix, "ipv4.src", p + 12);
    add_ipv4(d, prefix, "ipv4.dst", p + 16);
    if (hlen < 20 || hlen > len) {
        if (ck)
            ck->note = "not checked (bad header length)";
        replay_add_bytes(d, prefix, "ipv4.rest", p + 20, len - 20, "bad header length");
        return;
    }
    if (ck)
        ck->note = checksum_note(replay_inet_checksum(p, hlen, 0));
    if (hlen > 20)
        replay_add_bytes(d, prefix, "ipv4.options", p + 20, hlen - 20, NULL);
    /* A quoted header may come with less than its total length; a received one may not. */
    size_t end = len;
    if (!quoted && total >= hlen && total <= len)
        end = total;
    else if (!quoted && tl)
        tl->note = total < hlen ? "below the header length" : "beyond the frame";
    if (consumed)
        *consumed = end;
    bool fragment = (frag & 0x2000) || (frag & 0x1fff);
    bool first = (frag & 0x1fff) == 0;
    dissect_ipv4_payload(d, prefix, p, p + hlen, end - hlen, quoted, fragment, first);
}

static void dissect_arp(struct replay_dissection *d, const uint8_t *p, size_t len, size_t *consumed)
{
    *consumed = len;
    if (len < 28) {
        replay_add_bytes(d, "", "arp.truncated", p, len, NULL);
        return;
    }
    replay_add_num(d, "", "arp.htype", rd16(p));
    replay_add_hex(d, "", "arp.ptype", rd16(p + 2), 4);
    replay_add_num(d, "", "arp.hlen", p[4]);
    replay_add_num(d, "", "arp.plen", p[5]);
    replay_add_num(d, "", "arp.op", rd16(p + 6));
    if (p[4] != 6 || p[5] != 4) {
        replay_add_bytes(d, "", "arp.addresses", p + 8, len - 8, "not Ethernet/IPv4");
        return;
    }
    add_mac(d, "", "arp.sha", p + 8);
    add_ipv4(d, "", "arp.spa", p + 14);
    add_mac(d, "", "arp.tha", p + 18);
    add_ipv4(d, "", "arp.tpa", p + 24);
    *consumed = 28;
}

void replay_dissect(const uint8_t *frame, size_t len, struct replay_dissection *d)
{
    replay_dissect_in(NULL, frame, len, d);
}

void replay_dissect_in(const struct replay_tcp_flows *flows, const uint8_t *frame, size_t len,
                       struct replay_dissection *d)
{
    d->n = 0;
    d->flows = flows;
    replay_add_num(d, "", "frame.length", len);
    if (len < ETH_HDR_LEN) {
        replay_add_bytes(d, "", "eth.truncated", frame, len, NULL);
        return;
    }
    add_mac(d, "", "eth.dst", frame);
    add_mac(d, "", "eth.src", frame + 6);
    uint16_t type = rd16(frame + 12);
    replay_add_hex(d, "", "eth.type", type, 4);
    const uint8_t *p = frame + ETH_HDR_LEN;
    size_t plen = len - ETH_HDR_LEN;
    size_t used = plen;
    if (type == ETHERTYPE_ARP)
        dissect_arp(d, p, plen, &used);
    else if (type == ETHERTYPE_IPV4)
        dissect_ipv4(d, "", p, plen, false, &used);
    else
        replay_add_bytes(d, "", "eth.payload", p, plen, NULL);
    if (used < plen)
        replay_add_bytes(d, "", "eth.padding", p + used, plen - used, NULL);
}

/* ---- formatting and comparing ---------------------------------------------------- */

const struct replay_field *replay_field_find(const struct replay_dissection *d, const char *name)
{
    for (unsigned i = 0; i < d->n; i++)
        if (strcmp(d->f[i].name, name) == 0)
            return &d->f[i];
    return NULL;
}

void replay_field_format(const struct replay_field *f, char *buf, size_t cap)
{
    uint32_t a = (uint32_t)f->value;
    switch (f->kind) {
    case REPLAY_F_DEC:
        snprintf(buf, cap, "%" PRIu64, f->value);
        break;
    case REPLAY_F_HEX:
        snprintf(buf, cap, "0x%0*" PRIx64, (int)f->width, f->value);
        break;
    case REPLAY_F_MAC:
        snprintf(buf, cap, "%02x:%02x:%02x:%02x:%02x:%02x", f->bytes[0], f->bytes[1], f->bytes[2], f->bytes[3],
                 f->bytes[4], f->bytes[5]);
        break;
    case REPLAY_F_IPV4:
        snprintf(buf, cap, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
        break;
    case REPLAY_F_TCP_FLAGS: {
        char names[16];
        replay_tcp_flags_text((unsigned)f->value, names, sizeof(names));
        snprintf(buf, cap, "0x%02" PRIx64 " [%s]", f->value, names);
        break;
    }
    case REPLAY_F_TEXT:
        snprintf(buf, cap, "%s", f->text);
        break;
    case REPLAY_F_BYTES: {
        int n = snprintf(buf, cap, "%zu bytes", f->len);
        for (size_t i = 0; i < f->len && i < 16 && n > 0 && (size_t)n + 4 < cap; i++)
            n += snprintf(buf + n, cap - (size_t)n, "%s%02x", i == 0 ? " " : "", f->bytes[i]);
        if (f->len > 16 && n > 0 && (size_t)n + 4 < cap)
            snprintf(buf + n, cap - (size_t)n, "...");
        break;
    }
    }
}

static bool same_value(const struct replay_field *a, const struct replay_field *b)
{
    if (a->kind == REPLAY_F_MAC || a->kind == REPLAY_F_BYTES)
        return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
    if (a->kind == REPLAY_F_TEXT)
        return strcmp(a->text, b->text) == 0;
    return a->value == b->value;
}

static void separate(struct replay_buf *out, unsigned count)
{
    if (count > 0)
        replay_buf_printf(out, "; ");
}

static void diff_bytes(const struct replay_field *e, const struct replay_field *g, struct replay_buf *out)
{
    size_t common = e->len < g->len ? e->len : g->len;
    size_t off = 0;
    while (off < common && e->bytes[off] == g->bytes[off])
        off++;
    if (off < common)
        replay_buf_printf(out, "%s differs at offset %zu: expected 0x%02x got 0x%02x", e->name, off, e->bytes[off],
                          g->bytes[off]);
    else
        replay_buf_printf(out, "%s length expected %zu got %zu (same up to offset %zu)", e->name, e->len, g->len,
                          common);
    if (off < common && e->len != g->len)
        replay_buf_printf(out, " (length expected %zu got %zu)", e->len, g->len);
}

static void diff_value(const struct replay_field *e, const struct replay_field *g, struct replay_buf *out)
{
    char ev[96], gv[96];
    replay_field_format(e, ev, sizeof(ev));
    replay_field_format(g, gv, sizeof(gv));
    replay_buf_printf(out, "%s expected %s", e->name, ev);
    if (e->note)
        replay_buf_printf(out, " (%s)", e->note);
    if (e->has_rel)
        replay_buf_printf(out, " (relative %u)", e->rel);
    replay_buf_printf(out, " got %s", gv);
    if (g->note)
        replay_buf_printf(out, " (%s)", g->note);
    if (g->has_rel)
        replay_buf_printf(out, " (relative %u)", g->rel);
}

unsigned replay_diff(const struct replay_dissection *expected, const struct replay_dissection *got,
                     struct replay_buf *out)
{
    unsigned count = 0;
    char v[96];
    for (unsigned i = 0; i < expected->n; i++) {
        const struct replay_field *e = &expected->f[i];
        const struct replay_field *g = replay_field_find(got, e->name);
        if (g && e->kind == g->kind && same_value(e, g))
            continue;
        separate(out, count++);
        if (!g) {
            replay_field_format(e, v, sizeof(v));
            replay_buf_printf(out, "%s expected %s, missing", e->name, v);
        } else if (e->kind == REPLAY_F_BYTES && g->kind == REPLAY_F_BYTES) {
            diff_bytes(e, g, out);
        } else {
            diff_value(e, g, out);
        }
    }
    for (unsigned i = 0; i < got->n; i++) {
        if (replay_field_find(expected, got->f[i].name))
            continue;
        separate(out, count++);
        replay_field_format(&got->f[i], v, sizeof(v));
        replay_buf_printf(out, "%s not expected, got %s", got->f[i].name, v);
    }
    return count;
}

/* ---- one-line description --------------------------------------------------------- */

static uint64_t fv(const struct replay_dissection *d, const char *name)
{
    const struct replay_field *f = replay_field_find(d, name);
    return f ? f->value : 0;
}

static void fs(const struct replay_dissection *d, const char *name, char *buf, size_t cap)
{
    const struct replay_field *f = replay_field_find(d, name);
    if (f)
        replay_field_format(f, buf, cap);
    else
        snprintf(buf, cap, "?");
}

static void describe_arp(const struct replay_dissection *d, struct replay_buf *b)
{
    char spa[20], tpa[20], sha[20];
    fs(d, "arp.spa", spa, sizeof(spa));
    fs(d, "arp.tpa", tpa, sizeof(tpa));
    fs(d, "arp.sha", sha, sizeof(sha));
    uint64_t op = fv(d, "arp.op");
    if (op == 1 && strcmp(spa, tpa) == 0)
        replay_buf_printf(b, "ARP announcement %s is-at %s", spa, sha);
    else if (op == 1)
        replay_buf_printf(b, "ARP request who-has %s tell %s (%s)", tpa, spa, sha);
    else if (op == 2)
        replay_buf_printf(b, "ARP reply %s is-at %s (to %s)", spa, sha, tpa);
    else
        replay_buf_printf(b, "ARP op %" PRIu64, op);
}

static void describe_l4(const struct replay_dissection *d, struct replay_buf *b)
{
    if (replay_field_find(d, "tcp.sport") && !replay_field_find(d, "icmp.type")) {
        replay_describe_tcp(d, b);
        return;
    }
    const struct replay_field *pay = replay_field_find(d, "udp.payload");
    if (replay_field_find(d, "udp.sport")) {
        replay_buf_printf(b, " UDP %" PRIu64 " > %" PRIu64 " len %zu", fv(d, "udp.sport"), fv(d, "udp.dport"),
                          pay ? pay->len : 0);
        return;
    }
    if (!replay_field_find(d, "icmp.type"))
        return;
    uint64_t type = fv(d, "icmp.type");
    if (type == 0 || type == 8) {
        const struct replay_field *data = replay_field_find(d, "icmp.data");
        replay_buf_printf(b, " ICMP echo %s id 0x%04" PRIx64 " seq %" PRIu64 " data %zu", type == 8 ? "request" : "reply",
                          fv(d, "icmp.id"), fv(d, "icmp.seq"), data ? data->len : 0);
    } else {
        replay_buf_printf(b, " ICMP type %" PRIu64 " code %" PRIu64, type, fv(d, "icmp.code"));
        if (replay_field_find(d, "icmp.orig.ipv4.id"))
            replay_buf_printf(b, " about id 0x%04" PRIx64, fv(d, "icmp.orig.ipv4.id"));
    }
}

void replay_describe_frame(const uint8_t *frame, size_t len, char *buf, size_t cap)
{
    replay_describe_frame_in(NULL, frame, len, buf, cap);
}

void replay_describe_frame_in(const struct replay_tcp_flows *flows, const uint8_t *frame, size_t len, char *buf,
                              size_t cap)
{
    struct replay_dissection *d = calloc(1, sizeof(*d));
    struct replay_buf b = {0};
    if (!d) {
        snprintf(buf, cap, "(out of memory)");
        return;
    }
    replay_dissect_in(flows, frame, len, d);
    uint64_t type = fv(d, "eth.type");
    if (len < ETH_HDR_LEN) {
        replay_buf_printf(&b, "runt frame of %zu bytes", len);
    } else if (type == ETHERTYPE_ARP) {
        describe_arp(d, &b);
    } else if (type == ETHERTYPE_IPV4 && replay_field_find(d, "ipv4.src")) {
        char src[20], dst[20];
        fs(d, "ipv4.src", src, sizeof(src));
        fs(d, "ipv4.dst", dst, sizeof(dst));
        replay_buf_printf(&b, "IPv4 %s > %s id 0x%04" PRIx64 " len %" PRIu64, src, dst, fv(d, "ipv4.id"),
                          fv(d, "ipv4.total_length"));
        if (fv(d, "ipv4.flag_mf") || fv(d, "ipv4.frag_offset"))
            replay_buf_printf(&b, " frag off %" PRIu64 "%s", fv(d, "ipv4.frag_offset"),
                              fv(d, "ipv4.flag_mf") ? " MF" : "");
        describe_l4(d, &b);
    } else {
        replay_buf_printf(&b, "ethertype 0x%04" PRIx64 ", %zu bytes", type, len);
    }
    char *text = replay_buf_take(&b);
    snprintf(buf, cap, "%s", text);
    free(text);
    free(d);
}

char *replay_dissect_text(const uint8_t *frame, size_t len)
{
    return replay_dissect_text_in(NULL, frame, len);
}

char *replay_dissect_text_in(const struct replay_tcp_flows *flows, const uint8_t *frame, size_t len)
{
    struct replay_dissection *d = calloc(1, sizeof(*d));
    struct replay_buf b = {0};
    if (!d)
        return replay_buf_take(&b);
    replay_dissect_in(flows, frame, len, d);
    char v[128];
    for (unsigned i = 0; i < d->n; i++) {
        replay_field_format(&d->f[i], v, sizeof(v));
        replay_buf_printf(&b, "    %-28s %s", d->f[i].name, v);
        if (d->f[i].note)
            replay_buf_printf(&b, " (%s)", d->f[i].note);
        if (d->f[i].has_rel)
            replay_buf_printf(&b, " (relative %u)", d->f[i].rel);
        replay_buf_printf(&b, "\n");
    }
    free(d);
    return replay_buf_take(&b);
}
