/*
 * The impairment wrapper: loss, reordering, duplication, corruption and a fixed
 * delay, applied to frames in BOTH directions, driven by its own seeded
 * generator so a run can be repeated exactly.
 *
 * Each direction runs every frame through the same steps, drawing from the
 * generator in a fixed order (loss, corrupt, dup, reorder), so the outcome
 * depends only on the seed and the sequence of frames:
 *
 *   frame -> lost? -> corrupted? -> duplicated? -> held back (reorder)? -> delay line -> out
 *
 *   reorder  the frame waits in a one-frame slot and leaves right after the next
 *            frame in that direction, or after REORDER_HOLD if none comes.
 *   delay    every frame that leaves is held `delay` before it reaches the inner
 *            device (outgoing: released by transmit/poll) or the caller (incoming:
 *            released by receive). next_deadline names the earliest.
 *   corrupt  one byte past the Ethernet header is XORed with a random non-zero
 *            value, so the damage lands in IP or above where checksums catch it
 *            (a flipped MAC would only look like loss). Frames of 14 bytes or
 *            fewer get the flip anywhere.
 *
 * A mutex serialises the device: an application thread may transmit while the
 * runtime thread receives, and both touch the generator and the statistics.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "netdev_internal.h"

/* How long a frame held for reordering waits for a successor before it goes anyway. */
#define REORDER_HOLD TS_MSEC(10)
/* Frames one direction may hold in its delay line; beyond this new frames are dropped (and counted). */
#define MAX_HELD 16384
/* The largest delay a spec may ask for: longer is almost certainly a typo. */
#define MAX_DELAY TS_SEC(60)
/* Inner frames one receive call examines before yielding, so a flood of lost frames cannot stall a caller. */
#define RECEIVE_BATCH 64

/* ---- parsing ------------------------------------------------------------------ */

static int bad_part(char *errbuf, size_t errlen, const char *part, size_t part_len, const char *why)
{
    ts_netdev_errorf(errbuf, errlen, "bad impairment '%.*s': %s", (int)part_len, part, why);
    return -EINVAL;
}

/* "3%" or "0.03": a probability. */
static int parse_probability(const char *value, double *out, const char **why)
{
    char *end;
    double v = strtod(value, &end);

    if (end == value) {
        *why = "expected a probability such as 3% or 0.03";
        return -EINVAL;
    }
    if (*end == '%') {
        v /= 100.0;
        end++;
    }
    if (*end != '\0') {
        *why = "unexpected text after the number (write e.g. 3% or 0.03)";
        return -EINVAL;
    }
    if (!isfinite(v) || v < 0.0 || v > 1.0) {
        *why = "a probability must be between 0 and 1 (or 0% and 100%)";
        return -EINVAL;
    }
    *out = v;
    return 0;
}

/* "250us", "1ms", "0.5s". */
static int parse_duration(const char *value, ts_time *out, const char **why)
{
    char *end;
    double v = strtod(value, &end);
    double scale;

    if (end == value || !isfinite(v)) {
        *why = "expected a duration such as 1ms, 250us or 0.5s";
        return -EINVAL;
    }
    if (strcmp(end, "us") == 0)
        scale = 1.0;
    else if (strcmp(end, "ms") == 0)
        scale = 1e3;
    else if (strcmp(end, "s") == 0)
        scale = 1e6;
    else if (*end == '\0' && v == 0.0)
        scale = 1.0;
    else {
        *why = "a duration needs a unit: us, ms or s";
        return -EINVAL;
    }
    v *= scale;
    if (v < 0.0 || v > (double)MAX_DELAY) {
        *why = "a delay must be between 0 and 60s";
        return -EINVAL;
    }
    *out = (ts_time)(v + 0.5);
    return 0;
}

