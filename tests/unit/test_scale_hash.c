/*
 * Hash flooding (issue 6): where a connection lands in the lookup table must
 * depend on a per-stack secret, so a peer choosing its addresses and ports
 * cannot aim many connections at one bucket. The same connections opened
 * between stacks seeded differently land in different buckets; within one
 * stack, sequential remote ports (what a flooder would try) spread out.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "internal.h"
#include "scale_pair.h"

#define CONNS 256u

TestSuite(scale_hash, .timeout = 60);

/* The bucket of tcp_conns holding pcb (a test may look inside: it links the core's internals). */
static size_t bucket_of(const struct ts_stack *st, const struct ts_pcb *pcb)
{
    const struct pcb_table *t = &st->tcp_conns;
    for (size_t b = 0; b <= t->mask; b++)
        for (const struct ts_pcb *p = t->buckets[b]; p != NULL; p = p->tuple_next)
            if (p == pcb)
                return b;
    cr_assert_fail("connection not in the table");
    return 0;
}

/* Opens CONNS connections (client ports sequential) on stacks seeded `seed`; fills the server side's buckets. */
static size_t open_and_map(uint64_t seed, size_t *buckets, size_t *longest)
{
    struct scale_pair p;
    cr_assert_eq(scale_pair_init(&p, CONNS, seed), 0);
    cr_assert_eq(scale_pair_open(&p, CONNS), CONNS);
    size_t mask = p.b.st->tcp_conns.mask;
    *longest = 0;
    for (size_t b = 0; b <= mask; b++) {
        size_t len = 0;
        for (const struct ts_pcb *q = p.b.st->tcp_conns.buckets[b]; q != NULL; q = q->tuple_next)
            len++;
        if (len > *longest)
            *longest = len;
    }
    for (size_t i = 0; i < CONNS; i++)
        buckets[i] = bucket_of(p.b.st, p.servers[i]);
    scale_pair_close_all(&p);
    cr_assert_eq(scale_pair_fini(&p), 0);
    return mask + 1;
}

Test(scale_hash, bucket_placement_depends_on_the_stack_secret)
{
    static size_t first[CONNS], second[CONNS];
    size_t longest1, longest2;
    size_t n1 = open_and_map(1, first, &longest1);
    size_t n2 = open_and_map(1000003, second, &longest2);
    cr_assert_eq(n1, n2, "same number of connections, same table size");
    size_t same = 0;
    for (size_t i = 0; i < CONNS; i++)
        same += first[i] == second[i];
    /* Independent placements agree on about CONNS / buckets connections by chance. */
    cr_expect_lt(same, CONNS / 8, "%zu of %u connections in the same bucket under two secrets", same, CONNS);
    /* Sequential ports spread: no chain far beyond what chance gives at load factor <= 1. */
    cr_expect_leq(longest1, 8, "a chain of %zu", longest1);
    cr_expect_leq(longest2, 8, "a chain of %zu", longest2);
}
