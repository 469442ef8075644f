/*
 * ctx_rans_dec_x86.c - AVX2 and AVX-512 twins of the token decoder of the
 * context coding, pzf_ctx_decode_tokens_scalar (ctx_rans.c).
 *
 * The 32 lanes of a line live in 4 AVX2 (or 2 AVX-512) vectors of states.
 * A vector step gathers the decoding entries of its 8 (16) values, advances
 * their states, and refills the lanes that fell below 2^15 from the shared
 * word stream: the lanes needing a word take the next words in lane order,
 * so the step loads the next 8 (16) words, moves word i to the i-th lane
 * that needs one (AVX2: a permutation looked up from the lane mask;
 * AVX-512: vpexpandd) and advances the stream by the mask's popcount.
 *
 * The kernels load whole vectors of words without testing each step, so
 * they decode whole rounds of 32 values only while a round's loads stay
 * inside the words (CTX_ROUND_BYTES), and leave the rest of the line (the
 * last values of a band, a width that is not a multiple of 32) to the
 * scalar body.  A line's rounds form one chain of dependent steps, so
 * decode2_avx512 decodes lines of two bands in one loop, their steps
 * interleaved.  The file also holds the quantised decoder's AVX-512 lookup
 * of reconstruction values (lookup16).
 * Compiled with per-function target attributes (no special flags); called
 * only when cpu.h reports the instructions.
 */
#include "ctx_rans.h"

#ifdef PZF_CTX_RANS_X86

#include <immintrin.h>

#include "cpu.h"

#define PZF_TARGET_AVX2 PZF_TARGET("avx2,popcnt")
#define PZF_TARGET_AVX512 PZF_TARGET("avx2,popcnt,avx512f,avx512bw,avx512dq,avx512vl")

/* A round of 32 values reads at most 32 words, and its last vector step
 * loads 16 (AVX2) or 32 (AVX-512) bytes at a word pointer at most 48 (32)
 * bytes past the round's start: a round starting with 64 bytes of words
 * left loads nothing past them. */
#define CTX_ROUND_BYTES 64

/* ---- AVX2 ------------------------------------------------------------- */

/* perm8[m]: byte l is the number of set bits of m below bit l, i.e. which
 * of the loaded words lane l takes when the lanes of mask m need one. */
#define B_(m, i) (((m) >> (i)) & 1)
#define PC_(m, l)                                                                    \
    ((l) > 0 ? B_(m, 0) : 0) + ((l) > 1 ? B_(m, 1) : 0) + ((l) > 2 ? B_(m, 2) : 0) + \
        ((l) > 3 ? B_(m, 3) : 0) + ((l) > 4 ? B_(m, 4) : 0) +                        \
        ((l) > 5 ? B_(m, 5) : 0) + ((l) > 6 ? B_(m, 6) : 0)
#define P1_(m)                                                                       \
    ((uint64_t)(PC_(m, 1)) << 8 | (uint64_t)(PC_(m, 2)) << 16 |                      \
     (uint64_t)(PC_(m, 3)) << 24 | (uint64_t)(PC_(m, 4)) << 32 |                     \
     (uint64_t)(PC_(m, 5)) << 40 | (uint64_t)(PC_(m, 6)) << 48 |                     \
     (uint64_t)(PC_(m, 7)) << 56)
#define P4_(m) P1_(m), P1_((m) + 1), P1_((m) + 2), P1_((m) + 3)
#define P16_(m) P4_(m), P4_((m) + 4), P4_((m) + 8), P4_((m) + 12)
#define P64_(m) P16_(m), P16_((m) + 16), P16_((m) + 32), P16_((m) + 48)
static const uint64_t perm8[256] = {P64_(0), P64_(64), P64_(128), P64_(192)};

/* One vector step: values x..x+7 with states *xv; returns the tokens as
 * the low bytes of 8 int32. */
