/*
 * The options every tapstack app shares, parsed with getopt_long, and the
 * small value parsers the apps use for their own options.
 *
 * Every problem with the command line ends up as one line "NAME: <what is
 * wrong>" on stderr and exit status 2, so scripts can tell a usage error from
 * a run that failed.
 */
#define _GNU_SOURCE
#include "ts_app.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum common_option {
    OPT_DEV = 1000, /* above any character, so apps keep every short option letter */
    OPT_ADDR,
    OPT_GW,
    OPT_MAC,
    OPT_SEED,
    OPT_TRACE,
    OPT_PCAP,
    OPT_IMPAIR,
    OPT_STATS,
    OPT_OFFLOAD,
    OPT_HELP,
};

static const struct option common_long_opts[] = {
    {"dev", required_argument, NULL, OPT_DEV},
    {"addr", required_argument, NULL, OPT_ADDR},
    {"gw", required_argument, NULL, OPT_GW},
    {"mac", required_argument, NULL, OPT_MAC},
    {"seed", required_argument, NULL, OPT_SEED},
    {"trace", optional_argument, NULL, OPT_TRACE},
    {"pcap", required_argument, NULL, OPT_PCAP},
    {"impair", required_argument, NULL, OPT_IMPAIR},
    {"stats", no_argument, NULL, OPT_STATS},
    {"offload", required_argument, NULL, OPT_OFFLOAD},
    {"help", no_argument, NULL, OPT_HELP},
};
#define N_COMMON_OPTS (sizeof common_long_opts / sizeof common_long_opts[0])
#define MAX_LONG_OPTS 48

static const char common_help[] =
    "Common options:\n"
    "  --dev NAME           TAP interface to attach to (default tap0; created if missing)\n"
    "  --addr A.B.C.D/N     the stack's IPv4 address and prefix length\n"
    "  --gw A.B.C.D         default gateway, on the --addr subnet (default: none, on-link only)\n"
    "  --mac XX:XX:XX:XX:XX:XX\n"
    "                       the stack's MAC (default: the device's, else one derived from --dev)\n"
    "  --seed N             seed for IP IDs, ports and --impair (default: unpredictable)\n"
    "  --trace[=LAYERS]     print trace events on stderr: all layers, or a comma list of\n"
    "                       eth,arp,ip,icmp,udp,tcp,sock (write --trace=LIST, with '=')\n"
    "  --pcap FILE          capture what the stack sends and receives into FILE (pcap)\n"
    "  --impair SPEC        impair the link both ways, seeded from --seed, e.g.\n"
    "                       loss=3%,reorder=10%,dup=1%,corrupt=0.1%,delay=1ms\n"
    "  --stats              print non-zero counters and memory/limit usage on exit\n"
    "  --offload on|off     TAP checksum offload and TCP segmentation offload (TSO), when\n"
    "                       the kernel offers them (default on; always off under --impair)\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Needs CAP_NET_ADMIN for the TAP device (root, or a network namespace you own).\n"
    "SIGINT or SIGTERM stops the app cleanly (the capture is closed, --stats printed).\n"
    "SIGUSR1 prints the memory in use and each limit's occupancy on stderr while it runs.\n";

int ts_app_usage_error(const struct ts_app_desc *desc, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\n", desc->name, msg);
    return -1;
}

/* ---- value parsers ------------------------------------------------------ */

int ts_app_parse_ipv4(const char *text, ts_ipv4_addr *out)
{
    struct in_addr in;
    if (text == NULL || inet_pton(AF_INET, text, &in) != 1)
        return -1;
    *out = ntohl(in.s_addr);
    return 0;
}

struct sockaddr_in ts_app_sockaddr(ts_ipv4_addr addr, uint16_t port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(addr);
    sa.sin_port = htons(port);
    return sa;
}

bool ts_app_fin_acknowledged(int fd)
{
    struct ts_tcp_info info;
    if (ts_tcp_info(fd, &info) < 0)
        return true;
    return info.state == TS_TCP_FIN_WAIT_2 || info.state == TS_TCP_TIME_WAIT || info.state == TS_TCP_CLOSED;
}

