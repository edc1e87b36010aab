/*
 * Core test fixture: a stack whose link records every frame it sends, and
 * builders for the frames a peer would send it. No device, no threads, no
 * clock: each test passes the time it wants.
 *
 *   the stack: 10.0.0.2/24, MAC 02:00:00:00:00:02, gateway 10.0.0.1, seed 42
 *   the peer:  10.0.0.1,    MAC 02:00:00:00:00:01
 */
#ifndef TS_TEST_CORE_FIXTURE_H
#define TS_TEST_CORE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapstack/pcb.h"
#include "tapstack/stack.h"

#define FX_STACK_IP TS_IPV4(10, 0, 0, 2)
#define FX_PEER_IP TS_IPV4(10, 0, 0, 1)
#define FX_MAX_FRAMES 256

extern const uint8_t fx_stack_mac[6];
extern const uint8_t fx_peer_mac[6];

struct fx_frame {
    ts_time when;
    size_t len;
    struct ts_frame_meta meta; /* what the stack asked of an offloading link (zero on a plain one) */
    uint8_t data[65600];
};

struct fx {
    struct ts_stack *st;
    struct fx_frame *sent; /* FX_MAX_FRAMES frames, in order */
    size_t sent_count;
    size_t sent_dropped;   /* beyond FX_MAX_FRAMES */
    size_t gathered_frames; /* frames the stack handed over in parts (TS_LINK_TX_GATHER) */
    size_t gathered_parts;
    struct ts_stack_config cfg;
};

/* Creates the stack with cfg (or the defaults above if cfg is NULL); the peer is NOT in its ARP table. */
void fx_init(struct fx *f, const struct ts_stack_config *cfg);
/* The same over a link that advertises offloads (TS_LINK_*); its transmit_meta records each frame's meta
 * (and with TS_LINK_TX_GATHER, its transmit_gather joins the parts and records the frame the same way). */
void fx_init_offload(struct fx *f, const struct ts_stack_config *cfg, uint32_t offloads, size_t tso_max);
/* The default configuration, for tests that tweak one field. */
void fx_default_config(struct ts_stack_config *cfg);
/* Frees the stack and checks that no packet buffer outlived it. */
void fx_fini(struct fx *f);
/* Puts the peer in the ARP table (as if it had resolved) and forgets frames sent so far. */
void fx_learn_peer(struct fx *f, ts_time now);
void fx_clear_sent(struct fx *f);

void fx_input(struct fx *f, ts_time now, const uint8_t *frame, size_t len);

/* Frame builders: each writes a whole Ethernet frame into buf and returns its length. */
size_t fx_build_arp(uint8_t *buf, uint16_t op, const uint8_t sender_mac[6], uint32_t sender_ip,
                    const uint8_t target_mac[6], uint32_t target_ip, const uint8_t eth_dst[6]);
/* An IPv4 datagram from the peer to dst (20-byte header), payload copied after it. */
size_t fx_build_ipv4(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t protocol, uint16_t id, uint16_t frag_field,
                     const uint8_t *payload, size_t payload_len);
size_t fx_build_udp(uint8_t *buf, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, const void *data,
                    size_t len);
size_t fx_build_echo_request(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t id, uint16_t seq, const void *data,
                             size_t len);
/*
 * A TCP segment as a peer would send it. The options are laid out the way Linux lays them out
 * (MSS; SACK-permitted and timestamps; NOP + window scale; NOP NOP + SACK blocks), by code of its
 * own, and the checksum is computed here with the checksum helpers: nothing goes through the
 * stack's own TCP emitter, so a bug there cannot hide a bug in the parser.
 */
struct fx_tcp_options {
    uint16_t mss;            /* 0: no MSS option */
    bool has_wscale;
    uint8_t wscale;
    bool sack_permitted;
    bool timestamps;
    uint32_t ts_val, ts_ecr;
    unsigned sack_count;     /* up to 4 blocks (3 with timestamps) */
    uint32_t sack[4][2];     /* [left, right) */
    const uint8_t *raw;      /* when set, these option bytes (padded with EOL) replace all of the above */
    size_t raw_len;
};

struct fx_tcp_segment {
    uint32_t src, dst;       /* host order */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;           /* FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 */
    uint16_t window;
    struct fx_tcp_options opt;
    const void *data;
    size_t len;
};

/* Writes the whole Ethernet frame (IPv4, DF set, TTL 64) into buf and returns its length. */
size_t fx_build_tcp(uint8_t *buf, const struct fx_tcp_segment *seg);
/* Recomputes the IPv4 header checksum of a frame built above (after a test edits the header). */
void fx_fix_ipv4_checksum(uint8_t *frame);

/* Accessors on a sent frame. */
uint16_t fx_ethertype(const struct fx_frame *fr);
const uint8_t *fx_l3(const struct fx_frame *fr); /* after the Ethernet header */
size_t fx_l3_len(const struct fx_frame *fr);
uint64_t fx_counter(const struct fx *f, const char *name);

#endif
