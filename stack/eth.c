/* Ethernet II: accept frames addressed to us or to everyone, dispatch by type; frame outgoing packets. */
#include <string.h>

#include "internal.h"

static bool frame_is_for_us(const struct ts_stack *st, const struct eth_hdr *eth)
{
    return eth_addr_equal(eth->dst, st->cfg.mac) || eth_addr_is_broadcast(eth->dst);
}

/* A device's promise covers the transport checksum of this one frame; no promise, no exception. */
static bool eth_l4_csum_trusted(const struct ts_frame_meta *meta)
{
    return meta != NULL && (meta->flags & (TS_FRAME_CSUM_PARTIAL | TS_FRAME_CSUM_VERIFIED)) != 0;
}

void eth_input(struct ts_stack *st, ts_time now, const uint8_t *frame, size_t len, const struct ts_frame_meta *meta)
{
    struct eth_hdr eth;
    const uint8_t *payload;
    size_t payload_len;
    char dst[18], src[18];

    if (!eth_parse(frame, len, &eth, &payload, &payload_len)) {
        TS_DROP(st, now, TS_TRACE_ETH, eth, drop_runt, "frame of %zu bytes is shorter than an Ethernet header", len);
        return;
    }
    st->counters.eth.rx_frames++;
    st->counters.eth.rx_bytes += len;
    /* We join no multicast group, so only our unicast address and broadcast concern us. */
    if (!frame_is_for_us(st, &eth)) {
        TS_DROP(st, now, TS_TRACE_ETH, eth, drop_not_for_us, "to %s", mac_format(eth.dst, dst));
        return;
    }
    /* A frame claiming our own source address is a reflection or a spoof, never a peer. */
    if (eth_addr_equal(eth.src, st->cfg.mac)) {
        TS_DROP(st, now, TS_TRACE_ETH, eth, drop_own_source, "source is our own MAC");
        return;
    }
    TS_TRACE(st, now, TS_TRACE_ETH, TS_TRACE_RX, "rx %s > %s type 0x%04x len %zu", mac_format(eth.src, src),
             mac_format(eth.dst, dst), eth.ethertype, len);
    switch (eth.ethertype) {
    case ETHERTYPE_ARP:
        arp_input(st, now, &eth, payload, payload_len);
        return;
    case ETHERTYPE_IPV4:
        ipv4_input(st, now, payload, payload_len, eth_addr_is_broadcast(eth.dst), eth_l4_csum_trusted(meta));
        return;
    default:
        TS_DROP(st, now, TS_TRACE_ETH, eth, drop_unknown_ethertype, "type 0x%04x", eth.ethertype);
        return;
    }
}

/* Hands the frame to the link, with the offload requests TCP left on the buffer (IPv4 header: 20 bytes). */
static int eth_transmit(struct ts_stack *st, ts_time now, const struct ts_pbuf *pb)
{
    if (!pb->tx_csum_partial && pb->tx_gso_size == 0)
        return st->link.transmit(st->link.ctx, now, pb->data, pb->len);
    struct ts_frame_meta meta = {
        .flags = pb->tx_csum_partial ? TS_FRAME_CSUM_PARTIAL : 0,
        .csum_start = ETH_HDR_LEN + IPV4_MIN_HDR_LEN,
        .csum_offset = pb->tx_csum_offset,
        .gso_size = pb->tx_gso_size,
    };
    if (pb->ext_len[0] == 0)
        return st->link.transmit_meta(st->link.ctx, now, pb->data, pb->len, &meta);
    /* The headers from the packet, the data from the send ring (TS_LINK_TX_GATHER). */
    struct ts_frame_part parts[TS_FRAME_PARTS_MAX] = {{pb->data, pb->len}};
    unsigned nparts = 1;
    for (int k = 0; k < 2 && pb->ext_len[k] > 0; k++)
        parts[nparts++] = (struct ts_frame_part){pb->ext[k], pb->ext_len[k]};
    return st->link.transmit_gather(st->link.ctx, now, parts, nparts, &meta);
}

void eth_output(struct ts_stack *st, ts_time now, struct ts_pbuf *pb, const uint8_t dst[6], uint16_t ethertype)
{
    char dst_text[18], src_text[18];
    if (pbuf_wire_len(pb) > st->link.mtu && pb->tx_gso_size == 0) {
        TS_DROP(st, now, TS_TRACE_ETH, eth, drop_tx_too_big, "%zu bytes exceed the MTU %zu", pbuf_wire_len(pb),
                st->link.mtu);
        pbuf_free(st, pb);
        return;
    }
    struct eth_hdr eth = {.ethertype = ethertype};
    memcpy(eth.dst, dst, ETH_ADDR_LEN);
    memcpy(eth.src, st->cfg.mac, ETH_ADDR_LEN);
    eth_emit(&eth, pbuf_push(pb, ETH_HDR_LEN));
    TS_TRACE(st, now, TS_TRACE_ETH, TS_TRACE_TX, "tx %s > %s type 0x%04x len %zu", mac_format(eth.src, src_text),
             mac_format(eth.dst, dst_text), ethertype, pbuf_wire_len(pb));
    int err = eth_transmit(st, now, pb);
    if (err != 0) {
        TS_DROP(st, now, TS_TRACE_ETH, eth, drop_tx_link, "the device refused the frame (errno %d)", -err);
    } else {
        st->counters.eth.tx_frames++;
        st->counters.eth.tx_bytes += pbuf_wire_len(pb);
    }
    pbuf_free(st, pb);
}
