/*
 * huf_compress.c - Huffman encoder writing BCL-layout streams.
 *
 * Code lengths are optimal under a maximum length of PZF_HUF_MAX_BITS
 * (package-merge), so four codes fit in the 64-bit writer between flushes
 * and the decoder's table resolves nearly all of them in one lookup.  The
 * tree is the canonical tree of those lengths, written in BCL's pre-order
 * layout; any BCL decoder reads it.
 */
#include <stdlib.h>
#include <string.h>

#include "bitstream.h"
#include "cpu.h"
#include "huf.h"
#include "pzf.h"

/* Count symbols with eight interleaved tables: camera data repeats a few
 * symbols, and increments of one counter in a row would each wait for the
 * previous store.  With a table, the symbols are table[src[i]] for uint8
 * (width 1) or uint16 (width 2) values.  Every step-th value is counted. */
#define COUNT_WAYS 8
PZF_INLINE void count_impl(const void *src_, int width, const uint8_t *table, size_t n,
                           size_t step, uint64_t hist[256])
{
    const uint8_t *s8 = (const uint8_t *)src_;
    const uint16_t *s16 = (const uint16_t *)src_;
    uint32_t h[COUNT_WAYS][256];
    size_t i = 0;
    int s, k;
#define PZF_SYM(k) (table ? table[width == 2 ? s16[i + (k)] : s8[i + (k)]] : s8[i + (k)])
    memset(h, 0, sizeof h);
    while (i < n) {
        /* flush before a uint32 count could overflow */
        size_t stop = n - i > ((size_t)1 << 30) ? i + ((size_t)1 << 30) : n;
        for (; stop - i >= COUNT_WAYS * step; i += COUNT_WAYS * step) {
            for (k = 0; k < COUNT_WAYS; k++) /* unrolled by the compiler */
                h[k][PZF_SYM(k * step)]++;
        }
        for (; i < stop; i += step) /* may end past stop: the stride goes on */
            h[0][PZF_SYM(0)]++;
        for (s = 0; s < 256; s++) {
            for (k = 0; k < COUNT_WAYS; k++) {
                hist[s] += h[k][s];
                h[k][s] = 0;
            }
        }
    }
#undef PZF_SYM
}

void pzf_huf_count(const uint8_t *src, size_t n, uint64_t hist[256])
{
    count_impl(src, 1, NULL, n, 1, hist);
}

void pzf_huf_count_mapped(const void *src, int width, const uint8_t *table, size_t n,
                          size_t step, uint64_t hist[256])
{
    if (width == 2 && step == 1)
        count_impl(src, 2, table, n, 1, hist);
    else if (width == 2)
        count_impl(src, 2, table, n, step, hist);
    else
        count_impl(src, 1, table, n, step, hist);
}

/* Package-merge: optimal code lengths <= maxlen for n >= 2 symbols with
 * weights w[] sorted ascending (sym[] gives their symbol values). */
static void package_merge(const uint64_t *w, const uint8_t *sym, int n, int maxlen,
                          uint8_t len[256])
{
    uint64_t prev[512], cur[512];
    uint8_t is_leaf[PZF_HUF_MAX_BITS][512];
    int count[PZF_HUF_MAX_BITS];
    int level, i, m;

    /* level 0: the leaves */
    for (i = 0; i < n; i++) {
        prev[i] = w[i];
        is_leaf[0][i] = 1;
    }
    count[0] = n;
    for (level = 1; level < maxlen; level++) {
        int npk = count[level - 1] / 2, a = 0, b = 0, k = 0;
        /* merge leaves with packages (pairs of the previous list) */
        while (a < n || b < npk) {
            uint64_t pk = b < npk ? prev[2 * b] + prev[2 * b + 1] : 0;
            if (b >= npk || (a < n && w[a] <= pk)) {
                cur[k] = w[a++];
                is_leaf[level][k++] = 1;
            } else {
                cur[k] = pk;
                is_leaf[level][k++] = 0;
                b++;
            }
            if (k == 2 * n - 2)
                break; /* only the first 2n-2 items can ever be selected */
        }
        count[level] = k;
        memcpy(prev, cur, (size_t)k * sizeof cur[0]);
    }
    /* select 2n-2 items from the last list and expand packages downwards */
    for (i = 0; i < n; i++)
        len[sym[i]] = 0;
    m = 2 * n - 2;
    for (level = maxlen - 1; level >= 0 && m > 0; level--) {
        int leaves = 0;
        for (i = 0; i < m; i++)
            leaves += is_leaf[level][i];
        for (i = 0; i < leaves; i++)
            len[sym[i]]++;
        m = 2 * (m - leaves);
    }
}

