/*
 * The lwIP benchmark server's network interface: frames move between a TAP
 * device and lwIP here, one read() or write() per frame. The Debian package's
 * own tapif is not used: its input copies each frame into a buffer sized for
 * 576-byte frames and overflows at MTU 1500.
 */
#define _GNU_SOURCE
#include "lwip_tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lwip/etharp.h"
#include "lwip/pbuf.h"
#include "netif/ethernet.h"

#define TAP_MTU 1500
#define TAP_FRAME_MAX (TAP_MTU + 14)

static uint8_t tx_frame[65536]; /* a pbuf chain is at most 64 KiB (u16_t tot_len) */
static uint8_t rx_frame[65535 + 14 + 4];

int lwip_tap_open(const char *name, char *err, size_t errlen)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "/dev/net/tun: %s", strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        snprintf(err, errlen, "TUNSETIFF %s: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static err_t tap_linkoutput(struct netif *nif, struct pbuf *p)
{
    struct lwip_tap *tap = nif->state;
    const void *frame = p->payload;
    if (p->next != NULL) {
        pbuf_copy_partial(p, tx_frame, p->tot_len, 0);
        frame = tx_frame;
    }
    if (write(tap->fd, frame, p->tot_len) != (ssize_t)p->tot_len) {
        tap->tx_dropped++;
        return ERR_IF;
    }
    return ERR_OK;
}

static err_t tap_netif_init(struct netif *nif)
{
    struct lwip_tap *tap = nif->state;
    nif->name[0] = 't';
    nif->name[1] = 'p';
    nif->output = etharp_output;
    nif->linkoutput = tap_linkoutput;
    nif->mtu = TAP_MTU;
    nif->hwaddr_len = ETH_HWADDR_LEN;
    memcpy(nif->hwaddr, tap->mac, ETH_HWADDR_LEN);
    nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
    return ERR_OK;
}

int lwip_tap_attach(struct lwip_tap *tap, const ip4_addr_t *addr, const ip4_addr_t *mask)
{
    ip4_addr_t gw;
    ip4_addr_set_zero(&gw);
    if (netif_add(&tap->nif, addr, mask, &gw, tap, tap_netif_init, ethernet_input) == NULL)
        return -1;
    netif_set_default(&tap->nif);
    netif_set_up(&tap->nif);
    netif_set_link_up(&tap->nif);
    return 0;
}

int lwip_tap_input(struct lwip_tap *tap, int max_frames)
{
    int frames = 0;
    while (frames < max_frames) {
        ssize_t n = read(tap->fd, rx_frame, sizeof rx_frame);
        if (n <= 0)
            break;
        frames++;
        if (n > TAP_FRAME_MAX) {
            tap->rx_dropped++;
            continue;
        }
        struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)n, PBUF_RAM);
        if (p == NULL) {
            tap->rx_dropped++;
            continue;
        }
        pbuf_take(p, rx_frame, (u16_t)n);
        if (tap->nif.input(p, &tap->nif) != ERR_OK)
            pbuf_free(p);
    }
    return frames;
}
