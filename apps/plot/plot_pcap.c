/* Reading a capture into TCP segments and grouping them into connections (see plot_pcap.h). */
#define _DEFAULT_SOURCE /* libpcap's headers use u_char and u_int */
#include "plot_pcap.h"

#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ETH_HDR_LEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_VLAN 0x8100
#define IP_PROTO_TCP 6
#define TCP_OPT_EOL 0
#define TCP_OPT_NOP 1
#define TCP_OPT_WSCALE 3
#define TCP_OPT_SACK 5

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Window scale and SACK blocks; other options are skipped by their length. A malformed list
   ends the walk: what was read before it stands (the segment itself is still plotted). */
static void parse_options(const uint8_t *p, size_t len, struct plot_pkt *out)
{
    size_t i = 0;
    while (i < len) {
        uint8_t kind = p[i];
        if (kind == TCP_OPT_EOL)
            return;
        if (kind == TCP_OPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= len || p[i + 1] < 2 || i + p[i + 1] > len)
            return;
        size_t olen = p[i + 1];
        const uint8_t *body = p + i + 2;
        if (kind == TCP_OPT_WSCALE && olen == 3) {
            out->has_wscale = true;
            /* RFC 7323 2.3: a shift above 14 is taken as 14. */
            out->wscale = body[0] > 14 ? 14 : body[0];
        } else if (kind == TCP_OPT_SACK && olen >= 10 && (olen - 2) % 8 == 0) {
            /* RFC 2018 3: 8 bytes per block, left edge then right edge. */
            out->sack_count = 0;
            for (size_t b = 0; b < (olen - 2) / 8 && b < PLOT_MAX_SACK; b++) {
                out->sack[b].left = get32(body + 8 * b);
                out->sack[b].right = get32(body + 8 * b + 4);
                out->sack_count++;
            }
        }
        i += olen;
    }
}

int plot_parse_frame(const uint8_t *frame, size_t caplen, size_t wirelen, struct plot_pkt *out)
{
    if (caplen < ETH_HDR_LEN || wirelen < caplen)
        return caplen < ETH_HDR_LEN ? -1 : 0;
    size_t off = ETH_HDR_LEN;
    uint16_t type = get16(frame + 12);
    if (type == ETHERTYPE_VLAN) {
        if (caplen < ETH_HDR_LEN + 4)
            return -1;
        type = get16(frame + 16);
        off += 4;
    }
    if (type != ETHERTYPE_IPV4)
        return 0;
    const uint8_t *ip = frame + off;
    size_t ip_cap = caplen - off, ip_wire = wirelen - off;
    if (ip_cap < 20 || (ip[0] >> 4) != 4)
        return -1;
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
    size_t total = get16(ip + 2);
    /* RFC 791 3.1: the header is at least 20 bytes and within the datagram, which must fit the frame. */
    if (ihl < 20 || ihl > ip_cap || total < ihl || total > ip_wire)
        return -1;
    if (ip[9] != IP_PROTO_TCP)
        return 0;
    if ((get16(ip + 6) & 0x3fff) != 0)
        return 0; /* a fragment: not reassembled here */
    const uint8_t *tcp = ip + ihl;
    size_t tcp_len = total - ihl;
    size_t tcp_cap = (total < ip_cap ? total : ip_cap) - ihl;
    if (tcp_len < 20 || tcp_cap < 20)
        return -1;
    size_t doff = (size_t)(tcp[12] >> 4) * 4;
    if (doff < 20 || doff > tcp_len || doff > tcp_cap)
        return -1;
    memset(out, 0, sizeof *out);
    out->src.addr = get32(ip + 12);
    out->dst.addr = get32(ip + 16);
    out->src.port = get16(tcp);
    out->dst.port = get16(tcp + 2);
    out->seq = get32(tcp + 4);
    out->ack = get32(tcp + 8);
    out->flags = tcp[13];
    out->window = get16(tcp + 14);
    out->len = (uint32_t)(tcp_len - doff);
    parse_options(tcp + 20, doff - 20, out);
    return 1;
}

static int capture_push(struct plot_capture *cap, const struct plot_pkt *p)
{
    if (cap->count == cap->cap) {
        size_t n = cap->cap ? cap->cap * 2 : 256;
        struct plot_pkt *grown = realloc(cap->pkts, n * sizeof *grown);
        if (grown == NULL)
            return -1;
        cap->pkts = grown;
        cap->cap = n;
    }
    cap->pkts[cap->count++] = *p;
    return 0;
}

static int read_frames(pcap_t *pc, struct plot_capture *cap, char *err, size_t errlen)
{
    struct pcap_pkthdr *h;
    const u_char *data;
    long first_sec = 0, first_usec = 0;
    int rc;
    while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
        if (cap->frames++ == 0) {
            first_sec = (long)h->ts.tv_sec;
            first_usec = (long)h->ts.tv_usec;
        }
        struct plot_pkt p;
        int kind = plot_parse_frame(data, h->caplen, h->len, &p);
        if (kind == 0)
            cap->not_tcp++;
        if (kind < 0)
            cap->malformed++;
        if (kind != 1)
            continue;
        p.t = (double)((long)h->ts.tv_sec - first_sec) + (double)((long)h->ts.tv_usec - first_usec) / 1e6;
        if (capture_push(cap, &p) != 0) {
            snprintf(err, errlen, "out of memory after %zu segments", cap->count);
            return -1;
        }
    }
    if (rc == PCAP_ERROR) {
        snprintf(err, errlen, "frame %zu: %s", cap->frames + 1, pcap_geterr(pc));
        return -1;
    }
    return 0;
}

