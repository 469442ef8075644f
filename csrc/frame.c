/*
 * frame.c - the PZF frame container: header, raw / Huffman / chunked
 * Huffman payloads, square-root quantisation, multi-threaded chunks.
 */
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "ctx.h"
#include "huf.h"
#include "parallel.h"
#include "pzf.h"
#include "quant.h"

#define MAX_CHUNKS 65535u

unsigned pzf_version(void)
{
    return PZF_VERSION_NUMBER;
}

const char *pzf_version_string(void)
{
    return PZF_VERSION_STRING;
}

const char *pzf_error_string(int code)
{
    switch (code) {
    case PZF_OK: return "no error";
    case PZF_ERR_CORRUPT: return "corrupt or truncated data";
    case PZF_ERR_UNSUPPORTED: return "unsupported format variant";
    case PZF_ERR_ARGUMENT: return "invalid argument";
    case PZF_ERR_TOO_LARGE: return "decoded size exceeds the allowed maximum";
    case PZF_ERR_NOMEM: return "out of memory";
    case PZF_ERR_DST_SIZE: return "destination buffer too small";
    default: return "unknown error";
    }
}

size_t pzf_itemsize(int data_format)
{
    switch (data_format) {
    case PZF_UINT8: return 1;
    case PZF_UINT16: return 2;
    case PZF_FLOAT32: return 4;
    default: return 0;
    }
}

/* n = a*b*c without overflow; returns 0 on overflow of 2^62. */
static int mul3(uint64_t a, uint64_t b, uint64_t c, uint64_t *n)
{
    const uint64_t lim = (uint64_t)1 << 62;
    if ((b && a > lim / b) || (c && a * b > lim / c))
        return 0;
    *n = a * b * c;
    return 1;
}

int64_t pzf_read_header(const void *src, size_t src_size, uint64_t max_decoded,
                        pzf_header *h)
{
    const uint8_t *p = (const uint8_t *)src;
    uint64_t n, nbytes;
    size_t hsize;

    if (!h || (!p && src_size))
        return PZF_ERR_ARGUMENT;
    if (src_size < PZF_HEADER_SIZE_V1 || p[0] != 'B' || p[1] != 'D')
        return PZF_ERR_CORRUPT;
    h->version = p[2];
    if (h->version < 1 || h->version > 3)
        return PZF_ERR_UNSUPPORTED;
    h->data_format = p[3];
    h->compression = p[4];
    h->quantization = p[5];
    if (h->data_format > PZF_FLOAT32 || h->compression > PZF_CONTEXT ||
        h->quantization > PZF_QUANT_SQRT)
        return PZF_ERR_UNSUPPORTED;
    if (h->version == 1) {
        h->dim_order = 'C';
    } else {
        if (p[6] != 'C' && p[6] != 'F')
            return PZF_ERR_CORRUPT;
        h->dim_order = (char)p[6];
    }
    h->sequence_id = (int64_t)pzf_load_le64(p + 8);
    h->frame_num = pzf_load_le32(p + 16);
    h->width = pzf_load_le32(p + 20);
    h->height = pzf_load_le32(p + 24);
    h->depth = pzf_load_le32(p + 28);
    h->timestamp = pzf_load_le64(p + 32);
    h->quant_offset = pzf_load_lef32(p + 40);
    h->quant_scale = pzf_load_lef32(p + 44);
    if (h->version >= 3) {
        hsize = PZF_HEADER_SIZE;
        if (src_size < hsize)
            return PZF_ERR_CORRUPT;
        h->data_offset = pzf_load_le32(p + 48);
    } else {
        hsize = PZF_HEADER_SIZE_V1;
        h->data_offset = PZF_HEADER_SIZE_V1;
    }
    if (h->data_offset < hsize || h->data_offset > src_size)
        return PZF_ERR_CORRUPT;
    if (!mul3(h->width, h->height, h->depth, &n) ||
        !mul3(n, pzf_itemsize(h->data_format), 1, &nbytes) || nbytes > max_decoded ||
        nbytes > (uint64_t)(SIZE_MAX / 2))
        return PZF_ERR_TOO_LARGE;
    return (int64_t)nbytes;
}

void pzf_params_init(pzf_params *p)
{
    memset(p, 0, sizeof *p);
    p->data_format = PZF_UINT16;
    p->shape[0] = p->shape[1] = p->shape[2] = 1;
    p->dim_order = 'C';
    p->compression = PZF_HUFFMAN;
    p->quantization = PZF_QUANT_NONE;
    p->quant_scale = 1.0f;
    p->nthreads = 1;
}

