/*
 * ctx_decompress.c - decoder of the context coding (docs/format-context.md).
 *
 * Every field is checked before use; a band's rANS decoder reads its words
 * with bounds checks per round of 32 values (per word near the end), its
 * raw bits with a check per 8 values (per read near the end), and a band
 * must end with every word and bit consumed and every state back at its
 * initial value.  Bands decode independently, one task each, or two per
 * task while there are at least two tasks a thread (their token steps
 * interleave); a line is modelled, its tokens decoded (ctx_rans.c), then
 * its residuals and values formed (the raw bits of a line's first values
 * read by the vector twins of ctx_bits_x86.c, which form the 16-bit values
 * in the same pass).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "cpu.h"
#include "ctx.h"
#include "parallel.h"
#include "pzf_testing.h"

typedef struct {
    const pzf_header *h;
    int kind, quantised;
    size_t n, len, nlines, band_lines, nbands;
    unsigned ashift, pbits;
    int raw; /* some context has raw bits (or kind 1: escapes) */
    uint32_t *table;                   /* decoding entries, row r at r << 12 */
    uint8_t k[CTX_MAX_NCTX];           /* raw bits of a row's context    */
#ifdef PZF_CTX_BITS_X86
    int32_t k32[CTX_K32_SIZE];         /* the same, for vector kernels   */
#endif
    uint8_t cmap[CTX_MAX_NCTX];        /* row of each context's entries  */
    int remap;                         /* rows are not contexts: map     */
    unsigned qlo, qhi;
    union { uint8_t u8[256]; uint16_t u16[256]; float f32[256]; } lut;
    const uint8_t **bsrc;
    size_t *bsize;
    int *status;
    uint8_t *dst;
} dec_ctx;

#ifdef PZF_CTX_BITS_X86
/* every context's raw-bit count has a slot in the vector kernels' table */
typedef char pzf_ctx_k32_fits[CTX_MAX_NCTX <= CTX_K32_SIZE ? 1 : -1];
#endif

/* Rounded, saturated integer of a reconstruction value (NaN gives 0). */
static double round_sat(float f, double max)
{
    double v;
    if (!(f > 0.0f))
        return 0.0;
    v = floor((double)f + 0.5);
    return v > max ? max : v;
}

/* Residuals of a line's first values, 8 at a time while 24 bytes are left
 * at bit position *pos of the raw bits q[0..avail): each value reads the 8
 * bytes at its own position, so the only dependency between values is
 * pos += k.  Returns the number of values done.  Compiled once portably
 * and once for BMI2 (flag-free shifts, bzhi). */
#define PZF_CTX_DEFINE_RESIDUALS(SUFFIX, ATTR)                                       \
    ATTR static size_t residuals##SUFFIX(const uint8_t *kt, unsigned esc,             \
                                         const uint8_t *ctx, const uint8_t *tok,      \
                                         size_t len, const uint8_t *q, size_t avail,  \
                                         size_t *ppos, uint16_t *u)                   \
    {                                                                                \
        size_t x = 0, j, pos = *ppos;                                                \
        for (; x + 8 <= len && (pos >> 3) + 24 <= avail; x += 8) {                   \
            for (j = x; j < x + 8; j++) {                                            \
                unsigned t = tok[j], k = t == esc ? 16 : kt[ctx[j]];                 \
                uint32_t r = (uint32_t)(pzf_load_le64(q + (pos >> 3)) >> (pos & 7)) & \
                             ((1u << k) - 1);                                        \
                pos += k;                                                            \
                u[j] = (uint16_t)(t == esc ? r : t << k | r);                        \
            }                                                                        \
        }                                                                            \
        *ppos = pos;                                                                 \
        return x;                                                                    \
    }

PZF_CTX_DEFINE_RESIDUALS(_portable, )
#ifdef PZF_HAVE_TARGET
PZF_CTX_DEFINE_RESIDUALS(_bmi2, PZF_TARGET("bmi2"))
#endif

