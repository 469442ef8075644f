/*
 * ctx_bits_x86.c - AVX2 and AVX-512 twins of the context coding's raw-bit
 * reader (residuals in ctx_decompress.c) and writer (pzf_ctx_put_raw16 in
 * ctx_rans.c).  The reader gives the residuals of a line's first values
 * from their tokens and raw bits, optionally fused with the values
 * v = base + unzigzag(u); the writer, below, the tokens and raw bits of
 * lossless residuals.
 *
 * Reader, per 8 values: the raw-bit counts k[ctx] (a gather; 16 for an
 * escape token), their exclusive prefix sum gives each value's bit offset,
 * two dword permutes of the 32 bytes at the position's byte and shifts
 * leave its bits; u = t << k | bits, kept to 16 bits.  The only dependency
 * between steps is the scalar bit position, advanced by the step's total.
 *
 * 16 values read at most 16 * 16 bits after a position's 7 (AVX2: two
 * 32-byte windows, the second at most 15 bytes on; AVX-512: one of 64), so
 * a kernel runs only while CTX_BITS_SLACK bytes are left and never reads
 * past the raw bits.  Then it goes on in a zero-padded
 * copy of the last bytes, and reports that the bits ran out iff it read
 * past them: the scalar reader fails iff a line needs more bits than are
 * left, so corrupt data is reported exactly as without the kernels; the
 * caller's checked scalar reader does a line's last values.
 * Compiled with per-function target attributes; called only when cpu.h
 * reports the instruction set.
 */
#include "ctx_rans.h"

#ifdef PZF_CTX_BITS_X86

#include <immintrin.h>

#include <string.h>

#include "cpu.h"

#define PZF_TARGET_AVX2 PZF_TARGET("avx2")
/* bytes a vector step may read from its position's byte on */
#define CTX_BITS_SLACK 64

/* The residuals of 8 values (32-bit lanes, not yet cut to 16 bits) whose
 * raw bits start at bit *pos of q; advances *pos. */
PZF_TARGET_AVX2 static inline __m256i bits8(const int32_t *k32, __m256i escv,
                                            const uint8_t *ctx, const uint8_t *tok,
                                            const uint8_t *q, size_t *pos)
{
    const __m256i one = _mm256_set1_epi32(1);
    __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)ctx));
    __m256i t = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)tok));
    __m256i k = _mm256_i32gather_epi32((const int *)k32, c, 4);
    __m256i s, hi, rel, d, sh, win, g, r;
    k = _mm256_blendv_epi8(k, _mm256_set1_epi32(16), _mm256_cmpeq_epi32(t, escv));
    /* inclusive prefix sum: in each half, then the low half's total on top */
    s = _mm256_add_epi32(k, _mm256_slli_si256(k, 4));
    s = _mm256_add_epi32(s, _mm256_slli_si256(s, 8));
    hi = _mm256_shuffle_epi32(s, 0xFF);
    s = _mm256_add_epi32(s, _mm256_permute2x128_si256(hi, hi, 0x08));
    rel = _mm256_add_epi32(_mm256_sub_epi32(s, k), _mm256_set1_epi32((int)(*pos & 7)));
    /* the value's 32 bits from dwords d and d + 1 of the 32 bytes at the
     * position's byte (offsets below 7 + 7 * 16 bits: d <= 3) */
    win = _mm256_loadu_si256((const __m256i *)(const void *)(q + (*pos >> 3)));
    d = _mm256_srli_epi32(rel, 5);
    sh = _mm256_and_si256(rel, _mm256_set1_epi32(31));
    g = _mm256_or_si256(
        _mm256_srlv_epi32(_mm256_permutevar8x32_epi32(win, d), sh),
        _mm256_sllv_epi32(_mm256_permutevar8x32_epi32(win, _mm256_add_epi32(d, one)),
                          _mm256_sub_epi32(_mm256_set1_epi32(32), sh)));
    r = _mm256_and_si256(g, _mm256_sub_epi32(_mm256_sllv_epi32(one, k), one));
    *pos += (uint32_t)_mm256_extract_epi32(s, 7);
    return _mm256_or_si256(_mm256_sllv_epi32(t, k), r);
}

/* out[x..x+16) = the residuals u, or with base the values base + unzigzag(u). */
PZF_TARGET_AVX2 static inline void put16(__m256i u, const uint16_t *base, uint16_t *out,
                                         size_t x)
{
    if (base) {
        __m256i z = _mm256_xor_si256(
            _mm256_srli_epi16(u, 1),
            _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_and_si256(u, _mm256_set1_epi16(1))));
        u = _mm256_add_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(base + x)), z);
    }
    _mm256_storeu_si256((__m256i *)(void *)(out + x), u);
}

