/*
 * ctx_rans.h - the entropy-coder halves of the context coding (internal):
 * 32 interleaved rANS states sharing one stream of 16-bit words, and the
 * band's stream of raw bits (docs/format-context.md, section 5).
 *
 * The token kernels work on one line at a time: value x of a line uses
 * state x mod CTX_LANES and the table of its context ctx[x].  Each has a
 * portable scalar body (ctx_rans.c) and, on x86-64, vector twins chosen at
 * run time (ctx_rans_dec_x86.c for the decoder); every twin gives the same states, words and
 * tokens bit for bit, which the tests check on random inputs.
 */
#ifndef PZF_CTX_RANS_H
#define PZF_CTX_RANS_H

#include <stddef.h>
#include <stdint.h>

#include "compat.h"
#include "pzf.h"
#include "pzf_testing.h" /* PZF_ISA_AUTO */

#define CTX_LANES 32              /* interleaved rANS states               */
#define CTX_PROB_BITS 12
#define CTX_PROB_SCALE (1u << CTX_PROB_BITS)
#define CTX_RANS_L (1u << 15)     /* states live in [CTX_RANS_L, 2^31)     */

/* Decoding table of a context: for every slot z (0..4095) the entry
 * token | (freq - 1) << 8 | (z - cum) << 20 of the token owning it; the
 * table of context c starts at entry c << CTX_PROB_BITS. */
PZF_INLINE uint32_t ctx_dec_entry(unsigned token, uint32_t freq, uint32_t z_minus_cum)
{
    return (uint32_t)token | (freq - 1) << 8 | z_minus_cum << 20;
}

/* Decoder lanes of a band: the states and the shared word stream. */
typedef struct {
    uint32_t x[CTX_LANES];
    const uint8_t *wp, *we; /* next word, end of the words */
} ctx_dec_lanes;

/* Decode the tokens tok[0..len) of one line with contexts ctx[0..len):
 * PZF_OK, or PZF_ERR_CORRUPT when the words run out (then tok and the
 * lanes are unspecified), or PZF_ERR_UNSUPPORTED for an isa this CPU
 * lacks.  isa: PZF_ISA_* or PZF_ISA_AUTO (-1) for the best of this CPU. */
int pzf_ctx_decode_tokens(const uint32_t *table, const uint8_t *ctx, size_t len,
                          ctx_dec_lanes *ln, uint8_t *tok, int isa);

/* pzf_ctx_decode_tokens of two lines of one length from two independent
 * bands (lanes l0 and l1) at once, their results in rc[0] and rc[1]: the
 * same tokens, lanes and results as two calls, but the vector twins
 * interleave the two lines' steps. */
void pzf_ctx_decode_tokens2(const uint32_t *table, const uint8_t *ctx0, const uint8_t *ctx1,
                            size_t len, ctx_dec_lanes *l0, ctx_dec_lanes *l1, uint8_t *tok0,
                            uint8_t *tok1, int rc[2], int isa);

/* Encoding table entry of a (context, token), 8 bytes so that a vector
 * kernel fetches it with one 64-bit gather: Giesen's reciprocal rcp, and
 * pk = bias | cmpl << 13 | shift << 25 (bias <= 8190: cum, or cum + 4095
 * for frequency 1; cmpl = 4096 - freq; shift <= 11).  Encoding X: if
 * X >= freq << 19 emit a word; q = ((X * rcp) >> 32) >> shift; X = X +
 * bias + q * cmpl. */
typedef struct {
    uint32_t rcp, pk;
} ctx_enc_sym;

#define CTX_ENC_BIAS(pk) ((pk) & 0x1FFFu)
#define CTX_ENC_CMPL(pk) ((pk) >> 13 & 0xFFFu)
#define CTX_ENC_SHIFT(pk) ((pk) >> 25)

void pzf_ctx_enc_sym_init(ctx_enc_sym *s, uint32_t cum, uint32_t freq);

/* Spare bytes below the final word position a kernel may write. */
#define CTX_ENC_SPARE 32

