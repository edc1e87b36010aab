/*
 * ICMP (RFC 792, RFC 1122 3.2.2): answer echo requests, deliver echo replies to
 * ping sockets, turn received errors into socket errors, and send errors about
 * datagrams we cannot deliver, within the rules that keep ICMP from making
 * storms (never about an error, a broadcast, a non-first fragment or an
 * impossible source; rate limited).
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "wire/icmp.h"
#include "wire/checksum.h"

/* RFC 1812 4.3.2.3 (and Linux): an error quotes as much of the datagram as fits in 576 bytes. */
#define ICMP_ERROR_MAX_DATAGRAM 576

static int icmp_send(struct ts_stack *st, ts_time now, const struct icmp_hdr *h, const uint8_t *body, size_t body_len,
                     ts_ipv4_addr dst, uint32_t owner_id)
{
    struct ts_pbuf *pb = pbuf_alloc(st, PBUF_HEADROOM, ICMP_HDR_LEN + body_len);
    if (pb == NULL)
        return -ENOBUFS;
    if (body_len > 0)
        memcpy(pb->data + ICMP_HDR_LEN, body, body_len);
    icmp_emit(h, pb->data, body_len);
    st->counters.icmp.tx_messages++;
    struct ipv4_out out = {
        .src = st->cfg.addr,
        .dst = dst,
        .protocol = IPV4_PROTO_ICMP,
        .ttl = st->cfg.default_ttl,
        .owner_id = owner_id,
    };
    return ipv4_output(st, now, pb, &out);
}

/* RFC 792 "Echo or Echo Reply": the reply carries the request's identifier, sequence number and data. */
static void icmp_answer_echo(struct ts_stack *st, ts_time now, const struct ipv4_rx *rx, const struct icmp_hdr *h,
                             const uint8_t *body, size_t body_len)
{
    char src[16];
    st->counters.icmp.rx_echo_requests++;
    /* RFC 1122 3.2.2.6: an echo request to a broadcast address MAY be silently discarded (Linux's default). */
    if (rx->to_broadcast) {
        TS_DROP(st, now, TS_TRACE_ICMP, icmp, drop_broadcast_echo, "echo request to a broadcast address "
                "(RFC 1122 3.2.2.6: MAY be discarded)");
        return;
    }
    struct icmp_hdr reply = {.type = ICMP_ECHO_REPLY, .code = 0, .rest = h->rest};
    st->counters.icmp.tx_echo_replies++;
    TS_TRACE(st, now, TS_TRACE_ICMP, TS_TRACE_TX, "tx echo reply id %u seq %u len %zu to %s", icmp_echo_id(h),
             icmp_echo_seq(h), body_len, ipv4_addr_format(rx->hdr.src, src));
    icmp_send(st, now, &reply, body, body_len, rx->hdr.src, 0);
}

static void icmp_deliver_echo_reply(struct ts_stack *st, ts_time now, const struct ipv4_rx *rx,
                                    const struct icmp_hdr *h)
{
    st->counters.icmp.rx_echo_replies++;
    for (struct ts_pcb *pcb = pcb_port_members(st, TS_PCB_ICMP_ECHO, icmp_echo_id(h)); pcb != NULL;
         pcb = pcb->group_next) {
        if (pcb->connected && pcb->remote.addr != rx->hdr.src)
            continue;
        if (!pcb_queue_datagram(pcb, rx, rx->payload, rx->payload_len, 0))
            TS_DROP(st, now, TS_TRACE_ICMP, icmp, drop_rcvbuf_full, "ping socket %u is full", pcb->id);
        return;
    }
    TS_DROP(st, now, TS_TRACE_ICMP, icmp, drop_echo_reply_no_socket, "no ping socket with id %u", icmp_echo_id(h));
}

/* RFC 1122 4.1.3.3: ICMP errors reach the UDP socket they concern; Linux reports them to connected sockets. */
static int icmp_error_to_errno(uint8_t type, uint8_t code)
{
    if (type == ICMP_DEST_UNREACH) {
        switch (code) {
        case ICMP_UNREACH_NET: return ENETUNREACH;
        case ICMP_UNREACH_PROTOCOL: return ENOPROTOOPT;
        case ICMP_UNREACH_PORT: return ECONNREFUSED;
        case ICMP_UNREACH_FRAG_NEEDED: return EMSGSIZE;
        default: return EHOSTUNREACH;
        }
    }
    if (type == ICMP_PARAM_PROBLEM)
        return EPROTO;
    return EHOSTUNREACH; /* time exceeded */
}

