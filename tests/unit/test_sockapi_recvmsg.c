/*
 * ts_recvmsg: scatter into iovecs, the sender's name, MSG_TRUNC / MSG_CTRUNC,
 * and the IP_TTL / IP_TOS control messages IP_RECVTTL / IP_RECVTOS ask for.
 * Most tests run over two runtime-mode nets joined by the in-memory link; the
 * TOS ones feed a hand-built frame to a manually driven stack, since nothing
 * in tapstack sends a nonzero TOS.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "core_fixture.h"
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

TestSuite(sockapi_recvmsg, .init = setup, .fini = teardown, .timeout = 20);

#define assert_fails_with(call, err)                                                                 \
    do {                                                                                               \
        errno = 0;                                                                                     \
        long rc_ = (long)(call);                                                                       \
        int errno_ = errno;                                                                            \
        cr_assert_eq(rc_, -1, "%s returned %ld", #call, rc_);                                          \
        cr_assert_eq(errno_, (err), "%s: errno %s, expected %s", #call, strerror(errno_), strerror(err)); \
    } while (0)

/* Room for both control messages tapstack can produce, aligned as the CMSG_* macros want. */
union control {
    struct cmsghdr align;
    uint8_t bytes[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(unsigned char))];
};

static int set_int(int fd, int level, int name, int value)
{
    return ts_setsockopt(fd, level, name, &value, sizeof(value));
}

static int get_int(int fd, int level, int name)
{
    int value = -12345;
    socklen_t len = sizeof(value);
    cr_assert_eq(ts_getsockopt(fd, level, name, &value, &len), 0, "getsockopt: %s", strerror(errno));
    cr_assert_eq(len, sizeof(int));
    return value;
}

static void send_to(int fd, ts_ipv4_addr addr, uint16_t port, const char *text)
{
    struct sockaddr_in to = sockapi_sin(addr, port);
    ssize_t n = ts_sendto(fd, text, strlen(text), 0, (const struct sockaddr *)&to, sizeof(to));
    cr_assert_eq(n, (ssize_t)strlen(text), "sendto: %s", strerror(errno));
}

/* A receiver on net b at port, with a 5 s SO_RCVTIMEO so a lost datagram fails the test instead of hanging it. */
static int receiver_on_b(uint16_t port)
{
    int fd = sockapi_udp_bound(pair.b, port);
    cr_assert_geq(fd, 0, "bind: %s", strerror(errno));
    cr_assert_eq(sockapi_set_rcvtimeo_ms(fd, 5000), 0);
    return fd;
}

/* A msghdr over one buffer and a control area (either may be NULL/0), with no name. */
static struct msghdr one_buffer_msg(struct iovec *iov, void *buf, size_t len, void *control, size_t controllen)
{
    iov->iov_base = buf;
    iov->iov_len = len;
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = controllen;
    msg.msg_flags = -1; /* recvmsg must overwrite it, not merge into it */
    return msg;
}

/* The first IPPROTO_IP control message of the given type; fails the test if there is none. */
static struct cmsghdr *find_cmsg(struct msghdr *msg, int type)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c))
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == type)
            return c;
    cr_assert_fail("no IPPROTO_IP control message of type %d", type);
    return NULL;
}

/* ---- the options ------------------------------------------------------------------------ */

Test(sockapi_recvmsg, ip_recvttl_and_ip_recvtos_are_off_by_default_and_read_back_as_booleans)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    int other = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(get_int(fd, IPPROTO_IP, IP_RECVTTL), 0);
    cr_assert_eq(get_int(fd, IPPROTO_IP, IP_RECVTOS), 0);
    cr_assert_eq(set_int(fd, IPPROTO_IP, IP_RECVTTL, 7), 0, "%s", strerror(errno));
    cr_assert_eq(get_int(fd, IPPROTO_IP, IP_RECVTTL), 1, "any nonzero value turns it on");
    cr_assert_eq(get_int(fd, IPPROTO_IP, IP_RECVTOS), 0, "the two options are independent");
    cr_assert_eq(set_int(fd, IPPROTO_IP, IP_RECVTOS, 1), 0);
    cr_assert_eq(get_int(fd, IPPROTO_IP, IP_RECVTOS), 1);
    cr_assert_eq(get_int(other, IPPROTO_IP, IP_RECVTTL), 0, "options are per socket");
    cr_assert_eq(set_int(fd, IPPROTO_IP, IP_RECVTTL, 0), 0);
    cr_assert_eq(get_int(fd, IPPROTO_IP, IP_RECVTTL), 0);

    char small = 1;
    assert_fails_with(ts_setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &small, sizeof(small)), EINVAL);
    assert_fails_with(ts_setsockopt(fd, IPPROTO_IP, IP_RECVTOS, NULL, sizeof(int)), EFAULT);
}

