/*
 * bench-client: the kernel-side client of the benchmark (bench/README.md).
 * Plain Linux sockets; it drives every figure against any of the servers and
 * prints one JSON line per run on stdout. Every mode is bounded in time (a
 * hard alarm backs the soft limits).
 *
 *   bench-client MODE --server A.B.C.D [--port P] [--seconds T] [--streams N] [--count N]
 *                [--src A,B,..] [--size BYTES] [--listen-port P] [--rr-seconds T] [--no-cmd] [--no-stats]
 *
 *   bulk-send         N streams of DISCARD: the kernel sends (Gbit/s until every byte is in)
 *   bulk-recv         N streams of SOURCE: the server sends
 *   bulk-recv-listen  the server connects to us on --listen-port and sends (the raw TAP probe)
 *   rr                1-byte request/response: p50/p99 latency and transactions/s
 *   crr               connect, send, close, N at a time: connections/s
 *   hold              open --count connections (HOLD) from --src addresses; memory and RR while held
 *   udp-send          datagrams of --size bytes to the UDP sink for T seconds
 *   udp-recv          the server sends datagrams to us (USOURCE) for T seconds
 *   stats             the server's STATS line
 */
#define _GNU_SOURCE
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_proto.h"

#define IO_CHUNK 65536
#define DRAIN_TIMEOUT_US 5000000u
#define HIST_MAX_US 1000000u

static uint8_t io_buf[IO_CHUNK];

static void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void close_with_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

