/* The two-net fixture of the sockapi tests; see sockapi_pair.h. */
#define _GNU_SOURCE
#include "sockapi_pair.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static struct ts_net *start_one(struct ts_netdev *dev, ts_ipv4_addr addr, uint8_t last_mac_byte, uint64_t seed,
                                char *err, size_t errlen)
{
    struct ts_stack_config cfg;
    ts_stack_config_init(&cfg);
    const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, last_mac_byte};
    memcpy(cfg.mac, mac, sizeof(mac));
    cfg.addr = addr;
    cfg.prefix_len = 24;
    cfg.seed = seed;
    return ts_net_start(&cfg, dev, err, errlen);
}

bool sockapi_pair_start(struct sockapi_pair *p)
{
    memset(p, 0, sizeof(*p));
    struct ts_netdev *da = NULL;
    struct ts_netdev *db = NULL;
    int rc = ts_memlink_pair(1500, &da, &db);
    if (rc < 0) {
        snprintf(p->error, sizeof(p->error), "ts_memlink_pair: %s", strerror(-rc));
        return false;
    }
    p->a = start_one(da, SOCKAPI_ADDR_A, 1, 1, p->error, sizeof(p->error));
    if (p->a == NULL) {
        ts_netdev_destroy(db);
        return false;
    }
    p->b = start_one(db, SOCKAPI_ADDR_B, 2, 2, p->error, sizeof(p->error));
    if (p->b == NULL) {
        ts_net_stop(p->a);
        p->a = NULL;
        return false;
    }
    ts_net_set_default(p->a);
    return true;
}

void sockapi_pair_stop(struct sockapi_pair *p)
{
    size_t leaked_a = ts_net_stop(p->a);
    size_t leaked_b = ts_net_stop(p->b);
    cr_expect_eq(leaked_a, 0, "stack a leaked %zu packet buffers", leaked_a);
    cr_expect_eq(leaked_b, 0, "stack b leaked %zu packet buffers", leaked_b);
    p->a = NULL;
    p->b = NULL;
}

struct sockaddr_in sockapi_sin(ts_ipv4_addr addr, uint16_t port)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(addr);
    sin.sin_port = htons(port);
    return sin;
}

int sockapi_udp_bound(struct ts_net *net, uint16_t port)
{
    int fd = ts_socket_on(net, AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin = sockapi_sin(0, port);
    if (ts_bind(fd, (const struct sockaddr *)&sin, sizeof(sin)) < 0) {
        int err = errno;
        ts_close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

int sockapi_set_rcvtimeo_ms(int fd, long ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return ts_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

int64_t sockapi_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sockapi_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
