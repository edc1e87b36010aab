/*
 * lwip-bench-server: the benchmark server (bench/README.md) on Debian's
 * liblwip (2.1.3), with the same protocol and logic as ts-bench-server.
 *
 * lwIP's raw (callback) API in one thread: lwip_init(), frames from the TAP
 * reader in lwip_tap.c, sys_check_timeouts() for the timers. The tcpip thread
 * and the socket API are not used: the package's socket layer has a fixed
 * table of MEMP_NUM_NETCONN (4) sockets, while the raw API's pcbs come from
 * malloc (the package sets MEMP_MEM_MALLOC), so connections are bounded by
 * memory only. The core lock check is inactive without a tcpip thread.
 *
 * Usage: lwip-bench-server [--dev NAME] [--addr A.B.C.D/N]   (default tap0, 10.0.0.2/24)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_proto.h"
#include "lwip/init.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"
#include "lwip_tap.h"

#define IO_CHUNK 65536
#define UDP_BURST 64
#define FRAMES_PER_ROUND 256
#define MAX_IDLE_WAIT_MS 50
#define ECHO_PENDING_MAX (256 * 1024)

struct lconn {
    struct tcp_pcb *pcb;
    enum bench_cmd_type mode;
    struct bench_line line;
    uint8_t *pending; /* ECHO: bytes not yet accepted by tcp_write (their window is not reopened yet) */
    size_t pending_len;
    size_t park_index;
};

struct usource {
    bool active;
    struct lconn *ctl;
    struct udp_pcb *udp;
    ip_addr_t to;
    uint16_t port;
    uint32_t size;
    uint64_t deadline, sent;
};

static struct {
    struct lwip_tap tap;
    struct lconn **parked;
    size_t n_parked, cap_parked;
    int64_t n_conns;
    struct usource us;
    uint64_t udp_rx, udp_rx_bytes, accepted;
    bool aborted; /* a pcb was aborted inside the current callback: it must return ERR_ABRT */
    uint8_t io[IO_CHUNK];
} srv;

static const uint8_t zeros[IO_CHUNK];
static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void unpark(struct lconn *c)
{
    struct lconn *last = srv.parked[--srv.n_parked];
    srv.parked[c->park_index] = last;
    last->park_index = c->park_index;
}

static void free_conn(struct lconn *c)
{
    if (c->mode == BENCH_CMD_HOLD)
        unpark(c);
    free(c->pending);
    free(c);
    srv.n_conns--;
}

/* Detaches the callbacks and closes gracefully (queued data still goes out), else aborts. */
static void close_conn(struct lconn *c)
{
    struct tcp_pcb *pcb = c->pcb;
    tcp_arg(pcb, NULL);
    tcp_recv(pcb, NULL);
    tcp_sent(pcb, NULL);
    tcp_err(pcb, NULL);
    free_conn(c);
    if (tcp_close(pcb) != ERR_OK) {
        tcp_abort(pcb);
        srv.aborted = true;
    }
}

static void reply_and_close(struct lconn *c, const char *text, size_t len)
{
    tcp_write(c->pcb, text, (u16_t)len, TCP_WRITE_FLAG_COPY);
    tcp_output(c->pcb);
    close_conn(c);
}

#define STR_(x) #x
#define STR(x) STR_(x)

