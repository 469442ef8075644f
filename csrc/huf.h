/*
 * huf.h - internal interface of the Huffman coder (BCL stream layout).
 */
#ifndef PZF_HUF_H
#define PZF_HUF_H

#include <stddef.h>
#include <stdint.h>

/* Longest code the encoder emits: 4 codes (or 2 pairs) fit between two
 * flushes of the 64-bit writer, and it costs < 0.5% against unlimited
 * Huffman codes on camera data.  The decoder handles any depth. */
#define PZF_HUF_MAX_BITS 14
/* Bits resolved per decoder table lookup. */
#define PZF_HUF_TABLE_BITS 11

/* A length-limited code: everything needed to encode a block. */
typedef struct {
    uint32_t code[256];
    uint8_t len[256];
    int nsym;          /* symbols with a code                            */
    uint8_t single;    /* the symbol, when nsym == 1                      */
} pzf_huf_plan;

/* Add the symbol counts of src[0..n) to hist. */
void pzf_huf_count(const uint8_t *src, size_t n, uint64_t hist[256]);
/* The same for the symbols table[v] of every step-th of n uint8 (width 1)
 * or uint16 (width 2) values v; table has 256 or 65536 entries. */
void pzf_huf_count_mapped(const void *src, int width, const uint8_t *table, size_t n,
                          size_t step, uint64_t hist[256]);
/* Length-limited code for a histogram (symbols with a count get a code). */
void pzf_huf_plan_init(const uint64_t hist[256], pzf_huf_plan *plan);
/* Both: the plan of src[0..n). */
void pzf_huf_plan_build(const uint8_t *src, size_t n, pzf_huf_plan *plan);
/* Encode src[0..n) into dst[0..cap).  Returns the stream size, or
 * PZF_ERR_DST_SIZE if it does not fit (never with the plan of src's own
 * counts and cap >= pzf_huf_bound(n)); nothing is written past cap. */
int64_t pzf_huf_encode(const pzf_huf_plan *plan, const uint8_t *src, size_t n, uint8_t *dst,
                       size_t cap);
/* The same for the symbols table[v] of uint8/uint16 values (see above). */
int64_t pzf_huf_encode_mapped(const pzf_huf_plan *plan, const void *src, int width,
                              const uint8_t *table, size_t n, uint8_t *dst, size_t cap);

/* Plan and encode n symbols (bytes, or mapped as above): blocks of 2^16
 * symbols or more are planned from a sample, with an exact count when the
 * sample misses too many possible symbols or its code does not fit cap.
 * Returns the stream size or an error; never PZF_ERR_DST_SIZE when
 * cap >= pzf_huf_bound(n).  The result depends only on the input. */
int64_t pzf_huf_compress_mapped(const void *src, int width, const uint8_t *table, size_t n,
                                uint8_t *dst, size_t cap);

/* Decoder output kinds: bytes, or symbols mapped through a 256-entry
 * look-up table of uint8, uint16 or uint32 (float32 bits) values. */
enum { PZF_SINK_U8 = 0, PZF_SINK_LUT8, PZF_SINK_LUT16, PZF_SINK_LUT32 };

/* Decode n symbols from src[0..src_size) into dst (n elements of the sink's
 * type).  Returns 0 or PZF_ERR_CORRUPT. */
int pzf_huf_decode(const uint8_t *src, size_t src_size, void *dst, size_t n,
                   int sink, const void *lut);

#endif
