/*
 * ts-plot: pictures of a TCP connection.
 *
 *   ts-plot capture.pcap             time-sequence graph of the busiest connection -> capture.svg
 *   ts-plot trace.txt                cwnd/ssthresh and SRTT/RTO of the first connection -> trace.svg
 *
 * The input's first bytes choose the kind (a pcap or pcapng magic number, else
 * text); --seq or --cc force it. See docs/plots.md for how to read the result.
 *
 * Exit status: 0 when the SVG was written (also when --png found no converter),
 * 1 when writing the output or the PNG conversion failed, 2 on a usage error or
 * input that cannot be plotted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plot_draw.h"

extern char **environ;

enum plot_mode { MODE_AUTO, MODE_SEQ, MODE_CC };

struct plot_args {
    const char *input;
    const char *output;
    const char *conn;
    const char *sender;
    enum plot_mode mode;
    bool png;
};

static const char usage_text[] =
    "usage: ts-plot [--seq | --cc] [--conn A.B.C.D:P-E.F.G.H:Q] [--sender A.B.C.D:P] [-o FILE.svg] [--png] INPUT\n"
    "\n"
    "Draws a TCP connection as SVG.\n"
    "  INPUT a pcap capture (Ethernet, IPv4): time-sequence graph of one direction: data segments,\n"
    "        retransmissions, the ACK and receive-window lines, SACK blocks, SYN/FIN/RST.\n"
    "  INPUT a text trace (an app's --trace=tcp output, or ts-replay's): cwnd and ssthresh, SRTT,\n"
    "        RTTVAR and RTO over time, from its \"cc\" lines. '-' reads a trace from stdin.\n"
    "Options:\n"
    "  --seq, --cc         the kind of input (default: from its first bytes)\n"
    "  --conn SPEC         the connection (default: the capture's busiest, the trace's first)\n"
    "  --sender A.B.C.D:P  the side whose data to plot (default: the side that sent more)\n"
    "  -o FILE             the SVG to write (default: INPUT's name, .svg instead of its extension,\n"
    "                      in the current directory)\n"
    "  --png               also FILE.png, with rsvg-convert or ImageMagick's convert if installed\n"
    "Exit status: 0 written; 1 writing or converting failed; 2 usage error or input that cannot be plotted.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("ts-plot: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (ts-plot --help)\n", stderr);
    return 2;
}

enum { OPT_SEQ = 1000, OPT_CC, OPT_CONN, OPT_SENDER, OPT_PNG, OPT_HELP };

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct plot_args *a)
{
    static const struct option longopts[] = {
        {"seq", no_argument, NULL, OPT_SEQ},       {"cc", no_argument, NULL, OPT_CC},
        {"conn", required_argument, NULL, OPT_CONN}, {"sender", required_argument, NULL, OPT_SENDER},
        {"png", no_argument, NULL, OPT_PNG},       {"help", no_argument, NULL, OPT_HELP},
        {"output", required_argument, NULL, 'o'},  {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_SEQ: a->mode = MODE_SEQ; break;
        case OPT_CC: a->mode = MODE_CC; break;
        case OPT_CONN: a->conn = optarg; break;
        case OPT_SENDER: a->sender = optarg; break;
        case OPT_PNG: a->png = true; break;
        case 'o':
            if (optarg[0] == '\0')
                return usage_error("%s-o needs a file name", "");
            a->output = optarg;
            break;
        case 'h':
        case OPT_HELP: fputs(usage_text, stdout); return 0;
        case ':': return usage_error("%s needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_error("%sno input file (a pcap capture or a text trace)", "");
    if (optind + 1 < argc)
        return usage_error("one input only ('%s' and more)", argv[optind]);
    a->input = argv[optind];
    return -1;
}

/* pcap (either byte order, micro- or nanosecond) and pcapng. */
static bool is_capture_magic(const unsigned char m[4])
{
    uint32_t be = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];
    return be == 0xa1b2c3d4 || be == 0xd4c3b2a1 || be == 0xa1b23c4d || be == 0x4d3cb2a1 || be == 0x0a0d0d0a;
}

static int detect_mode(const char *path, enum plot_mode *mode)
{
    if (strcmp(path, "-") == 0) {
        *mode = MODE_CC; /* a capture from stdin would need --seq; traces are what gets piped */
        return 0;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "ts-plot: %s: %s\n", path, strerror(errno));
        return -1;
    }
    unsigned char m[4] = {0};
    size_t n = fread(m, 1, sizeof m, f);
    fclose(f);
    *mode = n == sizeof m && is_capture_magic(m) ? MODE_SEQ : MODE_CC;
    return 0;
}

/* "dir/name.pcap" -> "name.svg" (in the current directory). */
static char *default_output(const char *input)
{
    const char *base = strrchr(input, '/');
    base = base != NULL ? base + 1 : input;
    if (strcmp(input, "-") == 0 || *base == '\0')
        base = "plot";
    const char *dot = strrchr(base, '.');
    size_t stem = dot != NULL && dot != base ? (size_t)(dot - base) : strlen(base);
    char *out = malloc(stem + 5);
    if (out != NULL)
        snprintf(out, stem + 5, "%.*s.svg", (int)stem, base);
    return out;
}