static void report_stats(struct lconn *c)
{
    struct bench_stats bs;
    bench_stats_init(&bs, "lwip");
    bs.heap = bench_heap_in_use();
    bs.conns = srv.n_conns - 1 - (int64_t)srv.n_parked;
    bs.parked = (int64_t)srv.n_parked;
    bs.udp_rx = (int64_t)srv.udp_rx;
    bs.udp_rx_bytes = (int64_t)srv.udp_rx_bytes;
    bs.accepted = (int64_t)srv.accepted;
    /* The package's compiled-in settings that shape the results. */
    char extra[400];
    snprintf(extra, sizeof extra,
             "\"lwip_version\":\"%d.%d.%d\",\"TCP_WND\":%d,\"TCP_SND_BUF\":%d,\"TCP_MSS\":%d,"
             "\"TCP_SND_QUEUELEN\":%d,\"LWIP_WND_SCALE\":%d,\"MEMP_MEM_MALLOC\":%d,\"MEMP_NUM_TCP_PCB\":%d,"
             "\"MEMP_NUM_NETCONN\":%d,\"tap_rx_dropped\":%llu,\"tap_tx_dropped\":%llu",
             LWIP_VERSION_MAJOR, LWIP_VERSION_MINOR, LWIP_VERSION_REVISION, (int)TCP_WND, (int)TCP_SND_BUF,
             (int)TCP_MSS, (int)TCP_SND_QUEUELEN, (int)LWIP_WND_SCALE, (int)MEMP_MEM_MALLOC,
             (int)MEMP_NUM_TCP_PCB, (int)MEMP_NUM_NETCONN, (unsigned long long)srv.tap.rx_dropped,
             (unsigned long long)srv.tap.tx_dropped);
    bs.extra = extra;
    char buf[1024];
    size_t n = bench_stats_json(&bs, buf, sizeof buf);
    reply_and_close(c, buf, n);
}

/* Parked connections are never read by the application: data is acknowledged and dropped, EOF ignored. */
static err_t on_recv_parked(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    (void)arg;
    (void)err;
    if (p != NULL) {
        tcp_recved(pcb, p->tot_len);
        pbuf_free(p);
    }
    return ERR_OK;
}

static void park(struct lconn *c)
{
    if (srv.n_parked == srv.cap_parked) {
        size_t cap = srv.cap_parked ? srv.cap_parked * 2 : 1024;
        struct lconn **p = realloc(srv.parked, cap * sizeof *p);
        if (p == NULL) {
            close_conn(c);
            return;
        }
        srv.parked = p;
        srv.cap_parked = cap;
    }
    c->park_index = srv.n_parked;
    srv.parked[srv.n_parked++] = c;
    tcp_recv(c->pcb, on_recv_parked);
}

static void release_parked(struct lconn *c)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "OK %zu\n", srv.n_parked);
    while (srv.n_parked > 0)
        close_conn(srv.parked[srv.n_parked - 1]);
    reply_and_close(c, buf, (size_t)n);
}

static void start_usource(struct lconn *c, const struct bench_cmd *cmd)
{
    if (srv.us.active || (srv.us.udp = udp_new()) == NULL) {
        reply_and_close(c, "ERR busy\n", 9);
        return;
    }
    srv.us.active = true;
    srv.us.ctl = c;
    ip_addr_copy(srv.us.to, c->pcb->remote_ip);
    srv.us.port = cmd->port;
    srv.us.size = cmd->size;
    srv.us.sent = 0;
    srv.us.deadline = bench_now_us() + (uint64_t)(cmd->seconds * 1e6);
}

static void step_usource(void)
{
    struct usource *u = &srv.us;
    if (!u->active)
        return;
    if (bench_now_us() >= u->deadline) {
        char buf[64];
        int n = snprintf(buf, sizeof buf, "OK %llu\n", (unsigned long long)u->sent);
        udp_remove(u->udp);
        u->active = false;
        reply_and_close(u->ctl, buf, (size_t)n);
        return;
    }
    for (int k = 0; k < UDP_BURST; k++) {
        struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)u->size, PBUF_RAM);
        if (p == NULL)
            break;
        memset(p->payload, 0, u->size);
        err_t e = udp_sendto(u->udp, p, &u->to, u->port);
        pbuf_free(p);
        if (e != ERR_OK)
            break;
        u->sent++;
    }
}

static void pump_source(struct lconn *c)
{
    while (tcp_sndbuf(c->pcb) > 0) {
        u16_t len = tcp_sndbuf(c->pcb);
        if (tcp_write(c->pcb, zeros, len, 0) != ERR_OK)
            break;
    }
    tcp_output(c->pcb);
}

