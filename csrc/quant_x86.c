/*
 * quant_x86.c - AVX2 and AVX-512 square-root quantiser kernels.
 *
 * Compiled with per-function target attributes, so no special compiler
 * flags are needed; pzf_quantize_isa() calls them only on CPUs that have
 * the instructions (cpu.h).  Each vector of values gets the float estimate
 * of quant.h; the rare lanes whose estimate lies within PZF_QUANT_EPS of an
 * integer are recomputed by the exact scalar twin, pzf_quant1(), so the
 * output equals the scalar kernel's bit for bit.
 */
#include "quant.h"

#ifdef PZF_HAVE_X86_KERNELS

#include <immintrin.h>

#define PZF_TARGET_AVX2 PZF_TARGET("avx2")
#define PZF_TARGET_AVX512 PZF_TARGET("avx2,avx512f,avx512bw,avx512dq,avx512vl")

/* Recompute exactly the lanes flagged in amb; lane l holds src[l]. */
#define PZF_FIX_LANES(amb, src, qp, dst)                                        \
    do {                                                                      \
        unsigned m_ = (unsigned)(amb);                                        \
        while (m_) {                                                          \
            unsigned l_ = 0;                                                  \
            while (!(m_ & (1u << l_)))                                        \
                l_++;                                                         \
            (dst)[l_] = pzf_quant1((float)(src)[l_], (qp));                   \
            m_ &= m_ - 1;                                                     \
        }                                                                     \
    } while (0)

/* ---- AVX2 ------------------------------------------------------------- */

typedef struct {
    __m256 offset, inv, half, zero, ymax, eps, one_m_eps;
} consts256;

PZF_TARGET_AVX2 static consts256 consts_avx2(const pzf_qparams *qp)
{
    consts256 c;
    c.offset = _mm256_set1_ps(qp->offset);
    c.inv = _mm256_set1_ps(qp->inv_scale);
    c.half = _mm256_set1_ps(0.5f);
    c.zero = _mm256_setzero_ps();
    c.ymax = _mm256_set1_ps(255.75f); /* floor -> 255, not near an integer */
    c.eps = _mm256_set1_ps(PZF_QUANT_EPS);
    c.one_m_eps = _mm256_set1_ps(1.0f - PZF_QUANT_EPS);
    return c;
}

/* Estimate of 8 lanes; *amb gets the lanes that need the exact test. */
PZF_TARGET_AVX2 static inline __m256i quant8_avx2(__m256 x, const consts256 *c, int *amb)
{
    __m256 d = _mm256_sub_ps(x, c->offset);
    __m256 y, fl, frac, near;
    d = _mm256_and_ps(d, _mm256_cmp_ps(d, c->zero, _CMP_GT_OQ)); /* <= 0, NaN -> 0 */
    y = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(d), c->inv), c->half);
    y = _mm256_min_ps(y, c->ymax);
    fl = _mm256_floor_ps(y);
    frac = _mm256_sub_ps(y, fl);
    near = _mm256_or_ps(_mm256_cmp_ps(frac, c->eps, _CMP_LT_OQ),
                        _mm256_cmp_ps(frac, c->one_m_eps, _CMP_GT_OQ));
    *amb = _mm256_movemask_ps(near);
    return _mm256_cvttps_epi32(fl);
}

/* 4 x 8 int32 in 0..255 -> 32 bytes in order. */
PZF_TARGET_AVX2 static inline __m256i pack32_avx2(__m256i a, __m256i b, __m256i c, __m256i d)
{
    __m256i ab = _mm256_packus_epi32(a, b);
    __m256i cd = _mm256_packus_epi32(c, d);
    __m256i abcd = _mm256_packus_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

PZF_TARGET_AVX2 void pzf_quant_f32_avx2(const float *src, size_t n,
                                        const pzf_qparams *qp, uint8_t *dst)
{
    consts256 c = consts_avx2(qp);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        int a0, a1, a2, a3;
        __m256i q0 = quant8_avx2(_mm256_loadu_ps(src + i), &c, &a0);
        __m256i q1 = quant8_avx2(_mm256_loadu_ps(src + i + 8), &c, &a1);
        __m256i q2 = quant8_avx2(_mm256_loadu_ps(src + i + 16), &c, &a2);
        __m256i q3 = quant8_avx2(_mm256_loadu_ps(src + i + 24), &c, &a3);
        unsigned amb = (unsigned)a0 | (unsigned)a1 << 8 | (unsigned)a2 << 16 | (unsigned)a3 << 24;
        _mm256_storeu_si256((__m256i *)(dst + i), pack32_avx2(q0, q1, q2, q3));
        if (amb)
            PZF_FIX_LANES(amb, src + i, qp, dst + i);
    }
    for (; i < n; i++)
        dst[i] = pzf_quant1(src[i], qp);
}