/* Residuals u[0..len) of a line from its tokens and raw bits (kernel isa:
 * PZF_ISA_*).  With base, the vector kernel writes the values base +
 * unzigzag(u) of the first *fused values to v instead of their residuals
 * (*fused is 0 without base). */
static int line_residuals(const dec_ctx *d, const uint8_t *ctx, const uint8_t *tok, size_t len,
                          ctx_bit_reader *br, uint16_t *u, const uint16_t *base, uint16_t *v,
                          size_t *fused, int isa)
{
    size_t x = 0;
    int bad = 0;
    unsigned esc = d->kind == CTX_KIND_16 ? CTX_ESCAPE : 256; /* kind 0 has none */
    *fused = 0;
    if (!d->raw) {
        for (x = 0; x < len; x++)
            u[x] = tok[x];
        return PZF_OK;
    }
    if (br->n < 64) {
        /* the n bits in acc are the last n of the bytes before p */
        const uint8_t *q = br->p - (br->n + 7) / 8;
        size_t pos = (br->n + 7) / 8 * 8 - br->n;
#ifdef PZF_CTX_BITS_X86
        int64_t xv = pzf_ctx_residuals_x86(d->k32, esc, ctx, tok, len, q, (size_t)(br->end - q),
                                           &pos, base, base ? v : u, isa);
        if (xv < 0)
            return PZF_ERR_CORRUPT;
        x = (size_t)xv;
        *fused = base ? x : 0;
#else
        (void)base, (void)v, (void)isa;
#endif
#ifdef PZF_HAVE_TARGET
        if (pzf_cpu_has_bmi2())
            x += residuals_bmi2(d->k, esc, ctx + x, tok + x, len - x, q, (size_t)(br->end - q),
                                &pos, u + x);
        else
#endif
            x += residuals_portable(d->k, esc, ctx + x, tok + x, len - x, q,
                                    (size_t)(br->end - q), &pos, u + x);
        /* back to the reader: the bits of the byte pos is in, if any */
        br->p = q + (pos + 7) / 8;
        br->n = (unsigned)((pos + 7) / 8 * 8 - pos);
        br->acc = br->n ? (uint64_t)(br->p[-1] >> (8 - br->n)) : 0;
    }
    for (; x < len; x++) { /* the last values of the band, read with checks */
        unsigned t = tok[x], k = t == esc ? 16 : d->k[ctx[x]];
        uint32_t r = ctx_get_bits(br, k, &bad);
        u[x] = (uint16_t)(t == esc ? r : t << k | r);
    }
    return bad ? PZF_ERR_CORRUPT : PZF_OK;
}

/* out[x] = lut[v[x]]. */
static void lookup16(const uint8_t *v, size_t n, const uint16_t *lut, uint16_t *out)
{
    size_t x;
#ifdef PZF_CTX_RANS_X86
    if (pzf_ctx_lookup16_x86(v, n, lut, out, pzf_cpu_isa()) == PZF_OK)
        return;
#endif
    for (x = 0; x < n; x++)
        out[x] = lut[v[x]];
}

/* Values of a band's first line, each predicted from those before it. */
#define FIRST_LINE(T)                                                                \
    do {                                                                             \
        uint32_t sum8 = 0;                                                           \
        for (x = 0; x < len; x++) {                                                  \
            uint32_t bb = x ? ctx_first_base(sum8) : 0;                              \
            v[x] = (T)(bb + ctx_unzigzag(u[x]));                                     \
            sum8 = x ? sum8 + v[x] - v[x >= 8 ? x - 8 : 0] : 8u * v[0];              \
        }                                                                            \
    } while (0)

/* Check the quantised symbols v[0..len) of the line at element off against
 * QLo..QHi and write their outputs. */
