/*
 * ts-echo: the echo service (RFC 862) over tapstack.
 *
 * TCP (the default): every connection gets back every byte it sends, until it
 * closes; any number of clients at once, all served from one ts_poll loop
 * (see echo_tcp.c). UDP (--udp): every datagram is sent back, unchanged, to
 * the address and port it came from; one socket serves any number of clients.
 * --udp --tcp serves both on the same port number. The stack answers pings by
 * itself while the service runs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echo_tcp.h"
#include "ts_app.h"

#define ECHO_DEFAULT_PORT 7 /* RFC 862 */
#define ECHO_MAX_DATAGRAM 65535
#define ECHO_BATCH 256 /* datagrams handled per wake-up before looking at signals again */

enum { OPT_UDP = 'u', OPT_TCP = 't', OPT_PORT = 'p' };

struct echo_args {
    bool udp, tcp;
    uint16_t port;
};

struct echo_udp_totals {
    uint64_t datagrams, bytes, send_failures, async_errors;
};

/* What the loop serves: the UDP socket and the TCP side, each -1 / unused when not asked for. */
struct echo_server {
    int udp_fd;
    uint8_t *udp_buf;
    struct echo_udp_totals udp;
    bool tcp_open;
    struct echo_tcp tcp;
};

static const struct option echo_long_opts[] = {
    {"udp", no_argument, NULL, OPT_UDP},
    {"tcp", no_argument, NULL, OPT_TCP},
    {"port", required_argument, NULL, OPT_PORT},
    {NULL, 0, NULL, 0},
};

static const struct ts_app_desc echo_desc_template = {
    .name = "ts-echo",
    .usage = "[OPTIONS]",
    .summary = "Echo back what clients send (RFC 862) over TCP, or UDP with --udp, from a tapstack instance.",
    .app_help = "  -t, --tcp            serve TCP echo (the default when --udp is not given)\n"
                "  -u, --udp            serve UDP echo instead; with --tcp as well, serve both\n"
                "  -p, --port N         the port to serve (default 7)\n"
                "TCP clients are served concurrently; a client that shuts down its write side\n"
                "still gets every echo, then the connection is closed.\n"
                "Runs until SIGINT or SIGTERM, then exits 0; 1 if the device or a socket\n"
                "cannot be set up, 2 on a usage error.\n",
    .default_addr = "10.0.0.2/24",
    .short_opts = "utp:",
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
    case OPT_TCP:
        a->tcp = true;
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

/* ---- UDP -------------------------------------------------------------------- */

static int open_udp_socket(const struct ts_app *app, uint16_t port)
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
static int echo_ready_datagrams(int fd, uint8_t *buf, struct echo_udp_totals *t)
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

/* ---- the service -------------------------------------------------------------- */

static void print_listening(const struct ts_app *app, const char *proto, uint16_t port)
{
    char addr[16];
    printf("ts-echo: listening on %s %s:%u (dev %s)\n", proto, ts_app_format_ipv4(app->opt.addr, addr), port,
           app->opt.dev);
    fflush(stdout);
}

static int open_server(struct echo_server *srv, const struct ts_app *app, const struct echo_args *args)
{
    if (args->tcp) {
        if (echo_tcp_open(&srv->tcp, app, args->port) < 0)
            return -1;
        srv->tcp_open = true;
    }
    if (args->udp) {
        srv->udp_buf = malloc(ECHO_MAX_DATAGRAM);
        if (srv->udp_buf == NULL) {
            fprintf(stderr, "ts-echo: out of memory\n");
            return -1;
        }
        srv->udp_fd = open_udp_socket(app, args->port);
        if (srv->udp_fd < 0)
            return -1;
    }
    /* The ready lines come once every socket is up, so a script may start clients on seeing them. */
    if (srv->tcp_open)
        print_listening(app, "tcp", args->port);
    if (srv->udp_fd >= 0)
        print_listening(app, "udp", args->port);
    return 0;
}

static void close_server(struct echo_server *srv)
{
    if (srv->tcp_open)
        echo_tcp_close(&srv->tcp);
    srv->tcp_open = false;
    if (srv->udp_fd >= 0)
        ts_close(srv->udp_fd);
    srv->udp_fd = -1;
    free(srv->udp_buf);
    srv->udp_buf = NULL;
}

/* One loop over every socket: the UDP one first in the table, then the TCP side's. */
static int serve(struct echo_server *srv)
{
    struct pollfd fds[1 + ECHO_TCP_MAX_POLLFDS];
    while (!ts_app_stop_requested()) {
        size_t n = 0;
        if (srv->udp_fd >= 0)
            fds[n++] = (struct pollfd){.fd = srv->udp_fd, .events = POLLIN};
        size_t tcp_first = n;
        if (srv->tcp_open)
            n += echo_tcp_pollfds(&srv->tcp, fds + n);
        if (ts_poll(fds, (nfds_t)n, TS_APP_STOP_CHECK_MS) < 0 && errno != EINTR) {
            fprintf(stderr, "ts-echo: poll: %s\n", strerror(errno));
            return -1;
        }
        if (srv->udp_fd >= 0 && fds[0].revents != 0 && echo_ready_datagrams(srv->udp_fd, srv->udp_buf, &srv->udp) < 0)
            return -1;
        if (srv->tcp_open)
            echo_tcp_handle(&srv->tcp, fds + tcp_first, n - tcp_first);
    }
    return 0;
}

static void print_totals(const struct echo_server *srv)
{
    if (srv->tcp_open) {
        const struct echo_tcp *t = &srv->tcp;
        printf("ts-echo: stopped: tcp: %" PRIu64 " connections (%" PRIu64 " closed by the client, %" PRIu64
               " failed), echoed %" PRIu64 " bytes\n",
               t->accepted, t->closed_cleanly, t->reset, t->bytes);
    }
    if (srv->udp_fd >= 0) {
        const struct echo_udp_totals *t = &srv->udp;
        printf("ts-echo: stopped: echoed %" PRIu64 " datagrams (%" PRIu64 " bytes), %" PRIu64
               " could not be sent back, %" PRIu64 " ICMP errors\n",
               t->datagrams, t->bytes, t->send_failures, t->async_errors);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct echo_args args = {.udp = false, .tcp = false, .port = ECHO_DEFAULT_PORT};
    struct ts_app_desc desc = echo_desc_template;
    desc.handle = handle_echo_option;
    desc.ctx = &args;

    struct ts_app app;
    int parsed = ts_app_parse(&desc, argc, argv, &app);
    if (parsed != TS_APP_PARSE_CONTINUE)
        return parsed;
    if (!args.udp)
        args.tcp = true;
    if (ts_app_start(&app) < 0)
        return TS_APP_EXIT_FAILURE;

    struct echo_server srv = {.udp_fd = -1};
    int rc = open_server(&srv, &app, &args);
    if (rc == 0) {
        rc = serve(&srv);
        print_totals(&srv);
    }
    close_server(&srv);
    ts_app_finish(&app);
    return rc < 0 ? TS_APP_EXIT_FAILURE : TS_APP_EXIT_OK;
}
