/*
 * ctx_rans_enc_x86.c - AVX2 and AVX-512 twins of the context coding's
 * token encoder, pzf_ctx_encode_tokens_scalar (ctx_rans.c).
 *
 * A line is encoded backwards in groups of CTX_LANES = 32 values; the
 * scalar kernel takes a group's values from lane 31 down to lane 0, each
 * emitting at most one word downwards.  The vector kernels update the 32
 * states as 4 x 8 (AVX2) or 2 x 16 (AVX-512) lanes: the (context, token)
 * entries are fetched with 64-bit gathers, the division is Giesen's
 * reciprocal (a 32 x 32 -> 64-bit multiply of the even and the odd lanes),
 * and the words of the lanes that renormalise are packed together in lane
 * order and written below the group above, which is where the scalar
 * kernel puts them.  The line's last, partial group (len mod 32 values)
 * is left to the scalar kernel.  Integer arithmetic throughout: the
 * states and words equal the scalar kernel's bit for bit, which
 * tests/test_ctx_encode_kernels.py checks.
 *
 * Compiled with per-function target attributes (compat.h); called only
 * when cpu.h reports the instruction set.
 */
#include "ctx_rans.h"

#ifdef PZF_CTX_RANS_ENC_X86

#include <immintrin.h>

#define PZF_TARGET_AVX2 PZF_TARGET("avx2,popcnt")
#define PZF_TARGET_AVX512 PZF_TARGET("avx2,popcnt,avx512f,avx512bw,avx512dq,avx512vl")

/* For each 8-bit mask of renormalising lanes, the permutation (a nibble
 * per destination lane, lane 0 lowest) that moves those lanes, in order,
 * to the top of a vector of 8 (the lanes below are don't-cares). */
static const uint32_t compress_top[256] = {
    0x00000000, 0x00000000, 0x10000000, 0x10000000, 0x20000000, 0x20000000, 0x21000000, 0x21000000,
    0x30000000, 0x30000000, 0x31000000, 0x31000000, 0x32000000, 0x32000000, 0x32100000, 0x32100000,
    0x40000000, 0x40000000, 0x41000000, 0x41000000, 0x42000000, 0x42000000, 0x42100000, 0x42100000,
    0x43000000, 0x43000000, 0x43100000, 0x43100000, 0x43200000, 0x43200000, 0x43210000, 0x43210000,
    0x50000000, 0x50000000, 0x51000000, 0x51000000, 0x52000000, 0x52000000, 0x52100000, 0x52100000,
    0x53000000, 0x53000000, 0x53100000, 0x53100000, 0x53200000, 0x53200000, 0x53210000, 0x53210000,
    0x54000000, 0x54000000, 0x54100000, 0x54100000, 0x54200000, 0x54200000, 0x54210000, 0x54210000,
    0x54300000, 0x54300000, 0x54310000, 0x54310000, 0x54320000, 0x54320000, 0x54321000, 0x54321000,
    0x60000000, 0x60000000, 0x61000000, 0x61000000, 0x62000000, 0x62000000, 0x62100000, 0x62100000,
    0x63000000, 0x63000000, 0x63100000, 0x63100000, 0x63200000, 0x63200000, 0x63210000, 0x63210000,
    0x64000000, 0x64000000, 0x64100000, 0x64100000, 0x64200000, 0x64200000, 0x64210000, 0x64210000,
    0x64300000, 0x64300000, 0x64310000, 0x64310000, 0x64320000, 0x64320000, 0x64321000, 0x64321000,
    0x65000000, 0x65000000, 0x65100000, 0x65100000, 0x65200000, 0x65200000, 0x65210000, 0x65210000,
    0x65300000, 0x65300000, 0x65310000, 0x65310000, 0x65320000, 0x65320000, 0x65321000, 0x65321000,
    0x65400000, 0x65400000, 0x65410000, 0x65410000, 0x65420000, 0x65420000, 0x65421000, 0x65421000,
    0x65430000, 0x65430000, 0x65431000, 0x65431000, 0x65432000, 0x65432000, 0x65432100, 0x65432100,
    0x70000000, 0x70000000, 0x71000000, 0x71000000, 0x72000000, 0x72000000, 0x72100000, 0x72100000,
    0x73000000, 0x73000000, 0x73100000, 0x73100000, 0x73200000, 0x73200000, 0x73210000, 0x73210000,
    0x74000000, 0x74000000, 0x74100000, 0x74100000, 0x74200000, 0x74200000, 0x74210000, 0x74210000,
    0x74300000, 0x74300000, 0x74310000, 0x74310000, 0x74320000, 0x74320000, 0x74321000, 0x74321000,
    0x75000000, 0x75000000, 0x75100000, 0x75100000, 0x75200000, 0x75200000, 0x75210000, 0x75210000,
    0x75300000, 0x75300000, 0x75310000, 0x75310000, 0x75320000, 0x75320000, 0x75321000, 0x75321000,
    0x75400000, 0x75400000, 0x75410000, 0x75410000, 0x75420000, 0x75420000, 0x75421000, 0x75421000,
    0x75430000, 0x75430000, 0x75431000, 0x75431000, 0x75432000, 0x75432000, 0x75432100, 0x75432100,
    0x76000000, 0x76000000, 0x76100000, 0x76100000, 0x76200000, 0x76200000, 0x76210000, 0x76210000,
    0x76300000, 0x76300000, 0x76310000, 0x76310000, 0x76320000, 0x76320000, 0x76321000, 0x76321000,
    0x76400000, 0x76400000, 0x76410000, 0x76410000, 0x76420000, 0x76420000, 0x76421000, 0x76421000,
    0x76430000, 0x76430000, 0x76431000, 0x76431000, 0x76432000, 0x76432000, 0x76432100, 0x76432100,
    0x76500000, 0x76500000, 0x76510000, 0x76510000, 0x76520000, 0x76520000, 0x76521000, 0x76521000,
    0x76530000, 0x76530000, 0x76531000, 0x76531000, 0x76532000, 0x76532000, 0x76532100, 0x76532100,
    0x76540000, 0x76540000, 0x76541000, 0x76541000, 0x76542000, 0x76542000, 0x76542100, 0x76542100,
    0x76543000, 0x76543000, 0x76543100, 0x76543100, 0x76543200, 0x76543200, 0x76543210, 0x76543210,
};

