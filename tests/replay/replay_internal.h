/*
 * What the harness's files share: the parsed case, the capture reader and
 * writer, the dissector and a growable string for reports. Not for users of
 * the harness (they include harness.h).
 */
#ifndef TS_REPLAY_INTERNAL_H
#define TS_REPLAY_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "tapstack/stack.h"

/* ---- growable text ---------------------------------------------------------- */

struct replay_buf {
    char *s;
    size_t len, cap;
};

void replay_buf_printf(struct replay_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void replay_buf_vprintf(struct replay_buf *b, const char *fmt, va_list ap);
/* Hands the text over (never NULL) and leaves the buffer empty. */
char *replay_buf_take(struct replay_buf *b);
void replay_buf_free(struct replay_buf *b);

/* ---- the parsed case ---------------------------------------------------------- */

enum replay_action_kind {
    REPLAY_ACT_PING,     /* ts-ping: one echo request through the case's ping socket */
    REPLAY_ACT_UDP_SEND, /* one datagram through a UDP socket bound to the given local port */
};

struct replay_action {
    ts_time t; /* after the start */
    unsigned line;
    enum replay_action_kind kind;
    ts_ipv4_addr dst;
    uint16_t dport;    /* udp-send */
    uint16_t sport;    /* udp-send: 0 = an ephemeral port picked by the stack */
    uint16_t seq;      /* ping */
    uint8_t *payload;  /* udp-send: the datagram; ping: the echo data */
    size_t payload_len;
};

struct replay_counter_expect {
    char name[64];
    uint64_t value;
    unsigned line;
};

#define REPLAY_MAX_APPS 8

struct replay_case {
    char *path;
    char *name;
    char *capture_path;
    char *description;
    struct ts_stack_config cfg;
    size_t mtu;
    bool synthetic;
    ts_time tolerance;
    ts_time duration;     /* the run lasts at least this long; 0 = until the last frame */
    bool start_given;     /* a 'start' line set start_abs; else the first frame's timestamp is the start */
    int64_t start_abs;    /* the start as a capture timestamp, microseconds since the epoch */
    ts_time first_poll;   /* when the runtime first polled the stack (after the start) */
    uint16_t echo_ports[REPLAY_MAX_APPS];
    unsigned n_echo;
    struct replay_action *actions;
    size_t n_actions;
    struct replay_counter_expect *counters;
    size_t n_counters;
    struct replay_frame *frames;
    size_t n_frames;
};

/* Parses the text of a case file into c (which the caller zeroed). */
int replay_case_parse(struct replay_case *c, const char *text, char *err, size_t errlen);

/* ---- captures (all through libpcap) ---------------------------------------------- */

/* Reads every frame with its timestamp in microseconds since the epoch (in frames[i].t). */
int replay_capture_read(const char *path, struct replay_frame **frames, size_t *n, char *err, size_t errlen);
/* Writes frames whose t is an absolute timestamp in microseconds since the epoch. */
int replay_capture_write(const char *path, const struct replay_frame *frames, size_t n, char *err, size_t errlen);
void replay_frames_free(struct replay_frame *frames, size_t n);

/* ---- dissector ----------------------------------------------------------------------- */

enum replay_field_kind {
    REPLAY_F_DEC,   /* decimal number */
    REPLAY_F_HEX,   /* hexadecimal number, `width` digits */
    REPLAY_F_MAC,
    REPLAY_F_IPV4,
    REPLAY_F_BYTES, /* compared byte by byte, reported with the offset of the first difference */
};

struct replay_field {
    char name[40];
    enum replay_field_kind kind;
    unsigned width;
    uint64_t value;
    const uint8_t *bytes; /* REPLAY_F_MAC and REPLAY_F_BYTES; points into the frame */
    size_t len;
    const char *note; /* shown, not compared: "ok", "BAD", "not checked (fragment)" */
};

#define REPLAY_MAX_FIELDS 96

struct replay_dissection {
    struct replay_field f[REPLAY_MAX_FIELDS];
    unsigned n;
};

void replay_dissect(const uint8_t *frame, size_t len, struct replay_dissection *d);
const struct replay_field *replay_field_find(const struct replay_dissection *d, const char *name);
void replay_field_format(const struct replay_field *f, char *buf, size_t cap);
/* Appends "name expected X got Y" for each difference, separated by "; ". Returns how many. */
unsigned replay_diff(const struct replay_dissection *expected, const struct replay_dissection *got,
                     struct replay_buf *out);

/* The RFC 1071 Internet checksum of len bytes, folded and complemented, added to `sum`. */
uint16_t replay_inet_checksum(const uint8_t *p, size_t len, uint32_t sum);

/* ---- review of blessed output ------------------------------------------------------------ */

/*
 * Reassembles the datagrams of a whole capture (frames in order, from_stack set) and
 * checks the stack's: checksums, echoed data, ICMP quotes. Returns malloc'd text.
 */
char *replay_review(const struct replay_frame *frames, size_t n);

/* ---- time text ---------------------------------------------------------------------- */

/* Parses "0.250", "250ms", "20us", "1.5s", "-0.05" (bare numbers are seconds). */
int replay_parse_duration(const char *text, ts_time *out);
/* "+1.250000s" style, sign always shown. */
void replay_format_time(ts_time t, char *buf, size_t cap);

#endif
