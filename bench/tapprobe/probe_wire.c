/* Checksums, header parsing and building, and the ARP and ICMP answers. */
#include <stdio.h>
#include <string.h>

#include "probe.h"

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ARP_LEN 28

/*
 * RFC 1071: the ones' complement sum is independent of byte order, so the words
 * are summed as the CPU loads them and the folded result is stored back the same
 * way. 32-bit loads into a 64-bit accumulator: carries are folded once at the end.
 */
uint64_t probe_sum(const void *data, size_t len, uint64_t sum) {
  const uint8_t *b = data;
  while (len >= 4) {
    uint32_t w;
    memcpy(&w, b, 4);
    sum += w;
    b += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    memcpy(&w, b, 2);
    sum += w;
    b += 2;
    len -= 2;
  }
  if (len) {
    /* The odd byte is the first of a word whose second byte is zero, in memory order. */
    uint8_t last[2] = {b[0], 0};
    uint16_t w;
    memcpy(&w, last, 2);
    sum += w;
  }
  return sum;
}

/* The folded (not complemented) 16-bit sum, in memory order. */
uint16_t probe_fold(uint64_t sum) {
  while (sum >> 16) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return (uint16_t)sum;
}

/* RFC 9293 3.1: the pseudo-header is source, destination, zero, protocol, TCP length. */
uint64_t probe_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, size_t l4_len) {
  uint8_t ph[12];
  probe_put32(ph, src);
  probe_put32(ph + 4, dst);
  ph[8] = 0;
  ph[9] = proto;
  probe_put16(ph + 10, (uint16_t)l4_len);
  return probe_sum(ph, sizeof ph, 0);
}

static void put_checksum(uint8_t *field, uint64_t sum) {
  uint16_t c = (uint16_t)~probe_fold(sum);
  memcpy(field, &c, 2);
}

size_t probe_put_eth_ip(const struct probe *p, uint8_t *buf, const uint8_t *dst_mac, uint32_t dst, uint8_t proto,
                        size_t l4_len) {
  memcpy(buf, dst_mac, 6);
  memcpy(buf + 6, p->mac, 6);
  probe_put16(buf + 12, ETHERTYPE_IPV4);
  uint8_t *ip = buf + PROBE_ETH_LEN;
  ip[0] = 0x45;
  ip[1] = 0;
  probe_put16(ip + 2, (uint16_t)(PROBE_IP_LEN + l4_len));
  probe_put16(ip + 4, 0);
  probe_put16(ip + 6, 0x4000); /* DF: the probe never fragments */
  ip[8] = 64;
  ip[9] = proto;
  probe_put16(ip + 10, 0);
  probe_put32(ip + 12, p->opt.addr);
  probe_put32(ip + 16, dst);
  put_checksum(ip + 10, probe_sum(ip, PROBE_IP_LEN, 0));
  return PROBE_ETH_LEN + PROBE_IP_LEN;
}

/*
 * Locates the IPv4 and transport headers of a frame addressed to our address. The
 * checksums are not verified: the frames come from the local kernel through a TAP,
 * and the probe measures the path, not a stack's checks.
 */
bool probe_parse_ipv4(const struct probe *p, const uint8_t *frame, size_t len, struct probe_pkt *out) {
  if (len < PROBE_ETH_LEN + PROBE_IP_LEN || probe_get16(frame + 12) != ETHERTYPE_IPV4) {
    return false;
  }
  const uint8_t *ip = frame + PROBE_ETH_LEN;
  size_t hlen = (size_t)(ip[0] & 0x0f) * 4;
  size_t avail = len - PROBE_ETH_LEN;
  size_t total = probe_get16(ip + 2);
  /* A GSO frame longer than 64 KB would carry 0 here; the frame's length then rules. */
  if (total == 0 || total > avail) {
    total = avail;
  }
  if ((ip[0] >> 4) != 4 || hlen < PROBE_IP_LEN || hlen > total) {
    return false;
  }
  out->dst = probe_get32(ip + 16);
  if (out->dst != p->opt.addr) {
    return false;
  }
  out->eth = frame;
  out->ip = ip;
  out->src = probe_get32(ip + 12);
  out->proto = ip[9];
  out->frag = probe_get16(ip + 6);
  out->l4 = ip + hlen;
  out->l4_len = total - hlen;
  return true;
}

