/*
 * ts-nc's data transfer once a socket is connected: stdin -> socket and
 * socket -> stdout, at the same time, until both directions are done.
 *
 * stdin is a kernel descriptor and ts_poll only knows tapstack's, so a helper
 * thread owns "stdin -> socket" (poll() on stdin, ts_poll on the socket, both
 * with short timeouts so a stop request is seen) while the calling thread owns
 * "socket -> stdout". The socket must be non-blocking.
 */
#ifndef TS_NC_PUMP_H
#define TS_NC_PUMP_H

#include <stdbool.h>

#include "ts_app.h"

struct nc_session {
    int fd;               /* connected, non-blocking */
    bool stream;          /* TCP: stdin's EOF becomes a FIN, the peer's FIN ends the receive side */
    ts_time idle_timeout; /* end after this long with nothing moving either way; 0 = never */
};

/*
 * Runs both directions. For TCP, the send direction is done once our FIN has
 * been acknowledged (everything we sent has arrived: the stack must not be
 * stopped before), the receive direction once the peer's FIN has been read.
 * UDP has no end of its own: it runs until SIGINT/SIGTERM or the idle timeout.
 * Errors are reported on stderr. Returns the exit status: 0 when the session
 * ended as it should (for TCP: both directions complete), 1 otherwise.
 */
int nc_pump_run(const struct nc_session *session);

#endif
