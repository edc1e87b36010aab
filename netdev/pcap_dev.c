/*
 * The pcap file device, and the capture writer it shares with the tee.
 *
 * Input frames come out in file order with the capture's own timestamps,
 * whatever `now` the caller passes: the replay harness owns virtual time and
 * decides when to feed each one. Output frames are appended with `now` as their
 * timestamp. Only Ethernet (DLT_EN10MB) captures are accepted, since the core
 * speaks nothing else.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "netdev_internal.h"

/* ---- the writer ------------------------------------------------------------ */

/* libpcap sometimes starts its message with the path and sometimes not: name the file exactly once. */
static void capture_error(char *errbuf, size_t errlen, const char *what, const char *path, const char *pcap_msg)
{
    if (strncmp(pcap_msg, path, strlen(path)) == 0)
        ts_netdev_errorf(errbuf, errlen, "cannot %s capture %s", what, pcap_msg);
    else
        ts_netdev_errorf(errbuf, errlen, "cannot %s capture %s: %s", what, path, pcap_msg);
}

int ts_pcap_writer_open(struct ts_pcap_writer *w, const char *path, char *errbuf, size_t errlen)
{
    memset(w, 0, sizeof *w);
    if (!path || !*path) {
        ts_netdev_errorf(errbuf, errlen, "no capture file name given");
        return -EINVAL;
    }
    w->dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, TS_PCAP_SNAPLEN, PCAP_TSTAMP_PRECISION_MICRO);
    if (!w->dead) {
        ts_netdev_errorf(errbuf, errlen, "cannot write capture %s: out of memory", path);
        return -ENOMEM;
    }
    w->dumper = pcap_dump_open(w->dead, path);
    if (!w->dumper) {
        capture_error(errbuf, errlen, "write", path, pcap_geterr(w->dead));
        pcap_close(w->dead);
        w->dead = NULL;
        return -EIO;
    }
    return 0;
}

/* Floor division, so times before the origin still give a valid (sec, usec) pair. */
static struct timeval timeval_of(ts_time at)
{
    struct timeval tv;
    ts_time sec = at / 1000000;
    ts_time usec = at % 1000000;

    if (usec < 0) {
        usec += 1000000;
        sec -= 1;
    }
    tv.tv_sec = (time_t)sec;
    tv.tv_usec = (suseconds_t)usec;
    return tv;
}

int ts_pcap_writer_write(struct ts_pcap_writer *w, ts_time at, const uint8_t *frame, size_t len)
{
    struct pcap_pkthdr hdr;

    memset(&hdr, 0, sizeof hdr);
    hdr.ts = timeval_of(at);
    hdr.caplen = (bpf_u_int32)(len > TS_PCAP_SNAPLEN ? TS_PCAP_SNAPLEN : len);
    hdr.len = len > UINT32_MAX ? UINT32_MAX : (bpf_u_int32)len;
    pcap_dump((u_char *)w->dumper, &hdr, frame);
    return pcap_dump_flush(w->dumper) == 0 ? 0 : -EIO;
}

void ts_pcap_writer_close(struct ts_pcap_writer *w)
{
    if (w->dumper)
        pcap_dump_close(w->dumper);
    if (w->dead)
        pcap_close(w->dead);
    w->dumper = NULL;
    w->dead = NULL;
}

/* ---- the device -------------------------------------------------------------- */

struct pcap_dev {
    struct ts_netdev dev;
    pcap_t *in;       /* NULL for an output-only device */
    bool in_done;     /* the input reached its end (or failed): -ENODATA from now on */
    struct ts_pcap_writer out; /* out.dumper NULL for an input-only device */
};

static struct pcap_dev *pcap_dev_of(struct ts_netdev *dev)
{
    return (struct pcap_dev *)dev;
}

/* A device without an output file swallows what it is given, like a cable to nowhere. */
static int pcap_dev_transmit(struct ts_netdev *dev, ts_time now, const uint8_t *frame, size_t len)
{
    struct pcap_dev *p = pcap_dev_of(dev);

    if (!p->out.dumper)
        return 0;
    return ts_pcap_writer_write(&p->out, now, frame, len);
}

