/*
 * Shared set-up for the fuzz targets: a stack in the state where hostile input
 * hurts most (sockets bound, a connected socket, a ping socket, a packet waiting
 * for ARP, a datagram half reassembled), and the checks every run ends with.
 */
#ifndef TS_FUZZ_COMMON_H
#define TS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "tapstack/pcb.h"
#include "tapstack/stack.h"

#define FUZZ_STACK_IP TS_IPV4(10, 0, 0, 2)
#define FUZZ_PEER_IP TS_IPV4(10, 0, 0, 1)

struct fuzz_world {
    struct ts_stack *st;
    struct ts_pcb *echo;      /* UDP bound to port 7, answered like ts-echo */
    struct ts_pcb *connected; /* UDP connected to the peer's port 9 */
    struct ts_pcb *ping;      /* ICMP echo socket */
    struct ts_pcb *listener;  /* TCP listening on port 80; accepted connections echo */
    struct ts_pcb *client;    /* TCP established with the peer's port 9000, data in flight */
    struct ts_pcb *accepted[8];
    ts_time now;
    size_t frames_out;
    uint8_t last_frame[2048]; /* the latest frame the stack sent (to build the handshake in init) */
    size_t last_len;
    size_t trace_bytes;       /* the trace is on (every layer); its lines' lengths add up here */
};

void fuzz_world_init(struct fuzz_world *w);
/* Feeds one frame at the current time, answers UDP like an echo server, drains the sockets. */
void fuzz_world_input(struct fuzz_world *w, const uint8_t *frame, size_t len);
/* Advances virtual time by `step` and runs due timers. */
void fuzz_world_advance(struct fuzz_world *w, ts_time step);
/* Runs every timer to completion, closes everything and aborts if a packet buffer leaked. */
void fuzz_world_finish(struct fuzz_world *w);

#endif
