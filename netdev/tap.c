/*
 * The TAP device: Ethernet frames to and from the kernel through /dev/net/tun.
 *
 * The interface is attached with IFF_TAP | IFF_NO_PI, so each read() returns
 * exactly one frame and each write() injects exactly one, with no packet-info
 * header in front. The descriptor is non-blocking: the runtime polls it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netdev_internal.h"

#define TUN_PATH "/dev/net/tun"

/*
 * Room for the largest frame the kernel can hand us without offloads: a 65535
 * MTU, the Ethernet header and one VLAN tag. Reading into a smaller buffer would
 * silently cut the frame, so a caller whose buffer is smaller gets the frame
 * through this scratch space and an error if it does not fit.
 */
#define TAP_SCRATCH_SIZE (65535 + 14 + 4)

struct tap_dev {
    struct ts_netdev dev;
    int fd;
    uint8_t *scratch; /* allocated on first use by a small-buffer caller */
};

static struct tap_dev *tap_of(struct ts_netdev *dev)
{
    return (struct tap_dev *)dev;
}

static int tap_transmit(struct ts_netdev *dev, ts_time now, const uint8_t *frame, size_t len)
{
    struct tap_dev *tap = tap_of(dev);
    ssize_t n;

    (void)now;
    if (len > TAP_SCRATCH_SIZE)
        return -EMSGSIZE;
    /*
     * A full queue (EAGAIN) is reported, not waited out: the runtime must never
     * block here, and a lost Ethernet frame is something the protocols handle.
     */
    do {
        n = write(tap->fd, frame, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

/* One read() = one frame; 0 when nothing is queued. */
static int tap_read_frame(struct tap_dev *tap, uint8_t *buf, size_t cap, size_t *len)
{
    ssize_t n;

    do {
        n = read(tap->fd, buf, cap);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
    *len = (size_t)n;
    return 1;
}

static int tap_receive(struct ts_netdev *dev, ts_time now, uint8_t *buf, size_t cap, size_t *len, ts_time *when)
{
    struct tap_dev *tap = tap_of(dev);
    size_t got = 0;
    int rc;

    if (cap >= TAP_SCRATCH_SIZE) {
        rc = tap_read_frame(tap, buf, cap, &got);
    } else {
        if (!tap->scratch && !(tap->scratch = malloc(TAP_SCRATCH_SIZE)))
            return -ENOMEM;
        rc = tap_read_frame(tap, tap->scratch, TAP_SCRATCH_SIZE, &got);
        if (rc == 1 && got > cap)
            return -EMSGSIZE; /* the frame is consumed: dropped, never cut short */
        if (rc == 1)
            memcpy(buf, tap->scratch, got);
    }
    if (rc != 1)
        return rc;
    *len = got;
    *when = now;
    return 1;
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

static int tap_attach(int fd, const char *name, char actual[IFNAMSIZ], char *errbuf, size_t errlen)
{
    struct ifreq ifr;

    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, name, strlen(name)); /* checked shorter than IFNAMSIZ */
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (ioctl(fd, TUNSETIFF, &ifr) == 0) {
        memcpy(actual, ifr.ifr_name, IFNAMSIZ);
        actual[IFNAMSIZ - 1] = '\0';
        return 0;
    }
    switch (errno) {
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

struct ts_netdev *ts_tap_open(const char *name, char *errbuf, size_t errlen)
{
    char actual[IFNAMSIZ];
    struct tap_dev *tap;
    size_t mtu = 0;
    int fd;

    if (!tap_name_ok(name, errbuf, errlen))
        return NULL;
    fd = tap_open_tun(errbuf, errlen);
    if (fd < 0)
        return NULL;
    if (tap_attach(fd, name, actual, errbuf, errlen) < 0 || tap_read_mtu(actual, &mtu, errbuf, errlen) < 0) {
        close(fd);
        return NULL;
    }
    tap = calloc(1, sizeof *tap);
    if (!tap) {
        close(fd);
        ts_netdev_errorf(errbuf, errlen, "cannot open TAP interface %s: out of memory", name);
        return NULL;
    }
    tap->fd = fd;
    tap->dev.ops = &tap_ops;
    ts_netdev_set_name(&tap->dev, actual);
    tap->dev.mtu = mtu;
    /* The kernel gives the interface its own random MAC; the stack is a different host behind it. */
    ts_netdev_default_mac(actual, tap->dev.mac);
    tap->dev.has_mac = true;
    return &tap->dev;
}