/* Encode the tokens tok[0..len) of one line (contexts ctx) backwards,
 * from x = len - 1 to 0, into the states x[] (value x: state x mod
 * CTX_LANES).  enc[(ctx << 8) | tok] is the (context, token) entry; every
 * entry of a context that a line uses must be initialised.  Words are
 * written downwards ending at *wp, which moves to the first; up to
 * CTX_ENC_SPARE bytes below the final *wp may be written (spare room the
 * caller provides).  Returns PZF_OK, or PZF_ERR_UNSUPPORTED for an isa
 * this CPU lacks. */
int pzf_ctx_encode_tokens(const ctx_enc_sym *enc, const uint8_t *ctx, const uint8_t *tok,
                          size_t len, uint32_t x[CTX_LANES], uint8_t **wp, int isa);

/* Scalar bodies, and the vector twins where compiled; a twin returns
 * PZF_ERR_UNSUPPORTED when the CPU lacks isa. */
int pzf_ctx_decode_tokens_scalar(const uint32_t *table, const uint8_t *ctx, size_t len,
                                 ctx_dec_lanes *ln, uint8_t *tok);
#ifdef PZF_HAVE_X86_INTRINSICS
#define PZF_CTX_RANS_X86 1
/* The decoder's twins (ctx_rans_dec_x86.c) decode the first values of the
 * line, whole rounds of CTX_LANES while their vector loads stay inside the
 * words, and return how many (the caller decodes the rest). */
int64_t pzf_ctx_decode_tokens_x86(const uint32_t *table, const uint8_t *ctx, size_t len,
                                  ctx_dec_lanes *ln, uint8_t *tok, int isa);
/* The same for two lines of two bands: the first values of both, the same
 * number of whole rounds in each. */
int64_t pzf_ctx_decode_tokens2_x86(const uint32_t *table, const uint8_t *ctx0,
                                   const uint8_t *ctx1, size_t len, ctx_dec_lanes *l0,
                                   ctx_dec_lanes *l1, uint8_t *tok0, uint8_t *tok1, int isa);
/* out[x] = lut[v[x]] for x < n (AVX-512 only, else PZF_ERR_UNSUPPORTED). */
int pzf_ctx_lookup16_x86(const uint8_t *v, size_t n, const uint16_t *lut, uint16_t *out,
                         int isa);
#endif
void pzf_ctx_encode_tokens_scalar(const ctx_enc_sym *enc, const uint8_t *ctx,
                                  const uint8_t *tok, size_t len, uint32_t x[CTX_LANES],
                                  uint8_t **wp);

#ifdef PZF_HAVE_X86_INTRINSICS
#define PZF_CTX_RANS_ENC_X86 1
/* ctx_rans_enc_x86.c: the AVX2 and AVX-512 encoders (isa PZF_ISA_AVX2 or
 * PZF_ISA_AVX512; the caller checks that the CPU has it). */
void pzf_ctx_encode_tokens_avx2(const ctx_enc_sym *enc, const uint8_t *ctx,
                                const uint8_t *tok, size_t len, uint32_t x[CTX_LANES],
                                uint8_t **wp);
void pzf_ctx_encode_tokens_avx512(const ctx_enc_sym *enc, const uint8_t *ctx,
                                  const uint8_t *tok, size_t len, uint32_t x[CTX_LANES],
                                  uint8_t **wp);
#endif

/* ---- raw bits: least significant bit first, bytes in order ----------- */

typedef struct {
    uint64_t acc;
    unsigned n; /* bits in acc, at most 7 between calls */
    uint8_t *p;
} ctx_bit_writer;

/* Append the k (0..56) low bits of v (v has no bits above them).  No
 * branch: the whole accumulator is stored each time and p moves by the
 * whole bytes, so the writer needs 8 bytes of room past the stream's end. */
PZF_INLINE void ctx_put_bits(ctx_bit_writer *w, uint64_t v, unsigned k)
{
    w->acc |= v << w->n;
    w->n += k;
    pzf_store_le64(w->p, w->acc);
    w->p += w->n >> 3;
    w->acc >>= w->n & ~7u;
    w->n &= 7;
}

