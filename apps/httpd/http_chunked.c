/*
 * The chunked transfer coding, decoded in place: see http_chunked.h.
 *
 * RFC 9112 section 7.1:
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   last-chunk   = 1*("0") [ chunk-ext ] CRLF
 * Like the heads, a bare LF is accepted where a CRLF belongs (section 2.2).
 */
#include "http_chunked.h"

#include <string.h>

void http_chunked_init(struct http_chunked *d)
{
    memset(d, 0, sizeof *d);
    d->state = HTTP_CHUNK_SIZE;
}

bool http_chunked_done(const struct http_chunked *d)
{
    return d->state == HTTP_CHUNK_DONE;
}

static int hex_digit(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The chunk line is complete: data follows, or, after a zero size, the trailer section. */
static void end_chunk_line(struct http_chunked *d)
{
    d->state = d->size == 0 ? HTTP_CHUNK_TRAILER : HTTP_CHUNK_DATA;
}

static int on_size_byte(struct http_chunked *d, uint8_t c, const char **why)
{
    int v = hex_digit(c);
    if (v >= 0) {
        /* RFC 9112 section 7.1: anticipate large hexadecimal numerals and guard against overflow. */
        if (d->size > (UINT64_MAX >> 4)) {
            *why = "chunk size too large";
            return -1;
        }
        d->size = d->size * 16 + (uint64_t)v;
        d->digits++; /* leading zeros count as seen digits but not towards the size */
        return 0;
    }
    if (d->digits == 0) {
        *why = "chunk size is not a hexadecimal number";
        return -1;
    }
    d->ext_bytes = 0;
    if (c == '\r') {
        d->state = HTTP_CHUNK_SIZE_LF;
    } else if (c == '\n') {
        end_chunk_line(d);
    } else if (c == ';' || c == ' ' || c == '\t') {
        d->state = HTTP_CHUNK_EXT; /* chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ) */
    } else {
        *why = "unexpected character after the chunk size";
        return -1;
    }
    return 0;
}

/* Extensions are not interpreted: skipped up to the line end, within a bound. */
static int on_ext_byte(struct http_chunked *d, uint8_t c, const char **why)
{
    if (c == '\r') {
        d->state = HTTP_CHUNK_SIZE_LF;
    } else if (c == '\n') {
        end_chunk_line(d);
    } else if (++d->ext_bytes > HTTP_CHUNK_EXT_MAX) {
        *why = "chunk extension too long";
        return -1;
    }
    return 0;
}

/* Trailer fields are read past; only the size of the whole section is checked. */
static int on_trailer_byte(struct http_chunked *d, uint8_t c, const char **why)
{
    if (++d->trailer_bytes > HTTP_CHUNK_TRAILER_MAX) {
        *why = "trailer section too long";
        return -1;
    }
    if (d->state == HTTP_CHUNK_TRAILER) {
        if (c == '\r')
            d->state = HTTP_CHUNK_FINAL_LF;
        else if (c == '\n')
            d->state = HTTP_CHUNK_DONE;
        else
            d->state = HTTP_CHUNK_TRAILER_LINE;
    } else if (c == '\n') {
        d->state = HTTP_CHUNK_TRAILER; /* the next line: another field, or the empty one */
    }
    return 0;
}

static int start_next_chunk(struct http_chunked *d)
{
    d->state = HTTP_CHUNK_SIZE;
    d->size = 0;
    d->digits = 0;
    return 0;
}

/* Every state but DATA and DONE looks at one byte of framing. */
static int on_framing_byte(struct http_chunked *d, uint8_t c, const char **why)
{
    switch (d->state) {
    case HTTP_CHUNK_SIZE:
        return on_size_byte(d, c, why);
    case HTTP_CHUNK_EXT:
        return on_ext_byte(d, c, why);
    case HTTP_CHUNK_SIZE_LF:
        if (c != '\n') {
            *why = "CR without LF after a chunk size";
            return -1;
        }
        end_chunk_line(d);
        return 0;
    case HTTP_CHUNK_DATA_CR:
        if (c == '\r') {
            d->state = HTTP_CHUNK_DATA_LF;
            return 0;
        }
        if (c == '\n')
            return start_next_chunk(d);
        *why = "chunk data longer than its size";
        return -1;
    case HTTP_CHUNK_DATA_LF:
        if (c != '\n') {
            *why = "CR without LF after chunk data";
            return -1;
        }
        return start_next_chunk(d);
    case HTTP_CHUNK_TRAILER:
    case HTTP_CHUNK_TRAILER_LINE:
        return on_trailer_byte(d, c, why);
    case HTTP_CHUNK_FINAL_LF:
        if (c != '\n') {
            *why = "CR without LF at the end of the chunked body";
            return -1;
        }
        d->state = HTTP_CHUNK_DONE;
        return 0;
    case HTTP_CHUNK_DATA:
    case HTTP_CHUNK_DONE:
        break;
    }
    *why = "internal: chunked decoder in a data state";
    return -1;
}

int http_chunked_decode(struct http_chunked *d, uint8_t *buf, size_t len, size_t *body_len, size_t *consumed,
                        const char **why)
{
    size_t r = 0, w = 0;
    *why = NULL;
    while (r < len && d->state != HTTP_CHUNK_DONE) {
        if (d->state == HTTP_CHUNK_DATA) {
            size_t n = len - r;
            if ((uint64_t)n > d->size)
                n = (size_t)d->size;
            /* The body only ever moves towards the start of buf: w <= r. */
            memmove(buf + w, buf + r, n);
            w += n;
            r += n;
            d->size -= n;
            d->body_bytes += n;
            if (d->size == 0)
                d->state = HTTP_CHUNK_DATA_CR;
            continue;
        }
        if (on_framing_byte(d, buf[r], why) < 0) {
            *body_len = w;
            *consumed = r;
            return -1;
        }
        r++;
    }
    *body_len = w;
    *consumed = r;
    return 0;
}
