/*
 * The stack's random generator: xoshiro256** seeded through splitmix64 from the
 * configured seed. One per stack, so a seed makes a run repeatable (replays,
 * fuzzing) and two stacks never share a sequence. Not a cryptographic generator:
 * where unpredictability against an observer matters (ISNs, RFC 6528) the values
 * go through a keyed hash whose key is drawn from here once.
 */
#ifndef TS_RNG_H
#define TS_RNG_H

#include <stdint.h>

struct ts_rng {
    uint64_t s[4];
};

void rng_seed(struct ts_rng *rng, uint64_t seed);
uint64_t rng_next(struct ts_rng *rng);
/* Uniform in [0, bound) without modulo bias; bound > 0. */
uint32_t rng_below(struct ts_rng *rng, uint32_t bound);

#endif
