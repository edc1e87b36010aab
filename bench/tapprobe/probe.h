/*
 * ts-tapprobe: the raw TAP ceiling. A program that moves frames through a TAP
 * device and answers just enough ARP, ICMP and TCP for a kernel peer to talk to
 * it, with no stack behind it: what it reaches is the limit of the I/O path
 * (one frame per read()/write() syscall, with or without IFF_VNET_HDR offloads).
 *
 * Self-contained on purpose (no tapstack code): it must do as little work per
 * frame as possible, and measure the path, not a stack.
 *
 * probe_main.c   options, signals, the receive loop, the JSON summary
 * probe_tap.c    opening the TAP (flags, vnet header, offloads), frame I/O
 * probe_wire.c   checksums, header parsing and building, ARP and ICMP answers
 * probe_tcp.c    segment emission, the sink/echo listener and its flow table
 * probe_source.c the source mode: one connection sending as fast as allowed
 */
#ifndef TAPPROBE_PROBE_H
#define TAPPROBE_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <linux/virtio_net.h>

enum probe_mode { PROBE_SINK, PROBE_SOURCE, PROBE_ECHO, PROBE_UDP_SINK };

#define PROBE_MAX_FLOWS 64
/* Out-of-order ranges a sink flow remembers; beyond that, new ones are dropped. */
#define PROBE_OOO_RANGES 8
/* A GSO frame from the kernel is at most 64 KB plus headers; room to spare. */
#define PROBE_RX_BUF (256 * 1024)
#define PROBE_ETH_LEN 14
#define PROBE_IP_LEN 20
#define PROBE_TCP_LEN 20
/* Ethernet + IPv4 + TCP with MSS and window-scale options (8 bytes, padded). */
#define PROBE_HDR_MAX (PROBE_ETH_LEN + PROBE_IP_LEN + PROBE_TCP_LEN + 8)
/* The largest TCP payload one IPv4 datagram can carry (65535 - 20 - 20). */
#define PROBE_GSO_PAYLOAD_MAX 65495u
#define PROBE_WS_SHIFT 7
#define PROBE_PROTO_ICMP 1
#define PROBE_PROTO_TCP 6
#define PROBE_PROTO_UDP 17

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

/* Sequence comparisons through a signed difference: correct across wraparound. */
#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) >= 0)

struct probe_options {
  const char *dev;
  uint32_t addr; /* host order */
  uint32_t peer; /* host order, source mode */
  bool have_peer;
  bool vnet;
  enum probe_mode mode;
  int port;        /* -1: any port (sink, echo, udp-sink) */
  double duration; /* seconds; 0: none */
  uint64_t bytes;  /* 0: none */
  uint16_t mss;
};

/* An IPv4 frame addressed to us, headers located and lengths checked once. */
struct probe_pkt {
  const uint8_t *eth;
  const uint8_t *ip;
  const uint8_t *l4;
  size_t l4_len;
  uint32_t src; /* host order */
  uint32_t dst;
  uint8_t proto;
  uint16_t frag; /* flags and fragment offset field */
};

struct probe_seg {
  uint16_t sport, dport;
  uint32_t seq, ack;
  uint8_t flags;
  uint16_t win;
  const uint8_t *payload;
  size_t len;
  uint16_t opt_mss; /* 0: absent */
  int opt_ws;       /* -1: absent */
};

enum probe_flow_state { FLOW_FREE, FLOW_SYN_SENT, FLOW_SYN_RCVD, FLOW_ESTABLISHED, FLOW_LAST_ACK, FLOW_FIN_WAIT };

