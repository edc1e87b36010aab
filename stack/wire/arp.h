/* ARP packets for IPv4 over Ethernet (RFC 826). Wire code: parse and emit, no state. */
#ifndef TS_WIRE_ARP_H
#define TS_WIRE_ARP_H

#include <stddef.h>
#include <stdint.h>

#define ARP_PACKET_LEN 28
#define ARP_HTYPE_ETHERNET 1
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2

struct arp_packet {
    uint16_t op;
    uint8_t sender_mac[6];
    uint32_t sender_ip; /* host order */
    uint8_t target_mac[6];
    uint32_t target_ip;
};

enum arp_parse_result {
    ARP_PARSE_OK,
    ARP_PARSE_TRUNCATED,   /* shorter than the 28 bytes of an Ethernet/IPv4 ARP packet */
    ARP_PARSE_UNSUPPORTED, /* hardware or protocol type/length other than Ethernet/IPv4 */
    ARP_PARSE_BAD_OP,      /* neither request nor reply */
};

enum arp_parse_result arp_parse(const uint8_t *buf, size_t len, struct arp_packet *out);
/* Writes 28 bytes at buf. */
void arp_emit(const struct arp_packet *p, uint8_t *buf);

#endif
