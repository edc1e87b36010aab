/*
 * The congestion-control graph: the congestion window and the slow-start
 * threshold (bytes) in the upper panel, the smoothed RTT, its variation and the
 * retransmission timeout (ms) in the lower one, on one time axis. Each value is
 * a step line: a trace line says what the value became at that moment.
 */
#include "plot_draw.h"

#include <stddef.h>

#include "plot_svg.h"

#define WIDTH 1100
#define HEIGHT 760
#define HEIGHT_WITH_ZOOM 960
#define PANEL_X 110.0
#define PANEL_W 760.0
#define TOP_Y 70.0
#define TOP_H 300.0
#define BOTTOM_Y 450.0
#define BOTTOM_H 200.0
#define ZOOM_Y 730.0
#define ZOOM_H 150.0
/* SRTT gets a panel of its own when the RTO's floor would flatten it to less than this share of the timers'. */
#define ZOOM_WHEN_BELOW 0.1

static const char cc_css[] =
    ".cwnd{stroke:#1f77b4;stroke-width:1.5;fill:none}"
    ".ssthresh{stroke:#d62728;stroke-width:1.5;stroke-dasharray:6 3;fill:none}"
    ".flight{stroke:#7f7f7f;stroke-width:1;fill:none}"
    ".srtt{stroke:#2ca02c;stroke-width:1.5;fill:none}"
    ".rttvar{stroke:#8c564b;stroke-width:1;stroke-dasharray:2 2;fill:none}"
    ".rto{stroke:#ff7f0e;stroke-width:1.5;fill:none}";

struct series {
    const char *cls;
    const char *label;
    unsigned bit;  /* enum cc_field */
    size_t offset; /* of the double in struct cc_sample */
};

static const struct series top_series[] = {
    {"cwnd", "cwnd (bytes)", CC_CWND, offsetof(struct cc_sample, cwnd)},
    {"ssthresh", "ssthresh (bytes)", CC_SSTHRESH, offsetof(struct cc_sample, ssthresh)},
    {"flight", "bytes in flight", CC_FLIGHT, offsetof(struct cc_sample, flight)},
};

static const struct series bottom_series[] = {
    {"srtt", "SRTT (ms)", CC_SRTT, offsetof(struct cc_sample, srtt_ms)},
    {"rttvar", "RTTVAR (ms)", CC_RTTVAR, offsetof(struct cc_sample, rttvar_ms)},
    {"rto", "RTO (ms)", CC_RTO, offsetof(struct cc_sample, rto_ms)},
};

/* The same SRTT and RTTVAR magnified: class "zoom" added, so a reader can tell the copies apart. */
static const struct series zoom_series[] = {
    {"srtt zoom", "SRTT (ms)", CC_SRTT, offsetof(struct cc_sample, srtt_ms)},
    {"rttvar zoom", "RTTVAR (ms)", CC_RTTVAR, offsetof(struct cc_sample, rttvar_ms)},
};

#define N_SERIES 3
#define N_ZOOM 2

static double value_of(const struct cc_sample *s, const struct series *se)
{
    return *(const double *)((const char *)s + se->offset);
}

/* The next sample after i that carries the series, or tr->count. */
static size_t next_with(const struct cc_trace *tr, size_t i, unsigned bit)
{
    for (i++; i < tr->count && !(tr->s[i].have & bit); i++)
        ;
    return i;
}

/*
 * One polyline per run of samples within the panel's range. Returns how many
 * samples lay above it (not drawn); first_off and last_off get their times, max_off the highest.
 */
