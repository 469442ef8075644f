/* Size edge cases of the encoder's C API, run under ASan + UBSan: chunk
 * sizes beyond the stream or the 32-bit length fields, empty frames in
 * exact-size buffers, overflowing bounds.  Exit status 0 = all hold. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pzf.h"

static int failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);     \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static pzf_params chunked(uint32_t w, uint32_t h, size_t chunk_size)
{
    pzf_params p;
    pzf_params_init(&p);
    p.compression = PZF_HUFFMAN_CHUNKED;
    p.shape[0] = w;
    p.shape[1] = h;
    p.chunk_size = chunk_size;
    return p;
}

int main(void)
{
    uint16_t frame[64];
    uint8_t *blob, *out;
    size_t i, bound;
    int64_t n;
    pzf_params p;

    for (i = 0; i < 64; i++)
        frame[i] = (uint16_t)(i * 7);

    /* chunk sizes past the stream: one chunk of the stream, a small bound */
    {
        size_t sizes[] = {(size_t)1 << 20, (size_t)-1, (size_t)-2, (size_t)0xFFFFFFFFu};
        for (i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            p = chunked(8, 8, sizes[i]);
            bound = pzf_compress_bound(&p);
            CHECK(bound > 0 && bound < 1024);
            blob = (uint8_t *)malloc(bound);
            out = (uint8_t *)malloc(sizeof frame);
            n = pzf_compress(frame, &p, blob, bound);
            CHECK(n > 0);
            if (n > 0)
                CHECK(pzf_decompress(blob, (size_t)n, out, sizeof frame,
                                     PZF_DEFAULT_MAX_DECODED, 1) == (int64_t)sizeof frame &&
                      memcmp(out, frame, sizeof frame) == 0);
            free(blob);
            free(out);
        }
    }

    /* a frame of 8 GiB: chunks stay below the 32-bit length fields */
    p = chunked(65536, 65536, (size_t)-1);
    bound = pzf_compress_bound(&p);
    if (sizeof(size_t) >= 8)
        CHECK(bound >= ((size_t)8 << 30) + PZF_HEADER_SIZE + 2 + 3 * (8 + pzf_huf_bound(0)));

    /* an empty chunked frame: header and chunk count, nothing past cap */
    p = chunked(0, 16, 0);
    bound = pzf_compress_bound(&p);
    CHECK(bound == PZF_HEADER_SIZE + 2);
    blob = (uint8_t *)malloc(PZF_HEADER_SIZE);
    CHECK(pzf_compress(frame, &p, blob, PZF_HEADER_SIZE) == PZF_ERR_DST_SIZE);
    free(blob);
    blob = (uint8_t *)malloc(bound);
    CHECK(pzf_compress(frame, &p, blob, bound) == (int64_t)bound);
    free(blob);

    /* bounds that would overflow say 0 */
    CHECK(pzf_huf_bound((size_t)-1) == 0);
    pzf_params_init(&p);
    p.data_format = PZF_FLOAT32;
    p.shape[0] = p.shape[1] = (uint64_t)1 << 31;
    CHECK(pzf_compress_bound(&p) == 0);

    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    return failures != 0;
}
