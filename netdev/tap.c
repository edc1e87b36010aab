/*
 * The TAP device: Ethernet frames to and from the kernel through /dev/net/tun.
 *
 * The interface is attached with IFF_TAP | IFF_NO_PI, so each read() returns
 * exactly one frame and each write() injects exactly one, with no packet-info
 * header in front. The descriptor is non-blocking: the runtime polls it.
 *
 * With offloads (the default), IFF_VNET_HDR puts a struct virtio_net_hdr in
 * front of every frame both ways and TUNSETOFFLOAD lets the kernel skip its
 * checksums and segmentation: it reads and writes TCP super-segments of up to
 * 64 KiB whose checksum the other side completes. readv/writev keep the header
 * apart from the frame, so the frame is never copied for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_net.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "netdev_internal.h"

#define TUN_PATH "/dev/net/tun"

/*
 * Room for the largest frame the kernel can hand us: a 65535-byte packet, the
 * Ethernet header and one VLAN tag (TS_NETDEV_MAX_FRAME). Reading into a smaller
 * buffer would silently cut the frame, so a caller whose buffer is smaller gets
 * the frame through this scratch space (one more copy) and an error if it does
 * not fit; a caller with a TS_NETDEV_MAX_FRAME buffer is read into directly.
 */
#define TAP_SCRATCH_SIZE TS_NETDEV_MAX_FRAME

struct tap_dev {
    struct ts_netdev dev;
    int fd;
    bool vnet_hdr;    /* every frame is preceded by a struct virtio_net_hdr, both ways */
    uint8_t *scratch; /* allocated on first use by a small-buffer caller */
};

#define TAP_VNET_HDR_LEN sizeof(struct virtio_net_hdr)
/* The largest IP datagram the kernel hands over or takes as one TSO frame. */
#define TAP_TSO_MAX 65535

static struct tap_dev *tap_of(struct ts_netdev *dev)
{
    return (struct tap_dev *)dev;
}

/* The virtio-net header asking the kernel for what meta asks (NULL: nothing, an ordinary frame). */
static int tap_vnet_header(const uint8_t *frame, size_t len, const struct ts_frame_meta *meta,
                           struct virtio_net_hdr *vh)
{
    memset(vh, 0, sizeof *vh);
    vh->gso_type = VIRTIO_NET_HDR_GSO_NONE;
    if (!meta)
        return 0;
    if (meta->flags & TS_FRAME_CSUM_PARTIAL) {
        if (!ts_frame_meta_csum_fits(meta, len))
            return -EINVAL;
        vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        vh->csum_start = meta->csum_start;
        vh->csum_offset = meta->csum_offset;
    }
    if (meta->gso_size != 0) {
        /* TSO needs the partial checksum and a TCP header at csum_start (its data offset gives hdr_len). */
        if (!(meta->flags & TS_FRAME_CSUM_PARTIAL) || (size_t)meta->csum_start + 20 > len)
            return -EINVAL;
        vh->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
        vh->gso_size = meta->gso_size;
        vh->hdr_len = (uint16_t)(meta->csum_start + (frame[meta->csum_start + 12] >> 4) * 4);
    }
    return 0;
}

/*
 * Writes one frame given in parts (the first holds every header up to the TCP header's end when
 * meta asks for TSO); a frame in one piece is one part. One writev: the kernel copies each byte once.
 */
