/*
 * bench-client hold: opens --count connections that the server parks (HOLD),
 * from several source addresses so more than 64k fit, and measures while they
 * are held: the server's memory (STATS before and during) and a 1-byte
 * request/response run on one more connection (is the per-packet cost flat?).
 * Then every held connection is reset and the server releases its side.
 * Child processes hold the connections (see HOLD_PER_PROCESS); the parent measures.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_proto.h"
#include "client.h"

#define HOLD_IN_FLIGHT 512
#define SETTLE_US 500000
#define WAIT_PARKED_US 60000000u

struct hold_state {
    int *fds;
    uint64_t opened, established, failed, attempts;
    unsigned in_flight;
};

static int start_connect(const struct client_args *a, int ep, struct hold_state *h)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (a->n_src > 0) {
        struct sockaddr_in s = {.sin_family = AF_INET, .sin_addr = a->src[h->attempts % a->n_src]};
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&s, sizeof s) != 0) {
            close(fd);
            return -1;
        }
    }
    h->attempts++;
    if (connect(fd, (const struct sockaddr *)&a->server, sizeof a->server) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        return -1;
    }
    h->in_flight++;
    return 0;
}

static void finish_connect(int ep, int fd, struct hold_state *h)
{
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    h->in_flight--;
    if (err != 0 || send(fd, "HOLD\n", 5, MSG_NOSIGNAL | MSG_DONTWAIT) != 5) {
        h->failed++;
        close(fd);
        return;
    }
    h->fds[h->established++] = fd;
}

static void open_all(const struct client_args *a, struct hold_state *h, uint64_t deadline)
{
    int ep = epoll_create1(0);
    if (ep < 0)
        return;
    while (bench_now_us() < deadline && h->established < a->count) {
        while (h->in_flight < HOLD_IN_FLIGHT && h->established + h->in_flight < a->count &&
               h->failed < a->count) {
            if (start_connect(a, ep, h) != 0) {
                h->failed++;
                break;
            }
        }
        if (h->failed >= a->count && h->in_flight == 0)
            break;
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++)
            finish_connect(ep, evs[i].data.fd, h);
    }
    close(ep); /* connects still in flight are abandoned: their sockets stay open until exit */
}

/*
 * A process may not be allowed more than ~20k descriptors (RLIMIT_NOFILE's hard limit, which only
 * CAP_SYS_RESOURCE raises), so the connections are opened by child processes of at most this many each.
 */
#define HOLD_PER_PROCESS 15000

struct hold_child {
    pid_t pid;
    int report_fd; /* the child writes "established failed\n" here once its share is open */
    uint64_t established, failed;
};

/* In the child: opens `count` connections, reports, holds them until the parent closes `release_fd`. */
static void child_hold(const struct client_args *a, uint64_t count, uint64_t deadline, int report_fd, int release_fd)
{
    struct client_args mine = *a;
    mine.count = count;
    struct hold_state h = {.fds = calloc(count, sizeof(int))};
    if (h.fds != NULL)
        open_all(&mine, &h, deadline);
    char line[64];
    int n = snprintf(line, sizeof line, "%llu %llu\n", (unsigned long long)h.established,
                     (unsigned long long)h.failed);
    if (write(report_fd, line, (size_t)n) != n)
        _exit(1);
    char b;
    while (read(release_fd, &b, 1) > 0) {
    }
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    for (uint64_t i = 0; i < h.established; i++) {
        setsockopt(h.fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(h.fds[i]);
    }
    _exit(0);
}

static int spawn_children(const struct client_args *a, struct hold_child *kids, unsigned n_kids, uint64_t deadline,
                          int release_pipe[2])
{
    for (unsigned k = 0; k < n_kids; k++) {
        uint64_t share = a->count / n_kids + (k < a->count % n_kids ? 1 : 0);
        int rp[2];
        if (pipe(rp) != 0)
            return -1;
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            close(rp[0]);
            close(release_pipe[1]);
            child_hold(a, share, deadline, rp[1], release_pipe[0]);
        }
        close(rp[1]);
        kids[k] = (struct hold_child){.pid = pid, .report_fd = rp[0]};
    }
    return 0;
}

