/*
 * Issue 6: the core holds many connections, and what one packet or one tick
 * costs does not grow with how many it holds. Two stacks in one process
 * (tests/support/scale_pair.c) open SCALE_N connections between them.
 * Nothing here times anything: costs are shown by counting the pcbs a lookup
 * examines, and memory by the stack's own count and the C library's.
 */
#define _GNU_SOURCE /* mallinfo2 */
#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <string.h>

#include "scale_pair.h"

#if defined(__SANITIZE_ADDRESS__)
#define SCALE_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SCALE_UNDER_ASAN 1
#endif
#endif

#ifdef SCALE_UNDER_ASAN
#define SCALE_N 5000u
#else
#define SCALE_N 20000u
#endif

/* The budget: stack memory per idle connection, beyond its (empty, unallocated) buffers. */
#define IDLE_CONNECTION_BUDGET 1024.0

static struct scale_pair p;

static void setup(void)
{
    cr_assert_eq(scale_pair_init(&p, SCALE_N, 11), 0);
}

static void teardown(void)
{
    if (p.a.st != NULL)
        cr_expect_eq(scale_pair_fini(&p), 0, "a stack leaked packet buffers");
}

TestSuite(scale, .init = setup, .fini = teardown, .timeout = 60);

static uint64_t counter(const struct ts_stack *st, const char *name)
{
    uint64_t v = 0;
    cr_assert(ts_stack_counter(st, name, &v), "no counter %s", name);
    return v;
}

static void open_all(void)
{
    size_t opened = scale_pair_open(&p, SCALE_N);
    cr_assert_eq(opened, SCALE_N, "only %zu of %u connections were established", opened, SCALE_N);
}

Test(scale, every_connection_is_established_and_carries_data)
{
    open_all();
    for (size_t i = 0; i < SCALE_N; i += SCALE_N / 100) {
        uint8_t msg[16];
        memset(msg, (int)(i % 251), sizeof msg);
        memcpy(msg, &i, sizeof i);
        cr_assert(scale_pair_echo(&p, i, msg, sizeof msg), "connection %zu did not echo", i);
    }
    cr_assert(scale_pair_echo(&p, SCALE_N - 1, (const uint8_t *)"last", 4));
    cr_assert(scale_pair_close_all(&p), "a timer was still pending after every connection closed");
    cr_assert_eq(ts_stack_pbufs_in_use(p.a.st), 0);
    cr_assert_eq(ts_stack_pbufs_in_use(p.b.st), 0);
}

Test(scale, idle_connection_costs_at_most_a_kibibyte_of_stack_memory)
{
    size_t mem_a = ts_stack_memory_in_use(p.a.st), mem_b = ts_stack_memory_in_use(p.b.st);
    open_all();
    scale_pair_advance(&p, TS_SEC(1)); /* handshakes' last timers run out */
    double per_a = (double)(ts_stack_memory_in_use(p.a.st) - mem_a) / SCALE_N;
    double per_b = (double)(ts_stack_memory_in_use(p.b.st) - mem_b) / SCALE_N;
    cr_expect_leq(per_a, IDLE_CONNECTION_BUDGET, "client side: %.0f bytes per idle connection", per_a);
    cr_expect_leq(per_b, IDLE_CONNECTION_BUDGET, "server side: %.0f bytes per idle connection", per_b);
    /* Buffers come and go with data: one byte each way, read, leaves nothing behind. */
    cr_assert(scale_pair_echo(&p, 7, (const uint8_t *)"x", 1));
    scale_pair_advance(&p, TS_SEC(1));
    double after = (double)(ts_stack_memory_in_use(p.b.st) - mem_b) / SCALE_N;
    cr_expect_leq(after, per_b + 1.0, "a drained connection kept its buffers: %.1f -> %.1f", per_b, after);
}

