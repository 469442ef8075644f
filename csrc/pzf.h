/*
 * pzf.h - public interface of the pzfcodec C core.
 *
 * PZF is the frame format of PYME (python-microscopy): a 64-byte header
 * followed by a raw, Huffman-coded or chunked-Huffman-coded payload, with
 * optional square-root quantisation of photon-limited pixel values.
 * pzfcodec adds a fourth payload, PZF_CONTEXT (docs/format-context.md):
 * context-modelled rANS coding of the values in independent row bands,
 * with unbiased de-quantisation.  PYME cannot read it.
 *
 * Conventions
 *   - Every function that can fail returns a negative PZF_ERR_* code on
 *     failure.  Size-returning functions return int64_t: >= 0 is a size.
 *   - No function reads or writes outside the buffers it is given.
 *   - Multi-byte header fields are little-endian on every host.
 */
#ifndef PZF_H
#define PZF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- library version ---------------------------------------------------
 * The one source of pzfcodec's version: setup.py reads these three lines,
 * and pzfcodec.__version__ is pzf_version_string(). */
#define PZF_VERSION_MAJOR 0
#define PZF_VERSION_MINOR 1
#define PZF_VERSION_PATCH 0
#define PZF_VERSION_NUMBER \
    (PZF_VERSION_MAJOR * 10000 + PZF_VERSION_MINOR * 100 + PZF_VERSION_PATCH)
#define PZF_STR_(x) #x
#define PZF_STR(x) PZF_STR_(x)
#define PZF_VERSION_STRING \
    PZF_STR(PZF_VERSION_MAJOR) "." PZF_STR(PZF_VERSION_MINOR) "." PZF_STR(PZF_VERSION_PATCH)
/* The version of the library linked (PZF_VERSION_NUMBER when it was built),
 * to compare with the header's macros. */
unsigned pzf_version(void);
/* The same as "MAJOR.MINOR.PATCH". */
const char *pzf_version_string(void);

/* ---- error codes ------------------------------------------------------ */
enum {
    PZF_OK = 0,
    PZF_ERR_CORRUPT = -1,     /* malformed, truncated or inconsistent input */
    PZF_ERR_UNSUPPORTED = -2, /* well-formed but not a variant we handle    */
    PZF_ERR_ARGUMENT = -3,    /* invalid argument from the caller           */
    PZF_ERR_TOO_LARGE = -4,   /* header claims more than the allowed size   */
    PZF_ERR_NOMEM = -5,       /* allocation failed                          */
    PZF_ERR_DST_SIZE = -6     /* destination buffer too small               */
};
const char *pzf_error_string(int code);

/* ---- header enums (values as stored in the header) -------------------- */
enum { PZF_UINT8 = 0, PZF_UINT16 = 1, PZF_FLOAT32 = 2 };
/* PZF_CONTEXT: pzfcodec's own coding (docs/format-context.md), not PYME's. */
enum { PZF_RAW = 0, PZF_HUFFMAN = 1, PZF_HUFFMAN_CHUNKED = 2, PZF_CONTEXT = 3 };
enum { PZF_QUANT_NONE = 0, PZF_QUANT_SQRT = 1 };

#define PZF_HEADER_SIZE 64     /* version 3, written by pzfcodec */
#define PZF_HEADER_SIZE_V1 48  /* versions 1 and 2               */
#define PZF_FORMAT_VERSION 3 /* header version pzfcodec writes */
/* Default refusal limit for the decoded size claimed by a header. */
#define PZF_DEFAULT_MAX_DECODED ((uint64_t)4 << 30)
/* Default chunk size in chunked Huffman mode, in bytes of the coded stream
 * (one per pixel when quantised, else the pixels' bytes): a quantised
 * 2048x2048 frame gets 32 chunks, so one frame codes on 16+ threads, and
 * smaller regions with their own codes store 0.2-6% smaller than 1 MiB
 * chunks on the benchmark scenes (benchmarks/bench_threads.py). */
#define PZF_DEFAULT_CHUNK_SIZE ((size_t)128 << 10)

typedef struct {
    uint8_t version;        /* 1, 2 or 3                                    */
    uint8_t data_format;    /* PZF_UINT8 / PZF_UINT16 / PZF_FLOAT32         */
    uint8_t compression;    /* PZF_RAW / PZF_HUFFMAN / PZF_HUFFMAN_CHUNKED /
                               PZF_CONTEXT                                  */
    uint8_t quantization;   /* PZF_QUANT_NONE / PZF_QUANT_SQRT              */
    char dim_order;         /* 'C' or 'F' (version 1 is always 'C')         */
    int64_t sequence_id;
    uint32_t frame_num;
    uint32_t width, height, depth; /* decoded shape [width, height, depth]  */
    uint64_t timestamp;
    float quant_offset, quant_scale;
    uint32_t data_offset;   /* payload start (48 for versions 1 and 2)      */
} pzf_header;

/* Bytes per element of a data format, or 0 if unknown. */
size_t pzf_itemsize(int data_format);

/* Parse and validate a header.  Checks the magic, version, enums and
 * DimOrder, that the payload offset lies inside src, and that the decoded
 * array (width*height*depth*itemsize, computed without overflow) is at most
 * max_decoded bytes (PZF_ERR_TOO_LARGE otherwise).  On success fills *h and
 * returns the decoded size in bytes. */
