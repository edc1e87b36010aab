/* TCP headers and options (RFC 9293 3.1, RFC 7323, RFC 2018). Wire code: parse and emit, no state. */
#ifndef TS_WIRE_TCP_H
#define TS_WIRE_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TCP_MIN_HDR_LEN 20
#define TCP_MAX_HDR_LEN 60
#define TCP_MAX_SACK_BLOCKS 4

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

struct tcp_sack_block {
    uint32_t left, right; /* [left, right) in sequence space */
};

/* The options we understand; anything else is skipped by its length. */
struct tcp_options {
    bool has_mss;
    uint16_t mss;
    bool has_wscale;
    uint8_t wscale;        /* as sent; the receiver clamps to 14 (RFC 7323 2.3) */
    bool sack_permitted;
    bool has_timestamps;
    uint32_t ts_val, ts_ecr;
    uint8_t sack_count;
    struct tcp_sack_block sack[TCP_MAX_SACK_BLOCKS];
};

struct tcp_hdr {
    uint16_t src_port;
    uint16_t dst_port;
    uint32_t seq;
    uint32_t ack;
    uint8_t data_offset; /* header length in bytes (20..60) */
    uint8_t flags;       /* TCP_FIN ... TCP_CWR */
    uint16_t window;     /* as on the wire: not yet scaled */
    uint16_t checksum;
    uint16_t urgent;
    struct tcp_options opt;
};

enum tcp_parse_result {
    TCP_PARSE_OK,
    TCP_PARSE_TRUNCATED,      /* fewer than 20 bytes */
    TCP_PARSE_BAD_OFFSET,     /* data offset below 5 or beyond the segment */
    TCP_PARSE_BAD_CHECKSUM,
    TCP_PARSE_BAD_OPTION,     /* an option of length 0 or 1, running past the header, or a known
                                 option with the wrong length (a truncated MSS, window scale,
                                 timestamp or SACK option) */
};

/*
 * src/dst (host order) feed the pseudo-header. *data points after the header,
 * *data_len = len - data_offset. Unknown options are skipped by their length;
 * known ones are checked for their exact lengths (RFC 9293 3.2: MUST-64 asks
 * to cope with any option, MUST-68 to handle an illegal length safely).
 */
enum tcp_parse_result tcp_parse(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst, struct tcp_hdr *out,
                                const uint8_t **data, size_t *data_len);
/* The same, skipping the checksum when verify_checksum is false: only for a segment whose device
 * vouched for it (struct ts_frame_meta); everything else is parsed by tcp_parse. */
enum tcp_parse_result tcp_parse_checked(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst,
                                        bool verify_checksum, struct tcp_hdr *out, const uint8_t **data,
                                        size_t *data_len);
/* Writes only the pseudo-header sum into the checksum field of the header at buf (len bytes of
 * header and data): what a device that completes checksums (TS_FRAME_CSUM_PARTIAL) expects. */
void tcp_checksum_partial(uint8_t *buf, size_t len, uint32_t src, uint32_t dst);
/* tcp_emit for a device that completes the checksum: the field gets the pseudo-header sum only. */
size_t tcp_emit_partial(const struct tcp_hdr *h, uint8_t *buf, size_t data_len, uint32_t src, uint32_t dst);
/* Where the checksum field sits in a TCP header. */
#define TCP_CSUM_OFFSET 16
/* RFC 9293 3.1: the data offset allows at most 40 bytes of options. */
#define TCP_MAX_OPTIONS_LEN 40

/* Bytes the options in h->opt take on the wire (padded to a multiple of 4). */
size_t tcp_options_len(const struct tcp_options *opt);
/*
 * Writes the header with h->opt's options at buf (data_len bytes of data must
 * already follow it at buf + 20 + tcp_options_len) and fills the checksum.
 * Returns the header length. h->data_offset is ignored (computed).
 */
size_t tcp_emit(const struct tcp_hdr *h, uint8_t *buf, size_t data_len, uint32_t src, uint32_t dst);

/* "SYN,ACK" style names for traces; buf of at least 32 bytes. */
char *tcp_flags_format(uint8_t flags, char *buf);
const char *tcp_parse_result_name(enum tcp_parse_result r);

#endif
