#include "wire/checksum.h"
#include "tapstack/stack.h"

uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t acc = sum;
    while (len >= 2) {
        acc += (uint32_t)((p[0] << 8) | p[1]);
        p += 2;
        len -= 2;
    }
    /* RFC 1071 4.1: an odd trailing byte is padded with a zero byte on the right. */
    if (len == 1)
        acc += (uint32_t)(p[0] << 8);
    while (acc >> 32)
        acc = (acc & 0xffffffffu) + (acc >> 32);
    return (uint32_t)acc;
}

uint16_t csum_finish(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)~sum;
}

uint32_t csum_pseudo_ipv4(uint32_t src, uint32_t dst, uint8_t protocol, uint16_t length)
{
    uint8_t pseudo[12];
    be32_put(pseudo, src);
    be32_put(pseudo + 4, dst);
    pseudo[8] = 0;
    pseudo[9] = protocol;
    be16_put(pseudo + 10, length);
    return csum_add(0, pseudo, sizeof pseudo);
}

/* The public face of the two above, for devices (tapstack/stack.h). */
uint16_t ts_inet_checksum(const void *data, size_t len)
{
    return csum_finish(csum_add(0, data, len));
}
