/*
 * ts-flood: sends hostile Ethernet frames at a tapstack app for the flood tests.
 *
 * It writes hand-built frames through a raw AF_PACKET socket bound to the
 * kernel side of the test's TAP interface, so each frame reaches the stack as
 * if it came off the wire. Always bounded by --count and --duration, and it
 * refuses to run in the host's own network namespace: the flood tests run it
 * inside the private namespace they create.
 *
 *   ts-flood --dev tap0 --dst 10.0.0.2 --mode syn --dport 7 --count 200000 --duration 10
 *
 * Modes (RFC 4987 SYN flooding, RFC 5961 blind in-window attacks):
 *   syn        SYNs from random spoofed sources of --src-net to --dport
 *   frag       fragments of datagrams that never complete, overlapping, many ids and sources
 *   arp        ARP requests and replies from random MACs and addresses of --src-net
 *   blind-rst  RSTs spoofed as --peer IP:PORT to --dport, sequence guesses spread over the space
 *   blind-ack  ACKs (with --payload bytes, 0 by default) spoofed the same way, random ACK numbers
 *   junk       UDP to random ports and ICMP of random types from random sources
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "flood.h"

#define MAX_COUNT 20000000ull
#define MAX_DURATION_S 120.0

struct options {
    const char *dev;
    const char *mode;
    double duration;
    uint64_t count;
    uint64_t rate;
    bool have_dst_mac, have_peer_mac;
};

static const char usage_text[] =
    "Usage: ts-flood --dev IF --dst IP --mode MODE [OPTIONS]\n"
    "  --mode M          syn | frag | arp | blind-rst | blind-ack | junk\n"
    "  --dst IP          the stack under attack (10.x only)\n"
    "  --dst-mac MAC     its MAC (default: from the kernel's ARP table)\n"
    "  --dport N         its TCP port (syn, blind-*)\n"
    "  --src-net A/N     spoofed sources (default 10.99.0.0/16)\n"
    "  --protect IP      an address never spoofed (the legitimate peer)\n"
    "  --peer IP:PORT    blind-*: the live connection's peer end\n"
    "  --peer-mac MAC    blind-*: its MAC (default: the interface's own)\n"
    "  --payload N       blind-ack: data bytes per segment (default 0)\n"
    "  --count N         frames to send at most (default 100000)\n"
    "  --duration S      seconds to run at most (default 10, at most 120)\n"
    "  --rate N          frames per second (default 0: as fast as possible)\n"
    "  --seed N          fixes the random choices\n";

static int die_usage(const char *why)
{
    fprintf(stderr, "ts-flood: %s\n%s", why, usage_text);
    return 2;
}

static bool parse_mac(const char *text, uint8_t mac[6])
{
    unsigned b[6];
    if (sscanf(text, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
        return false;
    for (int i = 0; i < 6; i++) {
        if (b[i] > 255)
            return false;
        mac[i] = (uint8_t)b[i];
    }
    return true;
}

static bool parse_ip(const char *text, uint32_t *out)
{
    struct in_addr a;
    if (inet_pton(AF_INET, text, &a) != 1)
        return false;
    *out = ntohl(a.s_addr);
    return true;
}

static bool parse_net(const char *text, uint32_t *net, unsigned *prefix)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%s", text);
    char *slash = strchr(buf, '/');
    if (slash == NULL)
        return false;
    *slash = '\0';
    char *end;
    unsigned long p = strtoul(slash + 1, &end, 10);
    if (*end != '\0' || p > 32 || p < 8)
        return false;
    *prefix = (unsigned)p;
    return parse_ip(buf, net);
}

static bool parse_endpoint(const char *text, uint32_t *ip, uint16_t *port)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%s", text);
    char *colon = strchr(buf, ':');
    if (colon == NULL)
        return false;
    *colon = '\0';
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || p == 0 || p > 65535)
        return false;
    *port = (uint16_t)p;
    return parse_ip(buf, ip);
}

static bool in_ten_slash_eight(uint32_t ip)
{
    return (ip >> 24) == 10;
}

/*
 * A test namespace holds lo and the test's own interface, nothing else; the host's holds its real
 * interfaces, and it is PID 1's (when that can be read). Either sign of the host makes us refuse.
 */
static bool in_private_namespace(const char *dev)
{
    struct stat self, init;
    if (stat("/proc/self/ns/net", &self) == 0 && stat("/proc/1/ns/net", &init) == 0 &&
        self.st_ino == init.st_ino && self.st_dev == init.st_dev)
        return false;
    struct if_nameindex *all = if_nameindex();
    if (all == NULL)
        return false;
    bool only_ours = true;
    for (struct if_nameindex *i = all; i->if_index != 0; i++)
        if (strcmp(i->if_name, "lo") != 0 && strcmp(i->if_name, dev) != 0)
            only_ours = false;
    if_freenameindex(all);
    return only_ours;
}