int client_connect(const struct client_args *a, const struct in_addr *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (src != NULL) {
        struct sockaddr_in s = {.sin_family = AF_INET, .sin_addr = *src};
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&s, sizeof s) != 0) {
            close(fd);
            return -1;
        }
    }
    if (connect(fd, (const struct sockaddr *)&a->server, sizeof a->server) != 0) {
        fprintf(stderr, "bench-client: connect: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads until the peer closes (or cap fills); returns the bytes read or -1. */
static ssize_t read_to_eof(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
        buf[--got] = '\0';
    return (ssize_t)got;
}

int client_command(const struct client_args *a, const char *line, char *reply, size_t cap)
{
    int fd = client_connect(a, NULL);
    if (fd < 0)
        return -1;
    int rc = send_all(fd, line, strlen(line)) == 0 && read_to_eof(fd, reply, cap) >= 0 ? 0 : -1;
    close(fd);
    return rc;
}

int client_stats(const struct client_args *a, char *buf, size_t cap)
{
    if (a->no_stats) {
        snprintf(buf, cap, "null");
        return 0;
    }
    int rc = client_command(a, "STATS\n", buf, cap);
    if (rc != 0 || buf[0] != '{')
        snprintf(buf, cap, "null");
    return rc;
}

/* Opens n connections and sends each the command line; returns how many opened. */
static unsigned open_streams(const struct client_args *a, const char *cmd, int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        fds[i] = client_connect(a, NULL);
        if (fds[i] < 0 || (!a->no_cmd && send_all(fds[i], cmd, strlen(cmd)) != 0))
            return i;
    }
    return n;
}

static void print_bulk(const char *mode, unsigned streams, uint64_t bytes, double secs, bool complete)
{
    printf("{\"mode\":\"%s\",\"streams\":%u,\"bytes\":%llu,\"seconds\":%.6f,\"gbps\":%.6f,\"complete\":%s}\n", mode,
           streams, (unsigned long long)bytes, secs, secs > 0 ? (double)bytes * 8 / secs / 1e9 : 0.0,
           complete ? "true" : "false");
}

/* Waits (bounded) for every stream's EOF after our FIN: the time covers the delivery of every byte. */
static bool wait_all_eof(const int *fds, unsigned n, uint64_t deadline)
{
    unsigned open = n;
    bool done[64] = {false};
    while (open > 0 && bench_now_us() < deadline) {
        struct pollfd p[64];
        for (unsigned i = 0; i < n; i++)
            p[i] = (struct pollfd){.fd = done[i] ? -1 : fds[i], .events = POLLIN};
        if (poll(p, n, 100) < 0)
            return false;
        for (unsigned i = 0; i < n; i++) {
            if (done[i] || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = recv(fds[i], io_buf, sizeof io_buf, MSG_DONTWAIT);
            if (r <= 0 && !(r < 0 && errno == EAGAIN)) {
                done[i] = true;
                open--;
            }
        }
    }
    return open == 0;
}

static int run_bulk_send(const struct client_args *a)
{
    int fds[64] = {0};
    unsigned n = open_streams(a, "DISCARD\n", fds, a->streams);
    if (n < a->streams)
        return 1;
    uint64_t start = bench_now_us(), end = start + (uint64_t)(a->seconds * 1e6), bytes = 0;
    struct pollfd p[64];
    while (bench_now_us() < end) {
        for (unsigned i = 0; i < n; i++)
            p[i] = (struct pollfd){.fd = fds[i], .events = POLLOUT};
        if (poll(p, n, 100) <= 0)
            continue;
        for (unsigned i = 0; i < n; i++) {
            if (!(p[i].revents & POLLOUT))
                continue;
            ssize_t w = send(fds[i], io_buf, sizeof io_buf, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0)
                bytes += (uint64_t)w;
            else if (w < 0 && errno != EAGAIN)
                return fprintf(stderr, "bench-client: send: %s\n", strerror(errno)), 1;
        }
    }
    for (unsigned i = 0; i < n; i++)
        shutdown(fds[i], SHUT_WR);
    double send_secs = (double)(bench_now_us() - start) / 1e6;
    bool complete = wait_all_eof(fds, n, bench_now_us() + DRAIN_TIMEOUT_US);
    /* A server that never closes (it did not see our FIN) is timed to our FIN, and flagged. */
    double secs = complete ? (double)(bench_now_us() - start) / 1e6 : send_secs;
    for (unsigned i = 0; i < n; i++)
        close(fds[i]);
    print_bulk("bulk-send", n, bytes, secs, complete);
    return 0;
}

/* Reads from every stream for the duration; returns the bytes read. */
static uint64_t read_streams(const int *fds, unsigned n, double seconds, double *elapsed)
{
    uint64_t start = bench_now_us(), end = start + (uint64_t)(seconds * 1e6), bytes = 0;
    struct pollfd p[64];
    while (bench_now_us() < end) {
        for (unsigned i = 0; i < n; i++)
            p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        if (poll(p, n, 100) <= 0)
            continue;
        for (unsigned i = 0; i < n; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = recv(fds[i], io_buf, sizeof io_buf, MSG_DONTWAIT);
            if (r > 0)
                bytes += (uint64_t)r;
        }
    }
    *elapsed = (double)(bench_now_us() - start) / 1e6;
    return bytes;
}

static int run_bulk_recv(const struct client_args *a)
{
    int fds[64] = {0};
    unsigned n = open_streams(a, "SOURCE\n", fds, a->streams);
    if (n < a->streams)
        return 1;
    double secs;
    uint64_t bytes = read_streams(fds, n, a->seconds, &secs);
    for (unsigned i = 0; i < n; i++)
        close_with_reset(fds[i]);
    print_bulk("bulk-recv", n, bytes, secs, true);
    return 0;
}

static int run_bulk_recv_listen(const struct client_args *a)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(a->listen_port)};
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (l < 0 || bind(l, (struct sockaddr *)&me, sizeof me) != 0 || listen(l, 64) != 0)
        return perror("bench-client: listen"), 1;
    printf("{\"listening\":%u}\n", a->listen_port);
    fflush(stdout);
    int fds[64] = {0};
    unsigned n = 0;
    uint64_t deadline = bench_now_us() + 10000000u;
    while (n < a->streams && bench_now_us() < deadline) {
        struct pollfd p = {.fd = l, .events = POLLIN};
        if (poll(&p, 1, 100) > 0 && (fds[n] = accept(l, NULL, NULL)) >= 0)
            n++;
    }
    close(l);
    if (n == 0)
        return fprintf(stderr, "bench-client: nobody connected\n"), 1;
    double secs;
    uint64_t bytes = read_streams(fds, n, a->seconds, &secs);
    for (unsigned i = 0; i < n; i++)
        close_with_reset(fds[i]);
    print_bulk("bulk-recv", n, bytes, secs, true);
    return 0;
}

static double percentile(const uint32_t *hist, uint64_t count, double q)
{
    uint64_t want = (uint64_t)ceil(q * (double)count), seen = 0;
    for (uint32_t us = 0; us <= HIST_MAX_US; us++) {
        seen += hist[us];
        if (seen >= want && want > 0)
            return us;
    }
    return HIST_MAX_US;
}

int client_rr_run(const struct client_args *a, double seconds, struct rr_result *out)
{
    int fd = client_connect(a, NULL);
    if (fd < 0)
        return -1;
    set_nodelay(fd);
    if (!a->no_cmd && send_all(fd, "ECHO\n", 5) != 0) {
        close(fd);
        return -1;
    }
    uint32_t *hist = calloc(HIST_MAX_US + 1, sizeof *hist);
    if (hist == NULL) {
        close(fd);
        return -1;
    }
    uint64_t start = bench_now_us(), end = start + (uint64_t)(seconds * 1e6), count = 0;
    int rc = 0;
    uint8_t b = 'x';
    while (bench_now_us() < end) {
        uint64_t t0 = bench_now_us();
        if (send(fd, &b, 1, MSG_NOSIGNAL) != 1 || recv(fd, &b, 1, 0) != 1) {
            rc = -1;
            break;
        }
        uint64_t dt = bench_now_us() - t0;
        hist[dt > HIST_MAX_US ? HIST_MAX_US : dt]++;
        count++;
    }
    double secs = (double)(bench_now_us() - start) / 1e6;
    close_with_reset(fd);
    *out = (struct rr_result){.count = count, .seconds = secs, .p50_us = percentile(hist, count, 0.50),
                              .p99_us = percentile(hist, count, 0.99), .tps = (double)count / secs};
    free(hist);
    return count > 0 ? rc : -1;
}

