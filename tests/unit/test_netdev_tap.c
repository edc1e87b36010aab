/*
 * The TAP device against the real kernel.
 *
 * SAFETY: every test that creates an interface runs in a child process that
 * first moves into a fresh network namespace (unshare(CLONE_NEWNET)); the
 * namespace, its TAP and its addresses vanish when the child exits. Only
 * 10.77.0.0/24 is used, and only inside that namespace. Without the privilege
 * to create a namespace the test is skipped, never run on the host.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tapstack/netdev.h"

#define TAP_NAME "tstest0"
#define SKIP_EXIT 77
#define CHILD_TIMEOUT_MS 3000

typedef int (*netns_body)(char *msg, size_t msglen);

static int fail(char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
    return 1;
}

/* In the child: private namespace, then the body; its verdict goes back through the pipe. */
static void child_main(int out_fd, netns_body body)
{
    char msg[512] = "";
    int rc;

    if (unshare(CLONE_NEWNET) != 0) {
        snprintf(msg, sizeof msg, "cannot create a private network namespace (%s): needs root or CAP_SYS_ADMIN",
                 strerror(errno));
        rc = SKIP_EXIT;
    } else {
        rc = body(msg, sizeof msg);
    }
    (void)!write(out_fd, msg, strlen(msg));
    _exit(rc);
}

/* Runs body in a forked child inside its own network namespace; bounded by CHILD_TIMEOUT_MS. */
static void run_in_private_netns(netns_body body)
{
    char msg[512] = "";
    size_t got = 0;
    int pipefd[2];
    int status = 0;

    cr_assert_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(pipefd[0]);
        child_main(pipefd[1], body);
    }
    close(pipefd[1]);
    for (;;) {
        struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
        int ready = poll(&pfd, 1, CHILD_TIMEOUT_MS);
        if (ready <= 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            close(pipefd[0]);
            cr_assert_fail("the namespaced child did not finish within %d ms", CHILD_TIMEOUT_MS);
        }
        ssize_t n = read(pipefd[0], msg + got, sizeof msg - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(pipefd[0]);
    msg[got] = '\0';
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status), "the namespaced child crashed (status %d)", status);
    if (WEXITSTATUS(status) == SKIP_EXIT)
        cr_skip_test("%s", msg);
    cr_assert_eq(WEXITSTATUS(status), 0, "%s", msg);
}

/* ---- helpers that run inside the namespace ---- */

static int set_ipv4(int sock, unsigned long request, const char *ifname, const char *addr)
{
    struct ifreq ifr;
    struct sockaddr_in sin = { .sin_family = AF_INET };

    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    inet_pton(AF_INET, addr, &sin.sin_addr);
    memcpy(&ifr.ifr_addr, &sin, sizeof sin);
    return ioctl(sock, request, &ifr);
}

/* Gives the namespace's TAP 10.77.0.1/24 and brings it up. */
static int configure_kernel_side(const char *ifname, char *msg, size_t msglen)
{
    struct ifreq ifr;
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (sock < 0)
        return fail(msg, msglen, "socket: %s", strerror(errno));
    if (set_ipv4(sock, SIOCSIFADDR, ifname, "10.77.0.1") < 0 ||
        set_ipv4(sock, SIOCSIFNETMASK, ifname, "255.255.255.0") < 0) {
        close(sock);
        return fail(msg, msglen, "cannot address %s: %s", ifname, strerror(errno));
    }
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) {
        close(sock);
        return fail(msg, msglen, "SIOCGIFFLAGS: %s", strerror(errno));
    }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) {
        close(sock);
        return fail(msg, msglen, "cannot bring %s up: %s", ifname, strerror(errno));
    }
    close(sock);
    return 0;
}

/* Waits (at most timeout_ms) for a frame from the kernel for which match() holds. */
static bool wait_for_frame(struct ts_netdev *dev, bool (*match)(const uint8_t *, size_t), int timeout_ms)
{
    static uint8_t buf[TS_NETDEV_MAX_FRAME];
    ts_time give_up = ts_monotonic_now() + TS_MSEC(timeout_ms);

    while (ts_monotonic_now() < give_up) {
        struct pollfd pfd = { .fd = ts_netdev_wait_fd(dev), .events = POLLIN };
        size_t len = 0;
        ts_time when = 0;

        poll(&pfd, 1, 50);
        while (ts_netdev_receive(dev, ts_monotonic_now(), buf, sizeof buf, &len, &when) == 1) {
            if (match(buf, len))
                return true;
        }
    }
    return false;
}

/* An ARP request (RFC 826) asking for 10.77.0.2. */
static bool is_arp_request_for_peer(const uint8_t *f, size_t len)
{
    static const uint8_t target[4] = { 10, 77, 0, 2 };

    return len >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[20] == 0 && f[21] == 1 &&
           memcmp(f + 38, target, 4) == 0;
}

static uint8_t our_mac[6];

