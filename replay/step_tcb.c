/*
 * ts-replay --tcb: the control blocks (ts_stack_tcp_views, stack/tcp_view.c)
 * before and after a frame. Every field is shown; one that changed reads
 * "old -> new". Sequence numbers are relative to the ISS (SND.*) and the IRS
 * (RCV.*), as the trace prints them; timers are deadlines on the replay's
 * clock (time after the first frame), with how far away they are.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "step_internal.h"

void step_tcbs_take(struct step_tcbs *s, const struct ts_stack *st)
{
    size_t n = ts_stack_tcp_views(st, NULL, 0);
    struct ts_tcp_view *v = n ? calloc(n, sizeof(*v)) : NULL;
    free(s->v);
    s->v = v;
    s->n = v ? ts_stack_tcp_views(st, v, n) : 0;
    if (s->n > n)
        s->n = n;
}

void step_tcbs_free(struct step_tcbs *s)
{
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

size_t step_tcbs_ooo(const struct step_tcbs *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += s->v[i].ooo_bytes;
    return n;
}

static const struct ts_tcp_view *find_id(const struct step_tcbs *s, uint32_t id)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (s->v[i].pcb_id == id)
            return &s->v[i];
    return NULL;
}

/* One line of fields; a field whose two texts differ shows both. */
struct row {
    FILE *out;
    int used;
};

static void field(struct row *r, const char *name, const char *before, const char *after)
{
    if (r->used == 0)
        r->used = fprintf(r->out, "         ");
    if (r->used > 96)
        r->used = fprintf(r->out, "\n         ");
    if (before && strcmp(before, after) != 0)
        r->used += fprintf(r->out, " %s %s -> %s", name, before, after);
    else
        r->used += fprintf(r->out, " %s %s", name, after);
}

static void end_row(struct row *r)
{
    if (r->used)
        fprintf(r->out, "\n");
    r->used = 0;
}

static void num(struct row *r, const char *name, bool has_b, uint64_t vb, uint64_t va)
{
    char sb[32], sa[32];
    snprintf(sb, sizeof(sb), "%" PRIu64, vb);
    snprintf(sa, sizeof(sa), "%" PRIu64, va);
    field(r, name, has_b ? sb : NULL, sa);
}

static void duration(ts_time t, bool valid, char *buf, size_t cap)
{
    if (!valid)
        snprintf(buf, cap, "-");
    else if (t % 1000 == 0)
        snprintf(buf, cap, "%" PRId64 "ms", t / 1000);
    else
        snprintf(buf, cap, "%.3fms", (double)t / 1000.0);
}

static void dur(struct row *r, const char *name, bool has_b, ts_time vb, ts_time va, bool valid_b, bool valid_a)
{
    char sb[32], sa[32];
    duration(vb, valid_b, sb, sizeof(sb));
    duration(va, valid_a, sa, sizeof(sa));
    field(r, name, has_b ? sb : NULL, sa);
}

static void timer_text(ts_time at, ts_time origin, ts_time now, char *buf, size_t cap)
{
    if (at == TS_TIME_NEVER) {
        snprintf(buf, cap, "off");
        return;
    }
    char t[32];
    replay_format_time(at - origin, t, sizeof(t));
    snprintf(buf, cap, "%s (in %.3fms)", t, (double)(at - now) / 1000.0);
}

static void window_text(uint32_t v, char *buf, size_t cap)
{
    if (v >= UINT32_MAX / 2)
        snprintf(buf, cap, "inf");
    else
        snprintf(buf, cap, "%" PRIu32, v);
}

static void wl_text(const struct ts_tcp_view *v, uint32_t rel, char *buf, size_t cap)
{
    if (!v || v->state == TS_TCP_SYN_SENT || v->state == TS_TCP_SYN_RECEIVED)
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%" PRIu32, rel);
}

