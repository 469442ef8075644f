/*
 * ctx.h - the context coding (DataCompression = 3), internal interface
 * shared by ctx_model.c, ctx_compress.c and ctx_decompress.c.
 *
 * The bit stream is specified in docs/format-context.md; the names here
 * follow it.  In short: the frame is a 2-D image of lines; every value v
 * (quantised symbol, or lossless pixel) is predicted from the mean of a
 * 4 x 8 window of the four lines above it, and the zig-zagged difference
 * is coded with static rANS tables chosen by a context made of the local
 * activity and the prediction's fractional phase.  Lines are grouped in
 * bands that decode independently (one per task); all bands share the
 * frame's tables.
 */
#ifndef PZF_CTX_H
#define PZF_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "ctx_rans.h"
#include "pzf.h"

#define CTX_FORMAT_VERSION 2
#define CTX_KIND_8 0  /* 8-bit values: quantised symbols, or uint8 pixels */
#define CTX_KIND_16 1 /* 16-bit values: uint16 pixels                    */

#define CTX_NCTX_8 65           /* contexts of kind 0: 1 + 16 activities x 4 phases */
#define CTX_NCTX_16 73          /* contexts of kind 1: 1 + 72 activities   */
#define CTX_MAX_NCTX 73
#define CTX_MAX_K 8             /* raw low bits per value, kind 1          */
#define CTX_MAX_K8 7            /* raw low bits per value, kind 0          */
#define CTX_ESCAPE 255          /* kind 1: token followed by 16 raw bits   */
#define CTX_UNUSED 0xFF         /* context table marker: never used        */
#define CTX_WINDOW_LEFT 4       /* window columns x-4 .. x+3               */
#define CTX_WINDOW_RIGHT 3

/* Default pixels per band (the band is a whole number of lines). */
#define CTX_BAND_PIXELS ((size_t)1 << 18)

/* Contexts of a kind. */
static inline int ctx_nctx(int kind)
{
    return kind == CTX_KIND_8 ? CTX_NCTX_8 : CTX_NCTX_16;
}

/* The model of one line y >= 1 of a band: for every x, base[x] (the
 * prediction) and ctx[x] (the context).  rows[0..3] are the lines y-1,
 * y-2, y-3, y-4, already clamped to the band's first line.  scratch holds
 * CTX_SCRATCH(len) elements.  ashift is the activity shift, pbits (kind 0,
 * 0..2) the bits of the prediction's fractional phase in the context.
 * With cur (the line's values, kind 1 only), base[x] gets the zig-zagged
 * residual ctx_zigzag16(cur[x], prediction) instead. */
#define CTX_SCRATCH(len) (2 * (size_t)(len) + 16)
void pzf_ctx_model8(const uint8_t *const rows[4], size_t len, unsigned ashift,
                    unsigned pbits, uint16_t *scratch, uint8_t *base, uint8_t *ctx);
void pzf_ctx_model16(const uint16_t *const rows[4], size_t len, unsigned ashift,
                     uint32_t *scratch, uint16_t *base, uint8_t *ctx, const uint16_t *cur);

/* The encoder's model of one line y >= 1 of 8-bit values cur (kind 0):
 * ctx[x] as pzf_ctx_model8 gives it and u[x] = ctx_zigzag8(cur[x],
 * base[x]), with the kernel of isa (PZF_ISA_AUTO: the best of this CPU;
 * ctx_enc_model.c).  scratch holds CTX_ENC_SCRATCH(len) bytes.  Returns
 * PZF_OK, or PZF_ERR_UNSUPPORTED if the CPU lacks isa. */
#define CTX_ENC_SCRATCH(len) (5 * (size_t)(len) + 96)
int pzf_ctx_model8_enc(const uint8_t *const rows[4], const uint8_t *cur, size_t len,
                       unsigned ashift, unsigned pbits, uint16_t *scratch, uint8_t *ctx,
                       uint8_t *u, int isa);

/* Prediction of value x >= 1 of a band's first line from sum8, the sum of
 * the values at max(x - k, 0), k = 1..8 (the first value repeated before
 * the line); the prediction of x = 0 is 0. */
static inline uint32_t ctx_first_base(uint32_t sum8)
{
    return (sum8 + 4) >> 3;
}

/* Zig-zag code of v - base wrapped to -128..127 (-32768..32767): 0, -1, 1,
 * -2, 2, ... become 0, 1, 2, 3, 4, ...  Branch-free: m is all ones for a
 * negative difference, and 2d ^ m = -2d - 1 then. */
static inline uint32_t ctx_zigzag8(uint8_t v, uint8_t base)
{
    uint32_t d = (uint8_t)(v - base), m = 0u - (d >> 7);
    return ((d << 1) ^ m) & 0xFF;
}

static inline uint32_t ctx_zigzag16(uint16_t v, uint16_t base)
{
    uint32_t d = (uint16_t)(v - base), m = 0u - (d >> 15);
    return ((d << 1) ^ m) & 0xFFFF;
}

static inline uint32_t ctx_unzigzag(uint32_t u)
{
    return (u >> 1) ^ (0u - (u & 1));
}

/* Normalise a histogram of 256 counts to frequencies summing to
 * CTX_PROB_SCALE, every counted symbol keeping at least 1.  Returns 0 if
 * the histogram is empty (freq untouched), else 1. */
int pzf_ctx_normalize(const uint64_t count[256], uint32_t freq[256]);

/* Entry points used by frame.c. */
/* Writes the payload of a context blob at dst (after the header) for the
 * n elements at src described by p; returns its size or an error.  Sets
 * *fallback (returning 0) instead when the frame's PZF Huffman payload
 * would be no larger, or the data format has no context model (lossless
 * float32). */
int64_t pzf_ctx_compress(const void *src, const pzf_params *p, size_t n, uint8_t *dst,
                         size_t cap, int *fallback);
/* Decodes a context payload pl[0..plen) of a blob with header h into dst
 * (n elements of the header's data format).  Returns 0 or an error. */
int pzf_ctx_decompress(const uint8_t *pl, size_t plen, const pzf_header *h, size_t n,
                       void *dst, int nthreads);

#endif
