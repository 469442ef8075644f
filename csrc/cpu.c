/*
 * cpu.c - run-time detection of the instruction sets the core uses, once
 * per process.  See cpu.h.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

#if defined(PZF_X86_64) && defined(PZF_GNUC)
#include <cpuid.h>
#elif defined(PZF_X86_64) && defined(PZF_MSVC)
#include <immintrin.h> /* _xgetbv; intrin.h (compat.h) has __cpuidex */
#endif

#if defined(PZF_X86_64) && (defined(PZF_GNUC) || defined(PZF_MSVC))

/* cpuid leaf/subleaf into r[0..3] = eax, ebx, ecx, edx. */
static void cpuid(unsigned leaf, unsigned subleaf, unsigned r[4])
{
#if defined(PZF_MSVC)
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
static uint64_t xgetbv0(void)
{
#if defined(PZF_MSVC)
    return (uint64_t)_xgetbv(0);
#else
    unsigned lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
#endif
}

unsigned pzf_cpu_detect(void)
{
    /* XCR0 bits: 1 SSE, 2 AVX (YMM upper halves), 5-7 AVX-512 (opmask,
     * ZMM0-15 upper halves, ZMM16-31). */
    const uint64_t ymm_state = 0x6, zmm_state = 0xe6;
    /* cpuid(7,0).ebx bits: 5 AVX2, 8 BMI2, 16 AVX512F, 17 AVX512DQ,
     * 30 AVX512BW, 31 AVX512VL. */
    const unsigned avx2_bit = 1u << 5, bmi2_bit = 1u << 8;
    const unsigned avx512_bits = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);
    unsigned r[4], leaf7_ebx, features = 0;
    uint64_t xcr0;

    cpuid(0, 0, r);
    if (r[0] < 7)
        return 0;
    cpuid(7, 0, r);
    leaf7_ebx = r[1];
    if (leaf7_ebx & bmi2_bit)
        features |= PZF_CPU_BMI2;
    cpuid(1, 0, r);
    /* ecx bit 27 OSXSAVE, bit 28 AVX. */
    if ((r[2] & (3u << 27)) != (3u << 27))
        return features;
    xcr0 = xgetbv0();
    if ((xcr0 & ymm_state) != ymm_state)
        return features;
    if (leaf7_ebx & avx2_bit)
        features |= PZF_CPU_AVX2;
    if ((leaf7_ebx & avx512_bits) == avx512_bits && (xcr0 & zmm_state) == zmm_state)
        features |= PZF_CPU_AVX512;
    return features;
}

#else /* no x86-64, or a compiler without cpuid: portable kernels only */

unsigned pzf_cpu_detect(void)
{
    return 0;
}

#endif

/* The features detected, less those the environment variable PZFCODEC_ISA
 * turns off: "scalar" (portable kernels only), "avx2" (no AVX-512); any
 * other value changes nothing.  For comparing kernels, and for working
 * round a CPU or emulator that reports more than it runs. */
static unsigned capped(unsigned f)
{
    const char *cap = getenv("PZFCODEC_ISA");
    if (cap && !strcmp(cap, "scalar"))
        return 0;
    if (cap && !strcmp(cap, "avx2"))
        return f & ~PZF_CPU_AVX512;
    return f;
}

unsigned pzf_cpu_features(void)
{
#ifdef PZF_HAVE_ATOMIC_INT
    /* bit 30 marks the word as detected */
    static pzf_atomic_int cached = 0;
    int v = pzf_atomic_load(&cached);
    if (!v) {
        v = (int)(capped(pzf_cpu_detect()) | 0x40000000u);
        pzf_atomic_store(&cached, v);
    }
    return (unsigned)v & 0xffffu;
#else
    return capped(pzf_cpu_detect());
#endif
}

int pzf_cpu_isa(void)
{
    unsigned f = pzf_cpu_features();
    if ((f & PZF_CPU_AVX512) && (f & PZF_CPU_AVX2))
        return PZF_ISA_AVX512;
    if (f & PZF_CPU_AVX2)
        return PZF_ISA_AVX2;
    return PZF_ISA_SCALAR;
}