/* ECHO: queues what tcp_write takes and reopens the window by as much. */
static void flush_echo(struct lconn *c)
{
    size_t done = 0;
    while (done < c->pending_len) {
        size_t len = c->pending_len - done;
        if (len > tcp_sndbuf(c->pcb))
            len = tcp_sndbuf(c->pcb);
        if (len == 0 || tcp_write(c->pcb, c->pending + done, (u16_t)len, TCP_WRITE_FLAG_COPY) != ERR_OK)
            break;
        done += len;
    }
    if (done > 0) {
        memmove(c->pending, c->pending + done, c->pending_len - done);
        c->pending_len -= done;
        tcp_output(c->pcb);
        tcp_recved(c->pcb, (u16_t)done);
    }
}

/* Acts on a complete command line; returns false if c is gone. */
static bool apply_command(struct lconn *c, const struct bench_cmd *cmd)
{
    c->mode = cmd->type;
    switch (cmd->type) {
    case BENCH_CMD_DISCARD:
    case BENCH_CMD_ECHO:
        return true;
    case BENCH_CMD_SOURCE:
        pump_source(c);
        return true;
    case BENCH_CMD_HOLD:
        park(c);
        return false;
    case BENCH_CMD_RELEASE:
        release_parked(c);
        return false;
    case BENCH_CMD_STATS:
        report_stats(c);
        return false;
    case BENCH_CMD_USOURCE:
        start_usource(c, cmd);
        return false;
    default:
        reply_and_close(c, "ERR command\n", 12);
        return false;
    }
}

static bool append_echo(struct lconn *c, const struct pbuf *p, size_t off)
{
    size_t len = p->tot_len - off;
    if (c->pending_len + len > ECHO_PENDING_MAX)
        return false;
    uint8_t *buf = realloc(c->pending, c->pending_len + len);
    if (buf == NULL)
        return false;
    c->pending = buf;
    pbuf_copy_partial(p, c->pending + c->pending_len, (u16_t)len, (u16_t)off);
    c->pending_len += len;
    return true;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct lconn *c = arg;
    (void)err;
    srv.aborted = false;
    if (p == NULL) {
        close_conn(c);
        return srv.aborted ? ERR_ABRT : ERR_OK;
    }
    size_t off = 0;
    if (c->mode == BENCH_CMD_NONE) {
        size_t len = pbuf_copy_partial(p, srv.io, p->tot_len, 0); /* tot_len < 64 KiB = sizeof srv.io */
        struct bench_cmd cmd;
        off = bench_line_feed(&c->line, srv.io, len, &cmd);
        /* Everything but an echo's payload is consumed now; the echo reopens its window as it sends. */
        tcp_recved(pcb, (u16_t)(cmd.type == BENCH_CMD_ECHO ? off : p->tot_len));
        if (cmd.type != BENCH_CMD_ECHO) {
            if (cmd.type != BENCH_CMD_NONE)
                apply_command(c, &cmd);
            pbuf_free(p);
            return srv.aborted ? ERR_ABRT : ERR_OK;
        }
        c->mode = BENCH_CMD_ECHO;
    }
    if (c->mode == BENCH_CMD_ECHO) {
        if (off < p->tot_len && !append_echo(c, p, off)) {
            pbuf_free(p);
            tcp_arg(pcb, NULL);
            free_conn(c);
            tcp_abort(pcb);
            return ERR_ABRT;
        }
        flush_echo(c);
    } else {
        tcp_recved(pcb, p->tot_len);
    }
    pbuf_free(p);
    return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    struct lconn *c = arg;
    (void)pcb;
    (void)len;
    if (c->mode == BENCH_CMD_SOURCE)
        pump_source(c);
    else if (c->mode == BENCH_CMD_ECHO && c->pending_len > 0)
        flush_echo(c);
    return ERR_OK;
}

