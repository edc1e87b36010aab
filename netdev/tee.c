/*
 * The capture tee: every frame that passes through, in either direction, is
 * appended to a pcap file that Wireshark and tcpdump open.
 *
 * Timestamps are the `now` of the call (or, for a received frame, the arrival
 * time the inner device reported) plus an epoch offset. The default offset maps
 * the monotonic clock to wall-clock time as it stood when the tee was made, so
 * a live capture shows real dates; a virtual-time caller sets the offset to 0.
 *
 * A mutex guards the writer: an application thread may transmit while the
 * runtime thread receives.
 *
 * Over an offloading device (a TAP with virtio-net headers) the tee advertises
 * the same offloads and passes each frame's metadata through untouched. The
 * capture still holds valid checksums: a frame whose checksum the device is to
 * fill is recorded from a copy with the checksum filled in. TSO super-segments
 * are recorded as the one large frame they are, as tcpdump on Linux shows them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netdev_internal.h"

struct tee_dev {
    struct ts_netdev dev;
    struct ts_netdev *inner;
    struct ts_pcap_writer out;
    ts_time epoch_offset;
    pthread_mutex_t lock;
    uint8_t *scratch; /* under lock: a copy of a partial-checksum frame, completed for the capture */
};

static struct tee_dev *tee_of(struct ts_netdev *dev)
{
    return (struct tee_dev *)dev;
}

/* Capture problems (a full disk) never disturb the traffic itself: the frame still goes through. */
static void tee_record(struct tee_dev *tee, ts_time at, const uint8_t *frame, size_t len)
{
    pthread_mutex_lock(&tee->lock);
    (void)ts_pcap_writer_write(&tee->out, at + tee->epoch_offset, frame, len);
    pthread_mutex_unlock(&tee->lock);
}

/* Recorded before it is handed on: the capture shows what the stack sent, even if the device refuses it. */
static int tee_transmit(struct ts_netdev *dev, ts_time now, const uint8_t *frame, size_t len)
{
    struct tee_dev *tee = tee_of(dev);

    tee_record(tee, now, frame, len);
    return ts_netdev_transmit(tee->inner, now, frame, len);
}

static int tee_receive(struct ts_netdev *dev, ts_time now, uint8_t *buf, size_t cap, size_t *len, ts_time *when)
{
    struct tee_dev *tee = tee_of(dev);
    /* A device that does not say when a frame arrived is taken to mean "now". */
    ts_time arrived = now;
    size_t got = 0;
    int rc = ts_netdev_receive(tee->inner, now, buf, cap, &got, &arrived);

    if (rc != 1)
        return rc;
    tee_record(tee, arrived, buf, got);
    *len = got;
    *when = arrived;
    return 1;
}

/* Records the frame as it will be on the wire: a checksum left to the device is filled in a copy. */
static void tee_record_meta(struct tee_dev *tee, ts_time at, const uint8_t *frame, size_t len,
                            const struct ts_frame_meta *meta)
{
    if (!meta || !(meta->flags & TS_FRAME_CSUM_PARTIAL) || len > TS_NETDEV_MAX_FRAME) {
        tee_record(tee, at, frame, len);
        return;
    }
    pthread_mutex_lock(&tee->lock);
    if (!tee->scratch)
        tee->scratch = malloc(TS_NETDEV_MAX_FRAME);
    if (tee->scratch) {
        struct ts_frame_meta copy = *meta;
        memcpy(tee->scratch, frame, len);
        (void)ts_netdev_complete_checksum(tee->scratch, len, &copy); /* bad offsets: recorded as they are */
        (void)ts_pcap_writer_write(&tee->out, at + tee->epoch_offset, tee->scratch, len);
    } else {
        (void)ts_pcap_writer_write(&tee->out, at + tee->epoch_offset, frame, len);
    }
    pthread_mutex_unlock(&tee->lock);
}

static int tee_transmit_meta(struct ts_netdev *dev, ts_time now, const uint8_t *frame, size_t len,
                             const struct ts_frame_meta *meta)
{
    struct tee_dev *tee = tee_of(dev);

    tee_record_meta(tee, now, frame, len, meta);
    return ts_netdev_transmit_meta(tee->inner, now, frame, len, meta);
}

