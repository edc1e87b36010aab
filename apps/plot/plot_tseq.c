/* Building the time-sequence model from a capture's segments (see plot_tseq.h). */
#include "plot_tseq.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Grows *arr (of elem-sized items, *n used, *room allocated) to hold one more. */
static void *grow(void *arr, size_t *room, size_t n, size_t elem)
{
    if (n < *room)
        return arr;
    size_t want = *room ? *room * 2 : 64;
    void *grown = realloc(arr, want * elem);
    if (grown == NULL)
        return NULL;
    *room = want;
    return grown;
}

#define PUSH(m, arr, n, room, value)                                                                                   \
    do {                                                                                                               \
        void *g_ = grow((m)->arr, &(room), (m)->n, sizeof *(m)->arr);                                                  \
        if (g_ == NULL)                                                                                                \
            return -1;                                                                                                 \
        (m)->arr = g_;                                                                                                 \
        (m)->arr[(m)->n++] = (value);                                                                                  \
    } while (0)

/*
 * A 32-bit sequence number as a 64-bit offset from the ISN: the one of the
 * 2^32 candidates nearest to `near` (the last offset seen), so a transfer past
 * 4 GiB keeps counting up and a number just below the ISN goes negative.
 */
static int64_t unwrap(uint32_t seq, uint32_t isn, int64_t near)
{
    uint32_t rel = seq - isn;
    int32_t delta = (int32_t)(rel - (uint32_t)near);
    return near + delta;
}

struct room {
    size_t segs, acks, sacks, marks;
};

static void extend(struct tseq_model *m, double t, int64_t lo, int64_t hi)
{
    if (t < m->t_min)
        m->t_min = t;
    if (t > m->t_max)
        m->t_max = t;
    if (lo < m->seq_min)
        m->seq_min = lo;
    if (hi > m->seq_max)
        m->seq_max = hi;
}

/* The ISN: the sender's SYN, else its first segment's sequence number. Also learns the window scale. */
static void find_isn_and_scale(const struct plot_capture *cap, struct tseq_model *m)
{
    bool have_isn = false, sender_ws = false, receiver_ws = false, sender_syn = false, receiver_syn = false;
    uint8_t shift = 0;
    for (size_t i = 0; i < cap->count; i++) {
        const struct plot_pkt *p = &cap->pkts[i];
        bool from_sender = plot_endpoint_equal(&p->src, &m->sender) && plot_endpoint_equal(&p->dst, &m->receiver);
        bool from_receiver = plot_endpoint_equal(&p->src, &m->receiver) && plot_endpoint_equal(&p->dst, &m->sender);
        if (!from_sender && !from_receiver)
            continue;
        if (from_sender && (p->flags & PLOT_TCP_SYN) && !m->isn_from_syn) {
            m->isn = p->seq;
            m->isn_from_syn = have_isn = true;
        }
        if (from_sender && !have_isn) {
            m->isn = p->seq;
            have_isn = true;
        }
        if (!(p->flags & PLOT_TCP_SYN))
            continue;
        if (from_sender) {
            sender_syn = true;
            sender_ws = sender_ws || p->has_wscale;
        } else {
            receiver_syn = true;
            receiver_ws = receiver_ws || p->has_wscale;
            if (p->has_wscale)
                shift = p->wscale;
        }
    }
    /* RFC 7323 2.2: scaling is on only if both SYNs carried the option. */
    m->wscale_known = sender_syn && receiver_syn;
    m->receiver_shift = (sender_ws && receiver_ws) ? shift : 0;
}

/*
 * The sequence space the sender has covered so far, as sorted, disjoint,
 * merged ranges: a bulk transfer keeps it at a handful of ranges, so the
 * linear scans cost little.
 */
struct sent_ranges {
    struct {
        int64_t lo, hi;
    } *r;
    size_t n, room;
};

static bool sent_overlaps(const struct sent_ranges *s, int64_t lo, int64_t hi)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->r[i].lo < hi && lo < s->r[i].hi)
            return true;
    return false;
}

static int sent_add(struct sent_ranges *s, int64_t lo, int64_t hi)
{
    size_t i = 0;
    while (i < s->n && s->r[i].hi < lo)
        i++;
    /* Ranges i.. that touch [lo, hi) merge into one. */
    size_t j = i;
    while (j < s->n && s->r[j].lo <= hi) {
        if (s->r[j].lo < lo)
            lo = s->r[j].lo;
        if (s->r[j].hi > hi)
            hi = s->r[j].hi;
        j++;
    }
    if (j == i) {
        void *g = grow(s->r, &s->room, s->n, sizeof *s->r);
        if (g == NULL)
            return -1;
        s->r = g;
        memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof *s->r);
        s->n++;
        j = i + 1;
    }
    s->r[i].lo = lo;
    s->r[i].hi = hi;
    memmove(&s->r[i + 1], &s->r[j], (s->n - j) * sizeof *s->r);
    s->n -= j - i - 1;
    return 0;
}

static int64_t sent_max(const struct sent_ranges *s)
{
    return s->n > 0 ? s->r[s->n - 1].hi : INT64_MIN;
}

