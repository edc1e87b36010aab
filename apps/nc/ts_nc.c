/*
 * ts-nc: netcat over tapstack. Connects to HOST PORT (or, with -l, waits for
 * one connection on PORT), then copies stdin to the connection and the
 * connection to stdout, both at once (nc_pump.c).
 *
 * As OpenBSD nc with -N: stdin's EOF shuts down our write side (a FIN) while
 * the peer's data still arrives; the session is over when both directions
 * are: our FIN acknowledged, the peer's FIN read. -l serves one connection.
 * With -u the same over UDP: each read of stdin is one datagram, and -l talks
 * to the first peer that sends.
 *
 * Exit status: 0 when the session completed, 1 on connection errors
 * ("ts-nc: connect to HOST port PORT: Connection refused"), 2 on usage errors.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nc_pump.h"
#include "ts_app.h"

#define NC_FIRST_DGRAM_MAX 65536

struct nc_args {
    bool listen, udp, verbose;
    ts_time timeout; /* -w: connect and idle timeout; 0 = none */
    const char *host_text;
    ts_ipv4_addr host;
    const char *port_text;
    uint16_t port;
    int operands;
};

static const struct ts_app_desc nc_desc_template = {
    .name = "ts-nc",
    .usage = "[OPTIONS] HOST PORT | -l [OPTIONS] PORT",
    .summary = "Copy stdin to a TCP (or UDP) connection and the connection to stdout, from a tapstack instance.",
    .app_help = "  -l                   listen on PORT for one connection instead of connecting\n"
                "  -u                   UDP: each read of stdin is one datagram; with -l, talk to the\n"
                "                       first peer that sends\n"
                "  -w SECONDS           give up connecting after SECONDS (-l waits for its peer as\n"
                "                       long as it takes), and end the session once nothing has\n"
                "                       moved either way for SECONDS (default: never)\n"
                "  -v                   say on stderr when the connection is made\n"
                "At EOF on stdin our side of the connection is shut down (a FIN, as OpenBSD nc -N)\n"
                "while the peer's data still goes to stdout; the session ends when both directions\n"
                "have. HOST is an IPv4 address (no name lookup). UDP sessions have no end of their\n"
                "own: SIGINT, SIGTERM or -w ends them.\n"
                "Exit status: 0 when the session completed, 1 on connection errors (refused, reset,\n"
                "timed out, interrupted TCP sessions), 2 on usage errors.\n",
    .default_addr = "10.0.0.2/24",
    .short_opts = "luvw:",
    .long_opts = NULL,
};

static int take_operand(struct nc_args *a, const struct ts_app_desc *d, const char *arg)
{
    /* Which operand is which is known only at the end (-l may come last): keep the text. */
    if (a->operands == 0)
        a->host_text = arg;
    else if (a->operands == 1)
        a->port_text = arg;
    else
        return ts_app_usage_error(d, "unexpected argument '%s' (try --help)", arg);
    a->operands++;
    return 0;
}

static int handle_nc_option(void *ctx, int opt, const char *arg)
{
    struct nc_args *a = ctx;
    const struct ts_app_desc *d = &nc_desc_template;
    switch (opt) {
    case 0:
        return take_operand(a, d, arg);
    case 'l':
        a->listen = true;
        return 0;
    case 'u':
        a->udp = true;
        return 0;
    case 'v':
        a->verbose = true;
        return 0;
    case 'w':
        if (ts_app_parse_seconds(arg, TS_MSEC(1), TS_SEC(86400), &a->timeout) < 0)
            return ts_app_usage_error(d, "-w '%s': expected seconds between 0.001 and 86400", arg);
        return 0;
    default:
        return ts_app_usage_error(d, "unexpected option %d", opt);
    }
}

