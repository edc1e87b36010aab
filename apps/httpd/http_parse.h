/*
 * HTTP/1.1 message heads (RFC 9112) for ts-httpd and ts-get: finding where a
 * head ends, parsing a request head (server side) and a response head (client
 * side), deciding how a response body is framed, turning a request target into
 * a safe relative path, and the small tables both apps need (reason phrases,
 * media types, the HTTP date).
 *
 * Nothing here does I/O: every function works on bytes already received, so
 * the unit tests drive it directly. A head is parsed in place; the strings a
 * parsed request points to live in the caller's buffer.
 */
#ifndef TS_HTTP_PARSE_H
#define TS_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The largest request head ts-httpd accepts, request line and fields together (RFC 9112 section 2.3: a
 * server decides its own limit). */
#define HTTP_MAX_REQUEST_HEAD 8192
/* "Sun, 06 Nov 1994 08:49:37 GMT" and its NUL (RFC 9110 section 5.6.7, IMF-fixdate). */
#define HTTP_DATE_LEN 30

/*
 * Bytes of blank lines (CRLF or a bare LF) at the start of buf. RFC 9112 section 2.2: a server
 * ignores at least one empty line received before the request line.
 */
size_t http_leading_blank_lines(const char *buf, size_t len);

/*
 * Length of the head at the start of buf, through the empty line that ends it, or 0 while the
 * empty line has not arrived. Lines end in CRLF or, tolerated (RFC 9112 section 2.2), a bare LF.
 */
size_t http_head_length(const char *buf, size_t len);

enum http_method {
    HTTP_METHOD_GET,
    HTTP_METHOD_HEAD,
    HTTP_METHOD_KNOWN_OTHER, /* a method RFC 9110 defines that this server does not allow: 405 */
    HTTP_METHOD_UNKNOWN,     /* any other token: 501 */
};

struct http_request {
    enum http_method method;
    const char *method_text; /* points into the head, method_len bytes, not NUL-terminated */
    size_t method_len;
    const char *target; /* the request-target as sent, target_len bytes */
    size_t target_len;
    int version_minor; /* HTTP/1.x: 0 or 1 (a later 1.x counts as 1, RFC 9110 section 6.2) */
    unsigned host_count;
    bool connection_close;      /* "close" among the Connection options */
    bool connection_keep_alive; /* "keep-alive" among them (what HTTP/1.0 clients send) */
    bool has_body;              /* Content-Length above 0, or Transfer-Encoding: the server does not read it */
};

/*
 * Parses a request head of len bytes (as measured by http_head_length, leading blank lines
 * already skipped). Returns 0, or the status code to answer with: 400 for a malformed head,
 * 505 for a major version other than 1. Checks only the syntax; the Host and method rules are
 * http_request_status's.
 */
int http_parse_request(const char *head, size_t len, struct http_request *req);

/* After a successful parse: 0 if the request may be served, else the status the server answers with
 * (400 for HTTP/1.1 without exactly one Host, 405 for a known method other than GET and HEAD,
 * 501 for an unknown one). */
int http_request_status(const struct http_request *req);

/* RFC 9112 section 9.3: whether the connection stays open after the response to req. */
bool http_request_keeps_alive(const struct http_request *req);

/*
 * Turns the path of a request target (origin-form "/a/b?q", or absolute-form "http://host/a/b")
 * into a path relative to the served root: percent-decoded, "." and empty segments dropped, no
 * leading '/'; "" means the root itself. *dir_form says whether the path ended in '/'.
 * raw_path/raw_path_len (may be NULL) get the path as sent, still encoded, without the query.
 * Returns 0, 400 for a malformed target, a bad or NUL percent escape, or a ".." segment, or
 * 414 when the decoded path does not fit in out.
 */
int http_target_to_path(const char *target, size_t target_len, char *out, size_t outlen, bool *dir_form,
                        const char **raw_path, size_t *raw_path_len);

struct http_response_head {
    int version_minor;
    int status;
    char reason[128]; /* the reason phrase, cut short if longer */
    bool has_content_length;
    uint64_t content_length;
    bool has_transfer_encoding;
    bool chunked; /* chunked is the final transfer coding */
    bool connection_close;
    bool has_location;
    char location[1024]; /* cut short if longer */
};

/*
 * Parses a response head of len bytes. Returns 0, or -1 with *why (a static string) saying what
 * is malformed: the status line, a field line, or conflicting Content-Length values.
 */
int http_parse_response(const char *head, size_t len, struct http_response_head *resp, const char **why);

enum http_body_framing {
    HTTP_BODY_NONE,        /* 1xx, 204, 304 or the answer to HEAD */
    HTTP_BODY_LENGTH,      /* Content-Length bytes */
    HTTP_BODY_CHUNKED,     /* the chunked transfer coding (http_chunked.h) */
    HTTP_BODY_UNTIL_CLOSE, /* everything up to the end of the connection */
};

/* RFC 9112 section 6.3: how the body of a response to a request (HEAD or not) is delimited. */
enum http_body_framing http_response_framing(const struct http_response_head *resp, bool request_was_head);

/* The reason phrase for a status code ts-httpd sends ("Not Found"), or "Unknown". */
const char *http_reason_phrase(int status);

/* The media type for a file name, from its extension (case-insensitive); application/octet-stream
 * for any other. */
const char *http_content_type(const char *name);

/* t as an IMF-fixdate into out (HTTP_DATE_LEN bytes). */
void http_format_date(time_t t, char out[HTTP_DATE_LEN]);

#endif
