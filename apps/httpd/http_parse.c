/*
 * HTTP/1.1 message heads: see http_parse.h. Strict where a mistake could change
 * how messages are framed (request line, field names, Content-Length), lenient
 * where RFC 9112 allows it (a bare LF ends a line, leading blank lines).
 */
#define _GNU_SOURCE
#include "http_parse.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- lines ---------------------------------------------------------------------- */

/*
 * The line starting at pos: its length without the line ending in *line_len, and where the next one
 * starts in *next. False when no LF follows in buf.
 */
static bool next_line(const char *buf, size_t len, size_t pos, size_t *line_len, size_t *next)
{
    if (pos >= len)
        return false;
    const char *lf = memchr(buf + pos, '\n', len - pos);
    if (lf == NULL)
        return false;
    size_t end = (size_t)(lf - buf);
    *next = end + 1;
    if (end > pos && buf[end - 1] == '\r')
        end--;
    *line_len = end - pos;
    return true;
}

size_t http_leading_blank_lines(const char *buf, size_t len)
{
    size_t n = 0;
    while (n < len) {
        if (buf[n] == '\n') {
            n++;
        } else if (buf[n] == '\r' && n + 1 < len && buf[n + 1] == '\n') {
            n += 2;
        } else {
            break;
        }
    }
    return n;
}

size_t http_head_length(const char *buf, size_t len)
{
    size_t pos = 0, line_len = 0, next = 0;
    while (next_line(buf, len, pos, &line_len, &next)) {
        if (line_len == 0)
            return next;
        pos = next;
    }
    return 0;
}

/* ---- character classes (RFC 9110 section 5.6.2, 5.5) ------------------------------- */

static bool is_tchar(unsigned char c)
{
    return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* VCHAR, SP, HTAB and obs-text may appear in a field value; CR, LF, NUL and the other controls may not. */
static bool is_field_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool span_is_token(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

static bool span_equals_nocase(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

/* ---- field lines (RFC 9112 section 5) ------------------------------------------------ */

struct field {
    const char *name;
    size_t name_len;
    const char *value; /* OWS trimmed */
    size_t value_len;
};

/*
 * field-line = field-name ":" OWS field-value OWS. No whitespace may come between the name and the
 * colon (RFC 9112 section 5.1: a server rejects such a message with 400).
 */
static bool parse_field_line(const char *line, size_t len, struct field *f)
{
    const char *colon = memchr(line, ':', len);
    if (colon == NULL)
        return false;
    f->name = line;
    f->name_len = (size_t)(colon - line);
    if (!span_is_token(f->name, f->name_len))
        return false;
    const char *v = colon + 1, *end = line + len;
    for (const char *p = v; p < end; p++)
        if (!is_field_value_char((unsigned char)*p))
            return false;
    while (v < end && is_ows(*v))
        v++;
    while (end > v && is_ows(end[-1]))
        end--;
    f->value = v;
    f->value_len = (size_t)(end - v);
    return true;
}

/*
 * Calls fn for each element of a comma-separated list (RFC 9110 section 5.6.1), OWS trimmed, empty
 * elements skipped. Stops and returns false as soon as fn does.
 */
static bool for_each_list_element(const char *s, size_t len, bool (*fn)(void *ctx, const char *e, size_t n),
                                  void *ctx)
{
    size_t pos = 0;
    while (pos <= len) {
        const char *comma = memchr(s + pos, ',', len - pos);
        size_t end = comma != NULL ? (size_t)(comma - s) : len;
        size_t a = pos, b = end;
        while (a < b && is_ows(s[a]))
            a++;
        while (b > a && is_ows(s[b - 1]))
            b--;
        if (b > a && !fn(ctx, s + a, b - a))
            return false;
        if (comma == NULL)
            break;
        pos = end + 1;
    }
    return true;
}

struct connection_options {
    bool close, keep_alive;
};

static bool note_connection_option(void *ctx, const char *e, size_t n)
{
    struct connection_options *o = ctx;
    if (span_equals_nocase(e, n, "close"))
        o->close = true;
    else if (span_equals_nocase(e, n, "keep-alive"))
        o->keep_alive = true;
    return true;
}

struct length_values {
    bool seen, bad;
    unsigned in_field; /* values found in the field being read */
    uint64_t value;
};

/*
 * RFC 9110 section 8.6: Content-Length = 1*DIGIT; a list of identical values (from a proxy joining
 * fields) may be taken as that one value, differing values make the message invalid.
 */
static bool note_length_value(void *ctx, const char *e, size_t n)
{
    struct length_values *lv = ctx;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)e[i]) || v > (UINT64_MAX - 9) / 10) {
            lv->bad = true;
            return false;
        }
        v = v * 10 + (uint64_t)(e[i] - '0');
    }
    if (lv->seen && lv->value != v) {
        lv->bad = true;
        return false;
    }
    lv->seen = true;
    lv->in_field++;
    lv->value = v;
    return true;
}

