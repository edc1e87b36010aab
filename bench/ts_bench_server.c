/*
 * ts-bench-server: the benchmark server (bench/README.md) on tapstack.
 *
 * One thread drives the stack itself (ts_net_attach, the sockapi's manual
 * mode): it reads frames from the TAP device, runs the stack's timers and
 * serves every socket with ts_poll(..., 0). No runtime thread, no lock
 * hand-off: the same single-threaded event loop the lwIP and kernel servers
 * use, so the comparison measures the stacks and not the threading.
 *
 * Connections parked by HOLD leave the poll set, so holding many idle
 * connections costs the loop nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_proto.h"
#include "ts_app.h"

/* Frames taken from the device before the sockets are served again. */
#define FRAMES_PER_ROUND 256
/* Datagrams a USOURCE sends per round. */
#define UDP_BURST 64
#define IO_CHUNK 65536
#define MAX_IDLE_WAIT_MS 50

struct conn {
    int fd;
    enum bench_cmd_type mode;
    struct bench_line line;
    uint8_t *pending;     /* ECHO: bytes read but not yet sent back */
    size_t pending_len, pending_off;
};

struct usource {
    bool active;
    int ctl_fd, udp_fd;
    struct sockaddr_in to;
    uint32_t size;
    ts_time deadline;
    uint64_t sent;
};

struct server {
    struct ts_stack *st;
    struct ts_net *net;
    struct ts_netdev *dev;
    int listen_fd, udp_fd;
    struct conn *conns;
    size_t n_conns, cap_conns;
    int *parked;
    size_t n_parked, cap_parked;
    struct pollfd *pfds;
    size_t cap_pfds;
    struct usource us;
    uint64_t udp_rx, udp_rx_bytes, accepted;
    uint8_t frame[TS_NETDEV_MAX_FRAME];
    uint8_t io[IO_CHUNK];
};

static const struct ts_app_desc bench_desc = {
    .name = "ts-bench-server",
    .usage = "[OPTIONS]",
    .summary = "The benchmark server (bench/README.md) on tapstack: TCP port 5001, UDP sink on 5002.",
    .default_addr = "10.0.0.2/24",
};

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * elem);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = n;
    return 0;
}

static void drop_conn(struct server *s, size_t i)
{
    ts_close(s->conns[i].fd);
    free(s->conns[i].pending);
    s->conns[i] = s->conns[--s->n_conns];
}

static void reply_and_close(struct server *s, size_t i, const char *text, size_t len)
{
    ts_send(s->conns[i].fd, text, len, 0);
    drop_conn(s, i);
}

static void report_stats(struct server *s, size_t i)
{
    struct bench_stats bs;
    bench_stats_init(&bs, "tapstack");
    /* The TCP segment counts say how many ACKs and window updates each received segment cost. */
    uint64_t rx = 0, tx = 0, batch_acks = 0, delayed = 0;
    ts_net_lock(s->net);
    bs.stack_mem = (int64_t)ts_stack_memory_in_use(s->st);
    ts_stack_counter(s->st, "tcp.rx_segments", &rx);
    ts_stack_counter(s->st, "tcp.tx_segments", &tx);
    ts_stack_counter(s->st, "tcp.acks_at_batch_end", &batch_acks);
    ts_stack_counter(s->st, "tcp.delayed_acks", &delayed);
    ts_net_unlock(s->net);
    char extra[256]; /* four counters of up to 20 digits and their names: never cut short */
    snprintf(extra, sizeof extra,
             "\"tcp_rx_segments\":%llu,\"tcp_tx_segments\":%llu,\"tcp_acks_at_batch_end\":%llu,\"tcp_delayed_acks\":%llu",
             (unsigned long long)rx, (unsigned long long)tx, (unsigned long long)batch_acks,
             (unsigned long long)delayed);
    bs.extra = extra;
    bs.heap = bench_heap_in_use();
    bs.conns = (int64_t)s->n_conns - 1; /* not this STATS connection */
    bs.parked = (int64_t)s->n_parked;
    bs.udp_rx = (int64_t)s->udp_rx;
    bs.udp_rx_bytes = (int64_t)s->udp_rx_bytes;
    bs.accepted = (int64_t)s->accepted;
    char buf[512];
    size_t n = bench_stats_json(&bs, buf, sizeof buf);
    reply_and_close(s, i, buf, n);
}

