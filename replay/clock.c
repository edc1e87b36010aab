/*
 * Finding a recorded case's clock offset from its capture.
 *
 * The capture tee stamps every frame with the `now` the stack was given plus
 * an offset (netdev/tee.c: CLOCK_REALTIME - CLOCK_MONOTONIC when the tee was
 * made). The replay needs that offset to the microsecond: the stack's ISNs
 * count its clock in 4 us ticks (RFC 6528) and its TCP timestamps in
 * milliseconds (RFC 7323), so the same frames come out only if its clock
 * reads what it read live. The capture itself pins the offset down:
 *
 *   TSvals     each segment the stack sent at capture time T with TSval V was
 *              sent at a clock in [V ms, V ms + 999 us]: offset in [T - V ms - 999, T - V ms]
 *   ISN        a trial replay at a guess g gives ISN' for the stack's first SYN;
 *              the capture's ISN differs by (g - offset) / 4
 *   replay     the candidates around that are replayed; those that reproduce the
 *              capture frame for frame are the answer
 *
 * A TSval says nothing about which 49.7-day turn of its 32-bit millisecond
 * counter it was on. Every turn gives the same TSvals and ISNs (2^32 ms are
 * 2^30 * 1000 ticks of 4 us, a multiple of 2^32), so the turn nearest the
 * hint, else the first, is taken; only SYN cookies (a 64 s counter) could
 * tell them apart.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "harness_run.h"

#define MS_TURN ((int64_t)4294967296 * 1000) /* one turn of a 32-bit millisecond counter, in us */
#define SEARCH_AROUND 4                       /* candidates on each side of the ISN's estimate */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* The TCP header of a frame (whole IPv4 datagram), or NULL. */
static const uint8_t *tcp_header(const struct replay_frame *f)
{
    if (f->len < 14 + 40 || rd16(f->data + 12) != 0x0800)
        return NULL;
    const uint8_t *ip = f->data + 14;
    size_t hlen = (size_t)(ip[0] & 0x0f) * 4;
    if (hlen < 20 || ip[9] != 6 || (rd16(ip + 6) & 0x3fff) != 0 || f->len < 14 + hlen + 20)
        return NULL;
    const uint8_t *t = ip + hlen;
    size_t thlen = (size_t)(t[12] >> 4) * 4;
    return thlen >= 20 && f->len >= 14 + hlen + thlen ? t : NULL;
}

static bool tsval_of(const uint8_t *t, uint32_t *val)
{
    size_t thlen = (size_t)(t[12] >> 4) * 4;
    for (size_t i = 20; i < thlen;) {
        if (t[i] == 0)
            return false;
        if (t[i] == 1) {
            i++;
            continue;
        }
        if (i + 1 >= thlen || t[i + 1] < 2 || i + t[i + 1] > thlen)
            return false;
        if (t[i] == 8 && t[i + 1] == 10) {
            *val = rd32(t + i + 2);
            return true;
        }
        i += t[i + 1];
    }
    return false;
}

struct window {
    unsigned samples;
    bool have_lo;
    int64_t lo, hi;
};

/*
 * A segment carries the TSval of when it was made, and leaves at that moment
 * or later (one that waited for ARP resolution left when the reply came): so
 * every segment bounds the offset from above, and only the lower bounds that
 * do not contradict the upper one are taken (those of segments that left at once).
 */
static void tsval_window(const struct replay_case *c, struct window *w)
{
    memset(w, 0, sizeof(*w));
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < c->n_frames; i++) {
            const struct replay_frame *f = &c->frames[i];
            const uint8_t *t = f->from_stack ? tcp_header(f) : NULL;
            uint32_t v;
            if (!t || !tsval_of(t, &v))
                continue;
            int64_t hi = c->start_abs + f->t - (int64_t)v * 1000, lo = hi - 999;
            if (pass == 0 && (w->samples++ == 0 || hi < w->hi))
                w->hi = hi;
            if (pass == 1 && lo <= w->hi && (!w->have_lo || lo > w->lo)) {
                w->lo = lo;
                w->have_lo = true;
            }
        }
    }
}

/* The stack's first SYN (active or passive) among frames: its ISN. */
static bool first_syn(const struct replay_frame *frames, size_t n, bool need_from_stack, uint32_t *isn)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *t = (!need_from_stack || frames[i].from_stack) ? tcp_header(&frames[i]) : NULL;
        if (t && (t[13] & 0x02)) {
            *isn = rd32(t + 4);
            return true;
        }
    }
    return false;
}

