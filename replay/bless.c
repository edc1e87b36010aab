/*
 * Rewriting a synthetic case's capture from a run: --bless keeps the peer's
 * frames and replaces the stack's with what it sends now; generate (for cases
 * whose peer must react to the stack, as a TCP peer acknowledges the stack's
 * ISN) lets a peer program make the input frames as the run goes, and writes
 * both sides.
 *
 *   replay_case_bless    -> run_setup -> run_loop -> rewrite_capture
 *   replay_case_generate -> run_setup(peer) -> run_loop -> rewrite_capture
 *   rewrite_capture      -> blessed_frames -> write_capture -> bless_review
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_run.h"

/* The capture as it will be: the peer's frames and the stack's, in the order they happened. */
static struct replay_frame *blessed_frames(struct run *r)
{
    const struct replay_case *c = r->c;
    struct replay_frame *all = calloc(r->n_log ? r->n_log : 1, sizeof(*all));
    if (!all)
        return NULL;
    for (size_t i = 0; i < r->n_log; i++) {
        const struct replay_frame *f = r->log[i].input ? &r->in[r->log[i].index] : &r->out[r->log[i].index];
        all[i] = *f;
        all[i].t = c->start_abs + f->t;
        all[i].index = (unsigned)i + 1;
        all[i].from_stack = !r->log[i].input;
    }
    return all;
}

static int write_capture(const struct replay_case *c, const struct replay_frame *all, size_t n, char *err,
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
    struct replay_tcp_flows *flows = calloc(1, sizeof(*flows));
    replay_buf_printf(&b, "blessed %s: %zu frames from the stack\n", r->c->capture_path, r->n_out);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        replay_flows_learn(flows, all[i].data, all[i].len);
        if (!all[i].from_stack)
            continue;
        char t[32], desc[240];
        replay_format_time(all[i].t - r->c->start_abs, t, sizeof(t));
        replay_describe_frame_in(flows, all[i].data, all[i].len, desc, sizeof(desc));
        char *fields = replay_dissect_text_in(flows, all[i].data, all[i].len);
        replay_buf_printf(&b, "frame #%zu (capture frame %u) t=%s %s\n%s", ++k, all[i].index, t, desc, fields);
        free(fields);
    }
    free(flows);
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

/* Runs the case (with its peer, if any) and writes the capture from what happened. */
static int rewrite_capture(const struct replay_case *c, replay_peer_fn peer, void *ctx, char **review, char *err,
                           size_t errlen)
{
    struct run r;
    if (!run_setup(&r, c, peer, ctx)) {
        snprintf(err, errlen, "%s", r.report.s ? r.report.s : "setup failed");
        run_teardown(&r);
        return -1;
    }
    ts_time end = run_end(c, true);
    run_loop(&r, end);
    apps_check_end(&r);
    trace_counters(&r);
    check_counters(&r);
    check_buffers(&r, end);
    struct replay_frame *all = blessed_frames(&r);
    int rc = -1;
    if (!all)
        snprintf(err, errlen, "out of memory");
    else
        rc = write_capture(c, all, r.n_log, err, errlen);
    if (rc == 0)
        *review = bless_review(&r, all, r.n_log);
    free(all);
    run_teardown(&r);
    return rc;
}

int replay_case_bless(const struct replay_case *c, char **review, char *err, size_t errlen)
{
    *review = NULL;
    if (!c->synthetic) {
        snprintf(err, errlen, "%s is not marked 'origin synthetic': a recorded case's expected frames come from "
                              "a live run; record it again with scripts/record-case.sh instead", c->path);
        return -1;
    }
    return rewrite_capture(c, NULL, NULL, review, err, errlen);
}

int replay_case_generate(const struct replay_case *c, replay_peer_fn peer, void *ctx, char **review, char *err,
                         size_t errlen)
{
    *review = NULL;
    if (!c->synthetic || !c->start_given) {
        snprintf(err, errlen, "%s: a generated case is 'origin synthetic' with a 'start' line", c->path);
        return -1;
    }
    return rewrite_capture(c, peer, ctx, review, err, errlen);
}
