/* libFuzzer target: one frame into a stack with sockets, pending ARP and timers. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_world w;
    fuzz_world_init(&w);
    fuzz_world_input(&w, data, size);
    fuzz_world_advance(&w, TS_SEC(1));
    fuzz_world_finish(&w);
    return 0;
}
