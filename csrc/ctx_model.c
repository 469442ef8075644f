/*
 * ctx_model.c - the context model shared by the context encoder and
 * decoder: prediction and context of every value from the lines above it,
 * and the normalisation of counts to rANS frequencies.  Plain C integer
 * loops, built once portably and once for AVX2 (chosen at run time), where
 * the AVX2 build models 16 values a step with intrinsics and leaves the
 * line's tail to the loop; integer arithmetic gives both the same result,
 * which tests/c/selftest.c checks across x86-64 and aarch64 (and
 * tests/test_isa.py across kernel choices); the AVX2 step of the 8-bit
 * model is shared with the encoder (ctx_model_avx2.h).
 */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "ctx.h"
#include "pzf_testing.h"

/* The model of one line (see ctx.h), for either value width.  scratch
 * holds the padded column sums (len + 8) and the two lines above, padded
 * by one value on each side (len + 2 each). */
#define PZF_CTX_MODEL_BODY(T, ST)                                                    \
    const T *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3];              \
    ST *cs = scratch;                                                                \
    T *p0 = (T *)(scratch + len + 8), *p1 = p0 + len + 2;                            \
    size_t x;                                                                        \
    int j;                                                                           \
    for (x = 0; x < len; x++)                                                        \
        cs[x + CTX_WINDOW_LEFT] = (ST)((ST)r0[x] + r1[x] + r2[x] + r3[x]);           \
    for (j = 0; j < CTX_WINDOW_LEFT; j++)                                            \
        cs[j] = cs[CTX_WINDOW_LEFT];                                                 \
    for (j = 0; j < CTX_WINDOW_RIGHT + 1; j++)                                       \
        cs[len + CTX_WINDOW_LEFT + (size_t)j] = cs[len + CTX_WINDOW_LEFT - 1];       \
    memcpy(p0 + 1, r0, len * sizeof(T));                                             \
    memcpy(p1 + 1, r1, len * sizeof(T));                                             \
    p0[0] = r0[0];                                                                   \
    p1[0] = r1[0];                                                                   \
    p0[len + 1] = r0[len - 1];                                                       \
    p1[len + 1] = r1[len - 1];

#ifdef PZF_HAVE_TARGET
#include "ctx_model_avx2.h"

/* The kind 0 model of values 0..x-1 of a line, 16 at a time
 * (ctx_model_avx2.h); returns x, the values left to the loop of model8. */
PZF_TARGET("avx2")
static size_t model8_vec_avx2(const uint16_t *cs, const uint8_t *p0, const uint8_t *p1,
                              size_t len, unsigned ashift, unsigned pbits, uint8_t *base,
                              uint8_t *ctx)
{
    const __m128i ash = _mm_cvtsi32_si128((int)ashift), psh = _mm_cvtsi32_si128((int)pbits);
    const __m128i fsh = _mm_cvtsi32_si128((int)(2 - pbits));
    size_t x = 0;
    for (; x + 16 <= len; x += 16) {
        __m256i b, cx, bc;
        ctx_model8_step_avx2(cs + x, p0 + x, p1 + x, ash, psh, fsh, &b, &cx);
        /* bytes: b0-7 c0-7 | b8-15 c8-15 -> b0-15 | c0-15 */
        bc = _mm256_permute4x64_epi64(_mm256_packus_epi16(b, cx), 0xD8);
        _mm_storeu_si128((__m128i *)(base + x), _mm256_castsi256_si128(bc));
        _mm_storeu_si128((__m128i *)(ctx + x), _mm256_extracti128_si256(bc, 1));
    }
    return x;
}

/* The prediction of 8 kind 1 values (32-bit lanes) from the column sums. */
PZF_TARGET("avx2")
static __m256i base16_avx2(const uint32_t *cs)
{
#define PZF_CS(k) _mm256_loadu_si256((const __m256i *)(const void *)(cs + (k)))
    __m256i s = _mm256_add_epi32(
        _mm256_add_epi32(_mm256_add_epi32(PZF_CS(0), PZF_CS(1)),
                         _mm256_add_epi32(PZF_CS(2), PZF_CS(3))),
        _mm256_add_epi32(_mm256_add_epi32(PZF_CS(4), PZF_CS(5)),
                         _mm256_add_epi32(PZF_CS(6), PZF_CS(7))));
#undef PZF_CS
    return _mm256_srli_epi32(_mm256_add_epi32(s, _mm256_set1_epi32(16)), 5);
}

/* |p - b| of 16-bit values */
PZF_TARGET("avx2")
static inline __m256i absdiff16_avx2(__m256i p, __m256i b)
{
    return _mm256_or_si256(_mm256_subs_epu16(p, b), _mm256_subs_epu16(b, p));
}