static int output8(const dec_ctx *d, const uint8_t *v, size_t len, size_t off)
{
    size_t x, isz = pzf_itemsize(d->h->data_format);
    uint8_t lo = 255, hi = 0;
    for (x = 0; x < len; x++) {
        lo = v[x] < lo ? v[x] : lo;
        hi = v[x] > hi ? v[x] : hi;
    }
    if (lo < d->qlo || hi > d->qhi)
        return PZF_ERR_CORRUPT;
    if (isz == 1) {
        for (x = 0; x < len; x++)
            d->dst[off + x] = d->lut.u8[v[x]];
    } else if (isz == 2) {
        lookup16(v, len, d->lut.u16, (uint16_t *)d->dst + off);
    } else {
        float *o = (float *)d->dst + off;
        for (x = 0; x < len; x++)
            o[x] = d->lut.f32[v[x]];
    }
    return PZF_OK;
}

/* A band being decoded: its lanes, raw bits, line buffers and next line. */
typedef struct {
    ctx_dec_lanes ln;
    ctx_bit_reader br;
    size_t y0, y1, y; /* its lines, the next line */
    uint8_t *ctx, *ring, *tok;
    uint16_t *u, *base;
    void *colsum;
} band_state;

/* Read band b's header and allocate its buffers (band_close frees them). */
static int band_open(const dec_ctx *d, size_t b, band_state *st)
{
    const uint8_t *s = d->bsrc[b];
    size_t size = d->bsize[b], words, len = d->len;
    int j, rc = PZF_OK;

    memset(st, 0, sizeof *st);
    st->y0 = st->y = b * d->band_lines;
    st->y1 = st->y0 + d->band_lines < d->nlines ? st->y0 + d->band_lines : d->nlines;
    /* states, word bytes, words, raw bits */
    if (size < 4 * CTX_LANES + 4)
        return PZF_ERR_CORRUPT;
    for (j = 0; j < CTX_LANES; j++) {
        st->ln.x[j] = pzf_load_le32(s + 4 * j);
        if (st->ln.x[j] < CTX_RANS_L || st->ln.x[j] >= (1u << 31))
            rc = PZF_ERR_CORRUPT;
    }
    words = pzf_load_le32(s + 4 * CTX_LANES);
    if (rc != PZF_OK || (words & 1) || words > size - (4 * CTX_LANES + 4))
        return PZF_ERR_CORRUPT;
    st->ln.wp = s + 4 * CTX_LANES + 4;
    st->ln.we = st->ln.wp + words;
    st->br.p = st->ln.we;
    st->br.end = s + size;
    st->ctx = (uint8_t *)malloc(len);
    st->tok = (uint8_t *)malloc(len);
    st->u = (uint16_t *)malloc(len * sizeof *st->u);
    st->base = (uint16_t *)malloc(len * sizeof *st->base);
    st->colsum = malloc(CTX_SCRATCH(len) * sizeof(uint32_t));
    if (d->quantised)
        st->ring = (uint8_t *)malloc(5 * len);
    if (!st->ctx || !st->tok || !st->u || !st->base || !st->colsum ||
        (d->quantised && !st->ring))
        return PZF_ERR_NOMEM;
    return PZF_OK;
}

/* The contexts (and predictions) of the band's next line. */
static void band_model(const dec_ctx *d, band_state *st)
{
    size_t yy = st->y - st->y0, len = d->len, r, x;
    if (yy == 0) {
        memset(st->ctx, d->cmap[0], len);
        return;
    }
    if (d->kind == CTX_KIND_8) {
        const uint8_t *rows[4];
        for (r = 0; r < 4; r++) {
            size_t src_line = yy >= r + 1 ? yy - 1 - r : 0;
            rows[r] = d->quantised ? st->ring + (src_line % 5) * len
                                   : d->dst + (st->y0 + src_line) * len;
        }
        pzf_ctx_model8(rows, len, d->ashift, d->pbits, (uint16_t *)st->colsum,
                       (uint8_t *)st->base, st->ctx);
    } else {
        const uint16_t *rows[4];
        for (r = 0; r < 4; r++) {
            size_t src_line = yy >= r + 1 ? yy - 1 - r : 0;
            rows[r] = (const uint16_t *)d->dst + (st->y0 + src_line) * len;
        }
        pzf_ctx_model16(rows, len, d->ashift, (uint32_t *)st->colsum, st->base, st->ctx,
                        NULL);
    }
    if (d->remap)
        for (x = 0; x < len; x++)
            st->ctx[x] = d->cmap[st->ctx[x]];
}

