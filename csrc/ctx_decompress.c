/*
 * ctx_decompress.c - decoder of the context coding (docs/format-context.md).
 *
 * Every field is checked before use; a band's rANS decoder reads its words
 * with a bounds check per line (or per word near the end), and a band must
 * end with every word consumed and every state back at its initial value.
 * Bands decode independently, one task each.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "ctx.h"
#include "parallel.h"

typedef struct {
    const pzf_header *h;
    int kind, quantised;
    size_t n, len, nlines, band_lines, nbands;
    unsigned ashift, pbits;
    int raw8; /* kind 0 with raw bits in some context */
    const uint8_t *sym[CTX_MAX_NCTX];  /* per context: slot -> token            */
    uint32_t fc[CTX_MAX_NCTX][256];    /* per context: freq | cum << 16 of tokens */
    uint8_t k[CTX_MAX_NCTX];
    unsigned qlo, qhi;
    union { uint8_t u8[256]; uint16_t u16[256]; float f32[256]; } lut;
    const uint8_t **bsrc;
    size_t *bsize;
    int *status;
    uint8_t *dst;
} dec_ctx;

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Rounded, saturated integer of a reconstruction value (NaN gives 0). */
static double round_sat(float f, double max)
{
    double v;
    if (!(f > 0.0f))
        return 0.0;
    v = floor((double)f + 0.5);
    return v > max ? max : v;
}

/* rANS steps (docs/format-context.md, "Decoding a band").  Lane j's state
 * xs reads its words at wp (ending at we).  CHECKED reads test the end;
 * unchecked ones rely on a test per line, and are branchless. */
#define REFILL(xs, wp, we, CHECKED)                                                  \
    do {                                                                             \
        if (!(CHECKED)) {                                                            \
            uint32_t w_ = (uint32_t)(wp)[0] | (uint32_t)(wp)[1] << 8;                \
            uint32_t r_ = (xs) < CTX_RANS_L; /* arithmetic, not a branch */          \
            (xs) = (xs) << (r_ << 4) | (w_ & (0u - r_));                             \
            (wp) += 2 * (size_t)r_;                                                  \
        } else if ((xs) < CTX_RANS_L) {                                              \
            uint32_t w_ = 0;                                                         \
            if ((we) - (wp) >= 2) {                                                  \
                w_ = (uint32_t)(wp)[0] | (uint32_t)(wp)[1] << 8;                     \
                (wp) += 2;                                                           \
            } else {                                                                 \
                bad = 1;                                                             \
            }                                                                        \
            (xs) = (xs) << 16 | w_;                                                  \
        }                                                                            \
    } while (0)

#define DEC_TOKEN(xs, wp, we, c, t, CHECKED)                                         \
    do {                                                                             \
        uint32_t z_ = (xs) & (CTX_PROB_SCALE - 1), e_;                               \
        (t) = symt[c][z_];                                                           \
        e_ = fct[c][t];                                                              \
        (xs) = (e_ & 0xFFFF) * ((xs) >> CTX_PROB_BITS) + z_ - (e_ >> 16);            \
        REFILL(xs, wp, we, CHECKED);                                                 \
    } while (0)

#define DEC_RAW(xs, wp, we, kk, v, CHECKED)                                          \
    do {                                                                             \
        (v) = (xs) & ((1u << (kk)) - 1);                                             \
        (xs) >>= (kk);                                                               \
        REFILL(xs, wp, we, CHECKED);                                                 \
    } while (0)

