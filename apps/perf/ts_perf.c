/*
 * ts-perf: bulk TCP throughput over tapstack, as a server (-s) or a client (-c HOST).
 *
 * Wire protocol, simple enough for a ten-line kernel-side program or nc to be
 * the other end (port 5201 by default):
 *
 *   1. The client connects and sends one line:
 *        "SEND\n"  the client sends, the server counts and discards (the default);
 *        "RECV\n"  the server sends, the client counts and discards (-R).
 *      A RECV line may say how much: "RECV 1048576\n" (bytes) or "RECV 2.5s\n"
 *      (seconds); without it the server sends for 10 s. ts-perf always says.
 *   2. The sender streams data (any bytes) until its time or byte count is
 *      reached, then shuts down its write side (a FIN).
 *   3. The receiver counts the bytes after the command line until EOF, then
 *      closes. The sender reads (and drops) until that close.
 *
 * Both sides print "received N bytes in T s: X Gbit/s" or "sent N bytes in
 * T s: X Gbit/s"; a sender's time ends when its FIN is acknowledged, so it
 * covers the delivery of every byte. E.g. a kernel-side client for -s:
 *   { printf 'SEND\n'; head -c 20M /dev/zero; } | nc -N 10.0.0.2 5201
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perf.h"
#include "ts_app.h"

/* How long a server waits for a client's command line, and for its close after a RECV. */
#define PERF_LINE_TIMEOUT TS_SEC(10)
#define PERF_CLOSE_TIMEOUT TS_SEC(10)
#define PERF_MAX_DURATION TS_SEC(86400)

enum { OPT_PORT = 'p' };

struct perf_args {
    bool server, client, reverse;
    const char *host_text;
    ts_ipv4_addr host;
    uint16_t port;
    struct perf_limit limit;
    bool time_given, bytes_given;
};

static const struct option perf_long_opts[] = {
    {"port", required_argument, NULL, OPT_PORT},
    {NULL, 0, NULL, 0},
};

static const struct ts_app_desc perf_desc_template = {
    .name = "ts-perf",
    .usage = "-s [OPTIONS] | -c HOST [-t SECONDS | -n BYTES] [-R] [OPTIONS]",
    .summary = "Measure bulk TCP throughput to or from a tapstack instance.",
    .app_help =
        "  -s                   server: serve clients one after another until SIGINT/SIGTERM\n"
        "  -c HOST              client: connect to HOST (an IPv4 address, no name lookup)\n"
        "  -t SECONDS           client: send (or, with -R, have the server send) for SECONDS\n"
        "                       (default 10)\n"
        "  -n BYTES             client: transfer BYTES instead (suffix K, M or G: binary multiples)\n"
        "  -R                   client: reverse: the server sends, the client receives\n"
        "  -p, --port N         the TCP port (default 5201)\n"
        "With --stats, each side also prints the connection's TCP_INFO (retransmissions,\n"
        "RTT, cwnd) after each transfer.\n"
        "Wire protocol (a few lines of kernel-side code, or nc, can be the other end):\n"
        "  the client connects and sends one line, \"SEND\\n\" (the client sends, the server\n"
        "  discards) or \"RECV\\n\" (the server sends, the client discards); \"RECV N\\n\" asks\n"
        "  for N bytes, \"RECV Ts\\n\" for T seconds (default 10 s). The sender streams any\n"
        "  bytes, then shuts down its write side; the receiver counts the bytes after the\n"
        "  line until EOF, then closes. Both print 'received N bytes in T s: X Gbit/s'\n"
        "  or 'sent N bytes in T s: X Gbit/s'.\n"
        "Exit status: 0 after a complete transfer (the server: after SIGINT/SIGTERM), 1 on\n"
        "connection errors, 2 on usage errors.\n",
    .default_addr = "10.0.0.2/24",
    .short_opts = "sc:t:n:Rp:",
    .long_opts = perf_long_opts,
};

/* ---- arguments -------------------------------------------------------------------- */

/* A byte count with an optional binary suffix: "1048576", "512K", "20M", "1G". */
static int parse_bytes(const char *text, uint64_t *out)
{
    char digits[32];
    size_t len = strlen(text);
    if (len == 0 || len >= sizeof digits)
        return -1;
    memcpy(digits, text, len + 1);
    unsigned shift = 0;
    switch (toupper((unsigned char)digits[len - 1])) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    default: break;
    }
    if (shift != 0)
        digits[len - 1] = '\0';
    uint64_t v = 0;
    if (ts_app_parse_u64(digits, UINT64_MAX >> shift, &v) < 0 || v == 0)
        return -1;
    *out = v << shift;
    return 0;
}