static int plot_capture(const struct plot_args *a, FILE *out)
{
    char err[512];
    struct plot_capture cap;
    if (plot_capture_read(a->input, &cap, err, sizeof err) != 0) {
        fprintf(stderr, "ts-plot: %s\n", err);
        return 2;
    }
    struct plot_conn conn;
    if (plot_conn_select(&cap, a->conn, &conn, err, sizeof err) != 0) {
        fprintf(stderr, "ts-plot: %s: %s\n", a->input, err);
        plot_capture_free(&cap);
        return 2;
    }
    struct plot_endpoint sender, receiver;
    tseq_default_sender(&conn, &sender, &receiver);
    if (a->sender != NULL) {
        struct plot_endpoint want;
        if (!plot_endpoint_parse(a->sender, strlen(a->sender), &want) ||
            !(plot_endpoint_equal(&want, &conn.a) || plot_endpoint_equal(&want, &conn.b))) {
            char x[22], y[22];
            fprintf(stderr, "ts-plot: --sender '%s': expected one side of the connection, %s or %s\n", a->sender,
                    plot_endpoint_format(&conn.a, x), plot_endpoint_format(&conn.b, y));
            plot_capture_free(&cap);
            return 2;
        }
        receiver = plot_endpoint_equal(&want, &conn.a) ? conn.b : conn.a;
        sender = want;
    }
    struct tseq_model m;
    int rc = tseq_build(&cap, &sender, &receiver, &m);
    plot_capture_free(&cap);
    if (rc != 0) {
        fprintf(stderr, "ts-plot: out of memory\n");
        return 1;
    }
    rc = tseq_draw_svg(&m, out) == 0 ? 0 : 1;
    tseq_free(&m);
    return rc;
}

static int plot_trace(const struct plot_args *a, FILE *out)
{
    if (a->sender != NULL)
        return usage_error("--sender '%s' is for captures; a trace's cc lines name the sending side", a->sender);
    FILE *in = strcmp(a->input, "-") == 0 ? stdin : fopen(a->input, "r");
    if (in == NULL) {
        fprintf(stderr, "ts-plot: %s: %s\n", a->input, strerror(errno));
        return 2;
    }
    char err[512];
    struct cc_trace tr;
    int rc = cc_trace_read(in, a->conn, &tr, err, sizeof err);
    if (in != stdin)
        fclose(in);
    if (rc != 0) {
        fprintf(stderr, "ts-plot: %s: %s\n", a->input, err);
        return 2;
    }
    rc = cc_draw_svg(&tr, out) == 0 ? 0 : 1;
    cc_trace_free(&tr);
    return rc;
}

static bool on_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        return false;
    char dir[4096];
    for (const char *p = path; *p != '\0';) {
        size_t n = strcspn(p, ":");
        struct stat sb;
        if (n > 0 && n < sizeof dir - strlen(prog) - 2) {
            snprintf(dir, sizeof dir, "%.*s/%s", (int)n, p, prog);
            if (stat(dir, &sb) == 0 && S_ISREG(sb.st_mode) && access(dir, X_OK) == 0)
                return true;
        }
        p += n;
        if (*p == ':')
            p++;
    }
    return false;
}

/* Runs argv (no shell: file names are passed as they are). Returns its exit status, or -1. */
static int run(char *const argv[])
{
    pid_t pid;
    if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int convert_png(const char *svg)
{
    size_t len = strlen(svg);
    char *png = malloc(len + 5);
    if (png == NULL)
        return 1;
    size_t stem = len > 4 && strcmp(svg + len - 4, ".svg") == 0 ? len - 4 : len;
    snprintf(png, len + 5, "%.*s.png", (int)stem, svg);
    int rc;
    if (on_path("rsvg-convert")) {
        char *argv[] = {"rsvg-convert", "-b", "white", "-o", png, (char *)svg, NULL};
        rc = run(argv);
    } else if (on_path("convert")) {
        char *argv[] = {"convert", (char *)svg, png, NULL};
        rc = run(argv);
    } else {
        fprintf(stderr, "ts-plot: --png: no SVG-to-PNG converter is installed (rsvg-convert from librsvg2-bin, or "
                        "ImageMagick's convert); wrote only %s\n", svg);
        free(png);
        return 0;
    }
    if (rc != 0)
        fprintf(stderr, "ts-plot: --png: the converter failed (status %d); %s is complete, %s was not made\n", rc, svg,
                png);
    else
        printf("%s\n", png);
    free(png);
    return rc != 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct plot_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    enum plot_mode mode = a.mode;
    if (mode == MODE_AUTO && detect_mode(a.input, &mode) != 0)
        return 2;
    char *derived = a.output == NULL ? default_output(a.input) : NULL;
    const char *output = a.output != NULL ? a.output : derived;
    if (output == NULL) {
        fprintf(stderr, "ts-plot: out of memory\n");
        return 1;
    }
    /* Drawn into memory first: bad input leaves no half-written file behind. */
    char *buf = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&buf, &size);
    if (mem == NULL) {
        fprintf(stderr, "ts-plot: %s\n", strerror(errno));
        free(derived);
        return 1;
    }
    rc = mode == MODE_SEQ ? plot_capture(&a, mem) : plot_trace(&a, mem);
    fclose(mem);
    if (rc == 0) {
        FILE *out = fopen(output, "w");
        if (out == NULL || fwrite(buf, 1, size, out) != size || fclose(out) != 0) {
            fprintf(stderr, "ts-plot: %s: %s\n", output, strerror(errno));
            rc = 1;
        } else {
            printf("%s\n", output);
        }
    }
    if (rc == 0 && a.png)
        rc = convert_png(output);
    free(buf);
    free(derived);
    return rc;
}
