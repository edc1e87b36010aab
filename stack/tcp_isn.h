/*
 * Initial sequence numbers (RFC 6528) and SYN cookies, both built on SipHash-2-4
 * keyed from the stack's seed, so they are unpredictable to an observer
 * (NUMBER:JACK) yet repeatable for a given seed (replays, fuzzing).
 */
#ifndef TS_TCP_ISN_H
#define TS_TCP_ISN_H

#include <stdbool.h>
#include <stdint.h>

#include "tapstack/stack.h"

struct tcp_secret {
    uint8_t isn_key[16];
    uint8_t cookie_key[16];
};

struct tcp_four_tuple {
    uint32_t local_addr, remote_addr; /* host order */
    uint16_t local_port, remote_port;
};

/* SipHash-2-4 of len bytes under a 128-bit key (Aumasson & Bernstein). */
uint64_t siphash24(const uint8_t key[16], const void *data, size_t len);

/*
 * RFC 6528 3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
 * M a timer that ticks every 4 microseconds (now / 4), F a keyed hash.
 */
uint32_t tcp_isn(const struct tcp_secret *secret, const struct tcp_four_tuple *t, ts_time now);

/*
 * SYN cookies: the ISN we answer a SYN with when the SYN queue is full encodes
 * what we must remember (the MSS, from a small table, and a coarse time) and a
 * MAC over the 4-tuple and the peer's ISN, so the final ACK alone can rebuild the
 * connection. Layout of the 32-bit cookie: [5 bits time counter (64 s units)]
 * [3 bits MSS index][24 bits MAC].
 */
uint32_t tcp_cookie_make(const struct tcp_secret *secret, const struct tcp_four_tuple *t, uint32_t peer_isn,
                         uint16_t mss, ts_time now);
/*
 * Checks the cookie an ACK returns (ack - 1) for the connection whose peer ISN is
 * seq - 1. A cookie is valid for up to two time-counter periods (128 s at most).
 * On success returns true and sets *mss to the table value encoded.
 */
bool tcp_cookie_check(const struct tcp_secret *secret, const struct tcp_four_tuple *t, uint32_t peer_isn,
                      uint32_t cookie, ts_time now, uint16_t *mss);

#endif
