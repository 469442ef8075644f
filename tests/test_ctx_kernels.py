"""The context coding's token decoder: every vector kernel this CPU has
(AVX2, AVX-512) against the portable one, bit for bit, through the test
hook ``_core.ctx_decode_tokens``: the same tokens, states and word bytes
read, and the same refusal when the words run out.  Tables, contexts,
states and word streams are random (valid tables and arbitrary 32-bit
entries), adversarial (every state at its floor or ceiling, frequency 1
everywhere) and cut short at every length near the end."""
import numpy as np
import pytest

from pzfcodec import _core
from pzfcodec.errors import BadArgumentError, CorruptDataError

ALL_ISAS = {"scalar": _core.ISA_SCALAR, "avx2": _core.ISA_AVX2, "avx512": _core.ISA_AVX512}
VECTOR_ISAS = {n: i for n, i in ALL_ISAS.items() if _core.ISA_SCALAR < i <= _core.cpu_isa()}
SLOTS = 4096


def valid_table(rng, nctx):
    """Decoding tables as the decoder builds them: per context, a random
    distribution of tokens over the 4096 slots."""
    table = np.empty(nctx * SLOTS, np.uint32)
    for c in range(nctx):
        ntok = int(rng.integers(1, 256))
        lo = int(rng.integers(0, 256 - ntok + 1))
        cuts = np.sort(rng.choice(np.arange(1, SLOTS), ntok - 1, replace=False))
        freq = np.diff(np.concatenate(([0], cuts, [SLOTS]))).astype(np.uint32)
        cum = np.concatenate(([0], np.cumsum(freq)[:-1])).astype(np.uint32)
        tok = np.repeat(np.arange(lo, lo + ntok, dtype=np.uint32), freq)
        z = np.arange(SLOTS, dtype=np.uint32)
        table[c * SLOTS:(c + 1) * SLOTS] = (tok | (np.repeat(freq, freq) - 1) << 8
                                            | (z - np.repeat(cum, freq)) << 20)
    return table


def decode(table, ctx, states, words, line, isa):
    """(tokens, states, bytes read), or "corrupt"."""
    st = states.copy()
    try:
        tok, used = _core.ctx_decode_tokens(table, ctx, st, words, line, isa)
    except CorruptDataError:
        return "corrupt"
    return tok, st.tobytes(), used


def check_all(table, ctx, states, words, line):
    """Every kernel agrees with the scalar one; returns the scalar result."""
    ref = decode(table, ctx, states, words, line, _core.ISA_SCALAR)
    for name, isa in VECTOR_ISAS.items():
        assert decode(table, ctx, states, words, line, isa) == ref, name
    return ref


def random_case(rng, nctx, n, kind):
    if kind == "valid":
        table = valid_table(rng, nctx)
    elif kind == "freq1":  # every slot its own token: a word per value
        z = np.arange(SLOTS, dtype=np.uint32)
        table = np.tile(z & 0xFF, nctx).astype(np.uint32)
    else:
        table = rng.integers(0, 2**32, nctx * SLOTS, dtype=np.uint64).astype(np.uint32)
    ctx = rng.integers(0, nctx, n, dtype=np.uint8)
    states = rng.integers(2**15, 2**31, 32, dtype=np.uint32)
    return table, ctx, states


