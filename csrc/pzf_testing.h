/*
 * pzf_testing.h - hooks for tests of the C core (not part of the public
 * interface in pzf.h; the Python tests reach them through pzfcodec._core).
 */
#ifndef PZF_TESTING_H
#define PZF_TESTING_H

#include "pzf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The best kernel of this CPU (for pzf_quantize_isa). */
enum { PZF_ISA_AUTO = -1 };

/* pzf_quantize with a forced kernel (PZF_ISA_*), for tests comparing
 * kernels bit for bit.  Returns PZF_ERR_UNSUPPORTED if the CPU lacks isa. */
int pzf_quantize_isa(const void *src, int data_format, size_t n, float offset,
                     float scale, uint8_t *dst, int isa);

#ifdef __cplusplus
}
#endif
#endif /* PZF_TESTING_H */