static void print_conn(FILE *out, const struct ts_tcp_view *b, const struct ts_tcp_view *a, ts_time origin,
                       ts_time now)
{
    struct row r = {.out = out};
    /* RFC 9293 3.3.1 */
    num(&r, "ISS", b != NULL, b ? b->iss : 0, a->iss);
    num(&r, "IRS", b != NULL, b ? b->irs : 0, a->irs);
    end_row(&r);
    num(&r, "SND.UNA", b != NULL, b ? b->snd_una - b->iss : 0, a->snd_una - a->iss);
    num(&r, "SND.NXT", b != NULL, b ? b->snd_nxt - b->iss : 0, a->snd_nxt - a->iss);
    num(&r, "SND.WND", b != NULL, b ? b->snd_wnd : 0, a->snd_wnd);
    /* RFC 9293 3.10.7.3 / 3.10.7.4: WL1 and WL2 are set when the connection is synchronized */
    char sb[64], sa[64];
    wl_text(b, b ? b->snd_wl1 - b->irs : 0, sb, sizeof(sb));
    wl_text(a, a->snd_wl1 - a->irs, sa, sizeof(sa));
    field(&r, "SND.WL1", b ? sb : NULL, sa);
    wl_text(b, b ? b->snd_wl2 - b->iss : 0, sb, sizeof(sb));
    wl_text(a, a->snd_wl2 - a->iss, sa, sizeof(sa));
    field(&r, "SND.WL2", b ? sb : NULL, sa);
    end_row(&r);
    num(&r, "RCV.NXT", b != NULL, b ? b->rcv_nxt - b->irs : 0, a->rcv_nxt - a->irs);
    num(&r, "RCV.WND", b != NULL, b ? b->rcv_wnd : 0, a->rcv_wnd);
    num(&r, "MSS(snd)", b != NULL, b ? b->snd_mss : 0, a->snd_mss);
    num(&r, "MSS(rcv)", b != NULL, b ? b->rcv_mss : 0, a->rcv_mss);
    num(&r, "WS(snd)", b != NULL, b ? b->snd_wscale : 0, a->snd_wscale);
    num(&r, "WS(rcv)", b != NULL, b ? b->rcv_wscale : 0, a->rcv_wscale);
    end_row(&r);
    window_text(b ? b->cwnd : 0, sb, sizeof(sb));
    window_text(a->cwnd, sa, sizeof(sa));
    field(&r, "cwnd", b ? sb : NULL, sa);
    window_text(b ? b->ssthresh : 0, sb, sizeof(sb));
    window_text(a->ssthresh, sa, sizeof(sa));
    field(&r, "ssthresh", b ? sb : NULL, sa);
    /* RFC 6298 */
    dur(&r, "SRTT", b != NULL, b ? b->srtt : 0, a->srtt, b && b->have_rtt, a->have_rtt);
    dur(&r, "RTTVAR", b != NULL, b ? b->rttvar : 0, a->rttvar, b && b->have_rtt, a->have_rtt);
    dur(&r, "RTO", b != NULL, b ? b->rto : 0, a->rto, true, true);
    num(&r, "retransmits", b != NULL, b ? b->retransmits : 0, a->retransmits);
    end_row(&r);
    for (unsigned i = 0; i < TS_TCP_TIMER_COUNT; i++) {
        char name[24];
        snprintf(name, sizeof(name), "timer.%s", ts_tcp_timer_name(i));
        timer_text(b ? b->timer_at[i] : TS_TIME_NEVER, origin, now, sb, sizeof(sb));
        timer_text(a->timer_at[i], origin, now, sa, sizeof(sa));
        if (a->timer_at[i] == TS_TIME_NEVER && (!b || b->timer_at[i] == TS_TIME_NEVER))
            continue; /* not armed before or after: nothing to show */
        /* the same deadline reads the same: "in" counts from now for both */
        if (b && b->timer_at[i] == a->timer_at[i])
            field(&r, name, NULL, sa);
        else
            field(&r, name, b ? sb : NULL, sa);
    }
    if (r.used == 0)
        field(&r, "timers", NULL, "none armed");
    end_row(&r);
    num(&r, "out-of-order", b != NULL, b ? b->ooo_bytes : 0, a->ooo_bytes);
    snprintf(sa, sizeof(sa), "%zu/%zu", a->snd_buffered, a->snd_buf_size);
    if (b)
        snprintf(sb, sizeof(sb), "%zu/%zu", b->snd_buffered, b->snd_buf_size);
    field(&r, "sndbuf", b ? sb : NULL, sa);
    snprintf(sa, sizeof(sa), "%zu/%zu", a->rcv_buffered, a->rcv_buf_size);
    if (b)
        snprintf(sb, sizeof(sb), "%zu/%zu", b->rcv_buffered, b->rcv_buf_size);
    field(&r, "rcvbuf", b ? sb : NULL, sa);
    end_row(&r);
}

static void endpoint(const struct ts_sockaddr *s, char *buf, size_t cap)
{
    ts_ipv4_addr a = s->addr;
    snprintf(buf, cap, "%u.%u.%u.%u:%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff, s->port);
}

static void print_one(FILE *out, const struct ts_tcp_view *b, const struct ts_tcp_view *a, ts_time origin,
                      ts_time now)
{
    char l[32], rm[32];
    endpoint(&a->local, l, sizeof(l));
    endpoint(&a->remote, rm, sizeof(rm));
    if (a->listener) {
        fprintf(out, "      tcb %s listener: LISTEN, %u half-open, %u to accept%s\n", l, a->syn_queue, a->accept_queue,
                b ? "" : " (new)");
        return;
    }
    fprintf(out, "      tcb %s > %s%s: ", l, rm, b ? "" : " (new)");
    if (b && b->state != a->state)
        fprintf(out, "%s -> %s\n", b->state_name, a->state_name);
    else
        fprintf(out, "%s\n", a->state_name);
    print_conn(out, b, a, origin, now);
}

void step_tcbs_print(FILE *out, const struct step_tcbs *before, const struct step_tcbs *after, ts_time origin,
                     ts_time now)
{
    for (size_t i = 0; i < before->n; i++)
        if (!find_id(after, before->v[i].pcb_id)) {
            char l[32], rm[32];
            endpoint(&before->v[i].local, l, sizeof(l));
            endpoint(&before->v[i].remote, rm, sizeof(rm));
            fprintf(out, "      tcb %s > %s: %s -> gone (the connection ended and was freed)\n", l, rm,
                    before->v[i].state_name);
        }
    if (after->n == 0 && before->n == 0)
        fprintf(out, "      tcb: no TCP control block\n");
    for (size_t i = 0; i < after->n; i++)
        print_one(out, find_id(before, after->v[i].pcb_id), &after->v[i], origin, now);
}
