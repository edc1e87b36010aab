#include "wire/ipv4.h"

#include <stdio.h>

#include "wire/checksum.h"

/* RFC 791 3.1: options are type-length-value except End of Option List (0) and No Operation (1). */
static bool ipv4_options_well_formed(const uint8_t *opt, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t type = opt[i];
        if (type == 0)
            return true;
        if (type == 1) {
            i++;
            continue;
        }
        if (i + 1 >= len)
            return false;
        uint8_t olen = opt[i + 1];
        if (olen < 2 || i + olen > len)
            return false;
        i += olen;
    }
    return true;
}

enum ipv4_parse_result ipv4_parse(const uint8_t *buf, size_t len, struct ipv4_hdr *out, const uint8_t **payload,
                                  size_t *payload_len)
{
    if (len < IPV4_MIN_HDR_LEN)
        return IPV4_PARSE_TRUNCATED;
    if ((buf[0] >> 4) != 4)
        return IPV4_PARSE_BAD_VERSION;
    size_t ihl = (size_t)(buf[0] & 0x0f) * 4;
    if (ihl < IPV4_MIN_HDR_LEN || ihl > len)
        return IPV4_PARSE_BAD_HEADER_LEN;
    size_t total = be16_get(buf + 2);
    if (total < ihl || total > len)
        return IPV4_PARSE_BAD_TOTAL_LEN;
    if (CSUM_RX_FAILS(csum_finish(csum_add(0, buf, ihl))))
        return IPV4_PARSE_BAD_CHECKSUM;
    if (!ipv4_options_well_formed(buf + IPV4_MIN_HDR_LEN, ihl - IPV4_MIN_HDR_LEN))
        return IPV4_PARSE_BAD_OPTIONS;

    uint16_t flags_frag = be16_get(buf + 6);
    out->ihl = (uint8_t)ihl;
    out->tos = buf[1];
    out->total_len = (uint16_t)total;
    out->id = be16_get(buf + 4);
    out->dont_fragment = (flags_frag & IPV4_FLAG_DF) != 0;
    out->more_fragments = (flags_frag & IPV4_FLAG_MF) != 0;
    out->frag_offset = (uint16_t)((flags_frag & IPV4_FRAG_OFFSET_MASK) * 8u);
    out->ttl = buf[8];
    out->protocol = buf[9];
    out->checksum = be16_get(buf + 10);
    out->src = be32_get(buf + 12);
    out->dst = be32_get(buf + 16);
    *payload = buf + ihl;
    *payload_len = total - ihl;
    return IPV4_PARSE_OK;
}

void ipv4_emit(const struct ipv4_hdr *h, uint8_t *buf)
{
    uint16_t flags_frag = (uint16_t)((h->frag_offset / 8u) & IPV4_FRAG_OFFSET_MASK);
    if (h->dont_fragment)
        flags_frag |= IPV4_FLAG_DF;
    if (h->more_fragments)
        flags_frag |= IPV4_FLAG_MF;
    buf[0] = 0x45;
    buf[1] = h->tos;
    be16_put(buf + 2, h->total_len);
    be16_put(buf + 4, h->id);
    be16_put(buf + 6, flags_frag);
    buf[8] = h->ttl;
    buf[9] = h->protocol;
    be16_put(buf + 10, 0);
    be32_put(buf + 12, h->src);
    be32_put(buf + 16, h->dst);
    be16_put(buf + 10, csum_finish(csum_add(0, buf, IPV4_MIN_HDR_LEN)));
}

const char *ipv4_parse_result_name(enum ipv4_parse_result r)
{
    switch (r) {
    case IPV4_PARSE_OK: return "ok";
    case IPV4_PARSE_TRUNCATED: return "truncated";
    case IPV4_PARSE_BAD_VERSION: return "bad version";
    case IPV4_PARSE_BAD_HEADER_LEN: return "bad header length";
    case IPV4_PARSE_BAD_TOTAL_LEN: return "bad total length";
    case IPV4_PARSE_BAD_CHECKSUM: return "bad checksum";
    case IPV4_PARSE_BAD_OPTIONS: return "malformed options";
    }
    return "?";
}

char *ipv4_addr_format(uint32_t addr, char *buf)
{
    snprintf(buf, 16, "%u.%u.%u.%u", (addr >> 24) & 0xff, (addr >> 16) & 0xff, (addr >> 8) & 0xff, addr & 0xff);
    return buf;
}