/* The kind 1 (16-bit) model likewise, 16 values a step (for ashift <= 9;
 * the loop does lines of larger shifts, which only very noisy data has). */
PZF_TARGET("avx2")
static size_t model16_vec_avx2(const uint32_t *cs, const uint16_t *p0, const uint16_t *p1,
                               size_t len, unsigned ashift, uint16_t *base, uint8_t *ctx,
                               const uint16_t *cur)
{
    const __m128i ash = _mm_cvtsi32_si128((int)ashift);
    size_t x = 0;
    int k;
    for (; x + 16 <= len; x += 16) {
        __m256i bb = _mm256_permute4x64_epi64(
            _mm256_packus_epi32(base16_avx2(cs + x), base16_avx2(cs + x + 8)), 0xD8);
        __m256i a = _mm256_setzero_si256(), cc;
        /* the activity in 16-bit lanes, each sum saturating at 2^16 - 1:
         * with ashift <= 9 a saturated activity still gives the top
         * context (65535 >> 9 > 71), as the exact sum does */
        for (k = 0; k < 3; k++) {
            __m256i q0 = _mm256_loadu_si256((const __m256i *)(const void *)(p0 + x + k));
            __m256i q1 = _mm256_loadu_si256((const __m256i *)(const void *)(p1 + x + k));
            a = _mm256_adds_epu16(a, absdiff16_avx2(q0, bb));
            a = _mm256_adds_epu16(a, absdiff16_avx2(q1, bb));
        }
        cc = _mm256_add_epi16(_mm256_min_epu16(_mm256_srl_epi16(a, ash), _mm256_set1_epi16(71)),
                              _mm256_set1_epi16(1));
        if (cur) { /* the zig-zagged residuals instead of the predictions */
            __m256i d = _mm256_sub_epi16(
                _mm256_loadu_si256((const __m256i *)(const void *)(cur + x)), bb);
            bb = _mm256_xor_si256(_mm256_slli_epi16(d, 1), _mm256_srai_epi16(d, 15));
        }
        _mm256_storeu_si256((__m256i *)(void *)(base + x), bb);
        _mm_storeu_si128((__m128i *)(ctx + x),
                         _mm_packus_epi16(_mm256_castsi256_si128(cc),
                                          _mm256_extracti128_si256(cc, 1)));
    }
    return x;
}
#endif

#define ABSD(a, b) ((a) > (b) ? (a) - (b) : (b) - (a))
#define ABSD16(a, b) ((uint16_t)((uint16_t)(a) > (b) ? (uint16_t)(a) - (b) : (b) - (uint16_t)(a)))

/* Both widths' line models, compiled once per instruction set: integer
 * arithmetic only, so every build computes the same contexts. */
#define PZF_CTX_DEFINE_MODELS(SUFFIX, ATTR, VEC8, VEC16)                             \
    ATTR static void model8##SUFFIX(const uint8_t *const rows[4], size_t len,        \
                                    unsigned ashift, unsigned pbits,                 \
                                    uint16_t *scratch, uint8_t *base, uint8_t *ctx)  \
    {                                                                                \
        PZF_CTX_MODEL_BODY(uint8_t, uint16_t)                                        \
        /* every quantity fits in 16 bits: s <= 8160, a <= 1530 */                   \
        for (x = VEC8; x < len; x++) {                                               \
            const uint16_t *c = cs + x;                                              \
            uint16_t s = (uint16_t)(c[0] + c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + \
                                    c[7]);                                           \
            uint16_t p4 = (uint16_t)((s + 16) >> 3), b = (uint16_t)(p4 >> 2);        \
            uint16_t a = (uint16_t)(ABSD16(p0[x], b) + ABSD16(p0[x + 1], b) +        \
                                    ABSD16(p0[x + 2], b) + ABSD16(p1[x], b) +        \
                                    ABSD16(p1[x + 1], b) + ABSD16(p1[x + 2], b));    \
            base[x] = (uint8_t)b;                                                    \
            a = (uint16_t)(a >> ashift);                                             \
            ctx[x] = (uint8_t)(1 + ((a < 15 ? a : 15) << pbits) +                    \
                               ((p4 & 3) >> (2 - pbits)));                           \
        }                                                                            \
    }                                                                                \
    ATTR static void model16##SUFFIX(const uint16_t *const rows[4], size_t len,      \
                                     unsigned ashift, uint32_t *scratch,             \
                                     uint16_t *base, uint8_t *ctx,                   \
                                     const uint16_t *cur)                            \
    {                                                                                \
        PZF_CTX_MODEL_BODY(uint16_t, uint32_t)                                       \
        for (x = VEC16; x < len; x++) {                                              \
            const uint32_t *c = cs + x;                                              \
            uint32_t s = c[0] + c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + c[7];      \
            uint32_t b = (s + 16) >> 5;                                              \
            uint32_t a = ABSD(p0[x], b) + ABSD(p0[x + 1], b) + ABSD(p0[x + 2], b) +  \
                         ABSD(p1[x], b) + ABSD(p1[x + 1], b) + ABSD(p1[x + 2], b);   \
            base[x] = (uint16_t)(cur ? ctx_zigzag16(cur[x], (uint16_t)b) : b);      \
            a >>= ashift;                                                            \
            ctx[x] = (uint8_t)(1 + (a < 71 ? a : 71));                               \
        }                                                                            \
    }