/* Applies one "key=value" part (already trimmed) to spec. `seen` catches a key given twice. */
static int parse_part(const char *part, size_t len, struct ts_impair_spec *spec, unsigned *seen, char *errbuf,
                      size_t errlen)
{
    static const char *const keys[] = { "loss", "reorder", "dup", "corrupt", "delay" };
    const char *eq = memchr(part, '=', len);
    const char *why = NULL;
    const char *value_start;
    char value[64];
    size_t key_len, value_len;
    int key = -1;
    int rc;

    if (!eq)
        return bad_part(errbuf, errlen, part, len, "expected key=value");
    key_len = (size_t)(eq - part);
    while (key_len > 0 && isspace((unsigned char)part[key_len - 1]))
        key_len--;
    value_start = eq + 1;
    value_len = len - (size_t)(value_start - part);
    while (value_len > 0 && isspace((unsigned char)*value_start)) {
        value_start++;
        value_len--;
    }
    for (int i = 0; i < 5; i++) {
        if (strlen(keys[i]) == key_len && memcmp(part, keys[i], key_len) == 0)
            key = i;
    }
    if (key < 0)
        return bad_part(errbuf, errlen, part, len, "unknown setting (expected loss, reorder, dup, corrupt or delay)");
    if (*seen & (1u << key))
        return bad_part(errbuf, errlen, part, len, "this setting is given twice");
    *seen |= 1u << key;
    if (value_len == 0 || value_len >= sizeof value)
        return bad_part(errbuf, errlen, part, len, value_len ? "value too long" : "missing value");
    memcpy(value, value_start, value_len);
    value[value_len] = '\0';

    switch (key) {
    case 0: rc = parse_probability(value, &spec->loss, &why); break;
    case 1: rc = parse_probability(value, &spec->reorder, &why); break;
    case 2: rc = parse_probability(value, &spec->dup, &why); break;
    case 3: rc = parse_probability(value, &spec->corrupt, &why); break;
    default: rc = parse_duration(value, &spec->delay, &why); break;
    }
    return rc < 0 ? bad_part(errbuf, errlen, part, len, why) : 0;
}

int ts_impair_parse(const char *text, struct ts_impair_spec *spec, char *errbuf, size_t errlen)
{
    struct ts_impair_spec parsed = { 0 };
    unsigned seen = 0;
    const char *p = text ? text : "";

    if (!spec)
        return -EINVAL;
    while (*p) {
        const char *comma = strchr(p, ',');
        const char *stop = comma ? comma : p + strlen(p);
        const char *start = p;
        int rc;

        while (start < stop && isspace((unsigned char)*start))
            start++;
        while (stop > start && isspace((unsigned char)stop[-1]))
            stop--;
        if (start == stop) {
            ts_netdev_errorf(errbuf, errlen, "bad impairment '%s': empty part between commas", text);
            return -EINVAL;
        }
        rc = parse_part(start, (size_t)(stop - start), &parsed, &seen, errbuf, errlen);
        if (rc < 0)
            return rc;
        p = comma ? comma + 1 : stop + strlen(stop);
        if (comma && *p == '\0') {
            ts_netdev_errorf(errbuf, errlen, "bad impairment '%s': trailing comma", text);
            return -EINVAL;
        }
    }
    *spec = parsed;
    return 0;
}

/* ---- the generator -------------------------------------------------------------- */

/* splitmix64 (Steele, Lea, Flood 2014): one word of state, good enough statistics for fault injection. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* True with probability p. Certain outcomes draw nothing, so loss=0 costs no randomness. */
static bool rng_chance(uint64_t *state, double p)
{
    if (p <= 0.0)
        return false;
    if (p >= 1.0)
        return true;
    return (double)(rng_next(state) >> 11) * 0x1.0p-53 < p;
}

static size_t rng_below(uint64_t *state, size_t n)
{
    return (size_t)(rng_next(state) % n);
}

/* ---- held frames ------------------------------------------------------------------ */

struct held {
    struct held *next;
    ts_time due;     /* when it may leave the stage it waits in */
    ts_time arrived; /* the `now` it entered the wrapper with */
    ts_time when;    /* the inner device's arrival time (incoming frames) */
    unsigned copies; /* 2 if it was duplicated */
    size_t len;
    uint8_t data[];
};

struct fifo {
    struct held *head, *tail;
    size_t count;
};

struct direction {
    struct fifo line;    /* the delay line: due times never decrease, since delay is fixed */
    struct held *slot;   /* a frame held back for reordering, or NULL */
};

struct impair_dev {
    struct ts_netdev dev;
    struct ts_netdev *inner;
    struct ts_impair_spec spec;
    uint64_t rng;
    struct ts_impair_stats stats;
    struct direction tx, rx;
    /* The last receive stopped at RECEIVE_BATCH with the inner device perhaps still holding frames. */
    bool rx_more;
    pthread_mutex_t lock;
    uint8_t scratch[TS_NETDEV_MAX_FRAME]; /* incoming frames and corrupted copies are built here */
};

