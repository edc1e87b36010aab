/*
 * bench-client hold: opens --count connections that the server parks (HOLD),
 * from several source addresses so more than 64k fit, and measures while they
 * are held: the server's memory (STATS before and during) and a 1-byte
 * request/response run on one more connection (is the per-packet cost flat?).
 * Then every held connection is reset and the server releases its side.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_proto.h"
#include "client.h"

#define HOLD_IN_FLIGHT 512
#define SETTLE_US 500000

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

int client_hold(const struct client_args *a)
{
    struct hold_state h = {.fds = calloc(a->count, sizeof(int))};
    if (h.fds == NULL)
        return 1;
    char before[2048], during[2048], reply[64] = "";
    client_stats(a, before, sizeof before);
    uint64_t start = bench_now_us();
    open_all(a, &h, start + (uint64_t)(a->seconds * 1e6));
    double open_secs = (double)(bench_now_us() - start) / 1e6;
    usleep(SETTLE_US);
    client_stats(a, during, sizeof during);
    struct rr_result rr = {0};
    int rr_ok = client_rr_run(a, a->rr_seconds, &rr) == 0;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    for (uint64_t i = 0; i < h.established; i++) {
        setsockopt(h.fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(h.fds[i]);
    }
    usleep(SETTLE_US);
    if (!a->no_stats)
        client_command(a, "RELEASE\n", reply, sizeof reply);
    printf("{\"mode\":\"hold\",\"target\":%llu,\"established\":%llu,\"failed\":%llu,\"open_seconds\":%.3f,"
           "\"stats_before\":%s,\"stats_during\":%s,\"rr\":",
           (unsigned long long)a->count, (unsigned long long)h.established, (unsigned long long)h.failed, open_secs,
           before, during);
    if (rr_ok)
        printf("{\"p50_us\":%.1f,\"p99_us\":%.1f,\"tps\":%.1f}}\n", rr.p50_us, rr.p99_us, rr.tps);
    else
        printf("null}\n");
    free(h.fds);
    return 0;
}
