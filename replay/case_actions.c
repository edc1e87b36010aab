/*
 * The actions of a case file, one per `at T ACTION ...` line; they mirror the
 * apps' socket calls (captures/README.md has the reference):
 *
 *   ping ADDR [seq N] [size N] [stamp EPOCH-SECONDS]          ts-ping, one request
 *   udp-send ADDR:PORT [from PORT] PAYLOAD                     one datagram
 *   tcp-listen PORT [OPTIONS]                                  socket, bind, listen; accepts every connection
 *   tcp-connect ADDR:PORT [from PORT] [OPTIONS]                socket, [bind], connect
 *   tcp-send PAYLOAD | tcp-send-bytes N | tcp-send-pattern N   send on the current connection
 *   tcp-shutdown wr|rd|rdwr   tcp-close   tcp-abort             shutdown, close, close with SO_LINGER 0
 *   tcp-read [N]                                               recv what is queued (after no-read)
 *   expect-state STATE                                         the current connection's state now
 *
 *   PAYLOAD = "text" | hex HEX | size N (byte i is i & 0xff)
 *   OPTIONS = nodelay | no-read | reno | keepalive IDLE INTVL CNT | rcvbuf N | sndbuf N
 *             | maxseg N | backlog N | once
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "case_parse.h"
#include "tapstack/pcb.h"

#define DEFAULT_PING_SIZE 56
#define MAX_PAYLOAD 65507          /* the largest UDP payload over IPv4 */
#define MAX_TCP_SEND (4u << 20)    /* one tcp-send line; a bulk case sends several */
#define MAX_SOCKET_BUFFER (64 << 20)

#define fail case_fail
#define want case_want
#define parse_uint case_parse_uint
#define parse_addr case_parse_addr
#define line_ctx case_line

static int set_payload(struct line_ctx *lc, struct replay_action *a, const uint8_t *bytes, size_t len)
{
    size_t max = a->kind == REPLAY_ACT_TCP_SEND ? MAX_TCP_SEND : MAX_PAYLOAD;
    if (len > max)
        return fail(lc, "payload of %zu bytes is larger than %s can be (%zu)", len,
                    a->kind == REPLAY_ACT_TCP_SEND ? "one tcp-send" : "a UDP datagram", max);
    a->payload = malloc(len ? len : 1);
    if (!a->payload)
        return fail(lc, "out of memory");
    if (bytes)
        memcpy(a->payload, bytes, len);
    a->payload_len = len;
    return 0;
}

/*
 * The echo data ts-ping sends: byte i of the data is (i & 0xff), so a reply's
 * data can be checked without keeping the request (apps/ping/ts_ping.c); the
 * optional stamp then overwrites the first bytes. udp-send "size N" uses it too.
 */
static int ping_payload(struct line_ctx *lc, struct replay_action *a, size_t size)
{
    if (set_payload(lc, a, NULL, size))
        return -1;
    for (size_t i = 0; i < size; i++)
        a->payload[i] = (uint8_t)i;
    return 0;
}

/*
 * ts-ping, like iputils ping, opens the data with the wall-clock send time (a
 * struct timeval, as the host lays it out) when the data has room for one. A
 * recorded case gives that time so the replayed request carries the same bytes.
 */
static int put_stamp(struct line_ctx *lc, struct replay_action *a, const char *text)
{
    ts_time us;
    if (replay_parse_duration(text, &us) != 0 || us < 0)
        return fail(lc, "stamp '%s' is not a time in seconds since the epoch, like 1700000000.123456", text);
    if (a->payload_len < sizeof(struct timeval))
        return fail(lc, "stamp needs a size of at least %zu bytes (ts-ping stamps only then)",
                    sizeof(struct timeval));
    struct timeval tv = {.tv_sec = (time_t)(us / 1000000), .tv_usec = (suseconds_t)(us % 1000000)};
    memcpy(a->payload, &tv, sizeof(tv));
    return 0;
}

