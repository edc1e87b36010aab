/* The read-only TCB view (stack/tcp_view.c): what ts-replay --tcb shows. Two stacks, virtual time. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "pair_fixture.h"

static struct pair p;

static void teardown(void) { pair_fini(&p); }

TestSuite(tcp_view, .fini = teardown);

static const struct ts_tcp_view *find_port(const struct ts_tcp_view *v, size_t n, uint16_t lport, bool listener)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].local.port == lport && v[i].listener == listener)
            return &v[i];
    return NULL;
}

Test(tcp_view, listener_shows_listen_state_and_no_connection_fields)
{
    pair_init(&p, NULL, NULL, NULL);
    struct ts_pcb *l = pair_tcp_listen(p.b.st, 80, 8);
    struct ts_tcp_view v;
    cr_assert_eq(ts_tcp_view_of(l, &v), 0);
    cr_assert(v.listener);
    cr_assert_eq(v.state, TS_TCP_LISTEN);
    cr_assert_str_eq(v.state_name, "LISTEN");
    cr_assert_eq(v.local.port, 80);
    for (unsigned i = 0; i < TS_TCP_TIMER_COUNT; i++)
        cr_assert_eq(v.timer_at[i], TS_TIME_NEVER, "timer %s armed on a listener", ts_tcp_timer_name(i));
}

Test(tcp_view, established_connection_shows_rfc9293_variables)
{
    pair_init(&p, NULL, NULL, NULL);
    struct ts_pcb *l = pair_tcp_listen(p.b.st, 80, 8);
    struct ts_pcb *server;
    struct ts_pcb *client = pair_tcp_connect(&p, l, 80, &server);
    struct ts_tcp_view c, s;
    cr_assert_eq(ts_tcp_view_of(client, &c), 0);
    cr_assert_eq(ts_tcp_view_of(server, &s), 0);
    cr_assert_eq(c.state, TS_TCP_ESTABLISHED);
    cr_assert_str_eq(c.state_name, "ESTABLISHED");
    /* RFC 9293 3.3.1: after the handshake each side's SND.UNA = SND.NXT = ISS + 1 = the other's RCV.NXT */
    cr_assert_eq(c.snd_una, c.iss + 1);
    cr_assert_eq(c.snd_nxt, c.iss + 1);
    cr_assert_eq(s.rcv_nxt, c.iss + 1);
    cr_assert_eq(s.irs, c.iss);
    cr_assert_eq(c.irs, s.iss);
    cr_assert_gt(c.snd_wnd, 0);
    cr_assert_gt(c.rcv_wnd, 0);
    cr_assert_gt(c.cwnd, 0);
    cr_assert_gt(c.rto, 0);
    cr_assert(c.have_rtt, "the SYN,ACK was timed (RFC 6298)");
    cr_assert(c.timestamps && c.sack && c.wscale);
    cr_assert_eq(c.timer_at[TS_TCP_TIMER_RTO], TS_TIME_NEVER, "nothing outstanding: no retransmission timer");
    cr_assert_eq(c.remote.port, 80);
}

Test(tcp_view, unacknowledged_data_arms_the_retransmission_timer_and_fills_the_send_buffer)
{
    pair_init(&p, NULL, NULL, NULL);
    struct ts_pcb *l = pair_tcp_listen(p.b.st, 80, 8);
    struct ts_pcb *server;
    struct ts_pcb *client = pair_tcp_connect(&p, l, 80, &server);
    cr_assert_eq(ts_pcb_send(client, p.now, "hello", 5), 5);
    struct ts_tcp_view v;
    cr_assert_eq(ts_tcp_view_of(client, &v), 0);
    cr_assert_eq(v.snd_nxt - v.snd_una, 5, "the segment is out, not acknowledged yet");
    cr_assert_eq(v.snd_buffered, 5);
    cr_assert_neq(v.timer_at[TS_TCP_TIMER_RTO], TS_TIME_NEVER);
    cr_assert_gt(v.timer_at[TS_TCP_TIMER_RTO], p.now);
}

Test(tcp_view, stack_enumeration_includes_listener_and_the_connections_it_made)
{
    pair_init(&p, NULL, NULL, NULL);
    struct ts_pcb *l = pair_tcp_listen(p.b.st, 80, 8);
    struct ts_pcb *server;
    pair_tcp_connect(&p, l, 80, &server);
    cr_assert_eq(ts_stack_tcp_views(p.b.st, NULL, 0), 2, "the listener and the accepted connection");
    struct ts_tcp_view v[4];
    size_t n = ts_stack_tcp_views(p.b.st, v, 4);
    cr_assert_eq(n, 2);
    cr_assert_not_null(find_port(v, n, 80, true));
    const struct ts_tcp_view *conn = find_port(v, n, 80, false);
    cr_assert_not_null(conn);
    cr_assert_eq(conn->state, TS_TCP_ESTABLISHED);
    cr_assert_eq(conn->remote.addr, PAIR_ADDR_A);
    /* max smaller than the count: only max written, the count still returned */
    cr_assert_eq(ts_stack_tcp_views(p.b.st, v, 1), 2);
}

Test(tcp_view, non_tcp_and_unconnected_pcbs_are_refused)
{
    pair_init(&p, NULL, NULL, NULL);
    int err = 0;
    struct ts_pcb *u = ts_pcb_open(p.a.st, TS_PCB_UDP, &err);
    struct ts_pcb *t = ts_pcb_open(p.a.st, TS_PCB_TCP, &err);
    cr_assert(u && t);
    struct ts_tcp_view v;
    cr_assert_eq(ts_tcp_view_of(u, &v), -EINVAL);
    cr_assert_eq(ts_tcp_view_of(t, &v), -ENOTCONN);
    cr_assert_eq(ts_tcp_view_of(NULL, &v), -EINVAL);
    cr_assert_eq(ts_stack_tcp_views(p.a.st, NULL, 0), 0);
    ts_pcb_close(u);
    ts_pcb_close(t);
}

Test(tcp_view, timer_names_are_stable)
{
    cr_assert_str_eq(ts_tcp_timer_name(TS_TCP_TIMER_RTO), "rto");
    cr_assert_str_eq(ts_tcp_timer_name(TS_TCP_TIMER_DELACK), "delack");
    cr_assert_str_eq(ts_tcp_timer_name(TS_TCP_TIMER_TIMEWAIT), "time-wait");
}
