/*
 * h5z_pzf.c - HDF5 filter plugin storing every chunk as a PZF v3 blob.
 *
 * The plugin links no HDF5 library and needs no HDF5 headers.  The few HDF5
 * functions it calls (in can_apply, set_local, when decoding a chunk and
 * when reporting an error) are looked up at run time in the HDF5 library
 * that invoked the callback: the callback's return address identifies that
 * library, so the plugin works with h5py's bundled HDF5 (registered from
 * Python with H5Zregister) and with any program that loads it from
 * HDF5_PLUGIN_PATH, even when several HDF5 libraries live in one process.
 *
 * Stored parameters are never trusted for sizes.  HDF5 copies a whole chunk
 * (the product of the dataset's chunk dimensions times its element size)
 * out of the buffer the filter returns, without checking the buffer's size,
 * and the filter callback is not told which dataset it serves.  A file whose
 * cd_values describe a smaller chunk than its layout would make HDF5 read
 * past the decoded data.  So before returning a decoded chunk the filter
 * finds the open datasets that carry exactly these cd_values
 * (H5Fget_obj_ids) and refuses the chunk unless there is at least one and
 * every one of them has chunks of exactly the decoded size (see
 * check_open_chunks).  A chunk read when no dataset with these parameters
 * is open (a program reading through something other than a dataset
 * identifier) is refused too.
 *
 * Filter id: 53338 (0xD05A = 0x8000 | ASCII "PZ"), in the range HDF5
 * reserves for unregistered filters.
 *
 * cd_values (unsigned int each).  Users give 0 to 6 values; missing ones
 * take their defaults.  set_local always rewrites the full list of 12.
 *   [0] compression: 0 raw, 1 Huffman (default), 2 chunked Huffman, 3 context
 *   [1] quantisation: 0 none (default, lossless), 1 square root
 *   [2] quantisation offset, float32 bit pattern (default 0.0)
 *   [3] quantisation scale, float32 bit pattern (must be > 0 if quantised)
 *   [4] threads for chunked and context coding and decoding (0 or 1: calling thread)
 *   [5] stream bytes per chunk in chunked mode, values per band in context
 *       mode (0: library default)
 *   [6] cd_values layout version (set_local: 1)
 *   [7] PZF data format of the blobs (set_local: 0 uint8, 1 uint16,
 *       2 float32)
 *   [8] dataset element size in bytes (set_local)
 *   [9..11] blob Width, Height, Depth (set_local)
 *
 * Chunk -> blob shape.  HDF5 chunk dimensions (d0, ..., dn-1) are in C
 * order (dn-1 varies fastest), and every blob has DimOrder 'C':
 *   1-D: (d0, 1, 1)   2-D: (d0, d1, 1)   3-D: (d0, d1, d2)
 *   n-D: (d0 * ... * dn-3, dn-2, dn-1)
 * uint8, uint16 and float32 in host (little-endian) byte order are coded
 * as themselves.  Lossless mode codes any other fixed-size type as bytes:
 * data format uint8 and Depth multiplied by the element size.  In every
 * case, decoding a stored chunk with pzfcodec.decompress and then
 * .view(dtype).reshape(chunk_shape) gives the chunk's data.
 */
#if !defined(_WIN32) && !defined(_GNU_SOURCE)
#  define _GNU_SOURCE /* dladdr, RTLD_DEFAULT, RTLD_NOLOAD */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "pzf.h"

#ifdef _WIN32
#  include <windows.h>
#else
#  include <dlfcn.h>
#endif
#define CALLER_ADDRESS() PZF_RETURN_ADDRESS()

#define PZF_FILTER_ID 53338
#define CD_USER 6       /* values a user may give                     */
#define CD_COUNT 12     /* values after set_local                     */
#define CD_LAYOUT 1     /* cd_values layout version                   */
#define MAX_THREADS 256

/* ---- the HDF5 types and constants used (stable since HDF5 1.10) ------ */
typedef int64_t hid_t;
typedef int herr_t;
typedef int htri_t;
typedef uint64_t hsize_t;
typedef int H5Z_filter_t;

