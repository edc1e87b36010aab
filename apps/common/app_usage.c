/*
 * Memory and limit occupancy for --stats and SIGUSR1.
 *
 * A running app prints what its stack holds against each limit ("syn queue
 * 12/128") whenever it gets SIGUSR1. The signal is blocked in every thread
 * and taken by sigwait in a small thread of its own, so printing (which takes
 * the net's lock) never runs inside a signal handler.
 */
#define _GNU_SOURCE
#include "ts_app.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

void ts_app_usage_snapshot(struct ts_net *net, struct ts_app_usage *out)
{
    memset(out, 0, sizeof *out);
    ts_net_lock(net);
    const struct ts_stack *st = ts_net_stack(net);
    ts_stack_get_usage(st, &out->usage);
    out->limits = ts_stack_config_of(st)->limits;
    ts_net_unlock(net);
    out->valid = true;
}

void ts_app_usage_print(const char *app_name, const struct ts_app_usage *snap)
{
    const struct ts_stack_usage *u = &snap->usage;
    const struct ts_stack_limits *l = &snap->limits;
    if (!snap->valid)
        return;
    fprintf(stderr,
            "%s: usage (now/limit)\n"
            "  memory %zu bytes, high water %zu bytes\n"
            "  pbufs %zu, high water %zu\n"
            "  sockets %u/%u, time-wait %u\n"
            "  syn queue %u/%u, high water %u\n"
            "  accept queue %u/%u\n"
            "  tcp ooo %zu/%zu bytes, %u/%u segments\n"
            "  arp table %u/%u, queued %u/%u, high water %u\n"
            "  reassembly %u/%u datagrams, %zu/%zu bytes, high water %zu\n"
            "  udp receive queue %zu bytes, loopback %u\n",
            app_name, u->memory_bytes, u->memory_high_water, u->pbufs, u->pbufs_high_water, u->sockets,
            l->max_sockets, u->tcp_time_wait, u->tcp_syn_queue, l->tcp_syn_queue, u->tcp_syn_queue_high_water,
            u->tcp_accept_queue, u->tcp_accept_backlog, u->tcp_ooo_bytes, l->tcp_ooo_max_bytes, u->tcp_ooo_segments,
            l->tcp_ooo_max_segments, u->arp_entries, l->arp_cache_entries, u->arp_queued, l->arp_queue_total,
            u->arp_queued_high_water, u->reasm_datagrams, l->reasm_max_datagrams, u->reasm_bytes, l->reasm_max_bytes,
            u->reasm_bytes_high_water, u->udp_queued_bytes, u->loopback_queued);
}

/* ---- SIGUSR1 ------------------------------------------------------------------- */

static void *usage_signal_thread(void *arg)
{
    struct ts_app *app = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        /* ts_app_usage_thread_stop raises the flag before it sends the signal that wakes us. */
        if (__atomic_load_n(&app->usage_thread_quit, __ATOMIC_ACQUIRE))
            return NULL;
        struct ts_app_usage snap;
        ts_app_usage_snapshot(app->net, &snap);
        ts_app_usage_print(app->desc->name, &snap);
    }
}

void ts_app_block_usage_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int ts_app_usage_thread_start(struct ts_app *app)
{
    app->usage_thread_quit = false;
    if (pthread_create(&app->usage_thread, NULL, usage_signal_thread, app) != 0)
        return -1;
    app->usage_thread_running = true;
    return 0;
}

void ts_app_usage_thread_stop(struct ts_app *app)
{
    if (!app->usage_thread_running)
        return;
    __atomic_store_n(&app->usage_thread_quit, true, __ATOMIC_RELEASE);
    pthread_kill(app->usage_thread, SIGUSR1);
    pthread_join(app->usage_thread, NULL);
    app->usage_thread_running = false;
}
