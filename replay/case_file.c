/*
 * The case file: one directive per line, '#' starts a comment, strings in
 * double quotes with C escapes. captures/README.md is the reference; in short:
 *
 *   stack addr 10.0.0.2/24 mac 02:00:00:00:00:02 seed 7 [gw A] [mtu N] [ttl N]
 *         [no-gratuitous-arp] [reasm-timeout DUR]
 *   origin synthetic | recorded
 *   capture FILE.pcap            tolerance DUR          duration DUR
 *   start EPOCH-SECONDS          (a capture timestamp; default: the first frame's)
 *   first-poll T                 (the stack's first ts_stack_poll; default 0)
 *   clock-offset USEC            (recorded: capture timestamp = the stack's clock + USEC)
 *   app udp-echo PORT            app tcp-echo PORT
 *   neighbour A.B.C.D MAC        (a static ARP entry: the capture shows no ARP for that host)
 *   at T ACTION ...              (case_actions.c: ping, udp-send, tcp-*, expect-state)
 *   expect-counter LAYER.NAME VALUE
 *   expect-state STATE           expect-error ERRNO | none
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "replay_internal.h"

#include "case_parse.h"
#include "tapstack/pcb.h"

#define DEFAULT_TOLERANCE TS_MSEC(20)

/* Shorter names for this file. */
#define fail case_fail
#define want case_want
#define parse_uint case_parse_uint
#define parse_addr case_parse_addr
#define parse_dur case_parse_dur
#define line_ctx case_line
#define token case_token

int case_fail(struct line_ctx *lc, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(lc->err, lc->errlen, "line %u: %s", lc->line, msg);
    return -1;
}

/* ---- time --------------------------------------------------------------------------- */

int replay_parse_duration(const char *text, ts_time *out)
{
    const char *p = text;
    bool neg = false;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (*p < '0' || *p > '9')
        return -1;
    int64_t whole = 0, frac = 0, frac_scale = 1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (whole > INT64_MAX / 100000000)
            return -1;
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (frac_scale < 1000000) { /* finer than a microsecond is dropped */
                frac = frac * 10 + (*p - '0');
                frac_scale *= 10;
            }
        }
    }
    int64_t unit = 1000000;
    if (strcmp(p, "us") == 0)
        unit = 1;
    else if (strcmp(p, "ms") == 0)
        unit = 1000;
    else if (strcmp(p, "s") != 0 && *p != '\0')
        return -1;
    ts_time v = whole * unit + frac * unit / frac_scale;
    *out = neg ? -v : v;
    return 0;
}

void replay_format_time(ts_time t, char *buf, size_t cap)
{
    const char *sign = t < 0 ? "-" : "+";
    uint64_t a = t < 0 ? (uint64_t)-t : (uint64_t)t;
    snprintf(buf, cap, "%s%" PRIu64 ".%06" PRIu64 "s", sign, a / 1000000, a % 1000000);
}

/* ---- tokens ------------------------------------------------------------------------- */

int case_hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes a quoted string in place, starting after the opening quote; returns the char after the closing one. */
static char *decode_quoted(struct line_ctx *lc, char *p, struct token *t)
{
    char *w = p;
    t->text = p;
    t->quoted = true;
    while (*p && *p != '"') {
        if (*p != '\\') {
            *w++ = *p++;
            continue;
        }
        p++;
        switch (*p) {
        case 'n': *w++ = '\n'; p++; break;
        case 'r': *w++ = '\r'; p++; break;
        case 't': *w++ = '\t'; p++; break;
        case '0': *w++ = '\0'; p++; break;
        case '\\': *w++ = '\\'; p++; break;
        case '"': *w++ = '"'; p++; break;
        case 'x':
            if (case_hexval(p[1]) < 0 || case_hexval(p[2]) < 0) {
                fail(lc, "\\x needs two hex digits");
                return NULL;
            }
            *w++ = (char)(case_hexval(p[1]) * 16 + case_hexval(p[2]));
            p += 3;
            break;
        default:
            fail(lc, "unknown escape \\%c in a string", *p ? *p : ' ');
            return NULL;
        }
    }
    if (*p != '"') {
        fail(lc, "string without a closing quote");
        return NULL;
    }
    t->len = (size_t)(w - t->text);
    *w = '\0';
    return p + 1;
}

