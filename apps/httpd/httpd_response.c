/*
 * ts-httpd's responses: mapping a request to a file under the root, the
 * directory index, error pages and the header fields every response carries
 * (RFC 9110 section 6.6.1 Date, 10.2.4 Server, 8.3 Content-Type, 8.6
 * Content-Length).
 *
 * The root cannot be escaped: the request path is decoded and ".." refused
 * before it is used (http_target_to_path), and the file is opened with
 * openat2(RESOLVE_BENEATH), so a symbolic link inside the root that points
 * outside it is not followed either (where the kernel lacks openat2, plain
 * openat, with the ".." check alone).
 */
#define _GNU_SOURCE
#include "httpd_response.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define HTTPD_SERVER_NAME "ts-httpd/0.1 (tapstack)"
#define HTTPD_ALLOW "GET, HEAD"
#define HTTPD_INDEX_FILE "index.html"
/* A listing stops here: one request must not cost unbounded memory and time. */
#define HTTPD_LISTING_MAX_ENTRIES 10000
#define HTTPD_PATH_MAX 4096

/* ---- byte strings -------------------------------------------------------------------- */

static void buf_reserve(struct httpd_buf *b, size_t extra)
{
    if (b->failed || b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (grown == NULL) {
        b->failed = true;
        return;
    }
    b->data = grown;
    b->cap = cap;
}

static void buf_append(struct httpd_buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_puts(struct httpd_buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void buf_printf(struct httpd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    buf_reserve(b, (size_t)n);
    if (b->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Text for HTML: the five characters with a meaning there become references. */
static void buf_html_escaped(struct httpd_buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&': buf_puts(b, "&amp;"); break;
        case '<': buf_puts(b, "&lt;"); break;
        case '>': buf_puts(b, "&gt;"); break;
        case '"': buf_puts(b, "&quot;"); break;
        case '\'': buf_puts(b, "&#39;"); break;
        default: buf_append(b, s, 1); break;
        }
    }
}

/* A file name as a URI path segment: everything but RFC 3986's unreserved characters percent-encoded. */
static void buf_uri_segment(struct httpd_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c)) {
            buf_append(b, s, 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_append(b, esc, 3);
        }
    }
}

void httpd_response_free(struct httpd_response *resp)
{
    free(resp->head.data);
    free(resp->body.data);
    if (resp->file_fd >= 0)
        close(resp->file_fd);
    memset(resp, 0, sizeof *resp);
    resp->file_fd = -1;
}

/* ---- opening under the root ------------------------------------------------------------- */

static int open_beneath(int root_fd, const char *rel, int flags)
{
    if (rel[0] == '\0')
        rel = ".";
#ifdef SYS_openat2
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)flags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, root_fd, rel, &how, sizeof how);
    /* Older kernels lack openat2; some sandboxes refuse it with EPERM. */
    if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
        return (int)fd;
#endif
    return openat(root_fd, rel, flags);
}

static int status_for_open_error(int err)
{
    switch (err) {
    case EACCES:
    case EPERM:
        return 403;
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
    case EXDEV: /* RESOLVE_BENEATH: the path leads out of the root */
    case ENAMETOOLONG:
        return 404;
    default:
        return 500;
    }
}

/* ---- the head ---------------------------------------------------------------------------- */

static void begin_head(struct httpd_response *resp)
{
    char date[HTTP_DATE_LEN];
    http_format_date(time(NULL), date);
    buf_printf(&resp->head, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: %s\r\n", resp->status,
               http_reason_phrase(resp->status), date, HTTPD_SERVER_NAME);
}

static void end_head(struct httpd_response *resp, const struct http_request *req, const char *content_type)
{
    struct httpd_buf *h = &resp->head;
    if (content_type != NULL)
        buf_printf(h, "Content-Type: %s\r\n", content_type);
    buf_printf(h, "Content-Length: %" PRIu64 "\r\n", resp->content_length);
    if (resp->close)
        buf_puts(h, "Connection: close\r\n");
    else if (req != NULL && req->version_minor == 0)
        buf_puts(h, "Connection: keep-alive\r\n"); /* an HTTP/1.0 client that asked for it */
    buf_puts(h, "\r\n");
}

