/*
 * Protocol control blocks: the core's sockets. Binding and port choice
 * (RFC 6056), the receive queue, pending errors and readiness events.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tcp.h"
#include "wire/icmp.h"

/* The ephemeral range (Linux's default; RFC 6056 2.1 recommends 1024-65535, IANA 49152-65535). */
#define EPHEMERAL_LOW 32768u
#define EPHEMERAL_HIGH 60999u

struct ts_pcb *ts_pcb_open(struct ts_stack *st, enum ts_pcb_type type, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    if (st == NULL) {
        *err = -EINVAL;
        return NULL;
    }
    if (type != TS_PCB_UDP && type != TS_PCB_ICMP_ECHO && type != TS_PCB_TCP) {
        *err = -EPROTONOSUPPORT;
        return NULL;
    }
    if (st->pcb_count >= st->cfg.limits.max_sockets) {
        *err = -EMFILE;
        return NULL;
    }
    struct ts_pcb *pcb = calloc(1, sizeof *pcb);
    if (pcb == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    pcb->st = st;
    pcb->id = st->next_pcb_id++;
    pcb->type = type;
    pcb->ttl = st->cfg.default_ttl;
    pcb->rcvbuf = type == TS_PCB_TCP ? st->cfg.limits.tcp_rcvbuf_default : st->cfg.limits.udp_rcvbuf_default;
    pcb->sndbuf = type == TS_PCB_TCP ? st->cfg.limits.tcp_sndbuf_default : st->cfg.limits.udp_rcvbuf_default;
    pcb->congestion = TS_CC_CUBIC;
    if (pcb_tables_add(pcb) != 0) {
        free(pcb);
        *err = -ENOMEM;
        return NULL;
    }
    pcb->next = st->pcbs;
    if (st->pcbs != NULL)
        st->pcbs->prev = pcb;
    st->pcbs = pcb;
    st->pcb_count++;
    st->mem_in_use += sizeof *pcb;
    st->counters.sock.opened++;
    *err = 0;
    return pcb;
}

void ts_pcb_close(struct ts_pcb *pcb)
{
    if (pcb != NULL)
        ts_pcb_close_at(pcb, pcb->st->last_now);
}

void ts_pcb_close_at(struct ts_pcb *pcb, ts_time now)
{
    if (pcb == NULL)
        return;
    struct ts_stack *st = pcb->st;
    if (now > st->last_now)
        st->last_now = now;
    if (pcb->type == TS_PCB_TCP) {
        tcp_user_close(pcb, now);
        ipv4_flush_loopback(st, now);
        return;
    }
    pcb_destroy(pcb);
}

void pcb_destroy(struct ts_pcb *pcb)
{
    struct ts_stack *st = pcb->st;
    pcb_tables_remove(pcb);
    if (pcb->prev != NULL)
        pcb->prev->next = pcb->next;
    else
        st->pcbs = pcb->next;
    if (pcb->next != NULL)
        pcb->next->prev = pcb->prev;
    if (pcb->type != TS_PCB_TCP)
        pbuf_queue_clear(st, &pcb->rxq);
    st->pcb_count--;
    st->mem_in_use -= sizeof *pcb;
    st->counters.sock.closed++;
    free(pcb);
}

void ts_pcb_set_event_callback(struct ts_pcb *pcb, ts_pcb_event_fn fn, void *ctx)
{
    pcb->event_fn = fn;
    pcb->event_ctx = ctx;
}

void *ts_pcb_event_ctx(const struct ts_pcb *pcb)
{
    return pcb->event_ctx;
}

enum ts_pcb_type ts_pcb_type_of(const struct ts_pcb *pcb)
{
    return pcb->type;
}

uint32_t ts_pcb_events(const struct ts_pcb *pcb)
{
    if (pcb->type == TS_PCB_TCP)
        return tcp_pcb_events(pcb);
    uint32_t ev = TS_EV_WRITABLE; /* datagrams never wait for send-buffer space */
    if (pcb->rxq.count > 0)
        ev |= TS_EV_READABLE;
    if (pcb->pending_error != 0)
        ev |= TS_EV_ERROR;
    return ev;
}

void pcb_notify(struct ts_pcb *pcb)
{
    if (pcb->event_fn != NULL)
        pcb->event_fn(pcb->event_ctx, pcb, ts_pcb_events(pcb));
}

void pcb_report_error(struct ts_pcb *pcb, ts_time now, int err)
{
    (void)now;
    pcb->pending_error = err;
    pcb->st->counters.sock.errors_reported++;
    pcb_notify(pcb);
}

int ts_pcb_take_error(struct ts_pcb *pcb)
{
    int err = pcb->pending_error;
    pcb->pending_error = 0;
    return err;
}

bool pcb_queue_datagram(struct ts_pcb *pcb, const struct ipv4_rx *rx, const uint8_t *data, size_t len,
                        uint16_t port)
{
    struct ts_stack *st = pcb->st;
    /*
     * Charged what the datagram holds in memory, buffer and bookkeeping (Linux's skb truesize), not
     * its length: a flood of tiny datagrams, each in a 2 KiB buffer, would otherwise pin thirty
     * times SO_RCVBUF.
     */
    size_t charge = pbuf_truesize_for(0, len);
    /* An empty queue takes any datagram, so one larger than the buffer can still be received. */
    if (pcb->rxq.count > 0 && pcb->rxq_charge + charge > pcb->rcvbuf)
        return false;
    struct ts_pbuf *pb = pbuf_alloc(st, 0, len);
    if (pb == NULL)
        return false;
    if (len > 0)
        memcpy(pb->data, data, len);
    pb->peer_addr = rx->hdr.src;
    pb->peer_port = port;
    pb->ttl = rx->hdr.ttl;
    pb->tos = rx->hdr.tos;
    pb->local_addr = rx->hdr.dst;
    pbuf_queue_push(&pcb->rxq, pb);
    pcb->rxq_charge += charge;
    pcb_notify(pcb);
    return true;
}

static bool addr_overlaps(ts_ipv4_addr a, ts_ipv4_addr b)
{
    return a == 0 || b == 0 || a == b;
}

/*
 * Whether binding self to addr:port would clash. Only the pcbs bound to that port are
 * examined (their group), and for TCP with SO_REUSEADDR only its listeners: no walk over
 * every pcb, so a bind or an ephemeral pick costs the same with 10 or 100,000 connections.
 */
static bool port_in_use(struct ts_stack *st, const struct ts_pcb *self, ts_ipv4_addr addr, uint16_t port,
                        bool reuse)
{
    /* TCP, as Linux: with SO_REUSEADDR a port is free unless someone listens on it (connections
     * lingering in TIME-WAIT or accepted from an old listener do not block a restarted server). */
    if (self->type == TS_PCB_TCP && reuse) {
        const struct ts_pcb *l = tcp_lookup_listener(st, addr, port);
        return l != NULL && l != self;
    }
    for (const struct ts_pcb *p = pcb_port_members(st, self->type, port); p != NULL; p = p->group_next) {
        if (p == self || !addr_overlaps(p->local.addr, addr))
            continue;
        if (self->type == TS_PCB_TCP || !(reuse && p->reuseaddr))
            return true;
    }
    return false;
}

/*
 * RFC 6056 3.3.1 (Algorithm 1, "simple port randomization"): start at a random
 * point of the range and walk it until a free port turns up.
 */
static int pick_ephemeral_port(struct ts_pcb *pcb, ts_ipv4_addr addr, uint16_t *port)
{
    struct ts_stack *st = pcb->st;
    uint32_t count = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    uint32_t next = rng_below(&st->rng, count);
    for (uint32_t tries = 0; tries < count; tries++) {
        uint16_t candidate = (uint16_t)(EPHEMERAL_LOW + (next + tries) % count);
        if (!port_in_use(st, pcb, addr, candidate, false)) {
            *port = candidate;
            return 0;
        }
    }
    return -EADDRINUSE;
}

int ts_pcb_bind(struct ts_pcb *pcb, const struct ts_sockaddr *local)
{
    if (pcb == NULL || local == NULL)
        return -EINVAL;
    struct ts_stack *st = pcb->st;
    if (pcb->bound)
        return -EINVAL;
    if (local->addr != 0 && !ipv4_is_local(st, local->addr) && !ipv4_is_broadcast(st, local->addr))
        return -EADDRNOTAVAIL;
    uint16_t port = local->port;
    if (port == 0) {
        int err = pick_ephemeral_port(pcb, local->addr, &port);
        if (err != 0)
            return err;
    } else if (port_in_use(st, pcb, local->addr, port, pcb->reuseaddr)) {
        return -EADDRINUSE;
    }
    pcb->local.addr = local->addr;
    pcb->local.port = port;
    int err = pcb_port_join(pcb);
    if (err != 0) {
        memset(&pcb->local, 0, sizeof pcb->local);
        return err;
    }
    pcb->bound = true;
    return 0;
}

static int ensure_bound(struct ts_pcb *pcb)
{
    if (pcb->bound)
        return 0;
    struct ts_sockaddr any = {0};
    return ts_pcb_bind(pcb, &any);
}

int ts_pcb_connect(struct ts_pcb *pcb, ts_time now, const struct ts_sockaddr *remote)
{
    if (pcb == NULL || remote == NULL)
        return -EINVAL;
    if (pcb->type == TS_PCB_TCP) {
        if (now > pcb->st->last_now)
            pcb->st->last_now = now;
        int err = tcp_user_connect(pcb, now, remote);
        ipv4_flush_loopback(pcb->st, now);
        return err;
    }
    if (remote->addr == 0 && remote->port == 0) {
        pcb->connected = false;
        memset(&pcb->remote, 0, sizeof pcb->remote);
        return 0;
    }
    if (remote->addr == 0 || (pcb->type == TS_PCB_UDP && remote->port == 0))
        return -EINVAL;
    if (ipv4_is_broadcast(pcb->st, remote->addr) && !pcb->broadcast)
        return -EACCES;
    int err = ensure_bound(pcb);
    if (err != 0)
        return err;
    pcb->remote = *remote;
    pcb->connected = true;
    return 0;
}

ssize_t ts_pcb_sendto(struct ts_pcb *pcb, ts_time now, const void *data, size_t len, const struct ts_sockaddr *to)
{
    if (pcb == NULL || (data == NULL && len > 0))
        return -EINVAL;
    struct ts_stack *st = pcb->st;
    if (now > st->last_now)
        st->last_now = now;
    if (pcb->type == TS_PCB_TCP)
        return ts_pcb_send(pcb, now, data, len); /* a stream ignores the address, as sendto(2) on TCP does */
    if (to == NULL) {
        if (!pcb->connected)
            return -EDESTADDRREQ;
        to = &pcb->remote;
    }
    if (to->addr == 0 || (pcb->type == TS_PCB_UDP && to->port == 0))
        return -EINVAL;
    if (st->cfg.addr == 0)
        return -ENETUNREACH;
    /* Like Linux: sending to a broadcast address needs SO_BROADCAST. */
    if (ipv4_is_broadcast(st, to->addr) && !pcb->broadcast)
        return -EACCES;
    int err = ensure_bound(pcb);
    if (err != 0)
        return err;
    ssize_t sent = pcb->type == TS_PCB_UDP ? udp_output(pcb, now, data, len, to)
                                           : icmp_echo_output(pcb, now, data, len, to);
    ipv4_flush_loopback(st, now);
    return sent;
}

ssize_t ts_pcb_recvfrom(struct ts_pcb *pcb, void *buf, size_t cap, struct ts_sockaddr *from, bool peek,
                        bool *truncated)
{
    if (pcb == NULL || (buf == NULL && cap > 0))
        return -EINVAL;
    if (pcb->type == TS_PCB_TCP) {
        if (from != NULL)
            *from = pcb->remote;
        if (truncated != NULL)
            *truncated = false;
        return ts_pcb_recv(pcb, pcb->st->last_now, buf, cap, peek);
    }
    /* Like Linux's UDP receive path: a pending asynchronous error is reported (and cleared) first. */
    int err = ts_pcb_take_error(pcb);
    if (err != 0)
        return -err;
    struct ts_pbuf *pb = pcb->rxq.head;
    if (pb == NULL)
        return -EAGAIN;
    size_t n = pb->len < cap ? pb->len : cap;
    if (n > 0)
        memcpy(buf, pb->data, n);
    if (from != NULL) {
        from->addr = pb->peer_addr;
        from->port = pb->peer_port;
    }
    if (truncated != NULL)
        *truncated = pb->len > cap;
    ssize_t full = (ssize_t)pb->len;
    if (!peek) {
        pbuf_queue_pop(&pcb->rxq);
        pcb->rxq_charge -= pbuf_truesize_for(0, pb->len);
        pbuf_free(pcb->st, pb);
    }
    return full;
}

int ts_pcb_local(const struct ts_pcb *pcb, struct ts_sockaddr *out)
{
    *out = pcb->local;
    return 0;
}

int ts_pcb_remote(const struct ts_pcb *pcb, struct ts_sockaddr *out)
{
    if (!pcb->connected)
        return -ENOTCONN;
    *out = pcb->remote;
    return 0;
}

int ts_pcb_setopt(struct ts_pcb *pcb, enum ts_pcb_option opt, int value)
{
    switch (opt) {
    case TS_OPT_REUSEADDR: pcb->reuseaddr = value != 0; return 0;
    case TS_OPT_BROADCAST: pcb->broadcast = value != 0; return 0;
    case TS_OPT_DONTFRAG: pcb->dontfrag = value != 0; return 0;
    case TS_OPT_TTL:
        if (value < 1 || value > 255)
            return -EINVAL;
        pcb->ttl = (uint8_t)value;
        return 0;
    case TS_OPT_TOS:
        if (value < 0 || value > 255)
            return -EINVAL;
        /* RFC 3168 / RFC 1122 4.2.4.2: on a stream the ECN field belongs to TCP, not to the user. */
        pcb->tos = (uint8_t)(pcb->type == TS_PCB_TCP ? (value & ~0x03) : value);
        return 0;
    case TS_OPT_RCVBUF:
    case TS_OPT_SNDBUF:
        if (value <= 0)
            return -EINVAL;
        /* Like Linux: never below room for one small datagram, never above 16 MiB. */
        size_t bytes = (size_t)value < 2048 ? 2048 : (size_t)value > (16u << 20) ? (16u << 20) : (size_t)value;
        if (opt == TS_OPT_RCVBUF)
            pcb->rcvbuf = bytes;
        else
            pcb->sndbuf = bytes;
        return tcp_apply_buffer_size(pcb);
    default:
        break;
    }
    return tcp_setopt(pcb, opt, value);
}

int ts_pcb_getopt(const struct ts_pcb *pcb, enum ts_pcb_option opt, int *value)
{
    switch (opt) {
    case TS_OPT_REUSEADDR: *value = pcb->reuseaddr; return 0;
    case TS_OPT_BROADCAST: *value = pcb->broadcast; return 0;
    case TS_OPT_DONTFRAG: *value = pcb->dontfrag; return 0;
    case TS_OPT_TTL: *value = pcb->ttl; return 0;
    case TS_OPT_TOS: *value = pcb->tos; return 0;
    case TS_OPT_RCVBUF: *value = (int)pcb->rcvbuf; return 0;
    case TS_OPT_SNDBUF: *value = (int)pcb->sndbuf; return 0;
    default: break;
    }
    return tcp_getopt(pcb, opt, value);
}

int ts_pcb_peek_info(const struct ts_pcb *pcb, struct ts_dgram_info *info)
{
    if (pcb->type == TS_PCB_TCP)
        return -EAGAIN; /* a stream has no datagrams (and a listener's queue shares this room) */
    const struct ts_pbuf *pb = pcb->rxq.head;
    if (pb == NULL)
        return -EAGAIN;
    info->from.addr = pb->peer_addr;
    info->from.port = pb->peer_port;
    info->len = pb->len;
    info->ttl = pb->ttl;
    info->tos = pb->tos;
    info->to = pb->local_addr;
    return 0;
}

ssize_t ts_pcb_next_size(const struct ts_pcb *pcb)
{
    if (pcb->type == TS_PCB_TCP)
        return -EAGAIN;
    return pcb->rxq.head != NULL ? (ssize_t)pcb->rxq.head->len : -EAGAIN;
}