static bool note_length_field(struct length_values *lv, const struct field *f)
{
    lv->in_field = 0;
    for_each_list_element(f->value, f->value_len, note_length_value, lv);
    if (lv->in_field == 0)
        lv->bad = true; /* empty, or only commas */
    return !lv->bad;
}

struct coding_list {
    bool any;
    bool last_is_chunked;
};

static bool note_coding(void *ctx, const char *e, size_t n)
{
    struct coding_list *c = ctx;
    /* A coding may carry parameters ("chunked;x=y" is not chunked itself, but its name is before ';'). */
    const char *semi = memchr(e, ';', n);
    size_t name_len = semi != NULL ? (size_t)(semi - e) : n;
    while (name_len > 0 && is_ows(e[name_len - 1]))
        name_len--;
    c->any = true;
    c->last_is_chunked = span_equals_nocase(e, name_len, "chunked");
    return true;
}

/* ---- requests (RFC 9112 section 3) ----------------------------------------------------- */

static enum http_method classify_method(const char *m, size_t len)
{
    /* RFC 9110 section 9.1: methods are case-sensitive. */
    static const char *const known_others[] = {"POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    if (len == 3 && memcmp(m, "GET", 3) == 0)
        return HTTP_METHOD_GET;
    if (len == 4 && memcmp(m, "HEAD", 4) == 0)
        return HTTP_METHOD_HEAD;
    for (size_t i = 0; i < sizeof known_others / sizeof known_others[0]; i++)
        if (strlen(known_others[i]) == len && memcmp(m, known_others[i], len) == 0)
            return HTTP_METHOD_KNOWN_OTHER;
    return HTTP_METHOD_UNKNOWN;
}

/* HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 section 2.3). Returns 0, 400 or 505. */
static int parse_version(const char *v, size_t len, int *minor)
{
    if (len != 8 || memcmp(v, "HTTP/", 5) != 0 || !isdigit((unsigned char)v[5]) || v[6] != '.' ||
        !isdigit((unsigned char)v[7]))
        return 400;
    if (v[5] != '1')
        return 505;
    /* RFC 9110 section 6.2: a later minor version is understood as the highest one we speak. */
    *minor = v[7] == '0' ? 0 : 1;
    return 0;
}

/* request-line = method SP request-target SP HTTP-version, single spaces, no controls in the target. */
static int parse_request_line(const char *line, size_t len, struct http_request *req)
{
    const char *sp1 = memchr(line, ' ', len);
    if (sp1 == NULL)
        return 400;
    req->method_text = line;
    req->method_len = (size_t)(sp1 - line);
    if (!span_is_token(line, req->method_len))
        return 400;
    const char *target = sp1 + 1, *end = line + len;
    const char *sp2 = memchr(target, ' ', (size_t)(end - target));
    if (sp2 == NULL || sp2 == target)
        return 400;
    for (const char *p = target; p < sp2; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return 400;
    req->target = target;
    req->target_len = (size_t)(sp2 - target);
    req->method = classify_method(req->method_text, req->method_len);
    return parse_version(sp2 + 1, (size_t)(end - sp2 - 1), &req->version_minor);
}

static int note_request_field(struct http_request *req, const struct field *f, struct length_values *lengths)
{
    if (span_equals_nocase(f->name, f->name_len, "host")) {
        req->host_count++;
    } else if (span_equals_nocase(f->name, f->name_len, "connection")) {
        struct connection_options o = {req->connection_close, req->connection_keep_alive};
        for_each_list_element(f->value, f->value_len, note_connection_option, &o);
        req->connection_close = o.close;
        req->connection_keep_alive = o.keep_alive;
    } else if (span_equals_nocase(f->name, f->name_len, "content-length")) {
        if (!note_length_field(lengths, f))
            return 400;
    } else if (span_equals_nocase(f->name, f->name_len, "transfer-encoding")) {
        req->has_body = true;
    }
    return 0;
}

int http_parse_request(const char *head, size_t len, struct http_request *req)
{
    memset(req, 0, sizeof *req);
    size_t line_len = 0, next = 0;
    if (!next_line(head, len, 0, &line_len, &next))
        return 400;
    if (memchr(head, '\r', line_len) != NULL)
        return 400; /* RFC 9112 section 2.2: a bare CR is rejected */
    int status = parse_request_line(head, line_len, req);
    if (status != 0)
        return status;

    struct length_values lengths = {0};
    size_t pos = next;
    while (next_line(head, len, pos, &line_len, &next) && line_len > 0) {
        const char *line = head + pos;
        /* RFC 9112 section 5.2: a server may reject obs-fold (a line starting with whitespace) with 400. */
        if (is_ows(line[0]))
            return 400;
        struct field f;
        if (!parse_field_line(line, line_len, &f))
            return 400;
        status = note_request_field(req, &f, &lengths);
        if (status != 0)
            return status;
        pos = next;
    }
    if (lengths.seen && lengths.value > 0)
        req->has_body = true;
    return 0;
}

int http_request_status(const struct http_request *req)
{
    /* RFC 9112 section 3.2: an HTTP/1.1 request without Host, or any request with more than one, gets 400. */
    if (req->host_count > 1 || (req->version_minor >= 1 && req->host_count == 0))
        return 400;
    switch (req->method) {
    case HTTP_METHOD_GET:
    case HTTP_METHOD_HEAD:
        return 0;
    case HTTP_METHOD_KNOWN_OTHER:
        return 405; /* RFC 9110 section 15.5.6, with Allow */
    case HTTP_METHOD_UNKNOWN:
        break;
    }
    return 501; /* RFC 9110 section 15.6.2 */
}

bool http_request_keeps_alive(const struct http_request *req)
{
    /* RFC 9112 section 9.3: "close" ends it; else HTTP/1.1 persists, HTTP/1.0 only when it asked to. */
    if (req->connection_close)
        return false;
    if (req->version_minor >= 1)
        return true;
    return req->connection_keep_alive;
}

/* ---- request target to a path ---------------------------------------------------------- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The path part of an origin-form or absolute-form target (RFC 9112 section 3.2.1, 3.2.2), still encoded. */
static int split_target_path(const char *target, size_t len, const char **path, size_t *path_len)
{
    static const char scheme[] = "http://";
    const size_t scheme_len = sizeof scheme - 1;
    const char *p = target, *end = target + len;
    if (len > scheme_len && strncasecmp(target, scheme, scheme_len) == 0) {
        const char *authority = target + scheme_len;
        const char *slash = memchr(authority, '/', (size_t)(end - authority));
        p = slash != NULL ? slash : end;
        if (p == authority)
            return 400; /* no host */
    } else if (len == 0 || target[0] != '/') {
        return 400; /* the asterisk-form and authority-form do not name a file */
    }
    const char *q = p;
    while (q < end && *q != '?' && *q != '#')
        q++;
    *path = p;
    *path_len = (size_t)(q - p);
    return 0;
}

/* Percent-decodes (RFC 3986 section 2.1) into out; a NUL, whether sent or decoded, is refused. */
static int percent_decode(const char *s, size_t len, char *out, size_t outlen, size_t *out_len)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return 400;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0')
            return 400;
        if (w + 1 >= outlen)
            return 414;
        out[w++] = c;
    }
    out[w] = '\0';
    *out_len = w;
    return 0;
}

