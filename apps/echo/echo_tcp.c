/*
 * TCP echo (RFC 862): "Once a connection is established any data received is
 * sent back. This continues until the calling user terminates the connection."
 *
 * Every socket here is non-blocking and driven by the caller's ts_poll loop.
 * A connection's life: read a chunk, write it back (as much as the send buffer
 * takes; the rest waits for POLLOUT before anything more is read), and again.
 * When the client shuts down its write side (its FIN: recv returns 0), what
 * is still pending goes out and the connection is closed, which sends our FIN
 * after the last echoed byte: a half-closing client gets all its echoes.
 */
#define _GNU_SOURCE
#include "echo_tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What one connection reads before it has to write it back; also its whole buffer. */
#define ECHO_CONN_BUF (64 * 1024)
/* Read/write rounds per connection per wake-up, so one fast client cannot starve the others. */
#define ECHO_PUMP_ROUNDS 8
/* Connections accepted per wake-up, for the same reason. */
#define ECHO_ACCEPT_BATCH 32
#define ECHO_LISTEN_BACKLOG 64

struct echo_conn {
    int fd;
    uint8_t *buf;
    size_t off, len;  /* bytes buf[off .. off+len) still to be echoed */
    bool peer_closed; /* the client's FIN has been read */
};

static bool would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

int echo_tcp_open(struct echo_tcp *tcp, const struct ts_app *app, uint16_t port)
{
    memset(tcp, 0, sizeof *tcp);
    tcp->listener = -1;
    tcp->conns = calloc(ECHO_TCP_MAX_CONNS, sizeof *tcp->conns);
    if (tcp->conns == NULL) {
        fprintf(stderr, "ts-echo: out of memory\n");
        return -1;
    }
    int fd = ts_socket_on(app->net, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        fprintf(stderr, "ts-echo: cannot open a TCP socket: %s\n", strerror(errno));
        echo_tcp_close(tcp);
        return -1;
    }
    int one = 1;
    /* A restarted server should not wait for its old connections' TIME-WAIT. */
    (void)ts_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in local;
    memset(&local, 0, sizeof local);
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_ANY);
    local.sin_port = htons(port);
    if (ts_bind(fd, (const struct sockaddr *)&local, sizeof local) < 0) {
        fprintf(stderr, "ts-echo: cannot bind tcp port %u: %s\n", port, strerror(errno));
        ts_close(fd);
        echo_tcp_close(tcp);
        return -1;
    }
    if (ts_listen(fd, ECHO_LISTEN_BACKLOG) < 0) {
        fprintf(stderr, "ts-echo: cannot listen on tcp port %u: %s\n", port, strerror(errno));
        ts_close(fd);
        echo_tcp_close(tcp);
        return -1;
    }
    tcp->listener = fd;
    return 0;
}

size_t echo_tcp_pollfds(const struct echo_tcp *tcp, struct pollfd *fds)
{
    /* A full table leaves new clients in the backlog: the listener is still polled, for nothing. */
    fds[0].fd = tcp->listener;
    fds[0].events = tcp->n_conns < ECHO_TCP_MAX_CONNS ? POLLIN : 0;
    fds[0].revents = 0;
    for (size_t i = 0; i < tcp->n_conns; i++) {
        const struct echo_conn *c = &tcp->conns[i];
        struct pollfd *p = &fds[1 + i];
        p->fd = c->fd;
        p->events = c->len > 0 ? POLLOUT : POLLIN;
        p->revents = 0;
    }
    return 1 + tcp->n_conns;
}

/* Frees slot i by moving the last connection into it. */
static void forget_conn(struct echo_tcp *tcp, size_t i)
{
    free(tcp->conns[i].buf);
    tcp->conns[i] = tcp->conns[tcp->n_conns - 1];
    tcp->n_conns--;
}

static void drop_conn(struct echo_tcp *tcp, size_t i)
{
    ts_close(tcp->conns[i].fd);
    tcp->reset++;
    forget_conn(tcp, i);
}

