/*
 * kernel-bench-server: the benchmark server (bench/README.md) on the Linux
 * kernel's own stack, plain sockets and one epoll loop: what a user would run
 * instead of a userspace stack. Same protocol and logic as ts-bench-server.
 *
 * Usage: kernel-bench-server [--addr A.B.C.D] [--workers N]   (default: any address, 1)
 *
 * --workers N forks N processes sharing the listening and UDP sockets, each with
 * its own epoll, and the counters in shared memory: one process may not be
 * allowed the 100k descriptors that holding 100k connections takes
 * (RLIMIT_NOFILE's hard limit). RELEASE reaches every worker (SIGUSR1).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_proto.h"

#define IO_CHUNK 65536
#define UDP_BURST 64
#define MAX_EVENTS 256
#define MAX_WORKERS 16

/* What every worker counts, in memory they share. */
struct shared_counts {
    int64_t conns, parked, accepted, udp_rx, udp_rx_bytes;
    pid_t workers[MAX_WORKERS];
    int n_workers;
};

struct conn {
    int fd;
    enum bench_cmd_type mode;
    struct bench_line line;
    uint8_t *pending;
    size_t pending_len, pending_off;
};

struct usource {
    bool active;
    int ctl_fd, udp_fd;
    struct sockaddr_in to;
    uint32_t size;
    uint64_t deadline, sent;
};

struct server {
    int ep, listen_fd, udp_fd;
    int *parked;
    size_t n_parked, cap_parked;
    struct shared_counts *counts;
    struct usource us;
    bool listener_paused;
    uint8_t io[IO_CHUNK];
};

static void count(int64_t *counter, int64_t delta)
{
    __atomic_add_fetch(counter, delta, __ATOMIC_RELAXED);
}

static int64_t counted(const int64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* The epoll tags of the two server sockets (connections carry their struct conn). */
static struct conn listen_tag, udp_tag;
static volatile sig_atomic_t stop_requested, release_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_release(int sig)
{
    (void)sig;
    release_requested = 1;
}

static void drop_conn(struct server *s, struct conn *c)
{
    close(c->fd); /* also leaves the epoll set */
    free(c->pending);
    free(c);
    count(&s->counts->conns, -1);
}

static void reply_and_close(struct server *s, struct conn *c, const char *text, size_t len)
{
    if (send(c->fd, text, len, MSG_NOSIGNAL) < 0)
        perror("kernel-bench-server: reply");
    drop_conn(s, c);
}

static void report_stats(struct server *s, struct conn *c)
{
    struct bench_stats bs;
    bench_stats_init(&bs, "kernel");
    bs.heap = bench_heap_in_use();
    bs.kmem = bench_kernel_mem();
    bs.conns = counted(&s->counts->conns) - 1; /* not this STATS connection */
    bs.parked = counted(&s->counts->parked);
    bs.udp_rx = counted(&s->counts->udp_rx);
    bs.udp_rx_bytes = counted(&s->counts->udp_rx_bytes);
    bs.accepted = counted(&s->counts->accepted);
    char buf[512];
    size_t n = bench_stats_json(&bs, buf, sizeof buf);
    reply_and_close(s, c, buf, n);
}

static void set_events(struct server *s, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static bool park(struct server *s, struct conn *c)
{
    if (s->n_parked == s->cap_parked) {
        size_t cap = s->cap_parked ? s->cap_parked * 2 : 1024;
        int *p = realloc(s->parked, cap * sizeof *p);
        if (p == NULL)
            return false;
        s->parked = p;
        s->cap_parked = cap;
    }
    epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
    s->parked[s->n_parked++] = c->fd;
    free(c->pending);
    free(c);
    count(&s->counts->conns, -1);
    count(&s->counts->parked, 1);
    return true;
}

static void close_parked(struct server *s)
{
    for (size_t k = 0; k < s->n_parked; k++)
        close(s->parked[k]);
    count(&s->counts->parked, -(int64_t)s->n_parked);
    s->n_parked = 0;
    if (s->listener_paused) {
        struct epoll_event ev = {.events = EPOLLIN | (s->counts->n_workers > 1 ? EPOLLEXCLUSIVE : 0),
                                 .data.ptr = &listen_tag};
        epoll_ctl(s->ep, EPOLL_CTL_ADD, s->listen_fd, &ev);
        s->listener_paused = false;
    }
}

static void release_parked(struct server *s, struct conn *c)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "OK %lld\n", (long long)counted(&s->counts->parked));
    pid_t me = getpid();
    for (int w = 0; w < s->counts->n_workers; w++) {
        if (s->counts->workers[w] != me)
            kill(s->counts->workers[w], SIGUSR1);
    }
    close_parked(s);
    reply_and_close(s, c, buf, (size_t)n);
}