static void parse_tcp_options(const uint8_t *opt, size_t len, struct probe_seg *out) {
  size_t i = 0;
  while (i < len) {
    uint8_t kind = opt[i];
    if (kind == 0) {
      return;
    }
    if (kind == 1) {
      i++;
      continue;
    }
    if (i + 1 >= len || opt[i + 1] < 2 || i + opt[i + 1] > len) {
      return; /* malformed: stop reading, keep what we have */
    }
    uint8_t olen = opt[i + 1];
    if (kind == 2 && olen == 4) {
      out->opt_mss = probe_get16(opt + i + 2);
    } else if (kind == 3 && olen == 3) {
      out->opt_ws = opt[i + 2] > 14 ? 14 : opt[i + 2]; /* RFC 7323 2.3: at most 14 */
    }
    i += olen;
  }
}

bool probe_parse_tcp(const struct probe_pkt *pkt, struct probe_seg *out) {
  const uint8_t *t = pkt->l4;
  if (pkt->l4_len < PROBE_TCP_LEN || (pkt->frag & 0x3fff) != 0) {
    return false;
  }
  size_t doff = (size_t)(t[12] >> 4) * 4;
  if (doff < PROBE_TCP_LEN || doff > pkt->l4_len) {
    return false;
  }
  out->sport = probe_get16(t);
  out->dport = probe_get16(t + 2);
  out->seq = probe_get32(t + 4);
  out->ack = probe_get32(t + 8);
  out->flags = t[13];
  out->win = probe_get16(t + 14);
  out->payload = t + doff;
  out->len = pkt->l4_len - doff;
  out->opt_mss = 0;
  out->opt_ws = -1;
  if (doff > PROBE_TCP_LEN && (out->flags & TCP_SYN)) {
    parse_tcp_options(t + PROBE_TCP_LEN, doff - PROBE_TCP_LEN, out);
  }
  return true;
}

static int send_arp(struct probe *p, uint16_t op, const uint8_t *dst_mac, const uint8_t *target_mac, uint32_t target) {
  uint8_t f[PROBE_ETH_LEN + ARP_LEN];
  memcpy(f, dst_mac, 6);
  memcpy(f + 6, p->mac, 6);
  probe_put16(f + 12, ETHERTYPE_ARP);
  uint8_t *a = f + PROBE_ETH_LEN;
  probe_put16(a, 1);          /* Ethernet */
  probe_put16(a + 2, 0x0800); /* IPv4 */
  a[4] = 6;
  a[5] = 4;
  probe_put16(a + 6, op);
  memcpy(a + 8, p->mac, 6);
  probe_put32(a + 14, p->opt.addr);
  memcpy(a + 18, target_mac, 6);
  probe_put32(a + 24, target);
  return probe_tap_write(p, NULL, f, sizeof f, NULL, 0);
}

int probe_send_arp_request(struct probe *p, uint32_t target) {
  static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  static const uint8_t unknown[6];
  return send_arp(p, 1, broadcast, unknown, target);
}

/* RFC 826: answer a request for our address; remember the peer's MAC from anything it says. */
bool probe_handle_arp(struct probe *p, const uint8_t *frame, size_t len) {
  if (len < PROBE_ETH_LEN || probe_get16(frame + 12) != ETHERTYPE_ARP) {
    return false;
  }
  const uint8_t *a = frame + PROBE_ETH_LEN;
  if (len < PROBE_ETH_LEN + ARP_LEN || probe_get16(a) != 1 || probe_get16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4) {
    p->st.drops++;
    return true;
  }
  uint16_t op = probe_get16(a + 6);
  uint32_t sender = probe_get32(a + 14);
  uint32_t target = probe_get32(a + 24);
  if (p->opt.have_peer && sender == p->opt.peer) {
    memcpy(p->peer_mac, a + 8, 6);
    p->peer_mac_known = true;
  }
  if (op == 1 && target == p->opt.addr) {
    send_arp(p, 2, a + 8, a + 8, sender);
  }
  return true;
}

/* RFC 792: an echo reply carries the request's identifier, sequence number and data back. */
void probe_handle_icmp(struct probe *p, const struct probe_pkt *pkt) {
  if (pkt->l4_len < 8 || pkt->l4[0] != 8 || (pkt->frag & 0x3fff) != 0 || pkt->l4_len > 1500) {
    p->st.drops++;
    return;
  }
  uint8_t f[PROBE_ETH_LEN + PROBE_IP_LEN + 1500];
  size_t off = probe_put_eth_ip(p, f, pkt->eth + 6, pkt->src, PROBE_PROTO_ICMP, pkt->l4_len);
  uint8_t *icmp = f + off;
  memcpy(icmp, pkt->l4, pkt->l4_len);
  icmp[0] = 0;
  icmp[1] = 0;
  icmp[2] = 0;
  icmp[3] = 0;
  put_checksum(icmp + 2, probe_sum(icmp, pkt->l4_len, 0));
  probe_tap_write(p, NULL, f, off + pkt->l4_len, NULL, 0);
}