static void release_parked(struct server *s, size_t i)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "OK %zu\n", s->n_parked);
    for (size_t k = 0; k < s->n_parked; k++)
        ts_close(s->parked[k]);
    s->n_parked = 0;
    reply_and_close(s, i, buf, (size_t)n);
}

static void start_usource(struct server *s, size_t i, const struct bench_cmd *cmd)
{
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int fd = s->conns[i].fd;
    if (s->us.active || ts_getpeername(fd, (struct sockaddr *)&peer, &plen) != 0) {
        reply_and_close(s, i, "ERR busy\n", 9);
        return;
    }
    int udp = ts_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (udp < 0) {
        reply_and_close(s, i, "ERR socket\n", 11);
        return;
    }
    peer.sin_port = htons(cmd->port);
    s->us = (struct usource){.active = true, .ctl_fd = fd, .udp_fd = udp, .to = peer, .size = cmd->size,
                             .deadline = ts_monotonic_now() + (ts_time)(cmd->seconds * 1e6)};
    /* The control connection now belongs to the UDP source. */
    s->conns[i] = s->conns[--s->n_conns];
}

static void step_usource(struct server *s)
{
    struct usource *u = &s->us;
    if (!u->active)
        return;
    if (ts_monotonic_now() >= u->deadline) {
        char buf[64];
        int n = snprintf(buf, sizeof buf, "OK %llu\n", (unsigned long long)u->sent);
        ts_send(u->ctl_fd, buf, (size_t)n, 0);
        ts_close(u->ctl_fd);
        ts_close(u->udp_fd);
        u->active = false;
        return;
    }
    for (int k = 0; k < UDP_BURST; k++) {
        if (ts_sendto(u->udp_fd, s->io, u->size, 0, (struct sockaddr *)&u->to, sizeof u->to) < 0)
            break;
        u->sent++;
    }
}

/* Acts on a complete command line; returns false if the connection is gone. */
static bool apply_command(struct server *s, size_t i, const struct bench_cmd *cmd)
{
    struct conn *c = &s->conns[i];
    c->mode = cmd->type;
    switch (cmd->type) {
    case BENCH_CMD_DISCARD:
    case BENCH_CMD_SOURCE:
    case BENCH_CMD_ECHO:
        return true;
    case BENCH_CMD_HOLD:
        if (grow((void **)&s->parked, &s->cap_parked, s->n_parked + 1, sizeof(int)) != 0) {
            drop_conn(s, i);
            return false;
        }
        s->parked[s->n_parked++] = c->fd;
        free(c->pending);
        s->conns[i] = s->conns[--s->n_conns];
        return false;
    case BENCH_CMD_RELEASE:
        release_parked(s, i);
        return false;
    case BENCH_CMD_STATS:
        report_stats(s, i);
        return false;
    case BENCH_CMD_USOURCE:
        start_usource(s, i, cmd);
        return false;
    default:
        reply_and_close(s, i, "ERR command\n", 12);
        return false;
    }
}

/* ECHO: sends back what is pending; true when nothing is left. */
static bool flush_echo(struct server *s, struct conn *c)
{
    (void)s;
    while (c->pending_off < c->pending_len) {
        ssize_t n = ts_send(c->fd, c->pending + c->pending_off, c->pending_len - c->pending_off, MSG_DONTWAIT);
        if (n <= 0)
            return false;
        c->pending_off += (size_t)n;
    }
    c->pending_len = c->pending_off = 0;
    return true;
}

static bool queue_echo(struct conn *c, const uint8_t *data, size_t len)
{
    if (c->pending == NULL && (c->pending = malloc(IO_CHUNK)) == NULL)
        return false;
    memcpy(c->pending, data, len);
    c->pending_len = len;
    c->pending_off = 0;
    return true;
}

/* Reads what is there; returns false if the connection was closed. */
static bool serve_readable(struct server *s, size_t i)
{
    struct conn *c = &s->conns[i];
    if (c->mode == BENCH_CMD_ECHO && c->pending_len > 0)
        return true; /* flow control: read more once the echo went out */
    ssize_t n = ts_recv(c->fd, s->io, sizeof s->io, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        drop_conn(s, i);
        return false;
    }
    if (n < 0)
        return true;
    size_t off = 0;
    if (c->mode == BENCH_CMD_NONE) {
        struct bench_cmd cmd;
        off = bench_line_feed(&c->line, s->io, (size_t)n, &cmd);
        if (cmd.type != BENCH_CMD_NONE && !apply_command(s, i, &cmd))
            return false;
    }
    if (c->mode == BENCH_CMD_ECHO && off < (size_t)n) {
        memmove(s->io, s->io + off, (size_t)n - off);
        if (!queue_echo(c, s->io, (size_t)n - off)) {
            drop_conn(s, i);
            return false;
        }
        flush_echo(s, c);
    }
    return true;
}

