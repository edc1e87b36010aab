/*
 * ts-httpd's responses (apps/httpd/httpd_response.c) over a scratch directory:
 * files with their headers, HEAD, directories (index.html, listing, redirect),
 * error pages, and the root that no path or symbolic link may leave.
 *
 * The modules are not part of libtapstack: they are compiled into this test directly.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apps/httpd/http_parse.c"
#include "apps/httpd/httpd_response.c"

static char scratch[64];
static char root_path[128];
static int root_fd = -1;

static void write_file(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root_path, rel);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static void make_tree(void)
{
    snprintf(scratch, sizeof scratch, "/tmp/ts-http-response.XXXXXX");
    cr_assert_not_null(mkdtemp(scratch));
    snprintf(root_path, sizeof root_path, "%s/www", scratch);
    cr_assert_eq(mkdir(root_path, 0755), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/secret.txt", scratch);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("secret\n", f);
    fclose(f);
    write_file("hello.txt", "hello\n");
    snprintf(path, sizeof path, "%s/dir", root_path);
    cr_assert_eq(mkdir(path, 0755), 0);
    write_file("dir/<b>&.txt", "x");
    snprintf(path, sizeof path, "%s/site", root_path);
    cr_assert_eq(mkdir(path, 0755), 0);
    write_file("site/index.html", "<p>index</p>");
    snprintf(path, sizeof path, "%s/escape.txt", root_path);
    cr_assert_eq(symlink("../secret.txt", path), 0);
    snprintf(path, sizeof path, "%s/abs.txt", root_path);
    char target[200];
    snprintf(target, sizeof target, "%s/secret.txt", scratch);
    cr_assert_eq(symlink(target, path), 0);
    snprintf(path, sizeof path, "%s/fifo", root_path);
    cr_assert_eq(mkfifo(path, 0600), 0);
    root_fd = open(root_path, O_RDONLY | O_DIRECTORY);
    cr_assert_geq(root_fd, 0);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void remove_tree(void)
{
    if (root_fd >= 0)
        close(root_fd);
    /* Depth first, links not followed: the scratch tree holds links to outside it. */
    cr_assert_eq(nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

TestSuite(http_response, .init = make_tree, .fini = remove_tree);

/* Builds the response to a request head; the head must parse. */
static void respond(const char *head, struct httpd_response *resp)
{
    struct http_request req;
    int status = http_parse_request(head, strlen(head), &req);
    cr_assert_eq(status, 0, "the test head must parse: %s", head);
    status = http_request_status(&req);
    cr_assert_eq(httpd_build_response(root_fd, &req, status, http_request_keeps_alive(&req), resp), 0);
}

static bool head_has(const struct httpd_response *resp, const char *line)
{
    return strstr(resp->head.data, line) != NULL;
}

Test(http_response, a_file_gets_its_length_type_and_dates)
{
    struct httpd_response resp;
    respond("GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", &resp);
    cr_assert_eq(resp.status, 200);
    cr_assert_geq(resp.file_fd, 0);
    cr_assert_eq(resp.content_length, 6);
    cr_assert(resp.send_body);
    cr_assert_not(resp.close);
    cr_assert(strncmp(resp.head.data, "HTTP/1.1 200 OK\r\n", 17) == 0);
    cr_assert(head_has(&resp, "\r\nContent-Length: 6\r\n"));
    cr_assert(head_has(&resp, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
    cr_assert(head_has(&resp, "\r\nDate: "));
    cr_assert(head_has(&resp, "\r\nLast-Modified: "));
    cr_assert(head_has(&resp, "\r\nServer: ts-httpd"));
    cr_assert(strcmp(resp.head.data + resp.head.len - 4, "\r\n\r\n") == 0);
    httpd_response_free(&resp);
}

Test(http_response, head_has_the_get_length_and_no_body_to_send)
{
    struct httpd_response resp;
    respond("HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", &resp);
    cr_assert_eq(resp.status, 200);
    cr_assert_eq(resp.content_length, 6);
    cr_assert_not(resp.send_body);
    httpd_response_free(&resp);
}

Test(http_response, http10_keep_alive_is_confirmed_and_close_is_announced)
{
    struct httpd_response resp;
    respond("GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &resp);
    cr_assert(head_has(&resp, "\r\nConnection: keep-alive\r\n"));
    httpd_response_free(&resp);
    respond("GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &resp);
    cr_assert(resp.close);
    cr_assert(head_has(&resp, "\r\nConnection: close\r\n"));
    httpd_response_free(&resp);
}

Test(http_response, a_missing_file_is_404_and_the_connection_persists)
{
    struct httpd_response resp;
    respond("GET /nope.txt HTTP/1.1\r\nHost: x\r\n\r\n", &resp);
    cr_assert_eq(resp.status, 404);
    cr_assert_eq(resp.file_fd, -1);
    cr_assert_eq(resp.content_length, resp.body.len);
    cr_assert_not(resp.close);
    httpd_response_free(&resp);
}

Test(http_response, dot_dot_is_400_and_closes)
{
    struct httpd_response resp;
    respond("GET /%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n", &resp);
    cr_assert_eq(resp.status, 400);
    cr_assert(resp.close);
    cr_assert_null(strstr(resp.body.data, "secret\n"));
    httpd_response_free(&resp);
}

Test(http_response, symbolic_links_out_of_the_root_are_not_followed)
{
    const char *heads[] = {"GET /escape.txt HTTP/1.1\r\nHost: x\r\n\r\n", "GET /abs.txt HTTP/1.1\r\nHost: x\r\n\r\n"};
    for (size_t i = 0; i < 2; i++) {
        struct httpd_response resp;
        respond(heads[i], &resp);
        cr_assert_eq(resp.status, 404, "%s", heads[i]);
        cr_assert_eq(resp.file_fd, -1);
        httpd_response_free(&resp);
    }
}

Test(http_response, a_fifo_is_refused_without_blocking)
{
    struct httpd_response resp;
    respond("GET /fifo HTTP/1.1\r\nHost: x\r\n\r\n", &resp);
    cr_assert_eq(resp.status, 403);
    httpd_response_free(&resp);
}

Test(http_response, a_directory_without_slash_is_redirected)
{
    struct httpd_response resp;
    respond("GET /dir?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", &resp);
    cr_assert_eq(resp.status, 301);
    cr_assert(head_has(&resp, "\r\nLocation: /dir/\r\n"));
    httpd_response_free(&resp);
}

Test(http_response, a_directory_lists_escaped_and_encoded_names)
{
    struct httpd_response resp;
    respond("GET /dir/ HTTP/1.1\r\nHost: x\r\n\r\n", &resp);
    cr_assert_eq(resp.status, 200);
    cr_assert_eq(resp.file_fd, -1);
    cr_assert_eq(resp.content_length, resp.body.len);
    cr_assert_not_null(strstr(resp.body.data, "<a href=\"%3Cb%3E%26.txt\">&lt;b&gt;&amp;.txt</a>"), "%s",
                       resp.body.data);
    cr_assert_not_null(strstr(resp.body.data, "<a href=\"../\">"));
    cr_assert_not_null(strstr(resp.body.data, "Index of /dir/"));
    httpd_response_free(&resp);
}

Test(http_response, the_root_lists_without_a_parent_link)
{
    struct httpd_response resp;
    respond("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &resp);
    cr_assert_eq(resp.status, 200);
    cr_assert_null(strstr(resp.body.data, "href=\"../\""));
    cr_assert_not_null(strstr(resp.body.data, "<a href=\"dir/\">dir/</a>"));
    cr_assert_not_null(strstr(resp.body.data, "<a href=\"hello.txt\">hello.txt</a>"));
    httpd_response_free(&resp);
}

Test(http_response, index_html_stands_for_its_directory)
{
    struct httpd_response resp;
    respond("GET /site/ HTTP/1.1\r\nHost: x\r\n\r\n", &resp);
    cr_assert_eq(resp.status, 200);
    cr_assert_geq(resp.file_fd, 0);
    cr_assert_eq(resp.content_length, strlen("<p>index</p>"));
    cr_assert(head_has(&resp, "\r\nContent-Type: text/html; charset=utf-8\r\n"));
    httpd_response_free(&resp);
}

Test(http_response, a_known_method_is_405_with_allow)
{
    struct httpd_response resp;
    respond("DELETE /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", &resp);
    cr_assert_eq(resp.status, 405);
    cr_assert(head_has(&resp, "\r\nAllow: GET, HEAD\r\n"));
    cr_assert_not(resp.close, "no body came with it: the connection can go on");
    httpd_response_free(&resp);
}

Test(http_response, an_unparsed_request_gets_the_error_and_a_close)
{
    struct httpd_response resp;
    cr_assert_eq(httpd_build_response(root_fd, NULL, 400, true, &resp), 0);
    cr_assert_eq(resp.status, 400);
    cr_assert(resp.close);
    cr_assert(resp.send_body);
    cr_assert(head_has(&resp, "\r\nConnection: close\r\n"));
    httpd_response_free(&resp);
}