const char *ts_app_format_ipv4(ts_ipv4_addr addr, char *buf)
{
    snprintf(buf, 16, "%u.%u.%u.%u", (unsigned)(addr >> 24), (unsigned)(addr >> 16) & 0xffu,
             (unsigned)(addr >> 8) & 0xffu, (unsigned)addr & 0xffu);
    return buf;
}

int ts_app_parse_u64(const char *text, uint64_t max, uint64_t *out)
{
    /* strtoull accepts a sign and leading blanks; a count or a seed never has either. */
    if (text == NULL || !isdigit((unsigned char)text[0]))
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

int ts_app_parse_seconds(const char *text, ts_time min, ts_time max, ts_time *out)
{
    if (text == NULL || !(isdigit((unsigned char)text[0]) || text[0] == '.'))
        return -1;
    errno = 0;
    char *end = NULL;
    double s = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(s >= 0.0) || s > 1e9)
        return -1;
    ts_time us = (ts_time)(s * 1e6 + 0.5);
    if (us < min || us > max)
        return -1;
    *out = us;
    return 0;
}

static int parse_mac(const char *text, uint8_t mac[6])
{
    for (int i = 0; i < 6; i++) {
        const char *p = text + i * 3;
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
            return -1;
        char sep = p[2];
        if ((i < 5 && sep != ':') || (i == 5 && sep != '\0'))
            return -1;
        char hex[3] = {p[0], p[1], '\0'};
        mac[i] = (uint8_t)strtoul(hex, NULL, 16);
    }
    return 0;
}

/* ---- the common options ------------------------------------------------- */

static ts_ipv4_addr prefix_mask(uint8_t prefix_len)
{
    return prefix_len == 0 ? 0 : (ts_ipv4_addr)(0xffffffffu << (32 - prefix_len));
}

/* Why addr/prefix cannot be a host's own address, or NULL if it can. */
static const char *unusable_host_address(ts_ipv4_addr addr, uint8_t prefix_len)
{
    ts_ipv4_addr mask = prefix_mask(prefix_len);
    if (addr == 0)
        return "0.0.0.0 means 'no address'";
    if ((addr >> 28) == 0xe)
        return "a multicast address cannot be a host's address";
    if ((addr >> 24) == 127)
        return "loopback addresses never appear on a link";
    if (addr == 0xffffffffu)
        return "the limited broadcast address cannot be a host's address";
    /* RFC 3021: /31 and /32 have no network or broadcast address to avoid. */
    if (prefix_len <= 30 && (addr & ~mask) == 0)
        return "that is the subnet's network address";
    if (prefix_len <= 30 && (addr & ~mask) == ~mask)
        return "that is the subnet's broadcast address";
    return NULL;
}

static int parse_addr_prefix(const struct ts_app_desc *desc, const char *text, struct ts_app_options *o)
{
    const char *slash = strchr(text, '/');
    char ip[32];
    if (slash == NULL || (size_t)(slash - text) >= sizeof ip)
        return ts_app_usage_error(desc, "--addr '%s': expected A.B.C.D/N, e.g. 10.0.0.2/24", text);
    memcpy(ip, text, (size_t)(slash - text));
    ip[slash - text] = '\0';
    uint64_t prefix = 0;
    if (ts_app_parse_ipv4(ip, &o->addr) < 0)
        return ts_app_usage_error(desc, "--addr '%s': '%s' is not an IPv4 address A.B.C.D", text, ip);
    if (ts_app_parse_u64(slash + 1, 32, &prefix) < 0 || (slash[1] == '0' && slash[2] != '\0'))
        return ts_app_usage_error(desc, "--addr '%s': the prefix length must be 0..32", text);
    o->prefix_len = (uint8_t)prefix;
    const char *why = unusable_host_address(o->addr, o->prefix_len);
    if (why != NULL)
        return ts_app_usage_error(desc, "--addr '%s': %s", text, why);
    return 0;
}