/* ---- control messages -------------------------------------------------------------------- */

Test(sockapi_recvmsg, ip_ttl_control_message_carries_the_ttl_the_sender_set)
{
    int server = receiver_on_b(7100);
    cr_assert_eq(set_int(server, IPPROTO_IP, IP_RECVTTL, 1), 0, "%s", strerror(errno));
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(set_int(client, IPPROTO_IP, IP_TTL, 17), 0, "%s", strerror(errno));
    send_to(client, SOCKAPI_ADDR_B, 7100, "hello");

    char buf[32];
    struct iovec iov;
    union control control;
    struct msghdr msg = one_buffer_msg(&iov, buf, sizeof(buf), control.bytes, sizeof(control.bytes));
    ssize_t n = ts_recvmsg(server, &msg, 0);
    cr_assert_eq(n, 5, "recvmsg: %zd (%s)", n, strerror(errno));
    cr_assert_arr_eq(buf, "hello", 5);
    cr_assert_eq(msg.msg_flags, 0);
    cr_assert_eq(msg.msg_controllen, CMSG_SPACE(sizeof(int)), "one control message, padded");

    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    cr_assert_not_null(c);
    cr_assert_eq(c->cmsg_level, IPPROTO_IP);
    cr_assert_eq(c->cmsg_type, IP_TTL);
    cr_assert_eq(c->cmsg_len, CMSG_LEN(sizeof(int)));
    int ttl = 0;
    memcpy(&ttl, CMSG_DATA(c), sizeof(ttl));
    cr_assert_eq(ttl, 17);
    cr_assert_null(CMSG_NXTHDR(&msg, c), "IP_RECVTOS is off: no second message");
}

Test(sockapi_recvmsg, no_control_message_when_the_options_are_off)
{
    int server = receiver_on_b(7101);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    send_to(client, SOCKAPI_ADDR_B, 7101, "plain");

    char buf[32];
    struct iovec iov;
    union control control;
    memset(&control, 0xa5, sizeof(control));
    struct msghdr msg = one_buffer_msg(&iov, buf, sizeof(buf), control.bytes, sizeof(control.bytes));
    cr_assert_eq(ts_recvmsg(server, &msg, 0), 5, "%s", strerror(errno));
    cr_assert_eq(msg.msg_controllen, 0);
    cr_assert_null(CMSG_FIRSTHDR(&msg));
    cr_assert_eq(msg.msg_flags, 0);
    cr_assert_eq(control.bytes[0], 0xa5, "the control buffer is left alone");
}

Test(sockapi_recvmsg, ip_recvttl_on_a_ping_socket_gives_the_replys_ttl)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    cr_assert_geq(fd, 0, "%s", strerror(errno));
    cr_assert_eq(sockapi_set_rcvtimeo_ms(fd, 5000), 0);
    cr_assert_eq(set_int(fd, IPPROTO_IP, IP_RECVTTL, 1), 0);
    /* RFC 792 echo request: type 8, code 0; checksum and identifier are the stack's. */
    uint8_t req[12] = {8, 0, 0, 0, 0, 0, 0, 1, 'p', 'i', 'n', 'g'};
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 0);
    cr_assert_eq(ts_sendto(fd, req, sizeof(req), 0, (const struct sockaddr *)&to, sizeof(to)), (ssize_t)sizeof(req));

    uint8_t reply[64];
    struct iovec iov;
    union control control;
    struct msghdr msg = one_buffer_msg(&iov, reply, sizeof(reply), control.bytes, sizeof(control.bytes));
    cr_assert_eq(ts_recvmsg(fd, &msg, 0), (ssize_t)sizeof(req), "%s", strerror(errno));
    cr_assert_eq(reply[0], 0, "an echo reply");
    int ttl = 0;
    memcpy(&ttl, CMSG_DATA(find_cmsg(&msg, IP_TTL)), sizeof(ttl));
    cr_assert_eq(ttl, 64, "net b answers with its default TTL");
}

