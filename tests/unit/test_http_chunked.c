/*
 * The chunked transfer coding decoder ts-get uses (apps/httpd/http_chunked.c),
 * RFC 9112 section 7.1: sizes, extensions, trailers, any split of the input,
 * and the malformed codings it must refuse rather than misframe.
 *
 * The module has no I/O and is not part of libtapstack: it is compiled into
 * this test directly.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "apps/httpd/http_chunked.c"

struct decoded {
    int rc;
    const char *why;
    bool done;
    size_t consumed;
    size_t body_len;
    char body[4096];
};

/* Feeds text in pieces of `step` bytes (0: all at once), collecting the body. */
static struct decoded decode(const char *text, size_t len, size_t step)
{
    struct decoded out;
    memset(&out, 0, sizeof out);
    struct http_chunked d;
    http_chunked_init(&d);
    uint8_t piece[8192];
    size_t pos = 0;
    if (step == 0)
        step = len;
    while (pos < len && !http_chunked_done(&d)) {
        size_t n = len - pos < step ? len - pos : step;
        cr_assert_leq(n, sizeof piece);
        memcpy(piece, text + pos, n);
        size_t body_len = 0, used = 0;
        out.rc = http_chunked_decode(&d, piece, n, &body_len, &used, &out.why);
        cr_assert_leq(out.body_len + body_len, sizeof out.body);
        memcpy(out.body + out.body_len, piece, body_len);
        out.body_len += body_len;
        out.consumed += used;
        if (out.rc < 0)
            break;
        pos += n;
    }
    out.done = http_chunked_done(&d);
    return out;
}

static struct decoded decode_str(const char *text)
{
    return decode(text, strlen(text), 0);
}

Test(http_chunked, decodes_chunks_up_to_the_last_chunk_and_final_crlf)
{
    struct decoded r = decode_str("4\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n\r\n");
    cr_assert_eq(r.rc, 0);
    cr_assert(r.done);
    cr_assert_eq(r.body_len, strlen("Wikipedia in \r\n\r\nchunks."));
    cr_assert_eq(memcmp(r.body, "Wikipedia in \r\n\r\nchunks.", r.body_len), 0);
}

Test(http_chunked, is_not_done_until_the_final_crlf)
{
    struct decoded r = decode_str("3\r\nabc\r\n0\r\n");
    cr_assert_eq(r.rc, 0);
    cr_assert_not(r.done);
    cr_assert_eq(r.body_len, 3);
}

Test(http_chunked, any_split_of_the_input_gives_the_same_body)
{
    const char *text = "a;name=value\r\n0123456789\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Sum: 1\r\n\r\n";
    const char *want = "0123456789abcdefghijklmnopqrstuvwxyz";
    for (size_t step = 1; step <= strlen(text); step++) {
        struct decoded r = decode(text, strlen(text), step);
        cr_assert_eq(r.rc, 0, "step %zu: %s", step, r.why ? r.why : "");
        cr_assert(r.done, "step %zu", step);
        cr_assert_eq(r.body_len, strlen(want), "step %zu", step);
        cr_assert_eq(memcmp(r.body, want, r.body_len), 0, "step %zu", step);
    }
}

Test(http_chunked, extensions_with_bws_and_quoted_values_are_skipped)
{
    struct decoded r = decode_str("2 ; a=1 ; b=\"x;y\"\r\nhi\r\n0;last\r\n\r\n");
    cr_assert_eq(r.rc, 0);
    cr_assert(r.done);
    cr_assert_eq(r.body_len, 2);
    cr_assert_eq(memcmp(r.body, "hi", 2), 0);
}

Test(http_chunked, trailer_fields_are_read_past)
{
    struct decoded r = decode_str("1\r\nx\r\n0\r\nExpires: never\r\nX-Check: abc\r\n\r\n");
    cr_assert_eq(r.rc, 0);
    cr_assert(r.done);
    cr_assert_eq(r.body_len, 1);
}

Test(http_chunked, hex_sizes_may_be_upper_case_or_zero_padded)
{
    struct decoded r = decode_str("000000000000000000000B\r\nhello world\r\n00\r\n\r\n");
    cr_assert_eq(r.rc, 0);
    cr_assert(r.done);
    cr_assert_eq(r.body_len, 11);
}

Test(http_chunked, bare_lf_line_endings_are_tolerated)
{
    struct decoded r = decode_str("3\nabc\n0\n\n");
    cr_assert_eq(r.rc, 0);
    cr_assert(r.done);
    cr_assert_eq(r.body_len, 3);
}

Test(http_chunked, bytes_after_the_end_are_not_consumed)
{
    const char *text = "1\r\nz\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n";
    struct decoded r = decode_str(text);
    cr_assert_eq(r.rc, 0);
    cr_assert(r.done);
    cr_assert_eq(r.consumed, strlen("1\r\nz\r\n0\r\n\r\n"));
}

Test(http_chunked, a_size_that_is_not_hex_is_refused)
{
    struct decoded r = decode_str("g\r\n");
    cr_assert_eq(r.rc, -1);
    cr_assert_not_null(r.why);
    r = decode_str("\r\n");
    cr_assert_eq(r.rc, -1, "an empty size line");
    r = decode_str("5x\r\n");
    cr_assert_eq(r.rc, -1);
}

Test(http_chunked, data_longer_than_its_size_is_refused)
{
    struct decoded r = decode_str("2\r\nabc\r\n0\r\n\r\n");
    cr_assert_eq(r.rc, -1);
    cr_assert_eq(r.body_len, 2, "what was inside the chunk is still body");
}

Test(http_chunked, cr_without_lf_is_refused)
{
    cr_assert_eq(decode_str("2\rab\r\n").rc, -1);
    cr_assert_eq(decode_str("2\r\nab\rX").rc, -1);
    cr_assert_eq(decode_str("0\r\n\rX").rc, -1);
}

Test(http_chunked, a_size_that_would_overflow_is_refused)
{
    struct decoded r = decode_str("10000000000000000\r\n");
    cr_assert_eq(r.rc, -1);
    r = decode_str("FFFFFFFFFFFFFFFF\r\n");
    cr_assert_eq(r.rc, 0, "the largest 64-bit size still parses");
}

Test(http_chunked, extensions_and_trailers_are_bounded)
{
    size_t len = HTTP_CHUNK_EXT_MAX + 16;
    char *text = malloc(len + 1);
    cr_assert_not_null(text);
    memset(text, 'e', len);
    text[0] = '1';
    text[1] = ';';
    text[len] = '\0';
    cr_assert_eq(decode(text, len, 1000).rc, -1);
    free(text);

    len = HTTP_CHUNK_TRAILER_MAX + 64;
    text = malloc(len + 1);
    cr_assert_not_null(text);
    memset(text, 'T', len);
    memcpy(text, "0\r\nX: ", 6);
    text[len] = '\0';
    struct decoded r = decode(text, len, 4096);
    cr_assert_eq(r.rc, -1);
    free(text);
}
