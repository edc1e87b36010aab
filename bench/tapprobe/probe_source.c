/*
 * Source mode: one connection to a kernel listener, sending segments of the MSS
 * (or 64 KB GSO frames with --vnet) as fast as the peer's window allows. The
 * payload is a constant pattern, so nothing is buffered: a go-back-N retransmission
 * (no progress for 200 ms) just rewinds SND.NXT to SND.UNA.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "probe.h"

#define MS 1000000LL
#define RETRANSMIT_NS (200 * MS)
#define ARP_TRIES 15
#define SYN_TRIES 5
#define CLOSE_LIMIT_NS (5000 * MS)
#define PEER_FIN_WAIT_NS (1000 * MS)
#define STALL_LIMIT_NS (10000 * MS)

static uint8_t source_payload[PROBE_GSO_PAYLOAD_MAX];

struct source_run {
  struct probe_flow *f;
  bool limited;      /* data ends at data_end */
  uint32_t data_end; /* sequence number after the last data byte */
  bool peer_fin;
  bool refused;
  int64_t last_progress; /* the retransmission timer's start: an ACK that moved, or the last go-back */
  int64_t last_advance;  /* the last ACK that moved SND.UNA */
  size_t cached_len;     /* the payload checksum for the most recent length */
  uint64_t cached_sum;
};

static uint64_t payload_sum(struct source_run *r, size_t len) {
  /* Every segment's payload starts at the buffer's start: its sum depends on its length only. */
  if (len != r->cached_len) {
    r->cached_len = len;
    r->cached_sum = probe_sum(source_payload, len, 0);
  }
  return r->cached_sum;
}

static void source_segment(struct probe *p, struct source_run *r, const struct probe_pkt *pkt) {
  struct probe_flow *f = r->f;
  struct probe_seg seg;
  if (!probe_parse_tcp(pkt, &seg) || pkt->src != f->peer_addr || seg.sport != f->peer_port ||
      seg.dport != f->local_port) {
    p->st.drops++;
    return;
  }
  if (f->state == FLOW_SYN_SENT) {
    /* RFC 9293 3.10.7.3: only an ACK of our SYN counts, for a reset as for a SYN-ACK. */
    if (!(seg.flags & TCP_ACK) || seg.ack != f->iss + 1) {
      return;
    }
    if (seg.flags & TCP_RST) {
      r->refused = true;
      return;
    }
    if (!(seg.flags & TCP_SYN)) {
      return;
    }
    f->irs = seg.seq;
    f->rcv_nxt = seg.seq + 1;
    f->snd_una = seg.ack;
    uint16_t peer_mss = seg.opt_mss ? seg.opt_mss : 536;
    f->mss = peer_mss < f->mss ? peer_mss : f->mss;
    f->ws_ok = seg.opt_ws >= 0;
    f->peer_ws = f->ws_ok ? (uint8_t)seg.opt_ws : 0;
    f->snd_wnd = seg.win; /* RFC 7323 2.2: never scaled in a SYN */
    f->state = FLOW_ESTABLISHED;
    p->st.connections++;
    probe_tcp_emit(p, f, f->snd_nxt, TCP_ACK, NULL, 0, NULL);
    return;
  }
  if (seg.flags & TCP_RST) {
    if (seg.seq == f->rcv_nxt) {
      r->refused = true;
    }
    return;
  }
  if (seg.flags & TCP_SYN) {
    probe_tcp_emit(p, f, f->snd_nxt, TCP_ACK, NULL, 0, NULL); /* our ACK of its SYN-ACK was lost */
    return;
  }
  if (!(seg.flags & TCP_ACK)) {
    return;
  }
  if (SEQ_GT(seg.ack, f->snd_una) && SEQ_LEQ(seg.ack, f->snd_max)) {
    uint32_t advance = seg.ack - f->snd_una;
    if (r->limited && SEQ_GT(seg.ack, r->data_end)) {
      advance--; /* our FIN's sequence number carries no data */
    }
    p->st.bytes += advance;
    f->snd_una = seg.ack;
    r->last_progress = probe_now_ns();
    r->last_advance = r->last_progress;
    p->st.last_data_ns = r->last_progress;
    if (SEQ_LT(f->snd_nxt, f->snd_una)) {
      f->snd_nxt = f->snd_una;
    }
  }
  f->snd_wnd = (uint32_t)seg.win << f->peer_ws;
  bool fin = (seg.flags & TCP_FIN) != 0;
  if (seg.len || fin) {
    /* The listener sends nothing but its FIN; anything in order is taken, all is acknowledged. */
    if (seg.seq == f->rcv_nxt) {
      f->rcv_nxt += (uint32_t)seg.len + (fin ? 1u : 0u);
      r->peer_fin = r->peer_fin || fin;
    }
    probe_tcp_emit(p, f, f->snd_nxt, TCP_ACK, NULL, 0, NULL);
  }
}

