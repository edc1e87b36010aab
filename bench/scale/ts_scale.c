/*
 * ts-scale: the core's cost as the number of connections grows (issue 6).
 *
 * Two stacks in one process (tests/support/scale_pair.c: no kernel, no TAP, a
 * virtual clock) hold N established connections. On one of them a client
 * sends 64 bytes and the server echoes them, again and again, the clock
 * advancing 1 ms per exchange and each stack polled whenever its deadline
 * comes, as a runtime would. Reported per N:
 *
 *   setup_s         time to open the N connections
 *   stack_B/conn    ts_stack_memory_in_use() growth per connection, each stack
 *   heap_B/conn     malloc'd bytes (glibc mallinfo2) growth per connection, per stack
 *   exchange_ns     time per request/response exchange on the active connection (both stacks'
 *                   work: two segments each way, two deadline checks, polls when due)
 *   idle_tick_ns    time per 1-ms clock step with nothing to send (deadline checks and due timers)
 *   probes/lookup   pcbs examined per pcb lookup during the exchanges (sock.lookup_probes / sock.lookups;
 *                   "-" for a core without those counters)
 *   close_s         time to close everything and let TIME-WAIT run out
 * Times are the thread's CPU time (a shared machine's other load inflates wall time, not this);
 * exchange_ns and idle_tick_ns are the best of five batches, which filters cache disturbance.
 *
 * usage: ts-scale [N,N,...] [--exchanges M] [--keepalive]   (default 1,1000,10000,100000; M 20000)
 * Prints a table, then the same numbers as one JSON object on the last line.
 */
#define _GNU_SOURCE /* mallinfo2, clock_gettime, strdup */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scale_pair.h"

#define MAX_SIZES 16
#define BATCHES 5

struct result {
    size_t n;
    size_t opened;
    double setup_s;
    double stack_bytes_per_conn;
    double heap_bytes_per_conn;
    double exchange_ns;
    double idle_tick_ns;
    double probes_per_lookup; /* < 0: the core does not count them */
    double close_s;
    bool echo_ok;
    size_t leaked;
};

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t heap_in_use(void)
{
    return mallinfo2().uordblks;
}

static size_t stacks_memory(const struct scale_pair *p)
{
    return ts_stack_memory_in_use(p->a.st) + ts_stack_memory_in_use(p->b.st);
}

static void set_keepalive(struct scale_pair *p)
{
    for (size_t i = 0; i < p->count; i++) {
        ts_pcb_setopt(p->clients[i], TS_OPT_KEEPALIVE, 1);
        ts_pcb_setopt(p->servers[i], TS_OPT_KEEPALIVE, 1);
    }
}

static void run_one(size_t n, unsigned exchanges, bool keepalive, struct result *r)
{
    struct scale_pair p;
    memset(r, 0, sizeof *r);
    r->n = n;
    if (scale_pair_init(&p, n, 1) != 0) {
        fprintf(stderr, "ts-scale: cannot create the stacks\n");
        exit(1);
    }
    size_t heap0 = heap_in_use(), mem0 = stacks_memory(&p);
    double t0 = wall_seconds();
    r->opened = scale_pair_open(&p, n);
    r->setup_s = wall_seconds() - t0;
    if (keepalive)
        set_keepalive(&p);
    /* Let the handshakes' last delayed ACKs and timers settle before measuring memory. */
    scale_pair_advance(&p, TS_SEC(1));
    if (r->opened > 0) {
        r->stack_bytes_per_conn = (double)(stacks_memory(&p) - mem0) / 2.0 / (double)r->opened;
        r->heap_bytes_per_conn = (double)(heap_in_use() - heap0) / 2.0 / (double)r->opened;
    }
    uint8_t msg[64];
    memset(msg, 'x', sizeof msg);
    r->echo_ok = r->opened > 0;
    uint64_t lookups0 = 0, probes0 = 0;
    bool counted = ts_stack_counter(p.b.st, "sock.lookups", &lookups0) &&
                   ts_stack_counter(p.b.st, "sock.lookup_probes", &probes0);
    unsigned batch = exchanges / BATCHES + 1;
    for (int b = 0; b < BATCHES && r->echo_ok; b++) {
        double t1 = wall_seconds();
        for (unsigned i = 0; i < batch && r->echo_ok; i++) {
            msg[0] = (uint8_t)i;
            r->echo_ok = scale_pair_echo(&p, 0, msg, sizeof msg);
            scale_pair_advance(&p, TS_MSEC(1));
        }
        double ns = (wall_seconds() - t1) * 1e9 / batch;
        if (b == 0 || ns < r->exchange_ns)
            r->exchange_ns = ns;
    }
    r->probes_per_lookup = -1;
    uint64_t lookups = 0, probes = 0;
    if (counted && ts_stack_counter(p.b.st, "sock.lookups", &lookups) &&
        ts_stack_counter(p.b.st, "sock.lookup_probes", &probes) && lookups > lookups0)
        r->probes_per_lookup = (double)(probes - probes0) / (double)(lookups - lookups0);
    unsigned ticks = batch / 4 + 1;
    for (int b = 0; b < BATCHES; b++) {
        double t2 = wall_seconds();
        for (unsigned i = 0; i < ticks; i++)
            scale_pair_advance(&p, TS_MSEC(1));
        double ns = (wall_seconds() - t2) * 1e9 / ticks;
        if (b == 0 || ns < r->idle_tick_ns)
            r->idle_tick_ns = ns;
    }
    double t3 = wall_seconds();
    scale_pair_close_all(&p);
    r->close_s = wall_seconds() - t3;
    r->leaked = scale_pair_fini(&p);
}

