/*
 * ctx_compress.c - encoder of the context coding (docs/format-context.md).
 *
 * One task per thread, each with buffers of one band that it reuses, takes
 * bands t, t + T, ...  Pass 1 quantises a band, adds the pixel sums of
 * every symbol, models it (context and zig-zagged residual of every
 * value, kept for pass 2) and counts (context, residual) pairs.  The
 * counts of all tasks are added (integers: the order does not matter) and
 * normalised to one rANS table per context.  Pass 2 writes each band's
 * raw bits forwards and codes its tokens backwards into the band's own
 * slot.  16-bit values (lossless uint16) instead choose each context's
 * raw-bit count from a sample of lines first (sample_task), so that pass
 * 1 writes their raw bits and keeps their tokens, and pass 2 only codes
 * the tokens.  The frame's contexts and residuals or tokens live in a
 * block kept between calls (parallel.h: fresh pages cost faults).  The
 * payload is then assembled; if PZF Huffman would be no larger, the
 * caller writes that.  Nothing depends on the thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "huf.h"
#include "parallel.h"
#include "quant.h"

typedef struct {
    uint64_t hist[CTX_MAX_NCTX][256]; /* kind 0: residuals; kind 1: tokens */
    uint64_t usum[CTX_MAX_NCTX], ucnt[CTX_MAX_NCTX]; /* kind 1 */
    uint64_t qsum[4][256], qcnt[4][256]; /* quantised pixels, 4 interleaved */
    uint64_t bytes[256];  /* lossless uint16 with h16: the frame's bytes */
    /* counts since the last fold into hist/qsum/qcnt (fold_counts), which
     * keeps them below 2^32: kind 0 pairs, and
     * (uint16 pixels quantised through a table, or large lossless uint16
     * frames) every pixel value */
    uint32_t (*h8)[256]; /* (context, residual or token) */
    uint32_t *h16;
    uint64_t pending;    /* values counted since the last fold */
    uint8_t *qband;      /* kind 0, quantised: one band's symbols */
    uint8_t *tok;        /* a line's tokens (kind 1: its contexts in the sample) */
    uint16_t *u16;       /* kind 1: a line's residuals */
    void *colsum;        /* the line model's scratch */
    int status;
} worker;

typedef struct {
    const pzf_params *p;
    const void *src;
    int kind, quantised, fmt;
    size_t n, len, nlines, band_lines, nbands, nworkers;
    unsigned ashift;       /* activity shift */
    size_t ksample;        /* kind 1: lines y % ksample == 0 choose k */
    unsigned pbits;        /* phase bits of kind 0 contexts */
    int raw8;              /* kind 0 with raw bits in some context */
    const uint8_t *qtable; /* symbol of every uint8/uint16 value, or NULL */
    uint8_t *ctxs;         /* context of every value */
    uint8_t *toks;         /* kind 0: residual, kind 1: token of every value */
    double *fsum;          /* float32 input: per band, per symbol sums (256) */
    uint64_t *fcnt;
    worker *ws;
    uint8_t k[CTX_MAX_NCTX];
    int32_t k32[CTX_K32_SIZE]; /* the same for vector kernels */
    ctx_enc_sym *enc;      /* (context << 8 | token) entries */
    uint8_t *scratch;      /* every band's words, then its raw bits */
    size_t *word_end;      /* band b: its words end at scratch + word_end[b] */
    size_t *word_start;    /* and start here once coded */
    size_t *raw_start;     /* its raw bits */
    size_t *raw_end;
    uint32_t *states;      /* its final states: CTX_LANES from [CTX_LANES b] */
} enc_ctx;

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void band_range(const enc_ctx *e, size_t b, size_t *y0, size_t *y1)
{
    *y0 = b * e->band_lines;
    *y1 = *y0 + e->band_lines < e->nlines ? *y0 + e->band_lines : e->nlines;
}

/* Add the counts since the last fold to the worker's totals. */
static void fold_counts(const enc_ctx *e, worker *w)
{
    size_t c, s;
    if (w->h8) {
        for (c = 0; c < CTX_MAX_NCTX; c++)
            for (s = 0; s < 256; s++)
                w->hist[c][s] += w->h8[c][s] + w->h8[CTX_MAX_NCTX + c][s];
        memset(w->h8, 0, 2 * CTX_MAX_NCTX * sizeof *w->h8);
    }
    if (w->h16) {
        for (s = 0; s < 65536; s++) {
            uint64_t h = w->h16[s];
            if (e->qtable) {
                w->qcnt[0][e->qtable[s]] += h;
                w->qsum[0][e->qtable[s]] += h * s;
            } else { /* lossless: the bytes PZF Huffman would code */
                w->bytes[s & 255] += h;
                w->bytes[s >> 8] += h;
            }
        }
        memset(w->h16, 0, 65536 * sizeof *w->h16);
    }
    w->pending = 0;
}

