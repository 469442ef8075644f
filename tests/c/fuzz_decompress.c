/* libFuzzer target: pzf_decompress on arbitrary blobs (1 and 2 threads). */
#include <stdint.h>
#include <stdlib.h>

#include "pzf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pzf_header h;
    int64_t n = pzf_read_header(data, size, (uint64_t)1 << 24, &h);
    void *out;
    if (n < 0)
        return 0;
    out = malloc((size_t)n + 1);
    if (!out)
        return 0;
    pzf_decompress(data, size, out, (size_t)n, (uint64_t)1 << 24, 1 + (size & 1));
    free(out);
    return 0;
}