PZF_TARGET_AVX2 static inline __m256 u16_to_ps_avx2(__m128i v)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(v));
}

PZF_TARGET_AVX2 void pzf_quant_u16_avx2(const uint16_t *src, size_t n,
                                        const pzf_qparams *qp, uint8_t *dst)
{
    consts256 c = consts_avx2(qp);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        int a0, a1, a2, a3;
        __m256i v0 = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i v1 = _mm256_loadu_si256((const __m256i *)(src + i + 16));
        __m256i q0 = quant8_avx2(u16_to_ps_avx2(_mm256_castsi256_si128(v0)), &c, &a0);
        __m256i q1 = quant8_avx2(u16_to_ps_avx2(_mm256_extracti128_si256(v0, 1)), &c, &a1);
        __m256i q2 = quant8_avx2(u16_to_ps_avx2(_mm256_castsi256_si128(v1)), &c, &a2);
        __m256i q3 = quant8_avx2(u16_to_ps_avx2(_mm256_extracti128_si256(v1, 1)), &c, &a3);
        unsigned amb = (unsigned)a0 | (unsigned)a1 << 8 | (unsigned)a2 << 16 | (unsigned)a3 << 24;
        _mm256_storeu_si256((__m256i *)(dst + i), pack32_avx2(q0, q1, q2, q3));
        if (amb)
            PZF_FIX_LANES(amb, src + i, qp, dst + i);
    }
    for (; i < n; i++)
        dst[i] = pzf_quant1((float)src[i], qp);
}

/* ---- AVX-512 ---------------------------------------------------------- */

typedef struct {
    __m512 offset, inv, half, zero, ymax, eps, one_m_eps;
} consts512;

PZF_TARGET_AVX512 static consts512 consts_avx512(const pzf_qparams *qp)
{
    consts512 c;
    c.offset = _mm512_set1_ps(qp->offset);
    c.inv = _mm512_set1_ps(qp->inv_scale);
    c.half = _mm512_set1_ps(0.5f);
    c.zero = _mm512_setzero_ps();
    c.ymax = _mm512_set1_ps(255.75f);
    c.eps = _mm512_set1_ps(PZF_QUANT_EPS);
    c.one_m_eps = _mm512_set1_ps(1.0f - PZF_QUANT_EPS);
    return c;
}

/* Estimate of 16 lanes as bytes; *amb gets the lanes that need the exact
 * test. */
PZF_TARGET_AVX512 static inline __m128i quant16_avx512(__m512 x, const consts512 *c,
                                                       __mmask16 *amb)
{
    __m512 d = _mm512_sub_ps(x, c->offset);
    __m512 y, fl, frac;
    d = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(d, c->zero, _CMP_GT_OQ), d);
    y = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(d), c->inv), c->half);
    y = _mm512_min_ps(y, c->ymax);
    fl = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    frac = _mm512_sub_ps(y, fl);
    *amb = (__mmask16)(_mm512_cmp_ps_mask(frac, c->eps, _CMP_LT_OQ)
                       | _mm512_cmp_ps_mask(frac, c->one_m_eps, _CMP_GT_OQ));
    return _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(fl));
}

