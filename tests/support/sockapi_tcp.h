/*
 * Stream helpers for the sockapi TCP tests, over the two-net fixture of
 * sockapi_pair.h (a = 10.0.0.1, b = 10.0.0.2, runtime mode, memlink).
 *
 * Set SOCKAPI_TCP_TRACE=1 in the environment to print both stacks' TCP, IP
 * and socket trace lines to stderr (prefixed "a " / "b "): the first thing to
 * look at when a test fails because of the core.
 */
#ifndef TS_TEST_SOCKAPI_TCP_H
#define TS_TEST_SOCKAPI_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sockapi_pair.h"

/* Changes a net's configuration before it starts (a shorter RTO, say). */
typedef void (*sockapi_tcp_tweak_fn)(struct ts_stack_config *cfg);

/* sockapi_pair_start with both configurations passed through tweak (may be NULL) and the optional trace. */
bool sockapi_tcp_pair_start(struct sockapi_pair *p, sockapi_tcp_tweak_fn tweak);

/* A listening stream socket on net, bound to port (SO_REUSEADDR on); -1 on failure. */
int sockapi_tcp_listener(struct ts_net *net, uint16_t port, int backlog);
/* A blocking connect from net to addr:port (SO_SNDTIMEO 3 s as a safety net); the fd or -1 with errno. */
int sockapi_tcp_connect(struct ts_net *net, ts_ipv4_addr addr, uint16_t port);
/*
 * A connection from net a (client) to net b (server) on port: listens on b,
 * connects, accepts, closes the listener. Both ends get a 3 s SO_RCVTIMEO and
 * SO_SNDTIMEO so that a broken wake-up fails a test instead of hanging it.
 * false if any step failed.
 */
bool sockapi_tcp_connected(struct sockapi_pair *p, uint16_t port, int *client, int *server);

int sockapi_set_sndtimeo_ms(int fd, long ms);

/* Sends all of buf with ts_send (looping over partial writes); false on an error. */
bool sockapi_tcp_send_all(int fd, const void *buf, size_t len);
/* Receives exactly len bytes (looping); false on an error or an early end of stream. */
bool sockapi_tcp_recv_all(int fd, void *buf, size_t len);

/* A reproducible byte pattern: byte i of a stream seeded with seed. */
uint8_t sockapi_tcp_pattern(uint32_t seed, size_t i);

#endif
