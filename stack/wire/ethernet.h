/* Ethernet II framing (IEEE 802.3 with the DIX type field). Wire code: parse and emit, no state. */
#ifndef TS_WIRE_ETHERNET_H
#define TS_WIRE_ETHERNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETH_HDR_LEN 14
#define ETH_ADDR_LEN 6
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_IPV6 0x86dd

struct eth_hdr {
    uint8_t dst[ETH_ADDR_LEN];
    uint8_t src[ETH_ADDR_LEN];
    uint16_t ethertype;
};

/* Returns false if the frame cannot hold an Ethernet header. *payload_len = len - 14 (padding included). */
bool eth_parse(const uint8_t *frame, size_t len, struct eth_hdr *out, const uint8_t **payload, size_t *payload_len);
/* Writes the 14-byte header at buf. */
void eth_emit(const struct eth_hdr *h, uint8_t *buf);

bool eth_addr_is_broadcast(const uint8_t mac[ETH_ADDR_LEN]);
bool eth_addr_is_multicast(const uint8_t mac[ETH_ADDR_LEN]); /* group bit: broadcast included */
bool eth_addr_equal(const uint8_t a[ETH_ADDR_LEN], const uint8_t b[ETH_ADDR_LEN]);
extern const uint8_t eth_broadcast_addr[ETH_ADDR_LEN];

#endif