/* Splits a line (modified in place) into tokens; a '#' outside quotes ends it. */
static int tokenize(struct line_ctx *lc, char *p)
{
    lc->n = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (*p == '\0' || *p == '#')
            return 0;
        if (lc->n == CASE_MAX_TOKENS)
            return fail(lc, "more than %d words", CASE_MAX_TOKENS);
        struct token *t = &lc->tok[lc->n++];
        memset(t, 0, sizeof(*t));
        if (*p == '"') {
            p = decode_quoted(lc, p + 1, t);
            if (!p)
                return -1;
            if (*p && *p != ' ' && *p != '\t' && *p != '\r')
                return fail(lc, "a string must be followed by a space");
            if (*p)
                p++;
            continue;
        }
        t->text = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '#')
            p++;
        t->len = (size_t)(p - t->text);
        if (*p == '#') {
            *p = '\0';
            return 0;
        }
        if (*p)
            *p++ = '\0';
    }
}

/* ---- values -------------------------------------------------------------------------- */

int case_parse_uint(struct line_ctx *lc, const char *s, uint64_t max, const char *what, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return fail(lc, "%s: '%s' is not a number", what, s);
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v > max)
        return fail(lc, "%s: '%s' is not a number from 0 to %" PRIu64, what, s, max);
    *out = v;
    return 0;
}

int case_parse_addr(struct line_ctx *lc, const char *s, ts_ipv4_addr *out)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1)
        return fail(lc, "'%s' is not an IPv4 address", s);
    *out = ntohl(a.s_addr);
    return 0;
}

static int parse_mac(struct line_ctx *lc, const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char extra;
    if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &extra) != 6)
        return fail(lc, "'%s' is not a MAC address like 02:00:00:00:00:02", s);
    for (int i = 0; i < 6; i++) {
        if (v[i] > 255)
            return fail(lc, "'%s' is not a MAC address", s);
        mac[i] = (uint8_t)v[i];
    }
    return 0;
}

int case_parse_dur(struct line_ctx *lc, const char *s, const char *what, ts_time *out)
{
    if (replay_parse_duration(s, out) != 0)
        return fail(lc, "%s: '%s' is not a time like 0.250, 250ms or 20us", what, s);
    return 0;
}

const char *case_want(struct line_ctx *lc, unsigned i, const char *what)
{
    if (i >= lc->n) {
        fail(lc, "'%s' needs %s", lc->tok[0].text, what);
        return NULL;
    }
    return lc->tok[i].text;
}

int case_parse_endpoint(struct line_ctx *lc, const char *s, ts_ipv4_addr *addr, uint16_t *port)
{
    char buf[40];
    snprintf(buf, sizeof(buf), "%s", s);
    char *colon = strchr(buf, ':');
    uint64_t v;
    if (!colon)
        return fail(lc, "'%s' needs a port: 10.0.0.1:9000", s);
    *colon = '\0';
    if (parse_addr(lc, buf, addr) || parse_uint(lc, colon + 1, 65535, "port", &v))
        return -1;
    *port = (uint16_t)v;
    return 0;
}

int case_parse_tcp_state(struct line_ctx *lc, const char *s, int *state)
{
    char norm[24];
    snprintf(norm, sizeof(norm), "%s", s);
    for (char *p = norm; *p; p++)
        if (*p == '_')
            *p = '-';
    for (int i = TS_TCP_CLOSED; i <= TS_TCP_TIME_WAIT; i++)
        if (strcasecmp(norm, ts_tcp_state_name((enum ts_tcp_state)i)) == 0) {
            *state = i;
            return 0;
        }
    return fail(lc, "'%s' is not a TCP state (CLOSED, LISTEN, SYN-SENT, SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1, "
                    "FIN-WAIT-2, CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT)", s);
}

static const struct {
    const char *name;
    int value;
} errno_names[] = {
    {"none", 0},           {"ECONNREFUSED", ECONNREFUSED}, {"ECONNRESET", ECONNRESET},
    {"ETIMEDOUT", ETIMEDOUT}, {"EHOSTUNREACH", EHOSTUNREACH}, {"ENETUNREACH", ENETUNREACH},
    {"EPIPE", EPIPE},      {"ECONNABORTED", ECONNABORTED}, {"EADDRINUSE", EADDRINUSE},
    {"EADDRNOTAVAIL", EADDRNOTAVAIL},
};

int case_parse_errno(struct line_ctx *lc, const char *s, int *err)
{
    for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
        if (strcmp(s, errno_names[i].name) == 0) {
            *err = errno_names[i].value;
            return 0;
        }
    return fail(lc, "'%s' is not an error a TCP socket reports (none, ECONNREFUSED, ECONNRESET, ETIMEDOUT, "
                    "EHOSTUNREACH, ENETUNREACH, EPIPE, ECONNABORTED, EADDRINUSE, EADDRNOTAVAIL)", s);
}

