/*
 * The device-independent part of netdev/: dispatchers over the ops table, the
 * bridge to the core's struct ts_link, default MACs, and the two OS services a
 * live runtime needs that the core may not touch (the clock and entropy).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "netdev_internal.h"

int ts_netdev_transmit(struct ts_netdev *dev, ts_time now, const uint8_t *frame, size_t len)
{
    if (!dev || !dev->ops->transmit)
        return -EINVAL;
    if (!frame || len == 0)
        return -EINVAL;
    return dev->ops->transmit(dev, now, frame, len);
}

/* len and when may be NULL: wrappers and simple callers do not always care. */
int ts_netdev_receive(struct ts_netdev *dev, ts_time now, uint8_t *buf, size_t cap, size_t *len, ts_time *when)
{
    size_t len_unused;
    ts_time when_unused;

    if (!dev || !dev->ops->receive || !buf)
        return -EINVAL;
    return dev->ops->receive(dev, now, buf, cap, len ? len : &len_unused, when ? when : &when_unused);
}

int ts_netdev_transmit_meta(struct ts_netdev *dev, ts_time now, const uint8_t *frame, size_t len,
                            const struct ts_frame_meta *meta)
{
    if (!dev || !frame || len == 0)
        return -EINVAL;
    if (dev->ops->transmit_meta)
        return dev->ops->transmit_meta(dev, now, frame, len, meta);
    if (meta && (meta->flags != 0 || meta->gso_size != 0))
        return -EOPNOTSUPP;
    return ts_netdev_transmit(dev, now, frame, len);
}

int ts_netdev_receive_meta(struct ts_netdev *dev, ts_time now, uint8_t *buf, size_t cap, size_t *len, ts_time *when,
                           struct ts_frame_meta *meta)
{
    size_t len_unused;
    ts_time when_unused;

    if (!dev || !buf || !meta)
        return -EINVAL;
    memset(meta, 0, sizeof *meta);
    if (!dev->ops->receive_meta)
        return ts_netdev_receive(dev, now, buf, cap, len, when);
    return dev->ops->receive_meta(dev, now, buf, cap, len ? len : &len_unused, when ? when : &when_unused, meta);
}

int ts_netdev_wait_fd(struct ts_netdev *dev)
{
    if (!dev || !dev->ops->wait_fd)
        return -1;
    return dev->ops->wait_fd(dev);
}

ts_time ts_netdev_next_deadline(struct ts_netdev *dev, ts_time now)
{
    if (!dev || !dev->ops->next_deadline)
        return TS_TIME_NEVER;
    return dev->ops->next_deadline(dev, now);
}

void ts_netdev_poll(struct ts_netdev *dev, ts_time now)
{
    if (dev && dev->ops->poll)
        dev->ops->poll(dev, now);
}

void ts_netdev_destroy(struct ts_netdev *dev)
{
    if (dev)
        dev->ops->destroy(dev);
}

/* A frame the device refuses (a full TAP queue) is reported; the core counts it as eth.drop_tx_link. */
static int link_transmit(void *ctx, ts_time now, const uint8_t *frame, size_t len)
{
    return ts_netdev_transmit(ctx, now, frame, len);
}

static int link_transmit_meta(void *ctx, ts_time now, const uint8_t *frame, size_t len,
                              const struct ts_frame_meta *meta)
{
    return ts_netdev_transmit_meta(ctx, now, frame, len, meta);
}

static int link_transmit_gather(void *ctx, ts_time now, const struct ts_frame_part *parts, unsigned nparts,
                                const struct ts_frame_meta *meta)
{
    struct ts_netdev *dev = ctx;
    return dev->ops->transmit_gather(dev, now, parts, nparts, meta);
}

struct ts_link ts_netdev_link(struct ts_netdev *dev)
{
    struct ts_link link = {
        .ctx = dev,
        .transmit = link_transmit,
        .mtu = dev ? dev->mtu : 0,
    };
    /* Only a device that takes metadata can be asked for offloads. */
    if (dev && dev->offloads != 0 && dev->ops->transmit_meta) {
        link.offloads = dev->offloads;
        link.tso_max = dev->tso_max;
        link.transmit_meta = link_transmit_meta;
        /* Gathering only from a device that implements it, and only with its checksum offload. */
        if (dev->ops->transmit_gather && (dev->offloads & TS_LINK_TX_CSUM))
            link.transmit_gather = link_transmit_gather;
        else
            link.offloads &= ~TS_LINK_TX_GATHER;
    }
    return link;
}

/* FNV-1a (64 bit): tiny, stable across runs and platforms, and spreads short names well. */
static uint64_t fnv1a64(const char *text)
{
    uint64_t hash = 0xcbf29ce484222325ull;

    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        hash ^= *p;
        hash *= 0x100000001b3ull;
    }
    return hash;
}

void ts_netdev_default_mac(const char *name, uint8_t mac[6])
{
    uint64_t hash = fnv1a64(name ? name : "");

    /* 0x02 in the first octet: locally administered, unicast (IEEE 802 U/L and I/G bits). */
    mac[0] = 0x02;
    mac[1] = 0x54; /* 'T' */
    mac[2] = 0x53; /* 'S' */
    /* Fold the whole hash in so names differing only late still differ in the MAC. */
    hash ^= hash >> 32;
    mac[3] = (uint8_t)(hash >> 16);
    mac[4] = (uint8_t)(hash >> 8);
    mac[5] = (uint8_t)hash;
}

ts_time ts_monotonic_now(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail with a valid pointer on Linux. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ts_time)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int ts_os_random(void *buf, size_t len)
{
    uint8_t *out = buf;
    size_t done = 0;
    /* Bounded: getrandom only returns short for huge requests or signals. */
    for (int attempts = 0; done < len && attempts < 1000; attempts++) {
        ssize_t n = getrandom(out + done, len - done, 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)n;
    }
    return done == len ? 0 : -EIO;
}

void ts_netdev_errorf(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!errbuf || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

void ts_netdev_set_name(struct ts_netdev *dev, const char *name)
{
    snprintf(dev->name, sizeof dev->name, "%s", name ? name : "");
}
