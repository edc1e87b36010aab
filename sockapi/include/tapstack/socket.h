/*
 * The BSD-like socket API over a tapstack instance.
 *
 * A struct ts_net is one stack plus what the socket layer needs around it: a
 * lock, a condition variable that blocking calls wait on, and (in the usual
 * "runtime" mode) a thread that waits on the device and the stack's next
 * deadline and feeds both to the core. Application threads call ts_socket(),
 * ts_sendto(), ... from anywhere; every call into the core happens under the
 * net's lock.
 *
 * Descriptors are small integers of tapstack's own (not kernel fds): use them
 * only with ts_* calls. Errors: -1 with errno set, as POSIX says.
 *
 * A program that drives the stack itself (single thread, its own clock) uses
 * ts_net_attach() and ts_net_drive_*(); its sockets never block (a blocking
 * call that would wait fails with EWOULDBLOCK), and it uses ts_poll with a
 * zero timeout.
 */
#ifndef TAPSTACK_SOCKET_H
#define TAPSTACK_SOCKET_H

#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "tapstack/netdev.h"
#include "tapstack/pcb.h"
#include "tapstack/stack.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ts_net;

/*
 * Creates a stack on dev (taking ownership of dev) and starts its runtime
 * thread. The first net started becomes the default for ts_socket().
 * Returns NULL with a message in errbuf.
 */
struct ts_net *ts_net_start(const struct ts_stack_config *cfg, struct ts_netdev *dev, char *errbuf, size_t errlen);
/*
 * Stops the runtime thread, closes the net's sockets, frees the stack and the device.
 * Returns what ts_stack_free returned: packet buffers still allocated, 0 unless the stack leaks.
 */
size_t ts_net_stop(struct ts_net *net);

/* Manual mode: wraps a stack the caller created and drives (and still owns). */
struct ts_net *ts_net_attach(struct ts_stack *st);
void ts_net_detach(struct ts_net *net); /* closes the net's sockets; the stack stays the caller's */
void ts_net_drive_input(struct ts_net *net, ts_time now, const uint8_t *frame, size_t len);
/* The same, with what the device vouches for in this frame (ts_netdev_receive_meta): a driver that reads
 * a TAP opened with offloads hands the core the kernel's checksum promise instead of completing it. */
void ts_net_drive_input_meta(struct ts_net *net, ts_time now, const uint8_t *frame, size_t len,
                             const struct ts_frame_meta *meta);
void ts_net_drive_poll(struct ts_net *net, ts_time now);

void ts_net_set_default(struct ts_net *net);
struct ts_net *ts_net_default(void);
/* The core under the net; call core functions only between ts_net_lock and ts_net_unlock. */
struct ts_stack *ts_net_stack(struct ts_net *net);
void ts_net_lock(struct ts_net *net);
void ts_net_unlock(struct ts_net *net);
/* Calls ts_stack_counters_foreach under the lock. */
void ts_net_counters_foreach(struct ts_net *net, ts_counter_fn fn, void *ctx);

/* ---- sockets ------------------------------------------------------------------- */

/* AF_INET; SOCK_DGRAM with protocol 0/IPPROTO_UDP, SOCK_DGRAM with IPPROTO_ICMP (ping socket),
 * or SOCK_STREAM with protocol 0/IPPROTO_TCP. type may carry SOCK_NONBLOCK. */
int ts_socket(int domain, int type, int protocol);
int ts_socket_on(struct ts_net *net, int domain, int type, int protocol);