static struct impair_dev *impair_of(struct ts_netdev *dev)
{
    return (struct impair_dev *)dev;
}

static struct held *held_new(const uint8_t *data, size_t len, ts_time now, ts_time when, unsigned copies)
{
    struct held *h = malloc(sizeof *h + len);

    if (!h)
        return NULL;
    h->next = NULL;
    h->due = now;
    h->arrived = now;
    h->when = when;
    h->copies = copies;
    h->len = len;
    memcpy(h->data, data, len);
    return h;
}

static void fifo_push(struct fifo *f, struct held *h)
{
    h->next = NULL;
    if (f->tail)
        f->tail->next = h;
    else
        f->head = h;
    f->tail = h;
    f->count++;
}

static struct held *fifo_pop(struct fifo *f)
{
    struct held *h = f->head;

    if (!h)
        return NULL;
    f->head = h->next;
    if (!f->head)
        f->tail = NULL;
    f->count--;
    return h;
}

static void fifo_clear(struct fifo *f)
{
    struct held *h;

    while ((h = fifo_pop(f)))
        free(h);
}

static ts_time earliest(ts_time a, ts_time b)
{
    return a < b ? a : b;
}

/* ---- the pipeline ------------------------------------------------------------------ */

/* Result of the random choices for one frame. */
struct verdict {
    bool lost;
    unsigned copies;
    bool hold;
};

/*
 * Draws this frame's fate. data must be writable (a copy): corruption flips a
 * byte in place.
 */
static struct verdict decide(struct impair_dev *imp, struct direction *dir, uint8_t *data, size_t len)
{
    struct verdict v = { .lost = false, .copies = 1, .hold = false };

    if (rng_chance(&imp->rng, imp->spec.loss)) {
        v.lost = true;
        imp->stats.dropped++;
        return v;
    }
    if (rng_chance(&imp->rng, imp->spec.corrupt)) {
        size_t at = len > 14 ? 14 + rng_below(&imp->rng, len - 14) : rng_below(&imp->rng, len);
        data[at] ^= (uint8_t)(1 + rng_below(&imp->rng, 255));
        imp->stats.corrupted++;
    }
    if (rng_chance(&imp->rng, imp->spec.dup)) {
        v.copies = 2;
        imp->stats.duplicated++;
    }
    /* Only one frame waits in the slot at a time; a second candidate just goes on. */
    if (!dir->slot && rng_chance(&imp->rng, imp->spec.reorder)) {
        v.hold = true;
        imp->stats.reordered++;
    }
    return v;
}

/* Puts a frame on the delay line; false (and a counted drop) if the line is full. */
static bool line_push(struct impair_dev *imp, struct direction *dir, struct held *h, ts_time now)
{
    if (dir->line.count >= MAX_HELD) {
        imp->stats.dropped++;
        free(h);
        return false;
    }
    h->due = now + imp->spec.delay;
    if (imp->spec.delay > 0)
        imp->stats.delayed++;
    fifo_push(&dir->line, h);
    return true;
}

/* ---- outgoing ------------------------------------------------------------------ */

static int tx_send(struct impair_dev *imp, ts_time now, const uint8_t *data, size_t len, unsigned copies)
{
    int rc = 0;

    for (unsigned i = 0; i < copies; i++) {
        int r = ts_netdev_transmit(imp->inner, now, data, len);
        if (i == 0)
            rc = r;
    }
    return rc;
}

/* A frame leaving the reorder stage: straight to the wire without delay, else onto the line. */
static int tx_emit(struct impair_dev *imp, ts_time now, const uint8_t *data, size_t len, unsigned copies,
                   struct held *reuse)
{
    struct held *h = reuse;

    if (imp->spec.delay == 0) {
        int rc = tx_send(imp, now, data, len, copies);
        free(reuse);
        return rc;
    }
    if (!h && !(h = held_new(data, len, now, now, copies))) {
        imp->stats.dropped++;
        return 0;
    }
    line_push(imp, &imp->tx, h, now);
    return 0;
}

