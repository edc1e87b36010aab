/*
 * ts-replay: a frame tapstack sent against the one the capture's original
 * host sent at that point. Unlike the case check (check.c), which wants every
 * bit, this asks "would tapstack have answered differently?": sequence numbers
 * are compared relative to each side's ISN, and what follows the clock or the
 * seed rather than a rule (IP identifiers, checksums, TCP timestamps) is left out.
 */
#include <stdio.h>
#include <string.h>

#include "step_internal.h"

static bool left_out(const char *name)
{
    static const char *const names[] = {"ipv4.id", "ipv4.checksum", "tcp.checksum", "udp.checksum", "icmp.checksum",
                                        "tcp.opt.ts_val", "tcp.opt.ts_ecr"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

static bool same(const struct replay_field *a, const struct replay_field *b)
{
    if (a->kind != b->kind)
        return false;
    if (a->has_rel && b->has_rel)
        return a->rel == b->rel;
    switch (a->kind) {
    case REPLAY_F_MAC:
    case REPLAY_F_BYTES:
        return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
    case REPLAY_F_TEXT:
        return strcmp(a->text, b->text) == 0;
    default:
        return a->value == b->value;
    }
}

static void show(const struct replay_field *f, char *buf, size_t cap)
{
    if (!f) {
        snprintf(buf, cap, "(none)");
        return;
    }
    if (f->has_rel) {
        snprintf(buf, cap, "%u (relative)", f->rel);
        return;
    }
    replay_field_format(f, buf, cap);
}

static void note(struct replay_buf *out, unsigned n, const char *name, const struct replay_field *orig,
                 const struct replay_field *ours)
{
    char a[96], b[96];
    show(orig, a, sizeof(a));
    show(ours, b, sizeof(b));
    replay_buf_printf(out, "%s%s: original %s, tapstack %s", n ? "; " : "", name, a, b);
}

unsigned step_diff(const struct replay_tcp_flows *orig_flows, const struct replay_frame *orig,
                   const struct replay_tcp_flows *our_flows, const struct replay_frame *ours, struct replay_buf *out)
{
    struct replay_dissection a, b;
    replay_dissect_in(orig_flows, orig->data, orig->len, &a);
    replay_dissect_in(our_flows, ours->data, ours->len, &b);
    unsigned n = 0;
    for (unsigned i = 0; i < a.n; i++) {
        if (left_out(a.f[i].name))
            continue;
        const struct replay_field *g = replay_field_find(&b, a.f[i].name);
        if (g && same(&a.f[i], g))
            continue;
        note(out, n++, a.f[i].name, &a.f[i], g);
    }
    for (unsigned i = 0; i < b.n; i++)
        if (!left_out(b.f[i].name) && !replay_field_find(&a, b.f[i].name))
            note(out, n++, b.f[i].name, NULL, &b.f[i]);
    return n;
}