int ts_bind(int fd, const struct sockaddr *addr, socklen_t addrlen);
int ts_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
ssize_t ts_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen);
ssize_t ts_send(int fd, const void *buf, size_t len, int flags);
/* flags: MSG_DONTWAIT, MSG_PEEK, MSG_TRUNC (return the real length) */
ssize_t ts_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fromlen);
ssize_t ts_recv(int fd, void *buf, size_t len, int flags);
/*
 * recvmsg(2): the same blocking, timeouts and flags as ts_recvfrom. The
 * datagram is scattered over msg_iov (at most IOV_MAX entries, else
 * EMSGSIZE; a negative length is EINVAL); msg_name/msg_namelen get the
 * sender as a sockaddr_in. msg_control receives, in this order,
 * IPPROTO_IP/IP_PKTINFO (a struct in_pktinfo: ipi_addr the datagram's
 * destination, ours or a broadcast, ipi_spec_dst our address, ipi_ifindex 1)
 * when IP_PKTINFO is on, IPPROTO_IP/IP_TTL (an int) when IP_RECVTTL is on and
 * IPPROTO_IP/IP_TOS (an unsigned char) when IP_RECVTOS is on; msg_controllen says how many bytes
 * were used. msg_flags gets MSG_TRUNC when the datagram was longer than the
 * buffers and MSG_CTRUNC when a control message did not fit (unlike Linux,
 * which writes a cut-off one, a message that does not fit whole is left out).
 * A datagram spread over several iovecs passes through a buffer of its own:
 * ENOMEM if that cannot be had, and the datagram stays queued.
 */
ssize_t ts_recvmsg(int fd, struct msghdr *msg, int flags);
/*
 * Closes the descriptor. A TCP connection closes gracefully in the background
 * (queued data is still delivered, then a FIN), unless SO_LINGER is on with a
 * zero timeout: then it is aborted with a RST. With SO_LINGER and a positive
 * timeout a blocking close waits (up to that long) until the FIN is acknowledged.
 */
int ts_close(int fd);

/* ---- streams (SOCK_STREAM) ----------------------------------------------------- */

int ts_listen(int fd, int backlog);
/* Blocks until a connection is ready (unless non-blocking: EAGAIN). flags: SOCK_NONBLOCK for the new socket. */
int ts_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
int ts_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
/* SHUT_RD, SHUT_WR, SHUT_RDWR. */
int ts_shutdown(int fd, int how);
/*
 * Stream semantics for ts_send/ts_recv on SOCK_STREAM: a blocking send waits
 * until all of buf is queued (or SO_SNDTIMEO passes: then the bytes queued so
 * far, or EAGAIN if none); a non-blocking one queues what fits (a partial
 * write). EPIPE after shutdown(SHUT_WR) or a reset (no SIGPIPE is raised).
 * ts_recv returns 0 at end of stream; MSG_WAITALL waits for len bytes.
 * connect on a stream: blocking waits for the handshake (ECONNREFUSED,
 * ETIMEDOUT ...); non-blocking returns EINPROGRESS, then POLLOUT, then SO_ERROR.
 */

/* A TCP_INFO-like snapshot (see struct ts_tcp_info in tapstack/pcb.h). Also getsockopt(IPPROTO_TCP, TCP_INFO)
 * with optval a struct ts_tcp_info. */
int ts_tcp_info(int fd, struct ts_tcp_info *info);

/* Standard struct pollfd holding ts descriptors; POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL. */
int ts_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms);

/* SOL_SOCKET: SO_REUSEADDR, SO_BROADCAST, SO_RCVBUF, SO_SNDBUF, SO_RCVTIMEO, SO_SNDTIMEO, SO_ERROR, SO_TYPE,
 *             SO_KEEPALIVE, SO_LINGER, SO_ACCEPTCONN.
 * IPPROTO_TCP: TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_MAXSEG, TCP_INFO,
 *             TCP_USER_TIMEOUT (ms, 0 = the stack's retry counts; Linux's semantics),
 *             TCP_CONGESTION ("cubic" or "reno", a string as on Linux).
 * IPPROTO_IP: IP_TTL, IP_TOS (TCP: the ECN bits stay the stack's), IP_MTU_DISCOVER (IP_PMTUDISC_DO sets DF),
 *             IP_RECVTTL, IP_RECVTOS and IP_PKTINFO (int booleans: ts_recvmsg control messages). */
int ts_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen);
int ts_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen);
int ts_getsockname(int fd, struct sockaddr *addr, socklen_t *addrlen);
int ts_getpeername(int fd, struct sockaddr *addr, socklen_t *addrlen);
/* F_GETFL / F_SETFL with O_NONBLOCK. */
int ts_fcntl(int fd, int cmd, int arg);

#ifdef __cplusplus
}
#endif
#endif