/*
 * Rewrites the decoded path in place as segments joined by '/', without empty or "." segments.
 * Decoding comes first, so "%2e%2e" and "a%2f..%2fb" are seen as the ".." they are; a ".." segment
 * is refused rather than resolved, so no request reaches above the root.
 */
static int normalise_segments(char *path, size_t len)
{
    size_t r = 0, w = 0;
    while (r < len) {
        while (r < len && path[r] == '/')
            r++;
        size_t start = r;
        while (r < len && path[r] != '/')
            r++;
        size_t seg_len = r - start;
        if (seg_len == 0 || (seg_len == 1 && path[start] == '.'))
            continue;
        if (seg_len == 2 && path[start] == '.' && path[start + 1] == '.')
            return 400;
        if (w > 0)
            path[w++] = '/';
        memmove(path + w, path + start, seg_len);
        w += seg_len;
    }
    path[w] = '\0';
    return 0;
}

int http_target_to_path(const char *target, size_t target_len, char *out, size_t outlen, bool *dir_form,
                        const char **raw_path, size_t *raw_path_len)
{
    const char *path = NULL;
    size_t path_len = 0;
    int status = split_target_path(target, target_len, &path, &path_len);
    if (status != 0)
        return status;
    if (raw_path != NULL) {
        *raw_path = path_len > 0 ? path : "/";
        *raw_path_len = path_len > 0 ? path_len : 1;
    }
    size_t decoded_len = 0;
    if (path_len == 0) {
        path = "/";
        path_len = 1;
    }
    status = percent_decode(path, path_len, out, outlen, &decoded_len);
    if (status != 0)
        return status;
    *dir_form = decoded_len > 0 && out[decoded_len - 1] == '/';
    return normalise_segments(out, decoded_len);
}

