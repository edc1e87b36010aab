#include "wire/arp.h"

#include <string.h>

#include "wire/checksum.h"
#include "wire/ethernet.h"

enum arp_parse_result arp_parse(const uint8_t *buf, size_t len, struct arp_packet *out)
{
    if (len < ARP_PACKET_LEN)
        return ARP_PARSE_TRUNCATED;
    /* RFC 826: hardware type, protocol type, and their address lengths must be ours. */
    if (be16_get(buf) != ARP_HTYPE_ETHERNET || be16_get(buf + 2) != ETHERTYPE_IPV4 || buf[4] != 6 || buf[5] != 4)
        return ARP_PARSE_UNSUPPORTED;
    out->op = be16_get(buf + 6);
    if (out->op != ARP_OP_REQUEST && out->op != ARP_OP_REPLY)
        return ARP_PARSE_BAD_OP;
    memcpy(out->sender_mac, buf + 8, 6);
    out->sender_ip = be32_get(buf + 14);
    memcpy(out->target_mac, buf + 18, 6);
    out->target_ip = be32_get(buf + 24);
    return ARP_PARSE_OK;
}

void arp_emit(const struct arp_packet *p, uint8_t *buf)
{
    be16_put(buf, ARP_HTYPE_ETHERNET);
    be16_put(buf + 2, ETHERTYPE_IPV4);
    buf[4] = 6;
    buf[5] = 4;
    be16_put(buf + 6, p->op);
    memcpy(buf + 8, p->sender_mac, 6);
    be32_put(buf + 14, p->sender_ip);
    memcpy(buf + 18, p->target_mac, 6);
    be32_put(buf + 24, p->target_ip);
}
