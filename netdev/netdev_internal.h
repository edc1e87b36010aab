/*
 * Helpers shared by the devices in netdev/ and not part of the public API.
 */
#ifndef TAPSTACK_NETDEV_INTERNAL_H
#define TAPSTACK_NETDEV_INTERNAL_H

#include <pcap/pcap.h>
#include <stdio.h>

#include "tapstack/netdev.h"

/* Largest frame any capture we write or read holds in full: the classic pcap snaplen. */
#define TS_PCAP_SNAPLEN 65535

/* Formats an error message into errbuf (if any) the way every opener does. */
void ts_netdev_errorf(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies name into dev->name, truncating to fit (the name is for display only). */
void ts_netdev_set_name(struct ts_netdev *dev, const char *name);

/* Whether a partial checksum's field (csum_start + csum_offset, 2 bytes) lies inside a frame of len bytes. */
bool ts_frame_meta_csum_fits(const struct ts_frame_meta *meta, size_t len);
/*
 * Fills in the transport checksum a TS_FRAME_CSUM_PARTIAL frame leaves to the device and turns the
 * flag into TS_FRAME_CSUM_VERIFIED; does nothing to other frames. -EINVAL if the offsets lie outside.
 */
int ts_netdev_complete_checksum(uint8_t *frame, size_t len, struct ts_frame_meta *meta);

/* A capture being written: DLT_EN10MB, microsecond timestamps. */
struct ts_pcap_writer {
    pcap_t *dead;
    pcap_dumper_t *dumper;
};

/* Opens path for writing; 0, or -errno with a message naming the path. */
int ts_pcap_writer_open(struct ts_pcap_writer *w, const char *path, char *errbuf, size_t errlen);
/*
 * Appends one frame stamped `at` (microseconds since the Unix epoch as far as a
 * reader is concerned) and flushes, so an interrupted run leaves a whole file.
 * Frames longer than the snaplen are cut to it; the record keeps their real length.
 */
int ts_pcap_writer_write(struct ts_pcap_writer *w, ts_time at, const uint8_t *frame, size_t len);
void ts_pcap_writer_close(struct ts_pcap_writer *w);

#endif
