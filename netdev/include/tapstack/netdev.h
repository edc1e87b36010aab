/*
 * Network devices: where frames come from and go to.
 *
 * A device is an ops table plus common fields. Wrappers take ownership of an
 * inner device and stack on it, so
 *     tee(impair(tap("tap0")), "run.pcap")
 * records what the stack really sent and received while the impairment sits
 * between it and the wire. The core never sees a device: a runtime (sockapi's,
 * or a test's own loop) turns one into a struct ts_link with ts_netdev_link().
 *
 * All calls are non-blocking. Errors are negative errno values; the ones that
 * open devices also fill a human-readable message saying what to do.
 */
#ifndef TAPSTACK_NETDEV_H
#define TAPSTACK_NETDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapstack/stack.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The receive buffer every caller provides: the largest frame a TAP can hand over (a 65535-byte IP
 * packet, the Ethernet header and one VLAN tag). A buffer this size is read into directly; a smaller
 * one costs the TAP a copy through its scratch space.
 */
#define TS_NETDEV_MAX_FRAME (65535 + 14 + 4)

struct ts_netdev;

struct ts_netdev_ops {
    const char *kind; /* "tap", "pcap", "memlink", "impair", "tee" */
    /* Sends one frame. 0 on success (a frame the device chose to drop, e.g. impairment, also counts as sent). */
    int (*transmit)(struct ts_netdev *dev, ts_time now, const uint8_t *frame, size_t len);
    /*
     * Takes one received frame if one is ready at `now`: copies it to buf, sets *len
     * and *when (the time it arrived; for a pcap file, its timestamp) and returns 1.
     * Returns 0 if none is ready, negative errno on a device failure, -ENODATA at the
     * end of a finite source (a pcap file), -EMSGSIZE if the frame was longer than cap
     * (that frame is dropped, never cut short; call again for the next one).
     */
    int (*receive)(struct ts_netdev *dev, ts_time now, uint8_t *buf, size_t cap, size_t *len, ts_time *when);
    /* A file descriptor that polls readable when receive may have a frame; -1 if none. */
    int (*wait_fd)(struct ts_netdev *dev);
    /* When the device next has work that no fd announces (delayed frames); TS_TIME_NEVER if none. */
    ts_time (*next_deadline)(struct ts_netdev *dev, ts_time now);
    /* Moves delayed outgoing frames whose time has come. May be NULL. */
    void (*poll)(struct ts_netdev *dev, ts_time now);
    void (*destroy)(struct ts_netdev *dev);
    /*
     * Optional (NULL in most devices): the same as transmit and receive, with what the device
     * promises or is asked about the frame (struct ts_frame_meta). A device sets them only if
     * it advertises offloads; without them the dispatchers below fall back to the plain calls
     * (and report a zero meta), so every other device sees and gives standard frames.
     */
    int (*transmit_meta)(struct ts_netdev *dev, ts_time now, const uint8_t *frame, size_t len,
                         const struct ts_frame_meta *meta);
    int (*receive_meta)(struct ts_netdev *dev, ts_time now, uint8_t *buf, size_t cap, size_t *len, ts_time *when,
                        struct ts_frame_meta *meta);
    /*
     * Optional: transmit_meta with the frame in parts (headers, then data where it lies). A device
     * that sets it may advertise TS_LINK_TX_GATHER; ts_netdev_link masks that bit off otherwise.
     */
    int (*transmit_gather)(struct ts_netdev *dev, ts_time now, const struct ts_frame_part *parts, unsigned nparts,
                           const struct ts_frame_meta *meta);
};

struct ts_netdev {
    const struct ts_netdev_ops *ops;
    char name[32];
    size_t mtu;
    uint8_t mac[6];   /* the MAC the stack should use on this device */
    bool has_mac;     /* false if the device has no opinion (then the app picks one) */
    uint32_t offloads; /* TS_LINK_TX_CSUM | TS_LINK_TSO4 | TS_LINK_TX_GATHER the device performs (see struct ts_link); 0 = none */
    size_t tso_max;    /* with TS_LINK_TSO4: the largest IP datagram it cuts */
};

/* Thin dispatchers; ts_netdev_destroy(NULL) is allowed. */
int ts_netdev_transmit(struct ts_netdev *dev, ts_time now, const uint8_t *frame, size_t len);
int ts_netdev_receive(struct ts_netdev *dev, ts_time now, uint8_t *buf, size_t cap, size_t *len, ts_time *when);
/* With per-frame metadata: through the device's *_meta op, else the plain one (meta zero on receive;
 * transmit refuses a frame that asks for an offload the device does not have, -EOPNOTSUPP). */
int ts_netdev_transmit_meta(struct ts_netdev *dev, ts_time now, const uint8_t *frame, size_t len,
                            const struct ts_frame_meta *meta);
int ts_netdev_receive_meta(struct ts_netdev *dev, ts_time now, uint8_t *buf, size_t cap, size_t *len, ts_time *when,
                           struct ts_frame_meta *meta);
int ts_netdev_wait_fd(struct ts_netdev *dev);
ts_time ts_netdev_next_deadline(struct ts_netdev *dev, ts_time now);
void ts_netdev_poll(struct ts_netdev *dev, ts_time now);
void ts_netdev_destroy(struct ts_netdev *dev);

