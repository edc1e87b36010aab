/* ts-flood: a bounded generator of hostile traffic for the integration tests (ts_flood.c). */
#ifndef TS_FLOOD_H
#define TS_FLOOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum flood_mode { FLOOD_SYN, FLOOD_FRAG, FLOOD_ARP, FLOOD_BLIND_RST, FLOOD_BLIND_ACK, FLOOD_JUNK };

struct flood {
    enum flood_mode mode;
    uint64_t rng;
    uint8_t dst_mac[6];
    uint32_t dst_ip;       /* the stack under attack */
    uint16_t dst_port;
    uint32_t src_net;      /* spoofed sources come from here */
    unsigned src_prefix;
    uint32_t protect_ip;   /* never used as a spoofed source (the legitimate peer), except by blind-* */
    /* blind-*: the live connection as the peer sees it */
    uint8_t peer_mac[6];
    uint32_t peer_ip;
    uint16_t peer_port;
    uint32_t seq_next;     /* the next guess */
    uint32_t seq_step;     /* guesses spread evenly over the sequence space */
    size_t payload_len;    /* blind-ack: data bytes per segment (0: pure ACKs) */
    uint32_t frag_src;     /* frag: the datagram being sent in pieces */
    uint16_t frag_id;
};

struct flood_tcp {
    uint8_t src_mac[6];
    uint32_t src_ip;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t window;
    size_t payload_len;
};

uint64_t flood_rand(struct flood *f);
void flood_random_mac(struct flood *f, uint8_t mac[6]);
uint32_t flood_random_ip(struct flood *f, uint32_t net, unsigned prefix);
/* Each builds one Ethernet frame into frame (at least 1514 bytes) and returns its length. */
size_t flood_tcp_frame(struct flood *f, uint8_t *frame, const struct flood_tcp *t);
size_t flood_frag_frame(struct flood *f, uint8_t *frame, uint32_t src_ip, uint16_t id, unsigned index);
size_t flood_arp_frame(struct flood *f, uint8_t *frame, bool reply);
size_t flood_junk_frame(struct flood *f, uint8_t *frame);

#endif
