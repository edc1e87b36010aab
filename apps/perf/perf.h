/*
 * ts-perf's transfer engine, shared by its client and server: streaming a
 * bulk of bytes out or counting them in, over a non-blocking TCP socket, and
 * the reports. Every wait is at most TS_APP_STOP_CHECK_MS long so SIGINT and
 * SIGTERM end a transfer promptly.
 */
#ifndef TS_PERF_H
#define TS_PERF_H

#include <stdbool.h>
#include <stdint.h>

#include "ts_app.h"

#define PERF_DEFAULT_PORT 5201
#define PERF_DEFAULT_DURATION TS_SEC(10)
/* The longest command line, "RECV 18446744073709551615\n" and then some. */
#define PERF_LINE_MAX 64

/* How much the sender sends: bytes if non-zero, else for duration. */
struct perf_limit {
    uint64_t bytes;
    ts_time duration;
};

struct perf_result {
    uint64_t bytes;   /* payload only: the command line is not counted */
    ts_time elapsed;  /* from the first payload byte to the end of the transfer */
    bool complete;    /* the transfer ended as the protocol says, not by a signal or an error */
};

/*
 * Sends data until lim is reached, shuts the write side down and waits until
 * that FIN is acknowledged, so everything sent is known to have arrived.
 * Returns 0, or -1 after reporting the failure (prefixed with who).
 */
int perf_send_stream(const char *who, int fd, const struct perf_limit *lim, struct perf_result *res);

/* Counts what arrives until the peer's FIN. Returns 0, or -1 after reporting the failure. */
int perf_recv_stream(const char *who, int fd, struct perf_result *res);

/*
 * Reads the rest of the stream until EOF and drops it, at most for limit;
 * returns 0 at EOF, -1 on an error, a stop request or the limit.
 */
int perf_drain_until_eof(int fd, ts_time limit);

/* Waits for events on fd, a stop request or the deadline (0 = none): 1 ready, 0 stopped/deadline, -1 error. */
int perf_wait(int fd, short events, ts_time deadline);

/* "WHO: received N bytes in T s: X Gbit/s" (verb "received" or "sent") on stdout. */
void perf_print_summary(const char *who, const char *verb, const struct perf_result *res);

/* The connection's TCP_INFO (retransmissions, RTT, cwnd ...) on stdout, for --stats. */
void perf_print_tcp_info(const char *who, int fd);

#endif
