/*
 * The in-memory link: ordering, the queue bound, readiness through the eventfd,
 * independent destruction of the two ends, and two threads on the two ends.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>

#include "tapstack/netdev.h"

#define QUEUE_BOUND 4096 /* the default TS_MEMLINK_QUEUE_FRAMES in netdev/memlink.c */

static struct ts_netdev *end_a, *end_b;
static uint8_t rxbuf[TS_NETDEV_MAX_FRAME];

static void pair_up(void)
{
    cr_assert_eq(ts_memlink_pair(1500, &end_a, &end_b), 0);
}

static void pair_down(void)
{
    ts_netdev_destroy(end_a);
    ts_netdev_destroy(end_b);
}

/* A 60-byte frame whose payload carries seq, so order and identity can be checked. */
static size_t make_frame(uint8_t *frame, uint32_t seq)
{
    memset(frame, 0, 60);
    memset(frame, 0xff, 6);
    frame[6] = 0x02;
    frame[12] = 0x88;
    frame[13] = 0xb5; /* local experimental EtherType */
    memcpy(frame + 14, &seq, sizeof seq);
    return 60;
}

static uint32_t seq_of(const uint8_t *frame)
{
    uint32_t seq;
    memcpy(&seq, frame + 14, sizeof seq);
    return seq;
}

