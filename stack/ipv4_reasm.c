/*
 * IPv4 reassembly (RFC 791 3.2, RFC 1122 3.3.2, RFC 815's idea of holes).
 *
 * A datagram in reassembly is identified by (source, destination, protocol,
 * identification). Its fragments are kept as separate pbufs sorted by offset;
 * when they cover 0..total without a gap the datagram is copied out whole and
 * delivered. Every resource is bounded: datagrams in progress, fragments per
 * datagram, bytes across all of them. Hostile patterns end the datagram:
 *   - a fragment that overlaps another without being its exact duplicate
 *     (the overlapping-fragment attacks; RFC 5722 takes the same line for IPv6),
 *   - data past offset 65535 (ping of death),
 *   - a second "last fragment" with a different end, or data past the end.
 * An exact duplicate is harmless (a retransmission or a duplicating link) and is dropped alone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "wire/icmp.h"

int ipv4_reasm_init(struct ts_stack *st)
{
    size_t n = st->cfg.limits.reasm_max_datagrams;
    st->reasm = calloc(n, sizeof *st->reasm);
    if (st->reasm == NULL)
        return -ENOMEM;
    st->mem_in_use += n * sizeof *st->reasm;
    return 0;
}

static void reasm_release(struct ts_stack *st, struct reasm_entry *r)
{
    pbuf_free_chain(st, r->fragments);
    st->reasm_bytes -= r->bytes;
    memset(r, 0, sizeof *r);
}

void ipv4_reasm_destroy(struct ts_stack *st)
{
    if (st->reasm == NULL)
        return;
    for (size_t i = 0; i < st->cfg.limits.reasm_max_datagrams; i++)
        if (st->reasm[i].in_use)
            reasm_release(st, &st->reasm[i]);
    st->mem_in_use -= st->cfg.limits.reasm_max_datagrams * sizeof *st->reasm;
    free(st->reasm);
    st->reasm = NULL;
}

static struct reasm_entry *reasm_find(struct ts_stack *st, const struct ipv4_hdr *h)
{
    for (size_t i = 0; i < st->cfg.limits.reasm_max_datagrams; i++) {
        struct reasm_entry *r = &st->reasm[i];
        if (r->in_use && r->src == h->src && r->dst == h->dst && r->id == h->id && r->protocol == h->protocol)
            return r;
    }
    return NULL;
}

static struct reasm_entry *reasm_oldest(struct ts_stack *st, const struct reasm_entry *except)
{
    struct reasm_entry *oldest = NULL;
    for (size_t i = 0; i < st->cfg.limits.reasm_max_datagrams; i++) {
        struct reasm_entry *r = &st->reasm[i];
        if (r->in_use && r != except && (oldest == NULL || r->expires < oldest->expires))
            oldest = r;
    }
    return oldest;
}

static struct reasm_entry *reasm_create(struct ts_stack *st, ts_time now, const struct ipv4_hdr *h)
{
    for (size_t i = 0; i < st->cfg.limits.reasm_max_datagrams; i++) {
        struct reasm_entry *r = &st->reasm[i];
        if (r->in_use)
            continue;
        r->in_use = true;
        r->src = h->src;
        r->dst = h->dst;
        r->id = h->id;
        r->protocol = h->protocol;
        /* RFC 791: the timer starts with the first fragment and is not extended by later ones. */
        r->expires = now + st->cfg.timing.reasm_timeout;
        return r;
    }
    return NULL;
}

enum frag_fit { FRAG_FITS, FRAG_DUPLICATE, FRAG_OVERLAPS };

/* Where the new fragment [start, end) goes; *after is the fragment to insert behind (NULL: at the head). */
static enum frag_fit reasm_place(const struct reasm_entry *r, size_t start, size_t end, struct ts_pbuf **after)
{
    *after = NULL;
    for (struct ts_pbuf *f = r->fragments; f != NULL; f = f->next) {
        size_t fs = f->offset, fe = f->offset + f->len;
        if (fs == start && fe == end)
            return FRAG_DUPLICATE;
        if (start < fe && fs < end)
            return FRAG_OVERLAPS;
        if (fs < start)
            *after = f;
    }
    return FRAG_FITS;
}

