/*
 * What ts-httpd answers to one request: the status line and header fields,
 * and a body that is either in memory (error pages, directory listings) or an
 * open file the connection streams in chunks. Building a response touches
 * only the file system under the served root, never a socket.
 */
#ifndef TS_HTTPD_RESPONSE_H
#define TS_HTTPD_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_parse.h"

/* A growable byte string; an allocation failure is remembered rather than reported at each append. */
struct httpd_buf {
    char *data;
    size_t len, cap;
    bool failed;
};

struct httpd_response {
    int status;
    struct httpd_buf head;   /* status line, header fields, the empty line */
    struct httpd_buf body;   /* an in-memory body, or empty when the body is a file */
    int file_fd;             /* the file to stream as the body, or -1 */
    uint64_t content_length; /* the body's length, whether or not it is sent */
    bool send_body;          /* false for HEAD: only the head goes out */
    bool close;              /* "Connection: close" was sent: the connection ends after this response */
};

/*
 * Builds the answer to a request. req is the parsed request when the head parsed (NULL when it did not);
 * status is 0 when the request is acceptable so far, else the error status to answer with. keep_alive
 * says whether the connection may persist as far as the request is concerned: errors that leave the
 * stream in doubt close it anyway. Returns 0, or -1 when memory ran out (resp is then freed).
 */
int httpd_build_response(int root_fd, const struct http_request *req, int status, bool keep_alive,
                         struct httpd_response *resp);

/* Frees the buffers and closes the file. */
void httpd_response_free(struct httpd_response *resp);

#endif