/* Sizes of a frame described by params: elements and payload stream bytes. */
static int frame_sizes(const pzf_params *p, uint64_t *n, uint64_t *stream)
{
    size_t isz;
    if (!p)
        return PZF_ERR_ARGUMENT;
    isz = pzf_itemsize(p->data_format);
    if (!isz || (p->dim_order != 'C' && p->dim_order != 'F') || p->compression < 0 ||
        p->compression > PZF_CONTEXT || p->quantization < 0 ||
        p->quantization > PZF_QUANT_SQRT)
        return PZF_ERR_ARGUMENT;
    if (!mul3(p->shape[0], p->shape[1], p->shape[2], n) ||
        *n > (uint64_t)(SIZE_MAX / 2) / isz)
        return PZF_ERR_TOO_LARGE;
    if (p->quantization == PZF_QUANT_SQRT &&
        pzf_check_quant_params(p->quant_offset, p->quant_scale) != PZF_OK)
        return PZF_ERR_ARGUMENT;
    *stream = p->quantization == PZF_QUANT_SQRT ? *n : *n * isz;
    return PZF_OK;
}

/* Chunk size in stream bytes: a multiple of the element size, at most the
 * stream, few enough chunks for the 16-bit count, small enough for the 32-bit
 * length fields.  Independent of the thread count, so the output does not
 * depend on the machine.  0 when no size fits (a frame of over 255 TiB). */
static size_t chunk_bytes(const pzf_params *p, uint64_t stream)
{
    uint64_t unit = p->quantization == PZF_QUANT_SQRT ? 1 : pzf_itemsize(p->data_format);
    uint64_t cs = p->chunk_size ? (uint64_t)p->chunk_size : PZF_DEFAULT_CHUNK_SIZE;
    uint64_t min_cs = (stream + MAX_CHUNKS - 1) / MAX_CHUNKS;
    uint64_t max_cs = (UINT32_MAX - pzf_huf_bound(0)) / unit * unit;
    if (cs > stream)
        cs = stream;
    if (cs < min_cs)
        cs = min_cs;
    cs = (cs + unit - 1) / unit * unit; /* stream is a multiple of unit: still <= stream */
    if (cs > max_cs)
        cs = max_cs;
    if (cs < min_cs)
        return 0;
    return cs ? (size_t)cs : (size_t)unit;
}

size_t pzf_compress_bound(const pzf_params *p)
{
    uint64_t n, stream, nchunks = 1;
    if (frame_sizes(p, &n, &stream) != PZF_OK)
        return 0;
    if (p->compression == PZF_RAW)
        return PZF_HEADER_SIZE + (size_t)stream;
    if (p->compression == PZF_HUFFMAN_CHUNKED) {
        size_t cs = chunk_bytes(p, stream);
        if (!cs)
            return 0;
        nchunks = (stream + cs - 1) / cs;
        return PZF_HEADER_SIZE + 2 + (size_t)stream + (size_t)nchunks * (8 + pzf_huf_bound(0));
    }
    return PZF_HEADER_SIZE + pzf_huf_bound((size_t)stream);
}

static void write_header(uint8_t *d, const pzf_params *p)
{
    memset(d, 0, PZF_HEADER_SIZE);
    d[0] = 'B';
    d[1] = 'D';
    d[2] = PZF_FORMAT_VERSION;
    d[3] = (uint8_t)p->data_format;
    d[4] = (uint8_t)p->compression;
    d[5] = (uint8_t)p->quantization;
    d[6] = (uint8_t)p->dim_order;
    pzf_store_le64(d + 8, (uint64_t)p->sequence_id);
    pzf_store_le32(d + 16, p->frame_num);
    pzf_store_le32(d + 20, p->shape[0]);
    pzf_store_le32(d + 24, p->shape[1]);
    pzf_store_le32(d + 28, p->shape[2]);
    pzf_store_le64(d + 32, p->timestamp);
    pzf_store_lef32(d + 40, p->quantization == PZF_QUANT_SQRT ? p->quant_offset : 0.0f);
    pzf_store_lef32(d + 44, p->quantization == PZF_QUANT_SQRT ? p->quant_scale : 0.0f);
    pzf_store_le32(d + 48, PZF_HEADER_SIZE);
}

/* ---- Huffman coding, whole or in chunks --------------------------------
 * The stream (quantised symbols, or the pixels' bytes) is cut into chunks
 * (one for PZF_HUFFMAN).  Each chunk is planned and coded by one task into
 * its own worst-case-sized slot of dst, so threads never share output; the
 * streams are then moved down into place.  pzf_huf_compress_mapped plans
 * each chunk (from a sample when it is large, see huf_compress.c). */