static int act_ping(struct line_ctx *lc, struct replay_action *a)
{
    const char *dst = want(lc, 3, "a destination address");
    uint64_t seq = ++lc->pings, size = DEFAULT_PING_SIZE;
    const char *stamp = NULL;
    if (!dst || parse_addr(lc, dst, &a->dst))
        return -1;
    for (unsigned i = 4; i < lc->n; i += 2) {
        const char *v = want(lc, i + 1, "a value after seq/size/stamp");
        if (!v)
            return -1;
        if (strcmp(lc->tok[i].text, "stamp") == 0) {
            stamp = v;
        } else if (strcmp(lc->tok[i].text, "seq") == 0) {
            if (parse_uint(lc, v, 65535, "seq", &seq))
                return -1;
        } else if (strcmp(lc->tok[i].text, "size") == 0) {
            if (parse_uint(lc, v, MAX_PAYLOAD - 8, "size", &size))
                return -1;
        } else {
            return fail(lc, "unknown ping option '%s' (seq, size, stamp)", lc->tok[i].text);
        }
    }
    a->kind = REPLAY_ACT_PING;
    a->seq = (uint16_t)seq;
    if (ping_payload(lc, a, (size_t)size))
        return -1;
    return stamp ? put_stamp(lc, a, stamp) : 0;
}

static int parse_hex_payload(struct line_ctx *lc, struct replay_action *a, const char *hex)
{
    size_t n = strlen(hex);
    if (n % 2)
        return fail(lc, "hex payload needs an even number of digits");
    if (set_payload(lc, a, NULL, n / 2))
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = case_hexval(hex[2 * i]), lo = case_hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return fail(lc, "'%s' is not hex", hex);
        a->payload[i] = (uint8_t)(hi * 16 + lo);
    }
    return 0;
}

/* The payload of udp-send and tcp-send: "text", hex HEX or size N, and nothing after it. */
static int udp_payload(struct line_ctx *lc, struct replay_action *a, unsigned i)
{
    if (i >= lc->n)
        return fail(lc, "%s needs a payload: \"text\", hex HEX or size N", lc->tok[2].text);
    if (lc->tok[i].quoted)
        return i + 1 == lc->n ? set_payload(lc, a, (const uint8_t *)lc->tok[i].text, lc->tok[i].len)
                              : fail(lc, "nothing may follow the payload");
    const char *v = want(lc, i + 1, "a value after hex/size");
    if (!v)
        return -1;
    if (i + 2 != lc->n)
        return fail(lc, "nothing may follow the payload");
    if (strcmp(lc->tok[i].text, "hex") == 0)
        return parse_hex_payload(lc, a, v);
    if (strcmp(lc->tok[i].text, "size") == 0) {
        uint64_t size;
        if (parse_uint(lc, v, MAX_PAYLOAD, "size", &size))
            return -1;
        return ping_payload(lc, a, (size_t)size);
    }
    return fail(lc, "%s payload is \"text\", hex HEX or size N, not '%s'", lc->tok[2].text, lc->tok[i].text);
}

static int act_udp_send(struct line_ctx *lc, struct replay_action *a)
{
    const char *dst = want(lc, 3, "ADDR:PORT");
    uint64_t v;
    if (!dst || case_parse_endpoint(lc, dst, &a->dst, &a->dport))
        return -1;
    a->kind = REPLAY_ACT_UDP_SEND;
    unsigned i = 4;
    if (i < lc->n && !lc->tok[i].quoted && strcmp(lc->tok[i].text, "from") == 0) {
        const char *p = want(lc, i + 1, "a local port after 'from'");
        if (!p || parse_uint(lc, p, 65535, "local port", &v))
            return -1;
        a->sport = (uint16_t)v;
        i += 2;
    }
    return udp_payload(lc, a, i);
}


/* ---- TCP ----------------------------------------------------------------------------------- */