#define DEC_VALUE(j, c, out, CHECKED)                                                \
    do {                                                                             \
        unsigned t_;                                                                 \
        DEC_TOKEN(xs##j, wp##j, we##j, c, t_, CHECKED);                              \
        if (kind1) {                                                                 \
            uint32_t r1_, r2_;                                                       \
            if (t_ == CTX_ESCAPE) {                                                  \
                DEC_RAW(xs##j, wp##j, we##j, 8, r1_, CHECKED);                       \
                DEC_RAW(xs##j, wp##j, we##j, 8, r2_, CHECKED);                       \
                (out) = (uint16_t)(r1_ << 8 | r2_);                                  \
            } else {                                                                 \
                unsigned k_ = kk[c];                                                 \
                DEC_RAW(xs##j, wp##j, we##j, k_, r1_, CHECKED);                      \
                (out) = (uint16_t)(t_ << k_ | r1_);                                  \
            }                                                                        \
        } else if (raw8) {                                                           \
            uint32_t r1_;                                                            \
            unsigned k_ = kk[c];                                                     \
            DEC_RAW(xs##j, wp##j, we##j, k_, r1_, CHECKED);                          \
            (out) = (uint16_t)(t_ << k_ | r1_);                                      \
        } else {                                                                     \
            (out) = (uint16_t)t_;                                                    \
        }                                                                            \
    } while (0)

/* The rANS lanes of a band: states and word streams. */
typedef struct {
    uint32_t x[CTX_STATES];
    const uint8_t *wp[CTX_STATES], *we[CTX_STATES];
} lanes;

/* Decode the residuals u[0..len) of one line with contexts ctx. */
PZF_INLINE int decode_line(const dec_ctx *d, const uint8_t *ctx, size_t len, lanes *ln,
                           uint16_t *u, const int kind1, const int raw8)
{
    const uint8_t *const *symt = d->sym;
    const uint32_t(*fct)[256] = d->fc;
    const uint8_t *kk = d->k;
    uint32_t xs0 = ln->x[0], xs1 = ln->x[1], xs2 = ln->x[2], xs3 = ln->x[3];
    const uint8_t *wp0 = ln->wp[0], *wp1 = ln->wp[1], *wp2 = ln->wp[2], *wp3 = ln->wp[3];
    const uint8_t *we0 = ln->we[0], *we1 = ln->we[1], *we2 = ln->we[2], *we3 = ln->we[3];
    size_t x = 0, need = kind1 ? 6 : raw8 ? 4 : 2, per_lane = (len + 3) / 4;
    int bad = 0;
    if ((size_t)(we0 - wp0) / need >= per_lane && (size_t)(we1 - wp1) / need >= per_lane &&
        (size_t)(we2 - wp2) / need >= per_lane && (size_t)(we3 - wp3) / need >= per_lane) {
        for (; x + 4 <= len; x += 4) {
            DEC_VALUE(0, ctx[x], u[x], 0);
            DEC_VALUE(1, ctx[x + 1], u[x + 1], 0);
            DEC_VALUE(2, ctx[x + 2], u[x + 2], 0);
            DEC_VALUE(3, ctx[x + 3], u[x + 3], 0);
        }
        if (x < len)
            DEC_VALUE(0, ctx[x], u[x], 0);
        if (x + 1 < len)
            DEC_VALUE(1, ctx[x + 1], u[x + 1], 0);
        if (x + 2 < len)
            DEC_VALUE(2, ctx[x + 2], u[x + 2], 0);
    } else {
        for (; x < len && !bad; x++) {
            switch (x & 3) {
            case 0: DEC_VALUE(0, ctx[x], u[x], 1); break;
            case 1: DEC_VALUE(1, ctx[x], u[x], 1); break;
            case 2: DEC_VALUE(2, ctx[x], u[x], 1); break;
            default: DEC_VALUE(3, ctx[x], u[x], 1); break;
            }
        }
    }
    ln->x[0] = xs0;
    ln->x[1] = xs1;
    ln->x[2] = xs2;
    ln->x[3] = xs3;
    ln->wp[0] = wp0;
    ln->wp[1] = wp1;
    ln->wp[2] = wp2;
    ln->wp[3] = wp3;
    return bad ? PZF_ERR_CORRUPT : PZF_OK;
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

static void band_task(void *arg, size_t b)
{
    dec_ctx *d = (dec_ctx *)arg;
    const uint8_t *s = d->bsrc[b];
    lanes ln;
    size_t pos = 8 * CTX_STATES;
    size_t len = d->len, y0 = b * d->band_lines, y1, y, x;
    size_t isz = pzf_itemsize(d->h->data_format);
    uint8_t *ctx = NULL, *ring = NULL;
    uint16_t *u = NULL, *base = NULL;
    void *colsum = NULL;
    int rc = PZF_OK, j;

    y1 = y0 + d->band_lines < d->nlines ? y0 + d->band_lines : d->nlines;
    /* lane sizes, states, then the lanes' words */
    if (d->bsize[b] < 8 * CTX_STATES) {
        d->status[b] = PZF_ERR_CORRUPT;
        return;
    }
    for (j = 0; j < CTX_STATES; j++) {
        size_t size = get_le32(s + 4 * j);
        ln.x[j] = get_le32(s + 4 * CTX_STATES + 4 * j);
        if (ln.x[j] < CTX_RANS_L || ln.x[j] >= (1u << 31) || (size & 1) ||
            size > d->bsize[b] - pos) {
            d->status[b] = PZF_ERR_CORRUPT;
            return;
        }
        ln.wp[j] = s + pos;
        ln.we[j] = s + pos + size;
        pos += size;
    }
    if (pos != d->bsize[b]) {
        d->status[b] = PZF_ERR_CORRUPT;
        return;
    }
    ctx = (uint8_t *)malloc(len);
    u = (uint16_t *)malloc(len * sizeof *u);
    base = (uint16_t *)malloc(len * sizeof *base);
    colsum = malloc(CTX_SCRATCH(len) * sizeof(uint32_t));
    if (d->quantised)
        ring = (uint8_t *)malloc(5 * len);
    if (!ctx || !u || !base || !colsum || (d->quantised && !ring))
        rc = PZF_ERR_NOMEM;
    for (y = y0; y < y1 && rc == PZF_OK; y++) {
        size_t yy = y - y0, off = y * len, r;
        if (yy == 0) {
            memset(ctx, 0, len);
        } else if (d->kind == CTX_KIND_8) {
            const uint8_t *rows[4];
            for (r = 0; r < 4; r++) {
                size_t src_line = yy >= r + 1 ? yy - 1 - r : 0;
                rows[r] = d->quantised ? ring + (src_line % 5) * len
                                       : d->dst + (y0 + src_line) * len;
            }
            pzf_ctx_model8(rows, len, d->ashift, d->pbits, (uint16_t *)colsum, (uint8_t *)base,
                           ctx);
        } else {
            const uint16_t *rows[4];
            for (r = 0; r < 4; r++) {
                size_t src_line = yy >= r + 1 ? yy - 1 - r : 0;
                rows[r] = (const uint16_t *)d->dst + (y0 + src_line) * len;
            }
            pzf_ctx_model16(rows, len, d->ashift, (uint32_t *)colsum, base, ctx);
        }
        if (d->kind == CTX_KIND_16)
            rc = decode_line(d, ctx, len, &ln, u, 1, 0);
        else if (d->raw8)
            rc = decode_line(d, ctx, len, &ln, u, 0, 1);
        else
            rc = decode_line(d, ctx, len, &ln, u, 0, 0);
        if (rc != PZF_OK)
            break;
        if (d->kind == CTX_KIND_8) {
            uint8_t *v = d->quantised ? ring + (yy % 5) * len : d->dst + off;
            const uint8_t *bs = (const uint8_t *)base;
            if (yy == 0) {
                FIRST_LINE(uint8_t);
            } else {
                for (x = 0; x < len; x++)
                    v[x] = (uint8_t)(bs[x] + ctx_unzigzag(u[x]));
            }
            if (d->quantised) {
                unsigned lo = 255, hi = 0;
                for (x = 0; x < len; x++) {
                    lo = v[x] < lo ? v[x] : lo;
                    hi = v[x] > hi ? v[x] : hi;
                }
                if (lo < d->qlo || hi > d->qhi) {
                    rc = PZF_ERR_CORRUPT;
                    break;
                }
                if (isz == 1) {
                    for (x = 0; x < len; x++)
                        d->dst[off + x] = d->lut.u8[v[x]];
                } else if (isz == 2) {
                    uint16_t *o = (uint16_t *)d->dst + off;
                    for (x = 0; x < len; x++)
                        o[x] = d->lut.u16[v[x]];
                } else {
                    float *o = (float *)d->dst + off;
                    for (x = 0; x < len; x++)
                        o[x] = d->lut.f32[v[x]];
                }
            }
        } else {
            uint16_t *v = (uint16_t *)d->dst + off;
            if (yy == 0) {
                FIRST_LINE(uint16_t);
            } else {
                for (x = 0; x < len; x++)
                    v[x] = (uint16_t)(base[x] + ctx_unzigzag(u[x]));
            }
        }
    }
    for (j = 0; j < CTX_STATES && rc == PZF_OK; j++)
        if (ln.wp[j] != ln.we[j] || ln.x[j] != CTX_RANS_L)
            rc = PZF_ERR_CORRUPT;
    free(ctx);
    free(u);
    free(base);
    free(colsum);
    free(ring);
    d->status[b] = rc;
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
    uint8_t *tables = NULL;
    size_t c, b, ntab = 0, total;
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
    d.len = get_le32(p + 4);
    d.band_lines = get_le32(p + 8);
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
            uint32_t bits = get_le32(p);
            float f;
            memcpy(&f, &bits, 4);
            if (h->data_format == PZF_FLOAT32)
                d.lut.f32[q] = f;
            else if (h->data_format == PZF_UINT16)
                d.lut.u16[q] = (uint16_t)round_sat(f, 65535.0);
            else
                d.lut.u8[q] = (uint8_t)round_sat(f, 255.0);
        }
    }
    nctx = ctx_nctx(kind);
    /* slot tables: one per used context, plus the table of unused ones
     * (token 0 of frequency CTX_PROB_SCALE) */
    tables = (uint8_t *)calloc((size_t)(nctx + 1), CTX_PROB_SCALE);
    if (!tables)
        return PZF_ERR_NOMEM;
    for (c = 0; c < (size_t)nctx && rc == PZF_OK; c++) {
        uint32_t cum = 0, f;
        unsigned lo, cnt, s;
        if (p >= end) {
            rc = PZF_ERR_CORRUPT;
            break;
        }
        if (*p == CTX_UNUSED) {
            p++;
            d.sym[c] = tables;
            d.fc[c][0] = CTX_PROB_SCALE;
            d.k[c] = 0;
            continue;
        }
        if (end - p < 3 || p[0] > (kind == CTX_KIND_16 ? CTX_MAX_K : CTX_MAX_K8) ||
            p[1] + p[2] > 255) {
            rc = PZF_ERR_CORRUPT;
            break;
        }
        d.k[c] = p[0];
        if (p[0])
            d.raw8 = kind == CTX_KIND_8;
        lo = p[1];
        cnt = (unsigned)p[2] + 1;
        p += 3;
        ntab++;
        d.sym[c] = tables + ntab * CTX_PROB_SCALE;
        for (s = lo; s < lo + cnt && rc == PZF_OK; s++) {
            rc = get_varint(&p, end, &f);
            if (rc != PZF_OK || f > CTX_PROB_SCALE - cum) {
                rc = PZF_ERR_CORRUPT;
                break;
            }
            memset(tables + ntab * CTX_PROB_SCALE + cum, (int)s, f);
            d.fc[c][s] = f | cum << 16;
            cum += f;
        }
        if (rc == PZF_OK && cum != CTX_PROB_SCALE)
            rc = PZF_ERR_CORRUPT;
    }
    if (rc != PZF_OK)
        goto done;
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
        d.bsize[b] = get_le32(p + 4 * b);
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
    pzf_parallel_for(nthreads, d.nbands, band_task, &d);
    for (b = 0; b < d.nbands && rc == PZF_OK; b++)
        rc = d.status[b];
done:
    free(tables);
    free(d.bsrc);
    free(d.bsize);
    free(d.status);
    return rc;
}