PZF_TARGET_AVX2 static size_t residuals_avx2(const int32_t *k32, unsigned esc,
                                             const uint8_t *ctx, const uint8_t *tok, size_t len,
                                             const uint8_t *q, size_t avail, size_t *ppos,
                                             const uint16_t *base, uint16_t *out)
{
    const __m256i escv = _mm256_set1_epi32((int)esc), m16 = _mm256_set1_epi32(0xFFFF);
    size_t x = 0, pos = *ppos;
    for (; x + 16 <= len && (pos >> 3) + CTX_BITS_SLACK <= avail; x += 16) {
        __m256i u0 = _mm256_and_si256(bits8(k32, escv, ctx + x, tok + x, q, &pos), m16);
        __m256i u1 = _mm256_and_si256(bits8(k32, escv, ctx + x + 8, tok + x + 8, q, &pos), m16);
        __m256i u = _mm256_permute4x64_epi64(_mm256_packus_epi32(u0, u1), 0xD8);
        put16(u, base, out, x);
    }
    *ppos = pos;
    return x;
}

/* ---- the encoder's writer ---------------------------------------------- */

/* Tokens and raw bits of 8 kind 1 values: the tokens (32-bit lanes) in *t;
 * returns the raw bits of values 4i..4i+3 in qword 2i (i = 0, 1), their
 * count in the same qword of *len, and those of the pairs 2j, 2j + 1 in
 * qword j of *pair and *plen. */
PZF_TARGET_AVX2 static inline __m256i raw8(__m128i kb, __m256i escv, const uint16_t *u,
                                           __m256i *t, __m256i *len, __m256i *pair,
                                           __m256i *plen)
{
    const __m256i one = _mm256_set1_epi32(1), lo32 = _mm256_set1_epi64x(0xFFFFFFFF);
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)u));
    __m256i k = _mm256_cvtepu8_epi32(kb);
    __m256i tt = _mm256_srlv_epi32(v, k);
    __m256i esc = _mm256_cmpgt_epi32(tt, _mm256_sub_epi32(escv, one)); /* tt < 2^16 */
    __m256i n = _mm256_blendv_epi8(k, _mm256_set1_epi32(16), esc);
    __m256i r = _mm256_and_si256(v, _mm256_sub_epi32(_mm256_sllv_epi32(one, n), one));
    __m256i nlo = _mm256_and_si256(n, lo32), p, l;
    *t = _mm256_min_epu32(tt, escv);
    /* pairs: the odd value's bits above the even one's (at most 32 bits) */
    p = _mm256_or_si256(_mm256_and_si256(r, lo32),
                        _mm256_sllv_epi64(_mm256_srli_epi64(r, 32), nlo));
    l = _mm256_add_epi64(nlo, _mm256_srli_epi64(n, 32));
    *pair = p;
    *plen = l;
    /* fours: qword 1's pair above qword 0's, in each 128-bit half */
    *len = _mm256_add_epi64(l, _mm256_bsrli_epi128(l, 8));
    return _mm256_or_si256(p, _mm256_sllv_epi64(_mm256_bsrli_epi128(p, 8), l));
}

/* Four values' raw bits (n bits of v, n <= 64) to w: in two writes of
 * their pairs when the writer's 7 pending bits leave too little room. */
PZF_INLINE void put4(ctx_bit_writer *w, uint64_t v, uint64_t n, uint64_t p0, uint64_t n0,
                     uint64_t p1, uint64_t n1)
{
    if (n <= 56) {
        ctx_put_bits(w, v, (unsigned)n);
    } else {
        ctx_put_bits(w, p0, (unsigned)n0);
        ctx_put_bits(w, p1, (unsigned)n1);
    }
}

