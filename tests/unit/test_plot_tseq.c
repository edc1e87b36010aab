/*
 * ts-plot's time-sequence graph (apps/plot/plot_tseq.c, plot_draw_tseq.c) on
 * recorded and generated captures: one bar per data segment, retransmissions
 * marked exactly where the capture has them, the ACK and window lines point for
 * point, SACK blocks, axes and legend. The capture is also read here with
 * libpcap and a parser of the test's own, so the counts are not the plotter's
 * word against itself.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot_draw.h"
#include "plot_svg_scan.h"

#define CAPTURE(name) TS_SOURCE_DIR "/captures/" name ".pcap"
#define MAX_PKTS 1024

/* The test's own view of a TCP segment. */
struct seen {
    double t;
    uint16_t sport, dport;
    uint32_t seq, ack, len;
    uint8_t flags;
    uint16_t win;
};

static uint32_t be32(const u_char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static size_t read_tcp(const char *path, struct seen *out, size_t max)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(path, errbuf);
    cr_assert_not_null(pc, "%s", errbuf);
    struct pcap_pkthdr *h;
    const u_char *d;
    size_t n = 0;
    double t0 = -1;
    while (pcap_next_ex(pc, &h, &d) == 1) {
        double t = (double)h->ts.tv_sec + h->ts.tv_usec / 1e6;
        if (t0 < 0)
            t0 = t;
        if (h->caplen < 54 || d[12] != 0x08 || d[13] != 0x00 || d[23] != 6)
            continue;
        size_t ihl = (size_t)(d[14] & 15) * 4, total = (size_t)d[16] << 8 | d[17];
        const u_char *tcp = d + 14 + ihl;
        size_t doff = (size_t)(tcp[12] >> 4) * 4;
        cr_assert_lt(n, max);
        out[n++] = (struct seen){t - t0, (uint16_t)(tcp[0] << 8 | tcp[1]), (uint16_t)(tcp[2] << 8 | tcp[3]),
                                 be32(tcp + 4), be32(tcp + 8), (uint32_t)(total - ihl - doff), tcp[13],
                                 (uint16_t)(tcp[14] << 8 | tcp[15])};
    }
    pcap_close(pc);
    return n;
}

struct drawn {
    struct tseq_model m;
    char *svg;
    size_t svg_len;
};

static void draw(const char *path, const char *spec, struct drawn *out)
{
    struct plot_capture cap;
    char err[512];
    cr_assert_eq(plot_capture_read(path, &cap, err, sizeof err), 0, "%s", err);
    struct plot_conn conn;
    cr_assert_eq(plot_conn_select(&cap, spec, &conn, err, sizeof err), 0, "%s", err);
    struct plot_endpoint s, r;
    tseq_default_sender(&conn, &s, &r);
    cr_assert_eq(tseq_build(&cap, &s, &r, &out->m), 0);
    plot_capture_free(&cap);
    FILE *f = open_memstream(&out->svg, &out->svg_len);
    cr_assert_not_null(f);
    cr_assert_eq(tseq_draw_svg(&out->m, f), 0);
    fclose(f);
}

static void drawn_free(struct drawn *d)
{
    tseq_free(&d->m);
    free(d->svg);
}

/* The bulk transfer out of the stack: 10.0.0.2:60791 sends 200 KiB to 10.0.0.1:5000. */
#define BULK_SENDER_PORT 60791
#define BULK_RECEIVER_PORT 5000

Test(plot_tseq, every_data_segment_of_the_sender_is_one_bar_at_its_time_and_place)
{
    static struct seen pk[MAX_PKTS];
    size_t n = read_tcp(CAPTURE("live_tcp_bulk_to_linux"), pk, MAX_PKTS);
    uint32_t isn = 0;
    size_t data = 0;
    for (size_t i = 0; i < n; i++) {
        if (pk[i].sport == BULK_SENDER_PORT && (pk[i].flags & PLOT_TCP_SYN))
            isn = pk[i].seq;
        if (pk[i].sport == BULK_SENDER_PORT && pk[i].len > 0)
            data++;
    }
    struct drawn d;
    draw(CAPTURE("live_tcp_bulk_to_linux"), NULL, &d);
    cr_assert_gt(data, 140);
    cr_assert_eq(plot_scan_count(d.svg, "seg", "data-t"), data);
    cr_assert_eq(d.m.isn, isn);
    /* In capture order, each with the sequence number (relative to the SYN: first byte 1) and length. */
    const char *e = d.svg;
    for (size_t i = 0; i < n; i++) {
        if (pk[i].sport != BULK_SENDER_PORT || pk[i].len == 0)
            continue;
        e = plot_scan_next(e, "seg", "data-t");
        cr_assert_not_null(e);
        cr_assert_eq(plot_scan_attr_num(e, "data-seq"), (double)(pk[i].seq - isn));
        cr_assert_eq(plot_scan_attr_num(e, "data-len"), (double)pk[i].len);
        cr_assert_float_eq(plot_scan_attr_num(e, "data-t"), pk[i].t, 1e-6);
        e++;
    }
    drawn_free(&d);
}

