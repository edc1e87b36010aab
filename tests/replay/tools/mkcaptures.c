/*
 * mkcaptures: writes the peer's side of the synthetic replay cases.
 *
 *   mkcaptures OUTDIR [NAME...]
 *
 * Each capture holds only the frames the peer (10.0.0.1, 02:00:00:00:00:01)
 * sends to the stack (10.0.0.2, 02:00:00:00:00:02), starting at the capture
 * time 1700000000.000000 (the 'start' of every synthetic case). The stack's
 * answers are added by `ts-replay-case --bless captures/NAME.case` and reviewed
 * by a person; regenerating a capture drops them, so bless again afterwards.
 * The output is byte-for-byte the same on every run.
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frames.h"

#define BASE_SEC 1700000000

struct gen {
    pcap_t *dead;
    pcap_dumper_t *dump;
    uint16_t next_ip_id; /* the peer's IP identification, one per datagram */
};

/* Writes one frame at `ms` milliseconds after the base time. */
static void emit(struct gen *g, double ms, const uint8_t *frame, size_t len)
{
    struct pcap_pkthdr h;
    memset(&h, 0, sizeof(h));
    int64_t us = (int64_t)(ms * 1000.0 + 0.5);
    h.ts.tv_sec = BASE_SEC + (time_t)(us / 1000000);
    h.ts.tv_usec = (suseconds_t)(us % 1000000);
    h.caplen = h.len = (bpf_u_int32)len;
    pcap_dump((u_char *)g->dump, &h, frame);
}

/* ---- the peer's usual frames ------------------------------------------------------------- */

static void arp_who_has_stack(struct gen *g, double ms, const uint8_t *sha, size_t pad_to)
{
    static const uint8_t zero[6];
    uint8_t f[MK_FRAME_MAX];
    emit(g, ms, f, mk_arp(f, mk_broadcast_mac, 1, sha, MK_PEER_IP, zero, MK_STACK_IP, pad_to));
}

static void arp_reply_to_stack(struct gen *g, double ms)
{
    uint8_t f[MK_FRAME_MAX];
    emit(g, ms, f, mk_arp(f, mk_stack_mac, 2, mk_peer_mac, MK_PEER_IP, mk_stack_mac, MK_STACK_IP, 0));
}

static struct mk_ip peer_ip(struct gen *g, uint8_t proto)
{
    return (struct mk_ip){.src = MK_PEER_IP, .dst = MK_STACK_IP, .proto = proto, .id = g->next_ip_id++};
}

/* Ethernet from `src_mac` to the stack around an IPv4 datagram; pad_to > len pads with zeros. */
static void send_ip(struct gen *g, double ms, const uint8_t *src_mac, const struct mk_ip *ip, const uint8_t *l4,
                    size_t len, size_t pad_to)
{
    uint8_t f[MK_FRAME_MAX];
    size_t n = mk_eth(f, mk_stack_mac, src_mac, 0x0800);
    n += mk_ipv4(f + n, ip, l4, len);
    if (pad_to > n) {
        memset(f + n, 0, pad_to - n);
        n = pad_to;
    }
    emit(g, ms, f, n);
}

static size_t echo_request(uint8_t *out, uint16_t seq, size_t size)
{
    uint8_t data[MK_FRAME_MAX];
    mk_pattern(data, size);
    return mk_icmp_echo(out, 8, 0x1234, seq, data, size);
}

static void ping_from(struct gen *g, double ms, const uint8_t *src_mac, uint16_t seq, size_t size)
{
    uint8_t icmp[MK_FRAME_MAX];
    struct mk_ip ip = peer_ip(g, 1);
    send_ip(g, ms, src_mac, &ip, icmp, echo_request(icmp, seq, size), 0);
}

static void ping(struct gen *g, double ms, uint16_t seq, size_t size)
{
    ping_from(g, ms, mk_peer_mac, seq, size);
}