static struct ts_pcb *icmp_error_find_pcb(struct ts_stack *st, const struct ipv4_hdr *quoted, const uint8_t *l4,
                                          size_t l4_len)
{
    /* By hash: a TCP connection by its 4-tuple, a datagram socket among those bound to the quoted port. */
    if (quoted->protocol == IPV4_PROTO_TCP && l4_len >= 4)
        return tcp_lookup_connection(st, 0, be16_get(l4), quoted->dst, be16_get(l4 + 2), false);
    enum ts_pcb_type type;
    uint16_t port;
    if (quoted->protocol == IPV4_PROTO_UDP && l4_len >= 4) {
        type = TS_PCB_UDP;
        port = be16_get(l4);
    } else if (quoted->protocol == IPV4_PROTO_ICMP && l4_len >= 8) {
        type = TS_PCB_ICMP_ECHO;
        port = be16_get(l4 + 4);
    } else {
        return NULL;
    }
    for (struct ts_pcb *pcb = pcb_port_members(st, type, port); pcb != NULL; pcb = pcb->group_next) {
        if (!pcb->connected || pcb->remote.addr != quoted->dst)
            continue;
        if (type == TS_PCB_ICMP_ECHO || pcb->remote.port == be16_get(l4 + 2))
            return pcb;
    }
    return NULL;
}

static void icmp_handle_error(struct ts_stack *st, ts_time now, const struct icmp_hdr *h, const uint8_t *body,
                              size_t body_len)
{
    char dst[16];
    struct ipv4_hdr quoted;
    const uint8_t *l4;
    size_t l4_len;
    st->counters.icmp.rx_errors++;
    /* RFC 6633: source quench is obsolete and must be ignored. */
    if (h->type == ICMP_SOURCE_QUENCH) {
        TS_DROP(st, now, TS_TRACE_ICMP, icmp, drop_source_quench, "ignored (RFC 6633)");
        return;
    }
    /* A host with one gateway has no better route to learn; redirects are a classic spoofing vector. */
    if (h->type == ICMP_REDIRECT) {
        TS_DROP(st, now, TS_TRACE_ICMP, icmp, drop_redirect, "ignored (RFC 1122 3.2.2.2 lets a host update its "
                "routes; this one keeps its gateway)");
        return;
    }
    /* The quote is a header plus at least 8 bytes; read only what arrived. Its lengths are not trusted:
     * the quote of a long datagram is cut short by design, so only the header part is checked. */
    if (body_len < IPV4_MIN_HDR_LEN || (body[0] >> 4) != 4 || (size_t)(body[0] & 0x0f) * 4 < IPV4_MIN_HDR_LEN ||
        (size_t)(body[0] & 0x0f) * 4 + 8 > body_len) {
        TS_DROP(st, now, TS_TRACE_ICMP, icmp, drop_error_quote_truncated, "%zu quoted bytes: the IP header "
                "and 8 bytes are needed (RFC 792, RFC 1122 3.2.2)", body_len);
        return;
    }
    size_t ihl = (size_t)(body[0] & 0x0f) * 4;
    quoted.protocol = body[9];
    quoted.src = be32_get(body + 12);
    quoted.dst = be32_get(body + 16);
    l4 = body + ihl;
    l4_len = body_len - ihl;
    if (!ipv4_is_local(st, quoted.src)) {
        TS_DROP(st, now, TS_TRACE_ICMP, icmp, drop_error_not_ours, "quotes a datagram from someone else (RFC 5927 4)");
        return;
    }
    if (h->type == ICMP_DEST_UNREACH && h->code == ICMP_UNREACH_FRAG_NEEDED) {
        uint16_t mtu = (uint16_t)h->rest;
        /* RFC 1191: an MTU below the IPv4 minimum of 68 is bogus and ignored. */
        if (mtu < 68) {
            TS_DROP(st, now, TS_TRACE_ICMP, icmp, drop_bogus_mtu, "next-hop MTU %u below the IPv4 minimum "
                    "of 68 (RFC 1191 4, RFC 791)", mtu);
            return;
        }
    }
    struct ts_pcb *pcb = icmp_error_find_pcb(st, &quoted, l4, l4_len);
    if (pcb == NULL) {
        TS_DROP(st, now, TS_TRACE_ICMP, icmp, drop_error_no_socket, "%s about %s: no connected socket to pass it to "
                "(RFC 1122 3.2.2.1)",
                icmp_type_name(h->type), ipv4_addr_format(quoted.dst, dst));
        return;
    }
    TS_TRACE(st, now, TS_TRACE_ICMP, TS_TRACE_STATE, "%s code %u about %s: passed to socket %u as errno %d "
             "(RFC 1122 3.2.2.1, 4.1.3.3, 4.2.3.9)",
             icmp_type_name(h->type), h->code, ipv4_addr_format(quoted.dst, dst), pcb->id,
             icmp_error_to_errno(h->type, h->code));
    int err = icmp_error_to_errno(h->type, h->code);
    if (pcb->type == TS_PCB_TCP) {
        /* RFC 1122 4.2.3.9: protocol and port unreachable are hard errors; the rest are soft. */
        bool hard = h->type == ICMP_DEST_UNREACH &&
                    (h->code == ICMP_UNREACH_PROTOCOL || h->code == ICMP_UNREACH_PORT);
        if (h->type == ICMP_DEST_UNREACH && h->code == ICMP_UNREACH_PORT)
            err = ECONNREFUSED;
        /* The quote holds at least 8 transport bytes (checked above): the ports and the sequence number. */
        if (!tcp_icmp_seq_acceptable(st, now, pcb, be32_get(l4 + 4)))
            return;
        tcp_icmp_error(st, now, pcb, err, hard);
        return;
    }
    pcb_report_error(pcb, now, err);
}