Test(sockapi_recvmsg, too_little_control_space_sets_msg_ctrunc_and_keeps_the_data)
{
    int server = receiver_on_b(7102);
    cr_assert_eq(set_int(server, IPPROTO_IP, IP_RECVTTL, 1), 0);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    send_to(client, SOCKAPI_ADDR_B, 7102, "first");
    send_to(client, SOCKAPI_ADDR_B, 7102, "second");

    /* Room for a header but not for the int after it: the message is left out, whole. */
    char buf[32];
    struct iovec iov;
    union control control;
    struct msghdr msg = one_buffer_msg(&iov, buf, sizeof(buf), control.bytes, CMSG_LEN(sizeof(int)) - 1);
    cr_assert_eq(ts_recvmsg(server, &msg, 0), 5, "%s", strerror(errno));
    cr_assert_arr_eq(buf, "first", 5);
    cr_assert_eq(msg.msg_flags, MSG_CTRUNC);
    cr_assert_eq(msg.msg_controllen, 0);
    cr_assert_null(CMSG_FIRSTHDR(&msg));

    /* No control buffer at all, with the option on, is the same case. */
    msg = one_buffer_msg(&iov, buf, sizeof(buf), NULL, 64);
    cr_assert_eq(ts_recvmsg(server, &msg, 0), 6, "%s", strerror(errno));
    cr_assert_arr_eq(buf, "second", 6);
    cr_assert_eq(msg.msg_flags, MSG_CTRUNC);
    cr_assert_eq(msg.msg_controllen, 0);
}

Test(sockapi_recvmsg, a_control_message_that_fits_without_its_trailing_padding_is_whole)
{
    int server = receiver_on_b(7103);
    cr_assert_eq(set_int(server, IPPROTO_IP, IP_RECVTTL, 1), 0);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    send_to(client, SOCKAPI_ADDR_B, 7103, "x");

    char buf[8];
    struct iovec iov;
    union control control;
    struct msghdr msg = one_buffer_msg(&iov, buf, sizeof(buf), control.bytes, CMSG_LEN(sizeof(int)));
    cr_assert_eq(ts_recvmsg(server, &msg, 0), 1, "%s", strerror(errno));
    cr_assert_eq(msg.msg_flags, 0, "as Linux: only the last message's padding is missing, nothing is cut");
    cr_assert_eq(msg.msg_controllen, CMSG_LEN(sizeof(int)));
    int ttl = 0;
    memcpy(&ttl, CMSG_DATA(find_cmsg(&msg, IP_TTL)), sizeof(ttl));
    cr_assert_eq(ttl, 64);
}

/* ---- data and name -------------------------------------------------------------------- */

Test(sockapi_recvmsg, a_datagram_scatters_over_three_iovecs_in_order)
{
    int server = receiver_on_b(7104);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    send_to(client, SOCKAPI_ADDR_B, 7104, "abcdefghij");

    char one[3], two[4], three[8];
    memset(three, '.', sizeof(three));
    struct iovec iov[3] = {{one, sizeof(one)}, {two, sizeof(two)}, {three, sizeof(three)}};
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = 3;
    cr_assert_eq(ts_recvmsg(server, &msg, 0), 10, "%s", strerror(errno));
    cr_assert_arr_eq(one, "abc", 3);
    cr_assert_arr_eq(two, "defg", 4);
    cr_assert_arr_eq(three, "hij.....", 8, "bytes past the datagram are left alone");
    cr_assert_eq(msg.msg_flags, 0);
}

Test(sockapi_recvmsg, empty_iovecs_are_skipped)
{
    int server = receiver_on_b(7105);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    send_to(client, SOCKAPI_ADDR_B, 7105, "xyz");

    char a[2], b[4];
    struct iovec iov[4] = {{NULL, 0}, {a, sizeof(a)}, {NULL, 0}, {b, sizeof(b)}};
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = 4;
    cr_assert_eq(ts_recvmsg(server, &msg, 0), 3, "%s", strerror(errno));
    cr_assert_arr_eq(a, "xy", 2);
    cr_assert_eq(b[0], 'z');
}

