/* UDP sockets over two runtime-mode nets joined by the in-memory link. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "sockapi_pair.h"

static struct sockapi_pair pair;

static void setup(void)
{
    cr_assert(sockapi_pair_start(&pair), "fixture: %s", pair.error);
}

static void teardown(void)
{
    sockapi_pair_stop(&pair);
}

TestSuite(sockapi_udp, .init = setup, .fini = teardown, .timeout = 20);

static void send_to(int fd, ts_ipv4_addr addr, uint16_t port, const char *text)
{
    struct sockaddr_in to = sockapi_sin(addr, port);
    ssize_t n = ts_sendto(fd, text, strlen(text), 0, (const struct sockaddr *)&to, sizeof(to));
    cr_assert_eq(n, (ssize_t)strlen(text), "sendto: %s", strerror(errno));
}

Test(sockapi_udp, datagram_round_trip_with_blocking_recvfrom)
{
    int server = sockapi_udp_bound(pair.b, 7000);
    cr_assert_geq(server, 0, "bind: %s", strerror(errno));
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(client, 0);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(server, 5000), 0);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(client, 5000), 0);

    send_to(client, SOCKAPI_ADDR_B, 7000, "hello");

    char buf[64];
    struct sockaddr_in from;
    socklen_t fromlen = sizeof(from);
    ssize_t n = ts_recvfrom(server, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen);
    cr_assert_eq(n, 5, "recvfrom: %s", strerror(errno));
    cr_assert_arr_eq(buf, "hello", 5);
    cr_assert_eq(fromlen, sizeof(struct sockaddr_in));
    cr_assert_eq(from.sin_family, AF_INET);
    cr_assert_eq(ntohl(from.sin_addr.s_addr), SOCKAPI_ADDR_A);
    cr_assert_neq(from.sin_port, 0);

    /* Reply to whatever address the request came from: the client's ephemeral port. */
    n = ts_sendto(server, "world!", 6, 0, (const struct sockaddr *)&from, fromlen);
    cr_assert_eq(n, 6, "reply: %s", strerror(errno));
    struct sockaddr_in back;
    socklen_t backlen = sizeof(back);
    n = ts_recvfrom(client, buf, sizeof(buf), 0, (struct sockaddr *)&back, &backlen);
    cr_assert_eq(n, 6, "client recvfrom: %s", strerror(errno));
    cr_assert_arr_eq(buf, "world!", 6);
    cr_assert_eq(ntohl(back.sin_addr.s_addr), SOCKAPI_ADDR_B);
    cr_assert_eq(ntohs(back.sin_port), 7000);
}

Test(sockapi_udp, recv_on_an_empty_nonblocking_socket_says_eagain)
{
    int fd = ts_socket_on(pair.b, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    cr_assert_geq(fd, 0);
    char buf[16];
    cr_assert_eq(ts_recv(fd, buf, sizeof(buf), 0), -1);
    cr_assert_eq(errno, EAGAIN);
    cr_assert_eq(ts_fcntl(fd, F_GETFL, 0) & O_NONBLOCK, O_NONBLOCK);
}

Test(sockapi_udp, msg_dontwait_and_fcntl_o_nonblock_make_a_blocking_socket_say_eagain)
{
    int fd = sockapi_udp_bound(pair.b, 0);
    cr_assert_geq(fd, 0);
    char buf[16];
    int64_t start = sockapi_now_ms();
    cr_assert_eq(ts_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
    cr_assert_eq(errno, EAGAIN);

    cr_assert_eq(ts_fcntl(fd, F_GETFL, 0) & O_NONBLOCK, 0);
    cr_assert_eq(ts_fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    cr_assert_eq(ts_recvfrom(fd, buf, sizeof(buf), 0, NULL, NULL), -1);
    cr_assert_eq(errno, EAGAIN);
    cr_assert_lt(sockapi_now_ms() - start, 500, "non-blocking calls must not wait");
}

Test(sockapi_udp, so_rcvtimeo_expires_with_eagain_after_about_the_timeout)
{
    int fd = sockapi_udp_bound(pair.b, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(fd, 200), 0);
    char buf[16];
    int64_t start = sockapi_now_ms();
    cr_assert_eq(ts_recv(fd, buf, sizeof(buf), 0), -1);
    int64_t elapsed = sockapi_now_ms() - start;
    cr_assert_eq(errno, EAGAIN);
    cr_assert_geq(elapsed, 190, "returned after %lld ms", (long long)elapsed);
    cr_assert_lt(elapsed, 1500, "returned after %lld ms", (long long)elapsed);
}

Test(sockapi_udp, a_blocked_recv_returns_the_datagram_that_arrives_later)
{
    int server = sockapi_udp_bound(pair.b, 7001);
    cr_assert_geq(server, 0);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(server, 5000), 0);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 7001);
    cr_assert_eq(ts_connect(client, (const struct sockaddr *)&to, sizeof(to)), 0);
    cr_assert_eq(ts_send(client, "late", 4, 0), 4);
    char buf[16];
    int64_t start = sockapi_now_ms();
    cr_assert_eq(ts_recv(server, buf, sizeof(buf), 0), 4, "recv: %s", strerror(errno));
    cr_assert_lt(sockapi_now_ms() - start, 2000);
}

Test(sockapi_udp, binding_a_taken_port_is_eaddrinuse_unless_both_set_so_reuseaddr)
{
    int first = sockapi_udp_bound(pair.a, 5000);
    cr_assert_geq(first, 0);
    int second = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = sockapi_sin(0, 5000);
    cr_assert_eq(ts_bind(second, (const struct sockaddr *)&sin, sizeof(sin)), -1);
    cr_assert_eq(errno, EADDRINUSE);

    int on = 1;
    int x = ts_socket(AF_INET, SOCK_DGRAM, 0);
    int y = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(ts_setsockopt(x, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)), 0);
    cr_assert_eq(ts_setsockopt(y, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)), 0);
    struct sockaddr_in shared = sockapi_sin(0, 5001);
    cr_assert_eq(ts_bind(x, (const struct sockaddr *)&shared, sizeof(shared)), 0, "%s", strerror(errno));
    cr_assert_eq(ts_bind(y, (const struct sockaddr *)&shared, sizeof(shared)), 0, "%s", strerror(errno));

    /* Closing the holder frees the port for anyone. */
    cr_assert_eq(ts_close(first), 0);
    cr_assert_eq(ts_bind(second, (const struct sockaddr *)&sin, sizeof(sin)), 0, "%s", strerror(errno));
}