static int run_rr(const struct client_args *a)
{
    struct rr_result r;
    if (client_rr_run(a, a->seconds, &r) != 0)
        return fprintf(stderr, "bench-client: rr failed\n"), 1;
    printf("{\"mode\":\"rr\",\"count\":%llu,\"seconds\":%.6f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"tps\":%.1f}\n",
           (unsigned long long)r.count, r.seconds, r.p50_us, r.p99_us, r.tps);
    return 0;
}

/* One connect-send-close slot of crr: a non-blocking connect, then the line, then close. */
static int crr_open(const struct client_args *a, int ep)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&a->server, sizeof a->server) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static int run_crr(const struct client_args *a)
{
    int ep = epoll_create1(0);
    if (ep < 0)
        return 1;
    unsigned in_flight = 0;
    uint64_t done = 0, failed = 0, start = bench_now_us(), end = start + (uint64_t)(a->seconds * 1e6);
    static const char line[] = "DISCARD\nx";
    while (bench_now_us() < end) {
        while (in_flight < a->streams && crr_open(a, ep) == 0)
            in_flight++;
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 100);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd, err = 0;
            socklen_t len = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err == 0 && send(fd, line, sizeof line - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof line - 1))
                done++;
            else
                failed++;
            close(fd);
            in_flight--;
        }
    }
    double secs = (double)(bench_now_us() - start) / 1e6;
    close(ep);
    printf("{\"mode\":\"crr\",\"streams\":%u,\"count\":%llu,\"failed\":%llu,\"seconds\":%.6f,\"cps\":%.1f}\n",
           a->streams, (unsigned long long)done, (unsigned long long)failed, secs, (double)done / secs);
    return 0;
}

static int run_udp_send(const struct client_args *a)
{
    char before[1024], after[1024];
    client_stats(a, before, sizeof before);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = a->server;
    to.sin_port = htons(BENCH_UDP_PORT);
    if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) != 0)
        return perror("bench-client: udp"), 1;
    uint64_t start = bench_now_us(), end = start + (uint64_t)(a->seconds * 1e6), sent = 0, errors = 0;
    while (bench_now_us() < end) {
        for (int k = 0; k < 64; k++) {
            if (send(fd, io_buf, a->size, 0) == (ssize_t)a->size)
                sent++;
            else
                errors++;
        }
    }
    double secs = (double)(bench_now_us() - start) / 1e6;
    close(fd);
    usleep(200000); /* what is still in flight arrives before the count is read */
    client_stats(a, after, sizeof after);
    printf("{\"mode\":\"udp-send\",\"size\":%u,\"sent\":%llu,\"errors\":%llu,\"seconds\":%.6f,"
           "\"stats_before\":%s,\"stats_after\":%s}\n",
           a->size, (unsigned long long)sent, (unsigned long long)errors, secs, before, after);
    return 0;
}

static int run_udp_recv(const struct client_args *a)
{
    int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), big = 8 << 20;
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(a->listen_port)};
    setsockopt(u, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    if (u < 0 || bind(u, (struct sockaddr *)&me, sizeof me) != 0)
        return perror("bench-client: udp bind"), 1;
    int c = client_connect(a, NULL);
    char line[96];
    snprintf(line, sizeof line, "USOURCE %u %.3f %u\n", a->listen_port, a->seconds, a->size);
    if (c < 0 || send_all(c, line, strlen(line)) != 0)
        return 1;
    uint64_t received = 0, start = bench_now_us(), deadline = start + (uint64_t)(a->seconds * 1e6) + 10000000u;
    char reply[64] = "";
    size_t rlen = 0;
    while (bench_now_us() < deadline) {
        struct pollfd p[2] = {{.fd = u, .events = POLLIN}, {.fd = c, .events = POLLIN}};
        if (poll(p, 2, 100) <= 0)
            continue;
        while (recv(u, io_buf, sizeof io_buf, MSG_DONTWAIT) > 0)
            received++;
        if (p[1].revents & (POLLIN | POLLHUP)) {
            ssize_t n = recv(c, reply + rlen, sizeof reply - 1 - rlen, MSG_DONTWAIT);
            if (n <= 0)
                break;
            rlen += (size_t)n;
            reply[rlen] = '\0';
        }
    }
    while (recv(u, io_buf, sizeof io_buf, MSG_DONTWAIT) > 0)
        received++;
    close(c);
    close(u);
    unsigned long long sent = 0;
    sscanf(reply, "OK %llu", &sent);
    printf("{\"mode\":\"udp-recv\",\"size\":%u,\"sent\":%llu,\"received\":%llu,\"seconds\":%.6f,\"pps\":%.1f}\n",
           a->size, sent, (unsigned long long)received, a->seconds, (double)received / a->seconds);
    return 0;
}

