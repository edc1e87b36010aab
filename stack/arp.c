/*
 * ARP (RFC 826) with the cache rules of RFC 1122 2.3.2.
 *
 * The table is a small fixed array (limits.arp_cache_entries). An address being
 * resolved holds a bounded queue of IP packets; requests are retried every
 * timing.arp_retry_interval, and after timing.arp_max_retries the queue is
 * dropped and each sender is told EHOSTUNREACH. Resolved entries are trusted for
 * timing.arp_reachable; one that is still in use near its end is refreshed with
 * a unicast request, so an active conversation never stalls on a re-resolve.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "wire/arp.h"

/* How long before expiry a used entry is refreshed (a unicast request to the known MAC). */
#define ARP_REFRESH_WINDOW TS_SEC(5)

static const uint8_t zero_mac[ETH_ADDR_LEN];

int arp_init(struct ts_stack *st)
{
    size_t n = st->cfg.limits.arp_cache_entries;
    st->arp_table = calloc(n, sizeof *st->arp_table);
    if (st->arp_table == NULL)
        return -ENOMEM;
    st->mem_in_use += n * sizeof *st->arp_table;
    return 0;
}

static void arp_entry_clear(struct ts_stack *st, struct arp_entry *e)
{
    st->arp_queued_total -= e->pending.count;
    pbuf_queue_clear(st, &e->pending);
    memset(e, 0, sizeof *e);
}

void arp_destroy(struct ts_stack *st)
{
    if (st->arp_table == NULL)
        return;
    for (size_t i = 0; i < st->cfg.limits.arp_cache_entries; i++)
        arp_entry_clear(st, &st->arp_table[i]);
    st->mem_in_use -= st->cfg.limits.arp_cache_entries * sizeof *st->arp_table;
    free(st->arp_table);
    st->arp_table = NULL;
}

static struct arp_entry *arp_lookup(struct ts_stack *st, ts_ipv4_addr ip)
{
    for (size_t i = 0; i < st->cfg.limits.arp_cache_entries; i++) {
        struct arp_entry *e = &st->arp_table[i];
        if (e->state != ARP_FREE && e->ip == ip)
            return e;
    }
    return NULL;
}

/* A free slot, else the least recently used resolved one (never a static or pending one). */
static struct arp_entry *arp_slot_for_new(struct ts_stack *st, ts_time now)
{
    struct arp_entry *victim = NULL;
    for (size_t i = 0; i < st->cfg.limits.arp_cache_entries; i++) {
        struct arp_entry *e = &st->arp_table[i];
        if (e->state == ARP_FREE)
            return e;
        if (e->state == ARP_REACHABLE && (victim == NULL || e->last_used < victim->last_used))
            victim = e;
    }
    if (victim != NULL) {
        char ip[16];
        st->counters.arp.evicted++;
        TS_TRACE(st, now, TS_TRACE_ARP, TS_TRACE_STATE, "entry %s evicted (table full)",
                 ipv4_addr_format(victim->ip, ip));
        arp_entry_clear(st, victim);
    }
    return victim;
}

static void arp_send(struct ts_stack *st, ts_time now, uint16_t op, const uint8_t eth_dst[6],
                     const uint8_t target_mac[6], ts_ipv4_addr target_ip)
{
    struct ts_pbuf *pb = pbuf_alloc(st, PBUF_HEADROOM, ARP_PACKET_LEN);
    if (pb == NULL)
        return;
    struct arp_packet p = {.op = op, .sender_ip = st->cfg.addr, .target_ip = target_ip};
    memcpy(p.sender_mac, st->cfg.mac, ETH_ADDR_LEN);
    memcpy(p.target_mac, target_mac, ETH_ADDR_LEN);
    arp_emit(&p, pb->data);
    eth_output(st, now, pb, eth_dst, ETHERTYPE_ARP);
}

static void arp_send_request(struct ts_stack *st, ts_time now, ts_ipv4_addr ip, const uint8_t *unicast_mac)
{
    char text[16];
    st->counters.arp.tx_requests++;
    TS_TRACE(st, now, TS_TRACE_ARP, TS_TRACE_TX, "tx who-has %s tell %s%s", ipv4_addr_format(ip, text),
             ipv4_addr_format(st->cfg.addr, (char[16]){0}), unicast_mac != NULL ? " (unicast refresh)" : "");
    arp_send(st, now, ARP_OP_REQUEST, unicast_mac != NULL ? unicast_mac : eth_broadcast_addr, zero_mac, ip);
}

