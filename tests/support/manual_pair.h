/*
 * Two stacks a test drives itself on a virtual clock, with sockets through
 * manual mode (ts_net_attach), joined by a queue link the test can read,
 * check or silence:
 *
 *   net a 10.0.0.1 (MAC :01)  <->  net b 10.0.0.2 (MAC :02)
 *
 * Frames wait in the link until the test delivers them (manual_pair_deliver)
 * or lets the clock run (manual_pair_run_until_quiet).
 */
#ifndef TS_TEST_MANUAL_PAIR_H
#define TS_TEST_MANUAL_PAIR_H

#include <stddef.h>
#include <stdint.h>

#include "tapstack/socket.h"
#include "tapstack/stack.h"

#define MP_LINK_FRAMES 64
#define MP_FRAME_MAX 1600

/* One direction of the link. */
struct mp_link {
    uint8_t frames[MP_LINK_FRAMES][MP_FRAME_MAX];
    size_t len[MP_LINK_FRAMES];
    unsigned count;
    unsigned dropped; /* frames refused because the queue was full (the core sees -ENOBUFS) */
    /* Called with each frame as it is delivered, if set: lets a test check what crosses the link. */
    void (*inspect)(void *ctx, const uint8_t *frame, size_t len);
    void *inspect_ctx;
};

struct manual_pair {
    struct mp_link to_a, to_b;
    struct ts_stack *stack_a, *stack_b;
    struct ts_net *net_a, *net_b;
    ts_time now;
};

/* Both stacks (seeds 11 and 22) attached to their nets, the clock at 1000 s. */
void manual_pair_init(struct manual_pair *mp);
/* Detaches and frees both stacks, asserting that neither left a packet buffer allocated. */
void manual_pair_fini(struct manual_pair *mp);
/* Hands every frame queued on link to net (frames sent meanwhile wait for the next call); returns how many. */
unsigned manual_pair_deliver(struct manual_pair *mp, struct mp_link *link, struct ts_net *net);
/* Advances the clock in 1 ms steps, delivering frames and running timers, until both links are quiet. */
void manual_pair_run_until_quiet(struct manual_pair *mp, int max_steps);

#endif
