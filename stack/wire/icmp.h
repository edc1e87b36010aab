/* ICMP messages (RFC 792). Wire code: parse and emit, no state. */
#ifndef TS_WIRE_ICMP_H
#define TS_WIRE_ICMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ICMP_HDR_LEN 8
#define ICMP_ECHO_REPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_SOURCE_QUENCH 4
#define ICMP_REDIRECT 5
#define ICMP_ECHO_REQUEST 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAM_PROBLEM 12

#define ICMP_UNREACH_NET 0
#define ICMP_UNREACH_HOST 1
#define ICMP_UNREACH_PROTOCOL 2
#define ICMP_UNREACH_PORT 3
#define ICMP_UNREACH_FRAG_NEEDED 4
#define ICMP_TIME_EXCEEDED_TTL 0
#define ICMP_TIME_EXCEEDED_REASSEMBLY 1

struct icmp_hdr {
    uint8_t type;
    uint8_t code;
    uint16_t checksum;
    uint32_t rest; /* echo: identifier << 16 | sequence; frag-needed: next-hop MTU in the low 16 bits;
                      parameter problem: pointer in the top 8 bits */
};

enum icmp_parse_result {
    ICMP_PARSE_OK,
    ICMP_PARSE_TRUNCATED,    /* shorter than the 8-byte header */
    ICMP_PARSE_BAD_CHECKSUM, /* over the whole message */
};

/* Checks the checksum over all len bytes; *body points after the 8-byte header. */
enum icmp_parse_result icmp_parse(const uint8_t *buf, size_t len, struct icmp_hdr *out, const uint8_t **body,
                                  size_t *body_len);
/* Writes the header at buf and fills the checksum over header + the body_len bytes that follow it. */
void icmp_emit(const struct icmp_hdr *h, uint8_t *buf, size_t body_len);

static inline uint16_t icmp_echo_id(const struct icmp_hdr *h) { return (uint16_t)(h->rest >> 16); }
static inline uint16_t icmp_echo_seq(const struct icmp_hdr *h) { return (uint16_t)h->rest; }
bool icmp_type_is_error(uint8_t type);
const char *icmp_type_name(uint8_t type);

#endif
