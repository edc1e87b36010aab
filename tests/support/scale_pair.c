#include "scale_pair.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Half-open connections per listener: the batch size stays below it so no SYN cookie is needed. */
#define SCALE_SYN_QUEUE 1024u
#define SCALE_BATCH 512u
/* Pump rounds before giving up: a conversation between two stacks at one instant is short. */
#define SCALE_PUMP_ROUNDS 64

static const uint8_t mac_a[6] = {2, 0, 0, 0, 0, 1};
static const uint8_t mac_b[6] = {2, 0, 0, 0, 0, 2};

static int queue_push(struct scale_queue *q, const uint8_t *frame, size_t len)
{
    size_t need = q->len + sizeof(uint32_t) + len;
    if (need > q->cap) {
        size_t cap = q->cap ? q->cap : 65536;
        while (cap < need)
            cap *= 2;
        uint8_t *grown = realloc(q->buf, cap);
        if (grown == NULL)
            return -ENOBUFS;
        q->buf = grown;
        q->cap = cap;
    }
    uint32_t n = (uint32_t)len;
    memcpy(q->buf + q->len, &n, sizeof n);
    memcpy(q->buf + q->len + sizeof n, frame, len);
    q->len = need;
    q->frames++;
    return 0;
}

static int side_transmit(void *ctx, ts_time now, const uint8_t *frame, size_t len)
{
    (void)now;
    struct scale_side *s = ctx;
    return queue_push(s->out, frame, len);
}

static struct ts_stack *side_stack(struct scale_side *s, ts_ipv4_addr addr, const uint8_t mac[6], uint64_t seed,
                                   size_t max_connections)
{
    struct ts_stack_config cfg;
    ts_stack_config_init(&cfg);
    memcpy(cfg.mac, mac, 6);
    cfg.addr = addr;
    cfg.prefix_len = 24;
    cfg.seed = seed;
    cfg.gratuitous_arp = false;
    cfg.limits.max_sockets = (unsigned)max_connections + SCALE_MAX_LISTENERS + 16;
    cfg.limits.tcp_syn_queue = SCALE_SYN_QUEUE;
    struct ts_link link = {.ctx = s, .transmit = side_transmit, .mtu = 1500};
    return ts_stack_new(&cfg, &link);
}

int scale_pair_init(struct scale_pair *p, size_t max_connections, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    p->now = TS_SEC(1000);
    p->a.out = &p->ab;
    p->b.out = &p->ba;
    p->a.st = side_stack(&p->a, SCALE_ADDR_A, mac_a, seed, max_connections);
    p->b.st = side_stack(&p->b, SCALE_ADDR_B, mac_b, seed + 1, max_connections);
    p->clients = calloc(max_connections ? max_connections : 1, sizeof *p->clients);
    p->servers = calloc(max_connections ? max_connections : 1, sizeof *p->servers);
    if (p->a.st == NULL || p->b.st == NULL || p->clients == NULL || p->servers == NULL)
        return -1;
    /* Static neighbours: the measurement is about TCP, not about ARP refreshes. */
    ts_stack_arp_add_static(p->a.st, SCALE_ADDR_B, mac_b);
    ts_stack_arp_add_static(p->b.st, SCALE_ADDR_A, mac_a);
    return 0;
}

/* Delivers every frame queued for `to` (frames `to` sends meanwhile go to the other queue). */
static size_t deliver(struct scale_pair *p, struct scale_queue *q, struct ts_stack *to)
{
    size_t delivered = 0;
    for (size_t at = 0; at < q->len;) {
        uint32_t n;
        memcpy(&n, q->buf + at, sizeof n);
        ts_stack_input(to, p->now, q->buf + at + sizeof n, n);
        at += sizeof n + n;
        delivered++;
    }
    q->len = 0;
    q->frames = 0;
    p->frames_delivered += delivered;
    return delivered;
}

size_t scale_pair_pump(struct scale_pair *p)
{
    size_t total = 0;
    for (int round = 0; round < SCALE_PUMP_ROUNDS && (p->ab.len > 0 || p->ba.len > 0); round++) {
        total += deliver(p, &p->ab, p->b.st);
        total += deliver(p, &p->ba, p->a.st);
    }
    return total;
}

void scale_pair_advance(struct scale_pair *p, ts_time dt)
{
    p->now += dt;
    if (ts_stack_next_deadline(p->a.st) <= p->now)
        ts_stack_poll(p->a.st, p->now);
    if (ts_stack_next_deadline(p->b.st) <= p->now)
        ts_stack_poll(p->b.st, p->now);
    scale_pair_pump(p);
}

static struct ts_pcb *listener_for(struct scale_pair *p, unsigned k)
{
    while (p->listener_count <= k && p->listener_count < SCALE_MAX_LISTENERS) {
        int err;
        struct ts_pcb *l = ts_pcb_open(p->b.st, TS_PCB_TCP, &err);
        if (l == NULL)
            return NULL;
        struct ts_sockaddr local = {0, (uint16_t)(SCALE_PORT_BASE + p->listener_count)};
        if (ts_pcb_bind(l, &local) != 0 || ts_pcb_listen(l, (int)SCALE_SYN_QUEUE) != 0) {
            ts_pcb_close(l);
            return NULL;
        }
        p->listeners[p->listener_count++] = l;
    }
    return k < p->listener_count ? p->listeners[k] : NULL;
}