static void start_usource(struct server *s, struct conn *c, const struct bench_cmd *cmd)
{
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    if (s->us.active || getpeername(c->fd, (struct sockaddr *)&peer, &plen) != 0) {
        reply_and_close(s, c, "ERR busy\n", 9);
        return;
    }
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (udp < 0) {
        reply_and_close(s, c, "ERR socket\n", 11);
        return;
    }
    peer.sin_port = htons(cmd->port);
    epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
    s->us = (struct usource){.active = true, .ctl_fd = c->fd, .udp_fd = udp, .to = peer, .size = cmd->size,
                             .deadline = bench_now_us() + (uint64_t)(cmd->seconds * 1e6)};
    free(c->pending);
    free(c);
    count(&s->counts->conns, -1);
}

static void step_usource(struct server *s)
{
    struct usource *u = &s->us;
    if (!u->active)
        return;
    if (bench_now_us() >= u->deadline) {
        char buf[64];
        int n = snprintf(buf, sizeof buf, "OK %llu\n", (unsigned long long)u->sent);
        if (send(u->ctl_fd, buf, (size_t)n, MSG_NOSIGNAL) < 0)
            perror("kernel-bench-server: usource reply");
        close(u->ctl_fd);
        close(u->udp_fd);
        u->active = false;
        return;
    }
    for (int k = 0; k < UDP_BURST; k++) {
        if (sendto(u->udp_fd, s->io, u->size, 0, (struct sockaddr *)&u->to, sizeof u->to) < 0)
            break;
        u->sent++;
    }
}

/* Acts on a complete command line; returns false if c is gone. */
static bool apply_command(struct server *s, struct conn *c, const struct bench_cmd *cmd)
{
    c->mode = cmd->type;
    switch (cmd->type) {
    case BENCH_CMD_DISCARD:
    case BENCH_CMD_ECHO:
        return true;
    case BENCH_CMD_SOURCE:
        set_events(s, c, EPOLLIN | EPOLLOUT);
        return true;
    case BENCH_CMD_HOLD:
        if (!park(s, c))
            drop_conn(s, c);
        return false;
    case BENCH_CMD_RELEASE:
        release_parked(s, c);
        return false;
    case BENCH_CMD_STATS:
        report_stats(s, c);
        return false;
    case BENCH_CMD_USOURCE:
        start_usource(s, c, cmd);
        return false;
    default:
        reply_and_close(s, c, "ERR command\n", 12);
        return false;
    }
}

static bool flush_echo(struct server *s, struct conn *c)
{
    while (c->pending_off < c->pending_len) {
        ssize_t n = send(c->fd, c->pending + c->pending_off, c->pending_len - c->pending_off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0) {
            set_events(s, c, EPOLLOUT);
            return false;
        }
        c->pending_off += (size_t)n;
    }
    if (c->pending_len > 0)
        set_events(s, c, EPOLLIN);
    c->pending_len = c->pending_off = 0;
    return true;
}

static void serve_readable(struct server *s, struct conn *c)
{
    ssize_t n = recv(c->fd, s->io, sizeof s->io, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        drop_conn(s, c);
        return;
    }
    if (n < 0)
        return;
    size_t off = 0;
    if (c->mode == BENCH_CMD_NONE) {
        struct bench_cmd cmd;
        off = bench_line_feed(&c->line, s->io, (size_t)n, &cmd);
        if (cmd.type != BENCH_CMD_NONE && !apply_command(s, c, &cmd))
            return;
    }
    if (c->mode == BENCH_CMD_ECHO && off < (size_t)n) {
        if (c->pending == NULL && (c->pending = malloc(IO_CHUNK)) == NULL) {
            drop_conn(s, c);
            return;
        }
        memcpy(c->pending, s->io + off, (size_t)n - off);
        c->pending_len = (size_t)n - off;
        c->pending_off = 0;
        flush_echo(s, c);
    }
}

static void serve_writable(struct server *s, struct conn *c)
{
    if (c->mode == BENCH_CMD_ECHO) {
        flush_echo(s, c);
        return;
    }
    for (int k = 0; k < 16; k++) {
        ssize_t n = send(c->fd, s->io, sizeof s->io, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            drop_conn(s, c);
            return;
        }
    }
}

static void accept_new(struct server *s)
{
    for (int k = 0; k < 64; k++) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
            /* This worker is full: leave new connections to the others until RELEASE. */
            epoll_ctl(s->ep, EPOLL_CTL_DEL, s->listen_fd, NULL);
            s->listener_paused = true;
        }
        if (fd < 0)
            return;
        struct conn *c = calloc(1, sizeof *c);
        if (c == NULL) {
            close(fd);
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
            return;
        }
        count(&s->counts->conns, 1);
        count(&s->counts->accepted, 1);
    }
}

