/* A stack's life: configuration, creation, the three entry points the driver calls, teardown. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void ts_stack_config_init(struct ts_stack_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->default_ttl = 64;
    cfg->gratuitous_arp = true;
    cfg->limits.arp_cache_entries = 64;
    cfg->limits.arp_queue_per_entry = 64;
    cfg->limits.arp_queue_total = 256;
    cfg->limits.reasm_max_datagrams = 16;
    cfg->limits.reasm_max_fragments = 64;
    cfg->limits.reasm_max_bytes = 256 * 1024;
    cfg->limits.icmp_errors_per_sec = 100;
    cfg->limits.icmp_error_burst = 20;
    cfg->limits.max_sockets = 1024;
    cfg->limits.udp_rcvbuf_default = 212992; /* Linux's net.core.rmem_default */
    /* RFC 1122 2.3.2.1 leaves the timeout to the implementation; Linux keeps entries tens of seconds. */
    cfg->timing.arp_reachable = TS_SEC(60);
    cfg->timing.arp_retry_interval = TS_SEC(1);
    cfg->timing.arp_max_retries = 3;
    /* RFC 791 suggests 15 s as a lower bound; RFC 1122 3.3.2 60-120 s; Linux uses 30 s. */
    cfg->timing.reasm_timeout = TS_SEC(30);
    cfg->limits.tcp_rcvbuf_default = 128 * 1024;
    cfg->limits.tcp_sndbuf_default = 128 * 1024;
    cfg->limits.tcp_ooo_max_bytes = 256 * 1024;
    /* 256 full-sized segments exceed tcp_ooo_max_bytes: the count only bites on tiny segments, each of
     * which would otherwise hold a whole buffer for a byte or two. */
    cfg->limits.tcp_ooo_max_segments = 256;
    cfg->limits.tcp_syn_queue = 128;
    cfg->limits.tcp_challenge_acks_per_sec = 1000; /* Linux's tcp_challenge_ack_limit */
    cfg->timing.tcp_msl = TS_SEC(30); /* Linux's TIME-WAIT is 60 s, i.e. MSL 30 s; RFC 9293 suggests 2 minutes */
    cfg->timing.tcp_rto_initial = TS_SEC(1);
    cfg->timing.tcp_rto_min = TS_MSEC(200);
    cfg->timing.tcp_rto_max = TS_SEC(120);
    /* RFC 9293 3.8.3 (MUST-23): a SYN is retransmitted for at least 3 minutes. From a 1 s RTO doubling,
     * 7 retransmissions give up 247 s after the first SYN (the last RTO capped at
     * tcp_rto_max, 120 s) (Linux's 6 give up at 127 s). */
    cfg->timing.tcp_syn_retries = 7;
    cfg->timing.tcp_data_retries = 15;
    cfg->timing.tcp_delack = TS_MSEC(200);
    cfg->timing.tcp_fin_wait2_timeout = TS_SEC(60);
    cfg->timing.tcp_oow_ack_interval = TS_MSEC(500); /* Linux's net.ipv4.tcp_invalid_ratelimit */
    cfg->timing.tcp_keepidle = TS_SEC(7200); /* RFC 1122 4.2.3.6: at least two hours by default */
    cfg->timing.tcp_keepintvl = TS_SEC(75);
    cfg->timing.tcp_keepcnt = 9;
}

static bool config_is_valid(const struct ts_stack_config *cfg, const struct ts_link *link)
{
    if (cfg == NULL || link == NULL || link->transmit == NULL)
        return false;
    /* 68 is the minimum IPv4 MTU (RFC 791); a frame must fit the 64 KiB datagram limit. */
    if (link->mtu < 68 || link->mtu > 65535)
        return false;
    /* Offloads are requested per frame through transmit_meta; TSO needs the device to fill checksums. */
    if (link->offloads != 0 && link->transmit_meta == NULL)
        return false;
    if ((link->offloads & TS_LINK_TSO4) && (!(link->offloads & TS_LINK_TX_CSUM) || link->tso_max <= link->mtu))
        return false;
    /* Gathering is used only with the device summing (the core never sums data it does not copy). */
    if ((link->offloads & TS_LINK_TX_GATHER) && (!(link->offloads & TS_LINK_TX_CSUM) || link->transmit_gather == NULL))
        return false;
    if (cfg->prefix_len > 32 || cfg->limits.arp_cache_entries == 0 || cfg->limits.reasm_max_datagrams == 0)
        return false;
    return true;
}

