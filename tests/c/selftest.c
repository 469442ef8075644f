/* Portable self-test of the C core: compresses deterministic pseudo-random
 * frames in every mode, decodes them back, and prints one FNV-1a hash line
 * per case (blob bytes, decoded bytes, quantised symbols), then decodes each
 * file named on the command line.  Builds of different architectures,
 * operating systems or instruction sets must print identical lines; a round
 * trip that loses data, or a blob or decoded frame that changes with the
 * thread count (each case is also coded and decoded on 8 threads), exits
 * with status 1. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pzf.h"

static uint64_t rng_state = 88172645463325252ull;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static uint64_t fnv(const void *p, size_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    uint64_t h = 1469598103934665603ull;
    size_t i;
    for (i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Camera-like values: a background with noise and a few bright pixels;
 * smooth: a slowly varying background with bell-shaped noise (what the
 * context coding models). */
static void fill(void *dst, int fmt, size_t n, int smooth)
{
    size_t i;
    for (i = 0; i < n; i++) {
        uint32_t r = rng();
        uint32_t noise = smooth ? ((r & 31) + ((r >> 5) & 31) + ((r >> 10) & 31)) / 2
                                : r % 40;
        uint32_t v = 100 + (smooth ? (uint32_t)(i / 9973 % 60) : 0) + noise +
                     ((r >> 8) % 97 == 0 ? (r >> 16) % 30000 : 0);
        if (fmt == PZF_UINT8)
            ((uint8_t *)dst)[i] = (uint8_t)v;
        else if (fmt == PZF_UINT16)
            ((uint16_t *)dst)[i] = (uint16_t)v;
        else
            ((float *)dst)[i] = (float)v + (float)(r & 255) / 256.0f;
    }
}

/* The blob and the decoded frame do not depend on the thread count. */
static int same_on_threads(const pzf_params *p, const void *src, const uint8_t *blob,
                           int64_t bsize, const uint8_t *out, size_t nbytes, int threads)
{
    pzf_params q = *p;
    size_t cap = pzf_compress_bound(p);
    uint8_t *blob2 = (uint8_t *)malloc(cap), *out2 = (uint8_t *)malloc(nbytes + 1);
    int64_t b2, d2 = -1;
    int same;
    q.nthreads = threads;
    b2 = pzf_compress(src, &q, blob2, cap);
    if (b2 == bsize)
        d2 = pzf_decompress(blob2, (size_t)b2, out2, nbytes, UINT64_MAX, threads);
    same = b2 == bsize && memcmp(blob2, blob, (size_t)bsize) == 0 && d2 == (int64_t)nbytes &&
           memcmp(out2, out, nbytes) == 0;
    free(blob2);
    free(out2);
    return same;
}

static int run_case(int fmt, int comp, int quant, char order, uint32_t w, uint32_t h,
                    uint32_t d, int threads)
{
    pzf_params p;
    size_t n = (size_t)w * h * d, isz = pzf_itemsize(fmt), cap;
    uint8_t *src = (uint8_t *)malloc(n * isz + 1), *blob, *out = (uint8_t *)malloc(n * isz + 1);
    uint8_t *sym = (uint8_t *)malloc(n + 1);
    int64_t bsize, dsize;
    int bad = 0;

    fill(src, fmt, n, comp == PZF_CONTEXT);
    pzf_params_init(&p);
    p.data_format = fmt;
    p.compression = comp;
    p.quantization = quant;
    p.dim_order = order;
    p.shape[0] = w;
    p.shape[1] = h;
    p.shape[2] = d;
    p.quant_offset = comp == PZF_CONTEXT ? 50.0f : 100.0f;
    p.quant_scale = 0.7071f;
    p.nthreads = threads;
    p.chunk_size = 3000;
    cap = pzf_compress_bound(&p);
    blob = (uint8_t *)malloc(cap);
    bsize = pzf_compress(src, &p, blob, cap);
    dsize = bsize < 0 ? bsize
                      : pzf_decompress(blob, (size_t)bsize, out, n * isz, UINT64_MAX, threads);
    if (bsize < 0 || dsize != (int64_t)(n * isz) ||
        (!quant && memcmp(out, src, n * isz) != 0)) {
        bad = 1;
    } else if (!same_on_threads(&p, src, blob, bsize, out, n * isz, 8)) {
        bad = 1;
    } else if (quant && blob[4] == PZF_CONTEXT) { /* decoded values quantise to the symbols */
        uint8_t *back = (uint8_t *)malloc(n + 1);
        if (pzf_quantize(src, fmt, n, p.quant_offset, p.quant_scale, sym) != PZF_OK ||
            pzf_quantize(out, fmt, n, p.quant_offset, p.quant_scale, back) != PZF_OK ||
            memcmp(back, sym, n) != 0)
            bad = 1;
        free(back);
    } else if (quant) { /* decoded = de-quantised symbols (also a context request that
                         * was written as Huffman, being no larger) */
        uint8_t *ref = (uint8_t *)malloc(n * isz + 1);
        if (pzf_quantize(src, fmt, n, p.quant_offset, p.quant_scale, sym) != PZF_OK ||
            pzf_dequantize(sym, n, p.quant_offset, p.quant_scale, fmt, ref) != PZF_OK ||
            memcmp(ref, out, n * isz) != 0)
            bad = 1;
        free(ref);
    }
    printf("fmt %d comp %d quant %d order %c %ux%ux%u: coded %d blob %lld %016llx out %016llx "
           "sym %016llx%s\n",
           fmt, comp, quant, order, w, h, d, bsize > 4 ? blob[4] : -1, (long long)bsize,
           (unsigned long long)fnv(blob, bsize > 0 ? (size_t)bsize : 0),
           (unsigned long long)fnv(out, n * isz),
           (unsigned long long)(quant ? fnv(sym, n) : 0), bad ? " FAILED" : "");
    free(src);
    free(blob);
    free(out);
    free(sym);
    return bad;
}

int main(int argc, char **argv)
{
    static const uint32_t dims[][3] = {{1, 1, 1}, {13, 17, 1}, {64, 48, 3}, {700, 900, 1}};
    int fmt, comp, quant, o, k, bad = 0, i;
    for (k = 0; k < 4; k++)
        for (fmt = 0; fmt < 3; fmt++)
            for (comp = 0; comp < 4; comp++)
                for (quant = 0; quant < 2; quant++)
                    for (o = 0; o < 2; o++)
                        bad |= run_case(fmt, comp, quant, o ? 'F' : 'C', dims[k][0],
                                        dims[k][1], dims[k][2], 1 + (k & 1));
    for (i = 1; i < argc; i++) { /* blobs written by others */
        FILE *f = fopen(argv[i], "rb");
        uint8_t *buf, *out;
        long len;
        pzf_header h;
        int64_t n;
        if (!f)
            return 2;
        fseek(f, 0, SEEK_END);
        len = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = (uint8_t *)malloc((size_t)len + 1);
        if (fread(buf, 1, (size_t)len, f) != (size_t)len)
            return 2;
        fclose(f);
        n = pzf_read_header(buf, (size_t)len, PZF_DEFAULT_MAX_DECODED, &h);
        out = (uint8_t *)malloc(n > 0 ? (size_t)n : 1);
        if (n >= 0)
            n = pzf_decompress(buf, (size_t)len, out, (size_t)n, PZF_DEFAULT_MAX_DECODED, 1);
        printf("file %d: %lld %016llx\n", i, (long long)n,
               (unsigned long long)(n > 0 ? fnv(out, (size_t)n) : 0));
        free(buf);
        free(out);
    }
    return bad;
}