void pzf_huf_plan_build(const uint8_t *src, size_t n, pzf_huf_plan *plan)
{
    uint64_t hist[256];
    memset(hist, 0, sizeof hist);
    pzf_huf_count(src, n, hist);
    pzf_huf_plan_init(hist, plan);
}

void pzf_huf_plan_init(const uint64_t hist[256], pzf_huf_plan *plan)
{
    uint64_t w[256];
    uint8_t sym[256];
    int nsym = 0, i, j, l;
    uint32_t code = 0;
    int prevlen = 0;

    memset(plan, 0, sizeof *plan);
    for (i = 0; i < 256; i++) {
        if (hist[i]) {
            /* insertion sort by weight, ties by symbol: deterministic */
            for (j = nsym; j > 0 && w[j - 1] > hist[i]; j--) {
                w[j] = w[j - 1];
                sym[j] = sym[j - 1];
            }
            w[j] = hist[i];
            sym[j] = (uint8_t)i;
            nsym++;
        }
    }
    if (nsym == 0)
        return; /* empty input: empty stream */
    plan->nsym = nsym;
    if (nsym == 1) {
        /* a single leaf: 1 bit + 8-bit symbol, no bits per symbol */
        plan->single = sym[0];
        return;
    }
    package_merge(w, sym, nsym, PZF_HUF_MAX_BITS, plan->len);
    /* canonical codes, in (length, symbol) order */
    for (l = 1; l <= PZF_HUF_MAX_BITS; l++) {
        for (i = 0; i < 256; i++) {
            if (plan->len[i] == l) {
                code <<= (l - prevlen);
                prevlen = l;
                plan->code[i] = code++;
            }
        }
    }
}

/* Write the canonical tree in BCL pre-order: leaves in canonical order are
 * the tree's leaves left to right; before each leaf come the internal nodes
 * opened since the previous one. */
static pzf_bitwriter write_tree(const pzf_huf_plan *plan, uint8_t *dst)
{
    pzf_bitwriter w, *bw = &w;
    int l, i, depth = 0;
    uint32_t prev = 0;
    int first = 1;
    pzf_bw_init(bw, dst);
    for (l = 1; l <= PZF_HUF_MAX_BITS; l++) {
        for (i = 0; i < 256; i++) {
            int start, k;
            if (plan->len[i] != l)
                continue;
            if (first) {
                start = 0;
                first = 0;
            } else {
                /* branch point of the previous code: drop its trailing 1s */
                int t = 0;
                while (t < depth && ((prev >> t) & 1))
                    t++;
                start = depth - t;
            }
            for (k = start; k < l; k++) {
                pzf_bw_add(bw, 0, 1);
                pzf_bw_flush_exact(bw);
            }
            pzf_bw_add(bw, 0x100u | (unsigned)i, 9);
            pzf_bw_flush_exact(bw);
            prev = plan->code[i];
            depth = l;
        }
    }
    return w;
}

/* Streams at least this long are coded two symbols per table lookup. */
#define PAIR_MIN_SYMBOLS ((size_t)1 << 16)

/* The symbol loop.  Symbols are bytes, or uint8/uint16 pixels mapped
 * through a table (the quantiser's), so quantised frames are coded straight
 * from their pixels.  Codes are kept left-aligned in 64 bits (codeL) so an
 * append is one shift and one OR.  With a pair table, two symbols are coded
 * per lookup: the entry is the two codes left-aligned with their total
 * length in the low 6 bits.  7 pending bits + 4 codes of <= 14 bits fit
 * between flushes; the 8-byte flush is used while it cannot pass the end of
 * the stream. */
