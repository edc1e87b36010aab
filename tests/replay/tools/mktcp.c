/*
 * mktcp: makes the synthetic TCP replay cases, peer and stack together.
 *
 *   mktcp CAPTURES_DIR [NAME...]
 *
 * A TCP peer cannot be written ahead of time the way mkcaptures writes ARP or
 * ICMP: its acknowledgments carry the stack's ISN (RFC 6528: a hash and the
 * clock) and its timestamps echo the stack's TSvals. So each case here is a
 * small peer program that the harness runs against the stack on the virtual
 * clock (replay_case_generate): it sees every frame the stack sends and queues
 * its answers, and the capture is written with both sides. NAME.case must
 * exist (origin synthetic, start 1700000000.000000); it holds the app's side.
 * Review the printed frames against the RFCs before committing; blessing the
 * case afterwards (ts-replay-case --bless) rewrites the same bytes.
 *
 * The peer is 10.0.0.1 / 02:00:00:00:00:01 (ports 40000 and up, ISN
 * 0x10000000 and up, TSval = 7000000 + its clock in ms), the stack 10.0.0.2.
 * Unless a script says otherwise the peer takes whatever arrives in order and
 * acknowledges each data segment or FIN 1 ms later.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frames.h"
#include "harness.h"

#define MS(x) ((ts_time)(x) * 1000)
#define PEER_TS_BASE 7000000u
#define PEER_WINDOW 64240 /* Linux's first window: 44 * 1460 */
#define PEER_WSCALE 7

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* A segment from the stack, parsed. */
struct seg {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t window;
    size_t len;
    bool has_ts;
    uint32_t ts_val;
    unsigned sack_blocks;
};

struct peer;
typedef void (*script_fn)(struct peer *p, const struct seg *s);

struct peer {
    struct replay_peer_io *io;
    ts_time t;           /* when the frame being answered was sent */
    script_fn script;
    uint16_t ip_id;
    uint16_t port, stack_port;
    uint32_t iss, snd_nxt; /* the peer's sequence space */
    uint32_t rcv_nxt;      /* the next byte expected from the stack */
    uint32_t ts_recent;    /* the stack's last TSval */
    bool use_ts, use_sack;
    int wscale;            /* what the peer offers; -1 = no window scaling */
    uint16_t window;       /* the window field the peer sends */
    bool refuse_data;      /* a zero window: nothing beyond rcv_nxt is taken */
    bool no_auto_ack;      /* the script acknowledges by itself */
    int step;              /* the script's progress */
    unsigned count;
    uint32_t bytes_in;     /* data bytes taken from the stack */
    uint32_t ts_back;      /* how far the next segment's TSval lags the peer's clock (an old duplicate) */
};

/* ---- the peer's frames ---------------------------------------------------------------------- */

/* The peer's timestamp clock ticks in milliseconds (RFC 7323 5.4), from its own origin. */
static uint32_t peer_ts(ts_time at)
{
    return PEER_TS_BASE + (uint32_t)(at / 1000);
}

static void send_frame(struct peer *p, ts_time at, const uint8_t *frame, size_t len)
{
    replay_peer_send(p->io, at, frame, len);
}

static void send_ip_tcp(struct peer *p, ts_time at, const struct mk_tcp *t, const uint8_t *data, size_t len)
{
    uint8_t seg[MK_FRAME_MAX], f[MK_FRAME_MAX];
    size_t n = mk_tcp(seg, MK_PEER_IP, MK_STACK_IP, t, data, len);
    struct mk_ip ip = {.src = MK_PEER_IP, .dst = MK_STACK_IP, .proto = 6, .id = p->ip_id++, .df = true};
    size_t fl = mk_eth(f, mk_stack_mac, mk_peer_mac, 0x0800);
    fl += mk_ipv4(f + fl, &ip, seg, n);
    send_frame(p, at, f, fl);
}

