/*
 * huf.h - internal interface of the Huffman coder (BCL stream layout).
 */
#ifndef PZF_HUF_H
#define PZF_HUF_H

#include <stddef.h>
#include <stdint.h>

/* Longest code the encoder emits (15 costs < 0.2% against unlimited
 * Huffman codes on camera data).  The decoder handles any depth. */
#define PZF_HUF_MAX_BITS 15
/* Bits resolved per decoder table lookup. */
#define PZF_HUF_TABLE_BITS 11

/* Everything needed to encode one block: built from a histogram, it also
 * knows the exact stream size, so callers can place streams before coding. */
typedef struct {
    uint32_t code[256];
    uint8_t len[256];
    int nsym;          /* distinct symbols present                       */
    int maxlen;        /* longest code length                            */
    uint8_t single;    /* the symbol, when nsym == 1                      */
    uint64_t nbytes;   /* exact size of the stream                        */
} pzf_huf_plan;

/* Histogram, length-limited code and exact size of src[0..n). */
void pzf_huf_plan_build(const uint8_t *src, size_t n, pzf_huf_plan *plan);
/* Encode with a plan into dst, which must hold plan->nbytes bytes (nothing
 * is written past them).  Returns plan->nbytes. */
size_t pzf_huf_encode(const pzf_huf_plan *plan, const uint8_t *src, size_t n,
                      uint8_t *dst);

/* Decoder output kinds: bytes, or symbols mapped through a 256-entry
 * look-up table of uint8, uint16 or uint32 (float32 bits) values. */
enum { PZF_SINK_U8 = 0, PZF_SINK_LUT8, PZF_SINK_LUT16, PZF_SINK_LUT32 };

/* Decode n symbols from src[0..src_size) into dst (n elements of the sink's
 * type).  Returns 0 or PZF_ERR_CORRUPT. */
int pzf_huf_decode(const uint8_t *src, size_t src_size, void *dst, size_t n,
                   int sink, const void *lut);

#endif