/* The stack's MAC as the kernel learnt it (the tests ping the stack first). */
static bool mac_from_arp_table(uint32_t ip, uint8_t mac[6])
{
    FILE *fp = fopen("/proc/net/arp", "r");
    if (fp == NULL)
        return false;
    char line[256], ip_text[32], mac_text[32];
    struct in_addr a = {htonl(ip)};
    inet_ntop(AF_INET, &a, ip_text, sizeof ip_text);
    bool found = false;
    while (!found && fgets(line, sizeof line, fp) != NULL) {
        char addr[32];
        if (sscanf(line, "%31s %*s %*s %31s", addr, mac_text) == 2 && strcmp(addr, ip_text) == 0)
            found = parse_mac(mac_text, mac) && memcmp(mac, "\0\0\0\0\0\0", 6) != 0;
    }
    fclose(fp);
    return found;
}

static int open_packet_socket(const char *dev, uint8_t own_mac[6], struct sockaddr_ll *to)
{
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) {
        fprintf(stderr, "ts-flood: AF_PACKET socket: %s (needs CAP_NET_RAW)\n", strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", dev);
    if (ioctl(fd, SIOCGIFINDEX, &ifr) != 0 || ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) {
        fprintf(stderr, "ts-flood: interface %s: %s\n", dev, strerror(errno));
        close(fd);
        return -1;
    }
    memcpy(own_mac, ifr.ifr_hwaddr.sa_data, 6);
    memset(to, 0, sizeof *to);
    to->sll_family = AF_PACKET;
    to->sll_ifindex = (int)if_nametoindex(dev);
    to->sll_halen = 6;
    /* Receiving nothing: the flood only writes. */
    int zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &zero, sizeof zero);
    return fd;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t build_frame(struct flood *f, uint8_t *frame, uint64_t i)
{
    struct flood_tcp t = {.dport = f->dst_port, .window = 64240};
    switch (f->mode) {
    case FLOOD_SYN:
        flood_random_mac(f, t.src_mac);
        t.src_ip = flood_random_ip(f, f->src_net, f->src_prefix);
        t.sport = (uint16_t)(1024 + flood_rand(f) % 64000);
        t.seq = (uint32_t)flood_rand(f);
        t.flags = 0x02;
        return flood_tcp_frame(f, frame, &t);
    case FLOOD_FRAG: {
        /* Three fragments per datagram; ids and sources change with each datagram. */
        if (i % 3 == 0) {
            f->frag_src = flood_random_ip(f, f->src_net, f->src_prefix);
            f->frag_id = (uint16_t)flood_rand(f);
        }
        return flood_frag_frame(f, frame, f->frag_src, f->frag_id, (unsigned)(i % 3));
    }
    case FLOOD_ARP:
        return flood_arp_frame(f, frame, (flood_rand(f) % 4) == 0);
    case FLOOD_BLIND_RST:
    case FLOOD_BLIND_ACK:
        memcpy(t.src_mac, f->peer_mac, 6);
        t.src_ip = f->peer_ip;
        t.sport = f->peer_port;
        t.seq = f->seq_next;
        f->seq_next += f->seq_step;
        t.ack = (uint32_t)flood_rand(f);
        t.flags = f->mode == FLOOD_BLIND_RST ? 0x04 : 0x10;
        t.payload_len = f->mode == FLOOD_BLIND_ACK ? f->payload_len : 0;
        return flood_tcp_frame(f, frame, &t);
    case FLOOD_JUNK:
        return flood_junk_frame(f, frame);
    }
    return 0;
}

static bool parse_mode(const char *name, enum flood_mode *mode)
{
    static const char *names[] = {"syn", "frag", "arp", "blind-rst", "blind-ack", "junk"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i]) == 0) {
            *mode = (enum flood_mode)i;
            return true;
        }
    }
    return false;
}

enum { OPT_DEV = 256, OPT_MODE, OPT_DST, OPT_DST_MAC, OPT_DPORT, OPT_SRC_NET, OPT_PROTECT, OPT_PEER, OPT_PEER_MAC,
       OPT_PAYLOAD, OPT_COUNT, OPT_DURATION, OPT_RATE, OPT_SEED };