PZF_TARGET_AVX2 size_t pzf_ctx_put_raw16_avx2(const int32_t *k32, unsigned esc,
                                              const uint8_t *ctx, const uint16_t *u,
                                              size_t len, uint8_t *tk, ctx_bit_writer *bw)
{
    const __m256i escv = _mm256_set1_epi32((int)esc);
    __m128i kt[CTX_K32_SIZE / 16];
    ctx_bit_writer w = *bw;
    size_t x = 0;
    int g;
    for (g = 0; g < CTX_K32_SIZE / 16; g++) /* k of contexts 16 g.. as bytes */
        kt[g] = _mm_packus_epi16(
            _mm_packs_epi32(_mm_loadu_si128((const __m128i *)(const void *)(k32 + 16 * g)),
                            _mm_loadu_si128((const __m128i *)(const void *)(k32 + 16 * g + 4))),
            _mm_packs_epi32(_mm_loadu_si128((const __m128i *)(const void *)(k32 + 16 * g + 8)),
                            _mm_loadu_si128((const __m128i *)(const void *)(k32 + 16 * g + 12))));
    for (; x + 16 <= len; x += 16) {
        uint64_t q[2][4], l[2][4], p[2][4], pl[2][4];
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(ctx + x));
        __m128i hi = _mm_and_si128(_mm_srli_epi16(c, 4), _mm_set1_epi8(15)), kb;
        __m256i t0, t1, t;
        int h;
        /* k[ctx]: byte lookups in the table of each context's 16 (ctx < 96,
         * so pshufb reads its low 4 bits) */
        kb = _mm_shuffle_epi8(kt[0], c);
        kb = _mm_and_si128(kb, _mm_cmpeq_epi8(hi, _mm_setzero_si128()));
        for (g = 1; g < CTX_K32_SIZE / 16; g++)
            kb = _mm_or_si128(kb, _mm_and_si128(_mm_shuffle_epi8(kt[g], c),
                                                _mm_cmpeq_epi8(hi, _mm_set1_epi8((char)g))));
        _mm256_storeu_si256((__m256i *)(void *)q[0],
                            raw8(kb, escv, u + x, &t0, (__m256i *)(void *)l[0],
                                 (__m256i *)(void *)p[0], (__m256i *)(void *)pl[0]));
        _mm256_storeu_si256((__m256i *)(void *)q[1],
                            raw8(_mm_srli_si128(kb, 8), escv, u + x + 8, &t1,
                                 (__m256i *)(void *)l[1], (__m256i *)(void *)p[1],
                                 (__m256i *)(void *)pl[1]));
        /* tokens t0 | t1 to 16 bytes (after all 16 values are read) */
        t = _mm256_permute4x64_epi64(_mm256_packus_epi32(t0, t1), 0xD8);
        _mm_storeu_si128((__m128i *)(void *)(tk + x),
                         _mm_packus_epi16(_mm256_castsi256_si128(t),
                                          _mm256_extracti128_si256(t, 1)));
        for (h = 0; h < 2; h++) { /* eight values a write where they fit */
            if (l[h][0] + l[h][2] <= 56) {
                ctx_put_bits(&w, q[h][0] | q[h][2] << l[h][0], (unsigned)(l[h][0] + l[h][2]));
            } else {
                put4(&w, q[h][0], l[h][0], p[h][0], pl[h][0], p[h][1], pl[h][1]);
                put4(&w, q[h][2], l[h][2], p[h][2], pl[h][2], p[h][3], pl[h][3]);
            }
        }
    }
    *bw = w;
    return x;
}

/* ---- AVX-512: no gathers ------------------------------------------------ */

#define PZF_TARGET_AVX512 PZF_TARGET("avx2,avx512f,avx512bw,avx512dq,avx512vl")

/* The residuals of 16 values (cut to 16 bits) whose raw bits start at bit
 * *pos of q; advances *pos.  k[ctx] comes from the 16-bit tables t0:t1
 * (contexts 0..63) and t2 (64..95); the 32
 * bits of value i are the words w, w + 1 (w = its bit offset / 16) of the
 * 64 bytes at the position's byte, picked with vpermw. */
PZF_TARGET_AVX512 static inline __m256i bits16(__m512i t0, __m512i t1, __m512i t2,
                                               __m512i escv, const uint8_t *ctx,
                                               const uint8_t *tok, const uint8_t *q,
                                               size_t *pos)
{
    const __m512i one = _mm512_set1_epi32(1), zero = _mm512_setzero_si512();
    __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)ctx));
    __m512i t = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)tok));
    __m512i k = _mm512_permutex2var_epi16(t0, c, t1), s, rel, w, win, g, r;
    k = _mm512_mask_mov_epi32(k, _mm512_cmpge_epu32_mask(c, _mm512_set1_epi32(64)),
                              _mm512_permutexvar_epi16(c, t2));
    k = _mm512_and_si512(k, _mm512_set1_epi32(0xFFFF));
    k = _mm512_mask_mov_epi32(k, _mm512_cmpeq_epi32_mask(t, escv), _mm512_set1_epi32(16));
    s = _mm512_add_epi32(k, _mm512_alignr_epi32(k, zero, 15));
    s = _mm512_add_epi32(s, _mm512_alignr_epi32(s, zero, 14));
    s = _mm512_add_epi32(s, _mm512_alignr_epi32(s, zero, 12));
    s = _mm512_add_epi32(s, _mm512_alignr_epi32(s, zero, 8));
    rel = _mm512_add_epi32(_mm512_sub_epi32(s, k), _mm512_set1_epi32((int)(*pos & 7)));
    w = _mm512_srli_epi32(rel, 4);
    win = _mm512_loadu_si512((const void *)(q + (*pos >> 3)));
    g = _mm512_permutexvar_epi16(
        _mm512_add_epi32(_mm512_mullo_epi32(w, _mm512_set1_epi32(0x10001)),
                         _mm512_set1_epi32(0x10000)),
        win);
    r = _mm512_and_si512(_mm512_srlv_epi32(g, _mm512_and_si512(rel, _mm512_set1_epi32(15))),
                         _mm512_sub_epi32(_mm512_sllv_epi32(one, k), one));
    *pos += (uint32_t)_mm_extract_epi32(_mm512_extracti32x4_epi32(s, 3), 3);
    return _mm512_cvtepi32_epi16(_mm512_or_si512(_mm512_sllv_epi32(t, k), r));
}

