/*
 * ts-httpd's and ts-get's HTTP/1.1 head parsing (apps/httpd/http_parse.c):
 * where a head ends, request and response syntax, the status a request earns,
 * persistence, the request target as a path under the root, body framing.
 *
 * The module has no I/O and is not part of libtapstack: it is compiled into
 * this test directly.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "apps/httpd/http_parse.c"

static int parse_req(const char *text, struct http_request *req)
{
    size_t len = strlen(text);
    cr_assert_eq(http_head_length(text, len), len, "the test head must be complete: %s", text);
    return http_parse_request(text, len, req);
}

/* The status a whole request head earns: the parse's, else the Host and method rules'. */
static int status_of(const char *text)
{
    struct http_request req;
    int status = parse_req(text, &req);
    return status != 0 ? status : http_request_status(&req);
}

/* ---- where a head ends ------------------------------------------------------------- */

Test(http_head, is_incomplete_until_the_empty_line_arrives)
{
    const char *partial = "GET / HTTP/1.1\r\nHost: x\r\n";
    cr_assert_eq(http_head_length(partial, strlen(partial)), 0);
    cr_assert_eq(http_head_length("GET / HTTP/1.1\r\n\r", 17), 0);
}

Test(http_head, ends_after_the_empty_line_and_leaves_what_follows)
{
    const char *two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\n";
    cr_assert_eq(http_head_length(two, strlen(two)), strlen("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
}

Test(http_head, accepts_bare_lf_line_endings)
{
    const char *lf = "GET / HTTP/1.1\nHost: x\n\nrest";
    cr_assert_eq(http_head_length(lf, strlen(lf)), strlen(lf) - 4);
}

Test(http_head, leading_blank_lines_are_measured_for_skipping)
{
    cr_assert_eq(http_leading_blank_lines("\r\n\n\r\nGET", 8), 5);
    cr_assert_eq(http_leading_blank_lines("GET", 3), 0);
    cr_assert_eq(http_leading_blank_lines("\r", 1), 0, "a lone CR may be the start of a CRLF still to come");
}

/* ---- request syntax ---------------------------------------------------------------- */

Test(http_request, parses_method_target_version_and_host)
{
    struct http_request req;
    cr_assert_eq(parse_req("GET /docs/a.txt?x=1 HTTP/1.1\r\nHost: 10.0.0.2\r\nUser-Agent: t\r\n\r\n", &req), 0);
    cr_assert_eq(req.method, HTTP_METHOD_GET);
    cr_assert_eq(req.target_len, strlen("/docs/a.txt?x=1"));
    cr_assert_eq(memcmp(req.target, "/docs/a.txt?x=1", req.target_len), 0);
    cr_assert_eq(req.version_minor, 1);
    cr_assert_eq(req.host_count, 1);
    cr_assert_not(req.has_body);
    cr_assert_eq(http_request_status(&req), 0);
}

Test(http_request, head_method_is_served)
{
    cr_assert_eq(status_of("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
}

Test(http_request, known_methods_other_than_get_and_head_are_405)
{
    const char *methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "CONNECT"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        char head[128];
        snprintf(head, sizeof head, "%s / HTTP/1.1\r\nHost: x\r\n\r\n", methods[i]);
        cr_assert_eq(status_of(head), 405, "%s", methods[i]);
    }
}

Test(http_request, unknown_methods_and_wrong_case_are_501)
{
    cr_assert_eq(status_of("BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n"), 501);
    cr_assert_eq(status_of("get / HTTP/1.1\r\nHost: x\r\n\r\n"), 501, "methods are case-sensitive");
}

Test(http_request, http11_without_host_or_with_two_is_400)
{
    cr_assert_eq(status_of("GET / HTTP/1.1\r\n\r\n"), 400);
    cr_assert_eq(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    cr_assert_eq(status_of("GET / HTTP/1.0\r\n\r\n"), 0, "HTTP/1.0 needs no Host");
}

Test(http_request, malformed_request_lines_are_400)
{
    const char *bad[] = {
        "GET\r\nHost: x\r\n\r\n",
        "GET /\r\nHost: x\r\n\r\n",
        "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
        "GET / HTTP/1\r\nHost: x\r\n\r\n",
        "GET / HTTPS/1.1\r\nHost: x\r\n\r\n",
        "G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\rX\r\nHost: x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct http_request req;
        cr_assert_eq(parse_req(bad[i], &req), 400, "%s", bad[i]);
    }
}

Test(http_request, other_major_versions_are_505_and_later_minors_count_as_11)
{
    struct http_request req;
    cr_assert_eq(parse_req("GET / HTTP/2.0\r\nHost: x\r\n\r\n", &req), 505);
    cr_assert_eq(parse_req("GET / HTTP/1.7\r\nHost: x\r\n\r\n", &req), 0);
    cr_assert_eq(req.version_minor, 1);
}

Test(http_request, malformed_field_lines_are_400)
{
    const char *bad[] = {
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",           /* whitespace before the colon */
        "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", /* obs-fold */
        "GET / HTTP/1.1\r\nHost x\r\n\r\n",             /* no colon */
        "GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n",     /* empty name */
        "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",         /* bare CR in a value */
        "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n",        /* control character */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(status_of(bad[i]), 400, "case %zu", i);
}

Test(http_request, content_length_must_be_digits_and_agree)
{
    cr_assert_eq(status_of("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n"), 400);
    cr_assert_eq(status_of("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"), 400);
    cr_assert_eq(status_of("GET / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n"), 400);
    cr_assert_eq(status_of("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"), 400);
    cr_assert_eq(status_of("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n"), 400);
    struct http_request req;
    cr_assert_eq(parse_req("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n", &req), 0);
    cr_assert(req.has_body);
}

Test(http_request, a_body_is_noted_from_length_or_transfer_encoding)
{
    struct http_request req;
    cr_assert_eq(parse_req("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &req), 0);
    cr_assert_not(req.has_body);
    cr_assert_eq(parse_req("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", &req), 0);
    cr_assert(req.has_body);
}

Test(http_request, field_names_are_case_insensitive_and_values_trimmed)
{
    struct http_request req;
    cr_assert_eq(parse_req("GET / HTTP/1.1\r\nhOsT:x\r\ncOnNeCtIoN: \t CLOSE \t\r\n\r\n", &req), 0);
    cr_assert_eq(req.host_count, 1);
    cr_assert(req.connection_close);
}

/* ---- persistence (RFC 9112 section 9.3) ------------------------------------------------- */

Test(http_persistence, http11_persists_unless_close_is_asked)
{
    struct http_request req;
    parse_req("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &req);
    cr_assert(http_request_keeps_alive(&req));
    parse_req("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\n\r\n", &req);
    cr_assert_not(http_request_keeps_alive(&req));
}

Test(http_persistence, http10_closes_unless_keep_alive_is_asked)
{
    struct http_request req;
    parse_req("GET / HTTP/1.0\r\n\r\n", &req);
    cr_assert_not(http_request_keeps_alive(&req));
    parse_req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req);
    cr_assert(http_request_keeps_alive(&req));
}

/* ---- the target as a path ----------------------------------------------------------------- */

static int to_path(const char *target, char *out, size_t outlen, bool *dir_form)
{
    return http_target_to_path(target, strlen(target), out, outlen, dir_form, NULL, NULL);
}

Test(http_target, root_is_the_empty_path_in_directory_form)
{
    char out[64];
    bool dir = false;
    cr_assert_eq(to_path("/", out, sizeof out, &dir), 0);
    cr_assert_str_eq(out, "");
    cr_assert(dir);
}

Test(http_target, query_is_dropped_and_escapes_decoded)
{
    char out[64];
    bool dir = true;
    cr_assert_eq(to_path("/a%20b/c%2Bd.txt?x=/../y", out, sizeof out, &dir), 0);
    cr_assert_str_eq(out, "a b/c+d.txt");
    cr_assert_not(dir);
}

Test(http_target, empty_and_dot_segments_are_dropped)
{
    char out[64];
    bool dir = false;
    cr_assert_eq(to_path("//a/./b//./", out, sizeof out, &dir), 0);
    cr_assert_str_eq(out, "a/b");
    cr_assert(dir);
}

Test(http_target, dot_dot_segments_are_refused_however_spelled)
{
    const char *bad[] = {"/..", "/../etc/passwd", "/a/../../b", "/%2e%2e/x", "/%2E./x", "/a/..%2f..%2fx",
                         "/a%2f..", "/..?q", "http://h/../x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[64];
        bool dir = false;
        cr_assert_eq(to_path(bad[i], out, sizeof out, &dir), 400, "%s", bad[i]);
    }
}

Test(http_target, names_that_only_contain_dots_are_files)
{
    char out[64];
    bool dir = false;
    cr_assert_eq(to_path("/...", out, sizeof out, &dir), 0);
    cr_assert_str_eq(out, "...");
    cr_assert_eq(to_path("/..a/b..", out, sizeof out, &dir), 0);
    cr_assert_str_eq(out, "..a/b..");
}

Test(http_target, bad_or_nul_escapes_are_refused)
{
    const char *bad[] = {"/%", "/%4", "/%zz", "/a%g1", "/%00", "/a%00.txt"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[64];
        bool dir = false;
        cr_assert_eq(to_path(bad[i], out, sizeof out, &dir), 400, "%s", bad[i]);
    }
}

Test(http_target, only_origin_and_absolute_forms_name_files)
{
    char out[64];
    bool dir = false;
    cr_assert_eq(to_path("*", out, sizeof out, &dir), 400);
    cr_assert_eq(to_path("example.com:80", out, sizeof out, &dir), 400);
    cr_assert_eq(to_path("http:///x", out, sizeof out, &dir), 400);
    cr_assert_eq(to_path("http://10.0.0.2:8080/d/f.html", out, sizeof out, &dir), 0);
    cr_assert_str_eq(out, "d/f.html");
    cr_assert_eq(to_path("HTTP://10.0.0.2", out, sizeof out, &dir), 0);
    cr_assert_str_eq(out, "");
    cr_assert(dir);
}

Test(http_target, raw_path_is_the_encoded_path_without_the_query)
{
    char out[64];
    bool dir = false;
    const char *raw = NULL;
    size_t raw_len = 0;
    const char *t = "/a%20dir?x=1";
    cr_assert_eq(http_target_to_path(t, strlen(t), out, sizeof out, &dir, &raw, &raw_len), 0);
    cr_assert_eq(raw_len, strlen("/a%20dir"));
    cr_assert_eq(memcmp(raw, "/a%20dir", raw_len), 0);
}

Test(http_target, a_path_that_does_not_fit_is_414)
{
    char out[8];
    bool dir = false;
    cr_assert_eq(to_path("/abcdefghij", out, sizeof out, &dir), 414);
}

/* ---- responses ------------------------------------------------------------------------------- */

static int parse_resp(const char *text, struct http_response_head *r, const char **why)
{
    return http_parse_response(text, strlen(text), r, why);
}

Test(http_response, parses_status_reason_and_length)
{
    struct http_response_head r;
    const char *why = NULL;
    cr_assert_eq(parse_resp("HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\nServer: x\r\n\r\n", &r, &why), 0);
    cr_assert_eq(r.status, 404);
    cr_assert_str_eq(r.reason, "Not Found");
    cr_assert(r.has_content_length);
    cr_assert_eq(r.content_length, 12);
    cr_assert_eq(http_response_framing(&r, false), HTTP_BODY_LENGTH);
}

Test(http_response, reason_phrase_may_be_empty_or_missing)
{
    struct http_response_head r;
    const char *why = NULL;
    cr_assert_eq(parse_resp("HTTP/1.0 200 \r\n\r\n", &r, &why), 0);
    cr_assert_str_eq(r.reason, "");
    cr_assert_eq(parse_resp("HTTP/1.1 204\r\n\r\n", &r, &why), 0);
    cr_assert_eq(r.status, 204);
}

Test(http_response, malformed_status_lines_are_refused_with_a_reason)
{
    const char *bad[] = {"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/2 200 OK\r\n\r\n",
                         "HTTP/2.0 200 OK\r\n\r\n", "ICY 200 OK\r\n\r\n", "HTTP/1.1 099 Low\r\n\r\n",
                         "HTTP/1.1  200 OK\r\n\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct http_response_head r;
        const char *why = NULL;
        cr_assert_eq(parse_resp(bad[i], &r, &why), -1, "%s", bad[i]);
        cr_assert_not_null(why);
    }
}

Test(http_response, conflicting_content_lengths_are_refused)
{
    struct http_response_head r;
    const char *why = NULL;
    cr_assert_eq(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", &r, &why), -1);
    cr_assert_eq(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: ,\r\n\r\n", &r, &why), -1);
}

Test(http_response, chunked_only_when_it_is_the_final_coding)
{
    struct http_response_head r;
    const char *why = NULL;
    cr_assert_eq(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\nContent-Length: 9\r\n\r\n", &r,
                            &why), 0);
    cr_assert(r.chunked);
    cr_assert_eq(http_response_framing(&r, false), HTTP_BODY_CHUNKED, "Transfer-Encoding overrides the length");
    cr_assert_eq(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", &r,
                            &why), 0);
    cr_assert_not(r.chunked);
    cr_assert_eq(http_response_framing(&r, false), HTTP_BODY_UNTIL_CLOSE);
}

Test(http_response, bodiless_responses_and_heads_have_no_body)
{
    struct http_response_head r;
    const char *why = NULL;
    parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", &r, &why);
    cr_assert_eq(http_response_framing(&r, true), HTTP_BODY_NONE);
    parse_resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", &r, &why);
    cr_assert_eq(http_response_framing(&r, false), HTTP_BODY_NONE);
    parse_resp("HTTP/1.1 204 No Content\r\n\r\n", &r, &why);
    cr_assert_eq(http_response_framing(&r, false), HTTP_BODY_NONE);
    parse_resp("HTTP/1.1 100 Continue\r\n\r\n", &r, &why);
    cr_assert_eq(http_response_framing(&r, false), HTTP_BODY_NONE);
}

Test(http_response, neither_length_nor_coding_means_until_close)
{
    struct http_response_head r;
    const char *why = NULL;
    cr_assert_eq(parse_resp("HTTP/1.0 200 OK\r\nServer: old\r\n\r\n", &r, &why), 0);
    cr_assert_eq(http_response_framing(&r, false), HTTP_BODY_UNTIL_CLOSE);
}

Test(http_response, location_and_connection_are_kept)
{
    struct http_response_head r;
    const char *why = NULL;
    cr_assert_eq(parse_resp("HTTP/1.1 301 Moved\r\nLocation: /d/\r\nConnection: close\r\n\r\n", &r, &why), 0);
    cr_assert(r.has_location);
    cr_assert_str_eq(r.location, "/d/");
    cr_assert(r.connection_close);
}

Test(http_response, folds_are_skipped_except_in_framing_fields)
{
    struct http_response_head r;
    const char *why = NULL;
    cr_assert_eq(parse_resp("HTTP/1.1 200 OK\r\nX-Long: a\r\n b\r\nContent-Length: 1\r\n\r\n", &r, &why), 0);
    cr_assert_eq(r.content_length, 1);
    cr_assert_eq(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n 2\r\n\r\n", &r, &why), -1);
}

/* ---- tables ------------------------------------------------------------------------------------ */

Test(http_tables, content_type_follows_the_extension_case_insensitively)
{
    cr_assert_str_eq(http_content_type("index.HTML"), "text/html; charset=utf-8");
    cr_assert_str_eq(http_content_type("a/b/c.txt"), "text/plain; charset=utf-8");
    cr_assert_str_eq(http_content_type("s.css"), "text/css; charset=utf-8");
    cr_assert_str_eq(http_content_type("app.js"), "text/javascript; charset=utf-8");
    cr_assert_str_eq(http_content_type("p.png"), "image/png");
    cr_assert_str_eq(http_content_type("p.jpg"), "image/jpeg");
    cr_assert_str_eq(http_content_type("d.json"), "application/json");
    cr_assert_str_eq(http_content_type("i.svg"), "image/svg+xml");
    cr_assert_str_eq(http_content_type("x.tar.gz"), "application/octet-stream");
    cr_assert_str_eq(http_content_type("dir.html/README"), "application/octet-stream");
    cr_assert_str_eq(http_content_type(".html"), "application/octet-stream", "a dot-file has no extension");
}

Test(http_tables, date_is_an_imf_fixdate)
{
    char out[HTTP_DATE_LEN];
    http_format_date(784111777, out); /* RFC 9110 section 5.6.7's example */
    cr_assert_str_eq(out, "Sun, 06 Nov 1994 08:49:37 GMT");
}

Test(http_tables, reason_phrases_cover_what_the_server_sends)
{
    cr_assert_str_eq(http_reason_phrase(405), "Method Not Allowed");
    cr_assert_str_eq(http_reason_phrase(505), "HTTP Version Not Supported");
    cr_assert_str_eq(http_reason_phrase(299), "Unknown");
}
