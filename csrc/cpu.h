/*
 * cpu.h - the instruction sets of this CPU, detected once (internal).
 *
 * An instruction set counts as available only if the CPU implements it AND
 * the operating system saves the matching register state on context
 * switches (XCR0, read with xgetbv): a CPU with AVX-512 under an OS that
 * does not enable ZMM state must not run AVX-512 code.
 *
 * cpu.c runs cpuid on the first call of pzf_cpu_features() (from any
 * thread: racing first calls store the same value) and returns the cached
 * word afterwards.  Kernels are chosen at run time from it; on anything
 * other than x86-64 every feature is absent and the portable kernels run.
 */
#ifndef PZF_CPU_H
#define PZF_CPU_H

#include "compat.h"
#include "pzf.h"
#include "pzf_testing.h" /* PZF_ISA_AUTO */

#define PZF_CPU_BMI2 0x1u   /* flag-free variable shifts (shlx...)          */
#define PZF_CPU_AVX2 0x2u   /* AVX2, with YMM state enabled by the OS       */
#define PZF_CPU_AVX512 0x4u /* AVX-512 F, DQ, BW and VL, with ZMM state     */

/* The PZF_CPU_* bits of this CPU. */
unsigned pzf_cpu_features(void);

/* Uncached detection (what pzf_cpu_features caches). */
unsigned pzf_cpu_detect(void);

/* The kernels for a request: PZF_ISA_AUTO gives this CPU's best; a forced
 * PZF_ISA_* is kept if this CPU has it, else PZF_ERR_UNSUPPORTED. */
PZF_INLINE int pzf_cpu_pick_isa(int isa)
{
    int best = pzf_cpu_isa();
    if (isa == PZF_ISA_AUTO)
        return best;
    return isa > best ? PZF_ERR_UNSUPPORTED : isa;
}

PZF_INLINE int pzf_cpu_has_bmi2(void)
{
    return (pzf_cpu_features() & PZF_CPU_BMI2) != 0;
}

#endif /* PZF_CPU_H */
