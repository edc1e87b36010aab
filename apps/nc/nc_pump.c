/*
 * The two directions of a ts-nc session.
 *
 *   writer thread:  poll(stdin) -> read -> ts_send ... EOF -> ts_shutdown(SHUT_WR)
 *                   -> wait until the FIN is acknowledged
 *   calling thread: ts_poll(socket) -> ts_recv -> write(stdout) ... until the peer's FIN
 *
 * Every wait is at most TS_APP_STOP_CHECK_MS long, so SIGINT/SIGTERM, the idle
 * timeout and a failure on the other direction (the "abort" flag) are noticed
 * promptly. The two threads share only atomics and, for "the writer is done",
 * a mutex and condition variable the calling thread can wait on.
 */
#define _GNU_SOURCE
#include "nc_pump.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One read of stdin; for TCP the stream cuts it as it likes. */
#define NC_STREAM_CHUNK (64 * 1024)
/* One read of stdin is one datagram: at most what fits an Ethernet frame unfragmented. */
#define NC_DGRAM_CHUNK 1472
/* What one ts_recv may return: a whole datagram of the largest size, or a piece of the stream. */
#define NC_RECV_BUF 65536
/* How often the writer looks whether its FIN has been acknowledged yet. */
#define NC_FIN_CHECK_MS 10

enum nc_send_outcome {
    NC_SEND_RUNNING,
    NC_SEND_COMPLETE, /* stdin's EOF reached, and for TCP the FIN acknowledged */
    NC_SEND_FAILED,   /* reported on stderr */
    NC_SEND_STOPPED,  /* asked to stop (signal, idle timeout, the other direction failed) */
};

struct nc_pump {
    const struct nc_session *s;
    atomic_bool abort;              /* calling thread -> writer: stop now */
    atomic_llong last_activity;     /* ts_monotonic_now() of the last byte moved either way */
    pthread_mutex_t lock;
    pthread_cond_t writer_finished; /* signalled once, with outcome != NC_SEND_RUNNING */
    enum nc_send_outcome outcome;   /* under lock */
};

static bool transient(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

static void note_activity(struct nc_pump *p)
{
    atomic_store(&p->last_activity, (long long)ts_monotonic_now());
}

static bool writer_should_stop(struct nc_pump *p)
{
    return atomic_load(&p->abort) || ts_app_stop_requested();
}

/* ---- stdin -> socket (the writer thread) ------------------------------------------ */

/* Queues all of buf on the socket, waiting for room as needed. */
static enum nc_send_outcome send_all(struct nc_pump *p, const uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        if (writer_should_stop(p))
            return NC_SEND_STOPPED;
        ssize_t n = ts_send(p->s->fd, buf + done, len - done, 0);
        if (n > 0) {
            done += (size_t)n;
            note_activity(p);
            continue;
        }
        if (n < 0 && !transient(errno)) {
            fprintf(stderr, "ts-nc: send: %s\n", strerror(errno));
            return NC_SEND_FAILED;
        }
        struct pollfd pfd = {.fd = p->s->fd, .events = POLLOUT};
        if (ts_poll(&pfd, 1, TS_APP_STOP_CHECK_MS) < 0 && errno != EINTR) {
            fprintf(stderr, "ts-nc: poll: %s\n", strerror(errno));
            return NC_SEND_FAILED;
        }
    }
    return NC_SEND_RUNNING;
}