/* A struct ts_link whose transmit calls ts_netdev_transmit on dev; it advertises dev's offloads. */
struct ts_link ts_netdev_link(struct ts_netdev *dev);

/* The MAC 02:54:53:xx:xx:xx (locally administered) derived from a name, stable across runs. */
void ts_netdev_default_mac(const char *name, uint8_t mac[6]);

/* ---- TAP ------------------------------------------------------------------ */

/*
 * Attaches to the TAP interface `name`, creating it if it does not exist
 * (IFF_TAP | IFF_NO_PI, non-blocking). The MTU is read from the interface.
 * Offloads are on when the kernel offers them (ts_tap_open_offload says more).
 * Returns NULL with a message in errbuf: no /dev/net/tun (load the tun module),
 * no permission (needs CAP_NET_ADMIN: run as root or in a namespace you own),
 * name busy (another process holds it).
 */
struct ts_netdev *ts_tap_open(const char *name, char *errbuf, size_t errlen);
/*
 * The same, choosing offloads. With offload true the descriptor carries a virtio-net header
 * (IFF_VNET_HDR) and TUNSETOFFLOAD asks for checksum offload and TSO4 both ways: the kernel
 * hands over TCP super-segments up to 64 KiB with partial checksums and accepts them from us
 * (dev->offloads says what was granted; a kernel that refuses leaves them off, no error).
 * Through the plain receive/transmit ops such a device still gives and takes standard frames:
 * it completes partial checksums itself (a super-segment stays one frame larger than the MTU).
 */
struct ts_netdev *ts_tap_open_offload(const char *name, bool offload, char *errbuf, size_t errlen);

/* ---- pcap files ------------------------------------------------------------ */

/*
 * A device that reads frames from a capture (receive returns them in order with
 * their timestamps, whatever `now` is, then -ENODATA) and, if out_path is not
 * NULL, writes every transmitted frame to another capture. Ethernet (DLT_EN10MB) only.
 * No wait fd: next_deadline is `now` while input frames remain. Either path may be
 * NULL: without input, receive always returns 0; without output, frames sent are discarded.
 */
struct ts_netdev *ts_pcap_open(const char *in_path, const char *out_path, char *errbuf, size_t errlen);

/* ---- in-memory link --------------------------------------------------------- */

/*
 * Two devices joined back to back: what one transmits, the other receives.
 * No kernel involved; wait_fd is an eventfd that polls readable while frames
 * wait for that end, so a runtime loop treats it like a TAP. Frames queue in memory up to a bound
 * (frames beyond it are dropped and counted). Each end is destroyed on its own;
 * the pair's shared state goes with the second.
 */
int ts_memlink_pair(size_t mtu, struct ts_netdev **a, struct ts_netdev **b);
/* Frames waiting in the queue toward `dev` and frames dropped because that queue was full. */
size_t ts_memlink_pending(struct ts_netdev *dev);
uint64_t ts_memlink_dropped(struct ts_netdev *dev);

/* ---- wrappers ---------------------------------------------------------------- */

struct ts_impair_spec {
    double loss;     /* probability 0..1 that a frame is dropped */
    double reorder;  /* probability that a frame is held back behind the next one */
    double dup;      /* probability that a frame is sent twice */
    double corrupt;  /* probability that one byte of a frame is flipped */
    ts_time delay;   /* fixed one-way delay, applied in both directions */
};

/* Parses "loss=3%,reorder=10%,dup=1%,corrupt=0.1%,delay=1ms" (each part optional; units us/ms/s).
 * Returns 0, or -EINVAL with a message naming the bad part. */
int ts_impair_parse(const char *text, struct ts_impair_spec *spec, char *errbuf, size_t errlen);

/* Wraps inner (taking ownership, also on failure): impairs both directions with a seeded generator.
 * NULL if spec is out of range (see ts_impair_parse) or memory runs out. */
struct ts_netdev *ts_impair_wrap(struct ts_netdev *inner, const struct ts_impair_spec *spec, uint64_t seed);

struct ts_impair_stats {
    uint64_t dropped, reordered, duplicated, corrupted, delayed;
};
void ts_impair_get_stats(struct ts_netdev *impair_dev, struct ts_impair_stats *out);

/*
 * Wraps inner (taking ownership, also on failure): writes every frame received and transmitted to
 * a pcap file (DLT_EN10MB) that Wireshark opens. A frame's timestamp is the `now`
 * it passed with plus an epoch offset; by default the offset maps ts_monotonic_now()
 * to wall-clock time, and a virtual-time caller sets it with ts_tee_set_epoch_offset
 * (0 writes the virtual times as they are). The file is flushed after each frame so
 * an interrupted run leaves a complete capture. NULL with a message on failure.
 */
struct ts_netdev *ts_tee_wrap(struct ts_netdev *inner, const char *pcap_path, char *errbuf, size_t errlen);
void ts_tee_set_epoch_offset(struct ts_netdev *tee_dev, ts_time offset);

/* ---- clock --------------------------------------------------------------------- */

/* CLOCK_MONOTONIC in microseconds: the `now` every live runtime hands the core. */
ts_time ts_monotonic_now(void);
/* Fills buf with len unpredictable bytes from the OS (getrandom); for default seeds. */
int ts_os_random(void *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