Test(plot_tseq, retransmissions_are_marked_exactly_at_the_retransmitted_sequence_numbers)
{
    struct drawn d;
    draw(CAPTURE("live_tcp_bulk_to_linux"), NULL, &d);
    /* Two fast retransmits, then the RTO repairing the tail: the last full segment and the last one with the FIN
       (captures/README.md; the case's review marks the same four). */
    const double expected[] = {8689, 91225, 202025, 203473};
    cr_assert_eq(plot_scan_count(d.svg, "retrans", "data-t"), 4);
    const char *e = d.svg;
    for (size_t i = 0; i < 4; i++) {
        e = plot_scan_next(e, "retrans", "data-t");
        cr_assert_eq(plot_scan_attr_num(e, "data-seq"), expected[i]);
        e++;
    }
    cr_assert_eq(d.m.n_retrans, 4);
    cr_assert_eq(d.m.n_fill, 0);
    cr_assert_eq(plot_scan_count(d.svg, "rmark", NULL), 4, "each retransmission labelled R");
    drawn_free(&d);
}

Test(plot_tseq, ack_line_has_one_point_per_ack_of_the_receiver_and_the_window_line_runs_above_it)
{
    static struct seen pk[MAX_PKTS];
    size_t n = read_tcp(CAPTURE("live_tcp_bulk_to_linux"), pk, MAX_PKTS);
    uint32_t isn = 0;
    for (size_t i = 0; i < n; i++)
        if (pk[i].sport == BULK_SENDER_PORT && (pk[i].flags & PLOT_TCP_SYN))
            isn = pk[i].seq;
    struct drawn d;
    draw(CAPTURE("live_tcp_bulk_to_linux"), NULL, &d);
    static double at[MAX_PKTS], av[MAX_PKTS], wt[MAX_PKTS], wv[MAX_PKTS];
    const char *ack = plot_scan_next(d.svg, "ack", "data-v");
    const char *rwnd = plot_scan_next(d.svg, "rwnd", "data-v");
    cr_assert(ack != NULL && rwnd != NULL);
    size_t na = plot_scan_list(ack, "data-v", av, MAX_PKTS);
    cr_assert_eq(plot_scan_list(ack, "data-t", at, MAX_PKTS), na);
    cr_assert_eq(plot_scan_list(rwnd, "data-v", wv, MAX_PKTS), na);
    cr_assert_eq(plot_scan_list(rwnd, "data-t", wt, MAX_PKTS), na);
    size_t k = 0, above = 0;
    for (size_t i = 0; i < n; i++) {
        if (pk[i].sport != BULK_RECEIVER_PORT || !(pk[i].flags & PLOT_TCP_ACK))
            continue;
        cr_assert_lt(k, na);
        cr_assert_eq(av[k], (double)(pk[i].ack - isn), "ACK %zu", k);
        cr_assert_float_eq(at[k], pk[i].t, 1e-6);
        cr_assert_geq(wv[k], av[k]);
        if (!(pk[i].flags & PLOT_TCP_SYN))
            cr_assert_eq(wv[k] - av[k], (double)pk[i].win * 1024, "Linux's window scale 10, from the SYN,ACK");
        above += wv[k] > av[k];
        k++;
    }
    cr_assert_eq(k, na, "as many ACK points as ACKs from the receiver");
    cr_assert_eq(above, na);
    /* Polyline vertices: a step line, two per ACK but the first. */
    char points[65536];
    cr_assert(plot_scan_attr(ack, "points", points, sizeof points));
    size_t commas = 0;
    for (const char *c = points; *c; c++)
        commas += *c == ',';
    cr_assert_eq(commas, 2 * na - 1);
    drawn_free(&d);
}

