/*
 * pzf_testing.h - hooks for tests of the C core (not part of the public
 * interface in pzf.h; the Python tests reach them through pzfcodec._core).
 */
#ifndef PZF_TESTING_H
#define PZF_TESTING_H

#include "pzf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The best kernel of this CPU (for pzf_quantize_isa). */
enum { PZF_ISA_AUTO = -1 };

/* pzf_quantize with a forced kernel (PZF_ISA_*), for tests comparing
 * kernels bit for bit.  Returns PZF_ERR_UNSUPPORTED if the CPU lacks isa. */
int pzf_quantize_isa(const void *src, int data_format, size_t n, float offset,
                     float scale, uint8_t *dst, int isa);

/* pzf_ctx_decode_tokens (the context coding's token decoder) with a forced
 * kernel (PZF_ISA_* or PZF_ISA_AUTO), for tests comparing kernels bit for
 * bit.  Decodes the len tokens tok[0..len) of contexts ctx[0..len) (each
 * below nctx) as lines of `line` values (the last may be shorter), with
 * the table of nctx * 4096 entries, the 32 states x (each below 2^31;
 * updated) and the words words[0..nbytes); *used gets the word bytes read.
 * Returns PZF_OK, PZF_ERR_CORRUPT when the words run out,
 * PZF_ERR_UNSUPPORTED if the CPU lacks isa, or PZF_ERR_ARGUMENT. */
int pzf_ctx_decode_tokens_isa(const uint32_t *table, size_t nctx, const uint8_t *ctx,
                              size_t len, size_t line, uint32_t x[32],
                              const uint8_t *words, size_t nbytes, size_t *used,
                              uint8_t *tok, int isa);

/* The context coding's token encoder (ctx_rans.h) with a forced kernel:
 * the tables of nctx contexts (freq[256 c + t], each context's 256
 * frequencies summing to 4096, or all 0 for a context no token uses), and
 * nlines lines of line_len[i] values each, whose contexts and tokens
 * follow each other in ctx and tok; every token needs a frequency.  The
 * lines are encoded in the order given, from the 32 states in states[]
 * (updated), writing the words downwards from words + cap; *used gets
 * their bytes (they end at words + cap).  cap must leave 32 spare bytes.
 * Returns PZF_OK, PZF_ERR_ARGUMENT for inconsistent input, PZF_ERR_NOMEM
 * or PZF_ERR_UNSUPPORTED if the CPU lacks isa. */
int pzf_ctx_encode_lines_isa(const uint32_t *freq, size_t nctx, const uint8_t *ctx,
                             const uint8_t *tok, const size_t *line_len, size_t nlines,
                             uint32_t states[32], uint8_t *words, size_t cap, size_t *used,
                             int isa);

/* The context encoder's model of one line of 8-bit values (ctx.h,
 * pzf_ctx_model8_enc) with a forced kernel: above holds the 4 lines above
 * (y - 1 first), len values each; ctx and u get len contexts and
 * residuals.  Returns PZF_OK, PZF_ERR_ARGUMENT (len 0, ashift > 15,
 * pbits > 2), PZF_ERR_NOMEM or PZF_ERR_UNSUPPORTED if the CPU lacks isa. */
int pzf_ctx_model8_enc_isa(const uint8_t *above, const uint8_t *cur, size_t len,
                           unsigned ashift, unsigned pbits, uint8_t *ctx, uint8_t *u,
                           int isa);

/* The context coding's line model of 16-bit values (pzf_ctx_model16) with
 * a forced kernel (PZF_ISA_*: scalar, or any vector set for AVX2): line
 * y >= 1 of len values below the 4 lines above[0..4 len) (line y - 1
 * first).  ctx gets the contexts; base the predictions, or with cur the
 * zig-zagged residuals of cur.  Returns PZF_OK, PZF_ERR_UNSUPPORTED if
 * the CPU lacks isa, PZF_ERR_ARGUMENT or PZF_ERR_NOMEM. */
int pzf_ctx_model16_isa(const uint16_t *above, const uint16_t *cur, size_t len, unsigned ashift,
                        uint16_t *base, uint8_t *ctx, int isa);

/* The context decoder's residuals of one line (line_residuals in
 * ctx_decompress.c) with a forced raw-bit kernel (PZF_ISA_*): len values
 * of contexts ctx (each below nctx <= 73) and tokens tok, k[c] (0..16) raw
 * bits per value of context c, 16 after the escape token 255 where kind16,
 * read from the raw bits bits[0..nbytes) from bit 0.  out gets the
 * residuals, or with base the values base + unzigzag(residual); *left the
 * bits not read.  Returns PZF_OK, PZF_ERR_CORRUPT when the bits run out,
 * PZF_ERR_UNSUPPORTED if the CPU lacks isa, PZF_ERR_ARGUMENT or
 * PZF_ERR_NOMEM. */
int pzf_ctx_line_bits_isa(const uint8_t *k, size_t nctx, int kind16, const uint8_t *ctx,
                          const uint8_t *tok, size_t len, const uint16_t *base,
                          const uint8_t *bits, size_t nbytes, uint16_t *out, size_t *left,
                          int isa);

/* The context encoder's kind 1 raw-bit writer (pzf_ctx_put_raw16) with a
 * forced kernel (PZF_ISA_*): len residuals u of contexts ctx (each below
 * nctx <= 96), k[c] (0..16) raw bits per value of context c, escape token
 * 255.  tk gets the tokens and bits[0..*used) the raw bits from bit 0,
 * zero-padded to a byte (cap >= 2 len + 8).  Returns PZF_OK,
 * PZF_ERR_UNSUPPORTED if the CPU lacks isa, or PZF_ERR_ARGUMENT. */
int pzf_ctx_put_raw16_isa(const uint8_t *k, size_t nctx, const uint8_t *ctx, const uint16_t *u,
                          size_t len, uint8_t *tk, uint8_t *bits, size_t cap, size_t *used,
                          int isa);

/* The same for two streams decoded together (pzf_ctx_decode_tokens2):
 * stream i has the contexts ctx[i len..(i+1) len), the states x[32 i..32 i
 * + 32), the words words<i> and the tokens tok[i len..); rc[i] and used[i]
 * get its result and word bytes read.  Returns PZF_OK (the streams' results
 * in rc), PZF_ERR_UNSUPPORTED or PZF_ERR_ARGUMENT. */
int pzf_ctx_decode_tokens2_isa(const uint32_t *table, size_t nctx, const uint8_t *ctx,
                               size_t len, size_t line, uint32_t *x, const uint8_t *words0,
                               size_t nbytes0, const uint8_t *words1, size_t nbytes1,
                               size_t used[2], uint8_t *tok, int rc[2], int isa);

#ifdef __cplusplus
}
#endif
#endif /* PZF_TESTING_H */
