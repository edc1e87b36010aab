/*
 * ts-replay-case: runs one replay case and prints what differs.
 *
 *   ts-replay-case CASE            run it; exit 0 if it passes, 1 if not, 2 on a usage or file error
 *   ts-replay-case -v CASE         also print the whole run (inputs, actions, frames sent, core trace)
 *   ts-replay-case --dump CASE     print every frame of the capture, field by field
 *   ts-replay-case --suggest-actions CASE   print the first-poll, ping and TCP lines a recorded capture implies
 *   ts-replay-case --find-clock-offset [--clock-hint USEC] CASE
 *                                  print the clock-offset line a recorded TCP capture implies
 *   ts-replay-case --bless CASE    rewrite a synthetic case's expected frames from what the stack sends now,
 *                                  and print them field by field for a person to review before committing
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void usage(FILE *to)
{
    fprintf(to, "usage: ts-replay-case [-v] [--dump | --bless | --suggest-actions | --find-clock-offset] CASE.case\n"
                "  runs one replay case (captures/README.md describes the format) and prints a\n"
                "  field-by-field diff of every frame that differs from the capture.\n"
                "  -v       print the whole run: inputs, actions, frames sent, the core's trace\n"
                "  --dump   print every frame of the capture, field by field, and exit\n"
                "  --bless  synthetic cases only: replace the capture's frames from the stack with\n"
                "           what the stack sends now, and print them for review\n"
                "  --suggest-actions  print the 'first-poll', 'at T ping ...' and TCP action lines the\n"
                "           capture implies (how scripts/record-case.sh drafts a recorded case)\n"
                "  --find-clock-offset [--clock-hint USEC]  print the 'clock-offset' line: the offset\n"
                "           between the capture's timestamps and the live stack's clock, found from the\n"
                "           stack's TCP timestamps and ISN and checked by replaying (exit 1 if no offset\n"
                "           reproduces the capture, 3 if the case has no TCP from the stack)\n");
}

static int dump(struct replay_case *c)
{
    char *text = replay_case_dump(c);
    printf("%s", text);
    free(text);
    return 0;
}

static int bless(struct replay_case *c)
{
    char err[512] = "";
    char *review = NULL;
    if (replay_case_bless(c, &review, err, sizeof(err)) != 0) {
        fprintf(stderr, "ts-replay-case: %s\n", err);
        return 2;
    }
    printf("%s", review);
    printf("Review every frame above against the RFCs before committing %s.\n", replay_case_capture_path(c));
    free(review);
    return 0;
}

static int find_clock_offset(struct replay_case *c, bool have_hint, int64_t hint)
{
    int64_t offset = 0;
    char *report = NULL;
    int rc = replay_case_find_clock_offset(c, have_hint, hint, &offset, &report);
    fprintf(stderr, "%s", report);
    free(report);
    if (rc < 0)
        return 3;
    printf("clock-offset %lld\n", (long long)offset);
    return rc;
}

static int run(struct replay_case *c, bool verbose)
{
    struct replay_result res;
    replay_case_run(c, &res);
    if (verbose)
        printf("%s", res.trace);
    if (res.passed)
        printf("case %s: passed (%zu frames sent, as expected)\n", replay_case_name(c), res.frames_sent);
    else
        printf("%s", res.report);
    int rc = res.passed ? 0 : 1;
    replay_result_clear(&res);
    return rc;
}

int main(int argc, char **argv)
{
    bool verbose = false, do_dump = false, do_bless = false, do_suggest = false, do_clock = false, have_hint = false;
    long long hint = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
            verbose = true;
        } else if (strcmp(argv[i], "--dump") == 0) {
            do_dump = true;
        } else if (strcmp(argv[i], "--bless") == 0) {
            do_bless = true;
        } else if (strcmp(argv[i], "--suggest-actions") == 0) {
            do_suggest = true;
        } else if (strcmp(argv[i], "--find-clock-offset") == 0) {
            do_clock = true;
        } else if (strcmp(argv[i], "--clock-hint") == 0 && i + 1 < argc) {
            char *end;
            hint = strtoll(argv[++i], &end, 10);
            if (*end) {
                usage(stderr);
                return 2;
            }
            have_hint = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' || path) {
            usage(stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path || do_dump + do_bless + do_suggest + do_clock > 1) {
        usage(stderr);
        return 2;
    }
    char err[512] = "";
    struct replay_case *c = NULL;
    if (replay_case_load(path, &c, err, sizeof(err)) != 0) {
        fprintf(stderr, "ts-replay-case: %s\n", err);
        return 2;
    }
    int rc;
    if (do_clock) {
        rc = find_clock_offset(c, have_hint, hint);
    } else if (do_suggest) {
        char *lines = replay_case_suggest_actions(c);
        printf("%s", lines);
        free(lines);
        rc = 0;
    } else {
        rc = do_dump ? dump(c) : do_bless ? bless(c) : run(c, verbose);
    }
    replay_case_free(c);
    return rc;
}
