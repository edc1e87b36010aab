/* Counter listing by name, generated from the lists in counters.h. */
#include <string.h>

#include "internal.h"

#define TS_COUNTER_VISIT(name) fn(ctx, layer, #name, group->name);

void ts_stack_counters_foreach(const struct ts_stack *st, ts_counter_fn fn, void *ctx)
{
    const char *layer;
    {
        const struct ts_eth_counters *group = &st->counters.eth;
        layer = "eth";
        TS_ETH_COUNTERS(TS_COUNTER_VISIT)
    }
    {
        const struct ts_arp_counters *group = &st->counters.arp;
        layer = "arp";
        TS_ARP_COUNTERS(TS_COUNTER_VISIT)
    }
    {
        const struct ts_ip_counters *group = &st->counters.ip;
        layer = "ip";
        TS_IP_COUNTERS(TS_COUNTER_VISIT)
    }
    {
        const struct ts_icmp_counters *group = &st->counters.icmp;
        layer = "icmp";
        TS_ICMP_COUNTERS(TS_COUNTER_VISIT)
    }
    {
        const struct ts_udp_counters *group = &st->counters.udp;
        layer = "udp";
        TS_UDP_COUNTERS(TS_COUNTER_VISIT)
    }
    {
        const struct ts_tcp_counters *group = &st->counters.tcp;
        layer = "tcp";
        TS_TCP_COUNTERS(TS_COUNTER_VISIT)
    }
    {
        const struct ts_sock_counters *group = &st->counters.sock;
        layer = "sock";
        TS_SOCK_COUNTERS(TS_COUNTER_VISIT)
    }
    {
        const struct ts_mem_counters *group = &st->counters.mem;
        layer = "mem";
        TS_MEM_COUNTERS(TS_COUNTER_VISIT)
    }
}

struct counter_lookup {
    const char *wanted;
    bool found;
    uint64_t value;
};

static void counter_match(void *ctx, const char *layer, const char *name, uint64_t value)
{
    struct counter_lookup *lk = ctx;
    size_t layer_len = strlen(layer);
    if (strncmp(lk->wanted, layer, layer_len) == 0 && lk->wanted[layer_len] == '.' &&
        strcmp(lk->wanted + layer_len + 1, name) == 0) {
        lk->found = true;
        lk->value = value;
    }
}

bool ts_stack_counter(const struct ts_stack *st, const char *layer_dot_name, uint64_t *value)
{
    struct counter_lookup lk = {.wanted = layer_dot_name};
    if (st == NULL || layer_dot_name == NULL)
        return false;
    ts_stack_counters_foreach(st, counter_match, &lk);
    if (lk.found && value != NULL)
        *value = lk.value;
    return lk.found;
}
