/*
 * Running a replay case: a stack on a virtual clock, fed from a capture,
 * its output compared with the capture's frames from the stack's MAC.
 *
 *   replay_case_run   -> setup -> run_loop -> step: feed_inputs, run_actions, ts_stack_poll, serve_apps
 *                     -> check_counters -> compare_frames -> close_and_check_buffers
 *   replay_case_bless -> setup -> run_loop -> blessed_frames -> write_blessed -> bless_review
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay_internal.h"
#include "tapstack/pcb.h"

/*
 * The stack's clock reads this at the case's start. A live runtime's clock
 * (CLOCK_MONOTONIC) never starts at zero either, so a core that treats time 0
 * specially behaves the same here as it did when the case was recorded.
 */
#define REPLAY_CLOCK_ORIGIN TS_SEC(1000)

/* Bounds that keep a broken core from hanging a test run. */
#define MAX_LOOP_STEPS 1000000
#define MAX_STALLED_POLLS 3
#define MAX_DRAIN_PER_PCB 10000
#define MAX_REPORTED_FRAMES 20
#define MAX_UDP_CLIENTS 16
#define DRAIN_HORIZON TS_SEC(3600)
#define SCRATCH_LEN 65536 /* one datagram of any size */

/* ---- the run ------------------------------------------------------------------------------ */

struct udp_client {
    uint16_t port; /* 0 = the socket shared by udp-send lines without 'from' */
    struct ts_pcb *pcb;
};

/* What happened, in order: bless rebuilds the capture from it. */
struct happening {
    bool input;
    size_t index; /* into c->frames (input) or r->out */
};

struct run {
    const struct replay_case *c;
    struct ts_stack *st;
    ts_time now; /* after the start */
    bool draining; /* past the end: frames sent now are not compared */
    bool polled;   /* the first ts_stack_poll has happened */
    uint8_t *scratch; /* SCRATCH_LEN bytes the apps read datagrams into */
    struct replay_frame *out;
    size_t n_out, cap_out;
    struct happening *log;
    size_t n_log, cap_log;
    struct ts_pcb *echo[REPLAY_MAX_APPS];
    struct ts_pcb *ping;
    struct udp_client udp[MAX_UDP_CLIENTS];
    unsigned n_udp;
    struct replay_buf report; /* problems */
    struct replay_buf trace;  /* everything, for -v */
    unsigned problems;
};

static void problem(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    replay_buf_vprintf(&r->report, fmt, ap);
    va_end(ap);
    replay_buf_printf(&r->report, "\n");
    r->problems++;
}

