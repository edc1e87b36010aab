/* What ts-replay's engine files share (replay/replay_step.h is the outside's view). */
#ifndef TS_REPLAY_STEP_INTERNAL_H
#define TS_REPLAY_STEP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "harness_run.h"
#include "replay_step.h"
#include "tapstack/pcb.h"

/* ---- step_setup.c ---- */

/*
 * The case to replay: the case file given or found beside the capture (unless
 * --stack-addr names another host), else one made from the capture: which host
 * tapstack plays, its MAC, the listeners and connections its application opens.
 * *setup (malloc'd) says what was chosen and why.
 */
int step_setup(const struct replay_step_options *o, struct replay_case **out, char **setup, char *err,
               size_t errlen);

/* ---- step_tcb.c ---- */

struct step_tcbs {
    struct ts_tcp_view *v;
    size_t n;
};

/* Snapshots every TCP pcb of the stack (replacing what s held). */
void step_tcbs_take(struct step_tcbs *s, const struct ts_stack *st);
void step_tcbs_free(struct step_tcbs *s);
/*
 * Each control block in `after`, its fields that differ from `before` as "old -> new". Timer deadlines are
 * shown after origin (the replay's start on the stack's clock) and counted from now (the stack's clock).
 */
void step_tcbs_print(FILE *out, const struct step_tcbs *before, const struct step_tcbs *after, ts_time origin,
                     ts_time now);
/* Out-of-order bytes held by all the connections. */
size_t step_tcbs_ooo(const struct step_tcbs *s);

/* ---- step_xlate.c ---- */

#define STEP_MAX_CONNS 64

struct step_side {
    uint32_t iss, tsval; /* its SYN's sequence number; the latest TSval it sent */
    bool have_iss, have_ts;
    bool syn_seen;       /* its SYN (or SYN,ACK) was seen: wscale is known */
    int wscale;          /* RFC 7323 2.2: the shift its SYN offered, -1 if none */
};

struct step_conn {
    uint16_t hport, pport; /* the host's port, the peer's */
    uint32_t peer;
    struct step_side orig, ours; /* the capture's original host, tapstack */
    bool peer_syn_seen;
    int peer_wscale;             /* the shift the peer's SYN offered, -1 if none */
};

struct step_xlate {
    struct step_conn c[STEP_MAX_CONNS];
    unsigned n, next_evict;
};

/* Learns the peer's SYN options from a frame it sent to the host. */
void step_xlate_learn_peer(struct step_xlate *x, const uint8_t *frame, size_t len);
/* Learns a frame the host sent: the original's (from the capture) or tapstack's (ours). */
void step_xlate_learn(struct step_xlate *x, const uint8_t *frame, size_t len, bool ours);
/*
 * A peer's TCP segment moved into tapstack's numbers, written to out (len bytes); false when nothing
 * needs to change (then out is untouched). *ack_delta is what was added to the ACK number.
 */
bool step_xlate_input(struct step_xlate *x, const uint8_t *frame, size_t len, uint8_t *out, int32_t *ack_delta);
/*
 * The window a segment the host sent offers, in bytes: its window field shifted by the scale
 * both SYNs agreed on (RFC 7323 2.2, never in a SYN). False when not known (no SYN of that
 * connection seen, not TCP).
 */
bool step_xlate_window_bytes(struct step_xlate *x, const uint8_t *frame, size_t len, bool ours,
                             uint64_t *bytes);

/* ---- step_diff.c ---- */

/*
 * Compares a frame tapstack sent with the one the original host sent (each
 * dissected with its own flows, for relative sequence numbers). Appends
 * "tcp.window original 502, tapstack 64240; ..." to out and returns how many
 * fields differ. IP identifiers, checksums and TCP timestamps are left out:
 * they follow the clock and the seed, not the rules.
 */
unsigned step_diff(const struct replay_tcp_flows *orig_flows, const struct replay_frame *orig,
                   const struct replay_tcp_flows *our_flows, const struct replay_frame *ours, struct replay_buf *out);

#endif
