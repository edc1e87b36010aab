/*
 * TCP as the sample apps use it, through the core's pcb calls:
 *
 *   app tcp-echo PORT   ts-echo's TCP side (apps/echo/echo_tcp.c): a listener with
 *                       SO_REUSEADDR and backlog 64; each accepted connection gets
 *                       TCP_NODELAY, reads up to 64 KiB only while nothing is waiting
 *                       to be echoed, writes it back as the send buffer takes it, and
 *                       is closed once the peer's FIN has been read and all is echoed.
 *   tcp-listen PORT     a listener that accepts every connection; each becomes the
 *                       current connection.
 *   tcp-connect A:P     an active open; the connection becomes the current one.
 *
 * A connection the case opened reads whatever arrives, one recv of at most
 * 64 KiB per turn (as ts-nc copies the connection to stdout), unless it was
 * opened with no-read; it never closes by itself: tcp-shutdown, tcp-close and
 * tcp-abort do that.
 * The first error a connection reports (connect, recv, send, SO_ERROR) is kept
 * for expect-error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_run.h"

#define ECHO_BUF (64 * 1024)       /* apps/echo/echo_tcp.c ECHO_CONN_BUF */
#define ECHO_PUMP_ROUNDS 8         /* ... ECHO_PUMP_ROUNDS */
#define ECHO_ACCEPT_BATCH 32       /* ... ECHO_ACCEPT_BATCH */
#define ECHO_BACKLOG 64            /* ... ECHO_LISTEN_BACKLOG */
#define DEFAULT_BACKLOG 16
#define MAX_READS_PER_SERVE 1024   /* reads of SCRATCH_LEN per connection per pass */

enum tcp_role {
    ROLE_LISTENER,      /* tcp-listen */
    ROLE_CONN,          /* tcp-connect, or accepted by a tcp-listen listener */
    ROLE_ECHO_LISTENER, /* app tcp-echo */
    ROLE_ECHO_CONN,     /* accepted by it */
};

struct tcp_sock {
    struct ts_pcb *pcb;  /* NULL once given back (close, abort) */
    enum tcp_role role;
    struct replay_tcp_opts opts;
    unsigned line;       /* the case line that made it (0 for app lines) */
    bool eof;            /* the peer's FIN has been read */
    int first_error;     /* positive errno, 0 = none yet */
    int last_state;      /* the state seen last while the pcb was ours */
    unsigned gave_back_line; /* the tcp-close / tcp-abort line, or 0 */
    uint8_t *echo_buf;   /* ROLE_ECHO_CONN: bytes [echo_off, echo_off + echo_len) still to send back */
    size_t echo_off, echo_len;
    uint64_t bytes_read, bytes_written;
    uint64_t pattern_off; /* how far tcp-send-pattern has gone in the stream pattern */
};

struct tcp_apps {
    struct tcp_sock *s;
    size_t n, cap;
    long current; /* index of the current connection, -1 = none yet */
};

static struct tcp_apps *apps_of(struct run *r)
{
    if (!r->tcp)
        r->tcp = calloc(1, sizeof(*r->tcp));
    if (r->tcp && r->tcp->cap == 0)
        r->tcp->current = -1;
    return r->tcp;
}

static struct tcp_sock *add_sock(struct run *r, struct ts_pcb *pcb, enum tcp_role role, unsigned line)
{
    struct tcp_apps *t = apps_of(r);
    if (t && t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 8;
        struct tcp_sock *ns = realloc(t->s, ncap * sizeof(*ns));
        if (!ns) {
            t = NULL;
        } else {
            t->s = ns;
            t->cap = ncap;
        }
    }
    if (!t) {
        run_problem(r, "out of memory for TCP sockets");
        ts_pcb_abort(pcb, run_stack_now(r));
        return NULL;
    }
    struct tcp_sock *s = &t->s[t->n++];
    memset(s, 0, sizeof(*s));
    s->pcb = pcb;
    s->role = role;
    s->line = line;
    s->last_state = -1;
    return s;
}

static void note_state(struct tcp_sock *s)
{
    struct ts_tcp_info info;
    if (s->pcb && ts_pcb_tcp_info(s->pcb, &info) == 0)
        s->last_state = (int)info.state;
}

