/* UDP headers (RFC 768). Wire code: parse and emit, no state. */
#ifndef TS_WIRE_UDP_H
#define TS_WIRE_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UDP_HDR_LEN 8

struct udp_hdr {
    uint16_t src_port;
    uint16_t dst_port;
    uint16_t length; /* header + data, as the header says */
    uint16_t checksum;
};

enum udp_parse_result {
    UDP_PARSE_OK,
    UDP_PARSE_TRUNCATED,    /* fewer than 8 bytes */
    UDP_PARSE_BAD_LENGTH,   /* length field below 8 or beyond the IP payload */
    UDP_PARSE_BAD_CHECKSUM, /* non-zero checksum that does not verify */
};

/*
 * src/dst (host order) feed the pseudo-header. RFC 768: a zero checksum means the
 * sender computed none, and is accepted. *data_len comes from the length field:
 * IP payload bytes beyond it are ignored.
 */
enum udp_parse_result udp_parse(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst, struct udp_hdr *out,
                                const uint8_t **data, size_t *data_len);
/* The same, skipping the checksum when the device vouched for it (verify_checksum false). */
enum udp_parse_result udp_parse_checked(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst,
                                        bool verify_checksum, struct udp_hdr *out, const uint8_t **data,
                                        size_t *data_len);
/* Writes the header at buf, data_len bytes of data following it, and fills the checksum. */
void udp_emit(const struct udp_hdr *h, uint8_t *buf, size_t data_len, uint32_t src, uint32_t dst);

#endif
