/*
 * ts-replay's run: the harness's loop (harness.c) with a watcher that prints
 * one block per frame of the capture the stack is fed:
 *
 *   #N  +T  PEER --> tapstack   the frame, decoded (sequence numbers relative to each side's ISN)
 *         [layer] ...           what the core traced while it took the frame (its RFC rule and reason)
 *         => accepted | dropped (counter) | queued out of order
 *         <-- +T ...            each frame tapstack sent, until the next input (answers, timers, the app)
 *         app: ...              what the application did
 *       tcb ...                 (--tcb) the control blocks, changed fields "old -> new"
 *       compare with the original: what the capture's host sent between this frame and the next,
 *                                  frame for frame, and the fields that differ
 *
 * A block "#0" holds what happened before the first input (a client's SYN, an
 * announcement). --until stops after a frame, --step waits for a line before
 * each one, --break-at calls ts_replay_break just before the stack takes it.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "step_internal.h"

#define MAX_DROP_COUNTERS 256

struct counter_snap {
    char name[64];
    uint64_t value;
};

struct counters {
    struct counter_snap c[MAX_DROP_COUNTERS];
    unsigned n;
};

struct stepper {
    const struct replay_step_options *o;
    FILE *out;
    struct run *r;
    bool open;               /* a block is being printed */
    bool started;            /* a block has been opened */
    unsigned frame;          /* its capture frame (0 = before the first input) */
    ts_time t;               /* its time */
    size_t first_out;        /* r->out index of the first frame sent in it */
    struct step_tcbs before, after;
    struct counters drops_before;
    bool any_drop_line;
    bool stepping;           /* --step and stdin not yet at its end */
    struct replay_tcp_flows orig_flows; /* the capture's own, for the original's relative numbers */
    size_t orig_learned;     /* capture frames learned into orig_flows */
    unsigned blocks_differing, frames_differing, frames_fed;
    unsigned stopped_before; /* the frame --until or a 'q' stopped before (0 = none) */
    struct step_xlate x;     /* the peer's numbers moved into tapstack's (step_xlate.c) */
    size_t x_learned;        /* capture frames learned into x */
    uint8_t *xbuf;           /* the rewritten frame */
    bool x_told;             /* the rewriting has been explained */
};

#define XBUF_LEN 70000 /* any Ethernet frame a capture holds (64 KiB of IP and more) */

/* ---- counters: what a drop counter says about the frame --------------------------------------- */

static void snap_one(void *ctx, const char *layer, const char *name, uint64_t value)
{
    struct counters *s = ctx;
    if (strncmp(name, "drop_", 5) != 0 || s->n == MAX_DROP_COUNTERS)
        return;
    snprintf(s->c[s->n].name, sizeof(s->c[s->n].name), "%s.%s", layer, name);
    s->c[s->n++].value = value;
}

static void snap_drops(const struct ts_stack *st, struct counters *s)
{
    s->n = 0;
    ts_stack_counters_foreach(st, snap_one, s);
}

/* "ip.drop_bad_checksum +1, ..." for every drop counter that grew; false if none did. */
static bool drops_grown(const struct counters *b, const struct counters *a, struct replay_buf *out)
{
    bool any = false;
    for (unsigned i = 0; i < a->n && i < b->n; i++) {
        if (a->c[i].value == b->c[i].value)
            continue;
        replay_buf_printf(out, "%s%s +%" PRIu64, any ? ", " : "", a->c[i].name, a->c[i].value - b->c[i].value);
        any = true;
    }
    return any;
}

/* ---- printing ----------------------------------------------------------------------------------- */

static void fmt_time(ts_time t, char *buf, size_t cap)
{
    replay_format_time(t, buf, cap);
}

