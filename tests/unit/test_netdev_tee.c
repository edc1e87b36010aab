/*
 * The capture tee over an in-memory link: both directions recorded, with the
 * timestamps the epoch offset says, and the inner device still doing its job.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tapstack/netdev.h"

static char dir[64];
static char path[128];
static uint8_t rxbuf[TS_NETDEV_MAX_FRAME];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/ts_tee_test.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/tee.pcap", dir);
}

static void remove_dir(void)
{
    unlink(path);
    rmdir(dir);
}

TestSuite(tee, .init = make_dir, .fini = remove_dir);

static size_t make_frame(uint8_t *frame, size_t len, uint8_t fill)
{
    memset(frame, fill, len);
    memset(frame, 0xff, 6);
    frame[6] = 0x02;
    frame[12] = 0x08;
    frame[13] = 0x06;
    return len;
}

struct record {
    ts_time at;
    size_t len;
    uint8_t fill;
};

static size_t read_capture(struct record *out, size_t max)
{
    char err[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *hdr;
    const u_char *data;
    size_t n = 0;
    pcap_t *p = pcap_open_offline(path, err);

    cr_assert_not_null(p, "%s", err);
    cr_assert_eq(pcap_datalink(p), DLT_EN10MB);
    cr_assert_eq(pcap_snapshot(p), 65535);
    while (n < max && pcap_next_ex(p, &hdr, &data) == 1) {
        cr_assert_eq(hdr->caplen, hdr->len);
        out[n].at = (ts_time)hdr->ts.tv_sec * 1000000 + hdr->ts.tv_usec;
        out[n].len = hdr->caplen;
        out[n].fill = data[20];
        n++;
    }
    pcap_close(p);
    return n;
}

Test(tee, both_directions_are_recorded_at_their_virtual_times_with_a_zero_offset)
{
    char err[256] = "";
    struct ts_netdev *a, *b;
    uint8_t frame[200];
    struct record rec[8];
    size_t len;
    ts_time when;

    cr_assert_eq(ts_memlink_pair(1500, &a, &b), 0);
    struct ts_netdev *tee = ts_tee_wrap(a, path, err, sizeof err);
    cr_assert_not_null(tee, "%s", err);
    ts_tee_set_epoch_offset(tee, 0);

    /* Out through the tee: recorded and still delivered. */
    cr_assert_eq(ts_netdev_transmit(tee, 1000, frame, make_frame(frame, 60, 0xa1)), 0);
    cr_assert_eq(ts_netdev_receive(b, 1000, rxbuf, sizeof rxbuf, &len, NULL), 1);
    cr_assert_eq(rxbuf[20], 0xa1);
    /* In through the tee: recorded when it passes through receive. */
    cr_assert_eq(ts_netdev_transmit(b, 2000, frame, make_frame(frame, 200, 0xb2)), 0);
    cr_assert_eq(ts_netdev_receive(tee, 2500, rxbuf, sizeof rxbuf, &len, &when), 1);
    cr_assert_eq(len, 200);
    cr_assert_eq(rxbuf[20], 0xb2);
    cr_assert_eq(when, 2500);
    /* Nothing waiting: nothing recorded. */
    cr_assert_eq(ts_netdev_receive(tee, 2600, rxbuf, sizeof rxbuf, &len, &when), 0);
    cr_assert_eq(ts_netdev_transmit(tee, TS_SEC(3) + 7, frame, make_frame(frame, 70, 0xc3)), 0);

    /* Flushed per frame: readable while the tee is still open. */
    size_t n = read_capture(rec, 8);
    cr_assert_eq(n, 3);
    cr_assert_eq(rec[0].at, 1000);
    cr_assert_eq(rec[0].len, 60);
    cr_assert_eq(rec[0].fill, 0xa1);
    cr_assert_eq(rec[1].at, 2500);
    cr_assert_eq(rec[1].len, 200);
    cr_assert_eq(rec[1].fill, 0xb2);
    cr_assert_eq(rec[2].at, TS_SEC(3) + 7);
    cr_assert_eq(rec[2].fill, 0xc3);

    ts_netdev_destroy(tee);
    ts_netdev_destroy(b);
}

