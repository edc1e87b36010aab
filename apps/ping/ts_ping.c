/*
 * ts-ping: ICMP echo over tapstack, through a ping socket
 * (ts_socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)), printing what iputils ping prints.
 *
 * We write the echo request (RFC 792: type 8, code 0, identifier, sequence
 * number, data); the stack sets the identifier to the socket's own and fills
 * the checksum, and hands us only the replies carrying that identifier.
 * Like iputils, the data starts with the send time (a struct timeval) and the
 * other bytes hold their own offset, so a reply can be checked byte for byte.
 * Replies are read with ts_recvmsg and IP_RECVTTL, so each reply line shows
 * the TTL its IP header arrived with, where iputils shows it.
 *
 * Exit status, as iputils: 0 if any reply came back, 1 if none, 2 on errors.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>

#include "ts_app.h"

#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
#define ICMP_HEADER_LEN 8
#define IPV4_HEADER_LEN 20
#define PING_MAX_DATA (65535 - IPV4_HEADER_LEN - ICMP_HEADER_LEN)
#define SEQ_SLOTS 65536 /* one per 16-bit sequence number */
#define EXIT_NO_REPLY 1
#define RXBUF_LEN (ICMP_HEADER_LEN + PING_MAX_DATA + 1)
#define TTL_UNKNOWN (-1)

struct ping_args {
    ts_ipv4_addr host;
    const char *host_text;
    uint64_t count;    /* 0 = until interrupted */
    size_t data_len;   /* -s */
    ts_time interval;  /* -i */
    ts_time linger;    /* -W: how long to wait for replies when none has come yet */
};

struct ping_run {
    const struct ping_args *args;
    const struct ts_app *app;
    int fd;
    uint8_t *packet;         /* the request being built, header + data */
    uint8_t *rxbuf;          /* one reply, header + data, plus a byte to see oversize ones */
    ts_time *sent_at;        /* monotonic send time per sequence number, 0 = not outstanding */
    uint8_t *answered;       /* per sequence number: a reply came (for DUP! detection) */
    uint64_t transmitted, received, duplicates, errors;
    ts_time first_send, last_send;
    ts_time rtt_min, rtt_max;
    double rtt_sum, rtt_sum_sq;
};

/* ---- arguments --------------------------------------------------------------- */

static const struct ts_app_desc ping_desc_template = {
    .name = "ts-ping",
    .usage = "[OPTIONS] HOST",
    .summary = "Send ICMP echo requests to HOST (an IPv4 address) from a tapstack instance.",
    .app_help = "  -c COUNT             stop after COUNT requests (default: until interrupted)\n"
                "  -s SIZE              bytes of data per request (default 56, at most 65507)\n"
                "  -i INTERVAL          seconds between requests (default 1, e.g. 0.2)\n"
                "  -W TIMEOUT           seconds to wait for replies after the last request\n"
                "                       when none has come yet (default 10)\n"
                "Exit status: 0 if any reply came back, 1 if none did, 2 on errors.\n",
    .default_addr = "10.0.0.2/24",
    .short_opts = "c:s:i:W:",
    .long_opts = NULL,
};

static int handle_ping_option(void *ctx, int opt, const char *arg)
{
    struct ping_args *a = ctx;
    const struct ts_app_desc *d = &ping_desc_template;
    uint64_t v = 0;
    switch (opt) {
    case 0:
        if (a->host_text != NULL)
            return ts_app_usage_error(d, "only one HOST, got '%s' and '%s'", a->host_text, arg);
        if (ts_app_parse_ipv4(arg, &a->host) < 0)
            return ts_app_usage_error(d, "HOST '%s': expected an IPv4 address A.B.C.D (no name lookup)", arg);
        a->host_text = arg;
        return 0;
    case 'c':
        if (ts_app_parse_u64(arg, UINT32_MAX, &v) < 0 || v == 0)
            return ts_app_usage_error(d, "-c '%s': expected a count of 1 or more", arg);
        a->count = v;
        return 0;
    case 's':
        if (ts_app_parse_u64(arg, PING_MAX_DATA, &v) < 0)
            return ts_app_usage_error(d, "-s '%s': expected a size of 0..%d bytes", arg, PING_MAX_DATA);
        a->data_len = (size_t)v;
        return 0;
    case 'i':
        if (ts_app_parse_seconds(arg, 0, TS_SEC(3600), &a->interval) < 0)
            return ts_app_usage_error(d, "-i '%s': expected seconds between 0 and 3600, e.g. 0.2", arg);
        return 0;
    case 'W':
        if (ts_app_parse_seconds(arg, TS_MSEC(1), TS_SEC(3600), &a->linger) < 0)
            return ts_app_usage_error(d, "-W '%s': expected seconds between 0.001 and 3600", arg);
        return 0;
    default:
        return ts_app_usage_error(d, "unexpected option %d", opt);
    }
}

