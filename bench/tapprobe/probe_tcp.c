/*
 * TCP for the probe: emitting a segment, and the sink/echo listener. The listener
 * keeps a small flow table and does the least TCP a kernel peer accepts: SYN-ACK,
 * an ACK (or the echoed payload) for in-order data, a re-ACK of the old point for
 * anything else (no retransmission; the sink remembers out-of-order ranges, without
 * their bytes, so a lost frame costs one retransmission), FIN answered with FIN-ACK.
 */
#include <stdio.h>
#include <string.h>

#include "probe.h"

/* The window we always offer: 65535 << 7, about 8 MB; the bytes are discarded anyway. */
#define PROBE_WINDOW 65535u

int probe_tcp_emit(struct probe *p, const struct probe_flow *f, uint32_t seq, uint8_t flags, const uint8_t *payload,
                   size_t len, const uint64_t *payload_sum) {
  uint8_t h[PROBE_HDR_MAX];
  bool syn = (flags & TCP_SYN) != 0;
  size_t thlen = PROBE_TCP_LEN + (syn ? 8 : 0);
  size_t off = probe_put_eth_ip(p, h, f->peer_mac, f->peer_addr, PROBE_PROTO_TCP, thlen + len);
  uint8_t *t = h + off;
  probe_put16(t, f->local_port);
  probe_put16(t + 2, f->peer_port);
  probe_put32(t + 4, seq);
  probe_put32(t + 8, (flags & TCP_ACK) ? f->rcv_nxt : 0);
  t[12] = (uint8_t)((thlen / 4) << 4);
  t[13] = flags;
  /* RFC 7323 2.2: the window in a SYN is never scaled; 65535 is the most it can say. */
  probe_put16(t + 14, (uint16_t)PROBE_WINDOW);
  probe_put16(t + 16, 0);
  probe_put16(t + 18, 0);
  if (syn) {
    /* MSS, then (if the peer offered it or we are opening) window scale; no SACK, no timestamps. */
    t[20] = 2;
    t[21] = 4;
    probe_put16(t + 22, f->mss);
    t[24] = 1;
    t[25] = f->ws_ok ? 3 : 1;
    t[26] = f->ws_ok ? 3 : 1;
    t[27] = f->ws_ok ? PROBE_WS_SHIFT : 1;
  }
  uint64_t sum = probe_pseudo_sum(p->opt.addr, f->peer_addr, PROBE_PROTO_TCP, thlen + len);
  struct virtio_net_hdr vh;
  memset(&vh, 0, sizeof vh);
  if (p->vnet_len) {
    /*
     * The kernel finishes the checksum: the field holds the folded pseudo-header sum
     * (not complemented) and the header says where the sum starts and goes. A payload
     * longer than the MSS goes as one GSO frame that the kernel treats as MSS segments.
     */
    uint16_t partial = probe_fold(sum);
    memcpy(t + 16, &partial, 2);
    vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vh.csum_start = (uint16_t)off;
    vh.csum_offset = 16;
    if (len > f->mss) {
      vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
      vh.gso_size = f->mss;
      vh.hdr_len = (uint16_t)(off + thlen);
    }
  } else {
    sum = probe_sum(t, thlen, sum);
    sum = payload_sum ? sum + *payload_sum : probe_sum(payload, len, sum);
    uint16_t c = (uint16_t)~probe_fold(sum);
    memcpy(t + 16, &c, 2);
  }
  return probe_tap_write(p, &vh, h, off + thlen, payload, len);
}

/* RFC 9293 3.10.7.1: a segment for no connection gets a reset that the sender will accept. */
int probe_tcp_reset_for(struct probe *p, const struct probe_pkt *pkt, const struct probe_seg *seg) {
  if (seg->flags & TCP_RST) {
    return 0;
  }
  struct probe_flow f;
  memset(&f, 0, sizeof f);
  f.peer_addr = pkt->src;
  f.peer_port = seg->sport;
  f.local_port = seg->dport;
  memcpy(f.peer_mac, pkt->eth + 6, 6);
  f.mss = p->opt.mss;
  if (seg->flags & TCP_ACK) {
    return probe_tcp_emit(p, &f, seg->ack, TCP_RST, NULL, 0, NULL);
  }
  f.rcv_nxt = seg->seq + (uint32_t)seg->len + ((seg->flags & TCP_SYN) ? 1u : 0u) + ((seg->flags & TCP_FIN) ? 1u : 0u);
  return probe_tcp_emit(p, &f, 0, TCP_RST | TCP_ACK, NULL, 0, NULL);
}

static uint32_t next_iss(struct probe *p) {
  /* xorshift32 over a seed mixed with the clock: unpredictable enough for a benchmark. */
  uint32_t x = p->iss_seed ^ (uint32_t)probe_now_ns();
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  p->iss_seed = x;
  return x;
}