/* ---- AVX2: 4 vectors of 8 lanes --------------------------------------- */

/* Encode the 8 values at ctx/tok (lanes of *x) and write the words of the
 * lanes that renormalise below *p, in lane order. */
PZF_TARGET_AVX2 static inline void enc8_avx2(const ctx_enc_sym *enc, const uint8_t *ctx,
                                             const uint8_t *tok, __m256i *x, uint8_t **p)
{
    const __m256i m12 = _mm256_set1_epi32(0xFFF), m13 = _mm256_set1_epi32(0x1FFF);
    const __m256i k4095 = _mm256_set1_epi32(4095), k16 = _mm256_set1_epi32(16);
    const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    const __m256i pack16 = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1,
                                            -1, -1, 0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1,
                                            -1, -1, -1, -1);
    /* entry index ctx << 8 | tok, in the lane order 0 1 4 5 2 3 6 7 so that
     * the two gathers' halves interleave back into 0..7 */
    __m128i ct = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(const void *)tok),
                                   _mm_loadl_epi64((const __m128i *)(const void *)ctx));
    __m256i idx = _mm256_permute4x64_epi64(_mm256_cvtepu16_epi32(ct), 0xD8);
    const long long *base = (const long long *)(const void *)enc;
    __m256 g0 = _mm256_castsi256_ps(_mm256_i32gather_epi64(base, _mm256_castsi256_si128(idx), 8));
    __m256 g1 = _mm256_castsi256_ps(
        _mm256_i32gather_epi64(base, _mm256_extracti128_si256(idx, 1), 8));
    __m256i rcp = _mm256_castps_si256(_mm256_shuffle_ps(g0, g1, 0x88));
    __m256i pk = _mm256_castps_si256(_mm256_shuffle_ps(g0, g1, 0xDD));
    __m256i cmpl = _mm256_and_si256(_mm256_srli_epi32(pk, 13), m12);
    __m256i v = *x, out, q, qo, w;
    unsigned mask, nib;
    /* X >= freq << 19, i.e. X >> 19 > freq - 1 (both below 2^12) */
    out = _mm256_cmpgt_epi32(_mm256_srli_epi32(v, 19), _mm256_sub_epi32(k4095, cmpl));
    mask = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(out));
    nib = compress_top[mask];
    w = _mm256_permutevar8x32_epi32(
        v, _mm256_srlv_epi32(_mm256_set1_epi32((int)nib), shifts));
    w = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(w, pack16), 0x08);
    *p -= 16;
    _mm_storeu_si128((__m128i *)(void *)*p, _mm256_castsi256_si128(w));
    *p += 16 - 2 * _mm_popcnt_u32(mask);
    v = _mm256_srlv_epi32(v, _mm256_and_si256(out, k16));
    q = _mm256_srli_epi64(_mm256_mul_epu32(v, rcp), 32);
    qo = _mm256_mul_epu32(_mm256_srli_epi64(v, 32), _mm256_srli_epi64(rcp, 32));
    q = _mm256_srlv_epi32(_mm256_blend_epi32(q, qo, 0xAA), _mm256_srli_epi32(pk, 25));
    *x = _mm256_add_epi32(_mm256_add_epi32(v, _mm256_and_si256(pk, m13)),
                          _mm256_mullo_epi32(q, cmpl));
}