static bool serve_writable(struct server *s, size_t i)
{
    struct conn *c = &s->conns[i];
    if (c->mode == BENCH_CMD_ECHO) {
        flush_echo(s, c);
        return true;
    }
    if (c->mode != BENCH_CMD_SOURCE)
        return true;
    for (int k = 0; k < 16; k++) {
        ssize_t n = ts_send(c->fd, s->io, sizeof s->io, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (n <= 0) {
            drop_conn(s, i);
            return false;
        }
    }
    return true;
}

static void accept_new(struct server *s)
{
    for (int k = 0; k < 64; k++) {
        int fd = ts_accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0)
            return;
        if (grow((void **)&s->conns, &s->cap_conns, s->n_conns + 1, sizeof *s->conns) != 0) {
            ts_close(fd);
            return;
        }
        int one = 1;
        ts_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        s->conns[s->n_conns++] = (struct conn){.fd = fd};
        s->accepted++;
    }
}

static void drain_udp(struct server *s)
{
    for (int k = 0; k < 256; k++) {
        ssize_t n = ts_recv(s->udp_fd, s->io, sizeof s->io, MSG_DONTWAIT);
        if (n < 0)
            return;
        s->udp_rx++;
        s->udp_rx_bytes += (uint64_t)n;
    }
}

/* Serves every socket that is ready; returns how many were. */
static int serve_sockets(struct server *s)
{
    size_t n = 2 + s->n_conns;
    if (grow((void **)&s->pfds, &s->cap_pfds, n, sizeof *s->pfds) != 0)
        return 0;
    s->pfds[0] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
    s->pfds[1] = (struct pollfd){.fd = s->udp_fd, .events = POLLIN};
    for (size_t i = 0; i < s->n_conns; i++) {
        const struct conn *c = &s->conns[i];
        short ev = POLLIN;
        if (c->mode == BENCH_CMD_SOURCE || (c->mode == BENCH_CMD_ECHO && c->pending_len > 0))
            ev |= POLLOUT;
        s->pfds[2 + i] = (struct pollfd){.fd = c->fd, .events = ev};
    }
    int ready = ts_poll(s->pfds, (nfds_t)n, 0);
    if (ready <= 0)
        return 0;
    /* Serve from the end: dropping connection i moves the last one into its place. */
    size_t n_polled = s->n_conns;
    for (size_t i = n_polled; i-- > 0;) {
        short re = s->pfds[2 + i].revents;
        if (re == 0 || i >= s->n_conns || s->conns[i].fd != s->pfds[2 + i].fd)
            continue;
        if ((re & POLLOUT) && !serve_writable(s, i))
            continue;
        if (re & (POLLIN | POLLHUP | POLLERR))
            serve_readable(s, i);
    }
    if (s->pfds[1].revents & POLLIN)
        drain_udp(s);
    if (s->pfds[0].revents & POLLIN)
        accept_new(s);
    return ready;
}

static int take_frames(struct server *s, ts_time now, int budget)
{
    int frames = 0;
    while (frames < budget) {
        size_t len;
        ts_time when;
        struct ts_frame_meta meta;
        int r = ts_netdev_receive_meta(s->dev, now, s->frame, sizeof s->frame, &len, &when, &meta);
        if (r == -EMSGSIZE)
            continue;
        if (r <= 0)
            break;
        /* The kernel's checksum promise goes to the core with the frame: nothing is summed twice. */
        ts_net_drive_input_meta(s->net, now, s->frame, len, &meta);
        frames++;
    }
    return frames;
}

static void wait_for_work(struct server *s, ts_time now)
{
    ts_net_lock(s->net);
    ts_time deadline = ts_stack_next_deadline(s->st);
    ts_net_unlock(s->net);
    int timeout = MAX_IDLE_WAIT_MS;
    if (s->us.active)
        timeout = 0;
    else if (deadline != TS_TIME_NEVER && deadline - now < (ts_time)MAX_IDLE_WAIT_MS * 1000)
        timeout = deadline <= now ? 0 : (int)((deadline - now + 999) / 1000);
    struct pollfd p = {.fd = ts_netdev_wait_fd(s->dev), .events = POLLIN};
    poll(&p, 1, timeout);
}