/* The values and outputs of the band's next line from its decoded tokens. */
static int band_values(const dec_ctx *d, band_state *st)
{
    size_t yy = st->y - st->y0, len = d->len, off = st->y * len, x;
    uint8_t *v8 = d->kind != CTX_KIND_8 ? NULL
                  : d->quantised       ? st->ring + (yy % 5) * len
                                       : d->dst + off;
    const uint8_t *bs = (const uint8_t *)st->base, *tok = st->tok;
    const uint16_t *u = st->u, *base = st->base;
    int rc;
    st->y++;
    if (d->kind == CTX_KIND_8 && !d->raw && yy > 0) { /* u = t: one pass */
        for (x = 0; x < len; x++)
            v8[x] = (uint8_t)(bs[x] + ctx_unzigzag(tok[x]));
    } else {
        uint16_t *v16 = (uint16_t *)d->dst + off;
        size_t x0;
        int fuse = d->kind == CTX_KIND_16 && yy > 0;
        rc = line_residuals(d, st->ctx, tok, len, &st->br, st->u, fuse ? base : NULL, v16, &x0,
                            pzf_cpu_isa());
        if (rc != PZF_OK)
            return rc;
        if (d->kind == CTX_KIND_8) {
            uint8_t *v = v8;
            if (yy == 0)
                FIRST_LINE(uint8_t);
            else
                for (x = 0; x < len; x++)
                    v[x] = (uint8_t)(bs[x] + ctx_unzigzag(u[x]));
        } else {
            uint16_t *v = v16;
            if (yy == 0)
                FIRST_LINE(uint16_t);
            else /* values from x0 on (those before it fused above) */
                for (x = x0; x < len; x++)
                    v[x] = (uint16_t)(base[x] + ctx_unzigzag(u[x]));
        }
    }
    return d->quantised ? output8(d, v8, len, off) : PZF_OK;
}

/* The band's remaining lines, one at a time. */
static int band_rest(const dec_ctx *d, band_state *st)
{
    int rc = PZF_OK;
    while (rc == PZF_OK && st->y < st->y1) {
        band_model(d, st);
        rc = pzf_ctx_decode_tokens(d->table, st->ctx, d->len, &st->ln, st->tok, PZF_ISA_AUTO);
        if (rc == PZF_OK)
            rc = band_values(d, st);
    }
    return rc;
}

/* The band's end checks after rc so far; frees its buffers. */
static int band_close(band_state *st, int rc)
{
    int j;
    if (rc == PZF_OK && st->ln.wp != st->ln.we)
        rc = PZF_ERR_CORRUPT;
    for (j = 0; j < CTX_LANES && rc == PZF_OK; j++)
        if (st->ln.x[j] != CTX_RANS_L)
            rc = PZF_ERR_CORRUPT;
    if (rc == PZF_OK && !ctx_bits_done(&st->br))
        rc = PZF_ERR_CORRUPT;
    free(st->ctx);
    free(st->tok);
    free(st->u);
    free(st->base);
    free(st->colsum);
    free(st->ring);
    return rc;
}

static void band_task(void *arg, size_t b)
{
    dec_ctx *d = (dec_ctx *)arg;
    band_state st;
    int rc = band_open(d, b, &st);
    if (rc == PZF_OK)
        rc = band_rest(d, &st);
    d->status[b] = band_close(&st, rc);
}

/* Bands 2t and 2t + 1 together: the token decoding of one band's line is a
 * chain of dependent steps, so two bands' lines decode in one loop, each
 * filling the other's waits. */
