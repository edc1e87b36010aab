/*
 * Running an app: the device stack its options describe, the net on top of it,
 * the trace printer, the stop signals and the --stats report.
 *
 * Device order is tap -> impair -> tee: the capture sits next to the stack, so
 * it shows what the stack itself sent and received, impairment included.
 */
#define _GNU_SOURCE
#include "ts_app.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The one piece of global mutable state: a signal handler can reach nothing
 * else. Set once by the handler, read by the apps' loops, which wake at least
 * every TS_APP_STOP_CHECK_MS to look at it.
 */
static volatile sig_atomic_t stop_signal_seen;

static void on_stop_signal(int sig)
{
    stop_signal_seen = sig;
}

bool ts_app_stop_requested(void)
{
    return stop_signal_seen != 0;
}

int ts_app_stop_signal(void)
{
    return (int)stop_signal_seen;
}

/* No SA_RESTART: a blocking system call in the main thread returns EINTR instead of waiting on. */
static void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* The runtime thread inherits the mask it starts with: blocking the stop signals around
 * its creation makes sure they are delivered to the main thread, whose loop acts on them. */
static void block_stop_signals(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, old);
}

/* ---- trace ----------------------------------------------------------------- */

/*
 * Runs on the runtime thread, under the net's lock; one fprintf keeps each line whole.
 * The core's text already opens with what happened ("tx who-has ...", "drop [counter] ...").
 */
static void print_trace_event(void *ctx, const struct ts_trace_event *ev)
{
    const struct ts_app *app = ctx;
    double since_start = (double)(ev->now - app->start) / 1e6;
    fprintf(stderr, "%10.6f %-4s %s\n", since_start, ts_trace_layer_name(ev->layer), ev->text != NULL ? ev->text : "");
}

/* ---- device stack ------------------------------------------------------------ */

/* splitmix64's finaliser: the impairment gets its own stream, still fixed by --seed. */
static uint64_t derive_seed(uint64_t seed)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static struct ts_netdev *open_device_stack(struct ts_app *app, char *err, size_t errlen)
{
    const struct ts_app_options *o = &app->opt;
    /* --impair stands for a wire, and a wire carries standard frames: no offloads under it. */
    struct ts_netdev *dev = ts_tap_open_offload(o->dev, o->offload && !o->has_impair, err, errlen);
    if (dev == NULL)
        return NULL;
    if (o->has_impair) {
        struct ts_netdev *impaired = ts_impair_wrap(dev, &o->impair, derive_seed(o->seed));
        if (impaired == NULL) {
            /* Like every wrapper, impair destroys what it was given when it fails. */
            snprintf(err, errlen, "cannot set up --impair on %s: out of memory", o->dev);
            return NULL;
        }
        dev = impaired;
        app->impair_dev = impaired;
    }
    if (o->pcap_path != NULL) {
        char why[200] = "";
        struct ts_netdev *teed = ts_tee_wrap(dev, o->pcap_path, why, sizeof why);
        if (teed == NULL) {
            /* The tee has destroyed the devices under it. */
            snprintf(err, errlen, "--pcap %s: %s", o->pcap_path, why[0] ? why : "cannot open the capture");
            app->impair_dev = NULL;
            return NULL;
        }
        dev = teed;
    }
    return dev;
}

static void build_stack_config(struct ts_app *app, const struct ts_netdev *dev, struct ts_stack_config *cfg)
{
    const struct ts_app_options *o = &app->opt;
    ts_stack_config_init(cfg);
    if (o->has_mac)
        memcpy(cfg->mac, o->mac, sizeof cfg->mac);
    else if (dev->has_mac)
        memcpy(cfg->mac, dev->mac, sizeof cfg->mac);
    else
        ts_netdev_default_mac(o->dev, cfg->mac);
    cfg->addr = o->addr;
    cfg->prefix_len = o->prefix_len;
    cfg->gateway = o->gateway;
    cfg->seed = o->seed;
    if (o->trace) {
        cfg->trace = print_trace_event;
        cfg->trace_ctx = app;
        cfg->trace_mask = o->trace_mask;
    }
}

