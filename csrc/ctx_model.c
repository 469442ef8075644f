/*
 * ctx_model.c - the context model shared by the context encoder and
 * decoder: prediction and context of every value from the lines above it,
 * and the normalisation of counts to rANS frequencies.  Plain C integer
 * loops that the compiler vectorises, built once portably and once for
 * AVX2 (chosen at run time); integer arithmetic gives both the same
 * result, which tests/c/selftest.c checks across x86-64 and aarch64.
 */
#include <string.h>

#include "cpu.h"
#include "ctx.h"

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

#define ABSD(a, b) ((a) > (b) ? (a) - (b) : (b) - (a))
#define ABSD16(a, b) ((uint16_t)((uint16_t)(a) > (b) ? (uint16_t)(a) - (b) : (b) - (uint16_t)(a)))

/* Both widths' line models, compiled once per instruction set: integer
 * arithmetic only, so every build computes the same contexts. */
#define PZF_CTX_DEFINE_MODELS(SUFFIX, ATTR)                                          \
    ATTR static void model8##SUFFIX(const uint8_t *const rows[4], size_t len,        \
                                    unsigned ashift, unsigned pbits,                 \
                                    uint16_t *scratch, uint8_t *base, uint8_t *ctx)  \
    {                                                                                \
        PZF_CTX_MODEL_BODY(uint8_t, uint16_t)                                        \
        /* every quantity fits in 16 bits: s <= 8160, a <= 1530 */                   \
        for (x = 0; x < len; x++) {                                                  \
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
                                     uint16_t *base, uint8_t *ctx)                   \
    {                                                                                \
        PZF_CTX_MODEL_BODY(uint16_t, uint32_t)                                       \
        for (x = 0; x < len; x++) {                                                  \
            const uint32_t *c = cs + x;                                              \
            uint32_t s = c[0] + c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + c[7];      \
            uint32_t b = (s + 16) >> 5;                                              \
            uint32_t a = ABSD(p0[x], b) + ABSD(p0[x + 1], b) + ABSD(p0[x + 2], b) +  \
                         ABSD(p1[x], b) + ABSD(p1[x + 1], b) + ABSD(p1[x + 2], b);   \
            base[x] = (uint16_t)b;                                                   \
            a >>= ashift;                                                            \
            ctx[x] = (uint8_t)(1 + (a < 71 ? a : 71));                               \
        }                                                                            \
    }

PZF_CTX_DEFINE_MODELS(_portable, )
#ifdef PZF_HAVE_TARGET
#define PZF_CTX_AVX2 1
PZF_CTX_DEFINE_MODELS(_avx2, PZF_TARGET("avx2"))
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
                     uint32_t *scratch, uint16_t *base, uint8_t *ctx)
{
#ifdef PZF_CTX_AVX2
    if (pzf_cpu_features() & PZF_CPU_AVX2) {
        model16_avx2(rows, len, ashift, scratch, base, ctx);
        return;
    }
#endif
    model16_portable(rows, len, ashift, scratch, base, ctx);
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
