"""The context encoder's kernels.  Token encoder: every vector kernel this
CPU has (AVX2, AVX-512) writes the same words and ends in the same states
as the portable scalar kernel, bit for bit, on random tables and lines; a
plain Python decoder of docs/format-context.md section 5 reads the tokens
back.  Raw-bit writer of lossless values: every kernel writes the tokens
and bits of a plain Python writer.  Line models (the encoder's contexts
and residuals of 8-bit values; the 16-bit model that the decoder shares):
every kernel agrees with the model of section 3 written out in numpy.  Whole frames round-trip through pzfcodec.decompress.  (Whole
blobs under each kernel cap are compared in tests/test_isa.py.)"""
import numpy as np
import pytest

import pzfcodec
from pzfcodec import _core, simulate

ISAS = [isa for isa in (_core.ISA_SCALAR, _core.ISA_AVX2, _core.ISA_AVX512)
        if isa <= _core.cpu_isa()]
M = 4096
L = 1 << 15


def random_tables(rng, nctx):
    """nctx frequency rows summing to 4096: a lone token of frequency
    4096, many tokens of frequency 1, and random shapes between."""
    freq = np.zeros((nctx, 256), np.uint32)
    for c in range(nctx):
        kind = c % 4
        if kind == 0:
            freq[c, rng.integers(256)] = M
            continue
        k = 256 if kind == 1 else int(rng.integers(2, 120))
        toks = rng.choice(256, k, replace=False)
        if kind == 1:  # 255 tokens of frequency 1, one takes the rest
            f = np.ones(k, np.int64)
        else:
            f = np.floor(rng.pareto(1.0, k) * 50).astype(np.int64) + 1
            f = np.maximum(1, f * (M - k) // f.sum())
        f[np.argmax(f)] += M - f.sum()
        assert f.min() >= 1 and f.sum() == M
        freq[c, toks] = f
    return freq


def random_lines(rng, freq, lengths):
    """Contexts and tokens of lines with the given lengths; tokens drawn
    from each context's table (so rare and frequency-1 tokens occur)."""
    n = int(sum(lengths))
    ctx = rng.integers(0, freq.shape[0], n).astype(np.uint8)
    cum = np.cumsum(freq, axis=1, dtype=np.int64)
    z = rng.integers(0, M, n)
    skew = rng.random(n) < 0.3  # also uniformly chosen tokens: rare ones
    tok = np.empty(n, np.uint8)
    for i, (c, zz) in enumerate(zip(ctx, z)):
        nz = np.flatnonzero(freq[c])
        tok[i] = rng.choice(nz) if skew[i] else np.searchsorted(cum[c], zz, side="right")
    return ctx, tok


def encode(freq, ctx, tok, lengths, isa, states=None):
    st = np.full(32, L, np.uint32) if states is None else states.copy()
    words = _core.ctx_encode_tokens(freq, ctx, tok, np.asarray(lengths, np.uintp), st, isa)
    return words, st


def decode(freq, ctx, lengths, words, states):
    """Decode lines encoded in the given order (so the last comes first),
    as docs/format-context.md section 5 says: returns the tokens in the
    given line order and the final states."""
    cum = np.concatenate([np.zeros((freq.shape[0], 1), np.int64),
                          np.cumsum(freq, axis=1, dtype=np.int64)], axis=1)
    w = np.frombuffer(words, "<u2").tolist()
    xs = [int(v) for v in states]
    pos, starts = 0, np.concatenate([[0], np.cumsum(lengths)]).astype(int)
    tok = np.empty(int(starts[-1]), np.uint8)
    for line in reversed(range(len(lengths))):
        a = starts[line]
        for x in range(int(lengths[line])):
            c, j = int(ctx[a + x]), x % 32
            z = xs[j] & (M - 1)
            t = int(np.searchsorted(cum[c], z, side="right")) - 1
            xs[j] = int(freq[c, t]) * (xs[j] >> 12) + z - int(cum[c, t])
            if xs[j] < L:
                xs[j] = xs[j] << 16 | w[pos]
                pos += 1
            tok[a + x] = t
    assert pos == len(w), "every word read"
    return tok, xs


def test_kernels_agree_and_decode():
    rng = np.random.default_rng(12)
    freq = random_tables(rng, 9)
    lengths = [*range(1, 101), 2048, 2048, 31, 32, 33, 64, 65]
    ctx, tok = random_lines(rng, freq, lengths)
    ref_words, ref_states = encode(freq, ctx, tok, lengths, _core.ISA_SCALAR)
    for isa in ISAS[1:]:
        words, states = encode(freq, ctx, tok, lengths, isa)
        assert words == ref_words, f"isa {isa}: words differ"
        np.testing.assert_array_equal(states, ref_states, err_msg=f"isa {isa}")
    back, final = decode(freq, ctx, lengths, ref_words, ref_states)
    np.testing.assert_array_equal(back, tok)
    assert final == [L] * 32


@pytest.mark.parametrize("seed", range(6))
def test_kernels_agree_on_many_lines(seed):
    """Many lines, random lengths and starting states (not only 2^15),
    tables of up to 73 contexts."""
    rng = np.random.default_rng(seed)
    freq = random_tables(rng, int(rng.integers(1, 74)))
    lengths = rng.integers(1, 300, int(rng.integers(1, 60))).tolist()
    if seed % 2:
        lengths += [2048] * 3
    ctx, tok = random_lines(rng, freq, lengths)
    states = rng.integers(L, 1 << 31, 32).astype(np.uint32)
    ref = encode(freq, ctx, tok, lengths, _core.ISA_SCALAR, states)
    for isa in ISAS[1:]:
        words, st = encode(freq, ctx, tok, lengths, isa, states)
        assert words == ref[0], f"isa {isa}: words differ"
        np.testing.assert_array_equal(st, ref[1], err_msg=f"isa {isa}")


def test_extreme_tables():
    """Every value in a frequency-1 slot (a word per value) or in a
    frequency-4096 table (never a word)."""
    freq = np.zeros((2, 256), np.uint32)
    freq[0, :] = 1
    freq[0, 0] = M - 255
    freq[1, 7] = M
    lengths = [2048, 77, 2048]
    n = sum(lengths)
    rng = np.random.default_rng(5)
    ctx = rng.integers(0, 2, n).astype(np.uint8)
    tok = np.where(ctx == 1, 7, rng.integers(1, 256, n)).astype(np.uint8)
    ref_words, ref_states = encode(freq, ctx, tok, lengths, _core.ISA_SCALAR)
    for isa in ISAS[1:]:
        assert encode(freq, ctx, tok, lengths, isa)[0] == ref_words
    back, final = decode(freq, ctx, lengths, ref_words, ref_states)
    np.testing.assert_array_equal(back, tok)
    assert final == [L] * 32


def test_bad_input_is_refused():
    freq = np.zeros((1, 256), np.uint32)
    freq[0, 3] = M
    one = np.array([1], np.uintp)
    with pytest.raises(pzfcodec.BadArgumentError):  # token without a frequency
        _core.ctx_encode_tokens(freq, np.zeros(1, np.uint8), np.zeros(1, np.uint8), one,
                                np.full(32, L, np.uint32), _core.ISA_SCALAR)
    with pytest.raises(pzfcodec.BadArgumentError):  # context out of range
        _core.ctx_encode_tokens(freq, np.ones(1, np.uint8), np.full(1, 3, np.uint8), one,
                                np.full(32, L, np.uint32), _core.ISA_SCALAR)
    freq[0, 4] = 1  # sums to 4097
    with pytest.raises(pzfcodec.BadArgumentError):
        _core.ctx_encode_tokens(freq, np.zeros(1, np.uint8), np.full(1, 3, np.uint8), one,
                                np.full(32, L, np.uint32), _core.ISA_SCALAR)


def window_sum(rows):
    """S of every value of a line y >= 1 (docs/format-context.md section 3):
    the sum of the 4 lines above over columns x - 4 .. x + 3, clamped."""
    n = rows.shape[1]
    colsum = rows[:, np.clip(np.arange(-4, n + 4), 0, n - 1)].sum(axis=0)
    return sum(colsum[i:i + n] for i in range(8))


def activity(rows, base):
    """A: the absolute differences from base of the values x - 1, x, x + 1
    of the two lines above (clamped), added."""
    n = rows.shape[1]
    return sum(np.abs(rows[r, np.clip(np.arange(n) + dx, 0, n - 1)] - base)
               for r in (0, 1) for dx in (-1, 0, 1))


def zigzag(cur, base, bits):
    """The zig-zagged residuals of cur from base, wrapped to bits bits."""
    top = 1 << bits
    d = (cur.astype(np.int64) - base) % top
    d = np.where(d >= top // 2, d - top, d)
    return np.where(d < 0, -2 * d - 1, 2 * d)


def model8_reference(above, cur, ashift, pbits):
    """Contexts and residuals of a line y >= 1 of kind 0, as
    docs/format-context.md section 3 says."""
    rows = above.reshape(4, cur.size).astype(np.int64)
    p4 = (window_sum(rows) + 16) >> 3
    base = p4 >> 2
    a = activity(rows, base)
    ctx = 1 + (np.minimum(a >> ashift, 15) << pbits) + ((p4 & 3) >> (2 - pbits))
    return ctx.astype(np.uint8), zigzag(cur, base, 8).astype(np.uint8)


@pytest.mark.parametrize("seed", range(4))
def test_line_model_kernels_agree(seed):
    rng = np.random.default_rng(100 + seed)
    for n in [*range(1, 70), 95, 96, 97, 2048, 2049]:
        lo = int(rng.integers(0, 256))
        hi = int(rng.integers(lo, 257))
        above = rng.integers(lo, hi + 1, 4 * n).clip(0, 255).astype(np.uint8)
        cur = rng.integers(0, 256, n).astype(np.uint8)
        ashift, pbits = int(rng.integers(0, 16)), int(rng.integers(0, 3))
        ref = model8_reference(above, cur, ashift, pbits)
        for isa in ISAS:
            ctx, u = _core.ctx_model8_encode(above, cur, ashift, pbits, isa)
            np.testing.assert_array_equal(np.frombuffer(ctx, np.uint8), ref[0],
                                          err_msg=f"isa {isa} n {n}")
            np.testing.assert_array_equal(np.frombuffer(u, np.uint8), ref[1],
                                          err_msg=f"isa {isa} n {n}")


def model16_reference(above, cur, ashift):
    """Contexts and predictions (or zig-zagged residuals of cur) of a line
    y >= 1 of kind 1, as docs/format-context.md section 3 says, in exact
    integer arithmetic."""
    rows = above.reshape(4, above.size // 4).astype(np.int64)
    base = (window_sum(rows) + 16) >> 5
    ctx = (1 + np.minimum(activity(rows, base) >> ashift, 71)).astype(np.uint8)
    if cur is None:
        return ctx, base.astype(np.uint16)
    return ctx, zigzag(cur, base, 16).astype(np.uint16)


@pytest.mark.parametrize("seed", range(4))
def test_line_model16_kernels_agree(seed):
    """Every kernel of the 16-bit line model (shared by the encoder and
    the decoder) gives the exact model's contexts and predictions or
    residuals: with every activity shift, on narrow and full-range values
    (activities far above 2^16, where a vector kernel's 16-bit sums would
    saturate)."""
    rng = np.random.default_rng(300 + seed)
    for n in [*range(1, 40), 95, 96, 97, 2048, 2049]:
        lo = int(rng.integers(0, 65536))
        hi = int(rng.integers(lo, 65537)) if seed % 2 else 65535
        lo = 0 if seed == 3 else lo
        above = rng.integers(lo, hi + 1, 4 * n).clip(0, 65535).astype(np.uint16)
        cur = rng.integers(0, 65536, n).astype(np.uint16)
        ashift = int(rng.integers(0, 16)) if n % 3 else n % 16
        for c in (None, cur):
            ref = model16_reference(above, c, ashift)
            for isa in ISAS:
                ctx, b = _core.ctx_model16(above, c, n, ashift, isa)
                np.testing.assert_array_equal(np.frombuffer(ctx, np.uint8), ref[0],
                                              err_msg=f"isa {isa} n {n} shift {ashift}")
                np.testing.assert_array_equal(np.frombuffer(b, np.uint16), ref[1],
                                              err_msg=f"isa {isa} n {n} shift {ashift}")


def raw16_reference(k, ctx, u):
    """Tokens and raw bits of lossless residuals, as docs/format-context.md
    section 5 says: k[ctx] low bits of each residual, or all 16 after the
    escape token 255, least significant bit first."""
    kk = k[ctx].astype(np.int64)
    t = u.astype(np.int64) >> kk
    esc = t >= 255
    n = np.where(esc, 16, kk)
    bits = []
    for v, m in zip(u.astype(np.int64), n):
        bits.extend((v >> i) & 1 for i in range(m))
    bits += [0] * (-len(bits) % 8)
    raw = np.packbits(np.array(bits, np.uint8), bitorder="little").tobytes()
    return np.where(esc, 255, t).astype(np.uint8).tobytes(), raw


@pytest.mark.parametrize("seed", range(4))
def test_raw_bit_writer_kernels_agree(seed):
    """Every raw-bit writer kernel gives the tokens and bits of the plain
    reference, on lines of every length mod 16, with k from 0 to 16,
    escapes, and all-escape lines (16 bits a value: the widest writes)."""
    rng = np.random.default_rng(200 + seed)
    for n in [*range(0, 40), 95, 96, 97, 2048, 2049]:
        nctx = int(rng.integers(1, 97))
        k = rng.integers(0, 17, nctx).astype(np.uint8)
        if seed == 3:
            k[:] = 0  # every residual of 255 or more escapes
        ctx = rng.integers(0, nctx, n).astype(np.uint8)
        scale = rng.choice([2, 256, 4096, 65536])
        u = rng.integers(0, scale, n).astype(np.uint16)
        if seed == 3:
            u |= 0x8000
        ref = raw16_reference(k, ctx, u)
        for isa in ISAS:
            got = _core.ctx_put_raw16(k, ctx, u, isa)
            assert got[0] == ref[0], f"isa {isa} n {n}: tokens differ"
            assert got[1] == ref[1], f"isa {isa} n {n}: bits differ"


@pytest.mark.parametrize("width", [1, 5, 31, 32, 33, 100, 2048])
def test_frames_round_trip(width):
    """Frames whose lines are 1..2048 values long (partial groups of 32
    lanes), quantised and lossless, with several threads."""
    rng = np.random.default_rng(width)
    height = max(8, 40000 // width)
    yy, xx = np.mgrid[0:height, 0:width]
    frame = (200 + 50 * np.sin(xx / 37.0) + 30 * np.cos(yy / 23.0)
             + rng.normal(0, 6, (height, width))).clip(0, 65535).astype(np.uint16)
    q = pzfcodec.camera_quantization(100.0, 0.5, 1.0)
    for quant in (q, None):
        for threads in (1, 3):
            blob = pzfcodec.compress(frame, "context", quant, threads=threads, chunk_size=4096)
            assert pzfcodec.read_header(blob).compression == "context"
            back = pzfcodec.decompress(blob)
            if quant is None:
                np.testing.assert_array_equal(back, frame)
            else:  # every value quantises to its symbol
                np.testing.assert_array_equal(pzfcodec.quantize(back, q.offset, q.scale),
                                              pzfcodec.quantize(frame, q.offset, q.scale))


@pytest.mark.parametrize("shape", [(100, 100), (520, 512)])
def test_reconstruction_sums(shape):
    """Every symbol decodes to the mean of its pixels rounded as
    docs/format-context.md section 6 says, whether the encoder sums the
    pixels per symbol directly (small frames) or counts every pixel value
    first (from 2^18 values), with any number of threads."""
    truth = simulate.scene_frames("bright", 1, shape, seed=8)
    frame, cam = truth.frames[0], truth.scene.camera
    q = pzfcodec.camera_quantization(cam.ad_offset, cam.electrons_per_adu, 0.5)
    sym = pzfcodec.quantize(frame, q.offset, q.scale)
    expected, acc = {}, 0
    for s in np.unique(sym):
        px = frame[sym == s].astype(np.int64)
        c, total = px.size, int(px.sum())
        lo = total // c
        err_lo = acc + c * lo - total
        v = lo + 1 if total % c and abs(err_lo + c) < abs(err_lo) else lo
        acc += c * v - total
        expected[s] = v
    for threads in (1, 3):
        blob = pzfcodec.compress(frame, "context", q, threads=threads)
        assert pzfcodec.read_header(blob).compression == "context"
        out = pzfcodec.decompress(blob)
        for s, v in expected.items():
            assert (out[sym == s] == v).all(), (s, v)