/* Any segment, with the connection's options; seq and ack as given. */
static void send_raw(struct peer *p, ts_time delay, uint8_t flags, uint32_t seq, uint32_t ack, const void *data,
                     size_t len)
{
    ts_time at = p->t + delay;
    struct mk_tcp t = {.sport = p->port, .dport = p->stack_port, .seq = seq, .ack = ack, .flags = flags,
                       .window = p->window};
    t.opt.wscale = -1;
    if (flags & MK_TCP_SYN) {
        t.opt.mss = 1460;
        t.opt.sack_permitted = p->use_sack;
        t.opt.wscale = p->wscale;
    }
    if (p->use_ts && !(flags & MK_TCP_RST)) {
        t.opt.ts = true;
        t.opt.ts_val = peer_ts(at) - p->ts_back;
        t.opt.ts_ecr = (flags & MK_TCP_ACK) ? p->ts_recent : 0;
    }
    send_ip_tcp(p, at, &t, data, len);
}

static void send_syn(struct peer *p, ts_time delay)
{
    p->snd_nxt = p->iss + 1;
    send_raw(p, delay, MK_TCP_SYN, p->iss, 0, NULL, 0);
}

static void send_syn_ack(struct peer *p, ts_time delay)
{
    p->snd_nxt = p->iss + 1;
    send_raw(p, delay, MK_TCP_SYN | MK_TCP_ACK, p->iss, p->rcv_nxt, NULL, 0);
}

static void send_ack(struct peer *p, ts_time delay)
{
    send_raw(p, delay, MK_TCP_ACK, p->snd_nxt, p->rcv_nxt, NULL, 0);
}

static void send_data(struct peer *p, ts_time delay, const char *text)
{
    size_t len = strlen(text);
    send_raw(p, delay, MK_TCP_ACK | MK_TCP_PSH, p->snd_nxt, p->rcv_nxt, text, len);
    p->snd_nxt += (uint32_t)len;
}

static void send_fin(struct peer *p, ts_time delay)
{
    send_raw(p, delay, MK_TCP_FIN | MK_TCP_ACK, p->snd_nxt, p->rcv_nxt, NULL, 0);
    p->snd_nxt++;
}

static void arp_who_has_stack(struct peer *p, ts_time at)
{
    static const uint8_t zero[6];
    uint8_t f[MK_FRAME_MAX];
    send_frame(p, at, f, mk_arp(f, mk_broadcast_mac, 1, mk_peer_mac, MK_PEER_IP, zero, MK_STACK_IP, 0));
}

/* Linux answers the stack's ARP request within a fraction of a millisecond. */
static bool answer_arp(struct peer *p, const uint8_t *frame, size_t len)
{
    if (len < 42 || rd16(frame + 12) != 0x0806 || rd16(frame + 20) != 1)
        return len >= 14 && rd16(frame + 12) == 0x0806;
    if (rd32(frame + 38) != MK_PEER_IP || rd32(frame + 28) == rd32(frame + 38))
        return true; /* not for us, or the stack's own announcement */
    uint8_t f[MK_FRAME_MAX];
    send_frame(p, p->t + 100, f, mk_arp(f, frame + 6, 2, mk_peer_mac, MK_PEER_IP, frame + 22, rd32(frame + 28), 0));
    return true;
}

/* ---- the stack's segments ------------------------------------------------------------------- */

static bool parse_seg(const uint8_t *frame, size_t len, struct seg *s)
{
    if (len < 14 + 20 + 20 || rd16(frame + 12) != 0x0800)
        return false;
    const uint8_t *ip = frame + 14;
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4, total = rd16(ip + 2);
    if (ip[9] != 6 || total > len - 14 || total < ihl + 20)
        return false;
    const uint8_t *t = ip + ihl;
    size_t hlen = (size_t)(t[12] >> 4) * 4;
    if (hlen < 20 || ihl + hlen > total)
        return false;
    memset(s, 0, sizeof(*s));
    s->sport = rd16(t);
    s->dport = rd16(t + 2);
    s->seq = rd32(t + 4);
    s->ack = rd32(t + 8);
    s->flags = t[13];
    s->window = rd16(t + 14);
    s->len = total - ihl - hlen;
    for (size_t i = 20; i < hlen;) {
        uint8_t kind = t[i];
        if (kind == 0)
            break;
        if (kind == 1) {
            i++;
            continue;
        }
        if (i + 1 >= hlen || t[i + 1] < 2)
            break;
        if (kind == 8 && t[i + 1] == 10) {
            s->has_ts = true;
            s->ts_val = rd32(t + i + 2);
        }
        if (kind == 5)
            s->sack_blocks = (t[i + 1] - 2u) / 8;
        i += t[i + 1];
    }
    return true;
}