Test(sockapi_recvmsg, short_iovecs_set_msg_trunc_and_the_rest_of_the_datagram_is_gone)
{
    int server = receiver_on_b(7106);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    send_to(client, SOCKAPI_ADDR_B, 7106, "0123456789");
    send_to(client, SOCKAPI_ADDR_B, 7106, "next-one");
    send_to(client, SOCKAPI_ADDR_B, 7106, "third");

    char a[2], b[2], c[2];
    struct iovec iov[3] = {{a, sizeof(a)}, {b, sizeof(b)}, {c, sizeof(c)}};
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = 3;
    cr_assert_eq(ts_recvmsg(server, &msg, 0), 6, "POSIX: the bytes stored");
    cr_assert_eq(msg.msg_flags, MSG_TRUNC);
    cr_assert_arr_eq(a, "01", 2);
    cr_assert_arr_eq(b, "23", 2);
    cr_assert_arr_eq(c, "45", 2);

    /* MSG_TRUNC as a flag asks for the datagram's real length (Linux). */
    msg.msg_iovlen = 1;
    cr_assert_eq(ts_recvmsg(server, &msg, MSG_TRUNC), 8);
    cr_assert_eq(msg.msg_flags, MSG_TRUNC);
    cr_assert_arr_eq(a, "ne", 2);

    /* No iovecs at all: the datagram is taken, nothing is stored. */
    msg.msg_iov = NULL;
    msg.msg_iovlen = 0;
    cr_assert_eq(ts_recvmsg(server, &msg, 0), 0);
    cr_assert_eq(msg.msg_flags, MSG_TRUNC);
    assert_fails_with(ts_recvmsg(server, &msg, MSG_DONTWAIT), EAGAIN);
}

Test(sockapi_recvmsg, msg_name_gets_the_sender_and_its_full_length)
{
    int server = receiver_on_b(7107);
    int client = sockapi_udp_bound(pair.a, 5555);
    cr_assert_geq(client, 0);
    send_to(client, SOCKAPI_ADDR_B, 7107, "who");
    send_to(client, SOCKAPI_ADDR_B, 7107, "am");
    send_to(client, SOCKAPI_ADDR_B, 7107, "i");

    char buf[8];
    struct iovec iov;
    struct sockaddr_in from;
    memset(&from, 0, sizeof(from));
    struct msghdr msg = one_buffer_msg(&iov, buf, sizeof(buf), NULL, 0);
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    cr_assert_eq(ts_recvmsg(server, &msg, 0), 3, "%s", strerror(errno));
    cr_assert_eq(msg.msg_namelen, sizeof(struct sockaddr_in));
    cr_assert_eq(from.sin_family, AF_INET);
    cr_assert_eq(ntohl(from.sin_addr.s_addr), SOCKAPI_ADDR_A);
    cr_assert_eq(ntohs(from.sin_port), 5555);

    /* A short name buffer gets what fits, and msg_namelen says how long the whole one is. */
    uint8_t shortname[4];
    memset(shortname, 0, sizeof(shortname));
    msg.msg_name = shortname;
    msg.msg_namelen = sizeof(shortname);
    cr_assert_eq(ts_recvmsg(server, &msg, 0), 2);
    cr_assert_eq(msg.msg_namelen, sizeof(struct sockaddr_in));
    sa_family_t family;
    memcpy(&family, shortname, sizeof(family));
    cr_assert_eq(family, AF_INET);
    cr_assert_eq(shortname[2], 5555 >> 8);
    cr_assert_eq(shortname[3], 5555 & 0xff);

    /* No name buffer: msg_namelen is not touched. */
    msg.msg_name = NULL;
    msg.msg_namelen = 99;
    cr_assert_eq(ts_recvmsg(server, &msg, 0), 1);
    cr_assert_eq(msg.msg_namelen, 99);
}