static int tee_receive_meta(struct ts_netdev *dev, ts_time now, uint8_t *buf, size_t cap, size_t *len,
                            ts_time *when, struct ts_frame_meta *meta)
{
    struct tee_dev *tee = tee_of(dev);
    ts_time arrived = now;
    size_t got = 0;
    int rc = ts_netdev_receive_meta(tee->inner, now, buf, cap, &got, &arrived, meta);

    if (rc != 1)
        return rc;
    tee_record_meta(tee, arrived, buf, got, meta);
    *len = got;
    *when = arrived;
    return 1;
}

static int tee_wait_fd(struct ts_netdev *dev)
{
    return ts_netdev_wait_fd(tee_of(dev)->inner);
}

static ts_time tee_next_deadline(struct ts_netdev *dev, ts_time now)
{
    return ts_netdev_next_deadline(tee_of(dev)->inner, now);
}

static void tee_poll(struct ts_netdev *dev, ts_time now)
{
    ts_netdev_poll(tee_of(dev)->inner, now);
}

static void tee_destroy(struct ts_netdev *dev)
{
    struct tee_dev *tee = tee_of(dev);

    ts_pcap_writer_close(&tee->out);
    ts_netdev_destroy(tee->inner);
    pthread_mutex_destroy(&tee->lock);
    free(tee->scratch);
    free(tee);
}

static const struct ts_netdev_ops tee_ops = {
    .kind = "tee",
    .transmit = tee_transmit,
    .receive = tee_receive,
    .wait_fd = tee_wait_fd,
    .next_deadline = tee_next_deadline,
    .poll = tee_poll,
    .destroy = tee_destroy,
    .transmit_meta = tee_transmit_meta,
    .receive_meta = tee_receive_meta,
};

/* Wall-clock minus monotonic time, in microseconds: added to ts_monotonic_now() it gives Unix time. */
static ts_time realtime_offset(void)
{
    struct timespec real;
    ts_time mono = ts_monotonic_now();

    clock_gettime(CLOCK_REALTIME, &real);
    return (ts_time)real.tv_sec * 1000000 + real.tv_nsec / 1000 - mono;
}

struct ts_netdev *ts_tee_wrap(struct ts_netdev *inner, const char *pcap_path, char *errbuf, size_t errlen)
{
    struct tee_dev *tee;

    /*
     * No device: the opener that failed has already written why, so errbuf is left
     * alone and ts_tee_wrap(ts_tap_open(name, err, n), path, err, n) reports the real cause.
     */
    if (!inner)
        return NULL;
    tee = calloc(1, sizeof *tee);
    if (!tee) {
        ts_netdev_errorf(errbuf, errlen, "capture tee: out of memory");
        ts_netdev_destroy(inner);
        return NULL;
    }
    if (ts_pcap_writer_open(&tee->out, pcap_path, errbuf, errlen) < 0) {
        free(tee);
        ts_netdev_destroy(inner);
        return NULL;
    }
    if (pthread_mutex_init(&tee->lock, NULL) != 0) {
        ts_netdev_errorf(errbuf, errlen, "capture tee: cannot create a mutex");
        ts_pcap_writer_close(&tee->out);
        free(tee);
        ts_netdev_destroy(inner);
        return NULL;
    }
    tee->dev.ops = &tee_ops;
    ts_netdev_set_name(&tee->dev, inner->name);
    tee->dev.mtu = inner->mtu;
    memcpy(tee->dev.mac, inner->mac, sizeof tee->dev.mac);
    tee->dev.has_mac = inner->has_mac;
    /* The capture records each frame in one piece, so the tee takes frames whole (no gathering). */
    tee->dev.offloads = inner->ops->transmit_meta ? inner->offloads & ~TS_LINK_TX_GATHER : 0;
    tee->dev.tso_max = inner->tso_max;
    tee->inner = inner;
    tee->epoch_offset = realtime_offset();
    return &tee->dev;
}

void ts_tee_set_epoch_offset(struct ts_netdev *tee_dev, ts_time offset)
{
    struct tee_dev *tee;

    if (!tee_dev || tee_dev->ops != &tee_ops)
        return;
    tee = tee_of(tee_dev);
    pthread_mutex_lock(&tee->lock);
    tee->epoch_offset = offset;
    pthread_mutex_unlock(&tee->lock);
}
