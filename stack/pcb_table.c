/*
 * Finding pcbs without walking them all (issue 6: "connection lookup by hash").
 *
 *   st->pcb_by_id      every pcb by its id (a queued packet names its sender by id)
 *   st->tcp_conns      TCP connections by (local port, remote address, remote port)
 *   st->tcp_listeners  TCP listeners by local port
 *   st->ports          bound pcbs by (type, local port): bind conflicts, ephemeral ports, UDP and ping demux
 *
 * The tables chain through pointers inside the pcb (no allocation per entry) and
 * double their bucket array when they hold more entries than buckets, so a
 * lookup examines about one pcb whatever the count. Keys an attacker can pick
 * (the remote address and port) go through SipHash keyed per stack from the
 * seed, so nobody can aim many connections at one bucket (hash flooding).
 * A bucket array that cannot grow (no memory) only makes chains longer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tcp.h"

#define TABLE_MIN_BUCKETS 16u

/* ---- keys ------------------------------------------------------------------------------- */

static uint64_t key_hash(const struct ts_stack *st, uint64_t key)
{
    uint8_t bytes[8];
    for (int i = 0; i < 8; i++)
        bytes[i] = (uint8_t)(key >> (8 * i));
    return siphash24(st->pcb_hash_key, bytes, sizeof bytes);
}

static uint64_t conn_key_hash(const struct ts_stack *st, uint16_t lport, ts_ipv4_addr remote, uint16_t rport)
{
    return key_hash(st, ((uint64_t)remote << 32) | ((uint64_t)rport << 16) | lport);
}

static uint64_t conn_hash(const struct ts_stack *st, const struct ts_pcb *pcb)
{
    return conn_key_hash(st, pcb->local.port, pcb->remote.addr, pcb->remote.port);
}

static uint64_t port_key_hash(const struct ts_stack *st, enum ts_pcb_type type, uint16_t port)
{
    return key_hash(st, ((uint64_t)type << 16) | port);
}

static uint64_t listener_hash(const struct ts_stack *st, const struct ts_pcb *pcb)
{
    return port_key_hash(st, TS_PCB_TCP, pcb->local.port);
}

/* Ids are ours, handed out in sequence: they spread over the buckets as they are. */
static uint64_t id_hash(const struct ts_stack *st, const struct ts_pcb *pcb)
{
    (void)st;
    return pcb->id;
}

/* ---- the generic chained table ------------------------------------------------------------ */

static struct ts_pcb **link_of(const struct pcb_table *t, struct ts_pcb *pcb)
{
    return (struct ts_pcb **)(void *)((char *)pcb + t->link);
}

static void table_init(struct pcb_table *t, size_t link, uint64_t (*hash)(const struct ts_stack *, const struct ts_pcb *))
{
    memset(t, 0, sizeof *t);
    t->link = link;
    t->hash = hash;
}

static void table_free(struct ts_stack *st, struct pcb_table *t)
{
    if (t->buckets != NULL)
        st->mem_in_use -= (t->mask + 1) * sizeof *t->buckets;
    free(t->buckets);
    t->buckets = NULL;
    t->mask = 0;
    t->count = 0;
}

/* Rehashes into twice the buckets (or the first ones). Keeps the old array if memory runs out. */
static void table_grow(struct ts_stack *st, struct pcb_table *t)
{
    size_t old_n = t->buckets != NULL ? t->mask + 1 : 0;
    size_t n = old_n ? old_n * 2 : TABLE_MIN_BUCKETS;
    struct ts_pcb **buckets = calloc(n, sizeof *buckets);
    if (buckets == NULL)
        return;
    for (size_t i = 0; i < old_n; i++) {
        for (struct ts_pcb *p = t->buckets[i], *next; p != NULL; p = next) {
            next = *link_of(t, p);
            size_t b = (size_t)(t->hash(st, p) & (n - 1));
            *link_of(t, p) = buckets[b];
            buckets[b] = p;
        }
    }
    if (t->buckets != NULL)
        st->mem_in_use -= old_n * sizeof *t->buckets;
    free(t->buckets);
    t->buckets = buckets;
    t->mask = n - 1;
    st->mem_in_use += n * sizeof *buckets;
}

/* Fails (-ENOMEM) only when not even the first bucket array can be had. */
static int table_insert(struct ts_stack *st, struct pcb_table *t, struct ts_pcb *pcb)
{
    if (t->buckets == NULL || t->count >= t->mask + 1)
        table_grow(st, t);
    if (t->buckets == NULL) {
        st->counters.mem.drop_no_memory++;
        return -ENOMEM;
    }
    size_t b = (size_t)(t->hash(st, pcb) & t->mask);
    *link_of(t, pcb) = t->buckets[b];
    t->buckets[b] = pcb;
    t->count++;
    return 0;
}

