/*
 * The applications a case plays, as the sample apps make their socket calls:
 * udp-echo (ts-echo --udp), the ping socket (ts-ping), udp-send sockets, and
 * through tcp_apps.c every TCP action and tcp-echo (ts-echo's TCP side).
 *
 *   apps_start -> udp-echo pcbs, tcp_apps_start
 *   apps_run_action -> do_ping | do_udp_send | tcp_apps_action
 *   apps_have_work / apps_serve -> drain_pcb (echo back) | tcp_apps_serve
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness_run.h"

#define MAX_DRAIN_PER_PCB 10000
#define MAX_SERVE_PASSES 64 /* rounds of the apps' loops in one go: each moves something, or the serving stops */

bool apps_start(struct run *r)
{
    for (unsigned i = 0; i < r->c->n_echo; i++) {
        struct ts_pcb *pcb = run_open_pcb(r, TS_PCB_UDP, 0);
        if (!pcb)
            continue;
        struct ts_sockaddr local = {.addr = 0, .port = r->c->echo_ports[i]};
        int rc = ts_pcb_bind(pcb, &local);
        if (rc < 0)
            run_problem(r, "app udp-echo %u: bind failed: %s", local.port, replay_errno_name(-rc));
        r->echo[i] = pcb;
        run_trace(r, "app udp-echo listening on port %u", local.port);
    }
    return tcp_apps_start(r);
}

/* Reads everything queued on pcb; for an echo app, sends each datagram straight back. */
static bool drain_pcb(struct run *r, struct ts_pcb *pcb, const char *who, bool echo)
{
    uint8_t *buf = r->scratch;
    char ip[20];
    for (unsigned i = 0; i < MAX_DRAIN_PER_PCB; i++) {
        struct ts_sockaddr from = {0};
        bool truncated = false;
        ssize_t n = ts_pcb_recvfrom(pcb, buf, SCRATCH_LEN, &from, false, &truncated);
        if (n == -EAGAIN)
            return i > 0;
        if (n < 0) {
            run_trace(r, "%s: recvfrom reports %s", who, replay_errno_name((int)-n));
            continue;
        }
        run_trace(r, "%s: received %zd bytes from %s:%u", who, n, run_ipstr(from.addr, ip, sizeof(ip)), from.port);
        if (!echo)
            continue;
        ssize_t s = ts_pcb_sendto(pcb, run_stack_now(r), buf, (size_t)n, &from);
        if (s < 0)
            run_trace(r, "%s: echo sendto failed: %s", who, replay_errno_name((int)-s));
    }
    run_trace(r, "%s: still readable after %d datagrams; leaving the rest", who, MAX_DRAIN_PER_PCB);
    return true;
}

static bool readable(const struct ts_pcb *pcb)
{
    return pcb && (ts_pcb_events(pcb) & (TS_EV_READABLE | TS_EV_ERROR));
}

unsigned apps_work(struct run *r, uint16_t *lport, uint16_t *rport)
{
    unsigned w = 0;
    for (unsigned i = 0; i < r->c->n_echo; i++)
        if (readable(r->echo[i]))
            w |= WORK_REPLY;
    if (readable(r->ping))
        w |= WORK_SILENT;
    for (unsigned i = 0; i < r->n_udp; i++)
        if (readable(r->udp[i].pcb))
            w |= WORK_SILENT;
    return w | tcp_apps_work(r, lport, rport);
}

bool apps_have_work(struct run *r)
{
    uint16_t lport, rport;
    return apps_work(r, &lport, &rport) != 0;
}

static bool serve_once(struct run *r)
{
    bool moved = false;
    for (unsigned i = 0; i < r->c->n_echo; i++)
        if (r->echo[i])
            moved |= drain_pcb(r, r->echo[i], "udp-echo", true);
    if (r->ping)
        moved |= drain_pcb(r, r->ping, "ping", false);
    for (unsigned i = 0; i < r->n_udp; i++)
        moved |= drain_pcb(r, r->udp[i].pcb, "udp-send socket", false);
    moved |= tcp_apps_serve(r);
    return moved;
}

