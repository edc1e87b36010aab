#include "wire/tcp.h"

#include <string.h>

#include "wire/checksum.h"
#include "wire/ipv4.h"

#define OPT_EOL 0
#define OPT_NOP 1
#define OPT_MSS 2
#define OPT_WSCALE 3
#define OPT_SACK_PERMITTED 4
#define OPT_SACK 5
#define OPT_TIMESTAMPS 8

static bool parse_one_option(uint8_t kind, const uint8_t *body, size_t body_len, struct tcp_options *opt)
{
    switch (kind) {
    case OPT_MSS:
        if (body_len != 2)
            return false;
        opt->has_mss = true;
        opt->mss = be16_get(body);
        return true;
    case OPT_WSCALE:
        if (body_len != 1)
            return false;
        opt->has_wscale = true;
        opt->wscale = body[0];
        return true;
    case OPT_SACK_PERMITTED:
        if (body_len != 0)
            return false;
        opt->sack_permitted = true;
        return true;
    case OPT_TIMESTAMPS:
        if (body_len != 8)
            return false;
        opt->has_timestamps = true;
        opt->ts_val = be32_get(body);
        opt->ts_ecr = be32_get(body + 4);
        return true;
    case OPT_SACK:
        /* RFC 2018 3: 8 bytes per block, at least one block. */
        if (body_len == 0 || body_len % 8 != 0)
            return false;
        opt->sack_count = 0;
        for (size_t i = 0; i < body_len / 8 && i < TCP_MAX_SACK_BLOCKS; i++) {
            opt->sack[i].left = be32_get(body + 8 * i);
            opt->sack[i].right = be32_get(body + 8 * i + 4);
            opt->sack_count++;
        }
        return true;
    default:
        return true; /* unknown: skipped by its length */
    }
}

static bool parse_options(const uint8_t *p, size_t len, struct tcp_options *opt)
{
    size_t i = 0;
    while (i < len) {
        uint8_t kind = p[i];
        if (kind == OPT_EOL)
            return true;
        if (kind == OPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= len)
            return false;
        uint8_t olen = p[i + 1];
        if (olen < 2 || i + olen > len)
            return false;
        if (!parse_one_option(kind, p + i + 2, (size_t)olen - 2, opt))
            return false;
        i += olen;
    }
    return true;
}

enum tcp_parse_result tcp_parse(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst, struct tcp_hdr *out,
                                const uint8_t **data, size_t *data_len)
{
    return tcp_parse_checked(buf, len, src, dst, true, out, data, data_len);
}

enum tcp_parse_result tcp_parse_checked(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst,
                                        bool verify_checksum, struct tcp_hdr *out, const uint8_t **data,
                                        size_t *data_len)
{
    if (len < TCP_MIN_HDR_LEN)
        return TCP_PARSE_TRUNCATED;
    size_t offset = (size_t)(buf[12] >> 4) * 4;
    if (offset < TCP_MIN_HDR_LEN || offset > len)
        return TCP_PARSE_BAD_OFFSET;
    if (len > 0xffff)
        return TCP_PARSE_TRUNCATED;
    if (verify_checksum) {
        uint32_t sum = csum_pseudo_ipv4(src, dst, IPV4_PROTO_TCP, (uint16_t)len);
        if (CSUM_RX_FAILS(csum_finish(csum_add(sum, buf, len))))
            return TCP_PARSE_BAD_CHECKSUM;
    }
    memset(out, 0, sizeof *out);
    if (!parse_options(buf + TCP_MIN_HDR_LEN, offset - TCP_MIN_HDR_LEN, &out->opt))
        return TCP_PARSE_BAD_OPTION;
    out->src_port = be16_get(buf);
    out->dst_port = be16_get(buf + 2);
    out->seq = be32_get(buf + 4);
    out->ack = be32_get(buf + 8);
    out->data_offset = (uint8_t)offset;
    out->flags = buf[13];
    out->window = be16_get(buf + 14);
    out->checksum = be16_get(buf + 16);
    out->urgent = be16_get(buf + 18);
    *data = buf + offset;
    *data_len = len - offset;
    return TCP_PARSE_OK;
}

size_t tcp_options_len(const struct tcp_options *opt)
{
    size_t n = 0;
    if (opt->has_mss)
        n += 4;
    if (opt->has_wscale)
        n += 4; /* NOP + 3 */
    if (opt->sack_permitted && !opt->has_timestamps)
        n += 4; /* NOP NOP + 2 */
    if (opt->has_timestamps)
        n += 12; /* (SACK-permitted or NOP NOP) + 10 */
    if (opt->sack_count > 0)
        n += 4 + 8u * opt->sack_count; /* NOP NOP + 2 + blocks */
    return n;
}

