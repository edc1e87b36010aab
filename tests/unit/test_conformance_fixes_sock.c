/*
 * The conformance fixes seen through the socket API (docs/conformance.md): TCP_USER_TIMEOUT (RFC 9293
 * MUST-21), SO_ERROR with a soft error (MUST-47), IP_TOS on the wire (MUST-48, RFC 1122 3.2.1.6 and
 * 4.1.4), IP_PKTINFO (RFC 1122 4.1.3.5) and getsockname after connect. Two stacks the test drives on a
 * virtual clock (manual mode, ts_net_attach), joined by a queue link the test can also read or silence:
 *
 *   net a 10.0.0.1 (MAC :01)  <->  net b 10.0.0.2 (MAC :02)
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>

#include "core_fixture.h"
#include "manual_pair.h"
#include "sockapi_pair.h"
#include "tapstack/pcb.h"
#include "wire/checksum.h"

static struct manual_pair mp;

/* What crossed one direction of the link, checked as each frame is delivered. */
struct wire_watch {
    int expect_tcp_tos; /* >= 0: every IPv4 TCP frame delivered must carry this TOS byte */
    unsigned tcp_frames_checked;
    unsigned udp_frames; /* IPv4 UDP frames delivered, and the TOS byte of the last one */
    uint8_t udp_last_tos;
};

static struct wire_watch watch_a, watch_b; /* frames toward a, toward b */

static bool is_ipv4_proto(const uint8_t *frame, size_t len, uint8_t proto)
{
    return len >= 14 + 20 && be16_get(frame + 12) == 0x0800 && frame[14 + 9] == proto;
}

static void watch_frame(void *ctx, const uint8_t *frame, size_t len)
{
    struct wire_watch *w = ctx;
    if (w->expect_tcp_tos >= 0 && is_ipv4_proto(frame, len, 6)) {
        cr_assert_eq(frame[14 + 1], w->expect_tcp_tos, "TOS 0x%02x, expected 0x%02x", frame[14 + 1],
                     w->expect_tcp_tos);
        w->tcp_frames_checked++;
    }
    if (is_ipv4_proto(frame, len, 17)) {
        w->udp_frames++;
        w->udp_last_tos = frame[14 + 1];
    }
}

static void setup(void)
{
    manual_pair_init(&mp);
    memset(&watch_a, 0, sizeof(watch_a));
    memset(&watch_b, 0, sizeof(watch_b));
    watch_a.expect_tcp_tos = watch_b.expect_tcp_tos = -1;
    mp.to_a.inspect = mp.to_b.inspect = watch_frame;
    mp.to_a.inspect_ctx = &watch_a;
    mp.to_b.inspect_ctx = &watch_b;
}

static void teardown(void)
{
    manual_pair_fini(&mp);
}

TestSuite(conformance_fixes_sock, .init = setup, .fini = teardown, .timeout = 30);

/* A listener on net a, port 7000, and b's non-blocking socket connected to it; returns a's accepted fd. */
static int connect_b_to_a(int client, int listener)
{
    manual_pair_run_until_quiet(&mp, 100); /* both stacks see the clock first (a core call acts at the latest time it saw) */
    struct sockaddr_in any = sockapi_sin(0, 7000);
    cr_assert_eq(ts_bind(listener, (const struct sockaddr *)&any, sizeof(any)), 0);
    cr_assert_eq(ts_listen(listener, 4), 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_A, 7000);
    cr_assert_eq(ts_connect(client, (const struct sockaddr *)&to, sizeof(to)), -1);
    cr_assert_eq(errno, EINPROGRESS);
    manual_pair_run_until_quiet(&mp, 100);
    int accepted = ts_accept(listener, NULL, NULL);
    cr_assert_geq(accepted, 0, "%s", strerror(errno));
    return accepted;
}