/* ---- building and checking packets ------------------------------------------------ */

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void build_request(struct ping_run *r, uint16_t seq)
{
    uint8_t *p = r->packet;
    size_t data_len = r->args->data_len;
    p[0] = ICMP_ECHO_REQUEST;
    p[1] = 0;
    put_u16(p + 2, 0); /* checksum: the stack fills it */
    put_u16(p + 4, 0); /* identifier: the stack sets the socket's own */
    put_u16(p + 6, seq);
    uint8_t *data = p + ICMP_HEADER_LEN;
    for (size_t i = 0; i < data_len; i++)
        data[i] = (uint8_t)i;
    /* As iputils: a wall-clock timestamp opens the data when there is room for it. */
    struct timeval tv;
    if (data_len >= sizeof tv) {
        gettimeofday(&tv, NULL);
        memcpy(data, &tv, sizeof tv);
    }
}

/* Offset of the first data byte that differs from what we sent, or -1. */
static long first_wrong_byte(const uint8_t *data, size_t len)
{
    for (size_t i = sizeof(struct timeval); i < len; i++)
        if (data[i] != (uint8_t)i)
            return (long)i;
    return -1;
}

/* ---- output ------------------------------------------------------------------ */

/* iputils prints fewer decimals as the time grows. */
static void format_rtt(ts_time rtt, char *buf, size_t cap)
{
    double ms = (double)rtt / 1000.0;
    if (ms >= 100.0)
        snprintf(buf, cap, "%.0f", ms);
    else if (ms >= 10.0)
        snprintf(buf, cap, "%.1f", ms);
    else if (ms >= 1.0)
        snprintf(buf, cap, "%.2f", ms);
    else
        snprintf(buf, cap, "%.3f", ms);
}

static void print_summary(const struct ping_run *r)
{
    printf("\n--- %s ping statistics ---\n", r->args->host_text);
    printf("%" PRIu64 " packets transmitted, %" PRIu64 " received", r->transmitted, r->received);
    if (r->duplicates > 0)
        printf(", +%" PRIu64 " duplicates", r->duplicates);
    if (r->errors > 0)
        printf(", +%" PRIu64 " errors", r->errors);
    if (r->transmitted > 0) {
        double loss = (double)(r->transmitted - r->received) * 100.0 / (double)r->transmitted;
        ts_time span = r->last_send - r->first_send;
        printf(", %g%% packet loss, time %" PRId64 "ms", loss, (span + 500) / 1000);
    }
    putchar('\n');
    if (r->received > 0) {
        double n = (double)r->received;
        double avg = r->rtt_sum / n;
        double var = r->rtt_sum_sq / n - avg * avg;
        double mdev = var > 0 ? sqrt(var) : 0.0;
        printf("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", (double)r->rtt_min / 1000.0, avg / 1000.0,
               (double)r->rtt_max / 1000.0, mdev / 1000.0);
    }
    fflush(stdout);
}

/* ---- the exchange ------------------------------------------------------------------ */

static struct sockaddr_in host_sockaddr(ts_ipv4_addr host)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(host);
    return sin;
}

static void send_request(struct ping_run *r, ts_time now)
{
    uint16_t seq = (uint16_t)((r->transmitted + 1) & 0xffffu); /* iputils numbers from 1 */
    build_request(r, seq);
    struct sockaddr_in to = host_sockaddr(r->args->host);
    if (r->transmitted == 0)
        r->first_send = now;
    r->last_send = now;
    r->transmitted++;
    r->sent_at[seq] = now;
    r->answered[seq] = 0;
    size_t len = ICMP_HEADER_LEN + r->args->data_len;
    if (ts_sendto(r->fd, r->packet, len, 0, (const struct sockaddr *)&to, sizeof to) < 0) {
        r->errors++;
        r->sent_at[seq] = 0;
        fprintf(stderr, "ts-ping: sendto: %s\n", strerror(errno));
    }
}

/* The oldest request still waiting for its reply: where an asynchronous error most likely belongs. */
static uint16_t oldest_outstanding_seq(const struct ping_run *r)
{
    uint64_t first = r->transmitted > SEQ_SLOTS ? r->transmitted - SEQ_SLOTS + 1 : 1;
    for (uint64_t n = first; n <= r->transmitted; n++) {
        uint16_t seq = (uint16_t)(n & 0xffffu);
        if (r->sent_at[seq] != 0 && !r->answered[seq])
            return seq;
    }
    return (uint16_t)(r->transmitted & 0xffffu);
}