static int tap_write_parts(struct tap_dev *tap, const struct ts_frame_part *parts, unsigned nparts,
                           const struct ts_frame_meta *meta)
{
    struct virtio_net_hdr vh;
    struct iovec iov[1 + TS_FRAME_PARTS_MAX];
    size_t len = 0;
    int iovcnt = 0;
    ssize_t n;

    if (nparts == 0 || nparts > TS_FRAME_PARTS_MAX)
        return -EINVAL;
    for (unsigned k = 0; k < nparts; k++)
        len += parts[k].len;
    size_t want = len;
    if (len > TAP_SCRATCH_SIZE)
        return -EMSGSIZE;
    if (tap->vnet_hdr) {
        /* The offsets the header needs lie in the first part (checked against it, not the whole). */
        int rc = tap_vnet_header(parts[0].data, parts[0].len, meta, &vh);
        if (rc < 0)
            return rc;
        iov[iovcnt++] = (struct iovec){.iov_base = &vh, .iov_len = sizeof vh};
        want += sizeof vh;
    } else if (meta && (meta->flags != 0 || meta->gso_size != 0)) {
        return -EOPNOTSUPP;
    }
    for (unsigned k = 0; k < nparts; k++)
        iov[iovcnt++] = (struct iovec){.iov_base = (void *)parts[k].data, .iov_len = parts[k].len};
    /*
     * A full queue (EAGAIN) is reported, not waited out: the runtime must never
     * block here, and a lost Ethernet frame is something the protocols handle.
     */
    do {
        n = writev(tap->fd, iov, iovcnt);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    return (size_t)n == want ? 0 : -EIO;
}

static int tap_write(struct tap_dev *tap, const uint8_t *frame, size_t len, const struct ts_frame_meta *meta)
{
    struct ts_frame_part whole = {frame, len};
    return tap_write_parts(tap, &whole, 1, meta);
}

static int tap_transmit(struct ts_netdev *dev, ts_time now, const uint8_t *frame, size_t len)
{
    (void)now;
    return tap_write(tap_of(dev), frame, len, NULL);
}

static int tap_transmit_meta(struct ts_netdev *dev, ts_time now, const uint8_t *frame, size_t len,
                             const struct ts_frame_meta *meta)
{
    (void)now;
    return tap_write(tap_of(dev), frame, len, meta);
}

static int tap_transmit_gather(struct ts_netdev *dev, ts_time now, const struct ts_frame_part *parts, unsigned nparts,
                               const struct ts_frame_meta *meta)
{
    (void)now;
    return tap_write_parts(tap_of(dev), parts, nparts, meta);
}

/* What the kernel's header promises, as the core understands it; a header it cannot vouch for promises nothing. */
static void tap_meta_from_vnet(const struct virtio_net_hdr *vh, size_t len, struct ts_frame_meta *meta)
{
    memset(meta, 0, sizeof *meta);
    if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        meta->flags = TS_FRAME_CSUM_PARTIAL;
        meta->csum_start = vh->csum_start;
        meta->csum_offset = vh->csum_offset;
        if (!ts_frame_meta_csum_fits(meta, len))
            meta->flags = 0; /* the core will check the checksum and drop the frame if it does not verify */
    } else if (vh->flags & VIRTIO_NET_HDR_F_DATA_VALID) {
        meta->flags = TS_FRAME_CSUM_VERIFIED;
    }
    if ((vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_NONE)
        meta->gso_size = vh->gso_size;
}

/* One read() = one frame (after its header, with offloads); 0 when nothing is queued. */
static int tap_read_frame(struct tap_dev *tap, uint8_t *buf, size_t cap, size_t *len, struct ts_frame_meta *meta)
{
    struct virtio_net_hdr vh;
    struct iovec iov[2];
    int iovcnt = 0;
    ssize_t n;

    if (tap->vnet_hdr)
        iov[iovcnt++] = (struct iovec){.iov_base = &vh, .iov_len = sizeof vh};
    iov[iovcnt++] = (struct iovec){.iov_base = buf, .iov_len = cap};
    do {
        n = readv(tap->fd, iov, iovcnt);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
    memset(meta, 0, sizeof *meta);
    if (tap->vnet_hdr) {
        if ((size_t)n < sizeof vh)
            return -EIO;
        n -= (ssize_t)sizeof vh;
        tap_meta_from_vnet(&vh, (size_t)n, meta);
    }
    *len = (size_t)n;
    return 1;
}

/* Ethernet II carrying IPv4 carrying TCP (no VLAN tag: the kernel gives a TAP untagged frames). */
static bool tap_frame_is_ipv4_tcp(const uint8_t *frame, size_t len)
{
    return len >= 14 + 20 && frame[12] == 0x08 && frame[13] == 0x00 && frame[14 + 9] == 6;
}

static int tap_receive_meta(struct ts_netdev *dev, ts_time now, uint8_t *buf, size_t cap, size_t *len,
                            ts_time *when, struct ts_frame_meta *meta)
{
    struct tap_dev *tap = tap_of(dev);
    size_t got = 0;
    int rc;

    if (cap >= TAP_SCRATCH_SIZE) {
        rc = tap_read_frame(tap, buf, cap, &got, meta);
    } else {
        if (!tap->scratch && !(tap->scratch = malloc(TAP_SCRATCH_SIZE)))
            return -ENOMEM;
        rc = tap_read_frame(tap, tap->scratch, TAP_SCRATCH_SIZE, &got, meta);
        if (rc == 1 && got > cap)
            return -EMSGSIZE; /* the frame is consumed: dropped, never cut short */
        if (rc == 1)
            memcpy(buf, tap->scratch, got);
    }
    if (rc != 1)
        return rc;
    /*
     * The promise pays only for bulk TCP. Anything else (UDP, mostly) is completed here: an ICMP
     * error the stack sends about a datagram quotes its header, checksum included, and must quote
     * the value the wire would have carried.
     */
    if ((meta->flags & TS_FRAME_CSUM_PARTIAL) && !tap_frame_is_ipv4_tcp(buf, got))
        (void)ts_netdev_complete_checksum(buf, got, meta);
    *len = got;
    *when = now;
    return 1;
}

/* A caller without metadata gets a standard frame: a checksum the kernel left to us is completed here. */
static int tap_receive(struct ts_netdev *dev, ts_time now, uint8_t *buf, size_t cap, size_t *len, ts_time *when)
{
    struct ts_frame_meta meta;
    int rc = tap_receive_meta(dev, now, buf, cap, len, when, &meta);

    if (rc == 1)
        (void)ts_netdev_complete_checksum(buf, *len, &meta); /* bad offsets: left as is, the stack drops it */
    return rc;
}

static int tap_wait_fd(struct ts_netdev *dev)
{
    return tap_of(dev)->fd;
}

static ts_time tap_next_deadline(struct ts_netdev *dev, ts_time now)
{
    (void)dev;
    (void)now;
    return TS_TIME_NEVER;
}

static void tap_destroy(struct ts_netdev *dev)
{
    struct tap_dev *tap = tap_of(dev);

    /* A persistent interface keeps its offload features: the next reader may not speak virtio-net headers. */
    if (tap->dev.offloads != 0)
        (void)ioctl(tap->fd, TUNSETOFFLOAD, 0);
    close(tap->fd);
    free(tap->scratch);
    free(tap);
}

static const struct ts_netdev_ops tap_ops = {
    .kind = "tap",
    .transmit = tap_transmit,
    .receive = tap_receive,
    .wait_fd = tap_wait_fd,
    .next_deadline = tap_next_deadline,
    .poll = NULL,
    .destroy = tap_destroy,
    .transmit_meta = tap_transmit_meta,
    .transmit_gather = tap_transmit_gather,
    .receive_meta = tap_receive_meta,
};

/* Linux's own rule (dev_valid_name): 1..15 bytes, not "." or "..", no '/', ':' or white space. */
static bool tap_name_ok(const char *name, char *errbuf, size_t errlen)
{
    size_t len = name ? strlen(name) : 0;

    if (len == 0) {
        ts_netdev_errorf(errbuf, errlen, "TAP interface name is empty");
        return false;
    }
    if (len >= IFNAMSIZ) {
        ts_netdev_errorf(errbuf, errlen,
                         "TAP interface name '%s' is too long (%zu characters; Linux allows at most %d)",
                         name, len, IFNAMSIZ - 1);
        return false;
    }
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strpbrk(name, "/: \t\n\r\v\f")) {
        ts_netdev_errorf(errbuf, errlen,
                         "TAP interface name '%s' is not valid: it may not be '.' or '..' "
                         "nor contain '/', ':' or white space", name);
        return false;
    }
    return true;
}

static const char NEED_CAP_HINT[] =
    "needs CAP_NET_ADMIN: run as root, or inside a network namespace you own (unshare -n / ip netns exec)";

static int tap_open_tun(char *errbuf, size_t errlen)
{
    int fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);

    if (fd >= 0)
        return fd;
    if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
        ts_netdev_errorf(errbuf, errlen, "no %s: load the tun module (modprobe tun)", TUN_PATH);
    else if (errno == EACCES || errno == EPERM)
        ts_netdev_errorf(errbuf, errlen, "cannot open %s: %s", TUN_PATH, NEED_CAP_HINT);
    else
        ts_netdev_errorf(errbuf, errlen, "cannot open %s: %s", TUN_PATH, strerror(errno));
    return -1;
}