bool apps_serve(struct run *r)
{
    unsigned passes = r->align ? 1 : MAX_SERVE_PASSES;
    bool moved = false;
    for (unsigned pass = 0; pass < passes; pass++) {
        bool m = serve_once(r);
        moved |= m;
        if (!m || !apps_have_work(r))
            break;
    }
    return moved;
}

/*
 * ts-ping: one ping socket for the whole run, opened at the first ping; each
 * ping writes an echo request header (identifier and checksum left for the
 * stack to fill) followed by the data.
 */
static void do_ping(struct run *r, const struct replay_action *a)
{
    char ip[20];
    if (!r->ping && !(r->ping = run_open_pcb(r, TS_PCB_ICMP_ECHO, a->line)))
        return;
    size_t len = 8 + a->payload_len;
    uint8_t *msg = calloc(1, len);
    if (!msg) {
        run_problem(r, "line %u: out of memory", a->line);
        return;
    }
    msg[0] = 8; /* echo request */
    msg[6] = (uint8_t)(a->seq >> 8);
    msg[7] = (uint8_t)a->seq;
    memcpy(msg + 8, a->payload, a->payload_len);
    struct ts_sockaddr to = {.addr = a->dst, .port = 0};
    ssize_t rc = ts_pcb_sendto(r->ping, run_stack_now(r), msg, len, &to);
    run_trace(r, "line %u: ping %s seq %u size %zu -> %s", a->line, run_ipstr(a->dst, ip, sizeof(ip)), a->seq,
              a->payload_len, rc < 0 ? replay_errno_name((int)-rc) : "sent");
    free(msg);
}

static struct ts_pcb *udp_client(struct run *r, const struct replay_action *a)
{
    for (unsigned i = 0; i < r->n_udp; i++)
        if (r->udp[i].port == a->sport)
            return r->udp[i].pcb;
    if (r->n_udp == MAX_UDP_CLIENTS) {
        run_problem(r, "line %u: more than %d udp-send sockets", a->line, MAX_UDP_CLIENTS);
        return NULL;
    }
    struct ts_pcb *pcb = run_open_pcb(r, TS_PCB_UDP, a->line);
    if (!pcb)
        return NULL;
    if (a->sport) {
        struct ts_sockaddr local = {.addr = 0, .port = a->sport};
        int rc = ts_pcb_bind(pcb, &local);
        if (rc < 0)
            run_problem(r, "line %u: bind to port %u failed: %s", a->line, a->sport, replay_errno_name(-rc));
    }
    r->udp[r->n_udp++] = (struct udp_client){.port = a->sport, .pcb = pcb};
    return pcb;
}

static void do_udp_send(struct run *r, const struct replay_action *a)
{
    char ip[20];
    struct ts_pcb *pcb = udp_client(r, a);
    if (!pcb)
        return;
    struct ts_sockaddr to = {.addr = a->dst, .port = a->dport};
    ssize_t rc = ts_pcb_sendto(pcb, run_stack_now(r), a->payload, a->payload_len, &to);
    run_trace(r, "line %u: udp-send %s:%u %zu bytes -> %s", a->line, run_ipstr(a->dst, ip, sizeof(ip)), a->dport,
              a->payload_len, rc < 0 ? replay_errno_name((int)-rc) : "sent");
}

void apps_run_action(struct run *r, const struct replay_action *a)
{
    if (a->kind == REPLAY_ACT_PING)
        do_ping(r, a);
    else if (a->kind == REPLAY_ACT_UDP_SEND)
        do_udp_send(r, a);
    else
        tcp_apps_action(r, a);
}

void apps_check_end(struct run *r)
{
    tcp_apps_check_end(r);
}

void apps_close(struct run *r)
{
    for (unsigned i = 0; i < REPLAY_MAX_APPS; i++) {
        if (r->echo[i])
            ts_pcb_close_at(r->echo[i], run_stack_now(r));
        r->echo[i] = NULL;
    }
    if (r->ping)
        ts_pcb_close_at(r->ping, run_stack_now(r));
    r->ping = NULL;
    for (unsigned i = 0; i < r->n_udp; i++)
        ts_pcb_close_at(r->udp[i].pcb, run_stack_now(r));
    r->n_udp = 0;
    tcp_apps_close(r);
}

void apps_free(struct run *r)
{
    tcp_apps_free(r);
}
