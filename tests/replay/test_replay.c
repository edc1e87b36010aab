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
    cr_assert_geq(n, 22, "only %zu .case files in %s", n, CAPTURES_DIR);
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
