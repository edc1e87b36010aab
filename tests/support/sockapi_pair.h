/*
 * sockapi test fixture: two runtime-mode nets joined by an in-memory link.
 *
 *   net a: 10.0.0.1/24, MAC 02:00:00:00:00:01, seed 1 (the default net)
 *   net b: 10.0.0.2/24, MAC 02:00:00:00:00:02, seed 2
 */
#ifndef TS_TEST_SOCKAPI_PAIR_H
#define TS_TEST_SOCKAPI_PAIR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "tapstack/socket.h"

struct sockapi_pair {
    struct ts_net *a;
    struct ts_net *b;
    char error[256];
};

#define SOCKAPI_ADDR_A TS_IPV4(10, 0, 0, 1)
#define SOCKAPI_ADDR_B TS_IPV4(10, 0, 0, 2)

/* Starts both nets; false with p->error filled on failure. */
bool sockapi_pair_start(struct sockapi_pair *p);
void sockapi_pair_stop(struct sockapi_pair *p);

/* A sockaddr_in for a host-order address and port. */
struct sockaddr_in sockapi_sin(ts_ipv4_addr addr, uint16_t port);

/* A UDP socket on net bound to port (0 = ephemeral); -1 on failure. */
int sockapi_udp_bound(struct ts_net *net, uint16_t port);

/* Sets SO_RCVTIMEO in milliseconds; returns ts_setsockopt's result. */
int sockapi_set_rcvtimeo_ms(int fd, long ms);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t sockapi_now_ms(void);

/* Sleeps for ms milliseconds. */
void sockapi_sleep_ms(long ms);

#endif