/* Make room for m more counts below 2^32 (m < 2^32). */
static void room_for(const enc_ctx *e, worker *w, uint64_t m)
{
    if (w->pending + m > 0xFFFFFFFFu)
        fold_counts(e, w);
    w->pending += m;
}

/* Symbols of values [lo, hi) into q; with w, also add the pixel sums of
 * every symbol (and, for float32 input, band b's sums). */
static int quantise(enc_ctx *e, size_t lo, size_t hi, uint8_t *q, worker *w, size_t b)
{
    const pzf_params *p = e->p;
    size_t i, m = hi - lo;
    if (e->fmt == PZF_FLOAT32 || (e->fmt == PZF_UINT16 && !e->qtable)) {
        int rc = pzf_quantize((const uint8_t *)e->src + lo * pzf_itemsize(e->fmt), e->fmt, m,
                              p->quant_offset, p->quant_scale, q);
        if (rc != PZF_OK || !w)
            return rc;
        if (e->fmt == PZF_FLOAT32) {
            const float *x = (const float *)e->src + lo;
            double *fs = e->fsum + 256 * b;
            uint64_t *fc = e->fcnt + 256 * b;
            for (i = 0; i < m; i++) {
                w->qcnt[i & 3][q[i]]++;
                if (isfinite(x[i])) {
                    fs[q[i]] += (double)x[i];
                    fc[q[i]]++;
                }
            }
        } else {
            const uint16_t *x = (const uint16_t *)e->src + lo;
            for (i = 0; i < m; i++) {
                w->qcnt[i & 3][q[i]]++;
                w->qsum[i & 3][q[i]] += x[i];
            }
        }
    } else if (e->fmt == PZF_UINT16 && (!w || w->h16)) {
        const uint16_t *x = (const uint16_t *)e->src + lo;
        const uint8_t *t = e->qtable;
        if (!w) { /* (the AVX-512 lookup's window misses on bright frames) */
            pzf_lookup_u16(x, m, t, q, PZF_ISA_SCALAR);
            return PZF_OK;
        }
        while (m) { /* the counts of every value, folded into sums later */
            size_t part = m < ((size_t)1 << 30) ? m : (size_t)1 << 30;
            uint32_t *h = w->h16;
            room_for(e, w, part);
            for (i = 0; i + 4 <= part; i += 4) {
                uint16_t v0 = x[i], v1 = x[i + 1], v2 = x[i + 2], v3 = x[i + 3];
                q[i] = t[v0];
                q[i + 1] = t[v1];
                q[i + 2] = t[v2];
                q[i + 3] = t[v3];
                h[v0]++;
                h[v1]++;
                h[v2]++;
                h[v3]++;
            }
            for (; i < part; i++) {
                q[i] = t[x[i]];
                h[x[i]]++;
            }
            x += part;
            q += part;
            m -= part;
        }
    } else { /* uint8, or uint16 without the counts of every value */
        const uint8_t *t = e->qtable;
        for (i = 0; i < m; i++) {
            unsigned v = e->fmt == PZF_UINT16 ? ((const uint16_t *)e->src)[lo + i]
                                              : ((const uint8_t *)e->src)[lo + i];
            uint8_t s = t[v];
            q[i] = s;
            if (w) {
                w->qcnt[i & 3][s]++;
                w->qsum[i & 3][s] += v;
            }
        }
    }
    return PZF_OK;
}

/* The activity shift: the activity of a value (6 absolute differences
 * from the prediction) is about 4 times the mean absolute difference of
 * vertical neighbours; shift it so that a typical activity is at most 5
 * (kind 0, 16 activity contexts) or 8 (kind 1, 72; measured best on the
 * benchmark scenes).  Estimated on up to 16 line pairs; pair holds 2 lines
 * of 8-bit values. */
static int choose_ashift(enc_ctx *e, uint8_t *pair, unsigned *shift)
{
    uint64_t sum = 0, cnt = 0, act;
    size_t i, x, y, len = e->len;
    unsigned s = 0, top = e->kind == CTX_KIND_8 ? 5 : 8;
    *shift = 0;
    if (e->nlines < 2)
        return PZF_OK;
    for (i = 0; i < 16; i++) {
        y = 1 + i * (e->nlines - 1) / 16;
        if (e->kind == CTX_KIND_16) {
            const uint16_t *up = (const uint16_t *)e->src + (y - 1) * len, *v = up + len;
            for (x = 0; x < len; x++) {
                int d = (int)v[x] - up[x];
                sum += (uint64_t)(d < 0 ? -d : d);
            }
        } else {
            const uint8_t *v = (const uint8_t *)e->src + (y - 1) * len;
            if (e->quantised) {
                int rc = quantise(e, (y - 1) * len, (y + 1) * len, pair, NULL, 0);
                if (rc != PZF_OK)
                    return rc;
                v = pair;
            }
            for (x = 0; x < len; x++) {
                int d = (int)v[x + len] - v[x];
                sum += (uint64_t)(d < 0 ? -d : d);
            }
        }
        cnt += len;
    }
    act = 4 * sum / cnt;
    while ((act >> s) > top && s < 15)
        s++;
    *shift = s;
    return PZF_OK;
}

