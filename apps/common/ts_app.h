/*
 * What every tapstack sample app shares: the common command-line options,
 * the device stack they describe (tap -> impair -> tee), the trace printer,
 * clean shutdown on SIGINT/SIGTERM, the --stats report, and the memory and
 * limit report printed on SIGUSR1.
 *
 * An app describes itself with a struct ts_app_desc (name, usage, its own
 * options and a handler for them), calls ts_app_parse(), then ts_app_start(),
 * runs its loop while !ts_app_stop_requested(), and ends with ts_app_finish().
 *
 *   ts_app_parse(desc, argc, argv, &app)   -> options, or exit code 0 (--help) / 2 (usage error)
 *   ts_app_start(&app)                      -> device + stack + runtime thread
 *   ts_app_finish(&app)                     -> counters snapshot, net stopped, stats printed
 */
#ifndef TS_APP_H
#define TS_APP_H

#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "tapstack/netdev.h"
#include "tapstack/socket.h"
#include "tapstack/stack.h"

/* Exit statuses shared by the apps (ts-ping follows iputils: 1 = no reply). */
#define TS_APP_EXIT_OK 0
#define TS_APP_EXIT_FAILURE 1
#define TS_APP_EXIT_USAGE 2

/* How often a loop waiting on sockets wakes up to notice a stop request. */
#define TS_APP_STOP_CHECK_MS 100

/* ts_app_parse's result when the app should go on. */
#define TS_APP_PARSE_CONTINUE (-1)

struct ts_app_desc {
    const char *name;         /* "ts-ping": prefixes every message */
    const char *usage;        /* what follows the name in "Usage:", e.g. "[OPTIONS] HOST" */
    const char *summary;      /* one sentence saying what the app does */
    const char *app_help;     /* the app's own option lines for --help, may be NULL */
    const char *default_addr; /* "10.0.0.2/24", or NULL if --addr is required */
    const char *short_opts;   /* the app's own short options in getopt syntax ("c:s:"), may be NULL */
    const struct option *long_opts; /* the app's own long options, {0} terminated, may be NULL */
    /*
     * Called for each of the app's own options (opt is getopt_long's return value)
     * and, with opt == 0 and the text in arg, for each operand. Returns 0, or -1
     * after reporting the problem with ts_app_usage_error.
     */
    int (*handle)(void *ctx, int opt, const char *arg);
    void *ctx;
};

struct ts_app_options {
    const char *dev;          /* TAP interface name */
    ts_ipv4_addr addr;        /* host order */
    uint8_t prefix_len;
    ts_ipv4_addr gateway;     /* 0 = none */
    bool has_mac;
    uint8_t mac[6];
    bool has_seed;
    uint64_t seed;
    bool trace;
    uint32_t trace_mask;
    const char *pcap_path;    /* NULL = no capture */
    bool has_impair;
    struct ts_impair_spec impair;
    bool stats;
    bool offload;             /* TAP checksum offload and TSO (--offload on|off, default on) */
};

/* A copy of one counter, taken before the stack goes away. */
struct ts_app_counter {
    char layer[16];
    char name[48];
    uint64_t value;
};

/* What the stack held against its limits at one moment (app_usage.c). */
struct ts_app_usage {
    bool valid;
    struct ts_stack_usage usage;
    struct ts_stack_limits limits;
};

struct ts_app {
    const struct ts_app_desc *desc;
    struct ts_app_options opt;
    struct ts_net *net;
    struct ts_netdev *impair_dev; /* borrowed: owned by the device stack under net */
    ts_time start;                /* ts_monotonic_now() when the app started; trace times count from it */
    struct ts_app_counter *counters;
    size_t n_counters;
    size_t cap_counters;
    struct ts_impair_stats impair_stats;
    struct ts_app_usage usage;    /* taken by ts_app_finish for --stats */
    pthread_t usage_thread;       /* prints the usage on SIGUSR1 */
    bool usage_thread_running;
    bool usage_thread_quit;       /* accessed atomically */
};

/*
 * Parses argv. Returns TS_APP_PARSE_CONTINUE when the app should go on, or the
 * exit status it should end with right away: 0 after --help, 2 after a usage
 * error (already reported as one line on stderr).
 */
int ts_app_parse(const struct ts_app_desc *desc, int argc, char **argv, struct ts_app *app);

/* Prints "NAME: <message>" as one line on stderr; always returns -1 (for handlers). */
int ts_app_usage_error(const struct ts_app_desc *desc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Value parsers the apps share. Each returns 0 or -1; they print nothing. */
int ts_app_parse_ipv4(const char *text, ts_ipv4_addr *out);
int ts_app_parse_u64(const char *text, uint64_t max, uint64_t *out);
/* Seconds as a decimal ("0.2", "1", "1.5") into microseconds, within [min, max]. */
int ts_app_parse_seconds(const char *text, ts_time min, ts_time max, ts_time *out);

/* "10.0.0.2" into buf (at least 16 bytes); returns buf. */
const char *ts_app_format_ipv4(ts_ipv4_addr addr, char *buf);
/* A sockaddr_in for a host-order address and port. */
struct sockaddr_in ts_app_sockaddr(ts_ipv4_addr addr, uint16_t port);
/*
 * Whether a stream's FIN has been acknowledged (RFC 9293 3.3.2: FIN-WAIT-2 or
 * TIME-WAIT) or the connection is gone. No poll event announces that ACK, and
 * an app that exits before it loses the data still in flight with its stack:
 * ts-nc and ts-perf check this until it holds.
 */
bool ts_app_fin_acknowledged(int fd);

/*
 * Installs the SIGINT/SIGTERM handlers (no SA_RESTART), opens the device stack,
 * and starts the net with its runtime thread. On failure prints one line on
 * stderr and returns -1.
 */
int ts_app_start(struct ts_app *app);

/* True once SIGINT or SIGTERM has arrived. */
bool ts_app_stop_requested(void);
/* The signal that asked to stop, or 0. */
int ts_app_stop_signal(void);

/* Snapshots the counters, stops the net (closing the capture cleanly) and prints --stats. */
void ts_app_finish(struct ts_app *app);

/* ---- memory and limits (app_usage.c) ---- */
/* Takes the stack's usage and limits under the net's lock. */
void ts_app_usage_snapshot(struct ts_net *net, struct ts_app_usage *out);
/* Prints "NAME: usage (now/limit)" and one line per resource ("syn queue 12/128, ...") on stderr. */
void ts_app_usage_print(const char *app_name, const struct ts_app_usage *snap);
/* SIGUSR1 is blocked in every thread and taken by a thread of its own that prints the usage. */
void ts_app_block_usage_signal(void);
int ts_app_usage_thread_start(struct ts_app *app);
void ts_app_usage_thread_stop(struct ts_app *app);

#endif
