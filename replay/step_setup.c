/*
 * ts-replay's setup: which host of a capture tapstack plays, and what its
 * application does.
 *
 * A capture of captures/ has its case file beside it: that file says it all
 * (stack line, apps, actions, clock offset), and the replay then reproduces
 * the capture exactly. Any other capture gets a case made from it:
 *
 *   the host      --stack-addr, else the host that received the first SYN
 *                 (tapstack is the server), else the one that was pinged, else
 *                 the destination of the first UDP datagram or ARP request
 *   its MAC       the Ethernet source of a frame it sent (or the destination of one sent to it)
 *   the subnet    wide enough to hold every host it talked with (at most /24)
 *   neighbours    a static ARP entry for each peer the capture shows no ARP for
 *                 (a tcpdump taken mid-conversation): else tapstack would ask and never hear
 *   listeners     'at 0 tcp-listen PORT' for each port that received a SYN: accept, read everything
 *   the rest      what replay_case_suggest_actions drafts from the host's own frames:
 *                 its connects, the data it wrote, its FINs, its pings, when it first polled
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "step_internal.h"

#define MAX_PORTS 16
#define MAX_PEERS REPLAY_MAX_NEIGHBOURS
#define DEFAULT_SEED 7

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void ipstr(uint32_t a, char *buf, size_t cap)
{
    snprintf(buf, cap, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

/* An IPv4 header in a frame (Ethernet, type 0x0800, whole header), or NULL. */
static const uint8_t *ipv4_of(const struct replay_frame *f)
{
    if (f->len < 14 + 20 || rd16(f->data + 12) != 0x0800 || (f->data[14] >> 4) != 4)
        return NULL;
    size_t hlen = (size_t)(f->data[14] & 0x0f) * 4;
    return hlen >= 20 && 14 + hlen <= f->len ? f->data + 14 : NULL;
}

/* The TCP header of a first fragment, or NULL. */
static const uint8_t *tcp_of(const struct replay_frame *f, const uint8_t *ip)
{
    size_t hlen = (size_t)(ip[0] & 0x0f) * 4;
    if (ip[9] != 6 || (rd16(ip + 6) & 0x1fff) != 0 || 14 + hlen + 20 > f->len)
        return NULL;
    return ip + hlen;
}

static bool is_arp(const struct replay_frame *f)
{
    return f->len >= 42 && rd16(f->data + 12) == 0x0806;
}

/* ---- which host ------------------------------------------------------------------------ */

struct guess {
    uint32_t addr;
    char why[200];
};

/* Whether the host sent any TCP segment in the capture. */
static bool ever_spoke_tcp(const struct replay_frame *fr, size_t n, uint32_t addr)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *ip = ipv4_of(&fr[i]);
        if (ip && rd32(ip + 12) == addr && ip[9] == 6)
            return true;
    }
    return false;
}

static bool guess_from_syn(const struct replay_frame *fr, size_t n, struct guess *g)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *ip = ipv4_of(&fr[i]), *t;
        if (!ip || !(t = tcp_of(&fr[i], ip)) || (t[13] & 0x12) != 0x02)
            continue;
        char a[16], b[16];
        ipstr(rd32(ip + 12), a, sizeof(a));
        ipstr(rd32(ip + 16), b, sizeof(b));
        g->addr = rd32(ip + 16);
        snprintf(g->why, sizeof(g->why), "it received the first SYN (frame %zu, %s:%u > %s:%u): tapstack is the server",
                 i + 1, a, rd16(t), b, rd16(t + 2));
        if (!ever_spoke_tcp(fr, n, g->addr)) {
            g->addr = rd32(ip + 12);
            snprintf(g->why, sizeof(g->why),
                     "it sent the first SYN (frame %zu, %s:%u > %s:%u), which %s never answered: tapstack is the client",
                     i + 1, a, rd16(t), b, rd16(t + 2), b);
        }
        return true;
    }
    return false;
}

