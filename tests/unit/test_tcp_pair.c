/* TCP end to end: two stacks on the in-memory link, virtual time. Each test names the rule it checks. */
#include <criterion/criterion.h>
#include <errno.h>
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
    uint64_t rexmit = 0;
    ts_stack_counter(p.a.st, "tcp.retransmits", &rexmit);
    cr_assert_gt(rexmit, 0);
    free(data);
    free(out);
    ts_pcb_abort(client, p.now);
    ts_pcb_abort(server, p.now);
    ts_pcb_close_at(l, p.now);
}
