/*
 * The impairment wrapper: the spec parser, and each impairment in both
 * directions over an in-memory link.
 *
 *   stack side -> impair -> memlink end A  ==  memlink end B <- the "wire" side (the test)
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tapstack/netdev.h"

/* ---- parsing ---- */

static struct ts_impair_spec parse_ok(const char *text)
{
    struct ts_impair_spec spec;
    char err[256] = "";

    memset(&spec, 0xab, sizeof spec);
    int rc = ts_impair_parse(text, &spec, err, sizeof err);
    cr_assert_eq(rc, 0, "'%s' must parse, got: %s", text, err);
    return spec;
}

static void parse_fails(const char *text, const char *must_mention)
{
    struct ts_impair_spec spec = { 0 };
    char err[256] = "";

    cr_assert_eq(ts_impair_parse(text, &spec, err, sizeof err), -EINVAL, "'%s' must be rejected", text);
    cr_assert(strstr(err, must_mention), "the message for '%s' must mention '%s', got: %s", text, must_mention,
              err);
}

Test(impair_parse, full_spec_with_percentages_and_units_is_understood)
{
    struct ts_impair_spec s = parse_ok("loss=3%,reorder=10%,dup=1%,corrupt=0.1%,delay=1ms");

    cr_assert_float_eq(s.loss, 0.03, 1e-12);
    cr_assert_float_eq(s.reorder, 0.10, 1e-12);
    cr_assert_float_eq(s.dup, 0.01, 1e-12);
    cr_assert_float_eq(s.corrupt, 0.001, 1e-12);
    cr_assert_eq(s.delay, 1000);
}

Test(impair_parse, plain_fractions_and_every_delay_unit_are_accepted)
{
    cr_assert_float_eq(parse_ok("loss=0.25").loss, 0.25, 1e-12);
    cr_assert_float_eq(parse_ok("loss=1").loss, 1.0, 1e-12);
    cr_assert_float_eq(parse_ok("loss=100%").loss, 1.0, 1e-12);
    cr_assert_eq(parse_ok("delay=250us").delay, 250);
    cr_assert_eq(parse_ok("delay=1.5ms").delay, 1500);
    cr_assert_eq(parse_ok("delay=2s").delay, TS_SEC(2));
    cr_assert_eq(parse_ok("delay=0").delay, 0);
}

Test(impair_parse, parts_are_optional_and_unmentioned_ones_are_zero)
{
    struct ts_impair_spec s = parse_ok("dup=5%");

    cr_assert_float_eq(s.dup, 0.05, 1e-12);
    cr_assert_eq(s.loss, 0.0);
    cr_assert_eq(s.reorder, 0.0);
    cr_assert_eq(s.corrupt, 0.0);
    cr_assert_eq(s.delay, 0);
    s = parse_ok("");
    cr_assert_eq(s.loss, 0.0);
    cr_assert_eq(s.delay, 0);
    s = parse_ok(" loss = 2% , delay = 3ms ");
    cr_assert_float_eq(s.loss, 0.02, 1e-12);
    cr_assert_eq(s.delay, 3000);
}

Test(impair_parse, bad_specs_are_rejected_with_a_message_naming_the_bad_part)
{
    parse_fails("loss=3%,lose=3%", "lose=3%");
    parse_fails("lose=3%", "unknown setting");
    parse_fails("loss=3", "between 0 and 1");
    parse_fails("loss=150%", "loss=150%");
    parse_fails("loss=-1%", "between 0 and 1");
    parse_fails("loss=abc", "loss=abc");
    parse_fails("loss=3%x", "unexpected text");
    parse_fails("loss", "key=value");
    parse_fails("loss=", "missing value");
    parse_fails("delay=5", "unit");
    parse_fails("delay=5min", "unit");
    parse_fails("delay=-1ms", "delay=-1ms");
    parse_fails("delay=1000s", "between 0 and 60s");
    parse_fails("loss=1%,,dup=1%", "empty part");
    parse_fails("loss=1%,", "trailing comma");
    parse_fails("loss=1%,loss=2%", "twice");
    parse_fails("loss=nan", "between 0 and 1");
}

Test(impair_parse, a_rejected_spec_leaves_the_output_untouched)
{
    struct ts_impair_spec spec = { .loss = 0.5 };

    cr_assert_eq(ts_impair_parse("dup=1%,bogus=1", &spec, NULL, 0), -EINVAL);
    cr_assert_eq(spec.loss, 0.5);
    cr_assert_eq(spec.dup, 0.0);
}

