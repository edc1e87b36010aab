/*
 * The TCP trace's own helpers (docs/trace.md describes the lines they write).
 *
 * Every function here formats only when the TCP layer is traced: callers use
 * them inside TS_TRACE's argument list or behind TRACE_ON, so a stack with
 * the trace off does no formatting work at all.
 */
#ifndef TS_TCP_TRACE_H
#define TS_TCP_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "wire/tcp.h"

struct tcp_conn;

/* What the last "cc" line of a connection showed: the next one is written only when something changed. */
struct tcp_cc_seen {
    bool shown;
    uint32_t cwnd, ssthresh;
    ts_time srtt, rttvar, rto;
};

/* Flags as tcpdump prints them: S F R P U E W and "." for ACK ("S.", "P.", "FP."), "none" without any. */
char *tcp_trace_flags(uint8_t flags, char *buf);

/*
 * A frame line: "rx 10.0.0.1:40000 > 10.0.0.2:80 Flags [S.], seq 0, ack 1, win 65535,
 * options [mss 1460,sackOK,TS val 5 ecr 7,wscale 7], length 0".
 * seq_base / ack_base are subtracted from the sequence and acknowledgment numbers (and SACK blocks):
 * the ISN / IRS once a connection exists, 0 for absolute numbers. win is in bytes (scaled).
 * note, if not NULL, is appended in parentheses.
 */
void tcp_trace_segment(struct ts_stack *st, ts_time now, enum ts_trace_kind kind, ts_ipv4_addr src,
                       ts_ipv4_addr dst, const struct tcp_hdr *h, uint32_t seq_base, uint32_t ack_base,
                       uint32_t win, size_t len, const char *note);

struct tcp_segment;
/* The rx line of a segment that arrived for c (NULL: a listener's or nobody's): numbers relative to the
 * connection's ISN/IRS, except on a SYN (absolute, as tcpdump prints them). */
void tcp_trace_rx(struct ts_stack *st, ts_time now, const struct tcp_conn *c, const struct tcp_segment *seg);

/* A duration for a reader: "400 ms", "203.125 ms", "2 s" (buf of 24 bytes). */
const char *tcp_trace_time(ts_time t, char *buf);

/* "10.0.0.2:80 > 10.0.0.1:40000": the connection as its own end sees it (48 bytes are enough). */
char *tcp_trace_conn_name(const struct ts_stack *st, const struct tcp_conn *c, char *buf, size_t cap);

/*
 * The machine-readable congestion line, written when cwnd, ssthresh, srtt, rttvar or rto changed since the
 * connection's last one (call it once after a segment or a timer event was processed):
 * "cc 10.0.0.2:80 > 10.0.0.1:40000 cwnd=14600 ssthresh=4294967295 srtt_us=0 rttvar_us=0 rto_us=1000000
 *  flight=0 state=ESTABLISHED"
 */
void tcp_trace_cc(struct ts_stack *st, ts_time now, struct tcp_conn *c);

/*
 * After a segment was processed: the cc line of the connection it belongs to, if that still exists (the
 * segment may have freed it). Looks the connection up again, so only call it with the TCP trace on.
 */
void tcp_trace_cc_after_segment(struct ts_stack *st, ts_time now, ts_ipv4_addr local, uint16_t lport,
                                ts_ipv4_addr remote, uint16_t rport);

#endif