static int stream_on(struct ts_net *net)
{
    int fd = ts_socket_on(net, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    cr_assert_geq(fd, 0);
    return fd;
}

static int int_option(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof(v);
    cr_assert_eq(ts_getsockopt(fd, level, name, &v, &len), 0, "%s", strerror(errno));
    return v;
}

/* Runs net b alone for up to limit ms in 10 ms steps, throwing away all it sends (a silent peer), until fd
 * reports an error; returns the virtual milliseconds that took, or -1. */
static long silence_until_error(int fd, long limit_ms)
{
    for (long ms = 0; ms <= limit_ms; ms += 10) {
        struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
        cr_assert_geq(ts_poll(&p, 1, 0), 0);
        if (p.revents & POLLERR)
            return ms;
        mp.now += TS_MSEC(10);
        mp.to_a.count = 0;
        mp.to_b.count = 0;
        ts_net_drive_poll(mp.net_b, mp.now);
    }
    return -1;
}

/* ---- MUST-21 ------------------------------------------------------------------------------------------ */

Test(conformance_fixes_sock, must_21_tcp_user_timeout_aborts_a_connection_whose_data_stays_unacknowledged)
{
    int listener = stream_on(mp.net_a), client = stream_on(mp.net_b);
    cr_assert_eq(int_option(client, IPPROTO_TCP, TCP_USER_TIMEOUT), 0, "0: the stack's default");
    int bad = -5, ms = 4000;
    cr_assert_eq(ts_setsockopt(client, IPPROTO_TCP, TCP_USER_TIMEOUT, &bad, sizeof(bad)), -1);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(ts_setsockopt(client, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)), 0);
    cr_assert_eq(int_option(client, IPPROTO_TCP, TCP_USER_TIMEOUT), 4000);
    int server = connect_b_to_a(client, listener);
    /* While the peer answers, nothing happens however long it takes. */
    cr_assert_eq(ts_send(client, "hello", 5, 0), 5);
    manual_pair_run_until_quiet(&mp, 100);
    char buf[16];
    cr_assert_eq(ts_recv(server, buf, sizeof buf, 0), 5);
    /* Then the peer goes silent: 4 s after the data left, the connection is aborted. */
    cr_assert_eq(ts_send(client, "lost", 4, 0), 4);
    long took = silence_until_error(client, 60000);
    cr_assert_geq(took, 4000, "not before the user timeout (%ld ms)", took);
    cr_assert_leq(took, 4010, "at the user timeout, not after 15 retransmissions (%ld ms)", took);
    cr_assert_eq(ts_recv(client, buf, sizeof buf, 0), -1);
    cr_assert_eq(errno, ETIMEDOUT);
    ts_close(client);
    ts_close(server);
    ts_close(listener);
}

/* ---- MUST-47 ------------------------------------------------------------------------------------------ */

/* Net a's router says the host is unreachable, about the datagram b sent last (still queued in mp.to_a). */
static void host_unreachable_about_last_frame_from_b(void)
{
    cr_assert_gt(mp.to_a.count, 0);
    const uint8_t *ip = mp.to_a.frames[mp.to_a.count - 1] + 14;
    uint8_t icmp[8 + 28] = {3, 1}; /* destination unreachable, host */
    memcpy(icmp + 8, ip, 28);
    be16_put(icmp + 2, csum_finish(csum_add(0, icmp, sizeof icmp)));
    uint8_t frame[128];
    size_t n = fx_build_ipv4(frame, SOCKAPI_ADDR_A, SOCKAPI_ADDR_B, 1, 99, 0, icmp, sizeof icmp);
    ts_net_drive_input(mp.net_b, mp.now, frame, n);
}

Test(conformance_fixes_sock, must_47_so_error_reports_a_soft_error_without_aborting_and_a_timeout_reports_it_too)
{
    int listener = stream_on(mp.net_a), client = stream_on(mp.net_b);
    int server = connect_b_to_a(client, listener);
    cr_assert_eq(ts_send(client, "lost", 4, 0), 4);
    host_unreachable_about_last_frame_from_b();
    mp.to_a.count = 0;
    cr_assert_eq(int_option(client, SOL_SOCKET, SO_ERROR), EHOSTUNREACH);
    cr_assert_eq(int_option(client, SOL_SOCKET, SO_ERROR), 0, "reading it cleared it");
    struct ts_tcp_info info;
    cr_assert_eq(ts_tcp_info(client, &info), 0);
    cr_assert_eq(info.state, TS_TCP_ESTABLISHED, "a soft error does not abort");
    /* The error again, then the user timeout: the application learns EHOSTUNREACH, not ETIMEDOUT. */
    int ms = 2000;
    cr_assert_eq(ts_setsockopt(client, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)), 0);
    for (int i = 0; i < 1000 && mp.to_a.count == 0; i++) { /* until b retransmits */
        mp.now += TS_MSEC(10);
        ts_net_drive_poll(mp.net_b, mp.now);
    }
    host_unreachable_about_last_frame_from_b();
    cr_assert_geq(silence_until_error(client, 60000), 0);
    char buf[4];
    cr_assert_eq(ts_recv(client, buf, sizeof buf, 0), -1);
    cr_assert_eq(errno, EHOSTUNREACH);
    ts_close(client);
    ts_close(server);
    ts_close(listener);
}