/* Reads a chunk when nothing is pending; returns -1 when the connection failed. */
static int read_some(struct echo_conn *c, bool *progress)
{
    if (c->len > 0 || c->peer_closed)
        return 0;
    ssize_t n = ts_recv(c->fd, c->buf, ECHO_CONN_BUF, 0);
    if (n < 0)
        return would_block(errno) ? 0 : -1;
    if (n == 0)
        c->peer_closed = true;
    c->off = 0;
    c->len = (size_t)n;
    *progress = true;
    return 0;
}

/* Writes back what is pending, as much as fits; returns -1 when the connection failed. */
static int write_some(struct echo_tcp *tcp, struct echo_conn *c, bool *progress)
{
    if (c->len == 0)
        return 0;
    ssize_t n = ts_send(c->fd, c->buf + c->off, c->len, 0);
    if (n < 0)
        return would_block(errno) ? 0 : -1;
    c->off += (size_t)n;
    c->len -= (size_t)n;
    tcp->bytes += (uint64_t)n;
    if (n > 0)
        *progress = true;
    return 0;
}

/* Moves connection i along; it may be closed and its slot reused. */
static void pump_conn(struct echo_tcp *tcp, size_t i, short revents)
{
    struct echo_conn *c = &tcp->conns[i];
    if (revents & POLLNVAL) {
        drop_conn(tcp, i);
        return;
    }
    for (int round = 0; round < ECHO_PUMP_ROUNDS; round++) {
        bool progress = false;
        if (read_some(c, &progress) < 0 || write_some(tcp, c, &progress) < 0) {
            drop_conn(tcp, i);
            return;
        }
        if (c->peer_closed && c->len == 0) {
            /* Everything echoed: closing queues our FIN after the last byte. */
            ts_close(c->fd);
            tcp->closed_cleanly++;
            forget_conn(tcp, i);
            return;
        }
        if (!progress)
            return;
    }
}

static void accept_conns(struct echo_tcp *tcp)
{
    for (int k = 0; k < ECHO_ACCEPT_BATCH && tcp->n_conns < ECHO_TCP_MAX_CONNS; k++) {
        int fd = ts_accept4(tcp->listener, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0) {
            int err = errno;
            if (err == ECONNABORTED)
                continue; /* reset while it waited in the backlog: the next one may be fine */
            if (!would_block(err))
                fprintf(stderr, "ts-echo: accept: %s\n", strerror(err));
            return;
        }
        uint8_t *buf = malloc(ECHO_CONN_BUF);
        if (buf == NULL) {
            fprintf(stderr, "ts-echo: out of memory for a new connection; closing it\n");
            ts_close(fd);
            continue;
        }
        /* An echo is a reply: send it now rather than wait to fill a segment (RFC 9293 3.7.4). */
        int one = 1;
        (void)ts_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        tcp->conns[tcp->n_conns++] = (struct echo_conn){.fd = fd, .buf = buf};
        tcp->accepted++;
    }
}

void echo_tcp_handle(struct echo_tcp *tcp, const struct pollfd *fds, size_t n)
{
    /* From the back: closing slot i moves the last connection into it, already handled. */
    for (size_t k = n; k-- > 1;) {
        size_t i = k - 1;
        if (fds[k].revents != 0 && i < tcp->n_conns)
            pump_conn(tcp, i, fds[k].revents);
    }
    if (fds[0].revents != 0)
        accept_conns(tcp);
}

void echo_tcp_close(struct echo_tcp *tcp)
{
    while (tcp->n_conns > 0) {
        ts_close(tcp->conns[tcp->n_conns - 1].fd);
        forget_conn(tcp, tcp->n_conns - 1);
    }
    if (tcp->listener >= 0)
        ts_close(tcp->listener);
    tcp->listener = -1;
    free(tcp->conns);
    tcp->conns = NULL;
}
