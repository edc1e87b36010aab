/*
 * ts_poll: poll(2) over tapstack descriptors.
 *
 *   reference every descriptor (a negative fd is skipped, an unknown one is POLLNVAL)
 *   loop: evaluate readiness; stop if something is ready or time is up;
 *         wait on the first net's condition variable
 *
 * Descriptors from one net (the usual case): the readiness of all of them is
 * read under that net's lock and the wait starts without releasing it, so no
 * event can slip in between; the wait is as long as the timeout.
 *
 * Descriptors from several nets: sockapi never holds two net locks at once
 * (that is what keeps nets from deadlocking each other), so only the first
 * net's events can wake the waiter. Events on the other nets are noticed by
 * waking every TS_POLL_SLICE to look again: they are seen up to that late.
 *
 * Manual mode: a net the caller drives never changes while we wait, so ts_poll
 * never waits when any descriptor belongs to one; it reports what is ready now.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "sockapi_internal.h"

#define TS_POLL_SLICE TS_MSEC(10)
/* The largest nfds accepted (EINVAL beyond, as Linux does past RLIMIT_NOFILE). */
#define TS_POLL_MAX_FDS (1 << 20)
/* Up to this many descriptors need no allocation. */
#define TS_POLL_STACK_FDS 32

static short revents_of(const struct ts_sock *sock, short events)
{
    if (sock->closed)
        return POLLNVAL;
    uint32_t ev = ts_pcb_events(sock->pcb);
    short r = 0;
    if (ev & TS_EV_READABLE)
        r |= POLLIN | POLLRDNORM;
    if (ev & TS_EV_WRITABLE)
        r |= POLLOUT | POLLWRNORM;
    if (ev & TS_EV_ERROR)
        r |= POLLERR;
    if (ev & TS_EV_HUP)
        r |= POLLHUP;
    /* POLLERR and POLLHUP are reported whether asked for or not. */
    return (short)(r & (events | POLLERR | POLLHUP));
}

struct poll_set {
    struct pollfd *fds;
    struct ts_sock **socks; /* NULL where fd is negative or names nothing */
    nfds_t nfds;
    struct ts_net *first;   /* the net the caller waits on */
    bool single_net;
    bool never_wait;        /* a manual-mode net is involved */
};

/* Updates revents of every entry on net (other == false) or on any other net (other == true). */
static int scan(struct poll_set *ps, struct ts_net *net, bool other)
{
    int ready = 0;
    for (nfds_t i = 0; i < ps->nfds; i++) {
        struct ts_sock *sock = ps->socks[i];
        if (sock == NULL) {
            ps->fds[i].revents = ps->fds[i].fd < 0 ? 0 : POLLNVAL;
            ready += ps->fds[i].revents != 0 && !other;
            continue;
        }
        if ((sock->net == net) == other)
            continue;
        if (other)
            pthread_mutex_lock(&sock->net->lock);
        ps->fds[i].revents = revents_of(sock, ps->fds[i].events);
        if (other)
            pthread_mutex_unlock(&sock->net->lock);
        ready += ps->fds[i].revents != 0;
    }
    return ready;
}

static void sleep_for(int timeout_ms)
{
    if (timeout_ms == 0)
        return;
    for (;;) {
        /* A negative timeout with nothing to watch blocks for good, as poll(2) does. */
        struct timespec ts = {.tv_sec = timeout_ms < 0 ? 3600 : timeout_ms / 1000,
                              .tv_nsec = timeout_ms < 0 ? 0 : (long)(timeout_ms % 1000) * 1000000};
        struct timespec rem;
        while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
            ts = rem;
        if (timeout_ms >= 0)
            return;
    }
}

static int wait_loop(struct poll_set *ps, int timeout_ms)
{
    ts_time deadline = timeout_ms > 0 ? ts_sock_clock() + TS_MSEC(timeout_ms) : 0;
    for (;;) {
        int ready = ps->single_net ? 0 : scan(ps, ps->first, true);
        pthread_mutex_lock(&ps->first->lock);
        ready += scan(ps, ps->first, false);
        bool expired = deadline != 0 && ts_sock_clock() >= deadline;
        if (ready > 0 || timeout_ms == 0 || ps->never_wait || expired) {
            pthread_mutex_unlock(&ps->first->lock);
            return ready;
        }
        ts_time until = deadline;
        if (!ps->single_net) {
            ts_time slice_end = ts_sock_clock() + TS_POLL_SLICE;
            if (until == 0 || slice_end < until)
                until = slice_end;
        }
        ts_net_wait(ps->first, until);
        pthread_mutex_unlock(&ps->first->lock);
    }
}

/* Sorts out which nets are involved; false if no descriptor names a socket. */
static bool classify(struct poll_set *ps)
{
    ps->first = NULL;
    ps->single_net = true;
    ps->never_wait = false;
    for (nfds_t i = 0; i < ps->nfds; i++) {
        struct ts_sock *sock = ps->socks[i];
        if (sock == NULL)
            continue;
        if (ps->first == NULL)
            ps->first = sock->net;
        else if (sock->net != ps->first)
            ps->single_net = false;
        /* `manual` is fixed for a net's life: reading it without the lock is safe. */
        if (sock->net->manual)
            ps->never_wait = true;
    }
    return ps->first != NULL;
}

int ts_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
    if (nfds > TS_POLL_MAX_FDS)
        return ts_fail(-EINVAL);
    if (fds == NULL && nfds > 0)
        return ts_fail(-EFAULT);

    struct ts_sock *on_stack[TS_POLL_STACK_FDS];
    struct ts_sock **socks = on_stack;
    if (nfds > TS_POLL_STACK_FDS) {
        socks = calloc(nfds, sizeof(*socks));
        if (socks == NULL)
            return ts_fail(-ENOMEM);
    }
    struct poll_set ps = {.fds = fds, .socks = socks, .nfds = nfds};
    int nval = 0;
    for (nfds_t i = 0; i < nfds; i++) {
        socks[i] = fds[i].fd < 0 ? NULL : ts_fd_acquire(fds[i].fd);
        fds[i].revents = (fds[i].fd >= 0 && socks[i] == NULL) ? POLLNVAL : 0;
        nval += fds[i].revents != 0;
    }

    int ready;
    if (classify(&ps)) {
        ready = wait_loop(&ps, timeout_ms);
    } else {
        /* Nothing to watch: unknown descriptors answer at once, otherwise just the timeout. */
        if (nval == 0)
            sleep_for(timeout_ms);
        ready = nval;
    }

    for (nfds_t i = 0; i < nfds; i++)
        ts_fd_release(socks[i]);
    if (socks != on_stack)
        free(socks);
    return ready;
}