int plot_capture_read(const char *path, struct plot_capture *cap, char *err, size_t errlen)
{
    memset(cap, 0, sizeof *cap);
    char pcap_err[PCAP_ERRBUF_SIZE] = "";
    pcap_t *pc = pcap_open_offline(path, pcap_err);
    if (pc == NULL) {
        snprintf(err, errlen, "%s: %s", path, pcap_err);
        return -1;
    }
    int link = pcap_datalink(pc);
    if (link != DLT_EN10MB) {
        const char *name = pcap_datalink_val_to_name(link);
        snprintf(err, errlen, "%s: link type %d (%s) is not Ethernet; only Ethernet captures are read", path, link,
                 name != NULL ? name : "unknown");
        pcap_close(pc);
        return -1;
    }
    char why[PCAP_ERRBUF_SIZE + 64];
    int rc = read_frames(pc, cap, why, sizeof why);
    pcap_close(pc);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        plot_capture_free(cap);
        return -1;
    }
    return 0;
}

void plot_capture_free(struct plot_capture *cap)
{
    free(cap->pkts);
    memset(cap, 0, sizeof *cap);
}

bool plot_endpoint_parse(const char *text, size_t len, struct plot_endpoint *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *colon = strrchr(buf, ':');
    if (colon == NULL || colon[1] == '\0')
        return false;
    *colon = '\0';
    struct in_addr in;
    if (inet_pton(AF_INET, buf, &in) != 1)
        return false;
    unsigned long port = 0;
    for (const char *d = colon + 1; *d != '\0'; d++) {
        if (*d < '0' || *d > '9')
            return false;
        port = port * 10 + (unsigned long)(*d - '0');
        if (port > 65535)
            return false;
    }
    out->addr = ntohl(in.s_addr);
    out->port = (uint16_t)port;
    return true;
}

char *plot_endpoint_format(const struct plot_endpoint *e, char *buf)
{
    snprintf(buf, 22, "%u.%u.%u.%u:%u", e->addr >> 24, (e->addr >> 16) & 0xff, (e->addr >> 8) & 0xff, e->addr & 0xff,
             e->port);
    return buf;
}

bool plot_endpoint_equal(const struct plot_endpoint *x, const struct plot_endpoint *y)
{
    return x->addr == y->addr && x->port == y->port;
}

bool plot_conn_spec_parse(const char *spec, struct plot_endpoint *x, struct plot_endpoint *y)
{
    const char *dash = strchr(spec, '-');
    if (dash == NULL)
        return false;
    return plot_endpoint_parse(spec, (size_t)(dash - spec), x) && plot_endpoint_parse(dash + 1, strlen(dash + 1), y);
}

static bool conn_matches(const struct plot_conn *c, const struct plot_endpoint *x, const struct plot_endpoint *y)
{
    return (plot_endpoint_equal(&c->a, x) && plot_endpoint_equal(&c->b, y)) ||
           (plot_endpoint_equal(&c->a, y) && plot_endpoint_equal(&c->b, x));
}

/* O(segments x connections): captures worth plotting hold few connections. */
size_t plot_conns_list(const struct plot_capture *cap, struct plot_conn **out)
{
    struct plot_conn *conns = NULL;
    size_t n = 0, room = 0;
    for (size_t i = 0; i < cap->count; i++) {
        const struct plot_pkt *p = &cap->pkts[i];
        size_t k = 0;
        while (k < n && !conn_matches(&conns[k], &p->src, &p->dst))
            k++;
        if (k == n) {
            if (n == room) {
                room = room ? room * 2 : 8;
                struct plot_conn *grown = realloc(conns, room * sizeof *grown);
                if (grown == NULL) {
                    free(conns);
                    return (size_t)-1;
                }
                conns = grown;
            }
            conns[n++] = (struct plot_conn){.a = p->src, .b = p->dst};
        }
        conns[k].segments++;
        if (plot_endpoint_equal(&conns[k].a, &p->src))
            conns[k].bytes_ab += p->len;
        else
            conns[k].bytes_ba += p->len;
    }
    *out = conns;
    return n;
}

int plot_conn_select(const struct plot_capture *cap, const char *spec, struct plot_conn *out, char *err,
                     size_t errlen)
{
    struct plot_endpoint x, y;
    if (spec != NULL && !plot_conn_spec_parse(spec, &x, &y)) {
        snprintf(err, errlen, "--conn '%s': expected A.B.C.D:PORT-E.F.G.H:PORT", spec);
        return -1;
    }
    struct plot_conn *conns;
    size_t n = plot_conns_list(cap, &conns);
    if (n == (size_t)-1) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (n == 0) {
        snprintf(err, errlen, "no IPv4 TCP segment in the capture (%zu frames)", cap->frames);
        free(conns);
        return -1;
    }
    size_t best = n;
    for (size_t k = 0; k < n && (spec == NULL || best == n); k++) {
        if (spec != NULL) {
            if (conn_matches(&conns[k], &x, &y))
                best = k;
        } else if (best == n || conns[k].bytes_ab + conns[k].bytes_ba > conns[best].bytes_ab + conns[best].bytes_ba) {
            best = k;
        }
    }
    if (best == n) {
        char xs[22], ys[22], a[22], b[22];
        snprintf(err, errlen, "--conn %s-%s: no such connection in the capture (%zu connection%s; the first: %s-%s)",
                 plot_endpoint_format(&x, xs), plot_endpoint_format(&y, ys), n, n == 1 ? "" : "s",
                 plot_endpoint_format(&conns[0].a, a), plot_endpoint_format(&conns[0].b, b));
        free(conns);
        return -1;
    }
    *out = conns[best];
    free(conns);
    return 0;
}