struct ts_stack *ts_stack_new(const struct ts_stack_config *cfg, const struct ts_link *link)
{
    if (!config_is_valid(cfg, link))
        return NULL;
    struct ts_stack *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    st->cfg = *cfg;
    if (st->cfg.default_ttl == 0)
        st->cfg.default_ttl = 64;
    st->link = *link;
    st->trace_mask = cfg->trace_mask;
    st->netmask = cfg->prefix_len == 0 ? 0 : (uint32_t)(0xffffffffu << (32 - cfg->prefix_len));
    st->subnet_broadcast = cfg->prefix_len >= 31 ? IPV4_BROADCAST : ((cfg->addr & st->netmask) | ~st->netmask);
    rng_seed(&st->rng, cfg->seed);
    for (int i = 0; i < IP_ID_BUCKETS; i++)
        st->ip_id_next[i] = (uint16_t)rng_next(&st->rng);
    st->ip_id_key = rng_next(&st->rng);
    /* TCP's keys come from a generator of their own, derived from the same seed, so adding or
     * removing a key never shifts the port and ID sequences a recorded replay depends on. */
    struct ts_rng keys;
    rng_seed(&keys, cfg->seed ^ 0x7463702d6b657973ull);
    for (size_t i = 0; i < sizeof st->tcp_secret.isn_key; i++)
        st->tcp_secret.isn_key[i] = (uint8_t)rng_next(&keys);
    for (size_t i = 0; i < sizeof st->tcp_secret.cookie_key; i++)
        st->tcp_secret.cookie_key[i] = (uint8_t)rng_next(&keys);
    for (size_t i = 0; i < sizeof st->pcb_hash_key; i++)
        st->pcb_hash_key[i] = (uint8_t)rng_next(&keys);
    pcb_tables_init(st);
    st->icmp_tokens = (int64_t)cfg->limits.icmp_error_burst * 1000000;
    st->icmp_tokens_at = 0;
    st->next_pcb_id = 1;
    st->announce_pending = cfg->gratuitous_arp && cfg->addr != 0;
    st->mem_in_use = sizeof *st;
    if (arp_init(st) != 0 || ipv4_reasm_init(st) != 0) {
        ts_stack_free(st);
        return NULL;
    }
    return st;
}

size_t ts_stack_free(struct ts_stack *st)
{
    if (st == NULL)
        return 0;
    tcp_destroy_all(st);
    while (st->pcbs != NULL)
        pcb_destroy(st->pcbs);
    pcb_tables_free(st);
    tcp_timers_free(st);
    tcp_ring_cache_drain(st);
    pbuf_queue_clear(st, &st->loopback);
    arp_destroy(st);
    ipv4_reasm_destroy(st);
    pbuf_pool_drain(st);
    size_t leaked = st->pbufs_in_use;
    free(st);
    return leaked;
}

static void note_time(struct ts_stack *st, ts_time now)
{
    if (now > st->last_now)
        st->last_now = now;
}

void ts_stack_input(struct ts_stack *st, ts_time now, const uint8_t *frame, size_t len)
{
    ts_stack_input_meta(st, now, frame, len, NULL);
}

void ts_stack_input_meta(struct ts_stack *st, ts_time now, const uint8_t *frame, size_t len,
                         const struct ts_frame_meta *meta)
{
    if (st == NULL)
        return;
    note_time(st, now);
    eth_input(st, now, frame, len, meta);
    ipv4_flush_loopback(st, now);
    mem_note_high_water(st);
}

void ts_stack_poll(struct ts_stack *st, ts_time now)
{
    if (st == NULL)
        return;
    note_time(st, now);
    if (st->announce_pending) {
        st->announce_pending = false;
        arp_announce(st, now);
    }
    arp_poll(st, now);
    ipv4_reasm_poll(st, now);
    tcp_poll(st, now);
    ipv4_flush_loopback(st, now);
    mem_note_high_water(st);
}

static ts_time earliest(ts_time a, ts_time b)
{
    return a < b ? a : b;
}

/*
 * The ARP table and the reassembly slots are scanned (small, bounded by configuration);
 * TCP's connections, however many, answer in O(1) from the root of their timer heap.
 */
ts_time ts_stack_next_deadline(const struct ts_stack *st)
{
    if (st == NULL)
        return TS_TIME_NEVER;
    if (st->announce_pending || st->loopback.count > 0)
        return st->last_now;
    return earliest(earliest(arp_next_deadline(st), ipv4_reasm_next_deadline(st)), tcp_next_deadline(st));
}

void ts_stack_set_trace_mask(struct ts_stack *st, uint32_t mask)
{
    st->trace_mask = mask;
}

uint32_t ts_stack_trace_mask(const struct ts_stack *st)
{
    return st->trace_mask;
}

const struct ts_stack_config *ts_stack_config_of(const struct ts_stack *st)
{
    return &st->cfg;
}

int ts_stack_arp_add_static(struct ts_stack *st, ts_ipv4_addr ip, const uint8_t mac[6])
{
    if (st == NULL || mac == NULL || ip == 0)
        return -EINVAL;
    return arp_add_static(st, ip, mac);
}

size_t ts_stack_pbufs_in_use(const struct ts_stack *st)
{
    return st->pbufs_in_use;
}

size_t ts_stack_memory_in_use(const struct ts_stack *st)
{
    return st->mem_in_use;
}