/* ---- the wrapper ---- */

static struct ts_netdev *imp, *wire;
static uint8_t rxbuf[TS_NETDEV_MAX_FRAME];

static void wrap(const char *text, uint64_t seed)
{
    struct ts_netdev *a;
    struct ts_impair_spec spec = parse_ok(text);

    cr_assert_eq(ts_memlink_pair(1500, &a, &wire), 0);
    imp = ts_impair_wrap(a, &spec, seed);
    cr_assert_not_null(imp);
}

static void unwrap(void)
{
    ts_netdev_destroy(imp);
    ts_netdev_destroy(wire);
    imp = wire = NULL;
}

TestSuite(impair, .fini = unwrap);

static size_t make_frame(uint8_t *frame, uint32_t seq)
{
    memset(frame, 0, 64);
    memset(frame, 0xff, 6);
    frame[6] = 0x02;
    frame[12] = 0x88;
    frame[13] = 0xb5;
    memcpy(frame + 14, &seq, sizeof seq);
    return 64;
}

static uint32_t seq_of(const uint8_t *frame)
{
    uint32_t seq;
    memcpy(&seq, frame + 14, sizeof seq);
    return seq;
}

static void send_out(uint32_t count, ts_time now)
{
    uint8_t frame[64];

    for (uint32_t i = 0; i < count; i++)
        cr_assert_eq(ts_netdev_transmit(imp, now, frame, make_frame(frame, i)), 0);
}

static void send_in(uint32_t count, ts_time now)
{
    uint8_t frame[64];

    for (uint32_t i = 0; i < count; i++)
        cr_assert_eq(ts_netdev_transmit(wire, now, frame, make_frame(frame, i)), 0);
}

/*
 * Receives at most `max` frames from dev at `now`, storing their sequence numbers.
 * Like a runtime, it calls again while the device says it has work due now
 * (receive yields after a batch of lost frames).
 */
static size_t drain(struct ts_netdev *dev, ts_time now, uint32_t *seqs, size_t max)
{
    size_t n = 0, len;

    for (int round = 0; round < 1000; round++) {
        while (n < max && ts_netdev_receive(dev, now, rxbuf, sizeof rxbuf, &len, NULL) == 1)
            seqs[n++] = seq_of(rxbuf);
        if (n == max || ts_netdev_next_deadline(dev, now) > now)
            break;
    }
    return n;
}

Test(impair, total_loss_drops_everything_in_both_directions)
{
    static uint32_t seqs[1000];
    struct ts_impair_stats st;

    wrap("loss=100%", 1);
    send_out(200, 0);
    send_in(200, 0);
    cr_assert_eq(drain(wire, 0, seqs, 1000), 0);
    cr_assert_eq(drain(imp, 0, seqs, 1000), 0);
    ts_impair_get_stats(imp, &st);
    cr_assert_eq(st.dropped, 400);
}

Test(impair, no_impairment_passes_every_frame_unchanged_and_in_order)
{
    static uint32_t seqs[1000];
    uint8_t frame[64];
    size_t len;
    ts_time when;
    struct ts_impair_stats st;

    wrap("loss=0,dup=0%,reorder=0,corrupt=0,delay=0", 1);
    send_out(300, 0);
    send_in(300, 0);
    cr_assert_eq(drain(wire, 0, seqs, 1000), 300);
    for (uint32_t i = 0; i < 300; i++)
        cr_assert_eq(seqs[i], i);
    for (uint32_t i = 0; i < 300; i++) {
        cr_assert_eq(ts_netdev_receive(imp, 55, rxbuf, sizeof rxbuf, &len, &when), 1);
        cr_assert_eq(len, 64);
        make_frame(frame, i);
        cr_assert_arr_eq(rxbuf, frame, sizeof frame, "frame %u must arrive unchanged", i);
        cr_assert_eq(when, 55);
    }
    ts_impair_get_stats(imp, &st);
    cr_assert_eq(st.dropped + st.duplicated + st.reordered + st.corrupted + st.delayed, 0);
}

