/*
 * What a run is judged on: the counters the case names, every frame the stack
 * sent against the capture's (field by field, within the tolerance, none
 * missing, none extra), and no packet buffer left once everything is closed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_run.h"

#define MAX_REPORTED_FRAMES 20
#define MAX_DRAIN_STEPS 1000000
#define DRAIN_HORIZON TS_SEC(3600)

/* ---- counters ------------------------------------------------------------------------------ */

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

void check_counters(struct run *r)
{
    for (size_t i = 0; i < r->c->n_counters; i++) {
        const struct replay_counter_expect *e = &r->c->counters[i];
        uint64_t v = 0;
        if (!ts_stack_counter(r->st, e->name, &v)) {
            struct replay_buf names = {0};
            struct counter_list l = {.b = &names};
            ts_stack_counters_foreach(r->st, list_all_names, &l);
            run_problem(r, "line %u: unknown counter '%s'; the stack's counters are: %s", e->line, e->name,
                        names.s ? names.s : "(none)");
            replay_buf_free(&names);
            continue;
        }
        if (v != e->value)
            run_problem(r, "line %u: counter %s expected %" PRIu64 " got %" PRIu64, e->line, e->name, e->value, v);
    }
}

void nonzero_counters(const struct run *r, bool drops_only, struct replay_buf *out)
{
    struct replay_buf b = {0};
    struct counter_list l = {.b = &b, .drops_only = drops_only};
    ts_stack_counters_foreach(r->st, list_counter, &l);
    replay_buf_printf(out, "%s", b.s ? b.s : " none");
    replay_buf_free(&b);
}

void trace_counters(struct run *r)
{
    struct replay_buf b = {0};
    nonzero_counters(r, true, &b);
    nonzero_counters(r, false, &b);
    run_trace(r, "counters at the end (non-zero):%s", b.s);
    replay_buf_free(&b);
}

/* ---- frames --------------------------------------------------------------------------------- */

static void describe_into(struct replay_buf *b, const struct replay_tcp_flows *flows, const char *label,
                          const struct replay_frame *f)
{
    char desc[240];
    replay_describe_frame_in(flows, f->data, f->len, desc, sizeof(desc));
    replay_buf_printf(b, "    %s %s\n", label, desc);
}

/*
 * Compares the k-th frame the stack sent with the k-th frame of the capture
 * from the stack's MAC. Both are dissected with the capture's flows as they
 * stand at the expected frame, so relative TCP numbers count from the same ISNs.
 */
static bool compare_one(struct run *r, size_t k, const struct replay_frame *exp, const struct replay_frame *got,
                        const struct replay_tcp_flows *flows, struct replay_dissection *de,
                        struct replay_dissection *dg)
{
    struct replay_buf diffs = {0};
    char te[32], tg[32], tol[32];
    replay_dissect_in(flows, exp->data, exp->len, de);
    replay_dissect_in(flows, got->data, got->len, dg);
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
    describe_into(&r->report, flows, "expected:", exp);
    describe_into(&r->report, flows, "got:     ", got);
    replay_buf_free(&diffs);
    r->problems++;
    return false;
}

static void report_missing(struct run *r, size_t k, const struct replay_frame *exp,
                           const struct replay_tcp_flows *flows)
{
    char t[32];
    replay_format_time(exp->t, t, sizeof(t));
    replay_buf_printf(&r->report, "frame #%zu missing (expected capture frame %u, t=%s)\n", k + 1, exp->index, t);
    describe_into(&r->report, flows, "expected:", exp);
}

void check_frames(struct run *r)
{
    const struct replay_case *c = r->c;
    struct replay_dissection *de = malloc(sizeof(*de)), *dg = malloc(sizeof(*dg));
    struct replay_tcp_flows *flows = calloc(1, sizeof(*flows));
    if (!de || !dg || !flows) {
        run_problem(r, "out of memory comparing frames");
        free(de);
        free(dg);
        free(flows);
        return;
    }
    size_t k = 0, shown = 0;
    char t[32];
    for (size_t i = 0; i < c->n_frames; i++) {
        const struct replay_frame *exp = &c->frames[i];
        replay_flows_learn(flows, exp->data, exp->len);
        if (!exp->from_stack)
            continue;
        bool ok;
        if (k < r->n_out && shown < MAX_REPORTED_FRAMES) {
            ok = compare_one(r, k, exp, &r->out[k], flows, de, dg);
        } else if (k < r->n_out) {
            replay_dissect_in(flows, exp->data, exp->len, de);
            replay_dissect_in(flows, r->out[k].data, r->out[k].len, dg);
            ts_time skew = r->out[k].t - exp->t;
            struct replay_buf ignored = {0};
            ok = replay_diff(de, dg, &ignored) == 0 && skew <= c->tolerance && -skew <= c->tolerance;
            replay_buf_free(&ignored);
            r->problems += !ok;
        } else {
            if (shown < MAX_REPORTED_FRAMES)
                report_missing(r, k, exp, flows);
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
            describe_into(&r->report, flows, "got:     ", &r->out[k]);
        }
        r->problems++;
    }
    if (shown > MAX_REPORTED_FRAMES)
        replay_buf_printf(&r->report, "... and %zu more frame problems (run with -v to see the whole run)\n",
                          shown - MAX_REPORTED_FRAMES);
    free(de);
    free(dg);
    free(flows);
}

/* ---- buffers ----------------------------------------------------------------------------------- */

/*
 * Every test that creates a stack checks that no packet buffer is left once
 * every pcb is closed. A buffer still held by a timer (a reassembly, an ARP
 * queue, a connection finishing its close) is not a leak, so the timers run
 * out first, past the end of the case.
 */
void check_buffers(struct run *r, ts_time end)
{
    r->draining = true; /* what closing sends (a FIN, a RST) is past the end */
    apps_close(r);
    size_t held = ts_stack_pbufs_in_use(r->st);
    run_trace(r, "closed every pcb; %zu packet buffers in use", held);
    for (unsigned i = 0; i < MAX_DRAIN_STEPS && ts_stack_pbufs_in_use(r->st) > 0; i++) {
        ts_time d = ts_stack_next_deadline(r->st);
        if (d == TS_TIME_NEVER || d - r->origin > end + DRAIN_HORIZON)
            break;
        if (d - r->origin > r->now)
            r->now = d - r->origin;
        ts_stack_poll(r->st, run_stack_now(r));
    }
    size_t left = ts_stack_pbufs_in_use(r->st);
    if (left > 0)
        run_problem(r, "%zu packet buffers still allocated after closing every pcb and running every timer "
                       "(%zu at the end of the case): a leak", left, held);
}
