/*
 * quant.c - exact square-root quantiser (scalar kernels and dispatch) and
 * the de-quantiser.  See quant.h for the definition and the error analysis
 * that lets the fast float estimate be corrected exactly.
 */
#include <stdlib.h>

#include "cpu.h"
#include "quant.h"

/* ---- exact threshold test -------------------------------------------- */

/* Knuth's TwoSum: s + e == a + b exactly, s = fl(a + b). */
static void two_sum(double a, double b, double *s, double *e)
{
    double x = a + b;
    double bv = x - a;
    double av = x - bv;
    *s = x;
    *e = (a - av) + (b - bv);
}

/* Shewchuk's Grow-Expansion: add b to the nonoverlapping expansion
 * e[0..m-1] (increasing magnitude), in place; e gains one component. */
static void grow_expansion(double *e, int m, double b)
{
    double q = b;
    int i;
    for (i = 0; i < m; i++)
        two_sum(q, e[i], &q, &e[i]);
    e[m] = q;
}

/* x >= offset + p^2 with p = (n - 1/2) * scale, decided exactly.
 * p has at most 9 + 24 significant bits, so it is exact in double; p^2 =
 * hi + lo exactly (fma); x, offset are exact in double.  The sign of the
 * nonoverlapping expansion of x - offset - hi - lo is the sign of its
 * largest nonzero component.  No intermediate can overflow: every
 * magnitude is below 2^129. */
int pzf_quant_ge(float x, int n, const pzf_qparams *qp)
{
    double p = ((double)n - 0.5) * (double)qp->scale;
    double hi = p * p;
    double lo = fma(p, p, -hi);
    double e[4];
    int i;

    e[0] = (double)x;
    grow_expansion(e, 1, -(double)qp->offset);
    grow_expansion(e, 2, -hi);
    grow_expansion(e, 3, -lo);
    for (i = 3; i >= 0; i--)
        if (e[i] != 0.0)
            return e[i] > 0.0;
    return 1; /* x == T_n: ties round up */
}

/* ---- parameters ------------------------------------------------------- */

/* The scale range keeps fl(1 / scale) and every intermediate of the float
 * estimate normal and finite (quant.h), which the error bound needs. */
int pzf_check_quant_params(float offset, float scale)
{
    if (!isfinite(offset))
        return PZF_ERR_ARGUMENT;
    if (!(scale >= PZF_QUANT_SCALE_MIN && scale <= PZF_QUANT_SCALE_MAX))
        return PZF_ERR_ARGUMENT; /* also NaN */
    return PZF_OK;
}

/* ---- kernels ---------------------------------------------------------- */

/* From this many uint16 values on, a 65536-entry table (built with the
 * direct kernel) plus one lookup per value beats computing each value: on
 * an AVX-512 CPU the lookups run as fast as the AVX-512 kernel and faster
 * than the AVX2 and scalar ones, and the table costs as much as 65536
 * direct values. */
#define U16_LUT_MIN ((size_t)1 << 17)

static void quant_f32(const float *src, size_t n, const pzf_qparams *qp, int isa,
                      uint8_t *dst)
{
    size_t i;
#ifdef PZF_HAVE_X86_KERNELS
    if (isa == PZF_ISA_AVX512) {
        pzf_quant_f32_avx512(src, n, qp, dst);
        return;
    }
    if (isa == PZF_ISA_AVX2) {
        pzf_quant_f32_avx2(src, n, qp, dst);
        return;
    }
#endif
    (void)isa;
    for (i = 0; i < n; i++)
        dst[i] = pzf_quant1(src[i], qp);
}

static void quant_u16_direct(const uint16_t *src, size_t n, const pzf_qparams *qp,
                             int isa, uint8_t *dst)
{
    size_t i;
#ifdef PZF_HAVE_X86_KERNELS
    if (isa == PZF_ISA_AVX512) {
        pzf_quant_u16_avx512(src, n, qp, dst);
        return;
    }
    if (isa == PZF_ISA_AVX2) {
        pzf_quant_u16_avx2(src, n, qp, dst);
        return;
    }
#endif
    (void)isa;
    for (i = 0; i < n; i++)
        dst[i] = pzf_quant1((float)src[i], qp);
}

/* Table lookups, four loads before four stores (measurably faster than
 * interleaving them); AVX-512BW looks up 32 at a time. */
void pzf_lookup_u16(const uint16_t *src, size_t n, const uint8_t *lut, uint8_t *dst, int isa)
{
    size_t i = 0;
#ifdef PZF_HAVE_X86_KERNELS
    if (isa == PZF_ISA_AUTO)
        isa = pzf_cpu_isa();
    if (isa == PZF_ISA_AVX512) {
        pzf_lookup_u16_avx512(src, n, lut, dst);
        return;
    }
#endif
    (void)isa;
    for (; i + 4 <= n; i += 4) {
        uint8_t a = lut[src[i]], b = lut[src[i + 1]];
        uint8_t c = lut[src[i + 2]], d = lut[src[i + 3]];
        dst[i] = a;
        dst[i + 1] = b;
        dst[i + 2] = c;
        dst[i + 3] = d;
    }
    for (; i < n; i++)
        dst[i] = lut[src[i]];
}

