/*
 * ctx_model_avx2.h - the AVX2 step of the kind 0 (8-bit) line model
 * (ctx.h), shared by the decoder's model (ctx_model.c) and the encoder's
 * model with residuals (ctx_enc_model.c); internal, x86-64 only.
 */
#ifndef PZF_CTX_MODEL_AVX2_H
#define PZF_CTX_MODEL_AVX2_H

#include "compat.h"

#ifdef PZF_HAVE_X86_INTRINSICS
#include <immintrin.h>

/* Prediction b and context c of the 16 values at x, in 16-bit lanes,
 * with the same integer arithmetic as the portable loop (every quantity
 * fits in 16 bits, and |p - b| is a difference of two values below 256):
 * cs + x and p0 + x, p1 + x as in that loop; ash, psh and fsh hold the
 * shifts ashift, pbits and 2 - pbits. */
PZF_TARGET("avx2")
static inline void ctx_model8_step_avx2(const uint16_t *cs, const uint8_t *p0,
                                        const uint8_t *p1, __m128i ash, __m128i psh,
                                        __m128i fsh, __m256i *b, __m256i *c)
{
    const __m256i k16 = _mm256_set1_epi16(16), k15 = _mm256_set1_epi16(15);
    const __m256i k3 = _mm256_set1_epi16(3), k1 = _mm256_set1_epi16(1);
#define PZF_CS(k) _mm256_loadu_si256((const __m256i *)(const void *)(cs + (k)))
    __m256i s = _mm256_add_epi16(
        _mm256_add_epi16(_mm256_add_epi16(PZF_CS(0), PZF_CS(1)),
                         _mm256_add_epi16(PZF_CS(2), PZF_CS(3))),
        _mm256_add_epi16(_mm256_add_epi16(PZF_CS(4), PZF_CS(5)),
                         _mm256_add_epi16(PZF_CS(6), PZF_CS(7))));
#undef PZF_CS
    __m256i a = _mm256_setzero_si256(), p4;
    int k;
    p4 = _mm256_srli_epi16(_mm256_add_epi16(s, k16), 3);
    *b = _mm256_srli_epi16(p4, 2);
    for (k = 0; k < 3; k++) {
        __m256i q0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(p0 + k)));
        __m256i q1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(p1 + k)));
        a = _mm256_add_epi16(a, _mm256_abs_epi16(_mm256_sub_epi16(q0, *b)));
        a = _mm256_add_epi16(a, _mm256_abs_epi16(_mm256_sub_epi16(q1, *b)));
    }
    a = _mm256_min_epu16(_mm256_srl_epi16(a, ash), k15);
    *c = _mm256_add_epi16(_mm256_add_epi16(_mm256_sll_epi16(a, psh), k1),
                          _mm256_srl_epi16(_mm256_and_si256(p4, k3), fsh));
}
#endif

#endif /* PZF_CTX_MODEL_AVX2_H */
