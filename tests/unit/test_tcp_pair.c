/* TCP end to end: two stacks on the in-memory link, virtual time. Each test names the rule it checks. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pair_fixture.h"

static struct pair p;

static void teardown(void) { pair_fini(&p); }

TestSuite(tcp_pair, .fini = teardown);

/* Pumps data from src to dst until `total` bytes arrived (or the time limit); returns bytes received. */
static size_t transfer(struct ts_pcb *src, struct ts_pcb *dst, const uint8_t *data, size_t total, uint8_t *out,
                       ts_time limit)
{
    size_t sent = 0, got = 0;
    ts_time end = p.now + limit;
    while (got < total && p.now < end) {
        if (sent < total) {
            ssize_t n = ts_pcb_send(src, p.now, data + sent, total - sent);
            cr_assert(n > 0 || n == -EAGAIN, "send failed: %zd", n);
            if (n > 0)
                sent += (size_t)n;
        }
        pair_run(&p, p.step);
        for (;;) {
            ssize_t n = ts_pcb_recv(dst, p.now, out + got, total - got, false);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
    }
    return got;
}

static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *d = malloc(n);
    cr_assert_not_null(d);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        d[i] = (uint8_t)(x >> 16);
    }
    return d;
}

Test(tcp_pair, three_way_handshake_establishes_both_ends)
{
    pair_init(&p, NULL, NULL, NULL);
    struct ts_pcb *l = pair_tcp_listen(p.b.st, 80, 8);
    struct ts_pcb *server;
    struct ts_pcb *client = pair_tcp_connect(&p, l, 80, &server);
    struct ts_tcp_info info;
    cr_assert_eq(ts_pcb_tcp_info(client, &info), 0);
    cr_assert_eq(info.snd_mss, 1460 - 12, "MSS from the 1500 MTU, less the timestamp option");
    cr_assert(info.timestamps);
    cr_assert(info.sack);
    cr_assert_eq(ts_pcb_events(client) & TS_EV_WRITABLE, TS_EV_WRITABLE);
    struct ts_sockaddr peer;
    cr_assert_eq(ts_pcb_remote(server, &peer), 0);
    cr_assert_eq(peer.addr, PAIR_ADDR_A);
    ts_pcb_abort(client, p.now);
    ts_pcb_abort(server, p.now);
    ts_pcb_close_at(l, p.now);
}

Test(tcp_pair, a_megabyte_arrives_intact_in_each_direction)
{
    pair_init(&p, NULL, NULL, NULL);
    struct ts_pcb *l = pair_tcp_listen(p.b.st, 80, 8);
    struct ts_pcb *server;
    struct ts_pcb *client = pair_tcp_connect(&p, l, 80, &server);
    size_t total = 1 << 20;
    uint8_t *data = pattern(total, 1), *out = malloc(total);
    cr_assert_eq(transfer(client, server, data, total, out, TS_SEC(30)), total);
    cr_assert_arr_eq(out, data, total);
    cr_assert_eq(transfer(server, client, data, total, out, TS_SEC(30)), total);
    cr_assert_arr_eq(out, data, total);
    free(data);
    free(out);
    ts_pcb_close_at(client, p.now);
    ts_pcb_close_at(server, p.now);
    ts_pcb_close_at(l, p.now);
    pair_run(&p, TS_SEC(70));
}

Test(tcp_pair, connect_to_a_closed_port_is_refused)
{
    pair_init(&p, NULL, NULL, NULL);
    int err;
    struct ts_pcb *c = ts_pcb_open(p.a.st, TS_PCB_TCP, &err);
    struct ts_sockaddr to = {PAIR_ADDR_B, 9};
    cr_assert_eq(ts_pcb_connect(c, p.now, &to), -EINPROGRESS);
    pair_run(&p, TS_MSEC(10));
    cr_assert_eq(ts_pcb_events(c) & TS_EV_ERROR, TS_EV_ERROR);
    cr_assert_eq(ts_pcb_take_error(c), ECONNREFUSED);
    ts_pcb_close(c);
}