/* Lays options out the way Linux does, each aligned so a receiver can read them in words. */
static size_t emit_options(const struct tcp_options *opt, uint8_t *p)
{
    size_t i = 0;
    if (opt->has_mss) {
        p[i++] = OPT_MSS;
        p[i++] = 4;
        be16_put(p + i, opt->mss);
        i += 2;
    }
    if (opt->has_timestamps) {
        if (opt->sack_permitted) {
            p[i++] = OPT_SACK_PERMITTED;
            p[i++] = 2;
        } else {
            p[i++] = OPT_NOP;
            p[i++] = OPT_NOP;
        }
        p[i++] = OPT_TIMESTAMPS;
        p[i++] = 10;
        be32_put(p + i, opt->ts_val);
        be32_put(p + i + 4, opt->ts_ecr);
        i += 8;
    } else if (opt->sack_permitted) {
        p[i++] = OPT_NOP;
        p[i++] = OPT_NOP;
        p[i++] = OPT_SACK_PERMITTED;
        p[i++] = 2;
    }
    if (opt->has_wscale) {
        p[i++] = OPT_NOP;
        p[i++] = OPT_WSCALE;
        p[i++] = 3;
        p[i++] = opt->wscale;
    }
    if (opt->sack_count > 0) {
        p[i++] = OPT_NOP;
        p[i++] = OPT_NOP;
        p[i++] = OPT_SACK;
        p[i++] = (uint8_t)(2 + 8 * opt->sack_count);
        for (unsigned k = 0; k < opt->sack_count; k++) {
            be32_put(p + i, opt->sack[k].left);
            be32_put(p + i + 4, opt->sack[k].right);
            i += 8;
        }
    }
    return i;
}

static size_t tcp_write_header(const struct tcp_hdr *h, uint8_t *buf)
{
    size_t hdr_len = TCP_MIN_HDR_LEN + emit_options(&h->opt, buf + TCP_MIN_HDR_LEN);
    be16_put(buf, h->src_port);
    be16_put(buf + 2, h->dst_port);
    be32_put(buf + 4, h->seq);
    be32_put(buf + 8, h->ack);
    buf[12] = (uint8_t)((hdr_len / 4) << 4);
    buf[13] = h->flags;
    be16_put(buf + 14, h->window);
    be16_put(buf + 16, 0);
    be16_put(buf + 18, h->urgent);
    return hdr_len;
}

size_t tcp_emit(const struct tcp_hdr *h, uint8_t *buf, size_t data_len, uint32_t src, uint32_t dst)
{
    size_t hdr_len = tcp_write_header(h, buf);
    size_t total = hdr_len + data_len;
    uint32_t sum = csum_pseudo_ipv4(src, dst, IPV4_PROTO_TCP, (uint16_t)total);
    be16_put(buf + 16, csum_finish(csum_add(sum, buf, total)));
    return hdr_len;
}

size_t tcp_emit_partial(const struct tcp_hdr *h, uint8_t *buf, size_t data_len, uint32_t src, uint32_t dst)
{
    size_t hdr_len = tcp_write_header(h, buf);
    tcp_checksum_partial(buf, hdr_len + data_len, src, dst);
    return hdr_len;
}

void tcp_checksum_partial(uint8_t *buf, size_t len, uint32_t src, uint32_t dst)
{
    /* The field holds the folded pseudo-header sum, not complemented: the device adds the rest and complements. */
    uint32_t sum = csum_pseudo_ipv4(src, dst, IPV4_PROTO_TCP, (uint16_t)len);
    be16_put(buf + 16, (uint16_t)~csum_finish(sum));
}

char *tcp_flags_format(uint8_t flags, char *buf)
{
    static const struct {
        uint8_t bit;
        const char *name;
    } names[] = {{TCP_SYN, "SYN"}, {TCP_FIN, "FIN"}, {TCP_RST, "RST"}, {TCP_PSH, "PSH"},
                 {TCP_ACK, "ACK"}, {TCP_URG, "URG"}, {TCP_ECE, "ECE"}, {TCP_CWR, "CWR"}};
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if ((flags & names[i].bit) == 0)
            continue;
        if (buf[0] != '\0')
            strcat(buf, ",");
        strcat(buf, names[i].name);
    }
    if (buf[0] == '\0')
        strcpy(buf, "none");
    return buf;
}

const char *tcp_parse_result_name(enum tcp_parse_result r)
{
    switch (r) {
    case TCP_PARSE_OK: return "ok";
    case TCP_PARSE_TRUNCATED: return "truncated";
    case TCP_PARSE_BAD_OFFSET: return "bad data offset";
    case TCP_PARSE_BAD_CHECKSUM: return "bad checksum";
    case TCP_PARSE_BAD_OPTION: return "malformed option";
    }
    return "?";
}