Test(sockapi_udp, binding_a_foreign_address_is_eaddrnotavail)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = sockapi_sin(TS_IPV4(10, 0, 0, 77), 5000);
    cr_assert_eq(ts_bind(fd, (const struct sockaddr *)&sin, sizeof(sin)), -1);
    cr_assert_eq(errno, EADDRNOTAVAIL);
    sin = sockapi_sin(SOCKAPI_ADDR_A, 5000);
    cr_assert_eq(ts_bind(fd, (const struct sockaddr *)&sin, sizeof(sin)), 0, "%s", strerror(errno));
}

Test(sockapi_udp, getsockname_after_binding_port_zero_shows_an_ephemeral_port)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in name;
    socklen_t len = sizeof(name);
    cr_assert_eq(ts_getsockname(fd, (struct sockaddr *)&name, &len), 0);
    cr_assert_eq(len, sizeof(name));
    cr_assert_eq(name.sin_family, AF_INET);
    cr_assert_eq(name.sin_port, 0, "an unbound socket has no port");
    cr_assert_eq(name.sin_addr.s_addr, htonl(INADDR_ANY));

    struct sockaddr_in any = sockapi_sin(0, 0);
    cr_assert_eq(ts_bind(fd, (const struct sockaddr *)&any, sizeof(any)), 0);
    len = sizeof(name);
    cr_assert_eq(ts_getsockname(fd, (struct sockaddr *)&name, &len), 0);
    uint16_t port = ntohs(name.sin_port);
    /* RFC 6056 section 2.1: ephemeral ports come from 1024-65535. */
    cr_assert_geq(port, 1024, "port %u", port);

    /* Binding twice is EINVAL, as Linux. */
    cr_assert_eq(ts_bind(fd, (const struct sockaddr *)&any, sizeof(any)), -1);
    cr_assert_eq(errno, EINVAL);
}

Test(sockapi_udp, getsockname_truncates_to_the_callers_length_and_reports_the_full_one)
{
    int fd = sockapi_udp_bound(pair.a, 6000);
    cr_assert_geq(fd, 0);
    struct sockaddr_in name;
    memset(&name, 0xab, sizeof(name));
    socklen_t len = 4; /* family + port only */
    cr_assert_eq(ts_getsockname(fd, (struct sockaddr *)&name, &len), 0);
    cr_assert_eq(len, sizeof(struct sockaddr_in));
    cr_assert_eq(ntohs(name.sin_port), 6000);
    cr_assert_eq(name.sin_addr.s_addr, 0xabababab, "bytes beyond the given length are untouched");
}

