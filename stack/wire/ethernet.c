#include "wire/ethernet.h"

#include <string.h>

#include "wire/checksum.h"

const uint8_t eth_broadcast_addr[ETH_ADDR_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

bool eth_parse(const uint8_t *frame, size_t len, struct eth_hdr *out, const uint8_t **payload, size_t *payload_len)
{
    if (frame == NULL || len < ETH_HDR_LEN)
        return false;
    memcpy(out->dst, frame, ETH_ADDR_LEN);
    memcpy(out->src, frame + 6, ETH_ADDR_LEN);
    out->ethertype = be16_get(frame + 12);
    *payload = frame + ETH_HDR_LEN;
    *payload_len = len - ETH_HDR_LEN;
    return true;
}

void eth_emit(const struct eth_hdr *h, uint8_t *buf)
{
    memcpy(buf, h->dst, ETH_ADDR_LEN);
    memcpy(buf + 6, h->src, ETH_ADDR_LEN);
    be16_put(buf + 12, h->ethertype);
}

bool eth_addr_is_broadcast(const uint8_t mac[ETH_ADDR_LEN])
{
    return memcmp(mac, eth_broadcast_addr, ETH_ADDR_LEN) == 0;
}

bool eth_addr_is_multicast(const uint8_t mac[ETH_ADDR_LEN])
{
    return (mac[0] & 0x01) != 0;
}

bool eth_addr_equal(const uint8_t a[ETH_ADDR_LEN], const uint8_t b[ETH_ADDR_LEN])
{
    return memcmp(a, b, ETH_ADDR_LEN) == 0;
}
