/*
 * ts-plot's congestion-control graph (apps/plot/plot_cc.c, plot_draw_cc.c)
 * from a hand-written trace, tests/plot/cc_loss.trace: slow start, a fast
 * retransmit halving cwnd to ssthresh, then an RTO collapsing it to one
 * segment; with lines of another connection, malformed cc lines and other
 * trace lines mixed in.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot_draw.h"
#include "plot_svg_scan.h"

#define FIXTURE TS_SOURCE_DIR "/tests/plot/cc_loss.trace"
#define MAX_VALUES 64

static void read_fixture(const char *spec, struct cc_trace *tr)
{
    FILE *f = fopen(FIXTURE, "r");
    cr_assert_not_null(f);
    char err[256];
    cr_assert_eq(cc_trace_read(f, spec, tr, err, sizeof err), 0, "%s", err);
    fclose(f);
}

static char *draw(const struct cc_trace *tr)
{
    char *svg = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&svg, &len);
    cr_assert_not_null(f);
    cr_assert_eq(cc_draw_svg(tr, f), 0);
    fclose(f);
    return svg;
}

/* Every data-t / data-v value of a series, over all its polylines. */
static size_t series_values(const char *svg, const char *cls, double *t, double *v)
{
    size_t n = 0;
    for (const char *e = plot_scan_next(svg, cls, "data-v"); e; e = plot_scan_next(e + 1, cls, "data-v")) {
        char c[32];
        cr_assert(plot_scan_attr(e, "class", c, sizeof c));
        if (strstr(c, "zoom") != NULL)
            continue; /* the magnified copy in the third panel */
        size_t k = plot_scan_list(e, "data-v", v + n, MAX_VALUES - n);
        cr_assert_eq(plot_scan_list(e, "data-t", t + n, MAX_VALUES - n), k);
        n += k;
    }
    return n;
}

Test(plot_cc, the_trace_format_is_parsed_field_by_field)
{
    struct cc_sample s;
    struct plot_endpoint l, r;
    const char *line = "  0.123456 tcp  cc 10.0.0.2:5201 > 10.0.0.1:40000 cwnd=14600 ssthresh=4294967295 "
                       "srtt_us=1234 rttvar_us=617 rto_us=200000 flight=2920 state=ESTABLISHED\n";
    cr_assert_eq(cc_parse_line(line, &s, &l, &r), 1);
    cr_assert_float_eq(s.t, 0.123456, 1e-9);
    cr_assert_eq(l.port, 5201);
    cr_assert_eq(r.addr, 0x0a000001u);
    cr_assert_eq(s.cwnd, 14600);
    cr_assert_eq(s.ssthresh, 4294967295.0);
    cr_assert_float_eq(s.srtt_ms, 1.234, 1e-9);
    cr_assert_float_eq(s.rttvar_ms, 0.617, 1e-9);
    cr_assert_eq(s.rto_ms, 200);
    cr_assert_eq(s.flight, 2920);
    cr_assert_str_eq(s.state, "ESTABLISHED");
    cr_assert_eq(s.have, CC_CWND | CC_SSTHRESH | CC_SRTT | CC_RTTVAR | CC_RTO | CC_FLIGHT);
}

Test(plot_cc, fields_in_any_order_unknown_or_missing_ones_are_tolerated)
{
    struct cc_sample s;
    struct plot_endpoint l, r;
    cr_assert_eq(cc_parse_line("1.5 tcp cc 10.0.0.2:1 > 10.0.0.1:2 mss=1460 rto_us=1000 cwnd=2920", &s, &l, &r), 1);
    cr_assert_eq(s.have, CC_RTO | CC_CWND);
    cr_assert_eq(s.rto_ms, 1);
    cr_assert_eq(s.cwnd, 2920);
    cr_assert_eq(cc_parse_line("+2.000000s tcp cc 10.0.0.2:1 > 10.0.0.1:2 cwnd=-5 srtt_us=x", &s, &l, &r), 1);
    cr_assert_eq(s.have, 0, "a negative or unreadable value is left out");
    cr_assert_float_eq(s.t, 2.0, 1e-9);
}