/* ---- MUST-48, RFC 1122 3.2.1.6 / 4.1.4 ---------------------------------------------------------------- */

Test(conformance_fixes_sock, must_48_ip_tos_is_the_tos_byte_of_every_udp_datagram_sent)
{
    int rx = sockapi_udp_bound(mp.net_b, 9000);
    int tx = ts_socket_on(mp.net_a, AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(int_option(tx, IPPROTO_IP, IP_TOS), 0);
    int tos = 0xb9; /* DSCP EF and ECT(1): on a datagram socket the whole byte is the user's */
    cr_assert_eq(ts_setsockopt(tx, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)), 0);
    cr_assert_eq(int_option(tx, IPPROTO_IP, IP_TOS), 0xb9);
    int too_big = 256;
    cr_assert_eq(ts_setsockopt(tx, IPPROTO_IP, IP_TOS, &too_big, sizeof(too_big)), -1);
    cr_assert_eq(errno, EINVAL);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 9000);
    int on = 1;
    cr_assert_eq(ts_setsockopt(rx, IPPROTO_IP, IP_RECVTOS, &on, sizeof(on)), 0);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(ts_sendto(tx, "tos", 3, 0, (const struct sockaddr *)&to, sizeof(to)), 3);
        manual_pair_run_until_quiet(&mp, 100);
        cr_assert_eq(watch_b.udp_frames, (unsigned)i + 1);
        cr_assert_eq(watch_b.udp_last_tos, 0xb9, "the TOS byte on the wire");
    }
    /* The receiver sees it too (IP_RECVTOS). */
    char data[8];
    uint8_t control[64];
    struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                         .msg_controllen = sizeof control};
    cr_assert_eq(ts_recvmsg(rx, &msg, 0), 3);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cr_assert_not_null(cm);
    cr_assert_eq(cm->cmsg_type, IP_TOS);
    cr_assert_eq(*CMSG_DATA(cm), 0xb9);
    ts_close(rx);
    ts_close(tx);
}

Test(conformance_fixes_sock, must_48_ip_tos_sets_the_dscp_of_every_tcp_segment_and_leaves_ecn_to_the_stack)
{
    int listener = stream_on(mp.net_a), client = stream_on(mp.net_b);
    int server_tos = 0x48, client_tos = 0xbb; /* AF21; EF with both ECN bits, which TCP keeps to itself */
    cr_assert_eq(ts_setsockopt(listener, IPPROTO_IP, IP_TOS, &server_tos, sizeof(int)), 0);
    cr_assert_eq(ts_setsockopt(client, IPPROTO_IP, IP_TOS, &client_tos, sizeof(int)), 0);
    cr_assert_eq(int_option(client, IPPROTO_IP, IP_TOS), 0xb8, "the ECN bits are masked");
    watch_a.expect_tcp_tos = 0xb8; /* b's segments, from the SYN on */
    watch_b.expect_tcp_tos = 0x48; /* a's, from the SYN,ACK on: the accepted connection inherits it */
    int server = connect_b_to_a(client, listener);
    cr_assert_eq(int_option(server, IPPROTO_IP, IP_TOS), 0x48);
    cr_assert_eq(ts_send(client, "ping", 4, 0), 4);
    manual_pair_run_until_quiet(&mp, 100);
    char buf[8];
    cr_assert_eq(ts_recv(server, buf, sizeof buf, 0), 4);
    cr_assert_eq(ts_send(server, "pong", 4, 0), 4);
    manual_pair_run_until_quiet(&mp, 500);
    cr_assert_eq(ts_recv(client, buf, sizeof buf, 0), 4);
    ts_close(client);
    ts_close(server);
    manual_pair_run_until_quiet(&mp, 500);
    cr_assert_geq(watch_a.tcp_frames_checked, 4, "SYN, ACK, data, FIN at least");
    cr_assert_geq(watch_b.tcp_frames_checked, 3, "SYN,ACK, data, FIN at least");
    ts_close(listener);
}