/* Write the last bits, zero-padded to a byte; returns the end. */
PZF_INLINE uint8_t *ctx_flush_bits(ctx_bit_writer *w)
{
    if (w->n > 0)
        *w->p++ = (uint8_t)w->acc;
    w->acc = 0;
    w->n = 0;
    return w->p;
}

typedef struct {
    uint64_t acc;
    unsigned n; /* bits in acc */
    const uint8_t *p, *end;
} ctx_bit_reader;

/* Read k (0..16) bits; *bad is set (and 0 returned) past the end. */
PZF_INLINE uint32_t ctx_get_bits(ctx_bit_reader *r, unsigned k, int *bad)
{
    uint32_t v;
    if (r->n < k) {
        if (r->end - r->p >= 4) {
            r->acc |= (uint64_t)pzf_load_le32(r->p) << r->n;
            r->p += 4;
            r->n += 32;
        } else {
            while (r->p < r->end && r->n <= 56) {
                r->acc |= (uint64_t)*r->p++ << r->n;
                r->n += 8;
            }
            if (r->n < k) {
                *bad = 1;
                return 0;
            }
        }
    }
    v = (uint32_t)r->acc & ((1u << k) - 1);
    r->acc >>= k;
    r->n -= k;
    return v;
}

#define CTX_K32_SIZE 96 /* entries of the int32 tables k32 of raw-bit counts */
#ifdef PZF_HAVE_X86_INTRINSICS
#define PZF_CTX_BITS_X86 1
/* ctx_bits_x86.c: the residuals u of a line's first values (tokens tok,
 * contexts ctx, raw bits k32[ctx], 16 after the token esc; k32 has
 * CTX_K32_SIZE entries) from the raw
 * bits q[0..avail) at bit *ppos (advanced), while a vector's reads stay
 * inside them; with base, the values base + unzigzag(u) instead.  out gets
 * them; returns how many (a multiple of 16; 0 without the isa (PZF_ISA_*,
 * AVX2 or better)), or -1 when the line needs more bits than are left
 * (exactly when the checked scalar reader would find so). */
int64_t pzf_ctx_residuals_x86(const int32_t *k32, unsigned esc, const uint8_t *ctx,
                              const uint8_t *tok, size_t len, const uint8_t *q, size_t avail,
                              size_t *ppos, const uint16_t *base, uint16_t *out, int isa);
#endif

/* Kind 1 values of a line: the tokens tk[x] = min(u[x] >> k, esc) and
 * their raw bits appended to w (the k = k32[ctx[x]] low bits of u[x], or
 * all 16 after the token esc; k32 has CTX_K32_SIZE entries).  tk may be
 * the bytes of u (in place: a token is stored only after its value and
 * the ones before it are read).  Returns PZF_OK, or PZF_ERR_UNSUPPORTED
 * for an isa this CPU lacks; every isa writes the same bits. */
int pzf_ctx_put_raw16(const int32_t *k32, unsigned esc, const uint8_t *ctx, const uint16_t *u,
                      size_t len, uint8_t *tk, ctx_bit_writer *w, int isa);
#ifdef PZF_CTX_BITS_X86
/* Its AVX2 and AVX-512 twins (ctx_bits_x86.c): the first values of the
 * line, 16 a step; return how many (the caller does the rest). */
size_t pzf_ctx_put_raw16_avx2(const int32_t *k32, unsigned esc, const uint8_t *ctx,
                              const uint16_t *u, size_t len, uint8_t *tk, ctx_bit_writer *w);
size_t pzf_ctx_put_raw16_avx512(const int32_t *k32, unsigned esc, const uint8_t *ctx,
                                const uint16_t *u, size_t len, uint8_t *tk, ctx_bit_writer *w);
#endif

/* The stream ended exactly: every byte read, fewer than 8 bits left, all 0. */
PZF_INLINE int ctx_bits_done(const ctx_bit_reader *r)
{
    return r->p == r->end && r->n < 8 && r->acc == 0;
}

#endif /* PZF_CTX_RANS_H */
