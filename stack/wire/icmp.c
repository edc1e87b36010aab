#include "wire/icmp.h"

#include "wire/checksum.h"

enum icmp_parse_result icmp_parse(const uint8_t *buf, size_t len, struct icmp_hdr *out, const uint8_t **body,
                                  size_t *body_len)
{
    if (len < ICMP_HDR_LEN)
        return ICMP_PARSE_TRUNCATED;
    if (CSUM_RX_FAILS(csum_finish(csum_add(0, buf, len))))
        return ICMP_PARSE_BAD_CHECKSUM;
    out->type = buf[0];
    out->code = buf[1];
    out->checksum = be16_get(buf + 2);
    out->rest = be32_get(buf + 4);
    *body = buf + ICMP_HDR_LEN;
    *body_len = len - ICMP_HDR_LEN;
    return ICMP_PARSE_OK;
}

void icmp_emit(const struct icmp_hdr *h, uint8_t *buf, size_t body_len)
{
    buf[0] = h->type;
    buf[1] = h->code;
    be16_put(buf + 2, 0);
    be32_put(buf + 4, h->rest);
    be16_put(buf + 2, csum_finish(csum_add(0, buf, ICMP_HDR_LEN + body_len)));
}

bool icmp_type_is_error(uint8_t type)
{
    return type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH || type == ICMP_REDIRECT ||
           type == ICMP_TIME_EXCEEDED || type == ICMP_PARAM_PROBLEM;
}

const char *icmp_type_name(uint8_t type)
{
    switch (type) {
    case ICMP_ECHO_REPLY: return "echo reply";
    case ICMP_DEST_UNREACH: return "destination unreachable";
    case ICMP_SOURCE_QUENCH: return "source quench";
    case ICMP_REDIRECT: return "redirect";
    case ICMP_ECHO_REQUEST: return "echo request";
    case ICMP_TIME_EXCEEDED: return "time exceeded";
    case ICMP_PARAM_PROBLEM: return "parameter problem";
    default: return "other";
    }
}
