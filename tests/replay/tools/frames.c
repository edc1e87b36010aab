/*
 * Frame builders for synthetic captures (see frames.h). Byte order is written
 * out by hand so a wrong value here is visible in the code, not in a macro.
 */
#include "frames.h"

#include <string.h>

const uint8_t mk_peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
const uint8_t mk_stack_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
const uint8_t mk_broadcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

uint16_t mk_checksum(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)((p[i] << 8) | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

size_t mk_eth(uint8_t *out, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
    memcpy(out, dst, 6);
    memcpy(out + 6, src, 6);
    put16(out + 12, type);
    return MK_ETH_HDR;
}

size_t mk_arp(uint8_t *out, const uint8_t eth_dst[6], uint16_t op, const uint8_t sha[6], uint32_t spa,
              const uint8_t tha[6], uint32_t tpa, size_t pad_to)
{
    size_t n = mk_eth(out, eth_dst, sha, 0x0806);
    uint8_t *a = out + n;
    put16(a, 1);      /* hardware: Ethernet */
    put16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, op);
    memcpy(a + 8, sha, 6);
    put32(a + 14, spa);
    memcpy(a + 18, tha, 6);
    put32(a + 24, tpa);
    n += 28;
    if (pad_to > n && pad_to <= MK_FRAME_MAX) {
        memset(out + n, 0, pad_to - n);
        n = pad_to;
    }
    return n;
}

size_t mk_ipv4(uint8_t *out, const struct mk_ip *ip, const uint8_t *payload, size_t len)
{
    size_t hlen = 20 + ip->options_len;
    uint8_t ihl = ip->ihl ? ip->ihl : (uint8_t)(hlen / 4);
    uint16_t total = ip->total_length ? ip->total_length : (uint16_t)(hlen + len);
    out[0] = (uint8_t)(((ip->version ? ip->version : 4) << 4) | (ihl & 0x0f));
    out[1] = 0;
    put16(out + 2, total);
    put16(out + 4, ip->id);
    put16(out + 6, (uint16_t)((ip->df ? 0x4000 : 0) | (ip->mf ? 0x2000 : 0) | ((ip->frag_offset / 8) & 0x1fff)));
    out[8] = ip->ttl ? ip->ttl : 64;
    out[9] = ip->proto;
    put16(out + 10, 0);
    put32(out + 12, ip->src);
    put32(out + 16, ip->dst);
    if (ip->options_len)
        memcpy(out + 20, ip->options, ip->options_len);
    uint16_t ck = mk_checksum(out, hlen, 0);
    put16(out + 10, ip->bad_checksum ? (uint16_t)(ck + 1) : ck);
    memcpy(out + hlen, payload, len);
    return hlen + len;
}

size_t mk_icmp_echo(uint8_t *out, uint8_t type, uint16_t id, uint16_t seq, const uint8_t *data, size_t len)
{
    out[0] = type;
    out[1] = 0;
    put16(out + 2, 0);
    put16(out + 4, id);
    put16(out + 6, seq);
    memcpy(out + 8, data, len);
    put16(out + 2, mk_checksum(out, 8 + len, 0));
    return 8 + len;
}

size_t mk_udp(uint8_t *out, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, const uint8_t *data,
              size_t len)
{
    uint16_t ulen = (uint16_t)(8 + len);
    put16(out, sport);
    put16(out + 2, dport);
    put16(out + 4, ulen);
    put16(out + 6, 0);
    memcpy(out + 8, data, len);
    uint32_t pseudo = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 17u + ulen;
    uint16_t ck = mk_checksum(out, ulen, pseudo);
    put16(out + 6, ck == 0 ? 0xffff : ck); /* RFC 768: a computed zero is sent as all ones */
    return ulen;
}

void mk_pattern(uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)i;
}

static size_t put_syn_options(uint8_t *o, const struct mk_tcp_opts *opt)
{
    size_t n = 0;
    if (opt->mss) {
        o[n++] = 2;
        o[n++] = 4;
        put16(o + n, opt->mss);
        n += 2;
    }
    if (opt->sack_permitted && opt->ts) {
        o[n++] = 4;
        o[n++] = 2;
    } else if (opt->sack_permitted) {
        o[n++] = 1;
        o[n++] = 1;
        o[n++] = 4;
        o[n++] = 2;
    } else if (opt->ts) {
        o[n++] = 1;
        o[n++] = 1;
    }
    if (opt->ts) {
        o[n++] = 8;
        o[n++] = 10;
        put32(o + n, opt->ts_val);
        put32(o + n + 4, opt->ts_ecr);
        n += 8;
    }
    if (opt->wscale >= 0) {
        o[n++] = 1;
        o[n++] = 3;
        o[n++] = 3;
        o[n++] = (uint8_t)opt->wscale;
    }
    return n;
}

static size_t put_options(uint8_t *o, const struct mk_tcp_opts *opt)
{
    size_t n = 0;
    if (opt->ts) {
        o[n++] = 1;
        o[n++] = 1;
        o[n++] = 8;
        o[n++] = 10;
        put32(o + n, opt->ts_val);
        put32(o + n + 4, opt->ts_ecr);
        n += 8;
    }
    if (opt->n_sack) {
        o[n++] = 1;
        o[n++] = 1;
        o[n++] = 5;
        o[n++] = (uint8_t)(2 + 8 * opt->n_sack);
        for (unsigned i = 0; i < opt->n_sack; i++) {
            put32(o + n, opt->sack[i][0]);
            put32(o + n + 4, opt->sack[i][1]);
            n += 8;
        }
    }
    return n;
}

size_t mk_tcp(uint8_t *out, uint32_t src, uint32_t dst, const struct mk_tcp *t, const uint8_t *data, size_t len)
{
    uint8_t opts[40];
    size_t olen = (t->flags & MK_TCP_SYN) ? put_syn_options(opts, &t->opt) : put_options(opts, &t->opt);
    while (olen % 4)
        opts[olen++] = 0; /* EOL padding; Linux's layouts never need it */
    size_t hlen = 20 + olen, total = hlen + len;
    put16(out, t->sport);
    put16(out + 2, t->dport);
    put32(out + 4, t->seq);
    put32(out + 8, t->ack);
    out[12] = (uint8_t)((hlen / 4) << 4);
    out[13] = t->flags;
    put16(out + 14, t->window);
    put16(out + 16, 0);
    put16(out + 18, 0);
    memcpy(out + 20, opts, olen);
    if (len)
        memcpy(out + hlen, data, len);
    uint32_t pseudo = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6u + (uint32_t)total;
    put16(out + 16, mk_checksum(out, total, pseudo));
    return total;
}
