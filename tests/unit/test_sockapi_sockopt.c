/* ts_setsockopt / ts_getsockopt: values, lengths and what each option changes. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/time.h>

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

TestSuite(sockapi_sockopt, .init = setup, .fini = teardown, .timeout = 20);

static int get_int(int fd, int level, int name)
{
    int value = -12345;
    socklen_t len = sizeof(value);
    cr_assert_eq(ts_getsockopt(fd, level, name, &value, &len), 0, "getsockopt %d/%d: %s", level, name,
                 strerror(errno));
    cr_assert_eq(len, sizeof(int));
    return value;
}

static int set_int(int fd, int level, int name, int value)
{
    return ts_setsockopt(fd, level, name, &value, sizeof(value));
}

Test(sockapi_sockopt, boolean_options_read_back_as_set)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_REUSEADDR), 0);
    cr_assert_eq(set_int(fd, SOL_SOCKET, SO_REUSEADDR, 5), 0);
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_REUSEADDR), 1, "any non-zero value means on");
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_BROADCAST), 0);
    cr_assert_eq(set_int(fd, SOL_SOCKET, SO_BROADCAST, 1), 0);
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_BROADCAST), 1);
    cr_assert_eq(set_int(fd, SOL_SOCKET, SO_BROADCAST, 0), 0);
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_BROADCAST), 0);
}

Test(sockapi_sockopt, so_type_is_sock_dgram_and_read_only)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
    cr_assert_eq(set_int(fd, SOL_SOCKET, SO_TYPE, SOCK_STREAM), -1);
    cr_assert_eq(errno, ENOPROTOOPT);
    cr_assert_eq(set_int(fd, SOL_SOCKET, SO_ERROR, 0), -1);
    cr_assert_eq(errno, ENOPROTOOPT);
    int ping = ts_socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    cr_assert_eq(get_int(ping, SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
}

Test(sockapi_sockopt, buffer_sizes_read_back)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_gt(get_int(fd, SOL_SOCKET, SO_RCVBUF), 0, "a default receive buffer exists");
    cr_assert_eq(set_int(fd, SOL_SOCKET, SO_RCVBUF, 100000), 0, "%s", strerror(errno));
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_RCVBUF), 100000);
    cr_assert_eq(set_int(fd, SOL_SOCKET, SO_SNDBUF, 50000), 0, "%s", strerror(errno));
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_SNDBUF), 50000);
    /* Like Linux, a size below the minimum is raised to it rather than refused. */
    cr_assert_eq(set_int(fd, SOL_SOCKET, SO_RCVBUF, -5), 0, "%s", strerror(errno));
    int floor = get_int(fd, SOL_SOCKET, SO_RCVBUF);
    cr_assert_gt(floor, 0);
    cr_assert_lt(floor, 100000);
}

Test(sockapi_sockopt, timeouts_round_trip_as_timevals)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct timeval tv = {.tv_sec = 2, .tv_usec = 500000};
    cr_assert_eq(ts_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
    struct timeval got = {99, 99};
    socklen_t len = sizeof(got);
    cr_assert_eq(ts_getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &got, &len), 0);
    cr_assert_eq(len, sizeof(got));
    cr_assert_eq(got.tv_sec, 2);
    cr_assert_eq(got.tv_usec, 500000);
    len = sizeof(got);
    cr_assert_eq(ts_getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &got, &len), 0);
    cr_assert_eq(got.tv_sec, 0, "the default is to wait forever");
    cr_assert_eq(got.tv_usec, 0);

    struct timeval bad = {.tv_sec = 1, .tv_usec = 1000000};
    cr_assert_eq(ts_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bad, sizeof(bad)), -1);
    cr_assert_eq(errno, EDOM, "Linux: tv_usec out of range is EDOM");
    cr_assert_eq(ts_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv) - 1), -1);
    cr_assert_eq(errno, EINVAL);
}