/* Sorts the operands out once every option is known. */
static int check_operands(struct nc_args *a, const struct ts_app_desc *d)
{
    if (a->listen) {
        if (a->operands != 1)
            return ts_app_usage_error(d, "-l takes one operand, the PORT to listen on (try --help)");
        a->port_text = a->host_text;
        a->host_text = NULL;
    } else {
        if (a->operands != 2)
            return ts_app_usage_error(d, "expected HOST PORT (try --help)");
        if (ts_app_parse_ipv4(a->host_text, &a->host) < 0 || a->host == 0)
            return ts_app_usage_error(d, "HOST '%s': expected an IPv4 address A.B.C.D (no name lookup)",
                                      a->host_text);
    }
    uint64_t port = 0;
    if (ts_app_parse_u64(a->port_text, 65535, &port) < 0 || port == 0)
        return ts_app_usage_error(d, "PORT '%s': expected a port number 1..65535", a->port_text);
    a->port = (uint16_t)port;
    return 0;
}

static const char *proto_name(const struct nc_args *a)
{
    return a->udp ? "udp" : "tcp";
}

/* Waits for events on fd, a stop request or the deadline (0 = none); returns 1, 0 (stop/deadline) or -1. */
static int wait_for(int fd, short events, ts_time deadline)
{
    while (!ts_app_stop_requested()) {
        if (deadline != 0 && ts_monotonic_now() >= deadline)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = events};
        int ready = ts_poll(&pfd, 1, TS_APP_STOP_CHECK_MS);
        if (ready > 0)
            return 1;
        if (ready < 0 && errno != EINTR)
            return -1;
    }
    return 0;
}

static ts_time deadline_after(ts_time timeout)
{
    return timeout > 0 ? ts_monotonic_now() + timeout : 0;
}