static void trace(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void trace(struct run *r, const char *fmt, ...)
{
    char t[32];
    replay_format_time(r->now, t, sizeof(t));
    replay_buf_printf(&r->trace, "%12s  ", t);
    va_list ap;
    va_start(ap, fmt);
    replay_buf_vprintf(&r->trace, fmt, ap);
    va_end(ap);
    replay_buf_printf(&r->trace, "\n");
}

static void log_happening(struct run *r, bool input, size_t index)
{
    if (r->n_log == r->cap_log) {
        size_t ncap = r->cap_log ? r->cap_log * 2 : 64;
        struct happening *nl = realloc(r->log, ncap * sizeof(*nl));
        if (!nl) {
            problem(r, "out of memory recording the run");
            return;
        }
        r->log = nl;
        r->cap_log = ncap;
    }
    r->log[r->n_log++] = (struct happening){.input = input, .index = index};
}

static int on_transmit(void *ctx, ts_time now, const uint8_t *frame, size_t len)
{
    struct run *r = ctx;
    char desc[200];
    replay_describe_frame(frame, len, desc, sizeof(desc));
    if (r->draining) {
        trace(r, "sent after the end (not compared): %s", desc);
        return 0;
    }
    if (r->n_out == r->cap_out) {
        size_t ncap = r->cap_out ? r->cap_out * 2 : 64;
        struct replay_frame *no = realloc(r->out, ncap * sizeof(*no));
        if (!no) {
            problem(r, "out of memory recording sent frames");
            return 0;
        }
        r->out = no;
        r->cap_out = ncap;
    }
    struct replay_frame *f = &r->out[r->n_out];
    memset(f, 0, sizeof(*f));
    f->data = malloc(len ? len : 1);
    if (!f->data) {
        problem(r, "out of memory recording sent frames");
        return 0;
    }
    memcpy(f->data, frame, len);
    f->len = len;
    f->t = now - REPLAY_CLOCK_ORIGIN;
    f->from_stack = true;
    r->n_out++;
    log_happening(r, false, r->n_out - 1);
    if (f->t != r->now)
        trace(r, "note: the stack passed now=%+" PRId64 "us to transmit, the harness is at %+" PRId64 "us", f->t,
              r->now);
    trace(r, "sent #%zu: %s", r->n_out, desc);
    return 0;
}

static void on_trace(void *ctx, const struct ts_trace_event *ev)
{
    struct run *r = ctx;
    trace(r, "  [%s] %s", ts_trace_layer_name(ev->layer), ev->text);
}

static ts_time stack_now(const struct run *r)
{
    return REPLAY_CLOCK_ORIGIN + r->now;
}

static const char *errno_name(int e)
{
    switch (e) {
    case EAGAIN: return "EAGAIN";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EMSGSIZE: return "EMSGSIZE";
    case ENOBUFS: return "ENOBUFS";
    case EADDRINUSE: return "EADDRINUSE";
    case EMFILE: return "EMFILE";
    default: return strerror(e);
    }
}

static char *ipstr(ts_ipv4_addr a, char *buf, size_t cap)
{
    snprintf(buf, cap, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
    return buf;
}

static struct ts_pcb *open_pcb(struct run *r, enum ts_pcb_type type, unsigned line)
{
    int err = 0;
    struct ts_pcb *pcb = ts_pcb_open(r->st, type, &err);
    if (!pcb)
        problem(r, "line %u: ts_pcb_open failed: %s", line, errno_name(-err));
    return pcb;
}

/* ts-echo --udp --port P: socket(), bind(0.0.0.0:P). */
static void start_apps(struct run *r)
{
    for (unsigned i = 0; i < r->c->n_echo; i++) {
        struct ts_pcb *pcb = open_pcb(r, TS_PCB_UDP, 0);
        if (!pcb)
            continue;
        struct ts_sockaddr local = {.addr = 0, .port = r->c->echo_ports[i]};
        int rc = ts_pcb_bind(pcb, &local);
        if (rc < 0)
            problem(r, "app udp-echo %u: bind failed: %s", local.port, errno_name(-rc));
        r->echo[i] = pcb;
        trace(r, "app udp-echo listening on port %u", local.port);
    }
}

/* Reads everything queued on pcb; for an echo app, sends each datagram straight back. */
static void drain_pcb(struct run *r, struct ts_pcb *pcb, const char *who, bool echo)
{
    uint8_t *buf = r->scratch;
    char ip[20];
    for (unsigned i = 0; i < MAX_DRAIN_PER_PCB; i++) {
        struct ts_sockaddr from = {0};
        bool truncated = false;
        ssize_t n = ts_pcb_recvfrom(pcb, buf, SCRATCH_LEN, &from, false, &truncated);
        if (n == -EAGAIN)
            return;
        if (n < 0) {
            trace(r, "%s: recvfrom reports %s", who, errno_name((int)-n));
            continue;
        }
        trace(r, "%s: received %zd bytes from %s:%u", who, n, ipstr(from.addr, ip, sizeof(ip)), from.port);
        if (!echo)
            continue;
        ssize_t s = ts_pcb_sendto(pcb, stack_now(r), buf, (size_t)n, &from);
        if (s < 0)
            trace(r, "%s: echo sendto failed: %s", who, errno_name((int)-s));
    }
    trace(r, "%s: still readable after %d datagrams; leaving the rest", who, MAX_DRAIN_PER_PCB);
}

static void serve_apps(struct run *r)
{
    for (unsigned i = 0; i < r->c->n_echo; i++)
        if (r->echo[i])
            drain_pcb(r, r->echo[i], "udp-echo", true);
    if (r->ping)
        drain_pcb(r, r->ping, "ping", false);
    for (unsigned i = 0; i < r->n_udp; i++)
        drain_pcb(r, r->udp[i].pcb, "udp-send socket", false);
}

/*
 * ts-ping: one ping socket for the whole run, opened at the first ping; each
 * ping writes an echo request header (identifier and checksum left for the
 * stack to fill) followed by the data.
 */
static void do_ping(struct run *r, const struct replay_action *a)
{
    char ip[20];
    if (!r->ping && !(r->ping = open_pcb(r, TS_PCB_ICMP_ECHO, a->line)))
        return;
    size_t len = 8 + a->payload_len;
    uint8_t *msg = calloc(1, len);
    if (!msg) {
        problem(r, "line %u: out of memory", a->line);
        return;
    }
    msg[0] = 8; /* echo request */
    msg[6] = (uint8_t)(a->seq >> 8);
    msg[7] = (uint8_t)a->seq;
    memcpy(msg + 8, a->payload, a->payload_len);
    struct ts_sockaddr to = {.addr = a->dst, .port = 0};
    ssize_t rc = ts_pcb_sendto(r->ping, stack_now(r), msg, len, &to);
    trace(r, "line %u: ping %s seq %u size %zu -> %s", a->line, ipstr(a->dst, ip, sizeof(ip)), a->seq,
          a->payload_len, rc < 0 ? errno_name((int)-rc) : "sent");
    free(msg);
}

static struct ts_pcb *udp_client(struct run *r, const struct replay_action *a)
{
    for (unsigned i = 0; i < r->n_udp; i++)
        if (r->udp[i].port == a->sport)
            return r->udp[i].pcb;
    if (r->n_udp == MAX_UDP_CLIENTS) {
        problem(r, "line %u: more than %d udp-send sockets", a->line, MAX_UDP_CLIENTS);
        return NULL;
    }
    struct ts_pcb *pcb = open_pcb(r, TS_PCB_UDP, a->line);
    if (!pcb)
        return NULL;
    if (a->sport) {
        struct ts_sockaddr local = {.addr = 0, .port = a->sport};
        int rc = ts_pcb_bind(pcb, &local);
        if (rc < 0)
            problem(r, "line %u: bind to port %u failed: %s", a->line, a->sport, errno_name(-rc));
    }
    r->udp[r->n_udp++] = (struct udp_client){.port = a->sport, .pcb = pcb};
    return pcb;
}

static void do_udp_send(struct run *r, const struct replay_action *a)
{
    char ip[20];
    struct ts_pcb *pcb = udp_client(r, a);
    if (!pcb)
        return;
    struct ts_sockaddr to = {.addr = a->dst, .port = a->dport};
    ssize_t rc = ts_pcb_sendto(pcb, stack_now(r), a->payload, a->payload_len, &to);
    trace(r, "line %u: udp-send %s:%u %zu bytes -> %s", a->line, ipstr(a->dst, ip, sizeof(ip)), a->dport,
          a->payload_len, rc < 0 ? errno_name((int)-rc) : "sent");
}

static void close_pcbs(struct run *r)
{
    for (unsigned i = 0; i < REPLAY_MAX_APPS; i++) {
        if (r->echo[i])
            ts_pcb_close(r->echo[i]);
        r->echo[i] = NULL;
    }
    if (r->ping)
        ts_pcb_close(r->ping);
    r->ping = NULL;
    for (unsigned i = 0; i < r->n_udp; i++)
        ts_pcb_close(r->udp[i].pcb);
    r->n_udp = 0;
}

/* ---- the clock ------------------------------------------------------------------------------ */

struct cursor {
    size_t next_input;  /* index into c->frames */
    size_t next_action; /* index into c->actions */
};

static void skip_stack_frames(const struct replay_case *c, struct cursor *cur)
{
    while (cur->next_input < c->n_frames && c->frames[cur->next_input].from_stack)
        cur->next_input++;
}

static ts_time next_input_time(const struct replay_case *c, const struct cursor *cur)
{
    return cur->next_input < c->n_frames ? c->frames[cur->next_input].t : TS_TIME_NEVER;
}

static ts_time next_action_time(const struct replay_case *c, const struct cursor *cur)
{
    return cur->next_action < c->n_actions ? c->actions[cur->next_action].t : TS_TIME_NEVER;
}

static ts_time next_deadline(const struct run *r)
{
    ts_time d = ts_stack_next_deadline(r->st);
    return d == TS_TIME_NEVER ? TS_TIME_NEVER : d - REPLAY_CLOCK_ORIGIN;
}

static ts_time min3(ts_time a, ts_time b, ts_time c)
{
    ts_time m = a < b ? a : b;
    return m < c ? m : c;
}

static void feed_inputs(struct run *r, struct cursor *cur)
{
    const struct replay_case *c = r->c;
    for (skip_stack_frames(c, cur); next_input_time(c, cur) <= r->now; skip_stack_frames(c, cur)) {
        const struct replay_frame *f = &c->frames[cur->next_input];
        char desc[200];
        replay_describe_frame(f->data, f->len, desc, sizeof(desc));
        trace(r, "input (capture frame %u): %s", f->index, desc);
        log_happening(r, true, cur->next_input);
        ts_stack_input(r->st, stack_now(r), f->data, f->len);
        cur->next_input++;
    }
}

static void run_actions(struct run *r, struct cursor *cur)
{
    const struct replay_case *c = r->c;
    while (next_action_time(c, cur) <= r->now) {
        const struct replay_action *a = &c->actions[cur->next_action++];
        if (a->kind == REPLAY_ACT_PING)
            do_ping(r, a);
        else
            do_udp_send(r, a);
    }
}

/*
 * One moment of the virtual clock. Input frames go before actions due at the
 * same moment, as in the capture, and the poll comes last, as in the runtime's
 * loop (receive, then poll). Before the case's first-poll time there is no
 * poll at all: live, the runtime thread had not run its first turn yet while
 * the app and the wire went ahead.
 */
static void step(struct run *r, struct cursor *cur)
{
    feed_inputs(r, cur);
    run_actions(r, cur);
    if (r->now >= r->c->first_poll) {
        ts_stack_poll(r->st, stack_now(r));
        r->polled = true;
    }
    serve_apps(r);
}

/*
 * The virtual clock: jump to whichever comes first, the next input frame, the
 * next action or the stack's next deadline (before the first poll: the
 * first-poll time instead), and run everything due then.
 */
static void run_loop(struct run *r, ts_time end)
{
    struct cursor cur = {0};
    unsigned stalled = 0;
    r->now = 0;
    start_apps(r);
    step(r, &cur); /* the first poll, unless the case moved it: a gratuitous ARP goes out here */
    for (unsigned steps = 0; steps < MAX_LOOP_STEPS; steps++) {
        skip_stack_frames(r->c, &cur);
        ts_time ti = next_input_time(r->c, &cur), ta = next_action_time(r->c, &cur);
        ts_time td = r->polled ? next_deadline(r) : r->c->first_poll;
        ts_time t = min3(ti, ta, td);
        if (t == TS_TIME_NEVER || t > end)
            return;
        if (t <= r->now && ti > r->now && ta > r->now) {
            /* Only the stack's own deadline is due, and the last poll did not move it. */
            if (++stalled > MAX_STALLED_POLLS) {
                char ts[32];
                replay_format_time(td, ts, sizeof(ts));
                problem(r, "the stack's next deadline stays at %s after %d polls at that time; stopping the run",
                        ts, MAX_STALLED_POLLS);
                return;
            }
        } else {
            stalled = 0;
        }
        if (t > r->now)
            r->now = t;
        step(r, &cur);
    }
    problem(r, "the run took more than %d steps; stopping", MAX_LOOP_STEPS);
}

static ts_time run_end(const struct replay_case *c, bool inputs_only)
{
    ts_time last = 0;
    for (size_t i = 0; i < c->n_frames; i++)
        if (!inputs_only || !c->frames[i].from_stack)
            last = c->frames[i].t;
    ts_time end = last + c->tolerance;
    return end > c->duration ? end : c->duration;
}

/* ---- checking ------------------------------------------------------------------------------- */

struct counter_list {
    struct replay_buf *b;
    bool drops_only;
    unsigned shown;
};

static void list_counter(void *ctx, const char *layer, const char *name, uint64_t value)
{
    struct counter_list *l = ctx;
    bool drop = strncmp(name, "drop_", 5) == 0;
    if (value == 0 || drop != l->drops_only)
        return;
    replay_buf_printf(l->b, "%s%s.%s=%" PRIu64, l->shown++ % 6 == 0 ? "\n    " : " ", layer, name, value);
}

static void list_all_names(void *ctx, const char *layer, const char *name, uint64_t value)
{
    struct counter_list *l = ctx;
    (void)value;
    replay_buf_printf(l->b, "%s%s.%s", l->shown++ ? ", " : "", layer, name);
}

static void check_counters(struct run *r)
{
    for (size_t i = 0; i < r->c->n_counters; i++) {
        const struct replay_counter_expect *e = &r->c->counters[i];
        uint64_t v = 0;
        if (!ts_stack_counter(r->st, e->name, &v)) {
            struct replay_buf names = {0};
            struct counter_list l = {.b = &names};
            ts_stack_counters_foreach(r->st, list_all_names, &l);
            problem(r, "line %u: unknown counter '%s'; the stack's counters are: %s", e->line, e->name,
                    names.s ? names.s : "(none)");
            replay_buf_free(&names);
            continue;
        }
        if (v != e->value)
            problem(r, "line %u: counter %s expected %" PRIu64 " got %" PRIu64, e->line, e->name, e->value, v);
    }
}

static void describe_into(struct replay_buf *b, const char *label, const struct replay_frame *f)
{
    char desc[200];
    replay_describe_frame(f->data, f->len, desc, sizeof(desc));
    replay_buf_printf(b, "    %s %s\n", label, desc);
}

/* Compares the k-th frame the stack sent with the k-th frame of the capture from the stack's MAC. */
static bool compare_one(struct run *r, size_t k, const struct replay_frame *exp, const struct replay_frame *got,
                        struct replay_dissection *de, struct replay_dissection *dg)
{
    struct replay_buf diffs = {0};
    char te[32], tg[32], tol[32];
    replay_dissect(exp->data, exp->len, de);
    replay_dissect(got->data, got->len, dg);
    unsigned n = replay_diff(de, dg, &diffs);
    ts_time skew = got->t - exp->t;
    bool late = skew > r->c->tolerance || -skew > r->c->tolerance;
    if (n == 0 && !late)
        return true;
    replay_format_time(exp->t, te, sizeof(te));
    replay_format_time(got->t, tg, sizeof(tg));
    replay_format_time(r->c->tolerance, tol, sizeof(tol));
    replay_buf_printf(&r->report, "frame #%zu (expected capture frame %u, t=%s): ", k + 1, exp->index, te);
    if (late)
        replay_buf_printf(&r->report, "sent at t=%s, outside %s ± %s%s", tg, te, tol + 1, n ? "; " : "");
    replay_buf_printf(&r->report, "%s\n", diffs.s ? diffs.s : "");
    describe_into(&r->report, "expected:", exp);
    describe_into(&r->report, "got:     ", got);
    replay_buf_free(&diffs);
    r->problems++;
    return false;
}

static void compare_frames(struct run *r)
{
    const struct replay_case *c = r->c;
    struct replay_dissection *de = malloc(sizeof(*de)), *dg = malloc(sizeof(*dg));
    if (!de || !dg) {
        problem(r, "out of memory comparing frames");
        free(de);
        free(dg);
        return;
    }
    size_t k = 0, shown = 0;
    char t[32];
    for (size_t i = 0; i < c->n_frames; i++) {
        const struct replay_frame *exp = &c->frames[i];
        if (!exp->from_stack)
            continue;
        bool ok = true;
        if (k < r->n_out) {
            if (shown < MAX_REPORTED_FRAMES)
                ok = compare_one(r, k, exp, &r->out[k], de, dg);
            else
                ok = false, r->problems++;
        } else {
            replay_format_time(exp->t, t, sizeof(t));
            if (shown < MAX_REPORTED_FRAMES) {
                replay_buf_printf(&r->report, "frame #%zu missing (expected capture frame %u, t=%s)\n", k + 1,
                                  exp->index, t);
                describe_into(&r->report, "expected:", exp);
            }
            r->problems++;
            ok = false;
        }
        shown += !ok;
        k++;
    }
    for (; k < r->n_out; k++, shown++) {
        replay_format_time(r->out[k].t, t, sizeof(t));
        if (shown < MAX_REPORTED_FRAMES) {
            replay_buf_printf(&r->report, "frame #%zu extra (sent at t=%s, the capture has no more frames from "
                                          "the stack)\n", k + 1, t);
            describe_into(&r->report, "got:     ", &r->out[k]);
        }
        r->problems++;
    }
    if (shown > MAX_REPORTED_FRAMES)
        replay_buf_printf(&r->report, "... and %zu more frame problems (run with -v to see the whole run)\n",
                          shown - MAX_REPORTED_FRAMES);
    free(de);
    free(dg);
}

/*
 * Every test that creates a stack checks that no packet buffer is left once
 * every pcb is closed. A buffer still held by a timer (a reassembly, an ARP
 * queue) is not a leak, so the timers run out first, past the end of the case.
 */
static void close_and_check_buffers(struct run *r, ts_time end)
{
    close_pcbs(r);
    size_t held = ts_stack_pbufs_in_use(r->st);
    trace(r, "closed every pcb; %zu packet buffers in use", held);
    r->draining = true;
    for (unsigned i = 0; i < MAX_LOOP_STEPS && ts_stack_pbufs_in_use(r->st) > 0; i++) {
        ts_time d = next_deadline(r);
        if (d == TS_TIME_NEVER || d > end + DRAIN_HORIZON)
            break;
        if (d > r->now)
            r->now = d;
        ts_stack_poll(r->st, stack_now(r));
    }
    size_t left = ts_stack_pbufs_in_use(r->st);
    if (left > 0)
        problem(r, "%zu packet buffers still allocated after closing every pcb and running every timer "
                   "(%zu at the end of the case): a leak", left, held);
}

/* Appends the non-zero counters, drops or the others, six to a line; "none" if there are none. */
static void nonzero_counters(const struct run *r, bool drops_only, struct replay_buf *out)
{
    struct replay_buf b = {0};
    struct counter_list l = {.b = &b, .drops_only = drops_only};
    ts_stack_counters_foreach(r->st, list_counter, &l);
    replay_buf_printf(out, "%s", b.s ? b.s : " none");
    replay_buf_free(&b);
}

static void trace_counters(struct run *r)
{
    struct replay_buf b = {0};
    nonzero_counters(r, true, &b);
    nonzero_counters(r, false, &b);
    trace(r, "counters at the end (non-zero):%s", b.s);
    replay_buf_free(&b);
}

static void append_counters(struct run *r)
{
    replay_buf_printf(&r->report, "drop counters (non-zero):");
    nonzero_counters(r, true, &r->report);
    replay_buf_printf(&r->report, "\nother counters (non-zero):");
    nonzero_counters(r, false, &r->report);
    replay_buf_printf(&r->report, "\n");
}

static bool setup(struct run *r, const struct replay_case *c)
{
    memset(r, 0, sizeof(*r));
    r->c = c;
    struct ts_stack_config cfg = c->cfg;
    cfg.trace = on_trace;
    cfg.trace_ctx = r;
    cfg.trace_mask = TS_TRACE_ALL;
    struct ts_link link = {.ctx = r, .transmit = on_transmit, .mtu = c->mtu};
    r->scratch = malloc(SCRATCH_LEN);
    if (!r->scratch) {
        problem(r, "out of memory");
        return false;
    }
    r->st = ts_stack_new(&cfg, &link);
    if (!r->st) {
        problem(r, "ts_stack_new refused the case's stack line (address, prefix or MTU)");
        return false;
    }
    return true;
}

static void teardown(struct run *r)
{
    close_pcbs(r);
    if (r->st)
        ts_stack_free(r->st);
    replay_frames_free(r->out, r->n_out);
    free(r->log);
    free(r->scratch);
    replay_buf_free(&r->report);
    replay_buf_free(&r->trace);
}

static void finish_report(struct run *r, struct replay_result *res)
{
    struct replay_buf b = {0};
    res->problems = r->problems;
    res->passed = r->problems == 0;
    res->frames_sent = r->n_out;
    if (!res->passed) {
        replay_buf_printf(&b, "case %s: %u problem%s (%zu frames sent, %zu expected)\n", r->c->name, r->problems,
                          r->problems == 1 ? "" : "s", r->n_out, res->frames_expected);
        replay_buf_printf(&b, "%s", r->report.s ? r->report.s : "");
    }
    res->report = replay_buf_take(&b);
    res->trace = replay_buf_take(&r->trace);
}

void replay_case_run(const struct replay_case *c, struct replay_result *res)
{
    struct run r;
    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < c->n_frames; i++)
        res->frames_expected += c->frames[i].from_stack;
    if (setup(&r, c)) {
        ts_time end = run_end(c, false);
        run_loop(&r, end);
        trace_counters(&r);
        check_counters(&r);
        compare_frames(&r);
        close_and_check_buffers(&r, end);
        if (r.problems)
            append_counters(&r);
    }
    finish_report(&r, res);
    teardown(&r);
}

void replay_result_clear(struct replay_result *res)
{
    free(res->report);
    free(res->trace);
    memset(res, 0, sizeof(*res));
}

/* ---- bless ------------------------------------------------------------------------------------- */

/* The capture as it will be: the peer's frames and the stack's, in the order they happened. */
static struct replay_frame *blessed_frames(struct run *r)
{
    const struct replay_case *c = r->c;
    struct replay_frame *all = calloc(r->n_log ? r->n_log : 1, sizeof(*all));
    if (!all)
        return NULL;
    for (size_t i = 0; i < r->n_log; i++) {
        const struct replay_frame *f = r->log[i].input ? &c->frames[r->log[i].index] : &r->out[r->log[i].index];
        all[i] = *f;
        all[i].t = c->start_abs + f->t;
        all[i].index = (unsigned)i + 1;
        all[i].from_stack = !r->log[i].input;
    }
    return all;
}

static int write_blessed(const struct replay_case *c, const struct replay_frame *all, size_t n, char *err,
                         size_t errlen)
{
    size_t len = strlen(c->capture_path) + 8;
    char *tmp = malloc(len);
    if (!tmp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(tmp, len, "%s.new", c->capture_path);
    int rc = replay_capture_write(tmp, all, n, err, errlen);
    if (rc == 0 && rename(tmp, c->capture_path) != 0) {
        snprintf(err, errlen, "rename %s to %s: %s", tmp, c->capture_path, strerror(errno));
        rc = -1;
    }
    if (rc != 0)
        remove(tmp);
    free(tmp);
    return rc;
}

static char *bless_review(struct run *r, const struct replay_frame *all, size_t n)
{
    struct replay_buf b = {0};
    replay_buf_printf(&b, "blessed %s: %zu frames from the stack\n", r->c->capture_path, r->n_out);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!all[i].from_stack)
            continue;
        char t[32], desc[200];
        replay_format_time(all[i].t - r->c->start_abs, t, sizeof(t));
        replay_describe_frame(all[i].data, all[i].len, desc, sizeof(desc));
        char *fields = replay_dissect_text(all[i].data, all[i].len);
        replay_buf_printf(&b, "frame #%zu (capture frame %u) t=%s %s\n%s", ++k, all[i].index, t, desc, fields);
        free(fields);
    }
    char *checks = replay_review(all, n);
    replay_buf_printf(&b, "checks of the stack's datagrams (whole, after reassembly):\n%s", checks);
    free(checks);
    replay_buf_printf(&b, "drop counters at the end (non-zero):");
    nonzero_counters(r, true, &b);
    replay_buf_printf(&b, "\nother counters at the end (non-zero):");
    nonzero_counters(r, false, &b);
    replay_buf_printf(&b, "\n");
    if (r->problems)
        replay_buf_printf(&b, "problems other than frames (check before committing):\n%s",
                          r->report.s ? r->report.s : "");
    return replay_buf_take(&b);
}

int replay_case_bless(const struct replay_case *c, char **review, char *err, size_t errlen)
{
    *review = NULL;
    if (!c->synthetic) {
        snprintf(err, errlen, "%s is not marked 'origin synthetic': a recorded case's expected frames come from "
                              "a live run; record it again with scripts/record-case.sh instead", c->path);
        return -1;
    }
    struct run r;
    if (!setup(&r, c)) {
        snprintf(err, errlen, "%s", r.report.s ? r.report.s : "setup failed");
        teardown(&r);
        return -1;
    }
    ts_time end = run_end(c, true);
    run_loop(&r, end);
    trace_counters(&r);
    check_counters(&r);
    close_and_check_buffers(&r, end);
    struct replay_frame *all = blessed_frames(&r);
    int rc = -1;
    if (!all)
        snprintf(err, errlen, "out of memory");
    else
        rc = write_blessed(c, all, r.n_log, err, errlen);
    if (rc == 0)
        *review = bless_review(&r, all, r.n_log);
    free(all);
    teardown(&r);
    return rc;
}
