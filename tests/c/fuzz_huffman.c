/* libFuzzer target: pzf_huf_decompress; the first 2 bytes give the length. */
#include <stdint.h>
#include <stdlib.h>

#include "pzf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n;
    uint8_t *out;
    if (size < 2)
        return 0;
    n = (size_t)data[0] << 8 | data[1];
    out = (uint8_t *)malloc(n + 1);
    if (!out)
        return 0;
    pzf_huf_decompress(data + 2, size - 2, out, n);
    free(out);
    return 0;
}