static bool fd_readable(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

TestSuite(memlink, .init = pair_up, .fini = pair_down);

Test(memlink, frames_arrive_at_the_other_end_in_the_order_sent)
{
    uint8_t frame[60];
    size_t len;
    ts_time when;

    for (uint32_t i = 0; i < 100; i++)
        cr_assert_eq(ts_netdev_transmit(end_a, 10, frame, make_frame(frame, i)), 0);
    cr_assert_eq(ts_memlink_pending(end_b), 100);
    cr_assert_eq(ts_memlink_pending(end_a), 0, "nothing travels back toward the sender");
    for (uint32_t i = 0; i < 100; i++) {
        cr_assert_eq(ts_netdev_receive(end_b, 20, rxbuf, sizeof rxbuf, &len, &when), 1);
        cr_assert_eq(len, 60);
        cr_assert_eq(seq_of(rxbuf), i);
        cr_assert_eq(when, 20, "a memlink frame arrives at the receiver's now");
    }
    cr_assert_eq(ts_netdev_receive(end_b, 20, rxbuf, sizeof rxbuf, &len, &when), 0);
}

Test(memlink, both_directions_are_independent)
{
    uint8_t frame[60];
    size_t len;

    cr_assert_eq(ts_netdev_transmit(end_a, 0, frame, make_frame(frame, 1)), 0);
    cr_assert_eq(ts_netdev_transmit(end_b, 0, frame, make_frame(frame, 2)), 0);
    cr_assert_eq(ts_netdev_receive(end_a, 0, rxbuf, sizeof rxbuf, &len, NULL), 1);
    cr_assert_eq(seq_of(rxbuf), 2);
    cr_assert_eq(ts_netdev_receive(end_b, 0, rxbuf, sizeof rxbuf, &len, NULL), 1);
    cr_assert_eq(seq_of(rxbuf), 1);
}

Test(memlink, frames_beyond_the_queue_bound_are_dropped_and_counted)
{
    uint8_t frame[60];
    size_t len;

    for (uint32_t i = 0; i < QUEUE_BOUND + 10; i++)
        cr_assert_eq(ts_netdev_transmit(end_a, 0, frame, make_frame(frame, i)), 0,
                     "a full queue is a lost frame, not a device error");
    cr_assert_eq(ts_memlink_pending(end_b), QUEUE_BOUND);
    cr_assert_eq(ts_memlink_dropped(end_b), 10);
    cr_assert_eq(ts_memlink_dropped(end_a), 0);
    /* The oldest frames are the ones kept. */
    cr_assert_eq(ts_netdev_receive(end_b, 0, rxbuf, sizeof rxbuf, &len, NULL), 1);
    cr_assert_eq(seq_of(rxbuf), 0);
    /* Room again: the next frame is accepted. */
    cr_assert_eq(ts_netdev_transmit(end_a, 0, frame, make_frame(frame, 9999)), 0);
    cr_assert_eq(ts_memlink_pending(end_b), QUEUE_BOUND);
    cr_assert_eq(ts_memlink_dropped(end_b), 10);
}

Test(memlink, eventfd_is_readable_exactly_while_frames_wait)
{
    uint8_t frame[60];
    size_t len;
    int fd_b = ts_netdev_wait_fd(end_b);

    cr_assert_geq(fd_b, 0);
    cr_assert_neq(ts_netdev_wait_fd(end_a), fd_b, "each end has its own fd");
    cr_assert_not(fd_readable(fd_b), "an empty queue must not wake the runtime");
    ts_netdev_transmit(end_a, 0, frame, make_frame(frame, 1));
    ts_netdev_transmit(end_a, 0, frame, make_frame(frame, 2));
    cr_assert(fd_readable(fd_b));
    cr_assert_not(fd_readable(ts_netdev_wait_fd(end_a)), "the sender's fd stays quiet");
    ts_netdev_receive(end_b, 0, rxbuf, sizeof rxbuf, &len, NULL);
    cr_assert(fd_readable(fd_b), "one frame still waits");
    ts_netdev_receive(end_b, 0, rxbuf, sizeof rxbuf, &len, NULL);
    cr_assert_not(fd_readable(fd_b), "the drained queue resets the eventfd");
    ts_netdev_transmit(end_a, 0, frame, make_frame(frame, 3));
    cr_assert(fd_readable(fd_b), "readiness comes back with the next frame");
}

Test(memlink, a_frame_too_big_for_the_callers_buffer_is_dropped_not_cut)
{
    uint8_t frame[60];
    uint8_t small[20];
    size_t len = 1234;

    ts_netdev_transmit(end_a, 0, frame, make_frame(frame, 1));
    ts_netdev_transmit(end_a, 0, frame, make_frame(frame, 2));
    cr_assert_eq(ts_netdev_receive(end_b, 0, small, sizeof small, &len, NULL), -EMSGSIZE);
    cr_assert_eq(len, 1234, "len is untouched when nothing was delivered");
    cr_assert_eq(ts_netdev_receive(end_b, 0, rxbuf, sizeof rxbuf, &len, NULL), 1);
    cr_assert_eq(seq_of(rxbuf), 2, "the oversized frame was consumed, the next one follows");
}

Test(memlink, mtu_is_what_the_pair_was_made_with_and_no_mac_is_imposed)
{
    cr_assert_eq(end_a->mtu, 1500);
    cr_assert_eq(end_b->mtu, 1500);
    cr_assert_not(end_a->has_mac);
    cr_assert_str_eq(end_a->ops->kind, "memlink");
    cr_assert_eq(ts_netdev_next_deadline(end_a, 5), TS_TIME_NEVER);
}

Test(memlink, bad_arguments_are_refused)
{
    struct ts_netdev *x, *y;

    cr_assert_eq(ts_memlink_pair(0, &x, &y), -EINVAL);
    cr_assert_eq(ts_memlink_pair(1500, NULL, &y), -EINVAL);
    cr_assert_eq(ts_memlink_pending(NULL), 0);
    cr_assert_eq(ts_memlink_dropped(NULL), 0);
}

Test(memlink, destroying_one_end_leaves_the_other_working)
{
    uint8_t frame[60];
    size_t len;

    ts_netdev_transmit(end_b, 0, frame, make_frame(frame, 7));
    ts_netdev_transmit(end_a, 0, frame, make_frame(frame, 8)); /* toward b, freed with b */
    ts_netdev_destroy(end_b);
    end_b = NULL;
    /* Sending into the void is a lost frame, not an error or a crash. */
    cr_assert_eq(ts_netdev_transmit(end_a, 0, frame, make_frame(frame, 9)), 0);
    /* What b sent before it went away is still delivered. */
    cr_assert_eq(ts_netdev_receive(end_a, 0, rxbuf, sizeof rxbuf, &len, NULL), 1);
    cr_assert_eq(seq_of(rxbuf), 7);
    cr_assert_eq(ts_netdev_receive(end_a, 0, rxbuf, sizeof rxbuf, &len, NULL), 0);
    cr_assert_eq(ts_memlink_pending(end_a), 0);
}

/* ---- two threads on the two ends ---- */

#define THREAD_FRAMES 20000

static void *sender_main(void *arg)
{
    struct ts_netdev *dev = arg;
    uint8_t frame[60];

    for (uint32_t i = 0; i < THREAD_FRAMES;) {
        /* Respect the bound so no frame is dropped: wait while the queue is full. */
        if (ts_memlink_pending(end_b) >= QUEUE_BOUND) {
            sched_yield();
            continue;
        }
        ts_netdev_transmit(dev, 0, frame, make_frame(frame, i));
        i++;
    }
    return NULL;
}

Test(memlink, one_thread_sending_while_another_receives_loses_and_reorders_nothing)
{
    pthread_t sender;
    uint32_t expected = 0;
    size_t len;

    cr_assert_eq(pthread_create(&sender, NULL, sender_main, end_a), 0);
    /* Bounded by count and by time: 2 s is far more than 20000 small frames need. */
    ts_time give_up = ts_monotonic_now() + TS_SEC(2);
    while (expected < THREAD_FRAMES && ts_monotonic_now() < give_up) {
        struct pollfd pfd = { .fd = ts_netdev_wait_fd(end_b), .events = POLLIN };
        poll(&pfd, 1, 10);
        while (ts_netdev_receive(end_b, 0, rxbuf, sizeof rxbuf, &len, NULL) == 1) {
            cr_assert_eq(seq_of(rxbuf), expected);
            expected++;
        }
    }
    pthread_join(sender, NULL);
    cr_assert_eq(expected, THREAD_FRAMES);
    cr_assert_eq(ts_memlink_dropped(end_b), 0);
}