/* RFC 768: the one's-complement sum over the pseudo-header and the datagram is all ones (or no checksum). */
static bool udp_checksum_ok(const uint8_t *f, size_t len)
{
    size_t udp_len = (size_t)((f[38] << 8) | f[39]);
    uint32_t sum = 17 + (uint32_t)udp_len;

    if (udp_len < 8 || 34 + udp_len > len)
        return false;
    if (f[40] == 0 && f[41] == 0)
        return true;
    for (size_t i = 26; i < 34; i += 2)
        sum += (uint32_t)((f[i] << 8) | f[i + 1]);
    for (size_t i = 0; i < udp_len; i += 2)
        sum += (uint32_t)((f[34 + i] << 8) | (i + 1 < udp_len ? f[34 + i + 1] : 0));
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
}

/* The UDP datagram the kernel sent once it learnt our MAC, with a complete checksum even if the
 * kernel left it to the device (plain receive hands over standard frames). */
static bool is_udp_to_us(const uint8_t *f, size_t len)
{
    return len >= 42 && memcmp(f, our_mac, 6) == 0 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 17 &&
           udp_checksum_ok(f, len);
}

/* ---- bodies ---- */

static int body_open_reports_mtu_and_mac(char *msg, size_t msglen)
{
    char err[256] = "";
    uint8_t expected_mac[6];
    struct ts_netdev *dev = ts_tap_open(TAP_NAME, err, sizeof err);

    if (!dev)
        return fail(msg, msglen, "ts_tap_open: %s", err);
    ts_netdev_default_mac(TAP_NAME, expected_mac);
    if (dev->mtu != 1500)
        return fail(msg, msglen, "MTU %zu, expected 1500", dev->mtu);
    if (!dev->has_mac || memcmp(dev->mac, expected_mac, 6) != 0)
        return fail(msg, msglen, "the MAC must be the default one for the name");
    if (strcmp(dev->name, TAP_NAME) != 0 || strcmp(dev->ops->kind, "tap") != 0)
        return fail(msg, msglen, "name '%s' kind '%s'", dev->name, dev->ops->kind);
    if (ts_netdev_wait_fd(dev) < 0)
        return fail(msg, msglen, "a TAP must have a wait fd");
    if (ts_netdev_next_deadline(dev, 5) != TS_TIME_NEVER)
        return fail(msg, msglen, "a TAP has no deadlines of its own");
    if (if_nametoindex(TAP_NAME) == 0)
        return fail(msg, msglen, "the interface was not created");
    ts_netdev_destroy(dev);
    /* A non-persistent TAP goes away with its last descriptor. */
    if (if_nametoindex(TAP_NAME) != 0)
        return fail(msg, msglen, "the interface outlived the device");
    return 0;
}

static int body_kernel_round_trip(char *msg, size_t msglen)
{
    char err[256] = "";
    uint8_t reply[42];
    static const uint8_t peer_ip[4] = { 10, 77, 0, 2 };
    struct ts_netdev *dev = ts_tap_open(TAP_NAME, err, sizeof err);

    if (!dev)
        return fail(msg, msglen, "ts_tap_open: %s", err);
    memcpy(our_mac, dev->mac, 6);
    if (configure_kernel_side(TAP_NAME, msg, msglen))
        return 1;

    /* The kernel has a datagram for 10.77.0.2 (us): it must ask for our MAC first. */
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
    inet_pton(AF_INET, "10.77.0.2", &to.sin_addr);
    if (sendto(sock, "hello", 5, 0, (struct sockaddr *)&to, sizeof to) != 5)
        return fail(msg, msglen, "sendto: %s", strerror(errno));
    if (!wait_for_frame(dev, is_arp_request_for_peer, 1000))
        return fail(msg, msglen, "no ARP request for 10.77.0.2 read from the TAP within 1 s");

    /* Our transmit path: an ARP reply goes into the kernel, which then sends the datagram. */
    uint8_t kernel_mac[6];
    {
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", TAP_NAME);
        if (ioctl(sock, SIOCGIFHWADDR, &ifr) < 0)
            return fail(msg, msglen, "SIOCGIFHWADDR: %s", strerror(errno));
        memcpy(kernel_mac, ifr.ifr_hwaddr.sa_data, 6);
    }
    static const uint8_t kernel_ip[4] = { 10, 77, 0, 1 };
    memcpy(reply, kernel_mac, 6);
    memcpy(reply + 6, our_mac, 6);
    reply[12] = 0x08, reply[13] = 0x06;
    reply[14] = 0, reply[15] = 1, reply[16] = 0x08, reply[17] = 0x00, reply[18] = 6, reply[19] = 4;
    reply[20] = 0, reply[21] = 2; /* reply */
    memcpy(reply + 22, our_mac, 6);
    memcpy(reply + 28, peer_ip, 4);
    memcpy(reply + 32, kernel_mac, 6);
    memcpy(reply + 38, kernel_ip, 4);
    int rc = ts_netdev_transmit(dev, ts_monotonic_now(), reply, sizeof reply);
    if (rc != 0)
        return fail(msg, msglen, "transmit of the ARP reply: %s", strerror(-rc));
    if (!wait_for_frame(dev, is_udp_to_us, 1000))
        return fail(msg, msglen, "the kernel did not send the datagram to our MAC after our ARP reply");
    close(sock);
    ts_netdev_destroy(dev);
    return 0;
}