PZF_INLINE int encode_body(const uint64_t *codeL, const uint8_t *len, const uint64_t *pair,
                           const void *src, int width, const uint8_t *table, size_t n,
                           pzf_bitwriter *bwp, const uint8_t *end)
{
    const uint8_t *s8 = (const uint8_t *)src;
    const uint16_t *s16 = (const uint16_t *)src;
    pzf_bitwriter bw = *bwp; /* a local copy lives in registers */
    size_t i = 0;
#define PZF_SYM(k) (table ? table[width == 2 ? s16[i + (k)] : s8[i + (k)]] : s8[i + (k)])
#define PZF_PUT(k)                                                              \
    do {                                                                        \
        unsigned s_ = PZF_SYM(k);                                               \
        bw.acc |= codeL[s_] >> bw.nbits;                                        \
        bw.nbits += len[s_];                                                    \
    } while (0)
    if (pair) {
        for (; i + 4 <= n && end - bw.ptr >= 16; i += 4) {
            uint64_t e0, e1;
            if (table) {
                e0 = pair[PZF_SYM(0) | (unsigned)PZF_SYM(1) << 8];
                e1 = pair[PZF_SYM(2) | (unsigned)PZF_SYM(3) << 8];
            } else {
                uint32_t w = pzf_load_le32(s8 + i); /* 4 symbols */
                e0 = pair[w & 0xFFFF];
                e1 = pair[w >> 16];
            }
            {
                /* join the two pairs first: one append per 4 symbols keeps
                 * the loop-carried chain through acc and nbits short */
                unsigned l0 = (unsigned)(e0 & 63);
                uint64_t x = (e0 & ~(uint64_t)63) | ((e1 & ~(uint64_t)63) >> l0);
                bw.acc |= x >> bw.nbits;
                bw.nbits += l0 + (unsigned)(e1 & 63);
            }
            pzf_bw_flush(&bw);
        }
    } else {
        for (; i + 4 <= n && end - bw.ptr >= 16; i += 4) {
            PZF_PUT(0);
            PZF_PUT(1);
            PZF_PUT(2);
            PZF_PUT(3);
            pzf_bw_flush(&bw);
        }
    }
    for (; i < n; i++) {
        PZF_PUT(0);
        if ((size_t)(end - bw.ptr) < bw.nbits / 8)
            return PZF_ERR_DST_SIZE;
        pzf_bw_flush_exact(&bw);
    }
#undef PZF_PUT
#undef PZF_SYM
    *bwp = bw;
    return PZF_OK;
}

typedef int (*encode_fn)(const uint64_t *, const uint8_t *, const uint64_t *, const void *,
                          const uint8_t *, size_t, pzf_bitwriter *, const uint8_t *);

/* One specialisation per symbol source, each also built for BMI2's
 * flag-free shifts (chosen at run time). */
#define PZF_DEFINE_ENCODERS(SUFFIX, ATTR)                                       \
    ATTR static int encode_bytes##SUFFIX(                                       \
        const uint64_t *c, const uint8_t *l, const uint64_t *p, const void *s,  \
        const uint8_t *t, size_t n, pzf_bitwriter *bw, const uint8_t *e)        \
    {                                                                           \
        (void)t;                                                                \
        return encode_body(c, l, p, s, 1, NULL, n, bw, e);                      \
    }                                                                           \
    ATTR static int encode_map8##SUFFIX(                                        \
        const uint64_t *c, const uint8_t *l, const uint64_t *p, const void *s,  \
        const uint8_t *t, size_t n, pzf_bitwriter *bw, const uint8_t *e)        \
    {                                                                           \
        return encode_body(c, l, p, s, 1, t, n, bw, e);                         \
    }                                                                           \
    ATTR static int encode_map16##SUFFIX(                                       \
        const uint64_t *c, const uint8_t *l, const uint64_t *p, const void *s,  \
        const uint8_t *t, size_t n, pzf_bitwriter *bw, const uint8_t *e)        \
    {                                                                           \
        return encode_body(c, l, p, s, 2, t, n, bw, e);                         \
    }

PZF_DEFINE_ENCODERS(, )
#ifdef PZF_HAVE_TARGET
PZF_DEFINE_ENCODERS(_bmi2, PZF_TARGET("bmi2"))
#define PZF_HAVE_BMI2_LOOP 1
#endif