static void pair_task(void *arg, size_t t)
{
    dec_ctx *d = (dec_ctx *)arg;
    band_state st[2];
    int rc[2];
    if (2 * t + 1 >= d->nbands) {
        band_task(arg, 2 * t);
        return;
    }
    rc[0] = band_open(d, 2 * t, &st[0]);
    rc[1] = band_open(d, 2 * t + 1, &st[1]);
    while (rc[0] == PZF_OK && rc[1] == PZF_OK && st[0].y < st[0].y1 && st[1].y < st[1].y1) {
        band_model(d, &st[0]);
        band_model(d, &st[1]);
        pzf_ctx_decode_tokens2(d->table, st[0].ctx, st[1].ctx, d->len, &st[0].ln, &st[1].ln,
                               st[0].tok, st[1].tok, rc, PZF_ISA_AUTO);
        if (rc[0] == PZF_OK)
            rc[0] = band_values(d, &st[0]);
        if (rc[1] == PZF_OK)
            rc[1] = band_values(d, &st[1]);
    }
    if (rc[0] == PZF_OK)
        rc[0] = band_rest(d, &st[0]);
    if (rc[1] == PZF_OK)
        rc[1] = band_rest(d, &st[1]);
    d->status[2 * t] = band_close(&st[0], rc[0]);
    d->status[2 * t + 1] = band_close(&st[1], rc[1]);
}

/* Entries are written in groups of CTX_FILL (one vector store). */
#define CTX_FILL 8

/* The row of an unused context: the single token 0 of frequency
 * CTX_PROB_SCALE. */
static void fill_unused(uint32_t *t)
{
    uint32_t z;
    for (z = 0; z < CTX_PROB_SCALE; z++)
        t[z] = ctx_dec_entry(0, CTX_PROB_SCALE, z);
}

/* Read a LEB128 value of at most 3 bytes. */
static int get_varint(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
    uint32_t r = 0;
    int i;
    for (i = 0; i < 3; i++) {
        if (*p >= end)
            return PZF_ERR_CORRUPT;
        r |= (uint32_t)(**p & 127) << (7 * i);
        if (!(*(*p)++ & 128)) {
            *v = r;
            return PZF_OK;
        }
    }
    return PZF_ERR_CORRUPT;
}

