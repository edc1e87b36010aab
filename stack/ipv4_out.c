/*
 * IPv4 output: route (on-link or via the gateway), fragment when the datagram
 * exceeds the MTU and DF allows it (RFC 791 3.2), resolve the next hop, send.
 * Datagrams to our own address never reach the wire: they loop back.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "wire/checksum.h"

/*
 * RFC 6864 4.2 / RFC 7739 4.3: the identification only has to be unique per
 * (source, destination, protocol) within a datagram's lifetime. A counter per
 * hash bucket of that triple, each started at a random value, keeps it unique
 * without letting one peer learn how much we send to another.
 */
static uint16_t ipv4_next_id(struct ts_stack *st, ts_ipv4_addr dst, uint8_t protocol)
{
    uint64_t h = (st->ip_id_key ^ ((uint64_t)dst << 8) ^ protocol) * 0x9e3779b97f4a7c15ull;
    unsigned bucket = (unsigned)(h >> 58) % IP_ID_BUCKETS;
    return st->ip_id_next[bucket]++;
}

/* RFC 1122 3.3.1.1: on-link if within our prefix, else through the default gateway. */
static int ipv4_route(const struct ts_stack *st, ts_ipv4_addr dst, ts_ipv4_addr *next_hop)
{
    if (st->cfg.prefix_len > 0 && (dst & st->netmask) == (st->cfg.addr & st->netmask)) {
        *next_hop = dst;
        return 0;
    }
    if (st->cfg.gateway == 0)
        return -ENETUNREACH;
    *next_hop = st->cfg.gateway;
    return 0;
}

/* pb holds a whole IP packet; hand it to the link (broadcast needs no ARP). Consumes pb. */
static int ipv4_send_packet(struct ts_stack *st, ts_time now, struct ts_pbuf *pb, ts_ipv4_addr dst,
                            ts_ipv4_addr next_hop)
{
    if (ipv4_is_broadcast(st, dst)) {
        eth_output(st, now, pb, eth_broadcast_addr, ETHERTYPE_IPV4);
        return 0;
    }
    return arp_send_ip(st, now, pb, next_hop);
}

static void ipv4_fill_header(struct ts_stack *st, ts_time now, struct ts_pbuf *pb, const struct ipv4_out *out,
                             uint16_t id, uint16_t offset, bool more)
{
    char src[16], dst[16];
    struct ipv4_hdr h = {
        .ihl = IPV4_MIN_HDR_LEN,
        .tos = out->tos,
        .total_len = (uint16_t)(pbuf_wire_len(pb) + IPV4_MIN_HDR_LEN),
        .id = id,
        .dont_fragment = out->dont_fragment,
        .more_fragments = more,
        .frag_offset = offset,
        .ttl = out->ttl,
        .protocol = out->protocol,
        .src = out->src,
        .dst = out->dst,
    };
    ipv4_emit(&h, pbuf_push(pb, IPV4_MIN_HDR_LEN));
    pb->owner_id = out->owner_id;
    TS_TRACE(st, now, TS_TRACE_IP, TS_TRACE_TX, "tx %s > %s proto %u id 0x%04x len %u ttl %u%s%s%s",
             ipv4_addr_format(h.src, src), ipv4_addr_format(h.dst, dst), h.protocol, h.id, h.total_len, h.ttl,
             h.dont_fragment ? " DF" : "", more ? " MF" : "", offset != 0 || more ? " (fragment)" : "");
}

/* RFC 791 3.2 "Fragmentation": each fragment but the last carries a multiple of 8 data bytes. */
static int ipv4_fragment(struct ts_stack *st, ts_time now, struct ts_pbuf *pb, const struct ipv4_out *out,
                         uint16_t id, ts_ipv4_addr next_hop)
{
    pb = pbuf_own_data(st, pb); /* the fragments are cut from the packet's own bytes */
    if (pb == NULL)
        return -ENOBUFS;
    size_t chunk = ((st->link.mtu - IPV4_MIN_HDR_LEN) / 8) * 8;
    size_t total = pb->len;
    int result = 0;
    st->counters.ip.tx_fragmented++;
    for (size_t offset = 0; offset < total; offset += chunk) {
        size_t n = total - offset < chunk ? total - offset : chunk;
        struct ts_pbuf *frag = pbuf_alloc(st, PBUF_HEADROOM, n);
        if (frag == NULL) {
            result = -ENOBUFS;
            break;
        }
        memcpy(frag->data, pb->data + offset, n);
        ipv4_fill_header(st, now, frag, out, id, (uint16_t)offset, offset + n < total);
        st->counters.ip.tx_fragments++;
        int err = ipv4_send_packet(st, now, frag, out->dst, next_hop);
        if (err != 0 && result == 0)
            result = err;
    }
    pbuf_free(st, pb);
    return result;
}

int ipv4_output(struct ts_stack *st, ts_time now, struct ts_pbuf *pb, const struct ipv4_out *out)
{
    char dst[16];
    size_t wire_len = pbuf_wire_len(pb);
    if (wire_len + IPV4_MIN_HDR_LEN > IPV4_MAX_DATAGRAM) {
        pbuf_free(st, pb);
        return -EMSGSIZE;
    }
    st->counters.ip.tx_datagrams++;
    uint16_t id = ipv4_next_id(st, out->dst, out->protocol);
    if (ipv4_is_local(st, out->dst)) {
        ipv4_fill_header(st, now, pb, out, id, 0, false);
        pb = pbuf_own_data(st, pb); /* delivered later, when the bytes it refers to may have moved */
        if (pb == NULL)
            return -ENOBUFS;
        st->counters.ip.loopback++;
        pbuf_queue_push(&st->loopback, pb);
        return 0;
    }
    ts_ipv4_addr next_hop = out->dst;
    if (!ipv4_is_broadcast(st, out->dst) && ipv4_route(st, out->dst, &next_hop) != 0) {
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_tx_no_route, "no route to %s", ipv4_addr_format(out->dst, dst));
        pbuf_free(st, pb);
        return -ENETUNREACH;
    }
    /* A TSO super-segment is cut to the MTU by the device (the link advertised it). */
    if (wire_len + IPV4_MIN_HDR_LEN > st->link.mtu && pb->tx_gso_size == 0) {
        if (out->dont_fragment) {
            TS_DROP(st, now, TS_TRACE_IP, ip, drop_tx_too_big, "%zu bytes with DF exceed the MTU %zu (RFC 791: DF "
                    "forbids fragmenting)",
                    wire_len + IPV4_MIN_HDR_LEN, st->link.mtu);
            pbuf_free(st, pb);
            return -EMSGSIZE;
        }
        return ipv4_fragment(st, now, pb, out, id, next_hop);
    }
    ipv4_fill_header(st, now, pb, out, id, 0, false);
    return ipv4_send_packet(st, now, pb, out->dst, next_hop);
}

/*
 * Delivers datagrams we sent to ourselves. Runs at the end of each entry point
 * rather than inside ipv4_output, so a protocol never re-enters itself while
 * it is still sending.
 */
void ipv4_flush_loopback(struct ts_stack *st, ts_time now)
{
    if (st->in_loopback)
        return;
    st->in_loopback = true;
    /* Bounded: a datagram delivered here may answer with another, which waits for the next round. */
    size_t budget = st->loopback.count;
    struct ts_pbuf *pb;
    while (budget-- > 0 && (pb = pbuf_queue_pop(&st->loopback)) != NULL) {
        ipv4_input(st, now, pb->data, pb->len, false, false);
        pbuf_free(st, pb);
    }
    st->in_loopback = false;
}