typedef struct {
    const pzf_params *p;
    const void *src;       /* original pixels                                */
    const uint8_t *stream; /* the byte stream: quantised symbols, or src     */
    uint8_t *symbols;      /* where quantised symbols go when there is no table */
    const uint8_t *table;  /* quantisation table of uint8/uint16 pixels, or NULL */
    size_t stream_n, cs, nchunks;
    uint8_t *dst;
    size_t *slots;         /* where each chunk's slot starts in dst          */
    int64_t *sizes;        /* each chunk's stream size, or an error          */
} enc_job;

/* Inputs at least this large are quantised through a per-frame table. */
#define TABLE_MIN_PIXELS ((uint64_t)1 << 16)

static size_t chunk_len(const enc_job *j, size_t c)
{
    size_t start = c * j->cs;
    return j->stream_n - start < j->cs ? j->stream_n - start : j->cs;
}

static void enc_task(void *ctx, size_t c)
{
    enc_job *j = (enc_job *)ctx;
    size_t start = c * j->cs, len = chunk_len(j, c), isz = pzf_itemsize(j->p->data_format);
    /* quantised, a chunk of the stream is the same chunk of pixels */
    const uint8_t *pixels = (const uint8_t *)j->src + (j->table || j->symbols ? start * isz : 0);
    /* the symbols: pixels through the table, or the stream's bytes */
    const void *src = j->table ? (const void *)pixels : (const void *)(j->stream + start);

    if (j->symbols) {
        j->sizes[c] = pzf_quantize(pixels, j->p->data_format, len, j->p->quant_offset,
                                   j->p->quant_scale, j->symbols + start);
        if (j->sizes[c] < 0)
            return;
    }
    j->sizes[c] = pzf_huf_compress_mapped(src, j->table ? (int)isz : 1, j->table, len,
                                          j->dst + j->slots[c], pzf_huf_bound(len));
}

static int64_t compress_huffman(enc_job *j, size_t cap, int chunked)
{
    const pzf_params *p = j->p;
    size_t c, pos, head = chunked ? 8 : 0;
    int64_t rc = PZF_OK;

    j->cs = chunked ? chunk_bytes(p, j->stream_n) : j->stream_n;
    if (chunked && !j->cs)
        return PZF_ERR_TOO_LARGE;
    j->nchunks = j->stream_n ? (j->stream_n + j->cs - 1) / j->cs : (chunked ? 0 : 1);
    j->slots = (size_t *)malloc((j->nchunks + 1) * sizeof *j->slots);
    j->sizes = (int64_t *)malloc((j->nchunks + 1) * sizeof *j->sizes);
    if (!j->slots || !j->sizes) {
        rc = PZF_ERR_NOMEM;
        goto done;
    }
    /* slots of the worst-case size, after the chunk table if any */
    pos = PZF_HEADER_SIZE + (chunked ? 2 : 0);
    if (cap < pos) {
        rc = PZF_ERR_DST_SIZE;
        goto done;
    }
    for (c = 0; c < j->nchunks; c++) {
        size_t room = pzf_huf_bound(chunk_len(j, c));
        if (cap < pos + head || cap - pos - head < room) {
            rc = PZF_ERR_DST_SIZE;
            goto done;
        }
        j->slots[c] = pos + head;
        pos += head + room;
    }
    pzf_parallel_for(p->nthreads, j->nchunks, enc_task, j);
    /* move the streams down behind each other (chunked: with their sizes) */
    pos = PZF_HEADER_SIZE;
    if (chunked) {
        pzf_store_le16(j->dst + pos, (uint16_t)j->nchunks);
        pos += 2;
    }
    for (c = 0; c < j->nchunks; c++) {
        size_t size = (size_t)j->sizes[c];
        if (j->sizes[c] < 0) {
            rc = j->sizes[c];
            goto done;
        }
        if (chunked) {
            pzf_store_le32(j->dst + pos, (uint32_t)size);
            pzf_store_le32(j->dst + pos + 4, (uint32_t)chunk_len(j, c));
        }
        pos += head;
        if (pos != j->slots[c])
            memmove(j->dst + pos, j->dst + j->slots[c], size);
        pos += size;
    }
    rc = (int64_t)pos;
done:
    free(j->slots);
    free(j->sizes);
    return rc;
}

/* The symbol of every uint8/uint16 pixel value, from the exact quantiser:
 * quantising through it is one lookup, and Huffman coding reads the pixels
 * directly.  Returns PZF_OK with *table NULL where a table does not pay. */