static bool guess_from_other(const struct replay_frame *fr, size_t n, struct guess *g)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *ip = ipv4_of(&fr[i]);
        if (!ip)
            continue;
        size_t hlen = (size_t)(ip[0] & 0x0f) * 4;
        bool echo = ip[9] == 1 && 14 + hlen < fr[i].len && ip[hlen] == 8;
        g->addr = rd32(ip + 16);
        snprintf(g->why, sizeof(g->why), "it was the destination of the first %s (frame %zu)",
                 echo ? "echo request" : ip[9] == 17 ? "UDP datagram" : "IPv4 datagram", i + 1);
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_arp(&fr[i]) || rd16(fr[i].data + 20) != 1)
            continue;
        g->addr = rd32(fr[i].data + 38);
        snprintf(g->why, sizeof(g->why), "it was asked for in the first ARP request (frame %zu)", i + 1);
        return true;
    }
    return false;
}

/* The host's MAC: the source of a frame it sent, else the destination of one sent to it. */
static bool mac_of(const struct replay_frame *fr, size_t n, uint32_t addr, uint8_t mac[6])
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            const uint8_t *ip = ipv4_of(&fr[i]);
            if (pass == 0 && ip && rd32(ip + 12) == addr) {
                memcpy(mac, fr[i].data + 6, 6);
                return true;
            }
            if (pass == 0 && is_arp(&fr[i]) && rd32(fr[i].data + 28) == addr) {
                memcpy(mac, fr[i].data + 22, 6);
                return true;
            }
            if (pass == 1 && ip && rd32(ip + 16) == addr && !(fr[i].data[0] & 1)) {
                memcpy(mac, fr[i].data, 6);
                return true;
            }
        }
    }
    return false;
}

/* ---- its peers, ports and subnet ------------------------------------------------------- */

struct peer {
    uint32_t addr;
    uint8_t mac[6];  /* the Ethernet source of its frames to the host */
    bool arp_seen;   /* the capture shows it in ARP: tapstack learns it as the original did */
};

struct picture {
    uint32_t addr;
    uint8_t mac[6];
    struct peer peers[MAX_PEERS];
    unsigned n_peers;
    uint16_t listen[MAX_PORTS];
    unsigned n_listen;
    bool announced; /* the host sent a gratuitous ARP */
};

static struct peer *peer_of(struct picture *p, uint32_t addr)
{
    for (unsigned i = 0; i < p->n_peers; i++)
        if (p->peers[i].addr == addr)
            return &p->peers[i];
    if (p->n_peers == MAX_PEERS)
        return NULL;
    struct peer *q = &p->peers[p->n_peers++];
    memset(q, 0, sizeof(*q));
    q->addr = addr;
    return q;
}

static void add_listen(struct picture *p, uint16_t port)
{
    for (unsigned i = 0; i < p->n_listen; i++)
        if (p->listen[i] == port)
            return;
    if (p->n_listen < MAX_PORTS)
        p->listen[p->n_listen++] = port;
}

static void look_at_arp(struct picture *p, const struct replay_frame *f)
{
    uint32_t spa = rd32(f->data + 28), tpa = rd32(f->data + 38);
    if (spa == p->addr && tpa == p->addr)
        p->announced = true;
    struct peer *q = spa != p->addr && (tpa == p->addr || rd16(f->data + 20) == 2) ? peer_of(p, spa) : NULL;
    if (q) {
        memcpy(q->mac, f->data + 22, 6);
        q->arp_seen = true;
    }
}

static void look_at_ipv4(struct picture *p, const struct replay_frame *f, const uint8_t *ip)
{
    uint32_t src = rd32(ip + 12), dst = rd32(ip + 16);
    if (dst != p->addr || src == p->addr)
        return;
    struct peer *q = peer_of(p, src);
    if (q && !q->arp_seen)
        memcpy(q->mac, f->data + 6, 6);
    const uint8_t *t = tcp_of(f, ip);
    if (t && (t[13] & 0x12) == 0x02)
        add_listen(p, rd16(t + 2));
}

static void take_picture(const struct replay_frame *fr, size_t n, struct picture *p)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *ip = ipv4_of(&fr[i]);
        if (is_arp(&fr[i]))
            look_at_arp(p, &fr[i]);
        else if (ip)
            look_at_ipv4(p, &fr[i], ip);
    }
}

/* The longest prefix (at most 24) that holds the host and every peer. */
static unsigned prefix_for(const struct picture *p)
{
    unsigned prefix = 24;
    for (unsigned i = 0; i < p->n_peers; i++)
        while (prefix > 0 && ((p->peers[i].addr ^ p->addr) >> (32 - prefix)) != 0)
            prefix--;
    return prefix;
}

