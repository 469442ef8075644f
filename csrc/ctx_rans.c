/*
 * ctx_rans.c - the portable token kernels of the context coding, and the
 * run-time choice between them and their vector twins (ctx_rans.h).
 */
#include "ctx_rans.h"

#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* One decoding step of state xs with entry e, then the refill: branch-free
 * (the word at wp must be readable), or checked against we. */
#define DEC_STEP(xs, e)                                                              \
    ((((e) >> 8 & (CTX_PROB_SCALE - 1)) + 1) * ((xs) >> CTX_PROB_BITS) + ((e) >> 20))

int pzf_ctx_decode_tokens_scalar(const uint32_t *table, const uint8_t *ctx, size_t len,
                                 ctx_dec_lanes *ln, uint8_t *tok)
{
    const uint8_t *wp = ln->wp, *we = ln->we;
    uint32_t *xs = ln->x;
    size_t x = 0;
    /* a value reads at most one word: with len words left, no test */
    if ((size_t)(we - wp) / 2 >= len) {
        for (; x < len; x += CTX_LANES) {
            size_t j, m = len - x < CTX_LANES ? len - x : CTX_LANES;
            for (j = 0; j < m; j++) {
                uint32_t s = xs[j];
                uint32_t e = table[(size_t)ctx[x + j] << CTX_PROB_BITS | (s & (CTX_PROB_SCALE - 1))];
                uint32_t r, w = pzf_load_le16(wp);
                s = DEC_STEP(s, e);
                r = s < CTX_RANS_L; /* arithmetic, not a branch */
                xs[j] = s << (r << 4) | (w & (0u - r));
                wp += 2 * (size_t)r;
                tok[x + j] = (uint8_t)e;
            }
        }
    } else {
        for (; x < len; x++) {
            size_t j = x % CTX_LANES;
            uint32_t s = xs[j];
            uint32_t e = table[(size_t)ctx[x] << CTX_PROB_BITS | (s & (CTX_PROB_SCALE - 1))];
            s = DEC_STEP(s, e);
            if (s < CTX_RANS_L) {
                if (we - wp < 2)
                    return PZF_ERR_CORRUPT;
                s = s << 16 | pzf_load_le16(wp);
                wp += 2;
            }
            xs[j] = s;
            tok[x] = (uint8_t)e;
        }
    }
    ln->wp = wp;
    return PZF_OK;
}

void pzf_ctx_enc_sym_init(ctx_enc_sym *s, uint32_t cum, uint32_t freq)
{
    uint32_t cmpl = CTX_PROB_SCALE - freq;
    if (freq < 2) {
        s->rcp = ~0u; /* q = X - 1: X = cum + 4096 X */
        s->pk = (cum + CTX_PROB_SCALE - 1) | cmpl << 13;
    } else {
        uint32_t shift = 0;
        while (freq > (1u << shift))
            shift++;
        s->rcp = (uint32_t)((((uint64_t)1 << (shift + 31)) + freq - 1) / freq);
        s->pk = cum | cmpl << 13 | (shift - 1) << 25;
    }
}

void pzf_ctx_encode_tokens_scalar(const ctx_enc_sym *enc, const uint8_t *ctx,
                                  const uint8_t *tok, size_t len, uint32_t xs[CTX_LANES],
                                  uint8_t **wp)
{
    uint8_t *p = *wp;
    size_t x = len;
    while (x) {
        size_t j, x0 = (x - 1) / CTX_LANES * CTX_LANES;
        for (j = x - x0; j-- > 0;) {
            const ctx_enc_sym *s = &enc[(size_t)ctx[x0 + j] << 8 | tok[x0 + j]];
            uint32_t pk = s->pk, cmpl = CTX_ENC_CMPL(pk);
            uint32_t v = xs[j], q, out = (v >> 19) >= CTX_PROB_SCALE - cmpl; /* not a branch */
            pzf_store_le16(p - 2, (uint16_t)v); /* stored always, kept if out */
            p -= 2 * (size_t)out;
            v >>= out << 4;
            q = (uint32_t)(((uint64_t)v * s->rcp) >> 32) >> CTX_ENC_SHIFT(pk);
            xs[j] = v + CTX_ENC_BIAS(pk) + q * cmpl;
        }
        x = x0;
    }
    *wp = p;
}