static int int_option(struct line_ctx *lc, unsigned *i, const char *what, uint64_t max, int *out)
{
    const char *v = want(lc, ++*i, "a value after each option");
    uint64_t n;
    if (!v || parse_uint(lc, v, max, what, &n))
        return -1;
    *out = (int)n;
    return 0;
}

/* The socket options of tcp-listen and tcp-connect, from token i on. */
static int tcp_options(struct line_ctx *lc, unsigned i, struct replay_tcp_opts *o)
{
    for (; i < lc->n; i++) {
        const char *k = lc->tok[i].text;
        int rc = 0;
        if (strcmp(k, "nodelay") == 0) {
            o->nodelay = true;
        } else if (strcmp(k, "no-read") == 0) {
            o->no_read = true;
        } else if (strcmp(k, "reno") == 0) {
            o->reno = true;
        } else if (strcmp(k, "once") == 0) {
            o->once = true;
        } else if (strcmp(k, "keepalive") == 0) {
            o->keepalive = true;
            rc = int_option(lc, &i, "keepalive idle seconds", 86400, &o->keepidle);
            rc = rc ? rc : int_option(lc, &i, "keepalive interval seconds", 86400, &o->keepintvl);
            rc = rc ? rc : int_option(lc, &i, "keepalive probe count", 127, &o->keepcnt);
            if (rc == 0 && (o->keepidle == 0 || o->keepintvl == 0 || o->keepcnt == 0))
                return fail(lc, "keepalive IDLE INTVL CNT are all at least 1");
        } else if (strcmp(k, "rcvbuf") == 0) {
            rc = int_option(lc, &i, "rcvbuf", MAX_SOCKET_BUFFER, &o->rcvbuf);
        } else if (strcmp(k, "sndbuf") == 0) {
            rc = int_option(lc, &i, "sndbuf", MAX_SOCKET_BUFFER, &o->sndbuf);
        } else if (strcmp(k, "maxseg") == 0) {
            rc = int_option(lc, &i, "maxseg", 65535, &o->maxseg);
        } else if (strcmp(k, "backlog") == 0) {
            rc = int_option(lc, &i, "backlog", 4096, &o->backlog);
        } else {
            return fail(lc, "unknown TCP option '%s' (nodelay, no-read, reno, once, keepalive IDLE INTVL CNT, "
                            "rcvbuf N, sndbuf N, maxseg N, backlog N)", k);
        }
        if (rc)
            return -1;
    }
    return 0;
}

static int act_tcp_listen(struct line_ctx *lc, struct replay_action *a)
{
    const char *port = want(lc, 3, "a port");
    uint64_t v;
    if (!port || parse_uint(lc, port, 65535, "port", &v))
        return -1;
    a->kind = REPLAY_ACT_TCP_LISTEN;
    a->dport = (uint16_t)v;
    return tcp_options(lc, 4, &a->tcp);
}

static int act_tcp_connect(struct line_ctx *lc, struct replay_action *a)
{
    const char *dst = want(lc, 3, "ADDR:PORT");
    if (!dst || case_parse_endpoint(lc, dst, &a->dst, &a->dport))
        return -1;
    a->kind = REPLAY_ACT_TCP_CONNECT;
    unsigned i = 4;
    if (i < lc->n && strcmp(lc->tok[i].text, "from") == 0) {
        const char *p = want(lc, i + 1, "a local port after 'from'");
        uint64_t v;
        if (!p || parse_uint(lc, p, 65535, "local port", &v))
            return -1;
        a->sport = (uint16_t)v;
        i += 2;
    }
    return tcp_options(lc, i, &a->tcp);
}

uint8_t replay_pattern_byte(uint64_t k)
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    return (uint8_t)alphabet[k % 61];
}

