/* A TAP device as an lwIP network interface (see lwip_tap.c). */
#ifndef LWIP_TAP_H
#define LWIP_TAP_H

#include <stddef.h>
#include <stdint.h>

#include "lwip/ip4_addr.h"
#include "lwip/netif.h"

struct lwip_tap {
    int fd;
    uint8_t mac[6];
    struct netif nif;
    uint64_t rx_dropped, tx_dropped;
};

/* Opens (or attaches to) the TAP interface name, non-blocking; -1 with a message in err. */
int lwip_tap_open(const char *name, char *err, size_t errlen);
/* Adds the interface to lwIP with its address, as the default interface, up. */
int lwip_tap_attach(struct lwip_tap *tap, const ip4_addr_t *addr, const ip4_addr_t *mask);
/* Hands up to max_frames waiting frames to lwIP; returns how many were read. */
int lwip_tap_input(struct lwip_tap *tap, int max_frames);

#endif