static bool reasm_data_beyond(const struct reasm_entry *r, size_t end)
{
    for (const struct ts_pbuf *f = r->fragments; f != NULL; f = f->next)
        if (f->offset + f->len > end)
            return true;
    return false;
}

static bool reasm_complete(const struct reasm_entry *r)
{
    if (!r->have_last)
        return false;
    size_t covered = 0;
    for (const struct ts_pbuf *f = r->fragments; f != NULL; f = f->next) {
        if (f->offset != covered)
            return false;
        covered += f->len;
    }
    return covered == r->total_len;
}

/* Copies the fragments into one datagram, delivers it, frees the entry. */
static void reasm_finish(struct ts_stack *st, ts_time now, struct reasm_entry *r)
{
    char src[16];
    struct ts_pbuf *whole = pbuf_alloc(st, 0, r->first_hdr.ihl + r->total_len);
    if (whole == NULL) {
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_frag_no_memory, "cannot assemble %zu bytes", r->total_len);
        reasm_release(st, r);
        return;
    }
    memcpy(whole->data, r->first_quote, r->first_hdr.ihl);
    for (const struct ts_pbuf *f = r->fragments; f != NULL; f = f->next)
        memcpy(whole->data + r->first_hdr.ihl + f->offset, f->data, f->len);
    struct ipv4_rx rx = {
        .hdr = r->first_hdr,
        .header = whole->data,
        .header_len = r->first_hdr.ihl,
        .payload = whole->data + r->first_hdr.ihl,
        .payload_len = r->total_len,
        .to_broadcast = ipv4_is_broadcast(st, r->dst),
    };
    rx.hdr.more_fragments = false;
    rx.hdr.frag_offset = 0;
    rx.hdr.total_len = (uint16_t)(r->first_hdr.ihl + r->total_len);
    st->counters.ip.reassembled++;
    TS_TRACE(st, now, TS_TRACE_IP, TS_TRACE_STATE, "RFC 791 3.2 / RFC 815: reassembled id 0x%04x from %s: %u "
             "fragments, %zu bytes", r->id,
             ipv4_addr_format(r->src, src), r->fragment_count, r->total_len);
    reasm_release(st, r);
    ipv4_deliver(st, now, &rx);
    pbuf_free(st, whole);
}

/* Makes room for `need` more bytes by abandoning the oldest other datagrams. */
static bool reasm_make_room(struct ts_stack *st, ts_time now, size_t need, const struct reasm_entry *keep)
{
    while (st->reasm_bytes + need > st->cfg.limits.reasm_max_bytes) {
        struct reasm_entry *victim = reasm_oldest(st, keep);
        if (victim == NULL)
            return false;
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_frag_no_memory, "abandoning id 0x%04x to make room", victim->id);
        reasm_release(st, victim);
    }
    return true;
}

static bool reasm_fragment_is_sane(struct ts_stack *st, ts_time now, const struct ipv4_rx *rx)
{
    size_t start = rx->hdr.frag_offset, end = start + rx->payload_len;
    if (end + rx->hdr.ihl > IPV4_MAX_DATAGRAM) {
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_frag_too_big, "fragment ends at %zu, past the 64 KiB limit "
                "(RFC 791 3.1 total length)", end);
        return false;
    }
    /* RFC 791: every fragment but the last carries a non-zero multiple of 8 data bytes. */
    if (rx->payload_len == 0 || (rx->hdr.more_fragments && rx->payload_len % 8 != 0)) {
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_frag_bad_length, "%zu data bytes at offset %zu", rx->payload_len,
                start);
        return false;
    }
    return true;
}