int pzf_ctx_decode_tokens(const uint32_t *table, const uint8_t *ctx, size_t len,
                          ctx_dec_lanes *ln, uint8_t *tok, int isa)
{
    size_t done = 0;
    if ((isa = pzf_cpu_pick_isa(isa)) < 0)
        return isa;
#ifdef PZF_CTX_RANS_X86
    if (isa == PZF_ISA_AVX512 || isa == PZF_ISA_AVX2) {
        int64_t n = pzf_ctx_decode_tokens_x86(table, ctx, len, ln, tok, isa);
        if (n < 0)
            return (int)n;
        done = (size_t)n;
    }
#endif
    if (done == len)
        return PZF_OK;
    return pzf_ctx_decode_tokens_scalar(table, ctx + done, len - done, ln, tok + done);
}

void pzf_ctx_decode_tokens2(const uint32_t *table, const uint8_t *ctx0, const uint8_t *ctx1,
                            size_t len, ctx_dec_lanes *l0, ctx_dec_lanes *l1, uint8_t *tok0,
                            uint8_t *tok1, int rc[2], int isa)
{
    size_t done = 0;
    if (isa == PZF_ISA_AUTO)
        isa = pzf_cpu_isa();
#ifdef PZF_CTX_RANS_X86
    if (isa == PZF_ISA_AVX512 || isa == PZF_ISA_AVX2) {
        int64_t n = pzf_ctx_decode_tokens2_x86(table, ctx0, ctx1, len, l0, l1, tok0, tok1, isa);
        done = n > 0 ? (size_t)n : 0;
    }
#endif
    rc[0] = pzf_ctx_decode_tokens(table, ctx0 + done, len - done, l0, tok0 + done, isa);
    rc[1] = pzf_ctx_decode_tokens(table, ctx1 + done, len - done, l1, tok1 + done, isa);
}

/* Lanes of a test stream: states x (each below 2^31), words[0..nbytes). */
static int hook_lanes(ctx_dec_lanes *ln, const uint32_t *x, const uint8_t *words, size_t nbytes)
{
    int j;
    if (!x || (nbytes && !words))
        return PZF_ERR_ARGUMENT;
    for (j = 0; j < CTX_LANES; j++) {
        if (x[j] >= 1u << 31)
            return PZF_ERR_ARGUMENT;
        ln->x[j] = x[j];
    }
    ln->wp = words;
    ln->we = words + nbytes;
    return PZF_OK;
}

int pzf_ctx_decode_tokens_isa(const uint32_t *table, size_t nctx, const uint8_t *ctx,
                              size_t len, size_t line, uint32_t x[CTX_LANES],
                              const uint8_t *words, size_t nbytes, size_t *used,
                              uint8_t *tok, int isa)
{
    ctx_dec_lanes ln;
    size_t i;
    int j, rc;
    if (line == 0 || isa < PZF_ISA_AUTO || isa > PZF_ISA_AVX512 || !table || !used ||
        (len && (!ctx || !tok)))
        return PZF_ERR_ARGUMENT;
    for (i = 0; i < len; i++)
        if (ctx[i] >= nctx)
            return PZF_ERR_ARGUMENT;
    if ((rc = hook_lanes(&ln, x, words, nbytes)) != PZF_OK)
        return rc;
    for (i = 0; i < len && rc == PZF_OK; i += line) {
        size_t m = len - i < line ? len - i : line;
        rc = pzf_ctx_decode_tokens(table, ctx + i, m, &ln, tok + i, isa);
    }
    for (j = 0; j < CTX_LANES; j++)
        x[j] = ln.x[j];
    *used = (size_t)(ln.wp - words);
    return rc;
}