/* RFC 5227 2.3: an announcement is a request with our address as both sender and target. */
void arp_announce(struct ts_stack *st, ts_time now)
{
    char ip[16];
    st->counters.arp.tx_announcements++;
    TS_TRACE(st, now, TS_TRACE_ARP, TS_TRACE_TX, "tx announce %s is-at %s (gratuitous, RFC 5227 3)",
             ipv4_addr_format(st->cfg.addr, ip), mac_format(st->cfg.mac, (char[18]){0}));
    arp_send(st, now, ARP_OP_REQUEST, eth_broadcast_addr, zero_mac, st->cfg.addr);
}

static void arp_flush_pending(struct ts_stack *st, ts_time now, struct arp_entry *e)
{
    struct ts_pbuf *pb;
    while ((pb = pbuf_queue_pop(&e->pending)) != NULL) {
        st->arp_queued_total--;
        eth_output(st, now, pb, e->mac, ETHERTYPE_IPV4);
    }
}

/* The entry now knows its MAC: trust it for arp_reachable and release what waited for it. */
static void arp_entry_resolved(struct ts_stack *st, ts_time now, struct arp_entry *e, const uint8_t mac[6])
{
    char ip[16], m[18];
    bool was_pending = e->state == ARP_INCOMPLETE;
    bool changed = !eth_addr_equal(e->mac, mac);
    memcpy(e->mac, mac, ETH_ADDR_LEN);
    e->state = ARP_REACHABLE;
    e->expires = now + st->cfg.timing.arp_reachable;
    e->refresh_sent = false;
    e->requests_sent = 0;
    if (was_pending) {
        st->counters.arp.resolved++;
        TS_TRACE(st, now, TS_TRACE_ARP, TS_TRACE_STATE, "entry %s resolved to %s, %zu queued packet(s) released "
                 "(RFC 1122 2.3.2.2)",
                 ipv4_addr_format(e->ip, ip), mac_format(mac, m), e->pending.count);
        arp_flush_pending(st, now, e);
    } else if (changed) {
        st->counters.arp.updated++;
        TS_TRACE(st, now, TS_TRACE_ARP, TS_TRACE_STATE, "entry %s now at %s (RFC 826: the sender's entry is updated)",
                 ipv4_addr_format(e->ip, ip),
                 mac_format(mac, m));
    } else {
        st->counters.arp.refreshed++;
    }
}

static bool arp_sender_is_plausible(const struct ts_stack *st, const struct arp_packet *p)
{
    /* A sender at a broadcast or zero address, or with a group MAC, would poison the cache. */
    if (p->sender_ip == 0)
        return true; /* RFC 5227 probe: nothing to learn, but a legitimate request */
    if (ipv4_is_broadcast(st, p->sender_ip) || (p->sender_ip >> 28) == 0xe)
        return false;
    return !eth_addr_is_multicast(p->sender_mac);
}

