/*
 * quant.h - square-root quantisation, internal interface.
 *
 * The quantiser maps a pixel value x to the symbol
 *
 *     q(x) = min(255, floor(sqrt(x - offset) / scale + 1/2)),  0 if x <= offset,
 *
 * evaluated in exact real arithmetic on the exact values of x, offset and
 * scale (ties round up; NaN gives 0, +inf 255).  Equivalently q(x) is the
 * number of k in 1..255 with x >= T_k = offset + ((k - 1/2) * scale)^2, so
 * q is monotonic in x.
 *
 * Every kernel first computes the float32 estimate
 *
 *     y = fl(fl(sqrt(fl(x - offset))) * fl(1 / scale) + 1/2)
 *
 * whose error is below 4.5 * 2^-24 * y + 2^-25 (five correctly rounded
 * operations, none of which underflows or overflows in the accepted
 * parameter range; an overflow of x - offset means q = 255, see
 * pzf_check_quant_params).  For y < 256 that is below 7e-5 < 2^-12 =
 * PZF_QUANT_EPS.  So when y is farther than PZF_QUANT_EPS from every
 * integer, floor(y) is the exact answer; otherwise the exact answer is n or
 * n - 1, n = the nearest integer, and pzf_quant_ge() decides which by
 * comparing x with T_n exactly.  Kernels therefore agree bit for bit
 * whatever their instruction set, and the slow exact test runs for a
 * fraction of about 2 * PZF_QUANT_EPS of the values.
 */
#ifndef PZF_QUANT_H
#define PZF_QUANT_H

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"
#include "pzf.h"
#include "pzf_testing.h"

/* The exact test relies on double arithmetic rounding once per operation. */
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 2
#error "pzfcodec needs IEEE double arithmetic without excess precision (x86: -msse2 -mfpmath=sse)"
#endif

#ifdef PZF_HAVE_X86_INTRINSICS
#define PZF_HAVE_X86_KERNELS 1
#endif

/* Distance to an integer below which the float estimate is not trusted. */
#define PZF_QUANT_EPS 0x1p-12f

typedef struct {
    float offset;
    float scale;
    float inv_scale; /* fl(1 / scale) */
} pzf_qparams;

/* Fill lut[256] with the de-quantised value of every symbol q in the data
 * format's C type (uint8_t, uint16_t or float): v = (float)q * scale;
 * v = v*v + offset in float32 arithmetic, rounded after every operation
 * (equal bit for bit to PYME's numpy float32 evaluation), then truncation
 * toward zero to the integer type, saturating to [0, max] (NaN -> 0);
 * float32 output keeps v.  Any offset and scale are accepted, so that every
 * header can be decoded.  data_format must be valid. */
void pzf_dequant_lut(float offset, float scale, int data_format, void *lut);

/* Exact test: x >= offset + ((n - 1/2) * scale)^2, for finite x and
 * 1 <= n <= 255. */
int pzf_quant_ge(float x, int n, const pzf_qparams *qp);

/* q(x) for one value (scalar twin of the SIMD kernels). */
static inline uint8_t pzf_quant1(float x, const pzf_qparams *qp)
{
    float d = x - qp->offset; /* > 0 iff x > offset (gradual underflow) */
    float y, frac;
    int i, n;

    if (!(d > 0.0f))
        return 0; /* x <= offset or NaN */
    y = sqrtf(d) * qp->inv_scale + 0.5f;
    if (!(y < 256.0f))
        return 255; /* also +inf */
    i = (int)y;      /* floor: 0.5 <= y < 256 */
    frac = y - (float)i; /* exact */
    if (frac < PZF_QUANT_EPS)
        n = i; /* i >= 1 here, since y >= 0.5 */
    else if (frac > 1.0f - PZF_QUANT_EPS)
        n = i + 1;
    else
        return (uint8_t)i;
    if (n > 255)
        return 255; /* q is 255 or 256 before saturation */
    return (uint8_t)(pzf_quant_ge(x, n, qp) ? n : n - 1);
}

/* The symbol of every uint8/uint16 value (a table of 256 or 65536) for the
 * quantised frame of n values described by p (frame.c), or *table NULL
 * where a table does not pay (float32, raw, small uint16 frames, lossless).
 * The caller frees it.  Returns PZF_OK or an error. */
int pzf_quant_table(const pzf_params *p, uint64_t n, uint8_t **table);

/* dst[i] = lut[src[i]] for a 65536-entry table, with the fastest kernel
 * of isa (PZF_ISA_AUTO: of this CPU). */
void pzf_lookup_u16(const uint16_t *src, size_t n, const uint8_t *lut, uint8_t *dst, int isa);

#ifdef PZF_HAVE_X86_KERNELS
/* quant_x86.c.  Each processes the whole array (tail included). */
void pzf_lookup_u16_avx512(const uint16_t *src, size_t n, const uint8_t *lut, uint8_t *dst);
void pzf_quant_f32_avx2(const float *src, size_t n, const pzf_qparams *qp, uint8_t *dst);
void pzf_quant_u16_avx2(const uint16_t *src, size_t n, const pzf_qparams *qp, uint8_t *dst);
void pzf_quant_f32_avx512(const float *src, size_t n, const pzf_qparams *qp, uint8_t *dst);
void pzf_quant_u16_avx512(const uint16_t *src, size_t n, const pzf_qparams *qp, uint8_t *dst);
#endif

#endif /* PZF_QUANT_H */
