/*
 * Replay tests: every case in captures/ (one parameterized test each), and the
 * harness's own behaviour on cases built here, so a broken harness cannot make
 * broken cases pass.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frames.h"
#include "harness.h"
#include "replay_internal.h"

#ifndef CAPTURES_DIR
#error "CAPTURES_DIR must name the captures/ directory"
#endif

/* ---- every case in captures/ ----------------------------------------------------------- */

struct case_param {
    char *path;
};

static void free_case_params(struct criterion_test_params *crp)
{
    struct case_param *p = crp->params;
    for (size_t i = 0; i < crp->length; i++)
        cr_free(p[i].path);
    cr_free(crp->params);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .case files in captures/, sorted; the caller frees the array and its strings. */
static size_t list_cases(char ***out)
{
    size_t n = 0, cap = 0;
    char **names = NULL;
    DIR *d = opendir(CAPTURES_DIR);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || strcmp(e->d_name + len - 5, ".case") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof(*names));
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    if (d)
        closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), compare_names);
    *out = names;
    return n;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

ParameterizedTestParameters(replay, case_replays_frame_for_frame)
{
    char **names;
    size_t n = list_cases(&names);
    struct case_param *params = cr_malloc(sizeof(*params) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(CAPTURES_DIR) + strlen(names[i]) + 2;
        params[i].path = cr_malloc(len);
        snprintf(params[i].path, len, "%s/%s", CAPTURES_DIR, names[i]);
    }
    free_names(names, n);
    return cr_make_param_array(struct case_param, params, n, free_case_params);
}

ParameterizedTest(struct case_param *p, replay, case_replays_frame_for_frame)
{
    char err[512] = "";
    struct replay_case *c = NULL;
    cr_assert_eq(replay_case_load(p->path, &c, err, sizeof(err)), 0, "%s", err);
    struct replay_result res;
    replay_case_run(c, &res);
    cr_expect(res.passed, "%s\n(ts-replay-case -v %s shows the whole run)", res.report, p->path);
    replay_result_clear(&res);
    replay_case_free(c);
}

Test(replay, captures_directory_holds_the_cases)
{
    char **names;
    size_t n = list_cases(&names);
    free_names(names, n);
    cr_assert_geq(n, 38, "only %zu .case files in %s", n, CAPTURES_DIR);
}

/* ---- the harness on cases built here -------------------------------------------------- */

static char workdir[64];

static void make_workdir(void)
{
    snprintf(workdir, sizeof(workdir), "/tmp/ts-replay-test-XXXXXX");
    cr_assert_not_null(mkdtemp(workdir));
}