static void run(struct server *s)
{
    bool woke = false;
    while (!stop_requested) {
        ts_time now = ts_monotonic_now();
        /*
         * The first frame after a sleep is served at once: a request's answer goes out before
         * the read that finds the queue empty. A busy loop takes frames in batches.
         */
        int frames = take_frames(s, now, woke ? 1 : FRAMES_PER_ROUND);
        woke = false;
        /*
         * The sockets are served before the core is polled: the ACKs the batch made due
         * (tcp_ack_at_batch_end) then go out together with the window the reads opened.
         */
        int ready = serve_sockets(s);
        step_usource(s);
        ts_net_lock(s->net);
        bool due = ts_stack_next_deadline(s->st) <= now;
        ts_net_unlock(s->net);
        if (due)
            ts_net_drive_poll(s->net, now);
        if (frames == 0 && ready == 0) {
            wait_for_work(s, ts_monotonic_now());
            woke = true;
        }
    }
}

static int open_sockets(struct server *s)
{
    s->listen_fd = ts_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    s->udp_fd = ts_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (s->listen_fd < 0 || s->udp_fd < 0)
        return -1;
    struct sockaddr_in a = ts_app_sockaddr(0, BENCH_TCP_PORT);
    struct sockaddr_in u = ts_app_sockaddr(0, BENCH_UDP_PORT);
    int big = 4 << 20;
    ts_setsockopt(s->udp_fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (ts_bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || ts_listen(s->listen_fd, 4096) != 0 ||
        ts_bind(s->udp_fd, (struct sockaddr *)&u, sizeof u) != 0)
        return -1;
    return 0;
}

static int start_stack(struct server *s, const struct ts_app_options *o)
{
    char err[256] = "";
    /* --offload on (the default) asks for checksum offload and TSO: super-segments come in with
     * the kernel's checksum promise (ts_netdev_receive_meta) and go out with ours. */
    s->dev = ts_tap_open_offload(o->dev, o->offload, err, sizeof err);
    if (s->dev == NULL) {
        fprintf(stderr, "ts-bench-server: %s\n", err);
        return -1;
    }
    struct ts_stack_config cfg;
    ts_stack_config_init(&cfg);
    if (o->has_mac)
        memcpy(cfg.mac, o->mac, sizeof cfg.mac);
    else if (s->dev->has_mac)
        memcpy(cfg.mac, s->dev->mac, sizeof cfg.mac);
    else
        ts_netdev_default_mac(o->dev, cfg.mac);
    cfg.addr = o->addr;
    cfg.prefix_len = o->prefix_len;
    cfg.gateway = o->gateway;
    if (o->has_seed)
        cfg.seed = o->seed;
    else
        ts_os_random(&cfg.seed, sizeof cfg.seed);
    /* The benchmark holds up to 100k connections: the default of 1024 pcbs is a library default, not a limit. */
    cfg.limits.max_sockets = BENCH_NOFILE;
    cfg.limits.tcp_syn_queue = 4096;
    /* run() polls after serving the sockets: a batch's ACKs leave with the window the reads opened. */
    cfg.tcp_ack_at_batch_end = true;
    struct ts_link link = ts_netdev_link(s->dev);
    s->st = ts_stack_new(&cfg, &link);
    if (s->st == NULL || (s->net = ts_net_attach(s->st)) == NULL) {
        fprintf(stderr, "ts-bench-server: cannot create the stack\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct server s; /* large buffers: not on the stack */
    struct ts_app app;
    int rc = ts_app_parse(&bench_desc, argc, argv, &app);
    if (rc != TS_APP_PARSE_CONTINUE)
        return rc;
    if (app.opt.trace || app.opt.pcap_path != NULL || app.opt.has_impair) {
        fprintf(stderr, "ts-bench-server: --trace, --pcap and --impair are not supported (they would be measured)\n");
        return TS_APP_EXIT_USAGE;
    }
    bench_raise_nofile();
    install_stop_handlers();
    if (start_stack(&s, &app.opt) != 0 || open_sockets(&s) != 0) {
        fprintf(stderr, "ts-bench-server: cannot open the server's sockets\n");
        return TS_APP_EXIT_FAILURE;
    }
    run(&s);
    ts_net_detach(s.net);
    ts_stack_free(s.st);
    ts_netdev_destroy(s.dev);
    return TS_APP_EXIT_OK;
}
