/* The Internet checksum (RFC 1071) and the IPv4 pseudo-header sum (RFC 768, RFC 9293 3.1). */
#ifndef TS_WIRE_CHECKSUM_H
#define TS_WIRE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Adds len bytes to a running 32-bit one's-complement accumulator (big-endian 16-bit words). */
uint32_t csum_add(uint32_t sum, const void *data, size_t len);
/* Folds the accumulator to 16 bits and complements it: the value to put in a checksum field. */
uint16_t csum_finish(uint32_t sum);
/* The pseudo-header of RFC 768 / RFC 9293 3.1: source, destination, zero, protocol, length. */
uint32_t csum_pseudo_ipv4(uint32_t src, uint32_t dst, uint8_t protocol, uint16_t length);

/*
 * Fuzz builds (-DTS_FUZZ_SKIP_CHECKSUMS) accept any received checksum, so a
 * fuzzer's mutations reach the code behind the checksum checks instead of
 * dying at them. Never set in a library build.
 */
#ifdef TS_FUZZ_SKIP_CHECKSUMS
#define CSUM_RX_FAILS(expr) ((void)(expr), 0)
#else
#define CSUM_RX_FAILS(expr) ((expr) != 0)
#endif

/* Reads and writes big-endian fields without alignment assumptions. */
static inline uint16_t be16_get(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t be32_get(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void be16_put(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif
