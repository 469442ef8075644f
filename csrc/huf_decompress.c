/*
 * huf_decompress.c - table-driven decoder of BCL-layout Huffman streams.
 *
 * The code tree is read from the stream (any shape with at most 256
 * leaves, hence any depth up to 255), then turned into a table resolving
 * PZF_HUF_TABLE_BITS bits per lookup; longer codes continue bit by bit from
 * the tree node the table points to.  For long streams a second table
 * resolves up to 4 whole symbols per lookup, which breaks the latency chain
 * of one-symbol-per-lookup decoding (the gain is largest for the short
 * codes of quantised camera frames).  The bit reader never touches memory
 * outside the input: past its end it supplies zero bits, and a stream that
 * needed them is reported as corrupt.
 */
#include <string.h>

#include "bitstream.h"
#include "huf.h"
#include "pzf.h"

#define TB PZF_HUF_TABLE_BITS
#define MAX_NODES 511
#define LONG_FLAG 0x8000u
/* Streams of at least this many symbols get the multi-symbol table. */
#define MULTI_MIN_SYMBOLS ((size_t)8 << TB)

typedef struct {
    uint16_t child[MAX_NODES][2];
    uint8_t sym[MAX_NODES];
    uint8_t leaf[MAX_NODES];
    uint16_t table[1u << TB]; /* leaf: sym | len << 8; else LONG_FLAG | node */
    uint32_t msym[1u << TB];  /* up to 4 symbols, the first in the low byte  */
    uint16_t mmeta[1u << TB]; /* bits used | count << 8; count 0: long code   */
} huf_tree;

/* Read the pre-order tree.  Returns 0 or PZF_ERR_CORRUPT. */
static int read_tree(pzf_bitreader *br, huf_tree *t)
{
    /* slots still to fill, as node * 2 + side; the root fills slot 0 */
    uint16_t stack[MAX_NODES + 1];
    int sp = 0, nnodes = 0, nleaves = 0;
    stack[sp++] = 0;
    while (sp > 0) {
        unsigned slot = stack[--sp];
        int node;
        if (nnodes == MAX_NODES)
            return PZF_ERR_CORRUPT;
        node = nnodes++;
        if (node > 0)
            t->child[slot >> 1][slot & 1] = (uint16_t)node;
        if (pzf_br_read(br, 1)) {
            if (++nleaves > 256)
                return PZF_ERR_CORRUPT;
            t->leaf[node] = 1;
            t->sym[node] = (uint8_t)pzf_br_read(br, 8);
        } else {
            t->leaf[node] = 0;
            stack[sp++] = (uint16_t)(node * 2 + 1); /* branch 1 after ... */
            stack[sp++] = (uint16_t)(node * 2);     /* ... branch 0 first */
        }
        if (pzf_br_overrun(br))
            return PZF_ERR_CORRUPT;
    }
    return 0;
}

/* Fill the lookup table from the tree (root must be internal). */
static void build_table(huf_tree *t)
{
    struct { uint16_t node; uint8_t depth; uint32_t code; } stack[MAX_NODES];
    int sp = 0;
    stack[sp].node = 0;
    stack[sp].depth = 0;
    stack[sp++].code = 0;
    while (sp > 0) {
        unsigned node = stack[--sp].node, depth = stack[sp].depth;
        uint32_t code = stack[sp].code;
        if (t->leaf[node]) {
            uint32_t first = code << (TB - depth), count = 1u << (TB - depth), k;
            uint16_t e = (uint16_t)(t->sym[node] | depth << 8);
            for (k = 0; k < count; k++)
                t->table[first + k] = e;
        } else if (depth == TB) {
            t->table[code] = (uint16_t)(LONG_FLAG | node);
        } else {
            int side;
            for (side = 0; side < 2; side++) {
                stack[sp].node = t->child[node][side];
                stack[sp].depth = (uint8_t)(depth + 1);
                stack[sp++].code = code << 1 | (uint32_t)side;
            }
        }
    }
}

/* The multi-symbol table: every whole code that fits in the TB bits,
 * up to 4, found by chaining lookups of the one-symbol table. */
static void build_multi(huf_tree *t)
{
    const uint32_t mask = (1u << TB) - 1;
    uint32_t v;
    for (v = 0; v <= mask; v++) {
        unsigned pos = 0, k = 0;
        uint32_t syms = 0;
        while (k < 4) {
            unsigned e = t->table[(v << pos) & mask];
            if ((e & LONG_FLAG) || pos + (e >> 8) > TB)
                break;
            syms |= (uint32_t)(e & 0xFFu) << (8 * k++);
            pos += e >> 8;
        }
        t->msym[v] = syms;
        t->mmeta[v] = (uint16_t)(pos | k << 8);
    }
}

/* A code longer than the table: walk the tree from the table's node.
 * (Inlined like everything the loops call, so the bit reader stays in
 * registers: byte stores to the output could alias it otherwise.) */
PZF_INLINE unsigned decode_long(const huf_tree *t, pzf_bitreader *br, unsigned node)
{
    pzf_br_skip(br, TB);
    while (!t->leaf[node]) {
        if (br->bits == 0)
            pzf_br_refill(br);
        node = t->child[node][pzf_br_peek(br, 1)];
        pzf_br_skip(br, 1);
    }
    pzf_br_refill(br); /* callers expect a full buffer again */
    return t->sym[node];
}

PZF_INLINE unsigned decode_one(const huf_tree *t, pzf_bitreader *br)
{
    unsigned e = t->table[pzf_br_peek(br, TB)];
    if (PZF_UNLIKELY(e & LONG_FLAG))
        return decode_long(t, br, e & 0x1FFu);
    pzf_br_skip(br, e >> 8);
    return e & 0xFFu;
}

/* The decode loops, specialised by the compiler for each output mapping.
 * After a refill at least 56 bits are buffered, enough for 4 lookups of <=
 * TB bits; decode_long refills on its own.  The multi-symbol loop stores 4
 * symbols per lookup (the extra ones are overwritten later), so it stops
 * 16 symbols before the end. */
#define PZF_DEFINE_DECODE(NAME, T, MAP)                                         \
    static int NAME(const huf_tree *t, const pzf_bitreader *br0, T *out,        \
                    size_t n, const T *lut, int multi)                          \
    {                                                                           \
        pzf_bitreader b = *br0, *br = &b; /* a local copy lives in registers */ \
        size_t i = 0;                                                           \
        int k;                                                                  \
        (void)lut;                                                              \
        while (multi && n - i >= 16 && br->end - br->ptr >= 8) {                \
            pzf_br_refill(br);                                                  \
            for (k = 0; k < 4; k++) {                                           \
                uint32_t v_ = pzf_br_peek(br, TB);                              \
                unsigned m_ = t->mmeta[v_];                                     \
                if (PZF_UNLIKELY(m_ < 256)) {                                   \
                    out[i++] = MAP(decode_long(t, br, t->table[v_] & 0x1FFu));  \
                } else {                                                        \
                    uint32_t s_ = t->msym[v_];                                  \
                    out[i] = MAP(s_ & 0xFF);                                    \
                    out[i + 1] = MAP((s_ >> 8) & 0xFF);                         \
                    out[i + 2] = MAP((s_ >> 16) & 0xFF);                        \
                    out[i + 3] = MAP(s_ >> 24);                                 \
                    i += m_ >> 8;                                               \
                    pzf_br_skip(br, m_ & 0xFF);                                 \
                }                                                               \
            }                                                                   \
        }                                                                       \
        while (n - i >= 4 && br->end - br->ptr >= 8) {                          \
            pzf_br_refill(br);                                                  \
            out[i] = MAP(decode_one(t, br));                                    \
            out[i + 1] = MAP(decode_one(t, br));                                \
            out[i + 2] = MAP(decode_one(t, br));                                \
            out[i + 3] = MAP(decode_one(t, br));                                \
            i += 4;                                                             \
        }                                                                       \
        for (; i < n; i++) {                                                    \
            pzf_br_refill(br);                                                  \
            out[i] = MAP(decode_one(t, br));                                    \
            if (pzf_br_overrun(br))                                             \
                return PZF_ERR_CORRUPT;                                         \
        }                                                                       \
        return pzf_br_overrun(br) ? PZF_ERR_CORRUPT : 0;                        \
    }
#define PZF_SYMBOL(s) ((uint8_t)(s))
#define PZF_LOOKUP(s) (lut[s])
PZF_DEFINE_DECODE(decode_bytes, uint8_t, PZF_SYMBOL)
PZF_DEFINE_DECODE(decode_lut8, uint8_t, PZF_LOOKUP)
PZF_DEFINE_DECODE(decode_lut16, uint16_t, PZF_LOOKUP)
PZF_DEFINE_DECODE(decode_lut32, uint32_t, PZF_LOOKUP)

static void fill(void *dst, size_t n, int sink, const void *lut, unsigned sym)
{
    size_t i;
    switch (sink) {
    case PZF_SINK_U8:
        memset(dst, (int)sym, n);
        break;
    case PZF_SINK_LUT8:
        memset(dst, ((const uint8_t *)lut)[sym], n);
        break;
    case PZF_SINK_LUT16: {
        uint16_t v = ((const uint16_t *)lut)[sym], *o = (uint16_t *)dst;
        for (i = 0; i < n; i++) o[i] = v;
        break;
    }
    default: {
        uint32_t v = ((const uint32_t *)lut)[sym], *o = (uint32_t *)dst;
        for (i = 0; i < n; i++) o[i] = v;
        break;
    }
    }
}

int pzf_huf_decode(const uint8_t *src, size_t src_size, void *dst, size_t n,
                   int sink, const void *lut)
{
    huf_tree t;
    pzf_bitreader br;
    int rc, multi;

    if (n == 0)
        return 0;
    if (src_size == 0)
        return PZF_ERR_CORRUPT;
    pzf_br_init(&br, src, src_size);
    if ((rc = read_tree(&br, &t)) != 0)
        return rc;
    if (t.leaf[0]) { /* one symbol: no bits per symbol (any that follow are ignored) */
        fill(dst, n, sink, lut, t.sym[0]);
        return 0;
    }
    build_table(&t);
    if ((multi = n >= MULTI_MIN_SYMBOLS))
        build_multi(&t);
    switch (sink) {
    case PZF_SINK_U8:
        return decode_bytes(&t, &br, (uint8_t *)dst, n, NULL, multi);
    case PZF_SINK_LUT8:
        return decode_lut8(&t, &br, (uint8_t *)dst, n, (const uint8_t *)lut, multi);
    case PZF_SINK_LUT16:
        return decode_lut16(&t, &br, (uint16_t *)dst, n, (const uint16_t *)lut, multi);
    case PZF_SINK_LUT32:
        return decode_lut32(&t, &br, (uint32_t *)dst, n, (const uint32_t *)lut, multi);
    default:
        return PZF_ERR_ARGUMENT;
    }
}

int64_t pzf_huf_decompress(const uint8_t *src, size_t src_size, uint8_t *dst,
                           size_t out_size)
{
    int rc;
    if ((!src && src_size) || (!dst && out_size))
        return PZF_ERR_ARGUMENT;
    rc = pzf_huf_decode(src, src_size, dst, out_size, PZF_SINK_U8, NULL);
    return rc ? rc : (int64_t)out_size;
}