/* Contexts and residuals of the nl lines of a band of 8-bit values v
 * (value i of the band at v[i]) into ctx and u (likewise). */
static void model_band8(const enc_ctx *e, worker *w, const uint8_t *v, size_t nl,
                        uint8_t *ctx, uint8_t *u)
{
    size_t y, x, r, len = e->len;
    uint32_t sum8 = 0;
    for (x = 0; x < len; x++) { /* the band's first line */
        uint32_t bb = x ? ctx_first_base(sum8) : 0;
        u[x] = (uint8_t)ctx_zigzag8(v[x], (uint8_t)bb);
        ctx[x] = 0;
        sum8 = x ? sum8 + v[x] - v[x >= 8 ? x - 8 : 0] : 8u * v[0];
    }
    for (y = 1; y < nl; y++) {
        const uint8_t *rows[4];
        size_t off = y * len;
        for (r = 0; r < 4; r++)
            rows[r] = v + (y >= r + 1 ? y - 1 - r : 0) * len;
        pzf_ctx_model8_enc(rows, v + off, len, e->ashift, e->pbits, (uint16_t *)w->colsum,
                           ctx + off, u + off, PZF_ISA_AUTO);
    }
}

/* Kind 1: the contexts and residuals of line y of band b (from line y0)
 * into ctx and u. */
static void model_line16(const enc_ctx *e, size_t y0, size_t y, const worker *w, uint8_t *ctx,
                         uint16_t *u)
{
    size_t x, r, len = e->len, off = y * len;
    const uint16_t *v = (const uint16_t *)e->src;
    if (y == y0) {
        uint32_t sum8 = 0;
        for (x = 0; x < len; x++) {
            uint32_t bb = x ? ctx_first_base(sum8) : 0;
            u[x] = (uint16_t)ctx_zigzag16(v[off + x], (uint16_t)bb);
            ctx[x] = 0;
            sum8 = x ? sum8 + v[off + x] - v[off + (x >= 8 ? x - 8 : 0)] : 8u * v[off];
        }
    } else {
        const uint16_t *rows[4];
        for (r = 0; r < 4; r++)
            rows[r] = v + (y >= y0 + r + 1 ? y - 1 - r : y0) * len;
        pzf_ctx_model16(rows, len, e->ashift, (uint32_t *)w->colsum, u, ctx, v + off);
    }
}

/* Kind 1, before pass 1: the sums and counts of the residuals of every
 * context in the sampled lines y % ksample == 0 (their means choose the
 * raw bits k of every context; of large frames a sample does). */
static void sample_task(void *arg, size_t t)
{
    enc_ctx *e = (enc_ctx *)arg;
    worker *w = &e->ws[t];
    size_t b, y, y0, y1, x, c, j;
    uint64_t us[4][CTX_MAX_NCTX], uc[4][CTX_MAX_NCTX];
    memset(us, 0, sizeof us);
    memset(uc, 0, sizeof uc);
    for (b = t; b < e->nbands; b += e->nworkers) {
        band_range(e, b, &y0, &y1);
        for (y = (y0 + e->ksample - 1) / e->ksample * e->ksample; y < y1; y += e->ksample) {
            const uint8_t *ctx = w->tok;
            const uint16_t *u = w->u16;
            model_line16(e, y0, y, w, w->tok, w->u16);
            /* four sums in turn: one sum increased in a row waits on itself */
            for (x = 0; x + 4 <= e->len; x += 4) {
                for (j = 0; j < 4; j++) {
                    us[j][ctx[x + j]] += u[x + j];
                    uc[j][ctx[x + j]]++;
                }
            }
            for (; x < e->len; x++) {
                us[0][ctx[x]] += u[x];
                uc[0][ctx[x]]++;
            }
        }
    }
    for (c = 0; c < CTX_MAX_NCTX; c++) {
        for (j = 0; j < 4; j++) {
            w->usum[c] += us[j][c];
            w->ucnt[c] += uc[j][c];
        }
    }
}

/* Kind 1, pass 1, once every context's k is known: band b modelled line
 * by line, each line's contexts into e->ctxs, its tokens into e->toks,
 * its raw bits written, its tokens counted (and, with h16, its values). */