/* ---- responses (RFC 9112 section 4) -------------------------------------------------------- */

/* status-line = HTTP-version SP status-code SP [ reason-phrase ]; a missing last SP is tolerated. */
static int parse_status_line(const char *line, size_t len, struct http_response_head *resp, const char **why)
{
    if (len < 12 || memcmp(line, "HTTP/", 5) != 0 || !isdigit((unsigned char)line[5]) || line[6] != '.' ||
        !isdigit((unsigned char)line[7]) || line[8] != ' ') {
        *why = "malformed status line";
        return -1;
    }
    if (line[5] != '1') {
        *why = "not an HTTP/1.x response";
        return -1;
    }
    resp->version_minor = line[7] - '0';
    for (int i = 9; i < 12; i++) {
        if (!isdigit((unsigned char)line[i])) {
            *why = "malformed status code";
            return -1;
        }
    }
    resp->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (resp->status < 100) {
        *why = "malformed status code";
        return -1;
    }
    if (len > 12 && line[12] != ' ') {
        *why = "malformed status line";
        return -1;
    }
    size_t reason_len = len > 13 ? len - 13 : 0;
    for (size_t i = 0; i < reason_len; i++) {
        if (!is_field_value_char((unsigned char)line[13 + i])) {
            *why = "control character in the reason phrase";
            return -1;
        }
    }
    snprintf(resp->reason, sizeof resp->reason, "%.*s", (int)reason_len, line + 13);
    return 0;
}

/* Returns true if the field is one whose value we interpret (a folded continuation of it would matter). */
static bool note_response_field(struct http_response_head *resp, const struct field *f,
                                struct length_values *lengths, struct coding_list *codings, const char **why)
{
    *why = NULL;
    if (span_equals_nocase(f->name, f->name_len, "content-length")) {
        if (!note_length_field(lengths, f))
            *why = "invalid or conflicting Content-Length";
        return true;
    }
    if (span_equals_nocase(f->name, f->name_len, "transfer-encoding")) {
        for_each_list_element(f->value, f->value_len, note_coding, codings);
        return true;
    }
    if (span_equals_nocase(f->name, f->name_len, "connection")) {
        struct connection_options o = {resp->connection_close, false};
        for_each_list_element(f->value, f->value_len, note_connection_option, &o);
        resp->connection_close = o.close;
        return true;
    }
    if (span_equals_nocase(f->name, f->name_len, "location")) {
        resp->has_location = true;
        snprintf(resp->location, sizeof resp->location, "%.*s", (int)f->value_len, f->value);
        return true;
    }
    return false;
}