/* tcp-send-bytes N (byte i is i & 0xff) and tcp-send-pattern N (the stream pattern, from where it stands). */
static int act_tcp_send_count(struct line_ctx *lc, struct replay_action *a, bool pattern)
{
    const char *n = want(lc, 3, "a byte count");
    uint64_t v;
    if (!n || parse_uint(lc, n, MAX_TCP_SEND, "byte count", &v))
        return -1;
    if (lc->n > 4)
        return fail(lc, "nothing may follow the byte count");
    a->kind = REPLAY_ACT_TCP_SEND;
    if (!pattern)
        return ping_payload(lc, a, (size_t)v);
    a->pattern = true;
    a->payload_len = (size_t)v;
    return 0;
}

static int act_tcp_shutdown(struct line_ctx *lc, struct replay_action *a)
{
    const char *how = want(lc, 3, "wr, rd or rdwr");
    if (!how)
        return -1;
    a->kind = REPLAY_ACT_TCP_SHUTDOWN;
    if (strcmp(how, "wr") == 0)
        a->how = TS_SHUT_WR;
    else if (strcmp(how, "rd") == 0)
        a->how = TS_SHUT_RD;
    else if (strcmp(how, "rdwr") == 0)
        a->how = TS_SHUT_RDWR;
    else
        return fail(lc, "tcp-shutdown takes wr, rd or rdwr, not '%s'", how);
    return lc->n > 4 ? fail(lc, "nothing may follow wr/rd/rdwr") : 0;
}

static int act_tcp_read(struct line_ctx *lc, struct replay_action *a)
{
    a->kind = REPLAY_ACT_TCP_READ;
    if (lc->n == 3)
        return 0;
    uint64_t v;
    if (parse_uint(lc, lc->tok[3].text, MAX_TCP_SEND, "byte count", &v))
        return -1;
    if (v == 0)
        return fail(lc, "tcp-read N reads at least one byte (leave N out to read everything)");
    a->read_max = (size_t)v;
    return lc->n > 4 ? fail(lc, "nothing may follow the byte count") : 0;
}

static int bare(struct line_ctx *lc, struct replay_action *a, enum replay_action_kind kind)
{
    a->kind = kind;
    return lc->n > 3 ? fail(lc, "%s takes nothing more", lc->tok[2].text) : 0;
}

int case_parse_action(struct line_ctx *lc, struct replay_action *a)
{
    const char *what = lc->tok[2].text;
    if (strcmp(what, "ping") == 0)
        return act_ping(lc, a);
    if (strcmp(what, "udp-send") == 0)
        return act_udp_send(lc, a);
    if (strcmp(what, "tcp-listen") == 0)
        return act_tcp_listen(lc, a);
    if (strcmp(what, "tcp-connect") == 0)
        return act_tcp_connect(lc, a);
    if (strcmp(what, "tcp-send") == 0) {
        a->kind = REPLAY_ACT_TCP_SEND;
        return udp_payload(lc, a, 3);
    }
    if (strcmp(what, "tcp-send-bytes") == 0)
        return act_tcp_send_count(lc, a, false);
    if (strcmp(what, "tcp-send-pattern") == 0)
        return act_tcp_send_count(lc, a, true);
    if (strcmp(what, "tcp-shutdown") == 0)
        return act_tcp_shutdown(lc, a);
    if (strcmp(what, "tcp-close") == 0)
        return bare(lc, a, REPLAY_ACT_TCP_CLOSE);
    if (strcmp(what, "tcp-abort") == 0)
        return bare(lc, a, REPLAY_ACT_TCP_ABORT);
    if (strcmp(what, "tcp-read") == 0)
        return act_tcp_read(lc, a);
    if (strcmp(what, "expect-state") == 0) {
        const char *st = want(lc, 3, "a TCP state");
        a->kind = REPLAY_ACT_EXPECT_STATE;
        if (!st || case_parse_tcp_state(lc, st, &a->state))
            return -1;
        return lc->n > 4 ? fail(lc, "nothing may follow the state") : 0;
    }
    return fail(lc, "unknown action '%s' (ping, udp-send, tcp-listen, tcp-connect, tcp-send, tcp-send-bytes, "
                    "tcp-send-pattern, tcp-shutdown, tcp-close, tcp-abort, tcp-read, expect-state)", what);
}
