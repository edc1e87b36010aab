/*
 * ts-replay-case: runs one replay case and prints what differs.
 *
 *   ts-replay-case CASE            run it; exit 0 if it passes, 1 if not, 2 on a usage or file error
 *   ts-replay-case -v CASE         also print the whole run (inputs, actions, frames sent, core trace)
 *   ts-replay-case --dump CASE     print every frame of the capture, field by field
 *   ts-replay-case --suggest-actions CASE   print the first-poll and ping lines a recorded capture implies
 *   ts-replay-case --bless CASE    rewrite a synthetic case's expected frames from what the stack sends now,
 *                                  and print them field by field for a person to review before committing
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void usage(FILE *to)
{
    fprintf(to, "usage: ts-replay-case [-v] [--dump | --bless | --suggest-actions] CASE.case\n"
                "  runs one replay case (captures/README.md describes the format) and prints a\n"
                "  field-by-field diff of every frame that differs from the capture.\n"
                "  -v       print the whole run: inputs, actions, frames sent, the core's trace\n"
                "  --dump   print every frame of the capture, field by field, and exit\n"
                "  --bless  synthetic cases only: replace the capture's frames from the stack with\n"
                "           what the stack sends now, and print them for review\n"
                "  --suggest-actions  print the 'first-poll' and 'at T ping ...' lines the capture\n"
                "           implies (how scripts/record-case.sh drafts a recorded case)\n");
}

static int dump(struct replay_case *c)
{
    printf("%s: %zu frames in %s\n", replay_case_name(c), replay_case_frame_count(c), replay_case_capture_path(c));
    for (size_t i = 0; i < replay_case_frame_count(c); i++) {
        const struct replay_frame *f = replay_case_frame(c, i);
        char desc[200];
        replay_describe_frame(f->data, f->len, desc, sizeof(desc));
        char *fields = replay_dissect_text(f->data, f->len);
        printf("capture frame %u t=%+.6fs %s %s\n%s", f->index, (double)f->t / 1e6,
               f->from_stack ? "[stack]" : "[peer] ", desc, fields);
        free(fields);
    }
    char *checks = replay_case_review(c);
    printf("checks of the stack's datagrams (whole, after reassembly):\n%s", checks);
    free(checks);
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
    bool verbose = false, do_dump = false, do_bless = false, do_suggest = false;
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
    if (!path || do_dump + do_bless + do_suggest > 1) {
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
    if (do_suggest) {
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
