/*
 * The time-sequence graph (tcptrace's, Wireshark's "Stevens" graph): time to
 * the right, sequence numbers up. Each data segment is an I-bar from its first
 * to one past its last byte; the ACK line steps up as the receiver
 * acknowledges; the window line runs above it by the window offered; SACK
 * blocks are bars beside the ACK line, SYN/FIN/RST labelled where they occur.
 */
#include "plot_draw.h"

#include <inttypes.h>

#include "plot_svg.h"

#define WIDTH 1100
#define HEIGHT 720
#define PANEL_X 110.0
#define PANEL_Y 70.0
#define PANEL_W 760.0
#define PANEL_H 500.0

static const char tseq_css[] =
    ".seg{stroke:#1f4e9c;stroke-width:1.2;fill:none}"
    ".retrans{stroke:#d62728;stroke-width:2}.fill{stroke:#e377c2;stroke-width:2}.rmark{fill:#d62728;font-size:10px;font-weight:bold}"
    ".ack{stroke:#2ca02c;stroke-width:1.2;fill:none}"
    ".rwnd{stroke:#ff7f0e;stroke-width:1.2;fill:none}"
    ".sack{stroke:#9467bd;stroke-width:3}.dsack{stroke:#8c564b}"
    ".mark{font-size:10px;font-weight:bold;fill:#000}";