/* The stack's own count is what the C library really handed out, give or take its chunk headers. */
Test(scale, memory_in_use_accounts_for_what_malloc_handed_out)
{
#ifdef SCALE_UNDER_ASAN
    cr_skip("the sanitizer's allocator does not keep glibc's statistics");
#else
    size_t heap0 = mallinfo2().uordblks;
    size_t mem0 = ts_stack_memory_in_use(p.a.st) + ts_stack_memory_in_use(p.b.st);
    open_all();
    scale_pair_advance(&p, TS_SEC(1));
    double heap = (double)(mallinfo2().uordblks - heap0) / (2.0 * SCALE_N);
    double counted = (double)(ts_stack_memory_in_use(p.a.st) + ts_stack_memory_in_use(p.b.st) - mem0) /
                     (2.0 * SCALE_N);
    cr_expect_leq(heap, IDLE_CONNECTION_BUDGET, "malloc: %.0f bytes per idle connection", heap);
    /* Two allocations per connection (pcb, control block), each with a 16-byte header at most,
     * and the driver's frame queues: the two counts agree within 10%. */
    cr_expect(heap <= counted * 1.10 && heap >= counted * 0.90, "malloc %.0f vs counted %.0f bytes per connection",
              heap, counted);
#endif
}

/* A segment's lookup examines about one pcb, however many connections there are (no list walk). */
Test(scale, segment_demux_examines_about_one_pcb_per_lookup)
{
    open_all();
    uint64_t lookups0 = counter(p.b.st, "sock.lookups"), probes0 = counter(p.b.st, "sock.lookup_probes");
    uint64_t segs0 = counter(p.b.st, "tcp.rx_segments");
    for (size_t i = 0; i < SCALE_N; i += 37)
        cr_assert(scale_pair_echo(&p, i, (const uint8_t *)"ping", 4));
    uint64_t lookups = counter(p.b.st, "sock.lookups") - lookups0;
    uint64_t probes = counter(p.b.st, "sock.lookup_probes") - probes0;
    uint64_t segs = counter(p.b.st, "tcp.rx_segments") - segs0;
    cr_assert_gt(segs, 0);
    cr_assert_geq(lookups, segs, "every segment is looked up");
    double per_lookup = (double)probes / (double)lookups;
    cr_expect_leq(per_lookup, 2.0, "%.2f pcbs examined per lookup with %u connections", per_lookup, SCALE_N);
}

/* With no timer running, nothing is due, and polling touches no connection. */
Test(scale, idle_connections_leave_no_deadline)
{
    open_all();
    scale_pair_advance(&p, TS_SEC(1));
    cr_expect_eq(ts_stack_next_deadline(p.a.st), TS_TIME_NEVER);
    cr_expect_eq(ts_stack_next_deadline(p.b.st), TS_TIME_NEVER);
}

/* Keep-alive armed on every connection: all their deadlines wait in the heap and come due together. */
Test(scale, keepalive_deadlines_of_every_connection_fire_together)
{
    open_all();
    for (size_t i = 0; i < SCALE_N; i++)
        cr_assert_eq(ts_pcb_setopt(p.servers[i], TS_OPT_KEEPALIVE, 1), 0);
    const struct ts_stack_config *cfg = ts_stack_config_of(p.b.st);
    ts_time due = p.now + cfg->timing.tcp_keepidle;
    cr_assert_eq(ts_stack_next_deadline(p.b.st), due);
    uint64_t probes0 = counter(p.b.st, "tcp.keepalive_probes");
    scale_pair_advance(&p, due - p.now);
    cr_expect_eq(counter(p.b.st, "tcp.keepalive_probes") - probes0, SCALE_N);
    ts_time next = ts_stack_next_deadline(p.b.st);
    cr_expect_eq(next, due + cfg->timing.tcp_keepidle,
                 "each answered probe restarts its connection's keep-alive; next deadline %+lld us", (long long)(next - due));
}

/* Two connections with the same 4-tuple could not be told apart (RFC 9293 3.4). */
Test(scale, second_connection_with_the_same_four_tuple_is_refused)
{
    cr_assert_eq(scale_pair_open(&p, 1), 1);
    int err;
    struct ts_pcb *dup = ts_pcb_open(p.a.st, TS_PCB_TCP, &err);
    cr_assert_not_null(dup);
    cr_assert_eq(ts_pcb_setopt(dup, TS_OPT_REUSEADDR, 1), 0);
    struct ts_sockaddr local = {0, SCALE_LPORT_BASE}, remote = {SCALE_ADDR_B, SCALE_PORT_BASE};
    cr_assert_eq(ts_pcb_bind(dup, &local), 0);
    cr_expect_eq(ts_pcb_connect(dup, p.now, &remote), -EADDRNOTAVAIL);
    struct ts_sockaddr other = {SCALE_ADDR_B, SCALE_PORT_BASE + 1};
    cr_expect_eq(ts_pcb_connect(dup, p.now, &other), -EINPROGRESS, "another remote port makes another tuple");
    ts_pcb_abort(dup, p.now);
}