@pytest.mark.skipif(not VECTOR_ISAS, reason="this CPU has no vector kernel to compare")
@pytest.mark.parametrize("kind", ["valid", "arbitrary", "freq1"])
def test_kernels_agree_on_lines_of_every_length(kind):
    rng = np.random.default_rng(12)
    table, _, _ = random_case(rng, 5, 0, kind)
    for line in list(range(1, 101)) + [2048]:
        nlines = 1 + int(rng.integers(0, 3))
        ctx = rng.integers(0, 5, line * nlines, dtype=np.uint8)
        states = rng.integers(2**15, 2**31, 32, dtype=np.uint32)
        if line % 7 == 0:  # every state at its floor, or at its ceiling
            states[:] = 2**15 if line % 2 else 2**31 - 1
        words = rng.integers(0, 256, 2 * ctx.size + 64, dtype=np.uint8)
        tok, _, used = check_all(table, ctx, states, words, line)
        assert len(tok) == ctx.size
        # the stream cut just after the last word read, and short of it
        for cut in (used, used - 1, used - 2, used - 3, used // 2, 0):
            if cut >= 0:
                res = check_all(table, ctx, states, words[:cut], line)
                assert (res != "corrupt") == (cut == used), (line, cut)


@pytest.mark.skipif(not VECTOR_ISAS, reason="this CPU has no vector kernel to compare")
def test_kernels_agree_on_random_streams():
    rng = np.random.default_rng(7)
    for trial in range(40):
        kind = ("valid", "arbitrary", "freq1")[trial % 3]
        n = int(rng.integers(1, 3000))
        table, ctx, states = random_case(rng, int(rng.integers(1, 8)), n, kind)
        words = rng.integers(0, 256, int(rng.integers(0, 2 * n + 80)), dtype=np.uint8)
        check_all(table, ctx, states, words, int(rng.integers(1, n + 1)))


def test_hook_refuses_bad_arguments():
    table = np.zeros(SLOTS, np.uint32)
    states = np.full(32, 2**15, np.uint32)
    words = np.zeros(8, np.uint8)
    with pytest.raises(BadArgumentError):  # context outside the table
        _core.ctx_decode_tokens(table, np.ones(4, np.uint8), states, words, 4)
    with pytest.raises(BadArgumentError):  # a state of 2^31
        _core.ctx_decode_tokens(table, np.zeros(4, np.uint8),
                                np.full(32, 2**31, np.uint32), words, 4)
    with pytest.raises(BadArgumentError):
        _core.ctx_decode_tokens(table, np.zeros(4, np.uint8), states[:8], words, 4)


@pytest.mark.parametrize("kind", ["valid", "arbitrary", "freq1"])
def test_two_band_decoder_agrees_with_single_lines(kind):
    """pzf_ctx_decode_tokens2 (two bands' lines together, as the decoder
    runs bands in pairs) gives each stream what the scalar kernel gives it
    alone, also when one stream's words run out first."""
    rng = np.random.default_rng(21)
    table, _, _ = random_case(rng, 5, 0, kind)
    for line in [1, 31, 32, 33, 64, 100, 2048]:
        nlines = 1 + int(rng.integers(0, 3))
        ctx = rng.integers(0, 5, 2 * line * nlines, dtype=np.uint8)
        states = rng.integers(2**15, 2**31, 64, dtype=np.uint32)
        words = [rng.integers(0, 256, 2 * line * nlines + 64, dtype=np.uint8) for _ in range(2)]
        n = line * nlines
        alone = [decode(table, ctx[i * n:(i + 1) * n], states[32 * i:32 * i + 32], words[i],
                        line, _core.ISA_SCALAR) for i in range(2)]
        # the streams cut where each ends, and one of them short
        cuts = [(alone[0][2], alone[1][2]), (alone[0][2] - 2, alone[1][2]),
                (alone[0][2], alone[1][2] // 2), (len(words[0]), len(words[1]))]
        for cut in cuts:
            ref = [decode(table, ctx[i * n:(i + 1) * n], states[32 * i:32 * i + 32],
                          words[i][:max(cut[i], 0)], line, _core.ISA_SCALAR) for i in range(2)]
            for name, isa in {"scalar": _core.ISA_SCALAR, **VECTOR_ISAS}.items():
                st = states.copy()
                got = _core.ctx_decode_tokens2(table, ctx, st, words[0][:max(cut[0], 0)],
                                               words[1][:max(cut[1], 0)], line, isa)
                for i in range(2):
                    if ref[i] == "corrupt":
                        assert got[i] is None, (name, line, cut, i)
                    else:
                        assert got[i] == ref[i][:1] + ref[i][2:], (name, line, cut, i)
                        assert st[32 * i:32 * i + 32].tobytes() == ref[i][1], (name, line, i)


# ---- raw bits: the decoder's residuals of a line (hook _core.ctx_line_bits) ----

def reference_line_bits(k, ctx, tok, bits, kind16, base):
    """Residuals (or values) of a line in plain Python, or "corrupt"."""
    stream, nbits, pos, out = int.from_bytes(bytes(bits), "little"), 8 * len(bits), 0, []
    for c, t in zip(ctx.tolist(), tok.tolist()):
        esc = kind16 and t == 255
        kk = 16 if esc else int(k[c])
        if pos + kk > nbits:
            return "corrupt"
        r = stream >> pos & ((1 << kk) - 1)
        pos += kk
        out.append(r if esc else (t << kk | r) & 0xFFFF)
    u = np.array(out, np.uint16)
    if base is not None:
        u = (base + ((u >> 1) ^ (0 - (u & 1)).astype(np.uint16))).astype(np.uint16)
    return u.tobytes(), nbits - pos


def line_bits(k, ctx, tok, bits, kind16, base, isa):
    try:
        out, left = _core.ctx_line_bits(k, ctx, tok, bits, kind16, base, isa)
    except CorruptDataError:
        return "corrupt"
    return bytes(out), left


def test_raw_bit_kernels_agree_with_a_reference():
    """Every raw-bit kernel (scalar, and the AVX2 / AVX-512 twins this CPU
    has) gives the residuals and values of a plain-Python reader on random
    lines: every count of raw bits 0..8 (and 16), escapes, up to 73
    contexts, lengths that are and are not multiples of the vectors, lines
    needing few bits, with streams ending exactly and cut short (all refuse
    them alike; the vector kernels read a line's last bytes from a padded
    copy)."""
    rng = np.random.default_rng(33)
    lens = [0, 1, 15, 16, 17, 31, 32, 33, 100, 257, 2048] + list(rng.integers(1, 600, 8))
    for trial, n in enumerate(lens):
        nctx = int(rng.integers(1, 74))
        k = rng.integers(0, 9, nctx, dtype=np.uint8)
        if trial % 4 == 3:
            k[rng.integers(0, nctx)] = 16
        if trial % 5 == 4:  # a line reading few bits, or none, near the end
            k[:] = 0
            k[0] = int(rng.integers(0, 3))
        ctx = rng.integers(0, nctx, n, dtype=np.uint8)
        tok = rng.integers(0, 256, n, dtype=np.uint8)
        tok[rng.random(n) < 0.1] = 255  # escapes in kind 16
        kind16 = trial % 2 == 0
        need = sum(16 if kind16 and t == 255 else int(k[c]) for c, t in zip(ctx, tok))
        full = rng.integers(0, 256, (need + 7) // 8 + int(rng.integers(0, 3)), dtype=np.uint8)
        base = None if trial % 3 == 0 else rng.integers(0, 2**16, n, dtype=np.uint16)
        for cut in {len(full), (need + 7) // 8, (need + 7) // 8 - 1, len(full) // 2, 0}:
            if cut < 0:
                continue
            bits = full[:cut]
            ref = reference_line_bits(k, ctx, tok, bits, kind16, base)
            assert (ref == "corrupt") == (8 * cut < need)
            for name, isa in ALL_ISAS.items():
                if isa <= _core.cpu_isa():
                    assert line_bits(k, ctx, tok, bits, kind16, base, isa) == ref, (
                        name, trial, n, cut)


def test_raw_bit_hook_refuses_bad_arguments():
    bits = np.zeros(8, np.uint8)
    one = np.zeros(4, np.uint8)
    with pytest.raises(BadArgumentError):  # a context without a count
        _core.ctx_line_bits(np.zeros(1, np.uint8), np.ones(4, np.uint8), one, bits, True)
    with pytest.raises(BadArgumentError):  # more than 16 raw bits
        _core.ctx_line_bits(np.full(1, 17, np.uint8), one, one, bits, True)
