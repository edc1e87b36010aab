/* Trace lines and counter listings: pure string building; printing is the caller's business. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static void trace_deliver(struct ts_stack *st, ts_time now, enum ts_trace_layer layer, enum ts_trace_kind kind)
{
    struct ts_trace_event ev = {.now = now, .layer = layer, .kind = kind, .text = st->trace_line};
    st->cfg.trace(st->cfg.trace_ctx, &ev);
}

void trace_emit(struct ts_stack *st, ts_time now, enum ts_trace_layer layer, enum ts_trace_kind kind,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->trace_line, sizeof st->trace_line, fmt, ap);
    va_end(ap);
    trace_deliver(st, now, layer, kind);
}

void trace_drop(struct ts_stack *st, ts_time now, enum ts_trace_layer layer, const char *counter, const char *fmt,
                ...)
{
    int n = snprintf(st->trace_line, sizeof st->trace_line, "drop [%s] ", counter);
    if (n < 0 || (size_t)n >= sizeof st->trace_line)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->trace_line + n, sizeof st->trace_line - (size_t)n, fmt, ap);
    va_end(ap);
    trace_deliver(st, now, layer, TS_TRACE_DROP);
}

char *mac_format(const uint8_t mac[6], char *buf)
{
    snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    return buf;
}

static const struct {
    enum ts_trace_layer layer;
    const char *name;
} trace_layer_names[] = {
    {TS_TRACE_ETH, "eth"},   {TS_TRACE_ARP, "arp"}, {TS_TRACE_IP, "ip"},     {TS_TRACE_ICMP, "icmp"},
    {TS_TRACE_UDP, "udp"},   {TS_TRACE_TCP, "tcp"}, {TS_TRACE_SOCK, "sock"},
};

const char *ts_trace_layer_name(enum ts_trace_layer layer)
{
    for (size_t i = 0; i < sizeof trace_layer_names / sizeof trace_layer_names[0]; i++)
        if (trace_layer_names[i].layer == layer)
            return trace_layer_names[i].name;
    return "?";
}

static int trace_lookup(const char *name, size_t len, uint32_t *bit)
{
    for (size_t i = 0; i < sizeof trace_layer_names / sizeof trace_layer_names[0]; i++) {
        const char *candidate = trace_layer_names[i].name;
        if (strlen(candidate) == len && strncmp(candidate, name, len) == 0) {
            *bit = trace_layer_names[i].layer;
            return 0;
        }
    }
    return -1;
}

int ts_trace_parse_mask(const char *spec, uint32_t *mask)
{
    if (spec == NULL || mask == NULL)
        return -1;
    if (strcmp(spec, "all") == 0 || strcmp(spec, "") == 0) {
        *mask = TS_TRACE_ALL;
        return 0;
    }
    if (strcmp(spec, "none") == 0) {
        *mask = 0;
        return 0;
    }
    uint32_t result = 0;
    const char *p = spec;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        uint32_t bit;
        if (trace_lookup(p, len, &bit) != 0)
            return -1;
        result |= bit;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    *mask = result;
    return 0;
}