static int handle_common(const struct ts_app_desc *desc, int opt, const char *arg, struct ts_app_options *o,
                         bool *addr_given)
{
    char err[256];
    switch (opt) {
    case OPT_DEV:
        if (arg[0] == '\0' || strlen(arg) >= 16 || strchr(arg, '/') != NULL)
            return ts_app_usage_error(desc, "--dev '%s': not a valid interface name (1..15 characters, no '/')", arg);
        o->dev = arg;
        return 0;
    case OPT_ADDR:
        *addr_given = true;
        return parse_addr_prefix(desc, arg, o);
    case OPT_GW:
        if (ts_app_parse_ipv4(arg, &o->gateway) < 0 || o->gateway == 0)
            return ts_app_usage_error(desc, "--gw '%s': expected an IPv4 address A.B.C.D", arg);
        return 0;
    case OPT_MAC:
        if (parse_mac(arg, o->mac) < 0)
            return ts_app_usage_error(desc, "--mac '%s': expected six hex pairs XX:XX:XX:XX:XX:XX", arg);
        if (o->mac[0] & 1u)
            return ts_app_usage_error(desc, "--mac '%s': a multicast MAC cannot be a host's address", arg);
        if ((o->mac[0] | o->mac[1] | o->mac[2] | o->mac[3] | o->mac[4] | o->mac[5]) == 0)
            return ts_app_usage_error(desc, "--mac '%s': the all-zero MAC is not a host's address", arg);
        o->has_mac = true;
        return 0;
    case OPT_SEED:
        if (ts_app_parse_u64(arg, UINT64_MAX, &o->seed) < 0)
            return ts_app_usage_error(desc, "--seed '%s': expected an unsigned 64-bit number", arg);
        o->has_seed = true;
        return 0;
    case OPT_TRACE:
        o->trace = true;
        o->trace_mask = TS_TRACE_ALL;
        if (arg != NULL && ts_trace_parse_mask(arg, &o->trace_mask) < 0)
            return ts_app_usage_error(desc, "--trace=%s: unknown layer (use all, none or a list of "
                                            "eth,arp,ip,icmp,udp,tcp,sock)", arg);
        return 0;
    case OPT_PCAP:
        if (arg[0] == '\0')
            return ts_app_usage_error(desc, "--pcap needs a file name");
        o->pcap_path = arg;
        return 0;
    case OPT_IMPAIR:
        err[0] = '\0';
        if (ts_impair_parse(arg, &o->impair, err, sizeof err) < 0) {
            if (err[0] != '\0') /* the parser's message already quotes the bad part */
                return ts_app_usage_error(desc, "--impair: %s", err);
            return ts_app_usage_error(desc, "--impair '%s': malformed", arg);
        }
        o->has_impair = true;
        return 0;
    case OPT_STATS:
        o->stats = true;
        return 0;
    case OPT_OFFLOAD:
        if (strcmp(arg, "on") == 0)
            o->offload = true;
        else if (strcmp(arg, "off") == 0)
            o->offload = false;
        else
            return ts_app_usage_error(desc, "--offload '%s': expected on or off", arg);
        return 0;
    default:
        assert(!"handle_common called with an app option");
        return -1;
    }
}

static void print_help(const struct ts_app_desc *desc)
{
    printf("Usage: %s %s\n%s\n\n", desc->name, desc->usage, desc->summary);
    if (desc->app_help != NULL)
        printf("%s options:\n%s\n", desc->name, desc->app_help);
    fputs(common_help, stdout);
    if (desc->default_addr != NULL)
        printf("Default --addr for %s: %s.\n", desc->name, desc->default_addr);
    else
        printf("--addr is required for %s.\n", desc->name);
}

/* Joins the common long options and the app's into one getopt_long table. */
static void build_option_table(const struct ts_app_desc *desc, struct option *table)
{
    size_t n = 0;
    for (size_t i = 0; i < N_COMMON_OPTS; i++)
        table[n++] = common_long_opts[i];
    for (const struct option *o = desc->long_opts; o != NULL && o->name != NULL; o++) {
        assert(n + 1 < MAX_LONG_OPTS && "too many app options for the table");
        table[n++] = *o;
    }
    memset(&table[n], 0, sizeof table[n]);
}