Test(sockapi_sockopt, a_negative_receive_timeout_never_waits)
{
    int fd = sockapi_udp_bound(pair.a, 0);
    struct timeval tv = {.tv_sec = -1, .tv_usec = 0};
    cr_assert_eq(ts_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    char buf[4];
    int64_t start = sockapi_now_ms();
    cr_assert_eq(ts_recv(fd, buf, sizeof(buf), 0), -1);
    cr_assert_eq(errno, EAGAIN);
    cr_assert_lt(sockapi_now_ms() - start, 500);
}

Test(sockapi_sockopt, short_lengths_unknown_options_and_levels_are_refused)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    int one = 1;
    cr_assert_eq(ts_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 2), -1);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(ts_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, NULL, sizeof(int)), -1);
    cr_assert_eq(errno, EFAULT);
    cr_assert_eq(ts_setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)), -1);
    cr_assert_eq(errno, ENOPROTOOPT);
    cr_assert_eq(ts_setsockopt(fd, IPPROTO_TCP, 1, &one, sizeof(one)), -1);
    cr_assert_eq(errno, ENOPROTOOPT);
    cr_assert_eq(ts_setsockopt(fd, IPPROTO_IP, IP_OPTIONS, &one, sizeof(one)), -1); /* no IP options */
    cr_assert_eq(errno, ENOPROTOOPT);
    int value;
    socklen_t len = sizeof(value);
    cr_assert_eq(ts_getsockopt(fd, SOL_SOCKET, SO_LINGER, &value, &len), -1);
    cr_assert_eq(errno, ENOPROTOOPT);
    cr_assert_eq(ts_getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, NULL), -1);
    cr_assert_eq(errno, EFAULT);
    len = (socklen_t)-1;
    cr_assert_eq(ts_getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &len), -1);
    cr_assert_eq(errno, EINVAL);
}

Test(sockapi_sockopt, a_short_getsockopt_buffer_is_silently_truncated)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    unsigned char byte = 0xff;
    socklen_t len = 1;
    cr_assert_eq(ts_getsockopt(fd, SOL_SOCKET, SO_TYPE, &byte, &len), 0);
    cr_assert_eq(len, 1);
    cr_assert_eq(byte, SOCK_DGRAM & 0xff, "the low byte on a little-endian host");
}

Test(sockapi_sockopt, ip_ttl_accepts_1_to_255_and_minus_one_restores_the_default)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    int initial = get_int(fd, IPPROTO_IP, IP_TTL);
    cr_assert_eq(initial, 64, "the stack's default TTL");
    cr_assert_eq(set_int(fd, IPPROTO_IP, IP_TTL, 7), 0);
    cr_assert_eq(get_int(fd, IPPROTO_IP, IP_TTL), 7);
    cr_assert_eq(set_int(fd, IPPROTO_IP, IP_TTL, 0), -1);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(set_int(fd, IPPROTO_IP, IP_TTL, 256), -1);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(set_int(fd, IPPROTO_IP, IP_TTL, -1), 0);
    cr_assert_eq(get_int(fd, IPPROTO_IP, IP_TTL), 64);
}

Test(sockapi_sockopt, ip_pmtudisc_do_makes_datagrams_above_the_mtu_fail_with_emsgsize)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(get_int(fd, IPPROTO_IP, IP_MTU_DISCOVER), IP_PMTUDISC_DONT);
    cr_assert_eq(set_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO), 0);
    cr_assert_eq(get_int(fd, IPPROTO_IP, IP_MTU_DISCOVER), IP_PMTUDISC_DO);
    static char big[2000];
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 9999);
    const struct sockaddr *sa = (const struct sockaddr *)&to;
    cr_assert_eq(ts_sendto(fd, big, sizeof(big), 0, sa, sizeof(to)), -1);
    cr_assert_eq(errno, EMSGSIZE);
    /* 1500 - 20 - 8 fits exactly. */
    cr_assert_eq(ts_sendto(fd, big, 1472, 0, sa, sizeof(to)), 1472, "%s", strerror(errno));

    cr_assert_eq(set_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT), 0);
    cr_assert_eq(ts_sendto(fd, big, sizeof(big), 0, sa, sizeof(to)), (ssize_t)sizeof(big), "%s", strerror(errno));
    cr_assert_eq(set_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, 42), -1);
    cr_assert_eq(errno, EINVAL);
}

Test(sockapi_sockopt, broadcast_needs_so_broadcast)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = sockapi_sin(TS_IPV4(10, 0, 0, 255), 9999);
    const struct sockaddr *sa = (const struct sockaddr *)&to;
    cr_assert_eq(ts_sendto(fd, "all", 3, 0, sa, sizeof(to)), -1);
    cr_assert_eq(errno, EACCES);
    cr_assert_eq(set_int(fd, SOL_SOCKET, SO_BROADCAST, 1), 0);
    cr_assert_eq(ts_sendto(fd, "all", 3, 0, sa, sizeof(to)), 3, "%s", strerror(errno));
}