static void table_remove(struct ts_stack *st, struct pcb_table *t, struct ts_pcb *pcb)
{
    size_t b = (size_t)(t->hash(st, pcb) & t->mask);
    for (struct ts_pcb **pp = &t->buckets[b]; *pp != NULL; pp = link_of(t, *pp)) {
        if (*pp == pcb) {
            *pp = *link_of(t, pcb);
            *link_of(t, pcb) = NULL;
            t->count--;
            return;
        }
    }
}

static struct ts_pcb *table_first(const struct pcb_table *t, uint64_t hash)
{
    return t->buckets != NULL ? t->buckets[hash & t->mask] : NULL;
}

static struct ts_pcb *table_next(const struct pcb_table *t, struct ts_pcb *pcb)
{
    return *link_of(t, pcb);
}

/* ---- port groups ------------------------------------------------------------------------ */

/*
 * The pcbs bound to one (type, port) form a group: a list newest first (the order the old list
 * scan had), linked through group_next/group_prev. Only its head sits in st->ports, so a lookup
 * finds the whole group at once and a group costs no allocation of its own.
 */

static uint64_t port_hash(const struct ts_stack *st, const struct ts_pcb *pcb)
{
    return port_key_hash(st, pcb->type, pcb->local.port);
}

static struct ts_pcb *group_head(const struct ts_stack *st, enum ts_pcb_type type, uint16_t port)
{
    for (struct ts_pcb *p = table_first(&st->ports, port_key_hash(st, type, port)); p != NULL;
         p = table_next(&st->ports, p))
        if (p->type == type && p->local.port == port)
            return p;
    return NULL;
}

/* Puts `by` in `head`'s place in its bucket chain (same key, so the same bucket). */
static void table_replace(struct ts_stack *st, struct pcb_table *t, struct ts_pcb *head, struct ts_pcb *by)
{
    size_t b = (size_t)(t->hash(st, head) & t->mask);
    for (struct ts_pcb **pp = &t->buckets[b]; *pp != NULL; pp = link_of(t, *pp)) {
        if (*pp == head) {
            *link_of(t, by) = *link_of(t, head);
            *link_of(t, head) = NULL;
            *pp = by;
            return;
        }
    }
}

int pcb_port_join(struct ts_pcb *pcb)
{
    struct ts_stack *st = pcb->st;
    struct ts_pcb *head = group_head(st, pcb->type, pcb->local.port);
    pcb->group_prev = pcb->group_next = NULL;
    if (head == NULL) {
        int err = table_insert(st, &st->ports, pcb);
        if (err != 0)
            return err;
    } else if (pcb->id > head->id) {
        table_replace(st, &st->ports, head, pcb);
        pcb->group_next = head;
        head->group_prev = pcb;
    } else {
        /* Newest first; a pcb bound long after it was opened walks past the newer ones. */
        struct ts_pcb *prev = head;
        while (prev->group_next != NULL && prev->group_next->id > pcb->id)
            prev = prev->group_next;
        pcb->group_prev = prev;
        pcb->group_next = prev->group_next;
        if (prev->group_next != NULL)
            prev->group_next->group_prev = pcb;
        prev->group_next = pcb;
    }
    pcb->in_ports = true;
    return 0;
}

static void pcb_port_leave(struct ts_pcb *pcb)
{
    struct ts_stack *st = pcb->st;
    if (!pcb->in_ports)
        return;
    if (pcb->group_prev != NULL) {
        pcb->group_prev->group_next = pcb->group_next;
        if (pcb->group_next != NULL)
            pcb->group_next->group_prev = pcb->group_prev;
    } else if (pcb->group_next != NULL) {
        /* The head leaves: the next newest heads the group in its place. */
        table_replace(st, &st->ports, pcb, pcb->group_next);
        pcb->group_next->group_prev = NULL;
    } else {
        table_remove(st, &st->ports, pcb);
    }
    pcb->group_next = pcb->group_prev = NULL;
    pcb->in_ports = false;
}

struct ts_pcb *pcb_port_members(struct ts_stack *st, enum ts_pcb_type type, uint16_t port)
{
    st->counters.sock.lookups++;
    return group_head(st, type, port);
}

/* ---- the stack's tables ------------------------------------------------------------------- */

void pcb_tables_init(struct ts_stack *st)
{
    table_init(&st->pcb_by_id, offsetof(struct ts_pcb, id_next), id_hash);
    table_init(&st->tcp_conns, offsetof(struct ts_pcb, tuple_next), conn_hash);
    table_init(&st->tcp_listeners, offsetof(struct ts_pcb, tuple_next), listener_hash);
    table_init(&st->ports, offsetof(struct ts_pcb, port_next), port_hash);
}

void pcb_tables_free(struct ts_stack *st)
{
    table_free(st, &st->pcb_by_id);
    table_free(st, &st->tcp_conns);
    table_free(st, &st->tcp_listeners);
    table_free(st, &st->ports);
}