static void pass1_band16(enc_ctx *e, size_t b, worker *w)
{
    size_t y0, y1, y, x, len = e->len;
    const uint16_t *v = (const uint16_t *)e->src;
    uint32_t(*h)[256] = w->h8;
    ctx_bit_writer bw;
    bw.acc = 0;
    bw.n = 0;
    bw.p = e->scratch + e->raw_start[b];
    band_range(e, b, &y0, &y1);
    for (y = y0; y < y1; y++) {
        size_t off = y * len;
        uint8_t *ctx = e->ctxs + off, *tk = e->toks + off;
        model_line16(e, y0, y, w, ctx, w->u16);
        if (w->h16) {
            uint32_t *h16 = w->h16;
            room_for(e, w, len);
            for (x = 0; x < len; x++)
                h16[v[off + x]]++;
        }
        pzf_ctx_put_raw16(e->k32, CTX_ESCAPE, ctx, w->u16, len, tk, &bw, PZF_ISA_AUTO);
        room_for(e, w, len);
        for (x = 0; x + 2 <= len; x += 2) { /* two tables: fewer increments in a row */
            h[ctx[x]][tk[x]]++;
            h[CTX_MAX_NCTX + ctx[x + 1]][tk[x + 1]]++;
        }
        for (; x < len; x++)
            h[ctx[x]][tk[x]]++;
    }
    e->raw_end[b] = (size_t)(ctx_flush_bits(&bw) - e->scratch);
}

/* Kind 0: the values of band b (quantised into w->qband, with the pixel
 * sums), modelled into e->ctxs and e->toks. */
static int model_band(enc_ctx *e, size_t b, worker *w)
{
    size_t y0, y1, off;
    const uint8_t *v;
    band_range(e, b, &y0, &y1);
    off = y0 * e->len;
    v = (const uint8_t *)e->src + off;
    if (e->quantised) {
        int rc = quantise(e, off, y1 * e->len, w->qband, w, b);
        if (rc != PZF_OK)
            return rc;
        v = w->qband;
    }
    model_band8(e, w, v, y1 - y0, e->ctxs + off, e->toks + off);
    return PZF_OK;
}

static void pass1_task(void *arg, size_t t)
{
    enc_ctx *e = (enc_ctx *)arg;
    worker *w = &e->ws[t];
    size_t b, y, y0, y1, x, len = e->len;
    for (b = t; b < e->nbands && w->status == PZF_OK; b += e->nworkers) {
        if (e->kind == CTX_KIND_16) {
            pass1_band16(e, b, w);
            continue;
        }
        w->status = model_band(e, b, w);
        if (w->status != PZF_OK)
            break;
        band_range(e, b, &y0, &y1);
        for (y = y0; y < y1; y++) { /* len < 2^32 */
            const uint8_t *ctx = e->ctxs + y * len, *u = e->toks + y * len;
            uint32_t(*h)[256] = w->h8;
            room_for(e, w, len);
            for (x = 0; x < len; x++)
                h[ctx[x]][u[x]]++;
        }
    }
    if (w->status == PZF_OK)
        fold_counts(e, w);
}

/* Kind 0: the raw bits (at most 7 a value) of a line into bw, eight
 * values a write. */
static void raw_bits8(const uint8_t *k, const uint8_t *ctx, const uint8_t *u, size_t len,
                      ctx_bit_writer *bw)
{
    ctx_bit_writer w = *bw;
    size_t x;
    int j;
    for (x = 0; x + 8 <= len; x += 8) {
        uint64_t v = 0;
        unsigned n = 0;
        for (j = 0; j < 8; j++) {
            unsigned kj = k[ctx[x + (size_t)j]];
            v |= (uint64_t)(u[x + (size_t)j] & ((1u << kj) - 1)) << n;
            n += kj;
        }
        ctx_put_bits(&w, v, n);
    }
    for (; x < len; x++) {
        unsigned kx = k[ctx[x]];
        ctx_put_bits(&w, u[x] & ((1u << kx) - 1), kx);
    }
    *bw = w;
}

/* Pass 2: code band b: its raw bits forwards, then its tokens backwards
 * (the decoder reads both forwards). */
static int encode_band(enc_ctx *e, size_t b, worker *w)
{
    size_t y0, y1, y, x, nl, len = e->len;
    uint8_t *wp = e->scratch + e->word_end[b];
    uint32_t *xs = e->states + CTX_LANES * b;
    const uint8_t *ctxs, *toks; /* the band's: kind 0 residuals, kind 1 tokens */
    uint8_t *tok = w->tok;
    int j;

    band_range(e, b, &y0, &y1);
    nl = y1 - y0;
    ctxs = e->ctxs + y0 * len;
    toks = e->toks + y0 * len;
    if (e->kind == CTX_KIND_8) {
        if (e->raw8) {
            ctx_bit_writer bw;
            bw.acc = 0;
            bw.n = 0;
            bw.p = e->scratch + e->raw_start[b];
            for (y = 0; y < nl; y++)
                raw_bits8(e->k, ctxs + y * len, toks + y * len, len, &bw);
            e->raw_end[b] = (size_t)(ctx_flush_bits(&bw) - e->scratch);
        } else {
            e->raw_end[b] = e->raw_start[b];
        }
    } /* kind 1: raw bits written in pass 1 */
    for (j = 0; j < CTX_LANES; j++)
        xs[j] = CTX_RANS_L;
    for (y = nl; y-- > 0;) {
        const uint8_t *ctx = ctxs + y * len, *t;
        if (e->kind == CTX_KIND_8 && e->raw8) {
            for (x = 0; x < len; x++)
                tok[x] = (uint8_t)(toks[y * len + x] >> e->k[ctx[x]]);
            t = tok;
        } else {
            t = toks + y * len;
        }
        pzf_ctx_encode_tokens(e->enc, ctx, t, len, xs, &wp, PZF_ISA_AUTO);
    }
    e->word_start[b] = (size_t)(wp - e->scratch);
    return PZF_OK;
}

