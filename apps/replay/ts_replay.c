/*
 * ts-replay: replays a capture into a fresh stack on a virtual clock and shows,
 * frame by frame, what tapstack did with each frame, what it sent back, its
 * control blocks, and where it answered differently from the capture's
 * original host. No device, no root, the same output every run.
 *
 *   ts-replay CAPTURE [--stack-addr A.B.C.D] [--seed N] [--step] [--until N] [--break-at N] [--tcb] [--setup]
 *
 * The engine is replay/step*.c; docs/stepping-through.md walks through it and gdb.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay_step.h"

static void usage(FILE *to)
{
    fprintf(to,
            "usage: ts-replay CAPTURE [options]\n"
            "  Replays CAPTURE (NAME.pcap, with or without NAME.case beside it, or NAME.case) into a fresh\n"
            "  stack on a virtual clock and prints one block per frame: the frame, the core's trace for it,\n"
            "  what the stack did (accepted, dropped and why, queued out of order), what it sent, and how\n"
            "  that compares with what the capture's original host sent (DIFFERS marks a difference).\n"
            "  --stack-addr A.B.C.D  the host tapstack plays (default: the case file's, else guessed: the\n"
            "                        host that received the first SYN, else the one pinged, ...)\n"
            "  --seed N              the stack's seed (ISNs, ports, IP ids; default: the case's, else 7)\n"
            "  --tcb                 print every TCP control block before -> after each frame\n"
            "  --until N             stop after capture frame N\n"
            "  --step                wait for Enter before each frame (q + Enter quits)\n"
            "  --break-at N          call ts_replay_break(N) just before frame N is fed, for gdb:\n"
            "                        gdb --args ts-replay CAPTURE --break-at N; break ts_replay_break; run;\n"
            "                        finish; step   (now inside ts_stack_input)\n"
            "  --setup               print the setup (host, apps, actions) and exit\n"
            "exit status: 0, or 2 on a usage, file or setup error\n");
}

static int parse_unsigned(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *s == '\0' || *s == '-' || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Options that take a value; returns 1 if argv[*i] was one, 0 if not, -1 on a bad value. */
static int value_option(struct replay_step_options *o, int argc, char **argv, int *i)
{
    const char *name = argv[*i];
    bool known = strcmp(name, "--stack-addr") == 0 || strcmp(name, "--seed") == 0 || strcmp(name, "--until") == 0 ||
                 strcmp(name, "--break-at") == 0;
    if (!known)
        return 0;
    if (*i + 1 >= argc)
        return -1;
    const char *v = argv[++*i];
    unsigned long long n;
    if (strcmp(name, "--stack-addr") == 0) {
        struct in_addr a;
        if (inet_pton(AF_INET, v, &a) != 1)
            return -1;
        o->stack_addr = ntohl(a.s_addr);
        o->have_stack_addr = true;
        return 1;
    }
    if (strcmp(name, "--seed") == 0) {
        if (parse_unsigned(v, UINT64_MAX, &n))
            return -1;
        o->seed = n;
        o->have_seed = true;
        return 1;
    }
    if (parse_unsigned(v, UINT_MAX, &n) || n == 0)
        return -1;
    if (strcmp(name, "--until") == 0)
        o->until = (unsigned)n;
    else
        o->break_at = (unsigned)n;
    return 1;
}

int main(int argc, char **argv)
{
    struct replay_step_options o = {.out = stdout, .in = stdin, .prompt = stderr};
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        int v = value_option(&o, argc, argv, &i);
        if (v < 0) {
            fprintf(stderr, "ts-replay: %s needs a valid value\n", opt);
            usage(stderr);
            return 2;
        }
        if (v > 0)
            continue;
        if (strcmp(argv[i], "--step") == 0) {
            o.step = true;
        } else if (strcmp(argv[i], "--tcb") == 0) {
            o.tcb = true;
        } else if (strcmp(argv[i], "--setup") == 0) {
            o.guess_only = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' || o.capture) {
            fprintf(stderr, "ts-replay: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            o.capture = argv[i];
        }
    }
    if (!o.capture) {
        usage(stderr);
        return 2;
    }
    return replay_step_main(&o);
}