void icmp_input(struct ts_stack *st, ts_time now, const struct ipv4_rx *rx)
{
    struct icmp_hdr h;
    const uint8_t *body;
    size_t body_len;
    char src[16];
    switch (icmp_parse(rx->payload, rx->payload_len, &h, &body, &body_len)) {
    case ICMP_PARSE_OK:
        break;
    case ICMP_PARSE_TRUNCATED:
        TS_DROP(st, now, TS_TRACE_ICMP, icmp, drop_truncated, "%zu bytes", rx->payload_len);
        return;
    case ICMP_PARSE_BAD_CHECKSUM:
        TS_DROP(st, now, TS_TRACE_ICMP, icmp, drop_bad_checksum, "from %s (RFC 792: checksum over the ICMP message)",
                ipv4_addr_format(rx->hdr.src, src));
        return;
    }
    st->counters.icmp.rx_messages++;
    TS_TRACE(st, now, TS_TRACE_ICMP, TS_TRACE_RX, "rx %s (type %u code %u) from %s len %zu", icmp_type_name(h.type),
             h.type, h.code, ipv4_addr_format(rx->hdr.src, src), rx->payload_len);
    switch (h.type) {
    case ICMP_ECHO_REQUEST:
        icmp_answer_echo(st, now, rx, &h, body, body_len);
        return;
    case ICMP_ECHO_REPLY:
        icmp_deliver_echo_reply(st, now, rx, &h);
        return;
    default:
        if (icmp_type_is_error(h.type)) {
            icmp_handle_error(st, now, &h, body, body_len);
            return;
        }
        /* RFC 1122 3.2.2: an unknown type MUST be silently discarded. */
        TS_DROP(st, now, TS_TRACE_ICMP, icmp, drop_unknown_type, "type %u (RFC 1122 3.2.2: unknown types are "
                "silently discarded)", h.type);
        return;
    }
}

/* A token bucket: icmp_errors_per_sec tokens a second, at most icmp_error_burst saved up. */
static bool icmp_rate_allows(struct ts_stack *st, ts_time now)
{
    const int64_t token = 1000000;
    int64_t max = (int64_t)st->cfg.limits.icmp_error_burst * token;
    if (now > st->icmp_tokens_at) {
        ts_time elapsed = now - st->icmp_tokens_at;
        int64_t gained = elapsed > TS_SEC(1000) ? max : elapsed * (int64_t)st->cfg.limits.icmp_errors_per_sec;
        st->icmp_tokens = st->icmp_tokens + gained > max ? max : st->icmp_tokens + gained;
        st->icmp_tokens_at = now;
    }
    if (st->icmp_tokens < token)
        return false;
    st->icmp_tokens -= token;
    return true;
}

