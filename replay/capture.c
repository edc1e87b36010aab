/*
 * Reading and writing the cases' captures. Everything goes through libpcap so
 * the files are exactly what Wireshark and tcpdump read and write.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay_internal.h"

/* A capture of a few kilobytes holds tens of frames; this bounds a corrupt or wrong file. */
#define REPLAY_MAX_CAPTURE_FRAMES 100000

void replay_frames_free(struct replay_frame *frames, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(frames[i].data);
    free(frames);
}

static int append_frame(struct replay_frame **frames, size_t *n, size_t *cap, const struct pcap_pkthdr *h,
                        const uint8_t *bytes)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct replay_frame *nf = realloc(*frames, ncap * sizeof(**frames));
        if (!nf)
            return -1;
        *frames = nf;
        *cap = ncap;
    }
    struct replay_frame *f = &(*frames)[*n];
    memset(f, 0, sizeof(*f));
    f->data = malloc(h->caplen ? h->caplen : 1);
    if (!f->data)
        return -1;
    memcpy(f->data, bytes, h->caplen);
    f->len = h->caplen;
    f->t = (ts_time)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
    f->index = (unsigned)*n + 1;
    (*n)++;
    return 0;
}

static int read_all(pcap_t *p, const char *path, struct replay_frame **frames, size_t *n, char *err, size_t errlen)
{
    size_t cap = 0;
    struct pcap_pkthdr *h;
    const u_char *bytes;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &bytes)) == 1) {
        if (h->caplen != h->len) {
            snprintf(err, errlen, "%s: frame %zu was cut to %u of %u bytes when captured; a replay needs whole frames",
                     path, *n + 1, h->caplen, h->len);
            return -1;
        }
        if (*n == REPLAY_MAX_CAPTURE_FRAMES) {
            snprintf(err, errlen, "%s: more than %d frames; replay captures are meant to be small", path,
                     REPLAY_MAX_CAPTURE_FRAMES);
            return -1;
        }
        if (append_frame(frames, n, &cap, h, bytes) != 0) {
            snprintf(err, errlen, "%s: out of memory", path);
            return -1;
        }
    }
    if (rc == PCAP_ERROR) {
        snprintf(err, errlen, "%s: %s", path, pcap_geterr(p));
        return -1;
    }
    return 0;
}

int replay_capture_read(const char *path, struct replay_frame **frames, size_t *n, char *err, size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    *frames = NULL;
    *n = 0;
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, perr);
    if (!p) {
        /* libpcap names the file itself in some messages and not in others. */
        if (strstr(perr, path))
            snprintf(err, errlen, "%s", perr);
        else
            snprintf(err, errlen, "%s: %s", path, perr);
        return -1;
    }
    if (pcap_datalink(p) != DLT_EN10MB) {
        snprintf(err, errlen, "%s: link type %s, but replay cases hold Ethernet frames (EN10MB)", path,
                 pcap_datalink_val_to_name(pcap_datalink(p)) ? pcap_datalink_val_to_name(pcap_datalink(p)) : "?");
        pcap_close(p);
        return -1;
    }
    int rc = read_all(p, path, frames, n, err, errlen);
    pcap_close(p);
    if (rc != 0) {
        replay_frames_free(*frames, *n);
        *frames = NULL;
        *n = 0;
    }
    return rc;
}

int replay_capture_write(const char *path, const struct replay_frame *frames, size_t n, char *err, size_t errlen)
{
    pcap_t *dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_MICRO);
    if (!dead) {
        snprintf(err, errlen, "%s: pcap_open_dead failed", path);
        return -1;
    }
    pcap_dumper_t *dump = pcap_dump_open(dead, path);
    if (!dump) {
        snprintf(err, errlen, "%s: %s", path, pcap_geterr(dead));
        pcap_close(dead);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct pcap_pkthdr h;
        memset(&h, 0, sizeof(h));
        h.ts.tv_sec = (time_t)(frames[i].t / 1000000);
        h.ts.tv_usec = (suseconds_t)(frames[i].t % 1000000);
        h.caplen = h.len = (bpf_u_int32)frames[i].len;
        pcap_dump((u_char *)dump, &h, frames[i].data);
    }
    int rc = 0;
    if (pcap_dump_flush(dump) != 0) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        rc = -1;
    }
    pcap_dump_close(dump);
    pcap_close(dead);
    return rc;
}