static void note_error(struct run *r, struct tcp_sock *s, int err, const char *how)
{
    run_trace(r, "tcp: connection (line %u) reports %s (%s)", s->line, replay_errno_name(err), how);
    if (s->first_error == 0)
        s->first_error = err;
}

static void setopt(struct run *r, struct ts_pcb *pcb, unsigned line, enum ts_pcb_option opt, int value,
                   const char *name)
{
    int rc = ts_pcb_setopt(pcb, opt, value);
    if (rc < 0)
        run_problem(r, "line %u: setsockopt %s %d failed: %s", line, name, value, replay_errno_name(-rc));
}

/* The options a listen or connect line set, in the order an app would call setsockopt. */
static void apply_opts(struct run *r, struct ts_pcb *pcb, const struct replay_tcp_opts *o, unsigned line)
{
    if (o->rcvbuf)
        setopt(r, pcb, line, TS_OPT_RCVBUF, o->rcvbuf, "SO_RCVBUF");
    if (o->sndbuf)
        setopt(r, pcb, line, TS_OPT_SNDBUF, o->sndbuf, "SO_SNDBUF");
    if (o->nodelay)
        setopt(r, pcb, line, TS_OPT_NODELAY, 1, "TCP_NODELAY");
    if (o->maxseg)
        setopt(r, pcb, line, TS_OPT_MAXSEG, o->maxseg, "TCP_MAXSEG");
    if (o->reno)
        setopt(r, pcb, line, TS_OPT_CONGESTION, TS_CC_RENO, "TCP_CONGESTION");
    if (o->keepalive) {
        setopt(r, pcb, line, TS_OPT_KEEPIDLE, o->keepidle, "TCP_KEEPIDLE");
        setopt(r, pcb, line, TS_OPT_KEEPINTVL, o->keepintvl, "TCP_KEEPINTVL");
        setopt(r, pcb, line, TS_OPT_KEEPCNT, o->keepcnt, "TCP_KEEPCNT");
        setopt(r, pcb, line, TS_OPT_KEEPALIVE, 1, "SO_KEEPALIVE");
    }
}

static struct tcp_sock *open_listener(struct run *r, uint16_t port, enum tcp_role role,
                                      const struct replay_tcp_opts *o, unsigned line)
{
    struct ts_pcb *pcb = run_open_pcb(r, TS_PCB_TCP, line);
    if (!pcb)
        return NULL;
    struct tcp_sock *s = add_sock(r, pcb, role, line);
    if (!s)
        return NULL;
    s->opts = *o;
    if (role == ROLE_ECHO_LISTENER)
        setopt(r, pcb, line, TS_OPT_REUSEADDR, 1, "SO_REUSEADDR");
    apply_opts(r, pcb, o, line);
    struct ts_sockaddr local = {.addr = 0, .port = port};
    int rc = ts_pcb_bind(pcb, &local);
    if (rc == 0)
        rc = ts_pcb_listen(pcb, role == ROLE_ECHO_LISTENER ? ECHO_BACKLOG : o->backlog ? o->backlog : DEFAULT_BACKLOG);
    if (rc < 0)
        run_problem(r, "line %u: listen on tcp port %u failed: %s", line, port, replay_errno_name(-rc));
    run_trace(r, "%s listening on tcp port %u", role == ROLE_ECHO_LISTENER ? "app tcp-echo" : "tcp-listen", port);
    note_state(s);
    return s;
}

bool tcp_apps_start(struct run *r)
{
    for (unsigned i = 0; i < r->c->n_tcp_echo; i++) {
        struct replay_tcp_opts none = {0};
        open_listener(r, r->c->tcp_echo_ports[i], ROLE_ECHO_LISTENER, &none, 0);
    }
    return true;
}

/* ---- actions ------------------------------------------------------------------------- */

static struct tcp_sock *current(struct run *r, const struct replay_action *a)
{
    struct tcp_apps *t = r->tcp;
    if (!t || t->current < 0) {
        run_problem(r, "line %u: no TCP connection yet (tcp-connect, or a connection accepted by tcp-listen)",
                    a->line);
        return NULL;
    }
    struct tcp_sock *s = &t->s[t->current];
    if (!s->pcb) {
        run_problem(r, "line %u: the current connection (line %u) was already given back by line %u", a->line,
                    s->line, s->gave_back_line);
        return NULL;
    }
    return s;
}