/* What any receiver does: note the stack's TSval, take in-order data and FIN, acknowledge them. */
static void receive(struct peer *p, const struct seg *s)
{
    if (s->has_ts)
        p->ts_recent = s->ts_val;
    if (s->flags & MK_TCP_SYN) {
        p->rcv_nxt = s->seq + 1;
        return;
    }
    if (s->seq != p->rcv_nxt || p->refuse_data)
        return;
    p->rcv_nxt += (uint32_t)s->len + ((s->flags & MK_TCP_FIN) ? 1 : 0);
    p->bytes_in += (uint32_t)s->len;
    if (!p->no_auto_ack && (s->len > 0 || (s->flags & MK_TCP_FIN)))
        send_ack(p, MS(1));
}

static void on_frame(void *ctx, struct replay_peer_io *io, ts_time t, const uint8_t *frame, size_t len)
{
    struct peer *p = ctx;
    struct seg s;
    p->io = io;
    p->t = t;
    if (!frame) {
        p->script(p, NULL);
        return;
    }
    if (answer_arp(p, frame, len) || !parse_seg(frame, len, &s))
        return;
    if (s.dport != p->port)
        return;
    receive(p, &s);
    p->script(p, &s);
}

static bool is_syn_ack(const struct seg *s)
{
    return (s->flags & (MK_TCP_SYN | MK_TCP_ACK)) == (MK_TCP_SYN | MK_TCP_ACK);
}

static bool is_pure_ack(const struct seg *s)
{
    return s->flags == MK_TCP_ACK && s->len == 0;
}

/* ---- the cases --------------------------------------------------------------------------------- */

/*
 * RFC 9293 3.10.7.1 (CLOSED): a SYN to port 9 gets <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>;
 * a segment with ACK gets <SEQ=SEG.ACK><CTL=RST>; a RST gets nothing.
 */
static void closed_port(struct peer *p, const struct seg *s)
{
    if (s)
        return;
    p->stack_port = 9;
    arp_who_has_stack(p, MS(5));
    send_syn(p, MS(10));
    send_raw(p, MS(20), MK_TCP_ACK | MK_TCP_PSH, p->iss + 1, 0x00c0ffee, "stray", 5);
    send_raw(p, MS(30), MK_TCP_RST, p->iss + 6, 0, NULL, 0);
}

/* The peer opens, sends a line, reads its echo and closes first (app tcp-echo 7). */
static void server_echo(struct peer *p, const struct seg *s)
{
    if (!s) {
        p->stack_port = 7;
        arp_who_has_stack(p, MS(5));
        send_syn(p, MS(10));
        return;
    }
    if (p->step == 0 && is_syn_ack(s)) {
        send_ack(p, MS(1));
        send_data(p, MS(2), "hello, tapstack\n");
        p->step = 1;
    } else if (p->step == 1 && s->len > 0 && p->bytes_in >= 16) {
        send_fin(p, MS(20)); /* after the echo: the peer is done */
        p->step = 2;
    }
}

/* Handshake for the cases that only need an established connection to port 5000. */
static bool handshake(struct peer *p, const struct seg *s, ts_time syn_at)
{
    if (!s) {
        p->stack_port = 5000;
        arp_who_has_stack(p, MS(5));
        send_syn(p, syn_at);
        return true;
    }
    if (p->step == 0 && is_syn_ack(s)) {
        send_ack(p, MS(1));
        p->step = 1;
        return true;
    }
    return false;
}

/* RFC 5961 3.2: an in-window RST that is not exactly RCV.NXT earns a challenge ACK; the exact one resets. */
static void challenge_rst(struct peer *p, const struct seg *s)
{
    if (handshake(p, s, MS(10))) {
        if (s && p->step == 1) {
            send_data(p, MS(2), "abc");
            p->step = 2;
        }
        return;
    }
    if (p->step == 2 && is_pure_ack(s) && s->ack == p->snd_nxt) {
        send_raw(p, MS(10), MK_TCP_RST, p->snd_nxt + 100, 0, NULL, 0); /* in the window, not RCV.NXT */
        p->step = 3;
    } else if (p->step == 3 && is_pure_ack(s)) {
        /* The challenge ACK: a peer that really reset answers with the exact sequence number. */
        send_raw(p, MS(1), MK_TCP_RST, s->ack, 0, NULL, 0);
        p->step = 4;
    }
}