static void on_err(void *arg, err_t err)
{
    (void)err;
    struct lconn *c = arg;
    if (c == NULL)
        return;
    if (srv.us.active && srv.us.ctl == c) {
        udp_remove(srv.us.udp);
        srv.us.active = false;
    }
    free_conn(c); /* the pcb is already freed */
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)arg;
    if (err != ERR_OK || pcb == NULL)
        return ERR_VAL;
    struct lconn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return ERR_MEM;
    c->pcb = pcb;
    srv.n_conns++;
    srv.accepted++;
    tcp_nagle_disable(pcb);
    tcp_arg(pcb, c);
    tcp_recv(pcb, on_recv);
    tcp_sent(pcb, on_sent);
    tcp_err(pcb, on_err);
    return ERR_OK;
}

static void on_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr, u16_t port)
{
    (void)arg;
    (void)pcb;
    (void)addr;
    (void)port;
    srv.udp_rx++;
    srv.udp_rx_bytes += p->tot_len;
    pbuf_free(p);
}

static int open_pcbs(void)
{
    struct tcp_pcb *l = tcp_new();
    if (l == NULL || tcp_bind(l, IP_ANY_TYPE, BENCH_TCP_PORT) != ERR_OK)
        return -1;
    struct tcp_pcb *listener = tcp_listen_with_backlog(l, 255);
    if (listener == NULL)
        return -1;
    tcp_accept(listener, on_accept);
    struct udp_pcb *u = udp_new();
    if (u == NULL || udp_bind(u, IP_ANY_TYPE, BENCH_UDP_PORT) != ERR_OK)
        return -1;
    udp_recv(u, on_udp, NULL);
    return 0;
}

static int parse_args(int argc, char **argv, const char **dev, ip4_addr_t *addr, ip4_addr_t *mask)
{
    *dev = "tap0";
    const char *addr_text = "10.0.0.2/24";
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--dev") == 0)
            *dev = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--addr") == 0)
            addr_text = argv[++i];
        else
            return -1;
    }
    char host[32];
    unsigned prefix = 24;
    const char *slash = strchr(addr_text, '/');
    size_t hlen = slash ? (size_t)(slash - addr_text) : strlen(addr_text);
    if (hlen >= sizeof host)
        return -1;
    memcpy(host, addr_text, hlen);
    host[hlen] = '\0';
    if (slash != NULL && (sscanf(slash + 1, "%u", &prefix) != 1 || prefix > 32))
        return -1;
    if (!ip4addr_aton(host, addr))
        return -1;
    ip4_addr_set_u32(mask, prefix == 0 ? 0 : lwip_htonl(0xffffffffu << (32 - prefix)));
    return 0;
}

static void run(void)
{
    while (!stop_requested) {
        int frames = lwip_tap_input(&srv.tap, FRAMES_PER_ROUND);
        sys_check_timeouts();
        step_usource();
        if (frames > 0 || srv.us.active)
            continue;
        u32_t sleep = sys_timeouts_sleeptime();
        int timeout = sleep < MAX_IDLE_WAIT_MS ? (int)sleep : MAX_IDLE_WAIT_MS;
        struct pollfd p = {.fd = srv.tap.fd, .events = POLLIN};
        poll(&p, 1, timeout);
    }
}

int main(int argc, char **argv)
{
    const char *dev;
    ip4_addr_t addr, mask;
    if (parse_args(argc, argv, &dev, &addr, &mask) != 0) {
        fprintf(stderr, "Usage: lwip-bench-server [--dev NAME] [--addr A.B.C.D/N]\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    char err[256];
    srv.tap.fd = lwip_tap_open(dev, err, sizeof err);
    if (srv.tap.fd < 0) {
        fprintf(stderr, "lwip-bench-server: %s\n", err);
        return 1;
    }
    memcpy(srv.tap.mac, (const uint8_t[6]){0x02, 0x00, 0x6c, 0x77, 0x69, 0x70}, 6);
    lwip_init();
    if (lwip_tap_attach(&srv.tap, &addr, &mask) != 0 || open_pcbs() != 0) {
        fprintf(stderr, "lwip-bench-server: cannot set up lwIP\n");
        return 1;
    }
    run();
    return 0;
}