static void udp_to(struct gen *g, double ms, uint16_t dport, const char *text, size_t pad_to)
{
    uint8_t udp[MK_FRAME_MAX];
    struct mk_ip ip = peer_ip(g, 17);
    size_t n = mk_udp(udp, MK_PEER_IP, MK_STACK_IP, 40000, dport, (const uint8_t *)text, strlen(text));
    send_ip(g, ms, mk_peer_mac, &ip, udp, n, pad_to);
}

/*
 * One fragment of a datagram whose whole payload is `l4` (RFC 791 2.3): bytes
 * [off, off+len) with MF set unless it is the end. All fragments share ip_id.
 */
static void fragment(struct gen *g, double ms, uint16_t ip_id, const uint8_t *l4, size_t total, size_t off,
                     size_t len)
{
    struct mk_ip ip = {.src = MK_PEER_IP, .dst = MK_STACK_IP, .proto = 1, .id = ip_id};
    ip.frag_offset = (uint16_t)off;
    ip.mf = off + len < total;
    send_ip(g, ms, mk_peer_mac, &ip, l4 + off, len, 0);
}

/* A 4000-byte ping (ICMP message of 4008 bytes) in Linux's three pieces for a 1500 MTU: 1480, 1480, 1048. */
static size_t big_ping(uint8_t *icmp, uint16_t seq)
{
    return echo_request(icmp, seq, 4000);
}

/* ---- the cases ------------------------------------------------------------------------------- */

/* RFC 826: a request for our address gets a reply, and teaches us the sender (no ARP of our own later). */
static void arp_request_for_us(struct gen *g)
{
    arp_who_has_stack(g, 10, mk_peer_mac, 60);
    ping(g, 20, 1, 56);
}

/* RFC 826: a request for another address gets no reply and teaches us nothing, so the ping makes us ask. */
static void arp_request_for_other(struct gen *g)
{
    static const uint8_t zero[6];
    uint8_t f[MK_FRAME_MAX];
    emit(g, 10, f, mk_arp(f, mk_broadcast_mac, 1, mk_peer_mac, MK_PEER_IP, zero, 0x0a000003u, 60));
    ping(g, 20, 1, 56);
    arp_reply_to_stack(g, 21);
}

/* RFC 5227 2.4 / RFC 826: an announcement from a known host updates its entry; replies go to the new MAC. */
static void arp_gratuitous(struct gen *g)
{
    static const uint8_t new_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x11};
    uint8_t f[MK_FRAME_MAX];
    arp_who_has_stack(g, 10, mk_peer_mac, 0);
    ping(g, 20, 1, 56);
    emit(g, 30, f, mk_arp(f, mk_broadcast_mac, 1, new_mac, MK_PEER_IP, mk_broadcast_mac, MK_PEER_IP, 0));
    ping_from(g, 40, new_mac, 2, 56);
}

/* RFC 792 echo, RFC 826 resolution with the reply held until the peer answers. */
static void ping_small(struct gen *g)
{
    ping(g, 10, 1, 56);
    arp_reply_to_stack(g, 11);
    ping(g, 1010, 2, 56);
}

/* RFC 791: reassembly of the request, fragmentation of the reply to the MTU. */
static void ping_fragmented(struct gen *g)
{
    uint8_t icmp[MK_FRAME_MAX];
    size_t n = big_ping(icmp, 1);
    arp_who_has_stack(g, 10, mk_peer_mac, 0);
    fragment(g, 20, 0x4001, icmp, n, 0, 1480);
    fragment(g, 20.1, 0x4001, icmp, n, 1480, 1480);
    fragment(g, 20.2, 0x4001, icmp, n, 2960, n - 2960);
}

/* RFC 768: echo on port 7; a padded minimum frame carries a 1-byte datagram, and an empty datagram is valid. */
static void udp_echo(struct gen *g)
{
    arp_who_has_stack(g, 10, mk_peer_mac, 0);
    udp_to(g, 20, 7, "hello", 0);
    udp_to(g, 30, 7, "x", 60);
    udp_to(g, 40, 7, "", 0);
}

