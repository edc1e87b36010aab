/* Opening the TAP device and moving one frame per read()/write() syscall. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/if_tun.h>

#include "probe.h"

static int fail_ioctl(int fd, const char *dev, const char *what) {
  int err = errno;
  if (err == EPERM || err == EACCES) {
    fprintf(stderr, "ts-tapprobe: %s on %s: %s (needs CAP_NET_ADMIN, or a TAP device owned by this user)\n", what, dev,
            strerror(err));
  } else {
    fprintf(stderr, "ts-tapprobe: %s on %s: %s\n", what, dev, strerror(err));
  }
  close(fd);
  return -1;
}

/*
 * With --vnet the kernel may hand us GSO frames of up to 64 KB whose TCP checksum
 * is only partial, and accepts the same from us (TUN_F_CSUM | TUN_F_TSO4). Without
 * it the offloads are switched off explicitly: a persistent TAP keeps the offload
 * set by an earlier process, and GSO frames without a vnet header to describe them
 * would be garbage to us.
 */
static int set_offloads(struct probe *p, int fd) {
  unsigned offloads = 0;
  if (p->opt.vnet) {
    int hdr_len = (int)sizeof(struct virtio_net_hdr);
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
      return fail_ioctl(fd, p->opt.dev, "TUNSETVNETHDRSZ");
    }
    p->vnet_len = sizeof(struct virtio_net_hdr);
    offloads = TUN_F_CSUM | TUN_F_TSO4;
  }
  if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0) {
    return fail_ioctl(fd, p->opt.dev, "TUNSETOFFLOAD");
  }
  return fd;
}

int probe_tap_open(struct probe *p) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    fprintf(stderr, "ts-tapprobe: cannot open /dev/net/tun: %s%s\n", strerror(err),
            err == ENOENT   ? " (is the tun module loaded?)"
            : err == EACCES ? " (needs root or CAP_NET_ADMIN)"
                            : "");
    return -1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (p->opt.vnet) {
    ifr.ifr_flags |= IFF_VNET_HDR;
  }
  if (strlen(p->opt.dev) >= sizeof ifr.ifr_name) {
    fprintf(stderr, "ts-tapprobe: device name '%s' is too long (at most %zu characters)\n", p->opt.dev,
            sizeof ifr.ifr_name - 1);
    close(fd);
    return -1;
  }
  memcpy(ifr.ifr_name, p->opt.dev, strlen(p->opt.dev) + 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    return fail_ioctl(fd, p->opt.dev, "TUNSETIFF");
  }
  if (set_offloads(p, fd) < 0) {
    return -1;
  }
  p->fd = fd;
  return 0;
}

int probe_tap_read(struct probe *p, const uint8_t **frame, size_t *len) {
  ssize_t n = read(p->fd, p->rx, sizeof p->rx);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) {
      return 0;
    }
    fprintf(stderr, "ts-tapprobe: read from %s: %s\n", p->opt.dev, strerror(errno));
    return -1;
  }
  p->st.frames_rx++;
  if ((size_t)n < p->vnet_len + PROBE_ETH_LEN) {
    p->st.drops++;
    return 0;
  }
  /* The vnet header only describes offloads; we never need it to read the frame. */
  *frame = p->rx + p->vnet_len;
  *len = (size_t)n - p->vnet_len;
  return 1;
}

int probe_tap_write(struct probe *p, const struct virtio_net_hdr *vh, const uint8_t *hdr, size_t hdr_len,
                    const uint8_t *payload, size_t payload_len) {
  static const struct virtio_net_hdr no_offload;
  struct iovec iov[3];
  int n = 0;
  if (p->vnet_len) {
    iov[n].iov_base = (void *)(vh ? vh : &no_offload);
    iov[n++].iov_len = p->vnet_len;
  }
  iov[n].iov_base = (void *)hdr;
  iov[n++].iov_len = hdr_len;
  if (payload_len) {
    iov[n].iov_base = (void *)payload;
    iov[n++].iov_len = payload_len;
  }
  for (int tries = 0; tries < 100; tries++) {
    if (writev(p->fd, iov, n) >= 0) {
      p->st.frames_tx++;
      return 0;
    }
    if (errno != EINTR && errno != EAGAIN) {
      break;
    }
  }
  /* The kernel refused the frame (e.g. the interface is down): counted, not fatal. */
  p->st.drops++;
  return -1;
}