Test(plot_tseq, sack_blocks_lie_beyond_the_cumulative_ack_they_came_with)
{
    struct drawn d;
    draw(CAPTURE("live_tcp_bulk_to_linux"), NULL, &d);
    cr_assert_gt(d.m.n_sacks, 0);
    cr_assert_eq(plot_scan_count(d.svg, "sack", "data-left"), d.m.n_sacks);
    size_t dsacks = 0;
    for (size_t i = 0; i < d.m.n_sacks; i++) {
        const struct tseq_sack *s = &d.m.sacks[i];
        cr_assert_lt(s->left, s->right);
        int64_t ack = s->ack;
        bool acked_then = false;
        for (size_t k = 0; k < d.m.n_acks; k++)
            acked_then = acked_then || (d.m.acks[k].t == s->t && d.m.acks[k].ack == ack);
        cr_assert(acked_then, "the block's ACK is on the ACK line");
        if (s->dsack) {
            /* RFC 2883: Linux reports the RTO's resent last segment, SACKed before, as a duplicate. */
            cr_assert_eq(s->left, 203473);
            cr_assert_leq(s->right, ack);
            dsacks++;
        } else {
            cr_assert_gt(s->left, ack, "a SACK block above the ACK of its segment");
        }
    }
    cr_assert_eq(dsacks, 1);
    cr_assert_eq(plot_scan_count(d.svg, "dsack", "data-left"), 1);
    drawn_free(&d);
}

Test(plot_tseq, out_of_order_blocks_grow_the_sack_and_the_late_first_block_fills_a_hole)
{
    /* The peer sends bytes 1001-2000, 2001-3000, then 1-1000; the stack SACKs the first two as they come. */
    struct drawn d;
    draw(CAPTURE("tcp_out_of_order_sack"), NULL, &d);
    char s[22];
    cr_assert_str_eq(plot_endpoint_format(&d.m.sender, s), "10.0.0.1:40000");
    cr_assert_eq(d.m.n_segs, 3);
    cr_assert_eq(d.m.n_retrans, 0, "no byte was sent twice");
    cr_assert_eq(d.m.n_fill, 1);
    const char *fill = plot_scan_next(d.svg, "fill", "data-t");
    cr_assert_eq(plot_scan_attr_num(fill, "data-seq"), 1);
    cr_assert_eq(d.m.n_sacks, 2);
    cr_assert_eq(d.m.sacks[0].left, 1001);
    cr_assert_eq(d.m.sacks[0].right, 2001);
    cr_assert_eq(d.m.sacks[1].left, 1001);
    cr_assert_eq(d.m.sacks[1].right, 3001);
    cr_assert_eq(d.m.acks[d.m.n_acks - 1].ack >= 3001, true, "the hole filled: all acknowledged");
    drawn_free(&d);
}

Test(plot_tseq, zero_window_probes_are_retransmissions_of_the_same_byte)
{
    struct drawn d;
    draw(CAPTURE("tcp_zero_window_persist"), NULL, &d);
    cr_assert_eq(d.m.n_retrans, 3);
    const char *e = d.svg;
    for (int i = 0; i < 3; i++) {
        e = plot_scan_next(e, "retrans", "data-t");
        cr_assert_eq(plot_scan_attr_num(e, "data-seq"), 2001);
        e++;
    }
    drawn_free(&d);
}

Test(plot_tseq, syn_and_fin_are_marked_on_both_sides)
{
    struct drawn d;
    draw(CAPTURE("live_tcp_bulk_to_linux"), NULL, &d);
    const char *syn = plot_scan_next(d.svg, "syn", "data-side");
    cr_assert_not_null(syn);
    char side[16];
    cr_assert(plot_scan_attr(syn, "data-side", side, sizeof side));
    cr_assert_str_eq(side, "sender");
    cr_assert_eq(plot_scan_attr_num(syn, "data-seq"), 0, "the SYN is the ISN: relative 0");
    cr_assert_geq(plot_scan_count(d.svg, "syn", "data-t"), 2);
    /* The first FIN rides on the last data (204800 bytes: FIN at 204801); the RTO resends it. */
    const char *fin = plot_scan_next(d.svg, "fin", "data-t");
    cr_assert_eq(plot_scan_attr_num(fin, "data-seq"), 204801);
    cr_assert_eq(plot_scan_count(d.svg, "rst", "data-t"), 0);
    drawn_free(&d);
}

/* Reads the panel's mapping and turns a pixel back into a value. */
static double unmap(const char *panel, const char *axis, double px)
{
    char a0[16], a1[16], lo[16], hi[16];
    snprintf(a0, sizeof a0, "data-px-%s0", axis);
    snprintf(a1, sizeof a1, "data-px-%s1", axis);
    snprintf(lo, sizeof lo, "data-%s-lo", axis);
    snprintf(hi, sizeof hi, "data-%s-hi", axis);
    double p0 = plot_scan_attr_num(panel, a0), p1 = plot_scan_attr_num(panel, a1);
    double v0 = plot_scan_attr_num(panel, lo), v1 = plot_scan_attr_num(panel, hi);
    return v0 + (px - p0) / (p1 - p0) * (v1 - v0);
}