/* Copies stdin to the socket until EOF (NC_SEND_COMPLETE), a failure or a stop. */
static enum nc_send_outcome copy_stdin(struct nc_pump *p, uint8_t *buf)
{
    size_t chunk = p->s->stream ? NC_STREAM_CHUNK : NC_DGRAM_CHUNK;
    for (;;) {
        if (writer_should_stop(p))
            return NC_SEND_STOPPED;
        struct pollfd in = {.fd = STDIN_FILENO, .events = POLLIN};
        int ready = poll(&in, 1, TS_APP_STOP_CHECK_MS);
        if (ready < 0 && errno != EINTR) {
            fprintf(stderr, "ts-nc: poll on stdin: %s\n", strerror(errno));
            return NC_SEND_FAILED;
        }
        if (ready <= 0)
            continue;
        if (in.revents & POLLNVAL)
            return NC_SEND_COMPLETE; /* no stdin at all: nothing to send */
        ssize_t n = read(STDIN_FILENO, buf, chunk);
        if (n < 0) {
            if (transient(errno))
                continue;
            fprintf(stderr, "ts-nc: read from stdin: %s\n", strerror(errno));
            return NC_SEND_FAILED;
        }
        if (n == 0)
            return NC_SEND_COMPLETE;
        enum nc_send_outcome o = send_all(p, buf, (size_t)n);
        if (o != NC_SEND_RUNNING)
            return o;
    }
}

/* A pending socket error (a reset while our FIN was out), reported; 0 if there is none. */
static int report_socket_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (ts_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err == 0)
        return 0;
    fprintf(stderr, "ts-nc: send: %s\n", strerror(err));
    return -1;
}

/*
 * Sends the FIN and waits for its acknowledgement: until then, bytes we queued
 * may still need retransmitting, and the stack dies with the process. No poll
 * event announces an ACK (and POLLHUP, once both sides have shut down, would
 * make ts_poll return at once): look at the state every NC_FIN_CHECK_MS.
 */
static enum nc_send_outcome finish_stream(struct nc_pump *p)
{
    int fd = p->s->fd;
    if (ts_shutdown(fd, SHUT_WR) < 0) {
        fprintf(stderr, "ts-nc: shutdown: %s\n", strerror(errno));
        return NC_SEND_FAILED;
    }
    const struct timespec pause = {.tv_sec = 0, .tv_nsec = NC_FIN_CHECK_MS * 1000000L};
    for (;;) {
        if (ts_app_fin_acknowledged(fd))
            return report_socket_error(fd) < 0 ? NC_SEND_FAILED : NC_SEND_COMPLETE;
        if (writer_should_stop(p))
            return NC_SEND_STOPPED;
        nanosleep(&pause, NULL);
    }
}

static void finish_writer(struct nc_pump *p, enum nc_send_outcome outcome)
{
    pthread_mutex_lock(&p->lock);
    p->outcome = outcome;
    pthread_cond_signal(&p->writer_finished);
    pthread_mutex_unlock(&p->lock);
}

static void *writer_main(void *arg)
{
    struct nc_pump *p = arg;
    uint8_t *buf = malloc(NC_STREAM_CHUNK);
    if (buf == NULL) {
        fprintf(stderr, "ts-nc: out of memory\n");
        finish_writer(p, NC_SEND_FAILED);
        return NULL;
    }
    enum nc_send_outcome o = copy_stdin(p, buf);
    free(buf);
    if (o == NC_SEND_COMPLETE && p->s->stream)
        o = finish_stream(p);
    finish_writer(p, o);
    return NULL;
}

/* ---- socket -> stdout (the calling thread) ------------------------------------------ */

enum nc_recv_outcome {
    NC_RECV_RUNNING,
    NC_RECV_COMPLETE, /* the peer's FIN */
    NC_RECV_FAILED,
};

static int write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Moves what has arrived to stdout. */
static enum nc_recv_outcome receive_some(struct nc_pump *p, uint8_t *buf)
{
    ssize_t n = ts_recv(p->s->fd, buf, NC_RECV_BUF, 0);
    if (n < 0) {
        if (transient(errno))
            return NC_RECV_RUNNING;
        fprintf(stderr, "ts-nc: recv: %s\n", strerror(errno));
        return NC_RECV_FAILED;
    }
    if (n == 0 && p->s->stream)
        return NC_RECV_COMPLETE;
    note_activity(p);
    if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0) {
        fprintf(stderr, "ts-nc: write to stdout: %s\n", strerror(errno));
        return NC_RECV_FAILED;
    }
    return NC_RECV_RUNNING;
}

static bool idle_for_too_long(struct nc_pump *p)
{
    ts_time limit = p->s->idle_timeout;
    return limit > 0 && ts_monotonic_now() - (ts_time)atomic_load(&p->last_activity) >= limit;
}

