#include "core_fixture.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wire/checksum.h"

const uint8_t fx_stack_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
const uint8_t fx_peer_mac[6] = {0x02, 0, 0, 0, 0, 0x01};

static int fx_transmit(void *ctx, ts_time now, const uint8_t *frame, size_t len)
{
    struct fx *f = ctx;
    if (f->sent_count >= FX_MAX_FRAMES || len > sizeof f->sent[0].data) {
        f->sent_dropped++;
        return -ENOBUFS;
    }
    struct fx_frame *fr = &f->sent[f->sent_count++];
    fr->when = now;
    fr->len = len;
    memcpy(fr->data, frame, len);
    return 0;
}

static int fx_transmit_meta(void *ctx, ts_time now, const uint8_t *frame, size_t len,
                            const struct ts_frame_meta *meta)
{
    struct fx *f = ctx;
    int rc = fx_transmit(ctx, now, frame, len);
    if (rc != 0 || meta == NULL)
        return rc;
    struct fx_frame *fr = &f->sent[f->sent_count - 1];
    fr->meta = *meta;
    /* Like a device, fill a partial checksum in, so ordinary segments decode as they would off the wire;
     * super-segments stay as the stack made them, for the tests that check them. */
    if ((meta->flags & TS_FRAME_CSUM_PARTIAL) && meta->gso_size == 0) {
        cr_assert_leq((size_t)meta->csum_start + meta->csum_offset + 2, len);
        uint16_t sum = csum_finish(csum_add(0, fr->data + meta->csum_start, len - meta->csum_start));
        be16_put(fr->data + meta->csum_start + meta->csum_offset, sum);
    }
    return rc;
}

/* A gathering device: the parts are written back to back, as writev does; the frame is then recorded as one. */
static int fx_transmit_gather(void *ctx, ts_time now, const struct ts_frame_part *parts, unsigned nparts,
                              const struct ts_frame_meta *meta)
{
    struct fx *f = ctx;
    static uint8_t joined[sizeof(((struct fx_frame *)0)->data)];
    size_t len = 0;
    cr_assert_gt(nparts, 1, "a gathered frame has its headers and its data apart");
    cr_assert_leq(nparts, TS_FRAME_PARTS_MAX);
    for (unsigned k = 0; k < nparts; k++) {
        cr_assert_leq(len + parts[k].len, sizeof joined);
        memcpy(joined + len, parts[k].data, parts[k].len);
        len += parts[k].len;
    }
    f->gathered_frames++;
    f->gathered_parts += nparts;
    return fx_transmit_meta(ctx, now, joined, len, meta);
}

void fx_default_config(struct ts_stack_config *cfg)
{
    ts_stack_config_init(cfg);
    memcpy(cfg->mac, fx_stack_mac, 6);
    cfg->addr = FX_STACK_IP;
    cfg->prefix_len = 24;
    cfg->gateway = FX_PEER_IP;
    cfg->seed = 42;
}

void fx_init(struct fx *f, const struct ts_stack_config *cfg)
{
    fx_init_offload(f, cfg, 0, 0);
}

void fx_init_offload(struct fx *f, const struct ts_stack_config *cfg, uint32_t offloads, size_t tso_max)
{
    memset(f, 0, sizeof *f);
    f->sent = calloc(FX_MAX_FRAMES, sizeof *f->sent);
    cr_assert_not_null(f->sent);
    if (cfg != NULL)
        f->cfg = *cfg;
    else
        fx_default_config(&f->cfg);
    struct ts_link link = {.ctx = f, .transmit = fx_transmit, .mtu = 1500};
    if (offloads != 0) {
        link.offloads = offloads;
        link.tso_max = tso_max;
        link.transmit_meta = fx_transmit_meta;
        if (offloads & TS_LINK_TX_GATHER)
            link.transmit_gather = fx_transmit_gather;
    }
    f->st = ts_stack_new(&f->cfg, &link);
    cr_assert_not_null(f->st, "ts_stack_new failed");
}