static int tap_attach(int fd, const char *name, bool vnet_hdr, char actual[IFNAMSIZ], char *errbuf, size_t errlen)
{
    struct ifreq ifr;

    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, name, strlen(name)); /* checked shorter than IFNAMSIZ */
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0);
    if (ioctl(fd, TUNSETIFF, &ifr) == 0) {
        memcpy(actual, ifr.ifr_name, IFNAMSIZ);
        actual[IFNAMSIZ - 1] = '\0';
        return 0;
    }
    int err = errno;
    switch (err) {
    case EBUSY:
        ts_netdev_errorf(errbuf, errlen, "TAP interface %s is busy: another process has it open", name);
        break;
    case EPERM:
    case EACCES:
        ts_netdev_errorf(errbuf, errlen, "cannot attach TAP interface %s: %s", name, NEED_CAP_HINT);
        break;
    case EINVAL:
        ts_netdev_errorf(errbuf, errlen,
                         "cannot attach TAP interface %s: an interface with that name exists and is not "
                         "a TAP (it may be a TUN or another kind of device); pick another name", name);
        break;
    default:
        ts_netdev_errorf(errbuf, errlen, "cannot attach TAP interface %s: %s", name, strerror(errno));
        break;
    }
    errno = err; /* the caller tells a refused flag (EINVAL) from other failures */
    return -1;
}