static void do_connect(struct run *r, const struct replay_action *a)
{
    char ip[20];
    struct ts_pcb *pcb = run_open_pcb(r, TS_PCB_TCP, a->line);
    if (!pcb)
        return;
    struct tcp_sock *s = add_sock(r, pcb, ROLE_CONN, a->line);
    if (!s)
        return;
    s->opts = a->tcp;
    r->tcp->current = (long)(s - r->tcp->s);
    apply_opts(r, pcb, &a->tcp, a->line);
    if (a->sport) {
        struct ts_sockaddr local = {.addr = 0, .port = a->sport};
        int rc = ts_pcb_bind(pcb, &local);
        if (rc < 0)
            run_problem(r, "line %u: bind to tcp port %u failed: %s", a->line, a->sport, replay_errno_name(-rc));
    }
    struct ts_sockaddr to = {.addr = a->dst, .port = a->dport};
    int rc = ts_pcb_connect(pcb, run_stack_now(r), &to);
    run_trace(r, "line %u: tcp-connect %s:%u -> %s", a->line, run_ipstr(a->dst, ip, sizeof(ip)), a->dport,
              rc == -EINPROGRESS ? "in progress" : rc < 0 ? replay_errno_name(-rc) : "connected");
    if (rc < 0 && rc != -EINPROGRESS)
        note_error(r, s, -rc, "connect");
    note_state(s);
}

static void do_send(struct run *r, const struct replay_action *a, struct tcp_sock *s)
{
    const uint8_t *bytes = a->payload;
    uint8_t *made = NULL;
    if (a->pattern) {
        made = malloc(a->payload_len ? a->payload_len : 1);
        if (!made) {
            run_problem(r, "line %u: out of memory", a->line);
            return;
        }
        for (size_t i = 0; i < a->payload_len; i++)
            made[i] = replay_pattern_byte(s->pattern_off + i);
        bytes = made;
    }
    ssize_t n = ts_pcb_send(s->pcb, run_stack_now(r), bytes, a->payload_len);
    free(made);
    if (a->pattern && n > 0)
        s->pattern_off += (uint64_t)n;
    if (n < 0) {
        note_error(r, s, (int)-n, "send");
        return;
    }
    s->bytes_written += (uint64_t)n;
    run_trace(r, "line %u: tcp-send %zu bytes -> %zd taken", a->line, a->payload_len, n);
    if ((size_t)n < a->payload_len)
        run_problem(r, "line %u: tcp-send took %zd of %zu bytes (the send buffer is full); split the line or "
                       "raise sndbuf", a->line, n, a->payload_len);
}

static void do_read(struct run *r, const struct replay_action *a, struct tcp_sock *s);

static void give_back(struct run *r, const struct replay_action *a, struct tcp_sock *s, bool abort)
{
    note_state(s);
    if (abort)
        ts_pcb_abort(s->pcb, run_stack_now(r));
    else
        ts_pcb_close_at(s->pcb, run_stack_now(r));
    s->pcb = NULL;
    s->gave_back_line = a->line;
    run_trace(r, "line %u: tcp-%s", a->line, abort ? "abort" : "close");
}

static void expect_state_now(struct run *r, const struct replay_action *a, struct tcp_sock *s)
{
    note_state(s);
    if (s->last_state != a->state)
        run_problem(r, "line %u: expect-state %s, but the connection is %s", a->line,
                    ts_tcp_state_name((enum ts_tcp_state)a->state),
                    s->last_state < 0 ? "?" : ts_tcp_state_name((enum ts_tcp_state)s->last_state));
    else
        run_trace(r, "line %u: the connection is %s, as expected", a->line,
                  ts_tcp_state_name((enum ts_tcp_state)a->state));
}