static void encode_task(void *arg, size_t t)
{
    enc_ctx *e = (enc_ctx *)arg;
    worker *w = &e->ws[t];
    size_t b;
    for (b = t; b < e->nbands && w->status == PZF_OK; b += e->nworkers)
        w->status = encode_band(e, b, w);
}

/* Frames from this many values count every uint16 pixel value (fold_counts
 * then reads 65536 counts per thread). */
#define H16_MIN ((size_t)1 << 18)

/* The buffers of a worker; PZF_ERR_NOMEM if they cannot be had. */
static int worker_init(const enc_ctx *e, worker *w)
{
    size_t bandv = e->band_lines * e->len; /* fits: it is at most n */
    size_t colsum = e->kind == CTX_KIND_8 ? CTX_ENC_SCRATCH(e->len)
                                          : CTX_SCRATCH(e->len) * sizeof(uint32_t);
    w->colsum = malloc(colsum);
    w->tok = (uint8_t *)malloc(e->len);
    w->u16 = (uint16_t *)malloc(e->len * sizeof *w->u16);
    if (bandv > e->n)
        bandv = e->n;
    w->h8 = (uint32_t(*)[256])calloc(2 * CTX_MAX_NCTX, sizeof *w->h8);
    if (!w->colsum || !w->tok || !w->u16 || !w->h8)
        return PZF_ERR_NOMEM;
    if (e->kind == CTX_KIND_8) {
        if (e->quantised && !(w->qband = (uint8_t *)malloc(bandv)))
            return PZF_ERR_NOMEM;
        /* counts of every value pay from about 4 values per table entry */
        if (e->fmt == PZF_UINT16 && e->qtable && e->n >= H16_MIN &&
            !(w->h16 = (uint32_t *)calloc(65536, sizeof *w->h16)))
            return PZF_ERR_NOMEM;
    } else if (e->n >= H16_MIN && !(w->h16 = (uint32_t *)calloc(65536, sizeof *w->h16))) {
        return PZF_ERR_NOMEM;
    }
    return PZF_OK;
}

static void worker_free(worker *w)
{
    free(w->h8);
    free(w->h16);
    free(w->qband);
    free(w->tok);
    free(w->u16);
    free(w->colsum);
}

/* Bytes of band b's stream. */
static size_t band_bytes(const enc_ctx *e, size_t b)
{
    return 4 * CTX_LANES + 4 + (e->word_end[b] - e->word_start[b]) +
           (e->raw_end[b] - e->raw_start[b]);
}

/* Bytes of the PZF Huffman payload of a histogram (huf_compress.c). */
static uint64_t huffman_size(const uint64_t hist[256], uint64_t n)
{
    pzf_huf_plan plan;
    uint64_t bits = 0;
    int s;
    if (!n)
        return 0;
    pzf_huf_plan_init(hist, &plan);
    if (plan.nsym == 1)
        return 2;
    bits = (uint64_t)plan.nsym * 10 - 1;
    for (s = 0; s < 256; s++)
        bits += hist[s] * plan.len[s];
    return (bits + 7) / 8;
}

/* Line length: the first extent above 1 in memory order. */
static size_t line_length(const pzf_params *p)
{
    uint32_t ext[3];
    int i;
    if (p->dim_order == 'F') {
        ext[0] = p->shape[0];
        ext[1] = p->shape[1];
        ext[2] = p->shape[2];
    } else {
        ext[0] = p->shape[2];
        ext[1] = p->shape[1];
        ext[2] = p->shape[0];
    }
    for (i = 0; i < 3; i++)
        if (ext[i] > 1)
            return ext[i];
    return 1;
}

/* Reconstruction value of symbol q: the mean of its pixels, or (no pixel)
 * PYME's value.  Integer pixels: the mean rounded down or up, whichever
 * keeps the frame's total error *acc (of the symbols so far) nearest 0. */
static float recon_value(const enc_ctx *e, int q, const uint64_t qsum[256],
                         const uint64_t qcnt[256], int64_t *acc)
{
    if (e->fmt == PZF_FLOAT32) {
        double s = 0;
        uint64_t c = 0;
        size_t b;
        for (b = 0; b < e->nbands; b++) { /* in band order: deterministic */
            s += e->fsum[256 * b + (size_t)q];
            c += e->fcnt[256 * b + (size_t)q];
        }
        if (c)
            return (float)(s / (double)c);
    } else if (qcnt[q]) {
        /* sums of at most 2^16 x 2^47 values: exact in int64 */
        int64_t c = (int64_t)qcnt[q], s = (int64_t)qsum[q], lo = s / c;
        int64_t err_lo = *acc + c * lo - s, err_hi = err_lo + c;
        int64_t v = (s % c) && (err_hi < 0 ? -err_hi : err_hi) < (err_lo < 0 ? -err_lo : err_lo)
                        ? lo + 1 : lo;
        *acc += c * v - s;
        return (float)v;
    }
    {
        volatile float t = (float)q * e->p->quant_scale;
        volatile float sq = t * t;
        volatile float v = sq + e->p->quant_offset;
        return v;
    }
}