/* Returns PZF_ERR_NOMEM if the table cannot be allocated. */
static int quant_u16(const uint16_t *src, size_t n, const pzf_qparams *qp, int isa,
                     uint8_t *dst)
{
    uint16_t values[1024];
    uint8_t *lut;
    size_t base, i;

    if (n < U16_LUT_MIN) {
        quant_u16_direct(src, n, qp, isa, dst);
        return PZF_OK;
    }
    lut = (uint8_t *)malloc(65536);
    if (lut == NULL)
        return PZF_ERR_NOMEM;
    for (base = 0; base < 65536; base += 1024) {
        for (i = 0; i < 1024; i++)
            values[i] = (uint16_t)(base + i);
        quant_u16_direct(values, 1024, qp, isa, lut + base);
    }
    pzf_lookup_u16(src, n, lut, dst, isa);
    free(lut);
    return PZF_OK;
}

static void quant_u8(const uint8_t *src, size_t n, const pzf_qparams *qp, uint8_t *dst)
{
    uint8_t lut[256];
    size_t i;
    for (i = 0; i < 256; i++)
        lut[i] = pzf_quant1((float)i, qp);
    for (i = 0; i < n; i++)
        dst[i] = lut[src[i]];
}

/* ---- dispatch --------------------------------------------------------- */

int pzf_quantize_isa(const void *src, int data_format, size_t n, float offset,
                     float scale, uint8_t *dst, int isa)
{
    pzf_qparams qp;
    int rc = pzf_check_quant_params(offset, scale);

    if (rc != PZF_OK)
        return rc;
    if (pzf_itemsize(data_format) == 0 || isa < PZF_ISA_AUTO || isa > PZF_ISA_AVX512)
        return PZF_ERR_ARGUMENT;
    if (n > 0 && (src == NULL || dst == NULL))
        return PZF_ERR_ARGUMENT;
    if ((isa = pzf_cpu_pick_isa(isa)) < 0)
        return isa;

    qp.offset = offset;
    qp.scale = scale;
    qp.inv_scale = 1.0f / scale;

    if (data_format == PZF_UINT8) {
        quant_u8((const uint8_t *)src, n, &qp, dst);
        return PZF_OK;
    }
    if (data_format == PZF_UINT16)
        return quant_u16((const uint16_t *)src, n, &qp, isa, dst);
    quant_f32((const float *)src, n, &qp, isa, dst);
    return PZF_OK;
}

int pzf_quantize(const void *src, int data_format, size_t n, float offset,
                 float scale, uint8_t *dst)
{
    return pzf_quantize_isa(src, data_format, n, offset, scale, dst, PZF_ISA_AUTO);
}

/* ---- de-quantiser ----------------------------------------------------- */

void pzf_dequant_lut(float offset, float scale, int data_format, void *lut)
{
    int q;
    for (q = 0; q < 256; q++) {
        /* volatile: round to float after each operation, never fuse into
         * an fma, whatever the compiler flags. */
        volatile float t = (float)q * scale;
        volatile float sq = t * t;
        volatile float v = sq + offset;
        float w = v;
        if (data_format == PZF_FLOAT32)
            ((float *)lut)[q] = w;
        else if (data_format == PZF_UINT16)
            ((uint16_t *)lut)[q] = !(w > 0.0f) ? 0 : w >= 65535.0f ? 65535 : (uint16_t)w;
        else
            ((uint8_t *)lut)[q] = !(w > 0.0f) ? 0 : w >= 255.0f ? 255 : (uint8_t)w;
    }
}

int pzf_dequantize(const uint8_t *src, size_t n, float offset, float scale,
                   int data_format, void *dst)
{
    union {
        uint8_t u8[256];
        uint16_t u16[256];
        float f32[256];
    } lut;
    size_t i;

    if (pzf_itemsize(data_format) == 0)
        return PZF_ERR_ARGUMENT;
    if (n > 0 && (src == NULL || dst == NULL))
        return PZF_ERR_ARGUMENT;
    pzf_dequant_lut(offset, scale, data_format, &lut);
    if (data_format == PZF_UINT8) {
        uint8_t *d = (uint8_t *)dst;
        for (i = 0; i < n; i++)
            d[i] = lut.u8[src[i]];
    } else if (data_format == PZF_UINT16) {
        uint16_t *d = (uint16_t *)dst;
        for (i = 0; i < n; i++)
            d[i] = lut.u16[src[i]];
    } else {
        float *d = (float *)dst;
        for (i = 0; i < n; i++)
            d[i] = lut.f32[src[i]];
    }
    return PZF_OK;
}