static int body_second_open_is_busy(char *msg, size_t msglen)
{
    char err[256] = "";
    struct ts_netdev *first = ts_tap_open(TAP_NAME, err, sizeof err);

    if (!first)
        return fail(msg, msglen, "ts_tap_open: %s", err);
    struct ts_netdev *second = ts_tap_open(TAP_NAME, err, sizeof err);
    if (second)
        return fail(msg, msglen, "a second open of the same TAP must fail");
    if (!strstr(err, "busy") || !strstr(err, TAP_NAME))
        return fail(msg, msglen, "the message must say the interface is busy, got: %s", err);
    ts_netdev_destroy(first);
    return 0;
}

static int body_existing_non_tap_interface_is_refused(char *msg, size_t msglen)
{
    char err[256] = "";

    /* "lo" here is the private namespace's own loopback. */
    if (ts_tap_open("lo", err, sizeof err))
        return fail(msg, msglen, "attaching a TAP to lo must fail");
    if (!strstr(err, "not a TAP"))
        return fail(msg, msglen, "got: %s", err);
    return 0;
}

static int body_unprivileged_open_explains_the_capability(char *msg, size_t msglen)
{
    char err[256] = "";

    /* Give up root inside the child: the namespace stays private and dies with it. */
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) {
        snprintf(msg, msglen, "cannot drop privileges to test the message: %s", strerror(errno));
        return SKIP_EXIT;
    }
    if (ts_tap_open(TAP_NAME, err, sizeof err))
        return fail(msg, msglen, "an unprivileged open must fail");
    if (!strstr(err, "CAP_NET_ADMIN") || !strstr(err, "unshare -n"))
        return fail(msg, msglen, "the message must say what to do, got: %s", err);
    return 0;
}

static int body_offloads_are_granted_and_can_be_refused(char *msg, size_t msglen)
{
    char err[256] = "";
    struct ts_netdev *dev = ts_tap_open_offload(TAP_NAME, true, err, sizeof err);

    if (!dev)
        return fail(msg, msglen, "ts_tap_open_offload(on): %s", err);
    if (dev->offloads != (TS_LINK_TX_CSUM | TS_LINK_TSO4 | TS_LINK_TX_GATHER) || dev->tso_max < 60000)
        return fail(msg, msglen, "offloads 0x%x tso_max %zu: this kernel grants checksum offload and TSO4",
                    (unsigned)dev->offloads, dev->tso_max);
    struct ts_link link = ts_netdev_link(dev);
    if (link.offloads != dev->offloads || link.transmit_meta == NULL || link.transmit_gather == NULL)
        return fail(msg, msglen, "the link must advertise the device's offloads");
    ts_netdev_destroy(dev);
    dev = ts_tap_open_offload(TAP_NAME, false, err, sizeof err);
    if (!dev)
        return fail(msg, msglen, "ts_tap_open_offload(off): %s", err);
    link = ts_netdev_link(dev);
    if (dev->offloads != 0 || link.offloads != 0)
        return fail(msg, msglen, "--offload off must advertise nothing");
    ts_netdev_destroy(dev);
    return 0;
}

/* ---- tests ---- */

Test(tap, offloads_are_granted_by_default_and_off_on_request)
{
    run_in_private_netns(body_offloads_are_granted_and_can_be_refused);
}

Test(tap, open_creates_the_interface_with_mtu_1500_and_the_default_mac)
{
    run_in_private_netns(body_open_reports_mtu_and_mac);
}

Test(tap, frames_flow_both_ways_between_the_device_and_the_kernel)
{
    run_in_private_netns(body_kernel_round_trip);
}

Test(tap, a_second_open_of_the_same_interface_reports_it_busy)
{
    run_in_private_netns(body_second_open_is_busy);
}

Test(tap, an_existing_interface_that_is_not_a_tap_is_refused)
{
    run_in_private_netns(body_existing_non_tap_interface_is_refused);
}

Test(tap, without_privileges_the_message_names_cap_net_admin)
{
    run_in_private_netns(body_unprivileged_open_explains_the_capability);
}

/* Name checks happen before any system call, so these need no namespace. */
Test(tap, names_that_linux_would_refuse_are_rejected_with_the_reason)
{
    char err[256] = "";

    cr_assert_null(ts_tap_open("tstest0-much-too-long", err, sizeof err));
    cr_assert(strstr(err, "too long") && strstr(err, "15"), "got: %s", err);
    cr_assert_null(ts_tap_open("", err, sizeof err));
    cr_assert(strstr(err, "empty"), "got: %s", err);
    cr_assert_null(ts_tap_open(NULL, err, sizeof err));
    cr_assert(strstr(err, "empty"), "got: %s", err);
    cr_assert_null(ts_tap_open("ts/0", err, sizeof err));
    cr_assert(strstr(err, "not valid"), "got: %s", err);
    cr_assert_null(ts_tap_open("ts 0", err, sizeof err));
    cr_assert(strstr(err, "not valid"), "got: %s", err);
}