static int add_sender_pkt(struct tseq_model *m, struct room *r, const struct plot_pkt *p, struct sent_ranges *sent,
                          int64_t *last)
{
    int64_t seq = unwrap(p->seq, m->isn, *last);
    *last = seq;
    if (p->flags & PLOT_TCP_SYN)
        PUSH(m, marks, n_marks, r->marks, ((struct tseq_mark){p->t, seq, 'S', true}));
    int64_t data_seq = seq + ((p->flags & PLOT_TCP_SYN) ? 1 : 0);
    if (p->len > 0) {
        /* A retransmission carries bytes seen before; a segment below the highest sent whose bytes were
           not seen fills a hole: its first copy was lost before the capture point, or it was reordered. */
        bool retrans = sent_overlaps(sent, data_seq, data_seq + p->len);
        bool fill = !retrans && data_seq < sent_max(sent);
        PUSH(m, segs, n_segs, r->segs, ((struct tseq_seg){p->t, data_seq, p->len, retrans, fill}));
        m->n_retrans += retrans;
        m->n_fill += fill;
        extend(m, p->t, data_seq, data_seq + p->len);
        if (sent_add(sent, data_seq, data_seq + p->len) != 0)
            return -1;
    }
    if (p->flags & PLOT_TCP_FIN)
        PUSH(m, marks, n_marks, r->marks, ((struct tseq_mark){p->t, data_seq + p->len, 'F', true}));
    if (p->flags & PLOT_TCP_RST)
        PUSH(m, marks, n_marks, r->marks, ((struct tseq_mark){p->t, seq, 'R', true}));
    extend(m, p->t, seq, seq);
    return 0;
}

static int add_receiver_pkt(struct tseq_model *m, struct room *r, const struct plot_pkt *p, int64_t *last)
{
    bool acks = (p->flags & PLOT_TCP_ACK) != 0;
    int64_t ack = acks ? unwrap(p->ack, m->isn, *last) : *last;
    if (p->flags & (PLOT_TCP_SYN | PLOT_TCP_FIN | PLOT_TCP_RST)) {
        char kind = (p->flags & PLOT_TCP_RST) ? 'R' : (p->flags & PLOT_TCP_SYN) ? 'S' : 'F';
        PUSH(m, marks, n_marks, r->marks, ((struct tseq_mark){p->t, ack, kind, false}));
    }
    if (!acks)
        return 0;
    *last = ack;
    /* RFC 7323 2.2: the window in a SYN is never scaled. */
    unsigned shift = (p->flags & PLOT_TCP_SYN) ? 0 : m->receiver_shift;
    int64_t rwnd = ack + ((int64_t)p->window << shift);
    PUSH(m, acks, n_acks, r->acks, ((struct tseq_ack){p->t, ack, rwnd}));
    extend(m, p->t, ack, ack);
    if (rwnd > m->rwnd_max)
        m->rwnd_max = rwnd;
    int64_t left[PLOT_MAX_SACK], right[PLOT_MAX_SACK];
    for (size_t b = 0; b < p->sack_count; b++) {
        left[b] = unwrap(p->sack[b].left, m->isn, ack);
        right[b] = unwrap(p->sack[b].right, m->isn, ack);
    }
    for (size_t b = 0; b < p->sack_count; b++) {
        /* RFC 2883 4: a D-SACK is the first block, below the cumulative ACK or within the second block. */
        bool dsack = b == 0 && (right[0] <= ack || (p->sack_count > 1 && left[0] >= left[1] && right[0] <= right[1]));
        PUSH(m, sacks, n_sacks, r->sacks, ((struct tseq_sack){p->t, left[b], right[b], ack, dsack}));
        extend(m, p->t, left[b], right[b]);
    }
    return 0;
}

int tseq_build(const struct plot_capture *cap, const struct plot_endpoint *sender,
               const struct plot_endpoint *receiver, struct tseq_model *m)
{
    memset(m, 0, sizeof *m);
    m->sender = *sender;
    m->receiver = *receiver;
    /* Time spans the connection only; sequence numbers always include 0 (the ISN). */
    m->t_min = DBL_MAX;
    m->t_max = -DBL_MAX;
    find_isn_and_scale(cap, m);
    struct room r = {0};
    struct sent_ranges sent = {0};
    int64_t last_seq = 0, last_ack = 0;
    for (size_t i = 0; i < cap->count; i++) {
        const struct plot_pkt *p = &cap->pkts[i];
        int rc = 0;
        if (plot_endpoint_equal(&p->src, sender) && plot_endpoint_equal(&p->dst, receiver))
            rc = add_sender_pkt(m, &r, p, &sent, &last_seq);
        else if (plot_endpoint_equal(&p->src, receiver) && plot_endpoint_equal(&p->dst, sender))
            rc = add_receiver_pkt(m, &r, p, &last_ack);
        if (rc != 0) {
            free(sent.r);
            tseq_free(m);
            return -1;
        }
    }
    free(sent.r);
    if (m->t_min > m->t_max)
        m->t_min = m->t_max = 0;
    return 0;
}

void tseq_free(struct tseq_model *m)
{
    free(m->segs);
    free(m->acks);
    free(m->sacks);
    free(m->marks);
    m->segs = NULL;
    m->acks = NULL;
    m->sacks = NULL;
    m->marks = NULL;
    m->n_segs = m->n_acks = m->n_sacks = m->n_marks = 0;
}

void tseq_default_sender(const struct plot_conn *conn, struct plot_endpoint *sender, struct plot_endpoint *receiver)
{
    bool b_sent_more = conn->bytes_ba > conn->bytes_ab;
    *sender = b_sent_more ? conn->b : conn->a;
    *receiver = b_sent_more ? conn->a : conn->b;
}
