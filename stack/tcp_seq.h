/*
 * Sequence-number arithmetic that survives wraparound (RFC 9293 3.4: "all
 * arithmetic dealing with sequence numbers must be performed modulo 2**32").
 * Compare sequence numbers only through these; a raw < breaks at the wrap.
 */
#ifndef TS_TCP_SEQ_H
#define TS_TCP_SEQ_H

#include <stdbool.h>
#include <stdint.h>

#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) >= 0)
#define SEQ_MAX(a, b) (SEQ_GT(a, b) ? (a) : (b))
#define SEQ_MIN(a, b) (SEQ_LT(a, b) ? (a) : (b))

/* low <= x < high, in sequence space. */
static inline bool seq_in_range(uint32_t x, uint32_t low, uint32_t high)
{
    return SEQ_LEQ(low, x) && SEQ_LT(x, high);
}

#endif
