/*
 * ts-get: fetch one http:// URL over tapstack's TCP and write the body to
 * stdout or a file (HTTP/1.1, RFC 9110 and RFC 9112).
 *
 * The request asks for "Connection: close", so the exchange is one request
 * and one response. The response head is parsed with http_parse.c; the body
 * is delimited as RFC 9112 section 6.3 says: Content-Length bytes, the chunked
 * coding (http_chunked.c), or everything up to the close. Anything short of a
 * complete 2xx body is a failure with its own message and exit status 1:
 * a refused or timed-out connection, a non-2xx status (3xx redirects are
 * reported, not followed), a malformed response, a body cut short.
 *
 * There is no DNS: the URL's host must be an IPv4 address.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http_chunked.h"
#include "http_parse.h"
#include "ts_app.h"

#define GET_DEFAULT_TIMEOUT_US (30 * 1000000LL)
#define GET_BUF_LEN (64 * 1024) /* the response head must fit; body bytes pass through it */
#define GET_PATH_MAX 4096
#define GET_PROGRESS_EVERY_US 200000
#define GET_USER_AGENT "ts-get/0.1 (tapstack)"

enum { OPT_OUTPUT = 'o', OPT_TIMEOUT = 't' };

struct get_args {
    const char *url;
    const char *output; /* NULL: stdout */
    ts_time timeout;    /* the longest wait for the connection or for the next bytes */
};

struct url {
    ts_ipv4_addr host;
    uint16_t port;
    char authority[32]; /* host[:port], as the Host field sends it */
    char path[GET_PATH_MAX];
};

struct progress {
    bool shown;   /* stderr is a terminal */
    bool drawing; /* a bar is on the current stderr line: a message must start on a new one */
    ts_time start, last_draw;
};

struct getter {
    const struct get_args *args;
    const struct url *url;
    int fd;
    char *buf;
    size_t len; /* bytes in buf */
    struct http_response_head resp;
    enum http_body_framing framing;
    struct http_chunked chunked;
    uint64_t body_bytes;
    bool body_done;
    FILE *out;
    const char *out_name;
    struct progress progress;
};

/* ---- arguments ------------------------------------------------------------------------------ */

static const struct option get_long_opts[] = {
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {NULL, 0, NULL, 0},
};

static const struct ts_app_desc get_desc_template = {
    .name = "ts-get",
    .usage = "[OPTIONS] http://HOST[:PORT]/PATH",
    .summary = "Fetch a URL with HTTP/1.1 GET from a tapstack instance and write the body out.\n"
               "HOST is an IPv4 address: there is no DNS.",
    .app_help = "  -o, --output FILE    write the body to FILE (default: stdout)\n"
                "  -t, --timeout SECS   give up when connecting, or waiting for more of the\n"
                "                       response, takes longer than this (default 30)\n"
                "A progress bar goes to stderr when stderr is a terminal. Redirects (3xx) are\n"
                "reported, not followed.\n"
                "Exit status: 0 when a 2xx body arrived whole; 1 on any failure (connection,\n"
                "non-2xx status, malformed or truncated response); 2 on a usage error.\n",
    .default_addr = "10.0.0.2/24",
    .short_opts = "o:t:",
    .long_opts = get_long_opts,
};

static int handle_get_option(void *ctx, int opt, const char *arg)
{
    struct get_args *a = ctx;
    const struct ts_app_desc *d = &get_desc_template;
    switch (opt) {
    case OPT_OUTPUT:
        if (arg[0] == '\0')
            return ts_app_usage_error(d, "--output needs a file name");
        a->output = arg;
        return 0;
    case OPT_TIMEOUT:
        if (ts_app_parse_seconds(arg, 100000, 86400LL * 1000000, &a->timeout) < 0)
            return ts_app_usage_error(d, "--timeout '%s': expected seconds, 0.1..86400", arg);
        return 0;
    case 0:
        if (a->url != NULL)
            return ts_app_usage_error(d, "one URL only ('%s' and '%s')", a->url, arg);
        a->url = arg;
        return 0;
    default:
        return ts_app_usage_error(d, "unexpected option %d", opt);
    }
}