/* The raw low bits k of every context: tokens of a mean of 2^(keep-1) ..
 * 2^keep; fewer tokens (smaller tables) for smaller frames.  The means
 * come from the residual counts of pass 1 (kind 0) or from the sample
 * (kind 1). */
static void choose_k(enc_ctx *e, size_t nctx)
{
    unsigned keep = e->n >= ((size_t)1 << 20) ? 5 : e->n >= ((size_t)1 << 16) ? 4 : 3;
    unsigned kmax = e->kind == CTX_KIND_16 ? CTX_MAX_K : CTX_MAX_K8;
    size_t c, t, s;
    for (c = 0; c < nctx; c++) {
        uint64_t us = 0, uc = 0, mean;
        unsigned bl = 0;
        for (t = 0; t < e->nworkers; t++) {
            if (e->kind == CTX_KIND_16) {
                us += e->ws[t].usum[c];
                uc += e->ws[t].ucnt[c];
            } else {
                for (s = 0; s < 256; s++) {
                    us += e->ws[t].hist[c][s] * (uint64_t)s;
                    uc += e->ws[t].hist[c][s];
                }
            }
        }
        mean = uc ? us / uc : 0;
        while (mean >> bl)
            bl++;
        e->k[c] = (uint8_t)(bl > keep ? (bl - keep > kmax ? kmax : bl - keep) : 0);
        e->k32[c] = e->k[c];
        if (e->kind == CTX_KIND_8 && e->k[c])
            e->raw8 = 1;
    }
}

static size_t varint_size(uint32_t v)
{
    return v < 128 ? 1 : v < 16384 ? 2 : 3;
}

static uint8_t *put_varint(uint8_t *d, uint32_t v)
{
    while (v >= 128) {
        *d++ = (uint8_t)(v | 128);
        v >>= 7;
    }
    *d++ = (uint8_t)v;
    return d;
}

