/*
 * Drawing ts-plot's two kinds of graph as SVG. Every mark carries its values
 * as data-* attributes (docs/plots.md lists them) so that a test, or a curious
 * reader of the file, can check what was drawn without measuring pixels.
 */
#ifndef TS_PLOT_DRAW_H
#define TS_PLOT_DRAW_H

#include <stdio.h>

#include "plot_cc.h"
#include "plot_tseq.h"

/* The time-sequence graph of one direction. Returns 0, or -1 if writing failed. */
int tseq_draw_svg(const struct tseq_model *m, FILE *out);
/* cwnd and ssthresh (bytes) over SRTT, RTTVAR and RTO (ms), one connection. Returns 0, or -1 if writing failed. */
int cc_draw_svg(const struct cc_trace *tr, FILE *out);

#endif