enum { H5PL_TYPE_FILTER = 0 };
enum { H5T_INTEGER = 0, H5T_FLOAT = 1, H5T_VLEN = 9 }; /* H5T_class_t */
enum { H5T_SGN_NONE = 0 };
enum { H5T_ORDER_LE = 0, H5T_ORDER_BE = 1 };
/* H5Fget_obj_ids: H5F_OBJ_ALL as a file identifier means every open file */
#define H5F_OBJ_DATASET 0x0002u
#define H5F_OBJ_ALL 0x001Fu
#define H5Z_FLAG_REVERSE 0x0100u
#define H5E_DEFAULT ((hid_t)0)
#define H5S_MAX_RANK 32

typedef struct {
    int version;
    H5Z_filter_t id;
    unsigned encoder_present;
    unsigned decoder_present;
    const char *name;
    htri_t (*can_apply)(hid_t dcpl, hid_t type, hid_t space);
    herr_t (*set_local)(hid_t dcpl, hid_t type, hid_t space);
    size_t (*filter)(unsigned flags, size_t cd_nelmts,
                     const unsigned cd_values[], size_t nbytes,
                     size_t *buf_size, void **buf);
} H5Z_class2_t;

/* ---- run-time HDF5 symbols -------------------------------------------- */
typedef struct {
    void *lib; /* library handle to release */
    herr_t (*Epush2)(hid_t, const char *, const char *, unsigned, hid_t,
                     hid_t, hid_t, const char *, ...);
    int (*Pget_chunk)(hid_t, int, hsize_t *);
    herr_t (*Pget_filter_by_id2)(hid_t, H5Z_filter_t, unsigned *, size_t *,
                                 unsigned *, size_t, char *, unsigned *);
    herr_t (*Pmodify_filter)(hid_t, H5Z_filter_t, unsigned, size_t,
                             const unsigned *);
    int (*Pget_nfilters)(hid_t);
    H5Z_filter_t (*Pget_filter2)(hid_t, unsigned, unsigned *, size_t *,
                                 unsigned *, size_t, char *, unsigned *);
    int (*Tget_class)(hid_t);
    size_t (*Tget_size)(hid_t);
    int (*Tget_sign)(hid_t);
    int (*Tget_order)(hid_t);
    htri_t (*Tequal)(hid_t, hid_t);
    htri_t (*Tdetect_class)(hid_t, int);
    ptrdiff_t (*Fget_obj_count)(hid_t, unsigned); /* ssize_t */
    ptrdiff_t (*Fget_obj_ids)(hid_t, unsigned, size_t, hid_t *);
    hid_t (*Dget_create_plist)(hid_t);
    hid_t (*Dget_type)(hid_t);
    herr_t (*Pclose)(hid_t);
    herr_t (*Tclose)(hid_t);
    const hid_t *ERR_CLS, *E_PLINE, *E_CALLBACK, *E_CANTFILTER, *F32LE;
} h5api;

#ifdef _WIN32
static void *lib_of(const void *addr)
{
    HMODULE m = NULL;
    if (!GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                                GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                            (LPCSTR)addr, &m))
        return NULL;
    return (void *)m;
}
static void *sym(void *lib, const char *name)
{
    /* FARPROC is a function pointer, which ISO C cannot cast to void *:
     * copy its bits (the same size on Windows) */
    FARPROC f = GetProcAddress((HMODULE)lib, name);
    void *p;
    memcpy(&p, &f, sizeof p);
    return p;
}
static void lib_release(void *lib) { (void)lib; }
#else
/* A handle to the shared object containing addr (the HDF5 library that
 * called us); the process's global scope if that object is the program. */
static void *lib_of(const void *addr)
{
    Dl_info info;
    void *lib = NULL;
    if (dladdr(addr, &info) && info.dli_fname)
        lib = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    return lib;
}
static void *sym(void *lib, const char *name)
{
    return dlsym(lib ? lib : RTLD_DEFAULT, name);
}
static void lib_release(void *lib)
{
    if (lib)
        dlclose(lib);
}
#endif

/* Look up the HDF5 API of the library containing caller.  Returns 0 when
 * every symbol was found; the handle must be released with h5api_release
 * in any case. */