int64_t pzf_ctx_compress(const void *src, const pzf_params *p, size_t n, uint8_t *dst,
                         size_t cap, int *fallback)
{
    enc_ctx e;
    uint64_t hist[CTX_MAX_NCTX][256], qsum[256], qcnt[256], bytes_hist[256];
    uint32_t freq[CTX_MAX_NCTX][256];
    uint8_t used[CTX_MAX_NCTX];
    size_t isz = pzf_itemsize(p->data_format), raw_bytes, b, t, c, i, total = 0, qlo = 0,
           qhi = 0, pos;
    int nctx, s, rc = PZF_OK;
    uint8_t *d, *pair = NULL;
    void *kept = NULL; /* e.ctxs and e.toks */
    size_t kept_cap = 0;

    *fallback = 0;
    memset(&e, 0, sizeof e);
    e.p = p;
    e.src = src;
    e.n = n;
    e.fmt = p->data_format;
    e.quantised = p->quantization == PZF_QUANT_SQRT;
    if (!e.quantised && e.fmt == PZF_FLOAT32) {
        *fallback = 1;
        return 0;
    }
    e.kind = e.quantised || e.fmt == PZF_UINT8 ? CTX_KIND_8 : CTX_KIND_16;
    nctx = ctx_nctx(e.kind);
    e.len = line_length(p);
    e.nlines = n / e.len;
    {
        size_t target = p->chunk_size ? p->chunk_size : CTX_BAND_PIXELS;
        e.band_lines = e.len >= target ? 1 : target / e.len;
    }
    if (e.band_lines > 0xFFFFFFFFu)
        e.band_lines = 0xFFFFFFFFu;
    e.nbands = (e.nlines + e.band_lines - 1) / e.band_lines;
    e.nworkers = p->nthreads < 1 ? 1 : (size_t)p->nthreads;
    if (e.nworkers > e.nbands)
        e.nworkers = e.nbands ? e.nbands : 1;
    if (n == 0 || e.len > 0xFFFFFFFFu) {
        *fallback = 1;
        return 0;
    }

    raw_bytes = e.kind == CTX_KIND_8 ? 1 : 2; /* raw bytes per value at most */
    e.ws = (worker *)calloc(e.nworkers, sizeof *e.ws);
    e.word_end = (size_t *)malloc(e.nbands * sizeof *e.word_end);
    e.word_start = (size_t *)malloc(e.nbands * sizeof *e.word_start);
    e.raw_start = (size_t *)malloc(e.nbands * sizeof *e.raw_start);
    e.raw_end = (size_t *)malloc(e.nbands * sizeof *e.raw_end);
    e.states = (uint32_t *)malloc(CTX_LANES * e.nbands * sizeof *e.states);
    e.enc = (ctx_enc_sym *)malloc((size_t)CTX_MAX_NCTX * 256 * sizeof *e.enc);
    pair = (uint8_t *)malloc(2 * e.len);
    /* contexts, then residuals or tokens: kept between calls (parallel.h) */
    if (n <= SIZE_MAX / 2 && (kept = pzf_keep_take(2 * n, &kept_cap)) != NULL) {
        e.ctxs = (uint8_t *)kept;
        e.toks = (uint8_t *)kept + n;
    }
    if (e.quantised && e.fmt == PZF_FLOAT32) {
        e.fsum = (double *)calloc(e.nbands * 256, sizeof *e.fsum);
        e.fcnt = (uint64_t *)calloc(e.nbands * 256, sizeof *e.fcnt);
    }
    /* each band's region: spare bytes and a word per value at most, then
     * its raw bits (and 8 bytes of slack for the bit writer) */
    if (n > (SIZE_MAX - (CTX_ENC_SPARE + 8) * e.nbands) / (2 + raw_bytes))
        rc = PZF_ERR_TOO_LARGE;
    else
        e.scratch = (uint8_t *)malloc((2 + raw_bytes) * n + (CTX_ENC_SPARE + 8) * e.nbands);
    if (rc == PZF_OK && (!e.ws || !e.word_end || !e.word_start || !e.raw_start ||
                         !e.raw_end || !e.states || !e.enc || !pair || !e.scratch ||
                         !e.ctxs || !e.toks ||
                         (e.fmt == PZF_FLOAT32 && (!e.fsum || !e.fcnt))))
        rc = PZF_ERR_NOMEM;
    if (rc == PZF_OK && e.quantised)
        rc = pzf_quant_table(p, n, (uint8_t **)&e.qtable);
    for (t = 0; t < e.nworkers && rc == PZF_OK; t++)
        rc = worker_init(&e, &e.ws[t]);
    if (rc == PZF_OK)
        rc = choose_ashift(&e, pair, &e.ashift);
    if (rc != PZF_OK)
        goto done;

    /* pass 1 */
    /* the phase matters while the noise is about a step or less; below
     * 2^18 values, fewer contexts (the tables cost more than they save) */
    e.pbits = e.kind == CTX_KIND_16 || e.ashift > 1 ? 0 : 2 - e.ashift;
    if (e.kind == CTX_KIND_8 && n < ((size_t)1 << 18)) {
        e.ashift = e.ashift + 2 > 15 ? 15 : e.ashift + 2;
        e.pbits = e.pbits ? e.pbits - 1 : 0;
    }
    pos = 0; /* the regions of the bands in scratch */
    for (b = 0; b < e.nbands; b++) {
        size_t y0, y1;
        band_range(&e, b, &y0, &y1);
        pos += CTX_ENC_SPARE + 2 * (y1 - y0) * e.len;
        e.word_end[b] = pos;
        e.raw_start[b] = pos;
        pos += raw_bytes * (y1 - y0) * e.len + 8;
    }
    e.ksample = n >= ((size_t)1 << 20) ? 8 : 1;
    if (e.kind == CTX_KIND_16) {
        pzf_parallel_for((int)e.nworkers, e.nworkers, sample_task, &e);
        choose_k(&e, (size_t)nctx);
    }
    pzf_parallel_for((int)e.nworkers, e.nworkers, pass1_task, &e);
    memset(qsum, 0, sizeof qsum);
    memset(qcnt, 0, sizeof qcnt);
    memset(hist, 0, sizeof hist);
    for (t = 0; t < e.nworkers; t++) {
        if (e.ws[t].status != PZF_OK) {
            rc = e.ws[t].status;
            goto done;
        }
        for (s = 0; s < 256; s++) {
            for (i = 0; i < 4; i++) {
                qsum[s] += e.ws[t].qsum[i][s];
                qcnt[s] += e.ws[t].qcnt[i][s];
            }
        }
    }
    if (e.kind == CTX_KIND_8)
        choose_k(&e, (size_t)nctx);
    for (t = 0; t < e.nworkers; t++)
        for (c = 0; c < (size_t)nctx; c++)
            for (s = 0; s < 256; s++) /* kind 0: residual counts to token counts */
                hist[c][e.kind == CTX_KIND_8 ? s >> e.k[c] : s] += e.ws[t].hist[c][s];

    /* tables */
    total = 12; /* version, kind, shift, reserved, L, R */
    for (c = 0; c < (size_t)nctx; c++) {
        uint32_t cum = 0;
        int lo = -1, hi = -1;
        used[c] = (uint8_t)pzf_ctx_normalize(hist[c], freq[c]);
        if (!used[c]) {
            total += 1;
            continue;
        }
        for (s = 0; s < 256; s++) {
            pzf_ctx_enc_sym_init(&e.enc[c << 8 | (size_t)s], cum, freq[c][s]);
            cum += freq[c][s];
            if (freq[c][s]) {
                if (lo < 0)
                    lo = s;
                hi = s;
            }
        }
        total += 3;
        for (s = lo; s <= hi; s++)
            total += varint_size(freq[c][s]);
    }
    if (e.quantised) {
        for (s = 255; s >= 0; s--)
            if (qcnt[s])
                qlo = (size_t)s;
        for (s = 0; s < 256; s++)
            if (qcnt[s])
                qhi = (size_t)s;
        total += 2 + 4 * (qhi - qlo + 1);
    }
    total += 4 * e.nbands;

    /* pass 2 */
    pzf_parallel_for((int)e.nworkers, e.nworkers, encode_task, &e);
    for (t = 0; t < e.nworkers; t++) {
        if (e.ws[t].status != PZF_OK) {
            rc = e.ws[t].status;
            goto done;
        }
    }
    for (b = 0; b < e.nbands; b++) {
        size_t size = band_bytes(&e, b);
        if (size > 0xFFFFFFFFu) {
            rc = PZF_ERR_TOO_LARGE;
            goto done;
        }
        total += size;
    }

    /* PZF Huffman instead? */
    memset(bytes_hist, 0, sizeof bytes_hist);
    if (e.quantised)
        memcpy(bytes_hist, qcnt, sizeof bytes_hist);
    else if (e.kind == CTX_KIND_16 && e.ws[0].h16)
        for (t = 0; t < e.nworkers; t++)
            for (s = 0; s < 256; s++)
                bytes_hist[s] += e.ws[t].bytes[s];
    else
        pzf_huf_count((const uint8_t *)src, n * isz, bytes_hist);
    if ((uint64_t)total >= huffman_size(bytes_hist, (uint64_t)n * (e.quantised ? 1 : isz))) {
        *fallback = 1;
        rc = PZF_OK;
        goto done;
    }
    if (cap < total) {
        rc = PZF_ERR_DST_SIZE;
        goto done;
    }

    /* assemble */
    d = dst;
    d[0] = CTX_FORMAT_VERSION;
    d[1] = (uint8_t)e.kind;
    d[2] = (uint8_t)e.ashift;
    d[3] = (uint8_t)e.pbits;
    put_le32(d + 4, (uint32_t)e.len);
    put_le32(d + 8, (uint32_t)e.band_lines);
    d += 12;
    if (e.quantised) {
        int64_t acc = 0;
        d[0] = (uint8_t)qlo;
        d[1] = (uint8_t)qhi;
        d += 2;
        for (s = (int)qlo; s <= (int)qhi; s++) {
            float f = recon_value(&e, s, qsum, qcnt, &acc);
            uint32_t bits;
            memcpy(&bits, &f, 4);
            put_le32(d, bits);
            d += 4;
        }
    }
    for (c = 0; c < (size_t)nctx; c++) {
        int lo = 0, hi = 0;
        if (!used[c]) {
            *d++ = CTX_UNUSED;
            continue;
        }
        for (s = 255; s >= 0; s--)
            if (freq[c][s])
                lo = s;
        for (s = 0; s < 256; s++)
            if (freq[c][s])
                hi = s;
        d[0] = e.k[c];
        d[1] = (uint8_t)lo;
        d[2] = (uint8_t)(hi - lo);
        d += 3;
        for (s = lo; s <= hi; s++)
            d = put_varint(d, freq[c][s]);
    }
    for (b = 0; b < e.nbands; b++) {
        put_le32(d, (uint32_t)band_bytes(&e, b));
        d += 4;
    }
    for (b = 0; b < e.nbands; b++) {
        int j;
        for (j = 0; j < CTX_LANES; j++, d += 4)
            put_le32(d, e.states[CTX_LANES * b + (size_t)j]);
        put_le32(d, (uint32_t)(e.word_end[b] - e.word_start[b]));
        d += 4;
        memcpy(d, e.scratch + e.word_start[b], e.word_end[b] - e.word_start[b]);
        d += e.word_end[b] - e.word_start[b];
        memcpy(d, e.scratch + e.raw_start[b], e.raw_end[b] - e.raw_start[b]);
        d += e.raw_end[b] - e.raw_start[b];
    }
    if ((size_t)(d - dst) != total)
        rc = PZF_ERR_ARGUMENT; /* cannot happen */
done:
    if (e.ws)
        for (t = 0; t < e.nworkers; t++)
            worker_free(&e.ws[t]);
    free(e.ws);
    free(pair);
    free(e.word_end);
    free(e.word_start);
    free(e.raw_start);
    free(e.raw_end);
    free(e.states);
    free(e.enc);
    pzf_keep_give(kept, kept_cap);
    free(e.fsum);
    free(e.fcnt);
    free(e.scratch);
    free((void *)e.qtable);
    if (rc == PZF_OK && !*fallback)
        return (int64_t)total;
    return rc;
}
