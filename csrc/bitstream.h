/*
 * bitstream.h - MSB-first bit writer and reader shared by the Huffman
 * encoder and decoder (header only, internal).
 *
 * Bits are packed most significant bit first within each byte, the layout
 * of Basic Compression Library (BCL) Huffman streams.
 */
#ifndef PZF_BITSTREAM_H
#define PZF_BITSTREAM_H

#include "compat.h"

/* ---- writer ------------------------------------------------------------
 * acc holds nbits pending bits left-aligned (most significant first).
 * Appending only ORs a shifted code in, so consecutive appends do not wait
 * on each other.  pzf_bw_flush writes every complete byte with one 8-byte
 * store, so it needs 8 writable bytes at ptr; pzf_bw_flush_exact writes byte
 * by byte and never past the last complete byte.  nbits + len <= 64 must
 * hold for every append. */
typedef struct {
    uint64_t acc;
    unsigned nbits;
    uint8_t *ptr;
} pzf_bitwriter;

PZF_INLINE void pzf_bw_init(pzf_bitwriter *bw, uint8_t *dst)
{
    bw->acc = 0;
    bw->nbits = 0;
    bw->ptr = dst;
}

/* Append the len low bits of code (1 <= len, code < 2^len). */
PZF_INLINE void pzf_bw_add(pzf_bitwriter *bw, uint32_t code, unsigned len)
{
    bw->nbits += len;
    bw->acc |= (uint64_t)code << (64 - bw->nbits);
}

/* Needs nbits <= 63, which the 4-codes-per-flush rule guarantees. */
PZF_INLINE void pzf_bw_flush(pzf_bitwriter *bw)
{
    unsigned whole = bw->nbits & ~7u; /* <= 56 */
    pzf_store_be64(bw->ptr, bw->acc);
    bw->ptr += whole >> 3;
    bw->acc <<= whole;
    bw->nbits -= whole;
}

PZF_INLINE void pzf_bw_flush_exact(pzf_bitwriter *bw)
{
    while (bw->nbits >= 8) {
        *bw->ptr++ = (uint8_t)(bw->acc >> 56);
        bw->acc <<= 8;
        bw->nbits -= 8;
    }
}

/* Flush and pad the last byte with zero bits; returns the end pointer. */
PZF_INLINE uint8_t *pzf_bw_finish(pzf_bitwriter *bw)
{
    pzf_bw_flush_exact(bw);
    if (bw->nbits) {
        *bw->ptr++ = (uint8_t)(bw->acc >> 56);
        bw->acc = 0;
        bw->nbits = 0;
    }
    return bw->ptr;
}

/* ---- reader ------------------------------------------------------------
 * acc holds `bits` valid bits left-aligned.  Past the end of the input the
 * reader supplies zero bits and counts them in `over`, so it never reads
 * outside src; a decoder checks pzf_br_overrun() before trusting output. */
typedef struct {
    uint64_t acc;
    unsigned bits;
    const uint8_t *ptr, *end;
    uint64_t over; /* zero bytes supplied past the end */
} pzf_bitreader;

PZF_INLINE void pzf_br_refill(pzf_bitreader *br)
{
    if (PZF_LIKELY(br->end - br->ptr >= 8)) {
        br->acc |= pzf_load_be64(br->ptr) >> br->bits;
        br->ptr += (63 - br->bits) >> 3;
        br->bits |= 56;
    } else {
        while (br->bits <= 56) {
            uint64_t byte = 0;
            if (br->ptr < br->end)
                byte = *br->ptr++;
            else
                br->over++;
            br->acc |= byte << (56 - br->bits);
            br->bits += 8;
        }
    }
}

PZF_INLINE void pzf_br_init(pzf_bitreader *br, const uint8_t *src, size_t n)
{
    br->acc = 0;
    br->bits = 0;
    br->ptr = src;
    br->end = src + n;
    br->over = 0;
    pzf_br_refill(br);
}

/* Peek the next n bits (1 <= n <= bits). */
PZF_INLINE uint32_t pzf_br_peek(const pzf_bitreader *br, unsigned n)
{
    return (uint32_t)(br->acc >> (64 - n));
}

PZF_INLINE void pzf_br_skip(pzf_bitreader *br, unsigned n)
{
    br->acc <<= n;
    br->bits -= n;
}

/* Read n bits (n <= 32); refills as needed. */
PZF_INLINE uint32_t pzf_br_read(pzf_bitreader *br, unsigned n)
{
    uint32_t v;
    if (n == 0)
        return 0;
    if (br->bits < n)
        pzf_br_refill(br);
    v = pzf_br_peek(br, n);
    pzf_br_skip(br, n);
    return v;
}

/* Did the decoder consume bits that were not in the input? */
PZF_INLINE int pzf_br_overrun(const pzf_bitreader *br)
{
    return br->over * 8 > br->bits;
}

#endif /* PZF_BITSTREAM_H */
