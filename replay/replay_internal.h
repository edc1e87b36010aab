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
    /* TCP, as an app's socket calls (tcp_apps.c); all but listen/connect act on the current connection */
    REPLAY_ACT_TCP_LISTEN,   /* socket, setsockopt, bind(0.0.0.0:PORT), listen; accepts every connection */
    REPLAY_ACT_TCP_CONNECT,  /* socket, setsockopt, [bind(from)], connect */
    REPLAY_ACT_TCP_SEND,     /* send(payload) */
    REPLAY_ACT_TCP_SHUTDOWN, /* shutdown(how) */
    REPLAY_ACT_TCP_CLOSE,    /* close() */
    REPLAY_ACT_TCP_ABORT,    /* SO_LINGER {1, 0} + close(): a RST */
    REPLAY_ACT_TCP_READ,     /* recv() what is queued, up to read_max bytes (0 = all) */
    REPLAY_ACT_EXPECT_STATE, /* not a call: the current connection must be in `state` now */
};

/* Socket options a TCP action sets before it listens or connects; 0 = the default. */
struct replay_tcp_opts {
    bool nodelay;
    bool no_read;     /* the app does not read on its own (tcp-read does): the receive window fills */
    bool keepalive;
    bool reno;        /* TCP_CONGESTION reno instead of the default cubic */
    bool once;        /* tcp-listen: close the listener after the first accept (ts-nc -l) */
    int rcvbuf, sndbuf, maxseg;
    int keepidle, keepintvl, keepcnt; /* seconds / probes */
    int backlog;
};

struct replay_action {
    ts_time t; /* after the start */
    unsigned line;
    enum replay_action_kind kind;
    ts_ipv4_addr dst;
    uint16_t dport;    /* udp-send, tcp-connect; tcp-listen: the port */
    uint16_t sport;    /* udp-send, tcp-connect: 0 = an ephemeral port picked by the stack */
    uint16_t seq;      /* ping */
    uint8_t *payload;  /* udp-send: the datagram; ping: the echo data; tcp-send: the bytes */
    size_t payload_len;
    bool pattern;      /* tcp-send-pattern: payload_len bytes of the stream pattern, made when sent */
    struct replay_tcp_opts tcp; /* tcp-listen, tcp-connect */
    int how;           /* tcp-shutdown: TS_SHUT_RD, TS_SHUT_WR or TS_SHUT_RDWR */
    size_t read_max;   /* tcp-read */
    int state;         /* expect-state: enum ts_tcp_state */
};

struct replay_counter_expect {
    char name[64];
    uint64_t value;
    unsigned line;
};

#define REPLAY_MAX_APPS 8
#define REPLAY_MAX_NEIGHBOURS 16

/* A 'neighbour A.B.C.D MAC' line: a static ARP entry, for captures that show no ARP exchange. */
struct replay_neighbour {
    ts_ipv4_addr addr;
    uint8_t mac[6];
};

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
    /*
     * A live capture's timestamps are the stack's clock plus this offset
     * (netdev/tee.c); given it, the replayed stack's clock reads exactly what
     * the live one read for every frame (the ISN, TSval and timers depend on it).
     * Without it the clock reads REPLAY_CLOCK_ORIGIN at the start.
     */
    bool clock_offset_given;
    int64_t clock_offset;
    uint16_t echo_ports[REPLAY_MAX_APPS];
    unsigned n_echo;
    uint16_t tcp_echo_ports[REPLAY_MAX_APPS];
    unsigned n_tcp_echo;
    struct replay_neighbour neighbours[REPLAY_MAX_NEIGHBOURS];
    unsigned n_neighbours;
    int expect_state;     /* the current TCP connection's state at the end; -1 = not checked */
    unsigned expect_state_line;
    int expect_error;     /* the first error the current connection reported (0 = none); -1 = not checked */
    unsigned expect_error_line;
    struct replay_action *actions;
    size_t n_actions;
    struct replay_counter_expect *counters;
    size_t n_counters;
    struct replay_frame *frames;
    size_t n_frames;
};

/* Parses the text of a case file into c (which the caller zeroed). */
int replay_case_parse(struct replay_case *c, const char *text, char *err, size_t errlen);
/*
 * The stream pattern of tcp-send-pattern and of recorded bulk cases: byte k of
 * a connection's stream is the (k mod 61)-th of 0-9A-Za-z. Printable, and its
 * period is prime, so a shifted or repeated block shows.
 */
uint8_t replay_pattern_byte(uint64_t k);