/* Collects each child's report (bounded by the deadline plus a margin). */
static void collect_reports(struct hold_child *kids, unsigned n_kids, uint64_t *est, uint64_t *failed)
{
    *est = *failed = 0;
    for (unsigned k = 0; k < n_kids; k++) {
        char line[64] = "";
        ssize_t got = read(kids[k].report_fd, line, sizeof line - 1);
        unsigned long long e = 0, f = 0;
        if (got > 0 && sscanf(line, "%llu %llu", &e, &f) == 2) {
            kids[k].established = e;
            kids[k].failed = f;
        }
        close(kids[k].report_fd);
        *est += e;
        *failed += f;
    }
}

/* The "parked" number of a STATS line, or -1. */
static long long parked_of(const char *stats)
{
    const char *p = strstr(stats, "\"parked\":");
    return p == NULL ? -1 : strtoll(p + 9, NULL, 10);
}

/*
 * A connection the client has established may still wait in the server's accept queue: asks
 * for STATS until the server has parked them all or stops making progress (bounded).
 */
static void wait_until_parked(const struct client_args *a, uint64_t established, char *stats, size_t cap)
{
    uint64_t deadline = bench_now_us() + WAIT_PARKED_US;
    long long last = -1;
    int still = 0;
    usleep(SETTLE_US);
    while (bench_now_us() < deadline) {
        client_stats(a, stats, cap);
        long long parked = parked_of(stats);
        if (a->no_stats || parked >= (long long)established)
            return;
        still = parked == last ? still + 1 : 0;
        if (still >= 3)
            return;
        last = parked;
        usleep(SETTLE_US);
    }
}

int client_hold(const struct client_args *a)
{
    unsigned n_kids = (unsigned)((a->count + HOLD_PER_PROCESS - 1) / HOLD_PER_PROCESS);
    struct hold_child *kids = calloc(n_kids, sizeof *kids);
    int release_pipe[2];
    if (kids == NULL || pipe(release_pipe) != 0)
        return 1;
    char before[2048], during[2048], reply[64] = "";
    client_stats(a, before, sizeof before);
    uint64_t start = bench_now_us(), established, failed;
    if (spawn_children(a, kids, n_kids, start + (uint64_t)(a->seconds * 1e6), release_pipe) != 0)
        return 1;
    close(release_pipe[0]);
    collect_reports(kids, n_kids, &established, &failed);
    double open_secs = (double)(bench_now_us() - start) / 1e6;
    wait_until_parked(a, established, during, sizeof during);
    struct rr_result rr = {0};
    int rr_ok = client_rr_run(a, a->rr_seconds, &rr) == 0;
    close(release_pipe[1]); /* the children reset their connections and exit */
    for (unsigned k = 0; k < n_kids; k++)
        waitpid(kids[k].pid, NULL, 0);
    usleep(SETTLE_US);
    if (!a->no_stats)
        client_command(a, "RELEASE\n", reply, sizeof reply);
    printf("{\"mode\":\"hold\",\"target\":%llu,\"established\":%llu,\"failed\":%llu,\"processes\":%u,"
           "\"open_seconds\":%.3f,\"stats_before\":%s,\"stats_during\":%s,\"rr\":",
           (unsigned long long)a->count, (unsigned long long)established, (unsigned long long)failed, n_kids,
           open_secs, before, during);
    if (rr_ok)
        printf("{\"p50_us\":%.1f,\"p99_us\":%.1f,\"tps\":%.1f}}\n", rr.p50_us, rr.p99_us, rr.tps);
    else
        printf("null}\n");
    free(kids);
    return 0;
}
