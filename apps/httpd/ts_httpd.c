/*
 * ts-httpd: a static file server speaking HTTP/1.1 (RFC 9110, RFC 9112) over
 * tapstack's TCP.
 *
 * One thread runs a ts_poll loop over the listening socket and every
 * connection, all non-blocking. A connection reads a request head (at most
 * HTTP_MAX_REQUEST_HEAD bytes), builds the response (httpd_response.c) and
 * writes it as the socket takes it: the head, then the body from memory or
 * from the file, one chunk at a time, so a large file never sits in memory
 * and a slow client holds up nobody else. Requests on a persistent connection
 * are answered in order, pipelined ones included. A connection that is to end
 * is half-closed and its unread input drained for a while before the close
 * (RFC 9112 section 9.6), so the client sees the whole response rather than a
 * reset.
 *
 * Bounds: at most --max-conns connections (the listener is not polled while
 * they are all in use: newcomers wait in the backlog), and one that makes no
 * progress, or whose request head does not arrive whole, within
 * --idle-timeout is dropped.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_parse.h"
#include "httpd_response.h"
#include "ts_app.h"

#define HTTPD_DEFAULT_PORT 80
#define HTTPD_DEFAULT_MAX_CONNS 64
#define HTTPD_MAX_CONNS_LIMIT 1024
#define HTTPD_DEFAULT_IDLE_US (30 * 1000000LL)
#define HTTPD_LINGER_US (2 * 1000000LL) /* how long a closing connection's input is drained */
#define HTTPD_BACKLOG 64
#define HTTPD_CHUNK (64 * 1024)   /* file bytes read and sent per step */
#define HTTPD_STEPS_PER_WAKE 16   /* steps one connection may take before the others get a turn */
#define HTTPD_LOG_REQUEST_MAX 200 /* bytes of the request line kept for the log */

enum { OPT_PORT = 'p', OPT_ROOT = 'r', OPT_MAX_CONNS = 1100, OPT_IDLE };

struct httpd_args {
    uint16_t port;
    const char *root;
    size_t max_conns;
    ts_time idle;
};

enum conn_phase { CONN_READING, CONN_WRITING, CONN_LINGERING, CONN_CLOSED };
enum send_stage { SEND_HEAD, SEND_MEMORY, SEND_FILE, SEND_DONE };
enum step_result { STEP_MORE, STEP_WAIT };

struct conn {
    int fd;
    char peer[16];
    enum conn_phase phase;
    bool busy; /* used up its steps with work left: serve it again without waiting for an event */
    /*
     * When the current wait began: reading a request (its head must arrive whole within --idle-timeout,
     * so a client trickling bytes cannot hold a slot for ever), the last bytes sent, or the lingering.
     */
    ts_time last_progress;
    char in[HTTP_MAX_REQUEST_HEAD];
    size_t in_len;
    size_t head_len; /* bytes of in the request being answered took */
    struct httpd_response resp;
    enum send_stage stage;
    const char *pending; /* what is left to send of the current piece */
    size_t pending_len;
    char *chunk; /* HTTPD_CHUNK bytes for file data */
    uint64_t file_left;
    uint64_t body_sent;
    char log_request[HTTPD_LOG_REQUEST_MAX * 4 + 8]; /* each byte may become \xNN */
};

struct server {
    const struct ts_app *app;
    const struct httpd_args *args;
    int listen_fd;
    int root_fd;
    struct conn **conns;
    size_t n_conns;
    uint64_t connections, requests;
};

/* ---- arguments ---------------------------------------------------------------------------- */

