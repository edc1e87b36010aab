/*
 * IPv4 input (RFC 791, RFC 1122 3.2.1): validate, accept what is addressed to us,
 * send fragments to reassembly, hand whole datagrams to their protocol.
 * A host does not forward: datagrams for other addresses are counted and dropped.
 */
#include "internal.h"
#include "wire/icmp.h"

bool ipv4_is_broadcast(const struct ts_stack *st, ts_ipv4_addr addr)
{
    return addr == IPV4_BROADCAST || (st->cfg.prefix_len < 31 && addr == st->subnet_broadcast);
}

bool ipv4_is_local(const struct ts_stack *st, ts_ipv4_addr addr)
{
    return st->cfg.addr != 0 && addr == st->cfg.addr;
}

/*
 * RFC 1122 3.2.1.3: a source address that is broadcast, multicast, class E or loopback is discarded.
 * 0.0.0.0 is a legal source only while a host learns its address (BOOTP/DHCP, over UDP); RFC 9293
 * 3.10.7.2 (MUST-63): a TCP segment from it is ignored, and nothing (no SYN,ACK, no echo reply) is
 * ever sent back to it. A UDP datagram from it is still delivered; ICMP never answers it (icmp.c).
 */
static bool source_is_valid(const struct ts_stack *st, ts_ipv4_addr src, uint8_t protocol)
{
    if (ipv4_is_broadcast(st, src) || (src >> 28) >= 0xe || (src >> 24) == 127)
        return false;
    if (src == 0 && protocol != IPV4_PROTO_UDP)
        return false;
    return true;
}

static void ipv4_count_parse_error(struct ts_stack *st, ts_time now, enum ipv4_parse_result r, size_t len)
{
    switch (r) {
    case IPV4_PARSE_TRUNCATED:
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_truncated, "%zu bytes, shorter than an IPv4 header (RFC 791 3.1)", len);
        break;
    case IPV4_PARSE_BAD_VERSION:
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_bad_version, "version is not 4 (RFC 1122 3.2.1.1: silently discarded)");
        break;
    case IPV4_PARSE_BAD_HEADER_LEN:
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_bad_header_length, "IHL below 5 or beyond the %zu bytes (RFC 791 3.1)",
                len);
        break;
    case IPV4_PARSE_BAD_TOTAL_LEN:
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_bad_total_length, "total length outside header..%zu (RFC 791 3.1)", len);
        break;
    case IPV4_PARSE_BAD_CHECKSUM:
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_bad_checksum, "header checksum does not verify (RFC 1122 3.2.1.2: "
                "silently discarded)");
        break;
    case IPV4_PARSE_BAD_OPTIONS:
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_bad_options, "an option runs past the header (RFC 791 3.1)");
        break;
    case IPV4_PARSE_OK:
        break;
    }
}

static const char *protocol_name(uint8_t protocol)
{
    switch (protocol) {
    case IPV4_PROTO_ICMP: return "ICMP";
    case IPV4_PROTO_TCP: return "TCP";
    case IPV4_PROTO_UDP: return "UDP";
    default: return "proto";
    }
}

void ipv4_input(struct ts_stack *st, ts_time now, const uint8_t *data, size_t len, bool link_broadcast,
                bool l4_csum_trusted)
{
    struct ipv4_rx rx = {0};
    char src[16], dst[16];
    enum ipv4_parse_result r = ipv4_parse(data, len, &rx.hdr, &rx.payload, &rx.payload_len);
    if (r != IPV4_PARSE_OK) {
        ipv4_count_parse_error(st, now, r, len);
        return;
    }
    st->counters.ip.rx_datagrams++;
    rx.header = data;
    rx.header_len = rx.hdr.ihl;
    rx.to_broadcast = link_broadcast || ipv4_is_broadcast(st, rx.hdr.dst);
    /* A fragment's promise does not carry over to the reassembled datagram (reassembly starts afresh). */
    rx.l4_csum_trusted = l4_csum_trusted;

    if (!ipv4_is_local(st, rx.hdr.dst) && !ipv4_is_broadcast(st, rx.hdr.dst)) {
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_not_for_us, "to %s (a host does not forward)",
                ipv4_addr_format(rx.hdr.dst, dst));
        return;
    }
    if (!source_is_valid(st, rx.hdr.src, rx.hdr.protocol)) {
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_bad_source, "from %s (RFC 1122 3.2.1.3: invalid source address)",
                ipv4_addr_format(rx.hdr.src, src));
        return;
    }
    TS_TRACE(st, now, TS_TRACE_IP, TS_TRACE_RX, "rx %s > %s %s id 0x%04x len %u ttl %u%s%s%s",
             ipv4_addr_format(rx.hdr.src, src), ipv4_addr_format(rx.hdr.dst, dst), protocol_name(rx.hdr.protocol),
             rx.hdr.id, rx.hdr.total_len, rx.hdr.ttl, rx.hdr.dont_fragment ? " DF" : "",
             rx.hdr.more_fragments ? " MF" : "", rx.hdr.frag_offset != 0 ? " (fragment)" : "");
    if (rx.hdr.more_fragments || rx.hdr.frag_offset != 0) {
        ipv4_reasm_input(st, now, &rx);
        return;
    }
    ipv4_deliver(st, now, &rx);
}

void ipv4_deliver(struct ts_stack *st, ts_time now, const struct ipv4_rx *rx)
{
    st->counters.ip.rx_delivered++;
    switch (rx->hdr.protocol) {
    case IPV4_PROTO_ICMP:
        icmp_input(st, now, rx);
        return;
    case IPV4_PROTO_UDP:
        udp_input(st, now, rx);
        return;
    case IPV4_PROTO_TCP:
        tcp_input(st, now, rx);
        return;
    default:
        /* RFC 1122 3.2.2.1: a host SHOULD answer an unknown protocol with protocol unreachable. */
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_unknown_protocol, "protocol %u: answering with protocol unreachable "
                "(RFC 1122 3.2.2.1)", rx->hdr.protocol);
        icmp_send_error(st, now, ICMP_DEST_UNREACH, ICMP_UNREACH_PROTOCOL, 0, rx);
        return;
    }
}