int http_parse_response(const char *head, size_t len, struct http_response_head *resp, const char **why)
{
    memset(resp, 0, sizeof *resp);
    size_t line_len = 0, next = 0;
    if (!next_line(head, len, 0, &line_len, &next)) {
        *why = "no status line";
        return -1;
    }
    if (parse_status_line(head, line_len, resp, why) < 0)
        return -1;

    struct length_values lengths = {0};
    struct coding_list codings = {0};
    bool last_interpreted = false;
    size_t pos = next;
    while (next_line(head, len, pos, &line_len, &next) && line_len > 0) {
        const char *line = head + pos;
        pos = next;
        /*
         * RFC 9112 section 5.2: a user agent replaces obs-fold with SP. Only a fold of a field we
         * interpret would change anything, and none of those is ever folded in practice: refuse that.
         */
        if (is_ows(line[0])) {
            if (last_interpreted) {
                *why = "a folded Content-Length, Transfer-Encoding, Connection or Location field";
                return -1;
            }
            continue;
        }
        struct field f;
        if (!parse_field_line(line, line_len, &f)) {
            *why = "malformed header field";
            return -1;
        }
        last_interpreted = note_response_field(resp, &f, &lengths, &codings, why);
        if (*why != NULL)
            return -1;
    }
    resp->has_content_length = lengths.seen;
    resp->content_length = lengths.value;
    resp->has_transfer_encoding = codings.any;
    resp->chunked = codings.any && codings.last_is_chunked;
    *why = NULL;
    return 0;
}

enum http_body_framing http_response_framing(const struct http_response_head *resp, bool request_was_head)
{
    /* RFC 9112 section 6.3, in its order. 1: no body after HEAD, for 1xx, 204 and 304. */
    if (request_was_head || resp->status < 200 || resp->status == 204 || resp->status == 304)
        return HTTP_BODY_NONE;
    /* 3, 4: Transfer-Encoding wins over Content-Length; chunked last means chunked, else until close. */
    if (resp->has_transfer_encoding)
        return resp->chunked ? HTTP_BODY_CHUNKED : HTTP_BODY_UNTIL_CLOSE;
    /* 6: a valid Content-Length (an invalid one failed the parse: item 5). */
    if (resp->has_content_length)
        return HTTP_BODY_LENGTH;
    /* 8: a response without either ends when the connection does. */
    return HTTP_BODY_UNTIL_CLOSE;
}

/* ---- tables ----------------------------------------------------------------------------- */

const char *http_reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

const char *http_content_type(const char *name)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"txt", "text/plain; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"json", "application/json"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"svg", "image/svg+xml"},
    };
    const char *slash = strrchr(name, '/');
    const char *base = slash != NULL ? slash + 1 : name;
    const char *dot = strrchr(base, '.');
    if (dot != NULL && dot != base) {
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    }
    return "application/octet-stream";
}

void http_format_date(time_t t, char out[HTTP_DATE_LEN])
{
    /* Spelled out rather than strftime'd: the names must be English whatever the locale. */
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, HTTP_DATE_LEN, "Thu, 01 Jan 1970 00:00:00 GMT");
        return;
    }
    /* Unsigned and reduced so the compiler can see every field fits its two or four digits. */
    unsigned wday = (unsigned)tm.tm_wday % 7u, mon = (unsigned)tm.tm_mon % 12u;
    unsigned year = (unsigned)(tm.tm_year + 1900) % 10000u;
    snprintf(out, HTTP_DATE_LEN, "%s, %02u %s %04u %02u:%02u:%02u GMT", days[wday], (unsigned)tm.tm_mday % 100u,
             months[mon], year, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u);
}