int pzf_ctx_decode_tokens2_isa(const uint32_t *table, size_t nctx, const uint8_t *ctx,
                               size_t len, size_t line, uint32_t *x, const uint8_t *words0,
                               size_t nbytes0, const uint8_t *words1, size_t nbytes1,
                               size_t used[2], uint8_t *tok, int rc[2], int isa)
{
    ctx_dec_lanes ln[2];
    size_t i, m;
    int j, r;
    if (line == 0 || isa < PZF_ISA_AUTO || isa > PZF_ISA_AVX512 || !table || !used || !rc ||
        (len && (!ctx || !tok)))
        return PZF_ERR_ARGUMENT;
    for (i = 0; i < 2 * len; i++)
        if (ctx[i] >= nctx)
            return PZF_ERR_ARGUMENT;
    if ((r = hook_lanes(&ln[0], x, words0, nbytes0)) != PZF_OK ||
        (r = hook_lanes(&ln[1], x + CTX_LANES, words1, nbytes1)) != PZF_OK)
        return r;
    if (pzf_cpu_pick_isa(isa) < 0)
        return PZF_ERR_UNSUPPORTED;
    rc[0] = rc[1] = PZF_OK;
    for (i = 0; i < len; i += line) { /* both lines while both decode, then one */
        m = len - i < line ? len - i : line;
        if (rc[0] == PZF_OK && rc[1] == PZF_OK)
            pzf_ctx_decode_tokens2(table, ctx + i, ctx + len + i, m, &ln[0], &ln[1], tok + i,
                                   tok + len + i, rc, isa);
        else if (rc[0] == PZF_OK)
            rc[0] = pzf_ctx_decode_tokens(table, ctx + i, m, &ln[0], tok + i, isa);
        else if (rc[1] == PZF_OK)
            rc[1] = pzf_ctx_decode_tokens(table, ctx + len + i, m, &ln[1], tok + len + i, isa);
    }
    for (j = 0; j < 2 * CTX_LANES; j++)
        x[j] = ln[j / CTX_LANES].x[j % CTX_LANES];
    used[0] = (size_t)(ln[0].wp - words0);
    used[1] = (size_t)(ln[1].wp - words1);
    return PZF_OK;
}

int pzf_ctx_encode_tokens(const ctx_enc_sym *enc, const uint8_t *ctx, const uint8_t *tok,
                          size_t len, uint32_t x[CTX_LANES], uint8_t **wp, int isa)
{
    if ((isa = pzf_cpu_pick_isa(isa)) < 0)
        return isa;
#ifdef PZF_CTX_RANS_ENC_X86
    if (isa == PZF_ISA_AVX512) {
        pzf_ctx_encode_tokens_avx512(enc, ctx, tok, len, x, wp);
        return PZF_OK;
    }
    if (isa == PZF_ISA_AVX2) {
        pzf_ctx_encode_tokens_avx2(enc, ctx, tok, len, x, wp);
        return PZF_OK;
    }
#endif
    pzf_ctx_encode_tokens_scalar(enc, ctx, tok, len, x, wp);
    return PZF_OK;
}

/* Kind 1: a value's token, its raw bits in *v and their number in *nb. */
PZF_INLINE unsigned raw16(uint32_t u, unsigned k, unsigned esc, uint32_t *v, unsigned *nb)
{
    uint32_t t = u >> k;
    unsigned n = t >= esc ? 16 : k;
    *v = u & ((1u << n) - 1);
    *nb = n;
    return t >= esc ? esc : t;
}

int pzf_ctx_put_raw16(const int32_t *k32, unsigned esc, const uint8_t *ctx, const uint16_t *u,
                      size_t len, uint8_t *tk, ctx_bit_writer *bw, int isa)
{
    ctx_bit_writer w;
    size_t x = 0;
    uint32_t v0, v1, v2, v3;
    unsigned n0, n1, n2, n3;
    if ((isa = pzf_cpu_pick_isa(isa)) < 0)
        return isa;
#ifdef PZF_CTX_BITS_X86
    if (isa == PZF_ISA_AVX512)
        x = pzf_ctx_put_raw16_avx512(k32, esc, ctx, u, len, tk, bw);
    else if (isa == PZF_ISA_AVX2)
        x = pzf_ctx_put_raw16_avx2(k32, esc, ctx, u, len, tk, bw);
#endif
    w = *bw; /* a copy the stores of bytes cannot alias */
    /* four values a write (at most 4 x 16 bits: the rare wider ones in two) */
    for (; x + 4 <= len; x += 4) {
        uint64_t lo, hi;
        tk[x] = (uint8_t)raw16(u[x], (unsigned)k32[ctx[x]], esc, &v0, &n0);
        tk[x + 1] = (uint8_t)raw16(u[x + 1], (unsigned)k32[ctx[x + 1]], esc, &v1, &n1);
        tk[x + 2] = (uint8_t)raw16(u[x + 2], (unsigned)k32[ctx[x + 2]], esc, &v2, &n2);
        tk[x + 3] = (uint8_t)raw16(u[x + 3], (unsigned)k32[ctx[x + 3]], esc, &v3, &n3);
        lo = v0 | (uint64_t)v1 << n0;
        hi = v2 | (uint64_t)v3 << n2;
        if (n0 + n1 + n2 + n3 <= 56) {
            ctx_put_bits(&w, lo | hi << (n0 + n1), n0 + n1 + n2 + n3);
        } else {
            ctx_put_bits(&w, lo, n0 + n1);
            ctx_put_bits(&w, hi, n2 + n3);
        }
    }
    for (; x < len; x++) {
        tk[x] = (uint8_t)raw16(u[x], (unsigned)k32[ctx[x]], esc, &v0, &n0);
        ctx_put_bits(&w, v0, n0);
    }
    *bw = w;
    return PZF_OK;
}