Test(plot_cc, ts_replay_trace_lines_are_read_too)
{
    /* ts-replay prints the time as "+S.UUUUUUs" and the layer in brackets. */
    struct cc_sample s;
    struct plot_endpoint l, r;
    const char *line = "      +0.250000s  [tcp] cc 10.0.0.2:40000 > 10.0.0.1:7 cwnd=2920 ssthresh=2920 srtt_us=0 "
                       "rttvar_us=0 rto_us=1000000 flight=0 state=SYN-SENT\n";
    cr_assert_eq(cc_parse_line(line, &s, &l, &r), 1);
    cr_assert_float_eq(s.t, 0.25, 1e-9);
    cr_assert_eq(s.rto_ms, 1000);
    cr_assert_str_eq(s.state, "SYN-SENT");
    cr_assert_eq(s.have & (CC_SRTT | CC_RTTVAR), 0, "0 and 0: no RTT measured yet, nothing to draw");
    cr_assert(s.have & CC_RTO);
}

Test(plot_cc, ts_replay_block_lines_without_a_time_take_their_blocks_time)
{
    static char text[] =
        "replaying x.pcap: 284 frames, times after the first frame; --> into tapstack, <-- from it\n"
        "      [tcp] cc 10.0.0.2:60791 > 10.0.0.1:5000 cwnd=1 before any time: refused\n"
        "#3  +0.000279s  10.0.0.1 --> tapstack\n"
        "      [tcp] cc 10.0.0.2:60791 > 10.0.0.1:5000 cwnd=14480 ssthresh=2147483647\n"
        "    <-- +0.000300s tapstack sent (its frame 3)\n"
        "      [tcp] cc 10.0.0.2:60791 > 10.0.0.1:5000 cwnd=15928\n"
        "      +0.000400s [tcp] cc 10.0.0.2:60791 > 10.0.0.1:5000 cwnd=17376\n"
        "      [tcp] cc 10.0.0.2:60791 > 10.0.0.1:5000 cwnd=18824\n";
    FILE *f = fmemopen(text, strlen(text), "r");
    struct cc_trace tr;
    char err[256];
    cr_assert_eq(cc_trace_read(f, NULL, &tr, err, sizeof err), 0, "%s", err);
    fclose(f);
    cr_assert_eq(tr.count, 4);
    cr_assert_eq(tr.ignored, 1);
    const double want_t[] = {0.000279, 0.000300, 0.000400, 0.000300};
    const double want_cwnd[] = {14480, 15928, 17376, 18824};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_float_eq(tr.s[i].t, want_t[i], 1e-9, "sample %zu", i);
        cr_assert_eq(tr.s[i].cwnd, want_cwnd[i]);
    }
    cc_trace_free(&tr);
}

Test(plot_cc, other_lines_are_not_cc_lines_and_broken_cc_lines_are_refused)
{
    struct cc_sample s;
    struct plot_endpoint l, r;
    cr_assert_eq(cc_parse_line("  0.000000 tcp  10.0.0.2:40000 > 10.0.0.1:5201 CLOSED -> SYN-SENT", &s, &l, &r), 0);
    cr_assert_eq(cc_parse_line("", &s, &l, &r), 0);
    cr_assert_eq(cc_parse_line("cc 10.0.0.2:1 > 10.0.0.1:2 cwnd=1", &s, &l, &r), 0, "no time before it");
    cr_assert_eq(cc_parse_line("bogus tcp cc 10.0.0.2:1 > 10.0.0.1:2 cwnd=1", &s, &l, &r), -1);
    cr_assert_eq(cc_parse_line("0.1 tcp cc 10.0.0.2:1 10.0.0.1:2 cwnd=1", &s, &l, &r), -1);
    cr_assert_eq(cc_parse_line("0.1 tcp cc 10.0.0.2:1 > nowhere cwnd=1", &s, &l, &r), -1);
    cr_assert_eq(cc_parse_line("0.1 tcp cc\v\f", &s, &l, &r), -1, "control characters end, not hang");
}