int pzf_quant_table(const pzf_params *p, uint64_t n, uint8_t **table)
{
    size_t nv = p->data_format == PZF_UINT8 ? 256 : 65536, v;
    uint16_t *ramp;
    int rc;

    *table = NULL;
    if (p->quantization != PZF_QUANT_SQRT || p->compression == PZF_RAW ||
        p->data_format == PZF_FLOAT32 || (p->data_format == PZF_UINT16 && n < TABLE_MIN_PIXELS))
        return PZF_OK;
    ramp = (uint16_t *)malloc(nv * sizeof *ramp);
    *table = (uint8_t *)malloc(nv);
    if (!ramp || !*table) {
        free(ramp);
        free(*table);
        *table = NULL;
        return PZF_ERR_NOMEM;
    }
    for (v = 0; v < nv; v++) {
        if (nv == 256)
            ((uint8_t *)ramp)[v] = (uint8_t)v;
        else
            ramp[v] = (uint16_t)v;
    }
    rc = pzf_quantize(ramp, p->data_format, nv, p->quant_offset, p->quant_scale, *table);
    free(ramp);
    if (rc != PZF_OK) {
        free(*table);
        *table = NULL;
    }
    return rc;
}

int64_t pzf_compress(const void *src, const pzf_params *p, void *dst_, size_t cap)
{
    uint8_t *dst = (uint8_t *)dst_, *q = NULL, *table = NULL;
    uint64_t n, stream_n;
    enc_job j;
    int64_t rc;

    if ((rc = frame_sizes(p, &n, &stream_n)) != PZF_OK)
        return rc;
    if ((!src && n) || !dst)
        return PZF_ERR_ARGUMENT;
    if (cap < PZF_HEADER_SIZE)
        return PZF_ERR_DST_SIZE;
    write_header(dst, p);
    if (p->compression == PZF_CONTEXT) {
        int fallback;
        pzf_params huf;
        rc = pzf_ctx_compress(src, p, (size_t)n, dst + PZF_HEADER_SIZE, cap - PZF_HEADER_SIZE,
                              &fallback);
        if (rc < 0 || !fallback)
            return rc < 0 ? rc : PZF_HEADER_SIZE + rc;
        huf = *p; /* PZF Huffman is no larger: write that */
        huf.compression = PZF_HUFFMAN;
        return pzf_compress(src, &huf, dst, cap);
    }
    if ((rc = pzf_quant_table(p, n, &table)) != PZF_OK)
        return rc;
    memset(&j, 0, sizeof j);
    j.p = p;
    j.src = src;
    j.dst = dst;
    j.table = table;
    j.stream_n = (size_t)stream_n;
    j.stream = (const uint8_t *)src;
    if (p->compression == PZF_RAW) {
        if (cap - PZF_HEADER_SIZE < stream_n)
            rc = PZF_ERR_DST_SIZE;
        else if (p->quantization == PZF_QUANT_SQRT)
            rc = pzf_quantize(src, p->data_format, (size_t)n, p->quant_offset, p->quant_scale,
                              dst + PZF_HEADER_SIZE);
        else if (stream_n)
            memcpy(dst + PZF_HEADER_SIZE, src, (size_t)stream_n);
        if (rc == PZF_OK)
            rc = PZF_HEADER_SIZE + (int64_t)stream_n;
        goto done;
    }
    if (p->quantization == PZF_QUANT_SQRT && stream_n && !table) {
        if (!(q = (uint8_t *)malloc((size_t)stream_n))) {
            rc = PZF_ERR_NOMEM;
            goto done;
        }
        j.stream = j.symbols = q; /* symbols are stored, then coded */
    }
    rc = compress_huffman(&j, cap, p->compression == PZF_HUFFMAN_CHUNKED);
done:
    free(q);
    free(table);
    return rc;
}

/* ---- decoding --------------------------------------------------------- */
typedef struct {
    const uint8_t *src;
    size_t src_n, out_start, out_n;
} dec_chunk;

typedef struct {
    const dec_chunk *chunks;
    uint8_t *dst;
    size_t out_size; /* bytes per output element of the sink */
    int sink;
    const void *lut;
    int *status;
} dec_job;

static void dec_task(void *ctx, size_t c)
{
    const dec_job *j = (const dec_job *)ctx;
    const dec_chunk *k = &j->chunks[c];
    j->status[c] = pzf_huf_decode(k->src, k->src_n, j->dst + k->out_start * j->out_size,
                                  k->out_n, j->sink, j->lut);
}