static const struct option httpd_long_opts[] = {
    {"port", required_argument, NULL, OPT_PORT},
    {"root", required_argument, NULL, OPT_ROOT},
    {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
    {"idle-timeout", required_argument, NULL, OPT_IDLE},
    {NULL, 0, NULL, 0},
};

static const struct ts_app_desc httpd_desc_template = {
    .name = "ts-httpd",
    .usage = "[OPTIONS]",
    .summary = "Serve the files under a directory over HTTP/1.1 (GET and HEAD), from a tapstack instance.",
    .app_help = "  -p, --port N         the TCP port to serve (default 80)\n"
                "  -r, --root DIR       the directory to serve (default: the current one)\n"
                "  --max-conns N        connections served at once, 1..1024 (default 64);\n"
                "                       more wait in the listen backlog\n"
                "  --idle-timeout SECS  drop a connection when a request head takes longer than\n"
                "                       this to arrive, or a response makes no progress for\n"
                "                       this long (default 30)\n"
                "Logs one line per request on stdout: CLIENT \"REQUEST LINE\" STATUS BODY-BYTES.\n"
                "Runs until SIGINT or SIGTERM, then exits 0; 1 if the device, the socket or\n"
                "the root cannot be set up, 2 on a usage error.\n",
    .default_addr = "10.0.0.2/24",
    .short_opts = "p:r:",
    .long_opts = httpd_long_opts,
};

static int handle_httpd_option(void *ctx, int opt, const char *arg)
{
    struct httpd_args *a = ctx;
    const struct ts_app_desc *d = &httpd_desc_template;
    uint64_t v = 0;
    switch (opt) {
    case OPT_PORT:
        if (ts_app_parse_u64(arg, 65535, &v) < 0 || v == 0)
            return ts_app_usage_error(d, "--port '%s': expected a port number 1..65535", arg);
        a->port = (uint16_t)v;
        return 0;
    case OPT_ROOT:
        if (arg[0] == '\0')
            return ts_app_usage_error(d, "--root needs a directory");
        a->root = arg;
        return 0;
    case OPT_MAX_CONNS:
        if (ts_app_parse_u64(arg, HTTPD_MAX_CONNS_LIMIT, &v) < 0 || v == 0)
            return ts_app_usage_error(d, "--max-conns '%s': expected 1..%d", arg, HTTPD_MAX_CONNS_LIMIT);
        a->max_conns = (size_t)v;
        return 0;
    case OPT_IDLE:
        if (ts_app_parse_seconds(arg, 100000, 86400LL * 1000000, &a->idle) < 0)
            return ts_app_usage_error(d, "--idle-timeout '%s': expected seconds, 0.1..86400", arg);
        return 0;
    case 0:
        return ts_app_usage_error(d, "unexpected argument '%s' (try --help)", arg);
    default:
        return ts_app_usage_error(d, "unexpected option %d", opt);
    }
}

/* ---- the request log ------------------------------------------------------------------------ */

/* The request line as the log shows it: quotes, backslashes and non-printing bytes escaped, cut short. */
static void keep_request_line(struct conn *c, const char *line, size_t len)
{
    size_t w = 0;
    const size_t room = sizeof c->log_request;
    for (size_t i = 0; i < len && i < HTTPD_LOG_REQUEST_MAX && w + 5 < room; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch == '\r' || ch == '\n')
            break;
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            w += (size_t)snprintf(c->log_request + w, room - w, "\\x%02x", ch);
        else
            c->log_request[w++] = (char)ch;
    }
    if (len > HTTPD_LOG_REQUEST_MAX && w + 4 < room) {
        memcpy(c->log_request + w, "...", 3);
        w += 3;
    }
    c->log_request[w] = '\0';
}

static void log_request(const struct conn *c, const char *note)
{
    printf("%s \"%s\" %d %" PRIu64 "%s\n", c->peer, c->log_request, c->resp.status, c->body_sent, note);
    fflush(stdout);
}

/* ---- connections ----------------------------------------------------------------------------- */

static void conn_close(struct conn *c)
{
    if (c->phase == CONN_CLOSED)
        return;
    ts_close(c->fd);
    httpd_response_free(&c->resp);
    c->phase = CONN_CLOSED;
}

static void conn_free(struct conn *c)
{
    conn_close(c);
    free(c->chunk);
    free(c);
}

/* RFC 9112 section 9.6: half-close, then read and discard until the client closes too (or time runs out). */
static void conn_begin_linger(struct conn *c, ts_time now)
{
    if (ts_shutdown(c->fd, SHUT_WR) < 0) {
        conn_close(c);
        return;
    }
    c->phase = CONN_LINGERING;
    c->last_progress = now;
}

static void conn_abort_response(struct conn *c, const char *why)
{
    log_request(c, why);
    conn_close(c);
}