PZF_TARGET_AVX512 void pzf_quant_f32_avx512(const float *src, size_t n,
                                            const pzf_qparams *qp, uint8_t *dst)
{
    consts512 c = consts_avx512(qp);
    size_t i = 0;
    __mmask16 amb;
    for (; i + 16 <= n; i += 16) {
        _mm_storeu_si128((__m128i *)(dst + i),
                         quant16_avx512(_mm512_loadu_ps(src + i), &c, &amb));
        if (amb)
            PZF_FIX_LANES(amb, src + i, qp, dst + i);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m128i q = quant16_avx512(_mm512_maskz_loadu_ps(m, src + i), &c, &amb);
        _mm_mask_storeu_epi8(dst + i, m, q);
        amb &= m;
        if (amb)
            PZF_FIX_LANES(amb, src + i, qp, dst + i);
    }
}

PZF_TARGET_AVX512 static inline __m512 u16_to_ps_avx512(__m256i v)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepu16_epi32(v));
}

PZF_TARGET_AVX512 void pzf_quant_u16_avx512(const uint16_t *src, size_t n,
                                            const pzf_qparams *qp, uint8_t *dst)
{
    consts512 c = consts_avx512(qp);
    size_t i = 0;
    __mmask16 amb;
    for (; i + 16 <= n; i += 16) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(src + i));
        _mm_storeu_si128((__m128i *)(dst + i), quant16_avx512(u16_to_ps_avx512(v), &c, &amb));
        if (amb)
            PZF_FIX_LANES(amb, src + i, qp, dst + i);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m256i v = _mm256_maskz_loadu_epi16(m, src + i);
        _mm_mask_storeu_epi8(dst + i, m, quant16_avx512(u16_to_ps_avx512(v), &c, &amb));
        amb &= m;
        if (amb)
            PZF_FIX_LANES(amb, src + i, qp, dst + i);
    }
}

/* ---- table lookups (AVX-512BW) ----------------------------------------
 * dst[i] = lut[src[i]], 32 values at a time from a 128-entry window of the
 * table held in registers (two 64-word permutes and a blend).  Camera
 * pixels cluster, so a window placed at the low end of each block of 1024
 * values holds nearly all of them; the others are looked up one by one.
 * The result is the table's by construction. */
#define LOOKUP_BLOCK 1024


PZF_TARGET_AVX512 static inline __m512i window_words(const uint8_t *lut)
{
    return _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)lut));
}

PZF_TARGET_AVX512 void pzf_lookup_u16_avx512(const uint16_t *src, size_t n,
                                             const uint8_t *lut, uint8_t *dst)
{
    size_t i = 0;
    while (n - i >= 32) {
        size_t stop = n - i > LOOKUP_BLOCK ? i + LOOKUP_BLOCK : n, k;
        unsigned lo = 65535;
        __m512i a0, a1, b0, b1, base;
        for (k = i; k < i + 16; k++) /* the window starts a little below */
            lo = src[k] < lo ? src[k] : lo; /* the block's first 16 values */
        lo = lo < 24 ? 0 : lo - 24;
        lo = lo > 65536 - 128 ? 65536 - 128 : lo;
        a0 = window_words(lut + lo);
        a1 = window_words(lut + lo + 32);
        b0 = window_words(lut + lo + 64);
        b1 = window_words(lut + lo + 96);
        base = _mm512_set1_epi16((short)lo);
        for (; stop - i >= 32; i += 32) {
            __m512i d = _mm512_sub_epi16(_mm512_loadu_si512((const void *)(src + i)), base);
            __mmask32 in = _mm512_cmplt_epu16_mask(d, _mm512_set1_epi16(128));
            __m512i r = _mm512_mask_blend_epi16(
                _mm512_test_epi16_mask(d, _mm512_set1_epi16(64)),
                _mm512_permutex2var_epi16(a0, d, a1), _mm512_permutex2var_epi16(b0, d, b1));
            unsigned miss = ~(unsigned)in;
            _mm256_storeu_si256((__m256i *)(dst + i), _mm512_cvtepi16_epi8(r));
            while (miss) {
                unsigned l = pzf_ctz32(miss);
                dst[i + l] = lut[src[i + l]];
                miss &= miss - 1;
            }
        }
    }
    for (; i < n; i++)
        dst[i] = lut[src[i]];
}

#else
/* ISO C forbids an empty translation unit. */
typedef int pzf_quant_x86_unused;
#endif
