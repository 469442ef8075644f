/* libFuzzer target: compress arbitrary pixels in every mode (context
 * included), decode, and check that lossless modes are exact. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pzf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pzf_params p;
    size_t n, cap, isz;
    uint8_t *blob, *out;
    int64_t bsize, dsize;
    if (size < 4)
        return 0;
    pzf_params_init(&p);
    p.data_format = data[0] % 3;
    p.compression = (data[0] / 3) % 4;
    p.quantization = (data[0] / 12) % 2;
    p.dim_order = (data[0] & 0x80) ? 'F' : 'C';
    p.quant_offset = (float)data[1];
    p.quant_scale = 0.25f + (float)data[2] / 16.0f;
    p.nthreads = 1 + (data[3] & 1);
    p.chunk_size = 1 + (size_t)data[3] * 7;
    data += 4;
    size -= 4;
    isz = pzf_itemsize(p.data_format);
    n = size / isz;
    p.shape[0] = (uint32_t)n;
    p.shape[1] = 1;
    p.shape[2] = 1;
    cap = pzf_compress_bound(&p);
    blob = (uint8_t *)malloc(cap);
    out = (uint8_t *)malloc(n * isz + 1);
    if (!blob || !out)
        abort();
    bsize = pzf_compress(data, &p, blob, cap);
    if (bsize < 0) {
        /* only quantisation may refuse (never for these parameters) */
        abort();
    }
    dsize = pzf_decompress(blob, (size_t)bsize, out, n * isz, UINT64_MAX, p.nthreads);
    if (dsize != (int64_t)(n * isz))
        abort();
    if (p.quantization == PZF_QUANT_NONE && n && memcmp(out, data, n * isz) != 0)
        abort();
    free(blob);
    free(out);
    return 0;
}
