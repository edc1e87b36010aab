/*
 * The chunked transfer coding (RFC 9112 section 7.1), decoded as bytes arrive.
 *
 * The decoder is a small state machine fed any split of the input: a chunk
 * size, an extension or a CRLF may straddle two reads. It decodes in place,
 * since the body is never longer than its encoding. Chunk extensions are
 * skipped and trailer fields read past and dropped (RFC 9112 sections 7.1.1 and
 * 7.1.2 allow a recipient to ignore both), each within a bound so that a peer
 * cannot make it read forever.
 */
#ifndef TS_HTTP_CHUNKED_H
#define TS_HTTP_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A chunk line's extensions, and the trailer section as a whole, longer than these are refused. */
#define HTTP_CHUNK_EXT_MAX 4096
#define HTTP_CHUNK_TRAILER_MAX 65536

enum http_chunked_state {
    HTTP_CHUNK_SIZE,        /* hex digits of a chunk size */
    HTTP_CHUNK_EXT,         /* after the size: BWS, ';' extensions, up to the line end */
    HTTP_CHUNK_SIZE_LF,     /* the LF after the chunk line's CR */
    HTTP_CHUNK_DATA,        /* chunk-data */
    HTTP_CHUNK_DATA_CR,     /* the CRLF after chunk-data */
    HTTP_CHUNK_DATA_LF,
    HTTP_CHUNK_TRAILER,     /* at the start of a trailer line, or of the final empty line */
    HTTP_CHUNK_TRAILER_LINE, /* inside a trailer field line */
    HTTP_CHUNK_FINAL_LF,    /* the LF of the final empty line */
    HTTP_CHUNK_DONE,
};

struct http_chunked {
    enum http_chunked_state state;
    uint64_t size;      /* the chunk size being read, then what is left of that chunk's data */
    unsigned digits;    /* hex digits read of the size */
    size_t ext_bytes;   /* bytes of the current chunk line's extensions */
    size_t trailer_bytes;
    uint64_t body_bytes; /* decoded so far */
};

void http_chunked_init(struct http_chunked *d);

/*
 * Decodes len bytes at buf, in place. On return the first *body_len bytes of buf are body; *consumed
 * says how many input bytes were used (all of them unless the coding ended inside buf: what follows is
 * not body). Returns 0, or -1 with *why (a static string) when the coding is malformed.
 */
int http_chunked_decode(struct http_chunked *d, uint8_t *buf, size_t len, size_t *body_len, size_t *consumed,
                        const char **why);

/* True once the last chunk, the trailers and the final CRLF have all arrived. */
bool http_chunked_done(const struct http_chunked *d);

#endif
