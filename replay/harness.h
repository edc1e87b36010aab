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
 * capture time on a virtual clock; the actions (the apps' socket calls: ping,
 * UDP, TCP) run at theirs; between events the clock jumps to min(next input,
 * next action, the apps' next turn, ts_stack_next_deadline). Each frame the
 * stack sends is compared, field by field (TCP options each their own field),
 * with the next frame of the capture that came from the stack's MAC, and must
 * come within the tolerance of that frame's time. Missing or extra frames,
 * counters, TCP states and errors that differ from the case's expect lines,
 * and packet buffers still allocated once every pcb is closed and every timer
 * has run all fail the case. A recorded case carries the offset between its
 * capture's timestamps and the live stack's clock, so the replayed clock reads
 * what the live one did (ISNs and TSvals depend on it), and lines the apps'
 * threads and the runtime's timers up with the capture (README, "Timing").
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
/* The case file alone, for a generator about to make its capture (which may not exist yet). */
int replay_case_load_script(const char *case_path, struct replay_case **out, char *err, size_t errlen);
/*
 * A case from text (a case file's lines) and a capture path, for a tool that
 * makes the setup itself (ts-replay on a capture without a case file). A
 * 'capture' line in the text is ignored: capture_path is read.
 */
int replay_case_load_text(const char *name, const char *text, const char *capture_path, struct replay_case **out,
                          char *err, size_t errlen);
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
 * A peer program plays the other side of a synthetic case whose frames depend
 * on what the stack sends (a TCP peer acknowledges the stack's ISN, echoes its
 * timestamps): it is called once at the start (frame NULL, t 0) and then with
 * every frame the stack sends and the time it sent it, and answers by queueing
 * frames with replay_peer_send, to reach the stack at t or later.
 */
struct replay_peer_io;
typedef void (*replay_peer_fn)(void *ctx, struct replay_peer_io *io, ts_time t, const uint8_t *frame, size_t len);
void replay_peer_send(struct replay_peer_io *io, ts_time t, const uint8_t *frame, size_t len);
/*
 * Runs a synthetic case (with a 'start' line) against the peer and writes its
 * capture with both sides, in the order things happened; *review as for bless.
 * Blessing the result afterwards rewrites the same bytes.
 */
int replay_case_generate(const struct replay_case *c, replay_peer_fn peer, void *ctx, char **review, char *err,
                         size_t errlen);

/* Every frame of the capture, field by field (TCP numbers relative to each side's ISN too), then the review. */
char *replay_case_dump(const struct replay_case *c);

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

/*
 * A recorded case's clock offset (the 'clock-offset' line), read from the
 * capture itself: each TCP timestamp the stack sent is its clock in
 * milliseconds, which bounds the offset to a window; the ISN of its first SYN
 * (RFC 6528: a hash plus the clock in 4 us ticks) then places it, and the
 * candidates around that are replayed to find the ones that reproduce the
 * capture. hint (have_hint) stands in for the timestamps when there are none
 * (scripts/record-case.sh measures CLOCK_REALTIME - CLOCK_MONOTONIC). Returns
 * 0 when an offset reproduces every frame, 1 when the best one still leaves
 * problems, -1 when the capture says nothing about the clock (no TCP from the
 * stack: then the offset does not matter); *report (malloc'd) says how.
 */
int replay_case_find_clock_offset(struct replay_case *c, bool have_hint, int64_t hint, int64_t *offset,
                                  char **report);

/* One line describing a frame, e.g. "IPv4 10.0.0.2 > 10.0.0.1 id 0x1c46 ICMP echo reply id 0x0001 seq 1". */
void replay_describe_frame(const uint8_t *frame, size_t len, char *buf, size_t cap);
/* Every field of a frame, one "name = value" per line, appended to a malloc'd string. */
char *replay_dissect_text(const uint8_t *frame, size_t len);

#endif