PZF_TARGET_AVX512 static size_t residuals_avx512(const int32_t *k32, unsigned esc,
                                                 const uint8_t *ctx, const uint8_t *tok,
                                                 size_t len, const uint8_t *q, size_t avail,
                                                 size_t *ppos, const uint16_t *base,
                                                 uint16_t *out)
{
    __m512i t[3];
    const __m512i escv = _mm512_set1_epi32((int)esc);
    size_t x = 0, pos = *ppos, i;
    for (i = 0; i < 3; i++) /* 16-bit tables of 32 contexts each */
        t[i] = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm512_cvtepi32_epi16(_mm512_loadu_si512(k32 + 32 * i))),
            _mm512_cvtepi32_epi16(_mm512_loadu_si512(k32 + 32 * i + 16)), 1);
    for (; x + 16 <= len && (pos >> 3) + CTX_BITS_SLACK <= avail; x += 16) {
        __m256i u = bits16(t[0], t[1], t[2], escv, ctx + x, tok + x, q, &pos);
        put16(u, base, out, x);
    }
    *ppos = pos;
    return x;
}

/* The encoder's writer likewise, 16 values a vector: k[ctx] from the
 * 16-bit tables as in bits16, their raw bits joined in pairs, fours and
 * eights inside the vector, then written eight values a write where their
 * bits fit in 56, else four. */
