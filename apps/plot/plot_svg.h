/*
 * A tiny SVG writer for ts-plot: panels with linear scales, axes with "nice"
 * ticks (1, 2 or 5 times a power of ten), labels, a legend. The output is one
 * self-contained file (styles inline, no fonts or scripts fetched) that a
 * browser, rsvg-convert or ImageMagick can open.
 */
#ifndef TS_PLOT_SVG_H
#define TS_PLOT_SVG_H

#include <stddef.h>
#include <stdio.h>

/* Maps values lo..hi onto pixels p0..p1 (p1 < p0 for a y axis: up is bigger). */
struct svg_scale {
    double lo, hi;
    double p0, p1;
};

struct svg_ticks {
    double first, step;
    int count;
    int decimals; /* for the labels */
};

/* A plotting area in pixels and the values it shows. */
struct svg_panel {
    double x, y, w, h;
    struct svg_scale xs, ys;
};

struct svg_legend_item {
    const char *label;
    const char *css_class;
    char shape;       /* 'l': a line, 'b': a vertical bar, 't': the text mark */
    const char *mark; /* for 't' */
};

double svg_map(const struct svg_scale *s, double v);
/* Ticks for lo..hi, about `target` of them. */
void svg_nice_ticks(double lo, double hi, int target, struct svg_ticks *out);
/* Widens *lo, *hi outwards to multiples of the tick step (and makes an empty range one unit wide). */
void svg_nice_range(double *lo, double *hi, int target);
void svg_panel_init(struct svg_panel *p, double x, double y, double w, double h, double xlo, double xhi, double ylo,
                    double yhi);

/* Writes the XML header, the <svg> element, the styles (css appended to the common ones), a white
   background and the title. */
void svg_begin(FILE *f, int width, int height, const char *title, const char *css);
void svg_end(FILE *f);
/* The panel's frame, grid, ticks with their values, and the axis labels; a <g class="panel"> carrying the
   mapping as data-* attributes so a reader can turn pixels back into values. */
void svg_axes(FILE *f, const struct svg_panel *p, const char *xlabel, const char *ylabel);
/* A legend box with its top-left corner at x, y. */
void svg_legend(FILE *f, double x, double y, const struct svg_legend_item *items, size_t n);
/* Text with &, <, >, " escaped. */
void svg_escape(FILE *f, const char *text);
/* <text class=cls x y text-anchor=anchor>escaped text</text> */
void svg_text(FILE *f, double x, double y, const char *cls, const char *anchor, const char *text);

#endif
