/*
 * bitstream.h - MSB-first bit writer and reader shared by the Huffman
 * encoder and decoder (header only, internal).
 *
 * Bits are packed most significant bit first within each byte, the layout
 * of Basic Compression Library (BCL) Huffman streams.
 */
#ifndef PZF_BITSTREAM_H
#define PZF_BITSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define PZF_INLINE static inline __attribute__((always_inline))
#define PZF_LIKELY(x) __builtin_expect(!!(x), 1)
#define PZF_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define PZF_INLINE static __inline
#define PZF_LIKELY(x) (x)
#define PZF_UNLIKELY(x) (x)
#endif

PZF_INLINE uint64_t pzf_load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__GNUC__) || defined(__clang__)
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
#else
    v = ((uint64_t)p[0] << 56) | ((uint64_t)p[1] << 48) | ((uint64_t)p[2] << 40) |
        ((uint64_t)p[3] << 32) | ((uint64_t)p[4] << 24) | ((uint64_t)p[5] << 16) |
        ((uint64_t)p[6] << 8) | (uint64_t)p[7];
#endif
    return v;
}

/* 4 bytes, the first in the low byte (little-endian order). */
PZF_INLINE uint32_t pzf_load_le32(const uint8_t *p)
{
#if (defined(__GNUC__) || defined(__clang__)) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#else
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
}

PZF_INLINE void pzf_store_be64(uint8_t *p, uint64_t v)
{
#if (defined(__GNUC__) || defined(__clang__)) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
#else
    int i;
    for (i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
#endif
}

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