static size_t parse_sizes(const char *spec, size_t *sizes)
{
    size_t count = 0;
    char *copy = strdup(spec);
    for (char *tok = strtok(copy, ","); tok != NULL && count < MAX_SIZES; tok = strtok(NULL, ","))
        sizes[count++] = strtoull(tok, NULL, 10);
    free(copy);
    return count;
}

int main(int argc, char **argv)
{
    size_t sizes[MAX_SIZES] = {1, 1000, 10000, 100000};
    size_t count = 4;
    unsigned exchanges = 20000;
    bool keepalive = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--exchanges") == 0 && i + 1 < argc)
            exchanges = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--keepalive") == 0)
            keepalive = true;
        else if (argv[i][0] >= '0' && argv[i][0] <= '9')
            count = parse_sizes(argv[i], sizes);
        else {
            fprintf(stderr, "usage: ts-scale [N,N,...] [--exchanges M] [--keepalive]\n");
            return 2;
        }
    }
    struct result results[MAX_SIZES];
    printf("%8s %8s %9s %13s %12s %12s %13s %14s %9s %5s %6s\n", "conns", "opened", "setup_s", "stack_B/conn",
           "heap_B/conn", "exchange_ns", "idle_tick_ns", "probes/lookup", "close_s", "echo", "leaked");
    for (size_t i = 0; i < count; i++) {
        struct result *r = &results[i];
        run_one(sizes[i], exchanges, keepalive, r);
        char probes[32] = "-";
        if (r->probes_per_lookup >= 0)
            snprintf(probes, sizeof probes, "%.2f", r->probes_per_lookup);
        printf("%8zu %8zu %9.3f %13.1f %12.1f %12.0f %13.0f %14s %9.3f %5s %6zu\n", r->n, r->opened, r->setup_s,
               r->stack_bytes_per_conn, r->heap_bytes_per_conn, r->exchange_ns, r->idle_tick_ns, probes,
               r->close_s, r->echo_ok ? "ok" : "FAIL", r->leaked);
        fflush(stdout);
    }
    printf("{\"keepalive\":%s,\"exchanges\":%u,\"results\":[", keepalive ? "true" : "false", exchanges);
    for (size_t i = 0; i < count; i++) {
        const struct result *r = &results[i];
        printf("%s{\"connections\":%zu,\"opened\":%zu,\"setup_s\":%.4f,\"stack_bytes_per_conn\":%.1f,"
               "\"heap_bytes_per_conn\":%.1f,\"exchange_ns\":%.0f,\"idle_tick_ns\":%.0f,\"probes_per_lookup\":%.3f,"
               "\"close_s\":%.4f,"
               "\"echo_ok\":%s,\"leaked_pbufs\":%zu}",
               i ? "," : "", r->n, r->opened, r->setup_s, r->stack_bytes_per_conn, r->heap_bytes_per_conn,
               r->exchange_ns, r->idle_tick_ns, r->probes_per_lookup, r->close_s, r->echo_ok ? "true" : "false",
               r->leaked);
    }
    printf("]}\n");
    return 0;
}
