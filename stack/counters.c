/* Counter listing by name, generated from the lists in counters.h. */
#include <string.h>

#include "internal.h"

/* Visits every counter of one group: its layer name, then each field by name. */
#define TS_COUNTER_VISIT(name) fn(ctx, layer, #name, group->name);
#define TS_VISIT_GROUP(field, type, LIST)                                                                           \
    do {                                                                                                            \
        const char *layer = #field;                                                                                 \
        const struct type *group = &st->counters.field;                                                             \
        LIST(TS_COUNTER_VISIT)                                                                                      \
    } while (0)

void ts_stack_counters_foreach(const struct ts_stack *st, ts_counter_fn fn, void *ctx)
{
    TS_VISIT_GROUP(eth, ts_eth_counters, TS_ETH_COUNTERS);
    TS_VISIT_GROUP(arp, ts_arp_counters, TS_ARP_COUNTERS);
    TS_VISIT_GROUP(ip, ts_ip_counters, TS_IP_COUNTERS);
    TS_VISIT_GROUP(icmp, ts_icmp_counters, TS_ICMP_COUNTERS);
    TS_VISIT_GROUP(udp, ts_udp_counters, TS_UDP_COUNTERS);
    TS_VISIT_GROUP(tcp, ts_tcp_counters, TS_TCP_COUNTERS);
    TS_VISIT_GROUP(sock, ts_sock_counters, TS_SOCK_COUNTERS);
    TS_VISIT_GROUP(mem, ts_mem_counters, TS_MEM_COUNTERS);
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
