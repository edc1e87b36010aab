/*
 * ts_stack_get_usage: what the stack holds against each limit. Walks the pcb
 * list and the ARP and reassembly tables, O(sockets + table sizes): meant for
 * a report or a test, not for every packet.
 */
#include <string.h>

#include "internal.h"
#include "tcp.h"

static void usage_of_listener(const struct ts_pcb *pcb, struct ts_stack_usage *u)
{
    if (pcb->syn_count > u->tcp_syn_queue)
        u->tcp_syn_queue = pcb->syn_count;
    if (pcb->accept_count >= u->tcp_accept_queue) {
        u->tcp_accept_queue = pcb->accept_count;
        u->tcp_accept_backlog = pcb->backlog;
    }
}

static void usage_of_connection(const struct tcp_conn *c, struct ts_stack_usage *u)
{
    if (c->state == TS_TCP_TIME_WAIT)
        u->tcp_time_wait++;
    if (c->ooo_bytes > u->tcp_ooo_bytes)
        u->tcp_ooo_bytes = c->ooo_bytes;
    if (c->ooo_segments > u->tcp_ooo_segments)
        u->tcp_ooo_segments = c->ooo_segments;
}

static void usage_of_pcbs(const struct ts_stack *st, struct ts_stack_usage *u)
{
    u->sockets = st->pcb_count;
    for (const struct ts_pcb *pcb = st->pcbs; pcb != NULL; pcb = pcb->next) {
        if (pcb->listening)
            usage_of_listener(pcb, u);
        if (pcb->tcp != NULL)
            usage_of_connection(pcb->tcp, u);
        if (pcb->type != TS_PCB_TCP && pcb->rxq_charge > u->udp_queued_bytes)
            u->udp_queued_bytes = pcb->rxq_charge;
    }
}

static void usage_of_tables(const struct ts_stack *st, struct ts_stack_usage *u)
{
    for (unsigned i = 0; i < st->cfg.limits.arp_cache_entries; i++)
        if (st->arp_table[i].state != ARP_FREE)
            u->arp_entries++;
    u->arp_queued = (unsigned)st->arp_queued_total;
    u->arp_queued_high_water = (unsigned)st->arp_queued_high_water;
    for (unsigned i = 0; i < st->cfg.limits.reasm_max_datagrams; i++)
        if (st->reasm[i].in_use)
            u->reasm_datagrams++;
    u->reasm_bytes = st->reasm_bytes;
    u->reasm_bytes_high_water = st->reasm_bytes_high_water;
}

void ts_stack_get_usage(const struct ts_stack *st, struct ts_stack_usage *out)
{
    memset(out, 0, sizeof *out);
    if (st == NULL)
        return;
    out->memory_bytes = st->mem_in_use;
    out->memory_high_water = st->mem_high_water > st->mem_in_use ? st->mem_high_water : st->mem_in_use;
    out->pbufs = st->pbufs_in_use;
    out->pbufs_high_water = st->pbufs_high_water > st->pbufs_in_use ? st->pbufs_high_water : st->pbufs_in_use;
    out->tcp_syn_queue_high_water = st->syn_queue_high_water;
    out->loopback_queued = (unsigned)st->loopback.count;
    usage_of_pcbs(st, out);
    usage_of_tables(st, out);
}