static void tx_release_slot(struct impair_dev *imp, ts_time now)
{
    struct held *h = imp->tx.slot;

    imp->tx.slot = NULL;
    (void)tx_emit(imp, now, h->data, h->len, h->copies, h);
}

/* Sends what is due: an expired reorder slot, then the head of the delay line. */
static void tx_release_due(struct impair_dev *imp, ts_time now)
{
    struct held *h;

    if (imp->tx.slot && imp->tx.slot->due <= now)
        tx_release_slot(imp, now);
    while (imp->tx.line.head && imp->tx.line.head->due <= now) {
        h = fifo_pop(&imp->tx.line);
        (void)tx_send(imp, now, h->data, h->len, h->copies);
        free(h);
    }
}

static int impair_transmit(struct ts_netdev *dev, ts_time now, const uint8_t *frame, size_t len)
{
    struct impair_dev *imp = impair_of(dev);
    struct verdict v;
    struct held *h;
    int rc = 0;

    if (len > sizeof imp->scratch)
        return -EMSGSIZE;
    pthread_mutex_lock(&imp->lock);
    tx_release_due(imp, now);
    memcpy(imp->scratch, frame, len);
    v = decide(imp, &imp->tx, imp->scratch, len);
    if (v.lost)
        goto out;
    if (v.hold) {
        h = held_new(imp->scratch, len, now, now, v.copies);
        if (!h) {
            imp->stats.dropped++;
            goto out;
        }
        h->due = now + REORDER_HOLD;
        imp->tx.slot = h;
        goto out;
    }
    rc = tx_emit(imp, now, imp->scratch, len, v.copies, NULL);
    /* The held frame goes right behind the one that overtook it. */
    if (imp->tx.slot)
        tx_release_slot(imp, now);
out:
    pthread_mutex_unlock(&imp->lock);
    return rc;
}

static void impair_poll(struct ts_netdev *dev, ts_time now)
{
    struct impair_dev *imp = impair_of(dev);

    pthread_mutex_lock(&imp->lock);
    tx_release_due(imp, now);
    pthread_mutex_unlock(&imp->lock);
    ts_netdev_poll(imp->inner, now);
}

/* ---- incoming ------------------------------------------------------------------ */

static void rx_release_slot(struct impair_dev *imp, ts_time now)
{
    struct held *h = imp->rx.slot;

    imp->rx.slot = NULL;
    line_push(imp, &imp->rx, h, now);
}

/* Runs one frame from the inner device (in scratch) through the pipeline. */
static void rx_admit(struct impair_dev *imp, ts_time now, size_t len, ts_time when)
{
    struct verdict v = decide(imp, &imp->rx, imp->scratch, len);
    struct held *h;

    if (v.lost)
        return;
    h = held_new(imp->scratch, len, now, when, v.copies);
    if (!h) {
        imp->stats.dropped++;
        return;
    }
    if (v.hold) {
        h->due = now + REORDER_HOLD;
        imp->rx.slot = h;
        return;
    }
    line_push(imp, &imp->rx, h, now);
    if (imp->rx.slot)
        rx_release_slot(imp, now);
}

/* Hands the head of the incoming line to the caller; a duplicated frame stays for its second copy. */
static int rx_deliver(struct impair_dev *imp, ts_time now, uint8_t *buf, size_t cap, size_t *len, ts_time *when)
{
    struct held *h = imp->rx.line.head;
    bool fits = h->len <= cap;

    if (fits) {
        memcpy(buf, h->data, h->len);
        *len = h->len;
        /* The frame reaches the caller as late as it was held. */
        *when = h->when + (now - h->arrived);
    }
    if (--h->copies == 0)
        free(fifo_pop(&imp->rx.line));
    return fits ? 1 : -EMSGSIZE;
}

static bool rx_holding(const struct impair_dev *imp)
{
    return imp->rx.slot || imp->rx.line.head;
}