Test(sockapi_recvmsg, msg_peek_leaves_the_datagram_and_still_gives_the_control_message)
{
    int server = receiver_on_b(7108);
    cr_assert_eq(set_int(server, IPPROTO_IP, IP_RECVTTL, 1), 0);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(set_int(client, IPPROTO_IP, IP_TTL, 33), 0);
    send_to(client, SOCKAPI_ADDR_B, 7108, "peekaboo");

    for (int round = 0; round < 2; round++) {
        char head[4], tail[4];
        struct iovec iov[2] = {{head, sizeof(head)}, {tail, sizeof(tail)}};
        union control control;
        struct msghdr msg;
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = iov;
        msg.msg_iovlen = 2;
        msg.msg_control = control.bytes;
        msg.msg_controllen = sizeof(control.bytes);
        cr_assert_eq(ts_recvmsg(server, &msg, round == 0 ? MSG_PEEK : 0), 8, "round %d: %s", round, strerror(errno));
        cr_assert_arr_eq(head, "peek", 4);
        cr_assert_arr_eq(tail, "aboo", 4);
        int ttl = 0;
        memcpy(&ttl, CMSG_DATA(find_cmsg(&msg, IP_TTL)), sizeof(ttl));
        cr_assert_eq(ttl, 33);
    }
    char buf[8];
    assert_fails_with(ts_recv(server, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
}

/* ---- waiting and errors -------------------------------------------------------------------- */

Test(sockapi_recvmsg, a_blocked_recvmsg_returns_the_datagram_that_arrives_later_and_times_out_without_one)
{
    int server = sockapi_udp_bound(pair.b, 7109);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(server, 300), 0);
    char buf[16];
    struct iovec iov;
    struct msghdr msg = one_buffer_msg(&iov, buf, sizeof(buf), NULL, 0);
    int64_t start = sockapi_now_ms();
    assert_fails_with(ts_recvmsg(server, &msg, 0), EAGAIN);
    int64_t waited = sockapi_now_ms() - start;
    cr_assert_geq(waited, 250, "SO_RCVTIMEO is honoured: waited %lld ms", (long long)waited);
    cr_assert_lt(waited, 3000);
    assert_fails_with(ts_recvmsg(server, &msg, MSG_DONTWAIT), EAGAIN);

    cr_assert_eq(sockapi_set_rcvtimeo_ms(server, 5000), 0);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    send_to(client, SOCKAPI_ADDR_B, 7109, "late");
    cr_assert_eq(ts_recvmsg(server, &msg, 0), 4, "%s", strerror(errno));
    cr_assert_arr_eq(buf, "late", 4);
}

Test(sockapi_recvmsg, a_pending_error_is_reported_by_recvmsg_once)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 9);
    cr_assert_eq(ts_connect(fd, (const struct sockaddr *)&to, sizeof(to)), 0);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(fd, 3000), 0);
    cr_assert_eq(ts_send(fd, "anyone?", 7, 0), 7, "%s", strerror(errno));

    char buf[16];
    struct iovec iov;
    struct msghdr msg = one_buffer_msg(&iov, buf, sizeof(buf), NULL, 0);
    assert_fails_with(ts_recvmsg(fd, &msg, 0), ECONNREFUSED);
    assert_fails_with(ts_recvmsg(fd, &msg, MSG_DONTWAIT), EAGAIN);
}

Test(sockapi_recvmsg, bad_calls_fail_with_linuxs_errno_and_lose_no_datagram)
{
    int server = receiver_on_b(7110);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    send_to(client, SOCKAPI_ADDR_B, 7110, "survivor");

    char buf[16];
    struct iovec iov;
    struct msghdr msg = one_buffer_msg(&iov, buf, sizeof(buf), NULL, 0);
    /* Wait until the datagram is queued, so every bad call below has one it could lose. */
    cr_assert_eq(ts_recvmsg(server, &msg, MSG_PEEK), 8, "%s", strerror(errno));
    memset(buf, 0, sizeof(buf));

    assert_fails_with(ts_recvmsg(-1, &msg, 0), EBADF);
    assert_fails_with(ts_recvmsg(999, &msg, 0), EBADF);
    int closed = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(ts_close(closed), 0);
    assert_fails_with(ts_recvmsg(closed, &msg, 0), EBADF);

    assert_fails_with(ts_recvmsg(server, NULL, 0), EFAULT);
    assert_fails_with(ts_recvmsg(server, &msg, MSG_OOB), EOPNOTSUPP);

    struct msghdr bad = msg;
    bad.msg_iovlen = IOV_MAX + 1;
    assert_fails_with(ts_recvmsg(server, &bad, 0), EMSGSIZE);

    bad = msg;
    bad.msg_iov = NULL;
    assert_fails_with(ts_recvmsg(server, &bad, 0), EFAULT);

    struct iovec negative[2] = {{buf, 4}, {buf + 4, (size_t)-1}};
    bad = msg;
    bad.msg_iov = negative;
    bad.msg_iovlen = 2;
    assert_fails_with(ts_recvmsg(server, &bad, 0), EINVAL);

    struct iovec nullbuf = {NULL, 8};
    bad = msg;
    bad.msg_iov = &nullbuf;
    assert_fails_with(ts_recvmsg(server, &bad, 0), EFAULT);

    struct sockaddr_in from;
    bad = msg;
    bad.msg_name = &from;
    bad.msg_namelen = (socklen_t)-1;
    assert_fails_with(ts_recvmsg(server, &bad, 0), EINVAL);

    /* The datagram waited through all of that. */
    cr_assert_eq(ts_recvmsg(server, &msg, MSG_DONTWAIT), 8, "%s", strerror(errno));
    cr_assert_arr_eq(buf, "survivor", 8);
}