void tcp_apps_action(struct run *r, const struct replay_action *a)
{
    if (a->kind == REPLAY_ACT_TCP_LISTEN) {
        open_listener(r, a->dport, ROLE_LISTENER, &a->tcp, a->line);
        return;
    }
    if (a->kind == REPLAY_ACT_TCP_CONNECT) {
        do_connect(r, a);
        return;
    }
    struct tcp_sock *s = current(r, a);
    if (!s)
        return;
    switch (a->kind) {
    case REPLAY_ACT_TCP_SEND:
        do_send(r, a, s);
        break;
    case REPLAY_ACT_TCP_SHUTDOWN: {
        int rc = ts_pcb_shutdown(s->pcb, run_stack_now(r), (enum ts_shutdown_how)a->how);
        run_trace(r, "line %u: tcp-shutdown -> %s", a->line, rc < 0 ? replay_errno_name(-rc) : "ok");
        if (rc < 0)
            note_error(r, s, -rc, "shutdown");
        break;
    }
    case REPLAY_ACT_TCP_CLOSE:
        give_back(r, a, s, false);
        break;
    case REPLAY_ACT_TCP_ABORT:
        give_back(r, a, s, true);
        break;
    case REPLAY_ACT_TCP_READ:
        do_read(r, a, s);
        break;
    case REPLAY_ACT_EXPECT_STATE:
        expect_state_now(r, a, s);
        break;
    default:
        break;
    }
    if (s->pcb)
        note_state(s);
}

/* ---- serving: what the apps' poll loops do ------------------------------------------------ */

static uint32_t events(const struct tcp_sock *s)
{
    return s->pcb ? ts_pcb_events(s->pcb) : 0;
}

/* SO_ERROR after POLLERR: the error goes to the app once. */
static bool take_error(struct run *r, struct tcp_sock *s)
{
    if (!(events(s) & TS_EV_ERROR))
        return false;
    int err = ts_pcb_take_error(s->pcb);
    if (err)
        note_error(r, s, err, "SO_ERROR");
    return err != 0;
}

/*
 * Reads what is queued (up to max bytes, 0 = all; with `once`, one recv of at
 * most 64 KiB, as ts-nc's loop does per wake-up); true if anything (data,
 * EOF, an error) came.
 */
static bool read_some(struct run *r, struct tcp_sock *s, size_t max, bool once, const char *who)
{
    size_t total = 0;
    bool moved = false;
    for (unsigned i = 0; i < (once ? 1u : MAX_READS_PER_SERVE) && !s->eof && s->pcb; i++) {
        size_t cap = SCRATCH_LEN;
        if (max && max - total < cap)
            cap = max - total;
        if (cap == 0)
            break;
        ssize_t n = ts_pcb_recv(s->pcb, run_stack_now(r), r->scratch, cap, false);
        if (n == -EAGAIN)
            break;
        moved = true;
        if (n < 0) {
            note_error(r, s, (int)-n, "recv");
            s->eof = true; /* the app has its answer and stops reading, as ts-nc does */
            break;
        }
        if (n == 0) {
            s->eof = true;
            run_trace(r, "%s: the peer's FIN read (end of stream)", who);
            break;
        }
        total += (size_t)n;
        s->bytes_read += (uint64_t)n;
    }
    if (total)
        run_trace(r, "%s: read %zu bytes (%llu in all)", who, total, (unsigned long long)s->bytes_read);
    return moved;
}

static void do_read(struct run *r, const struct replay_action *a, struct tcp_sock *s)
{
    char who[32];
    snprintf(who, sizeof(who), "line %u: tcp-read", a->line);
    if (!read_some(r, s, a->read_max, false, who))
        run_trace(r, "%s: nothing to read", who);
}