static void report_async_error(struct ping_run *r, int err)
{
    char self[16];
    uint16_t seq = oldest_outstanding_seq(r);
    const char *what = err == EHOSTUNREACH ? "Destination Host Unreachable"
                       : err == ENETUNREACH ? "Destination Net Unreachable"
                                            : strerror(err);
    r->errors++;
    r->sent_at[seq] = 0; /* no reply will be counted for it any more */
    printf("From %s icmp_seq=%u %s\n", ts_app_format_ipv4(r->app->opt.addr, self), seq, what);
    fflush(stdout);
}

/* One received reply: its bytes and what came with them. */
struct ping_reply {
    const uint8_t *pkt;
    size_t len;
    ts_time now;
    struct sockaddr_in from;
    int ttl; /* from the IP_TTL control message, or TTL_UNKNOWN */
};

static void handle_reply(struct ping_run *r, const struct ping_reply *reply)
{
    const uint8_t *pkt = reply->pkt;
    size_t len = reply->len;
    if (len < ICMP_HEADER_LEN || pkt[0] != ICMP_ECHO_REPLY)
        return;
    uint16_t seq = get_u16(pkt + 6);
    if (r->sent_at[seq] == 0)
        return; /* not a request we are waiting for (timed out, failed, or never sent) */
    char src[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reply->from.sin_addr, src, sizeof src);
    ts_time rtt = reply->now - r->sent_at[seq];
    char rtt_text[32];
    format_rtt(rtt, rtt_text, sizeof rtt_text);
    bool dup = r->answered[seq] != 0;
    if (dup) {
        r->duplicates++;
    } else {
        r->answered[seq] = 1;
        r->received++;
        if (r->received == 1 || rtt < r->rtt_min)
            r->rtt_min = rtt;
        if (rtt > r->rtt_max)
            r->rtt_max = rtt;
        r->rtt_sum += (double)rtt;
        r->rtt_sum_sq += (double)rtt * (double)rtt;
    }
    /* iputils: "64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time=0.273 ms", ttl= left out when unknown. */
    printf("%zu bytes from %s: icmp_seq=%u", len, src, seq);
    if (reply->ttl != TTL_UNKNOWN)
        printf(" ttl=%d", reply->ttl);
    printf(" time=%s ms%s\n", rtt_text, dup ? " (DUP!)" : "");
    long wrong = first_wrong_byte(pkt + ICMP_HEADER_LEN, len - ICMP_HEADER_LEN);
    if (len != ICMP_HEADER_LEN + r->args->data_len)
        printf("  (%zu bytes of data, sent %zu)\n", len - ICMP_HEADER_LEN, r->args->data_len);
    else if (wrong >= 0)
        printf("  wrong data byte #%ld should be 0x%x but was 0x%x\n", wrong, (unsigned)(uint8_t)wrong,
               (unsigned)pkt[ICMP_HEADER_LEN + wrong]);
    fflush(stdout);
}

/* The TTL the IP_TTL control message carries, or TTL_UNKNOWN if there is none. */
static int ttl_from_cmsgs(struct msghdr *msg)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_TTL || c->cmsg_len < CMSG_LEN(sizeof(int)))
            continue;
        int ttl;
        memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
        return ttl;
    }
    return TTL_UNKNOWN;
}

/* Takes one reply into r->rxbuf without waiting; ts_recvmsg's result. */
static ssize_t receive_reply(struct ping_run *r, struct ping_reply *reply)
{
    union {
        struct cmsghdr align;
        uint8_t bytes[CMSG_SPACE(sizeof(int))];
    } control;
    struct iovec iov = {.iov_base = r->rxbuf, .iov_len = RXBUF_LEN};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_name = &reply->from;
    msg.msg_namelen = sizeof reply->from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    ssize_t n = ts_recvmsg(r->fd, &msg, MSG_DONTWAIT);
    if (n < 0)
        return n;
    reply->pkt = r->rxbuf;
    reply->len = (size_t)n;
    reply->now = ts_monotonic_now();
    reply->ttl = ttl_from_cmsgs(&msg);
    return n;
}

