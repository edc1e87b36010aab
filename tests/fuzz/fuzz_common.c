#include "fuzz_common.h"

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

void fuzz_world_input(struct fuzz_world *w, const uint8_t *frame, size_t len)
{
    ts_stack_input(w->st, w->now, frame, len);
    drain(w, w->echo, true);
    drain(w, w->connected, false);
    drain(w, w->ping, false);
}

void fuzz_world_advance(struct fuzz_world *w, ts_time step)
{
    w->now += step;
    if (ts_stack_next_deadline(w->st) <= w->now)
        ts_stack_poll(w->st, w->now);
}

void fuzz_world_finish(struct fuzz_world *w)
{
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
