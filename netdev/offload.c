/*
 * Software fallbacks for the offloads a TAP with a virtio-net header takes part
 * in: a device that hands a frame to a caller that cannot take its promise
 * (struct ts_frame_meta) completes the partial checksum first, so the caller
 * sees a standard frame.
 */
#include <errno.h>

#include "netdev_internal.h"

/* RFC 1071: the one's-complement sum of big-endian 16-bit words, an odd last byte padded with zero. */
static uint32_t sum_words(const uint8_t *p, size_t len)
{
    uint64_t acc = 0;
    while (len >= 2) {
        acc += (uint32_t)((p[0] << 8) | p[1]);
        p += 2;
        len -= 2;
    }
    if (len == 1)
        acc += (uint32_t)(p[0] << 8);
    while (acc >> 16)
        acc = (acc & 0xffffu) + (acc >> 16);
    return (uint32_t)acc;
}

bool ts_frame_meta_csum_fits(const struct ts_frame_meta *meta, size_t len)
{
    return (size_t)meta->csum_start + meta->csum_offset + 2 <= len;
}

int ts_netdev_complete_checksum(uint8_t *frame, size_t len, struct ts_frame_meta *meta)
{
    if (!(meta->flags & TS_FRAME_CSUM_PARTIAL))
        return 0;
    if (!ts_frame_meta_csum_fits(meta, len))
        return -EINVAL;
    /* The field already holds the pseudo-header sum: summing it with the rest gives the whole sum. */
    uint16_t sum = (uint16_t)~sum_words(frame + meta->csum_start, len - meta->csum_start);
    uint8_t *field = frame + meta->csum_start + meta->csum_offset;
    field[0] = (uint8_t)(sum >> 8);
    field[1] = (uint8_t)sum;
    meta->flags &= ~TS_FRAME_CSUM_PARTIAL;
    meta->flags |= TS_FRAME_CSUM_VERIFIED;
    return 0;
}