/* ---- the URL (RFC 3986, the http scheme of RFC 9110 section 4.2.1) ------------------------------ */

static int parse_authority(const struct ts_app_desc *d, const char *s, size_t len, struct url *u)
{
    char text[64];
    if (memchr(s, '@', len) != NULL)
        return ts_app_usage_error(d, "URL: user information (user@host) is not supported");
    if (len == 0 || len >= sizeof text)
        return ts_app_usage_error(d, "URL: expected http://HOST[:PORT]/PATH with HOST an IPv4 address");
    if (s[0] == '[')
        return ts_app_usage_error(d, "URL: IPv6 addresses are not supported: HOST must be an IPv4 address");
    memcpy(text, s, len);
    text[len] = '\0';
    u->port = 80;
    char *colon = strchr(text, ':');
    if (colon != NULL) {
        *colon = '\0';
        uint64_t port = 0;
        /* RFC 3986 section 3.2.3: an empty port means the scheme's default. */
        if (colon[1] != '\0' && (ts_app_parse_u64(colon + 1, 65535, &port) < 0 || port == 0))
            return ts_app_usage_error(d, "URL: port '%s' is not a number 1..65535", colon + 1);
        if (colon[1] != '\0')
            u->port = (uint16_t)port;
    }
    if (ts_app_parse_ipv4(text, &u->host) < 0)
        return ts_app_usage_error(d, "URL: host '%s' is not an IPv4 address (ts-get has no DNS)", text);
    char addr[16];
    ts_app_format_ipv4(u->host, addr);
    if (u->port == 80)
        snprintf(u->authority, sizeof u->authority, "%s", addr);
    else
        snprintf(u->authority, sizeof u->authority, "%s:%u", addr, u->port);
    return 0;
}

static int parse_url(const struct ts_app_desc *d, const char *url, struct url *u)
{
    static const char scheme[] = "http://";
    if (strncasecmp(url, scheme, sizeof scheme - 1) != 0) {
        if (strstr(url, "://") != NULL)
            return ts_app_usage_error(d, "URL '%s': only http:// is supported", url);
        return ts_app_usage_error(d, "URL '%s': expected http://HOST[:PORT]/PATH", url);
    }
    const char *authority = url + sizeof scheme - 1;
    size_t authority_len = strcspn(authority, "/?#");
    if (parse_authority(d, authority, authority_len, u) < 0)
        return -1;
    const char *rest = authority + authority_len;
    size_t rest_len = strcspn(rest, "#"); /* the fragment stays with the client (RFC 9110 section 7.1) */
    for (size_t i = 0; i < rest_len; i++)
        if ((unsigned char)rest[i] <= 0x20 || rest[i] == 0x7f)
            return ts_app_usage_error(d, "URL: spaces and control characters must be percent-encoded");
    const char *lead = rest_len == 0 || rest[0] != '/' ? "/" : "";
    if (strlen(lead) + rest_len >= sizeof u->path)
        return ts_app_usage_error(d, "URL: the path is longer than %d bytes", GET_PATH_MAX - 1);
    snprintf(u->path, sizeof u->path, "%s%.*s", lead, (int)rest_len, rest);
    return 0;
}

/* ---- progress ------------------------------------------------------------------------------------ */

static void format_size(double bytes, char *out, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) {
        bytes /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(out, len, "%.0f %s", bytes, units[u]);
    else
        snprintf(out, len, "%.1f %s", bytes, units[u]);
}