/* getopt_long reports a problem as '?' or ':'; say which, naming the option as typed. */
static int report_getopt_error(const struct ts_app_desc *desc, int ret, const char *typed)
{
    bool is_long = strncmp(typed, "--", 2) == 0;
    if (ret == ':') {
        if (is_long)
            return ts_app_usage_error(desc, "option '%s' needs a value (try --help)", typed);
        return ts_app_usage_error(desc, "option '-%c' needs a value (try --help)", optopt);
    }
    if (is_long && strchr(typed, '=') != NULL)
        return ts_app_usage_error(desc, "option '%.*s' takes no value, or is unknown (try --help)",
                                  (int)(strchr(typed, '=') - typed), typed);
    if (is_long)
        return ts_app_usage_error(desc, "unknown option '%s' (try --help)", typed);
    return ts_app_usage_error(desc, "unknown option '-%c' (try --help)", optopt);
}

static int check_combination(const struct ts_app_desc *desc, struct ts_app_options *o, bool addr_given)
{
    if (!addr_given) {
        if (desc->default_addr == NULL)
            return ts_app_usage_error(desc, "--addr A.B.C.D/N is required (try --help)");
        /* The default is the app's own constant: it parses, or the app is broken. */
        if (parse_addr_prefix(desc, desc->default_addr, o) < 0)
            return -1;
    }
    if (o->gateway != 0) {
        ts_ipv4_addr mask = prefix_mask(o->prefix_len);
        if ((o->gateway & mask) != (o->addr & mask) || o->gateway == o->addr) {
            char gw[16];
            return ts_app_usage_error(desc, "--gw %s: the gateway must be another host on the --addr subnet",
                                      ts_app_format_ipv4(o->gateway, gw));
        }
    }
    if (!o->has_seed) {
        if (ts_os_random(&o->seed, sizeof o->seed) < 0) {
            fprintf(stderr, "%s: cannot read random bytes for the seed; pass --seed N\n", desc->name);
            return -1;
        }
    }
    return 0;
}

int ts_app_parse(const struct ts_app_desc *desc, int argc, char **argv, struct ts_app *app)
{
    memset(app, 0, sizeof *app);
    app->desc = desc;
    struct ts_app_options *o = &app->opt;
    o->dev = "tap0";
    o->offload = true;

    struct option table[MAX_LONG_OPTS];
    build_option_table(desc, table);
    /* ':' first: a missing value comes back as ':' rather than '?'; opterr 0: we word the messages. */
    char shorts[64];
    snprintf(shorts, sizeof shorts, ":h%s", desc->short_opts != NULL ? desc->short_opts : "");
    opterr = 0;
    optind = 0; /* glibc: 0 also resets its internal state */

    bool addr_given = false;
    int ret;
    while ((ret = getopt_long(argc, argv, shorts, table, NULL)) != -1) {
        if (ret == '?' || ret == ':') {
            report_getopt_error(desc, ret, argv[optind - 1]);
            return TS_APP_EXIT_USAGE;
        }
        if (ret == 'h' || ret == OPT_HELP) {
            print_help(desc);
            return TS_APP_EXIT_OK;
        }
        int rc = ret >= OPT_DEV && ret <= OPT_OFFLOAD ? handle_common(desc, ret, optarg, o, &addr_given)
                                                     : desc->handle(desc->ctx, ret, optarg);
        if (rc < 0)
            return TS_APP_EXIT_USAGE;
    }
    for (int i = optind; i < argc; i++) {
        if (desc->handle == NULL) {
            ts_app_usage_error(desc, "unexpected argument '%s' (try --help)", argv[i]);
            return TS_APP_EXIT_USAGE;
        }
        if (desc->handle(desc->ctx, 0, argv[i]) < 0)
            return TS_APP_EXIT_USAGE;
    }
    if (check_combination(desc, o, addr_given) < 0)
        return TS_APP_EXIT_USAGE;
    return TS_APP_PARSE_CONTINUE;
}