static int h5api_load(h5api *a, const void *caller)
{
    memset(a, 0, sizeof *a);
    a->lib = lib_of(caller);
#define GET(field, name)                                                     \
    do {                                                                     \
        void *p_ = sym(a->lib, name);                                        \
        memcpy(&a->field, &p_, sizeof p_);                                   \
    } while (0)
    GET(Epush2, "H5Epush2");
    GET(Pget_chunk, "H5Pget_chunk");
    GET(Pget_filter_by_id2, "H5Pget_filter_by_id2");
    GET(Pmodify_filter, "H5Pmodify_filter");
    GET(Pget_nfilters, "H5Pget_nfilters");
    GET(Pget_filter2, "H5Pget_filter2");
    GET(Tget_class, "H5Tget_class");
    GET(Tget_size, "H5Tget_size");
    GET(Tget_sign, "H5Tget_sign");
    GET(Tget_order, "H5Tget_order");
    GET(Tequal, "H5Tequal");
    GET(Tdetect_class, "H5Tdetect_class");
    GET(Fget_obj_count, "H5Fget_obj_count");
    GET(Fget_obj_ids, "H5Fget_obj_ids");
    GET(Dget_create_plist, "H5Dget_create_plist");
    GET(Dget_type, "H5Dget_type");
    GET(Pclose, "H5Pclose");
    GET(Tclose, "H5Tclose");
    a->ERR_CLS = (const hid_t *)sym(a->lib, "H5E_ERR_CLS_g");
    a->E_PLINE = (const hid_t *)sym(a->lib, "H5E_PLINE_g");
    a->E_CALLBACK = (const hid_t *)sym(a->lib, "H5E_CALLBACK_g");
    a->E_CANTFILTER = (const hid_t *)sym(a->lib, "H5E_CANTFILTER_g");
    a->F32LE = (const hid_t *)sym(a->lib, "H5T_IEEE_F32LE_g");
#undef GET
    return (a->Epush2 && a->Pget_chunk && a->Pget_filter_by_id2 &&
            a->Pmodify_filter && a->Pget_nfilters && a->Pget_filter2 && a->Tget_class && a->Tget_size &&
            a->Tget_sign && a->Tget_order && a->Tequal && a->Tdetect_class &&
            a->Fget_obj_count && a->Fget_obj_ids && a->Dget_create_plist &&
            a->Dget_type && a->Pclose && a->Tclose &&
            a->ERR_CLS && a->E_PLINE && a->E_CALLBACK && a->E_CANTFILTER &&
            a->F32LE) ? 0 : -1;
}

static void h5api_release(h5api *a)
{
    lib_release(a->lib);
    a->lib = NULL;
}

/* Push "pzf: <message>" on the HDF5 error stack (minor: 1 callback error,
 * 0 filter error).  Silently does nothing if H5Epush2 is unavailable. */
static void push_error(const h5api *a, int callback, const char *func,
                       const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    if (!a->Epush2 || !a->ERR_CLS || !a->E_PLINE ||
        !(callback ? a->E_CALLBACK : a->E_CANTFILTER))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    a->Epush2(H5E_DEFAULT, __FILE__, func, __LINE__, *a->ERR_CLS,
              *a->E_PLINE, callback ? *a->E_CALLBACK : *a->E_CANTFILTER,
              "pzf: %s", msg);
}

/* Report an error from the filter callback, resolving the API on demand. */
static void filter_error(const void *caller, const char *fmt, ...)
{
    h5api a;
    char msg[400];
    va_list ap;
    h5api_load(&a, caller);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    push_error(&a, 0, "H5Z_filter_pzf", "%s", msg);
    h5api_release(&a);
}

/* ---- options ------------------------------------------------------------ */
static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static float f32_from_bits(unsigned u)
{
    uint32_t v = (uint32_t)u;
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}

/* Check the user part of cd_values; on error write a message and return -1. */
static int check_user_options(size_t n, const unsigned cd[CD_COUNT],
                              char *msg, size_t msg_size)
{
    float offset = f32_from_bits(cd[2]), scale = f32_from_bits(cd[3]);
    if (n > CD_COUNT || (n > CD_USER && cd[6] != CD_LAYOUT)) {
        snprintf(msg, msg_size,
                 "filter parameters from an unknown layout (%u values, "
                 "layout %u); give at most %d values, see pzfcodec.PZF",
                 (unsigned)n, n > CD_USER ? cd[6] : 0, CD_USER);
        return -1;
    }
    if (cd[0] > PZF_CONTEXT) {
        snprintf(msg, msg_size,
                 "compression %u is not 0 (raw), 1 (Huffman), 2 (chunked) or 3 (context)",
                 cd[0]);
        return -1;
    }
    if (cd[1] > PZF_QUANT_SQRT) {
        snprintf(msg, msg_size,
                 "quantisation %u is not 0 (lossless) or 1 (square root)",
                 cd[1]);
        return -1;
    }
    if (cd[1] == PZF_QUANT_SQRT && pzf_check_quant_params(offset, scale) != PZF_OK) {
        snprintf(msg, msg_size,
                 "square-root quantisation needs a finite offset and a scale "
                 "from %g to %g (float32 bit patterns in cd_values[2] and "
                 "[3]); got offset %g, scale %g",
                 (double)PZF_QUANT_SCALE_MIN, (double)PZF_QUANT_SCALE_MAX,
                 (double)offset, (double)scale);
        return -1;
    }
    if (cd[4] > MAX_THREADS) {
        snprintf(msg, msg_size, "%u threads requested; use 1 to %d", cd[4],
                 MAX_THREADS);
        return -1;
    }
    return 0;
}