Test(sockapi_udp, getpeername_is_enotconn_until_connect_then_names_the_peer)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in peer;
    socklen_t len = sizeof(peer);
    cr_assert_eq(ts_getpeername(fd, (struct sockaddr *)&peer, &len), -1);
    cr_assert_eq(errno, ENOTCONN);

    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 4242);
    cr_assert_eq(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), 0);
    len = sizeof(peer);
    cr_assert_eq(ts_getpeername(fd, (struct sockaddr *)&peer, &len), 0);
    cr_assert_eq(ntohl(peer.sin_addr.s_addr), SOCKAPI_ADDR_B);
    cr_assert_eq(ntohs(peer.sin_port), 4242);
    struct sockaddr_in name;
    len = sizeof(name);
    cr_assert_eq(ts_getsockname(fd, (struct sockaddr *)&name, &len), 0);
    cr_assert_neq(name.sin_port, 0, "connect binds an ephemeral port first");

    /* AF_UNSPEC dissolves the association. */
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    cr_assert_eq(ts_connect(fd, &unspec, sizeof(unspec)), 0, "%s", strerror(errno));
    len = sizeof(peer);
    cr_assert_eq(ts_getpeername(fd, (struct sockaddr *)&peer, &len), -1);
    cr_assert_eq(errno, ENOTCONN);
}

Test(sockapi_udp, connected_socket_to_a_closed_port_gets_econnrefused_on_a_later_call)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 9);
    cr_assert_eq(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), 0);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(fd, 3000), 0);
    cr_assert_eq(ts_send(fd, "anyone?", 7, 0), 7, "%s", strerror(errno));

    /* RFC 1122 4.1.3.3: the port unreachable reaches the application; POSIX reports it on the next call. */
    char buf[16];
    cr_assert_eq(ts_recv(fd, buf, sizeof(buf), 0), -1);
    cr_assert_eq(errno, ECONNREFUSED, "got %s", strerror(errno));
    /* Reported once, then cleared. */
    cr_assert_eq(ts_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
    cr_assert_eq(errno, EAGAIN);
}

Test(sockapi_udp, so_error_reads_and_clears_the_pending_error)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 9);
    cr_assert_eq(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), 0);
    cr_assert_eq(ts_send(fd, "x", 1, 0), 1);

    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    cr_assert_eq(ts_poll(&pfd, 1, 3000), 1);
    cr_assert(pfd.revents & POLLERR, "revents %#x", pfd.revents);

    int err = 0;
    socklen_t len = sizeof(err);
    cr_assert_eq(ts_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    cr_assert_eq(err, ECONNREFUSED);
    len = sizeof(err);
    cr_assert_eq(ts_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    cr_assert_eq(err, 0);
}

Test(sockapi_udp, msg_peek_leaves_the_datagram_and_msg_trunc_reports_its_full_length)
{
    int server = sockapi_udp_bound(pair.b, 7002);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(server, 5000), 0);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    send_to(client, SOCKAPI_ADDR_B, 7002, "0123456789");

    char buf[32];
    cr_assert_eq(ts_recv(server, buf, sizeof(buf), MSG_PEEK), 10, "%s", strerror(errno));
    cr_assert_eq(ts_recv(server, buf, 4, MSG_PEEK | MSG_TRUNC), 10);
    cr_assert_arr_eq(buf, "0123", 4);
    memset(buf, 0, sizeof(buf));
    /* Without MSG_TRUNC a short read returns what was copied; the rest of the datagram is gone. */
    cr_assert_eq(ts_recv(server, buf, 4, 0), 4);
    cr_assert_arr_eq(buf, "0123", 4);
    cr_assert_eq(ts_recv(server, buf, sizeof(buf), MSG_DONTWAIT), -1);
    cr_assert_eq(errno, EAGAIN);
}

Test(sockapi_udp, datagram_boundaries_are_kept)
{
    int server = sockapi_udp_bound(pair.b, 7003);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(server, 5000), 0);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    send_to(client, SOCKAPI_ADDR_B, 7003, "one");
    send_to(client, SOCKAPI_ADDR_B, 7003, "three");
    char buf[32];
    cr_assert_eq(ts_recv(server, buf, sizeof(buf), 0), 3);
    cr_assert_arr_eq(buf, "one", 3);
    cr_assert_eq(ts_recv(server, buf, sizeof(buf), 0), 5);
    cr_assert_arr_eq(buf, "three", 5);
}

Test(sockapi_udp, a_datagram_larger_than_the_mtu_arrives_whole)
{
    int server = sockapi_udp_bound(pair.b, 7004);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(server, 5000), 0);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    static char big[4000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 7004);
    cr_assert_eq(ts_sendto(client, big, sizeof(big), 0, (const struct sockaddr *)&to, sizeof(to)),
                 (ssize_t)sizeof(big), "%s", strerror(errno));
    static char got[5000];
    cr_assert_eq(ts_recv(server, got, sizeof(got), 0), (ssize_t)sizeof(big), "%s", strerror(errno));
    cr_assert_arr_eq(got, big, sizeof(big));
}
