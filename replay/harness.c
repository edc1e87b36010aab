/*
 * Running a replay case: a stack on a virtual clock, fed from a capture (or a
 * generating peer), its output recorded for check.c to compare with the
 * capture's frames from the stack's MAC.
 *
 *   replay_case_run -> run_setup -> run_loop -> step: feed_inputs, run_actions, [apps], ts_stack_poll, apps
 *                   -> apps_check_end, check_counters, check_frames, check_buffers
 *   bless.c         -> run_setup -> run_loop -> the capture rewritten from what happened
 *
 * Timing in a recorded case (README "Timing"): the apps and the runtime ran
 * on their own threads, so an app's answer left a little after the input that
 * woke it, and a timer's frame a little after its deadline; the capture shows
 * exactly when. The harness lets the apps act, and polls a due timer, at the
 * time of the next frame the capture has from the stack when that comes
 * within the tolerance, so the stack's clock reads what it read live.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_run.h"
#include "replay_step.h"

/* Bounds that keep a broken core from hanging a test run. */
#define MAX_LOOP_STEPS 2000000
#define MAX_STALLED_POLLS 3

/* ---- plumbing -------------------------------------------------------------------------------- */

void run_problem(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    replay_buf_vprintf(&r->report, fmt, ap);
    va_end(ap);
    replay_buf_printf(&r->report, "\n");
    r->problems++;
}

/* One line of the run's trace; a watcher sees it too unless it has a callback of its own for it. */
static void trace_text(struct run *r, const struct ts_trace_event *ev, bool watched, const char *text)
{
    char t[32];
    replay_format_time(r->now, t, sizeof(t));
    replay_buf_printf(&r->trace, "%12s  %s\n", t, text);
    if (watched && r->watch && r->watch->line)
        r->watch->line(r->watch->ctx, r, ev, text);
}

static void trace_vf(struct run *r, bool watched, const char *fmt, va_list ap)
{
    struct replay_buf b = {0};
    replay_buf_vprintf(&b, fmt, ap);
    trace_text(r, NULL, watched, b.s ? b.s : "");
    replay_buf_free(&b);
}

void run_trace(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    trace_vf(r, true, fmt, ap);
    va_end(ap);
}