Test(tcp_pair, close_from_the_client_walks_both_ends_through_the_closing_states)
{
    pair_init(&p, NULL, NULL, NULL);
    struct ts_pcb *l = pair_tcp_listen(p.b.st, 80, 8);
    struct ts_pcb *server;
    struct ts_pcb *client = pair_tcp_connect(&p, l, 80, &server);
    cr_assert_eq(ts_pcb_shutdown(client, p.now, TS_SHUT_WR), 0);
    pair_run(&p, TS_MSEC(5));
    cr_assert_eq(pair_tcp_state(client), TS_TCP_FIN_WAIT_2);
    cr_assert_eq(pair_tcp_state(server), TS_TCP_CLOSE_WAIT);
    char buf[8];
    cr_assert_eq(ts_pcb_recv(server, p.now, buf, sizeof buf, false), 0, "end of stream");
    /* Half-close: the server can still send. */
    cr_assert_eq(ts_pcb_send(server, p.now, "late", 4), 4);
    pair_run(&p, TS_MSEC(5));
    cr_assert_eq(ts_pcb_recv(client, p.now, buf, sizeof buf, false), 4);
    cr_assert_arr_eq(buf, "late", 4);
    ts_pcb_close_at(server, p.now);
    pair_run(&p, TS_MSEC(5));
    cr_assert_eq(pair_tcp_state(client), TS_TCP_TIME_WAIT);
    cr_assert_eq(ts_pcb_recv(client, p.now, buf, sizeof buf, false), 0);
    ts_pcb_close_at(client, p.now);
    ts_pcb_close_at(l, p.now);
    uint64_t v;
    ts_stack_counter(p.a.st, "sock.closed", &v);
    cr_assert_eq(v, 0, "the client connection lives on in TIME-WAIT");
    pair_run(&p, TS_SEC(61));
    ts_stack_counter(p.a.st, "sock.closed", &v);
    cr_assert_eq(v, 1, "TIME-WAIT ends after 2 MSL");
}

Test(tcp_pair, abort_resets_the_peer_with_econnreset)
{
    pair_init(&p, NULL, NULL, NULL);
    struct ts_pcb *l = pair_tcp_listen(p.b.st, 80, 8);
    struct ts_pcb *server;
    struct ts_pcb *client = pair_tcp_connect(&p, l, 80, &server);
    ts_pcb_abort(client, p.now);
    pair_run(&p, TS_MSEC(5));
    char buf[4];
    cr_assert_eq(ts_pcb_recv(server, p.now, buf, sizeof buf, false), -ECONNRESET);
    cr_assert_eq(ts_pcb_send(server, p.now, "x", 1), -EPIPE);
    ts_pcb_close_at(server, p.now);
    ts_pcb_close_at(l, p.now);
}

Test(tcp_pair, simultaneous_close_passes_through_closing)
{
    pair_init(&p, NULL, NULL, NULL);
    struct ts_pcb *l = pair_tcp_listen(p.b.st, 80, 8);
    struct ts_pcb *server;
    struct ts_pcb *client = pair_tcp_connect(&p, l, 80, &server);
    cr_assert_eq(ts_pcb_shutdown(client, p.now, TS_SHUT_WR), 0);
    cr_assert_eq(ts_pcb_shutdown(server, p.now, TS_SHUT_WR), 0);
    pair_run(&p, TS_MSEC(5));
    cr_assert_eq(pair_tcp_state(client), TS_TCP_TIME_WAIT);
    cr_assert_eq(pair_tcp_state(server), TS_TCP_TIME_WAIT);
    ts_pcb_close_at(client, p.now);
    ts_pcb_close_at(server, p.now);
    ts_pcb_close_at(l, p.now);
    pair_run(&p, TS_SEC(61));
}