static void source_frame(struct probe *p, struct source_run *r, const uint8_t *frame, size_t len) {
  if (probe_handle_arp(p, frame, len)) {
    return;
  }
  struct probe_pkt pkt;
  if (!probe_parse_ipv4(p, frame, len, &pkt)) {
    p->st.drops++;
    return;
  }
  if (pkt.proto == PROBE_PROTO_ICMP) {
    probe_handle_icmp(p, &pkt);
  } else if (pkt.proto == PROBE_PROTO_TCP && r->f) {
    source_segment(p, r, &pkt);
  } else {
    p->st.drops++;
  }
}

/* Reads what is waiting (at most `limit` frames); -1 on a read error, else the count. */
static int drain(struct probe *p, struct source_run *r, int limit) {
  int n = 0;
  while (n < limit) {
    const uint8_t *frame;
    size_t len;
    int got = probe_tap_read(p, &frame, &len);
    if (got < 0) {
      return -1;
    }
    if (got == 0) {
      break;
    }
    source_frame(p, r, frame, len);
    n++;
  }
  return n;
}

static int wait_input(struct probe *p, struct source_run *r, int timeout_ms) {
  struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
  if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR) {
    perror("ts-tapprobe: poll");
    return -1;
  }
  return drain(p, r, 64) < 0 ? -1 : 0;
}

