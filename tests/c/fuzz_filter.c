/* libFuzzer target: the HDF5 filter callback (csrc/h5z_pzf.c) with hostile
 * cd_values, hostile chunks and datasets whose real chunks disagree with
 * the parameters.  The HDF5 functions the plugin looks up at run time are
 * stubbed here (link with -rdynamic so dlsym finds them) and describe up to
 * three open datasets; dataset 0 is the one being read, so after a decoded
 * chunk is accepted, the harness copies a whole chunk of dataset 0 out of
 * the returned buffer, as HDF5 does: the filter must never return less.
 *
 * Input: byte 0 mode (bit 0 decode, bits 1-2 number of open datasets,
 * bit 3 datasets 1-2 carry other parameters), byte 1 cd_nelmts (mod 14),
 * 12 little-endian uint32 cd_values, 3 x 5 bytes of datasets (rank, three
 * chunk dimensions, element size), then the chunk (a blob when decoding). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int64_t hid_t;
typedef int herr_t;
typedef uint64_t hsize_t;

#define HEAD 65
#define MAXDS 3

static struct {
    unsigned ndims, size;
    hsize_t dims[3];
    unsigned cd[13];
    size_t ncd;
} ds[MAXDS];
static int nds;

/* ---- HDF5 stubs --------------------------------------------------------- */
hid_t H5E_ERR_CLS_g = 1, H5E_PLINE_g = 2, H5E_CALLBACK_g = 3,
      H5E_CANTFILTER_g = 4, H5T_IEEE_F32LE_g = 5;

static int ds_of(hid_t id) /* dataset ids 10+i, dcpls 20+i, types 30+i */
{
    int i = (int)(id % 10);
    return i >= 0 && i < nds ? i : -1;
}

herr_t H5Epush2(hid_t s, const char *file, const char *func, unsigned line,
                hid_t cls, hid_t maj, hid_t min, const char *fmt, ...)
{
    (void)s; (void)file; (void)func; (void)line; (void)cls; (void)maj;
    (void)min; (void)fmt;
    return 0;
}
int H5Pget_chunk(hid_t dcpl, int max, hsize_t *dims)
{
    int i = ds_of(dcpl);
    if (i < 0 || (int)ds[i].ndims > max)
        return -1;
    memcpy(dims, ds[i].dims, ds[i].ndims * sizeof *dims);
    return (int)ds[i].ndims;
}
int H5Pget_filter2(hid_t dcpl, unsigned idx, unsigned *flags, size_t *n,
                   unsigned *cd, size_t namelen, char *name, unsigned *config)
{
    int i = ds_of(dcpl);
    size_t k;
    if (i < 0 || idx != 0)
        return -1;
    for (k = 0; k < *n && k < ds[i].ncd; k++) /* HDF5 copies at most *n */
        cd[k] = ds[i].cd[k];
    *n = ds[i].ncd;
    *flags = 0;
    *config = 3;
    if (namelen)
        name[0] = '\0';
    return 53338;
}
herr_t H5Pget_filter_by_id2(hid_t dcpl, int id, unsigned *flags, size_t *n,
                            unsigned *cd, size_t namelen, char *name,
                            unsigned *config)
{
    (void)id;
    return H5Pget_filter2(dcpl, 0, flags, n, cd, namelen, name, config) < 0 ? -1 : 0;
}
herr_t H5Pmodify_filter(hid_t d, int id, unsigned f, size_t n, const unsigned *c)
{
    (void)d; (void)id; (void)f; (void)n; (void)c;
    return 0;
}
int H5Pget_nfilters(hid_t dcpl) { return ds_of(dcpl) < 0 ? -1 : 1; }
int H5Tget_class(hid_t t) { (void)t; return 0; }
size_t H5Tget_size(hid_t t)
{
    int i = ds_of(t);
    return i < 0 ? 0 : ds[i].size;
}
int H5Tget_sign(hid_t t) { (void)t; return 0; }
int H5Tget_order(hid_t t) { (void)t; return 0; }
int H5Tequal(hid_t a, hid_t b) { (void)a; (void)b; return 0; }
int H5Tdetect_class(hid_t t, int c) { (void)t; (void)c; return 0; }
ptrdiff_t H5Fget_obj_count(hid_t f, unsigned types)
{
    (void)f; (void)types;
    return nds;
}
ptrdiff_t H5Fget_obj_ids(hid_t f, unsigned types, size_t max, hid_t *ids)
{
    size_t i;
    (void)f; (void)types;
    for (i = 0; i < max && i < (size_t)nds; i++)
        ids[i] = 10 + (hid_t)i;
    return (ptrdiff_t)i;
}
hid_t H5Dget_create_plist(hid_t d) { return ds_of(d) < 0 ? -1 : d + 10; }
hid_t H5Dget_type(hid_t d) { return ds_of(d) < 0 ? -1 : d + 20; }
herr_t H5Pclose(hid_t p) { (void)p; return 0; }
herr_t H5Tclose(hid_t t) { (void)t; return 0; }

