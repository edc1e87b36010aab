/*
 * The device-independent helpers: dispatchers, the link bridge, default MACs,
 * the clock and the entropy source.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "tapstack/netdev.h"

Test(netdev_mac, default_mac_is_locally_administered_unicast_with_the_tapstack_prefix)
{
    uint8_t mac[6];

    ts_netdev_default_mac("tap0", mac);
    cr_assert_eq(mac[0], 0x02);
    cr_assert_eq(mac[1], 0x54);
    cr_assert_eq(mac[2], 0x53);
    cr_assert_eq(mac[0] & 0x01, 0, "must be unicast");
    cr_assert_eq(mac[0] & 0x02, 0x02, "must be locally administered");
}

Test(netdev_mac, default_mac_is_stable_for_a_name_and_differs_between_names)
{
    uint8_t a1[6], a2[6], b[6], c[6];

    ts_netdev_default_mac("tap0", a1);
    ts_netdev_default_mac("tap0", a2);
    ts_netdev_default_mac("tap1", b);
    ts_netdev_default_mac("tstest0", c);
    cr_assert_arr_eq(a1, a2, 6);
    cr_assert(memcmp(a1, b, 6) != 0);
    cr_assert(memcmp(a1, c, 6) != 0);
}

Test(netdev_mac, default_mac_of_a_known_name_never_changes_across_releases)
{
    /* Pinned: scripts, docs and recorded captures rely on the MAC a name gets. */
    static const uint8_t tap0[6] = { 0x02, 0x54, 0x53, 0xcf, 0x2c, 0xf9 };
    static const uint8_t empty[6] = { 0x02, 0x54, 0x53, 0xd0, 0xbf, 0xc1 };
    uint8_t mac[6];

    ts_netdev_default_mac("tap0", mac);
    cr_assert_arr_eq(mac, tap0, 6);
    ts_netdev_default_mac(NULL, mac);
    cr_assert_arr_eq(mac, empty, 6, "a NULL name is treated as the empty name, not a crash");
}

Test(netdev_clock, monotonic_now_never_goes_backwards_and_is_in_microseconds)
{
    ts_time a = ts_monotonic_now();
    struct timespec pause = { 0, 2 * 1000 * 1000 };
    nanosleep(&pause, NULL);
    ts_time b = ts_monotonic_now();

    cr_assert_geq(b - a, 2000, "2 ms must read as at least 2000 us, got %lld", (long long)(b - a));
    cr_assert_lt(b - a, 1000000, "2 ms must not read as a second or more");
}

Test(netdev_random, os_random_fills_the_buffer_with_varying_bytes)
{
    uint8_t a[64], b[64];

    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    cr_assert_eq(ts_os_random(a, sizeof a), 0);
    cr_assert_eq(ts_os_random(b, sizeof b), 0);
    cr_assert(memcmp(a, b, sizeof a) != 0, "two 64-byte draws must differ");
    cr_assert_eq(ts_os_random(a, 0), 0, "an empty request succeeds");
}

Test(netdev_dispatch, destroying_null_is_allowed_and_null_devices_are_refused)
{
    uint8_t buf[16];

    ts_netdev_destroy(NULL);
    cr_assert_eq(ts_netdev_transmit(NULL, 0, buf, sizeof buf), -EINVAL);
    cr_assert_eq(ts_netdev_receive(NULL, 0, buf, sizeof buf, NULL, NULL), -EINVAL);
    cr_assert_eq(ts_netdev_wait_fd(NULL), -1);
    cr_assert_eq(ts_netdev_next_deadline(NULL, 0), TS_TIME_NEVER);
    ts_netdev_poll(NULL, 0);
}

Test(netdev_link, link_transmit_reaches_the_device_and_carries_its_mtu)
{
    struct ts_netdev *a, *b;
    uint8_t frame[60] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 0x08, 0x06 };
    uint8_t buf[TS_NETDEV_MAX_FRAME];
    size_t len = 0;
    ts_time when = 0;

    cr_assert_eq(ts_memlink_pair(1400, &a, &b), 0);
    struct ts_link link = ts_netdev_link(a);
    cr_assert_eq(link.mtu, 1400);
    cr_assert_eq(link.ctx, a);
    link.transmit(link.ctx, 77, frame, sizeof frame);
    cr_assert_eq(ts_netdev_receive(b, 78, buf, sizeof buf, &len, &when), 1);
    cr_assert_eq(len, sizeof frame);
    cr_assert_arr_eq(buf, frame, sizeof frame);
    cr_assert_eq(when, 78);
    ts_netdev_destroy(a);
    ts_netdev_destroy(b);
}
