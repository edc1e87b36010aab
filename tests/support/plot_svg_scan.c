/* See plot_svg_scan.h. */
#include "plot_svg_scan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *plot_scan_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t room = 1 << 16, len = 0;
    char *buf = malloc(room);
    size_t n;
    while (buf != NULL && (n = fread(buf + len, 1, room - len - 1, f)) > 0) {
        len += n;
        if (room - len - 1 == 0) {
            char *grown = realloc(buf, room * 2);
            if (grown == NULL) {
                free(buf);
                buf = NULL;
            }
            buf = grown;
            room *= 2;
        }
    }
    fclose(f);
    if (buf != NULL)
        buf[len] = '\0';
    return buf;
}

/* The value of attribute name within [elem, the element's '>'), as a pointer and a length. */
static const char *attr_span(const char *elem, const char *name, size_t *len)
{
    const char *end = strchr(elem, '>');
    if (end == NULL)
        return NULL;
    size_t nlen = strlen(name);
    for (const char *p = elem; p + nlen + 2 < end; p++) {
        if (p[-1] != ' ' || strncmp(p, name, nlen) != 0 || p[nlen] != '=' || p[nlen + 1] != '"')
            continue;
        const char *v = p + nlen + 2;
        const char *q = strchr(v, '"');
        if (q == NULL || q > end)
            return NULL;
        *len = (size_t)(q - v);
        return v;
    }
    return NULL;
}

static bool has_word(const char *list, size_t len, const char *word)
{
    size_t wl = strlen(word);
    for (size_t i = 0; i + wl <= len; i++) {
        bool starts = i == 0 || list[i - 1] == ' ';
        bool ends = i + wl == len || list[i + wl] == ' ';
        if (starts && ends && strncmp(list + i, word, wl) == 0)
            return true;
    }
    return false;
}

const char *plot_scan_next(const char *from, const char *cls, const char *attr)
{
    for (const char *p = strchr(from, '<'); p != NULL; p = strchr(p + 1, '<')) {
        size_t len;
        const char *c = attr_span(p + 1, "class", &len);
        const char *end = strchr(p, '>');
        if (c == NULL || end == NULL || c > end || !has_word(c, len, cls))
            continue;
        if (attr != NULL && attr_span(p + 1, attr, &len) == NULL)
            continue;
        return p;
    }
    return NULL;
}

size_t plot_scan_count(const char *svg, const char *cls, const char *attr)
{
    size_t n = 0;
    for (const char *p = plot_scan_next(svg, cls, attr); p != NULL; p = plot_scan_next(p + 1, cls, attr))
        n++;
    return n;
}

bool plot_scan_attr(const char *elem, const char *name, char *out, size_t outlen)
{
    size_t len;
    const char *v = attr_span(elem + 1, name, &len);
    if (v == NULL || outlen == 0)
        return false;
    if (len >= outlen)
        len = outlen - 1;
    memcpy(out, v, len);
    out[len] = '\0';
    return true;
}

double plot_scan_attr_num(const char *elem, const char *name)
{
    char buf[64];
    return plot_scan_attr(elem, name, buf, sizeof buf) ? strtod(buf, NULL) : NAN;
}

size_t plot_scan_list(const char *elem, const char *name, double *out, size_t max)
{
    size_t len;
    const char *v = attr_span(elem + 1, name, &len);
    if (v == NULL)
        return 0;
    size_t n = 0;
    const char *end = v + len;
    for (const char *p = v; p < end;) {
        char *next;
        double d = strtod(p, &next);
        if (next == p)
            break;
        if (n < max)
            out[n] = d;
        n++;
        p = next;
    }
    return n;
}
