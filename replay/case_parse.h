/*
 * What the case file's two parsers share: case_file.c (lines, tokens, values,
 * directives) and case_actions.c (the `at T ACTION ...` lines). Internal to
 * the harness.
 */
#ifndef TS_REPLAY_CASE_PARSE_H
#define TS_REPLAY_CASE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replay_internal.h"

#define CASE_MAX_TOKENS 32

struct case_token {
    char *text; /* NUL-terminated; for a quoted token, the decoded bytes */
    size_t len;
    bool quoted;
};

struct case_line {
    struct replay_case *c;
    unsigned line;
    char *err;
    size_t errlen;
    struct case_token tok[CASE_MAX_TOKENS];
    unsigned n;
    unsigned pings; /* ping actions so far, for the default sequence number */
};

/* Writes "line N: message" into the error buffer and returns -1. */
int case_fail(struct case_line *lc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Token i, or NULL after reporting that the directive needs `what`. */
const char *case_want(struct case_line *lc, unsigned i, const char *what);
int case_parse_uint(struct case_line *lc, const char *s, uint64_t max, const char *what, uint64_t *out);
int case_parse_addr(struct case_line *lc, const char *s, ts_ipv4_addr *out);
int case_parse_dur(struct case_line *lc, const char *s, const char *what, ts_time *out);
int case_hexval(char ch);
/* "10.0.0.1:80" into an address and a port. */
int case_parse_endpoint(struct case_line *lc, const char *s, ts_ipv4_addr *addr, uint16_t *port);
/* A TCP state name as ts_tcp_state_name spells it ("TIME-WAIT"; "TIME_WAIT" too). */
int case_parse_tcp_state(struct case_line *lc, const char *s, int *state);
/* An errno name a TCP socket reports (ECONNREFUSED, ...), or "none" for 0. */
int case_parse_errno(struct case_line *lc, const char *s, int *err);

/* Parses the action of an `at T ACTION ...` line (tokens from 2 on) into a. */
int case_parse_action(struct case_line *lc, struct replay_action *a);

#endif