Test(tcp_pair, zero_window_is_probed_and_the_transfer_resumes_when_the_reader_reads)
{
    struct ts_stack_config cb;
    pair_default_config(&cb, PAIR_ADDR_B, 2, 2);
    cb.limits.tcp_rcvbuf_default = 8192;
    pair_init(&p, NULL, NULL, &cb);
    struct ts_pcb *l = pair_tcp_listen(p.b.st, 80, 8);
    struct ts_pcb *server;
    struct ts_pcb *client = pair_tcp_connect(&p, l, 80, &server);
    size_t total = 64 * 1024;
    uint8_t *data = pattern(total, 3), *out = malloc(total);
    size_t sent = 0;
    for (int i = 0; i < 100 && sent < total; i++) {
        ssize_t n = ts_pcb_send(client, p.now, data + sent, total - sent);
        if (n > 0)
            sent += (size_t)n;
        pair_run(&p, TS_MSEC(10));
    }
    pair_run(&p, TS_SEC(5));
    struct ts_tcp_info info;
    ts_pcb_tcp_info(client, &info);
    cr_assert_eq(info.snd_wnd, 0, "the reader's window closed");
    uint64_t probes = 0;
    ts_stack_counter(p.a.st, "tcp.zero_window_probes", &probes);
    cr_assert_gt(probes, 0, "RFC 9293 3.8.6.1: the sender probes the zero window");
    size_t got = 0;
    ts_time end = p.now + TS_SEC(60);
    while (got < total && p.now < end) {
        ssize_t n = ts_pcb_recv(server, p.now, out + got, total - got, false);
        if (n > 0)
            got += (size_t)n;
        if (sent < total) {
            n = ts_pcb_send(client, p.now, data + sent, total - sent);
            if (n > 0)
                sent += (size_t)n;
        }
        pair_run(&p, TS_MSEC(1));
    }
    cr_assert_eq(got, total);
    cr_assert_arr_eq(out, data, total);
    free(data);
    free(out);
    ts_pcb_abort(client, p.now);
    ts_pcb_abort(server, p.now);
    ts_pcb_close_at(l, p.now);
}

Test(tcp_pair, lossy_reordering_duplicating_link_delivers_every_byte_in_order)
{
    pair_init(&p, "loss=5%,reorder=10%,dup=2%,delay=1ms", NULL, NULL);
    struct ts_pcb *l = pair_tcp_listen(p.b.st, 80, 8);
    struct ts_pcb *server;
    struct ts_pcb *client = pair_tcp_connect(&p, l, 80, &server);
    size_t total = 4 << 20;
    uint8_t *data = pattern(total, 2), *out = malloc(total);
    cr_assert_eq(transfer(client, server, data, total, out, TS_SEC(600)), total);
    cr_assert_arr_eq(out, data, total);
    uint64_t rexmit = 0, too_big = 0;
    ts_stack_counter(p.a.st, "tcp.retransmits", &rexmit);
    cr_assert_gt(rexmit, 0);
    /* Segments carrying SACK blocks shrink their data to fit: none is ever too big for the MTU. */
    ts_stack_counter(p.b.st, "ip.drop_tx_too_big", &too_big);
    cr_assert_eq(too_big, 0);
    ts_stack_counter(p.a.st, "ip.drop_tx_too_big", &too_big);
    cr_assert_eq(too_big, 0);
    free(data);
    free(out);
    ts_pcb_abort(client, p.now);
    ts_pcb_abort(server, p.now);
    ts_pcb_close_at(l, p.now);
}

/* The byte at offset i of a long stream: cheap to compute at both ends, never periodic within 100 MB. */
static uint8_t stream_byte(uint64_t i)
{
    uint64_t x = (i / 8 + 1) * 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 32;
    return (uint8_t)(x >> (8 * (i % 8)));
}

