#include "wire/udp.h"

#include "wire/checksum.h"
#include "wire/ipv4.h"

enum udp_parse_result udp_parse(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst, struct udp_hdr *out,
                                const uint8_t **data, size_t *data_len)
{
    return udp_parse_checked(buf, len, src, dst, true, out, data, data_len);
}

enum udp_parse_result udp_parse_checked(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst,
                                        bool verify_checksum, struct udp_hdr *out, const uint8_t **data,
                                        size_t *data_len)
{
    if (len < UDP_HDR_LEN)
        return UDP_PARSE_TRUNCATED;
    out->src_port = be16_get(buf);
    out->dst_port = be16_get(buf + 2);
    out->length = be16_get(buf + 4);
    out->checksum = be16_get(buf + 6);
    if (out->length < UDP_HDR_LEN || out->length > len)
        return UDP_PARSE_BAD_LENGTH;
    if (out->checksum != 0 && verify_checksum) {
        uint32_t sum = csum_pseudo_ipv4(src, dst, IPV4_PROTO_UDP, out->length);
        if (CSUM_RX_FAILS(csum_finish(csum_add(sum, buf, out->length))))
            return UDP_PARSE_BAD_CHECKSUM;
    }
    *data = buf + UDP_HDR_LEN;
    *data_len = out->length - UDP_HDR_LEN;
    return UDP_PARSE_OK;
}

void udp_emit(const struct udp_hdr *h, uint8_t *buf, size_t data_len, uint32_t src, uint32_t dst)
{
    uint16_t length = (uint16_t)(UDP_HDR_LEN + data_len);
    be16_put(buf, h->src_port);
    be16_put(buf + 2, h->dst_port);
    be16_put(buf + 4, length);
    be16_put(buf + 6, 0);
    uint16_t sum = csum_finish(csum_add(csum_pseudo_ipv4(src, dst, IPV4_PROTO_UDP, length), buf, length));
    /* RFC 768: a computed checksum of zero is sent as all ones; zero means "none". */
    be16_put(buf + 6, sum == 0 ? 0xffff : sum);
}