static int run_stats(const struct client_args *a)
{
    char buf[2048];
    if (client_stats(a, buf, sizeof buf) != 0)
        return 1;
    printf("%s\n", buf);
    return 0;
}

static int parse_src(const char *text, struct client_args *a)
{
    char copy[512];
    snprintf(copy, sizeof copy, "%s", text);
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (a->n_src == CLIENT_MAX_SRC || inet_pton(AF_INET, tok, &a->src[a->n_src]) != 1)
            return -1;
        a->n_src++;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct client_args *a)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 's'}, {"port", required_argument, NULL, 'p'},
        {"seconds", required_argument, NULL, 't'}, {"streams", required_argument, NULL, 'P'},
        {"count", required_argument, NULL, 'n'}, {"src", required_argument, NULL, 'S'},
        {"size", required_argument, NULL, 'z'}, {"listen-port", required_argument, NULL, 'l'},
        {"rr-seconds", required_argument, NULL, 'r'}, {"no-cmd", no_argument, NULL, 'N'},
        {"no-stats", no_argument, NULL, 'X'}, {NULL, 0, NULL, 0},
    };
    *a = (struct client_args){.seconds = 2, .streams = 1, .count = 1000, .size = 64, .listen_port = 5003,
                              .rr_seconds = 1};
    a->server.sin_family = AF_INET;
    a->server.sin_port = htons(BENCH_TCP_PORT);
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int ok = 1;
        switch (o) {
        case 's': ok = inet_pton(AF_INET, optarg, &a->server.sin_addr) == 1; break;
        case 'p': a->server.sin_port = htons((uint16_t)atoi(optarg)); break;
        case 't': a->seconds = atof(optarg); ok = a->seconds > 0 && a->seconds <= 600; break;
        case 'P': a->streams = (unsigned)atoi(optarg); ok = a->streams >= 1 && a->streams <= 64; break;
        case 'n': a->count = strtoull(optarg, NULL, 10); ok = a->count >= 1 && a->count <= 200000; break;
        case 'S': ok = parse_src(optarg, a) == 0; break;
        case 'z': a->size = (uint32_t)atoi(optarg); ok = a->size >= 1 && a->size <= BENCH_UDP_MAX; break;
        case 'l': a->listen_port = (uint16_t)atoi(optarg); break;
        case 'r': a->rr_seconds = atof(optarg); ok = a->rr_seconds > 0 && a->rr_seconds <= 60; break;
        case 'N': a->no_cmd = true; break;
        case 'X': a->no_stats = true; break;
        default: ok = 0;
        }
        if (!ok)
            return -1;
    }
    if (optind + 1 != argc || a->server.sin_addr.s_addr == 0)
        return -1;
    a->mode = argv[optind];
    return 0;
}

int main(int argc, char **argv)
{
    struct client_args a;
    if (parse_args(argc, argv, &a) != 0) {
        fprintf(stderr, "Usage: bench-client bulk-send|bulk-recv|bulk-recv-listen|rr|crr|hold|udp-send|udp-recv|stats "
                        "--server A.B.C.D [--port P] [--seconds T] [--streams N] [--count N] [--src A,B]\n"
                        "       [--size BYTES] [--listen-port P] [--rr-seconds T] [--no-cmd] [--no-stats]\n");
        return 2;
    }
    bench_raise_nofile();
    /* The hard bound behind every soft one: a stuck run ends (SIGALRM) instead of hanging the benchmark. */
    alarm((unsigned)(a.seconds * 2 + a.rr_seconds + 120));
    static const struct {
        const char *name;
        int (*run)(const struct client_args *);
    } modes[] = {
        {"bulk-send", run_bulk_send}, {"bulk-recv", run_bulk_recv}, {"bulk-recv-listen", run_bulk_recv_listen},
        {"rr", run_rr},               {"crr", run_crr},             {"hold", client_hold},
        {"udp-send", run_udp_send},   {"udp-recv", run_udp_recv},   {"stats", run_stats},
    };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(a.mode, modes[i].name) == 0)
            return modes[i].run(&a);
    }
    fprintf(stderr, "bench-client: unknown mode %s\n", a.mode);
    return 2;
}
