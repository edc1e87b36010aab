/*
 * ts-replay's engine (apps/replay/ts_replay.c is only its command line): replays
 * any capture into a fresh stack on a virtual clock and prints, frame by frame,
 * what the stack did, what it sent, its control blocks, and where it differs
 * from what the capture's original host sent. docs/stepping-through.md shows it.
 *
 *   replay/step_setup.c  which host tapstack plays, and what its application does
 *   replay/step.c        the run, one block of output per input frame
 *   replay/step_tcb.c    the TCB view before and after, changed fields as "old -> new"
 *   replay/step_diff.c   tapstack's frames against the original's
 */
#ifndef TS_REPLAY_STEP_H
#define TS_REPLAY_STEP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tapstack/stack.h"

struct replay_step_options {
    const char *capture;      /* NAME.pcap (with or without a NAME.case beside it) or NAME.case */
    bool have_stack_addr;     /* --stack-addr: the host tapstack plays; else guessed */
    ts_ipv4_addr stack_addr;
    bool have_seed;           /* --seed: else the case's, or 7 */
    uint64_t seed;
    bool step;                /* --step: wait for a line on `in` before each frame */
    unsigned until;           /* --until N: stop after capture frame N (0 = run to the end) */
    unsigned break_at;        /* --break-at N: call ts_replay_break(N) just before frame N is fed */
    bool tcb;                 /* --tcb: the control blocks before and after each frame */
    bool guess_only;          /* --setup: print the setup and stop */
    FILE *out;                /* the report */
    FILE *in;                 /* --step reads its lines here */
    FILE *prompt;             /* --step writes its prompt here */
};

/* Runs it all; returns the exit status (0, or 2 on a file or setup error, with the reason on stderr). */
int replay_step_main(const struct replay_step_options *o);

/*
 * Called just before the stack is fed capture frame `frame_no` when it is the
 * --break-at frame. It does nothing: it is there to break on
 * (`break ts_replay_break`, then `finish` and `step` enter ts_stack_input).
 */
void ts_replay_break(unsigned frame_no);

#endif
