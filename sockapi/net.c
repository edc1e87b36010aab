/*
 * struct ts_net: a stack plus the lock, condition variable and (in runtime
 * mode) thread that the socket layer needs around it.
 *
 *   ts_net_start  -> stack on a device + runtime thread (runtime.c)
 *   ts_net_attach -> a stack the caller drives with ts_net_drive_input/poll
 *   ts_net_stop / ts_net_detach -> close the net's descriptors, wait for calls
 *                   in flight to leave, free what the net owns
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sockapi_internal.h"

void ts_set_message(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

/* ---- clock and waits ------------------------------------------------------ */

ts_time ts_sock_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ts_time)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

ts_time ts_sock_deadline(ts_time timeo)
{
    if (timeo <= 0)
        return 0;
    return ts_sock_clock() + timeo;
}

bool ts_net_wait(struct ts_net *net, ts_time deadline)
{
    if (deadline == 0) {
        pthread_cond_wait(&net->cond, &net->lock);
        return true;
    }
    if (ts_sock_clock() >= deadline)
        return false;
    struct timespec abs = {
        .tv_sec = (time_t)(deadline / 1000000),
        .tv_nsec = (long)(deadline % 1000000) * 1000,
    };
    /* A timed-out wait still lets the caller retry once: the event may have raced the timeout. */
    pthread_cond_timedwait(&net->cond, &net->lock, &abs);
    return true;
}

ts_time ts_net_now(const struct ts_net *net)
{
    return net->manual ? net->manual_now : ts_monotonic_now();
}

void ts_net_kick(struct ts_net *net)
{
    if (net->manual || net->wake_fd < 0)
        return;
    /* The runtime only needs waking if the stack now wants it earlier than it planned to wake. */
    if (ts_stack_next_deadline(net->st) >= net->sleep_until)
        return;
    uint64_t one = 1;
    ssize_t n = write(net->wake_fd, &one, sizeof(one));
    (void)n; /* an eventfd write only fails when the counter is saturated: then it is readable anyway */
}

void ts_net_on_pcb_event(void *ctx, struct ts_pcb *pcb, uint32_t events)
{
    (void)pcb;
    (void)events;
    struct ts_net *net = ctx;
    /*
     * The runtime holds the lock through a whole batch of frames, so no waiter could run before
     * the batch ends anyway: one broadcast at its end (ts_runtime) replaces one per segment.
     */
    if (net->in_batch) {
        net->events_deferred = true;
        return;
    }
    /*
     * One condition variable per net: every event wakes every waiter of the
     * net, which rechecks its own socket. That costs O(waiters) per event and
     * keeps ts_poll (which waits for any of several sockets) simple.
     */
    pthread_cond_broadcast(&net->cond);
}

/* ---- construction ----------------------------------------------------------- */

static struct ts_net *net_alloc(void)
{
    struct ts_net *net = calloc(1, sizeof(*net));
    if (net == NULL)
        return NULL;
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0) {
        free(net);
        return NULL;
    }
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&net->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        free(net);
        return NULL;
    }
    if (pthread_mutex_init(&net->lock, NULL) != 0) {
        pthread_cond_destroy(&net->cond);
        free(net);
        return NULL;
    }
    net->wake_fd = -1;
    net->sleep_until = TS_TIME_NEVER;
    return net;
}

static void net_free(struct ts_net *net)
{
    pthread_mutex_destroy(&net->lock);
    pthread_cond_destroy(&net->cond);
    free(net->rxbuf);
    free(net);
}

static bool mac_is_zero(const uint8_t mac[6])
{
    static const uint8_t zero[6];
    return memcmp(mac, zero, 6) == 0;
}

/*
 * What ts_net_start adds to the caller's configuration: a MAC when none was
 * given (the device's, else one derived from its name) and a seed from the OS
 * when the seed is 0, so runs are unpredictable unless a seed is asked for.
 */
static int complete_config(struct ts_stack_config *cfg, const struct ts_netdev *dev)
{
    if (mac_is_zero(cfg->mac)) {
        if (dev->has_mac)
            memcpy(cfg->mac, dev->mac, 6);
        else
            ts_netdev_default_mac(dev->name, cfg->mac);
    }
    if (cfg->seed == 0) {
        int rc = ts_os_random(&cfg->seed, sizeof(cfg->seed));
        if (rc < 0)
            return rc;
        if (cfg->seed == 0)
            cfg->seed = 1;
    }
    return 0;
}