static encode_fn pick_encoder(int width, const uint8_t *table)
{
#ifdef PZF_HAVE_BMI2_LOOP
    if (pzf_cpu_has_bmi2())
        return !table ? encode_bytes_bmi2 : width == 2 ? encode_map16_bmi2 : encode_map8_bmi2;
#endif
    return !table ? encode_bytes : width == 2 ? encode_map16 : encode_map8;
}

/* Pair table over the symbols present (entries of absent pairs are never
 * read, so they stay uninitialised).  NULL if not worth it or no memory. */
static uint64_t *pair_table(const pzf_huf_plan *plan, size_t n)
{
    uint8_t present[256];
    uint64_t *pair;
    int a, b, np = 0;
    if (n < PAIR_MIN_SYMBOLS)
        return NULL;
    pair = (uint64_t *)malloc(sizeof(uint64_t) << 16);
    if (!pair)
        return NULL;
    for (a = 0; a < 256; a++)
        if (plan->len[a])
            present[np++] = (uint8_t)a;
    for (a = 0; a < np; a++) {
        unsigned s1 = present[a], l1 = plan->len[s1];
        for (b = 0; b < np; b++) {
            unsigned s2 = present[b], l = l1 + plan->len[s2];
            uint64_t code = (uint64_t)plan->code[s1] << plan->len[s2] | plan->code[s2];
            pair[s1 | s2 << 8] = code << (64 - l) | l;
        }
    }
    return pair;
}

int64_t pzf_huf_encode_mapped(const pzf_huf_plan *plan, const void *src, int width,
                              const uint8_t *table, size_t n, uint8_t *dst, size_t cap)
{
    pzf_bitwriter bw;
    uint64_t codeL[256], *pair;
    int s, rc;

    if (n == 0)
        return 0;
    if (plan->nsym == 1) {
        if (cap < 2)
            return PZF_ERR_DST_SIZE;
        pzf_bw_init(&bw, dst);
        pzf_bw_add(&bw, 0x100u | plan->single, 9);
        pzf_bw_finish(&bw);
        return 2;
    }
    if (cap < (size_t)(10 * plan->nsym + 7) / 8) /* the tree must fit */
        return PZF_ERR_DST_SIZE;
    bw = write_tree(plan, dst);
    for (s = 0; s < 256; s++)
        codeL[s] = plan->len[s] ? (uint64_t)plan->code[s] << (64 - plan->len[s]) : 0;
    pair = pair_table(plan, n);
    rc = pick_encoder(width, table)(codeL, plan->len, pair, src, table, n, &bw, dst + cap);
    free(pair);
    if (rc != PZF_OK || (bw.nbits && bw.ptr == dst + cap))
        return PZF_ERR_DST_SIZE;
    return (int64_t)(pzf_bw_finish(&bw) - dst);
}

int64_t pzf_huf_encode(const pzf_huf_plan *plan, const uint8_t *src, size_t n, uint8_t *dst,
                       size_t cap)
{
    return pzf_huf_encode_mapped(plan, src, 1, NULL, n, dst, cap);
}

/* ---- planning from a sample --------------------------------------------
 * Large blocks are planned from a sample of their symbols; every symbol
 * that may occur keeps a code: for quantised uint8/uint16 pixels those the
 * monotonic quantiser produces between the block's smallest and largest
 * pixel, for bytes all 256 (so a sample that misses more than a few of them
 * means an exact count).  A block whose sampled code does not fit is
 * counted exactly and coded again. */
/* Blocks of at least this many symbols are planned from every
 * SAMPLE_STEP-th symbol (odd, so the bytes of 2-, 4- or 8-byte values are
 * all sampled). */
#define SAMPLE_MIN_PIXELS ((size_t)1 << 16)
#define SAMPLE_STEP 7
/* More unseen possible symbols than this: count exactly instead. */
#define SAMPLE_MAX_UNSEEN 64

/* Smallest and largest of n pixels (a loop compilers vectorise; built
 * again for AVX2, which has unsigned 16-bit min/max, chosen at run time). */
#define PZF_DEFINE_RANGE(NAME, ATTR, T)                                         \
    ATTR static void NAME(const T *x, size_t n, unsigned *lo, unsigned *hi)     \
    {                                                                           \
        T a = (T)~(T)0, b = 0;                                                  \
        size_t i;                                                               \
        for (i = 0; i < n; i++) {                                               \
            a = x[i] < a ? x[i] : a;                                            \
            b = x[i] > b ? x[i] : b;                                            \
        }                                                                       \
        *lo = a;                                                                \
        *hi = b;                                                                \
    }