Test(impair, total_duplication_doubles_every_frame_in_both_directions)
{
    static uint32_t seqs[1000];
    struct ts_impair_stats st;

    wrap("dup=100%", 3);
    send_out(100, 0);
    send_in(100, 0);
    cr_assert_eq(drain(wire, 0, seqs, 1000), 200);
    for (uint32_t i = 0; i < 200; i++)
        cr_assert_eq(seqs[i], i / 2, "copies travel next to each other");
    cr_assert_eq(drain(imp, 0, seqs, 1000), 200);
    for (uint32_t i = 0; i < 200; i++)
        cr_assert_eq(seqs[i], i / 2);
    ts_impair_get_stats(imp, &st);
    cr_assert_eq(st.duplicated, 200);
}

Test(impair, delay_holds_outgoing_frames_until_their_deadline)
{
    static uint32_t seqs[100];

    wrap("delay=5ms", 1);
    send_out(3, 1000);
    cr_assert_eq(ts_memlink_pending(wire), 0, "nothing leaves before the delay");
    cr_assert_eq(ts_netdev_next_deadline(imp, 1000), 6000);
    ts_netdev_poll(imp, 5999);
    cr_assert_eq(ts_memlink_pending(wire), 0, "one microsecond early is still early");
    ts_netdev_poll(imp, 6000);
    cr_assert_eq(drain(wire, 6000, seqs, 100), 3);
    cr_assert_eq(seqs[0], 0);
    cr_assert_eq(seqs[2], 2);
    cr_assert_eq(ts_netdev_next_deadline(imp, 6000), TS_TIME_NEVER);
}

Test(impair, delay_holds_incoming_frames_until_their_deadline)
{
    size_t len;
    ts_time when = 0;
    struct ts_impair_stats st;

    wrap("delay=2ms", 1);
    send_in(2, 0);
    cr_assert_eq(ts_netdev_receive(imp, 100, rxbuf, sizeof rxbuf, &len, &when), 0);
    cr_assert_eq(ts_netdev_next_deadline(imp, 100), 2100);
    cr_assert_eq(ts_netdev_receive(imp, 2099, rxbuf, sizeof rxbuf, &len, &when), 0);
    cr_assert_eq(ts_netdev_receive(imp, 2100, rxbuf, sizeof rxbuf, &len, &when), 1);
    cr_assert_eq(seq_of(rxbuf), 0);
    cr_assert_eq(when, 2100, "a held frame arrives when it is released");
    cr_assert_eq(ts_netdev_receive(imp, 2100, rxbuf, sizeof rxbuf, &len, &when), 1);
    cr_assert_eq(seq_of(rxbuf), 1);
    ts_impair_get_stats(imp, &st);
    cr_assert_eq(st.delayed, 2);
}

Test(impair, reordering_never_loses_a_frame_and_does_swap_some)
{
    static uint32_t seqs[2000];
    bool seen[1000] = { false };
    size_t out_of_order = 0;
    struct ts_impair_stats st;

    wrap("reorder=30%", 11);
    send_out(1000, 0);
    /* A frame held at the very end is released by its timeout. */
    ts_time deadline = ts_netdev_next_deadline(imp, 0);
    cr_assert_lt(deadline, TS_SEC(1), "a lone held frame must have a deadline");
    ts_netdev_poll(imp, deadline);
    cr_assert_eq(drain(wire, deadline, seqs, 2000), 1000);
    for (size_t i = 0; i < 1000; i++) {
        cr_assert_lt(seqs[i], 1000);
        cr_assert_not(seen[seqs[i]], "frame %u delivered twice", seqs[i]);
        seen[seqs[i]] = true;
        if (i > 0 && seqs[i] < seqs[i - 1])
            out_of_order++;
    }
    ts_impair_get_stats(imp, &st);
    cr_assert_gt(st.reordered, 100, "30%% of 1000 frames should be reordered, got %llu",
                 (unsigned long long)st.reordered);
    /* Each held frame makes one step back, except a last one released by its timeout with nothing after it. */
    cr_assert(out_of_order == st.reordered || out_of_order + 1 == st.reordered, "%zu steps back for %llu held",
              out_of_order, (unsigned long long)st.reordered);
}

Test(impair, reordering_of_incoming_frames_never_loses_one)
{
    static uint32_t seqs[2000];
    uint32_t sum = 0;
    size_t n;

    wrap("reorder=50%", 5);
    send_in(500, 0);
    n = drain(imp, 0, seqs, 2000);
    ts_time deadline = ts_netdev_next_deadline(imp, 0);
    if (n < 500) {
        cr_assert_lt(deadline, TS_SEC(1));
        n += drain(imp, deadline, seqs + n, 2000 - n);
    }
    cr_assert_eq(n, 500);
    for (size_t i = 0; i < n; i++)
        sum += seqs[i];
    cr_assert_eq(sum, 499 * 500 / 2);
}

