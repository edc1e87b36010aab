/*
 * A lean two-stack driver for scaling tests and the scaling benchmark
 * (bench/scale): no device, no threads, no Criterion. Frames a stack sends are
 * appended to a growable byte queue and delivered to the other stack when the
 * driver pumps, so no call re-enters a stack and the steady state allocates
 * nothing. Both stacks live on one virtual clock.
 *
 *   a (clients): 10.0.0.1/24, MAC 02:00:00:00:00:01
 *   b (servers): 10.0.0.2/24, MAC 02:00:00:00:00:02, listening on SCALE_PORT_BASE + k
 *
 * N connections need distinct 4-tuples: client i binds local port
 * SCALE_LPORT_BASE + i % SCALE_LPORTS (SO_REUSEADDR) and connects to server
 * port SCALE_PORT_BASE + i / SCALE_LPORTS, so 100,000 connections fit.
 */
#ifndef TS_SCALE_PAIR_H
#define TS_SCALE_PAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapstack/pcb.h"
#include "tapstack/stack.h"

#define SCALE_ADDR_A TS_IPV4(10, 0, 0, 1)
#define SCALE_ADDR_B TS_IPV4(10, 0, 0, 2)
#define SCALE_PORT_BASE 8000u
#define SCALE_LPORT_BASE 10000u
#define SCALE_LPORTS 50000u
#define SCALE_MAX_LISTENERS 8u

/* Frames in flight one way: length-prefixed records in one growable buffer. */
struct scale_queue {
    uint8_t *buf;
    size_t len, cap;
    size_t frames;
};

struct scale_side {
    struct ts_stack *st;
    struct scale_queue *out; /* where this stack's frames go (the other side's input) */
};

struct scale_pair {
    struct scale_side a, b;
    struct scale_queue ab, ba;
    ts_time now;
    uint64_t frames_delivered;
    struct ts_pcb *listeners[SCALE_MAX_LISTENERS];
    unsigned listener_count;
    struct ts_pcb **clients; /* [i] on a, connected to servers[i] on b */
    struct ts_pcb **servers;
    size_t count;
};

/* Both stacks with room for max_connections (plus listeners). Returns 0, or -1 if a stack failed. */
int scale_pair_init(struct scale_pair *p, size_t max_connections, uint64_t seed);
/* Delivers queued frames both ways until none are left (bounded); returns the frames delivered. */
size_t scale_pair_pump(struct scale_pair *p);
/* Advances the clock by dt, polls each stack whose deadline has come, then pumps. */
void scale_pair_advance(struct scale_pair *p, ts_time dt);
/* Opens n more connections (in batches the SYN queue holds) and accepts them. Returns how many were
 * established on both ends; stops at the first failure. */
size_t scale_pair_open(struct scale_pair *p, size_t n);
/* Sends len bytes from clients[i] and echoes them back from servers[i]; true if the same bytes returned. */
bool scale_pair_echo(struct scale_pair *p, size_t i, const uint8_t *data, size_t len);
/* Closes every connection from both ends and lets TIME-WAIT run out; true if every pcb is gone. */
bool scale_pair_close_all(struct scale_pair *p);
/* Frees both stacks; returns the packet buffers they still held (0 for a correct stack). */
size_t scale_pair_fini(struct scale_pair *p);

#endif
