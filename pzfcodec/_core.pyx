# cython: language_level=3, boundscheck=False, wraparound=False
"""Thin Cython skin over the C core (csrc/pzf.h).

Functions here take flat, contiguous byte buffers and plain numbers; the
numpy-facing API with argument checking lives in :mod:`pzfcodec.codec`.
Every call into C releases the GIL.
"""
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from cpython.object cimport PyObject

from .errors import (BadArgumentError, CorruptDataError, DataTooLargeError,
                     PZFError, UnsupportedFormatError)

cdef extern from "pzf.h" nogil:
    enum:
        PZF_OK
        PZF_ERR_CORRUPT
        PZF_ERR_UNSUPPORTED
        PZF_ERR_ARGUMENT
        PZF_ERR_TOO_LARGE
        PZF_ERR_NOMEM
        PZF_ERR_DST_SIZE
        PZF_ISA_SCALAR
        PZF_ISA_AVX2
        PZF_ISA_AVX512
        PZF_HEADER_SIZE
    uint64_t PZF_DEFAULT_MAX_DECODED
    size_t PZF_DEFAULT_CHUNK_SIZE
    ctypedef struct pzf_header:
        uint8_t version, data_format, compression, quantization
        char dim_order
        int64_t sequence_id
        uint32_t frame_num, width, height, depth
        uint64_t timestamp
        float quant_offset, quant_scale
        uint32_t data_offset
    ctypedef struct pzf_params:
        int data_format
        uint32_t shape[3]
        char dim_order
        int compression, quantization
        float quant_offset, quant_scale
        int64_t sequence_id
        uint32_t frame_num
        uint64_t timestamp
        int nthreads
        size_t chunk_size
    const char *pzf_error_string(int code)
    int64_t pzf_read_header(const void *src, size_t n, uint64_t max_decoded, pzf_header *h)
    void pzf_params_init(pzf_params *p)
    size_t pzf_compress_bound(const pzf_params *p)
    int64_t pzf_compress(const void *src, const pzf_params *p, void *dst, size_t cap)
    int64_t pzf_decompress(const void *src, size_t n, void *dst, size_t cap,
                           uint64_t max_decoded, int nthreads)
    size_t pzf_huf_bound(size_t n)
    int64_t pzf_huf_compress(const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
    int64_t pzf_huf_decompress(const uint8_t *src, size_t n, uint8_t *dst, size_t out)
    int pzf_quantize(const void *src, int fmt, size_t n, float offset, float scale,
                     uint8_t *dst)
    int pzf_dequantize(const uint8_t *src, size_t n, float offset, float scale, int fmt,
                       void *dst)
    int pzf_cpu_isa()
    unsigned pzf_version()
    const char *pzf_version_string()

cdef extern from "pzf_testing.h" nogil:
    int pzf_quantize_isa(const void *src, int fmt, size_t n, float offset, float scale,
                         uint8_t *dst, int isa)
    int pzf_ctx_decode_tokens_isa(const uint32_t *table, size_t nctx, const uint8_t *ctx,
                                  size_t len, size_t line, uint32_t *x, const uint8_t *words,
                                  size_t nbytes, size_t *used, uint8_t *tok, int isa)
    int pzf_ctx_decode_tokens2_isa(const uint32_t *table, size_t nctx, const uint8_t *ctx,
                                   size_t len, size_t line, uint32_t *x, const uint8_t *words0,
                                   size_t nbytes0, const uint8_t *words1, size_t nbytes1,
                                   size_t *used, uint8_t *tok, int *rc, int isa)
    int pzf_ctx_encode_lines_isa(const uint32_t *freq, size_t nctx, const uint8_t *ctx,
                                 const uint8_t *tok, const size_t *line_len, size_t nlines,
                                 uint32_t *states, uint8_t *words, size_t cap, size_t *used,
                                 int isa)
    int pzf_ctx_line_bits_isa(const uint8_t *k, size_t nctx, int kind16, const uint8_t *ctx,
                              const uint8_t *tok, size_t len, const uint16_t *base,
                              const uint8_t *bits, size_t nbytes, uint16_t *out, size_t *left,
                              int isa)
    int pzf_ctx_model8_enc_isa(const uint8_t *above, const uint8_t *cur, size_t len,
                               unsigned ashift, unsigned pbits, uint8_t *ctx, uint8_t *u,
                               int isa)
    int pzf_ctx_model16_isa(const uint16_t *above, const uint16_t *cur, size_t len,
                            unsigned ashift, uint16_t *base, uint8_t *ctx, int isa)
    int pzf_ctx_put_raw16_isa(const uint8_t *k, size_t nctx, const uint8_t *ctx,
                              const uint16_t *u, size_t len, uint8_t *tk, uint8_t *bits,
                              size_t cap, size_t *used, int isa)

cdef extern from "Python.h":
    PyObject *new_bytes "PyBytes_FromStringAndSize"(const char *v, Py_ssize_t n)
    char *bytes_data "PyBytes_AS_STRING"(PyObject *b)
    int _PyBytes_Resize(PyObject **b, Py_ssize_t n)
    void Py_DecRef(PyObject *o)

ISA_SCALAR = PZF_ISA_SCALAR
ISA_AVX2 = PZF_ISA_AVX2
ISA_AVX512 = PZF_ISA_AVX512
HEADER_SIZE = PZF_HEADER_SIZE
DEFAULT_MAX_DECODED = PZF_DEFAULT_MAX_DECODED
DEFAULT_CHUNK_SIZE = PZF_DEFAULT_CHUNK_SIZE

_ERRORS = {
    PZF_ERR_CORRUPT: CorruptDataError,
    PZF_ERR_UNSUPPORTED: UnsupportedFormatError,
    PZF_ERR_ARGUMENT: BadArgumentError,
    PZF_ERR_TOO_LARGE: DataTooLargeError,
    PZF_ERR_NOMEM: MemoryError,
    PZF_ERR_DST_SIZE: BadArgumentError,
}
# What to do about an error, where the C message alone does not say.
_ADVICE = {
    PZF_ERR_DST_SIZE: " (give a destination of at least the decoded size, "
                      "read_header(blob).decoded_size bytes)",
}


cdef int64_t check(int64_t rc, str what) except -1:
    """Raise the exception class of a negative C error code."""
    if rc >= 0:
        return rc
    msg = pzf_error_string(<int>rc).decode()
    raise _ERRORS.get(<int>rc, PZFError)(f"{what}: {msg}{_ADVICE.get(<int>rc, '')}")


cdef PyObject *alloc_bytes(size_t n) except NULL:
    """A new, uninitialised bytes object owned by the caller."""
    cdef PyObject *raw = new_bytes(NULL, <Py_ssize_t>n)
    if raw == NULL:
        raise MemoryError()
    return raw


cdef object finish_bytes(PyObject *raw, int64_t size, str what):
    """Shrink a bytes object from alloc_bytes to size (in place) and own it;
    on a negative size release it and raise."""
    if size < 0:
        Py_DecRef(raw)
        check(size, what)
    if _PyBytes_Resize(&raw, <Py_ssize_t>size) < 0:
        raise MemoryError()
    result = <object>raw
    Py_DecRef(raw)
    return result


def read_header(const uint8_t[::1] src, uint64_t max_decoded):
    """Parse a header; returns a dict of its fields and ``decoded_size``."""
    cdef pzf_header h
    cdef int64_t nbytes = pzf_read_header(&src[0] if src.shape[0] else NULL,
                                          src.shape[0], max_decoded, &h)
    if nbytes == PZF_ERR_CORRUPT and src.shape[0] < 48:
        raise CorruptDataError(
            f"PZF header: got {src.shape[0]} bytes, a header needs at least 48")
    check(nbytes, "PZF header")
    return dict(version=h.version, data_format=h.data_format, compression=h.compression,
                quantization=h.quantization, dim_order=chr(h.dim_order),
                sequence_id=h.sequence_id, frame_num=h.frame_num,
                shape=(h.width, h.height, h.depth), timestamp=h.timestamp,
                quant_offset=h.quant_offset, quant_scale=h.quant_scale,
                data_offset=h.data_offset, decoded_size=nbytes)


def compress(const uint8_t[::1] src, int data_format, tuple shape, str order,
             int compression, int quantization, float offset, float scale,
             int64_t sequence_id, uint32_t frame_num, uint64_t timestamp,
             int nthreads, size_t chunk_size):
    """Compress a flat byte view of an array into a PZF v3 blob (bytes)."""
    cdef pzf_params p
    cdef size_t bound
    cdef int64_t size
    cdef const void *sp = &src[0] if src.shape[0] else NULL
    pzf_params_init(&p)
    p.data_format = data_format
    p.shape[0], p.shape[1], p.shape[2] = shape
    p.dim_order = ord(order)
    p.compression = compression
    p.quantization = quantization
    p.quant_offset = offset
    p.quant_scale = scale
    p.sequence_id = sequence_id
    p.frame_num = frame_num
    p.timestamp = timestamp
    p.nthreads = nthreads
    p.chunk_size = chunk_size
    bound = pzf_compress_bound(&p)
    if bound == 0:
        check(PZF_ERR_ARGUMENT, "compress")
    cdef PyObject *raw = alloc_bytes(bound)
    cdef char *dp = bytes_data(raw)
    with nogil:
        size = pzf_compress(sp, &p, dp, bound)
    return finish_bytes(raw, size, "compress")


def decompress_into(const uint8_t[::1] src, uint8_t[::1] dst, uint64_t max_decoded,
                    int nthreads):
    """Decode a blob into a writable flat byte view; returns the byte count."""
    cdef int64_t size
    cdef const void *sp = &src[0] if src.shape[0] else NULL
    cdef void *dp = &dst[0] if dst.shape[0] else NULL
    with nogil:
        size = pzf_decompress(sp, src.shape[0], dp, dst.shape[0], max_decoded, nthreads)
    return check(size, "decompress")


def huffman_compress(const uint8_t[::1] src):
    """Huffman-code bytes into a BCL-layout stream."""
    cdef size_t n = src.shape[0], bound = pzf_huf_bound(n)
    cdef int64_t size
    cdef PyObject *raw = alloc_bytes(bound)
    cdef uint8_t *dp = <uint8_t *>bytes_data(raw)
    cdef const uint8_t *sp = &src[0] if n else NULL
    with nogil:
        size = pzf_huf_compress(sp, n, dp, bound)
    return finish_bytes(raw, size, "huffman_compress")


def huffman_decompress(const uint8_t[::1] src, size_t nbytes):
    """Decode a BCL-layout stream into exactly ``nbytes`` bytes."""
    cdef int64_t size
    cdef PyObject *raw = alloc_bytes(nbytes)
    cdef uint8_t *dp = <uint8_t *>bytes_data(raw)
    cdef const uint8_t *sp = &src[0] if src.shape[0] else NULL
    with nogil:
        size = pzf_huf_decompress(sp, src.shape[0], dp, nbytes)
    return finish_bytes(raw, size, "huffman_decompress")


cdef size_t itemsize(int data_format) except 0:
    if data_format in (0, 1, 2):
        return (1, 2, 4)[data_format]
    raise BadArgumentError(f"unknown data format {data_format}")


def quantize(const uint8_t[::1] src, int data_format, float offset, float scale,
             uint8_t[::1] dst, int isa=-1):
    """Quantise ``dst.shape[0]`` pixels of a flat byte view into symbols."""
    cdef int rc
    cdef size_t n = dst.shape[0]
    if <size_t>src.shape[0] != n * itemsize(data_format):
        raise BadArgumentError("quantize: source and destination sizes differ")
    cdef const void *sp = &src[0] if src.shape[0] else NULL
    cdef uint8_t *dp = &dst[0] if n else NULL
    with nogil:
        if isa < 0:
            rc = pzf_quantize(sp, data_format, n, offset, scale, dp)
        else:
            rc = pzf_quantize_isa(sp, data_format, n, offset, scale, dp, isa)
    check(rc, "quantize")


def ctx_decode_tokens(const uint32_t[::1] table, const uint8_t[::1] ctx, uint32_t[::1] states,
                      const uint8_t[::1] words, size_t line, int isa=-1):
    """Test hook: the context coding's token decoder with kernel ``isa``.

    Decodes one token per value of ``ctx`` (lines of ``line`` values) with
    the decoding ``table`` (4096 entries per context), the 32 ``states``
    (updated in place) and the 16-bit ``words``; returns the tokens and the
    number of word bytes read.  Raises CorruptDataError when the words run
    out.
    """
    cdef int rc
    cdef size_t used = 0, n = ctx.shape[0]
    if states.shape[0] != 32 or table.shape[0] == 0 or table.shape[0] % 4096:
        raise BadArgumentError("ctx_decode_tokens: 32 states, 4096 table entries per context")
    cdef PyObject *raw = alloc_bytes(n)
    cdef uint8_t *tp = <uint8_t *>bytes_data(raw)
    cdef const uint8_t *cp = &ctx[0] if n else NULL
    cdef const uint8_t *wp = &words[0] if words.shape[0] else NULL
    with nogil:
        rc = pzf_ctx_decode_tokens_isa(&table[0], table.shape[0] // 4096, cp, n, line,
                                       &states[0], wp, words.shape[0], &used, tp, isa)
    return finish_bytes(raw, rc if rc < 0 else <int64_t>n, "ctx_decode_tokens"), used


def ctx_line_bits(const uint8_t[::1] k, const uint8_t[::1] ctx, const uint8_t[::1] tok,
                  const uint8_t[::1] bits, bint kind16, base=None, int isa=PZF_ISA_SCALAR):
    """Test hook: the context decoder's residuals of one line with raw-bit
    kernel ``isa``: ``k[c]`` raw bits per value of context ``c`` (16 after
    the escape token 255 where ``kind16``), read from ``bits``.  Returns the
    residuals (or, with ``base``, the values base + unzigzag(residual)) as
    uint16 and the number of bits left; raises CorruptDataError when the
    bits run out."""
    cdef size_t n = ctx.shape[0], left = 0
    cdef int rc
    if tok.shape[0] != n or (base is not None and len(base) != n):
        raise BadArgumentError("ctx_line_bits: ctx, tok and base must be of one length")
    cdef const uint16_t[::1] bv = None
    if base is not None:
        bv = base
    out = bytearray(2 * n)
    cdef uint8_t[::1] ov = out
    cdef const uint8_t *cp = &ctx[0] if n else NULL
    cdef const uint8_t *tp = &tok[0] if n else NULL
    cdef uint16_t *op = <uint16_t *>&ov[0] if n else NULL
    cdef const uint16_t *bp = &bv[0] if (bv is not None and n) else NULL
    cdef const uint8_t *qp = &bits[0] if bits.shape[0] else NULL
    cdef const uint8_t *kp = &k[0] if k.shape[0] else NULL
    with nogil:
        rc = pzf_ctx_line_bits_isa(kp, k.shape[0], kind16, cp, tp, n, bp, qp, bits.shape[0],
                                   op, &left, isa)
    check(rc, "ctx_line_bits")
    return out, left


def ctx_encode_tokens(const uint32_t[:, ::1] freq, const uint8_t[::1] ctx,
                      const uint8_t[::1] tok, const size_t[::1] line_lengths,
                      uint32_t[::1] states, int isa):
    """Test hook: the context coding's token encoder with kernel ``isa`` on
    lines of (context, token) pairs, encoded in the order given from the 32
    ``states`` (updated in place); ``freq`` holds one row of 256
    frequencies per context.  Returns the words written (bytes, in stream
    order)."""
    cdef int rc
    cdef size_t used = 0, total = ctx.shape[0]
    if freq.shape[1] != 256 or tok.shape[0] != ctx.shape[0] or states.shape[0] != 32:
        raise BadArgumentError("ctx_encode_tokens: freq must be (nctx, 256), ctx and tok "
                               "of one length, and 32 states")
    if sum(line_lengths) != total:
        raise BadArgumentError("ctx_encode_tokens: the line lengths must add up to the tokens")
    cdef size_t cap = 2 * total + 32
    cdef uint8_t[::1] words = bytearray(cap)
    cdef const uint8_t *cp = &ctx[0] if total else NULL
    cdef const uint8_t *tp = &tok[0] if total else NULL
    cdef const size_t *lp = &line_lengths[0] if line_lengths.shape[0] else NULL
    with nogil:
        rc = pzf_ctx_encode_lines_isa(&freq[0, 0], freq.shape[0], cp, tp, lp,
                                      line_lengths.shape[0], &states[0], &words[0], cap,
                                      &used, isa)
    check(rc, "ctx_encode_tokens")
    return bytes(words[cap - used:])


def ctx_model8_encode(const uint8_t[::1] above, const uint8_t[::1] cur, unsigned ashift,
                      unsigned pbits, int isa):
    """Test hook: the context encoder's model of one line of 8-bit values
    ``cur`` below the 4 lines ``above`` (line y - 1 first) with kernel
    ``isa``.  Returns the contexts and the residuals (bytes each)."""
    cdef int rc
    cdef size_t n = cur.shape[0]
    if n == 0 or <size_t>above.shape[0] != 4 * n:
        raise BadArgumentError("ctx_model8_encode: 4 lines above of the line's length")
    cdef uint8_t[::1] ctx = bytearray(n)
    cdef uint8_t[::1] u = bytearray(n)
    with nogil:
        rc = pzf_ctx_model8_enc_isa(&above[0], &cur[0], n, ashift, pbits, &ctx[0], &u[0], isa)
    check(rc, "ctx_model8_encode")
    return bytes(ctx), bytes(u)


def ctx_model16(const uint16_t[::1] above, cur, size_t n, unsigned ashift, int isa):
    """Test hook: the context coding's model of one line of ``n`` 16-bit
    values below the 4 lines ``above`` (line y - 1 first) with kernel
    ``isa``.  Returns the contexts (bytes) and, as uint16 bytes, the
    predictions, or with ``cur`` (the line's values) the zig-zagged
    residuals."""
    cdef int rc
    cdef const uint16_t[::1] cv = None
    if n == 0 or <size_t>above.shape[0] != 4 * n:
        raise BadArgumentError("ctx_model16: 4 lines above of n values")
    if cur is not None:
        cv = cur
        if <size_t>cv.shape[0] != n:
            raise BadArgumentError("ctx_model16: cur must hold n values")
    cdef const uint16_t *cp = &cv[0] if cv is not None else NULL
    cdef uint8_t[::1] ctx = bytearray(n)
    cdef uint8_t[::1] base = bytearray(2 * n)
    with nogil:
        rc = pzf_ctx_model16_isa(&above[0], cp, n, ashift, <uint16_t *>&base[0], &ctx[0], isa)
    check(rc, "ctx_model16")
    return bytes(ctx), bytes(base)


def ctx_put_raw16(const uint8_t[::1] k, const uint8_t[::1] ctx, const uint16_t[::1] u, int isa):
    """Test hook: the context encoder's raw-bit writer of lossless values
    with kernel ``isa``: residuals ``u`` of contexts ``ctx``, ``k[c]`` raw
    bits per value of context ``c`` (all 16 after the escape token 255).
    Returns the tokens and the raw bits (bytes each)."""
    cdef int rc
    cdef size_t n = ctx.shape[0], used = 0
    if <size_t>u.shape[0] != n:
        raise BadArgumentError("ctx_put_raw16: ctx and u must be of one length")
    cdef size_t cap = 2 * n + 8
    cdef uint8_t[::1] tk = bytearray(n + 1)
    cdef uint8_t[::1] bits = bytearray(cap)
    cdef const uint8_t *kp = &k[0] if k.shape[0] else NULL
    cdef const uint8_t *cp = &ctx[0] if n else NULL
    cdef const uint16_t *up = &u[0] if n else NULL
    with nogil:
        rc = pzf_ctx_put_raw16_isa(kp, k.shape[0], cp, up, n, &tk[0], &bits[0], cap, &used,
                                   isa)
    check(rc, "ctx_put_raw16")
    return bytes(tk[:n]), bytes(bits[:used])


def ctx_decode_tokens2(const uint32_t[::1] table, const uint8_t[::1] ctx, uint32_t[::1] states,
                       const uint8_t[::1] words0, const uint8_t[::1] words1, size_t line,
                       int isa=-1):
    """Test hook: two streams through the two-band token decoder.

    Stream i has the contexts ``ctx[i n:(i+1) n]`` (n = ``len(ctx) // 2``),
    the states ``states[32 i:32 i + 32]`` (updated in place) and the words
    ``words<i>``.  Returns, per stream, ``(tokens, word bytes read)`` or
    None where its words ran out.
    """
    cdef int rc[2]
    cdef size_t used[2]
    cdef size_t n = ctx.shape[0] // 2
    if states.shape[0] != 64 or ctx.shape[0] % 2 or table.shape[0] == 0 or \
            table.shape[0] % 4096:
        raise BadArgumentError("ctx_decode_tokens2: 64 states, two streams of contexts")
    tok = bytearray(2 * n)
    cdef uint8_t[::1] tv = tok
    cdef uint8_t *tp = &tv[0] if n else NULL
    cdef const uint8_t *cp = &ctx[0] if n else NULL
    cdef const uint8_t *w0 = &words0[0] if words0.shape[0] else NULL
    cdef const uint8_t *w1 = &words1[0] if words1.shape[0] else NULL
    cdef int r
    with nogil:
        r = pzf_ctx_decode_tokens2_isa(&table[0], table.shape[0] // 4096, cp, n, line,
                                       &states[0], w0, words0.shape[0], w1, words1.shape[0],
                                       used, tp, rc, isa)
    check(r, "ctx_decode_tokens2")
    out = []
    for i in range(2):
        if rc[i] == PZF_ERR_CORRUPT:
            out.append(None)
        else:
            check(rc[i], "ctx_decode_tokens2")
            out.append((bytes(tok[i * n:(i + 1) * n]), used[i]))
    return out


def dequantize(const uint8_t[::1] src, float offset, float scale, int data_format,
               uint8_t[::1] dst):
    """De-quantise symbols into a flat byte view of the output array."""
    cdef int rc
    cdef size_t n = src.shape[0]
    if <size_t>dst.shape[0] != n * itemsize(data_format):
        raise BadArgumentError("dequantize: source and destination sizes differ")
    cdef const uint8_t *sp = &src[0] if n else NULL
    cdef void *dp = &dst[0] if dst.shape[0] else NULL
    with nogil:
        rc = pzf_dequantize(sp, n, offset, scale, data_format, dp)
    check(rc, "dequantize")


def version():
    """Version of the C core, "MAJOR.MINOR.PATCH" (the package's version)."""
    return pzf_version_string().decode()


def version_number():
    """The C core's version as MAJOR * 10000 + MINOR * 100 + PATCH."""
    return pzf_version()


def cpu_isa():
    """Best SIMD instruction set of this CPU (ISA_SCALAR/ISA_AVX2/ISA_AVX512)
    that the kernels use: the environment variable ``PZFCODEC_ISA`` set to
    ``scalar`` or ``avx2`` (read once, at the first call into the core) caps
    it; outputs never depend on it."""
    return pzf_cpu_isa()