static void remove_workdir(void)
{
    char path[sizeof(workdir) + 300];
    DIR *d = opendir(workdir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", workdir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(workdir);
}

TestSuite(replay_harness, .init = make_workdir, .fini = remove_workdir);

#define T0 ((ts_time)1700000000 * 1000000)

struct built {
    struct replay_frame f[8];
    size_t n;
    uint8_t bytes[8][MK_FRAME_MAX];
};

static void add_frame(struct built *b, ts_time t, size_t len)
{
    b->f[b->n] = (struct replay_frame){.t = T0 + t, .data = b->bytes[b->n], .len = len};
    b->n++;
}

/* The peer asks who has 10.0.0.2 at +10ms. */
static void peer_asks(struct built *b)
{
    static const uint8_t zero[6];
    add_frame(b, TS_MSEC(10), mk_arp(b->bytes[b->n], mk_broadcast_mac, 1, mk_peer_mac, MK_PEER_IP, zero,
                                      MK_STACK_IP, 0));
}

/* What RFC 826 says the stack answers: its own address and MAC, to the asker. */
static void stack_answers(struct built *b, ts_time t, uint32_t tpa)
{
    add_frame(b, t, mk_arp(b->bytes[b->n], mk_peer_mac, 2, mk_stack_mac, MK_STACK_IP, mk_peer_mac, tpa, 0));
}

static char *write_case(const char *name, const char *extra_lines, const struct built *b)
{
    static char path[256];
    char err[256] = "", pcap[256];
    snprintf(pcap, sizeof(pcap), "%s/%s.pcap", workdir, name);
    cr_assert_eq(replay_capture_write(pcap, b->f, b->n, err, sizeof(err)), 0, "%s", err);
    snprintf(path, sizeof(path), "%s/%s.case", workdir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "# built by test_replay.c\nstack addr 10.0.0.2/24 mac 02:00:00:00:00:02 seed 7 no-gratuitous-arp\n"
               "origin synthetic\n%s", extra_lines);
    fclose(f);
    return path;
}

static void run_built(const char *name, const char *extra, const struct built *b, struct replay_result *res)
{
    char err[512] = "";
    struct replay_case *c = NULL;
    cr_assert_eq(replay_case_load(write_case(name, extra, b), &c, err, sizeof(err)), 0, "%s", err);
    replay_case_run(c, res);
    replay_case_free(c);
}

static void expect_report_has(const struct replay_result *res, const char *needle)
{
    cr_expect_not_null(strstr(res->report, needle), "report lacks \"%s\":\n%s", needle, res->report);
}

Test(replay_harness, right_arp_reply_passes)
{
    struct built b = {0};
    peer_asks(&b);
    stack_answers(&b, TS_MSEC(10), MK_PEER_IP);
    struct replay_result res;
    run_built("right", "", &b, &res);
    cr_expect(res.passed, "%s", res.report);
    cr_expect_eq(res.frames_sent, 1);
    replay_result_clear(&res);
}

Test(replay_harness, wrong_field_in_expected_frame_is_named_with_both_values)
{
    struct built b = {0};
    peer_asks(&b);
    stack_answers(&b, TS_MSEC(10), 0x0a000009u);
    struct replay_result res;
    run_built("wrong_field", "", &b, &res);
    cr_expect_not(res.passed);
    expect_report_has(&res, "frame #1 (expected capture frame 2, t=+0.000000s): arp.tpa expected 10.0.0.9 got "
                            "10.0.0.1");
    expect_report_has(&res, "expected: ARP reply 10.0.0.2 is-at 02:00:00:00:00:02 (to 10.0.0.9)");
    replay_result_clear(&res);
}

Test(replay_harness, frame_outside_the_tolerance_fails_on_timing)
{
    struct built b = {0};
    peer_asks(&b);
    stack_answers(&b, TS_MSEC(110), MK_PEER_IP);
    struct replay_result res;
    run_built("late", "tolerance 20ms\n", &b, &res);
    cr_expect_not(res.passed);
    expect_report_has(&res, "sent at t=+0.000000s, outside +0.100000s ± 0.020000s");
    replay_result_clear(&res);
}

Test(replay_harness, frame_the_capture_does_not_have_is_extra)
{
    struct built b = {0};
    peer_asks(&b);
    struct replay_result res;
    run_built("extra", "", &b, &res);
    cr_expect_not(res.passed);
    expect_report_has(&res, "frame #1 extra (sent at t=+0.000000s");
    replay_result_clear(&res);
}

Test(replay_harness, frame_the_stack_never_sends_is_missing)
{
    struct built b = {0};
    peer_asks(&b);
    stack_answers(&b, TS_MSEC(10), MK_PEER_IP);
    stack_answers(&b, TS_MSEC(12), MK_PEER_IP);
    struct replay_result res;
    run_built("missing", "", &b, &res);
    cr_expect_not(res.passed);
    expect_report_has(&res, "frame #2 missing (expected capture frame 3, t=+0.002000s)");
    replay_result_clear(&res);
}

Test(replay_harness, unknown_counter_name_is_a_clear_error)
{
    struct built b = {0};
    peer_asks(&b);
    stack_answers(&b, TS_MSEC(10), MK_PEER_IP);
    struct replay_result res;
    run_built("counter", "expect-counter ip.no_such_counter 0\n", &b, &res);
    cr_expect_not(res.passed);
    expect_report_has(&res, "line 4: unknown counter 'ip.no_such_counter'; the stack's counters are: ");
    replay_result_clear(&res);
}

Test(replay_harness, counter_with_another_value_fails)
{
    struct built b = {0};
    peer_asks(&b);
    stack_answers(&b, TS_MSEC(10), MK_PEER_IP);
    struct replay_result res;
    run_built("counter_value", "expect-counter ip.drop_bad_checksum 3\n", &b, &res);
    cr_expect_not(res.passed);
    expect_report_has(&res, "line 4: counter ip.drop_bad_checksum expected 3 got 0");
    replay_result_clear(&res);
}

Test(replay_harness, bad_case_line_names_the_file_and_line)
{
    struct built b = {0};
    peer_asks(&b);
    char err[512] = "";
    struct replay_case *c = NULL;
    const char *path = write_case("bad_line", "at 0.1 ping 10.0.0.1 seq\n", &b);
    cr_assert_eq(replay_case_load(path, &c, err, sizeof(err)), -1);
    cr_expect_not_null(strstr(err, "bad_line.case: line 4: 'at' needs a value after seq/size"), "%s", err);
}

/* The demonstration the harness exists for: break one byte of a real case and read the diff. */
Test(replay_harness, changed_reply_in_a_real_case_is_reported_field_by_field)
{
    char err[512] = "";
    struct replay_case *c = NULL;
    cr_assert_eq(replay_case_load(CAPTURES_DIR "/ping_small.case", &c, err, sizeof(err)), 0, "%s", err);
    struct replay_frame *reply = NULL;
    for (size_t i = 0; i < replay_case_frame_count(c) && !reply; i++) {
        struct replay_frame *f = replay_case_frame(c, i);
        if (f->from_stack && f->len > 42 && f->data[12] == 0x08 && f->data[13] == 0x00 && f->data[34] == 0)
            reply = f; /* the first IPv4 frame from the stack carrying an ICMP echo reply */
    }
    cr_assert_not_null(reply, "ping_small has no echo reply from the stack");
    reply->data[19] ^= 0x01;      /* ipv4.id, low byte */
    reply->data[14 + 20 + 8 + 5] ^= 0xff; /* icmp.data byte 5 */
    struct replay_result res;
    replay_case_run(c, &res);
    cr_expect_not(res.passed);
    expect_report_has(&res, "ipv4.id expected 0x");
    expect_report_has(&res, "icmp.data differs at offset 5: expected 0xfa got 0x05");
    cr_log_info("the diff for a changed reply:\n%s", res.report);
    replay_result_clear(&res);
    replay_case_free(c);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

Test(replay_harness, blessed_case_replays_and_blessing_again_changes_nothing)
{
    struct built b = {0};
    peer_asks(&b);
    char err[512] = "", *review = NULL, path[256], pcap[256];
    snprintf(path, sizeof(path), "%s", write_case("bless", "", &b));
    snprintf(pcap, sizeof(pcap), "%s/bless.pcap", workdir);
    struct replay_case *c = NULL;
    cr_assert_eq(replay_case_load(path, &c, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(replay_case_bless(c, &review, err, sizeof(err)), 0, "%s", err);
    cr_expect_not_null(strstr(review, "frame #1 (capture frame 2) t=+0.000000s ARP reply 10.0.0.2 is-at"), "%s",
                       review);
    free(review);
    replay_case_free(c);

    static uint8_t first[4096], second[4096];
    size_t n1 = read_file(pcap, first, sizeof(first));
    cr_assert_eq(replay_case_load(path, &c, err, sizeof(err)), 0, "%s", err);
    struct replay_result res;
    replay_case_run(c, &res);
    cr_expect(res.passed, "%s", res.report);
    replay_result_clear(&res);
    cr_assert_eq(replay_case_bless(c, &review, err, sizeof(err)), 0, "%s", err);
    free(review);
    replay_case_free(c);
    size_t n2 = read_file(pcap, second, sizeof(second));
    cr_expect(n1 == n2 && memcmp(first, second, n1) == 0, "blessing twice gave different captures");
}

Test(replay_harness, recorded_case_cannot_be_blessed)
{
    struct built b = {0};
    peer_asks(&b);
    stack_answers(&b, TS_MSEC(10), MK_PEER_IP);
    char err[512] = "", *review = NULL, path[256];
    snprintf(path, sizeof(path), "%s", write_case("recorded", "", &b));
    FILE *f = fopen(path, "a");
    cr_assert_not_null(f);
    fprintf(f, "origin recorded\n");
    fclose(f);
    struct replay_case *c = NULL;
    cr_assert_eq(replay_case_load(path, &c, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(replay_case_bless(c, &review, err, sizeof(err)), -1);
    cr_expect_null(review);
    cr_expect_not_null(strstr(err, "not marked 'origin synthetic'"), "%s", err);
    replay_case_free(c);
}

/* ---- TCP ---------------------------------------------------------------------------------------- */

static struct replay_case *load_or_fail(const char *path)
{
    char err[512] = "";
    struct replay_case *c = NULL;
    cr_assert_eq(replay_case_load(path, &c, err, sizeof(err)), 0, "%s", err);
    return c;
}

/* The first frame from the stack carrying TCP data (the echo in tcp_server_echo). */
static struct replay_frame *first_stack_tcp_data(struct replay_case *c)
{
    for (size_t i = 0; i < replay_case_frame_count(c); i++) {
        struct replay_frame *f = replay_case_frame(c, i);
        if (!f->from_stack || f->len < 54 || f->data[12] != 0x08 || f->data[23] != 6)
            continue;
        size_t tcp = 14 + (size_t)(f->data[14] & 0x0f) * 4;
        size_t hlen = (size_t)(f->data[tcp + 12] >> 4) * 4;
        if (f->len > tcp + hlen)
            return f;
    }
    return NULL;
}

/* The demonstration for TCP: change the echo's timestamp, acknowledgment and one byte, and read the diff. */
Test(replay_harness, changed_tcp_segment_is_reported_field_by_field_with_relative_numbers)
{
    struct replay_case *c = load_or_fail(CAPTURES_DIR "/tcp_server_echo.case");
    struct replay_frame *echo = first_stack_tcp_data(c);
    cr_assert_not_null(echo, "tcp_server_echo has no data segment from the stack");
    size_t tcp = 14 + 20;
    cr_assert_eq(echo->data[tcp + 12] >> 4, 8, "expected nop,nop,TS options");
    echo->data[tcp + 11] += 1;        /* tcp.ack, low byte */
    echo->data[tcp + 20 + 7] ^= 0x01; /* tcp.opt.ts_val, low byte (after nop, nop, kind, length) */
    echo->data[tcp + 32 + 3] ^= 0x20; /* tcp.payload byte 3 */
    struct replay_result res;
    replay_case_run(c, &res);
    cr_expect_not(res.passed);
    expect_report_has(&res, "tcp.ack expected ");
    expect_report_has(&res, "(relative 18) got ");
    expect_report_has(&res, "(relative 17)");
    expect_report_has(&res, "tcp.opt.ts_val expected ");
    expect_report_has(&res, "tcp.payload differs at offset 3: expected 0x4c got 0x6c");
    expect_report_has(&res, "expected: IPv4 10.0.0.2 > 10.0.0.1 id ");
    expect_report_has(&res, "TCP 7 > 40000 [P.] seq 1:17 ack 18 win 32768 <TS val");
    cr_log_info("the diff for a changed TCP segment:\n%s", res.report);
    replay_result_clear(&res);
    replay_case_free(c);
}

/* A SYN with Linux's options, its SYN,ACK and a data segment, as frames. */
static size_t tcp_frame(uint8_t *out, bool from_peer, const struct mk_tcp *t, const char *data)
{
    uint8_t seg[MK_FRAME_MAX];
    size_t len = data ? strlen(data) : 0;
    uint32_t src = from_peer ? MK_PEER_IP : MK_STACK_IP, dst = from_peer ? MK_STACK_IP : MK_PEER_IP;
    size_t n = mk_tcp(seg, src, dst, t, (const uint8_t *)data, len);
    struct mk_ip ip = {.src = src, .dst = dst, .proto = 6, .id = 1, .df = true};
    size_t f = mk_eth(out, from_peer ? mk_stack_mac : mk_peer_mac, from_peer ? mk_peer_mac : mk_stack_mac, 0x0800);
    return f + mk_ipv4(out + f, &ip, seg, n);
}

Test(replay_harness, tcp_description_counts_from_each_sides_isn)
{
    uint8_t syn[MK_FRAME_MAX], synack[MK_FRAME_MAX], data[MK_FRAME_MAX];
    struct mk_tcp t = {.sport = 40000, .dport = 7, .seq = 1000, .flags = MK_TCP_SYN, .window = 64240,
                       .opt = {.mss = 1460, .wscale = 7, .sack_permitted = true, .ts = true, .ts_val = 5}};
    size_t n1 = tcp_frame(syn, true, &t, NULL);
    struct mk_tcp a = {.sport = 7, .dport = 40000, .seq = 0xfffffff0, .ack = 1001, .flags = MK_TCP_SYN | MK_TCP_ACK,
                       .window = 65535, .opt = {.mss = 1460, .wscale = 2, .sack_permitted = true}};
    size_t n2 = tcp_frame(synack, false, &a, NULL);
    struct mk_tcp d = {.sport = 40000, .dport = 7, .seq = 1001, .ack = 0xfffffff1, .flags = MK_TCP_ACK | MK_TCP_PSH,
                       .window = 502, .opt = {.wscale = -1, .ts = true, .ts_val = 6, .ts_ecr = 9}};
    size_t n3 = tcp_frame(data, true, &d, "hi");
    struct replay_tcp_flows flows = {0};
    char desc[240];
    replay_flows_learn(&flows, syn, n1);
    replay_describe_frame_in(&flows, syn, n1, desc, sizeof(desc));
    cr_expect_str_eq(desc, "IPv4 10.0.0.1 > 10.0.0.2 id 0x0001 len 60 TCP 40000 > 7 [S] seq 0 win 64240 "
                           "<mss 1460,sackOK,TS val 5 ecr 0,wscale 7> len 0");
    replay_flows_learn(&flows, synack, n2);
    replay_describe_frame_in(&flows, synack, n2, desc, sizeof(desc));
    cr_expect_str_eq(desc, "IPv4 10.0.0.2 > 10.0.0.1 id 0x0001 len 52 TCP 7 > 40000 [S.] seq 0 ack 1 win 65535 "
                           "<mss 1460,sackOK,wscale 2> len 0");
    replay_flows_learn(&flows, data, n3);
    replay_describe_frame_in(&flows, data, n3, desc, sizeof(desc));
    /* The stack's ISN wraps: 0xfffffff1 is still relative 1. */
    cr_expect_str_eq(desc, "IPv4 10.0.0.1 > 10.0.0.2 id 0x0001 len 54 TCP 40000 > 7 [P.] seq 1:3 ack 1 win 502 "
                           "<TS val 6 ecr 9> len 2");
    replay_describe_frame(data, n3, desc, sizeof(desc));
    cr_expect_not_null(strstr(desc, "seq 1001:1003 ack 4294967281"), "without flows the numbers are exact: %s",
                       desc);
}

static uint64_t field_value(const struct replay_dissection *d, const char *name)
{
    const struct replay_field *f = replay_field_find(d, name);
    cr_assert_not_null(f, "no field %s", name);
    return f->value;
}

Test(replay_harness, every_tcp_option_is_a_field_and_the_layout_is_compared_too)
{
    uint8_t syn[MK_FRAME_MAX];
    struct mk_tcp t = {.sport = 40000, .dport = 7, .seq = 1000, .flags = MK_TCP_SYN, .window = 64240,
                       .opt = {.mss = 1460, .wscale = 7, .sack_permitted = true, .ts = true, .ts_val = 77,
                               .ts_ecr = 0}};
    size_t n = tcp_frame(syn, true, &t, NULL);
    struct replay_dissection *d = calloc(1, sizeof(*d));
    replay_dissect(syn, n, d);
    cr_expect_eq(field_value(d, "tcp.opt.mss"), 1460);
    cr_expect_eq(field_value(d, "tcp.opt.wscale"), 7);
    cr_expect_eq(field_value(d, "tcp.opt.sack_permitted"), 1);
    cr_expect_eq(field_value(d, "tcp.opt.ts_val"), 77);
    cr_expect_eq(field_value(d, "tcp.opt.ts_ecr"), 0);
    cr_expect_eq(field_value(d, "tcp.data_offset"), 10);
    cr_expect_eq(field_value(d, "tcp.flags"), 0x02);
    cr_expect_str_eq(replay_field_find(d, "tcp.options")->text, "mss,sackOK,TS,nop,wscale");
    cr_expect_str_eq(replay_field_find(d, "tcp.checksum")->note, "ok");
    /* The same options in another order differ in the layout only. */
    struct replay_dissection *e = calloc(1, sizeof(*e));
    uint8_t other[MK_FRAME_MAX];
    memcpy(other, syn, n);
    uint8_t *o = other + 14 + 20 + 20; /* mss(4) sackOK(2) TS(10) nop wscale(3) -> sackOK first */
    uint8_t mss[4];
    memcpy(mss, o, 4);
    memmove(o, o + 4, 2);
    memcpy(o + 2, mss, 4);
    replay_dissect(other, n, e);
    struct replay_buf diffs = {0};
    /* Whole 16-bit words trade places: the checksum stays; only the layout tells. */
    cr_expect_eq(replay_diff(d, e, &diffs), 1, "%s", diffs.s);
    cr_expect_not_null(strstr(diffs.s, "tcp.options expected mss,sackOK,TS,nop,wscale got sackOK,mss,TS,nop,wscale"),
                       "%s", diffs.s);
    replay_buf_free(&diffs);
    free(d);
    free(e);
}

static void copy_file(const char *from, const char *to)
{
    static uint8_t buf[1 << 20];
    FILE *in = fopen(from, "rb");
    cr_assert_not_null(in, "%s", from);
    size_t n = fread(buf, 1, sizeof(buf), in);
    fclose(in);
    FILE *out = fopen(to, "wb");
    cr_assert_not_null(out, "%s", to);
    cr_assert_eq(fwrite(buf, 1, n, out), n);
    fclose(out);
}

/* Copies captures/NAME.{case,pcap} to the work directory, leaving out the case lines that start with `drop`. */
static char *copy_case(const char *name, const char *drop)
{
    static char path[256];
    char from[512], to[256], line[1024];
    snprintf(from, sizeof(from), "%s/%s.pcap", CAPTURES_DIR, name);
    snprintf(to, sizeof(to), "%s/%s.pcap", workdir, name);
    copy_file(from, to);
    snprintf(from, sizeof(from), "%s/%s.case", CAPTURES_DIR, name);
    snprintf(path, sizeof(path), "%s/%s.case", workdir, name);
    FILE *in = fopen(from, "r"), *out = fopen(path, "w");
    cr_assert(in && out);
    while (fgets(line, sizeof(line), in))
        if (!drop || strncmp(line, drop, strlen(drop)) != 0)
            fputs(line, out);
    fclose(in);
    fclose(out);
    return path;
}

static int64_t case_clock_offset(const char *name)
{
    char path[512], line[256];
    long long v = 0;
    snprintf(path, sizeof(path), "%s/%s.case", CAPTURES_DIR, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "clock-offset %lld", &v) == 1)
            break;
    fclose(f);
    cr_assert_neq(v, 0, "%s has no clock-offset line", name);
    return v;
}

Test(replay_harness, recorded_tcp_case_needs_its_clock_offset_and_the_capture_yields_it)
{
    int64_t recorded = case_clock_offset("live_tcp_echo_server");
    struct replay_case *c = load_or_fail(copy_case("live_tcp_echo_server", "clock-offset"));
    struct replay_result res;
    replay_case_run(c, &res);
    cr_expect_not(res.passed, "without the offset the ISN and the TSvals cannot come out the same");
    expect_report_has(&res, "tcp.seq expected ");
    expect_report_has(&res, "tcp.opt.ts_val expected ");
    replay_result_clear(&res);

    int64_t found = 0;
    char *report = NULL;
    cr_expect_eq(replay_case_find_clock_offset(c, false, 0, &found, &report), 0, "%s", report);
    /* The ISN ticks every 4 us: any offset in the tick reproduces the capture. */
    cr_expect(found >= recorded - 3 && found <= recorded + 3, "found %lld, recorded %lld\n%s", (long long)found,
              (long long)recorded, report);
    cr_expect_not_null(strstr(report, "reproduce every frame"), "%s", report);
    free(report);
    replay_case_free(c);
}

Test(replay_harness, suggested_actions_rebuild_a_recorded_tcp_client_case)
{
    struct replay_case *c = load_or_fail(CAPTURES_DIR "/live_tcp_interactive.case");
    char *lines = replay_case_suggest_actions(c);
    char path[512], line[1024];
    struct replay_buf want = {0};
    snprintf(path, sizeof(path), "%s/live_tcp_interactive.case", CAPTURES_DIR);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "at ", 3) == 0 || strncmp(line, "first-poll ", 11) == 0)
            replay_buf_printf(&want, "%s", line);
    fclose(f);
    cr_expect_str_eq(lines, want.s ? want.s : "");
    cr_expect_not_null(strstr(lines, "tcp-connect 10.0.0.1:5000"), "%s", lines);
    replay_buf_free(&want);
    free(lines);
    replay_case_free(c);
}

Test(replay_harness, generated_tcp_case_blesses_to_the_same_bytes)
{
    char *path = copy_case("tcp_out_of_order_sack", NULL);
    char pcap[256], orig[512], err[512] = "", *review = NULL;
    snprintf(pcap, sizeof(pcap), "%s/tcp_out_of_order_sack.pcap", workdir);
    snprintf(orig, sizeof(orig), "%s/tcp_out_of_order_sack.pcap", CAPTURES_DIR);
    struct replay_case *c = load_or_fail(path);
    cr_assert_eq(replay_case_bless(c, &review, err, sizeof(err)), 0, "%s", err);
    cr_expect_not_null(strstr(review, "sack {1001:2001}"), "%s", review);
    free(review);
    replay_case_free(c);
    static uint8_t a[65536], b[65536];
    size_t na = read_file(orig, a, sizeof(a)), nb = read_file(pcap, b, sizeof(b));
    cr_expect(na == nb && memcmp(a, b, na) == 0, "blessing a generated TCP case changed its capture");
}

Test(replay_harness, tcp_expectations_that_fail_say_what_was_seen)
{
    char path[256];
    snprintf(path, sizeof(path), "%s", copy_case("tcp_syn_rto_backoff", "expect-"));
    FILE *f = fopen(path, "a");
    cr_assert_not_null(f);
    fprintf(f, "at 5 expect-state ESTABLISHED\nexpect-state TIME-WAIT\nexpect-error ECONNREFUSED\n");
    fclose(f);
    struct replay_case *c = load_or_fail(path);
    struct replay_result res;
    replay_case_run(c, &res);
    cr_expect_not(res.passed);
    expect_report_has(&res, "expect-state ESTABLISHED, but the connection is SYN-SENT");
    expect_report_has(&res, "expect-state TIME-WAIT, but at the end the connection is CLOSED");
    expect_report_has(&res, "expect-error ECONNREFUSED, but the connection reported ETIMEDOUT");
    replay_result_clear(&res);
    replay_case_free(c);
}

Test(replay_harness, bad_tcp_lines_name_what_is_allowed)
{
    struct built b = {0};
    peer_asks(&b);
    char err[512] = "";
    struct replay_case *c = NULL;
    cr_expect_eq(replay_case_load(write_case("bad_tcp1", "at 0.1 tcp-shutdown sideways\n", &b), &c, err,
                                  sizeof(err)), -1);
    cr_expect_not_null(strstr(err, "line 4: tcp-shutdown takes wr, rd or rdwr, not 'sideways'"), "%s", err);
    cr_expect_eq(replay_case_load(write_case("bad_tcp2", "expect-state ESTABLISHD\n", &b), &c, err, sizeof(err)),
                 -1);
    cr_expect_not_null(strstr(err, "'ESTABLISHD' is not a TCP state (CLOSED, LISTEN"), "%s", err);
    cr_expect_eq(replay_case_load(write_case("bad_tcp3", "at 0 tcp-listen 80 keepalive 10 5\n", &b), &c, err,
                                  sizeof(err)), -1);
    cr_expect_not_null(strstr(err, "line 4: 'at' needs a value after each option"), "%s", err);
    cr_expect_eq(replay_case_load(write_case("bad_tcp4", "at 0.2 tcp-send \"x\"\nclock-offset 12us\n", &b), &c, err,
                                  sizeof(err)), -1);
    cr_expect_not_null(strstr(err, "line 5: clock-offset '12us' is not a whole number of microseconds"), "%s", err);
}

Test(replay_harness, tcp_action_before_any_connection_is_a_clear_problem)
{
    struct built b = {0};
    peer_asks(&b);
    stack_answers(&b, TS_MSEC(10), MK_PEER_IP);
    struct replay_result res;
    run_built("no_conn", "at 0.001 tcp-send \"early\"\n", &b, &res);
    cr_expect_not(res.passed);
    expect_report_has(&res, "line 4: no TCP connection yet (tcp-connect, or a connection accepted by tcp-listen)");
    replay_result_clear(&res);
}