Test(tcp_pair, a_hundred_megabytes_cross_five_percent_loss_with_reordering_and_duplication_intact, .timeout = 600)
{
    pair_init(&p, "loss=5%,reorder=5%,dup=5%,delay=500us", NULL, NULL);
    struct ts_pcb *l = pair_tcp_listen(p.b.st, 80, 8);
    struct ts_pcb *server;
    struct ts_pcb *client = pair_tcp_connect(&p, l, 80, &server);
    const uint64_t total = 100ull << 20;
    static uint8_t chunk[65536], got[65536];
    uint64_t sent = 0, received = 0;
    ts_time limit = p.now + TS_SEC(3600);
    uint64_t chunk_start = 0;
    size_t chunk_len = 0;
    while (received < total && p.now < limit) {
        while (sent < total) {
            if (sent >= chunk_start + chunk_len) { /* the next 64 KiB of the stream, computed once */
                chunk_start = sent;
                chunk_len = (size_t)(total - sent < sizeof chunk ? total - sent : sizeof chunk);
                for (size_t k = 0; k < chunk_len; k++)
                    chunk[k] = stream_byte(chunk_start + k);
            }
            size_t off = (size_t)(sent - chunk_start);
            ssize_t r = ts_pcb_send(client, p.now, chunk + off, chunk_len - off);
            cr_assert(r > 0 || r == -EAGAIN, "send: %zd", r);
            if (r <= 0)
                break;
            sent += (uint64_t)r;
        }
        pair_run(&p, p.step);
        for (;;) {
            ssize_t r = ts_pcb_recv(server, p.now, got, sizeof got, false);
            if (r <= 0)
                break;
            for (ssize_t k = 0; k < r; k++)
                if (got[k] != stream_byte(received + (uint64_t)k))
                    cr_assert_fail("byte %llu differs", (unsigned long long)(received + (uint64_t)k));
            received += (uint64_t)r;
        }
    }
    cr_assert_eq(received, total, "only %llu of %llu bytes arrived", (unsigned long long)received,
                 (unsigned long long)total);
    struct ts_impair_stats impaired;
    ts_impair_get_stats(p.a.dev, &impaired);
    uint64_t rto = 0, fast = 0, rexmit = 0;
    ts_stack_counter(p.a.st, "tcp.rto_expired", &rto);
    ts_stack_counter(p.a.st, "tcp.fast_retransmits", &fast);
    ts_stack_counter(p.a.st, "tcp.retransmits", &rexmit);
    cr_log_info("virtual time %.1f s, rto %llu fast %llu rexmit %llu", (double)(p.now - TS_SEC(1000)) / 1e6,
                (unsigned long long)rto, (unsigned long long)fast, (unsigned long long)rexmit);
    cr_assert_gt(impaired.dropped, 1000);
    cr_assert_gt(impaired.duplicated, 1000);
    cr_assert_gt(impaired.reordered, 1000);
    ts_pcb_abort(client, p.now);
    ts_pcb_abort(server, p.now);
    ts_pcb_close_at(l, p.now);
}

/* ---- the trace explains the connection ---------------------------------------------------- */

static char trace_log[1 << 20];
static size_t trace_used;

static void collect_trace(void *ctx, const struct ts_trace_event *ev)
{
    (void)ctx;
    int n = snprintf(trace_log + trace_used, sizeof trace_log - trace_used, "%s\n", ev->text);
    if (n > 0 && trace_used + (size_t)n < sizeof trace_log)
        trace_used += (size_t)n;
}

Test(tcp_pair, trace_names_state_changes_retransmissions_rto_cwnd_and_window_updates)
{
    struct ts_stack_config ca, cb;
    pair_default_config(&ca, PAIR_ADDR_A, 1, 1);
    pair_default_config(&cb, PAIR_ADDR_B, 2, 2);
    ca.trace = collect_trace;
    ca.trace_mask = TS_TRACE_TCP;
    cb.limits.tcp_rcvbuf_default = 16384;
    trace_used = 0;
    pair_init(&p, "loss=10%", &ca, &cb);
    struct ts_pcb *l = pair_tcp_listen(p.b.st, 80, 8);
    struct ts_pcb *server;
    struct ts_pcb *client = pair_tcp_connect(&p, l, 80, &server);
    size_t total = 256 * 1024;
    uint8_t *data = pattern(total, 5), *out = malloc(total);
    cr_assert_eq(transfer(client, server, data, total, out, TS_SEC(120)), total);
    cr_assert_arr_eq(out, data, total);
    cr_assert_not_null(strstr(trace_log, "SYN-SENT -> ESTABLISHED (RFC 9293 3.10.7.3"), "state transitions are traced");
    cr_assert_not_null(strstr(trace_log, "retransmit seq"), "retransmissions are traced");
    cr_assert_not_null(strstr(trace_log, "RFC 6298 2.3: RTT"), "RTO changes are traced");
    cr_assert_not_null(strstr(trace_log, "cc 10.0.0.1:"), "cwnd changes are traced");
    cr_assert_not_null(strstr(trace_log, "send window"), "window updates are traced");
    cr_assert_not_null(strstr(trace_log, "Flags [S], seq "), "SYNs carry absolute sequence numbers");
    cr_assert_not_null(strstr(trace_log, "Flags [.], seq 1, ack 1, "), "later segments are relative to the ISN");
    free(data);
    free(out);
    ts_pcb_abort(client, p.now);
    ts_pcb_abort(server, p.now);
    ts_pcb_close_at(l, p.now);
}