void arp_input(struct ts_stack *st, ts_time now, const struct eth_hdr *eth, const uint8_t *data, size_t len)
{
    struct arp_packet p;
    char a[16], b[16], m[18];
    (void)eth;

    switch (arp_parse(data, len, &p)) {
    case ARP_PARSE_OK:
        break;
    case ARP_PARSE_TRUNCATED:
        TS_DROP(st, now, TS_TRACE_ARP, arp, drop_truncated, "%zu bytes, shorter than an ARP packet (RFC 826)", len);
        return;
    case ARP_PARSE_UNSUPPORTED:
        TS_DROP(st, now, TS_TRACE_ARP, arp, drop_unsupported, "not Ethernet/IPv4 (RFC 826: hardware 1, "
                "protocol 0x0800 only)");
        return;
    case ARP_PARSE_BAD_OP:
        TS_DROP(st, now, TS_TRACE_ARP, arp, drop_bad_op, "opcode %u (RFC 826: request 1 or reply 2)", p.op);
        return;
    }
    if (p.op == ARP_OP_REQUEST)
        st->counters.arp.rx_requests++;
    else
        st->counters.arp.rx_replies++;
    TS_TRACE(st, now, TS_TRACE_ARP, TS_TRACE_RX, "rx %s %s %s %s", p.op == ARP_OP_REQUEST ? "who-has" : "reply",
             ipv4_addr_format(p.target_ip, a), p.op == ARP_OP_REQUEST ? "tell" : "from",
             ipv4_addr_format(p.sender_ip, b));

    if (!arp_sender_is_plausible(st, &p)) {
        TS_DROP(st, now, TS_TRACE_ARP, arp, drop_bad_sender, "sender %s at %s", ipv4_addr_format(p.sender_ip, a),
                mac_format(p.sender_mac, m));
        return;
    }
    /* Someone else claims our address (RFC 5227 2.4): never learn it, keep our own. */
    if (st->cfg.addr != 0 && p.sender_ip == st->cfg.addr) {
        TS_DROP(st, now, TS_TRACE_ARP, arp, drop_address_conflict, "RFC 5227 2.4: %s claims our address %s "
                "(conflict, not learnt)",
                mac_format(p.sender_mac, m), ipv4_addr_format(p.sender_ip, a));
        return;
    }

    /* RFC 826 "Packet Reception": if the sender is in the table, update its hardware address (merge). */
    bool merged = false;
    struct arp_entry *e = p.sender_ip != 0 ? arp_lookup(st, p.sender_ip) : NULL;
    if (e != NULL && e->state != ARP_STATIC) {
        arp_entry_resolved(st, now, e, p.sender_mac);
        merged = true;
    }
    /* RFC 826: "Am I the target protocol address?" If not, we are done. */
    if (st->cfg.addr == 0 || p.target_ip != st->cfg.addr) {
        if (!merged)
            TS_DROP(st, now, TS_TRACE_ARP, arp, drop_not_for_us, "target %s is not us (RFC 826: only an existing "
                    "entry is updated)",
                    ipv4_addr_format(p.target_ip, a));
        return;
    }
    /* RFC 826: if the merge flag is false, add the sender to the table. */
    if (e == NULL && p.sender_ip != 0) {
        e = arp_slot_for_new(st, now);
        if (e == NULL) {
            TS_DROP(st, now, TS_TRACE_ARP, arp, drop_table_full, "cannot learn %s",
                    ipv4_addr_format(p.sender_ip, a));
        } else {
            e->state = ARP_INCOMPLETE; /* so arp_entry_resolved counts and traces it as learned */
            e->ip = p.sender_ip;
            e->last_used = now;
            arp_entry_resolved(st, now, e, p.sender_mac);
        }
    }
    /* RFC 826: if the opcode is request, swap the fields, put in our addresses and send a reply. */
    if (p.op == ARP_OP_REQUEST) {
        st->counters.arp.tx_replies++;
        TS_TRACE(st, now, TS_TRACE_ARP, TS_TRACE_TX, "tx reply %s is-at %s to %s", ipv4_addr_format(st->cfg.addr, a),
                 mac_format(st->cfg.mac, m), ipv4_addr_format(p.sender_ip, b));
        arp_send(st, now, ARP_OP_REPLY, p.sender_mac, p.sender_mac, p.sender_ip);
    }
}

static int arp_enqueue(struct ts_stack *st, ts_time now, struct arp_entry *e, struct ts_pbuf *pb)
{
    char ip[16];
    if (e->pending.count >= st->cfg.limits.arp_queue_per_entry ||
        st->arp_queued_total >= st->cfg.limits.arp_queue_total) {
        TS_DROP(st, now, TS_TRACE_ARP, arp, drop_queue_full, "%zu packet(s) already wait for %s (RFC 1122 2.3.2.2: a "
                "bounded queue)", e->pending.count,
                ipv4_addr_format(e->ip, ip));
        pbuf_free(st, pb);
        return -ENOBUFS;
    }
    pb = pbuf_own_data(st, pb); /* it waits for the answer: the bytes it refers to may move meanwhile */
    if (pb == NULL)
        return -ENOBUFS;
    pbuf_queue_push(&e->pending, pb);
    st->arp_queued_total++;
    if (st->arp_queued_total > st->arp_queued_high_water)
        st->arp_queued_high_water = st->arp_queued_total;
    return 0;
}