/* A line a watcher hears about through its own callback (an input, a frame sent). */
static void trace_unwatched(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace_unwatched(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    trace_vf(r, false, fmt, ap);
    va_end(ap);
}

ts_time run_stack_now(const struct run *r)
{
    return r->origin + r->now;
}

char *run_ipstr(ts_ipv4_addr a, char *buf, size_t cap)
{
    snprintf(buf, cap, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
    return buf;
}

struct ts_pcb *run_open_pcb(struct run *r, enum ts_pcb_type type, unsigned line)
{
    int err = 0;
    struct ts_pcb *pcb = ts_pcb_open(r->st, type, &err);
    if (!pcb)
        run_problem(r, "line %u: ts_pcb_open failed: %s", line, replay_errno_name(-err));
    return pcb;
}

static void log_happening(struct run *r, bool input, size_t index)
{
    if (r->n_log == r->cap_log) {
        size_t ncap = r->cap_log ? r->cap_log * 2 : 64;
        struct happening *nl = realloc(r->log, ncap * sizeof(*nl));
        if (!nl) {
            run_problem(r, "out of memory recording the run");
            return;
        }
        r->log = nl;
        r->cap_log = ncap;
    }
    r->log[r->n_log++] = (struct happening){.input = input, .index = index};
}

static bool record_sent(struct run *r, ts_time t, const uint8_t *frame, size_t len)
{
    if (r->n_out == r->cap_out) {
        size_t ncap = r->cap_out ? r->cap_out * 2 : 64;
        struct replay_frame *no = realloc(r->out, ncap * sizeof(*no));
        if (!no)
            return false;
        r->out = no;
        r->cap_out = ncap;
    }
    struct replay_frame *f = &r->out[r->n_out];
    memset(f, 0, sizeof(*f));
    f->data = malloc(len ? len : 1);
    if (!f->data)
        return false;
    memcpy(f->data, frame, len);
    f->len = len;
    f->t = t;
    f->from_stack = true;
    r->n_out++;
    return true;
}

static int on_transmit(void *ctx, ts_time now, const uint8_t *frame, size_t len)
{
    struct run *r = ctx;
    char desc[240];
    replay_flows_learn(&r->flows, frame, len);
    replay_describe_frame_in(&r->flows, frame, len, desc, sizeof(desc));
    if (r->draining) {
        trace_unwatched(r, "sent after the end (not compared): %s", desc);
        return 0;
    }
    ts_time t = now - r->origin;
    if (!record_sent(r, t, frame, len)) {
        run_problem(r, "out of memory recording sent frames");
        return 0;
    }
    log_happening(r, false, r->n_out - 1);
    if (t != r->now)
        run_trace(r, "note: the stack passed now=%+" PRId64 "us to transmit, the harness is at %+" PRId64 "us", t,
                  r->now);
    trace_unwatched(r, "sent #%zu: %s", r->n_out, desc);
    if (r->watch && r->watch->sent)
        r->watch->sent(r->watch->ctx, r, r->n_out - 1);
    if (r->peer)
        r->peer(r->peer_ctx, (struct replay_peer_io *)r, t, frame, len);
    return 0;
}

static void on_trace(void *ctx, const struct ts_trace_event *ev)
{
    struct run *r = ctx;
    struct replay_buf b = {0};
    replay_buf_printf(&b, "  [%s] %s", ts_trace_layer_name(ev->layer), ev->text);
    trace_text(r, ev, true, b.s ? b.s : "");
    replay_buf_free(&b);
}

/* ---- the frames the stack receives ------------------------------------------------------------- */

static bool grow_inputs(struct run *r)
{
    if (r->n_in < r->cap_in)
        return true;
    size_t ncap = r->cap_in ? r->cap_in * 2 : 64;
    struct replay_frame *ni = realloc(r->in, ncap * sizeof(*ni));
    if (!ni)
        return false;
    r->in = ni;
    r->cap_in = ncap;
    return true;
}

/*
 * A generating peer's frame, to reach the stack at t (never before now). It
 * goes after every input due at or before t, so an answer queued while the
 * stack handles an input at `now` is fed right after it, at `now`.
 */
void replay_peer_send(struct replay_peer_io *io, ts_time t, const uint8_t *frame, size_t len)
{
    struct run *r = (struct run *)io;
    if (t < r->now)
        t = r->now;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy || !grow_inputs(r)) {
        free(copy);
        run_problem(r, "out of memory queueing the peer's frames");
        return;
    }
    memcpy(copy, frame, len);
    size_t at = r->n_in;
    while (at > 0 && r->in[at - 1].t > t)
        at--;
    memmove(&r->in[at + 1], &r->in[at], (r->n_in - at) * sizeof(*r->in));
    r->in[at] = (struct replay_frame){.t = t, .data = copy, .len = len};
    r->n_in++;
}

static bool load_inputs(struct run *r)
{
    const struct replay_case *c = r->c;
    for (size_t i = 0; i < c->n_frames; i++) {
        if (c->frames[i].from_stack)
            continue;
        if (!grow_inputs(r))
            return false;
        r->in[r->n_in++] = c->frames[i]; /* the data stays the case's */
    }
    size_t n = 0;
    for (size_t i = 0; i < c->n_frames; i++)
        n += c->frames[i].from_stack;
    r->exp = calloc(n ? n : 1, sizeof(*r->exp));
    if (!r->exp)
        return false;
    for (size_t i = 0; i < c->n_frames; i++)
        if (c->frames[i].from_stack)
            r->exp[r->n_exp++] = &c->frames[i];
    return true;
}

/* ---- the clock ------------------------------------------------------------------------------ */

struct cursor {
    size_t next_input;  /* index into r->in */
    size_t next_action; /* index into c->actions */
};

static ts_time next_input_time(const struct run *r, const struct cursor *cur)
{
    return cur->next_input < r->n_in ? r->in[cur->next_input].t : TS_TIME_NEVER;
}

static ts_time next_action_time(const struct replay_case *c, const struct cursor *cur)
{
    return cur->next_action < c->n_actions ? c->actions[cur->next_action].t : TS_TIME_NEVER;
}

static ts_time next_deadline(const struct run *r)
{
    ts_time d = ts_stack_next_deadline(r->st);
    return d == TS_TIME_NEVER ? TS_TIME_NEVER : d - r->origin;
}

/* When the capture shows the stack's next frame (the one the next frame sent is compared with). */
static ts_time next_expected_time(const struct run *r)
{
    return r->n_out < r->n_exp ? r->exp[r->n_out]->t : TS_TIME_NEVER;
}

static ts_time min_time(ts_time a, ts_time b)
{
    return a < b ? a : b;
}

static void feed_inputs(struct run *r, struct cursor *cur)
{
    while (!r->stopped && next_input_time(r, cur) <= r->now) {
        size_t idx = cur->next_input;
        if (r->watch && r->watch->input_begin && !r->watch->input_begin(r->watch->ctx, r, idx)) {
            r->stopped = true;
            return;
        }
        /* A peer may queue frames (and move r->in) while the stack handles this one: copy what we need. */
        cur->next_input++;
        const uint8_t *data = r->in[idx].data;
        size_t len = r->in[idx].len;
        unsigned index = r->in[idx].index;
        char desc[240];
        replay_flows_learn(&r->flows, data, len);
        replay_describe_frame_in(&r->flows, data, len, desc, sizeof(desc));
        if (index)
            trace_unwatched(r, "input (capture frame %u): %s", index, desc);
        else
            trace_unwatched(r, "input (from the peer): %s", desc);
        log_happening(r, true, idx);
        if (r->watch && r->watch->rewrite) {
            size_t nlen = len;
            const uint8_t *nd = r->watch->rewrite(r->watch->ctx, r, idx, &nlen);
            if (nd) {
                data = nd;
                len = nlen;
            }
        }
        if (index && index == r->break_at)
            ts_replay_break(index); /* gdb: break ts_replay_break, then finish and step into ts_stack_input */
        ts_stack_input(r->st, run_stack_now(r), data, len);
        if (r->watch && r->watch->input_end)
            r->watch->input_end(r->watch->ctx, r, idx);
    }
}

static void run_actions(struct run *r, struct cursor *cur)
{
    const struct replay_case *c = r->c;
    while (next_action_time(c, cur) <= r->now)
        apps_run_action(r, &c->actions[cur->next_action++]);
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

/* The window field of a TCP segment from lport to rport in a frame, or -1. */
static long window_of(const struct replay_frame *f, uint16_t lport, uint16_t rport)
{
    const uint8_t *p = f->data;
    if (f->len < 54 || rd16(p + 12) != 0x0800 || p[23] != 6)
        return -1;
    const uint8_t *t = p + 14 + (size_t)(p[14] & 0x0f) * 4;
    if ((size_t)(t - p) + 20 > f->len || rd16(t) != lport || rd16(t + 2) != rport)
        return -1;
    return rd16(t + 14);
}

/* Whether an input frame came in the same instant before capture frame `index` (1-based). */
static bool after_input(const struct replay_case *c, unsigned index)
{
    for (size_t j = index - 1; j-- > 0 && c->frames[j].t == c->frames[index - 1].t;)
        if (!c->frames[j].from_stack)
            return true;
    return false;
}

/*
 * When a stream read lines up with the capture: only a read opens a receive
 * window, so the first of the stack's next frames whose window is larger than
 * the one before shows it had happened. If an input came in that instant
 * before the frame, the read came before the input.
 */
static ts_time read_time(const struct run *r, uint16_t lport, uint16_t rport)
{
    long prev = -1;
    for (size_t k = r->n_out; k-- > 0 && prev < 0;)
        prev = window_of(&r->out[k], lport, rport);
    for (size_t k = r->n_out; k < r->n_exp && r->exp[k]->t - r->now <= r->c->tolerance; k++) {
        long w = window_of(r->exp[k], lport, rport);
        if (w < 0)
            continue;
        if (prev >= 0 && w > prev) {
            ts_time t = r->exp[k]->t;
            return after_input(r->c, r->exp[k]->index) ? t - 1 : t;
        }
        prev = w;
    }
    return TS_TIME_NEVER;
}

/*
 * After the stack has moved: if an app has something to do, it does it now,
 * or (recorded case) when the capture shows it happened, if that comes within
 * the tolerance: live, the app's thread woke after the runtime's. An app that
 * answers runs at the time of the stack's next frame (what it sent carries
 * that time); a stream read at the time read_time finds.
 */
static bool schedule_apps_once(struct run *r)
{
    uint16_t lport = 0, rport = 0;
    unsigned work = apps_work(r, &lport, &rport);
    if (!work)
        return false;
    if (r->align) {
        ts_time te = TS_TIME_NEVER;
        if (work & WORK_REPLY)
            te = next_expected_time(r);
        else if (work & WORK_READ)
            te = read_time(r, lport, rport);
        if (te != TS_TIME_NEVER && te > r->now && te - r->now <= r->c->tolerance) {
            if (r->react_at != te) {
                char t[32];
                replay_format_time(te, t, sizeof(t));
                run_trace(r, "apps have work: they run at %s, as the capture shows (%s)", t,
                          (work & WORK_REPLY) ? "the stack's next frame" : "a receive window opening");
            }
            r->react_at = te;
            return false;
        }
    }
    return apps_serve(r);
}

/* Serving may leave new work (a connection just accepted already has data): look again, a few times. */
static void schedule_apps(struct run *r)
{
    for (int round = 0; round < 8; round++)
        if (!schedule_apps_once(r))
            return;
}

/*
 * One moment of the virtual clock. Input frames go before actions due at the
 * same moment, as in the capture, and the poll comes after them, as in the
 * runtime's loop (receive, then poll). Apps whose turn was put off to this
 * moment go before the actions and the poll: live they ran earlier still (an
 * accept before the first send on the connection). Before the case's
 * first-poll time there is no poll at all: live, the runtime thread had not
 * run its first turn yet while the app and the wire went ahead.
 */
static void step(struct run *r, struct cursor *cur)
{
    feed_inputs(r, cur);
    if (r->stopped)
        return;
    if (r->react_at <= r->now) {
        r->react_at = TS_TIME_NEVER;
        apps_serve(r);
    }
    run_actions(r, cur);
    if (r->now >= r->c->first_poll) {
        ts_stack_poll(r->st, run_stack_now(r));
        r->polled = true;
    }
    schedule_apps(r);
}

/*
 * A recorded case's timers fired when the runtime woke after the deadline: a
 * due timer is run at the time of the stack's next frame in the capture when
 * that comes within the tolerance after the deadline and before anything else.
 */
static ts_time timer_time(const struct run *r, ts_time td, ts_time before)
{
    if (!r->align || td == TS_TIME_NEVER)
        return td;
    ts_time te = next_expected_time(r);
    if (te != TS_TIME_NEVER && te >= td && te - td <= r->c->tolerance && te < before && te > r->now)
        return te;
    return td;
}

/* The end of a generated run moves with the peer: its last frame plus the tolerance. */
static ts_time loop_end(const struct run *r, ts_time end)
{
    if (!r->peer || r->n_in == 0)
        return end;
    ts_time last = r->in[r->n_in - 1].t + r->c->tolerance;
    return last > end ? last : end;
}

/*
 * The virtual clock: jump to whichever comes first, the next input frame, the
 * next action, the apps' turn or the stack's next deadline (before the first
 * poll: the first-poll time instead), and run everything due then.
 */
void run_loop(struct run *r, ts_time end)
{
    struct cursor cur = {0};
    unsigned stalled = 0;
    r->now = 0;
    r->react_at = TS_TIME_NEVER;
    if (!apps_start(r))
        return;
    if (r->peer)
        r->peer(r->peer_ctx, (struct replay_peer_io *)r, 0, NULL, 0);
    step(r, &cur); /* the first poll, unless the case moved it: a gratuitous ARP goes out here */
    for (unsigned steps = 0; steps < MAX_LOOP_STEPS && !r->stopped; steps++) {
        ts_time ti = next_input_time(r, &cur), ta = next_action_time(r->c, &cur);
        ts_time before = min_time(min_time(ti, ta), r->react_at);
        ts_time td = r->polled ? timer_time(r, next_deadline(r), before) : r->c->first_poll;
        ts_time t = min_time(before, td);
        if (t == TS_TIME_NEVER || t > loop_end(r, end))
            return;
        if (t <= r->now && before > r->now) {
            /* Only the stack's own deadline is due, and the last poll did not move it. */
            if (++stalled > MAX_STALLED_POLLS) {
                char ts[32];
                replay_format_time(td, ts, sizeof(ts));
                run_problem(r, "the stack's next deadline stays at %s after %d polls at that time; stopping the run",
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
    if (!r->stopped)
        run_problem(r, "the run took more than %d steps; stopping", MAX_LOOP_STEPS);
}

ts_time run_end(const struct replay_case *c, bool inputs_only)
{
    ts_time last = 0;
    for (size_t i = 0; i < c->n_frames; i++)
        if (!inputs_only || !c->frames[i].from_stack)
            last = c->frames[i].t;
    if (c->n_actions && c->actions[c->n_actions - 1].t > last)
        last = c->actions[c->n_actions - 1].t;
    ts_time end = last + c->tolerance;
    return end > c->duration ? end : c->duration;
}

/* ---- a run from start to end --------------------------------------------------------------------- */

bool run_setup(struct run *r, const struct replay_case *c, replay_peer_fn peer, void *peer_ctx)
{
    memset(r, 0, sizeof(*r));
    r->c = c;
    r->peer = peer;
    r->peer_ctx = peer_ctx;
    r->own_in = peer != NULL;
    r->align = !c->synthetic && !peer;
    r->react_at = TS_TIME_NEVER;
    /* The capture's timestamps are the live clock plus the offset: the same clock, to the microsecond. */
    r->origin = c->clock_offset_given ? c->start_abs - c->clock_offset : REPLAY_CLOCK_ORIGIN;
    struct ts_stack_config cfg = c->cfg;
    cfg.trace = on_trace;
    cfg.trace_ctx = r;
    cfg.trace_mask = TS_TRACE_ALL;
    struct ts_link link = {.ctx = r, .transmit = on_transmit, .mtu = c->mtu};
    r->scratch = malloc(SCRATCH_LEN);
    if (!r->scratch || (!peer && !load_inputs(r))) {
        run_problem(r, "out of memory");
        return false;
    }
    r->st = ts_stack_new(&cfg, &link);
    if (!r->st) {
        run_problem(r, "ts_stack_new refused the case's stack line (address, prefix or MTU)");
        return false;
    }
    for (unsigned i = 0; i < c->n_neighbours; i++)
        if (ts_stack_arp_add_static(r->st, c->neighbours[i].addr, c->neighbours[i].mac) != 0)
            run_problem(r, "the stack refused the static ARP entry of neighbour line %u", i + 1);
    return true;
}

void run_teardown(struct run *r)
{
    apps_close(r);
    apps_free(r);
    if (r->st)
        ts_stack_free(r->st);
    replay_frames_free(r->out, r->n_out);
    if (r->own_in)
        replay_frames_free(r->in, r->n_in);
    else
        free(r->in);
    free(r->exp);
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

static void append_counters(struct run *r)
{
    replay_buf_printf(&r->report, "drop counters (non-zero):");
    nonzero_counters(r, true, &r->report);
    replay_buf_printf(&r->report, "\nother counters (non-zero):");
    nonzero_counters(r, false, &r->report);
    replay_buf_printf(&r->report, "\n");
}

void replay_case_run(const struct replay_case *c, struct replay_result *res)
{
    run_case(c, res, NULL, NULL);
}

void run_case(const struct replay_case *c, struct replay_result *res, struct replay_frame **sent, size_t *n_sent)
{
    struct run r;
    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < c->n_frames; i++)
        res->frames_expected += c->frames[i].from_stack;
    if (run_setup(&r, c, NULL, NULL)) {
        ts_time end = run_end(c, false);
        run_loop(&r, end);
        apps_check_end(&r);
        trace_counters(&r);
        check_counters(&r);
        check_frames(&r);
        check_buffers(&r, end);
        if (r.problems)
            append_counters(&r);
    }
    finish_report(&r, res);
    if (sent) {
        *sent = r.out;
        *n_sent = r.n_out;
        r.out = NULL;
        r.n_out = 0;
    }
    run_teardown(&r);
}

void replay_result_clear(struct replay_result *res)
{
    free(res->report);
    free(res->trace);
    memset(res, 0, sizeof(*res));
}