const char *replay_errno_name(int e)
{
    for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
        if (errno_names[i].value == e)
            return errno_names[i].name;
    return strerror(e);
}

/* ---- directives ------------------------------------------------------------------------ */

static int parse_stack_addr(struct line_ctx *lc, const char *s)
{
    char buf[40];
    snprintf(buf, sizeof(buf), "%s", s);
    char *slash = strchr(buf, '/');
    if (!slash)
        return fail(lc, "stack address '%s' needs a prefix length, e.g. 10.0.0.2/24", s);
    *slash = '\0';
    uint64_t prefix;
    if (parse_addr(lc, buf, &lc->c->cfg.addr) || parse_uint(lc, slash + 1, 32, "prefix length", &prefix))
        return -1;
    lc->c->cfg.prefix_len = (uint8_t)prefix;
    return 0;
}

static int stack_option(struct line_ctx *lc, unsigned *i, bool *have_mac, bool *have_seed)
{
    struct replay_case *c = lc->c;
    const char *key = lc->tok[*i].text;
    uint64_t v;
    if (strcmp(key, "no-gratuitous-arp") == 0) {
        c->cfg.gratuitous_arp = false;
        return 0;
    }
    const char *val = want(lc, ++*i, "a value after each option");
    if (!val)
        return -1;
    if (strcmp(key, "addr") == 0)
        return parse_stack_addr(lc, val);
    if (strcmp(key, "mac") == 0) {
        *have_mac = true;
        return parse_mac(lc, val, c->cfg.mac);
    }
    if (strcmp(key, "seed") == 0) {
        *have_seed = true;
        return parse_uint(lc, val, UINT64_MAX, "seed", &c->cfg.seed);
    }
    if (strcmp(key, "gw") == 0)
        return parse_addr(lc, val, &c->cfg.gateway);
    if (strcmp(key, "mtu") == 0) {
        if (parse_uint(lc, val, 65535, "mtu", &v))
            return -1;
        c->mtu = (size_t)v;
        return 0;
    }
    if (strcmp(key, "ttl") == 0) {
        if (parse_uint(lc, val, 255, "ttl", &v))
            return -1;
        c->cfg.default_ttl = (uint8_t)v;
        return 0;
    }
    if (strcmp(key, "reasm-timeout") == 0)
        return parse_dur(lc, val, "reasm-timeout", &c->cfg.timing.reasm_timeout);
    return fail(lc, "unknown stack option '%s' (addr, mac, seed, gw, mtu, ttl, no-gratuitous-arp, reasm-timeout)",
                key);
}

static int d_stack(struct line_ctx *lc)
{
    bool have_mac = false, have_seed = false;
    unsigned i = 1;
    if (i < lc->n && strchr(lc->tok[i].text, '/')) { /* "stack 10.0.0.2/24 ..." as in DESIGN.md */
        if (parse_stack_addr(lc, lc->tok[i].text))
            return -1;
        i++;
    }
    for (; i < lc->n; i++)
        if (stack_option(lc, &i, &have_mac, &have_seed))
            return -1;
    if (lc->c->cfg.addr == 0)
        return fail(lc, "stack needs an address: stack addr 10.0.0.2/24 ...");
    if (!have_mac)
        return fail(lc, "stack needs a MAC: ... mac 02:00:00:00:00:02");
    if (!have_seed)
        return fail(lc, "stack needs a seed (a replay must be repeatable): ... seed 7");
    return 0;
}

static int d_origin(struct line_ctx *lc)
{
    const char *v = want(lc, 1, "synthetic or recorded");
    if (!v)
        return -1;
    if (strcmp(v, "synthetic") != 0 && strcmp(v, "recorded") != 0)
        return fail(lc, "origin is 'synthetic' (made by a generator, may be blessed) or 'recorded' (a live run)");
    lc->c->synthetic = strcmp(v, "synthetic") == 0;
    return 0;
}

static int d_capture(struct line_ctx *lc)
{
    const char *v = want(lc, 1, "a file name");
    if (!v)
        return -1;
    free(lc->c->capture_path);
    if (v[0] == '/') {
        lc->c->capture_path = strdup(v);
    } else {
        const char *slash = strrchr(lc->c->path, '/');
        int dirlen = slash ? (int)(slash - lc->c->path + 1) : 0;
        size_t n = (size_t)dirlen + strlen(v) + 1;
        lc->c->capture_path = malloc(n);
        if (lc->c->capture_path)
            snprintf(lc->c->capture_path, n, "%.*s%s", dirlen, lc->c->path, v);
    }
    return lc->c->capture_path ? 0 : fail(lc, "out of memory");
}