int arp_send_ip(struct ts_stack *st, ts_time now, struct ts_pbuf *pb, ts_ipv4_addr next_hop)
{
    struct arp_entry *e = arp_lookup(st, next_hop);
    if (e != NULL && e->state != ARP_INCOMPLETE) {
        e->last_used = now;
        /* RFC 1122 2.3.2.1: revalidate an entry in use before it times out, by unicast, so traffic never stalls. */
        if (e->state == ARP_REACHABLE && !e->refresh_sent && now >= e->expires - ARP_REFRESH_WINDOW) {
            e->refresh_sent = true;
            arp_send_request(st, now, e->ip, e->mac);
        }
        eth_output(st, now, pb, e->mac, ETHERTYPE_IPV4);
        return 0;
    }
    if (e != NULL)
        return arp_enqueue(st, now, e, pb);

    e = arp_slot_for_new(st, now);
    if (e == NULL) {
        char ip[16];
        TS_DROP(st, now, TS_TRACE_ARP, arp, drop_table_full, "no slot to resolve %s", ipv4_addr_format(next_hop, ip));
        pbuf_free(st, pb);
        return -ENOBUFS;
    }
    e->state = ARP_INCOMPLETE;
    e->ip = next_hop;
    e->last_used = now;
    e->requests_sent = 1;
    e->next_retry = now + st->cfg.timing.arp_retry_interval;
    int err = arp_enqueue(st, now, e, pb);
    arp_send_request(st, now, next_hop, NULL);
    return err;
}

/* RFC 1122 2.3.2.2: give up on an address that never answered; its packets are dropped and their senders told. */
static void arp_resolution_failed(struct ts_stack *st, ts_time now, struct arp_entry *e)
{
    char ip[16];
    struct ts_pbuf *pb;
    st->counters.arp.failed++;
    TS_TRACE(st, now, TS_TRACE_ARP, TS_TRACE_STATE, "entry %s failed after %u request(s) (RFC 1122 2.3.2.1: one a "
             "second at most), %zu packet(s) dropped",
             ipv4_addr_format(e->ip, ip), e->requests_sent, e->pending.count);
    while ((pb = pbuf_queue_pop(&e->pending)) != NULL) {
        st->arp_queued_total--;
        st->counters.arp.drop_unresolved++;
        struct ts_pcb *owner = pb->owner_id != 0 ? pcb_find_by_id(st, pb->owner_id) : NULL;
        /* A connection still opening gives up at once (as Linux does); an established one treats it as a
         * soft error and keeps retransmitting (RFC 1122 4.2.3.9). Datagram sockets get the error. */
        if (owner != NULL && owner->type == TS_PCB_TCP)
            tcp_icmp_error(st, now, owner, EHOSTUNREACH, true);
        else if (owner != NULL)
            pcb_report_error(owner, now, EHOSTUNREACH);
        pbuf_free(st, pb);
    }
    arp_entry_clear(st, e);
}

void arp_poll(struct ts_stack *st, ts_time now)
{
    char ip[16];
    for (size_t i = 0; i < st->cfg.limits.arp_cache_entries; i++) {
        struct arp_entry *e = &st->arp_table[i];
        if (e->state == ARP_INCOMPLETE && now >= e->next_retry) {
            if (e->requests_sent >= st->cfg.timing.arp_max_retries) {
                arp_resolution_failed(st, now, e);
                continue;
            }
            e->requests_sent++;
            e->next_retry = now + st->cfg.timing.arp_retry_interval;
            arp_send_request(st, now, e->ip, NULL);
        } else if (e->state == ARP_REACHABLE && now >= e->expires) {
            st->counters.arp.expired++;
            TS_TRACE(st, now, TS_TRACE_ARP, TS_TRACE_STATE, "entry %s expired (RFC 1122 2.3.2.1: cache timeout)",
                     ipv4_addr_format(e->ip, ip));
            arp_entry_clear(st, e);
        }
    }
}

ts_time arp_next_deadline(const struct ts_stack *st)
{
    ts_time next = TS_TIME_NEVER;
    for (size_t i = 0; i < st->cfg.limits.arp_cache_entries; i++) {
        const struct arp_entry *e = &st->arp_table[i];
        ts_time t = e->state == ARP_INCOMPLETE ? e->next_retry : e->state == ARP_REACHABLE ? e->expires : TS_TIME_NEVER;
        if (t < next)
            next = t;
    }
    return next;
}

int arp_add_static(struct ts_stack *st, ts_ipv4_addr ip, const uint8_t mac[6])
{
    struct arp_entry *e = arp_lookup(st, ip);
    if (e == NULL)
        e = arp_slot_for_new(st, st->last_now);
    if (e == NULL)
        return -ENOSPC;
    bool was_pending = e->state == ARP_INCOMPLETE;
    e->ip = ip;
    memcpy(e->mac, mac, ETH_ADDR_LEN);
    e->state = ARP_STATIC;
    if (was_pending)
        arp_flush_pending(st, st->last_now, e);
    return 0;
}