static size_t draw_series(FILE *f, const struct svg_panel *p, const struct cc_trace *tr, const struct series *se,
                          double *first_off, double *last_off, double *max_off)
{
    size_t off_scale = 0;
    size_t i = next_with(tr, (size_t)-1, se->bit);
    while (i < tr->count) {
        if (value_of(&tr->s[i], se) > p->ys.hi) {
            if (off_scale++ == 0)
                *first_off = tr->s[i].t;
            *last_off = tr->s[i].t;
            if (value_of(&tr->s[i], se) > *max_off)
                *max_off = value_of(&tr->s[i], se);
            i = next_with(tr, i, se->bit);
            continue;
        }
        /* A run: i .. the last in-range sample before an off-scale one or the end. */
        size_t start = i, end = i;
        while (end < tr->count && value_of(&tr->s[end], se) <= p->ys.hi)
            end = next_with(tr, end, se->bit);
        fprintf(f, "<polyline class=\"%s\" points=\"", se->cls);
        for (size_t k = start; k < end; k = next_with(tr, k, se->bit)) {
            double y = svg_map(&p->ys, value_of(&tr->s[k], se));
            size_t next = next_with(tr, k, se->bit);
            double t_next = next < tr->count ? tr->s[next].t : p->xs.hi;
            fprintf(f, "%.2f,%.2f %.2f,%.2f ", svg_map(&p->xs, tr->s[k].t), y, svg_map(&p->xs, t_next), y);
        }
        fputs("\" data-t=\"", f);
        for (size_t k = start; k < end; k = next_with(tr, k, se->bit))
            fprintf(f, "%s%.6f", k == start ? "" : " ", tr->s[k].t);
        fputs("\" data-v=\"", f);
        for (size_t k = start; k < end; k = next_with(tr, k, se->bit))
            fprintf(f, "%s%.10g", k == start ? "" : " ", value_of(&tr->s[k], se));
        fputs("\"/>\n", f);
        i = end;
    }
    return off_scale;
}

static bool has_series(const struct cc_trace *tr, const struct series *se)
{
    return next_with(tr, (size_t)-1, se->bit) < tr->count;
}

static double max_of(const struct cc_trace *tr, const struct series *se)
{
    double m = 0;
    for (size_t i = 0; i < tr->count; i++)
        if ((tr->s[i].have & se->bit) && value_of(&tr->s[i], se) > m)
            m = value_of(&tr->s[i], se);
    return m;
}

/*
 * The upper panel's top: cwnd and flight decide it; ssthresh may raise it up to
 * twice that, no further, so an "infinite" ssthresh (4294967295 before the first
 * loss) does not flatten everything else: it is left off the graph with a note.
 */
static double top_range(const struct cc_trace *tr)
{
    double top = max_of(tr, &top_series[0]);
    if (max_of(tr, &top_series[2]) > top)
        top = max_of(tr, &top_series[2]);
    double ssthresh_cap = top > 0 ? 2 * top : 1e9;
    for (size_t i = 0; i < tr->count; i++) {
        double v = tr->s[i].ssthresh;
        if ((tr->s[i].have & CC_SSTHRESH) && v > top && v <= ssthresh_cap)
            top = v;
    }
    return top;
}

static void draw_panel(FILE *f, const struct svg_panel *p, const struct cc_trace *tr, const struct series *list,
                       size_t n_list, const char *ylabel, const char *which)
{
    svg_axes(f, p, "time (s)", ylabel);
    fprintf(f, "<g class=\"data %s\">\n", which);
    struct svg_legend_item items[N_SERIES];
    size_t n_items = 0;
    double note_y = p->y + 14;
    for (size_t k = 0; k < n_list; k++) {
        if (!has_series(tr, &list[k]))
            continue;
        double first_off = 0, last_off = 0, max_off = 0;
        size_t off = draw_series(f, p, tr, &list[k], &first_off, &last_off, &max_off);
        items[n_items++] = (struct svg_legend_item){list[k].label, list[k].cls, 'l', NULL};
        if (off == 0)
            continue;
        char note[240];
        /* 2^31 - 1 and 2^32 - 1 are what stacks start ssthresh at: "infinite", RFC 5681 3.1's "arbitrarily high". */
        snprintf(note, sizeof note, "%s off the scale, not drawn: %zu sample%s, t = %.6f to %.6f s, up to %.0f%s",
                 list[k].cls, off, off == 1 ? "" : "s", first_off, last_off, max_off,
                 max_off >= 2147483647.0 ? " (\"infinite\")" : "");
        fprintf(f, "<g class=\"offscale\" data-series=\"%s\" data-count=\"%zu\">", list[k].cls, off);
        svg_text(f, p->x + 8, note_y, "note", "start", note);
        fputs("</g>\n", f);
        note_y += 14;
    }
    if (n_items == 0)
        svg_text(f, p->x + p->w / 2, p->y + p->h / 2, "note", "middle", "no values of this panel in the trace");
    fputs("</g>\n", f);
    svg_legend(f, p->x + p->w + 20, p->y, items, n_items);
}

