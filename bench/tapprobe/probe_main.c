/*
 * ts-tapprobe: options, signals, the receive loop of the sink, echo and udp-sink
 * modes, and the one-line JSON summary the benchmark runner reads.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"

volatile int probe_stop_requested;

static const char *const mode_names[] = {"sink", "source", "echo", "udp-sink"};

int64_t probe_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void probe_note_data(struct probe *p, size_t len) {
  int64_t now = probe_now_ns();
  if (p->st.bytes == 0 && p->st.first_data_ns == 0) {
    p->st.first_data_ns = now;
  }
  p->st.last_data_ns = now;
  p->st.bytes += len;
}

static void usage(FILE *out) {
  fprintf(out, "usage: ts-tapprobe --dev NAME --addr A.B.C.D [--vnet] --mode sink|source|echo|udp-sink\n"
               "                   [--port P] [--peer A.B.C.D] [--duration SECONDS] [--bytes N[K|M|G]] [--mss N]\n"
               "The raw TAP ceiling: answers ARP, ICMP echo and just enough TCP for a kernel peer,\n"
               "with no stack behind it. Prints one JSON line when done (SIGINT/SIGTERM, --duration,\n"
               "or --bytes reached). sink/echo/udp-sink take any port unless --port; source\n"
               "connects to --peer port --port (default 5201).\n");
}

static int bad_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "ts-tapprobe: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  usage(stderr);
  return -1;
}

static bool parse_ipv4(const char *text, uint32_t *out) {
  char buf[32];
  size_t n = strcspn(text, "/"); /* "10.0.0.2/24" as the other tools take it: the prefix is ignored */
  if (n >= sizeof buf) {
    return false;
  }
  memcpy(buf, text, n);
  buf[n] = '\0';
  struct in_addr a;
  if (inet_pton(AF_INET, buf, &a) != 1) {
    return false;
  }
  *out = ntohl(a.s_addr);
  return true;
}

static bool parse_count(const char *text, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno || end == text || text[0] == '-') {
    return false;
  }
  uint64_t scale = 1;
  if (*end == 'K' || *end == 'k') {
    scale = 1024, end++;
  } else if (*end == 'M' || *end == 'm') {
    scale = 1024 * 1024, end++;
  } else if (*end == 'G' || *end == 'g') {
    scale = 1024ull * 1024 * 1024, end++;
  }
  if (*end || v > UINT64_MAX / scale) {
    return false;
  }
  *out = v * scale;
  return true;
}

static int parse_mode(const char *text) {
  for (int i = 0; i < 4; i++) {
    if (strcmp(text, mode_names[i]) == 0) {
      return i;
    }
  }
  return -1;
}

static int parse_one(struct probe_options *o, int c, const char *arg) {
  char *end;
  uint64_t n;
  int mode;
  switch (c) {
  case 'd':
    o->dev = arg;
    return 0;
  case 'a':
    return parse_ipv4(arg, &o->addr) ? 0 : bad_usage("--addr: '%s' is not an IPv4 address", arg);
  case 'P':
    o->have_peer = parse_ipv4(arg, &o->peer);
    return o->have_peer ? 0 : bad_usage("--peer: '%s' is not an IPv4 address", arg);
  case 'v':
    o->vnet = true;
    return 0;
  case 'm':
    mode = parse_mode(arg);
    if (mode < 0) {
      return bad_usage("--mode: '%s' is not sink, source, echo or udp-sink", arg);
    }
    o->mode = (enum probe_mode)mode;
    return 0;
  case 'p':
    n = strtoul(arg, &end, 10);
    o->port = (int)n;
    return (*arg && !*end && n >= 1 && n <= 65535) ? 0 : bad_usage("--port: '%s' is not a port (1-65535)", arg);
  case 't':
    o->duration = strtod(arg, &end);
    return (*arg && !*end && o->duration > 0 && o->duration < 1e6)
               ? 0
               : bad_usage("--duration: '%s' is not a positive number of seconds", arg);
  case 'n':
    return (parse_count(arg, &o->bytes) && o->bytes > 0) ? 0 : bad_usage("--bytes: '%s' is not a positive count", arg);
  case 's':
    n = strtoul(arg, &end, 10);
    o->mss = (uint16_t)n;
    return (*arg && !*end && n >= 64 && n <= 9000) ? 0 : bad_usage("--mss: '%s' is not in 64-9000", arg);
  default:
    return bad_usage("%s", "unknown option");
  }
}

static int parse_options(int argc, char **argv, struct probe_options *o) {
  static const struct option longopts[] = {{"dev", required_argument, NULL, 'd'},
                                           {"addr", required_argument, NULL, 'a'},
                                           {"peer", required_argument, NULL, 'P'},
                                           {"vnet", no_argument, NULL, 'v'},
                                           {"mode", required_argument, NULL, 'm'},
                                           {"port", required_argument, NULL, 'p'},
                                           {"duration", required_argument, NULL, 't'},
                                           {"bytes", required_argument, NULL, 'n'},
                                           {"mss", required_argument, NULL, 's'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof *o);
  o->port = -1;
  o->mss = 1460;
  int mode_seen = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    if (c == 'h') {
      usage(stdout);
      exit(0);
    }
    mode_seen |= c == 'm';
    if (c == '?' || parse_one(o, c, optarg) < 0) {
      return -1;
    }
  }
  if (optind < argc) {
    return bad_usage("unexpected argument '%s'", argv[optind]);
  }
  if (!o->dev || !o->addr || !mode_seen) {
    return bad_usage("%s", "--dev, --addr and --mode are required");
  }
  if (o->mode == PROBE_SOURCE) {
    if (!o->have_peer) {
      return bad_usage("%s", "--mode source needs --peer");
    }
    o->port = o->port < 0 ? 5201 : o->port;
    if (o->duration == 0 && o->bytes == 0) {
      o->duration = 10; /* a source must end by itself */
    }
  }
  return 0;
}

