/*
 * The TCP trace explains itself (docs/trace.md): every trace or drop call in
 * stack/tcp*.c, every state change and every challenge ACK names the RFC rule
 * behind it, unless it is a frame line (rx/tx) or passes on a rule its caller
 * wrote ("why", "..._rule(...)"), which this check then finds at that caller.
 *
 * The sources are read from the tree this test was compiled from: CMake
 * compiles with absolute paths, so __FILE__ leads back to the repository.
 */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOURCE_MAX (256 * 1024)

/* The repository root: __FILE__ less "tests/unit/test_trace_sources.c". */
static void repo_root(char *out, size_t cap)
{
    const char *self = __FILE__;
    const char *tail = strstr(self, "tests/unit/test_trace_sources.c");
    cr_assert(self[0] == '/' && tail != NULL, "compiled from an unexpected path: %s", self);
    snprintf(out, cap, "%.*s", (int)(tail - self), self);
}

static size_t read_source(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot read %s", path);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    cr_assert_lt(n, cap - 1, "%s is larger than this check expects", path);
    buf[n] = '\0';
    return n;
}

/* Blanks out comments (keeping newlines, so line numbers hold), leaving string and character literals. */
static void strip_comments(char *s)
{
    for (char *p = s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\'') {
            char quote = *p;
            for (p++; *p != '\0' && *p != quote; p++)
                if (*p == '\\' && p[1] != '\0')
                    p++;
            if (*p == '\0')
                return;
        } else if (p[0] == '/' && p[1] == '*') {
            char *end = strstr(p + 2, "*/");
            char *stop = end != NULL ? end + 2 : p + strlen(p);
            for (; p < stop; p++)
                if (*p != '\n')
                    *p = ' ';
            p--;
        } else if (p[0] == '/' && p[1] == '/') {
            for (; *p != '\0' && *p != '\n'; p++)
                *p = ' ';
            if (*p == '\0')
                return;
        }
    }
}

/* From the "(" at open, the index just past its matching ")"; literals are copied (joined) into lits. */
static const char *call_end(const char *open, char *lits, size_t cap)
{
    int depth = 0;
    size_t used = 0;
    lits[0] = '\0';
    for (const char *p = open; *p != '\0'; p++) {
        if (*p == '"' || *p == '\'') {
            char quote = *p;
            for (p++; *p != '\0' && *p != quote; p++) {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                if (quote == '"' && used + 1 < cap)
                    lits[used++] = *p;
            }
            lits[used] = '\0';
            if (*p == '\0')
                return NULL;
        } else if (*p == '(') {
            depth++;
        } else if (*p == ')' && --depth == 0) {
            return p + 1;
        }
    }
    return NULL;
}

static unsigned line_of(const char *text, const char *at)
{
    unsigned line = 1;
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    return line;
}

static bool is_ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* The call passes on a rule written elsewhere: an argument named why, or a call to a function named *_rule. */
static bool passes_rule_on(const char *args, size_t len)
{
    for (size_t i = 0; i + 3 <= len; i++) {
        bool starts = i == 0 || !is_ident_char(args[i - 1]);
        if (starts && strncmp(args + i, "why", 3) == 0 && (i + 3 == len || !is_ident_char(args[i + 3])))
            return true;
        if (i + 6 <= len && strncmp(args + i, "_rule(", 6) == 0)
            return true;
    }
    return false;
}

static const char *const checked_calls[] = {"TS_TRACE(", "TS_DROP(", "tcp_set_state(", "tcp_challenge_ack("};

/* Checks every call in one file; returns how many were checked, failures reported through Criterion. */
static unsigned check_file(const char *path, const char *name)
{
    static char text[SOURCE_MAX];
    static char lits[4096];
    read_source(path, text, sizeof text);
    strip_comments(text);
    unsigned checked = 0;
    for (size_t k = 0; k < sizeof checked_calls / sizeof checked_calls[0]; k++) {
        const char *token = checked_calls[k];
        for (const char *p = strstr(text, token); p != NULL; p = strstr(p + 1, token)) {
            if (p > text && is_ident_char(p[-1]))
                continue;
            const char *open = p + strlen(token) - 1;
            const char *args = open + 1;
            while (*args == ' ' || *args == '\n')
                args++;
            if (strncmp(args, "struct ", 7) == 0)
                continue; /* the definition or a declaration, not a call */
            const char *end = call_end(open, lits, sizeof lits);
            cr_assert_not_null(end, "%s:%u: unbalanced call", name, line_of(text, p));
            checked++;
            size_t len = (size_t)(end - open);
            bool frame = strstr(lits, "RFC ") == NULL && k == 0 &&
                         (memmem(open, len, "TS_TRACE_RX", 11) != NULL || memmem(open, len, "TS_TRACE_TX", 11) != NULL);
            bool ok = strstr(lits, "RFC ") != NULL || frame || passes_rule_on(open, len);
            cr_expect(ok, "%s:%u: %.*s names no RFC rule", name, line_of(text, p), (int)(end - p), p);
        }
    }
    return checked;
}

Test(trace_sources, every_tcp_trace_drop_state_change_and_challenge_names_its_rfc_rule)
{
    char root[1024], dir[1100], path[1400];
    repo_root(root, sizeof root);
    snprintf(dir, sizeof dir, "%sstack", root);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot list %s", dir);
    unsigned files = 0, calls = 0;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "tcp", 3) != 0 || n < 3 || strcmp(e->d_name + n - 2, ".c") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        calls += check_file(path, e->d_name);
        files++;
    }
    closedir(d);
    cr_assert_geq(files, 8, "stack/tcp*.c not found under %s", dir);
    cr_assert_geq(calls, 100, "only %u calls found: the scanner no longer sees them", calls);
}
