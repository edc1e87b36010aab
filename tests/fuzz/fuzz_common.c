#include "fuzz_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t stack_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
static const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 0x01};

static int count_frame(void *ctx, ts_time now, const uint8_t *frame, size_t len)
{
    struct fuzz_world *w = ctx;
    (void)now;
    /* Everything the stack emits must at least be a whole Ethernet header. */
    if (len < 14 || frame == NULL)
        abort();
    w->frames_out++;
    w->last_len = len < sizeof w->last_frame ? len : sizeof w->last_frame;
    memcpy(w->last_frame, frame, w->last_len);
    return 0;
}

static struct ts_pcb *open_bound(struct ts_stack *st, enum ts_pcb_type type, uint16_t port)
{
    int err;
    struct ts_pcb *pcb = ts_pcb_open(st, type, &err);
    if (pcb == NULL)
        abort();
    struct ts_sockaddr local = {0, port};
    if (ts_pcb_bind(pcb, &local) != 0)
        abort();
    return pcb;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/*
 * Completes a handshake for the client pcb by answering its SYN (the last frame sent) with a SYN,ACK
 * carrying every option. Checksums are not checked in fuzz builds, so none is computed.
 */
static void fuzz_answer_syn(struct fuzz_world *w)
{
    if (w->last_len < 14 + 20 + 20)
        abort();
    const uint8_t *tcp = w->last_frame + 14 + 20;
    uint32_t iss = get32(tcp + 4);
    uint8_t f[14 + 20 + 40] = {0};
    memcpy(f, stack_mac, 6);
    memcpy(f + 6, peer_mac, 6);
    put16(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    put16(ip + 2, 20 + 40);
    ip[8] = 64;
    ip[9] = 6;
    put32(ip + 12, FUZZ_PEER_IP);
    put32(ip + 16, FUZZ_STACK_IP);
    uint8_t *t = ip + 20;
    put16(t, 9000);
    memcpy(t + 2, tcp, 2); /* our ephemeral port */
    put32(t + 4, 0x10000000);
    put32(t + 8, iss + 1);
    t[12] = (40 / 4) << 4;
    t[13] = 0x12; /* SYN,ACK */
    put16(t + 14, 65535);
    const uint8_t opts[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7};
    memcpy(t + 20, opts, sizeof opts);
    ts_stack_input(w->st, w->now, f, sizeof f);
}

/* Every layer traced, each line read: the trace's formatting of hostile input runs under the fuzzer too. */
static void read_trace_line(void *ctx, const struct ts_trace_event *ev)
{
    size_t *total = ctx;
    *total += strlen(ev->text);
}

void fuzz_world_init(struct fuzz_world *w)
{
    memset(w, 0, sizeof *w);
    struct ts_stack_config cfg;
    ts_stack_config_init(&cfg);
    memcpy(cfg.mac, stack_mac, 6);
    cfg.addr = FUZZ_STACK_IP;
    cfg.prefix_len = 24;
    cfg.gateway = FUZZ_PEER_IP;
    cfg.seed = 1;
    cfg.trace = read_trace_line;
    cfg.trace_ctx = &w->trace_bytes;
    cfg.trace_mask = TS_TRACE_ALL;
    /* Small limits so the fuzzer reaches them. */
    cfg.limits.reasm_max_datagrams = 4;
    cfg.limits.reasm_max_fragments = 8;
    cfg.limits.reasm_max_bytes = 16 * 1024;
    cfg.limits.arp_cache_entries = 4;
    cfg.limits.arp_queue_per_entry = 4;
    cfg.limits.arp_queue_total = 8;
    struct ts_link link = {.ctx = w, .transmit = count_frame, .mtu = 1500};
    w->st = ts_stack_new(&cfg, &link);
    if (w->st == NULL)
        abort();
    w->now = TS_SEC(100);
    ts_stack_arp_add_static(w->st, FUZZ_PEER_IP, peer_mac);
    ts_stack_poll(w->st, w->now);

    w->echo = open_bound(w->st, TS_PCB_UDP, 7);
    w->connected = open_bound(w->st, TS_PCB_UDP, 4000);
    struct ts_sockaddr peer = {FUZZ_PEER_IP, 9};
    ts_pcb_connect(w->connected, w->now, &peer);
    ts_pcb_sendto(w->connected, w->now, "hello", 5, NULL);
    w->ping = open_bound(w->st, TS_PCB_ICMP_ECHO, 0);
    uint8_t echo[8 + 8] = {8, 0, 0, 0, 0, 0, 0, 1};
    struct ts_sockaddr unresolved = {TS_IPV4(10, 0, 0, 77), 0};
    ts_pcb_sendto(w->ping, w->now, echo, sizeof echo, &unresolved); /* waits for ARP */

    w->listener = open_bound(w->st, TS_PCB_TCP, 80);
    if (ts_pcb_listen(w->listener, 4) != 0)
        abort();
    int err;
    w->client = ts_pcb_open(w->st, TS_PCB_TCP, &err);
    struct ts_sockaddr server = {FUZZ_PEER_IP, 9000};
    if (w->client == NULL || ts_pcb_connect(w->client, w->now, &server) != -EINPROGRESS)
        abort();
    fuzz_answer_syn(w);
    static uint8_t data[4000];
    ts_pcb_send(w->client, w->now, data, sizeof data); /* in flight, unacknowledged */
}

static void drain(struct fuzz_world *w, struct ts_pcb *pcb, bool echo_back)
{
    static uint8_t buf[65536];
    struct ts_sockaddr from;
    for (int i = 0; i < 64; i++) {
        ssize_t n = ts_pcb_recvfrom(pcb, buf, sizeof buf, &from, false, NULL);
        if (n < 0)
            return;
        if (echo_back && from.addr != 0 && from.port != 0)
            ts_pcb_sendto(pcb, w->now, buf, (size_t)n, &from);
    }
}

/* Reads what a stream holds and echoes it back, as ts-echo would. */
static void drain_stream(struct fuzz_world *w, struct ts_pcb *pcb)
{
    static uint8_t buf[8192];
    for (int i = 0; i < 16; i++) {
        ssize_t n = ts_pcb_recv(pcb, w->now, buf, sizeof buf, false);
        if (n <= 0)
            return;
        ts_pcb_send(pcb, w->now, buf, (size_t)n);
    }
}

void fuzz_world_input(struct fuzz_world *w, const uint8_t *frame, size_t len)
{
    ts_stack_input(w->st, w->now, frame, len);
    drain(w, w->echo, true);
    drain(w, w->connected, false);
    drain(w, w->ping, false);
    drain_stream(w, w->client);
    for (size_t i = 0; i < sizeof w->accepted / sizeof w->accepted[0]; i++) {
        if (w->accepted[i] == NULL) {
            int err;
            w->accepted[i] = ts_pcb_accept(w->listener, &err);
        }
        if (w->accepted[i] != NULL)
            drain_stream(w, w->accepted[i]);
    }
}

void fuzz_world_advance(struct fuzz_world *w, ts_time step)
{
    w->now += step;
    if (ts_stack_next_deadline(w->st) <= w->now)
        ts_stack_poll(w->st, w->now);
}

void fuzz_world_finish(struct fuzz_world *w)
{
    /* Close every stream as an application would, then let the timers finish the connections. */
    for (size_t i = 0; i < sizeof w->accepted / sizeof w->accepted[0]; i++)
        if (w->accepted[i] != NULL)
            ts_pcb_close_at(w->accepted[i], w->now);
    ts_pcb_close_at(w->client, w->now);
    ts_pcb_close_at(w->listener, w->now);
    /* Every timer must come due within a bounded time: nothing re-arms forever without input. */
    for (int i = 0; i < 1000; i++) {
        ts_time next = ts_stack_next_deadline(w->st);
        if (next == TS_TIME_NEVER)
            break;
        w->now = next > w->now ? next : w->now;
        ts_stack_poll(w->st, w->now);
    }
    size_t leaked = ts_stack_free(w->st);
    if (leaked != 0) {
        fprintf(stderr, "fuzz: %zu packet buffer(s) leaked\n", leaked);
        abort();
    }
}
