/*
 * The benchmark's wire protocol, shared by every server (tapstack, lwIP, the
 * kernel) and the client, so each system runs exactly the same logic.
 *
 * TCP, port BENCH_TCP_PORT: the client's first line on a connection picks what
 * the connection does (bench/README.md has the table):
 *   DISCARD\n              read and drop everything until EOF, then close
 *   SOURCE\n               send as fast as the window allows until the peer goes away
 *   ECHO\n                 send back every byte read, until EOF
 *   HOLD\n                 park the connection: the server stops watching it
 *   RELEASE\n              close every parked connection, answer "OK n\n", close
 *   STATS\n                answer one JSON line of server statistics, close
 *   USOURCE port secs size\n  send size-byte UDP datagrams to the client's address:port
 *                          for secs seconds, answer "OK sent\n", close
 * UDP, port BENCH_UDP_PORT: a sink; datagrams are counted.
 */
#ifndef BENCH_PROTO_H
#define BENCH_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_TCP_PORT 5001
#define BENCH_UDP_PORT 5002
#define BENCH_LINE_MAX 64
/* The largest datagram USOURCE sends (a payload that fits one Ethernet frame). */
#define BENCH_UDP_MAX 1472
/* Enough descriptors for 100k held connections plus the rest. */
#define BENCH_NOFILE 220000

enum bench_cmd_type { BENCH_CMD_NONE, BENCH_CMD_DISCARD, BENCH_CMD_SOURCE, BENCH_CMD_ECHO, BENCH_CMD_HOLD,
                      BENCH_CMD_RELEASE, BENCH_CMD_STATS, BENCH_CMD_USOURCE, BENCH_CMD_BAD };

struct bench_cmd {
    enum bench_cmd_type type;
    uint16_t port;      /* USOURCE */
    double seconds;     /* USOURCE */
    uint32_t size;      /* USOURCE */
};

/* Collects a connection's command line across reads. */
struct bench_line {
    char text[BENCH_LINE_MAX];
    size_t len;
};

/*
 * Feeds bytes to the line collector. Returns how many bytes of data belonged to
 * the command line (the rest is payload for the chosen mode). When the line is
 * complete, *cmd is filled (BENCH_CMD_BAD for an unknown or too long line);
 * until then cmd->type stays BENCH_CMD_NONE.
 */
size_t bench_line_feed(struct bench_line *line, const uint8_t *data, size_t len, struct bench_cmd *cmd);

/* Parses one command line without its newline. */
struct bench_cmd bench_parse_command(const char *text);

/* What every server reports for STATS. Unknown numbers are -1 and printed as null. */
struct bench_stats {
    const char *system;       /* "tapstack", "lwip", "kernel" */
    int64_t stack_mem;        /* the stack's own count of its heap bytes */
    int64_t heap;             /* process heap in use (mallinfo2) */
    int64_t kmem;             /* kernel: slab + TCP pages (whole machine) */
    int64_t conns;            /* connections the server is serving now */
    int64_t parked;           /* connections parked by HOLD */
    int64_t udp_rx;           /* datagrams received on the sink */
    int64_t udp_rx_bytes;
    int64_t accepted;         /* connections accepted since start */
    const char *extra;        /* a JSON object's members to append (no braces), or NULL */
};

void bench_stats_init(struct bench_stats *s, const char *system);
/* One line of JSON with a trailing newline into buf; returns its length (cut at cap). */
size_t bench_stats_json(const struct bench_stats *s, char *buf, size_t cap);

/* Heap bytes in use in this process (malloc's arena plus mmapped blocks). */
int64_t bench_heap_in_use(void);
/* The machine's slab bytes plus the kernel's TCP memory pages (for the kernel's own stack). */
int64_t bench_kernel_mem(void);
/* Raises RLIMIT_NOFILE to BENCH_NOFILE (or as far as allowed). */
void bench_raise_nofile(void);
/* Monotonic time in microseconds. */
uint64_t bench_now_us(void);

#endif
