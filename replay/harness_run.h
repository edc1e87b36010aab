/*
 * One run of a case, shared by the harness's loop (harness.c) and the
 * applications it plays (apps.c: udp-echo, ping, udp-send; tcp_apps.c: the
 * TCP actions and tcp-echo). Internal to the harness.
 */
#ifndef TS_REPLAY_HARNESS_RUN_H
#define TS_REPLAY_HARNESS_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replay_internal.h"
#include "tapstack/pcb.h"

/*
 * Without a clock-offset line the stack's clock reads this at the case's
 * start. A live runtime's clock (CLOCK_MONOTONIC) never starts at zero either,
 * so a core that treats time 0 specially behaves the same here as it did live.
 */
#define REPLAY_CLOCK_ORIGIN TS_SEC(1000)

#define MAX_UDP_CLIENTS 16
#define SCRATCH_LEN 65536 /* one datagram of any size; one read of a stream */

struct udp_client {
    uint16_t port; /* 0 = the socket shared by udp-send lines without 'from' */
    struct ts_pcb *pcb;
};

/* What happened, in order: bless and generate rebuild the capture from it. */
struct happening {
    bool input;
    size_t index; /* into r->in (input) or r->out */
};

struct tcp_apps; /* tcp_apps.c */
struct run;

/*
 * A watcher of a run (ts-replay, replay/step*.c): told of each input frame
 * before and after the stack takes it, of each frame the stack sends, and of
 * each line of the run's trace (the core's events, with ev; the harness's and
 * the apps' notes, with ev NULL). Any callback may be NULL.
 */
struct run_watch {
    void *ctx;
    /* r->in[idx] is next; returning false stops the run before it is fed */
    bool (*input_begin)(void *ctx, struct run *r, size_t idx);
    void (*input_end)(void *ctx, struct run *r, size_t idx);
    /* the frame to feed instead of r->in[idx] (*len its length), or NULL to feed it as it is */
    const uint8_t *(*rewrite)(void *ctx, struct run *r, size_t idx, size_t *len);
    /* r->out[k] was just sent */
    void (*sent)(void *ctx, struct run *r, size_t k);
    void (*line)(void *ctx, struct run *r, const struct ts_trace_event *ev, const char *text);
};

struct run {
    const struct replay_case *c;
    struct ts_stack *st;
    ts_time now;      /* after the start */
    ts_time origin;   /* the stack's clock at the start: now + origin is what the stack sees */
    /*
     * A recorded case: the apps ran on their own threads, so what they did
     * happened a little after what woke them, and timers fired a little after
     * their deadlines. Both are lined up with the capture (README, "Timing").
     */
    bool align;
    ts_time react_at; /* align: when the apps run next; TS_TIME_NEVER if they have nothing to do */
    bool draining;    /* past the end: frames sent now are not compared */
    bool polled;      /* the first ts_stack_poll has happened */
    uint8_t *scratch; /* SCRATCH_LEN bytes the apps read into */

    /* The frames the stack receives, in time order: the capture's, or a generating peer's. */
    struct replay_frame *in;
    size_t n_in, cap_in;
    bool own_in; /* the frames' data belongs to the run (a peer made them) */
    replay_peer_fn peer;
    void *peer_ctx;

    /* The capture's frames from the stack, in order: what the k-th frame sent is compared with. */
    const struct replay_frame **exp;
    size_t n_exp;

    struct replay_frame *out;
    size_t n_out, cap_out;
    struct happening *log;
    size_t n_log, cap_log;

    struct ts_pcb *echo[REPLAY_MAX_APPS];
    struct ts_pcb *ping;
    struct udp_client udp[MAX_UDP_CLIENTS];
    unsigned n_udp;
    struct tcp_apps *tcp;

    const struct run_watch *watch; /* NULL: nobody watches */
    unsigned break_at;             /* capture frame before which ts_replay_break is called; 0 = none */
    bool stopped;                  /* the watch stopped the run */

    struct replay_tcp_flows flows; /* relative sequence numbers in the trace */
    struct replay_buf report;      /* problems */
    struct replay_buf trace;       /* everything, for -v */
    unsigned problems;
};

void run_problem(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void run_trace(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
ts_time run_stack_now(const struct run *r);
char *run_ipstr(ts_ipv4_addr a, char *buf, size_t cap);
struct ts_pcb *run_open_pcb(struct run *r, enum ts_pcb_type type, unsigned line);

/* ---- harness.c: the run itself ------------------------------------------------------ */

/* A fresh stack for the case; with a peer, the peer makes the input frames. False (with a problem noted) on failure. */
bool run_setup(struct run *r, const struct replay_case *c, replay_peer_fn peer, void *peer_ctx);
/* The virtual clock from the start to `end`: inputs, actions, apps, polls. */
void run_loop(struct run *r, ts_time end);
/* When the run ends: the last frame (or input frame) plus the tolerance, or the case's duration. */
ts_time run_end(const struct replay_case *c, bool inputs_only);
void run_teardown(struct run *r);
/* replay_case_run, handing over the frames the stack sent (when sent is not NULL; free with replay_frames_free). */
void run_case(const struct replay_case *c, struct replay_result *res, struct replay_frame **sent, size_t *n_sent);

/* ---- check.c: what a run is judged on --------------------------------------------- */

void check_counters(struct run *r);
void check_frames(struct run *r);
/* Closes every pcb, runs the timers out past the end and reports packet buffers still held. */
void check_buffers(struct run *r, ts_time end);
void trace_counters(struct run *r);
/* Appends the non-zero counters, drops or the others, six to a line; " none" if there are none. */
void nonzero_counters(const struct run *r, bool drops_only, struct replay_buf *out);

/* ---- apps.c: every application of the case ---------------------------------------- */

/* The apps that run from the start (app lines); false if memory ran out. */
bool apps_start(struct run *r);
void apps_run_action(struct run *r, const struct replay_action *a);
/* What the apps have to do, by what it shows on the wire (bits). */
enum app_work {
    WORK_SILENT = 1u << 0, /* take a connection or a datagram, see an error: nothing goes out */
    WORK_READ = 1u << 1,   /* read a stream: its receive window opens (a window update, larger windows) */
    WORK_REPLY = 1u << 2,  /* send: an echo, a close after the peer's FIN */
};
/* The work pending (0 = none); for WORK_READ, the connection's ports (the stack's, the peer's). */
unsigned apps_work(struct run *r, uint16_t *lport, uint16_t *rport);
bool apps_have_work(struct run *r);
/*
 * Lets every app do what it can now: as their poll loops do, until nothing is
 * left; in a recorded case one turn only (one read of a stream), as one
 * wake-up of the app's thread did.
 */
bool apps_serve(struct run *r); /* whether anything moved */
/* The case's expect-state and expect-error lines, at the end of the run. */
void apps_check_end(struct run *r);
/* Gives every pcb back to the stack (graceful closes), then frees the apps' memory. */
void apps_close(struct run *r);
void apps_free(struct run *r);

/* ---- tcp_apps.c ---------------------------------------------------------------------- */

bool tcp_apps_start(struct run *r);
void tcp_apps_action(struct run *r, const struct replay_action *a);
unsigned tcp_apps_work(struct run *r, uint16_t *lport, uint16_t *rport);
/* One pass over every TCP socket; returns whether anything moved. */
bool tcp_apps_serve(struct run *r);
void tcp_apps_check_end(struct run *r);
void tcp_apps_close(struct run *r);
void tcp_apps_free(struct run *r);

#endif
