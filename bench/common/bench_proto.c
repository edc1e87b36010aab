/* The benchmark protocol's parser and the statistics every server reports (see bench_proto.h). */
#define _GNU_SOURCE
#include "bench_proto.h"

#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

size_t bench_line_feed(struct bench_line *line, const uint8_t *data, size_t len, struct bench_cmd *cmd)
{
    cmd->type = BENCH_CMD_NONE;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n') {
            line->text[line->len] = '\0';
            *cmd = bench_parse_command(line->text);
            return i + 1;
        }
        if (line->len + 1 >= sizeof line->text) {
            cmd->type = BENCH_CMD_BAD;
            return i + 1;
        }
        line->text[line->len++] = (char)data[i];
    }
    return len;
}

struct bench_cmd bench_parse_command(const char *text)
{
    static const struct {
        const char *word;
        enum bench_cmd_type type;
    } words[] = {
        {"DISCARD", BENCH_CMD_DISCARD}, {"SOURCE", BENCH_CMD_SOURCE}, {"ECHO", BENCH_CMD_ECHO},
        {"HOLD", BENCH_CMD_HOLD},       {"RELEASE", BENCH_CMD_RELEASE}, {"STATS", BENCH_CMD_STATS},
    };
    struct bench_cmd cmd = {.type = BENCH_CMD_BAD};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strcmp(text, words[i].word) == 0) {
            cmd.type = words[i].type;
            return cmd;
        }
    }
    unsigned port, size;
    double seconds;
    char tail;
    if (sscanf(text, "USOURCE %u %lf %u%c", &port, &seconds, &size, &tail) == 3 && port > 0 && port < 65536 &&
        seconds > 0 && seconds <= 600 && size > 0 && size <= BENCH_UDP_MAX) {
        cmd.type = BENCH_CMD_USOURCE;
        cmd.port = (uint16_t)port;
        cmd.seconds = seconds;
        cmd.size = size;
    }
    return cmd;
}

void bench_stats_init(struct bench_stats *s, const char *system)
{
    *s = (struct bench_stats){.system = system, .stack_mem = -1, .heap = -1, .kmem = -1, .conns = -1,
                              .parked = -1, .udp_rx = -1, .udp_rx_bytes = -1, .accepted = -1};
}

static size_t put_number(char *buf, size_t cap, size_t at, const char *name, int64_t v)
{
    if (at >= cap)
        return at;
    int n = v < 0 ? snprintf(buf + at, cap - at, ",\"%s\":null", name)
                  : snprintf(buf + at, cap - at, ",\"%s\":%" PRId64, name, v);
    return n < 0 ? at : at + (size_t)n;
}

size_t bench_stats_json(const struct bench_stats *s, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "{\"system\":\"%s\"", s->system);
    size_t at = n < 0 ? 0 : (size_t)n;
    at = put_number(buf, cap, at, "stack_mem", s->stack_mem);
    at = put_number(buf, cap, at, "heap", s->heap);
    at = put_number(buf, cap, at, "kmem", s->kmem);
    at = put_number(buf, cap, at, "conns", s->conns);
    at = put_number(buf, cap, at, "parked", s->parked);
    at = put_number(buf, cap, at, "udp_rx", s->udp_rx);
    at = put_number(buf, cap, at, "udp_rx_bytes", s->udp_rx_bytes);
    at = put_number(buf, cap, at, "accepted", s->accepted);
    if (s->extra != NULL && at < cap) {
        n = snprintf(buf + at, cap - at, ",%s", s->extra);
        at = n < 0 ? at : at + (size_t)n;
    }
    if (at < cap) {
        n = snprintf(buf + at, cap - at, "}\n");
        at = n < 0 ? at : at + (size_t)n;
    }
    return at < cap ? at : cap - 1;
}

int64_t bench_heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (int64_t)(mi.uordblks + mi.hblkhd);
}

/* One "Name: N kB" field of /proc/meminfo in bytes, or -1. */
static int64_t meminfo_bytes(const char *field)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (f == NULL)
        return -1;
    char line[256];
    int64_t result = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            result = strtoll(line + flen + 1, NULL, 10) * 1024;
            break;
        }
    }
    fclose(f);
    return result;
}

/* The "mem" field of the TCP line of /proc/net/sockstat (pages), in bytes, or 0. */
static int64_t tcp_mem_bytes(void)
{
    FILE *f = fopen("/proc/net/sockstat", "r");
    if (f == NULL)
        return 0;
    char line[256];
    int64_t pages = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        const char *m = strstr(line, " mem ");
        if (strncmp(line, "TCP:", 4) == 0 && m != NULL)
            pages = strtoll(m + 5, NULL, 10);
    }
    fclose(f);
    return pages * 4096;
}

int64_t bench_kernel_mem(void)
{
    int64_t slab = meminfo_bytes("Slab");
    return slab < 0 ? -1 : slab + tcp_mem_bytes();
}

void bench_raise_nofile(void)
{
    struct rlimit rl = {.rlim_cur = BENCH_NOFILE, .rlim_max = BENCH_NOFILE};
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        return;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

uint64_t bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