static void drain_udp(struct server *s)
{
    for (int k = 0; k < 256; k++) {
        ssize_t n = recv(s->udp_fd, s->io, sizeof s->io, MSG_DONTWAIT);
        if (n < 0)
            return;
        count(&s->counts->udp_rx, 1);
        count(&s->counts->udp_rx_bytes, n);
    }
}

static void run(struct server *s)
{
    struct epoll_event evs[MAX_EVENTS];
    while (!stop_requested) {
        int n = epoll_wait(s->ep, evs, MAX_EVENTS, s->us.active ? 0 : 100);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == &listen_tag)
                accept_new(s);
            else if (c == &udp_tag)
                drain_udp(s);
            else if (evs[i].events & EPOLLOUT)
                serve_writable(s, c);
            else
                serve_readable(s, c);
        }
        step_usource(s);
        if (release_requested) {
            release_requested = 0;
            close_parked(s);
        }
    }
}

static int open_sockets(struct server *s, in_addr_t addr)
{
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    s->udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (s->listen_fd < 0 || s->udp_fd < 0)
        return -1;
    int one = 1, big = 4 << 20;
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s->udp_fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(BENCH_TCP_PORT), .sin_addr.s_addr = addr};
    struct sockaddr_in u = {.sin_family = AF_INET, .sin_port = htons(BENCH_UDP_PORT), .sin_addr.s_addr = addr};
    if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->listen_fd, 4096) != 0 ||
        bind(s->udp_fd, (struct sockaddr *)&u, sizeof u) != 0)
        return -1;
    return 0;
}

/* Each worker's own epoll set; EPOLLEXCLUSIVE wakes one worker per new connection or datagram. */
static int open_epoll(struct server *s)
{
    s->ep = epoll_create1(0);
    uint32_t shared = s->counts->n_workers > 1 ? EPOLLEXCLUSIVE : 0;
    struct epoll_event ev = {.events = EPOLLIN | shared, .data.ptr = &listen_tag};
    struct epoll_event eu = {.events = EPOLLIN | shared, .data.ptr = &udp_tag};
    if (s->ep < 0 || epoll_ctl(s->ep, EPOLL_CTL_ADD, s->listen_fd, &ev) != 0 ||
        epoll_ctl(s->ep, EPOLL_CTL_ADD, s->udp_fd, &eu) != 0)
        return -1;
    return 0;
}

static int parse_args(int argc, char **argv, in_addr_t *addr, int *workers)
{
    for (int i = 1; i < argc; i++) {
        struct in_addr a;
        if (i + 1 < argc && strcmp(argv[i], "--addr") == 0 && inet_pton(AF_INET, argv[i + 1], &a) == 1) {
            *addr = a.s_addr;
            i++;
        } else if (i + 1 < argc && strcmp(argv[i], "--workers") == 0) {
            *workers = atoi(argv[++i]);
            if (*workers < 1 || *workers > MAX_WORKERS)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Forks the other workers; returns in each process (the parent waits for them when it stops). */
static void start_workers(struct server *s, int workers)
{
    s->counts->workers[0] = getpid();
    s->counts->n_workers = workers;
    for (int w = 1; w < workers; w++) {
        pid_t pid = fork();
        if (pid == 0) {
            s->counts->workers[w] = getpid();
            return;
        }
        s->counts->workers[w] = pid;
    }
}

int main(int argc, char **argv)
{
    static struct server s;
    in_addr_t addr = htonl(INADDR_ANY);
    int workers = 1;
    if (parse_args(argc, argv, &addr, &workers) != 0) {
        fprintf(stderr, "Usage: kernel-bench-server [--addr A.B.C.D] [--workers N (1..%d)]\n", MAX_WORKERS);
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct sigaction sr = {.sa_handler = on_release};
    sigaction(SIGUSR1, &sr, NULL);
    bench_raise_nofile();
    s.counts = mmap(NULL, sizeof *s.counts, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s.counts == MAP_FAILED || open_sockets(&s, addr) != 0) {
        perror("kernel-bench-server: cannot open the server's sockets");
        return 1;
    }
    pid_t parent = getpid();
    start_workers(&s, workers);
    if (open_epoll(&s) != 0) {
        perror("kernel-bench-server: epoll");
        return 1;
    }
    run(&s);
    if (getpid() == parent) {
        for (int w = 1; w < s.counts->n_workers; w++) {
            kill(s.counts->workers[w], SIGTERM);
            waitpid(s.counts->workers[w], NULL, 0);
        }
    }
    return 0;
}