/* Starts answering: with the parsed head (head_len bytes of c->in), or with error status for what is there. */
static void conn_start_response(struct server *srv, struct conn *c, size_t head_len, int status)
{
    struct http_request req;
    bool parsed = false;
    keep_request_line(c, c->in, head_len > 0 ? head_len : c->in_len);
    if (status == 0) {
        status = http_parse_request(c->in, head_len, &req);
        parsed = status == 0;
        if (parsed)
            status = http_request_status(&req);
    }
    /* The body of a request is never read: after one, the stream cannot go on. */
    bool keep_alive = parsed && http_request_keeps_alive(&req) && !req.has_body;
    c->head_len = head_len;
    srv->requests++;
    if (httpd_build_response(srv->root_fd, parsed ? &req : NULL, status, keep_alive, &c->resp) < 0) {
        c->resp.status = 500;
        conn_abort_response(c, " (out of memory)");
        return;
    }
    c->phase = CONN_WRITING;
    c->stage = SEND_HEAD;
    c->pending = c->resp.head.data;
    c->pending_len = c->resp.head.len;
    c->file_left = c->resp.file_fd >= 0 && c->resp.send_body ? c->resp.content_length : 0;
    c->body_sent = 0;
}

/* The response is out: the connection ends, or waits for the next request (maybe already here). */
static void conn_finish_response(struct conn *c, ts_time now)
{
    log_request(c, "");
    bool close_after = c->resp.close;
    httpd_response_free(&c->resp);
    if (close_after) {
        conn_begin_linger(c, now);
        return;
    }
    memmove(c->in, c->in + c->head_len, c->in_len - c->head_len);
    c->in_len -= c->head_len;
    c->head_len = 0;
    c->phase = CONN_READING;
}

static enum step_result step_reading(struct server *srv, struct conn *c, ts_time now)
{
    size_t blank = http_leading_blank_lines(c->in, c->in_len);
    if (blank > 0) {
        memmove(c->in, c->in + blank, c->in_len - blank);
        c->in_len -= blank;
    }
    size_t head_len = http_head_length(c->in, c->in_len);
    if (head_len > 0) {
        conn_start_response(srv, c, head_len, 0);
        c->last_progress = now;
        return STEP_MORE;
    }
    if (c->in_len == sizeof c->in) {
        conn_start_response(srv, c, 0, 400); /* the head is longer than we accept */
        c->last_progress = now;
        return STEP_MORE;
    }
    ssize_t n = ts_recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, MSG_DONTWAIT);
    if (n > 0) {
        c->in_len += (size_t)n;
        return STEP_MORE;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return STEP_WAIT;
    /* The client closed (between requests, or with half a head: nothing to answer) or the connection failed. */
    conn_close(c);
    return STEP_WAIT;
}

/* Moves to the next piece of the response once the current one is out. */
static enum step_result next_piece(struct conn *c, ts_time now)
{
    if (c->stage == SEND_HEAD) {
        c->stage = c->resp.body.len > 0 && c->resp.send_body ? SEND_MEMORY : SEND_FILE;
        if (c->stage == SEND_MEMORY) {
            c->pending = c->resp.body.data;
            c->pending_len = c->resp.body.len;
        }
        return STEP_MORE;
    }
    if (c->stage == SEND_MEMORY || c->file_left == 0) {
        c->stage = SEND_DONE;
        conn_finish_response(c, now);
        return STEP_MORE;
    }
    size_t want = c->file_left < HTTPD_CHUNK ? (size_t)c->file_left : HTTPD_CHUNK;
    ssize_t got = read(c->resp.file_fd, c->chunk, want);
    if (got <= 0) {
        /* The file shrank (or broke) under us: the promised Content-Length cannot be kept. */
        conn_abort_response(c, got < 0 ? " (file read error)" : " (file shrank while sent)");
        return STEP_WAIT;
    }
    c->pending = c->chunk;
    c->pending_len = (size_t)got;
    c->file_left -= (uint64_t)got;
    return STEP_MORE;
}

static enum step_result step_writing(struct conn *c, ts_time now)
{
    if (c->pending_len == 0)
        return next_piece(c, now);
    ssize_t n = ts_send(c->fd, c->pending, c->pending_len, MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return STEP_WAIT;
        char why[96];
        snprintf(why, sizeof why, " (send failed: %s)", strerror(errno));
        conn_abort_response(c, why);
        return STEP_WAIT;
    }
    /* A partial write: the rest goes when the socket has room again. */
    if (c->stage != SEND_HEAD)
        c->body_sent += (uint64_t)n;
    c->pending += n;
    c->pending_len -= (size_t)n;
    return STEP_MORE;
}

