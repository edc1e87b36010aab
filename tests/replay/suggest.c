/*
 * Drafting the action lines of a recorded case from its capture, for
 * scripts/record-case.sh: a capture shows what ts-ping sent, not when it
 * called sendto, nor when the runtime first polled the stack. Each echo
 * request from the stack becomes
 *
 *   at T ping DST seq N size S [stamp SEC.USEC]
 *
 * where T is the time of the request or, if the stack had to resolve DST
 * first, of the ARP request that the send started (the datagram waited for
 * the reply); the stamp is the send time ts-ping wrote into the data.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "replay_internal.h"

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static bool is_arp_request_for(const struct replay_frame *f, uint32_t dst)
{
    return f->from_stack && f->len >= 42 && rd16(f->data + 12) == 0x0806 && rd16(f->data + 20) == 1 &&
           rd32(f->data + 38) == dst && rd32(f->data + 28) != dst; /* not our own announcement */
}

/* The first fragment (or whole datagram) of an ICMP echo request from the stack; its IP header in *ip. */
static bool is_echo_request(const struct replay_frame *f, const uint8_t **ip)
{
    if (!f->from_stack || f->len < 14 + 20 + 8 || rd16(f->data + 12) != 0x0800)
        return false;
    const uint8_t *p = f->data + 14;
    size_t hlen = (size_t)(p[0] & 0x0f) * 4;
    if (hlen < 20 || f->len < 14 + hlen + 8 || p[9] != 1 || (rd16(p + 6) & 0x1fff) != 0)
        return false;
    *ip = p;
    return p[hlen] == 8;
}

/* The ICMP message length: this datagram's payload, or up to the end of its last fragment. */
static size_t echo_length(const struct replay_case *c, size_t i, const uint8_t *ip)
{
    size_t hlen = (size_t)(ip[0] & 0x0f) * 4;
    if (!(rd16(ip + 6) & 0x2000))
        return rd16(ip + 2) - hlen;
    for (size_t j = i + 1; j < c->n_frames; j++) {
        const struct replay_frame *f = &c->frames[j];
        if (!f->from_stack || f->len < 34 || rd16(f->data + 12) != 0x0800)
            continue;
        const uint8_t *q = f->data + 14;
        if (rd16(q + 4) != rd16(ip + 4) || (rd16(q + 6) & 0x2000))
            continue;
        return (size_t)(rd16(q + 6) & 0x1fff) * 8 + rd16(q + 2) - (size_t)(q[0] & 0x0f) * 4;
    }
    return rd16(ip + 2) - hlen; /* the last fragment is missing: the size is a guess */
}

static void suggest_one(const struct replay_case *c, size_t i, const uint8_t *ip, size_t after,
                        struct replay_buf *b)
{
    const struct replay_frame *f = &c->frames[i];
    const uint8_t *icmp = ip + (size_t)(ip[0] & 0x0f) * 4;
    uint32_t dst = rd32(ip + 16);
    ts_time when = f->t;
    for (size_t j = after; j < i; j++)
        if (is_arp_request_for(&c->frames[j], dst) && c->frames[j].t < when) {
            when = c->frames[j].t;
            break;
        }
    size_t size = echo_length(c, i, ip) - 8;
    if (when < 0)
        when = 0;
    replay_buf_printf(b, "at %" PRId64 ".%06" PRId64 " ping %u.%u.%u.%u seq %u size %zu", when / 1000000,
                      when % 1000000, dst >> 24, (dst >> 16) & 0xff,
                      (dst >> 8) & 0xff, dst & 0xff, rd16(icmp + 6), size);
    size_t in_frame = f->len - (size_t)(icmp + 8 - f->data);
    if (size >= sizeof(struct timeval) && in_frame >= sizeof(struct timeval)) {
        struct timeval tv;
        memcpy(&tv, icmp + 8, sizeof(tv));
        replay_buf_printf(b, " stamp %lld.%06ld", (long long)tv.tv_sec, (long)tv.tv_usec);
    }
    replay_buf_printf(b, "\n");
}

/*
 * The runtime polls the stack for the first time on its thread's first turn,
 * and the stack announces itself then (RFC 5227 2.3). When the app got its
 * first send in before that turn, the announcement comes after other frames,
 * and the case must say when the first poll came.
 */
static void suggest_first_poll(const struct replay_case *c, struct replay_buf *b)
{
    uint32_t self = c->cfg.addr;
    for (size_t i = 0; i < c->n_frames; i++) {
        const struct replay_frame *f = &c->frames[i];
        bool announce = f->from_stack && f->len >= 42 && rd16(f->data + 12) == 0x0806 && rd16(f->data + 20) == 1 &&
                        rd32(f->data + 28) == self && rd32(f->data + 38) == self;
        if (!announce)
            continue;
        if (f->t > 0)
            replay_buf_printf(b, "first-poll %" PRId64 ".%06" PRId64 "  # the stack announced itself only then\n",
                              f->t / 1000000, f->t % 1000000);
        return;
    }
}

char *replay_case_suggest_actions(const struct replay_case *c)
{
    struct replay_buf b = {0};
    suggest_first_poll(c, &b);
    size_t after = 0; /* ARP requests before this frame belong to earlier sends */
    for (size_t i = 0; i < c->n_frames; i++) {
        const uint8_t *ip;
        if (!is_echo_request(&c->frames[i], &ip))
            continue;
        suggest_one(c, i, ip, after, &b);
        after = i + 1;
    }
    return replay_buf_take(&b);
}
