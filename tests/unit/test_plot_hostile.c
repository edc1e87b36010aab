/*
 * ts-plot against hostile input: real frames mutated and cut at random, random
 * trace lines, and segments with random numbers drawn end to end. Nothing may
 * crash (the ASan build runs this too), every answer stays within its
 * contract. A fixed seed keeps each run the same.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot_draw.h"

#define CAPTURE TS_SOURCE_DIR "/captures/live_tcp_bulk_to_linux.pcap"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

Test(plot_hostile, mutated_and_cut_frames_parse_within_their_bounds)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(CAPTURE, errbuf);
    cr_assert_not_null(pc, "%s", errbuf);
    struct pcap_pkthdr *h;
    const u_char *d;
    size_t frames = 0, accepted = 0;
    while (pcap_next_ex(pc, &h, &d) == 1 && frames < 60) {
        frames++;
        uint8_t buf[2048];
        size_t len = h->caplen < sizeof buf ? h->caplen : sizeof buf;
        for (int round = 0; round < 300; round++) {
            memcpy(buf, d, len);
            /* A few bytes changed, mostly in the headers where the lengths live. */
            for (int k = rnd() % 4; k >= 0; k--)
                buf[rnd() % (rnd() % 2 ? 80 : len)] = (uint8_t)rnd();
            size_t caplen = rnd() % 3 ? len : rnd() % (len + 1);
            size_t wirelen = caplen + (rnd() % 2 ? 0 : rnd() % 2000);
            /* A copy of exactly caplen bytes, so ASan catches any read beyond them. */
            uint8_t *exact = malloc(caplen ? caplen : 1);
            memcpy(exact, buf, caplen);
            struct plot_pkt p;
            int kind = plot_parse_frame(exact, caplen, wirelen, &p);
            cr_assert(kind >= -1 && kind <= 1);
            if (kind == 1) {
                accepted++;
                cr_assert_leq(p.len, wirelen);
                cr_assert_leq(p.sack_count, PLOT_MAX_SACK);
                cr_assert_leq(p.wscale, 14);
            }
            free(exact);
        }
    }
    pcap_close(pc);
    cr_assert_gt(accepted, 1000, "most mutations still parse: the test reaches the TCP code");
}

Test(plot_hostile, random_trace_lines_are_parsed_or_refused)
{
    static const char *pieces[] = {"0.5", " ", "tcp", "cc", "10.0.0.2:1", ">", "10.0.0.1:2", "cwnd=", "1e308",
                                   "ssthresh=4294967295", "=", "srtt_us=-1", "rto_us=nan", "\t", "state=",
                                   "99999999999999999999999999", ":", "10.0.0.256:1", "1.2.3.4:65536", "\n"};
    for (int round = 0; round < 20000; round++) {
        char line[256] = "";
        size_t n = rnd() % 12;
        for (size_t i = 0; i < n; i++) {
            if (rnd() % 8 == 0) {
                char c[2] = {(char)(rnd() % 255 + 1), 0};
                strcat(line, c);
            } else {
                strcat(line, pieces[rnd() % (sizeof pieces / sizeof pieces[0])]);
            }
            if (rnd() % 2)
                strcat(line, " ");
        }
        struct cc_sample s;
        struct plot_endpoint l, r;
        int kind = cc_parse_line(line, &s, &l, &r);
        cr_assert(kind >= -1 && kind <= 1, "%s", line);
        if (kind == 1)
            cr_assert(s.t >= 0 && s.cwnd >= 0 && s.rto_ms >= 0, "%s", line);
    }
}

Test(plot_hostile, segments_with_random_numbers_are_drawn_without_harm)
{
    enum { N = 400 };
    struct plot_pkt *pk = calloc(N, sizeof *pk);
    struct plot_endpoint a = {0x0a000002, 1}, b = {0x0a000001, 2};
    for (size_t i = 0; i < N; i++) {
        bool from_a = rnd() % 2;
        pk[i] = (struct plot_pkt){.t = (double)i / 100, .src = from_a ? a : b, .dst = from_a ? b : a,
                                  .seq = rnd(), .ack = rnd(), .flags = (uint8_t)rnd(), .window = (uint16_t)rnd(),
                                  .len = rnd() % 3000, .has_wscale = rnd() % 2, .wscale = (uint8_t)(rnd() % 15),
                                  .sack_count = (uint8_t)(rnd() % 5)};
        for (size_t k = 0; k < pk[i].sack_count; k++)
            pk[i].sack[k] = (struct plot_sack){rnd(), rnd()};
    }
    struct plot_capture cap = {.pkts = pk, .count = N};
    struct tseq_model m;
    cr_assert_eq(tseq_build(&cap, &a, &b, &m), 0);
    cr_assert_leq(m.n_retrans + m.n_fill, m.n_segs);
    char *svg = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&svg, &len);
    cr_assert_eq(tseq_draw_svg(&m, f), 0);
    fclose(f);
    cr_assert(strstr(svg, "</svg>") != NULL);
    free(svg);
    tseq_free(&m);
    free(pk);
}