/* The MTU lives on the interface, not on the tun descriptor: ask through any socket. */
static int tap_read_mtu(const char *name, size_t *mtu, char *errbuf, size_t errlen)
{
    struct ifreq ifr;
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int saved;

    if (sock < 0) {
        ts_netdev_errorf(errbuf, errlen, "cannot read the MTU of %s: socket: %s", name, strerror(errno));
        return -1;
    }
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, name, strlen(name));
    if (ioctl(sock, SIOCGIFMTU, &ifr) < 0 || ifr.ifr_mtu <= 0) {
        saved = errno;
        close(sock);
        ts_netdev_errorf(errbuf, errlen, "cannot read the MTU of %s: %s", name, strerror(saved));
        return -1;
    }
    close(sock);
    *mtu = (size_t)ifr.ifr_mtu;
    return 0;
}

/* A kernel without virtio-net headers on TAPs refuses the flag (EINVAL): then attach without offloads. */
static int tap_attach_with_fallback(int fd, const char *name, bool *offload, char actual[IFNAMSIZ], char *errbuf,
                                    size_t errlen)
{
    if (*offload) {
        if (tap_attach(fd, name, true, actual, errbuf, errlen) == 0)
            return 0;
        if (errno != EINVAL)
            return -1;
        *offload = false;
    }
    return tap_attach(fd, name, false, actual, errbuf, errlen);
}

/*
 * Asks for checksum offload and TSO4 both ways; returns the TS_LINK_* offloads granted (0 if the
 * kernel refuses, and then it must not hand us partial checksums or super-segments either).
 */
static uint32_t tap_enable_offloads(int fd)
{
    int hdr_len = (int)TAP_VNET_HDR_LEN;

    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0)
        return 0;
    /* With the kernel summing what we write, a frame can also be written in parts (writev). */
    if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4)) == 0)
        return TS_LINK_TX_CSUM | TS_LINK_TSO4 | TS_LINK_TX_GATHER;
    if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)TUN_F_CSUM) == 0)
        return TS_LINK_TX_CSUM | TS_LINK_TX_GATHER;
    (void)ioctl(fd, TUNSETOFFLOAD, 0);
    return 0;
}

struct ts_netdev *ts_tap_open(const char *name, char *errbuf, size_t errlen)
{
    return ts_tap_open_offload(name, true, errbuf, errlen);
}

struct ts_netdev *ts_tap_open_offload(const char *name, bool offload, char *errbuf, size_t errlen)
{
    char actual[IFNAMSIZ];
    struct tap_dev *tap;
    size_t mtu = 0;
    uint32_t offloads = 0;
    int fd;

    if (!tap_name_ok(name, errbuf, errlen))
        return NULL;
    fd = tap_open_tun(errbuf, errlen);
    if (fd < 0)
        return NULL;
    if (tap_attach_with_fallback(fd, name, &offload, actual, errbuf, errlen) < 0 ||
        tap_read_mtu(actual, &mtu, errbuf, errlen) < 0) {
        close(fd);
        return NULL;
    }
    tap = calloc(1, sizeof *tap);
    if (!tap) {
        close(fd);
        ts_netdev_errorf(errbuf, errlen, "cannot open TAP interface %s: out of memory", name);
        return NULL;
    }
    /* Without offloads, clear what an earlier reader of a persistent interface may have left set. */
    offloads = offload ? tap_enable_offloads(fd) : 0;
    if (!offload)
        (void)ioctl(fd, TUNSETOFFLOAD, 0);
    tap->fd = fd;
    tap->vnet_hdr = offload;
    tap->dev.offloads = offloads;
    tap->dev.tso_max = (offloads & TS_LINK_TSO4) ? TAP_TSO_MAX : 0;
    tap->dev.ops = &tap_ops;
    ts_netdev_set_name(&tap->dev, actual);
    tap->dev.mtu = mtu;
    /* The kernel gives the interface its own random MAC; the stack is a different host behind it. */
    ts_netdev_default_mac(actual, tap->dev.mac);
    tap->dev.has_mac = true;
    return &tap->dev;
}