static int d_app(struct line_ctx *lc)
{
    const char *kind = want(lc, 1, "an application, e.g. app udp-echo 7");
    const char *port = want(lc, 2, "a port");
    uint64_t v;
    if (!kind || !port)
        return -1;
    bool tcp = strcmp(kind, "tcp-echo") == 0;
    if (!tcp && strcmp(kind, "udp-echo") != 0)
        return fail(lc, "unknown app '%s' (known: udp-echo, tcp-echo)", kind);
    if (lc->n > 3)
        return fail(lc, "nothing may follow the port");
    if (parse_uint(lc, port, 65535, "port", &v))
        return -1;
    if (v == 0)
        return fail(lc, "%s needs a port other than 0", kind);
    struct replay_case *c = lc->c;
    if (c->n_echo + c->n_tcp_echo == REPLAY_MAX_APPS)
        return fail(lc, "at most %d apps per case", REPLAY_MAX_APPS);
    if (tcp)
        c->tcp_echo_ports[c->n_tcp_echo++] = (uint16_t)v;
    else
        c->echo_ports[c->n_echo++] = (uint16_t)v;
    return 0;
}

/* clock-offset USEC: a signed whole number of microseconds. */
static int d_clock_offset(struct line_ctx *lc)
{
    const char *v = want(lc, 1, "a number of microseconds");
    if (!v)
        return -1;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || end == v)
        return fail(lc, "clock-offset '%s' is not a whole number of microseconds", v);
    lc->c->clock_offset_given = true;
    lc->c->clock_offset = (int64_t)n;
    return 0;
}

static int d_expect_state(struct line_ctx *lc)
{
    const char *v = want(lc, 1, "a TCP state, e.g. ESTABLISHED");
    if (!v || case_parse_tcp_state(lc, v, &lc->c->expect_state))
        return -1;
    lc->c->expect_state_line = lc->line;
    return 0;
}

static int d_expect_error(struct line_ctx *lc)
{
    const char *v = want(lc, 1, "an errno name or none, e.g. ECONNREFUSED");
    if (!v || case_parse_errno(lc, v, &lc->c->expect_error))
        return -1;
    lc->c->expect_error_line = lc->line;
    return 0;
}

static int d_expect_counter(struct line_ctx *lc)
{
    const char *name = want(lc, 1, "a counter name and a value");
    const char *val = want(lc, 2, "a value");
    if (!name || !val)
        return -1;
    if (!strchr(name, '.') || strlen(name) >= sizeof(lc->c->counters[0].name))
        return fail(lc, "counter names look like layer.name, e.g. ip.drop_bad_checksum");
    struct replay_case *c = lc->c;
    struct replay_counter_expect *nc = realloc(c->counters, (c->n_counters + 1) * sizeof(*nc));
    if (!nc)
        return fail(lc, "out of memory");
    c->counters = nc;
    struct replay_counter_expect *e = &c->counters[c->n_counters];
    memset(e, 0, sizeof(*e));
    if (parse_uint(lc, val, UINT64_MAX, "counter value", &e->value))
        return -1;
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->line = lc->line;
    c->n_counters++;
    return 0;
}

static int d_at(struct line_ctx *lc)
{
    const char *when = want(lc, 1, "a time and an action: at 0.250 ping 10.0.0.1");
    const char *what = want(lc, 2, "an action (ping, udp-send, tcp-connect, tcp-send, ...)");
    if (!when || !what)
        return -1;
    struct replay_case *c = lc->c;
    struct replay_action *na = realloc(c->actions, (c->n_actions + 1) * sizeof(*na));
    if (!na)
        return fail(lc, "out of memory");
    c->actions = na;
    struct replay_action *a = &c->actions[c->n_actions++];
    memset(a, 0, sizeof(*a));
    a->line = lc->line;
    if (parse_dur(lc, when, "action time", &a->t))
        return -1;
    if (a->t < 0)
        return fail(lc, "actions happen at or after the start (time >= 0)");
    return case_parse_action(lc, a);
}

