/* Wrong calls get the errno POSIX / Linux give them, and nothing breaks. */
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

TestSuite(sockapi_errors, .init = setup, .fini = teardown, .timeout = 20);

#define assert_fails_with(call, err)                                                                 \
    do {                                                                                               \
        errno = 0;                                                                                     \
        long rc_ = (long)(call);                                                                       \
        int errno_ = errno;                                                                            \
        cr_assert_eq(rc_, -1, "%s returned %ld", #call, rc_);                                          \
        cr_assert_eq(errno_, (err), "%s: errno %s, expected %s", #call, strerror(errno_), strerror(err)); \
    } while (0)

Test(sockapi_no_net, socket_without_a_default_net_is_enetdown)
{
    cr_assert_null(ts_net_default());
    assert_fails_with(ts_socket(AF_INET, SOCK_DGRAM, 0), ENETDOWN);
    assert_fails_with(ts_socket_on(NULL, AF_INET, SOCK_DGRAM, 0), EINVAL);
}

Test(sockapi_no_net, calls_on_descriptors_that_never_existed_are_ebadf)
{
    char buf[4];
    assert_fails_with(ts_recv(0, buf, sizeof(buf), 0), EBADF);
    assert_fails_with(ts_close(3), EBADF);
    assert_fails_with(ts_close(-1), EBADF);
}

Test(sockapi_no_net, start_without_a_device_fails_with_a_message)
{
    struct ts_stack_config cfg;
    ts_stack_config_init(&cfg);
    char msg[128] = "";
    cr_assert_null(ts_net_start(&cfg, NULL, msg, sizeof(msg)));
    cr_assert_neq(msg[0], '\0');
}

Test(sockapi_errors, socket_refuses_other_families_types_protocols_and_flags)
{
    assert_fails_with(ts_socket(AF_INET6, SOCK_DGRAM, 0), EAFNOSUPPORT);
    assert_fails_with(ts_socket(AF_UNIX, SOCK_DGRAM, 0), EAFNOSUPPORT);
    assert_fails_with(ts_socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
    assert_fails_with(ts_socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP), EPROTONOSUPPORT);
    assert_fails_with(ts_socket(AF_INET, SOCK_RAW, IPPROTO_UDP), ESOCKTNOSUPPORT);
    assert_fails_with(ts_socket(AF_INET, SOCK_DGRAM | 0x100000, 0), EINVAL);
    assert_fails_with(ts_socket(AF_INET, SOCK_SEQPACKET, 0), ESOCKTNOSUPPORT);
    assert_fails_with(ts_socket(AF_INET, 12, 0), EINVAL);
    assert_fails_with(ts_socket(AF_INET, SOCK_DGRAM, -1), EINVAL);
    int fd = ts_socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
    cr_assert_geq(fd, 0, "SOCK_CLOEXEC is accepted: %s", strerror(errno));
}

Test(sockapi_errors, closed_and_unknown_descriptors_are_ebadf_everywhere)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ts_close(fd), 0);
    assert_fails_with(ts_close(fd), EBADF);

    struct sockaddr_in sin = sockapi_sin(0, 1234);
    const struct sockaddr *sa = (const struct sockaddr *)&sin;
    char buf[8];
    socklen_t len = sizeof(sin);
    int one = 1;
    const int fds[] = {fd, -1, 4096, 1 << 30};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        int bad = fds[i];
        assert_fails_with(ts_bind(bad, sa, sizeof(sin)), EBADF);
        assert_fails_with(ts_connect(bad, sa, sizeof(sin)), EBADF);
        assert_fails_with(ts_sendto(bad, "x", 1, 0, sa, sizeof(sin)), EBADF);
        assert_fails_with(ts_send(bad, "x", 1, 0), EBADF);
        assert_fails_with(ts_recvfrom(bad, buf, sizeof(buf), 0, NULL, NULL), EBADF);
        assert_fails_with(ts_recv(bad, buf, sizeof(buf), MSG_DONTWAIT), EBADF);
        assert_fails_with(ts_setsockopt(bad, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), EBADF);
        assert_fails_with(ts_getsockopt(bad, SOL_SOCKET, SO_TYPE, &one, &len), EBADF);
        assert_fails_with(ts_getsockname(bad, (struct sockaddr *)&sin, &len), EBADF);
        assert_fails_with(ts_getpeername(bad, (struct sockaddr *)&sin, &len), EBADF);
        assert_fails_with(ts_fcntl(bad, F_GETFL, 0), EBADF);
    }
}

Test(sockapi_errors, bind_checks_the_address_like_linux)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = sockapi_sin(0, 1234);
    assert_fails_with(ts_bind(fd, NULL, 0), EINVAL);
    assert_fails_with(ts_bind(fd, NULL, sizeof(sin)), EFAULT);
    assert_fails_with(ts_bind(fd, (const struct sockaddr *)&sin, sizeof(sin) - 1), EINVAL);
    assert_fails_with(ts_bind(fd, (const struct sockaddr *)&sin, 4096), EINVAL);
    struct sockaddr_in6 six;
    memset(&six, 0, sizeof(six));
    six.sin6_family = AF_INET6;
    assert_fails_with(ts_bind(fd, (const struct sockaddr *)&six, sizeof(six)), EAFNOSUPPORT);
    /* Still unbound after all that. */
    struct sockaddr_in name;
    socklen_t len = sizeof(name);
    cr_assert_eq(ts_getsockname(fd, (struct sockaddr *)&name, &len), 0);
    cr_assert_eq(name.sin_port, 0);
}