Test(impair, corruption_flips_exactly_one_byte_past_the_ethernet_header)
{
    uint8_t frame[64];
    size_t len;
    struct ts_impair_stats st;

    wrap("corrupt=100%", 9);
    for (uint32_t i = 0; i < 50; i++) {
        make_frame(frame, i);
        ts_netdev_transmit(imp, 0, frame, 64);
        cr_assert_eq(ts_netdev_receive(wire, 0, rxbuf, sizeof rxbuf, &len, NULL), 1);
        cr_assert_eq(len, 64);
        cr_assert_arr_eq(rxbuf, frame, 14, "the Ethernet header is left alone");
        size_t differing = 0;
        for (size_t b = 14; b < 64; b++)
            differing += rxbuf[b] != frame[b];
        cr_assert_eq(differing, 1);
    }
    ts_impair_get_stats(imp, &st);
    cr_assert_eq(st.corrupted, 50);
}

/* Runs a mixed spec with a seed and records what comes out, both ways. */
static size_t run_mixed(uint64_t seed, uint32_t *out)
{
    size_t n = 0, len;

    wrap("loss=20%,dup=20%,reorder=20%,corrupt=20%", seed);
    send_out(300, 0);
    send_in(300, 0);
    ts_netdev_poll(imp, TS_SEC(1));
    while (ts_netdev_receive(wire, 0, rxbuf, sizeof rxbuf, &len, NULL) == 1 && n < 2000)
        out[n++] = seq_of(rxbuf) ^ ((uint32_t)rxbuf[20] << 24);
    size_t sent_out = n;
    for (int round = 0; round < 100; round++) {
        while (ts_netdev_receive(imp, TS_SEC(1), rxbuf, sizeof rxbuf, &len, NULL) == 1 && n < 2000)
            out[n++] = seq_of(rxbuf) ^ ((uint32_t)rxbuf[20] << 24);
        if (ts_netdev_next_deadline(imp, TS_SEC(1)) > TS_SEC(1))
            break;
    }
    /* 300 frames each way with 20% loss: both directions must have delivered plenty. */
    cr_assert_gt(sent_out, 150);
    cr_assert_gt(n - sent_out, 150);
    unwrap();
    return n;
}

Test(impair, the_same_seed_gives_the_same_outcome_and_another_seed_another)
{
    static uint32_t first[2000], second[2000], other[2000];
    size_t n1 = run_mixed(42, first);
    size_t n2 = run_mixed(42, second);
    size_t n3 = run_mixed(43, other);

    cr_assert_eq(n1, n2);
    cr_assert_arr_eq(first, second, n1 * sizeof first[0]);
    cr_assert(n1 != n3 || memcmp(first, other, n1 * sizeof first[0]) != 0);
}

Test(impair, wrapper_forwards_fd_mtu_and_mac_of_the_inner_device)
{
    struct ts_netdev *a;
    struct ts_netdev *b;
    struct ts_impair_spec spec = { 0 };

    cr_assert_eq(ts_memlink_pair(9000, &a, &b), 0);
    int fd = ts_netdev_wait_fd(a);
    struct ts_netdev *w = ts_impair_wrap(a, &spec, 0);
    cr_assert_not_null(w);
    cr_assert_eq(ts_netdev_wait_fd(w), fd);
    cr_assert_eq(w->mtu, 9000);
    cr_assert_eq(w->has_mac, a->has_mac);
    cr_assert_str_eq(w->ops->kind, "impair");
    cr_assert_eq(ts_netdev_next_deadline(w, 0), TS_TIME_NEVER);
    ts_netdev_destroy(w);
    ts_netdev_destroy(b);
}

Test(impair, an_out_of_range_spec_is_refused_and_the_inner_device_released)
{
    struct ts_netdev *a, *b;
    struct ts_impair_spec spec = { .loss = 1.5 };
    struct ts_impair_stats st;

    cr_assert_eq(ts_memlink_pair(1500, &a, &b), 0);
    cr_assert_null(ts_impair_wrap(a, &spec, 0));
    ts_netdev_destroy(b); /* a was released by the failed wrap: ASan would see a leak otherwise */
    ts_impair_get_stats(NULL, &st);
    cr_assert_eq(st.dropped, 0);
}