static void ipstr(uint32_t a, char *buf, size_t cap)
{
    snprintf(buf, cap, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

/* Who sent a frame: its IPv4 or ARP source address, else its MAC. */
static void source_of(const uint8_t *f, size_t len, char *buf, size_t cap)
{
    if (len >= 34 && f[12] == 0x08 && f[13] == 0x00) {
        ipstr(((uint32_t)f[26] << 24) | ((uint32_t)f[27] << 16) | ((uint32_t)f[28] << 8) | f[29], buf, cap);
    } else if (len >= 42 && f[12] == 0x08 && f[13] == 0x06) {
        ipstr(((uint32_t)f[28] << 24) | ((uint32_t)f[29] << 16) | ((uint32_t)f[30] << 8) | f[31], buf, cap);
    } else if (len >= 12) {
        snprintf(buf, cap, "%02x:%02x:%02x:%02x:%02x:%02x", f[6], f[7], f[8], f[9], f[10], f[11]);
    } else {
        snprintf(buf, cap, "?");
    }
}

/* The time of a line inside a block, when it is not the block's own. */
static void when(const struct stepper *s, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (s->r->now != s->t) {
        char t[32];
        fmt_time(s->r->now, t, sizeof(t));
        snprintf(buf, cap, "%s ", t);
    }
}

/* ---- the original's frames in a block, and the comparison ---------------------------------------- */

/* The capture frame (1-based) of the next input after capture frame `frame`; one past the last if none. */
static size_t next_input_frame(const struct run *r, unsigned frame)
{
    const struct replay_case *c = r->c;
    for (size_t j = frame; j < c->n_frames; j++)
        if (!c->frames[j].from_stack)
            return j + 1;
    return c->n_frames + 1;
}

/* Learns the capture's frames before capture frame `upto` (1-based) into the original's flows. */
static void learn_original(struct stepper *s, size_t upto)
{
    const struct replay_case *c = s->r->c;
    while (s->orig_learned + 1 < upto && s->orig_learned < c->n_frames) {
        const struct replay_frame *f = &c->frames[s->orig_learned++];
        replay_flows_learn(&s->orig_flows, f->data, f->len);
    }
}

/* Learns the original host's frames before capture frame `upto` (1-based) into the rewriter. */
static void learn_x(struct stepper *s, size_t upto)
{
    const struct replay_case *c = s->r->c;
    for (; s->x_learned + 1 < upto && s->x_learned < c->n_frames; s->x_learned++)
        if (c->frames[s->x_learned].from_stack)
            step_xlate_learn(&s->x, c->frames[s->x_learned].data, c->frames[s->x_learned].len, false);
}

/* With different window scales, equal fields are not equal windows: the bytes each offered. */
static void window_bytes(struct stepper *s, const struct replay_frame *orig, const struct replay_frame *ours)
{
    uint64_t a, b;
    if (step_xlate_window_bytes(&s->x, orig->data, orig->len, false, &a) &&
        step_xlate_window_bytes(&s->x, ours->data, ours->len, true, &b))
        fprintf(s->out, "          window in bytes, after scaling (RFC 7323 2.2): original %" PRIu64 ", tapstack %" PRIu64
                        "%s\n", a, b, a == b ? " (the same)" : "");
}

static void compare_pair(struct stepper *s, const struct replay_frame *orig, const struct replay_frame *ours,
                         unsigned *differ)
{
    char desc[240], t[32];
    struct run *r = s->r;
    fmt_time(orig->t, t, sizeof(t));
    if (!ours) {
        replay_describe_frame_in(&s->orig_flows, orig->data, orig->len, desc, sizeof(desc));
        fprintf(s->out, "      capture frame %u %s: the original sent it here, tapstack did not\n", orig->index, t);
        fprintf(s->out, "          original: %s\n", desc);
        (*differ)++;
        return;
    }
    struct replay_buf d = {0};
    unsigned n = step_diff(&s->orig_flows, orig, &r->flows, ours, &d);
    ts_time late = ours->t - orig->t;
    if (late > r->c->tolerance || -late > r->c->tolerance) {
        char tt[32];
        fmt_time(ours->t, tt, sizeof(tt));
        replay_buf_printf(&d, "%stime: original %s, tapstack %s (%.3f ms %s)", n ? "; " : "", t, tt,
                          (double)(late < 0 ? -late : late) / 1000.0, late < 0 ? "earlier" : "later");
        n++;
    }
    if (n == 0) {
        fprintf(s->out, "      capture frame %u %s: same as tapstack's\n", orig->index, t);
    } else {
        replay_describe_frame_in(&s->orig_flows, orig->data, orig->len, desc, sizeof(desc));
        fprintf(s->out, "      capture frame %u %s: DIFFERS: %s\n", orig->index, t, d.s ? d.s : "");
        fprintf(s->out, "          original: %s\n", desc);
        replay_describe_frame_in(&r->flows, ours->data, ours->len, desc, sizeof(desc));
        fprintf(s->out, "          tapstack: %s\n", desc);
        if (strstr(d.s ? d.s : "", "tcp.window:"))
            window_bytes(s, orig, ours);
        (*differ)++;
    }
    replay_buf_free(&d);
}

static void compare_block(struct stepper *s, bool last)
{
    struct run *r = s->r;
    const struct replay_case *c = r->c;
    size_t end = last ? c->n_frames + 1 : next_input_frame(r, s->frame);
    unsigned differ = 0;
    size_t k = s->first_out, shown = 0;
    if (end - 1 >= s->frame + 1)
        fprintf(s->out, "    compare with the original (capture frames %u..%zu; IP ids, checksums, TCP timestamps left out):\n",
                s->frame + 1, end - 1);
    else
        fprintf(s->out, "    compare with the original (the next capture frame is an input):\n");
    for (size_t j = s->frame; j + 1 < end && j < c->n_frames; j++) {
        const struct replay_frame *f = &c->frames[j];
        if (!f->from_stack)
            continue;
        learn_original(s, f->index + 1); /* its own SYN sets its ISN */
        learn_x(s, f->index + 1);
        compare_pair(s, f, k < r->n_out ? &r->out[k] : NULL, &differ);
        k += k < r->n_out;
        shown++;
    }
    for (; k < r->n_out; k++, shown++) {
        char desc[240];
        replay_describe_frame_in(&r->flows, r->out[k].data, r->out[k].len, desc, sizeof(desc));
        fprintf(s->out, "      tapstack's frame %zu: the original sent nothing more here (DIFFERS)\n", k + 1);
        fprintf(s->out, "          tapstack: %s\n", desc);
        differ++;
    }
    if (shown == 0)
        fprintf(s->out, "      neither sent anything: same\n");
    learn_original(s, end);
    if (differ) {
        s->blocks_differing++;
        s->frames_differing += differ;
    }
}

/* ---- blocks --------------------------------------------------------------------------------------- */

static void close_block(struct stepper *s, bool last)
{
    if (!s->open)
        return;
    if (s->o->tcb) {
        step_tcbs_take(&s->after, s->r->st);
        fprintf(s->out, "    control blocks (before -> after):\n");
        step_tcbs_print(s->out, &s->before, &s->after, s->r->origin, run_stack_now(s->r));
    }
    compare_block(s, last);
    fprintf(s->out, "\n");
    s->open = false;
}

static void open_block(struct stepper *s, unsigned frame)
{
    s->open = true;
    s->started = true;
    s->frame = frame;
    s->t = s->r->now;
    s->first_out = s->r->n_out;
    s->any_drop_line = false;
    step_tcbs_take(&s->before, s->r->st);
    if (frame == 0)
        fprintf(s->out, "#0  +0.000000s  before the first frame: the stack starts, the application sets up\n");
}

/* --step: false when the user typed q (stop); at the end of the input, stepping stops and the run goes on. */
static bool wait_for_enter(struct stepper *s, unsigned frame)
{
    if (!s->stepping)
        return true;
    fprintf(s->o->prompt, "[ts-replay] Enter: frame %u; q: quit > ", frame);
    fflush(s->o->prompt);
    fflush(s->out);
    char line[64];
    if (!fgets(line, sizeof(line), s->o->in)) {
        s->stepping = false;
        fprintf(s->o->prompt, "(end of input: running to the end)\n");
        return true;
    }
    return line[0] != 'q';
}

static bool on_input_begin(void *ctx, struct run *r, size_t idx)
{
    struct stepper *s = ctx;
    unsigned frame = r->in[idx].index;
    if (!s->open && !s->started && frame > 1)
        open_block(s, 0); /* the original host sent first: its frames are compared in block #0 */
    close_block(s, false);
    if (s->o->until && frame > s->o->until) {
        s->stopped_before = frame;
        return false;
    }
    fflush(s->out);
    if (!wait_for_enter(s, frame)) {
        s->stopped_before = frame;
        return false;
    }
    char t[32], who[40], desc[240];
    open_block(s, frame);
    snap_drops(r->st, &s->drops_before);
    fmt_time(r->now, t, sizeof(t));
    source_of(r->in[idx].data, r->in[idx].len, who, sizeof(who));
    /* the frame as the capture has it, numbers relative to the capture's ISNs */
    learn_original(s, frame + 1);
    replay_describe_frame_in(&s->orig_flows, r->in[idx].data, r->in[idx].len, desc, sizeof(desc));
    fprintf(s->out, "#%u  %s  %s --> tapstack\n      %s\n", frame, t, who, desc);
    fflush(s->out); /* in a debugger, the frame shows before the stack takes it */
    s->frames_fed++;
    return true;
}

static void on_input_end(void *ctx, struct run *r, size_t idx)
{
    struct stepper *s = ctx;
    (void)idx;
    struct counters after;
    struct replay_buf why = {0};
    snap_drops(r->st, &after);
    if (drops_grown(&s->drops_before, &after, &why)) {
        fprintf(s->out, "    => dropped (%s)%s\n", why.s, s->any_drop_line ? ": the reason is traced above" : "");
    } else {
        struct step_tcbs now = {0};
        step_tcbs_take(&now, r->st);
        size_t ooo = step_tcbs_ooo(&now);
        size_t ooo_before = step_tcbs_ooo(&s->before);
        if (ooo > ooo_before)
            fprintf(s->out, "    => queued out of order (%zu bytes held beyond RCV.NXT; RFC 9293 3.10.7.4)\n", ooo);
        else
            fprintf(s->out, "    => accepted\n");
        step_tcbs_free(&now);
    }
    replay_buf_free(&why);
}

static const uint8_t *on_rewrite(void *ctx, struct run *r, size_t idx, size_t *len)
{
    struct stepper *s = ctx;
    learn_x(s, r->in[idx].index);
    step_xlate_learn_peer(&s->x, r->in[idx].data, *len);
    int32_t delta = 0;
    if (!s->xbuf || *len > XBUF_LEN || !step_xlate_input(&s->x, r->in[idx].data, *len, s->xbuf, &delta))
        return NULL;
    if (!s->x_told) {
        fprintf(s->out, "      note: tapstack's numbers are not the original host's (ISN%s): from here on, the peer's\n"
                        "            ACK numbers, SACK edges and TSecr are moved into tapstack's before it sees them\n"
                        "            (else RFC 9293 3.10.7.4 would find them unacceptable); relative numbers are unchanged\n",
                delta ? "" : " or clock");
        s->x_told = true;
    }
    return s->xbuf;
}

static void on_sent(void *ctx, struct run *r, size_t k)
{
    struct stepper *s = ctx;
    step_xlate_learn(&s->x, r->out[k].data, r->out[k].len, true);
    if (!s->open)
        open_block(s, 0);
    char t[32], desc[240];
    fmt_time(r->now, t, sizeof(t));
    replay_describe_frame_in(&r->flows, r->out[k].data, r->out[k].len, desc, sizeof(desc));
    fprintf(s->out, "    <-- %s tapstack sent (its frame %zu)\n          %s\n", t, k + 1, desc);
}

static void on_line(void *ctx, struct run *r, const struct ts_trace_event *ev, const char *text)
{
    struct stepper *s = ctx;
    if (!s->open)
        open_block(s, 0);
    char w[40];
    when(s, w, sizeof(w));
    if (ev) {
        if (ev->kind == TS_TRACE_DROP)
            s->any_drop_line = true;
        fprintf(s->out, "      %s[%s] %s\n", w, ts_trace_layer_name(ev->layer), ev->text);
        return;
    }
    (void)r;
    fprintf(s->out, "      %sapp: %s\n", w, text);
}

/* ---- the run ---------------------------------------------------------------------------------------- */

__attribute__((noinline)) void ts_replay_break(unsigned frame_no)
{
    /* An empty asm with a memory clobber: the call and its argument stay, whatever the optimizer thinks. */
    __asm__ volatile("" : : "r"(frame_no) : "memory");
}

static void summary(struct stepper *s)
{
    struct run *r = s->r;
    size_t orig = 0;
    for (size_t i = 0; i < r->c->n_frames; i++)
        orig += r->c->frames[i].from_stack && (!s->stopped_before || r->c->frames[i].index < s->stopped_before);
    if (s->stopped_before)
        fprintf(s->out, "stopped before capture frame %u%s\n", s->stopped_before,
                s->o->until && s->stopped_before > s->o->until ? " (--until)" : "");
    fprintf(s->out, "summary: %u frames fed to tapstack; it sent %zu, the original host %zu", s->frames_fed, r->n_out,
            orig);
    if (s->blocks_differing)
        fprintf(s->out, "; %u frame%s differ%s from the original's, after %u of the frames fed (marked DIFFERS)\n",
                s->frames_differing, s->frames_differing == 1 ? "" : "s", s->frames_differing == 1 ? "s" : "",
                s->blocks_differing);
    else
        fprintf(s->out, "; every answer is the same as the original's\n");
    if (r->problems && r->report.s)
        fprintf(s->out, "notes from the harness:\n%s", r->report.s);
}

static int run_it(const struct replay_step_options *o, const struct replay_case *c)
{
    struct run *r = calloc(1, sizeof(*r));
    struct stepper *s = calloc(1, sizeof(*s));
    int rc = 0;
    if (!r || !s) {
        fprintf(stderr, "ts-replay: out of memory\n");
        free(r);
        free(s);
        return 2;
    }
    s->o = o;
    s->out = o->out;
    s->r = r;
    s->stepping = o->step;
    struct run_watch w = {.ctx = s, .input_begin = on_input_begin, .input_end = on_input_end, .sent = on_sent,
                          .line = on_line, .rewrite = on_rewrite};
    s->xbuf = malloc(XBUF_LEN);
    if (!run_setup(r, c, NULL, NULL)) {
        fprintf(stderr, "ts-replay: %s", r->report.s ? r->report.s : "the stack could not be set up\n");
        rc = 2;
    } else {
        r->watch = &w;
        r->break_at = o->break_at;
        run_loop(r, run_end(c, false));
        close_block(s, !r->stopped);
        r->watch = NULL;
        summary(s);
    }
    run_teardown(r);
    step_tcbs_free(&s->before);
    step_tcbs_free(&s->after);
    free(s->xbuf);
    free(r);
    free(s);
    return rc;
}

int replay_step_main(const struct replay_step_options *o)
{
    char err[512] = "";
    char *setup = NULL;
    struct replay_case *c = NULL;
    int rc = step_setup(o, &c, &setup, err, sizeof(err));
    fprintf(o->out, "%s", setup ? setup : "");
    free(setup);
    if (rc != 0) {
        fprintf(stderr, "ts-replay: %s\n", err);
        return 2;
    }
    if (o->guess_only) {
        replay_case_free(c);
        return 0;
    }
    fprintf(o->out, "replaying %s: %zu frames, times after the first frame; --> into tapstack, <-- from it\n\n",
            replay_case_capture_path(c), replay_case_frame_count(c));
    rc = run_it(o, c);
    replay_case_free(c);
    return rc;
}