Test(plot_cc, the_first_connection_is_taken_and_other_lines_are_counted_as_ignored)
{
    struct cc_trace tr;
    read_fixture(NULL, &tr);
    char l[22], r[22];
    cr_assert_str_eq(plot_endpoint_format(&tr.local, l), "10.0.0.2:40000");
    cr_assert_str_eq(plot_endpoint_format(&tr.remote, r), "10.0.0.1:5201");
    cr_assert_eq(tr.count, 8);
    cr_assert_eq(tr.ignored, 4, "one of another connection, three malformed");
    cr_assert_eq(tr.lines, 16);
    cc_trace_free(&tr);
    read_fixture("10.0.0.1:6000-10.0.0.9:7", &tr);
    cr_assert_eq(tr.count, 1);
    cr_assert_eq(tr.s[0].cwnd, 2920);
    cc_trace_free(&tr);
}

Test(plot_cc, cwnd_is_drawn_point_for_point_through_its_collapse)
{
    struct cc_trace tr;
    read_fixture(NULL, &tr);
    char *svg = draw(&tr);
    double t[MAX_VALUES], v[MAX_VALUES];
    cr_assert_eq(series_values(svg, "cwnd", t, v), 8);
    const double want[] = {14600, 16060, 29200, 58400, 29200, 30660, 1460, 2920};
    const double want_t[] = {0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.210, 0.212};
    for (size_t i = 0; i < 8; i++) {
        cr_assert_eq(v[i], want[i], "cwnd sample %zu", i);
        cr_assert_float_eq(t[i], want_t[i], 1e-9);
    }
    /* The polyline's vertices map back to the values: the step before each sample holds the previous one. */
    const char *panel = plot_scan_next(svg, "panel", "data-px-y0");
    const char *line = plot_scan_next(svg, "cwnd", "points");
    char points[4096];
    cr_assert(plot_scan_attr(line, "points", points, sizeof points));
    double y0 = plot_scan_attr_num(panel, "data-px-y0"), y1 = plot_scan_attr_num(panel, "data-px-y1");
    double lo = plot_scan_attr_num(panel, "data-y-lo"), hi = plot_scan_attr_num(panel, "data-y-hi");
    double px_value = (hi - lo) / fabs(y0 - y1);
    size_t k = 0;
    const char *p = points;
    int used;
    double x, y;
    while (sscanf(p, "%lf,%lf%n", &x, &y, &used) == 2) {
        double value = lo + (y - y0) / (y1 - y0) * (hi - lo);
        cr_assert_float_eq(value, want[k / 2], px_value, "vertex %zu", k);
        k++;
        p += used;
    }
    cr_assert_eq(k, 16, "two vertices per sample: where it starts and where the next one begins");
    free(svg);
    cc_trace_free(&tr);
}

Test(plot_cc, infinite_ssthresh_is_left_off_the_scale_with_a_note_and_the_rest_drawn)
{
    struct cc_trace tr;
    read_fixture(NULL, &tr);
    char *svg = draw(&tr);
    double t[MAX_VALUES], v[MAX_VALUES];
    cr_assert_eq(series_values(svg, "ssthresh", t, v), 4);
    const double want[] = {29200, 29200, 15330, 15330};
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(v[i], want[i]);
    cr_assert_float_eq(t[0], 0.005, 1e-9);
    const char *off = plot_scan_next(svg, "offscale", "data-count");
    cr_assert_not_null(off);
    cr_assert_eq(plot_scan_attr_num(off, "data-count"), 4);
    char series[16];
    cr_assert(plot_scan_attr(off, "data-series", series, sizeof series));
    cr_assert_str_eq(series, "ssthresh");
    free(svg);
    cc_trace_free(&tr);
}