/* RFC 1122 4.1.3.1 / RFC 792: no listener -> ICMP port unreachable quoting the datagram. */
static void udp_closed_port(struct gen *g)
{
    arp_who_has_stack(g, 10, mk_peer_mac, 0);
    udp_to(g, 20, 9, "anyone there?", 0);
}

static void frag_out_of_order(struct gen *g)
{
    uint8_t icmp[MK_FRAME_MAX];
    size_t n = big_ping(icmp, 1);
    arp_who_has_stack(g, 10, mk_peer_mac, 0);
    fragment(g, 20, 0x4101, icmp, n, 2960, n - 2960);
    fragment(g, 20.1, 0x4101, icmp, n, 0, 1480);
    fragment(g, 20.2, 0x4101, icmp, n, 1480, 1480);
}

static void frag_duplicate(struct gen *g)
{
    uint8_t icmp[MK_FRAME_MAX];
    size_t n = big_ping(icmp, 1);
    arp_who_has_stack(g, 10, mk_peer_mac, 0);
    fragment(g, 20, 0x4201, icmp, n, 0, 1480);
    fragment(g, 20.1, 0x4201, icmp, n, 0, 1480);
    fragment(g, 20.2, 0x4201, icmp, n, 1480, 1480);
    fragment(g, 20.3, 0x4201, icmp, n, 1480, 1480);
    fragment(g, 20.4, 0x4201, icmp, n, 2960, n - 2960);
}

/*
 * Two fragments claim the same 8 bytes with different contents (a classic
 * evasion trick); the datagram must not be delivered. A later ping still works.
 */
static void frag_overlap(struct gen *g)
{
    uint8_t icmp[MK_FRAME_MAX], liar[MK_FRAME_MAX];
    size_t n = big_ping(icmp, 1);
    memcpy(liar, icmp, n);
    memset(liar + 1472, 0xee, 8); /* bytes 1472..1479, which the first fragment already carries */
    arp_who_has_stack(g, 10, mk_peer_mac, 0);
    fragment(g, 20, 0x4301, icmp, n, 0, 1480);
    fragment(g, 20.1, 0x4301, icmp, n, 2960, n - 2960);
    fragment(g, 20.2, 0x4301, liar, n, 1472, 1488);
    ping(g, 1000, 2, 56);
}

/* RFC 792 / RFC 1122 3.3.2: fragment zero arrived, the rest did not -> time exceeded, code 1. */
static void frag_timeout_first(struct gen *g)
{
    uint8_t icmp[MK_FRAME_MAX];
    size_t n = big_ping(icmp, 1);
    arp_who_has_stack(g, 10, mk_peer_mac, 0);
    fragment(g, 20, 0x4401, icmp, n, 0, 1480);
    fragment(g, 20.1, 0x4401, icmp, n, 2960, n - 2960);
    ping(g, 40000, 2, 56); /* after the 30 s timeout, before the 60 s ARP entry expires */
}

/* RFC 1122 3.3.2: without fragment zero nothing can be quoted, so the timeout is silent. */
static void frag_timeout_no_first(struct gen *g)
{
    uint8_t icmp[MK_FRAME_MAX];
    size_t n = big_ping(icmp, 1);
    arp_who_has_stack(g, 10, mk_peer_mac, 0);
    fragment(g, 20, 0x4501, icmp, n, 1480, 1480);
    fragment(g, 20.1, 0x4501, icmp, n, 2960, n - 2960);
    ping(g, 40000, 2, 56); /* after the 30 s timeout, before the 60 s ARP entry expires */
}

