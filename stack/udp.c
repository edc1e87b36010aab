/* UDP (RFC 768, RFC 1122 4.1): demultiplex datagrams to pcbs, send datagrams for them. */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "wire/icmp.h"
#include "wire/udp.h"

static int udp_match_score(const struct ts_pcb *pcb, const struct ipv4_rx *rx, const struct udp_hdr *u)
{
    if (pcb->type != TS_PCB_UDP || !pcb->bound || pcb->local.port != u->dst_port)
        return -1;
    if (pcb->local.addr != 0 && pcb->local.addr != rx->hdr.dst)
        return -1;
    int score = pcb->local.addr != 0 ? 1 : 0;
    if (pcb->connected) {
        /* A connected socket hears only from its peer (RFC 1122 4.1.3.4 leaves this to the host; BSD does so). */
        if (pcb->remote.addr != rx->hdr.src || pcb->remote.port != u->src_port)
            return -1;
        score += 2;
    }
    return score;
}

static void udp_queue(struct ts_stack *st, ts_time now, struct ts_pcb *pcb, const struct ipv4_rx *rx,
                      const struct udp_hdr *u, const uint8_t *data, size_t len)
{
    if (!pcb_queue_datagram(pcb, rx, data, len, u->src_port))
        TS_DROP(st, now, TS_TRACE_UDP, udp, drop_rcvbuf_full, "socket %u: %zu bytes queued, receive buffer %zu",
                pcb->id, pcb->rxq_charge, pcb->rcvbuf);
}

void udp_input(struct ts_stack *st, ts_time now, const struct ipv4_rx *rx)
{
    struct udp_hdr u;
    const uint8_t *data;
    size_t len;
    char src[16], dst[16];
    switch (udp_parse_checked(rx->payload, rx->payload_len, rx->hdr.src, rx->hdr.dst, !rx->l4_csum_trusted, &u, &data,
                              &len)) {
    case UDP_PARSE_OK:
        break;
    case UDP_PARSE_TRUNCATED:
        TS_DROP(st, now, TS_TRACE_UDP, udp, drop_truncated, "%zu bytes, shorter than the UDP header (RFC 768)",
                rx->payload_len);
        return;
    case UDP_PARSE_BAD_LENGTH:
        TS_DROP(st, now, TS_TRACE_UDP, udp, drop_bad_length, "length field %u, IP payload %zu (RFC 768)", u.length,
                rx->payload_len);
        return;
    case UDP_PARSE_BAD_CHECKSUM:
        TS_DROP(st, now, TS_TRACE_UDP, udp, drop_bad_checksum, "from %s:%u (RFC 1122 4.1.3.4: silently discarded)",
                ipv4_addr_format(rx->hdr.src, src),
                u.src_port);
        return;
    }
    st->counters.udp.rx_datagrams++;
    TS_TRACE(st, now, TS_TRACE_UDP, TS_TRACE_RX, "rx %s:%u > %s:%u len %zu", ipv4_addr_format(rx->hdr.src, src),
             u.src_port, ipv4_addr_format(rx->hdr.dst, dst), u.dst_port, len);

    /* A broadcast goes to every socket on the port; a unicast to the most specific match. Only the
     * sockets bound to the port are examined (newest first, so ties go to the newest). */
    struct ts_pcb *best = NULL;
    int best_score = -1;
    bool delivered = false;
    for (struct ts_pcb *pcb = pcb_port_members(st, TS_PCB_UDP, u.dst_port); pcb != NULL; pcb = pcb->group_next) {
        st->counters.sock.lookup_probes++;
        int score = udp_match_score(pcb, rx, &u);
        if (score < 0)
            continue;
        if (rx->to_broadcast) {
            udp_queue(st, now, pcb, rx, &u, data, len);
            delivered = true;
        } else if (score > best_score) {
            best = pcb;
            best_score = score;
        }
    }
    if (best != NULL) {
        udp_queue(st, now, best, rx, &u, data, len);
        return;
    }
    if (delivered)
        return;
    TS_DROP(st, now, TS_TRACE_UDP, udp, drop_no_socket, "port %u: answering with port unreachable (RFC 1122 4.1.3.1)",
            u.dst_port);
    /* RFC 1122 4.1.3.1: a datagram for a port nobody listens on SHOULD get a port unreachable. */
    icmp_send_error(st, now, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, rx);
}

ssize_t udp_output(struct ts_pcb *pcb, ts_time now, const void *data, size_t len, const struct ts_sockaddr *to)
{
    struct ts_stack *st = pcb->st;
    char src[16], dst[16];
    if (len > IPV4_MAX_DATAGRAM - IPV4_MIN_HDR_LEN - UDP_HDR_LEN)
        return -EMSGSIZE;
    struct ts_pbuf *pb = pbuf_alloc(st, PBUF_HEADROOM, UDP_HDR_LEN + len);
    if (pb == NULL)
        return -ENOBUFS;
    if (len > 0)
        memcpy(pb->data + UDP_HDR_LEN, data, len);
    ts_ipv4_addr src_addr = st->cfg.addr;
    struct udp_hdr u = {.src_port = pcb->local.port, .dst_port = to->port};
    udp_emit(&u, pb->data, len, src_addr, to->addr);
    st->counters.udp.tx_datagrams++;
    TS_TRACE(st, now, TS_TRACE_UDP, TS_TRACE_TX, "tx %s:%u > %s:%u len %zu", ipv4_addr_format(src_addr, src),
             u.src_port, ipv4_addr_format(to->addr, dst), to->port, len);
    struct ipv4_out out = {
        .src = src_addr,
        .dst = to->addr,
        .protocol = IPV4_PROTO_UDP,
        .ttl = pcb->ttl,
        .tos = pcb->tos, /* RFC 1122 3.2.1.6, 4.1.4: IP_TOS */
        .dont_fragment = pcb->dontfrag,
        .owner_id = pcb->id,
    };
    int err = ipv4_output(st, now, pb, &out);
    return err < 0 ? err : (ssize_t)len;
}