struct probe_flow {
  enum probe_flow_state state;
  uint32_t peer_addr;
  uint16_t peer_port, local_port;
  uint8_t peer_mac[6];
  uint32_t iss, irs;
  uint32_t snd_una, snd_nxt, snd_max, rcv_nxt;
  uint32_t snd_wnd;
  uint8_t peer_ws;
  bool ws_ok;   /* RFC 7323 2.2: both SYNs carried the option */
  uint16_t mss; /* the smaller of ours and the peer's */
  /*
   * Sink only: sequence ranges that arrived above rcv_nxt (the bytes themselves are
   * discarded anyway). When the hole below them fills, rcv_nxt jumps over them, so
   * one retransmission repairs a loss instead of the whole window being sent again.
   */
  struct { uint32_t start, end; } ooo[PROBE_OOO_RANGES];
  unsigned n_ooo;
};

struct probe_stats {
  uint64_t bytes;
  uint64_t frames_rx, frames_tx;
  uint64_t connections;
  uint64_t datagrams;
  uint64_t drops; /* frames we could not use: not for us, malformed, table full */
  int64_t first_data_ns, last_data_ns;
};

struct probe {
  struct probe_options opt;
  int fd;
  size_t vnet_len; /* 0 or sizeof(struct virtio_net_hdr) */
  uint8_t mac[6];
  uint8_t peer_mac[6]; /* source mode: learnt by ARP */
  bool peer_mac_known;
  uint32_t iss_seed;
  struct probe_stats st;
  struct probe_flow flows[PROBE_MAX_FLOWS];
  unsigned last_flow;
  uint8_t rx[PROBE_RX_BUF];
};

/* Set by SIGINT/SIGTERM. */
extern volatile int probe_stop_requested;

int64_t probe_now_ns(void);
void probe_note_data(struct probe *p, size_t len);

/* probe_tap.c */
int probe_tap_open(struct probe *p);
/* Reads one frame; 1 with *frame and *len set, 0 when nothing (EAGAIN/EINTR), -1 on error. */
int probe_tap_read(struct probe *p, const uint8_t **frame, size_t *len);
/* Writes headers + payload as one frame, preceded by *vh when the vnet header is on. */
int probe_tap_write(struct probe *p, const struct virtio_net_hdr *vh, const uint8_t *hdr, size_t hdr_len,
                    const uint8_t *payload, size_t payload_len);

/* probe_wire.c */
static inline uint16_t probe_get16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }
static inline uint32_t probe_get32(const uint8_t *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}
static inline void probe_put16(uint8_t *b, uint16_t v) {
  b[0] = (uint8_t)(v >> 8);
  b[1] = (uint8_t)v;
}
static inline void probe_put32(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)(v >> 24);
  b[1] = (uint8_t)(v >> 16);
  b[2] = (uint8_t)(v >> 8);
  b[3] = (uint8_t)v;
}
uint64_t probe_sum(const void *data, size_t len, uint64_t sum);
uint16_t probe_fold(uint64_t sum);
uint64_t probe_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, size_t l4_len);
size_t probe_put_eth_ip(const struct probe *p, uint8_t *buf, const uint8_t *dst_mac, uint32_t dst, uint8_t proto,
                        size_t l4_len);
bool probe_parse_ipv4(const struct probe *p, const uint8_t *frame, size_t len, struct probe_pkt *out);
bool probe_parse_tcp(const struct probe_pkt *pkt, struct probe_seg *out);
/* Answers ARP requests for our address, learns the peer's MAC from replies; true if it was ARP. */
bool probe_handle_arp(struct probe *p, const uint8_t *frame, size_t len);
int probe_send_arp_request(struct probe *p, uint32_t target);
void probe_handle_icmp(struct probe *p, const struct probe_pkt *pkt);

/* probe_tcp.c */
/* payload_sum: the payload's probe_sum() if the caller has it cached, else NULL. */
int probe_tcp_emit(struct probe *p, const struct probe_flow *f, uint32_t seq, uint8_t flags, const uint8_t *payload,
                   size_t len, const uint64_t *payload_sum);
int probe_tcp_reset_for(struct probe *p, const struct probe_pkt *pkt, const struct probe_seg *seg);
void probe_listener_input(struct probe *p, const struct probe_pkt *pkt);
size_t probe_open_flows(const struct probe *p);

/* probe_source.c */
int probe_source_run(struct probe *p);

#endif
