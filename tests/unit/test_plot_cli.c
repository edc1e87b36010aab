/*
 * ts-plot end to end: the binary on a capture and on a trace, the output file
 * names, --png with and without a converter, and every kind of bad input
 * ending in exit status 2 with a message and no output file.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plot_svg_scan.h"

#define SRC TS_SOURCE_DIR

static char dir[64];

static void make_dir(void)
{
    strcpy(dir, "/tmp/ts-plot-test.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(plot_cli, .init = make_dir, .fini = remove_dir);

/* Runs "cd DIR && [env] ts-plot ARGS", stdout and stderr into DIR/out and DIR/err; returns the exit status. */
static int run(const char *env, const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s '%s' %s >out 2>err", dir, env != NULL ? env : "", TS_PLOT_BIN, args);
    int status = system(cmd);
    cr_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static char *slurp(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return plot_scan_read_file(path);
}

static bool exists(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void expect_input_error(const char *args, const char *message)
{
    cr_assert_eq(run(NULL, args), 2, "ts-plot %s", args);
    char *err = slurp("err");
    cr_assert(strncmp(err, "ts-plot: ", 9) == 0, "%s", err);
    cr_assert(strstr(err, message) != NULL, "ts-plot %s: expected '%s' in: %s", args, message, err);
    free(err);
    cr_assert(!exists("x.svg"), "no output written for ts-plot %s", args);
}

Test(plot_cli, a_capture_becomes_an_svg_named_after_it_in_the_current_directory)
{
    cr_assert_eq(run(NULL, SRC "/captures/live_tcp_bulk_to_linux.pcap"), 0);
    char *out = slurp("out");
    cr_assert_str_eq(out, "live_tcp_bulk_to_linux.svg\n");
    free(out);
    char *svg = slurp("live_tcp_bulk_to_linux.svg");
    cr_assert_not_null(svg);
    cr_assert(strncmp(svg, "<?xml", 5) == 0);
    cr_assert(strstr(svg, "</svg>\n") != NULL);
    cr_assert(strstr(svg, "href") == NULL, "self-contained: nothing linked");
    cr_assert_eq(plot_scan_count(svg, "retrans", "data-seq"), 4);
    cr_assert_gt(plot_scan_count(svg, "seg", "data-seq"), 140);
    free(svg);
}

Test(plot_cli, a_trace_becomes_the_cc_graph_and_conn_and_sender_choose)
{
    cr_assert_eq(run(NULL, "-o cc.svg " SRC "/tests/plot/cc_loss.trace"), 0);
    char *svg = slurp("cc.svg");
    cr_assert(strstr(svg, "10.0.0.2:40000 \xe2\x86\x92 10.0.0.1:5201: congestion control") != NULL);
    free(svg);
    cr_assert_eq(run(NULL, "--cc --conn 10.0.0.9:7-10.0.0.1:6000 -o other.svg " SRC "/tests/plot/cc_loss.trace"), 0);
    svg = slurp("other.svg");
    cr_assert(strstr(svg, "10.0.0.9:7 \xe2\x86\x92 10.0.0.1:6000") != NULL);
    free(svg);
    /* The ACKs' side as the sender: the data of Linux (none), its ACK line from the stack. */
    cr_assert_eq(run(NULL, "--sender 10.0.0.1:5000 -o rev.svg " SRC "/captures/live_tcp_bulk_to_linux.pcap"), 0);
    svg = slurp("rev.svg");
    cr_assert(strstr(svg, "10.0.0.1:5000 \xe2\x86\x92 10.0.0.2:60791") != NULL);
    cr_assert_eq(plot_scan_count(svg, "seg", "data-seq"), 0);
    free(svg);
}

Test(plot_cli, a_trace_on_stdin_is_read_with_a_dash)
{
    cr_assert_eq(run(NULL, "-o pipe.svg - < " SRC "/tests/plot/cc_loss.trace"), 0);
    char *svg = slurp("pipe.svg");
    cr_assert_not_null(svg);
    cr_assert(strstr(svg, "class=\"cwnd\"") != NULL);
    free(svg);
}

Test(plot_cli, png_without_a_converter_says_so_and_keeps_the_svg)
{
    cr_assert_eq(run("PATH=/nonexistent", "--png -o x.svg " SRC "/tests/plot/cc_loss.trace"), 0);
    char *err = slurp("err");
    cr_assert(strstr(err, "no SVG-to-PNG converter is installed") != NULL, "%s", err);
    free(err);
    cr_assert(exists("x.svg"));
    cr_assert(!exists("x.png"));
}

Test(plot_cli, png_with_a_failing_converter_is_status_1_and_keeps_the_svg)
{
    char path[128];
    snprintf(path, sizeof path, "%s/bin", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/bin/rsvg-convert", dir);
    FILE *f = fopen(path, "w");
    fputs("#!/bin/sh\nexit 3\n", f);
    fclose(f);
    cr_assert_eq(chmod(path, 0755), 0);
    char env[160];
    snprintf(env, sizeof env, "PATH=%s/bin:/usr/bin:/bin", dir);
    cr_assert_eq(run(env, "--png -o x.svg " SRC "/tests/plot/cc_loss.trace"), 1);
    char *err = slurp("err");
    cr_assert(strstr(err, "the converter failed (status 3)") != NULL, "%s", err);
    free(err);
    cr_assert(exists("x.svg"));
}

Test(plot_cli, png_with_rsvg_convert_installed_is_a_png)
{
    if (system("command -v rsvg-convert >/dev/null 2>&1") != 0)
        cr_skip_test("rsvg-convert is not installed (librsvg2-bin)");
    cr_assert_eq(run(NULL, "--png -o y.svg " SRC "/captures/tcp_out_of_order_sack.pcap"), 0);
    char *png = slurp("y.png");
    cr_assert_not_null(png);
    cr_assert(memcmp(png, "\x89PNG", 4) == 0);
    free(png);
}

/* A pcap file header (microseconds, little-endian) with the given link type, and optionally a record header
   promising more bytes than follow. */
static void write_pcap(const char *name, uint32_t linktype, bool truncated_record)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    const uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, linktype};
    fwrite(hdr, sizeof hdr, 1, f);
    if (truncated_record) {
        const uint32_t rec[4] = {1700000000, 0, 60, 60};
        fwrite(rec, sizeof rec, 1, f);
        fwrite("0123456789", 10, 1, f);
    }
    fclose(f);
}

Test(plot_cli, bad_input_exits_2_with_a_message_and_writes_nothing)
{
    write_pcap("raw.pcap", 101, false);
    expect_input_error("-o x.svg raw.pcap", "is not Ethernet");
    write_pcap("cut.pcap", 1, true);
    expect_input_error("-o x.svg cut.pcap", "truncated");
    expect_input_error("-o x.svg " SRC "/captures/ping_small.pcap", "no IPv4 TCP segment");
    expect_input_error("-o x.svg " SRC "/captures/arp_gratuitous.case", "no congestion-control line");
    expect_input_error("-o x.svg --conn 10.0.0.1:1-10.0.0.2:2 " SRC "/captures/live_tcp_bulk_to_linux.pcap",
                       "no such connection");
    expect_input_error("-o x.svg --conn 10.0.0.1:1-10.0.0.2:2 " SRC "/tests/plot/cc_loss.trace",
                       "no congestion-control line of this connection");
    expect_input_error("-o x.svg --sender 10.0.0.3:1 " SRC "/captures/live_tcp_bulk_to_linux.pcap",
                       "expected one side of the connection");
    expect_input_error("-o x.svg /nonexistent.pcap", "No such file");
    expect_input_error("-o x.svg --seq " SRC "/tests/plot/cc_loss.trace", "cc_loss.trace");
    /* A truncated copy of a real capture: cut in the middle of a frame. */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "head -c 3000 '%s' > '%s/half.pcap'", SRC "/captures/live_tcp_bulk_to_linux.pcap", dir);
    cr_assert_eq(system(cmd), 0);
    expect_input_error("-o x.svg half.pcap", "truncated");
}

Test(plot_cli, usage_errors_exit_2)
{
    expect_input_error("", "no input file");
    expect_input_error("--bogus x", "unknown option '--bogus'");
    expect_input_error("a b", "one input only");
    expect_input_error("x -o", "-o needs a value");
    cr_assert_eq(run(NULL, "--help"), 0);
    char *out = slurp("out");
    cr_assert(strstr(out, "usage: ts-plot") != NULL);
    free(out);
}