/* Describe an HDF5 datatype for error messages. */
static void describe_type(const h5api *a, hid_t type, char *out, size_t n)
{
    static const char *const names[] = {
        "integer", "floating-point", "time", "string", "bitfield", "opaque",
        "compound", "reference", "enum", "variable-length", "array",
        "complex"};
    int cls = a->Tget_class(type);
    size_t size = a->Tget_size(type);
    const char *name =
        cls >= 0 && cls < (int)(sizeof names / sizeof *names) ? names[cls]
                                                               : "unknown";
    const char *sign = "";
    const char *order = "";
    if (cls == H5T_INTEGER)
        sign = a->Tget_sign(type) == H5T_SGN_NONE ? "unsigned " : "signed ";
    if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && size > 1 &&
        a->Tget_order(type) == H5T_ORDER_BE)
        order = "big-endian ";
    snprintf(out, n, "a %u-byte %s%s%s type", (unsigned)size, order, sign,
             name);
}

/* The PZF data format coding this type as itself, or -1. */
static int native_format(const h5api *a, hid_t type)
{
    int cls = a->Tget_class(type);
    size_t size = a->Tget_size(type);
    if (cls == H5T_INTEGER && a->Tget_sign(type) == H5T_SGN_NONE) {
        if (size == 1)
            return PZF_UINT8;
        if (size == 2 && a->Tget_order(type) == H5T_ORDER_LE &&
            host_is_little_endian())
            return PZF_UINT16;
    }
    if (cls == H5T_FLOAT && a->Tequal(type, *a->F32LE) > 0 &&
        host_is_little_endian())
        return PZF_FLOAT32;
    return -1;
}

/* Read our cd_values from dcpl into cd (zero-filled); 0 or -1. */
static int get_options(const h5api *a, hid_t dcpl, unsigned *flags,
                       size_t *n, unsigned cd[CD_COUNT + 1])
{
    *n = CD_COUNT + 1;
    memset(cd, 0, (CD_COUNT + 1) * sizeof *cd);
    if (a->Pget_filter_by_id2(dcpl, PZF_FILTER_ID, flags, n, cd, 0, NULL,
                              NULL) < 0)
        return -1;
    if (*n == 0)
        cd[0] = PZF_HUFFMAN; /* default compression */
    return 0;
}

/* PZF codes pixel values and chunks of the dataset's size, so no filter may
 * come before it (shuffle, scale-offset and n-bit would hand it other
 * bytes).  0, or -1 with a message. */
static int check_first(const h5api *a, hid_t dcpl, char *msg, size_t msg_size)
{
    int i, nf = a->Pget_nfilters(dcpl);
    for (i = 0; i < nf; i++) {
        char name[64] = "";
        unsigned flags, config, cd[1];
        size_t ncd = 0;
        H5Z_filter_t id = a->Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd,
                                          sizeof name, name, &config);
        if (id == PZF_FILTER_ID)
            return 0;
        name[sizeof name - 1] = '\0';
        snprintf(msg, msg_size,
                 "PZF must be the first filter of the pipeline: it codes pixel "
                 "values, which filter %d (%s) before it would change; drop "
                 "that filter (e.g. shuffle=False) or put it after PZF",
                 (int)id, name[0] ? name : "unnamed");
        return -1;
    }
    return nf < 0 ? -1 : 0;
}