static int parse_args(int argc, char **argv, struct options *o, struct flood *f)
{
    static const struct option longs[] = {
        {"dev", required_argument, NULL, OPT_DEV},         {"mode", required_argument, NULL, OPT_MODE},
        {"dst", required_argument, NULL, OPT_DST},         {"dst-mac", required_argument, NULL, OPT_DST_MAC},
        {"dport", required_argument, NULL, OPT_DPORT},     {"src-net", required_argument, NULL, OPT_SRC_NET},
        {"protect", required_argument, NULL, OPT_PROTECT}, {"peer", required_argument, NULL, OPT_PEER},
        {"peer-mac", required_argument, NULL, OPT_PEER_MAC}, {"payload", required_argument, NULL, OPT_PAYLOAD},
        {"count", required_argument, NULL, OPT_COUNT},     {"duration", required_argument, NULL, OPT_DURATION},
        {"rate", required_argument, NULL, OPT_RATE},       {"seed", required_argument, NULL, OPT_SEED},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case OPT_DEV: o->dev = optarg; break;
        case OPT_MODE: o->mode = optarg; ok = parse_mode(optarg, &f->mode); break;
        case OPT_DST: ok = parse_ip(optarg, &f->dst_ip); break;
        case OPT_DST_MAC: ok = o->have_dst_mac = parse_mac(optarg, f->dst_mac); break;
        case OPT_DPORT: f->dst_port = (uint16_t)strtoul(optarg, NULL, 10); ok = f->dst_port != 0; break;
        case OPT_SRC_NET: ok = parse_net(optarg, &f->src_net, &f->src_prefix); break;
        case OPT_PROTECT: ok = parse_ip(optarg, &f->protect_ip); break;
        case OPT_PEER: ok = parse_endpoint(optarg, &f->peer_ip, &f->peer_port); break;
        case OPT_PEER_MAC: ok = o->have_peer_mac = parse_mac(optarg, f->peer_mac); break;
        case OPT_PAYLOAD: f->payload_len = strtoul(optarg, NULL, 10); ok = f->payload_len <= 1400; break;
        case OPT_COUNT: o->count = strtoull(optarg, NULL, 10); ok = o->count > 0 && o->count <= MAX_COUNT; break;
        case OPT_DURATION: o->duration = strtod(optarg, NULL); ok = o->duration > 0 && o->duration <= MAX_DURATION_S; break;
        case OPT_RATE: o->rate = strtoull(optarg, NULL, 10); break;
        case OPT_SEED: f->rng = strtoull(optarg, NULL, 10) | 1; break;
        default: return die_usage("unknown option");
        }
        if (!ok)
            return die_usage("bad value for an option");
    }
    if (o->dev == NULL || o->mode == NULL || f->dst_ip == 0)
        return die_usage("--dev, --dst and --mode are required");
    if (!in_ten_slash_eight(f->dst_ip) || !in_ten_slash_eight(f->src_net))
        return die_usage("--dst and --src-net must be 10.x addresses (test namespaces only)");
    bool blind = f->mode == FLOOD_BLIND_RST || f->mode == FLOOD_BLIND_ACK;
    if (blind && f->peer_ip == 0)
        return die_usage("blind-* modes need --peer IP:PORT");
    if ((blind || f->mode == FLOOD_SYN) && f->dst_port == 0)
        return die_usage("syn and blind-* modes need --dport");
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = {.duration = 10, .count = 100000};
    struct flood f = {.rng = (uint64_t)time(NULL) | 1, .src_net = 0x0a630000u, .src_prefix = 16};
    int status = parse_args(argc, argv, &o, &f);
    if (status != 0)
        return status;
    if (!in_private_namespace(o.dev)) {
        fprintf(stderr, "ts-flood: refusing to run outside a private test namespace (one holding only lo and %s)\n",
                o.dev);
        return 1;
    }
    uint8_t own_mac[6];
    struct sockaddr_ll to;
    int fd = open_packet_socket(o.dev, own_mac, &to);
    if (fd < 0)
        return 1;
    if (!o.have_peer_mac)
        memcpy(f.peer_mac, own_mac, 6);
    if (!o.have_dst_mac && !mac_from_arp_table(f.dst_ip, f.dst_mac)) {
        fprintf(stderr, "ts-flood: no ARP entry for --dst: ping it first or give --dst-mac\n");
        close(fd);
        return 1;
    }
    /* Guesses spread evenly: count of them cover the whole sequence space once. */
    f.seq_next = (uint32_t)flood_rand(&f);
    f.seq_step = (uint32_t)(o.count >= 0x100000000ull ? 1 : 0x100000000ull / o.count);

    uint8_t frame[1600];
    uint64_t sent = 0, errors = 0;
    double start = now_s(), elapsed = 0;
    for (uint64_t i = 0; i < o.count; i++) {
        if ((i & 63) == 0) {
            elapsed = now_s() - start;
            if (elapsed >= o.duration)
                break;
            /* Paced: sleep while ahead of the schedule. */
            if (o.rate > 0 && (double)i / (double)o.rate > elapsed) {
                double ahead = (double)i / (double)o.rate - elapsed;
                struct timespec ts = {(time_t)ahead, (long)((ahead - (double)(time_t)ahead) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
        size_t len = build_frame(&f, frame, i);
        memcpy(to.sll_addr, frame, 6);
        if (sendto(fd, frame, len, 0, (const struct sockaddr *)&to, sizeof to) < 0)
            errors++;
        else
            sent++;
    }
    elapsed = now_s() - start;
    close(fd);
    printf("ts-flood: %s: %" PRIu64 " frames in %.2f s (%.0f frames/s), %" PRIu64 " send errors\n", o.mode, sent,
           elapsed, elapsed > 0 ? (double)sent / elapsed : 0.0, errors);
    return sent > 0 ? 0 : 1;
}
