/*
 * ts-echo: the echo service (RFC 862) over tapstack. Every UDP datagram that
 * arrives is sent back, unchanged, to the address and port it came from; one
 * socket serves any number of clients. The stack answers pings by itself
 * while the service runs.
 *
 * TCP echo arrives with tapstack's TCP support; until then ts-echo serves UDP
 * whatever it is asked, and says so.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts_app.h"

#define ECHO_DEFAULT_PORT 7 /* RFC 862 */
#define ECHO_MAX_DATAGRAM 65535
#define ECHO_BATCH 256 /* datagrams handled per wake-up before looking at signals again */

enum { OPT_UDP = 'u', OPT_PORT = 'p' };

struct echo_args {
    bool udp;
    uint16_t port;
};

struct echo_totals {
    bool served; /* the socket was bound and the ready line printed */
    uint64_t datagrams, bytes, send_failures, async_errors;
};

static const struct option echo_long_opts[] = {
    {"udp", no_argument, NULL, OPT_UDP},
    {"port", required_argument, NULL, OPT_PORT},
    {NULL, 0, NULL, 0},
};

static const struct ts_app_desc echo_desc_template = {
    .name = "ts-echo",
    .usage = "[OPTIONS]",
    .summary = "Echo every UDP datagram back to its sender (RFC 862), from a tapstack instance.",
    .app_help = "  -u, --udp            serve UDP echo (TCP echo comes with the TCP support;\n"
                "                       without --udp, UDP is served all the same)\n"
                "  -p, --port N         the port to serve (default 7)\n"
                "Runs until SIGINT or SIGTERM, then exits 0; 1 if the device or the socket\n"
                "cannot be set up, 2 on a usage error.\n",
    .default_addr = "10.0.0.2/24",
    .short_opts = "up:",
    .long_opts = echo_long_opts,
};

static int handle_echo_option(void *ctx, int opt, const char *arg)
{
    struct echo_args *a = ctx;
    const struct ts_app_desc *d = &echo_desc_template;
    uint64_t port = 0;
    switch (opt) {
    case OPT_UDP:
        a->udp = true;
        return 0;
    case OPT_PORT:
        if (ts_app_parse_u64(arg, 65535, &port) < 0 || port == 0)
            return ts_app_usage_error(d, "--port '%s': expected a port number 1..65535", arg);
        a->port = (uint16_t)port;
        return 0;
    case 0:
        return ts_app_usage_error(d, "unexpected argument '%s' (try --help)", arg);
    default:
        return ts_app_usage_error(d, "unexpected option %d", opt);
    }
}

static int open_echo_socket(const struct ts_app *app, uint16_t port)
{
    int fd = ts_socket_on(app->net, AF_INET, SOCK_DGRAM, IPPROTO_UDP);
    if (fd < 0) {
        fprintf(stderr, "ts-echo: cannot open a UDP socket: %s\n", strerror(errno));
        return -1;
    }
    struct sockaddr_in local;
    memset(&local, 0, sizeof local);
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_ANY);
    local.sin_port = htons(port);
    if (ts_bind(fd, (const struct sockaddr *)&local, sizeof local) < 0) {
        fprintf(stderr, "ts-echo: cannot bind udp port %u: %s\n", port, strerror(errno));
        ts_close(fd);
        return -1;
    }
    return fd;
}

/* Echoes every datagram that is waiting (at most a batch); returns -1 if the socket itself failed. */
static int echo_ready_datagrams(int fd, uint8_t *buf, struct echo_totals *t)
{
    for (int i = 0; i < ECHO_BATCH; i++) {
        struct sockaddr_in from;
        socklen_t fromlen = sizeof from;
        ssize_t n = ts_recvfrom(fd, buf, ECHO_MAX_DATAGRAM, MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 0;
            if (errno == EBADF || errno == ENOTSOCK || errno == EINVAL) {
                fprintf(stderr, "ts-echo: recvfrom: %s\n", strerror(errno));
                return -1;
            }
            /* An ICMP error about an earlier reply (a client that went away): the service goes on. */
            t->async_errors++;
            continue;
        }
        if (ts_sendto(fd, buf, (size_t)n, 0, (const struct sockaddr *)&from, fromlen) < 0) {
            t->send_failures++;
            continue;
        }
        t->datagrams++;
        t->bytes += (uint64_t)n;
    }
    return 0;
}

static int serve_udp(const struct ts_app *app, uint16_t port, struct echo_totals *t)
{
    int fd = open_echo_socket(app, port);
    if (fd < 0)
        return -1;
    uint8_t *buf = malloc(ECHO_MAX_DATAGRAM);
    if (buf == NULL) {
        fprintf(stderr, "ts-echo: out of memory\n");
        ts_close(fd);
        return -1;
    }
    char addr[16];
    printf("ts-echo: listening on udp %s:%u (dev %s)\n", ts_app_format_ipv4(app->opt.addr, addr), port,
           app->opt.dev);
    fflush(stdout);
    t->served = true;

    int rc = 0;
    while (rc == 0 && !ts_app_stop_requested()) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (ts_poll(&pfd, 1, TS_APP_STOP_CHECK_MS) < 0 && errno != EINTR) {
            fprintf(stderr, "ts-echo: poll: %s\n", strerror(errno));
            rc = -1;
            break;
        }
        rc = echo_ready_datagrams(fd, buf, t);
    }
    free(buf);
    ts_close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    struct echo_args args = {.udp = false, .port = ECHO_DEFAULT_PORT};
    struct ts_app_desc desc = echo_desc_template;
    desc.handle = handle_echo_option;
    desc.ctx = &args;

    struct ts_app app;
    int parsed = ts_app_parse(&desc, argc, argv, &app);
    if (parsed != TS_APP_PARSE_CONTINUE)
        return parsed;
    if (!args.udp)
        fprintf(stderr, "ts-echo: TCP echo comes with tapstack's TCP support; serving UDP only for now\n");
    if (ts_app_start(&app) < 0)
        return TS_APP_EXIT_FAILURE;

    struct echo_totals totals = {0};
    int rc = serve_udp(&app, args.port, &totals);
    if (totals.served) {
        printf("ts-echo: stopped: echoed %" PRIu64 " datagrams (%" PRIu64 " bytes), %" PRIu64
               " could not be sent back, %" PRIu64 " ICMP errors\n",
               totals.datagrams, totals.bytes, totals.send_failures, totals.async_errors);
        fflush(stdout);
    }
    ts_app_finish(&app);
    return rc < 0 ? TS_APP_EXIT_FAILURE : TS_APP_EXIT_OK;
}
