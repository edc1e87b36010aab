/*
 * Hand-built hostile frames for ts-flood. Written independently of the stack's
 * own wire code, so a bug shared by both cannot hide itself.
 */
#include "flood.h"

#include <string.h>

uint64_t flood_rand(struct flood *f)
{
    /* xorshift64*: fast, and fixed by --seed */
    f->rng ^= f->rng >> 12;
    f->rng ^= f->rng << 25;
    f->rng ^= f->rng >> 27;
    return f->rng * 0x2545f4914f6cdd1dull;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

/* RFC 1071 */
static uint32_t sum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)((p[i] << 8) | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)(p[len - 1] << 8);
    return sum;
}

static uint16_t sum_finish(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* A locally administered unicast MAC, random. */
void flood_random_mac(struct flood *f, uint8_t mac[6])
{
    uint64_t r = flood_rand(f);
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)(r >> (8 * i));
    mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02);
}

/* A random address of net/prefix, avoiding the network and broadcast addresses and the protected ones. */
uint32_t flood_random_ip(struct flood *f, uint32_t net, unsigned prefix)
{
    uint32_t host_mask = prefix >= 32 ? 0 : 0xffffffffu >> prefix;
    for (int tries = 0; tries < 64; tries++) {
        uint32_t ip = (net & ~host_mask) | ((uint32_t)flood_rand(f) & host_mask);
        uint32_t host = ip & host_mask;
        if (host_mask != 0 && (host == 0 || host == host_mask))
            continue;
        if (ip == f->dst_ip || ip == f->protect_ip)
            continue;
        return ip;
    }
    return net | 1;
}

static size_t eth_header(uint8_t *frame, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
    memcpy(frame, dst, 6);
    memcpy(frame + 6, src, 6);
    put16(frame + 12, type);
    return 14;
}

/* A 20-byte IPv4 header at p; returns its length. */
static size_t ip_header(uint8_t *p, uint32_t src, uint32_t dst, uint8_t proto, size_t payload, uint16_t id,
                        uint16_t frag_field)
{
    memset(p, 0, 20);
    p[0] = 0x45;
    put16(p + 2, (uint16_t)(20 + payload));
    put16(p + 4, id);
    put16(p + 6, frag_field);
    p[8] = 64;
    p[9] = proto;
    put32(p + 12, src);
    put32(p + 16, dst);
    put16(p + 10, sum_finish(sum_add(0, p, 20)));
    return 20;
}

static uint16_t l4_checksum(uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *seg, size_t len)
{
    uint8_t pseudo[12];
    put32(pseudo, src);
    put32(pseudo + 4, dst);
    pseudo[8] = 0;
    pseudo[9] = proto;
    put16(pseudo + 10, (uint16_t)len);
    return sum_finish(sum_add(sum_add(0, pseudo, 12), seg, len));
}

size_t flood_tcp_frame(struct flood *f, uint8_t *frame, const struct flood_tcp *t)
{
    size_t off = eth_header(frame, f->dst_mac, t->src_mac, 0x0800);
    size_t tcp_len = 20 + t->payload_len;
    off += ip_header(frame + off, t->src_ip, f->dst_ip, 6, tcp_len, (uint16_t)flood_rand(f), 0x4000);
    uint8_t *tcp = frame + off;
    memset(tcp, 0, 20);
    put16(tcp, t->sport);
    put16(tcp + 2, t->dport);
    put32(tcp + 4, t->seq);
    put32(tcp + 8, t->ack);
    tcp[12] = 5 << 4;
    tcp[13] = t->flags;
    put16(tcp + 14, t->window);
    for (size_t i = 0; i < t->payload_len; i++)
        tcp[20 + i] = (uint8_t)flood_rand(f);
    put16(tcp + 16, l4_checksum(t->src_ip, f->dst_ip, 6, tcp, tcp_len));
    return off + tcp_len;
}

/* One fragment of a datagram that never completes: MF set, a random place, sometimes overlapping. */
size_t flood_frag_frame(struct flood *f, uint8_t *frame, uint32_t src_ip, uint16_t id, unsigned index)
{
    uint8_t src_mac[6];
    flood_random_mac(f, src_mac);
    size_t off = eth_header(frame, f->dst_mac, src_mac, 0x0800);
    size_t len = 8u * (1 + flood_rand(f) % 60);             /* 8..480 bytes, a multiple of 8 */
    unsigned offset8 = (unsigned)(index * 40 + flood_rand(f) % 48); /* overlaps its neighbours often */
    if (offset8 > 8000)
        offset8 %= 8000;
    uint16_t field = (uint16_t)(0x2000 | (offset8 & 0x1fff)); /* MF: the last fragment never comes */
    off += ip_header(frame + off, src_ip, f->dst_ip, 17, len, id, field);
    for (size_t i = 0; i < len; i++)
        frame[off + i] = (uint8_t)flood_rand(f);
    return off + len;
}

size_t flood_arp_frame(struct flood *f, uint8_t *frame, bool reply)
{
    static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t src_mac[6];
    flood_random_mac(f, src_mac);
    uint32_t sender = flood_random_ip(f, f->src_net, f->src_prefix);
    size_t off = eth_header(frame, reply ? f->dst_mac : broadcast, src_mac, 0x0806);
    uint8_t *a = frame + off;
    put16(a, 1);          /* Ethernet */
    put16(a + 2, 0x0800); /* IPv4 */
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, reply ? 2 : 1);
    memcpy(a + 8, src_mac, 6);
    put32(a + 14, sender);
    if (reply)
        memcpy(a + 18, f->dst_mac, 6);
    else
        memset(a + 18, 0, 6);
    /* Requests ask for the stack (so RFC 826 lets it learn the sender) or for a random neighbour. */
    uint32_t target = reply || (flood_rand(f) & 1) ? f->dst_ip : flood_random_ip(f, f->src_net, f->src_prefix);
    put32(a + 24, target);
    return off + 28;
}

/* UDP to a random port (most closed: ICMP port unreachable, rate limited) or an ICMP message of a random type. */
size_t flood_junk_frame(struct flood *f, uint8_t *frame)
{
    uint8_t src_mac[6];
    flood_random_mac(f, src_mac);
    uint32_t src = flood_random_ip(f, f->src_net, f->src_prefix);
    size_t off = eth_header(frame, f->dst_mac, src_mac, 0x0800);
    size_t len = 8 + flood_rand(f) % 64;
    bool udp = flood_rand(f) & 1;
    off += ip_header(frame + off, src, f->dst_ip, udp ? 17 : 1, len, (uint16_t)flood_rand(f), 0);
    uint8_t *p = frame + off;
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)flood_rand(f);
    if (udp) {
        put16(p + 4, (uint16_t)len);
        put16(p + 6, 0);
        put16(p + 6, l4_checksum(src, f->dst_ip, 17, p, len));
    } else {
        put16(p + 2, 0);
        put16(p + 2, sum_finish(sum_add(0, p, len)));
    }
    return off + len;
}