int ts_app_start(struct ts_app *app)
{
    const char *name = app->desc->name;
    install_stop_handlers();
    app->start = ts_monotonic_now();

    char err[256] = "";
    struct ts_netdev *dev = open_device_stack(app, err, sizeof err);
    if (dev == NULL) {
        fprintf(stderr, "%s: %s\n", name, err[0] ? err : "cannot open the device");
        return -1;
    }
    struct ts_stack_config cfg;
    build_stack_config(app, dev, &cfg);

    /* SIGUSR1 stays blocked in every thread: the usage thread takes it with sigwait. */
    ts_app_block_usage_signal();
    sigset_t old;
    block_stop_signals(&old);
    app->net = ts_net_start(&cfg, dev, err, sizeof err);
    bool usage_thread = app->net != NULL && ts_app_usage_thread_start(app) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (app->net == NULL) {
        /* ts_net_start owns dev from the call on, success or not. */
        app->impair_dev = NULL;
        fprintf(stderr, "%s: cannot start the stack on %s: %s\n", name, app->opt.dev,
                err[0] ? err : "unknown error");
        return -1;
    }
    if (!usage_thread)
        fprintf(stderr, "%s: no SIGUSR1 usage report (cannot start its thread)\n", name);
    return 0;
}

/* ---- counters and --stats ------------------------------------------------------ */

static void keep_counter(void *ctx, const char *layer, const char *name, uint64_t value)
{
    struct ts_app *app = ctx;
    if (value == 0)
        return;
    if (app->n_counters == app->cap_counters) {
        size_t cap = app->cap_counters ? app->cap_counters * 2 : 64;
        struct ts_app_counter *grown = realloc(app->counters, cap * sizeof *grown);
        if (grown == NULL)
            return; /* --stats is a report: a shorter one beats none */
        app->counters = grown;
        app->cap_counters = cap;
    }
    struct ts_app_counter *c = &app->counters[app->n_counters++];
    snprintf(c->layer, sizeof c->layer, "%s", layer);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->value = value;
}

/* Appends " name=value" to a layer's line, starting a new indented line past 78 columns. */
static void print_wrapped(const char *item, int *col)
{
    int len = (int)strlen(item);
    if (*col + 1 + len > 78) {
        fputs("\n        ", stderr); /* under the first item, past "  layer " */
        *col = 8;
    }
    fprintf(stderr, " %s", item);
    *col += 1 + len;
}

static void print_counters(const struct ts_app *app)
{
    fprintf(stderr, "%s: statistics (non-zero counters, seed %" PRIu64 ")\n", app->desc->name, app->opt.seed);
    if (app->n_counters == 0)
        fputs("  (every counter is zero)\n", stderr);
    const char *layer = NULL;
    int col = 0;
    for (size_t i = 0; i < app->n_counters; i++) {
        const struct ts_app_counter *c = &app->counters[i];
        if (layer == NULL || strcmp(layer, c->layer) != 0) {
            if (layer != NULL)
                fputc('\n', stderr);
            col = fprintf(stderr, "  %-6s", c->layer);
            layer = c->layer;
        }
        char item[80];
        snprintf(item, sizeof item, "%s=%" PRIu64, c->name, c->value);
        print_wrapped(item, &col);
    }
    if (layer != NULL)
        fputc('\n', stderr);
}

static void print_impair_stats(const struct ts_app *app)
{
    const struct ts_impair_stats *s = &app->impair_stats;
    fprintf(stderr,
            "  impair dropped=%" PRIu64 " reordered=%" PRIu64 " duplicated=%" PRIu64 " corrupted=%" PRIu64
            " delayed=%" PRIu64 "\n",
            s->dropped, s->reordered, s->duplicated, s->corrupted, s->delayed);
}

void ts_app_finish(struct ts_app *app)
{
    ts_app_usage_thread_stop(app);
    if (app->net != NULL) {
        /* Counters live in the stack, which ts_net_stop frees: copy them first. */
        ts_net_counters_foreach(app->net, keep_counter, app);
        ts_app_usage_snapshot(app->net, &app->usage);
        if (app->impair_dev != NULL) {
            ts_net_lock(app->net);
            ts_impair_get_stats(app->impair_dev, &app->impair_stats);
            ts_net_unlock(app->net);
        }
        ts_net_stop(app->net);
        app->net = NULL;
    }
    if (app->opt.stats) {
        print_counters(app);
        if (app->impair_dev != NULL)
            print_impair_stats(app);
        ts_app_usage_print(app->desc->name, &app->usage);
    }
    app->impair_dev = NULL;
    free(app->counters);
    app->counters = NULL;
    app->n_counters = app->cap_counters = 0;
}
