/* bench-client's parts shared between its files (see bench_client.c). */
#ifndef BENCH_CLIENT_H
#define BENCH_CLIENT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLIENT_MAX_SRC 16

struct client_args {
    const char *mode;
    struct sockaddr_in server;   /* address and TCP port */
    double seconds;
    unsigned streams;
    uint64_t count;
    struct in_addr src[CLIENT_MAX_SRC];
    unsigned n_src;
    bool no_cmd;                 /* send no command line (the raw TAP probe answers anything) */
    bool no_stats;               /* the server has no STATS command */
    uint16_t listen_port;
    uint32_t size;
    double rr_seconds;           /* hold: the request/response run while the connections are held */
};

/* A blocking TCP connection to the server (from src if not NULL), -1 on failure (reported). */
int client_connect(const struct client_args *a, const struct in_addr *src);
/* Asks the server for its STATS line into buf (NUL-terminated, newline removed); -1 on failure. */
int client_stats(const struct client_args *a, char *buf, size_t cap);
/* Sends a command line and reads one line back ("OK n"); -1 on failure. */
int client_command(const struct client_args *a, const char *line, char *reply, size_t cap);

struct rr_result {
    uint64_t count;
    double seconds, p50_us, p99_us, tps;
};
/* 1-byte request/response on one connection for `seconds`. */
int client_rr_run(const struct client_args *a, double seconds, struct rr_result *out);

int client_hold(const struct client_args *a);

#endif