static enum step_result step_lingering(struct conn *c)
{
    char discard[4096];
    ssize_t n = ts_recv(c->fd, discard, sizeof discard, MSG_DONTWAIT);
    if (n > 0)
        return STEP_MORE;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return STEP_WAIT;
    conn_close(c);
    return STEP_WAIT;
}

/*
 * Lets one connection do what it can, up to HTTPD_STEPS_PER_WAKE steps. If the
 * budget runs out with work left it is marked busy: work already taken from
 * the socket (a request head in c->in) raises no poll event of its own.
 */
static void conn_service(struct server *srv, struct conn *c, ts_time now)
{
    c->busy = false;
    for (int i = 0; i < HTTPD_STEPS_PER_WAKE; i++) {
        enum step_result r = STEP_WAIT;
        enum conn_phase before = c->phase;
        switch (c->phase) {
        case CONN_READING:
            r = step_reading(srv, c, now);
            break;
        case CONN_WRITING:
            r = step_writing(c, now);
            break;
        case CONN_LINGERING:
            r = step_lingering(c);
            break;
        case CONN_CLOSED:
            return;
        }
        if (r == STEP_WAIT)
            return;
        if (before == CONN_WRITING && c->phase != CONN_LINGERING)
            c->last_progress = now; /* bytes went out, or the next request's wait begins */
    }
    c->busy = c->phase != CONN_CLOSED;
}

static void conn_check_timeout(const struct server *srv, struct conn *c, ts_time now)
{
    ts_time limit = c->phase == CONN_LINGERING ? HTTPD_LINGER_US : srv->args->idle;
    if (c->phase == CONN_CLOSED || now - c->last_progress < limit)
        return;
    if (c->phase == CONN_WRITING)
        conn_abort_response(c, " (client stopped reading)");
    else
        conn_close(c);
}

/* ---- the server ---------------------------------------------------------------------------------- */

static struct conn *conn_new(int fd, const struct sockaddr_in *peer, ts_time now)
{
    struct conn *c = calloc(1, sizeof *c);
    char *chunk = malloc(HTTPD_CHUNK);
    if (c == NULL || chunk == NULL) {
        free(c);
        free(chunk);
        return NULL;
    }
    c->fd = fd;
    c->chunk = chunk;
    c->phase = CONN_READING;
    c->last_progress = now;
    c->resp.file_fd = -1;
    inet_ntop(AF_INET, &peer->sin_addr, c->peer, sizeof c->peer);
    return c;
}

static void accept_connections(struct server *srv, ts_time now)
{
    while (srv->n_conns < srv->args->max_conns) {
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        int fd = ts_accept4(srv->listen_fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "ts-httpd: accept: %s\n", strerror(errno));
            return;
        }
        struct conn *c = conn_new(fd, &peer, now);
        if (c == NULL) {
            fprintf(stderr, "ts-httpd: out of memory for a new connection; closing it\n");
            ts_close(fd);
            continue;
        }
        srv->conns[srv->n_conns++] = c;
        srv->connections++;
    }
}

static short conn_poll_events(const struct conn *c)
{
    return c->phase == CONN_WRITING ? POLLOUT : POLLIN;
}

/* Drops the closed connections, keeping the others in order. */
static void reap_connections(struct server *srv)
{
    size_t kept = 0;
    for (size_t i = 0; i < srv->n_conns; i++) {
        if (srv->conns[i]->phase == CONN_CLOSED)
            conn_free(srv->conns[i]);
        else
            srv->conns[kept++] = srv->conns[i];
    }
    srv->n_conns = kept;
}