/* RFC 9293 3.10.7.4: a RST in SYN-RECEIVED returns a passively opened connection to LISTEN. */
static void rst_syn_received(struct peer *p, const struct seg *s)
{
    if (!s) {
        p->stack_port = 5000;
        arp_who_has_stack(p, MS(5));
        send_syn(p, MS(10));
        return;
    }
    if (p->step == 0 && is_syn_ack(s)) {
        send_raw(p, MS(1), MK_TCP_RST, p->iss + 1, 0, NULL, 0);
        /* The same four-tuple again, a new incarnation further on in sequence space. */
        p->iss += 100000;
        send_syn(p, MS(100));
        p->step = 1;
    } else if (p->step == 1 && is_syn_ack(s)) {
        send_ack(p, MS(1));
        send_data(p, MS(2), "again");
        p->step = 2;
    }
}

/* RFC 5961 4.2 / RFC 9293 3.10.7.4 (fourth check): a SYN in ESTABLISHED gets a challenge ACK, nothing else. */
static void syn_in_established(struct peer *p, const struct seg *s)
{
    if (handshake(p, s, MS(10))) {
        if (s && p->step == 1) {
            send_raw(p, MS(50), MK_TCP_SYN, p->snd_nxt + 10, 0, NULL, 0);
            p->step = 2;
        }
        return;
    }
    if (p->step == 2 && is_pure_ack(s)) {
        send_data(p, MS(10), "still established\n");
        p->step = 3;
    }
}

/* 1000-byte blocks of the peer's stream, each filled with its own letter. */
static void send_block(struct peer *p, ts_time delay, unsigned k)
{
    char block[1001];
    memset(block, 'A' + (int)k, 1000);
    block[1000] = '\0';
    send_raw(p, delay, MK_TCP_ACK | MK_TCP_PSH, p->iss + 1 + 1000 * k, p->rcv_nxt, block, 1000);
}

/* RFC 5681 4.2, RFC 2018 4: out-of-order data gets an immediate duplicate ACK with SACK; filling the hole, an ACK. */
static void out_of_order(struct peer *p, const struct seg *s)
{
    if (handshake(p, s, MS(10))) {
        if (s && p->step == 1) {
            send_block(p, MS(2), 1);
            send_block(p, MS(3), 2);
            send_block(p, MS(4), 0);
            p->snd_nxt = p->iss + 1 + 3000;
            p->step = 2;
        }
        return;
    }
}

/*
 * RFC 9293 3.8.6.1, RFC 1122 4.2.2.17: a peer with a 2000-byte buffer whose
 * application does not read. Its window shrinks with every segment it takes
 * until it is zero with data still to send; the stack probes it with
 * backing-off intervals; at the third probe the application reads everything
 * and the window update lets the rest flow.
 */
#define ZW_BUFFER 2000

static void zw_ack(struct peer *p)
{
    uint32_t unread = p->bytes_in; /* the app reads nothing until step 3 */
    p->window = (uint16_t)(unread >= ZW_BUFFER ? 0 : ZW_BUFFER - unread);
    p->refuse_data = p->window == 0;
    send_ack(p, MS(1));
}

static void zero_window(struct peer *p, const struct seg *s)
{
    if (!s) {
        p->window = ZW_BUFFER;
        p->wscale = -1;
        p->no_auto_ack = true;
        handshake(p, s, MS(10));
        return;
    }
    if (handshake(p, s, 0))
        return;
    if (p->step == 1 && s->len > 0 && !p->refuse_data) {
        zw_ack(p);
        if (p->refuse_data)
            p->step = 2;
    } else if (p->step == 2 && s->len <= 1) {
        /* A probe: the window stays shut twice; the third time the app has read all 2000 bytes. */
        if (++p->count < 3) {
            send_ack(p, MS(1));
            return;
        }
        p->bytes_in = 0;
        zw_ack(p);
        p->step = 3;
    } else if (p->step == 3 && s->len > 0) {
        zw_ack(p);
    }
}