/* Frames too short for an Ethernet header, then an EtherType the stack does not speak. */
static void malformed_eth(struct gen *g)
{
    uint8_t f[MK_FRAME_MAX];
    arp_who_has_stack(g, 10, mk_peer_mac, 0);
    mk_eth(f, mk_stack_mac, mk_peer_mac, 0x0800);
    emit(g, 20, f, 10);
    emit(g, 30, f, 13);
    size_t n = mk_eth(f, mk_stack_mac, mk_peer_mac, 0x86dd);
    memset(f + n, 0x60, 40);
    emit(g, 40, f, n + 40);
    ping(g, 50, 1, 56);
}

/* RFC 791 3.1 / RFC 1122 3.2.1: the header checks, each on an otherwise valid echo request. */
static void malformed_ipv4_header(struct gen *g)
{
    uint8_t icmp[MK_FRAME_MAX];
    size_t n = echo_request(icmp, 1, 56);
    arp_who_has_stack(g, 10, mk_peer_mac, 0);

    struct mk_ip ip = peer_ip(g, 1);
    ip.ihl = 4; /* below the 20-byte minimum */
    send_ip(g, 20, mk_peer_mac, &ip, icmp, n, 0);

    ip = peer_ip(g, 1);
    ip.ihl = 15; /* 60-byte header in a 28-byte datagram */
    send_ip(g, 30, mk_peer_mac, &ip, icmp, 8, 0);

    ip = peer_ip(g, 1);
    ip.version = 6;
    send_ip(g, 40, mk_peer_mac, &ip, icmp, n, 0);

    ip = peer_ip(g, 1);
    ip.bad_checksum = true;
    send_ip(g, 50, mk_peer_mac, &ip, icmp, n, 0);

    /* Record route (type 7) claiming 39 bytes inside a 4-byte options area. */
    static const uint8_t rr_too_long[4] = {0x07, 39, 4, 0};
    ip = peer_ip(g, 1);
    ip.options = rr_too_long;
    ip.options_len = sizeof(rr_too_long);
    send_ip(g, 60, mk_peer_mac, &ip, icmp, n, 0);

    ping(g, 70, 2, 56);
}

/* RFC 791 3.1 / RFC 1122 3.2.1.2: total length below the header, or beyond what arrived. */
static void malformed_ipv4_length(struct gen *g)
{
    uint8_t icmp[MK_FRAME_MAX];
    size_t n = echo_request(icmp, 1, 56);
    arp_who_has_stack(g, 10, mk_peer_mac, 0);

    struct mk_ip ip = peer_ip(g, 1);
    ip.total_length = 16;
    send_ip(g, 20, mk_peer_mac, &ip, icmp, n, 0);

    ip = peer_ip(g, 1);
    ip.total_length = (uint16_t)(20 + n + 100);
    send_ip(g, 30, mk_peer_mac, &ip, icmp, n, 0);

    ping(g, 40, 2, 56);
}

/* RFC 768 / RFC 1122 4.1.3.4: UDP length out of range, bad checksum; the echo app must not see them. */
static void malformed_udp(struct gen *g)
{
    uint8_t udp[MK_FRAME_MAX];
    arp_who_has_stack(g, 10, mk_peer_mac, 0);

    size_t n = mk_udp(udp, MK_PEER_IP, MK_STACK_IP, 40000, 7, (const uint8_t *)"short", 5);
    udp[4] = 0;
    udp[5] = 4; /* length 4 < 8 */
    struct mk_ip ip = peer_ip(g, 17);
    send_ip(g, 20, mk_peer_mac, &ip, udp, n, 0);

    n = mk_udp(udp, MK_PEER_IP, MK_STACK_IP, 40000, 7, (const uint8_t *)"long", 4);
    udp[4] = 0;
    udp[5] = 100; /* claims 100 bytes in a 12-byte IP payload */
    ip = peer_ip(g, 17);
    send_ip(g, 30, mk_peer_mac, &ip, udp, n, 0);

    n = mk_udp(udp, MK_PEER_IP, MK_STACK_IP, 40000, 7, (const uint8_t *)"corrupt", 7);
    udp[8] ^= 0x20; /* one payload bit flipped after the checksum was computed */
    ip = peer_ip(g, 17);
    send_ip(g, 40, mk_peer_mac, &ip, udp, n, 0);

    udp_to(g, 50, 7, "still here", 0);
    ping(g, 60, 1, 56);
}