/* ---- the case text ---------------------------------------------------------------------- */

static void put_mac(struct replay_buf *b, const uint8_t m[6])
{
    replay_buf_printf(b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void write_base(struct replay_buf *b, const struct picture *p, uint64_t seed)
{
    char a[16];
    ipstr(p->addr, a, sizeof(a));
    replay_buf_printf(b, "stack addr %s/%u mac ", a, prefix_for(p));
    put_mac(b, p->mac);
    replay_buf_printf(b, " seed %" PRIu64 "%s\n", seed, p->announced ? "" : " no-gratuitous-arp");
    replay_buf_printf(b, "origin recorded\n");
    for (unsigned i = 0; i < p->n_peers; i++) {
        if (p->peers[i].arp_seen)
            continue;
        ipstr(p->peers[i].addr, a, sizeof(a));
        replay_buf_printf(b, "neighbour %s ", a);
        put_mac(b, p->peers[i].mac);
        replay_buf_printf(b, "\n");
    }
    for (unsigned i = 0; i < p->n_listen; i++)
        replay_buf_printf(b, "at 0 tcp-listen %u\n", p->listen[i]);
}

/* Whether the case text parses; the reason in err if not. */
static bool parses(const char *text, char *err, size_t errlen)
{
    struct replay_case *c = calloc(1, sizeof(*c));
    if (!c || !(c->path = strdup("setup")) || !(c->name = strdup("setup"))) {
        replay_case_free(c);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    bool ok = replay_case_parse(c, text, err, errlen) == 0;
    replay_case_free(c);
    return ok;
}

/*
 * Adds the drafted lines one by one. A draft is made for the captures ts-ping and ts-nc
 * write; a line another capture makes no sense of (a ping whose data holds no time stamp)
 * is left out, and the setup says so.
 */
static void add_drafted(struct replay_buf *text, const char *more, struct replay_buf *why)
{
    for (const char *s = more; *s;) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        struct replay_buf trial = {0};
        char perr[256] = "";
        replay_buf_printf(&trial, "%s%.*s\n", text->s ? text->s : "", (int)n, s);
        if (parses(trial.s, perr, sizeof(perr)))
            replay_buf_printf(text, "%.*s\n", (int)n, s);
        else
            replay_buf_printf(why, "setup: left out a drafted line, '%.*s': %s\n", (int)n, s, perr);
        replay_buf_free(&trial);
        s += n + (nl != NULL);
    }
}

/* The case made from the capture: the base lines, then what the host's own frames imply. */
static int made_case(const struct replay_step_options *o, const struct picture *p, struct replay_case **out,
                     struct replay_buf *text, struct replay_buf *why, char *err, size_t errlen)
{
    write_base(text, p, o->have_seed ? o->seed : DEFAULT_SEED);
    struct replay_case *base = NULL;
    if (replay_case_load_text("setup", text->s, o->capture, &base, err, errlen) != 0)
        return -1;
    char *more = replay_case_suggest_actions(base);
    replay_case_free(base);
    if (!more) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    add_drafted(text, more, why);
    free(more);
    return replay_case_load_text("setup", text->s, o->capture, out, err, errlen);
}

static int guess_case(const struct replay_step_options *o, struct replay_case **out, struct replay_buf *why,
                      char *err, size_t errlen)
{
    struct replay_frame *fr = NULL;
    size_t n = 0;
    if (replay_capture_read(o->capture, &fr, &n, err, errlen) != 0)
        return -1;
    struct guess g = {0};
    char a[16];
    int rc = -1;
    if (o->have_stack_addr) {
        g.addr = o->stack_addr;
        snprintf(g.why, sizeof(g.why), "--stack-addr");
    } else if (!guess_from_syn(fr, n, &g) && !guess_from_other(fr, n, &g)) {
        snprintf(err, errlen, "%s: no IPv4 or ARP frame to guess which host tapstack plays; give --stack-addr",
                 o->capture);
        goto out;
    }
    ipstr(g.addr, a, sizeof(a));
    struct picture p = {.addr = g.addr};
    if (!mac_of(fr, n, g.addr, p.mac)) {
        snprintf(err, errlen, "%s: no frame shows the MAC of %s", o->capture, a);
        goto out;
    }
    take_picture(fr, n, &p);
    replay_buf_printf(why, "setup: tapstack plays %s (%s)\n", a, g.why);
    struct replay_buf text = {0};
    rc = made_case(o, &p, out, &text, why, err, errlen);
    if (rc == 0) {
        replay_buf_printf(why, "setup: no case file; made from the capture (these lines, in a .case file, replay it again):\n");
        for (const char *s = text.s, *nl; s && *s; s = nl + 1) {
            nl = strchr(s, '\n');
            if (!nl)
                nl = s + strlen(s) - 1;
            replay_buf_printf(why, "    %.*s\n", (int)(nl - s), s);
        }
        if (p.n_listen == 0 && !strstr(text.s, "tcp-connect"))
            replay_buf_printf(why, "setup: no SYN reached %s and it opened no connection: no TCP application\n", a);
    }
    replay_buf_free(&text);
out:
    replay_frames_free(fr, n);
    return rc;
}

/* ---- a case file ------------------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* NAME.case for NAME.pcap (malloc'd), whether it exists or not; NULL when the capture has another name. */
static char *case_beside(const char *capture)
{
    if (ends_with(capture, ".case"))
        return strdup(capture);
    if (!ends_with(capture, ".pcap"))
        return NULL;
    size_t n = strlen(capture) - 5;
    char *p = malloc(n + 6);
    if (p)
        snprintf(p, n + 6, "%.*s.case", (int)n, capture);
    return p;
}

static void describe_case(const struct replay_case *c, const char *path, struct replay_buf *why)
{
    char a[16];
    ipstr(c->cfg.addr, a, sizeof(a));
    replay_buf_printf(why, "setup: from %s: tapstack plays %s/%u mac ", path, a, c->cfg.prefix_len);
    put_mac(why, c->cfg.mac);
    replay_buf_printf(why, " seed %" PRIu64 ", with that file's apps and actions%s\n", c->cfg.seed,
                      c->clock_offset_given ? " and clock offset (the clock reads what the live one did)" : "");
    for (unsigned i = 0; i < c->n_tcp_echo; i++)
        replay_buf_printf(why, "setup: app tcp-echo %u (ts-echo: echoes what it reads)\n", c->tcp_echo_ports[i]);
    for (unsigned i = 0; i < c->n_echo; i++)
        replay_buf_printf(why, "setup: app udp-echo %u\n", c->echo_ports[i]);
    for (size_t i = 0; i < c->n_actions; i++)
        if (c->actions[i].kind == REPLAY_ACT_TCP_LISTEN || c->actions[i].kind == REPLAY_ACT_TCP_CONNECT)
            replay_buf_printf(why, "setup: line %u: %s\n", c->actions[i].line,
                              c->actions[i].kind == REPLAY_ACT_TCP_LISTEN ? "a listener (tcp-listen)"
                                                                          : "an active open (tcp-connect)");
}

int step_setup(const struct replay_step_options *o, struct replay_case **out, char **setup, char *err,
               size_t errlen)
{
    struct replay_buf why = {0};
    char *case_path = case_beside(o->capture);
    int rc = -1;
    *out = NULL;
    if (case_path && access(case_path, R_OK) == 0) {
        struct replay_case *c = NULL;
        if (replay_case_load(case_path, &c, err, errlen) != 0)
            goto done;
        if (!o->have_stack_addr || o->stack_addr == c->cfg.addr) {
            if (o->have_seed)
                c->cfg.seed = o->seed;
            describe_case(c, case_path, &why);
            *out = c;
            rc = 0;
            goto done;
        }
        replay_buf_printf(&why, "setup: %s is for another host: not used\n", case_path);
        struct replay_step_options o2 = *o;
        o2.capture = replay_case_capture_path(c);
        rc = guess_case(&o2, out, &why, err, errlen);
        replay_case_free(c);
        goto done;
    }
    if (case_path && ends_with(o->capture, ".case")) {
        snprintf(err, errlen, "%s: %s", o->capture, strerror(errno));
        goto done;
    }
    rc = guess_case(o, out, &why, err, errlen);
done:
    free(case_path);
    *setup = replay_buf_take(&why);
    return rc;
}