static int impair_receive(struct ts_netdev *dev, ts_time now, uint8_t *buf, size_t cap, size_t *len,
                          ts_time *when)
{
    struct impair_dev *imp = impair_of(dev);
    int rc = 0;
    int i;

    pthread_mutex_lock(&imp->lock);
    for (i = 0; i < RECEIVE_BATCH; i++) {
        size_t got = 0;
        ts_time arrived = now;

        if (imp->rx.slot && imp->rx.slot->due <= now)
            rx_release_slot(imp, now);
        if (imp->rx.line.head && imp->rx.line.head->due <= now) {
            rc = rx_deliver(imp, now, buf, cap, len, when);
            break;
        }
        rc = ts_netdev_receive(imp->inner, now, imp->scratch, sizeof imp->scratch, &got, &arrived);
        if (rc == 1) {
            rx_admit(imp, now, got, arrived);
            rc = 0;
            continue;
        }
        /* The source has ended, but frames we still hold are yet to come out. */
        if (rc == -ENODATA && rx_holding(imp))
            rc = 0;
        break;
    }
    imp->rx_more = i == RECEIVE_BATCH;
    pthread_mutex_unlock(&imp->lock);
    return rc;
}

/* ---- the rest of the device ---------------------------------------------------------- */

static int impair_wait_fd(struct ts_netdev *dev)
{
    return ts_netdev_wait_fd(impair_of(dev)->inner);
}

static ts_time direction_deadline(const struct direction *dir)
{
    ts_time t = TS_TIME_NEVER;

    if (dir->slot)
        t = earliest(t, dir->slot->due);
    if (dir->line.head)
        t = earliest(t, dir->line.head->due);
    return t;
}

static ts_time impair_next_deadline(struct ts_netdev *dev, ts_time now)
{
    struct impair_dev *imp = impair_of(dev);
    ts_time t;

    pthread_mutex_lock(&imp->lock);
    t = earliest(direction_deadline(&imp->tx), direction_deadline(&imp->rx));
    /* A receive that gave up after a batch of lost frames has more to look at right away. */
    if (imp->rx_more)
        t = earliest(t, now);
    pthread_mutex_unlock(&imp->lock);
    return earliest(t, ts_netdev_next_deadline(imp->inner, now));
}

static void direction_clear(struct direction *dir)
{
    fifo_clear(&dir->line);
    free(dir->slot);
    dir->slot = NULL;
}

static void impair_destroy(struct ts_netdev *dev)
{
    struct impair_dev *imp = impair_of(dev);

    direction_clear(&imp->tx);
    direction_clear(&imp->rx);
    ts_netdev_destroy(imp->inner);
    pthread_mutex_destroy(&imp->lock);
    free(imp);
}

static const struct ts_netdev_ops impair_ops = {
    .kind = "impair",
    .transmit = impair_transmit,
    .receive = impair_receive,
    .wait_fd = impair_wait_fd,
    .next_deadline = impair_next_deadline,
    .poll = impair_poll,
    .destroy = impair_destroy,
};

static bool probability_ok(double p)
{
    return isfinite(p) && p >= 0.0 && p <= 1.0;
}

static bool spec_ok(const struct ts_impair_spec *spec)
{
    return probability_ok(spec->loss) && probability_ok(spec->reorder) && probability_ok(spec->dup) &&
           probability_ok(spec->corrupt) && spec->delay >= 0 && spec->delay <= MAX_DELAY;
}

struct ts_netdev *ts_impair_wrap(struct ts_netdev *inner, const struct ts_impair_spec *spec, uint64_t seed)
{
    struct impair_dev *imp;

    if (!inner)
        return NULL;
    if (!spec || !spec_ok(spec) || !(imp = calloc(1, sizeof *imp))) {
        ts_netdev_destroy(inner);
        return NULL;
    }
    if (pthread_mutex_init(&imp->lock, NULL) != 0) {
        free(imp);
        ts_netdev_destroy(inner);
        return NULL;
    }
    imp->dev.ops = &impair_ops;
    ts_netdev_set_name(&imp->dev, inner->name);
    imp->dev.mtu = inner->mtu;
    memcpy(imp->dev.mac, inner->mac, sizeof imp->dev.mac);
    imp->dev.has_mac = inner->has_mac;
    imp->inner = inner;
    imp->spec = *spec;
    imp->rng = seed;
    return &imp->dev;
}

void ts_impair_get_stats(struct ts_netdev *impair_dev, struct ts_impair_stats *out)
{
    struct impair_dev *imp;

    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!impair_dev || impair_dev->ops != &impair_ops)
        return;
    imp = impair_of(impair_dev);
    pthread_mutex_lock(&imp->lock);
    *out = imp->stats;
    pthread_mutex_unlock(&imp->lock);
}
