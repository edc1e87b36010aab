/*
 * Two stacks on one in-memory link, driven on a virtual clock (no threads, no
 * kernel): what the TCP tests use to run both ends of a connection.
 *
 *   a: 10.0.0.1/24, MAC 02:00:00:00:00:01, seed 1
 *   b: 10.0.0.2/24, MAC 02:00:00:00:00:02, seed 2
 * Optionally the link from a is impaired (loss, reordering, ...), seeded.
 */
#ifndef TS_TEST_PAIR_FIXTURE_H
#define TS_TEST_PAIR_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "tapstack/netdev.h"
#include "tapstack/pcb.h"
#include "tapstack/stack.h"

#define PAIR_ADDR_A TS_IPV4(10, 0, 0, 1)
#define PAIR_ADDR_B TS_IPV4(10, 0, 0, 2)

struct pair_side {
    struct ts_netdev *dev;
    struct ts_stack *st;
};

struct pair {
    struct pair_side a, b;
    ts_time now;
    ts_time step; /* virtual time per pump iteration (default 100 us) */
};

/* impair: NULL, or a spec like "loss=5%,reorder=10%" applied to a's device (both directions). */
void pair_init(struct pair *p, const char *impair, const struct ts_stack_config *cfg_a,
               const struct ts_stack_config *cfg_b);
/* Frees both stacks and asserts neither leaked a packet buffer. */
void pair_fini(struct pair *p);
void pair_default_config(struct ts_stack_config *cfg, ts_ipv4_addr addr, uint8_t mac_last, uint64_t seed);
/* Runs both sides for `duration` of virtual time. */
void pair_run(struct pair *p, ts_time duration);
/* Runs until cond(ctx) is true or `limit` passes; returns whether cond became true. */
bool pair_run_until(struct pair *p, ts_time limit, bool (*cond)(void *ctx), void *ctx);

struct ts_pcb *pair_tcp_listen(struct ts_stack *st, uint16_t port, int backlog);
/* Connects a's new pcb to b:port, runs until both ends are established, returns the client; *server = the accepted pcb. */
struct ts_pcb *pair_tcp_connect(struct pair *p, struct ts_pcb *listener, uint16_t port, struct ts_pcb **server);
enum ts_tcp_state pair_tcp_state(const struct ts_pcb *pcb);

#endif