Test(tee, a_received_frame_is_stamped_with_the_inner_devices_arrival_time)
{
    char err[256] = "";
    char in_path[160];
    uint8_t frame[64];
    struct record rec[4];
    ts_time when;

    /* A pcap device reports its file's timestamps; the tee must record those, not the caller's now. */
    snprintf(in_path, sizeof in_path, "%s/in.pcap", dir);
    struct ts_netdev *w = ts_pcap_open(NULL, in_path, err, sizeof err);
    cr_assert_not_null(w, "%s", err);
    ts_netdev_transmit(w, 4242, frame, make_frame(frame, 64, 0x5e));
    ts_netdev_destroy(w);

    struct ts_netdev *tee = ts_tee_wrap(ts_pcap_open(in_path, NULL, err, sizeof err), path, err, sizeof err);
    cr_assert_not_null(tee, "%s", err);
    ts_tee_set_epoch_offset(tee, 1000000);
    cr_assert_eq(ts_netdev_receive(tee, 1, rxbuf, sizeof rxbuf, NULL, &when), 1);
    cr_assert_eq(when, 4242, "the offset only applies to the capture, not to what the caller sees");
    cr_assert_eq(ts_netdev_receive(tee, 1, rxbuf, sizeof rxbuf, NULL, &when), -ENODATA);
    ts_netdev_destroy(tee);
    unlink(in_path);

    cr_assert_eq(read_capture(rec, 4), 1);
    cr_assert_eq(rec[0].at, 1000000 + 4242);
}

Test(tee, by_default_timestamps_are_wall_clock_time)
{
    char err[256] = "";
    struct ts_netdev *a, *b;
    uint8_t frame[60];
    struct record rec[2];

    cr_assert_eq(ts_memlink_pair(1500, &a, &b), 0);
    struct ts_netdev *tee = ts_tee_wrap(a, path, err, sizeof err);
    cr_assert_not_null(tee, "%s", err);
    ts_netdev_transmit(tee, ts_monotonic_now(), frame, make_frame(frame, 60, 1));
    ts_time wall = (ts_time)time(NULL) * 1000000;
    ts_netdev_destroy(tee);
    ts_netdev_destroy(b);

    cr_assert_eq(read_capture(rec, 2), 1);
    cr_assert_lt(llabs((long long)(rec[0].at - wall)), 2000000LL, "recorded %lld, wall clock %lld",
                 (long long)rec[0].at, (long long)wall);
}

Test(tee, the_wrapper_forwards_fd_mtu_deadline_and_mac)
{
    char err[256] = "";
    struct ts_netdev *a, *b;

    cr_assert_eq(ts_memlink_pair(4000, &a, &b), 0);
    int fd = ts_netdev_wait_fd(a);
    struct ts_netdev *tee = ts_tee_wrap(a, path, err, sizeof err);
    cr_assert_not_null(tee, "%s", err);
    cr_assert_eq(ts_netdev_wait_fd(tee), fd);
    cr_assert_eq(tee->mtu, 4000);
    cr_assert_eq(tee->has_mac, false);
    cr_assert_str_eq(tee->ops->kind, "tee");
    cr_assert_eq(ts_netdev_next_deadline(tee, 0), TS_TIME_NEVER);
    ts_netdev_poll(tee, 0);
    ts_netdev_destroy(tee);
    ts_netdev_destroy(b);
}

Test(tee, a_tee_over_an_impaired_device_sees_the_delayed_deadline)
{
    char err[256] = "";
    struct ts_netdev *a, *b;
    struct ts_impair_spec spec = { .delay = TS_MSEC(3) };
    uint8_t frame[60];

    cr_assert_eq(ts_memlink_pair(1500, &a, &b), 0);
    struct ts_netdev *tee = ts_tee_wrap(ts_impair_wrap(a, &spec, 1), path, err, sizeof err);
    cr_assert_not_null(tee, "%s", err);
    ts_netdev_transmit(tee, 100, frame, make_frame(frame, 60, 1));
    cr_assert_eq(ts_netdev_next_deadline(tee, 100), 3100);
    ts_netdev_poll(tee, 3100);
    cr_assert_eq(ts_memlink_pending(b), 1);
    ts_netdev_destroy(tee);
    ts_netdev_destroy(b);
}

Test(tee, an_unwritable_path_fails_with_a_message_and_releases_the_inner_device)
{
    char err[256] = "";
    char bad[160];
    struct ts_netdev *a, *b;

    snprintf(bad, sizeof bad, "%s/missing-dir/x.pcap", dir);
    cr_assert_eq(ts_memlink_pair(1500, &a, &b), 0);
    cr_assert_null(ts_tee_wrap(a, bad, err, sizeof err));
    cr_assert(strstr(err, bad), "got: %s", err);
    ts_netdev_destroy(b);
}
