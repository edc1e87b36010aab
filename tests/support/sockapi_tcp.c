/* Stream helpers of the sockapi TCP tests; see sockapi_tcp.h. */
#define _GNU_SOURCE
#include "sockapi_tcp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static void print_trace(void *ctx, const struct ts_trace_event *ev)
{
    fprintf(stderr, "%s %lld.%06lld %s %s\n", (const char *)ctx, (long long)(ev->now / 1000000),
            (long long)(ev->now % 1000000), ts_trace_layer_name(ev->layer), ev->text);
}

static struct ts_net *start_one(struct ts_netdev *dev, ts_ipv4_addr addr, uint8_t last_mac_byte, uint64_t seed,
                                sockapi_tcp_tweak_fn tweak, const char *name, char *err, size_t errlen)
{
    struct ts_stack_config cfg;
    ts_stack_config_init(&cfg);
    const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, last_mac_byte};
    memcpy(cfg.mac, mac, sizeof(mac));
    cfg.addr = addr;
    cfg.prefix_len = 24;
    cfg.seed = seed;
    const char *trace = getenv("SOCKAPI_TCP_TRACE");
    if (trace != NULL && trace[0] != '\0' && trace[0] != '0') {
        cfg.trace = print_trace;
        cfg.trace_ctx = (void *)name;
        cfg.trace_mask = TS_TRACE_TCP | TS_TRACE_SOCK | TS_TRACE_ARP;
    }
    if (tweak != NULL)
        tweak(&cfg);
    return ts_net_start(&cfg, dev, err, errlen);
}

bool sockapi_tcp_pair_start(struct sockapi_pair *p, sockapi_tcp_tweak_fn tweak)
{
    memset(p, 0, sizeof(*p));
    struct ts_netdev *da = NULL;
    struct ts_netdev *db = NULL;
    int rc = ts_memlink_pair(1500, &da, &db);
    if (rc < 0) {
        snprintf(p->error, sizeof(p->error), "ts_memlink_pair: %s", strerror(-rc));
        return false;
    }
    p->a = start_one(da, SOCKAPI_ADDR_A, 1, 1, tweak, "a", p->error, sizeof(p->error));
    if (p->a == NULL) {
        ts_netdev_destroy(db);
        return false;
    }
    p->b = start_one(db, SOCKAPI_ADDR_B, 2, 2, tweak, "b", p->error, sizeof(p->error));
    if (p->b == NULL) {
        ts_net_stop(p->a);
        p->a = NULL;
        return false;
    }
    ts_net_set_default(p->a);
    return true;
}

int sockapi_set_sndtimeo_ms(int fd, long ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return ts_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int fail_closing(int fd)
{
    int err = errno;
    ts_close(fd);
    errno = err;
    return -1;
}

int sockapi_tcp_listener(struct ts_net *net, uint16_t port, int backlog)
{
    int fd = ts_socket_on(net, AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    struct sockaddr_in sin = sockapi_sin(0, port);
    if (ts_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        ts_bind(fd, (const struct sockaddr *)&sin, sizeof(sin)) < 0 || ts_listen(fd, backlog) < 0)
        return fail_closing(fd);
    return fd;
}

int sockapi_tcp_connect(struct ts_net *net, ts_ipv4_addr addr, uint16_t port)
{
    int fd = ts_socket_on(net, AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in to = sockapi_sin(addr, port);
    if (sockapi_set_sndtimeo_ms(fd, 3000) < 0 || ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)) < 0)
        return fail_closing(fd);
    return fd;
}

bool sockapi_tcp_connected(struct sockapi_pair *p, uint16_t port, int *client, int *server)
{
    *client = *server = -1;
    int lfd = sockapi_tcp_listener(p->b, port, 4);
    if (lfd < 0)
        return false;
    int c = sockapi_set_rcvtimeo_ms(lfd, 3000) < 0 ? -1 : sockapi_tcp_connect(p->a, SOCKAPI_ADDR_B, port);
    if (c < 0) {
        fail_closing(lfd);
        return false;
    }
    int s = ts_accept(lfd, NULL, NULL);
    int err = errno;
    ts_close(lfd);
    if (s < 0) {
        ts_close(c);
        errno = err;
        return false;
    }
    if (sockapi_set_rcvtimeo_ms(c, 3000) < 0 || sockapi_set_rcvtimeo_ms(s, 3000) < 0 ||
        sockapi_set_sndtimeo_ms(s, 3000) < 0) {
        ts_close(c);
        ts_close(s);
        return false;
    }
    *client = c;
    *server = s;
    return true;
}

bool sockapi_tcp_send_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t done = 0;
    /* Each round queues at least one byte or fails; the bound only guards against a broken send. */
    for (int rounds = 0; done < len && rounds < 100000; rounds++) {
        ssize_t n = ts_send(fd, p + done, len - done, 0);
        if (n < 0)
            return false;
        done += (size_t)n;
    }
    return done == len;
}

bool sockapi_tcp_recv_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t done = 0;
    for (int rounds = 0; done < len && rounds < 100000; rounds++) {
        ssize_t n = ts_recv(fd, p + done, len - done, 0);
        if (n <= 0)
            return false;
        done += (size_t)n;
    }
    return done == len;
}

uint8_t sockapi_tcp_pattern(uint32_t seed, size_t i)
{
    uint32_t x = seed * 2654435761u + (uint32_t)i * 40503u + (uint32_t)(i >> 13);
    x ^= x >> 15;
    x *= 2246822519u;
    x ^= x >> 13;
    return (uint8_t)x;
}