static void draw_progress(struct getter *g, ts_time now, bool final)
{
    struct progress *p = &g->progress;
    if (!p->shown || (!final && now - p->last_draw < GET_PROGRESS_EVERY_US))
        return;
    p->last_draw = now;
    double secs = (double)(now - p->start) / 1e6;
    char got[32], total[32], rate[32];
    format_size((double)g->body_bytes, got, sizeof got);
    format_size(secs > 0.0 ? (double)g->body_bytes / secs : 0.0, rate, sizeof rate);
    if (g->framing == HTTP_BODY_LENGTH && g->resp.content_length > 0) {
        format_size((double)g->resp.content_length, total, sizeof total);
        unsigned pct = (unsigned)(g->body_bytes * 100 / g->resp.content_length);
        fprintf(stderr, "\r%s / %s  %3u%%  %s/s   ", got, total, pct, rate);
    } else {
        fprintf(stderr, "\r%s  %s/s   ", got, rate);
    }
    p->drawing = !final;
    if (final)
        fputc('\n', stderr);
}

/* "ts-get: <message>" on its own line of stderr (below the progress bar, if one is drawn); returns -1. */
__attribute__((format(printf, 2, 3))) static int get_error(struct getter *g, const char *fmt, ...)
{
    if (g->progress.drawing) {
        fputc('\n', stderr);
        g->progress.drawing = false;
    }
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ts-get: %s\n", msg);
    return -1;
}

/* ---- the connection --------------------------------------------------------------------------------- */

/* Waits until the socket is ready for events, at most --timeout, looking at the stop signals meanwhile. */
static int wait_ready(struct getter *g, short events, const char *waiting_for)
{
    ts_time deadline = ts_monotonic_now() + g->args->timeout;
    for (;;) {
        if (ts_app_stop_requested())
            return get_error(g, "interrupted");
        struct pollfd pfd = {.fd = g->fd, .events = events};
        int n = ts_poll(&pfd, 1, TS_APP_STOP_CHECK_MS);
        if (n < 0 && errno != EINTR)
            return get_error(g, "poll: %s", strerror(errno));
        if (n > 0)
            return 0; /* ready, or an error the next call reports */
        ts_time now = ts_monotonic_now();
        if (now >= deadline)
            return get_error(g, "timed out after %.1f s waiting for %s", (double)g->args->timeout / 1e6,
                             waiting_for);
        draw_progress(g, now, false);
    }
}