static void draw_segments(FILE *f, const struct svg_panel *p, const struct tseq_model *m)
{
    fputs("<g class=\"data segments\">\n", f);
    for (size_t i = 0; i < m->n_segs; i++) {
        const struct tseq_seg *s = &m->segs[i];
        double x = svg_map(&p->xs, s->t);
        double y1 = svg_map(&p->ys, (double)s->seq), y2 = svg_map(&p->ys, (double)(s->seq + s->len));
        fprintf(f,
                "<path class=\"seg%s\" d=\"M%.2f,%.2fh6M%.2f,%.2fV%.2fM%.2f,%.2fh6\" data-t=\"%.6f\" "
                "data-seq=\"%" PRId64 "\" data-len=\"%" PRIu32 "\"/>\n",
                s->retrans ? " retrans" : s->fill ? " fill" : "", x - 3, y1, x, y1, y2, x - 3, y2, s->t, s->seq, s->len);
        if (s->retrans)
            fprintf(f, "<text class=\"rmark\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">R</text>\n", x, y2 - 3);
    }
    fputs("</g>\n", f);
}

/* The ACK or the window line: a step line, each value held until the next ACK. */
static void draw_ack_line(FILE *f, const struct svg_panel *p, const struct tseq_model *m, bool window)
{
    if (m->n_acks == 0)
        return;
    fprintf(f, "<polyline class=\"%s\"%s points=\"", window ? "rwnd" : "ack", window ? " clip-path=\"url(#area)\"" : "");
    for (size_t i = 0; i < m->n_acks; i++) {
        const struct tseq_ack *a = &m->acks[i];
        double x = svg_map(&p->xs, a->t);
        double y = svg_map(&p->ys, (double)(window ? a->rwnd : a->ack));
        if (i > 0) {
            const struct tseq_ack *prev = &m->acks[i - 1];
            fprintf(f, "%.2f,%.2f ", x, svg_map(&p->ys, (double)(window ? prev->rwnd : prev->ack)));
        }
        fprintf(f, "%.2f,%.2f ", x, y);
    }
    fputs("\" data-t=\"", f);
    for (size_t i = 0; i < m->n_acks; i++)
        fprintf(f, "%s%.6f", i ? " " : "", m->acks[i].t);
    fputs("\" data-v=\"", f);
    for (size_t i = 0; i < m->n_acks; i++)
        fprintf(f, "%s%" PRId64, i ? " " : "", window ? m->acks[i].rwnd : m->acks[i].ack);
    fputs("\"/>\n", f);
}

static void draw_sacks(FILE *f, const struct svg_panel *p, const struct tseq_model *m)
{
    fputs("<g class=\"data sacks\">\n", f);
    for (size_t i = 0; i < m->n_sacks; i++) {
        const struct tseq_sack *s = &m->sacks[i];
        double x = svg_map(&p->xs, s->t) + 2;
        fprintf(f,
                "<line class=\"sack%s\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" data-t=\"%.6f\" "
                "data-left=\"%" PRId64 "\" data-right=\"%" PRId64 "\"/>\n",
                s->dsack ? " dsack" : "", x, svg_map(&p->ys, (double)s->left), x, svg_map(&p->ys, (double)s->right), s->t, s->left, s->right);
    }
    fputs("</g>\n", f);
}

static void draw_marks(FILE *f, const struct svg_panel *p, const struct tseq_model *m)
{
    fputs("<g class=\"data marks\">\n", f);
    for (size_t i = 0; i < m->n_marks; i++) {
        const struct tseq_mark *k = &m->marks[i];
        const char *name = k->kind == 'S' ? "SYN" : k->kind == 'F' ? "FIN" : "RST";
        const char *cls = k->kind == 'S' ? "syn" : k->kind == 'F' ? "fin" : "rst";
        double x = svg_map(&p->xs, k->t), y = svg_map(&p->ys, (double)k->seq);
        /* The sender's above its point, the receiver's below, so a crossing pair stays legible. */
        fprintf(f,
                "<text class=\"mark %s\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" data-t=\"%.6f\" "
                "data-seq=\"%" PRId64 "\" data-side=\"%s\">%s</text>\n",
                cls, x, k->from_sender ? y - 4 : y + 12, k->t, k->seq, k->from_sender ? "sender" : "receiver", name);
    }
    fputs("</g>\n", f);
}

static void draw_notes(FILE *f, const struct tseq_model *m)
{
    char line[400], recv[22];
    double y = PANEL_Y + PANEL_H + 62;
    snprintf(line, sizeof line, "%zu data segments: %zu retransmissions, %zu hole fills; %zu ACKs, %zu SACK blocks",
             m->n_segs, m->n_retrans, m->n_fill, m->n_acks, m->n_sacks);
    svg_text(f, PANEL_X, y, "note counts", "start", line);
    svg_text(f, PANEL_X, y + 16, "note", "start",
             "retransmission (R): bytes sent before; hole fill: bytes below the highest sent, seen for the first time "
             "(their first copy was lost before the capture point, or reordered)");
    y += 16;
    snprintf(line, sizeof line, "sequence numbers relative to the sender's ISN %" PRIu32 " (%s); time since the capture's first frame",
             m->isn, m->isn_from_syn ? "its SYN" : "no SYN captured: its first segment");
    svg_text(f, PANEL_X, y + 16, "note isn", "start", line);
    if (m->wscale_known)
        snprintf(line, sizeof line, "window = ACK + window field << %u (%s's window scale, from the SYNs)",
                 m->receiver_shift, plot_endpoint_format(&m->receiver, recv));
    else
        snprintf(line, sizeof line, "window = ACK + window field, unscaled: the SYNs are not in the capture, so the "
                                    "window scale is unknown (the line may be too low)");
    svg_text(f, PANEL_X, y + 32, "note wscale", "start", line);
}

static const struct svg_legend_item tseq_legend[] = {
    {"data segment", "seg", 'b', NULL},
    {"retransmission", "seg retrans", 'b', NULL},
    {"hole fill (see the notes)", "seg fill", 'b', NULL},
    {"ACK", "ack", 'l', NULL},
    {"receive window edge", "rwnd", 'l', NULL},
    {"SACK block", "sack", 'b', NULL},
    {"D-SACK (a duplicate)", "sack dsack", 'b', NULL},
    {"SYN / FIN / RST", "mark", 't', "SYN"},
};

int tseq_draw_svg(const struct tseq_model *m, FILE *out)
{
    char title[128], s[22], r[22];
    snprintf(title, sizeof title, "%s \xe2\x86\x92 %s: time-sequence graph", plot_endpoint_format(&m->sender, s),
             plot_endpoint_format(&m->receiver, r));
    double tlo = m->t_min, thi = m->t_max, ylo = (double)m->seq_min, yhi = (double)m->seq_max;
    /* The window's edge may run far above the data (a large window, a short transfer): then the graph
       keeps to the data and the window line is cut at the top, so the segments stay readable. */
    bool window_cut = (double)m->rwnd_max > yhi + (yhi - ylo) / 2;
    if (!window_cut && (double)m->rwnd_max > yhi)
        yhi = (double)m->rwnd_max;
    svg_nice_range(&tlo, &thi, 8);
    svg_nice_range(&ylo, &yhi, 6);
    struct svg_panel p;
    svg_panel_init(&p, PANEL_X, PANEL_Y, PANEL_W, PANEL_H, tlo, thi, ylo, yhi);
    svg_begin(out, WIDTH, HEIGHT, title, tseq_css);
    svg_axes(out, &p, "time (s)", "relative sequence number (bytes)");
    fprintf(out, "<defs><clipPath id=\"area\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/></clipPath></defs>\n",
            p.x, p.y, p.w, p.h);
    if (window_cut) {
        char note[160];
        snprintf(note, sizeof note, "the receive window edge reaches %" PRId64 ": cut at the top of the graph",
                 m->rwnd_max);
        fprintf(out, "<g class=\"offscale\" data-series=\"rwnd\" data-max=\"%" PRId64 "\">", m->rwnd_max);
        svg_text(out, p.x + 8, p.y + 14, "note", "start", note);
        fputs("</g>\n", out);
    }
    fputs("<g class=\"data\">\n", out);
    draw_ack_line(out, &p, m, true);
    draw_ack_line(out, &p, m, false);
    draw_sacks(out, &p, m);
    draw_segments(out, &p, m);
    draw_marks(out, &p, m);
    fputs("</g>\n", out);
    svg_legend(out, PANEL_X + PANEL_W + 20, PANEL_Y, tseq_legend, sizeof tseq_legend / sizeof tseq_legend[0]);
    draw_notes(out, m);
    svg_end(out);
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