/* RFC 1122 3.2.2: never send an ICMP error about these. */
static bool icmp_error_forbidden(const struct ts_stack *st, const struct ipv4_hdr *about, const uint8_t *quote,
                                 size_t quote_len, bool to_broadcast)
{
    if (to_broadcast || ipv4_is_broadcast(st, about->dst) || (about->dst >> 28) == 0xe)
        return true;
    if (about->frag_offset != 0)
        return true;
    if (ipv4_is_broadcast(st, about->src) || (about->src >> 28) >= 0xe || about->src == 0 ||
        (about->src >> 24) == 127)
        return true;
    if (about->protocol == IPV4_PROTO_ICMP) {
        size_t ihl = about->ihl;
        /* An error about an ICMP error (or about one we cannot read) would feed a storm. */
        if (quote_len <= ihl || icmp_type_is_error(quote[ihl]))
            return true;
    }
    return false;
}

void icmp_send_error_quoting(struct ts_stack *st, ts_time now, uint8_t type, uint8_t code, uint32_t rest,
                             const struct ipv4_hdr *about, const uint8_t *quote, size_t quote_len)
{
    char dst[16];
    if (icmp_error_forbidden(st, about, quote, quote_len, false))
        return;
    if (!icmp_rate_allows(st, now)) {
        st->counters.icmp.tx_errors_rate_limited++;
        return;
    }
    size_t room = ICMP_ERROR_MAX_DATAGRAM - IPV4_MIN_HDR_LEN - ICMP_HDR_LEN;
    size_t n = quote_len < room ? quote_len : room;
    struct icmp_hdr h = {.type = type, .code = code, .rest = rest};
    st->counters.icmp.tx_errors++;
    TS_TRACE(st, now, TS_TRACE_ICMP, TS_TRACE_TX, "tx %s code %u to %s quoting %zu bytes", icmp_type_name(type), code,
             ipv4_addr_format(about->src, dst), n);
    icmp_send(st, now, &h, quote, n, about->src, 0);
}

void icmp_send_error(struct ts_stack *st, ts_time now, uint8_t type, uint8_t code, uint32_t rest,
                     const struct ipv4_rx *rx)
{
    if (rx->to_broadcast)
        return;
    /* Quote only bytes that exist: the header as it arrived and the payload that followed it. */
    size_t quote_len = rx->header_len + rx->payload_len;
    icmp_send_error_quoting(st, now, type, code, rest, &rx->hdr, rx->header, quote_len);
}

ssize_t icmp_echo_output(struct ts_pcb *pcb, ts_time now, const void *data, size_t len, const struct ts_sockaddr *to)
{
    struct ts_stack *st = pcb->st;
    const uint8_t *msg = data;
    if (len < ICMP_HDR_LEN || msg[0] != ICMP_ECHO_REQUEST || msg[1] != 0)
        return -EINVAL;
    if (len + IPV4_MIN_HDR_LEN > IPV4_MAX_DATAGRAM)
        return -EMSGSIZE;
    /* As Linux's ping sockets: the identifier is the socket's, the checksum the stack's. */
    struct icmp_hdr h = {.type = ICMP_ECHO_REQUEST, .code = 0,
                         .rest = ((uint32_t)pcb->local.port << 16) | be16_get(msg + 6)};
    struct ts_pbuf *pb = pbuf_alloc(st, PBUF_HEADROOM, len);
    if (pb == NULL)
        return -ENOBUFS;
    memcpy(pb->data + ICMP_HDR_LEN, msg + ICMP_HDR_LEN, len - ICMP_HDR_LEN);
    icmp_emit(&h, pb->data, len - ICMP_HDR_LEN);
    st->counters.icmp.tx_messages++;
    st->counters.icmp.tx_echo_requests++;
    char dst[16];
    TS_TRACE(st, now, TS_TRACE_ICMP, TS_TRACE_TX, "tx echo request id %u seq %u len %zu to %s", pcb->local.port,
             be16_get(msg + 6), len - ICMP_HDR_LEN, ipv4_addr_format(to->addr, dst));
    struct ipv4_out out = {
        .src = st->cfg.addr,
        .dst = to->addr,
        .protocol = IPV4_PROTO_ICMP,
        .ttl = pcb->ttl,
        .tos = pcb->tos,
        .dont_fragment = pcb->dontfrag,
        .owner_id = pcb->id,
    };
    int err = ipv4_output(st, now, pb, &out);
    return err < 0 ? err : (ssize_t)len;
}