static int handle_perf_option(void *ctx, int opt, const char *arg)
{
    struct perf_args *a = ctx;
    const struct ts_app_desc *d = &perf_desc_template;
    uint64_t port = 0;
    switch (opt) {
    case 's':
        a->server = true;
        return 0;
    case 'c':
        if (ts_app_parse_ipv4(arg, &a->host) < 0 || a->host == 0)
            return ts_app_usage_error(d, "-c '%s': expected an IPv4 address A.B.C.D (no name lookup)", arg);
        a->client = true;
        a->host_text = arg;
        return 0;
    case 't':
        if (ts_app_parse_seconds(arg, TS_MSEC(1), PERF_MAX_DURATION, &a->limit.duration) < 0)
            return ts_app_usage_error(d, "-t '%s': expected seconds between 0.001 and 86400", arg);
        a->time_given = true;
        return 0;
    case 'n':
        if (parse_bytes(arg, &a->limit.bytes) < 0)
            return ts_app_usage_error(d, "-n '%s': expected a byte count of 1 or more, e.g. 1048576 or 20M", arg);
        a->bytes_given = true;
        return 0;
    case 'R':
        a->reverse = true;
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

static int check_mode(const struct perf_args *a, const struct ts_app_desc *d)
{
    if (a->server == a->client)
        return ts_app_usage_error(d, "give either -s (server) or -c HOST (client) (try --help)");
    if (a->server && (a->time_given || a->bytes_given || a->reverse))
        return ts_app_usage_error(d, "-t, -n and -R are client options: the client tells the server");
    if (a->time_given && a->bytes_given)
        return ts_app_usage_error(d, "-t and -n exclude each other: give a time or a byte count");
    return 0;
}

/* ---- the command line ---------------------------------------------------------------- */

/* "RECV 1048576" / "RECV 2.5s" into lim; the server's default when nothing follows. */
static int parse_recv_limit(const char *text, struct perf_limit *lim)
{
    lim->bytes = 0;
    lim->duration = PERF_DEFAULT_DURATION;
    if (*text == '\0')
        return 0;
    if (*text != ' ')
        return -1;
    text++;
    size_t len = strlen(text);
    if (len > 1 && text[len - 1] == 's') {
        char secs[32];
        if (len >= sizeof secs)
            return -1;
        memcpy(secs, text, len - 1);
        secs[len - 1] = '\0';
        return ts_app_parse_seconds(secs, TS_MSEC(1), PERF_MAX_DURATION, &lim->duration);
    }
    return ts_app_parse_u64(text, UINT64_MAX, &lim->bytes) < 0 || lim->bytes == 0 ? -1 : 0;
}

/* Reads one line, byte by byte so that no payload after it is taken; strips "\n" or "\r\n". */
static int read_command_line(int fd, char *line, size_t cap)
{
    ts_time deadline = ts_monotonic_now() + PERF_LINE_TIMEOUT;
    size_t len = 0;
    while (len + 1 < cap) {
        char c;
        ssize_t n = ts_recv(fd, &c, 1, 0);
        if (n == 1 && c == '\n') {
            if (len > 0 && line[len - 1] == '\r')
                len--;
            line[len] = '\0';
            return 0;
        }
        if (n == 1) {
            line[len++] = c;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return -1;
        if (perf_wait(fd, POLLIN, deadline) <= 0)
            return -1;
    }
    return -1;
}

static int send_command_line(int fd, const char *line)
{
    size_t len = strlen(line), done = 0;
    while (done < len) {
        ssize_t n = ts_send(fd, line + done, len - done, 0);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        if (perf_wait(fd, POLLOUT, 0) <= 0)
            return -1;
    }
    return 0;
}

static void format_recv_line(const struct perf_limit *lim, char *line, size_t cap)
{
    if (lim->bytes != 0)
        snprintf(line, cap, "RECV %" PRIu64 "\n", lim->bytes);
    else
        snprintf(line, cap, "RECV %" PRId64 ".%06" PRId64 "s\n", lim->duration / 1000000, lim->duration % 1000000);
}

/* ---- the server -------------------------------------------------------------------------- */

static int open_listener(const struct ts_app *app, uint16_t port)
{
    int fd = ts_socket_on(app->net, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        fprintf(stderr, "ts-perf: cannot open a TCP socket: %s\n", strerror(errno));
        return -1;
    }
    int one = 1;
    (void)ts_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in local = ts_app_sockaddr(0, port);
    if (ts_bind(fd, (const struct sockaddr *)&local, sizeof local) < 0 || ts_listen(fd, 4) < 0) {
        fprintf(stderr, "ts-perf: cannot listen on tcp port %u: %s\n", port, strerror(errno));
        ts_close(fd);
        return -1;
    }
    return fd;
}

/* Runs one client's transfer, as its command line asks. */
static void serve_client(const struct ts_app *app, int fd, const char *who)
{
    char line[PERF_LINE_MAX];
    if (read_command_line(fd, line, sizeof line) < 0) {
        if (!ts_app_stop_requested())
            fprintf(stderr, "%s: no command line (\"SEND\" or \"RECV\") within 10 s\n", who);
        return;
    }
    struct perf_result res;
    struct perf_limit lim;
    if (strcmp(line, "SEND") == 0) {
        printf("%s: client sends\n", who);
        fflush(stdout);
        perf_recv_stream(who, fd, &res);
        perf_print_summary(who, "received", &res);
    } else if (strncmp(line, "RECV", 4) == 0 && parse_recv_limit(line + 4, &lim) == 0) {
        printf("%s: client receives\n", who);
        fflush(stdout);
        if (perf_send_stream(who, fd, &lim, &res) == 0)
            (void)perf_drain_until_eof(fd, PERF_CLOSE_TIMEOUT);
        perf_print_summary(who, "sent", &res);
    } else {
        fprintf(stderr, "%s: unknown command line '%.40s' (expected SEND, RECV, RECV N or RECV Ts)\n", who, line);
        return;
    }
    if (app->opt.stats)
        perf_print_tcp_info(who, fd);
}

static int run_server(const struct ts_app *app, uint16_t port)
{
    int lfd = open_listener(app, port);
    if (lfd < 0)
        return TS_APP_EXIT_FAILURE;
    char addr[16];
    printf("ts-perf: listening on tcp %s:%u (dev %s)\n", ts_app_format_ipv4(app->opt.addr, addr), port, app->opt.dev);
    fflush(stdout);
    uint64_t served = 0;
    while (perf_wait(lfd, POLLIN, 0) > 0) {
        struct sockaddr_in from;
        socklen_t fromlen = sizeof from;
        int fd = ts_accept4(lfd, (struct sockaddr *)&from, &fromlen, SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED && errno != EINTR)
                fprintf(stderr, "ts-perf: accept: %s\n", strerror(errno));
            continue;
        }
        char who[64];
        snprintf(who, sizeof who, "ts-perf: %s:%u", ts_app_format_ipv4(ntohl(from.sin_addr.s_addr), addr),
                 ntohs(from.sin_port));
        serve_client(app, fd, who);
        ts_close(fd);
        served++;
    }
    ts_close(lfd);
    printf("ts-perf: stopped after %" PRIu64 " clients\n", served);
    fflush(stdout);
    return TS_APP_EXIT_OK;
}

/* ---- the client ------------------------------------------------------------------------- */

static int connect_to_server(const struct ts_app *app, const struct perf_args *a)
{
    int fd = ts_socket_on(app->net, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        fprintf(stderr, "ts-perf: cannot open a TCP socket: %s\n", strerror(errno));
        return -1;
    }
    struct sockaddr_in peer = ts_app_sockaddr(a->host, a->port);
    int err = 0;
    if (ts_connect(fd, (const struct sockaddr *)&peer, sizeof peer) < 0) {
        err = errno;
        if (err == EINPROGRESS) {
            int ready = perf_wait(fd, POLLOUT, 0);
            socklen_t len = sizeof err;
            if (ready < 0)
                err = errno;
            else if (ready == 0)
                err = EINTR;
            else if (ts_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
        }
    }
    if (err != 0) {
        fprintf(stderr, "ts-perf: connect to %s port %u: %s\n", a->host_text, a->port, strerror(err));
        ts_close(fd);
        return -1;
    }
    return fd;
}

static int run_client(const struct ts_app *app, const struct perf_args *a)
{
    int fd = connect_to_server(app, a);
    if (fd < 0)
        return TS_APP_EXIT_FAILURE;
    char line[PERF_LINE_MAX];
    if (a->reverse)
        format_recv_line(&a->limit, line, sizeof line);
    else
        snprintf(line, sizeof line, "SEND\n");
    const char *who = "ts-perf";
    int rc = send_command_line(fd, line);
    if (rc < 0)
        fprintf(stderr, "%s: sending the command line: %s\n", who, strerror(errno));
    struct perf_result res = {0};
    if (rc == 0 && a->reverse) {
        rc = perf_recv_stream(who, fd, &res);
        perf_print_summary(who, "received", &res);
    } else if (rc == 0) {
        rc = perf_send_stream(who, fd, &a->limit, &res);
        /* The server closes once it has counted everything: its close ends the exchange. */
        if (rc == 0 && perf_drain_until_eof(fd, PERF_CLOSE_TIMEOUT) < 0 && !ts_app_stop_requested())
            fprintf(stderr, "%s: the server did not close within 10 s of our FIN\n", who);
        perf_print_summary(who, "sent", &res);
    }
    if (app->opt.stats)
        perf_print_tcp_info(who, fd);
    ts_close(fd);
    return rc == 0 ? TS_APP_EXIT_OK : TS_APP_EXIT_FAILURE;
}

int main(int argc, char **argv)
{
    struct perf_args args = {.port = PERF_DEFAULT_PORT, .limit = {.duration = PERF_DEFAULT_DURATION}};
    struct ts_app_desc desc = perf_desc_template;
    desc.handle = handle_perf_option;
    desc.ctx = &args;

    struct ts_app app;
    int parsed = ts_app_parse(&desc, argc, argv, &app);
    if (parsed != TS_APP_PARSE_CONTINUE)
        return parsed;
    if (check_mode(&args, &desc) < 0)
        return TS_APP_EXIT_USAGE;
    if (ts_app_start(&app) < 0)
        return TS_APP_EXIT_FAILURE;
    int status = args.server ? run_server(&app, args.port) : run_client(&app, &args);
    ts_app_finish(&app);
    return status;
}