static int serve(struct server *srv)
{
    size_t cap = srv->args->max_conns + 1;
    struct pollfd *pfds = calloc(cap, sizeof *pfds);
    srv->conns = calloc(srv->args->max_conns, sizeof *srv->conns);
    if (pfds == NULL || srv->conns == NULL) {
        fprintf(stderr, "ts-httpd: out of memory\n");
        free(pfds);
        return -1;
    }
    int rc = 0;
    while (!ts_app_stop_requested()) {
        /* The listener is polled only while there is room: the others wait in the backlog meanwhile. */
        nfds_t n = 0;
        bool accepting = srv->n_conns < srv->args->max_conns;
        if (accepting)
            pfds[n++] = (struct pollfd){.fd = srv->listen_fd, .events = POLLIN};
        bool any_busy = false;
        for (size_t i = 0; i < srv->n_conns; i++) {
            pfds[n++] = (struct pollfd){.fd = srv->conns[i]->fd, .events = conn_poll_events(srv->conns[i])};
            any_busy = any_busy || srv->conns[i]->busy;
        }
        if (ts_poll(pfds, n, any_busy ? 0 : TS_APP_STOP_CHECK_MS) < 0 && errno != EINTR) {
            fprintf(stderr, "ts-httpd: poll: %s\n", strerror(errno));
            rc = -1;
            break;
        }
        ts_time now = ts_monotonic_now();
        size_t first = accepting ? 1 : 0;
        size_t polled = srv->n_conns; /* connections accepted below were not in this poll */
        for (size_t i = 0; i < polled; i++) {
            if (pfds[first + i].revents != 0 || srv->conns[i]->busy)
                conn_service(srv, srv->conns[i], now);
            conn_check_timeout(srv, srv->conns[i], now);
        }
        if (accepting && (pfds[0].revents & POLLIN))
            accept_connections(srv, now);
        reap_connections(srv);
    }
    for (size_t i = 0; i < srv->n_conns; i++)
        conn_free(srv->conns[i]);
    srv->n_conns = 0;
    free(srv->conns);
    srv->conns = NULL;
    free(pfds);
    return rc;
}

static int open_listener(const struct ts_app *app, uint16_t port)
{
    int fd = ts_socket_on(app->net, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        fprintf(stderr, "ts-httpd: cannot open a TCP socket: %s\n", strerror(errno));
        return -1;
    }
    int one = 1;
    ts_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in local;
    memset(&local, 0, sizeof local);
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_ANY);
    local.sin_port = htons(port);
    if (ts_bind(fd, (const struct sockaddr *)&local, sizeof local) < 0) {
        fprintf(stderr, "ts-httpd: cannot bind tcp port %u: %s\n", port, strerror(errno));
        ts_close(fd);
        return -1;
    }
    if (ts_listen(fd, HTTPD_BACKLOG) < 0) {
        fprintf(stderr, "ts-httpd: cannot listen on tcp port %u: %s\n", port, strerror(errno));
        ts_close(fd);
        return -1;
    }
    return fd;
}

static int open_root(const char *root, char *shown, size_t shown_len)
{
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "ts-httpd: --root %s: %s\n", root, strerror(errno));
        return -1;
    }
    char *real = realpath(root, NULL);
    snprintf(shown, shown_len, "%s", real != NULL ? real : root);
    free(real);
    return fd;
}

int main(int argc, char **argv)
{
    struct httpd_args args = {
        .port = HTTPD_DEFAULT_PORT, .root = ".", .max_conns = HTTPD_DEFAULT_MAX_CONNS, .idle = HTTPD_DEFAULT_IDLE_US};
    struct ts_app_desc desc = httpd_desc_template;
    desc.handle = handle_httpd_option;
    desc.ctx = &args;

    struct ts_app app;
    int parsed = ts_app_parse(&desc, argc, argv, &app);
    if (parsed != TS_APP_PARSE_CONTINUE)
        return parsed;
    char root_shown[PATH_MAX];
    int root_fd = open_root(args.root, root_shown, sizeof root_shown);
    if (root_fd < 0)
        return TS_APP_EXIT_FAILURE;
    if (ts_app_start(&app) < 0) {
        close(root_fd);
        return TS_APP_EXIT_FAILURE;
    }
    struct server srv = {.app = &app, .args = &args, .root_fd = root_fd, .listen_fd = -1};
    int rc = -1;
    srv.listen_fd = open_listener(&app, args.port);
    if (srv.listen_fd >= 0) {
        char addr[16];
        printf("ts-httpd: serving %s on http://%s:%u/ (dev %s)\n", root_shown, ts_app_format_ipv4(app.opt.addr, addr),
               args.port, app.opt.dev);
        fflush(stdout);
        rc = serve(&srv);
        ts_close(srv.listen_fd);
        printf("ts-httpd: stopped: %" PRIu64 " requests on %" PRIu64 " connections\n", srv.requests,
               srv.connections);
        fflush(stdout);
    }
    ts_app_finish(&app);
    close(root_fd);
    return rc < 0 ? TS_APP_EXIT_FAILURE : TS_APP_EXIT_OK;
}
