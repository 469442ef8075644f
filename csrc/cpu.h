/*
 * cpu.h - run-time detection of the SIMD instruction sets pzfcodec uses
 * (header only).
 *
 * An instruction set counts as available only if the CPU implements it AND
 * the operating system saves the matching register state on context
 * switches (XCR0, read with xgetbv): a CPU with AVX-512 under an OS that
 * does not enable ZMM state must not run AVX-512 code.
 *
 * pzf_cpu_detect_isa() runs cpuid every time it is called; pzf_cpu_isa()
 * (quant.c) caches its result.  On anything other than x86-64 it returns
 * PZF_ISA_SCALAR.
 */
#ifndef PZF_CPU_H
#define PZF_CPU_H

#include "pzf.h"

#if defined(__x86_64__) || defined(_M_X64)
#define PZF_X86_64 1
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#include <immintrin.h>
#else
#include <cpuid.h>
#endif
#endif

#ifdef PZF_X86_64

/* cpuid leaf/subleaf into r[0..3] = eax, ebx, ecx, edx. */
static inline void pzf_cpuid(unsigned leaf, unsigned subleaf, unsigned r[4])
{
#if defined(_MSC_VER) && !defined(__clang__)
    int v[4];
    __cpuidex(v, (int)leaf, (int)subleaf);
    r[0] = (unsigned)v[0];
    r[1] = (unsigned)v[1];
    r[2] = (unsigned)v[2];
    r[3] = (unsigned)v[3];
#else
    __cpuid_count(leaf, subleaf, r[0], r[1], r[2], r[3]);
#endif
}

/* XCR0: the register states the OS saves.  Only call when OSXSAVE is set. */
static inline uint64_t pzf_xgetbv0(void)
{
#if defined(_MSC_VER) && !defined(__clang__)
    return (uint64_t)_xgetbv(0);
#else
    unsigned lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
#endif
}

static inline int pzf_cpu_detect_isa(void)
{
    /* XCR0 bits: 1 SSE, 2 AVX (YMM upper halves), 5-7 AVX-512 (opmask,
     * ZMM0-15 upper halves, ZMM16-31). */
    const uint64_t ymm_state = 0x6, zmm_state = 0xe6;
    /* cpuid(7,0).ebx bits: 5 AVX2, 16 AVX512F, 17 AVX512DQ, 30 AVX512BW,
     * 31 AVX512VL. */
    const unsigned avx2_bit = 1u << 5;
    const unsigned avx512_bits = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);
    unsigned r[4];
    uint64_t xcr0;

    pzf_cpuid(0, 0, r);
    if (r[0] < 7)
        return PZF_ISA_SCALAR;
    pzf_cpuid(1, 0, r);
    /* ecx bit 27 OSXSAVE, bit 28 AVX. */
    if ((r[2] & (3u << 27)) != (3u << 27))
        return PZF_ISA_SCALAR;
    xcr0 = pzf_xgetbv0();
    if ((xcr0 & ymm_state) != ymm_state)
        return PZF_ISA_SCALAR;
    pzf_cpuid(7, 0, r);
    if ((r[1] & avx512_bits) == avx512_bits && (xcr0 & zmm_state) == zmm_state)
        return PZF_ISA_AVX512;
    if (r[1] & avx2_bit)
        return PZF_ISA_AVX2;
    return PZF_ISA_SCALAR;
}

/* BMI2 (flag-free variable shifts; cpuid(7,0).ebx bit 8).  Cheap enough to
 * call once per coded block. */
static inline int pzf_cpu_has_bmi2(void)
{
    unsigned r[4];
    pzf_cpuid(0, 0, r);
    if (r[0] < 7)
        return 0;
    pzf_cpuid(7, 0, r);
    return (r[1] >> 8) & 1;
}

#else /* not x86-64 */

static inline int pzf_cpu_detect_isa(void)
{
    return PZF_ISA_SCALAR;
}

static inline int pzf_cpu_has_bmi2(void)
{
    return 0;
}

#endif
#endif /* PZF_CPU_H */