static void print_addr(const char *prefix, uint32_t a, int port, const char *suffix) {
  fprintf(stderr, "%s%u.%u.%u.%u", prefix, a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
  if (port >= 0) {
    fprintf(stderr, " port %d", port);
  }
  fprintf(stderr, "%s\n", suffix);
}

static int resolve_peer(struct probe *p, struct source_run *r) {
  for (int i = 0; i < ARP_TRIES && !p->peer_mac_known && !probe_stop_requested; i++) {
    probe_send_arp_request(p, p->opt.peer);
    int64_t until = probe_now_ns() + 200 * MS;
    while (!p->peer_mac_known && probe_now_ns() < until && !probe_stop_requested) {
      if (wait_input(p, r, 50) < 0) {
        return -1;
      }
    }
  }
  if (!p->peer_mac_known) {
    print_addr("ts-tapprobe: no ARP reply from ", p->opt.peer, -1, " (is the TAP up with that address?)");
    return -1;
  }
  return 0;
}

static int connect_peer(struct probe *p, struct source_run *r) {
  struct probe_flow *f = r->f;
  for (int i = 0; i < SYN_TRIES && f->state == FLOW_SYN_SENT && !r->refused && !probe_stop_requested; i++) {
    probe_tcp_emit(p, f, f->iss, TCP_SYN, NULL, 0, NULL);
    int64_t until = probe_now_ns() + 1000 * MS;
    while (f->state == FLOW_SYN_SENT && !r->refused && probe_now_ns() < until && !probe_stop_requested) {
      if (wait_input(p, r, 50) < 0) {
        return -1;
      }
    }
  }
  if (r->refused) {
    print_addr("ts-tapprobe: connect to ", p->opt.peer, p->opt.port, ": Connection refused");
    return -1;
  }
  if (f->state != FLOW_ESTABLISHED) {
    print_addr("ts-tapprobe: connect to ", p->opt.peer, p->opt.port, ": no answer to our SYN");
    return -1;
  }
  return 0;
}

/* Sends up to `burst` segments the window allows; the FIN goes right after the last data. */
static int send_burst(struct probe *p, struct source_run *r, int burst, bool forced) {
  struct probe_flow *f = r->f;
  size_t seg_max = f->mss;
  if (p->vnet_len) {
    seg_max = (PROBE_GSO_PAYLOAD_MAX / f->mss) * f->mss;
  }
  int sent = 0;
  while (sent < burst) {
    if (r->limited && SEQ_GEQ(f->snd_nxt, r->data_end)) {
      if (f->snd_nxt == r->data_end) {
        probe_tcp_emit(p, f, f->snd_nxt, TCP_FIN | TCP_ACK, NULL, 0, NULL);
        f->snd_nxt++;
        if (SEQ_GT(f->snd_nxt, f->snd_max)) {
          f->snd_max = f->snd_nxt;
        }
        sent++;
      }
      break;
    }
    int32_t room = (int32_t)(f->snd_una + f->snd_wnd - f->snd_nxt);
    size_t len = seg_max;
    if (room < (int32_t)len) {
      len = room > 0 ? (size_t)room : 0;
    }
    size_t left = r->limited ? (size_t)(r->data_end - f->snd_nxt) : seg_max;
    if (left < len) {
      len = left;
    }
    /* No silly-window sends: wait for room for a full MSS unless it ends the data. */
    if (len < f->mss && len < left) {
      if (!forced) {
        break;
      }
      len = left < f->mss ? left : f->mss; /* a probe into a closed window */
    }
    forced = false;
    probe_tcp_emit(p, f, f->snd_nxt, TCP_ACK | TCP_PSH, source_payload, len, &(uint64_t){payload_sum(r, len)});
    f->snd_nxt += (uint32_t)len;
    if (SEQ_GT(f->snd_nxt, f->snd_max)) {
      f->snd_max = f->snd_nxt;
    }
    sent++;
  }
  return sent;
}

static bool all_acknowledged(const struct source_run *r) { return r->limited && r->f->snd_una == r->data_end + 1; }

/* The transfer, then the close: returns 0 when the FIN was acknowledged in time. */
static int pump(struct probe *p, struct source_run *r) {
  struct probe_flow *f = r->f;
  int64_t start = probe_now_ns();
  int64_t deadline = p->opt.duration > 0 ? start + (int64_t)(p->opt.duration * 1e9) : 0;
  int64_t stopping_since = 0;
  int64_t acked_at = 0;
  int burst = p->vnet_len ? 4 : 16;
  p->st.first_data_ns = start;
  p->st.last_data_ns = start;
  r->last_progress = start;
  r->last_advance = start;
  for (;;) {
    int64_t now = probe_now_ns();
    /* --bytes beyond what sequence numbers can count ahead: the end gets a sequence number once near. */
    if (!r->limited && p->opt.bytes && p->opt.bytes - p->st.bytes <= (1u << 30)) {
      r->limited = true;
      r->data_end = f->snd_una + (uint32_t)(p->opt.bytes - p->st.bytes);
    }
    if (!r->limited && (probe_stop_requested || (deadline && now >= deadline))) {
      r->limited = true;
      r->data_end = f->snd_max; /* no new data from here on */
      stopping_since = now;
    }
    /* The close is bounded from when the FIN first left (or the run was told to stop). */
    if (r->limited && !stopping_since && SEQ_GT(f->snd_max, r->data_end)) {
      stopping_since = now;
    }
    if (r->refused) {
      fprintf(stderr, "ts-tapprobe: the peer reset the connection\n");
      return 1;
    }
    if (all_acknowledged(r)) {
      acked_at = acked_at ? acked_at : now;
      if (r->peer_fin || now - acked_at > PEER_FIN_WAIT_NS) {
        return 0;
      }
    } else if (stopping_since && now - stopping_since > CLOSE_LIMIT_NS) {
      fprintf(stderr, "ts-tapprobe: the peer did not acknowledge our data and FIN within 5 s\n");
      return 1;
    }
    if (now - r->last_advance > STALL_LIMIT_NS) {
      fprintf(stderr, "ts-tapprobe: no progress for 10 s; giving up\n");
      return 1;
    }
    bool forced = false;
    if (now - r->last_progress > RETRANSMIT_NS && !all_acknowledged(r)) {
      /* Go-back-N: nothing moved for 200 ms, resend from the oldest unacknowledged byte. */
      f->snd_nxt = f->snd_una;
      forced = f->snd_wnd == 0 || f->snd_una == f->snd_max;
      r->last_progress = now;
    }
    int sent = send_burst(p, r, burst, forced);
    int got = drain(p, r, 64);
    if (got < 0) {
      return 1;
    }
    if (sent == 0 && got == 0 && wait_input(p, r, 20) < 0) {
      return 1;
    }
  }
}

int probe_source_run(struct probe *p) {
  int flags = fcntl(p->fd, F_GETFL);
  if (flags < 0 || fcntl(p->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    perror("ts-tapprobe: fcntl");
    return -1;
  }
  for (size_t i = 0; i < sizeof source_payload; i++) {
    source_payload[i] = (uint8_t)('a' + i % 26);
  }
  struct source_run run;
  memset(&run, 0, sizeof run);
  if (resolve_peer(p, &run) < 0) {
    return -1;
  }
  struct probe_flow *f = &p->flows[0];
  memset(f, 0, sizeof *f);
  f->state = FLOW_SYN_SENT;
  f->peer_addr = p->opt.peer;
  f->peer_port = (uint16_t)p->opt.port;
  f->local_port = (uint16_t)(32768 + (uint32_t)getpid() % 28000);
  memcpy(f->peer_mac, p->peer_mac, 6);
  f->iss = (uint32_t)probe_now_ns() * 2654435761u;
  f->snd_una = f->iss;
  f->snd_nxt = f->iss + 1;
  f->snd_max = f->snd_nxt;
  f->mss = p->opt.mss;
  f->ws_ok = true;
  run.f = f;
  run.cached_len = (size_t)-1;
  if (connect_peer(p, &run) < 0) {
    return -1;
  }
  return pump(p, &run);
}