int cc_draw_svg(const struct cc_trace *tr, FILE *out)
{
    char title[128], l[22], r[22];
    snprintf(title, sizeof title, "%s \xe2\x86\x92 %s: congestion control", plot_endpoint_format(&tr->local, l),
             plot_endpoint_format(&tr->remote, r));
    /* The time axis spans the samples (a trace counts from the program's start, the connection comes later). */
    double tlo = tr->count > 0 ? tr->s[0].t : 0, thi = tlo;
    for (size_t i = 0; i < tr->count; i++) {
        if (tr->s[i].t < tlo)
            tlo = tr->s[i].t;
        if (tr->s[i].t > thi)
            thi = tr->s[i].t;
    }
    svg_nice_range(&tlo, &thi, 8);
    double top_lo = 0, top_hi = top_range(tr);
    svg_nice_range(&top_lo, &top_hi, 6);
    double bottom_lo = 0, bottom_hi = 0;
    for (size_t k = 0; k < N_SERIES; k++)
        if (max_of(tr, &bottom_series[k]) > bottom_hi)
            bottom_hi = max_of(tr, &bottom_series[k]);
    svg_nice_range(&bottom_lo, &bottom_hi, 5);

    double zoom_lo = 0, zoom_hi = max_of(tr, &zoom_series[0]);
    if (max_of(tr, &zoom_series[1]) > zoom_hi)
        zoom_hi = max_of(tr, &zoom_series[1]);
    bool zoom = zoom_hi > 0 && zoom_hi < ZOOM_WHEN_BELOW * bottom_hi;
    svg_nice_range(&zoom_lo, &zoom_hi, 4);

    svg_begin(out, WIDTH, zoom ? HEIGHT_WITH_ZOOM : HEIGHT, title, cc_css);
    struct svg_panel top, bottom;
    svg_panel_init(&top, PANEL_X, TOP_Y, PANEL_W, TOP_H, tlo, thi, top_lo, top_hi);
    svg_panel_init(&bottom, PANEL_X, BOTTOM_Y, PANEL_W, BOTTOM_H, tlo, thi, bottom_lo, bottom_hi);
    draw_panel(out, &top, tr, top_series, N_SERIES, "bytes", "window");
    draw_panel(out, &bottom, tr, bottom_series, N_SERIES, "milliseconds", "timers");
    double notes_y = BOTTOM_Y + BOTTOM_H + 62;
    if (zoom) {
        struct svg_panel z;
        svg_panel_init(&z, PANEL_X, ZOOM_Y, PANEL_W, ZOOM_H, tlo, thi, zoom_lo, zoom_hi);
        draw_panel(out, &z, tr, zoom_series, N_ZOOM, "milliseconds (SRTT magnified)", "zoom");
        notes_y = ZOOM_Y + ZOOM_H + 62;
    }
    char note[200];
    snprintf(note, sizeof note, "%zu samples of this connection from %zu lines (%zu cc lines of other connections "
             "or unreadable); time as the trace prints it", tr->count, tr->lines, tr->ignored);
    svg_text(out, PANEL_X, notes_y, "note counts", "start", note);
    svg_end(out);
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