static void adopt(struct run *r, struct tcp_sock *listener, struct ts_pcb *pcb)
{
    struct ts_sockaddr peer = {0};
    char ip[20];
    ts_pcb_remote(pcb, &peer);
    bool echo = listener->role == ROLE_ECHO_LISTENER;
    unsigned line = listener->line;
    struct replay_tcp_opts opts = listener->opts; /* add_sock may move the array */
    struct tcp_sock *s = add_sock(r, pcb, echo ? ROLE_ECHO_CONN : ROLE_CONN, line);
    if (!s)
        return;
    s->opts = opts;
    run_trace(r, "%s: accepted %s:%u", echo ? "tcp-echo" : "tcp-listen", run_ipstr(peer.addr, ip, sizeof(ip)),
              peer.port);
    if (echo) {
        /* echo_tcp.c: an echo is a reply, sent now rather than held to fill a segment. */
        setopt(r, pcb, 0, TS_OPT_NODELAY, 1, "TCP_NODELAY");
        s->echo_buf = malloc(ECHO_BUF);
        if (!s->echo_buf)
            run_problem(r, "out of memory for an echo buffer");
    } else {
        r->tcp->current = (long)(s - r->tcp->s);
    }
    note_state(s);
}

static bool accept_all(struct run *r, size_t li)
{
    bool moved = false;
    for (int k = 0; k < ECHO_ACCEPT_BATCH && r->tcp->s[li].pcb; k++) {
        int err = 0;
        struct ts_pcb *pcb = ts_pcb_accept(r->tcp->s[li].pcb, &err);
        if (!pcb)
            return moved;
        adopt(r, &r->tcp->s[li], pcb);
        moved = true;
        struct tcp_sock *l = &r->tcp->s[li];
        if (l->opts.once) {
            /* ts-nc -l serves one connection: the listener goes once it has it. */
            ts_pcb_close_at(l->pcb, run_stack_now(r));
            l->pcb = NULL;
            run_trace(r, "tcp-listen: one connection taken; listener closed");
        }
    }
    return moved;
}

/* echo_tcp.c pump_conn: read when nothing is pending, write back what is; close once all is echoed. */
static bool pump_echo(struct run *r, struct tcp_sock *s)
{
    bool moved = take_error(r, s);
    for (int round = 0; round < ECHO_PUMP_ROUNDS && s->pcb && s->echo_buf; round++) {
        bool progress = false;
        if (s->echo_len == 0 && !s->eof) {
            ssize_t n = ts_pcb_recv(s->pcb, run_stack_now(r), s->echo_buf, ECHO_BUF, false);
            if (n < 0 && n != -EAGAIN) {
                note_error(r, s, (int)-n, "recv");
                ts_pcb_close_at(s->pcb, run_stack_now(r));
                s->pcb = NULL;
                return true;
            }
            if (n >= 0) {
                s->eof = n == 0;
                s->echo_off = 0;
                s->echo_len = (size_t)n;
                s->bytes_read += (uint64_t)n;
                progress = true;
                run_trace(r, "tcp-echo: read %zd bytes%s", n, n == 0 ? " (the peer's FIN)" : "");
            }
        }
        if (s->echo_len > 0) {
            ssize_t n = ts_pcb_send(s->pcb, run_stack_now(r), s->echo_buf + s->echo_off, s->echo_len);
            if (n < 0 && n != -EAGAIN) {
                note_error(r, s, (int)-n, "send");
                ts_pcb_close_at(s->pcb, run_stack_now(r));
                s->pcb = NULL;
                return true;
            }
            if (n > 0) {
                s->echo_off += (size_t)n;
                s->echo_len -= (size_t)n;
                s->bytes_written += (uint64_t)n;
                progress = true;
                run_trace(r, "tcp-echo: wrote %zd bytes back", n);
            }
        }
        if (s->eof && s->echo_len == 0) {
            note_state(s);
            ts_pcb_close_at(s->pcb, run_stack_now(r));
            s->pcb = NULL;
            run_trace(r, "tcp-echo: everything echoed; closed");
            return true;
        }
        moved |= progress;
        if (!progress)
            break;
    }
    return moved;
}

/* What a socket is waiting for, as the apps' pollfd events say. */
static bool ready(const struct tcp_sock *s)
{
    uint32_t ev = events(s);
    switch (s->role) {
    case ROLE_LISTENER:
    case ROLE_ECHO_LISTENER:
        return ev & TS_EV_READABLE;
    case ROLE_ECHO_CONN:
        if (ev & (TS_EV_ERROR | TS_EV_HUP))
            return true;
        return s->echo_len > 0 ? (ev & TS_EV_WRITABLE) : (ev & TS_EV_READABLE);
    case ROLE_CONN:
        if (ev & TS_EV_ERROR)
            return true;
        return !s->opts.no_read && !s->eof && (ev & TS_EV_READABLE);
    }
    return false;
}