int64_t pzf_read_header(const void *src, size_t src_size, uint64_t max_decoded,
                        pzf_header *h);

/* ---- frames ----------------------------------------------------------- */
typedef struct {
    int data_format;    /* PZF_UINT8 / PZF_UINT16 / PZF_FLOAT32             */
    uint32_t shape[3];  /* [width, height, depth]; depth = 1 for 2-D frames */
    char dim_order;     /* memory order of src: 'C' or 'F'                  */
    int compression;    /* PZF_RAW / PZF_HUFFMAN / PZF_HUFFMAN_CHUNKED /
                           PZF_CONTEXT                                      */
    int quantization;   /* PZF_QUANT_NONE / PZF_QUANT_SQRT                  */
    float quant_offset; /* sqrt quantisation: offset in ADU                 */
    float quant_scale;  /* sqrt quantisation: step in sqrt(ADU), > 0        */
    int64_t sequence_id;
    uint32_t frame_num;
    uint64_t timestamp;
    int nthreads;       /* threads for chunked and context modes (<= 1: the
                           calling thread); the output does not depend on it */
    size_t chunk_size;  /* chunked: stream bytes per chunk (see
                           PZF_DEFAULT_CHUNK_SIZE); context: values per band,
                           rounded down to whole lines (at least one);
                           0 = default                                      */
} pzf_params;

/* Fill p with defaults: uint16, Huffman, no quantisation, 'C', 1 thread. */
void pzf_params_init(pzf_params *p);

/* Upper bound of the blob size pzf_compress may produce for p, or 0 if p
 * is invalid (an unknown format, compression, quantisation or dim_order,
 * bad quantisation parameters, a shape whose size overflows, or p NULL):
 * pzf_compress refuses such parameters with an error. */
size_t pzf_compress_bound(const pzf_params *p);

/* Compress the array at src (shape/format/order from p) into a v3 blob.
 * Returns the blob size or a negative error.  With PZF_CONTEXT the blob is
 * a context blob only where it is smaller than the PZF_HUFFMAN blob of the
 * same array, else (also for lossless float32) that Huffman blob: never
 * larger than PZF_HUFFMAN.  pzf_compress_bound covers both.  The output
 * does not depend on nthreads or the CPU. */
int64_t pzf_compress(const void *src, const pzf_params *p, void *dst,
                     size_t dst_capacity);

/* Decode the blob into dst, laid out in the header's DimOrder with the
 * header's data format; dst must be aligned for that type (uint16_t or
 * float), as malloc'd memory is.  dst_capacity must be at least the decoded
 * size returned by pzf_read_header.  Returns the decoded size or an error.
 * De-quantisation follows PYME bit for bit, except that values outside the
 * output type's range saturate; context blobs carry their own table of
 * reconstruction values (the mean pixel value of each symbol).  Chunked
 * and context blobs decode on up to nthreads threads, with the same
 * result for any count.  Corrupt payloads give PZF_ERR_CORRUPT; dst may
 * then be partly written. */
int64_t pzf_decompress(const void *src, size_t src_size, void *dst,
                       size_t dst_capacity, uint64_t max_decoded, int nthreads);

/* ---- Huffman streams (BCL layout) ------------------------------------- */
/* Upper bound of the stream size for n input bytes (0 if it overflows). */
size_t pzf_huf_bound(size_t n);
/* Encode n bytes; returns the stream size or an error. */
int64_t pzf_huf_compress(const uint8_t *src, size_t n, uint8_t *dst,
                         size_t dst_capacity);
/* Decode exactly out_size bytes from a stream of src_size bytes.  Returns
 * out_size or PZF_ERR_CORRUPT for a bad tree or a stream that runs out. */
int64_t pzf_huf_decompress(const uint8_t *src, size_t src_size, uint8_t *dst,
                           size_t out_size);

/* ---- square-root quantisation ----------------------------------------- */
/* Accepted quantisation scales (sqrt(ADU) per step). */
#define PZF_QUANT_SCALE_MIN 0x1p-40f
#define PZF_QUANT_SCALE_MAX 0x1p40f
/* PZF_OK if offset is finite and PZF_QUANT_SCALE_MIN <= scale <=
 * PZF_QUANT_SCALE_MAX, else PZF_ERR_ARGUMENT. */
int pzf_check_quant_params(float offset, float scale);
/* q = round(sqrt(x - offset) / scale), computed exactly (ties round up),
 * saturated to 0..255; x <= offset and NaN give 0.  offset and scale must
 * pass pzf_check_quant_params.  Returns PZF_OK or an error. */
int pzf_quantize(const void *src, int data_format, size_t n, float offset,
                 float scale, uint8_t *dst);
/* v = (float32(q) * scale)^2 + offset in float32, converted to the data
 * format by truncation toward zero, saturating at the type's range. */
int pzf_dequantize(const uint8_t *src, size_t n, float offset, float scale,
                   int data_format, void *dst);

/* ---- CPU dispatch ----------------------------------------------------- */
enum { PZF_ISA_SCALAR = 0, PZF_ISA_AVX2 = 1, PZF_ISA_AVX512 = 2 };
/* Best SIMD instruction set this CPU and OS support (PZF_ISA_*), detected
 * once per process; the kernels are chosen from it at run time. */
int pzf_cpu_isa(void);

#ifdef __cplusplus
}
#endif
#endif /* PZF_H */
