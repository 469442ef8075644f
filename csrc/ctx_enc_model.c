/*
 * ctx_enc_model.c - the encoder's line model for 8-bit values: the
 * context (ctx.h, pzf_ctx_model8) and the zig-zagged residual of every
 * value of a line in one pass, with a portable body and an AVX2 twin
 * (16-bit lanes, 32 values per step) chosen at run time.  Integer
 * arithmetic only: both give the same bytes, which
 * tests/test_ctx_encode_kernels.py checks.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "ctx.h"

#ifdef PZF_HAVE_X86_INTRINSICS
#include "ctx_model_avx2.h"
#define PZF_CTX_ENC_MODEL_AVX2 1

/* Values of a line past the vector loop, from the padded column sums cs
 * (cs[x + CTX_WINDOW_LEFT] is the column x) and lines p0, p1 (the lines
 * above, padded by one value on each side). */
static void model8_tail(const uint16_t *cs, const uint8_t *p0, const uint8_t *p1,
                        const uint8_t *cur, size_t x, size_t len, unsigned ashift,
                        unsigned pbits, uint8_t *ctx, uint8_t *u)
{
    for (; x < len; x++) {
        const uint16_t *c = cs + x;
        unsigned s = (unsigned)c[0] + c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + c[7];
        unsigned p4 = (s + 16) >> 3, b = p4 >> 2, a = 0;
        int j;
        for (j = 0; j < 3; j++) {
            a += p0[x + (size_t)j] > b ? p0[x + (size_t)j] - b : b - p0[x + (size_t)j];
            a += p1[x + (size_t)j] > b ? p1[x + (size_t)j] - b : b - p1[x + (size_t)j];
        }
        a >>= ashift;
        ctx[x] = (uint8_t)(1 + ((a < 15 ? a : 15) << pbits) + ((p4 & 3) >> (2 - pbits)));
        u[x] = (uint8_t)ctx_zigzag8(cur[x], (uint8_t)b);
    }
}

/* 16 values at x: contexts and residuals as 16-bit lanes. */
PZF_TARGET("avx2")
static inline void model16_avx2(const uint16_t *cs, const uint8_t *p0, const uint8_t *p1,
                                const uint8_t *cur, __m128i na, __m128i np, __m128i nq,
                                __m256i *c, __m256i *uu)
{
    const __m256i kff = _mm256_set1_epi16(0xFF), k127 = _mm256_set1_epi16(127);
    __m256i b, v, d;
    ctx_model8_step_avx2(cs, p0, p1, na, np, nq, &b, c);
    v = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)cur));
    d = _mm256_and_si256(_mm256_sub_epi16(v, b), kff);
    /* zig-zag: 2d, or 2d ^ 0xFF... = -2d - 1 for a negative difference */
    *uu = _mm256_and_si256(_mm256_xor_si256(_mm256_slli_epi16(d, 1), _mm256_cmpgt_epi16(d, k127)),
                           kff);
}