static enum nc_send_outcome writer_outcome(struct nc_pump *p)
{
    pthread_mutex_lock(&p->lock);
    enum nc_send_outcome o = p->outcome;
    pthread_mutex_unlock(&p->lock);
    return o;
}

/* Waits up to TS_APP_STOP_CHECK_MS for the writer to finish. */
static void wait_for_writer(struct nc_pump *p)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += (long)TS_APP_STOP_CHECK_MS * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&p->lock);
    if (p->outcome == NC_SEND_RUNNING)
        (void)pthread_cond_timedwait(&p->writer_finished, &p->lock, &until);
    pthread_mutex_unlock(&p->lock);
}

/* Runs the receive direction, then waits for the writer; returns whether the receive side completed. */
static enum nc_recv_outcome run_receiver(struct nc_pump *p)
{
    uint8_t *buf = malloc(NC_RECV_BUF);
    if (buf == NULL) {
        fprintf(stderr, "ts-nc: out of memory\n");
        return NC_RECV_FAILED;
    }
    enum nc_recv_outcome r = NC_RECV_RUNNING;
    while (!ts_app_stop_requested() && !idle_for_too_long(p)) {
        enum nc_send_outcome w = writer_outcome(p);
        if (w == NC_SEND_FAILED || (r == NC_RECV_COMPLETE && w != NC_SEND_RUNNING))
            break;
        if (r == NC_RECV_COMPLETE) {
            wait_for_writer(p);
            continue;
        }
        struct pollfd pfd = {.fd = p->s->fd, .events = POLLIN};
        int ready = ts_poll(&pfd, 1, TS_APP_STOP_CHECK_MS);
        if (ready < 0 && errno != EINTR) {
            fprintf(stderr, "ts-nc: poll: %s\n", strerror(errno));
            r = NC_RECV_FAILED;
            break;
        }
        if (ready > 0)
            r = receive_some(p, buf);
        if (r == NC_RECV_FAILED)
            break;
    }
    free(buf);
    return r;
}

static int make_writer_cond(struct nc_pump *p)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&p->writer_finished, &attr);
    pthread_condattr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

/* The writer leaves SIGINT/SIGTERM to the main thread, whose loop acts on them. */
static int start_writer(struct nc_pump *p, pthread_t *thread)
{
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    int rc = pthread_create(thread, NULL, writer_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int nc_pump_run(const struct nc_session *session)
{
    struct nc_pump p = {.s = session, .outcome = NC_SEND_RUNNING};
    atomic_init(&p.abort, false);
    atomic_init(&p.last_activity, (long long)ts_monotonic_now());
    pthread_mutex_init(&p.lock, NULL);
    if (make_writer_cond(&p) < 0) {
        fprintf(stderr, "ts-nc: cannot set up the writer thread\n");
        pthread_mutex_destroy(&p.lock);
        return TS_APP_EXIT_FAILURE;
    }
    pthread_t writer;
    int rc = start_writer(&p, &writer);
    if (rc != 0) {
        fprintf(stderr, "ts-nc: cannot start the writer thread: %s\n", strerror(rc));
        pthread_cond_destroy(&p.writer_finished);
        pthread_mutex_destroy(&p.lock);
        return TS_APP_EXIT_FAILURE;
    }
    enum nc_recv_outcome r = run_receiver(&p);
    atomic_store(&p.abort, true);
    pthread_join(writer, NULL);
    enum nc_send_outcome w = p.outcome;
    pthread_cond_destroy(&p.writer_finished);
    pthread_mutex_destroy(&p.lock);

    if (r == NC_RECV_FAILED || w == NC_SEND_FAILED)
        return TS_APP_EXIT_FAILURE;
    if (!session->stream)
        return TS_APP_EXIT_OK; /* UDP has no end: a signal or the idle timeout is how it ends */
    return r == NC_RECV_COMPLETE && w == NC_SEND_COMPLETE ? TS_APP_EXIT_OK : TS_APP_EXIT_FAILURE;
}
