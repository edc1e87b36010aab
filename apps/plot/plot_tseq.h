/*
 * The time-sequence model: one direction of one connection, as tcptrace and
 * Wireshark's Stevens graph show it. Sequence numbers are relative to the
 * sender's ISN (its SYN at 0, so the first data byte is 1, as Wireshark counts)
 * and unwrapped to 64 bits; times are seconds after the capture's first frame.
 */
#ifndef TS_PLOT_TSEQ_H
#define TS_PLOT_TSEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plot_pcap.h"

/* A data segment from the sender: [seq, seq + len). */
struct tseq_seg {
    double t;
    int64_t seq;
    uint32_t len;
    bool retrans; /* it carries bytes an earlier segment carried */
    bool fill;    /* below the highest byte sent, but its bytes not seen before: the first copy was lost
                     before the capture point (a retransmission seen downstream of a loss), or reordered */
};

/* An acknowledgment from the receiver, and the right edge of the window it offers. */
struct tseq_ack {
    double t;
    int64_t ack;
    int64_t rwnd; /* ack + (window << the receiver's shift) */
};

/* One SACK block in an acknowledgment from the receiver: [left, right). */
struct tseq_sack {
    double t;
    int64_t left, right;
    int64_t ack; /* the cumulative ACK it came with */
    bool dsack; /* RFC 2883: reports a duplicate (below the ACK, or the first block inside the second) */
};

/* A SYN, FIN or RST from either side, at the sequence number it carries (the receiver's at its ACK number). */
struct tseq_mark {
    double t;
    int64_t seq;
    char kind;        /* 'S', 'F', 'R' */
    bool from_sender;
};

struct tseq_model {
    struct plot_endpoint sender, receiver;
    uint32_t isn;
    bool isn_from_syn;       /* false: no SYN from the sender in the capture, its first sequence number used */
    bool wscale_known;       /* both SYNs seen: the window scale is known (RFC 7323 2.2) */
    uint8_t receiver_shift;  /* applied to the receiver's windows after its SYN */
    struct tseq_seg *segs;
    size_t n_segs, n_retrans, n_fill;
    struct tseq_ack *acks;
    size_t n_acks;
    struct tseq_sack *sacks;
    size_t n_sacks;
    struct tseq_mark *marks;
    size_t n_marks;
    double t_min, t_max;     /* over everything drawn (the connection's segments) */
    int64_t seq_min, seq_max; /* over segments, ACKs, SACK blocks and marks */
    int64_t rwnd_max;         /* the window line's highest point (it may reach far above the data) */
};

/* Builds the model of the data sender -> receiver sends. Returns 0, or -1 when out of memory. */
int tseq_build(const struct plot_capture *cap, const struct plot_endpoint *sender,
               const struct plot_endpoint *receiver, struct tseq_model *m);
void tseq_free(struct tseq_model *m);

/* The side of conn that sent more payload (a when equal); *receiver gets the other. */
void tseq_default_sender(const struct plot_conn *conn, struct plot_endpoint *sender, struct plot_endpoint *receiver);

#endif