PZF_TARGET_AVX2 static inline __m256i step_avx2(const uint32_t *table, const uint8_t *ctx,
                                                __m256i *xv, const uint8_t **wp)
{
    const __m256i slot = _mm256_set1_epi32(CTX_PROB_SCALE - 1);
    const __m256i low = _mm256_set1_epi32(CTX_RANS_L);
    __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)ctx));
    __m256i s = *xv, idx, e, f, w, need, perm;
    unsigned m;
    idx = _mm256_or_si256(_mm256_slli_epi32(c, CTX_PROB_BITS), _mm256_and_si256(s, slot));
    e = _mm256_i32gather_epi32((const int *)table, idx, 4);
    f = _mm256_add_epi32(_mm256_and_si256(_mm256_srli_epi32(e, 8), slot),
                         _mm256_set1_epi32(1));
    s = _mm256_add_epi32(_mm256_mullo_epi32(f, _mm256_srli_epi32(s, CTX_PROB_BITS)),
                         _mm256_srli_epi32(e, 20));
    need = _mm256_cmpgt_epi32(low, s); /* states are below 2^31: signed is fine */
    m = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(need));
    w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)*wp));
    perm = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)&perm8[m]));
    w = _mm256_permutevar8x32_epi32(w, perm);
    *xv = _mm256_blendv_epi8(s, _mm256_or_si256(_mm256_slli_epi32(s, 16), w), need);
    *wp += 2 * (size_t)_mm_popcnt_u32(m);
    return e;
}

/* 4 x 8 int32 whose low bytes are tokens -> 32 bytes in order. */
PZF_TARGET_AVX2 static inline __m256i tokens32_avx2(__m256i a, __m256i b, __m256i c,
                                                    __m256i d)
{
    const __m256i byte = _mm256_set1_epi32(0xFF);
    __m256i ab = _mm256_packus_epi32(_mm256_and_si256(a, byte), _mm256_and_si256(b, byte));
    __m256i cd = _mm256_packus_epi32(_mm256_and_si256(c, byte), _mm256_and_si256(d, byte));
    return _mm256_permutevar8x32_epi32(_mm256_packus_epi16(ab, cd),
                                       _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

PZF_TARGET_AVX2 static size_t decode_avx2(const uint32_t *table, const uint8_t *ctx, size_t len,
                                          ctx_dec_lanes *ln, uint8_t *tok)
{
    const uint8_t *wp = ln->wp, *safe = ln->we - CTX_ROUND_BYTES;
    uint32_t *xs = ln->x;
    __m256i x0 = _mm256_loadu_si256((const __m256i *)xs);
    __m256i x1 = _mm256_loadu_si256((const __m256i *)(xs + 8));
    __m256i x2 = _mm256_loadu_si256((const __m256i *)(xs + 16));
    __m256i x3 = _mm256_loadu_si256((const __m256i *)(xs + 24));
    size_t x = 0;
    for (; x + CTX_LANES <= len && wp <= safe; x += CTX_LANES) {
        __m256i e0 = step_avx2(table, ctx + x, &x0, &wp);
        __m256i e1 = step_avx2(table, ctx + x + 8, &x1, &wp);
        __m256i e2 = step_avx2(table, ctx + x + 16, &x2, &wp);
        __m256i e3 = step_avx2(table, ctx + x + 24, &x3, &wp);
        _mm256_storeu_si256((__m256i *)(tok + x), tokens32_avx2(e0, e1, e2, e3));
    }
    _mm256_storeu_si256((__m256i *)xs, x0);
    _mm256_storeu_si256((__m256i *)(xs + 8), x1);
    _mm256_storeu_si256((__m256i *)(xs + 16), x2);
    _mm256_storeu_si256((__m256i *)(xs + 24), x3);
    ln->wp = wp;
    return x;
}

/* ---- AVX-512 ---------------------------------------------------------- */

/* One vector step of values x..x+15: vpexpandd places the next words in
 * the lanes that need one, in lane order. */
PZF_TARGET_AVX512 static inline __m512i step_avx512(const uint32_t *table,
                                                    const uint8_t *ctx, __m512i *xv,
                                                    const uint8_t **wp)
{
    const __m512i slot = _mm512_set1_epi32(CTX_PROB_SCALE - 1);
    __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)ctx));
    __m512i s = *xv, idx, e, f, w;
    __mmask16 need;
    idx = _mm512_or_si512(_mm512_slli_epi32(c, CTX_PROB_BITS), _mm512_and_si512(s, slot));
    e = _mm512_i32gather_epi32(idx, (const void *)table, 4);
    f = _mm512_add_epi32(_mm512_and_si512(_mm512_srli_epi32(e, 8), slot),
                         _mm512_set1_epi32(1));
    s = _mm512_add_epi32(_mm512_mullo_epi32(f, _mm512_srli_epi32(s, CTX_PROB_BITS)),
                         _mm512_srli_epi32(e, 20));
    need = _mm512_cmplt_epu32_mask(s, _mm512_set1_epi32(CTX_RANS_L));
    w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)*wp));
    w = _mm512_maskz_expand_epi32(need, w);
    *xv = _mm512_mask_or_epi32(s, need, _mm512_slli_epi32(s, 16), w);
    *wp += 2 * (size_t)_mm_popcnt_u32((unsigned)need);
    return e;
}

