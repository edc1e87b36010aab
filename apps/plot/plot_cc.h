/*
 * Congestion-control trace lines, as the apps print them with --trace (and
 * ts-replay does):
 *
 *   0.123456 tcp  cc 10.0.0.2:5201 > 10.0.0.1:40000 cwnd=14600 ssthresh=4294967295 srtt_us=1234 ...
 *
 * seconds, the layer, then text starting with "cc ", the connection (ours > the
 * peer's), and name=value fields in any order. ts-replay writes the time as
 * "+0.123456s" and the layer as "[tcp]", and leaves the time out of trace lines
 * under a block that starts with it: such a line takes its block's time. Fields we do not know are
 * skipped, missing ones left out of the plot; any other line is ignored.
 */
#ifndef TS_PLOT_CC_H
#define TS_PLOT_CC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "plot_pcap.h"

/* Which of a sample's fields the line carried. */
enum cc_field {
    CC_CWND = 1 << 0,
    CC_SSTHRESH = 1 << 1,
    CC_SRTT = 1 << 2,
    CC_RTTVAR = 1 << 3,
    CC_RTO = 1 << 4,
    CC_FLIGHT = 1 << 5,
};

struct cc_sample {
    double t;                   /* seconds, as the line says */
    double cwnd, ssthresh;      /* bytes */
    double srtt_ms, rttvar_ms, rto_ms;
    double flight;              /* bytes */
    unsigned have;              /* enum cc_field bits */
    char state[16];
};

struct cc_trace {
    struct plot_endpoint local, remote; /* the connection plotted */
    struct cc_sample *s;
    size_t count, room;
    size_t lines;   /* lines read */
    size_t ignored; /* cc lines of other connections, or without a time, connection or readable value */
};

/*
 * Parses one line. Returns 1 for a cc line (sample and endpoints filled), 0 for
 * any other line, -1 for a line that starts like a cc line but whose time or
 * connection cannot be read.
 */
int cc_parse_line(const char *line, struct cc_sample *s, struct plot_endpoint *local, struct plot_endpoint *remote);
/* The same, where a cc line without a time of its own takes *block_t (NULL: refused), the time of the block
   it is printed in (ts-replay's output). */
int cc_parse_line_at(const char *line, const double *block_t, struct cc_sample *s, struct plot_endpoint *local,
                     struct plot_endpoint *remote);

/*
 * Reads every line of f, keeping the samples of one connection: the one spec
 * names ("A:P-B:Q" in either order; NULL: the first cc line's). Returns 0, or
 * -1 with a message in err (a malformed spec, no cc line at all, no line of the
 * named connection, out of memory).
 */
int cc_trace_read(FILE *f, const char *spec, struct cc_trace *tr, char *err, size_t errlen);
void cc_trace_free(struct cc_trace *tr);

#endif
