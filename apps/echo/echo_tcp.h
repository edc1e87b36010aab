/*
 * ts-echo's TCP side: one listening socket and every connection it accepted,
 * all non-blocking and served from the one ts_poll loop in ts_echo.c.
 *
 * The loop asks echo_tcp_pollfds() what to wait for, waits, and hands the
 * results back to echo_tcp_handle(). A connection reads only while nothing it
 * read is still waiting to go back out, so a client that does not read its
 * echoes is slowed down by its own receive window, not by ts-echo's memory.
 */
#ifndef TS_ECHO_TCP_H
#define TS_ECHO_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ts_app.h"

/* How many connections are served at once; further clients wait in the listen backlog. */
#define ECHO_TCP_MAX_CONNS 128
/* The listener plus every connection. */
#define ECHO_TCP_MAX_POLLFDS (ECHO_TCP_MAX_CONNS + 1)

struct echo_conn;

struct echo_tcp {
    int listener;
    struct echo_conn *conns; /* ECHO_TCP_MAX_CONNS slots, the first n_conns in use */
    size_t n_conns;
    /* Totals for the report at the end. */
    uint64_t accepted, closed_cleanly, reset, bytes;
};

/* Opens, binds and listens on port; prints why and returns -1 (with nothing left open) on failure. */
int echo_tcp_open(struct echo_tcp *tcp, const struct ts_app *app, uint16_t port);

/*
 * Fills fds (room for ECHO_TCP_MAX_POLLFDS) with what the listener and each
 * connection wait for; returns how many entries it filled. The entries are
 * in the order echo_tcp_handle() expects them back.
 */
size_t echo_tcp_pollfds(const struct echo_tcp *tcp, struct pollfd *fds);

/* Accepts, reads, echoes and closes as fds (from echo_tcp_pollfds, after ts_poll) say. */
void echo_tcp_handle(struct echo_tcp *tcp, const struct pollfd *fds, size_t n);

/* Closes every connection (gracefully: queued echoes still go out) and the listener. */
void echo_tcp_close(struct echo_tcp *tcp);

#endif
