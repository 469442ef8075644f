/*
 * ctx_rans.c - the portable token kernels of the context coding, and the
 * run-time choice between them and their vector twins (ctx_rans.h).
 */
#include "ctx_rans.h"

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
    s->x_max = ((CTX_RANS_L >> CTX_PROB_BITS) << 16) * freq;
    s->cmpl = (uint16_t)(CTX_PROB_SCALE - freq);
    if (freq < 2) {
        s->rcp = ~0u;
        s->shift = 0;
        s->bias = cum + CTX_PROB_SCALE - 1;
    } else {
        uint32_t shift = 0;
        while (freq > (1u << shift))
            shift++;
        s->rcp = (uint32_t)((((uint64_t)1 << (shift + 31)) + freq - 1) / freq);
        s->shift = (uint16_t)(shift - 1);
        s->bias = cum;
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
            uint32_t v = xs[j], q, out = v >= s->x_max; /* arithmetic, not a branch */
            pzf_store_le16(p - 2, (uint16_t)v); /* stored always, kept if out */
            p -= 2 * (size_t)out;
            v >>= out << 4;
            q = (uint32_t)(((uint64_t)v * s->rcp) >> 32) >> s->shift;
            xs[j] = v + s->bias + q * s->cmpl;
        }
        x = x0;
    }
    *wp = p;
}

int pzf_ctx_decode_tokens(const uint32_t *table, const uint8_t *ctx, size_t len,
                          ctx_dec_lanes *ln, uint8_t *tok, int isa)
{
    size_t done = 0;
    if (isa == PZF_ISA_AUTO)
        isa = pzf_cpu_isa();
    else if (isa != PZF_ISA_SCALAR && isa > pzf_cpu_isa())
        return PZF_ERR_UNSUPPORTED;
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

int pzf_ctx_decode_tokens_isa(const uint32_t *table, size_t nctx, const uint8_t *ctx,
                              size_t len, size_t line, uint32_t x[CTX_LANES],
                              const uint8_t *words, size_t nbytes, size_t *used,
                              uint8_t *tok, int isa)
{
    ctx_dec_lanes ln;
    size_t i;
    int j, rc = PZF_OK;
    if (line == 0 || isa < PZF_ISA_AUTO || isa > PZF_ISA_AVX512 || !table || !x || !used ||
        (len && (!ctx || !tok)) || (nbytes && !words))
        return PZF_ERR_ARGUMENT;
    for (i = 0; i < len; i++)
        if (ctx[i] >= nctx)
            return PZF_ERR_ARGUMENT;
    for (j = 0; j < CTX_LANES; j++) {
        if (x[j] >= 1u << 31)
            return PZF_ERR_ARGUMENT;
        ln.x[j] = x[j];
    }
    ln.wp = words;
    ln.we = words + nbytes;
    for (i = 0; i < len && rc == PZF_OK; i += line) {
        size_t m = len - i < line ? len - i : line;
        rc = pzf_ctx_decode_tokens(table, ctx + i, m, &ln, tok + i, isa);
    }
    for (j = 0; j < CTX_LANES; j++)
        x[j] = ln.x[j];
    *used = (size_t)(ln.wp - words);
    return rc;
}

int pzf_ctx_encode_tokens(const ctx_enc_sym *enc, const uint8_t *ctx, const uint8_t *tok,
                          size_t len, uint32_t x[CTX_LANES], uint8_t **wp, int isa)
{
    if (isa == PZF_ISA_AUTO)
        isa = pzf_cpu_isa();
    if (isa != PZF_ISA_SCALAR && isa > pzf_cpu_isa())
        return PZF_ERR_UNSUPPORTED;
    pzf_ctx_encode_tokens_scalar(enc, ctx, tok, len, x, wp);
    return PZF_OK;
}
