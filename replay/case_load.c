/*
 * Loading a replay case (the case file and its capture) and the growable text
 * the harness writes its reports into.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay_internal.h"

/* ---- growable text ---------------------------------------------------------------- */

void replay_buf_vprintf(struct replay_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t ncap = (b->cap ? b->cap * 2 : 256);
        while (ncap < b->len + (size_t)n + 1)
            ncap *= 2;
        char *ns = realloc(b->s, ncap);
        if (!ns)
            return; /* the text is only a report: losing its end beats crashing */
        b->s = ns;
        b->cap = ncap;
    }
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    b->len += (size_t)n;
}

void replay_buf_printf(struct replay_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    replay_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *replay_buf_take(struct replay_buf *b)
{
    char *s = b->s ? b->s : strdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

void replay_buf_free(struct replay_buf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

/* ---- loading -------------------------------------------------------------------------- */

static char *read_text(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct replay_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk) - 1, f)) > 0) {
        chunk[n] = '\0';
        if (strlen(chunk) != n) {
            snprintf(err, errlen, "%s: a case file is text, this one holds a NUL byte", path);
            fclose(f);
            replay_buf_free(&b);
            return NULL;
        }
        replay_buf_printf(&b, "%s", chunk);
    }
    fclose(f);
    return replay_buf_take(&b);
}

static char *name_of(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".case") == 0)
        n -= 5;
    return strndup(base, n);
}

static char *default_capture(const char *path)
{
    size_t n = strlen(path);
    if (n > 5 && strcmp(path + n - 5, ".case") == 0)
        n -= 5;
    char *p = malloc(n + 6);
    if (p)
        snprintf(p, n + 6, "%.*s.pcap", (int)n, path);
    return p;
}

static int load_capture(struct replay_case *c, char *err, size_t errlen)
{
    if (replay_capture_read(c->capture_path, &c->frames, &c->n_frames, err, errlen) != 0)
        return -1;
    if (c->n_frames == 0) {
        snprintf(err, errlen, "%s: no frames (run tests/replay/tools/mkcaptures or scripts/record-case.sh first)",
                 c->capture_path);
        return -1;
    }
    if (!c->start_given)
        c->start_abs = c->frames[0].t;
    if (c->frames[0].t < c->start_abs) {
        snprintf(err, errlen, "%s: the case's start is after the capture's first frame", c->path);
        return -1;
    }
    for (size_t i = 0; i < c->n_frames; i++) {
        struct replay_frame *f = &c->frames[i];
        if (i > 0 && f->t < c->frames[i - 1].t) {
            snprintf(err, errlen, "%s: frame %zu is older than the frame before it", c->capture_path, i + 1);
            return -1;
        }
        f->t -= c->start_abs;
        f->from_stack = f->len >= 12 && memcmp(f->data + 6, c->cfg.mac, 6) == 0;
    }
    return 0;
}

static int load(const char *case_path, bool with_capture, struct replay_case **out, char *err, size_t errlen);

int replay_case_load(const char *case_path, struct replay_case **out, char *err, size_t errlen)
{
    return load(case_path, true, out, err, errlen);
}

int replay_case_load_script(const char *case_path, struct replay_case **out, char *err, size_t errlen)
{
    return load(case_path, false, out, err, errlen);
}

static int load(const char *case_path, bool with_capture, struct replay_case **out, char *err, size_t errlen)
{
    char perr[512] = "";
    *out = NULL;
    struct replay_case *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->path = strdup(case_path);
    c->name = name_of(case_path);
    char *text = read_text(case_path, err, errlen);
    if (!c->path || !c->name || !text) {
        if (!text && c->path && c->name)
            goto fail; /* read_text wrote the message */
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (replay_case_parse(c, text, perr, sizeof(perr)) != 0) {
        snprintf(err, errlen, "%s: %s", case_path, perr);
        goto fail;
    }
    if (!c->capture_path && !(c->capture_path = default_capture(case_path))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (with_capture && load_capture(c, err, errlen) != 0)
        goto fail;
    free(text);
    *out = c;
    return 0;
fail:
    free(text);
    replay_case_free(c);
    return -1;
}

int replay_case_load_text(const char *name, const char *text, const char *capture_path, struct replay_case **out,
                          char *err, size_t errlen)
{
    char perr[512] = "";
    *out = NULL;
    struct replay_case *c = calloc(1, sizeof(*c));
    if (!c || !(c->path = strdup(name)) || !(c->name = strdup(name))) {
        snprintf(err, errlen, "out of memory");
        replay_case_free(c);
        return -1;
    }
    if (replay_case_parse(c, text, perr, sizeof(perr)) != 0) {
        snprintf(err, errlen, "the setup made for %s: %s", capture_path, perr);
        replay_case_free(c);
        return -1;
    }
    free(c->capture_path);
    if (!(c->capture_path = strdup(capture_path))) {
        snprintf(err, errlen, "out of memory");
        replay_case_free(c);
        return -1;
    }
    if (load_capture(c, err, errlen) != 0) {
        replay_case_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void replay_case_free(struct replay_case *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_actions; i++)
        free(c->actions[i].payload);
    free(c->actions);
    free(c->counters);
    replay_frames_free(c->frames, c->n_frames);
    free(c->path);
    free(c->name);
    free(c->capture_path);
    free(c->description);
    free(c);
}

const char *replay_case_name(const struct replay_case *c) { return c->name; }
const char *replay_case_description(const struct replay_case *c) { return c->description ? c->description : ""; }
const char *replay_case_capture_path(const struct replay_case *c) { return c->capture_path; }
bool replay_case_is_synthetic(const struct replay_case *c) { return c->synthetic; }
size_t replay_case_frame_count(const struct replay_case *c) { return c->n_frames; }

char *replay_case_review(const struct replay_case *c)
{
    return replay_review(c->frames, c->n_frames);
}

struct replay_frame *replay_case_frame(struct replay_case *c, size_t i)
{
    return i < c->n_frames ? &c->frames[i] : NULL;
}