void ipv4_reasm_input(struct ts_stack *st, ts_time now, const struct ipv4_rx *rx)
{
    st->counters.ip.rx_fragments++;
    if (!reasm_fragment_is_sane(st, now, rx))
        return;
    size_t start = rx->hdr.frag_offset, end = start + rx->payload_len;
    struct reasm_entry *r = reasm_find(st, &rx->hdr);
    if (r == NULL) {
        r = reasm_create(st, now, &rx->hdr);
        if (r == NULL) {
            struct reasm_entry *oldest = reasm_oldest(st, NULL);
            TS_DROP(st, now, TS_TRACE_IP, ip, drop_frag_table_full, "abandoning id 0x%04x for id 0x%04x",
                    oldest->id, rx->hdr.id);
            reasm_release(st, oldest);
            r = reasm_create(st, now, &rx->hdr);
        }
    }
    if ((rx->hdr.more_fragments && r->have_last && end > r->total_len) ||
        (!rx->hdr.more_fragments && r->have_last && end != r->total_len)) {
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_frag_overlap, "id 0x%04x: fragments disagree on the end (RFC 791 3.2)",
                r->id);
        reasm_release(st, r);
        return;
    }
    if (!rx->hdr.more_fragments && reasm_data_beyond(r, end)) {
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_frag_overlap, "id 0x%04x: data already held past the end %zu", r->id,
                end);
        reasm_release(st, r);
        return;
    }
    struct ts_pbuf *after;
    switch (reasm_place(r, start, end, &after)) {
    case FRAG_DUPLICATE:
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_frag_duplicate, "id 0x%04x offset %zu", r->id, start);
        return;
    case FRAG_OVERLAPS:
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_frag_overlap, "id 0x%04x offset %zu overlaps; datagram dropped "
                "(overlaps are an attack, cf. RFC 5722)",
                r->id, start);
        reasm_release(st, r);
        return;
    case FRAG_FITS:
        break;
    }
    if (r->fragment_count >= st->cfg.limits.reasm_max_fragments) {
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_frag_too_many, "id 0x%04x has %u fragments", r->id, r->fragment_count);
        reasm_release(st, r);
        return;
    }
    if (!reasm_make_room(st, now, rx->payload_len, r)) {
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_frag_no_memory, "id 0x%04x over the reassembly memory limit", r->id);
        reasm_release(st, r);
        return;
    }
    struct ts_pbuf *f = pbuf_alloc(st, 0, rx->payload_len);
    if (f == NULL) {
        reasm_release(st, r);
        return;
    }
    memcpy(f->data, rx->payload, rx->payload_len);
    f->offset = (uint32_t)start;
    if (after == NULL) {
        f->next = r->fragments;
        r->fragments = f;
    } else {
        f->next = after->next;
        after->next = f;
    }
    r->fragment_count++;
    r->bytes += rx->payload_len;
    st->reasm_bytes += rx->payload_len;
    if (st->reasm_bytes > st->reasm_bytes_high_water)
        st->reasm_bytes_high_water = st->reasm_bytes;
    if (start == 0) {
        r->first_hdr = rx->hdr;
        size_t quote = rx->header_len + (rx->payload_len < 8 ? rx->payload_len : 8);
        memcpy(r->first_quote, rx->header, quote);
        r->first_quote_len = quote;
    }
    if (!rx->hdr.more_fragments) {
        r->have_last = true;
        r->total_len = end;
    }
    if (reasm_complete(r))
        reasm_finish(st, now, r);
}

void ipv4_reasm_poll(struct ts_stack *st, ts_time now)
{
    for (size_t i = 0; i < st->cfg.limits.reasm_max_datagrams; i++) {
        struct reasm_entry *r = &st->reasm[i];
        if (!r->in_use || now < r->expires)
            continue;
        TS_DROP(st, now, TS_TRACE_IP, ip, drop_frag_timeout, "RFC 1122 3.3.2: reassembly timeout, id 0x%04x: %u "
                "fragment(s), %zu bytes never completed",
                r->id, r->fragment_count, r->bytes);
        /* RFC 792 / RFC 1122 3.3.2: time exceeded (code 1) only if the first fragment arrived. */
        if (r->first_quote_len > 0)
            icmp_send_error_quoting(st, now, ICMP_TIME_EXCEEDED, ICMP_TIME_EXCEEDED_REASSEMBLY, 0, &r->first_hdr,
                                    r->first_quote, r->first_quote_len);
        reasm_release(st, r);
    }
}

ts_time ipv4_reasm_next_deadline(const struct ts_stack *st)
{
    ts_time next = TS_TIME_NEVER;
    for (size_t i = 0; i < st->cfg.limits.reasm_max_datagrams; i++)
        if (st->reasm[i].in_use && st->reasm[i].expires < next)
            next = st->reasm[i].expires;
    return next;
}