PZF_DEFINE_RANGE(range_u8, , uint8_t)
PZF_DEFINE_RANGE(range_u16, , uint16_t)
#ifdef PZF_HAVE_TARGET
PZF_DEFINE_RANGE(range_u16_avx2, PZF_TARGET("avx2"), uint16_t)
#endif

/* Smallest and largest of n uint8 (width 1) or uint16 pixels, updating
 * *lo and *hi. */
static void range_update(const void *src, int width, size_t n, unsigned *lo, unsigned *hi)
{
    unsigned a, b;
    if (width == 1)
        range_u8((const uint8_t *)src, n, &a, &b);
#ifdef PZF_HAVE_TARGET
    else if (pzf_cpu_features() & PZF_CPU_AVX2)
        range_u16_avx2((const uint16_t *)src, n, &a, &b);
#endif
    else
        range_u16((const uint16_t *)src, n, &a, &b);
    *lo = a < *lo ? a : *lo;
    *hi = b > *hi ? b : *hi;
}

/* Pixels per block of the sampling pass: a multiple of SAMPLE_STEP, and
 * small enough to stay in cache between the range scan and the count. */
#define SAMPLE_BLOCK ((size_t)SAMPLE_STEP << 12)

/* Plan from a sample of a block's symbols: the bytes at src, or table[v]
 * of its uint8/uint16 pixels v.  1 if done, 0 if an exact count is needed. */
static int plan_sampled(const uint8_t *table, const void *src, int width, size_t n,
                        pzf_huf_plan *plan)
{
    uint64_t hist[256];
    unsigned lo = 65535, hi = 0, s, unseen = 0;
    size_t i;
    memset(hist, 0, sizeof hist);
    /* block by block, so the pixels are read from memory once */
    for (i = 0; i < n; i += SAMPLE_BLOCK) {
        size_t len = n - i < SAMPLE_BLOCK ? n - i : SAMPLE_BLOCK;
        const uint8_t *block = (const uint8_t *)src + i * (size_t)width;
        if (table) /* the quantiser is monotonic: symbols lie between these */
            range_update(block, width, len, &lo, &hi);
        pzf_huf_count_mapped(block, width, table, len, SAMPLE_STEP, hist);
    }
    if (table) {
        lo = table[lo];
        hi = table[hi];
    } else {
        lo = 0;
        hi = 255;
    }
    for (s = lo; s <= hi; s++) {
        hist[s] *= SAMPLE_STEP;
        if (!hist[s]) {
            hist[s] = 1;
            unseen++;
        }
    }
    if (unseen > SAMPLE_MAX_UNSEEN)
        return 0;
    pzf_huf_plan_init(hist, plan);
    return 1;
}

int64_t pzf_huf_compress_mapped(const void *src, int width, const uint8_t *table, size_t n,
                                uint8_t *dst, size_t cap)
{
    pzf_huf_plan plan;
    uint64_t hist[256];
    int64_t rc;

    if (n >= SAMPLE_MIN_PIXELS && plan_sampled(table, src, width, n, &plan)) {
        rc = pzf_huf_encode_mapped(&plan, src, width, table, n, dst, cap);
        if (rc >= 0)
            return rc;
    }
    memset(hist, 0, sizeof hist);
    pzf_huf_count_mapped(src, width, table, n, 1, hist);
    pzf_huf_plan_init(hist, &plan);
    return pzf_huf_encode_mapped(&plan, src, width, table, n, dst, cap);
}

size_t pzf_huf_bound(size_t n)
{
    /* tree <= 2559 bits; length-limited optimal codes average <= 8 bits */
    return n > SIZE_MAX - 321 ? 0 : n + 321;
}

int64_t pzf_huf_compress(const uint8_t *src, size_t n, uint8_t *dst,
                         size_t dst_capacity)
{
    pzf_huf_plan plan;
    if ((!src && n) || (!dst && dst_capacity))
        return PZF_ERR_ARGUMENT;
    pzf_huf_plan_build(src, n, &plan);
    return pzf_huf_encode(&plan, src, n, dst, dst_capacity);
}