void fx_fini(struct fx *f)
{
    if (f->st != NULL) {
        size_t leaked = ts_stack_free(f->st);
        cr_expect_eq(leaked, 0, "packet buffers leaked: %zu", leaked);
    }
    free(f->sent);
    memset(f, 0, sizeof *f);
}

void fx_clear_sent(struct fx *f)
{
    f->sent_count = 0;
    f->sent_dropped = 0;
}

void fx_learn_peer(struct fx *f, ts_time now)
{
    cr_assert_eq(ts_stack_arp_add_static(f->st, FX_PEER_IP, fx_peer_mac), 0);
    ts_stack_poll(f->st, now); /* sends the gratuitous ARP */
    fx_clear_sent(f);
}

void fx_input(struct fx *f, ts_time now, const uint8_t *frame, size_t len)
{
    ts_stack_input(f->st, now, frame, len);
}

static size_t fx_eth(uint8_t *buf, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
    memcpy(buf, dst, 6);
    memcpy(buf + 6, src, 6);
    be16_put(buf + 12, type);
    return 14;
}

size_t fx_build_arp(uint8_t *buf, uint16_t op, const uint8_t sender_mac[6], uint32_t sender_ip,
                    const uint8_t target_mac[6], uint32_t target_ip, const uint8_t eth_dst[6])
{
    size_t n = fx_eth(buf, eth_dst, sender_mac, 0x0806);
    uint8_t *p = buf + n;
    be16_put(p, 1);
    be16_put(p + 2, 0x0800);
    p[4] = 6;
    p[5] = 4;
    be16_put(p + 6, op);
    memcpy(p + 8, sender_mac, 6);
    be32_put(p + 14, sender_ip);
    memcpy(p + 18, target_mac, 6);
    be32_put(p + 24, target_ip);
    return n + 28;
}

void fx_fix_ipv4_checksum(uint8_t *frame)
{
    uint8_t *ip = frame + 14;
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
    be16_put(ip + 10, 0);
    be16_put(ip + 10, csum_finish(csum_add(0, ip, ihl)));
}

size_t fx_build_ipv4(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t protocol, uint16_t id, uint16_t frag_field,
                     const uint8_t *payload, size_t payload_len)
{
    size_t n = fx_eth(buf, fx_stack_mac, fx_peer_mac, 0x0800);
    uint8_t *ip = buf + n;
    ip[0] = 0x45;
    ip[1] = 0;
    be16_put(ip + 2, (uint16_t)(20 + payload_len));
    be16_put(ip + 4, id);
    be16_put(ip + 6, frag_field);
    ip[8] = 64;
    ip[9] = protocol;
    be32_put(ip + 12, src);
    be32_put(ip + 16, dst);
    if (payload_len > 0)
        memcpy(ip + 20, payload, payload_len);
    fx_fix_ipv4_checksum(buf);
    return n + 20 + payload_len;
}

size_t fx_build_udp(uint8_t *buf, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, const void *data,
                    size_t len)
{
    uint8_t *udp = malloc(8 + len);
    cr_assert_not_null(udp);
    be16_put(udp, sport);
    be16_put(udp + 2, dport);
    be16_put(udp + 4, (uint16_t)(8 + len));
    be16_put(udp + 6, 0);
    if (len > 0)
        memcpy(udp + 8, data, len);
    uint16_t sum = csum_finish(csum_add(csum_pseudo_ipv4(src, dst, 17, (uint16_t)(8 + len)), udp, 8 + len));
    be16_put(udp + 6, sum == 0 ? 0xffff : sum);
    size_t n = fx_build_ipv4(buf, src, dst, 17, 0x1234, 0, udp, 8 + len);
    free(udp);
    return n;
}