static int d_neighbour(struct line_ctx *lc)
{
    struct replay_case *c = lc->c;
    const char *addr = want(lc, 1, "an address, e.g. neighbour 10.0.0.1 02:00:00:00:00:01");
    const char *mac = want(lc, 2, "a MAC");
    if (!addr || !mac)
        return -1;
    if (c->n_neighbours == REPLAY_MAX_NEIGHBOURS)
        return fail(lc, "at most %d neighbour lines", REPLAY_MAX_NEIGHBOURS);
    struct replay_neighbour *n = &c->neighbours[c->n_neighbours];
    if (parse_addr(lc, addr, &n->addr) || parse_mac(lc, mac, n->mac))
        return -1;
    c->n_neighbours++;
    return 0;
}

static int d_time(struct line_ctx *lc, ts_time *out)
{
    const char *v = want(lc, 1, "a time");
    if (!v || parse_dur(lc, v, lc->tok[0].text, out))
        return -1;
    if (*out < 0)
        return fail(lc, "%s cannot be negative", lc->tok[0].text);
    return 0;
}

static int directive(struct line_ctx *lc)
{
    const char *d = lc->tok[0].text;
    struct replay_case *c = lc->c;
    if (strcmp(d, "stack") == 0)
        return d_stack(lc);
    if (strcmp(d, "origin") == 0)
        return d_origin(lc);
    if (strcmp(d, "capture") == 0)
        return d_capture(lc);
    if (strcmp(d, "tolerance") == 0)
        return d_time(lc, &c->tolerance);
    if (strcmp(d, "duration") == 0)
        return d_time(lc, &c->duration);
    if (strcmp(d, "first-poll") == 0)
        return d_time(lc, &c->first_poll);
    if (strcmp(d, "start") == 0) {
        c->start_given = true;
        return d_time(lc, &c->start_abs);
    }
    if (strcmp(d, "app") == 0)
        return d_app(lc);
    if (strcmp(d, "neighbour") == 0)
        return d_neighbour(lc);
    if (strcmp(d, "at") == 0)
        return d_at(lc);
    if (strcmp(d, "expect-counter") == 0)
        return d_expect_counter(lc);
    if (strcmp(d, "clock-offset") == 0)
        return d_clock_offset(lc);
    if (strcmp(d, "expect-state") == 0)
        return d_expect_state(lc);
    if (strcmp(d, "expect-error") == 0)
        return d_expect_error(lc);
    return fail(lc, "unknown directive '%s' (stack, origin, capture, tolerance, duration, start, first-poll, "
                    "clock-offset, app, neighbour, at, expect-counter, expect-state, expect-error)", d);
}

/* ---- the whole file ---------------------------------------------------------------------------- */

/* The comment lines before the first directive describe the case. */
static void add_description(struct replay_buf *desc, const char *line)
{
    while (*line == ' ' || *line == '\t')
        line++;
    if (*line != '#')
        return;
    line++;
    if (*line == ' ')
        line++;
    replay_buf_printf(desc, "%s%.*s", desc->len ? "\n" : "", (int)strcspn(line, "\r"), line);
}

static int compare_actions(const void *a, const void *b)
{
    const struct replay_action *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->line < y->line ? -1 : (x->line > y->line);
}

int replay_case_parse(struct replay_case *c, const char *text, char *err, size_t errlen)
{
    struct line_ctx lc = {.c = c, .err = err, .errlen = errlen};
    struct replay_buf desc = {0};
    bool in_header = true, have_stack = false;
    ts_stack_config_init(&c->cfg);
    c->mtu = 1500;
    c->expect_state = -1;
    c->expect_error = -1;
    c->tolerance = DEFAULT_TOLERANCE;
    int rc = 0;
    const char *p = text;
    while (*p && rc == 0) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *line = strndup(p, n);
        if (!line) {
            rc = fail(&lc, "out of memory");
            break;
        }
        lc.line++;
        if (in_header)
            add_description(&desc, line);
        rc = tokenize(&lc, line);
        if (rc == 0 && lc.n > 0) {
            in_header = false;
            have_stack |= strcmp(lc.tok[0].text, "stack") == 0;
            rc = directive(&lc);
        }
        free(line);
        p = nl ? nl + 1 : p + n;
    }
    c->description = replay_buf_take(&desc);
    if (rc == 0 && !have_stack)
        rc = (snprintf(err, errlen, "no 'stack addr A/P mac M seed S' line"), -1);
    if (rc == 0 && c->n_actions > 1)
        qsort(c->actions, c->n_actions, sizeof(*c->actions), compare_actions);
    return rc;
}