int pzf_ctx_put_raw16_isa(const uint8_t *k, size_t nctx, const uint8_t *ctx, const uint16_t *u,
                          size_t len, uint8_t *tk, uint8_t *bits, size_t cap, size_t *used,
                          int isa)
{
    int32_t k32[CTX_K32_SIZE];
    ctx_bit_writer w;
    size_t i;
    int rc;
    if (nctx > CTX_K32_SIZE || isa < PZF_ISA_AUTO || isa > PZF_ISA_AVX512 || !used ||
        cap < 2 * len + 8 || !bits || (len && (!ctx || !u || !tk || !k)))
        return PZF_ERR_ARGUMENT;
    for (i = 0; i < len; i++)
        if (ctx[i] >= nctx)
            return PZF_ERR_ARGUMENT;
    memset(k32, 0, sizeof k32);
    for (i = 0; i < nctx; i++) {
        if (k[i] > 16)
            return PZF_ERR_ARGUMENT;
        k32[i] = k[i];
    }
    w.acc = 0;
    w.n = 0;
    w.p = bits;
    rc = pzf_ctx_put_raw16(k32, 255, ctx, u, len, tk, &w, isa);
    *used = (size_t)(ctx_flush_bits(&w) - bits);
    return rc;
}

int pzf_ctx_encode_lines_isa(const uint32_t *freq, size_t nctx, const uint8_t *ctx,
                             const uint8_t *tok, const size_t *line_len, size_t nlines,
                             uint32_t states[CTX_LANES], uint8_t *words, size_t cap,
                             size_t *used, int isa)
{
    ctx_enc_sym *enc;
    size_t c, i, total = 0;
    uint8_t *wp = words + cap;
    int rc = PZF_OK, s;

    if (nctx < 1 || nctx > 256)
        return PZF_ERR_ARGUMENT;
    for (c = 0; c < nctx; c++) {
        uint32_t sum = 0;
        for (s = 0; s < 256; s++)
            sum += freq[256 * c + (size_t)s] <= CTX_PROB_SCALE ? freq[256 * c + (size_t)s]
                                                               : CTX_PROB_SCALE + 1;
        if (sum != 0 && sum != CTX_PROB_SCALE)
            return PZF_ERR_ARGUMENT;
    }
    for (i = 0; i < nlines; i++) {
        if (line_len[i] > ((size_t)-1 - total))
            return PZF_ERR_ARGUMENT;
        total += line_len[i];
    }
    for (i = 0; i < total; i++)
        if (ctx[i] >= nctx || !freq[256 * (size_t)ctx[i] + tok[i]])
            return PZF_ERR_ARGUMENT;
    for (i = 0; i < CTX_LANES; i++)
        if (states[i] < CTX_RANS_L || states[i] >= 0x80000000u)
            return PZF_ERR_ARGUMENT;
    if (cap < CTX_ENC_SPARE || total > (cap - CTX_ENC_SPARE) / 2)
        return PZF_ERR_ARGUMENT;
    enc = (ctx_enc_sym *)malloc(nctx * 256 * sizeof *enc);
    if (!enc)
        return PZF_ERR_NOMEM;
    for (c = 0; c < nctx; c++) {
        uint32_t cum = 0;
        for (s = 0; s < 256; s++) {
            pzf_ctx_enc_sym_init(&enc[256 * c + (size_t)s], cum, freq[256 * c + (size_t)s]);
            cum += freq[256 * c + (size_t)s];
        }
    }
    for (i = 0; i < nlines && rc == PZF_OK; i++) {
        rc = pzf_ctx_encode_tokens(enc, ctx, tok, line_len[i], states, &wp, isa);
        ctx += line_len[i];
        tok += line_len[i];
    }
    free(enc);
    *used = (size_t)(words + cap - wp);
    return rc;
}