static int pcap_dev_receive(struct ts_netdev *dev, ts_time now, uint8_t *buf, size_t cap, size_t *len,
                            ts_time *when)
{
    struct pcap_dev *p = pcap_dev_of(dev);
    struct pcap_pkthdr *hdr;
    const u_char *data;
    int rc;

    (void)now;
    /* An output-only device has no input at all rather than an input that ended. */
    if (!p->in)
        return 0;
    if (p->in_done)
        return -ENODATA;
    rc = pcap_next_ex(p->in, &hdr, &data);
    if (rc != 1) {
        /* -2 is the end of the file; -1 a damaged one. Either way nothing more will come. */
        p->in_done = true;
        return rc == -2 ? -ENODATA : -EIO;
    }
    /* A record cut short by the capture's snaplen is delivered as captured: the stack drops it as malformed. */
    if (hdr->caplen > cap)
        return -EMSGSIZE;
    memcpy(buf, data, hdr->caplen);
    *len = hdr->caplen;
    *when = (ts_time)hdr->ts.tv_sec * 1000000 + (ts_time)hdr->ts.tv_usec;
    return 1;
}

static int pcap_dev_wait_fd(struct ts_netdev *dev)
{
    (void)dev;
    return -1;
}

/* Frames in the file are ready at once: a loop driving this device must not sleep while any remain. */
static ts_time pcap_dev_next_deadline(struct ts_netdev *dev, ts_time now)
{
    struct pcap_dev *p = pcap_dev_of(dev);

    return (p->in && !p->in_done) ? now : TS_TIME_NEVER;
}

static void pcap_dev_destroy(struct ts_netdev *dev)
{
    struct pcap_dev *p = pcap_dev_of(dev);

    if (p->in)
        pcap_close(p->in);
    ts_pcap_writer_close(&p->out);
    free(p);
}

static const struct ts_netdev_ops pcap_dev_ops = {
    .kind = "pcap",
    .transmit = pcap_dev_transmit,
    .receive = pcap_dev_receive,
    .wait_fd = pcap_dev_wait_fd,
    .next_deadline = pcap_dev_next_deadline,
    .poll = NULL,
    .destroy = pcap_dev_destroy,
};

static pcap_t *open_input(const char *path, char *errbuf, size_t errlen)
{
    char pcap_err[PCAP_ERRBUF_SIZE] = "";
    pcap_t *in;
    int dlt;

    /* Ask for microseconds: libpcap converts nanosecond captures for us. */
    in = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, pcap_err);
    if (!in) {
        capture_error(errbuf, errlen, "read", path, pcap_err);
        return NULL;
    }
    dlt = pcap_datalink(in);
    if (dlt != DLT_EN10MB) {
        const char *dlt_name = pcap_datalink_val_to_name(dlt);
        ts_netdev_errorf(errbuf, errlen,
                         "capture %s has link type %s (%d), not Ethernet: only Ethernet (DLT_EN10MB) "
                         "captures can be replayed",
                         path, dlt_name ? dlt_name : "unknown", dlt);
        pcap_close(in);
        return NULL;
    }
    return in;
}

struct ts_netdev *ts_pcap_open(const char *in_path, const char *out_path, char *errbuf, size_t errlen)
{
    struct pcap_dev *p;

    if (!in_path && !out_path) {
        ts_netdev_errorf(errbuf, errlen, "a pcap device needs an input capture, an output capture, or both");
        return NULL;
    }
    p = calloc(1, sizeof *p);
    if (!p) {
        ts_netdev_errorf(errbuf, errlen, "cannot open pcap device: out of memory");
        return NULL;
    }
    p->dev.ops = &pcap_dev_ops;
    ts_netdev_set_name(&p->dev, "pcap");
    p->dev.mtu = 1500;
    p->dev.has_mac = false;
    if (in_path && !(p->in = open_input(in_path, errbuf, errlen))) {
        free(p);
        return NULL;
    }
    if (out_path && ts_pcap_writer_open(&p->out, out_path, errbuf, errlen) < 0) {
        pcap_dev_destroy(&p->dev);
        return NULL;
    }
    return &p->dev;
}
