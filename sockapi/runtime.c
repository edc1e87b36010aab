/*
 * The runtime thread: one per started net, the only thing that feeds the
 * core its input and its timers.
 *
 *   loop:
 *     lock; deadline = min(stack deadline, device deadline); unlock
 *     poll(device wait_fd, wake eventfd) until that deadline (at most 1 s)
 *     lock; now = ts_monotonic_now()
 *       receive up to TS_RUNTIME_RX_BATCH frames -> ts_stack_input_meta
 *       ts_netdev_poll; ts_stack_poll
 *       one broadcast for every socket event of the batch
 *     unlock
 *
 * Socket calls run in application threads between iterations (they take the
 * same lock). One that may move the stack's deadline earlier (a send that
 * starts ARP resolution, say) writes the eventfd through ts_net_kick so the
 * thread recomputes its timeout instead of sleeping through it.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sockapi_internal.h"

/* After a device error the thread stops watching its fd for this long, so a broken device cannot spin it. */
#define TS_RUNTIME_ERROR_BACKOFF TS_MSEC(100)

struct runtime_state {
    bool dev_exhausted;    /* the device said -ENODATA: a finite source has ended */
    ts_time dev_retry_at;  /* after an error: do not poll the device fd before this */
};

static ts_time earliest(ts_time a, ts_time b)
{
    return a < b ? a : b;
}

/* Milliseconds poll() should wait to reach `until` from `now`, rounded up so it never wakes early. */
static int timeout_ms(ts_time now, ts_time until)
{
    if (until <= now)
        return 0;
    ts_time delta = until - now;
    if (delta > TS_RUNTIME_MAX_SLEEP)
        delta = TS_RUNTIME_MAX_SLEEP;
    return (int)((delta + 999) / 1000);
}

static void drain_wake_fd(int fd)
{
    uint64_t value;
    ssize_t n = read(fd, &value, sizeof(value));
    (void)n; /* EAGAIN just means another iteration already drained it */
}

/* Sleeps until the device has input, a socket call kicks us, or `until`. */
static void wait_for_work(struct ts_net *net, struct runtime_state *rs, int dev_fd, ts_time now, ts_time until)
{
    struct pollfd pfd[2];
    nfds_t n = 0;
    pfd[n++] = (struct pollfd){.fd = net->wake_fd, .events = POLLIN};
    bool watch_dev = dev_fd >= 0 && !rs->dev_exhausted && now >= rs->dev_retry_at;
    if (watch_dev)
        pfd[n++] = (struct pollfd){.fd = dev_fd, .events = POLLIN};
    else if (!rs->dev_exhausted && rs->dev_retry_at > now)
        until = earliest(until, rs->dev_retry_at);
    /* A device without a wait fd must be polled: look at it every millisecond. */
    if (dev_fd < 0 && !rs->dev_exhausted)
        until = earliest(until, now + TS_MSEC(1));

    int rc = poll(pfd, n, timeout_ms(now, until));
    if (rc > 0 && (pfd[0].revents & POLLIN))
        drain_wake_fd(net->wake_fd);
}

/* Takes up to one batch of frames from the device and hands them to the core. Net lock held. */
static void feed_frames(struct ts_net *net, struct runtime_state *rs, ts_time now)
{
    if (rs->dev_exhausted || now < rs->dev_retry_at)
        return;
    for (int i = 0; i < TS_RUNTIME_RX_BATCH; i++) {
        size_t len = 0;
        ts_time when = now;
        struct ts_frame_meta meta;
        int rc = ts_netdev_receive_meta(net->dev, now, net->rxbuf, TS_NETDEV_MAX_FRAME, &len, &when, &meta);
        if (rc == 0 || rc == -EAGAIN || rc == -EINTR)
            return;
        if (rc == -ENODATA) {
            rs->dev_exhausted = true;
            return;
        }
        if (rc < 0) {
            rs->dev_retry_at = now + TS_RUNTIME_ERROR_BACKOFF;
            return;
        }
        /* The live clock, not `when`: the core must see time move forward only. */
        ts_stack_input_meta(net->st, now, net->rxbuf, len, &meta);
    }
}

static void *runtime_main(void *arg)
{
    struct ts_net *net = arg;
    struct runtime_state rs = {.dev_exhausted = false, .dev_retry_at = 0};

    pthread_mutex_lock(&net->lock);
    while (!net->stopping) {
        ts_time now = ts_monotonic_now();
        ts_time until = earliest(ts_stack_next_deadline(net->st), ts_netdev_next_deadline(net->dev, now));
        until = earliest(until, now + TS_RUNTIME_MAX_SLEEP);
        net->sleep_until = until;
        int dev_fd = ts_netdev_wait_fd(net->dev);
        pthread_mutex_unlock(&net->lock);

        wait_for_work(net, &rs, dev_fd, now, until);

        pthread_mutex_lock(&net->lock);
        if (net->stopping)
            break;
        now = ts_monotonic_now();
        net->in_batch = true;
        feed_frames(net, &rs, now);
        ts_netdev_poll(net->dev, now);
        ts_stack_poll(net->st, now);
        net->in_batch = false;
        if (net->events_deferred) {
            net->events_deferred = false;
            pthread_cond_broadcast(&net->cond);
        }
    }
    pthread_mutex_unlock(&net->lock);
    return NULL;
}

int ts_runtime_start(struct ts_net *net, char *errbuf, size_t errlen)
{
    net->rxbuf = malloc(TS_NETDEV_MAX_FRAME);
    if (net->rxbuf == NULL) {
        ts_set_message(errbuf, errlen, "ts_net_start: out of memory");
        return -ENOMEM;
    }
    net->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (net->wake_fd < 0) {
        int err = errno;
        ts_set_message(errbuf, errlen, "ts_net_start: eventfd: %s", strerror(err));
        return -err;
    }
    /*
     * The thread starts with every signal blocked (it inherits the mask in
     * force at pthread_create), so the application's handlers, Ctrl-C in the
     * sample apps say, always run on the application's own threads.
     */
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    int rc = pthread_create(&net->thread, NULL, runtime_main, net);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (rc != 0) {
        ts_set_message(errbuf, errlen, "ts_net_start: cannot start the runtime thread: %s", strerror(rc));
        close(net->wake_fd);
        net->wake_fd = -1;
        return -rc;
    }
    net->thread_running = true;
    return 0;
}

void ts_runtime_stop(struct ts_net *net)
{
    if (net->thread_running) {
        pthread_mutex_lock(&net->lock);
        net->stopping = true;
        uint64_t one = 1;
        ssize_t n = write(net->wake_fd, &one, sizeof(one));
        (void)n;
        pthread_mutex_unlock(&net->lock);
        pthread_join(net->thread, NULL);
        net->thread_running = false;
    }
    /* Socket calls still running write the eventfd under the lock: retire it there. */
    pthread_mutex_lock(&net->lock);
    int fd = net->wake_fd;
    net->wake_fd = -1;
    pthread_mutex_unlock(&net->lock);
    if (fd >= 0)
        close(fd);
}