static struct probe_flow *find_flow(struct probe *p, uint32_t addr, uint16_t peer_port, uint16_t local_port) {
  struct probe_flow *f = &p->flows[p->last_flow];
  if (f->state != FLOW_FREE && f->peer_addr == addr && f->peer_port == peer_port && f->local_port == local_port) {
    return f;
  }
  for (unsigned i = 0; i < PROBE_MAX_FLOWS; i++) {
    f = &p->flows[i];
    if (f->state != FLOW_FREE && f->peer_addr == addr && f->peer_port == peer_port && f->local_port == local_port) {
      p->last_flow = i;
      return f;
    }
  }
  return NULL;
}

/* A free slot, else one whose handshake or close is still pending (its peer may be gone for good). */
static struct probe_flow *free_flow(struct probe *p) {
  struct probe_flow *half_open = NULL;
  for (unsigned i = 0; i < PROBE_MAX_FLOWS; i++) {
    if (p->flows[i].state == FLOW_FREE) {
      return &p->flows[i];
    }
    if (!half_open && p->flows[i].state != FLOW_ESTABLISHED) {
      half_open = &p->flows[i];
    }
  }
  return half_open;
}

size_t probe_open_flows(const struct probe *p) {
  size_t n = 0;
  for (unsigned i = 0; i < PROBE_MAX_FLOWS; i++) {
    n += p->flows[i].state != FLOW_FREE;
  }
  return n;
}

static void ack_now(struct probe *p, const struct probe_flow *f) {
  probe_tcp_emit(p, f, f->snd_nxt, TCP_ACK, NULL, 0, NULL);
}

/* RFC 9293 3.10.7.2: a SYN to a listening port opens SYN-RECEIVED and is answered with SYN-ACK. */
static void listener_syn(struct probe *p, const struct probe_pkt *pkt, const struct probe_seg *seg,
                         struct probe_flow *f) {
  if (seg->flags & TCP_ACK) {
    probe_tcp_reset_for(p, pkt, seg);
    return;
  }
  if (f && seg->seq == f->irs) {
    if (f->state == FLOW_SYN_RCVD) {
      probe_tcp_emit(p, f, f->iss, TCP_SYN | TCP_ACK, NULL, 0, NULL); /* our SYN-ACK was lost */
    } else {
      ack_now(p, f);
    }
    return;
  }
  /* A new SYN on a tuple we still hold (its close never completed): the old flow is gone. */
  if (!f) {
    f = free_flow(p);
  }
  if (!f) {
    p->st.drops++;
    probe_tcp_reset_for(p, pkt, seg);
    return;
  }
  memset(f, 0, sizeof *f);
  f->state = FLOW_SYN_RCVD;
  f->peer_addr = pkt->src;
  f->peer_port = seg->sport;
  f->local_port = seg->dport;
  memcpy(f->peer_mac, pkt->eth + 6, 6);
  f->irs = seg->seq;
  f->rcv_nxt = seg->seq + 1;
  f->iss = next_iss(p);
  f->snd_una = f->iss;
  f->snd_nxt = f->iss + 1;
  f->snd_max = f->snd_nxt;
  /* RFC 9293 3.7.1: without the option the peer can take 536 bytes. */
  uint16_t peer_mss = seg->opt_mss ? seg->opt_mss : 536;
  f->mss = peer_mss < p->opt.mss ? peer_mss : p->opt.mss;
  f->ws_ok = seg->opt_ws >= 0;
  f->peer_ws = f->ws_ok ? (uint8_t)seg->opt_ws : 0;
  f->snd_wnd = seg->win;
  probe_tcp_emit(p, f, f->iss, TCP_SYN | TCP_ACK, NULL, 0, NULL);
}

/* Returns false when the flow is gone (its FIN was acknowledged). */
static bool listener_ack(struct probe *p, struct probe_flow *f, const struct probe_seg *seg) {
  if (f->state == FLOW_SYN_RCVD) {
    if (seg->ack != f->iss + 1) {
      p->st.drops++;
      return true;
    }
    f->state = FLOW_ESTABLISHED;
    p->st.connections++;
  }
  if (SEQ_GT(seg->ack, f->snd_una) && SEQ_LEQ(seg->ack, f->snd_max)) {
    f->snd_una = seg->ack;
  }
  f->snd_wnd = (uint32_t)seg->win << f->peer_ws;
  if (f->state == FLOW_LAST_ACK && f->snd_una == f->snd_nxt) {
    f->state = FLOW_FREE;
    return false;
  }
  return true;
}

/* Echo: how much of `fresh` the reply can carry inside the peer's window. */
static size_t echo_room(const struct probe_flow *f, size_t fresh) {
  int32_t room = (int32_t)(f->snd_una + f->snd_wnd - f->snd_nxt);
  if (room <= 0) {
    return 0;
  }
  return (size_t)room < fresh ? (size_t)room : fresh;
}