PZF_TARGET_AVX512 static size_t decode_avx512(const uint32_t *table, const uint8_t *ctx,
                                              size_t len, ctx_dec_lanes *ln, uint8_t *tok)
{
    const uint8_t *wp = ln->wp, *safe = ln->we - CTX_ROUND_BYTES;
    uint32_t *xs = ln->x;
    __m512i x0 = _mm512_loadu_si512((const void *)xs);
    __m512i x1 = _mm512_loadu_si512((const void *)(xs + 16));
    size_t x = 0;
    for (; x + CTX_LANES <= len && wp <= safe; x += CTX_LANES) {
        __m512i e0 = step_avx512(table, ctx + x, &x0, &wp);
        __m512i e1 = step_avx512(table, ctx + x + 16, &x1, &wp);
        _mm_storeu_si128((__m128i *)(tok + x), _mm512_cvtepi32_epi8(e0));
        _mm_storeu_si128((__m128i *)(tok + x + 16), _mm512_cvtepi32_epi8(e1));
    }
    _mm512_storeu_si512((void *)xs, x0);
    _mm512_storeu_si512((void *)(xs + 16), x1);
    ln->wp = wp;
    return x;
}

/* Two lines of two bands, their steps interleaved, while both are safe. */
PZF_TARGET_AVX512 static size_t decode2_avx512(const uint32_t *table, const uint8_t *ca,
                                               const uint8_t *cb, size_t len,
                                               ctx_dec_lanes *la, ctx_dec_lanes *lb,
                                               uint8_t *ta, uint8_t *tb)
{
    const uint8_t *wa = la->wp, *sa = la->we - CTX_ROUND_BYTES;
    const uint8_t *wb = lb->wp, *sb = lb->we - CTX_ROUND_BYTES;
    __m512i a0 = _mm512_loadu_si512((const void *)la->x);
    __m512i a1 = _mm512_loadu_si512((const void *)(la->x + 16));
    __m512i b0 = _mm512_loadu_si512((const void *)lb->x);
    __m512i b1 = _mm512_loadu_si512((const void *)(lb->x + 16));
    size_t x = 0;
    for (; x + CTX_LANES <= len && wa <= sa && wb <= sb; x += CTX_LANES) {
        __m512i ea0 = step_avx512(table, ca + x, &a0, &wa);
        __m512i eb0 = step_avx512(table, cb + x, &b0, &wb);
        __m512i ea1 = step_avx512(table, ca + x + 16, &a1, &wa);
        __m512i eb1 = step_avx512(table, cb + x + 16, &b1, &wb);
        _mm_storeu_si128((__m128i *)(ta + x), _mm512_cvtepi32_epi8(ea0));
        _mm_storeu_si128((__m128i *)(ta + x + 16), _mm512_cvtepi32_epi8(ea1));
        _mm_storeu_si128((__m128i *)(tb + x), _mm512_cvtepi32_epi8(eb0));
        _mm_storeu_si128((__m128i *)(tb + x + 16), _mm512_cvtepi32_epi8(eb1));
    }
    _mm512_storeu_si512((void *)la->x, a0);
    _mm512_storeu_si512((void *)(la->x + 16), a1);
    _mm512_storeu_si512((void *)lb->x, b0);
    _mm512_storeu_si512((void *)(lb->x + 16), b1);
    la->wp = wa;
    lb->wp = wb;
    return x;
}