PZF_TARGET("avx2")
static void model8_enc_avx2(const uint8_t *const rows[4], const uint8_t *cur, size_t len,
                            unsigned ashift, unsigned pbits, uint16_t *cs, uint8_t *p0,
                            uint8_t *p1, uint8_t *ctx, uint8_t *u)
{
    const uint8_t *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3];
    __m128i na = _mm_cvtsi32_si128((int)ashift), np = _mm_cvtsi32_si128((int)pbits);
    __m128i nq = _mm_cvtsi32_si128((int)(2 - pbits));
    size_t x = 0;
    for (; x + 16 <= len; x += 16) {
#define LD(r) _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)((r) + x)))
        __m256i s = _mm256_add_epi16(_mm256_add_epi16(LD(r0), LD(r1)),
                                     _mm256_add_epi16(LD(r2), LD(r3)));
#undef LD
        _mm256_storeu_si256((__m256i *)(void *)(cs + CTX_WINDOW_LEFT + x), s);
    }
    for (; x < len; x++)
        cs[CTX_WINDOW_LEFT + x] = (uint16_t)(r0[x] + r1[x] + r2[x] + r3[x]);
    for (x = 0; x < CTX_WINDOW_LEFT; x++)
        cs[x] = cs[CTX_WINDOW_LEFT];
    for (x = 0; x < CTX_WINDOW_RIGHT + 1; x++)
        cs[len + CTX_WINDOW_LEFT + x] = cs[len + CTX_WINDOW_LEFT - 1];
    memcpy(p0 + 1, r0, len);
    memcpy(p1 + 1, r1, len);
    p0[0] = r0[0];
    p1[0] = r1[0];
    p0[len + 1] = r0[len - 1];
    p1[len + 1] = r1[len - 1];
    for (x = 0; x + 32 <= len; x += 32) {
        __m256i c0, c1, u0, u1;
        model16_avx2(cs + x, p0 + x, p1 + x, cur + x, na, np, nq, &c0, &u0);
        model16_avx2(cs + x + 16, p0 + x + 16, p1 + x + 16, cur + x + 16, na, np, nq, &c1,
                     &u1);
        _mm256_storeu_si256((__m256i *)(void *)(ctx + x),
                            _mm256_permute4x64_epi64(_mm256_packus_epi16(c0, c1), 0xD8));
        _mm256_storeu_si256((__m256i *)(void *)(u + x),
                            _mm256_permute4x64_epi64(_mm256_packus_epi16(u0, u1), 0xD8));
    }
    model8_tail(cs, p0, p1, cur, x, len, ashift, pbits, ctx, u);
}
#endif

/* Portable: the shared line model, then the residuals. */
static void model8_enc_portable(const uint8_t *const rows[4], const uint8_t *cur, size_t len,
                                unsigned ashift, unsigned pbits, uint16_t *scratch,
                                uint8_t *ctx, uint8_t *u)
{
    uint8_t *base = (uint8_t *)(scratch + CTX_SCRATCH(len)); /* len bytes */
    size_t x;
    pzf_ctx_model8(rows, len, ashift, pbits, scratch, base, ctx);
    for (x = 0; x < len; x++)
        u[x] = (uint8_t)ctx_zigzag8(cur[x], base[x]);
}

int pzf_ctx_model8_enc(const uint8_t *const rows[4], const uint8_t *cur, size_t len,
                       unsigned ashift, unsigned pbits, uint16_t *scratch, uint8_t *ctx,
                       uint8_t *u, int isa)
{
    if ((isa = pzf_cpu_pick_isa(isa)) < 0)
        return isa;
#ifdef PZF_CTX_ENC_MODEL_AVX2
    if (isa != PZF_ISA_SCALAR) {
        /* column sums (len + 8 + 8 spare), then the two lines above with
         * one value of padding each side (and 16 spare bytes) */
        uint16_t *cs = scratch;
        uint8_t *p0 = (uint8_t *)(scratch + len + 16), *p1 = p0 + len + 18;
        model8_enc_avx2(rows, cur, len, ashift, pbits, cs, p0, p1, ctx, u);
        return PZF_OK;
    }
#endif
    model8_enc_portable(rows, cur, len, ashift, pbits, scratch, ctx, u);
    return PZF_OK;
}

int pzf_ctx_model8_enc_isa(const uint8_t *above, const uint8_t *cur, size_t len,
                           unsigned ashift, unsigned pbits, uint8_t *ctx, uint8_t *u, int isa)
{
    const uint8_t *rows[4];
    uint16_t *scratch;
    int r, rc;
    if (len == 0 || ashift > 15 || pbits > 2 || len > ((size_t)-1 - 96) / 5)
        return PZF_ERR_ARGUMENT;
    scratch = (uint16_t *)malloc(CTX_ENC_SCRATCH(len));
    if (!scratch)
        return PZF_ERR_NOMEM;
    for (r = 0; r < 4; r++)
        rows[r] = above + (size_t)r * len;
    rc = pzf_ctx_model8_enc(rows, cur, len, ashift, pbits, scratch, ctx, u, isa);
    free(scratch);
    return rc;
}