Test(sockapi_errors, connect_checks_the_address_like_linux)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = sockapi_sin(SOCKAPI_ADDR_B, 1234);
    assert_fails_with(ts_connect(fd, NULL, 0), EINVAL);
    assert_fails_with(ts_connect(fd, NULL, sizeof(sin)), EFAULT);
    assert_fails_with(ts_connect(fd, (const struct sockaddr *)&sin, 1), EINVAL);
    assert_fails_with(ts_connect(fd, (const struct sockaddr *)&sin, sizeof(sin) - 2), EINVAL);
    struct sockaddr_in6 six;
    memset(&six, 0, sizeof(six));
    six.sin6_family = AF_INET6;
    assert_fails_with(ts_connect(fd, (const struct sockaddr *)&six, sizeof(six)), EAFNOSUPPORT);
}

Test(sockapi_errors, sending_without_a_destination_is_edestaddrreq)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    assert_fails_with(ts_send(fd, "x", 1, 0), EDESTADDRREQ);
    assert_fails_with(ts_sendto(fd, "x", 1, 0, NULL, 0), EDESTADDRREQ);
}

Test(sockapi_errors, sendto_checks_the_destination_buffer_and_flags)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 1234);
    const struct sockaddr *sa = (const struct sockaddr *)&to;
    assert_fails_with(ts_sendto(fd, "x", 1, 0, sa, sizeof(to) - 1), EINVAL);
    assert_fails_with(ts_sendto(fd, "x", 1, 0, sa, 0), EINVAL);
    struct sockaddr_in6 six;
    memset(&six, 0, sizeof(six));
    six.sin6_family = AF_INET6;
    assert_fails_with(ts_sendto(fd, "x", 1, 0, (const struct sockaddr *)&six, sizeof(six)), EAFNOSUPPORT);
    assert_fails_with(ts_sendto(fd, NULL, 10, 0, sa, sizeof(to)), EFAULT);
    assert_fails_with(ts_sendto(fd, "x", 1, MSG_OOB, sa, sizeof(to)), EOPNOTSUPP);
    cr_assert_eq(ts_sendto(fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT, sa, sizeof(to)), 1, "%s", strerror(errno));
}

Test(sockapi_errors, a_70000_byte_datagram_is_emsgsize)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    static char big[70000];
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 1234);
    assert_fails_with(ts_sendto(fd, big, sizeof(big), 0, (const struct sockaddr *)&to, sizeof(to)), EMSGSIZE);
    /* 65535 - 20 (IP) - 8 (UDP) = 65507 is the most one datagram carries. */
    assert_fails_with(ts_sendto(fd, big, 65508, 0, (const struct sockaddr *)&to, sizeof(to)), EMSGSIZE);
}

Test(sockapi_errors, recvfrom_checks_flags_and_buffers_before_taking_a_datagram)
{
    int fd = sockapi_udp_bound(pair.a, 8000);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(fd, 5000), 0);
    int sender = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_A, 8000);
    cr_assert_eq(ts_sendto(sender, "keep", 4, 0, (const struct sockaddr *)&to, sizeof(to)), 4);

    char buf[8];
    struct sockaddr_in from;
    socklen_t bad_len = (socklen_t)-1;
    assert_fails_with(ts_recv(fd, buf, sizeof(buf), MSG_OOB), EOPNOTSUPP);
    assert_fails_with(ts_recvfrom(fd, NULL, sizeof(buf), 0, NULL, NULL), EFAULT);
    assert_fails_with(ts_recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, NULL), EFAULT);
    assert_fails_with(ts_recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &bad_len), EINVAL);
    /* None of those consumed the datagram. */
    cr_assert_eq(ts_recv(fd, buf, sizeof(buf), 0), 4, "%s", strerror(errno));
}

Test(sockapi_errors, fcntl_rejects_unknown_commands)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    assert_fails_with(ts_fcntl(fd, F_DUPFD, 0), EINVAL);
    cr_assert_eq(ts_fcntl(fd, F_GETFL, 0) & O_ACCMODE, O_RDWR);
}

Test(sockapi_errors, getsockname_checks_its_length_argument)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in name;
    socklen_t bad = (socklen_t)-5;
    assert_fails_with(ts_getsockname(fd, (struct sockaddr *)&name, NULL), EFAULT);
    assert_fails_with(ts_getsockname(fd, (struct sockaddr *)&name, &bad), EINVAL);
    socklen_t len = sizeof(name);
    assert_fails_with(ts_getsockname(fd, NULL, &len), EFAULT);
}

Test(sockapi_errors, poll_marks_unknown_descriptors_pollnval_and_ignores_negative_ones)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct pollfd pfd[3] = {
        {.fd = -1, .events = POLLIN, .revents = POLLIN},
        {.fd = 999, .events = POLLIN},
        {.fd = fd, .events = POLLIN},
    };
    cr_assert_eq(ts_poll(pfd, 3, 1000), 1);
    cr_assert_eq(pfd[0].revents, 0);
    cr_assert_eq(pfd[1].revents, POLLNVAL);
    cr_assert_eq(pfd[2].revents, 0);
    assert_fails_with(ts_poll(NULL, 1, 0), EFAULT);
}

Test(sockapi_errors, sockets_beyond_the_stacks_limit_fail_with_emfile_and_nothing_leaks)
{
    int opened[4096];
    int n = 0;
    int fd;
    while (n < 4096 && (fd = ts_socket(AF_INET, SOCK_DGRAM, 0)) >= 0)
        opened[n++] = fd;
    cr_assert_lt(n, 4096, "the stack's socket limit should stop us first");
    cr_assert(errno == EMFILE || errno == ENFILE || errno == ENOBUFS, "errno %s", strerror(errno));
    for (int i = 0; i < n; i++)
        cr_assert_eq(ts_close(opened[i]), 0);
    /* Everything came back: a new socket gets the lowest descriptor again. */
    fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(fd, opened[0], "%d vs %d", fd, opened[0]);
}