/* ---- reconstruction lookups ------------------------------------------ */

/* AVX-512: the 256 uint16 entries sit in 8 registers; vpermt2w looks up
 * 64 of them, and bits 6 and 7 of the symbol choose among the four. */
PZF_TARGET_AVX512 static void lookup16_avx512(const uint8_t *v, size_t n, const uint16_t *lut,
                                              uint16_t *out)
{
    const __m512i b6 = _mm512_set1_epi16(64), b7 = _mm512_set1_epi16(128);
    __m512i t[8];
    size_t x = 0;
    int i;
    for (i = 0; i < 8; i++)
        t[i] = _mm512_loadu_si512((const void *)(lut + 32 * i));
    for (; x + 32 <= n; x += 32) {
        __m512i q = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(v + x)));
        __m512i a = _mm512_permutex2var_epi16(t[0], q, t[1]);
        __m512i b = _mm512_permutex2var_epi16(t[2], q, t[3]);
        __m512i c = _mm512_permutex2var_epi16(t[4], q, t[5]);
        __m512i d = _mm512_permutex2var_epi16(t[6], q, t[7]);
        __mmask32 m6 = _mm512_test_epi16_mask(q, b6), m7 = _mm512_test_epi16_mask(q, b7);
        a = _mm512_mask_blend_epi16(m6, a, b);
        c = _mm512_mask_blend_epi16(m6, c, d);
        _mm512_storeu_si512((void *)(out + x), _mm512_mask_blend_epi16(m7, a, c));
    }
    for (; x < n; x++)
        out[x] = lut[v[x]];
}

int64_t pzf_ctx_decode_tokens2_x86(const uint32_t *table, const uint8_t *ctx0,
                                   const uint8_t *ctx1, size_t len, ctx_dec_lanes *l0,
                                   ctx_dec_lanes *l1, uint8_t *tok0, uint8_t *tok1, int isa)
{
    unsigned f = pzf_cpu_features();
    if (l0->we - l0->wp < CTX_ROUND_BYTES || l1->we - l1->wp < CTX_ROUND_BYTES)
        return 0;
    if (isa == PZF_ISA_AVX512 && (f & PZF_CPU_AVX512) && (f & PZF_CPU_AVX2))
        return (int64_t)decode2_avx512(table, ctx0, ctx1, len, l0, l1, tok0, tok1);
    return 0; /* AVX2: an interleaved kernel measured no faster than one line at a time */
}

int pzf_ctx_lookup16_x86(const uint8_t *v, size_t n, const uint16_t *lut, uint16_t *out,
                         int isa)
{
    unsigned f = pzf_cpu_features();
    if (isa == PZF_ISA_AVX512 && (f & PZF_CPU_AVX512) && (f & PZF_CPU_AVX2)) {
        lookup16_avx512(v, n, lut, out);
        return PZF_OK;
    }
    return PZF_ERR_UNSUPPORTED; /* AVX2 gathers measured no faster than scalar loads */
}

int64_t pzf_ctx_decode_tokens_x86(const uint32_t *table, const uint8_t *ctx, size_t len,
                                  ctx_dec_lanes *ln, uint8_t *tok, int isa)
{
    unsigned f = pzf_cpu_features();
    if (ln->we - ln->wp < CTX_ROUND_BYTES)
        return 0;
    if (isa == PZF_ISA_AVX512 && (f & PZF_CPU_AVX512) && (f & PZF_CPU_AVX2))
        return (int64_t)decode_avx512(table, ctx, len, ln, tok);
    if (isa == PZF_ISA_AVX2 && (f & PZF_CPU_AVX2))
        return (int64_t)decode_avx2(table, ctx, len, ln, tok);
    return PZF_ERR_UNSUPPORTED;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int pzf_ctx_rans_dec_x86_unused;
#endif /* PZF_CTX_RANS_X86 */
