/*
 * Frame builders for synthetic captures: the peer's side of a conversation,
 * including frames that are wrong on purpose. Shared by mkcaptures and the
 * harness's own tests. Every builder writes into a caller buffer of at least
 * MK_FRAME_MAX bytes and returns the length written.
 */
#ifndef TS_REPLAY_FRAMES_H
#define TS_REPLAY_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MK_FRAME_MAX 9000
#define MK_ETH_HDR 14

/* The usual cast: the peer (Linux side) and the stack. */
extern const uint8_t mk_peer_mac[6];
extern const uint8_t mk_stack_mac[6];
extern const uint8_t mk_broadcast_mac[6];
#define MK_PEER_IP 0x0a000001u  /* 10.0.0.1 */
#define MK_STACK_IP 0x0a000002u /* 10.0.0.2 */

size_t mk_eth(uint8_t *out, const uint8_t dst[6], const uint8_t src[6], uint16_t type);

/* Ethernet + ARP (RFC 826) for Ethernet/IPv4; pad_to > 42 pads the frame with zeros, as a NIC does. */
size_t mk_arp(uint8_t *out, const uint8_t eth_dst[6], uint16_t op, const uint8_t sha[6], uint32_t spa,
              const uint8_t tha[6], uint32_t tpa, size_t pad_to);

/* An IPv4 header as the generator wants it, right or wrong. Zero fields take the usual values. */
struct mk_ip {
    uint32_t src, dst;
    uint8_t proto;
    uint16_t id;
    uint8_t ttl;          /* 0 = 64 */
    bool df, mf;
    uint16_t frag_offset; /* bytes, a multiple of 8 */
    uint8_t version;      /* 0 = 4 */
    uint8_t ihl;          /* 0 = 5 + options */
    uint16_t total_length; /* 0 = header + payload */
    bool bad_checksum;    /* store the right checksum plus one */
    const uint8_t *options;
    size_t options_len;   /* a multiple of 4 */
};

/* Writes the IPv4 header and payload at out; returns their length. */
size_t mk_ipv4(uint8_t *out, const struct mk_ip *ip, const uint8_t *payload, size_t len);

/* An ICMP echo request (type 8) or reply (0) with a valid checksum. */
size_t mk_icmp_echo(uint8_t *out, uint8_t type, uint16_t id, uint16_t seq, const uint8_t *data, size_t len);

/* A UDP datagram with a valid checksum (RFC 768 pseudo header). */
size_t mk_udp(uint8_t *out, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, const uint8_t *data,
              size_t len);

/* TCP options laid out as Linux lays them out (RFC 9293 3.2, RFC 7323, RFC 2018). */
struct mk_tcp_opts {
    uint16_t mss;        /* 0 = none */
    int wscale;          /* -1 = none (0 is a valid shift, so fill this field on purpose) */
    bool sack_permitted;
    bool ts;
    uint32_t ts_val, ts_ecr;
    unsigned n_sack;     /* up to 3 with timestamps, 4 without */
    uint32_t sack[4][2]; /* [left, right) */
};

#define MK_TCP_FIN 0x01
#define MK_TCP_SYN 0x02
#define MK_TCP_RST 0x04
#define MK_TCP_PSH 0x08
#define MK_TCP_ACK 0x10

struct mk_tcp {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t window;
    struct mk_tcp_opts opt;
};

/*
 * A TCP segment with a valid checksum (RFC 9293 3.1 pseudo header). A SYN's
 * options go mss, sackOK, TS, nop, wscale (Linux's 20 bytes); other segments'
 * nop, nop, TS, then nop, nop, SACK blocks.
 */
size_t mk_tcp(uint8_t *out, uint32_t src, uint32_t dst, const struct mk_tcp *t, const uint8_t *data, size_t len);

/* RFC 1071 checksum over len bytes, starting from `sum`. */
uint16_t mk_checksum(const uint8_t *p, size_t len, uint32_t sum);

/* The echo data Linux ping and ts-ping both fill: byte i is i & 0xff (here without a timestamp). */
void mk_pattern(uint8_t *out, size_t len);

#endif