/* Work out the full cd_values for this dataset, or push an error. */
static int plan(const h5api *a, hid_t dcpl, hid_t type, unsigned *flags,
                unsigned cd[CD_COUNT + 1], const char *func)
{
    char msg[300], tname[80];
    size_t n;
    hsize_t dims[H5S_MAX_RANK];
    uint64_t shape[3] = {1, 1, 1};
    int ndims, fmt, i;
    size_t size;

    if (get_options(a, dcpl, flags, &n, cd) < 0) {
        push_error(a, 1, func, "cannot read the filter parameters");
        return -1;
    }
    if (check_user_options(n, cd, msg, sizeof msg) < 0) {
        push_error(a, 1, func, "%s", msg);
        return -1;
    }
    if (check_first(a, dcpl, msg, sizeof msg) < 0) {
        push_error(a, 1, func, "%s", msg);
        return -1;
    }
    if (a->Tdetect_class(type, H5T_VLEN) != 0) {
        push_error(a, 1, func,
                   "variable-length types cannot be compressed; use a "
                   "fixed-size type");
        return -1;
    }
    size = a->Tget_size(type);
    fmt = native_format(a, type);
    if (fmt < 0 && cd[1] == PZF_QUANT_SQRT) {
        describe_type(a, type, tname, sizeof tname);
        push_error(a, 1, func,
                   "quantised mode supports uint8, uint16 and float32 only; "
                   "got %s (lossless mode accepts it)", tname);
        return -1;
    }
    ndims = a->Pget_chunk(dcpl, H5S_MAX_RANK, dims);
    if (ndims < 1) {
        push_error(a, 1, func, "the dataset must be chunked");
        return -1;
    }
    for (i = 0; i < ndims; i++) {
        /* n-D: the leading n-2 axes merge into Width */
        int axis = ndims <= 3 ? i : (i < ndims - 2 ? 0 : i - (ndims - 3));
        shape[axis] *= dims[i];
        if (shape[axis] > UINT32_MAX)
            goto too_large;
    }
    if (fmt < 0) {
        fmt = PZF_UINT8;
        shape[2] *= size;
    } else if (size != pzf_itemsize(fmt)) {
        goto too_large; /* cannot happen: native formats have fixed sizes */
    }
    if (shape[2] > UINT32_MAX ||
        shape[0] * shape[1] > UINT32_MAX / shape[2] / pzf_itemsize(fmt))
        goto too_large;
    cd[6] = CD_LAYOUT;
    cd[7] = (unsigned)fmt;
    cd[8] = (unsigned)size;
    cd[9] = (unsigned)shape[0];
    cd[10] = (unsigned)shape[1];
    cd[11] = (unsigned)shape[2];
    return 0;
too_large:
    push_error(a, 1, func, "chunks of 4 GiB or more are not supported");
    return -1;
}

static htri_t can_apply_pzf(hid_t dcpl, hid_t type, hid_t space)
{
    h5api a;
    unsigned flags, cd[CD_COUNT + 1];
    int ok;
    (void)space;
    ok = h5api_load(&a, CALLER_ADDRESS()) == 0 &&
         plan(&a, dcpl, type, &flags, cd, "H5Z_can_apply_pzf") == 0;
    h5api_release(&a);
    /* Refuse with -1, not 0: HDF5 silently drops an optional filter (as
     * h5py makes them) whose can_apply returns 0. */
    return ok ? 1 : -1;
}

static herr_t set_local_pzf(hid_t dcpl, hid_t type, hid_t space)
{
    h5api a;
    unsigned flags, cd[CD_COUNT + 1];
    herr_t ret = -1;
    (void)space;
    if (h5api_load(&a, CALLER_ADDRESS()) == 0 &&
        plan(&a, dcpl, type, &flags, cd, "H5Z_set_local_pzf") == 0) {
        ret = a.Pmodify_filter(dcpl, PZF_FILTER_ID, flags, CD_COUNT, cd);
        if (ret < 0)
            push_error(&a, 1, "H5Z_set_local_pzf",
                       "cannot store the filter parameters");
    }
    h5api_release(&a);
    return ret < 0 ? -1 : 0;
}

/* ---- decoded size against the datasets' real chunks ------------------ */
/* Bytes in one chunk of dataset dset: the product of its chunk dimensions
 * and its element size (what HDF5 copies out of a decoded chunk), or 0 if
 * they cannot be read or the product reaches 2**64. */