/* "ECONNREFUSED", "none" for 0, strerror otherwise. */
const char *replay_errno_name(int e);

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
    REPLAY_F_TCP_FLAGS, /* the 8 TCP flag bits, shown in hex with their names */
    REPLAY_F_TEXT,  /* a short text made by the dissector (the TCP options' layout), compared as text */
};

struct replay_field {
    char name[40];
    enum replay_field_kind kind;
    unsigned width;
    uint64_t value;
    const uint8_t *bytes; /* REPLAY_F_MAC and REPLAY_F_BYTES; points into the frame */
    size_t len;
    const char *note; /* shown, not compared: "ok", "BAD", "not checked (fragment)" */
    /*
     * TCP sequence numbers (seq, ack, SACK edges) relative to the ISN of the
     * direction they count, when the flows a dissection was given know it.
     * Shown to help a reader, never compared: the value itself is.
     */
    bool has_rel;
    uint32_t rel;
    char text[64]; /* REPLAY_F_TEXT */
};

#define REPLAY_MAX_FIELDS 112

/* ---- TCP flows: each direction's ISN, for relative sequence numbers ---------- */

struct replay_flow {
    uint32_t src, dst;
    uint16_t sport, dport;
    uint32_t isn; /* the SYN's sequence number, or the first one seen in this direction */
    bool from_syn; /* isn came from a SYN */
    bool ended;    /* a FIN or RST went either way since: the next SYN starts a new incarnation */
};

#define REPLAY_MAX_FLOWS 64

/*
 * What tcpdump calls relative sequence numbers: each direction of a
 * connection counts from its ISN. A direction first seen without a SYN starts
 * at its first sequence number; a SYN sets the ISN unless its direction
 * already has one from a SYN and no FIN or RST has gone either way since (a
 * retransmitted SYN, or a SYN in ESTABLISHED, is not a new connection; a SYN
 * after a close or a reset is). When full, the oldest flow is forgotten.
 */
struct replay_tcp_flows {
    struct replay_flow f[REPLAY_MAX_FLOWS];
    unsigned n, next_evict;
};

/* Learns from one frame (anything that is not a whole-enough TCP segment is ignored). */
void replay_flows_learn(struct replay_tcp_flows *fl, const uint8_t *frame, size_t len);
bool replay_flows_isn(const struct replay_tcp_flows *fl, uint32_t src, uint16_t sport, uint32_t dst,
                      uint16_t dport, uint32_t *isn);

struct replay_dissection {
    struct replay_field f[REPLAY_MAX_FIELDS];
    unsigned n;
    const struct replay_tcp_flows *flows; /* NULL: TCP sequence numbers are shown absolute only */
};

void replay_dissect(const uint8_t *frame, size_t len, struct replay_dissection *d);
/* The same with relative TCP sequence numbers from `flows` (which may be NULL). */
void replay_dissect_in(const struct replay_tcp_flows *flows, const uint8_t *frame, size_t len,
                       struct replay_dissection *d);
void replay_describe_frame_in(const struct replay_tcp_flows *flows, const uint8_t *frame, size_t len, char *buf,
                              size_t cap);
char *replay_dissect_text_in(const struct replay_tcp_flows *flows, const uint8_t *frame, size_t len);

/* Used by the dissector's files to add fields (NULL when the dissection is full). */
struct replay_field *replay_add_field(struct replay_dissection *d, const char *prefix, const char *name,
                                     enum replay_field_kind kind);
struct replay_field *replay_add_num(struct replay_dissection *d, const char *prefix, const char *name, uint64_t v);
struct replay_field *replay_add_hex(struct replay_dissection *d, const char *prefix, const char *name, uint64_t v,
                                    unsigned width);
struct replay_field *replay_add_bytes(struct replay_dissection *d, const char *prefix, const char *name,
                                     const uint8_t *p, size_t len, const char *note);
/*
 * TCP (RFC 9293 3.1) at p, len bytes of the IP payload; ip is the IPv4 header
 * (for the pseudo header and the flow). whole: the segment is all there (not a
 * fragment, not a quote), so its checksum can be checked.
 */
void replay_dissect_tcp(struct replay_dissection *d, const char *prefix, const uint8_t *ip, const uint8_t *p,
                        size_t len, bool whole);
/* Appends " TCP 40000 > 7 [S.] seq 0 ack 1 win 65535 <mss 1460,...> len 0" for a dissected segment. */
void replay_describe_tcp(const struct replay_dissection *d, struct replay_buf *b);
/* "S." / "P." / "R" ... as tcpdump prints the flags. */
void replay_tcp_flags_text(unsigned flags, char *buf, size_t cap);
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