PZF_TARGET_AVX512 size_t pzf_ctx_put_raw16_avx512(const int32_t *k32, unsigned esc,
                                                  const uint8_t *ctx, const uint16_t *u,
                                                  size_t len, uint8_t *tk, ctx_bit_writer *bw)
{
    const __m512i one = _mm512_set1_epi32(1), escv = _mm512_set1_epi32((int)esc);
    const __m512i lo32 = _mm512_set1_epi64(0xFFFFFFFF);
    const __m512i up2 = _mm512_setr_epi64(2, 3, 2, 3, 6, 7, 6, 7); /* qword 2 (6) to 0 (4) */
    __m512i t[3];
    ctx_bit_writer w = *bw;
    size_t x = 0, i;
    for (i = 0; i < 3; i++)
        t[i] = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm512_cvtepi32_epi16(_mm512_loadu_si512(k32 + 32 * i))),
            _mm512_cvtepi32_epi16(_mm512_loadu_si512(k32 + 32 * i + 16)), 1);
    for (; x + 16 <= len; x += 16) {
        uint64_t o[8], lo[8], q[8], lq[8], p[8], lp[8];
        __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(ctx + x)));
        __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(u + x)));
        __m512i k = _mm512_permutex2var_epi16(t[0], c, t[1]), tt, n, r, nlo, pp, lpp, qq, lqq;
        __m512i oo, loo;
        __mmask16 escm;
        int h;
        k = _mm512_mask_mov_epi32(k, _mm512_cmpge_epu32_mask(c, _mm512_set1_epi32(64)),
                                  _mm512_permutexvar_epi16(c, t[2]));
        k = _mm512_and_si512(k, _mm512_set1_epi32(0xFFFF));
        tt = _mm512_srlv_epi32(v, k);
        escm = _mm512_cmpge_epu32_mask(tt, escv);
        n = _mm512_mask_mov_epi32(k, escm, _mm512_set1_epi32(16));
        r = _mm512_and_si512(v, _mm512_sub_epi32(_mm512_sllv_epi32(one, n), one));
        _mm_storeu_si128((__m128i *)(void *)(tk + x),
                         _mm512_cvtepi32_epi8(_mm512_min_epu32(tt, escv)));
        /* pairs (<= 32 bits), fours (<= 64) in qwords 0, 2, 4, 6, eights
         * (where they fit in 64) in qwords 0 and 4 */
        nlo = _mm512_and_si512(n, lo32);
        pp = _mm512_or_si512(_mm512_and_si512(r, lo32),
                             _mm512_sllv_epi64(_mm512_srli_epi64(r, 32), nlo));
        lpp = _mm512_add_epi64(nlo, _mm512_srli_epi64(n, 32));
        qq = _mm512_or_si512(pp, _mm512_sllv_epi64(_mm512_bsrli_epi128(pp, 8), lpp));
        lqq = _mm512_add_epi64(lpp, _mm512_bsrli_epi128(lpp, 8));
        oo = _mm512_or_si512(qq, _mm512_sllv_epi64(_mm512_permutexvar_epi64(up2, qq), lqq));
        loo = _mm512_add_epi64(lqq, _mm512_permutexvar_epi64(up2, lqq));
        if (!_mm512_mask_cmpgt_epu64_mask(0x11, loo, _mm512_set1_epi64(56))) {
            /* both eights fit (the usual case) */
            ctx_put_bits(&w, (uint64_t)_mm_cvtsi128_si64(_mm512_castsi512_si128(oo)),
                         (unsigned)_mm_cvtsi128_si64(_mm512_castsi512_si128(loo)));
            ctx_put_bits(&w, (uint64_t)_mm_cvtsi128_si64(_mm512_extracti64x2_epi64(oo, 2)),
                         (unsigned)_mm_cvtsi128_si64(_mm512_extracti64x2_epi64(loo, 2)));
            continue;
        }
        _mm512_storeu_si512((void *)o, oo);
        _mm512_storeu_si512((void *)lo, loo);
        _mm512_storeu_si512((void *)q, qq);
        _mm512_storeu_si512((void *)lq, lqq);
        _mm512_storeu_si512((void *)p, pp);
        _mm512_storeu_si512((void *)lp, lpp);
        for (h = 0; h < 8; h += 4) {
            if (lo[h] <= 56) {
                ctx_put_bits(&w, o[h], (unsigned)lo[h]);
            } else {
                put4(&w, q[h], lq[h], p[h], lp[h], p[h + 1], lp[h + 1]);
                put4(&w, q[h + 2], lq[h + 2], p[h + 2], lp[h + 2], p[h + 3], lp[h + 3]);
            }
        }
    }
    *bw = w;
    return x;
}

typedef size_t (*residuals_fn)(const int32_t *, unsigned, const uint8_t *, const uint8_t *,
                               size_t, const uint8_t *, size_t, size_t *, const uint16_t *,
                               uint16_t *);

int64_t pzf_ctx_residuals_x86(const int32_t *k32, unsigned esc, const uint8_t *ctx,
                              const uint8_t *tok, size_t len, const uint8_t *q, size_t avail,
                              size_t *ppos, const uint16_t *base, uint16_t *out, int isa)
{
    unsigned f = pzf_cpu_features();
    residuals_fn fn = NULL;
    size_t x;
    if (isa == PZF_ISA_AVX512 && (f & PZF_CPU_AVX512) && (f & PZF_CPU_AVX2))
        fn = residuals_avx512;
    else if (isa >= PZF_ISA_AVX2 && (f & PZF_CPU_AVX2))
        fn = residuals_avx2;
    if (!fn)
        return 0;
    x = fn(k32, esc, ctx, tok, len, q, avail, ppos, base, out);
    if (len - x >= 16) {
        /* fewer than CTX_BITS_SLACK bytes left: go on in a zero-padded copy
         * of them while the position is inside them (a band's last lines
         * often read few bits or none); reading past them means the bits
         * ran out, as the scalar reader would find */
        uint8_t buf[2 * CTX_BITS_SLACK];
        size_t at = *ppos >> 3, rem = avail - at, pos = *ppos & 7;
        memset(buf, 0, sizeof buf);
        if (rem)
            memcpy(buf, q + at, rem);
        x += fn(k32, esc, ctx + x, tok + x, len - x, buf, rem + CTX_BITS_SLACK, &pos,
                base ? base + x : NULL, out + x);
        if (pos > 8 * rem)
            return -1;
        *ppos = 8 * at + pos;
    }
    return (int64_t)x;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int pzf_ctx_bits_x86_unused;
#endif /* PZF_CTX_BITS_X86 */