PZF_CTX_DEFINE_MODELS(_portable, , 0, 0)
#ifdef PZF_HAVE_TARGET
#define PZF_CTX_AVX2 1
PZF_CTX_DEFINE_MODELS(_avx2, PZF_TARGET("avx2"),
                      model8_vec_avx2(cs, p0, p1, len, ashift, pbits, base, ctx),
                      ashift <= 9 ? model16_vec_avx2(cs, p0, p1, len, ashift, base, ctx, cur)
                                  : 0)
#endif

void pzf_ctx_model8(const uint8_t *const rows[4], size_t len, unsigned ashift,
                    unsigned pbits, uint16_t *scratch, uint8_t *base, uint8_t *ctx)
{
#ifdef PZF_CTX_AVX2
    if (pzf_cpu_features() & PZF_CPU_AVX2) {
        model8_avx2(rows, len, ashift, pbits, scratch, base, ctx);
        return;
    }
#endif
    model8_portable(rows, len, ashift, pbits, scratch, base, ctx);
}

void pzf_ctx_model16(const uint16_t *const rows[4], size_t len, unsigned ashift,
                     uint32_t *scratch, uint16_t *base, uint8_t *ctx, const uint16_t *cur)
{
#ifdef PZF_CTX_AVX2
    if (pzf_cpu_features() & PZF_CPU_AVX2) {
        model16_avx2(rows, len, ashift, scratch, base, ctx, cur);
        return;
    }
#endif
    model16_portable(rows, len, ashift, scratch, base, ctx, cur);
}

int pzf_ctx_normalize(const uint64_t count[256], uint32_t freq[256])
{
    uint64_t c[256], total = 0;
    uint32_t sum = 0;
    int s, best = 0;
    unsigned shift = 0;

    for (s = 0; s < 256; s++)
        total += count[s];
    if (!total)
        return 0;
    /* keep count * CTX_PROB_SCALE inside 64 bits */
    while ((total >> shift) >= ((uint64_t)1 << 40))
        shift++;
    total = 0;
    for (s = 0; s < 256; s++) {
        c[s] = count[s] >> shift;
        if (count[s] && !c[s])
            c[s] = 1;
        total += c[s];
        if (c[s] > c[best])
            best = s;
    }
    for (s = 0; s < 256; s++) {
        uint64_t f = 0;
        if (c[s]) {
            f = (c[s] * CTX_PROB_SCALE + total / 2) / total;
            if (!f)
                f = 1;
        }
        freq[s] = (uint32_t)f;
        sum += (uint32_t)f;
    }
    if (sum < CTX_PROB_SCALE) {
        freq[best] += CTX_PROB_SCALE - sum;
    } else {
        while (sum > CTX_PROB_SCALE) { /* take from the largest */
            uint32_t take;
            int m = 0;
            for (s = 1; s < 256; s++)
                if (freq[s] > freq[m])
                    m = s;
            take = freq[m] - 1 < sum - CTX_PROB_SCALE ? freq[m] - 1 : sum - CTX_PROB_SCALE;
            freq[m] -= take;
            sum -= take;
        }
    }
    return 1;
}

int pzf_ctx_model16_isa(const uint16_t *above, const uint16_t *cur, size_t len, unsigned ashift,
                        uint16_t *base, uint8_t *ctx, int isa)
{
    const uint16_t *rows[4];
    uint32_t *scratch;
    int r;
    if (len == 0 || ashift > 15 || len > ((size_t)-1 - 64) / 16 || !above || !base || !ctx)
        return PZF_ERR_ARGUMENT;
    if ((isa = pzf_cpu_pick_isa(isa)) < 0)
        return isa;
    scratch = (uint32_t *)malloc(CTX_SCRATCH(len) * sizeof *scratch);
    if (!scratch)
        return PZF_ERR_NOMEM;
    for (r = 0; r < 4; r++)
        rows[r] = above + (size_t)r * len;
#ifdef PZF_CTX_AVX2
    if (isa != PZF_ISA_SCALAR)
        model16_avx2(rows, len, ashift, scratch, base, ctx, cur);
    else
#endif
        model16_portable(rows, len, ashift, scratch, base, ctx, cur);
    free(scratch);
    return PZF_OK;
}