/* Reads every reply that is ready; returns -1 on a failure of the socket itself. */
static int drain_replies(struct ping_run *r)
{
    for (int i = 0; i < 1000; i++) { /* bounded: the loop must come back to send and to look at signals */
        struct ping_reply reply;
        if (receive_reply(r, &reply) >= 0) {
            handle_reply(r, &reply);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        if (errno == EBADF || errno == ENOTSOCK || errno == EINVAL || errno == EFAULT || errno == EMSGSIZE) {
            fprintf(stderr, "ts-ping: recvmsg: %s\n", strerror(errno));
            return -1;
        }
        report_async_error(r, errno);
    }
    return 0;
}

static bool all_answered(const struct ping_run *r)
{
    return r->received + r->errors >= r->transmitted;
}

/* After the last request: until every reply is in, or, as iputils, twice the worst RTT
 * once a reply came (a lost one will not come), else the -W timeout. */
static ts_time end_deadline(const struct ping_run *r)
{
    if (r->received == 0)
        return r->last_send + r->args->linger;
    ts_time wait = 2 * r->rtt_max;
    if (wait < TS_MSEC(1))
        wait = TS_MSEC(1);
    if (wait > r->args->linger)
        wait = r->args->linger;
    return r->last_send + wait;
}

static int ping_loop(struct ping_run *r)
{
    const struct ping_args *a = r->args;
    ts_time next_send = ts_monotonic_now();
    while (!ts_app_stop_requested()) {
        ts_time now = ts_monotonic_now();
        bool more_to_send = a->count == 0 || r->transmitted < a->count;
        if (more_to_send && now >= next_send) {
            send_request(r, now);
            next_send += a->interval;
            if (next_send < now) /* a slow turn must not cause a burst of catch-up requests */
                next_send = now;
            more_to_send = a->count == 0 || r->transmitted < a->count;
        }
        if (!more_to_send && (all_answered(r) || now >= end_deadline(r)))
            return 0;
        ts_time wake = more_to_send ? next_send : end_deadline(r);
        ts_time wait = wake - now;
        if (wait > TS_MSEC(TS_APP_STOP_CHECK_MS))
            wait = TS_MSEC(TS_APP_STOP_CHECK_MS);
        struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
        int timeout_ms = wait <= 0 ? 0 : (int)((wait + 999) / 1000);
        if (ts_poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR) {
            fprintf(stderr, "ts-ping: poll: %s\n", strerror(errno));
            return -1;
        }
        if (drain_replies(r) < 0)
            return -1;
    }
    return 0;
}

static int run_ping(struct ts_app *app, const struct ping_args *args)
{
    struct ping_run r;
    memset(&r, 0, sizeof r);
    r.args = args;
    r.app = app;
    r.packet = calloc(1, ICMP_HEADER_LEN + PING_MAX_DATA);
    r.sent_at = calloc(SEQ_SLOTS, sizeof *r.sent_at);
    r.answered = calloc(SEQ_SLOTS, sizeof *r.answered);
    r.rxbuf = malloc(RXBUF_LEN);
    int status = TS_APP_EXIT_USAGE;
    if (r.packet == NULL || r.sent_at == NULL || r.answered == NULL || r.rxbuf == NULL) {
        fprintf(stderr, "ts-ping: out of memory\n");
        goto out;
    }
    r.fd = ts_socket_on(app->net, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    if (r.fd < 0) {
        fprintf(stderr, "ts-ping: cannot open a ping socket: %s\n", strerror(errno));
        goto out;
    }
    /* As iputils: without the option the replies still count, only their ttl= goes missing. */
    int on = 1;
    if (ts_setsockopt(r.fd, IPPROTO_IP, IP_RECVTTL, &on, sizeof on) < 0)
        fprintf(stderr, "ts-ping: WARNING: setsockopt(IP_RECVTTL): %s\n", strerror(errno));
    printf("PING %s (%s) %zu(%zu) bytes of data.\n", args->host_text, args->host_text, args->data_len,
           args->data_len + ICMP_HEADER_LEN + IPV4_HEADER_LEN);
    fflush(stdout);
    int rc = ping_loop(&r);
    ts_close(r.fd);
    print_summary(&r);
    status = rc < 0 ? TS_APP_EXIT_USAGE : r.received > 0 ? TS_APP_EXIT_OK : EXIT_NO_REPLY;
out:
    free(r.packet);
    free(r.sent_at);
    free(r.answered);
    free(r.rxbuf);
    return status;
}

int main(int argc, char **argv)
{
    struct ping_args args = {.data_len = 56, .interval = TS_SEC(1), .linger = TS_SEC(10)};
    struct ts_app_desc desc = ping_desc_template;
    desc.handle = handle_ping_option;
    desc.ctx = &args;

    struct ts_app app;
    int parsed = ts_app_parse(&desc, argc, argv, &app);
    if (parsed != TS_APP_PARSE_CONTINUE)
        return parsed;
    if (args.host_text == NULL) {
        ts_app_usage_error(&desc, "HOST is missing (try --help)");
        return TS_APP_EXIT_USAGE;
    }
    if (ts_app_start(&app) < 0)
        return TS_APP_EXIT_USAGE;
    int status = run_ping(&app, &args);
    ts_app_finish(&app);
    return status;
}