int pzf_ctx_decompress(const uint8_t *pl, size_t plen, const pzf_header *h, size_t n,
                       void *dst, int nthreads)
{
    dec_ctx d;
    const uint8_t *p = pl, *end = pl + plen;
    const uint8_t *tabs[CTX_MAX_NCTX];
    size_t c, b, total, nused = 0, rows, row;
    int nctx, rc = PZF_OK, kind;
    unsigned q;

    memset(&d, 0, sizeof d);
    if (plen < 12)
        return PZF_ERR_CORRUPT;
    if (p[0] != CTX_FORMAT_VERSION)
        return PZF_ERR_UNSUPPORTED;
    kind = p[1];
    d.quantised = h->quantization == PZF_QUANT_SQRT;
    if (kind != (d.quantised || h->data_format == PZF_UINT8 ? CTX_KIND_8 : CTX_KIND_16) ||
        (!d.quantised && h->data_format == PZF_FLOAT32) || p[2] > 15 ||
        p[3] > (kind == CTX_KIND_8 ? 2 : 0))
        return PZF_ERR_CORRUPT;
    d.pbits = p[3];
    d.h = h;
    d.kind = kind;
    d.ashift = p[2];
    d.n = n;
    d.len = pzf_load_le32(p + 4);
    d.band_lines = pzf_load_le32(p + 8);
    if (d.len == 0 || d.band_lines == 0 || n % d.len)
        return PZF_ERR_CORRUPT;
    d.nlines = n / d.len;
    d.nbands = d.nlines / d.band_lines + (d.nlines % d.band_lines != 0);
    d.dst = (uint8_t *)dst;
    p += 12;
    if (d.quantised) {
        if (end - p < 2)
            return PZF_ERR_CORRUPT;
        d.qlo = p[0];
        d.qhi = p[1];
        p += 2;
        if (d.qlo > d.qhi || (size_t)(end - p) < 4 * (d.qhi - d.qlo + 1))
            return PZF_ERR_CORRUPT;
        for (q = d.qlo; q <= d.qhi; q++, p += 4) {
            float f = pzf_load_lef32(p);
            if (h->data_format == PZF_FLOAT32)
                d.lut.f32[q] = f;
            else if (h->data_format == PZF_UINT16)
                d.lut.u16[q] = (uint16_t)round_sat(f, 65535.0);
            else
                d.lut.u8[q] = (uint8_t)round_sat(f, 255.0);
        }
    }
    nctx = ctx_nctx(kind);
    /* where each context's table is (NULL: unused), each checked */
    for (c = 0; c < (size_t)nctx; c++) {
        uint32_t cum = 0, f;
        unsigned cnt, s;
        if (p >= end)
            return PZF_ERR_CORRUPT;
        if (*p == CTX_UNUSED) {
            tabs[c] = NULL;
            p++;
            continue;
        }
        if (end - p < 3 || p[0] > (kind == CTX_KIND_16 ? CTX_MAX_K : CTX_MAX_K8) ||
            p[1] + p[2] > 255)
            return PZF_ERR_CORRUPT;
        tabs[c] = p;
        nused++;
        cnt = (unsigned)p[2] + 1;
        p += 3;
        for (s = 0; s < cnt; s++) {
            if (get_varint(&p, end, &f) != PZF_OK || f > CTX_PROB_SCALE - cum)
                return PZF_ERR_CORRUPT;
            cum += f;
        }
        if (cum != CTX_PROB_SCALE)
            return PZF_ERR_CORRUPT;
    }
    /* The decoding entries: a row of CTX_PROB_SCALE per context, where an
     * unused context decodes as the single token 0 of frequency
     * CTX_PROB_SCALE.  A small frame would spend most of its time filling
     * the rows of unused contexts: then they share one row, and the model's
     * contexts are mapped to rows line by line. */
    d.remap = nused < (size_t)nctx && n / 1024 < (size_t)nctx - nused;
    rows = d.remap ? nused + 1 : (size_t)nctx;
    /* + CTX_FILL: a symbol's entries are written CTX_FILL at a time, the
     * last few past its slots (the next symbol's, or the next row's, which
     * are written later) */
    d.table = (uint32_t *)malloc((rows * CTX_PROB_SCALE + CTX_FILL) * sizeof *d.table);
    if (!d.table)
        return PZF_ERR_NOMEM;
    for (c = 0, row = 0; c < (size_t)nctx; c++) {
        const uint8_t *tp = tabs[c];
        uint32_t cum = 0, f = 0, z, j, *t;
        unsigned lo, cnt, s;
        d.cmap[c] = (uint8_t)(!d.remap ? c : tp ? row++ : nused);
        t = d.table + ((size_t)d.cmap[c] << CTX_PROB_BITS);
        if (!tp) {
            if (!d.remap) /* the shared row is filled last */
                fill_unused(t);
            d.k[d.cmap[c]] = 0;
            continue;
        }
        d.k[d.cmap[c]] = tp[0];
#ifdef PZF_CTX_BITS_X86
        d.k32[d.cmap[c]] = tp[0];
#endif
        if (tp[0] || kind == CTX_KIND_16)
            d.raw = 1;
        lo = tp[1];
        cnt = (unsigned)tp[2] + 1;
        tp += 3;
        for (s = lo; s < lo + cnt; s++) {
            uint32_t e0;
            (void)get_varint(&tp, end, &f); /* checked above */
            e0 = ctx_dec_entry(s, f, 0);
            for (z = 0; z < f; z += CTX_FILL)
                for (j = 0; j < CTX_FILL; j++)
                    t[cum + z + j] = e0 + ((z + j) << 20);
            cum += f;
        }
    }
    if (d.remap)
        fill_unused(d.table + (nused << CTX_PROB_BITS));
    if ((size_t)(end - p) / 4 < d.nbands) {
        rc = PZF_ERR_CORRUPT;
        goto done;
    }
    d.bsrc = (const uint8_t **)malloc((d.nbands + 1) * sizeof *d.bsrc);
    d.bsize = (size_t *)malloc((d.nbands + 1) * sizeof *d.bsize);
    d.status = (int *)malloc((d.nbands + 1) * sizeof *d.status);
    if (!d.bsrc || !d.bsize || !d.status) {
        rc = PZF_ERR_NOMEM;
        goto done;
    }
    total = 0;
    for (b = 0; b < d.nbands; b++)
        d.bsize[b] = pzf_load_le32(p + 4 * b);
    p += 4 * d.nbands;
    for (b = 0; b < d.nbands; b++) {
        if (d.bsize[b] > (size_t)(end - p) - total) {
            rc = PZF_ERR_CORRUPT;
            goto done;
        }
        d.bsrc[b] = p + total;
        total += d.bsize[b];
    }
    if (total != (size_t)(end - p)) {
        rc = PZF_ERR_CORRUPT;
        goto done;
    }
    /* bands in pairs while that leaves a task for every thread */
    if (d.nbands >= 2 * (size_t)(nthreads < 1 ? 1 : nthreads))
        pzf_parallel_for(nthreads, (d.nbands + 1) / 2, pair_task, &d);
    else
        pzf_parallel_for(nthreads, d.nbands, band_task, &d);
    for (b = 0; b < d.nbands && rc == PZF_OK; b++)
        rc = d.status[b];
done:
    free(d.table);
    free(d.bsrc);
    free(d.bsize);
    free(d.status);
    return rc;
}