unsigned tcp_apps_work(struct run *r, uint16_t *lport, uint16_t *rport)
{
    struct tcp_apps *t = r->tcp;
    unsigned w = 0;
    for (size_t i = 0; t && i < t->n; i++) {
        struct tcp_sock *s = &t->s[i];
        if (!ready(s))
            continue;
        if (s->role == ROLE_ECHO_CONN) {
            w |= WORK_REPLY;
        } else if (s->role == ROLE_CONN && !(events(s) & TS_EV_ERROR) && !(w & WORK_READ)) {
            struct ts_sockaddr local = {0}, peer = {0};
            ts_pcb_local(s->pcb, &local);
            ts_pcb_remote(s->pcb, &peer);
            *lport = local.port;
            *rport = peer.port;
            w |= WORK_READ;
        } else {
            w |= WORK_SILENT;
        }
    }
    return w;
}

bool tcp_apps_serve(struct run *r)
{
    struct tcp_apps *t = r->tcp;
    bool moved = false;
    /* Accepting adds sockets: indexes, not pointers, and only the ones there at the start of the pass. */
    size_t n = t ? t->n : 0;
    for (size_t i = 0; i < n; i++) {
        struct tcp_sock *s = &t->s[i];
        if (!ready(s))
            continue;
        switch (s->role) {
        case ROLE_LISTENER:
        case ROLE_ECHO_LISTENER:
            moved |= accept_all(r, i);
            break;
        case ROLE_ECHO_CONN:
            moved |= pump_echo(r, s);
            break;
        case ROLE_CONN:
            moved |= take_error(r, s);
            if (!s->opts.no_read)
                moved |= read_some(r, s, 0, true, "tcp connection");
            note_state(s);
            break;
        }
    }
    return moved;
}

/* ---- the end ------------------------------------------------------------------------------ */

void tcp_apps_check_end(struct run *r)
{
    const struct replay_case *c = r->c;
    if (c->expect_state < 0 && c->expect_error < 0)
        return;
    struct tcp_apps *t = r->tcp;
    if (!t || t->current < 0) {
        run_problem(r, "line %u: expect-state/expect-error, but the case never had a TCP connection",
                    c->expect_state >= 0 ? c->expect_state_line : c->expect_error_line);
        return;
    }
    struct tcp_sock *s = &t->s[t->current];
    if (s->pcb)
        note_state(s);
    take_error(r, s);
    if (c->expect_state >= 0 && s->last_state != c->expect_state)
        run_problem(r, "line %u: expect-state %s, but at the end the connection is %s%s", c->expect_state_line,
                    ts_tcp_state_name((enum ts_tcp_state)c->expect_state),
                    s->last_state < 0 ? "?" : ts_tcp_state_name((enum ts_tcp_state)s->last_state),
                    s->pcb ? "" : " (as last seen before the app gave it back)");
    if (c->expect_error >= 0 && s->first_error != c->expect_error)
        run_problem(r, "line %u: expect-error %s, but the connection reported %s", c->expect_error_line,
                    replay_errno_name(c->expect_error), replay_errno_name(s->first_error));
    run_trace(r, "tcp: the current connection (line %u) ends %s, first error %s, %llu bytes read, %llu written",
              s->line, s->last_state < 0 ? "?" : ts_tcp_state_name((enum ts_tcp_state)s->last_state),
              replay_errno_name(s->first_error), (unsigned long long)s->bytes_read,
              (unsigned long long)s->bytes_written);
}

void tcp_apps_close(struct run *r)
{
    struct tcp_apps *t = r->tcp;
    for (size_t i = 0; t && i < t->n; i++) {
        if (t->s[i].pcb)
            ts_pcb_close_at(t->s[i].pcb, run_stack_now(r));
        t->s[i].pcb = NULL;
    }
}

void tcp_apps_free(struct run *r)
{
    struct tcp_apps *t = r->tcp;
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->s[i].echo_buf);
    free(t->s);
    free(t);
    r->tcp = NULL;
}
