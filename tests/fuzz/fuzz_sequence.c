/*
 * libFuzzer target: a sequence of frames with fuzzer-chosen time steps.
 * Input format, repeated: [u16 big-endian frame length][u8 time step in ms][frame bytes].
 * A truncated record ends the sequence. Reaches state that builds up over
 * several frames: reassembly, ARP learning and expiry, queues filling.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_world w;
    fuzz_world_init(&w);
    size_t pos = 0;
    for (int frames = 0; frames < 256 && pos + 3 <= size; frames++) {
        size_t len = ((size_t)data[pos] << 8) | data[pos + 1];
        ts_time step = TS_MSEC(data[pos + 2]) * (data[pos + 2] >= 250 ? 200 : 1); /* 250+: jumps past timeouts */
        pos += 3;
        if (len > size - pos)
            len = size - pos;
        fuzz_world_input(&w, data + pos, len);
        fuzz_world_advance(&w, step);
        pos += len;
    }
    fuzz_world_finish(&w);
    return 0;
}