/* ---- error pages --------------------------------------------------------------------------- */

/*
 * Statuses after which the rest of the stream cannot be trusted to start at a request line: the
 * head was malformed or too long, or the server gave up waiting for it.
 */
static bool status_closes_connection(int status)
{
    return status == 400 || status == 408 || status == 414 || status == 505 || status == 500;
}

static void build_error(struct httpd_response *resp, const struct http_request *req, const char *detail)
{
    int status = resp->status;
    buf_printf(&resp->body,
               "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n<body><h1>%d %s</h1>\n<p>", status,
               http_reason_phrase(status), status, http_reason_phrase(status));
    buf_html_escaped(&resp->body, detail);
    buf_puts(&resp->body, "</p>\n</body></html>\n");
    resp->content_length = resp->body.len;
    if (status_closes_connection(status))
        resp->close = true;
    begin_head(resp);
    if (status == 405)
        buf_puts(&resp->head, "Allow: " HTTPD_ALLOW "\r\n"); /* RFC 9110 section 15.5.6 */
    end_head(resp, req, "text/html; charset=utf-8");
}

static const char *error_detail(int status)
{
    switch (status) {
    case 400: return "The request is malformed.";
    case 403: return "You may not read this.";
    case 404: return "Nothing here by that name.";
    case 405: return "This server only reads: GET and HEAD.";
    case 408: return "The request did not arrive in time.";
    case 414: return "The request path is too long.";
    case 501: return "This server does not know that method.";
    case 505: return "This server speaks HTTP/1.x only.";
    default: return "The server could not answer.";
    }
}

/* ---- files, directories --------------------------------------------------------------------- */

static void build_file(struct httpd_response *resp, const struct http_request *req, int fd, const struct stat *st,
                       const char *name)
{
    char modified[HTTP_DATE_LEN];
    resp->file_fd = fd;
    resp->content_length = (uint64_t)st->st_size;
    begin_head(resp);
    http_format_date(st->st_mtime, modified);
    buf_printf(&resp->head, "Last-Modified: %s\r\n", modified);
    end_head(resp, req, http_content_type(name));
}

/* 301 to the same path with a '/': relative links in the index then resolve inside the directory. */
static void build_redirect_to_dir(struct httpd_response *resp, const struct http_request *req, const char *raw_path,
                                  size_t raw_len)
{
    resp->status = 301;
    buf_printf(&resp->body, "<!DOCTYPE html>\n<html><body><a href=\"%.*s/\">moved here</a></body></html>\n",
               (int)raw_len, raw_path);
    resp->content_length = resp->body.len;
    begin_head(resp);
    /* raw_path passed the request line's check: no spaces or controls can break the field. */
    buf_printf(&resp->head, "Location: %.*s/\r\n", (int)raw_len, raw_path);
    end_head(resp, req, "text/html; charset=utf-8");
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory, sorted, without "." and ".."; NULL when memory ran out. */
static char **read_names(int dir_fd, size_t *count, bool *truncated)
{
    *count = 0;
    *truncated = false;
    int fd = dup(dir_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return calloc(1, sizeof(char *));
    }
    size_t cap = 64, n = 0;
    char **names = malloc(cap * sizeof *names);
    struct dirent *e;
    while (names != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == HTTPD_LISTING_MAX_ENTRIES) {
            *truncated = true;
            break;
        }
        if (n == cap) {
            char **grown = realloc(names, cap * 2 * sizeof *names);
            if (grown == NULL)
                break;
            names = grown;
            cap *= 2;
        }
        names[n] = strdup(e->d_name);
        if (names[n] == NULL)
            break;
        n++;
    }
    closedir(d);
    if (names != NULL)
        qsort(names, n, sizeof *names, compare_names);
    *count = n;
    return names;
}