/*
 * Active close and TIME-WAIT (RFC 9293 3.10.7.4): the stack connects, sends,
 * shuts down; the peer closes too, and sends its FIN again 500 ms later as if
 * the stack's ACK had been lost: the stack acknowledges it again and 2 MSL
 * start over. Once TIME-WAIT is over, a segment for the old connection gets a RST.
 */
static void time_wait(struct peer *p, const struct seg *s)
{
    if (!s) {
        p->port = 5000; /* the peer listens here; the stack's port comes with its SYN */
        return;
    }
    if (p->step == 0 && (s->flags & MK_TCP_SYN)) {
        p->stack_port = s->sport;
        send_syn_ack(p, MS(1));
        p->step = 1;
    } else if (p->step == 1 && (s->flags & MK_TCP_FIN)) {
        send_fin(p, MS(10)); /* receive() acknowledged the stack's FIN already */
        send_raw(p, MS(510), MK_TCP_FIN | MK_TCP_ACK, p->snd_nxt - 1, p->rcv_nxt, NULL, 0);
        p->count = (unsigned)((p->t + MS(510)) / 1000); /* when the FIN goes again, in ms */
        p->step = 2;
    } else if (p->step == 2 && is_pure_ack(s) && s->ack == p->snd_nxt && p->t >= (ts_time)p->count * 1000) {
        send_raw(p, 61 * MS(1000), MK_TCP_ACK, p->snd_nxt, p->rcv_nxt, NULL, 0); /* after 2 MSL (60 s) */
        p->step = 3;
    }
}

/* RFC 6298 2.1, 5.5: the SYN goes unanswered; the retransmission timer starts at 1 s and doubles. */
static void syn_rto(struct peer *p, const struct seg *s)
{
    if (!s)
        p->port = 80;
}

/* RFC 1122 4.2.3.6: keep-alive probes after the idle time; one answered, then none: ETIMEDOUT. */
static void keepalive(struct peer *p, const struct seg *s)
{
    if (handshake(p, s, MS(10))) {
        if (s && p->step == 1) {
            send_data(p, MS(2), "ping");
            p->step = 2;
        }
        return;
    }
    /* A probe carries a sequence number below RCV.NXT: the peer answers with an ACK of what it has. */
    if (p->step == 2 && s->seq == p->rcv_nxt - 1) {
        send_ack(p, MS(1));
        p->step = 3;
    }
}

/*
 * RFC 9293 3.5 figure 8: the stack connects while the peer's SYN, sent before
 * ours reached it, is on its way: SYN-SENT -> SYN-RECEIVED (our SYN,ACK) ->
 * ESTABLISHED on the peer's SYN,ACK; then data both ways.
 */
static void simultaneous_open(struct peer *p, const struct seg *s)
{
    if (!s) {
        p->port = 5000; /* the peer's own port; the stack connects to it */
        return;
    }
    if (p->step == 0 && s->flags == MK_TCP_SYN) {
        p->stack_port = s->sport;
        send_syn(p, 500);        /* figure 8 line 3: crosses the stack's SYN */
        send_syn_ack(p, MS(1));  /* line 6: the peer got the stack's SYN in SYN-SENT */
        p->step = 1;
    } else if (p->step == 1 && is_syn_ack(s)) {
        send_data(p, MS(20), "crossed\n"); /* line 7: the stack's SYN,ACK made the peer ESTABLISHED */
        p->step = 2;
    }
}

/*
 * RFC 7323 5.3: after a timestamped handshake and data, a segment at RCV.NXT
 * whose TSval is older than TS.Recent is dropped (PAWS) and answered with an
 * ACK; the same bytes' sequence numbers with a current TSval are then taken.
 */
