/*
 * The pcap replay harness: runs one replay case against a fresh stack.
 *
 * A case is a capture holding both directions of a conversation with the stack
 * (captures/NAME.pcap) plus a text file beside it (captures/NAME.case) with what
 * the capture cannot say: the stack's address, MAC and seed, the application's
 * socket calls and when they happen, the timing tolerance and counters to check.
 * captures/README.md documents the format.
 *
 * Running a case: every frame whose source MAC is not the stack's is fed at its
 * capture time on a virtual clock; the actions run at theirs; between events the
 * clock jumps to min(next input, next action, ts_stack_next_deadline). Each frame
 * the stack sends is compared, field by field, with the next frame of the capture
 * that came from the stack's MAC, and must come within the tolerance of that
 * frame's time. Missing or extra frames, counters that differ from the case's
 * expect-counter lines and packet buffers still allocated once every pcb is
 * closed and every timer has run all fail the case.
 *
 * No threads, no I/O beyond reading (and, for --bless, writing) the capture.
 */
#ifndef TS_REPLAY_HARNESS_H
#define TS_REPLAY_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapstack/stack.h"

struct replay_case;

/* One frame of a capture, or one frame the stack sent during a run. */
struct replay_frame {
    ts_time t;          /* microseconds after the case's start */
    unsigned index;     /* 1-based position in the capture (0 for frames the stack sent) */
    bool from_stack;    /* source MAC is the stack's */
    uint8_t *data;
    size_t len;
};

/*
 * Reads NAME.case and the capture it names (default: NAME.pcap beside it).
 * Returns 0, or -1 with a message naming the file and line in err.
 */
int replay_case_load(const char *case_path, struct replay_case **out, char *err, size_t errlen);
void replay_case_free(struct replay_case *c);

const char *replay_case_name(const struct replay_case *c);
/* The comment lines at the top of the case file, joined with newlines ("" if none). */
const char *replay_case_description(const struct replay_case *c);
const char *replay_case_capture_path(const struct replay_case *c);
bool replay_case_is_synthetic(const struct replay_case *c);

/* The capture's frames in order (for tests of the harness and for --dump). */
size_t replay_case_frame_count(const struct replay_case *c);
struct replay_frame *replay_case_frame(struct replay_case *c, size_t i);

struct replay_result {
    bool passed;
    unsigned problems;    /* differing frames, timing misses, missing/extra frames, counters, leaks */
    size_t frames_sent;   /* frames the stack sent during the run */
    size_t frames_expected;
    char *report;         /* malloc'd, human-readable; lists every problem, "" when passed */
    char *trace;          /* malloc'd: the whole run, one line per input, action, frame sent and core trace event */
};

/* Runs the case. The result's report is owned by the caller (replay_result_clear frees it). */
void replay_case_run(const struct replay_case *c, struct replay_result *res);
void replay_result_clear(struct replay_result *res);

/*
 * Runs a synthetic case and rewrites its capture: the frames from the peer stay
 * as they are, the stack's frames are replaced by what the stack sent now, in
 * the order things happened. Writes a description of every new frame to review
 * (malloc'd, into *review). Refuses a recorded case (those come from live runs).
 * Returns 0, or -1 with a message in err.
 */
int replay_case_bless(const struct replay_case *c, char **review, char *err, size_t errlen);

/*
 * Checks of the stack's datagrams in the capture, as a reviewer would make them:
 * each reassembled, its checksum verified over the whole message, echoed data
 * compared with the request it answers, ICMP error quotes matched (malloc'd text).
 */
char *replay_case_review(const struct replay_case *c);

/*
 * Drafts the lines of a recorded case the capture implies (for scripts/record-case.sh):
 * "first-poll T" when the stack's announcement came late, and
 * "at T ping DST seq N size S stamp SEC.USEC" per echo request the stack sent.
 * Returns malloc'd text.
 */
char *replay_case_suggest_actions(const struct replay_case *c);

/* One line describing a frame, e.g. "IPv4 10.0.0.2 > 10.0.0.1 id 0x1c46 ICMP echo reply id 0x0001 seq 1". */
void replay_describe_frame(const uint8_t *frame, size_t len, char *buf, size_t cap);
/* Every field of a frame, one "name = value" per line, appended to a malloc'd string. */
char *replay_dissect_text(const uint8_t *frame, size_t len);

#endif
