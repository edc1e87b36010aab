/* IPv4 headers (RFC 791). Wire code: parse and emit, no state. Addresses in host order. */
#ifndef TS_WIRE_IPV4_H
#define TS_WIRE_IPV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPV4_MIN_HDR_LEN 20
#define IPV4_MAX_HDR_LEN 60
#define IPV4_MAX_DATAGRAM 65535
#define IPV4_PROTO_ICMP 1
#define IPV4_PROTO_TCP 6
#define IPV4_PROTO_UDP 17
#define IPV4_FLAG_DF 0x4000
#define IPV4_FLAG_MF 0x2000
#define IPV4_FRAG_OFFSET_MASK 0x1fff
#define IPV4_BROADCAST 0xffffffffu

struct ipv4_hdr {
    uint8_t ihl;           /* header length in bytes (20..60) */
    uint8_t tos;
    uint16_t total_len;    /* header + data, as the header says */
    uint16_t id;
    bool dont_fragment;
    bool more_fragments;
    uint16_t frag_offset;  /* in bytes (the field times 8) */
    uint8_t ttl;
    uint8_t protocol;
    uint16_t checksum;
    uint32_t src;
    uint32_t dst;
};

enum ipv4_parse_result {
    IPV4_PARSE_OK,
    IPV4_PARSE_TRUNCATED,        /* fewer than 20 bytes */
    IPV4_PARSE_BAD_VERSION,      /* version field is not 4 */
    IPV4_PARSE_BAD_HEADER_LEN,   /* IHL < 5, or the header runs past the data */
    IPV4_PARSE_BAD_TOTAL_LEN,    /* total length below the header length or beyond the data */
    IPV4_PARSE_BAD_CHECKSUM,
    IPV4_PARSE_BAD_OPTIONS,      /* an option's length runs past the header or is below 2 */
};

/*
 * Checks everything a host must check before believing a header (RFC 1122 3.2.1.1-2):
 * version, IHL, total length against the bytes that arrived, checksum, and that the
 * options are well formed (they are skipped, never acted on). On success *payload
 * points after the header and *payload_len = total_len - ihl: link-layer padding
 * beyond the total length is trimmed here.
 */
enum ipv4_parse_result ipv4_parse(const uint8_t *buf, size_t len, struct ipv4_hdr *out, const uint8_t **payload,
                                  size_t *payload_len);
/* Writes a 20-byte header (no options) with its checksum computed at buf. */
void ipv4_emit(const struct ipv4_hdr *h, uint8_t *buf);
const char *ipv4_parse_result_name(enum ipv4_parse_result r);

/* Formats a host-order address as dotted quad into buf (at least 16 bytes); returns buf. */
char *ipv4_addr_format(uint32_t addr, char *buf);

#endif