static bool connect_one(struct scale_pair *p, size_t i)
{
    unsigned k = (unsigned)(i / SCALE_LPORTS);
    if (listener_for(p, k) == NULL)
        return false;
    int err;
    struct ts_pcb *c = ts_pcb_open(p->a.st, TS_PCB_TCP, &err);
    if (c == NULL)
        return false;
    struct ts_sockaddr local = {0, (uint16_t)(SCALE_LPORT_BASE + i % SCALE_LPORTS)};
    struct ts_sockaddr remote = {SCALE_ADDR_B, (uint16_t)(SCALE_PORT_BASE + k)};
    ts_pcb_setopt(c, TS_OPT_REUSEADDR, 1);
    if (ts_pcb_bind(c, &local) != 0 || ts_pcb_connect(c, p->now, &remote) != -EINPROGRESS) {
        ts_pcb_close(c);
        return false;
    }
    p->clients[i] = c;
    return true;
}

/* Accepts what the listeners hold, pairing each server pcb with its client by the client's port. */
static void accept_all(struct scale_pair *p)
{
    for (unsigned k = 0; k < p->listener_count; k++) {
        int err;
        struct ts_pcb *s;
        while ((s = ts_pcb_accept(p->listeners[k], &err)) != NULL) {
            struct ts_sockaddr peer;
            ts_pcb_remote(s, &peer);
            size_t i = (size_t)k * SCALE_LPORTS + (peer.port - SCALE_LPORT_BASE);
            p->servers[i] = s;
        }
    }
}

static bool established(const struct ts_pcb *pcb)
{
    struct ts_tcp_info info;
    return pcb != NULL && ts_pcb_tcp_info(pcb, &info) == 0 && info.state == TS_TCP_ESTABLISHED;
}

size_t scale_pair_open(struct scale_pair *p, size_t n)
{
    size_t first = p->count, end = p->count + n;
    for (size_t batch = first; batch < end; batch += SCALE_BATCH) {
        size_t stop = batch + SCALE_BATCH < end ? batch + SCALE_BATCH : end;
        for (size_t i = batch; i < stop; i++)
            if (!connect_one(p, i))
                return p->count - first;
        scale_pair_pump(p);
        accept_all(p);
        for (size_t i = batch; i < stop; i++) {
            if (!established(p->clients[i]) || !established(p->servers[i]))
                return p->count - first;
            p->count = i + 1;
        }
    }
    return p->count - first;
}

bool scale_pair_echo(struct scale_pair *p, size_t i, const uint8_t *data, size_t len)
{
    uint8_t back[2048];
    if (len > sizeof back || ts_pcb_send(p->clients[i], p->now, data, len) != (ssize_t)len)
        return false;
    scale_pair_pump(p);
    ssize_t got = ts_pcb_recv(p->servers[i], p->now, back, sizeof back, false);
    if (got != (ssize_t)len || ts_pcb_send(p->servers[i], p->now, back, len) != (ssize_t)len)
        return false;
    scale_pair_pump(p);
    got = ts_pcb_recv(p->clients[i], p->now, back, sizeof back, false);
    return got == (ssize_t)len && memcmp(back, data, len) == 0;
}

bool scale_pair_close_all(struct scale_pair *p)
{
    for (size_t i = 0; i < p->count; i++) {
        ts_pcb_close_at(p->clients[i], p->now);
        if ((i + 1) % SCALE_BATCH == 0)
            scale_pair_pump(p);
    }
    scale_pair_pump(p);
    for (size_t i = 0; i < p->count; i++) {
        ts_pcb_close_at(p->servers[i], p->now);
        if ((i + 1) % SCALE_BATCH == 0)
            scale_pair_pump(p);
    }
    scale_pair_pump(p);
    for (unsigned k = 0; k < p->listener_count; k++)
        ts_pcb_close_at(p->listeners[k], p->now);
    p->listener_count = 0;
    p->count = 0;
    /* TIME-WAIT (2 MSL) and any delayed ACK run out. */
    const struct ts_stack_config *cfg = ts_stack_config_of(p->a.st);
    for (int i = 0; i < 4; i++)
        scale_pair_advance(p, cfg->timing.tcp_msl + TS_SEC(1));
    return ts_stack_next_deadline(p->a.st) == TS_TIME_NEVER && ts_stack_next_deadline(p->b.st) == TS_TIME_NEVER;
}

size_t scale_pair_fini(struct scale_pair *p)
{
    size_t leaked = ts_stack_free(p->a.st) + ts_stack_free(p->b.st);
    free(p->ab.buf);
    free(p->ba.buf);
    free(p->clients);
    free(p->servers);
    memset(p, 0, sizeof *p);
    return leaked;
}