static void paws(struct peer *p, const struct seg *s)
{
    if (handshake(p, s, MS(10))) {
        if (s && p->step == 1) {
            send_data(p, MS(2), "one\n");
            p->step = 2;
        }
        return;
    }
    if (p->step == 2 && is_pure_ack(s) && s->ack == p->snd_nxt) {
        p->ts_back = 1000; /* a TSval a second old: below TS.Recent */
        send_raw(p, MS(10), MK_TCP_ACK | MK_TCP_PSH, p->snd_nxt, p->rcv_nxt, "OLD!", 4);
        p->ts_back = 0;
        p->step = 3;
    } else if (p->step == 3 && is_pure_ack(s)) {
        send_data(p, MS(10), "two\n");
        p->step = 4;
    }
}

/* A RST at exactly the stack's RCV.NXT (the peer's SND.NXT), no ACK. */
static void send_exact_rst(struct peer *p, ts_time delay)
{
    send_raw(p, delay, MK_TCP_RST, p->snd_nxt, 0, NULL, 0);
}

/* RFC 9293 3.10.7.4, RFC 5961 3.2: in ESTABLISHED a RST at exactly RCV.NXT resets the connection. */
static void rst_established(struct peer *p, const struct seg *s)
{
    if (handshake(p, s, MS(10))) {
        if (s && p->step == 1) {
            send_data(p, MS(2), "abc");
            p->step = 2;
        }
        return;
    }
    if (p->step == 2 && is_pure_ack(s) && s->ack == p->snd_nxt) {
        send_exact_rst(p, MS(10));
        p->step = 3;
    }
}

/* FIN-WAIT-2: the stack shut down first (case file), the peer acknowledged its FIN, then resets. */
static void rst_fin_wait_2(struct peer *p, const struct seg *s)
{
    if (handshake(p, s, MS(10)))
        return;
    if (p->step == 1 && (s->flags & MK_TCP_FIN)) {
        send_exact_rst(p, MS(100)); /* receive() acknowledged the FIN after 1 ms */
        p->step = 2;
    }
}

/* CLOSE-WAIT: the peer closed, the stack acknowledged and has not closed; then the peer resets. */
static void rst_close_wait(struct peer *p, const struct seg *s)
{
    if (handshake(p, s, MS(10))) {
        if (s && p->step == 1) {
            send_fin(p, MS(2));
            p->step = 2;
        }
        return;
    }
    if (p->step == 2 && is_pure_ack(s) && s->ack == p->snd_nxt) {
        send_exact_rst(p, MS(100));
        p->step = 3;
    }
}

/* LAST-ACK: the peer closed, the stack's FIN followed (case file); the peer resets instead of acknowledging it. */
static void rst_last_ack(struct peer *p, const struct seg *s)
{
    if (!s)
        p->no_auto_ack = true; /* the stack's FIN stays unacknowledged */
    if (handshake(p, s, MS(10))) {
        if (s && p->step == 1) {
            send_fin(p, MS(2));
            p->step = 2;
        }
        return;
    }
    if (p->step == 2 && (s->flags & MK_TCP_FIN)) {
        send_exact_rst(p, MS(50));
        p->step = 3;
    }
}

/* TIME-WAIT: the stack closed first, the peer's FIN took it to TIME-WAIT; the RST closes it, and a late ACK then
 * finds no connection (a RST back). */
static void rst_time_wait(struct peer *p, const struct seg *s)
{
    if (handshake(p, s, MS(10)))
        return;
    if (p->step == 1 && (s->flags & MK_TCP_FIN)) {
        send_fin(p, MS(10));
        p->step = 2;
    } else if (p->step == 2 && is_pure_ack(s) && s->ack == p->snd_nxt) {
        send_exact_rst(p, MS(100));
        send_ack(p, MS(200));
        p->step = 3;
    }
}

/*
 * SYN-SENT (RFC 9293 3.10.7.3, RFC 5961 3.2): a RST without ACK is ignored, a RST,ACK whose ACK does not cover
 * the SYN is ignored, a RST,ACK acknowledging the SYN refuses the connection.
 */
static void rst_syn_sent(struct peer *p, const struct seg *s)
{
    if (!s) {
        p->port = 5000;
        return;
    }
    if (p->step == 0 && s->flags == MK_TCP_SYN) {
        p->stack_port = s->sport;
        send_raw(p, MS(1), MK_TCP_RST, 0, 0, NULL, 0);
        send_raw(p, MS(10), MK_TCP_RST | MK_TCP_ACK, 0, s->seq, NULL, 0);
        send_raw(p, MS(20), MK_TCP_RST | MK_TCP_ACK, 0, s->seq + 1, NULL, 0);
        p->step = 1;
    }
}