/* RFC 792: an echo request shorter than the 8-byte echo header, and one with a bad ICMP checksum. */
static void malformed_icmp(struct gen *g)
{
    uint8_t icmp[MK_FRAME_MAX];
    arp_who_has_stack(g, 10, mk_peer_mac, 0);

    size_t n = echo_request(icmp, 1, 0);
    struct mk_ip ip = peer_ip(g, 1);
    send_ip(g, 20, mk_peer_mac, &ip, icmp, 4, 0);

    n = echo_request(icmp, 2, 56);
    icmp[2] ^= 0x01;
    ip = peer_ip(g, 1);
    send_ip(g, 30, mk_peer_mac, &ip, icmp, n, 0);

    ping(g, 40, 3, 56);
}

/* ---- driver ------------------------------------------------------------------------------------ */

struct capture_def {
    const char *name;
    void (*write)(struct gen *g);
};

static const struct capture_def captures[] = {
    {"arp_request_for_us", arp_request_for_us},
    {"arp_request_for_other", arp_request_for_other},
    {"arp_gratuitous", arp_gratuitous},
    {"ping_small", ping_small},
    {"ping_fragmented", ping_fragmented},
    {"udp_echo", udp_echo},
    {"udp_closed_port", udp_closed_port},
    {"frag_out_of_order", frag_out_of_order},
    {"frag_duplicate", frag_duplicate},
    {"frag_overlap", frag_overlap},
    {"frag_timeout_first", frag_timeout_first},
    {"frag_timeout_no_first", frag_timeout_no_first},
    {"malformed_eth", malformed_eth},
    {"malformed_ipv4_header", malformed_ipv4_header},
    {"malformed_ipv4_length", malformed_ipv4_length},
    {"malformed_udp", malformed_udp},
    {"malformed_icmp", malformed_icmp},
};

static int write_capture(const char *dir, const struct capture_def *def)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.pcap", dir, def->name);
    struct gen g = {.next_ip_id = 0x0100};
    g.dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_MICRO);
    if (!g.dead) {
        fprintf(stderr, "mkcaptures: pcap_open_dead failed\n");
        return -1;
    }
    g.dump = pcap_dump_open(g.dead, path);
    if (!g.dump) {
        fprintf(stderr, "mkcaptures: %s\n", pcap_geterr(g.dead));
        pcap_close(g.dead);
        return -1;
    }
    def->write(&g);
    pcap_dump_close(g.dump);
    pcap_close(g.dead);
    printf("wrote %s (peer frames only: bless the case to add the stack's)\n", path);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: mkcaptures OUTDIR [NAME...]\n  names:");
        for (size_t i = 0; i < sizeof(captures) / sizeof(captures[0]); i++)
            fprintf(stderr, " %s", captures[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    int rc = 0;
    for (size_t i = 0; i < sizeof(captures) / sizeof(captures[0]); i++) {
        bool wanted = argc == 2;
        for (int a = 2; a < argc; a++)
            wanted |= strcmp(argv[a], captures[i].name) == 0;
        if (wanted && write_capture(argv[1], &captures[i]) != 0)
            rc = 1;
    }
    for (int a = 2; a < argc; a++) {
        bool known = false;
        for (size_t i = 0; i < sizeof(captures) / sizeof(captures[0]); i++)
            known |= strcmp(argv[a], captures[i].name) == 0;
        if (!known) {
            fprintf(stderr, "mkcaptures: no capture named %s\n", argv[a]);
            rc = 2;
        }
    }
    return rc;
}