/* Sink: remembers [start, end) above rcv_nxt, merged with the ranges it touches. */
static void sink_note_ooo(struct probe *p, struct probe_flow *f, uint32_t start, uint32_t end) {
  unsigned kept = 0;
  for (unsigned i = 0; i < f->n_ooo; i++) {
    uint32_t s = f->ooo[i].start, e = f->ooo[i].end;
    if (SEQ_GT(s, end) || SEQ_LT(e, start)) {
      f->ooo[kept++] = f->ooo[i];
      continue;
    }
    if (SEQ_LT(s, start)) {
      start = s;
    }
    if (SEQ_GT(e, end)) {
      end = e;
    }
  }
  f->n_ooo = kept;
  if (f->n_ooo == PROBE_OOO_RANGES) {
    p->st.drops++;
    return;
  }
  f->ooo[f->n_ooo].start = start;
  f->ooo[f->n_ooo].end = end;
  f->n_ooo++;
}

/* Sink: after rcv_nxt moved, takes in every remembered range it now reaches; returns the bytes gained. */
static uint32_t sink_pull_ooo(struct probe_flow *f) {
  uint32_t gained = 0;
  bool moved = true;
  while (moved) {
    moved = false;
    for (unsigned i = 0; i < f->n_ooo; i++) {
      if (SEQ_GT(f->ooo[i].start, f->rcv_nxt)) {
        continue;
      }
      if (SEQ_GT(f->ooo[i].end, f->rcv_nxt)) {
        gained += f->ooo[i].end - f->rcv_nxt;
        f->rcv_nxt = f->ooo[i].end;
      }
      f->ooo[i] = f->ooo[--f->n_ooo];
      moved = true;
      break;
    }
  }
  return gained;
}

static void listener_data(struct probe *p, struct probe_flow *f, const struct probe_seg *seg) {
  bool fin = (seg->flags & TCP_FIN) != 0;
  if (seg->len == 0 && !fin) {
    return;
  }
  uint32_t end = seg->seq + (uint32_t)seg->len;
  if (f->state == FLOW_LAST_ACK) {
    /* Our FIN-ACK was lost: the peer repeats its FIN. */
    if (fin && end + 1 == f->rcv_nxt) {
      probe_tcp_emit(p, f, f->snd_nxt - 1, TCP_FIN | TCP_ACK, NULL, 0, NULL);
    }
    return;
  }
  /* Out of order, or nothing new: re-ACK the point we are at (a sink remembers the range first). */
  if (SEQ_GT(seg->seq, f->rcv_nxt) && seg->len && p->opt.mode == PROBE_SINK && !fin) {
    sink_note_ooo(p, f, seg->seq, end);
  }
  if (SEQ_GT(seg->seq, f->rcv_nxt) || SEQ_LT(end, f->rcv_nxt) || (end == f->rcv_nxt && !fin)) {
    ack_now(p, f);
    return;
  }
  const uint8_t *fresh_data = seg->payload + (f->rcv_nxt - seg->seq);
  size_t fresh = end - f->rcv_nxt;
  if (fresh && p->opt.mode == PROBE_ECHO) {
    /* Only what we can send back is accepted: the peer sends the rest again. */
    size_t take = echo_room(f, fresh);
    if (take == 0) {
      ack_now(p, f);
      return;
    }
    f->rcv_nxt += (uint32_t)take;
    probe_note_data(p, take);
    probe_tcp_emit(p, f, f->snd_nxt, TCP_ACK | TCP_PSH, fresh_data, take, NULL);
    f->snd_nxt += (uint32_t)take;
    f->snd_max = f->snd_nxt;
    if (take < fresh) {
      return;
    }
  } else if (fresh) {
    f->rcv_nxt = end;
    fresh += sink_pull_ooo(f);
    probe_note_data(p, fresh);
    if (!fin) {
      ack_now(p, f);
    }
  }
  if (fin) {
    /* RFC 9293 3.10.7.4 (eighth step): the FIN takes a sequence number; we close at once. */
    f->rcv_nxt = end + 1;
    probe_tcp_emit(p, f, f->snd_nxt, TCP_FIN | TCP_ACK, NULL, 0, NULL);
    f->snd_nxt++;
    f->snd_max = f->snd_nxt;
    f->state = FLOW_LAST_ACK;
  }
}

void probe_listener_input(struct probe *p, const struct probe_pkt *pkt) {
  struct probe_seg seg;
  if (!probe_parse_tcp(pkt, &seg)) {
    p->st.drops++;
    return;
  }
  if (p->opt.port >= 0 && seg.dport != (uint16_t)p->opt.port) {
    probe_tcp_reset_for(p, pkt, &seg);
    return;
  }
  struct probe_flow *f = find_flow(p, pkt->src, seg.sport, seg.dport);
  if (seg.flags & TCP_RST) {
    /* RFC 9293 3.10.7.4 (second step): a reset inside the window ends the flow; never answered. */
    if (f && (f->state == FLOW_SYN_RCVD || seg.seq == f->rcv_nxt)) {
      f->state = FLOW_FREE;
    }
    return;
  }
  if (seg.flags & TCP_SYN) {
    listener_syn(p, pkt, &seg, f);
    return;
  }
  if (!f) {
    probe_tcp_reset_for(p, pkt, &seg);
    return;
  }
  if (!(seg.flags & TCP_ACK)) {
    p->st.drops++;
    return;
  }
  if (listener_ack(p, f, &seg)) {
    listener_data(p, f, &seg);
  }
}