Test(plot_cc, srtt_rttvar_and_rto_share_the_second_panel_in_milliseconds)
{
    struct cc_trace tr;
    read_fixture(NULL, &tr);
    char *svg = draw(&tr);
    cr_assert_eq(plot_scan_count(svg, "panel", "data-px-y0"), 3, "cwnd, the timers, SRTT magnified");
    cr_assert(strstr(svg, ">milliseconds</text>") != NULL);
    cr_assert(strstr(svg, ">bytes</text>") != NULL);
    double t[MAX_VALUES], v[MAX_VALUES];
    cr_assert_eq(series_values(svg, "srtt", t, v), 8);
    cr_assert_float_eq(v[0], 1.0, 1e-9);
    cr_assert_float_eq(v[7], 1.4, 1e-9);
    cr_assert_eq(series_values(svg, "rto", t, v), 8);
    cr_assert_eq(v[6], 400, "the RTO doubled by the timeout");
    cr_assert_eq(v[7], 200);
    cr_assert_eq(series_values(svg, "rttvar", t, v), 7, "the 0.006 s line has no rttvar");
    cr_assert_eq(series_values(svg, "flight", t, v), 7);
    for (const char *s = "cwnd\0ssthresh\0flight\0srtt\0rttvar\0rto\0"; *s; s += strlen(s) + 1) {
        char want[48];
        snprintf(want, sizeof want, "data-series=\"%s\"", s);
        cr_assert(strstr(svg, want) != NULL, "legend entry %s", s);
    }
    cr_assert(strstr(svg, ">time (s)</text>") != NULL);
    free(svg);
    cc_trace_free(&tr);
}

Test(plot_cc, srtt_gets_a_magnified_panel_when_the_rto_floor_would_flatten_it)
{
    struct cc_trace tr;
    read_fixture(NULL, &tr);
    char *svg = draw(&tr);
    const char *zoom = plot_scan_next(svg, "zoom", "data-v");
    cr_assert_not_null(zoom);
    double v[MAX_VALUES];
    cr_assert_eq(plot_scan_list(zoom, "data-v", v, MAX_VALUES), 8);
    cr_assert_float_eq(v[7], 1.4, 1e-9);
    cr_assert(strstr(svg, ">milliseconds (SRTT magnified)</text>") != NULL);
    free(svg);
    /* An SRTT of 150 ms against RTOs of 200-400 ms needs no magnifying (RTTVAR stays small: still the max). */
    for (size_t i = 0; i < tr.count; i++)
        tr.s[i].srtt_ms = 150;
    svg = draw(&tr);
    cr_assert_eq(plot_scan_count(svg, "panel", "data-px-y0"), 2);
    cr_assert_null(plot_scan_next(svg, "zoom", "data-v"));
    free(svg);
    cc_trace_free(&tr);
}

Test(plot_cc, a_trace_without_cc_lines_or_without_the_named_connection_is_an_error)
{
    char err[256];
    struct cc_trace tr;
    static char no_cc[] = "  0.1 tcp  10.0.0.2:1 > 10.0.0.1:2 CLOSED -> SYN-SENT\nnothing\n";
    FILE *f = fmemopen(no_cc, strlen(no_cc), "r");
    cr_assert_eq(cc_trace_read(f, NULL, &tr, err, sizeof err), -1);
    cr_assert(strstr(err, "no congestion-control line") != NULL, "%s", err);
    fclose(f);
    f = fopen(FIXTURE, "r");
    cr_assert_eq(cc_trace_read(f, "10.0.0.2:1-10.0.0.1:2", &tr, err, sizeof err), -1);
    cr_assert(strstr(err, "no congestion-control line of this connection") != NULL, "%s", err);
    rewind(f);
    cr_assert_eq(cc_trace_read(f, "10.0.0.2", &tr, err, sizeof err), -1);
    cr_assert(strstr(err, "expected") != NULL, "%s", err);
    fclose(f);
}
