/*
 * ts-plot's capture side: reads a pcap file (Ethernet, IPv4, TCP) with libpcap
 * into a flat list of TCP segments, and groups them into connections.
 *
 * The parsing is ts-plot's own rather than the core's stack/wire parsers
 * because a plotter must not drop what the core would: a segment with a bad
 * checksum or one cut short by the capture's snap length is still a point on
 * the graph (its length is taken from the IP header, bounded by the length on
 * the wire). Every length field is checked against the bytes that are there.
 */
#ifndef TS_PLOT_PCAP_H
#define TS_PLOT_PCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PLOT_TCP_FIN 0x01
#define PLOT_TCP_SYN 0x02
#define PLOT_TCP_RST 0x04
#define PLOT_TCP_ACK 0x10
#define PLOT_MAX_SACK 4

struct plot_endpoint {
    uint32_t addr; /* host order */
    uint16_t port;
};

struct plot_sack {
    uint32_t left, right;
};

/* One TCP segment as the capture shows it; numbers as on the wire (host order). */
struct plot_pkt {
    double t; /* seconds after the capture's first frame */
    struct plot_endpoint src, dst;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t window; /* unscaled */
    uint32_t len;    /* payload bytes, from the IP total length */
    bool has_wscale;
    uint8_t wscale;
    uint8_t sack_count;
    struct plot_sack sack[PLOT_MAX_SACK];
};

struct plot_capture {
    struct plot_pkt *pkts;
    size_t count, cap;
    size_t frames;       /* every frame read */
    size_t not_tcp;      /* frames that are not IPv4/TCP (ARP, ICMP, UDP, fragments ...) */
    size_t malformed;    /* IPv4/TCP frames whose lengths do not add up */
};

/* A connection: both directions of one address/port pair. a sent the first segment seen. */
struct plot_conn {
    struct plot_endpoint a, b;
    uint64_t bytes_ab, bytes_ba; /* payload bytes each way, retransmissions included */
    size_t segments;
};

/*
 * Parses one Ethernet frame (caplen bytes present, wirelen on the wire). Returns
 * 1 for an IPv4 TCP segment (filled into *out, t left alone), 0 for any other
 * well-formed frame or a non-first fragment, -1 for a malformed IPv4/TCP one.
 */
int plot_parse_frame(const uint8_t *frame, size_t caplen, size_t wirelen, struct plot_pkt *out);

/* Reads a whole pcap file. Returns 0, or -1 with a message in err (missing file, not a pcap,
   not Ethernet, truncated). */
int plot_capture_read(const char *path, struct plot_capture *cap, char *err, size_t errlen);
void plot_capture_free(struct plot_capture *cap);

/* "A.B.C.D:P" */
bool plot_endpoint_parse(const char *text, size_t len, struct plot_endpoint *out);
/* "A.B.C.D:P"; buf of at least 22 bytes. */
char *plot_endpoint_format(const struct plot_endpoint *e, char *buf);
bool plot_endpoint_equal(const struct plot_endpoint *x, const struct plot_endpoint *y);
/* "A.B.C.D:P-E.F.G.H:Q" (either order names the same connection). */
bool plot_conn_spec_parse(const char *spec, struct plot_endpoint *x, struct plot_endpoint *y);

/*
 * Lists the connections of a capture in the order they were first seen (*out is
 * malloc'd; the caller frees it). Returns the count, or (size_t)-1 when out of memory.
 */
size_t plot_conns_list(const struct plot_capture *cap, struct plot_conn **out);

/*
 * Picks a connection: the one spec names (NULL: the one that carried the most
 * payload, the earliest of equals). Returns 0, or -1 with a message in err
 * (no TCP at all, a malformed spec, no such connection).
 */
int plot_conn_select(const struct plot_capture *cap, const char *spec, struct plot_conn *out, char *err,
                     size_t errlen);

#endif
