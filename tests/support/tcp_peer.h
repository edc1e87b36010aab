/*
 * One stack, and a hand-driven TCP peer in front of it: the test plays the
 * peer, crafting each segment (fx_build_tcp) and checking each segment the
 * stack sends, on a virtual clock it advances deadline by deadline, so timer
 * driven segments carry the exact time they were sent.
 *
 *   stack 10.0.0.2 port TP_STACK_PORT   <->   peer 10.0.0.1 port TP_PEER_PORT
 *
 * Sequence numbers are absolute. The harness keeps the peer's next sequence
 * number (peer_nxt) and the stack's (stack_nxt: what the peer acknowledges),
 * but moves neither on its own except in the handshake helpers.
 * TS_TEST_TRACE=1 prints the stack's trace.
 */
#ifndef TS_TEST_TCP_PEER_H
#define TS_TEST_TCP_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core_fixture.h"
#include "wire/tcp.h"

#define TP_STACK_PORT 80
#define TP_PEER_PORT 40000
#define TP_PEER_ISS 0x1000u
/* The test's clock starts here, not at 0, so "time 0" is never mistaken for "unset". */
#define TP_START TS_SEC(1000)

/* A segment the stack sent, decoded (tcp_parse: the wire tests check that parser against Linux). */
struct tp_seg {
    ts_time when;
    struct tcp_hdr h;
    uint8_t data[1600];
    size_t len;
};

struct tp {
    struct fx f;
    bool live;               /* between tp_init and tp_fini: tp_fini on a tp that is not live does nothing */
    ts_time now;
    size_t next_frame;       /* the first frame in f.sent not yet examined */
    uint16_t peer_port, stack_port;
    uint32_t peer_iss, peer_nxt;
    uint32_t stack_iss, stack_nxt;
    uint16_t peer_window;    /* the window field the peer sends (already scaled down by the peer) */
    bool peer_ts;            /* the peer sends timestamps on every segment */
    uint32_t peer_ts_base;   /* the peer's TSval is peer_ts_base + now in ms */
    uint32_t ts_echo;        /* the latest TSval the stack sent: the peer's TSecr */
    ts_time handshake_rtt;   /* tp_open_passive/active answer the stack's SYN(,ACK) this much later */
    struct ts_pcb *listener;
    struct ts_pcb *pcb;      /* the connection under test */
};

/* A stack with cfg (NULL: the core fixture's defaults) that already knows the peer's MAC; now = TP_START. */
void tp_init(struct tp *t, const struct ts_stack_config *cfg);
/* The same over a link that advertises offloads (see fx_init_offload). */
void tp_init_offload(struct tp *t, const struct ts_stack_config *cfg, uint32_t offloads, size_t tso_max);
/* The same without putting the peer in the ARP table: the stack must resolve it (fx_build_arp answers). */
void tp_init_offload_unresolved(struct tp *t, const struct ts_stack_config *cfg, uint32_t offloads, size_t tso_max);
/* Checks that no packet buffer outlived the stack. */
/* Frees the stack (asserting no packet buffer is left); does nothing if t was never started or is already finished,
 * so a suite's .fini may call it whether or not the test started a peer. */
void tp_fini(struct tp *t);

/* The options of a Linux SYN (MSS 1460, SACK permitted, timestamps, window scale 7). */
struct fx_tcp_options tp_linux_syn_options(const struct tp *t);
/* The options the peer puts on an ordinary segment: timestamps if negotiated. */
struct fx_tcp_options tp_options(const struct tp *t);
uint32_t tp_peer_tsval(const struct tp *t);

/* Sends a segment from the peer at t->now; seg's addresses and ports are filled in if left 0. */
void tp_input(struct tp *t, struct fx_tcp_segment seg);
/* The common case: the peer's usual options and window. */
void tp_send(struct tp *t, uint8_t flags, uint32_t seq, uint32_t ack, const void *data, size_t len);
/* Data at peer_nxt (advanced), acknowledging stack_nxt, with ACK|PSH. */
void tp_send_data(struct tp *t, const void *data, size_t len);
/* A bare ACK at peer_nxt for ack. */
void tp_send_ack(struct tp *t, uint32_t ack);

/* The next segment the stack sent (asserts there is one), or NULL from tp_try_next. */
const struct tp_seg *tp_next(struct tp *t);
const struct tp_seg *tp_try_next(struct tp *t);
/* Asserts the stack sent nothing since the last segment examined. */
void tp_expect_nothing(struct tp *t);
/* The next segment, asserting its flags, sequence number and (if it has ACK) acknowledgment number. */
const struct tp_seg *tp_expect(struct tp *t, uint8_t flags, uint32_t seq, uint32_t ack);

/* Runs every timer due up to `to` at its own time, then sets now = to. */
void tp_advance(struct tp *t, ts_time to);
/* Runs timers until the stack sends a segment or `limit` passes; returns it (now = its time), or NULL. */
const struct tp_seg *tp_run_until_segment(struct tp *t, ts_time limit);

/* A listener on TP_STACK_PORT. */
struct ts_pcb *tp_listen(struct tp *t, int backlog);
/* Passive open: SYN with syn_opt, the stack's SYN,ACK checked and returned, the peer's ACK, accept. */
const struct tp_seg *tp_open_passive(struct tp *t, const struct fx_tcp_options *syn_opt);
/* Active open: the stack's SYN checked, a SYN,ACK with synack_opt, the stack's ACK checked. */
const struct tp_seg *tp_open_active(struct tp *t, const struct fx_tcp_options *synack_opt);
/* Only the first step of an active open: t->pcb bound to t->stack_port connects to the peer (its SYN is sent). */
void tp_connect(struct tp *t);

enum ts_tcp_state tp_state(const struct tp *t);
struct ts_tcp_info tp_info(const struct tp *t);

/* Deterministic test data. */
void tp_pattern(uint8_t *buf, size_t len, uint32_t seed);

#endif