/*
 * The stack as client (RFC 9293 3.5 figure 6, 3.6 figure 12): handshake, a line each way, the stack closes
 * first: FIN-WAIT-1, FIN-WAIT-2 on the ACK, TIME-WAIT on the peer's FIN 20 ms later, CLOSED after 2 MSL.
 */
static void client_close(struct peer *p, const struct seg *s)
{
    if (!s) {
        p->port = 5000;
        return;
    }
    if (p->step == 0 && (s->flags & MK_TCP_SYN)) {
        p->stack_port = s->sport;
        send_syn_ack(p, MS(1));
        p->step = 1;
    } else if (p->step == 1 && s->len > 0) {
        send_data(p, MS(10), "hello, stack\n"); /* receive() acknowledged the line after 1 ms */
        p->step = 2;
    } else if (p->step == 2 && (s->flags & MK_TCP_FIN)) {
        send_fin(p, MS(20));
        p->step = 3;
    }
}

/* ---- driver ------------------------------------------------------------------------------------ */

struct tcp_case {
    const char *name;
    script_fn script;
};

static const struct tcp_case cases[] = {
    {"tcp_closed_port", closed_port},
    {"tcp_server_echo", server_echo},
    {"tcp_challenge_ack_rst", challenge_rst},
    {"tcp_rst_in_syn_received", rst_syn_received},
    {"tcp_syn_in_established", syn_in_established},
    {"tcp_out_of_order_sack", out_of_order},
    {"tcp_zero_window_persist", zero_window},
    {"tcp_time_wait", time_wait},
    {"tcp_syn_rto_backoff", syn_rto},
    {"tcp_keepalive", keepalive},
    {"tcp_simultaneous_open", simultaneous_open},
    {"tcp_paws", paws},
    {"tcp_rst_in_established", rst_established},
    {"tcp_rst_in_fin_wait_2", rst_fin_wait_2},
    {"tcp_rst_in_close_wait", rst_close_wait},
    {"tcp_rst_in_last_ack", rst_last_ack},
    {"tcp_rst_in_time_wait", rst_time_wait},
    {"tcp_rst_in_syn_sent", rst_syn_sent},
    {"tcp_client_handshake_and_close", client_close},
};

static int make_case(const char *dir, const struct tcp_case *tc)
{
    char path[4096], err[512] = "";
    snprintf(path, sizeof(path), "%s/%s.case", dir, tc->name);
    struct replay_case *c = NULL;
    if (replay_case_load_script(path, &c, err, sizeof(err)) != 0) {
        fprintf(stderr, "mktcp: %s\n", err);
        return -1;
    }
    struct peer p = {.script = tc->script, .ip_id = 0x4000, .port = 40000, .iss = 0x10000000, .use_ts = true,
                     .use_sack = true, .wscale = PEER_WSCALE, .window = PEER_WINDOW};
    char *review = NULL;
    int rc = replay_case_generate(c, on_frame, &p, &review, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "mktcp: %s: %s\n", tc->name, err);
    else
        printf("==== %s\n%s", tc->name, review);
    free(review);
    replay_case_free(c);
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = sizeof(cases) / sizeof(cases[0]);
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: mktcp CAPTURES_DIR [NAME...]\n  names:");
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %s", cases[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    int rc = 0;
    for (int a = 2; a < argc; a++) {
        bool known = false;
        for (size_t i = 0; i < n; i++)
            known |= strcmp(argv[a], cases[i].name) == 0;
        if (!known) {
            fprintf(stderr, "mktcp: no case named %s\n", argv[a]);
            rc = 2;
        }
    }
    for (size_t i = 0; i < n && rc != 2; i++) {
        bool wanted = argc == 2;
        for (int a = 2; a < argc; a++)
            wanted |= strcmp(argv[a], cases[i].name) == 0;
        if (wanted && make_case(argv[1], &cases[i]) != 0)
            rc = 1;
    }
    return rc;
}