/* ---- the target ------------------------------------------------------- */
typedef struct {
    int version, id;
    unsigned encoder_present, decoder_present;
    const char *name;
    void *can_apply, *set_local;
    size_t (*filter)(unsigned, size_t, const unsigned[], size_t, size_t *, void **);
} filter_class;

const void *H5PLget_plugin_info(void);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const filter_class *fc = (const filter_class *)H5PLget_plugin_info();
    unsigned cd[12], flags;
    size_t ncd, nbytes, buf_size, ret, k;
    uint64_t chunk0 = 0;
    void *buf;
    int i;
    if (size < HEAD)
        return 0;
    flags = (data[0] & 1) ? 0x0100u : 0;
    nds = (data[0] >> 1) & 3;
    if (nds > MAXDS)
        nds = MAXDS;
    ncd = data[1] % 14;
    for (k = 0; k < 12; k++)
        cd[k] = (unsigned)data[2 + 4 * k] | (unsigned)data[3 + 4 * k] << 8 |
                (unsigned)data[4 + 4 * k] << 16 | (unsigned)data[5 + 4 * k] << 24;
    cd[4] %= 3; /* threads: keep the run fast */
    for (i = 0; i < MAXDS; i++) {
        const uint8_t *d = data + 50 + 5 * i;
        ds[i].ndims = 1 + d[0] % 3;
        for (k = 0; k < 3; k++)
            ds[i].dims[k] = 1 + d[1 + k] % 64;
        ds[i].size = 1 + d[4] % 8;
        ds[i].ncd = ncd > 12 ? 12 : ncd;
        memcpy(ds[i].cd, cd, sizeof cd);
        if (i > 0 && (data[0] & 8))
            ds[i].cd[9] ^= 1;
    }
    nbytes = size - HEAD;
    buf_size = nbytes;
    buf = malloc(nbytes ? nbytes : 1);
    if (!buf)
        return 0;
    memcpy(buf, data + HEAD, nbytes);
    ret = fc->filter(flags, ncd > 12 ? 12 : ncd, cd, nbytes, &buf_size, &buf);
    if (ret && flags) {
        /* HDF5 now copies one chunk of the dataset being read (dataset 0) */
        volatile uint8_t sum = 0;
        if (nds == 0)
            abort(); /* nothing could vouch for the size */
        chunk0 = ds[0].size;
        for (k = 0; k < ds[0].ndims; k++)
            chunk0 *= ds[0].dims[k];
        if (buf_size < chunk0 || ret != chunk0)
            abort();
        for (k = 0; k < chunk0; k++)
            sum = (uint8_t)(sum + ((const uint8_t *)buf)[k]);
        (void)sum;
    } else if (ret) {
        volatile uint8_t sum = 0;
        if (ret > buf_size)
            abort();
        for (k = 0; k < ret; k++)
            sum = (uint8_t)(sum + ((const uint8_t *)buf)[k]);
        (void)sum;
    }
    free(buf);
    return 0;
}
