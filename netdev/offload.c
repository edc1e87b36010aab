/*
 * Software fallbacks for the offloads a TAP with a virtio-net header takes part
 * in: a device that hands a frame to a caller that cannot take its promise
 * (struct ts_frame_meta) completes the partial checksum first, so the caller
 * sees a standard frame.
 */
#include <errno.h>

#include "netdev_internal.h"

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
    uint16_t sum = ts_inet_checksum(frame + meta->csum_start, len - meta->csum_start);
    uint8_t *field = frame + meta->csum_start + meta->csum_offset;
    field[0] = (uint8_t)(sum >> 8);
    field[1] = (uint8_t)sum;
    meta->flags &= ~TS_FRAME_CSUM_PARTIAL;
    meta->flags |= TS_FRAME_CSUM_VERIFIED;
    return 0;
}