static uint64_t dataset_chunk_bytes(const h5api *a, hid_t dset, hid_t dcpl)
{
    hsize_t dims[H5S_MAX_RANK];
    uint64_t bytes;
    int i, ndims = a->Pget_chunk(dcpl, H5S_MAX_RANK, dims);
    hid_t type = a->Dget_type(dset);
    if (type < 0)
        return 0;
    bytes = a->Tget_size(type);
    a->Tclose(type);
    if (ndims < 1 || ndims > H5S_MAX_RANK)
        return 0;
    for (i = 0; i < ndims; i++) {
        if (dims[i] == 0 || bytes > UINT64_MAX / dims[i])
            return 0;
        bytes *= dims[i];
    }
    return bytes;
}

/* Whether the pipeline of dcpl holds PZF with exactly these cd_values. */
static int has_cd_values(const h5api *a, hid_t dcpl, size_t cd_nelmts,
                         const unsigned cd_values[])
{
    int i, nf = a->Pget_nfilters(dcpl);
    for (i = 0; i < nf; i++) {
        unsigned flags, config, cd[CD_COUNT + 1];
        size_t n = CD_COUNT + 1;
        char name[1];
        if (a->Pget_filter2(dcpl, (unsigned)i, &flags, &n, cd, sizeof name,
                            name, &config) == PZF_FILTER_ID)
            return n == cd_nelmts && n <= CD_COUNT + 1 &&
                   memcmp(cd, cd_values, n * sizeof *cd) == 0;
    }
    return 0;
}

/* The filter callback does not learn which dataset it decodes for, and
 * HDF5 copies a full chunk of that dataset out of the buffer returned.
 * Accept a decoded size only if some open dataset carries exactly these
 * cd_values and every such dataset has chunks of exactly that size; else
 * write a message and return -1. */
static int check_open_chunks(const void *caller, size_t cd_nelmts,
                             const unsigned cd_values[], uint64_t decoded,
                             char *msg, size_t msg_size)
{
    h5api a;
    hid_t *ids = NULL;
    ptrdiff_t i, n = 0;
    uint64_t other = 0;
    int found = 0, ret = -1;

    if (h5api_load(&a, caller) != 0) {
        snprintf(msg, msg_size,
                 "the HDF5 library reading the file does not export the "
                 "functions needed to check the chunk size");
        goto done;
    }
    n = a.Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_DATASET);
    if (n > 0 && (size_t)n <= SIZE_MAX / sizeof *ids)
        ids = (hid_t *)malloc((size_t)n * sizeof *ids);
    if (ids)
        n = a.Fget_obj_ids((hid_t)H5F_OBJ_ALL, H5F_OBJ_DATASET, (size_t)n, ids);
    for (i = 0; ids && i < n; i++) {
        hid_t dcpl = a.Dget_create_plist(ids[i]);
        if (dcpl < 0)
            continue;
        if (has_cd_values(&a, dcpl, cd_nelmts, cd_values)) {
            uint64_t bytes = dataset_chunk_bytes(&a, ids[i], dcpl);
            if (bytes == decoded)
                found = 1;
            else
                other = bytes ? bytes : UINT64_MAX;
        }
        a.Pclose(dcpl);
    }
    if (other) {
        snprintf(msg, msg_size,
                 "the filter parameters describe chunks of %lu bytes but the "
                 "dataset's chunks hold %.0f bytes; the file is corrupt or "
                 "crafted", (unsigned long)decoded, (double)other);
    } else if (!found) {
        snprintf(msg, msg_size,
                 "no open dataset has these filter parameters, so the size "
                 "of the chunk HDF5 expects cannot be checked; read chunks "
                 "through an open dataset");
    } else {
        ret = 0;
    }
done:
    free(ids);
    h5api_release(&a);
    return ret;
}