static void build_listing(struct httpd_response *resp, const struct http_request *req, int dir_fd, const char *rel)
{
    size_t n = 0;
    bool truncated = false;
    char **names = read_names(dir_fd, &n, &truncated);
    if (names == NULL) {
        resp->body.failed = true;
        return;
    }
    struct httpd_buf *b = &resp->body;
    char shown[HTTPD_PATH_MAX + 2];
    snprintf(shown, sizeof shown, "/%s%s", rel, rel[0] != '\0' ? "/" : "");
    buf_puts(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
    buf_html_escaped(b, shown);
    buf_puts(b, "</title></head>\n<body><h1>Index of ");
    buf_html_escaped(b, shown);
    buf_puts(b, "</h1>\n<ul>\n");
    if (rel[0] != '\0')
        buf_puts(b, "<li><a href=\"../\">../</a></li>\n");
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        bool is_dir = fstatat(dir_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
        const char *slash = is_dir ? "/" : "";
        buf_puts(b, "<li><a href=\"");
        buf_uri_segment(b, names[i]);
        buf_printf(b, "%s\">", slash);
        buf_html_escaped(b, names[i]);
        buf_printf(b, "%s</a></li>\n", slash);
        free(names[i]);
    }
    free(names);
    buf_puts(b, "</ul>\n");
    if (truncated)
        buf_printf(b, "<p>Only the first %d entries are listed.</p>\n", HTTPD_LISTING_MAX_ENTRIES);
    buf_puts(b, "</body></html>\n");
    resp->content_length = b->len;
    begin_head(resp);
    end_head(resp, req, "text/html; charset=utf-8");
}

/* A directory: its index.html when there is one, else a listing. Takes dir_fd. */
static void build_directory(struct httpd_response *resp, const struct http_request *req, int dir_fd, const char *rel)
{
    /* O_NOFOLLOW: an index.html that is a symbolic link could lead out of the root; list instead. */
    int fd = openat(dir_fd, HTTPD_INDEX_FILE, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        close(dir_fd);
        build_file(resp, req, fd, &st, HTTPD_INDEX_FILE);
        return;
    }
    if (fd >= 0)
        close(fd);
    build_listing(resp, req, dir_fd, rel);
    close(dir_fd);
}

/* GET or HEAD of a path: a file, a directory, or an error status (returned, nothing built). */
static int build_resource(struct httpd_response *resp, const struct http_request *req, int root_fd)
{
    char rel[HTTPD_PATH_MAX];
    bool dir_form = false;
    const char *raw = NULL;
    size_t raw_len = 0;
    int status = http_target_to_path(req->target, req->target_len, rel, sizeof rel, &dir_form, &raw, &raw_len);
    if (status != 0)
        return status;
    /* O_NONBLOCK: opening a FIFO someone left in the root must not stall the server. */
    int fd = open_beneath(root_fd, rel, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return status_for_open_error(errno);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return 500;
    }
    resp->status = 200;
    if (S_ISREG(st.st_mode)) {
        build_file(resp, req, fd, &st, rel);
    } else if (S_ISDIR(st.st_mode) && !dir_form && rel[0] != '\0') {
        close(fd);
        build_redirect_to_dir(resp, req, raw, raw_len);
    } else if (S_ISDIR(st.st_mode)) {
        build_directory(resp, req, fd, rel);
    } else {
        close(fd);
        return 403; /* a device, socket or FIFO is not content */
    }
    return 0;
}

int httpd_build_response(int root_fd, const struct http_request *req, int status, bool keep_alive,
                         struct httpd_response *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->file_fd = -1;
    resp->close = !keep_alive;
    resp->send_body = req == NULL || req->method != HTTP_METHOD_HEAD;
    if (status == 0)
        status = build_resource(resp, req, root_fd);
    if (status != 0) {
        /* A half-built answer (a file opened, then an error) is replaced whole. */
        bool close_after = resp->close, send_body = resp->send_body;
        httpd_response_free(resp);
        resp->close = close_after;
        resp->send_body = send_body;
        resp->status = status;
        build_error(resp, req, error_detail(status));
    }
    if (resp->head.failed || resp->body.failed) {
        httpd_response_free(resp);
        return -1;
    }
    return 0;
}