size_t fx_build_echo_request(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t id, uint16_t seq, const void *data,
                             size_t len)
{
    uint8_t *icmp = malloc(8 + len);
    cr_assert_not_null(icmp);
    icmp[0] = 8;
    icmp[1] = 0;
    be16_put(icmp + 2, 0);
    be16_put(icmp + 4, id);
    be16_put(icmp + 6, seq);
    if (len > 0)
        memcpy(icmp + 8, data, len);
    be16_put(icmp + 2, csum_finish(csum_add(0, icmp, 8 + len)));
    size_t n = fx_build_ipv4(buf, src, dst, 1, 0x4321, 0, icmp, 8 + len);
    free(icmp);
    return n;
}

static size_t fx_tcp_options_bytes(const struct fx_tcp_options *o, uint8_t *p)
{
    size_t i = 0;
    if (o->raw != NULL) {
        memcpy(p, o->raw, o->raw_len);
        i = o->raw_len;
    } else {
        if (o->mss != 0) {
            p[i++] = 2;
            p[i++] = 4;
            be16_put(p + i, o->mss);
            i += 2;
        }
        if (o->timestamps) {
            p[i++] = o->sack_permitted ? 4 : 1;
            p[i++] = o->sack_permitted ? 2 : 1;
            p[i++] = 8;
            p[i++] = 10;
            be32_put(p + i, o->ts_val);
            be32_put(p + i + 4, o->ts_ecr);
            i += 8;
        } else if (o->sack_permitted) {
            p[i++] = 1;
            p[i++] = 1;
            p[i++] = 4;
            p[i++] = 2;
        }
        if (o->has_wscale) {
            p[i++] = 1;
            p[i++] = 3;
            p[i++] = 3;
            p[i++] = o->wscale;
        }
        if (o->sack_count > 0) {
            p[i++] = 1;
            p[i++] = 1;
            p[i++] = 5;
            p[i++] = (uint8_t)(2 + 8 * o->sack_count);
            for (unsigned k = 0; k < o->sack_count; k++) {
                be32_put(p + i, o->sack[k][0]);
                be32_put(p + i + 4, o->sack[k][1]);
                i += 8;
            }
        }
    }
    while (i % 4 != 0)
        p[i++] = 0; /* EOL padding */
    cr_assert_leq(i, 40, "TCP options do not fit in 40 bytes");
    return i;
}

size_t fx_build_tcp(uint8_t *buf, const struct fx_tcp_segment *seg)
{
    size_t cap = 60 + seg->len;
    uint8_t *tcp = calloc(1, cap);
    cr_assert_not_null(tcp);
    size_t hdr_len = 20 + fx_tcp_options_bytes(&seg->opt, tcp + 20);
    be16_put(tcp, seg->sport);
    be16_put(tcp + 2, seg->dport);
    be32_put(tcp + 4, seg->seq);
    be32_put(tcp + 8, seg->ack);
    tcp[12] = (uint8_t)((hdr_len / 4) << 4);
    tcp[13] = seg->flags;
    be16_put(tcp + 14, seg->window);
    if (seg->len > 0)
        memcpy(tcp + hdr_len, seg->data, seg->len);
    size_t total = hdr_len + seg->len;
    uint32_t sum = csum_pseudo_ipv4(seg->src, seg->dst, 6, (uint16_t)total);
    be16_put(tcp + 16, csum_finish(csum_add(sum, tcp, total)));
    size_t n = fx_build_ipv4(buf, seg->src, seg->dst, 6, 0x2222, 0x4000, tcp, total);
    free(tcp);
    return n;
}

uint16_t fx_ethertype(const struct fx_frame *fr)
{
    return be16_get(fr->data + 12);
}

const uint8_t *fx_l3(const struct fx_frame *fr)
{
    return fr->data + 14;
}

size_t fx_l3_len(const struct fx_frame *fr)
{
    return fr->len - 14;
}

uint64_t fx_counter(const struct fx *f, const char *name)
{
    uint64_t v = 0;
    cr_assert(ts_stack_counter(f->st, name, &v), "no counter named %s", name);
    return v;
}
