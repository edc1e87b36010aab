/* The SVG writer (see plot_svg.h). */
#include "plot_svg.h"

#include <math.h>
#include <string.h>

double svg_map(const struct svg_scale *s, double v)
{
    double span = s->hi - s->lo;
    if (span <= 0)
        return s->p0;
    return s->p0 + (v - s->lo) / span * (s->p1 - s->p0);
}

static double nice_step(double lo, double hi, int target)
{
    double span = hi - lo;
    if (!(span > 0) || target < 1)
        return 1;
    double raw = span / target;
    double mag = pow(10, floor(log10(raw)));
    double norm = raw / mag;
    double mult = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10;
    return mult * mag;
}

void svg_nice_ticks(double lo, double hi, int target, struct svg_ticks *out)
{
    double step = nice_step(lo, hi, target);
    /* The small epsilons keep a bound that is a multiple of the step from being lost to rounding. */
    double first = ceil(lo / step - 1e-9) * step;
    int count = (int)floor((hi - first) / step + 1e-9) + 1;
    out->first = first;
    out->step = step;
    out->count = count < 0 ? 0 : count;
    out->decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
}

void svg_nice_range(double *lo, double *hi, int target)
{
    if (!(*hi > *lo))
        *hi = *lo + 1;
    double step = nice_step(*lo, *hi, target);
    *lo = floor(*lo / step + 1e-9) * step;
    *hi = ceil(*hi / step - 1e-9) * step;
}

void svg_panel_init(struct svg_panel *p, double x, double y, double w, double h, double xlo, double xhi, double ylo,
                    double yhi)
{
    p->x = x;
    p->y = y;
    p->w = w;
    p->h = h;
    p->xs = (struct svg_scale){xlo, xhi, x, x + w};
    p->ys = (struct svg_scale){ylo, yhi, y + h, y};
}

void svg_escape(FILE *f, const char *text)
{
    for (const char *c = text; *c != '\0'; c++) {
        switch (*c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*c, f);
        }
    }
}

void svg_text(FILE *f, double x, double y, const char *cls, const char *anchor, const char *text)
{
    fprintf(f, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", cls, x, y, anchor);
    svg_escape(f, text);
    fputs("</text>\n", f);
}

static const char common_css[] =
    "text{font-family:sans-serif;font-size:12px;fill:#222}"
    ".title{font-size:16px;font-weight:bold}.note{font-size:11px;fill:#555}"
    ".frame{fill:none;stroke:#222}.grid{stroke:#e4e4e4}.tick{stroke:#222}"
    ".legendbox{fill:#fff;stroke:#999}";

void svg_begin(FILE *f, int width, int height, const char *title, const char *css)
{
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            width, height, width, height);
    fputs("<title>", f);
    svg_escape(f, title);
    fputs("</title>\n", f);
    fprintf(f, "<style>%s%s</style>\n", common_css, css != NULL ? css : "");
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", width, height);
    svg_text(f, width / 2.0, 24, "title", "middle", title);
}

void svg_end(FILE *f)
{
    fputs("</svg>\n", f);
}

static void axis_x(FILE *f, const struct svg_panel *p, const char *label)
{
    struct svg_ticks t;
    svg_nice_ticks(p->xs.lo, p->xs.hi, 8, &t);
    double bottom = p->y + p->h;
    fputs("<g class=\"axis x\">\n", f);
    for (int i = 0; i < t.count; i++) {
        double v = t.first + i * t.step;
        double x = svg_map(&p->xs, v);
        fprintf(f, "<line class=\"grid\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>", x, p->y, x, bottom);
        fprintf(f, "<line class=\"tick\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>", x, bottom, x, bottom + 5);
        fprintf(f, "<text class=\"ticklabel\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" data-v=\"%.*f\">%.*f</text>\n",
                x, bottom + 18, t.decimals, v, t.decimals, v);
    }
    svg_text(f, p->x + p->w / 2, bottom + 38, "axislabel", "middle", label);
    fputs("</g>\n", f);
}

static void axis_y(FILE *f, const struct svg_panel *p, const char *label)
{
    struct svg_ticks t;
    svg_nice_ticks(p->ys.lo, p->ys.hi, 6, &t);
    fputs("<g class=\"axis y\">\n", f);
    for (int i = 0; i < t.count; i++) {
        double v = t.first + i * t.step;
        double y = svg_map(&p->ys, v);
        fprintf(f, "<line class=\"grid\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>", p->x, y, p->x + p->w, y);
        fprintf(f, "<line class=\"tick\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>", p->x - 5, y, p->x, y);
        fprintf(f, "<text class=\"ticklabel\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\" data-v=\"%.*f\">%.*f</text>\n",
                p->x - 8, y + 4, t.decimals, v, t.decimals, v);
    }
    double cx = p->x - 70, cy = p->y + p->h / 2;
    fprintf(f, "<text class=\"axislabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 %.1f %.1f)\">",
            cx, cy, cx, cy);
    svg_escape(f, label);
    fputs("</text>\n</g>\n", f);
}

void svg_axes(FILE *f, const struct svg_panel *p, const char *xlabel, const char *ylabel)
{
    fprintf(f,
            "<g class=\"panel\" data-px-x0=\"%.2f\" data-px-x1=\"%.2f\" data-x-lo=\"%.9g\" data-x-hi=\"%.9g\" "
            "data-px-y0=\"%.2f\" data-px-y1=\"%.2f\" data-y-lo=\"%.17g\" data-y-hi=\"%.17g\">\n",
            p->xs.p0, p->xs.p1, p->xs.lo, p->xs.hi, p->ys.p0, p->ys.p1, p->ys.lo, p->ys.hi);
    axis_x(f, p, xlabel);
    axis_y(f, p, ylabel);
    fprintf(f, "<rect class=\"frame\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>\n", p->x, p->y, p->w,
            p->h);
    fputs("</g>\n", f);
}

#define LEGEND_ROW 18.0

void svg_legend(FILE *f, double x, double y, const struct svg_legend_item *items, size_t n)
{
    fputs("<g class=\"legend\">\n", f);
    fprintf(f, "<rect class=\"legendbox\" x=\"%.1f\" y=\"%.1f\" width=\"190\" height=\"%.1f\"/>\n", x, y,
            LEGEND_ROW * (double)n + 10);
    for (size_t i = 0; i < n; i++) {
        double cy = y + 14 + LEGEND_ROW * (double)i;
        const struct svg_legend_item *it = &items[i];
        fprintf(f, "<g class=\"legenditem\" data-series=\"%s\">", it->css_class);
        if (it->shape == 'b')
            fprintf(f, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", it->css_class, x + 20,
                    cy - 7, x + 20, cy + 5);
        else if (it->shape == 't')
            fprintf(f, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>", it->css_class,
                    x + 20, cy + 4, it->mark != NULL ? it->mark : "?");
        else
            fprintf(f, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", it->css_class, x + 8,
                    cy, x + 32, cy);
        svg_text(f, x + 40, cy + 4, "legendlabel", "start", it->label);
        fputs("</g>\n", f);
    }
    fputs("</g>\n", f);
}