int pzf_ctx_line_bits_isa(const uint8_t *k, size_t nctx, int kind16, const uint8_t *ctx,
                          const uint8_t *tok, size_t len, const uint16_t *base,
                          const uint8_t *bits, size_t nbytes, uint16_t *out, size_t *left,
                          int isa)
{
    dec_ctx d;
    ctx_bit_reader br;
    uint16_t *u;
    size_t x, fused = 0;
    unsigned f = pzf_cpu_features();
    int rc;
    if (nctx == 0 || nctx > CTX_MAX_NCTX || (len && (!ctx || !tok || !out)) ||
        (nbytes && !bits) || isa < PZF_ISA_SCALAR || isa > PZF_ISA_AVX512)
        return PZF_ERR_ARGUMENT;
    if ((isa >= PZF_ISA_AVX2 && !(f & PZF_CPU_AVX2)) ||
        (isa == PZF_ISA_AVX512 && !(f & PZF_CPU_AVX512)))
        return PZF_ERR_UNSUPPORTED;
    for (x = 0; x < nctx; x++)
        if (k[x] > 16)
            return PZF_ERR_ARGUMENT;
    for (x = 0; x < len; x++)
        if (ctx[x] >= nctx)
            return PZF_ERR_ARGUMENT;
    memset(&d, 0, sizeof d);
    d.kind = kind16 ? CTX_KIND_16 : CTX_KIND_8;
    d.raw = 1;
    for (x = 0; x < nctx; x++) {
        d.k[x] = k[x];
#ifdef PZF_CTX_BITS_X86
        d.k32[x] = k[x];
#endif
    }
    u = (uint16_t *)malloc((len ? len : 1) * sizeof *u);
    if (!u)
        return PZF_ERR_NOMEM;
    br.acc = 0;
    br.n = 0;
    br.p = nbytes ? bits : k; /* no bytes: any pointer */
    br.end = br.p + nbytes;
    rc = line_residuals(&d, ctx, tok, len, &br, u, base, out, &fused, isa);
    for (x = fused; x < len; x++)
        out[x] = base ? (uint16_t)(base[x] + ctx_unzigzag(u[x])) : u[x];
    *left = (size_t)(br.end - br.p) * 8 + br.n;
    free(u);
    return rc;
}
