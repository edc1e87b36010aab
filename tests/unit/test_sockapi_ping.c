/* Ping sockets (SOCK_DGRAM / IPPROTO_ICMP), as Linux's: the stack owns the identifier and checksum. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
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

TestSuite(sockapi_ping, .init = setup, .fini = teardown, .timeout = 20);

/* An ICMP echo request (RFC 792): type 8, code 0, checksum and identifier left to the stack. */
static size_t build_echo_request(uint8_t *buf, uint16_t seq, const char *payload)
{
    size_t len = strlen(payload);
    memset(buf, 0, 8);
    buf[0] = 8;
    buf[6] = (uint8_t)(seq >> 8);
    buf[7] = (uint8_t)seq;
    memcpy(buf + 8, payload, len);
    return 8 + len;
}

Test(sockapi_ping, echo_request_gets_an_echo_reply_with_the_same_data)
{
    int fd = ts_socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    cr_assert_geq(fd, 0, "%s", strerror(errno));
    cr_assert_eq(sockapi_set_rcvtimeo_ms(fd, 5000), 0);
    uint8_t req[64];
    size_t len = build_echo_request(req, 1, "are you there");
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 0);
    cr_assert_eq(ts_sendto(fd, req, len, 0, (const struct sockaddr *)&to, sizeof(to)), (ssize_t)len, "%s",
                 strerror(errno));

    uint8_t reply[128];
    struct sockaddr_in from;
    socklen_t fromlen = sizeof(from);
    ssize_t n = ts_recvfrom(fd, reply, sizeof(reply), 0, (struct sockaddr *)&from, &fromlen);
    cr_assert_eq(n, (ssize_t)len, "recvfrom: %zd (%s)", n, strerror(errno));
    cr_assert_eq(reply[0], 0, "an echo reply");
    cr_assert_eq(reply[1], 0);
    cr_assert_eq(reply[6], 0);
    cr_assert_eq(reply[7], 1, "the sequence number comes back");
    cr_assert_arr_eq(reply + 8, "are you there", len - 8);
    cr_assert_eq(ntohl(from.sin_addr.s_addr), SOCKAPI_ADDR_B);

    /* The identifier is the socket's local "port". */
    struct sockaddr_in name;
    socklen_t namelen = sizeof(name);
    cr_assert_eq(ts_getsockname(fd, (struct sockaddr *)&name, &namelen), 0);
    uint16_t ident = (uint16_t)(reply[4] << 8 | reply[5]);
    cr_assert_eq(ident, ntohs(name.sin_port));
}

Test(sockapi_ping, two_ping_sockets_each_get_only_their_own_replies)
{
    int first = ts_socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    int second = ts_socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    cr_assert_eq(sockapi_set_rcvtimeo_ms(first, 5000), 0);
    struct sockaddr_in to = sockapi_sin(SOCKAPI_ADDR_B, 0);
    uint8_t req[32];
    size_t len = build_echo_request(req, 9, "mine");
    cr_assert_eq(ts_sendto(first, req, len, 0, (const struct sockaddr *)&to, sizeof(to)), (ssize_t)len);
    uint8_t reply[64];
    cr_assert_eq(ts_recv(first, reply, sizeof(reply), 0), (ssize_t)len, "%s", strerror(errno));
    cr_assert_eq(ts_recv(second, reply, sizeof(reply), MSG_DONTWAIT), -1);
    cr_assert_eq(errno, EAGAIN);
}
