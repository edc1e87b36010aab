/*
 * The pcap file device: write-then-read round trips, end of input, and the
 * messages for captures it cannot use.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tapstack/netdev.h"

static char dir[64];
static char path_a[128], path_b[128];
static uint8_t rxbuf[TS_NETDEV_MAX_FRAME];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/ts_pcap_test.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path_a, sizeof path_a, "%s/a.pcap", dir);
    snprintf(path_b, sizeof path_b, "%s/b.pcap", dir);
}

static void remove_dir(void)
{
    unlink(path_a);
    unlink(path_b);
    rmdir(dir);
}

TestSuite(pcap, .init = make_dir, .fini = remove_dir);

static size_t make_frame(uint8_t *frame, size_t len, uint8_t fill)
{
    memset(frame, fill, len);
    memset(frame, 0xff, 6);
    frame[6] = 0x02;
    frame[12] = 0x08;
    frame[13] = 0x00;
    return len;
}

Test(pcap, written_frames_read_back_with_the_same_bytes_and_timestamps)
{
    char err[256] = "";
    static uint8_t frame[3][1514];
    const size_t lens[3] = { 60, 1514, 342 };
    const ts_time times[3] = { 0, 1500000, 1700000123456 };
    size_t len;
    ts_time when;

    struct ts_netdev *out = ts_pcap_open(NULL, path_a, err, sizeof err);
    cr_assert_not_null(out, "%s", err);
    for (int i = 0; i < 3; i++) {
        make_frame(frame[i], lens[i], (uint8_t)(0x10 + i));
        cr_assert_eq(ts_netdev_transmit(out, times[i], frame[i], lens[i]), 0);
    }
    cr_assert_eq(ts_netdev_receive(out, 0, rxbuf, sizeof rxbuf, &len, &when), 0,
                 "an output-only device has no input at all");
    ts_netdev_destroy(out);

    struct ts_netdev *in = ts_pcap_open(path_a, NULL, err, sizeof err);
    cr_assert_not_null(in, "%s", err);
    cr_assert_eq(ts_netdev_wait_fd(in), -1);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(ts_netdev_next_deadline(in, 99), 99, "frames in the file are ready at once");
        /* The caller's now (here 5) has no say over a capture's timestamps. */
        cr_assert_eq(ts_netdev_receive(in, 5, rxbuf, sizeof rxbuf, &len, &when), 1);
        cr_assert_eq(len, lens[i]);
        cr_assert_arr_eq(rxbuf, frame[i], lens[i]);
        cr_assert_eq(when, times[i]);
    }
    cr_assert_eq(ts_netdev_receive(in, 5, rxbuf, sizeof rxbuf, &len, &when), -ENODATA);
    cr_assert_eq(ts_netdev_receive(in, 5, rxbuf, sizeof rxbuf, &len, &when), -ENODATA, "the end stays the end");
    cr_assert_eq(ts_netdev_next_deadline(in, 99), TS_TIME_NEVER);
    ts_netdev_destroy(in);
}

Test(pcap, a_device_may_read_one_capture_while_writing_another)
{
    char err[256] = "";
    uint8_t frame[100];
    size_t len;
    ts_time when;

    struct ts_netdev *out = ts_pcap_open(NULL, path_a, err, sizeof err);
    cr_assert_not_null(out, "%s", err);
    ts_netdev_transmit(out, 10, frame, make_frame(frame, 100, 1));
    ts_netdev_destroy(out);

    struct ts_netdev *both = ts_pcap_open(path_a, path_b, err, sizeof err);
    cr_assert_not_null(both, "%s", err);
    cr_assert_eq(ts_netdev_receive(both, 0, rxbuf, sizeof rxbuf, &len, &when), 1);
    cr_assert_eq(when, 10);
    cr_assert_eq(ts_netdev_transmit(both, 20, frame, make_frame(frame, 80, 2)), 0);
    /* Flushed per frame: the file is complete before the device is closed. */
    char pcap_err[PCAP_ERRBUF_SIZE];
    pcap_t *check = pcap_open_offline(path_b, pcap_err);
    cr_assert_not_null(check, "%s", pcap_err);
    struct pcap_pkthdr *hdr;
    const u_char *data;
    cr_assert_eq(pcap_next_ex(check, &hdr, &data), 1);
    cr_assert_eq(hdr->caplen, 80);
    cr_assert_eq(hdr->ts.tv_usec, 20);
    cr_assert_arr_eq(data, frame, 80);
    pcap_close(check);
    ts_netdev_destroy(both);
}