static void on_stop(int sig) {
  (void)sig;
  probe_stop_requested = 1;
}

/* Only interrupts a blocking read so that the loop can look at the clock and the stop flag. */
static void on_tick(int sig) { (void)sig; }

static int install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_stop; /* no SA_RESTART: a blocked read() returns EINTR */
  if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) {
    return -1;
  }
  sa.sa_handler = on_tick;
  if (sigaction(SIGALRM, &sa, NULL) < 0) {
    return -1;
  }
  struct itimerval tick = {.it_interval = {0, 100000}, .it_value = {0, 100000}};
  return setitimer(ITIMER_REAL, &tick, NULL);
}

static void udp_input(struct probe *p, const struct probe_pkt *pkt) {
  /* Later fragments carry no UDP header: the first one's length field counts the whole datagram. */
  if (pkt->l4_len < 8 || (pkt->frag & 0x1fff) != 0) {
    p->st.drops += pkt->l4_len < 8;
    return;
  }
  uint16_t dport = probe_get16(pkt->l4 + 2);
  uint16_t ulen = probe_get16(pkt->l4 + 4);
  if ((p->opt.port >= 0 && dport != (uint16_t)p->opt.port) || ulen < 8) {
    p->st.drops++;
    return;
  }
  p->st.datagrams++;
  probe_note_data(p, ulen - 8u);
}

static void dispatch(struct probe *p, const uint8_t *frame, size_t len) {
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
  } else if (pkt.proto == PROBE_PROTO_TCP && p->opt.mode != PROBE_UDP_SINK) {
    probe_listener_input(p, &pkt);
  } else if (pkt.proto == PROBE_PROTO_UDP && p->opt.mode == PROBE_UDP_SINK) {
    udp_input(p, &pkt);
  } else {
    p->st.drops++;
  }
}

static bool listener_done(const struct probe *p, int64_t deadline) {
  if (probe_stop_requested || (deadline && probe_now_ns() >= deadline)) {
    return true;
  }
  /* --bytes: done once that much arrived and (TCP) every connection has closed. */
  return p->opt.bytes && p->st.bytes >= p->opt.bytes && (p->opt.mode == PROBE_UDP_SINK || probe_open_flows(p) == 0);
}

/* One blocking read() per frame: the tick or a signal interrupts it. */
static int listen_loop(struct probe *p) {
  int64_t deadline = p->opt.duration > 0 ? probe_now_ns() + (int64_t)(p->opt.duration * 1e9) : 0;
  while (!listener_done(p, deadline)) {
    const uint8_t *frame;
    size_t len;
    int got = probe_tap_read(p, &frame, &len);
    if (got < 0) {
      return 1;
    }
    if (got > 0) {
      dispatch(p, frame, len);
    }
  }
  return 0;
}

static void print_summary(const struct probe *p) {
  double seconds = (double)(p->st.last_data_ns - p->st.first_data_ns) / 1e9;
  printf("{\"mode\":\"%s\",\"vnet\":%s,\"bytes\":%llu,\"frames_rx\":%llu,\"frames_tx\":%llu,\"seconds\":%.6f,"
         "\"connections\":%llu",
         mode_names[p->opt.mode], p->opt.vnet ? "true" : "false", (unsigned long long)p->st.bytes,
         (unsigned long long)p->st.frames_rx, (unsigned long long)p->st.frames_tx, seconds,
         (unsigned long long)p->st.connections);
  if (p->opt.mode == PROBE_UDP_SINK) {
    printf(",\"datagrams\":%llu", (unsigned long long)p->st.datagrams);
  }
  printf("}\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  static struct probe probe; /* 256 KB receive buffer: not on the stack */
  struct probe *p = &probe;
  if (parse_options(argc, argv, &p->opt) < 0) {
    return 2;
  }
  p->fd = -1;
  /* A locally administered unicast MAC (02:...), the address's low three bytes for the rest. */
  uint8_t mac[6] = {0x02, 0x74, 0x70, (uint8_t)(p->opt.addr >> 16), (uint8_t)(p->opt.addr >> 8), (uint8_t)p->opt.addr};
  memcpy(p->mac, mac, 6);
  p->iss_seed = (uint32_t)getpid() * 2654435761u;
  if (probe_tap_open(p) < 0) {
    return 1;
  }
  if (install_signals() < 0) {
    perror("ts-tapprobe: signals");
    return 1;
  }
  fprintf(stderr, "ts-tapprobe: %s on %s, mac %02x:%02x:%02x:%02x:%02x:%02x, vnet %s: ready\n", mode_names[p->opt.mode],
          p->opt.dev, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], p->opt.vnet ? "on" : "off");
  int status;
  if (p->opt.mode == PROBE_SOURCE) {
    status = probe_source_run(p);
    if (status < 0) {
      close(p->fd);
      return 1;
    }
  } else {
    status = listen_loop(p);
  }
  print_summary(p);
  close(p->fd);
  return status;
}