/* ---- RFC 1122 4.1.3.5 --------------------------------------------------------------------------------- */

/* Receives one datagram with IP_PKTINFO; returns its struct in_pktinfo. */
static struct in_pktinfo recv_pktinfo(int fd)
{
    char data[16];
    uint8_t control[128];
    struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                         .msg_controllen = sizeof control};
    cr_assert_geq(ts_recvmsg(fd, &msg, 0), 0, "%s", strerror(errno));
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cr_assert_not_null(cm);
    cr_assert_eq(cm->cmsg_level, IPPROTO_IP);
    cr_assert_eq(cm->cmsg_type, IP_PKTINFO);
    cr_assert_eq(cm->cmsg_len, CMSG_LEN(sizeof(struct in_pktinfo)));
    struct in_pktinfo pi;
    memcpy(&pi, CMSG_DATA(cm), sizeof pi);
    return pi;
}

Test(conformance_fixes_sock, rfc1122_4_1_3_5_ip_pktinfo_gives_the_specific_destination_of_each_datagram)
{
    int rx = sockapi_udp_bound(mp.net_b, 9100);
    int on = 1;
    cr_assert_eq(int_option(rx, IPPROTO_IP, IP_PKTINFO), 0);
    cr_assert_eq(ts_setsockopt(rx, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)), 0);
    cr_assert_eq(int_option(rx, IPPROTO_IP, IP_PKTINFO), 1);
    int tx = ts_socket_on(mp.net_a, AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(ts_setsockopt(tx, SOL_SOCKET, SO_BROADCAST, &on, sizeof(on)), 0);
    const ts_ipv4_addr dests[] = {SOCKAPI_ADDR_B, TS_IPV4(10, 0, 0, 255), TS_IPV4(255, 255, 255, 255)};
    for (size_t i = 0; i < 3; i++) {
        struct sockaddr_in to = sockapi_sin(dests[i], 9100);
        cr_assert_eq(ts_sendto(tx, "x", 1, 0, (const struct sockaddr *)&to, sizeof(to)), 1, "%s", strerror(errno));
        manual_pair_run_until_quiet(&mp, 100);
    }
    for (size_t i = 0; i < 3; i++) {
        struct in_pktinfo pi = recv_pktinfo(rx);
        cr_assert_eq(ntohl(pi.ipi_addr.s_addr), dests[i], "datagram %zu: its destination", i);
        cr_assert_eq(ntohl(pi.ipi_spec_dst.s_addr), SOCKAPI_ADDR_B, "a reply would come from our address");
        cr_assert_eq(pi.ipi_ifindex, 1);
    }
    ts_close(rx);
    ts_close(tx);
}

/* ---- getsockname after connect ------------------------------------------------------------------------ */

Test(conformance_fixes_sock, getsockname_after_an_unbound_connect_reports_the_chosen_local_address_and_port)
{
    int listener = stream_on(mp.net_a), client = stream_on(mp.net_b);
    struct sockaddr_in any = sockapi_sin(0, 7000);
    cr_assert_eq(ts_bind(listener, (const struct sockaddr *)&any, sizeof(any)), 0);
    cr_assert_eq(ts_listen(listener, 4), 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_A, 7000);
    cr_assert_eq(ts_connect(client, (const struct sockaddr *)&to, sizeof(to)), -1);
    cr_assert_eq(errno, EINPROGRESS);
    struct sockaddr_in local;
    socklen_t len = sizeof local;
    cr_assert_eq(ts_getsockname(client, (struct sockaddr *)&local, &len), 0);
    cr_assert_eq(ntohl(local.sin_addr.s_addr), SOCKAPI_ADDR_B, "already while connecting, as Linux");
    cr_assert_neq(ntohs(local.sin_port), 0);
    manual_pair_run_until_quiet(&mp, 100);
    int server = ts_accept(listener, NULL, NULL);
    cr_assert_geq(server, 0);
    struct sockaddr_in peer;
    len = sizeof peer;
    cr_assert_eq(ts_getpeername(server, (struct sockaddr *)&peer, &len), 0);
    cr_assert_eq(peer.sin_addr.s_addr, local.sin_addr.s_addr);
    cr_assert_eq(peer.sin_port, local.sin_port, "the port the server sees is the one getsockname gave");
    ts_close(client);
    ts_close(server);
    ts_close(listener);
}