int pcb_tables_add(struct ts_pcb *pcb)
{
    return table_insert(pcb->st, &pcb->st->pcb_by_id, pcb);
}

void pcb_tables_remove(struct ts_pcb *pcb)
{
    struct ts_stack *st = pcb->st;
    table_remove(st, &st->pcb_by_id, pcb);
    tcp_unhash(pcb);
    pcb_port_leave(pcb);
}

struct ts_pcb *pcb_find_by_id(struct ts_stack *st, uint32_t id)
{
    struct ts_pcb key = {.id = id};
    for (struct ts_pcb *p = table_first(&st->pcb_by_id, id_hash(st, &key)); p != NULL;
         p = table_next(&st->pcb_by_id, p))
        if (p->id == id)
            return p;
    return NULL;
}

int tcp_hash_connection(struct ts_pcb *pcb)
{
    tcp_unhash(pcb);
    int err = table_insert(pcb->st, &pcb->st->tcp_conns, pcb);
    if (err == 0)
        pcb->hashed = PCB_HASHED_CONN;
    return err;
}

int tcp_hash_listener(struct ts_pcb *pcb)
{
    tcp_unhash(pcb);
    int err = table_insert(pcb->st, &pcb->st->tcp_listeners, pcb);
    if (err == 0)
        pcb->hashed = PCB_HASHED_LISTENER;
    return err;
}

void tcp_unhash(struct ts_pcb *pcb)
{
    struct ts_stack *st = pcb->st;
    if (pcb->hashed == PCB_HASHED_CONN)
        table_remove(st, &st->tcp_conns, pcb);
    else if (pcb->hashed == PCB_HASHED_LISTENER)
        table_remove(st, &st->tcp_listeners, pcb);
    pcb->hashed = PCB_HASHED_NONE;
}

static bool local_matches(const struct ts_pcb *pcb, ts_ipv4_addr local)
{
    return pcb->local.addr == 0 || local == 0 || pcb->local.addr == local;
}

static bool conn_matches(const struct ts_pcb *p, ts_ipv4_addr local, uint16_t lport, ts_ipv4_addr remote,
                         uint16_t rport)
{
    return p->local.port == lport && p->remote.addr == remote && p->remote.port == rport && p->tcp != NULL &&
           local_matches(p, local);
}

/*
 * The connection with this 4-tuple (local == 0 matches any local address), or NULL.
 *
 * With live_only (a segment's demux), a connection that has finished (CLOSED, its user not yet
 * told) does not count. At most one live connection holds a tuple (a SYN makes a child only when
 * none does; connect refuses a tuple in use), so the first live match is the one, and it moves to
 * the front of its chain: a busy connection is found at the first probe.
 *
 * Otherwise (ICMP errors, connect's check) finished ones count too, a live one first, else the
 * newest, as the old scan of the pcb list had it.
 */
struct ts_pcb *tcp_lookup_connection(struct ts_stack *st, ts_ipv4_addr local, uint16_t lport, ts_ipv4_addr remote,
                                     uint16_t rport, bool live_only)
{
    struct pcb_table *t = &st->tcp_conns;
    st->counters.sock.lookups++;
    if (t->buckets == NULL)
        return NULL;
    struct ts_pcb **head = &t->buckets[conn_key_hash(st, lport, remote, rport) & t->mask];
    struct ts_pcb *best = NULL;
    for (struct ts_pcb **pp = head; *pp != NULL; pp = link_of(t, *pp)) {
        struct ts_pcb *p = *pp;
        st->counters.sock.lookup_probes++;
        if (!conn_matches(p, local, lport, remote, rport))
            continue;
        bool live = p->tcp->state != TS_TCP_CLOSED;
        if (live && live_only) {
            if (pp != head) {
                *pp = *link_of(t, p);
                *link_of(t, p) = *head;
                *head = p;
            }
            return p;
        }
        if (live_only)
            continue;
        bool best_live = best != NULL && best->tcp->state != TS_TCP_CLOSED;
        if (best == NULL || (live && !best_live) || (live == best_live && p->id > best->id))
            best = p;
    }
    return best;
}

/* The listener for a segment to local:lport (the oldest, should several match), or NULL. */
struct ts_pcb *tcp_lookup_listener(struct ts_stack *st, ts_ipv4_addr local, uint16_t lport)
{
    struct ts_pcb *best = NULL;
    st->counters.sock.lookups++;
    for (struct ts_pcb *p = table_first(&st->tcp_listeners, port_key_hash(st, TS_PCB_TCP, lport)); p != NULL;
         p = table_next(&st->tcp_listeners, p)) {
        st->counters.sock.lookup_probes++;
        if (p->local.port != lport || !local_matches(p, local))
            continue;
        if (best == NULL || p->id < best->id)
            best = p;
    }
    return best;
}
