/* Parsing congestion-control trace lines (see plot_cc.h). */
#include "plot_cc.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 4096

static const char *skip_spaces(const char *p)
{
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

static size_t token_len(const char *p)
{
    size_t n = 0;
    while (p[n] != '\0' && !isspace((unsigned char)p[n]))
        n++;
    return n;
}

/* A finite, non-negative number filling the whole token. */
static bool parse_number(const char *p, size_t len, double *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, p, len);
    buf[len] = '\0';
    char *end;
    double v = strtod(buf, &end);
    if (*end != '\0' || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

static bool key_is(const char *tok, size_t key_len, const char *key)
{
    return strlen(key) == key_len && strncmp(tok, key, key_len) == 0;
}

/* One name=value field; unknown names and unreadable values are skipped. */
static void parse_field(const char *tok, size_t len, struct cc_sample *s)
{
    const char *eq = memchr(tok, '=', len);
    if (eq == NULL)
        return;
    size_t key_len = (size_t)(eq - tok);
    const char *val = eq + 1;
    size_t val_len = len - key_len - 1;
    if (key_is(tok, key_len, "state")) {
        size_t n = val_len < sizeof s->state - 1 ? val_len : sizeof s->state - 1;
        memcpy(s->state, val, n);
        s->state[n] = '\0';
        return;
    }
    static const struct {
        const char *key;
        enum cc_field bit;
        double scale; /* to bytes or ms */
    } fields[] = {
        {"cwnd", CC_CWND, 1},       {"ssthresh", CC_SSTHRESH, 1}, {"srtt_us", CC_SRTT, 1e-3},
        {"rttvar_us", CC_RTTVAR, 1e-3}, {"rto_us", CC_RTO, 1e-3}, {"flight", CC_FLIGHT, 1},
        {"srtt_ms", CC_SRTT, 1},    {"rto_ms", CC_RTO, 1},        {"rttvar_ms", CC_RTTVAR, 1},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        double v;
        if (!key_is(tok, key_len, fields[i].key) || !parse_number(val, val_len, &v))
            continue;
        v *= fields[i].scale;
        switch (fields[i].bit) {
        case CC_CWND: s->cwnd = v; break;
        case CC_SSTHRESH: s->ssthresh = v; break;
        case CC_SRTT: s->srtt_ms = v; break;
        case CC_RTTVAR: s->rttvar_ms = v; break;
        case CC_RTO: s->rto_ms = v; break;
        case CC_FLIGHT: s->flight = v; break;
        }
        s->have |= fields[i].bit;
    }
}

/* A time token: "0.123456", also "+0.123456s" or "[0.123456]" as other printers write it. */
static bool parse_time(const char *tok, size_t len, double *out)
{
    while (len > 0 && (*tok == '+' || *tok == '['))
        tok++, len--;
    while (len > 0 && (tok[len - 1] == 's' || tok[len - 1] == ']' || tok[len - 1] == ':'))
        len--;
    return parse_number(tok, len, out);
}

#define CC_MAX_PREFIX_TOKENS 6

int cc_parse_line(const char *line, struct cc_sample *s, struct plot_endpoint *local, struct plot_endpoint *remote)
{
    return cc_parse_line_at(line, NULL, s, local, remote);
}

/* A line's own time: its first or second token ("  0.123456 tcp ...", "#3  +0.000279s  10.0.0.1 --> ..."). */
static bool line_time(const char *line, double *t)
{
    const char *p = skip_spaces(line);
    for (int i = 0; i < 2 && *p != '\0'; i++) {
        size_t n = token_len(p);
        if (parse_time(p, n, t))
            return true;
        p = skip_spaces(p + n);
    }
    return false;
}

int cc_parse_line_at(const char *line, const double *block_t, struct cc_sample *s, struct plot_endpoint *local,
                     struct plot_endpoint *remote)
{
    /* Find the "cc" token among the first few: before it the time (the first number) and the layer. */
    const char *tok[CC_MAX_PREFIX_TOKENS];
    size_t k = 0, n;
    const char *p = skip_spaces(line);
    for (; k < CC_MAX_PREFIX_TOKENS && *p != '\0'; p = skip_spaces(p + n)) {
        n = token_len(p);
        if (n == 2 && strncmp(p, "cc", 2) == 0 && k > 0)
            break;
        tok[k++] = p;
    }
    if (k == CC_MAX_PREFIX_TOKENS || *p == '\0')
        return 0;
    memset(s, 0, sizeof *s);
    bool have_time = false;
    for (size_t i = 0; i < k && !have_time; i++)
        have_time = parse_time(tok[i], token_len(tok[i]), &s->t);
    /* Only the layer before "cc" (ts-replay's "[tcp] cc ..."): a line printed without its time. */
    if (!have_time && k == 1 && block_t != NULL) {
        s->t = *block_t;
        have_time = true;
    }
    if (!have_time)
        return -1;
    p = skip_spaces(p + 2);
    /* The connection: "A:P > B:Q". */
    n = token_len(p);
    if (!plot_endpoint_parse(p, n, local))
        return -1;
    p = skip_spaces(p + n);
    if (*p != '>')
        return -1;
    p = skip_spaces(p + 1);
    n = token_len(p);
    if (!plot_endpoint_parse(p, n, remote))
        return -1;
    for (p = skip_spaces(p + n); *p != '\0'; p = skip_spaces(p + n)) {
        n = token_len(p);
        parse_field(p, n, s);
    }
    /* The stack prints 0 for both until the first RTT sample (RFC 6298 2.1: none yet): not a value. */
    unsigned rtt = CC_SRTT | CC_RTTVAR;
    if ((s->have & rtt) == rtt && s->srtt_ms == 0 && s->rttvar_ms == 0)
        s->have &= ~rtt;
    return 1;
}

static bool same_conn(const struct cc_trace *tr, const struct plot_endpoint *x, const struct plot_endpoint *y)
{
    return (plot_endpoint_equal(&tr->local, x) && plot_endpoint_equal(&tr->remote, y)) ||
           (plot_endpoint_equal(&tr->local, y) && plot_endpoint_equal(&tr->remote, x));
}

static int push_sample(struct cc_trace *tr, const struct cc_sample *s)
{
    if (tr->count == tr->room) {
        size_t want = tr->room ? tr->room * 2 : 64;
        struct cc_sample *grown = realloc(tr->s, want * sizeof *grown);
        if (grown == NULL)
            return -1;
        tr->s = grown;
        tr->room = want;
    }
    tr->s[tr->count++] = *s;
    return 0;
}

/* Reads one line into buf; a longer one is read to its end and cut (it cannot be a cc line worth keeping). */
static bool read_line(FILE *f, char *buf, size_t size)
{
    if (fgets(buf, (int)size, f) == NULL)
        return false;
    if (strchr(buf, '\n') == NULL && !feof(f)) {
        int c;
        while ((c = getc(f)) != EOF && c != '\n')
            ;
    }
    return true;
}

int cc_trace_read(FILE *f, const char *spec, struct cc_trace *tr, char *err, size_t errlen)
{
    memset(tr, 0, sizeof *tr);
    bool chosen = spec != NULL;
    if (chosen && !plot_conn_spec_parse(spec, &tr->local, &tr->remote)) {
        snprintf(err, errlen, "--conn '%s': expected A.B.C.D:PORT-E.F.G.H:PORT", spec);
        return -1;
    }
    size_t cc_lines = 0;
    /* ts-replay prints a frame's time once, at the head of its block, and the trace lines under it without. */
    double block_t = 0;
    bool have_block_t = false;
    char line[LINE_MAX_LEN];
    while (read_line(f, line, sizeof line)) {
        tr->lines++;
        struct cc_sample s;
        struct plot_endpoint local, remote;
        int kind = cc_parse_line_at(line, have_block_t ? &block_t : NULL, &s, &local, &remote);
        if (kind == 0) {
            have_block_t = line_time(line, &block_t) || have_block_t;
            continue;
        }
        if (kind < 0) {
            tr->ignored++;
            continue;
        }
        cc_lines++;
        if (!chosen) {
            tr->local = local;
            tr->remote = remote;
            chosen = true;
        }
        if (!same_conn(tr, &local, &remote) || s.have == 0) {
            tr->ignored++;
            continue;
        }
        if (push_sample(tr, &s) != 0) {
            snprintf(err, errlen, "out of memory after %zu samples", tr->count);
            cc_trace_free(tr);
            return -1;
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "read error after %zu lines", tr->lines);
        cc_trace_free(tr);
        return -1;
    }
    if (cc_lines == 0) {
        snprintf(err, errlen, "no congestion-control line (\"<seconds> tcp cc A:P > B:Q cwnd=...\") in %zu lines",
                 tr->lines);
        cc_trace_free(tr);
        return -1;
    }
    if (tr->count == 0) {
        char a[22], b[22];
        snprintf(err, errlen, "--conn %s-%s: no congestion-control line of this connection (%zu cc lines of others)",
                 plot_endpoint_format(&tr->local, a), plot_endpoint_format(&tr->remote, b), cc_lines);
        cc_trace_free(tr);
        return -1;
    }
    return 0;
}

void cc_trace_free(struct cc_trace *tr)
{
    free(tr->s);
    tr->s = NULL;
    tr->count = tr->room = 0;
}