static int connect_to_server(struct getter *g, const struct ts_app *app)
{
    const struct url *u = g->url;
    g->fd = ts_socket_on(app->net, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (g->fd < 0)
        return get_error(g, "cannot open a TCP socket: %s", strerror(errno));
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(u->host);
    to.sin_port = htons(u->port);
    int err = 0;
    if (ts_connect(g->fd, (const struct sockaddr *)&to, sizeof to) < 0) {
        err = errno;
        if (err == EINPROGRESS) {
            if (wait_ready(g, POLLOUT, "the connection") < 0)
                return -1;
            socklen_t len = sizeof err;
            if (ts_getsockopt(g->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
        }
    }
    if (err != 0)
        return get_error(g, "cannot connect to %s: %s", u->authority, strerror(err));
    return 0;
}

static int send_all(struct getter *g, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = ts_send(g->fd, data, len, MSG_DONTWAIT);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return get_error(g, "sending the request: %s", strerror(errno));
        if (wait_ready(g, POLLOUT, "room to send the request") < 0)
            return -1;
    }
    return 0;
}

/* RFC 9110 section 7.2 (Host), 10.1.5 (User-Agent); RFC 9112 section 9.6 (Connection: close). */
static int send_request(struct getter *g)
{
    char req[GET_PATH_MAX + 256];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: " GET_USER_AGENT
                     "\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                     g->url->path, g->url->authority);
    if (n < 0 || (size_t)n >= sizeof req)
        return get_error(g, "the request does not fit");
    return send_all(g, req, (size_t)n);
}

/* Reads what is there into buf[len..cap): bytes read, 0 at the end of the stream, -1 after a message. */
static ssize_t receive_some(struct getter *g, size_t cap)
{
    for (;;) {
        ssize_t n = ts_recv(g->fd, g->buf + g->len, cap - g->len, MSG_DONTWAIT);
        if (n >= 0)
            return n;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return get_error(g, "receiving the response: %s", strerror(errno));
        if (wait_ready(g, POLLIN, "the server") < 0)
            return -1;
    }
}

/* ---- the response ------------------------------------------------------------------------------------ */

/*
 * Reads until a final (non-1xx) response head is in buf and parsed; the body bytes that came with it
 * stay in buf after the head, which is removed. RFC 9110 section 15.2: interim 1xx responses are
 * read past.
 */
static int read_response_head(struct getter *g)
{
    for (;;) {
        size_t head_len = http_head_length(g->buf, g->len);
        if (head_len == 0) {
            if (g->len == GET_BUF_LEN)
                return get_error(g, "malformed response: the head is longer than %d bytes", GET_BUF_LEN);
            ssize_t n = receive_some(g, GET_BUF_LEN);
            if (n < 0)
                return -1;
            if (n == 0 && g->len == 0)
                return get_error(g, "the server closed the connection without a response");
            if (n == 0)
                return get_error(g, "malformed response: the connection ended inside the head");
            g->len += (size_t)n;
            continue;
        }
        const char *why = NULL;
        if (http_parse_response(g->buf, head_len, &g->resp, &why) < 0)
            return get_error(g, "malformed response: %s", why);
        memmove(g->buf, g->buf + head_len, g->len - head_len);
        g->len -= head_len;
        if (g->resp.status >= 200)
            return 0;
        if (g->resp.status == 101)
            return get_error(g, "malformed response: 101 Switching Protocols to a GET that asked for none");
    }
}

/* Exit status 1 for anything but 2xx, saying what came back. */
static int check_status(struct getter *g)
{
    const struct http_response_head *r = &g->resp;
    const char *reason = r->reason[0] != '\0' ? r->reason : http_reason_phrase(r->status);
    if (r->status >= 200 && r->status < 300)
        return 0;
    if (r->status >= 300 && r->status < 400 && r->has_location)
        return get_error(g, "HTTP %d %s: redirected to %s (ts-get does not follow redirects)", r->status, reason,
                         r->location);
    if (r->status >= 300 && r->status < 400)
        return get_error(g, "HTTP %d %s (a redirect without a Location; not followed)", r->status, reason);
    return get_error(g, "HTTP %d %s", r->status, reason);
}

static int open_output(struct getter *g)
{
    if (g->args->output == NULL) {
        g->out = stdout;
        g->out_name = "stdout";
        return 0;
    }
    g->out = fopen(g->args->output, "wb");
    g->out_name = g->args->output;
    if (g->out == NULL)
        return get_error(g, "--output %s: %s", g->args->output, strerror(errno));
    return 0;
}

static int write_body(struct getter *g, const char *data, size_t len)
{
    if (len > 0 && fwrite(data, 1, len, g->out) != len)
        return get_error(g, "writing %s: %s", g->out_name, strerror(errno));
    g->body_bytes += len;
    draw_progress(g, ts_monotonic_now(), false);
    return 0;
}

/* Takes the body bytes in buf[0..len) as the framing says; sets body_done once the body is complete. */
static int consume_body(struct getter *g)
{
    size_t len = g->len;
    g->len = 0;
    switch (g->framing) {
    case HTTP_BODY_NONE:
        g->body_done = true;
        return 0;
    case HTTP_BODY_LENGTH: {
        uint64_t left = g->resp.content_length - g->body_bytes;
        size_t take = (uint64_t)len < left ? len : (size_t)left;
        if (write_body(g, g->buf, take) < 0)
            return -1;
        g->body_done = g->body_bytes == g->resp.content_length;
        return 0;
    }
    case HTTP_BODY_CHUNKED: {
        size_t body_len = 0, used = 0;
        const char *why = NULL;
        /* Bytes after the final CRLF (used < len) cannot be another response: we asked for a close. */
        int rc = http_chunked_decode(&g->chunked, (uint8_t *)g->buf, len, &body_len, &used, &why);
        if (write_body(g, g->buf, body_len) < 0)
            return -1;
        if (rc < 0)
            return get_error(g, "malformed chunked body: %s", why);
        g->body_done = http_chunked_done(&g->chunked);
        return 0;
    }
    case HTTP_BODY_UNTIL_CLOSE:
        return write_body(g, g->buf, len);
    }
    return -1;
}

/* The stream ended: complete for a body delimited by the close, truncated for any other. */
static int body_at_end_of_stream(struct getter *g)
{
    if (g->framing == HTTP_BODY_UNTIL_CLOSE) {
        g->body_done = true;
        return 0;
    }
    if (g->framing == HTTP_BODY_LENGTH)
        return get_error(g, "truncated body: got %" PRIu64 " of %" PRIu64 " bytes (Content-Length)", g->body_bytes,
                         g->resp.content_length);
    return get_error(g, "truncated body: the connection ended inside the chunked coding, after %" PRIu64 " bytes",
                     g->body_bytes);
}

static int read_body(struct getter *g)
{
    g->framing = http_response_framing(&g->resp, false);
    http_chunked_init(&g->chunked);
    g->progress.start = g->progress.last_draw = ts_monotonic_now();
    if (consume_body(g) < 0)
        return -1;
    while (!g->body_done) {
        ssize_t n = receive_some(g, GET_BUF_LEN);
        if (n < 0)
            return -1;
        if (n == 0)
            return body_at_end_of_stream(g);
        g->len = (size_t)n;
        if (consume_body(g) < 0)
            return -1;
    }
    draw_progress(g, ts_monotonic_now(), true);
    return 0;
}

static int close_output(struct getter *g)
{
    if (g->out == NULL)
        return 0;
    int rc = g->out == stdout ? fflush(stdout) : fclose(g->out);
    g->out = NULL;
    if (rc != 0)
        return get_error(g, "writing %s: %s", g->out_name, strerror(errno));
    return 0;
}

static int fetch(struct getter *g, const struct ts_app *app)
{
    if (connect_to_server(g, app) < 0 || send_request(g) < 0 || read_response_head(g) < 0 || check_status(g) < 0)
        return -1;
    if (open_output(g) < 0)
        return -1;
    int rc = read_body(g);
    if (close_output(g) < 0)
        rc = -1;
    return rc;
}

int main(int argc, char **argv)
{
    struct get_args args = {.timeout = GET_DEFAULT_TIMEOUT_US};
    struct ts_app_desc desc = get_desc_template;
    desc.handle = handle_get_option;
    desc.ctx = &args;

    struct ts_app app;
    int parsed = ts_app_parse(&desc, argc, argv, &app);
    if (parsed != TS_APP_PARSE_CONTINUE)
        return parsed;
    struct url url;
    memset(&url, 0, sizeof url);
    if (args.url == NULL) {
        ts_app_usage_error(&desc, "a URL is required (try --help)");
        return TS_APP_EXIT_USAGE;
    }
    if (parse_url(&desc, args.url, &url) < 0)
        return TS_APP_EXIT_USAGE;
    struct getter g = {.args = &args, .url = &url, .fd = -1};
    g.progress.shown = isatty(STDERR_FILENO) == 1;
    g.buf = malloc(GET_BUF_LEN);
    if (g.buf == NULL) {
        fprintf(stderr, "ts-get: out of memory\n");
        return TS_APP_EXIT_FAILURE;
    }
    if (ts_app_start(&app) < 0) {
        free(g.buf);
        return TS_APP_EXIT_FAILURE;
    }
    int rc = fetch(&g, &app);
    if (g.out != NULL)
        close_output(&g);
    if (g.fd >= 0)
        ts_close(g.fd);
    ts_app_finish(&app);
    free(g.buf);
    return rc < 0 ? TS_APP_EXIT_FAILURE : TS_APP_EXIT_OK;
}