Test(plot_tseq, bars_are_drawn_where_their_values_say)
{
    struct drawn d;
    draw(CAPTURE("live_tcp_bulk_to_linux"), NULL, &d);
    const char *panel = plot_scan_next(d.svg, "panel", "data-px-x0");
    cr_assert_not_null(panel);
    double seq_per_px = fabs(unmap(panel, "y", 1) - unmap(panel, "y", 0));
    double t_per_px = fabs(unmap(panel, "x", 1) - unmap(panel, "x", 0));
    size_t checked = 0;
    for (const char *e = plot_scan_next(d.svg, "seg", "data-t"); e; e = plot_scan_next(e + 1, "seg", "data-t")) {
        char path[256];
        cr_assert(plot_scan_attr(e, "d", path, sizeof path));
        double x0, y1, x, y1b, y2;
        cr_assert_eq(sscanf(path, "M%lf,%lfh6M%lf,%lfV%lf", &x0, &y1, &x, &y1b, &y2), 5, "%s", path);
        double seq = plot_scan_attr_num(e, "data-seq"), len = plot_scan_attr_num(e, "data-len");
        cr_assert_float_eq(unmap(panel, "x", x), plot_scan_attr_num(e, "data-t"), t_per_px);
        cr_assert_float_eq(unmap(panel, "y", y1), seq, seq_per_px);
        cr_assert_float_eq(unmap(panel, "y", y2), seq + len, seq_per_px);
        checked++;
    }
    cr_assert_eq(checked, d.m.n_segs);
    drawn_free(&d);
}

Test(plot_tseq, axes_are_labelled_with_ticks_and_the_legend_names_every_mark)
{
    struct drawn d;
    draw(CAPTURE("live_tcp_bulk_to_linux"), NULL, &d);
    cr_assert(strstr(d.svg, ">time (s)</text>") != NULL);
    cr_assert(strstr(d.svg, ">relative sequence number (bytes)</text>") != NULL);
    cr_assert(strstr(d.svg, "10.0.0.2:60791 \xe2\x86\x92 10.0.0.1:5000: time-sequence graph") != NULL);
    cr_assert_geq(plot_scan_count(d.svg, "ticklabel", "data-v"), 8);
    cr_assert_eq(plot_scan_count(d.svg, "legend", NULL), 1);
    const char *series[] = {"seg", "seg retrans", "seg fill", "ack", "rwnd", "sack", "sack dsack", "mark"};
    for (size_t i = 0; i < sizeof series / sizeof series[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "data-series=\"%s\"", series[i]);
        cr_assert(strstr(d.svg, want) != NULL, "legend entry %s", series[i]);
    }
    cr_assert(strstr(d.svg, "<< 10 (10.0.0.1:5000's window scale, from the SYNs)") == NULL,
              "text is escaped");
    cr_assert(strstr(d.svg, "&lt;&lt; 10 (10.0.0.1:5000's window scale, from the SYNs)") != NULL);
    cr_assert_eq(d.m.receiver_shift, 10);
    drawn_free(&d);
}

/* A hand-made capture: an ISN 100 bytes below 2^32, data running across the wrap. */
Test(plot_tseq, sequence_numbers_keep_counting_across_the_32_bit_wrap)
{
    struct plot_pkt pk[4] = {0};
    struct plot_endpoint a = {0x0a000002, 40000}, b = {0x0a000001, 5201};
    uint32_t isn = 0xffffff9c;
    pk[0] = (struct plot_pkt){.t = 0, .src = a, .dst = b, .seq = isn, .flags = PLOT_TCP_SYN};
    pk[1] = (struct plot_pkt){.t = 0.1, .src = a, .dst = b, .seq = isn + 1, .flags = PLOT_TCP_ACK, .len = 1000};
    pk[2] = (struct plot_pkt){.t = 0.2, .src = a, .dst = b, .seq = isn + 1001, .flags = PLOT_TCP_ACK, .len = 1000};
    pk[3] = (struct plot_pkt){.t = 0.3, .src = b, .dst = a, .ack = isn + 2001, .flags = PLOT_TCP_ACK, .window = 100};
    struct plot_capture cap = {.pkts = pk, .count = 4};
    struct tseq_model m;
    cr_assert_eq(tseq_build(&cap, &a, &b, &m), 0);
    cr_assert_eq(m.n_segs, 2);
    cr_assert_eq(m.segs[0].seq, 1);
    cr_assert_eq(m.segs[1].seq, 1001);
    cr_assert_eq(m.n_retrans, 0);
    cr_assert_eq(m.acks[0].ack, 2001);
    cr_assert_eq(m.acks[0].rwnd, 2101, "no SYN from the receiver: the window is unscaled");
    cr_assert(!m.wscale_known);
    tseq_free(&m);
}