Test(pcap, an_input_only_device_swallows_what_is_transmitted)
{
    char err[256] = "";
    uint8_t frame[60];

    struct ts_netdev *out = ts_pcap_open(NULL, path_a, err, sizeof err);
    ts_netdev_destroy(out);
    struct ts_netdev *in = ts_pcap_open(path_a, NULL, err, sizeof err);
    cr_assert_not_null(in, "%s", err);
    cr_assert_eq(ts_netdev_transmit(in, 0, frame, make_frame(frame, 60, 0)), 0);
    cr_assert_eq(ts_netdev_receive(in, 0, rxbuf, sizeof rxbuf, NULL, NULL), -ENODATA, "an empty capture ends at once");
    ts_netdev_destroy(in);
}

Test(pcap, a_missing_capture_gives_a_message_naming_the_file)
{
    char err[256] = "";
    char missing[160];

    snprintf(missing, sizeof missing, "%s/does-not-exist.pcap", dir);
    cr_assert_null(ts_pcap_open(missing, NULL, err, sizeof err));
    cr_assert(strstr(err, missing), "got: %s", err);
    cr_assert(strstr(err, "No such file"), "got: %s", err);
}

Test(pcap, an_unwritable_output_gives_a_message_naming_the_file)
{
    char err[256] = "";
    char bad[160];

    snprintf(bad, sizeof bad, "%s/no-such-dir/out.pcap", dir);
    cr_assert_null(ts_pcap_open(NULL, bad, err, sizeof err));
    cr_assert(strstr(err, bad), "got: %s", err);
}

Test(pcap, a_capture_that_is_not_ethernet_is_refused_with_a_clear_message)
{
    char err[256] = "";
    uint8_t packet[20] = { 0x45 };
    struct pcap_pkthdr hdr = { .caplen = 20, .len = 20 };

    pcap_t *dead = pcap_open_dead(DLT_RAW, 65535);
    pcap_dumper_t *dumper = pcap_dump_open(dead, path_a);
    cr_assert_not_null(dumper);
    pcap_dump((u_char *)dumper, &hdr, packet);
    pcap_dump_close(dumper);
    pcap_close(dead);

    cr_assert_null(ts_pcap_open(path_a, NULL, err, sizeof err));
    cr_assert(strstr(err, "not Ethernet"), "got: %s", err);
    cr_assert(strstr(err, "RAW"), "the message names the link type found, got: %s", err);
}

Test(pcap, a_file_that_is_not_a_capture_is_refused)
{
    char err[256] = "";
    FILE *f = fopen(path_a, "w");

    cr_assert_not_null(f);
    fputs("hello, I am not a pcap file at all\n", f);
    fclose(f);
    cr_assert_null(ts_pcap_open(path_a, NULL, err, sizeof err));
    cr_assert(strstr(err, path_a), "got: %s", err);
}

Test(pcap, a_frame_larger_than_the_callers_buffer_is_skipped_not_cut)
{
    char err[256] = "";
    static uint8_t frame[1514];
    uint8_t small[100];
    size_t len;

    struct ts_netdev *out = ts_pcap_open(NULL, path_a, err, sizeof err);
    ts_netdev_transmit(out, 1, frame, make_frame(frame, 1514, 1));
    ts_netdev_transmit(out, 2, frame, make_frame(frame, 64, 2));
    ts_netdev_destroy(out);
    struct ts_netdev *in = ts_pcap_open(path_a, NULL, err, sizeof err);
    cr_assert_eq(ts_netdev_receive(in, 0, small, sizeof small, &len, NULL), -EMSGSIZE);
    cr_assert_eq(ts_netdev_receive(in, 0, small, sizeof small, &len, NULL), 1);
    cr_assert_eq(len, 64);
    cr_assert_eq(small[20], 2);
    ts_netdev_destroy(in);
}

Test(pcap, opening_without_any_file_is_refused)
{
    char err[256] = "";

    cr_assert_null(ts_pcap_open(NULL, NULL, err, sizeof err));
    cr_assert(strstr(err, "input capture, an output capture"), "got: %s", err);
}