PZF_TARGET_AVX2 void pzf_ctx_encode_tokens_avx2(const ctx_enc_sym *enc, const uint8_t *ctx,
                                                const uint8_t *tok, size_t len,
                                                uint32_t xs[CTX_LANES], uint8_t **wp)
{
    size_t x = len / CTX_LANES * CTX_LANES;
    uint8_t *p = *wp;
    __m256i x0, x1, x2, x3;
    if (x < len)
        pzf_ctx_encode_tokens_scalar(enc, ctx + x, tok + x, len - x, xs, &p);
    x0 = _mm256_loadu_si256((const __m256i *)(const void *)xs);
    x1 = _mm256_loadu_si256((const __m256i *)(const void *)(xs + 8));
    x2 = _mm256_loadu_si256((const __m256i *)(const void *)(xs + 16));
    x3 = _mm256_loadu_si256((const __m256i *)(const void *)(xs + 24));
    while (x) {
        x -= CTX_LANES;
        enc8_avx2(enc, ctx + x + 24, tok + x + 24, &x3, &p);
        enc8_avx2(enc, ctx + x + 16, tok + x + 16, &x2, &p);
        enc8_avx2(enc, ctx + x + 8, tok + x + 8, &x1, &p);
        enc8_avx2(enc, ctx + x, tok + x, &x0, &p);
    }
    _mm256_storeu_si256((__m256i *)(void *)xs, x0);
    _mm256_storeu_si256((__m256i *)(void *)(xs + 8), x1);
    _mm256_storeu_si256((__m256i *)(void *)(xs + 16), x2);
    _mm256_storeu_si256((__m256i *)(void *)(xs + 24), x3);
    *wp = p;
}

/* ---- AVX-512: 2 vectors of 16 lanes ----------------------------------- */

PZF_TARGET_AVX512 static inline uint8_t *enc16_avx512(const ctx_enc_sym *enc,
                                                      const uint8_t *ctx, const uint8_t *tok,
                                                      __m512i *x, uint8_t *p)
{
    const __m512i m12 = _mm512_set1_epi32(0xFFF), m13 = _mm512_set1_epi32(0x1FFF);
    const __m512i k4096 = _mm512_set1_epi32(4096);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                           28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27,
                                          29, 31);
    __m128i t = _mm_loadu_si128((const __m128i *)(const void *)tok);
    __m128i c = _mm_loadu_si128((const __m128i *)(const void *)ctx);
    __m512i idx = _mm512_cvtepu16_epi32(
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi8(t, c)),
                                _mm_unpackhi_epi8(t, c), 1));
    __m512i g0 = _mm512_i32gather_epi64(_mm512_castsi512_si256(idx), (const void *)enc, 8);
    __m512i g1 = _mm512_i32gather_epi64(_mm512_extracti64x4_epi64(idx, 1), (const void *)enc, 8);
    __m512i rcp = _mm512_permutex2var_epi32(g0, even, g1);
    __m512i pk = _mm512_permutex2var_epi32(g0, odd, g1);
    __m512i cmpl = _mm512_and_si512(_mm512_srli_epi32(pk, 13), m12);
    __m512i v = *x, q, qo;
    __mmask16 out = _mm512_cmpge_epu32_mask(_mm512_srli_epi32(v, 19),
                                            _mm512_sub_epi32(k4096, cmpl));
    unsigned n = (unsigned)_mm_popcnt_u32((unsigned)out);
    /* the renormalising lanes' words, in order, at the top of 32 bytes
     * ending at p (the bytes below are overwritten later, or spare) */
    __m256i w = _mm512_cvtepi32_epi16(_mm512_maskz_expand_epi32(
        (__mmask16)(0xFFFF0000u >> n), _mm512_maskz_compress_epi32(out, v)));
    _mm256_storeu_si256((__m256i *)(void *)(p - 32), w);
    v = _mm512_mask_srli_epi32(v, out, v, 16);
    q = _mm512_srli_epi64(_mm512_mul_epu32(v, rcp), 32);
    qo = _mm512_mul_epu32(_mm512_srli_epi64(v, 32), _mm512_srli_epi64(rcp, 32));
    q = _mm512_srlv_epi32(_mm512_mask_blend_epi32(0xAAAA, q, qo), _mm512_srli_epi32(pk, 25));
    *x = _mm512_add_epi32(_mm512_add_epi32(v, _mm512_and_si512(pk, m13)),
                          _mm512_mullo_epi32(q, cmpl));
    return p - 2 * n;
}

PZF_TARGET_AVX512 void pzf_ctx_encode_tokens_avx512(const ctx_enc_sym *enc,
                                                    const uint8_t *ctx, const uint8_t *tok,
                                                    size_t len, uint32_t xs[CTX_LANES],
                                                    uint8_t **wp)
{
    size_t x = len / CTX_LANES * CTX_LANES;
    uint8_t *p = *wp;
    __m512i x0, x1;
    if (x < len)
        pzf_ctx_encode_tokens_scalar(enc, ctx + x, tok + x, len - x, xs, &p);
    x0 = _mm512_loadu_si512((const void *)xs);
    x1 = _mm512_loadu_si512((const void *)(xs + 16));
    while (x) {
        x -= CTX_LANES;
        p = enc16_avx512(enc, ctx + x + 16, tok + x + 16, &x1, p);
        p = enc16_avx512(enc, ctx + x, tok + x, &x0, p);
    }
    _mm512_storeu_si512((void *)xs, x0);
    _mm512_storeu_si512((void *)(xs + 16), x1);
    *wp = p;
}

#else
typedef int pzf_ctx_rans_enc_x86_empty; /* ISO C: no empty translation unit */
#endif
