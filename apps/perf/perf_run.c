/*
 * Moving bulk data for ts-perf, and reporting it.
 *
 * The sender's clock stops only when its FIN has been acknowledged: bytes
 * merely queued in the send buffer have not been transferred yet. The
 * receiver's clock stops at the peer's FIN. Both run from the first payload
 * byte sent or the command line read.
 */
#define _GNU_SOURCE
#include "perf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PERF_BUF (128 * 1024)
/* How often the sender looks whether its FIN has been acknowledged yet. */
#define PERF_FIN_CHECK_MS 5

static bool transient(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

int perf_wait(int fd, short events, ts_time deadline)
{
    while (!ts_app_stop_requested()) {
        ts_time now = ts_monotonic_now();
        if (deadline != 0 && now >= deadline)
            return 0;
        int timeout_ms = TS_APP_STOP_CHECK_MS;
        if (deadline != 0 && deadline - now < TS_MSEC(timeout_ms))
            timeout_ms = (int)((deadline - now + 999) / 1000);
        struct pollfd pfd = {.fd = fd, .events = events};
        int ready = ts_poll(&pfd, 1, timeout_ms);
        if (ready > 0)
            return 1;
        if (ready < 0 && errno != EINTR)
            return -1;
    }
    return 0;
}

/* A byte pattern rather than zeros, so a capture of the transfer shows the stream moving. */
static uint8_t *make_payload(void)
{
    uint8_t *buf = malloc(PERF_BUF);
    if (buf == NULL)
        return NULL;
    for (size_t i = 0; i < PERF_BUF; i++)
        buf[i] = (uint8_t)('a' + i % 26);
    return buf;
}

static bool limit_reached(const struct perf_limit *lim, uint64_t sent, ts_time now, ts_time start)
{
    if (lim->bytes != 0)
        return sent >= lim->bytes;
    return now - start >= lim->duration;
}

/* No poll event announces the ACK of our FIN: look at the state every PERF_FIN_CHECK_MS. */
static int wait_fin_acknowledged(const char *who, int fd)
{
    const struct timespec pause = {.tv_sec = 0, .tv_nsec = PERF_FIN_CHECK_MS * 1000000L};
    while (!ts_app_stop_requested()) {
        if (ts_app_fin_acknowledged(fd)) {
            int err = 0;
            socklen_t len = sizeof err;
            if (ts_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
                fprintf(stderr, "%s: %s\n", who, strerror(err));
                return -1;
            }
            return 0;
        }
        nanosleep(&pause, NULL);
    }
    return -1;
}

/* Queues as much of the payload as the send buffer takes; -1 on a failure (reported). */
static int send_some(const char *who, int fd, const uint8_t *buf, const struct perf_limit *lim, uint64_t *sent)
{
    size_t len = PERF_BUF;
    if (lim->bytes != 0 && lim->bytes - *sent < len)
        len = (size_t)(lim->bytes - *sent);
    ssize_t n = ts_send(fd, buf, len, 0);
    if (n < 0) {
        if (transient(errno))
            return 0;
        fprintf(stderr, "%s: send: %s\n", who, strerror(errno));
        return -1;
    }
    *sent += (uint64_t)n;
    return 0;
}

int perf_send_stream(const char *who, int fd, const struct perf_limit *lim, struct perf_result *res)
{
    memset(res, 0, sizeof *res);
    uint8_t *buf = make_payload();
    if (buf == NULL) {
        fprintf(stderr, "%s: out of memory\n", who);
        return -1;
    }
    ts_time start = ts_monotonic_now();
    ts_time deadline = lim->bytes == 0 ? start + lim->duration : 0;
    int rc = 0;
    while (!limit_reached(lim, res->bytes, ts_monotonic_now(), start)) {
        int ready = perf_wait(fd, POLLOUT, deadline);
        if (ready == 0 && !ts_app_stop_requested())
            break; /* the time is up while the send buffer was full */
        if (ready <= 0) {
            if (ready < 0)
                fprintf(stderr, "%s: poll: %s\n", who, strerror(errno));
            rc = -1;
            break;
        }
        rc = send_some(who, fd, buf, lim, &res->bytes);
        if (rc < 0)
            break;
    }
    free(buf);
    if (rc == 0 && ts_shutdown(fd, SHUT_WR) < 0) {
        fprintf(stderr, "%s: shutdown: %s\n", who, strerror(errno));
        rc = -1;
    }
    if (rc == 0)
        rc = wait_fin_acknowledged(who, fd);
    res->elapsed = ts_monotonic_now() - start;
    res->complete = rc == 0;
    return rc;
}

int perf_recv_stream(const char *who, int fd, struct perf_result *res)
{
    memset(res, 0, sizeof *res);
    uint8_t *buf = malloc(PERF_BUF);
    if (buf == NULL) {
        fprintf(stderr, "%s: out of memory\n", who);
        return -1;
    }
    ts_time start = ts_monotonic_now();
    int rc = -1;
    for (;;) {
        int ready = perf_wait(fd, POLLIN, 0);
        if (ready <= 0) {
            if (ready < 0)
                fprintf(stderr, "%s: poll: %s\n", who, strerror(errno));
            break;
        }
        ssize_t n = ts_recv(fd, buf, PERF_BUF, 0);
        if (n == 0) {
            rc = 0;
            break;
        }
        if (n < 0 && !transient(errno)) {
            fprintf(stderr, "%s: recv: %s\n", who, strerror(errno));
            break;
        }
        if (n > 0)
            res->bytes += (uint64_t)n;
    }
    free(buf);
    res->elapsed = ts_monotonic_now() - start;
    res->complete = rc == 0;
    return rc;
}

int perf_drain_until_eof(int fd, ts_time limit)
{
    ts_time deadline = ts_monotonic_now() + limit;
    uint8_t buf[4096];
    while (perf_wait(fd, POLLIN, deadline) > 0) {
        ssize_t n = ts_recv(fd, buf, sizeof buf, 0);
        if (n == 0)
            return 0;
        if (n < 0 && !transient(errno))
            return -1;
    }
    return -1;
}

void perf_print_summary(const char *who, const char *verb, const struct perf_result *res)
{
    double seconds = (double)res->elapsed / 1e6;
    double gbits = seconds > 0 ? (double)res->bytes * 8.0 / seconds / 1e9 : 0.0;
    printf("%s: %s %" PRIu64 " bytes in %.3f s: %.3f Gbit/s%s\n", who, verb, res->bytes, seconds, gbits,
           res->complete ? "" : " (incomplete)");
    fflush(stdout);
}

void perf_print_tcp_info(const char *who, int fd)
{
    struct ts_tcp_info i;
    if (ts_tcp_info(fd, &i) < 0) {
        fprintf(stderr, "%s: tcp_info: %s\n", who, strerror(errno));
        return;
    }
    printf("%s: tcp_info: state %s, retransmits %" PRIu64 ", rtt %.3f ms (var %.3f ms), rto %.1f ms\n", who,
           ts_tcp_state_name(i.state), i.retransmits, (double)i.srtt / 1e3, (double)i.rttvar / 1e3,
           (double)i.rto / 1e3);
    printf("%s: tcp_info: cwnd %" PRIu32 " bytes, ssthresh %" PRIu32 " bytes, mss %" PRIu32 "/%" PRIu32
           ", wnd %" PRIu32 "/%" PRIu32 " (wscale %u/%u), %s%s%s\n",
           who, i.cwnd, i.ssthresh, i.snd_mss, i.rcv_mss, i.snd_wnd, i.rcv_wnd, i.snd_wscale, i.rcv_wscale,
           i.congestion != NULL ? i.congestion : "?", i.sack ? ", sack" : "", i.timestamps ? ", timestamps" : "");
    printf("%s: tcp_info: bytes sent %" PRIu64 ", acked %" PRIu64 ", received %" PRIu64 "\n", who, i.bytes_sent,
           i.bytes_acked, i.bytes_received);
    fflush(stdout);
}
