/*
 * compat.h - the one home of compiler- and platform-specific constructs in
 * the C core (internal, header only).
 *
 * Every other file of the core is plain C99 and reaches compiler extensions
 * only through the macros and inline functions below, each of which has a
 * portable fallback.  Recognised compilers: GCC and clang (PZF_GNUC), and
 * Microsoft's (PZF_MSVC; clang-cl counts as clang).  The byte order helpers
 * read and write little-endian and big-endian fields on any host.
 */
#ifndef PZF_COMPAT_H
#define PZF_COMPAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- compiler and architecture --------------------------------------- */
#if defined(__GNUC__) || defined(__clang__)
#define PZF_GNUC 1
#elif defined(_MSC_VER)
#define PZF_MSVC 1
#include <intrin.h>
#include <stdlib.h> /* _byteswap_uint64 */
#endif

#if defined(__x86_64__) || defined(_M_X64) || defined(_M_AMD64)
#define PZF_X86_64 1
#endif

/* ---- function attributes --------------------------------------------- */
#if defined(PZF_GNUC)
#define PZF_INLINE static inline __attribute__((always_inline))
#define PZF_LIKELY(x) __builtin_expect(!!(x), 1)
#define PZF_UNLIKELY(x) __builtin_expect(!!(x), 0)
#elif defined(PZF_MSVC)
#define PZF_INLINE static __forceinline
#define PZF_LIKELY(x) (x)
#define PZF_UNLIKELY(x) (x)
#else
#define PZF_INLINE static inline
#define PZF_LIKELY(x) (x)
#define PZF_UNLIKELY(x) (x)
#endif

/* PZF_TARGET("avx2"): compile one function for an instruction set beyond
 * the build's baseline, to be called only after run-time detection (cpu.h).
 * PZF_HAVE_TARGET is defined where the compiler supports it (GCC and clang
 * on x86-64).  MSVC compiles the intrinsics of any instruction set without
 * it, which PZF_HAVE_X86_INTRINSICS tells. */
#if defined(PZF_X86_64) && defined(PZF_GNUC)
#define PZF_TARGET(isa) __attribute__((target(isa)))
#define PZF_HAVE_TARGET 1
#define PZF_HAVE_X86_INTRINSICS 1
#elif defined(PZF_X86_64) && defined(PZF_MSVC)
#define PZF_TARGET(isa)
#define PZF_HAVE_X86_INTRINSICS 1
#else
#define PZF_TARGET(isa)
#endif

/* PZF_EXPORT: a symbol a shared library exports (the HDF5 plugin's entry
 * points; the core itself is built with hidden visibility).
 * PZF_RETURN_ADDRESS(): where the current function returns to. */
#if defined(_WIN32)
#define PZF_EXPORT __declspec(dllexport)
#elif defined(PZF_GNUC)
#define PZF_EXPORT __attribute__((visibility("default")))
#else
#define PZF_EXPORT
#endif
#if defined(PZF_GNUC)
#define PZF_RETURN_ADDRESS() __builtin_return_address(0)
#elif defined(PZF_MSVC)
#define PZF_RETURN_ADDRESS() _ReturnAddress()
#endif

/* Index of the lowest set bit of m (m != 0). */
PZF_INLINE unsigned pzf_ctz32(uint32_t m)
{
#if defined(PZF_GNUC)
    return (unsigned)__builtin_ctz(m);
#elif defined(PZF_MSVC)
    unsigned long l;
    _BitScanForward(&l, m);
    return (unsigned)l;
#else
    unsigned l = 0;
    while (!(m & 1u)) {
        m >>= 1;
        l++;
    }
    return l;
#endif
}

/* ---- a value computed once and shared between threads -----------------
 * Relaxed atomic load and store of an int: racing first computations of
 * the same value may both store it, which is harmless but must not be a
 * data race (ThreadSanitizer).  Without atomics, PZF_HAVE_ATOMIC_INT is
 * undefined and callers recompute instead of caching. */
#if defined(PZF_GNUC)
#define PZF_HAVE_ATOMIC_INT 1
typedef int pzf_atomic_int;
#define pzf_atomic_load(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define pzf_atomic_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#elif defined(PZF_MSVC) /* aligned volatile 32-bit accesses are atomic */
#define PZF_HAVE_ATOMIC_INT 1
typedef volatile long pzf_atomic_int;
#define pzf_atomic_load(p) ((int)*(p))
#define pzf_atomic_store(p, v) ((void)(*(p) = (long)(v)))
#endif

/* ---- byte order ------------------------------------------------------ */
#if defined(PZF_GNUC) && defined(__BYTE_ORDER__)
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PZF_LITTLE_ENDIAN 1
#endif
#elif defined(PZF_MSVC) /* every Windows target is little-endian */
#define PZF_LITTLE_ENDIAN 1
#endif

PZF_INLINE uint64_t pzf_bswap64(uint64_t v)
{
#if defined(PZF_GNUC)
    return __builtin_bswap64(v);
#elif defined(PZF_MSVC)
    return _byteswap_uint64(v);
#else
    v = (v & 0x00000000FFFFFFFFull) << 32 | v >> 32;
    v = (v & 0x0000FFFF0000FFFFull) << 16 | (v & 0xFFFF0000FFFF0000ull) >> 16;
    return (v & 0x00FF00FF00FF00FFull) << 8 | (v & 0xFF00FF00FF00FF00ull) >> 8;
#endif
}

PZF_INLINE uint16_t pzf_load_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

PZF_INLINE uint32_t pzf_load_le32(const uint8_t *p)
{
#ifdef PZF_LITTLE_ENDIAN
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#else
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
#endif
}

PZF_INLINE uint64_t pzf_load_le64(const uint8_t *p)
{
    return (uint64_t)pzf_load_le32(p) | (uint64_t)pzf_load_le32(p + 4) << 32;
}

PZF_INLINE void pzf_store_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

PZF_INLINE void pzf_store_le32(uint8_t *p, uint32_t v)
{
    pzf_store_le16(p, (uint16_t)v);
    pzf_store_le16(p + 2, (uint16_t)(v >> 16));
}

PZF_INLINE void pzf_store_le64(uint8_t *p, uint64_t v)
{
    pzf_store_le32(p, (uint32_t)v);
    pzf_store_le32(p + 4, (uint32_t)(v >> 32));
}

/* float32 fields: the IEEE bit pattern, little-endian. */
PZF_INLINE float pzf_load_lef32(const uint8_t *p)
{
    uint32_t u = pzf_load_le32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

PZF_INLINE void pzf_store_lef32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    pzf_store_le32(p, u);
}

/* 8 bytes, the first in the most significant byte (bit streams). */
PZF_INLINE uint64_t pzf_load_be64(const uint8_t *p)
{
#ifdef PZF_LITTLE_ENDIAN
    uint64_t v;
    memcpy(&v, p, 8);
    return pzf_bswap64(v);
#else
    return ((uint64_t)p[0] << 56) | ((uint64_t)p[1] << 48) | ((uint64_t)p[2] << 40) |
           ((uint64_t)p[3] << 32) | ((uint64_t)p[4] << 24) | ((uint64_t)p[5] << 16) |
           ((uint64_t)p[6] << 8) | (uint64_t)p[7];
#endif
}

PZF_INLINE void pzf_store_be64(uint8_t *p, uint64_t v)
{
#ifdef PZF_LITTLE_ENDIAN
    v = pzf_bswap64(v);
    memcpy(p, &v, 8);
#else
    int i;
    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
#endif
}

#endif /* PZF_COMPAT_H */