static int decompress_chunked(const uint8_t *pl, size_t plen, size_t stream_n, dec_job *j,
                              int nthreads)
{
    size_t nchunks, c, pos = 2, out = 0;
    dec_chunk *chunks;
    int *status, rc = PZF_OK;

    if (plen < 2)
        return PZF_ERR_CORRUPT;
    nchunks = (size_t)pzf_load_le16(pl);
    chunks = (dec_chunk *)malloc((nchunks + 1) * sizeof *chunks);
    status = (int *)malloc((nchunks + 1) * sizeof *status);
    if (!chunks || !status) {
        rc = PZF_ERR_NOMEM;
        goto done;
    }
    for (c = 0; c < nchunks; c++) {
        size_t clen, dlen;
        if (plen - pos < 8) {
            rc = PZF_ERR_CORRUPT;
            goto done;
        }
        clen = (size_t)pzf_load_le32(pl + pos);
        dlen = (size_t)pzf_load_le32(pl + pos + 4);
        pos += 8;
        if (plen - pos < clen || stream_n - out < dlen) {
            rc = PZF_ERR_CORRUPT;
            goto done;
        }
        chunks[c].src = pl + pos;
        chunks[c].src_n = clen;
        chunks[c].out_start = out;
        chunks[c].out_n = dlen;
        pos += clen;
        out += dlen;
    }
    if (out != stream_n) {
        rc = PZF_ERR_CORRUPT;
        goto done;
    }
    j->chunks = chunks;
    j->status = status;
    pzf_parallel_for(nthreads, nchunks, dec_task, j);
    for (c = 0; c < nchunks && rc == PZF_OK; c++)
        rc = status[c];
done:
    free(chunks);
    free(status);
    return rc;
}

/* Raw quantised payload: symbols through the de-quantisation table. */
static void map_symbols(const uint8_t *q, size_t n, int sink, const void *lut, void *dst)
{
    size_t i;
    if (sink == PZF_SINK_LUT8) {
        for (i = 0; i < n; i++) ((uint8_t *)dst)[i] = ((const uint8_t *)lut)[q[i]];
    } else if (sink == PZF_SINK_LUT16) {
        for (i = 0; i < n; i++) ((uint16_t *)dst)[i] = ((const uint16_t *)lut)[q[i]];
    } else {
        for (i = 0; i < n; i++) ((uint32_t *)dst)[i] = ((const uint32_t *)lut)[q[i]];
    }
}

int64_t pzf_decompress(const void *src, size_t src_size, void *dst, size_t cap,
                       uint64_t max_decoded, int nthreads)
{
    pzf_header h;
    int64_t nbytes = pzf_read_header(src, src_size, max_decoded, &h);
    const uint8_t *pl;
    size_t plen, n, stream_n, isz;
    union { uint8_t u8[256]; uint16_t u16[256]; uint32_t u32[256]; float f32[256]; } lut;
    dec_job j;
    int rc;

    if (nbytes < 0)
        return nbytes;
    if (!dst && nbytes)
        return PZF_ERR_ARGUMENT;
    if ((uint64_t)nbytes > cap)
        return PZF_ERR_DST_SIZE;
    pl = (const uint8_t *)src + h.data_offset;
    plen = src_size - h.data_offset;
    isz = pzf_itemsize(h.data_format);
    n = (size_t)nbytes / isz;
    memset(&j, 0, sizeof j);
    j.dst = (uint8_t *)dst;
    if (h.quantization == PZF_QUANT_SQRT) {
        pzf_dequant_lut(h.quant_offset, h.quant_scale, h.data_format, &lut);
        stream_n = n;
        j.out_size = isz;
        j.sink = isz == 1 ? PZF_SINK_LUT8 : isz == 2 ? PZF_SINK_LUT16 : PZF_SINK_LUT32;
        j.lut = &lut;
    } else {
        stream_n = (size_t)nbytes;
        j.out_size = 1;
        j.sink = PZF_SINK_U8;
    }
    switch (h.compression) {
    case PZF_RAW:
        if (plen != stream_n)
            return PZF_ERR_CORRUPT;
        if (h.quantization != PZF_QUANT_SQRT) {
            if (stream_n)
                memcpy(dst, pl, stream_n);
        } else {
            map_symbols(pl, n, j.sink, j.lut, dst);
        }
        break;
    case PZF_HUFFMAN:
        if ((rc = pzf_huf_decode(pl, plen, dst, stream_n, j.sink, j.lut)) != 0)
            return rc;
        break;
    case PZF_HUFFMAN_CHUNKED:
        if ((rc = decompress_chunked(pl, plen, stream_n, &j, nthreads)) != 0)
            return rc;
        break;
    default:
        if ((rc = pzf_ctx_decompress(pl, plen, &h, n, dst, nthreads)) != 0)
            return rc;
        break;
    }
    return nbytes;
}