Test(sockapi_recvmsg, iov_max_iovecs_are_accepted)
{
    int server = receiver_on_b(7111);
    int client = ts_socket(AF_INET, SOCK_DGRAM, 0);
    send_to(client, SOCKAPI_ADDR_B, 7111, "spread thin");

    static char bytes[IOV_MAX];
    static struct iovec iov[IOV_MAX];
    for (size_t i = 0; i < IOV_MAX; i++)
        iov[i] = (struct iovec){.iov_base = &bytes[i], .iov_len = 1};
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = IOV_MAX;
    cr_assert_eq(ts_recvmsg(server, &msg, 0), 11, "%s", strerror(errno));
    cr_assert_arr_eq(bytes, "spread thin", 11);
}

/* ---- TOS, through a manually driven stack ------------------------------------------------ */

Test(sockapi_recvmsg_manual, ttl_then_tos_come_from_the_ip_header_in_linuxs_order)
{
    struct fx f;
    fx_init(&f, NULL);
    struct ts_net *net = ts_net_attach(f.st);
    cr_assert_not_null(net);
    int fd = ts_socket_on(net, AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0, "%s", strerror(errno));
    struct sockaddr_in local = sockapi_sin(0, 4000);
    cr_assert_eq(ts_bind(fd, (const struct sockaddr *)&local, sizeof(local)), 0);
    cr_assert_eq(set_int(fd, IPPROTO_IP, IP_RECVTTL, 1), 0);
    cr_assert_eq(set_int(fd, IPPROTO_IP, IP_RECVTOS, 1), 0);

    /* A datagram whose IP header says TTL 3, TOS 0xb8 (DSCP EF). */
    static uint8_t frame[2048];
    size_t len = fx_build_udp(frame, FX_PEER_IP, 1234, FX_STACK_IP, 4000, "tos", 3);
    frame[14 + 1] = 0xb8;
    frame[14 + 8] = 3;
    fx_fix_ipv4_checksum(frame);
    ts_net_drive_input(net, TS_SEC(1), frame, len);

    char buf[8];
    struct iovec iov;
    union control control;
    struct msghdr msg = one_buffer_msg(&iov, buf, sizeof(buf), control.bytes, sizeof(control.bytes));
    cr_assert_eq(ts_recvmsg(fd, &msg, 0), 3, "%s", strerror(errno));
    cr_assert_eq(msg.msg_flags, 0);
    cr_assert_eq(msg.msg_controllen, CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(unsigned char)));

    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    cr_assert_not_null(c);
    cr_assert_eq(c->cmsg_type, IP_TTL, "TTL first");
    int ttl = 0;
    memcpy(&ttl, CMSG_DATA(c), sizeof(ttl));
    cr_assert_eq(ttl, 3);
    c = CMSG_NXTHDR(&msg, c);
    cr_assert_not_null(c);
    cr_assert_eq(c->cmsg_level, IPPROTO_IP);
    cr_assert_eq(c->cmsg_type, IP_TOS);
    cr_assert_eq(c->cmsg_len, CMSG_LEN(sizeof(unsigned char)));
    cr_assert_eq(*CMSG_DATA(c), 0xb8);
    cr_assert_null(CMSG_NXTHDR(&msg, c));

    /* Room for the TTL only: the TOS is left out and MSG_CTRUNC says so. */
    ts_net_drive_input(net, TS_SEC(2), frame, len);
    msg = one_buffer_msg(&iov, buf, sizeof(buf), control.bytes, CMSG_SPACE(sizeof(int)));
    cr_assert_eq(ts_recvmsg(fd, &msg, 0), 3, "%s", strerror(errno));
    cr_assert_eq(msg.msg_flags, MSG_CTRUNC);
    cr_assert_eq(msg.msg_controllen, CMSG_SPACE(sizeof(int)));
    cr_assert_eq(find_cmsg(&msg, IP_TTL)->cmsg_len, CMSG_LEN(sizeof(int)));

    cr_assert_eq(ts_close(fd), 0);
    ts_net_detach(net);
    fx_fini(&f);
}