/* ---- the filter ------------------------------------------------------- */
static size_t filter_pzf(unsigned flags, size_t cd_nelmts,
                         const unsigned cd_values[], size_t nbytes,
                         size_t *buf_size, void **buf)
{
    const void *caller = CALLER_ADDRESS();
    uint64_t chunk_bytes;
    int fmt, nthreads;
    void *out;
    int64_t r;

    if (cd_nelmts != CD_COUNT || cd_values[6] != CD_LAYOUT ||
        pzf_itemsize((int)cd_values[7]) == 0) {
        if (cd_nelmts <= CD_USER)
            filter_error(caller,
                         "the dataset's filter parameters were never completed "
                         "(%u values): it was created where the PZF filter was "
                         "not available; create it again, or h5repack it, with "
                         "the filter available", (unsigned)cd_nelmts);
        else
            filter_error(caller,
                         "filter parameters of an unknown layout (%u values), "
                         "written by another version of pzfcodec",
                         (unsigned)cd_nelmts);
        return 0;
    }
    fmt = (int)cd_values[7];
    nthreads = cd_values[4] > MAX_THREADS ? MAX_THREADS : (int)cd_values[4];
    chunk_bytes = (uint64_t)cd_values[11] * pzf_itemsize(fmt);
    if (chunk_bytes == 0 || cd_values[9] == 0 || cd_values[10] == 0 ||
        (uint64_t)cd_values[9] * cd_values[10] > UINT32_MAX / chunk_bytes) {
        filter_error(caller, "filter parameters give an invalid chunk size");
        return 0;
    }
    chunk_bytes *= (uint64_t)cd_values[9] * cd_values[10];

    if (flags & H5Z_FLAG_REVERSE) {
        pzf_header h;
        char msg[300];
        r = pzf_read_header(*buf, nbytes, chunk_bytes, &h);
        if (r < 0 || (uint64_t)r != chunk_bytes || h.data_format != fmt ||
            h.width != cd_values[9] || h.height != cd_values[10] ||
            h.depth != cd_values[11] || h.dim_order != 'C') {
            filter_error(caller,
                         "stored chunk (%u bytes) is not a valid PZF blob for "
                         "this dataset (%s); the file is corrupt",
                         (unsigned)nbytes,
                         r < 0 ? pzf_error_string((int)r)
                               : "shape or type differs");
            return 0;
        }
        if (check_open_chunks(caller, cd_nelmts, cd_values, chunk_bytes, msg,
                              sizeof msg) < 0) {
            filter_error(caller, "%s", msg);
            return 0;
        }
        out = malloc(chunk_bytes ? (size_t)chunk_bytes : 1);
        if (!out) {
            filter_error(caller, "out of memory");
            return 0;
        }
        r = pzf_decompress(*buf, nbytes, out, (size_t)chunk_bytes,
                           chunk_bytes, nthreads);
        if (r < 0) {
            free(out);
            filter_error(caller, "cannot decode a stored chunk: %s",
                         pzf_error_string((int)r));
            return 0;
        }
        free(*buf);
        *buf = out;
        *buf_size = (size_t)chunk_bytes;
        return (size_t)chunk_bytes;
    } else {
        pzf_params p;
        size_t bound;
        if (nbytes != chunk_bytes) {
            filter_error(caller, "chunk of %lu bytes, expected %lu",
                         (unsigned long)nbytes, (unsigned long)chunk_bytes);
            return 0;
        }
        pzf_params_init(&p);
        p.data_format = fmt;
        p.shape[0] = cd_values[9];
        p.shape[1] = cd_values[10];
        p.shape[2] = cd_values[11];
        p.dim_order = 'C';
        p.compression = (int)cd_values[0];
        p.quantization = (int)cd_values[1];
        p.quant_offset = f32_from_bits(cd_values[2]);
        p.quant_scale = f32_from_bits(cd_values[3]);
        p.nthreads = nthreads;
        p.chunk_size = cd_values[5];
        bound = pzf_compress_bound(&p);
        if (!bound) {
            filter_error(caller, "cannot encode a chunk of %lu bytes with "
                         "these parameters", (unsigned long)nbytes);
            return 0;
        }
        out = malloc(bound);
        if (!out) {
            filter_error(caller, "out of memory");
            return 0;
        }
        r = pzf_compress(*buf, &p, out, bound);
        if (r <= 0) {
            free(out);
            filter_error(caller, "cannot encode a chunk: %s",
                         pzf_error_string((int)r));
            return 0;
        }
        free(*buf);
        *buf = out;
        *buf_size = bound;
        return (size_t)r;
    }
}

static const H5Z_class2_t pzf_class = {
    1, PZF_FILTER_ID, 1, 1, "pzf (PYME square-root + Huffman)",
    can_apply_pzf, set_local_pzf, filter_pzf};

PZF_EXPORT int H5PLget_plugin_type(void) { return H5PL_TYPE_FILTER; }

PZF_EXPORT const void *H5PLget_plugin_info(void) { return &pzf_class; }