/* dev is the net's from the call on: on failure it is destroyed too, so the caller never has to. */
struct ts_net *ts_net_start(const struct ts_stack_config *cfg, struct ts_netdev *dev, char *errbuf, size_t errlen)
{
    if (dev == NULL) {
        ts_set_message(errbuf, errlen, "ts_net_start: no device");
        return NULL;
    }
    if (cfg == NULL) {
        ts_set_message(errbuf, errlen, "ts_net_start: no configuration");
        ts_netdev_destroy(dev);
        return NULL;
    }
    struct ts_stack_config full = *cfg;
    /* The runtime polls the core after every batch of frames, with the batch's clock: ACKs can wait for it. */
    full.tcp_ack_at_batch_end = true;
    int rc = complete_config(&full, dev);
    if (rc < 0) {
        ts_set_message(errbuf, errlen, "ts_net_start: no random seed from the OS: %s", strerror(-rc));
        ts_netdev_destroy(dev);
        return NULL;
    }
    struct ts_net *net = net_alloc();
    if (net == NULL) {
        ts_set_message(errbuf, errlen, "ts_net_start: out of memory");
        ts_netdev_destroy(dev);
        return NULL;
    }
    struct ts_link link = ts_netdev_link(dev);
    net->st = ts_stack_new(&full, &link);
    if (net->st == NULL) {
        ts_set_message(errbuf, errlen,
                    "ts_net_start: the stack refused the configuration (prefix above 32, zero MTU) or memory ran out");
        net_free(net);
        ts_netdev_destroy(dev);
        return NULL;
    }
    net->dev = dev;
    /* The first poll announces our address (gratuitous ARP) before any socket call can send. */
    ts_stack_poll(net->st, ts_monotonic_now());
    if (ts_runtime_start(net, errbuf, errlen) < 0) {
        ts_stack_free(net->st);
        ts_netdev_destroy(dev);
        net_free(net);
        return NULL;
    }
    ts_fd_offer_default(net);
    return net;
}

struct ts_net *ts_net_attach(struct ts_stack *st)
{
    if (st == NULL)
        return NULL;
    struct ts_net *net = net_alloc();
    if (net == NULL)
        return NULL;
    net->st = st;
    net->manual = true;
    ts_fd_offer_default(net);
    return net;
}

/*
 * Closes every descriptor on net and waits until no call in flight still
 * holds one of its sockets: after this, nothing in sockapi touches net.
 */
static void close_all_sockets(struct ts_net *net)
{
    ts_fd_retire_net(net);
    size_t cursor = 0;
    struct ts_sock *sock;
    while ((sock = ts_fd_take_next(net, &cursor)) != NULL) {
        pthread_mutex_lock(&net->lock);
        ts_sock_shut(sock);
        pthread_mutex_unlock(&net->lock);
        ts_fd_release(sock);
    }
    /* Wakes calls in flight on descriptors that were closed before (they hold their own references). */
    pthread_mutex_lock(&net->lock);
    pthread_cond_broadcast(&net->cond);
    pthread_mutex_unlock(&net->lock);
    ts_fd_wait_net_idle(net);
}

size_t ts_net_stop(struct ts_net *net)
{
    if (net == NULL)
        return 0;
    if (net->manual) {
        ts_net_detach(net);
        return 0;
    }
    ts_runtime_stop(net);
    close_all_sockets(net);
    size_t leaked = ts_stack_free(net->st);
    ts_netdev_destroy(net->dev);
    net_free(net);
    return leaked;
}

void ts_net_detach(struct ts_net *net)
{
    if (net == NULL)
        return;
    if (!net->manual) {
        ts_net_stop(net);
        return;
    }
    close_all_sockets(net);
    net_free(net);
}

/* ---- manual driving ---------------------------------------------------------- */

/* Driving a net that has its own runtime thread would race it for the clock: such calls are ignored. */
void ts_net_drive_input(struct ts_net *net, ts_time now, const uint8_t *frame, size_t len)
{
    if (!net->manual)
        return;
    pthread_mutex_lock(&net->lock);
    net->manual_now = now;
    ts_stack_input(net->st, now, frame, len);
    pthread_mutex_unlock(&net->lock);
}

/* As ts_net_drive_input, with the device's per-frame promises (ts_netdev_receive_meta): offloaded checksums. */
void ts_net_drive_input_meta(struct ts_net *net, ts_time now, const uint8_t *frame, size_t len,
                             const struct ts_frame_meta *meta)
{
    if (!net->manual)
        return;
    pthread_mutex_lock(&net->lock);
    net->manual_now = now;
    ts_stack_input_meta(net->st, now, frame, len, meta);
    pthread_mutex_unlock(&net->lock);
}

void ts_net_drive_poll(struct ts_net *net, ts_time now)
{
    if (!net->manual)
        return;
    pthread_mutex_lock(&net->lock);
    net->manual_now = now;
    ts_stack_poll(net->st, now);
    pthread_mutex_unlock(&net->lock);
}

/* ---- accessors ------------------------------------------------------------------ */

void ts_net_set_default(struct ts_net *net)
{
    ts_fd_set_default(net);
}

struct ts_net *ts_net_default(void)
{
    return ts_fd_default();
}

struct ts_stack *ts_net_stack(struct ts_net *net)
{
    return net->st;
}

void ts_net_lock(struct ts_net *net)
{
    pthread_mutex_lock(&net->lock);
}

void ts_net_unlock(struct ts_net *net)
{
    pthread_mutex_unlock(&net->lock);
}

void ts_net_counters_foreach(struct ts_net *net, ts_counter_fn fn, void *ctx)
{
    pthread_mutex_lock(&net->lock);
    ts_stack_counters_foreach(net->st, fn, ctx);
    pthread_mutex_unlock(&net->lock);
}