static int open_socket(const struct ts_app *app, const struct nc_args *a)
{
    int type = (a->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK;
    int fd = ts_socket_on(app->net, AF_INET, type, 0);
    if (fd < 0)
        fprintf(stderr, "ts-nc: cannot open a %s socket: %s\n", proto_name(a), strerror(errno));
    return fd;
}

/* ---- connecting -------------------------------------------------------------------- */

static int report_connect_error(const struct nc_args *a, int err)
{
    fprintf(stderr, "ts-nc: connect to %s port %u: %s\n", a->host_text, a->port, strerror(err));
    return -1;
}

/* A non-blocking connect, so that SIGINT and -w are noticed while the handshake runs. */
static int connect_to_host(const struct ts_app *app, const struct nc_args *a)
{
    int fd = open_socket(app, a);
    if (fd < 0)
        return -1;
    struct sockaddr_in peer = ts_app_sockaddr(a->host, a->port);
    if (ts_connect(fd, (const struct sockaddr *)&peer, sizeof peer) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        report_connect_error(a, errno);
        ts_close(fd);
        return -1;
    }
    int ready = wait_for(fd, POLLOUT, deadline_after(a->timeout));
    int err = ETIMEDOUT;
    if (ready < 0)
        err = errno;
    if (ready > 0) {
        socklen_t len = sizeof err;
        if (ts_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
    }
    if (ready > 0 && err == 0)
        return fd;
    if (ready == 0 && ts_app_stop_requested())
        err = EINTR;
    report_connect_error(a, err);
    ts_close(fd);
    return -1;
}

/* ---- listening ---------------------------------------------------------------------- */

static int bind_port(int fd, const struct nc_args *a)
{
    int one = 1;
    (void)ts_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in local = ts_app_sockaddr(0, a->port);
    if (ts_bind(fd, (const struct sockaddr *)&local, sizeof local) < 0) {
        fprintf(stderr, "ts-nc: cannot bind %s port %u: %s\n", proto_name(a), a->port, strerror(errno));
        return -1;
    }
    return 0;
}

static void say_listening(const struct ts_app *app, const struct nc_args *a)
{
    char addr[16];
    if (a->verbose)
        fprintf(stderr, "ts-nc: listening on %s %s port %u\n", proto_name(a), ts_app_format_ipv4(app->opt.addr, addr),
                a->port);
}

static void say_received(const struct nc_args *a, const struct sockaddr_in *from)
{
    char addr[16];
    if (a->verbose)
        fprintf(stderr, "ts-nc: connection received on %s %s port %u\n", proto_name(a),
                ts_app_format_ipv4(ntohl(from->sin_addr.s_addr), addr), ntohs(from->sin_port));
}

/* Waits for one TCP connection on the port, then stops listening (as nc without -k). */
static int accept_one(const struct ts_app *app, const struct nc_args *a)
{
    int lfd = open_socket(app, a);
    if (lfd < 0)
        return -1;
    if (bind_port(lfd, a) < 0) {
        ts_close(lfd);
        return -1;
    }
    if (ts_listen(lfd, 1) < 0) {
        fprintf(stderr, "ts-nc: cannot listen on tcp port %u: %s\n", a->port, strerror(errno));
        ts_close(lfd);
        return -1;
    }
    say_listening(app, a);
    int fd = -1;
    while (fd < 0 && wait_for(lfd, POLLIN, 0) > 0) {
        struct sockaddr_in from;
        socklen_t fromlen = sizeof from;
        fd = ts_accept4(lfd, (struct sockaddr *)&from, &fromlen, SOCK_NONBLOCK);
        if (fd >= 0)
            say_received(a, &from);
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED && errno != EINTR)
            fprintf(stderr, "ts-nc: accept: %s\n", strerror(errno));
    }
    ts_close(lfd);
    return fd;
}

/* Waits for the first datagram on the port, connects the socket to its sender and copies it to stdout. */
static int first_udp_peer(const struct ts_app *app, const struct nc_args *a)
{
    int fd = open_socket(app, a);
    if (fd < 0)
        return -1;
    if (bind_port(fd, a) < 0) {
        ts_close(fd);
        return -1;
    }
    say_listening(app, a);
    uint8_t *buf = malloc(NC_FIRST_DGRAM_MAX);
    ssize_t n = -1;
    struct sockaddr_in from;
    while (buf != NULL && n < 0 && wait_for(fd, POLLIN, 0) > 0) {
        socklen_t fromlen = sizeof from;
        n = ts_recvfrom(fd, buf, NC_FIRST_DGRAM_MAX, 0, (struct sockaddr *)&from, &fromlen);
    }
    if (n >= 0 && ts_connect(fd, (const struct sockaddr *)&from, sizeof from) < 0) {
        fprintf(stderr, "ts-nc: connect to the first peer: %s\n", strerror(errno));
        n = -1;
    }
    if (n >= 0) {
        say_received(a, &from);
        if (write(STDOUT_FILENO, buf, (size_t)n) != n)
            fprintf(stderr, "ts-nc: write to stdout: %s\n", strerror(errno));
    }
    free(buf);
    if (n < 0) {
        ts_close(fd);
        return -1;
    }
    return fd;
}

static int establish(const struct ts_app *app, const struct nc_args *a)
{
    if (!a->listen) {
        int fd = connect_to_host(app, a);
        if (fd >= 0 && a->verbose)
            fprintf(stderr, "ts-nc: connection to %s %u port [%s] succeeded!\n", a->host_text, a->port,
                    proto_name(a));
        return fd;
    }
    return a->udp ? first_udp_peer(app, a) : accept_one(app, a);
}

int main(int argc, char **argv)
{
    struct nc_args args = {0};
    struct ts_app_desc desc = nc_desc_template;
    desc.handle = handle_nc_option;
    desc.ctx = &args;

    struct ts_app app;
    int parsed = ts_app_parse(&desc, argc, argv, &app);
    if (parsed != TS_APP_PARSE_CONTINUE)
        return parsed;
    if (check_operands(&args, &desc) < 0)
        return TS_APP_EXIT_USAGE;
    /* A reader of our stdout that goes away is an error to report, not a reason to die silently. */
    signal(SIGPIPE, SIG_IGN);
    if (ts_app_start(&app) < 0)
        return TS_APP_EXIT_FAILURE;

    int status = TS_APP_EXIT_FAILURE;
    int fd = establish(&app, &args);
    if (fd >= 0) {
        struct nc_session session = {.fd = fd, .stream = !args.udp, .idle_timeout = args.timeout};
        status = nc_pump_run(&session);
        ts_close(fd);
    }
    ts_app_finish(&app);
    return status;
}