static bool stack_sends_tcp(const struct replay_case *c)
{
    for (size_t i = 0; i < c->n_frames; i++)
        if (c->frames[i].from_stack && tcp_header(&c->frames[i]))
            return true;
    return false;
}

/* Replays with the offset; the problems it leaves, and the ISN of its first SYN when asked. */
static unsigned trial(struct replay_case *c, int64_t offset, uint32_t *isn, bool *have_isn)
{
    struct replay_result res;
    struct replay_frame *sent = NULL;
    size_t n = 0;
    c->clock_offset_given = true;
    c->clock_offset = offset;
    run_case(c, &res, &sent, &n);
    unsigned problems = res.problems;
    if (isn)
        *have_isn = first_syn(sent, n, false, isn);
    replay_frames_free(sent, n);
    replay_result_clear(&res);
    return problems;
}

static int64_t clamp(int64_t v, const struct window *w)
{
    if (!w->samples)
        return v;
    return v < w->lo ? w->lo : v > w->hi ? w->hi : v;
}

int replay_case_find_clock_offset(struct replay_case *c, bool have_hint, int64_t hint, int64_t *offset,
                                  char **report)
{
    struct replay_buf b = {0};
    bool was_given = c->clock_offset_given;
    int64_t was = c->clock_offset;
    int rc = -1;
    struct window w;
    tsval_window(c, &w);
    if (!stack_sends_tcp(c)) {
        replay_buf_printf(&b, "the stack sent no TCP: its clock's offset changes nothing in this case\n");
        goto out;
    }
    if (w.samples && have_hint) {
        int64_t turns = (hint - w.hi + MS_TURN / 2) / MS_TURN;
        w.lo += turns * MS_TURN;
        w.hi += turns * MS_TURN;
    }
    if (!w.samples && !have_hint) {
        replay_buf_printf(&b, "the stack sent no TCP timestamps and no hint was given (--clock-hint)\n");
        goto out;
    }
    if (w.samples)
        replay_buf_printf(&b, "%u TSvals from the stack put the offset in [%" PRId64 ", %" PRId64 "] us\n",
                          w.samples, w.lo, w.hi);
    int64_t guess = w.samples ? clamp(have_hint ? hint : w.lo + (w.hi - w.lo) / 2, &w) : hint;
    uint32_t isn_cap, isn_run;
    bool have_run = false;
    if (first_syn(c->frames, c->n_frames, true, &isn_cap)) {
        trial(c, guess, &isn_run, &have_run);
        if (have_run) {
            int32_t ticks = (int32_t)(isn_cap - isn_run);
            guess = clamp(guess - 4 * (int64_t)ticks, &w);
            replay_buf_printf(&b, "the stack's first ISN puts it near %" PRId64 " us (%d ticks of 4 us from the "
                                  "trial)\n", guess, ticks);
        }
    }
    unsigned best_problems = ~0u;
    int64_t best = guess, first_ok = 0, last_ok = 0;
    bool any_ok = false;
    for (int64_t d = -SEARCH_AROUND; d <= SEARCH_AROUND; d++) {
        int64_t cand = guess + d;
        if (w.samples && (cand < w.lo || cand > w.hi))
            continue;
        unsigned p = trial(c, cand, NULL, NULL);
        if (p == 0) {
            if (!any_ok)
                first_ok = cand;
            last_ok = cand;
            any_ok = true;
        }
        if (p < best_problems || (p == best_problems && llabs(cand - guess) < llabs(best - guess))) {
            best_problems = p;
            best = cand;
        }
    }
    if (any_ok)
        replay_buf_printf(&b, "offsets %" PRId64 "..%" PRId64 " us reproduce every frame; taking %" PRId64 "\n",
                          first_ok, last_ok, best);
    else
        replay_buf_printf(&b, "no offset near %" PRId64 " us reproduces the capture; the best, %" PRId64
                              ", leaves %u problems (ts-replay-case -v shows them)\n", guess, best, best_problems);
    *offset = best;
    rc = any_ok ? 0 : 1;
out:
    c->clock_offset_given = was_given;
    c->clock_offset = was;
    *report = replay_buf_take(&b);
    return rc;
}
