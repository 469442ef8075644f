"""An independent decoder of PZF context blobs, written from
docs/format-context.md alone (plain Python, slow: for small test frames).

It shares no code with pzfcodec's C decoder; tests/test_context.py checks
that both decode the same blobs to the same arrays.
"""
from __future__ import annotations

import struct

import numpy as np


class Corrupt(Exception):
    pass


def _need(cond: bool) -> None:
    if not cond:
        raise Corrupt()


def reference_decode(blob: bytes) -> np.ndarray:
    """Decode a v3 blob with DataCompression 3 into an array of shape
    (Width, Height, Depth) in the header's DimOrder."""
    _need(blob[:2] == b"BD" and blob[2] == 3 and blob[4] == 3)
    fmt, quant, order = blob[3], blob[5], chr(blob[6])
    w, h, dpt = struct.unpack_from("<3I", blob, 20)
    offset = struct.unpack_from("<I", blob, 48)[0]
    n = w * h * dpt
    p = blob[offset:]
    version, kind, shift, pbits = p[0], p[1], p[2], p[3]
    _need(version == 2 and shift <= 15 and pbits <= (2 if kind == 0 else 0))
    _need(kind == (0 if quant == 1 or fmt == 0 else 1) and not (quant == 0 and fmt == 2))
    L, R = struct.unpack_from("<II", p, 4)
    _need(L >= 1 and R >= 1 and n % L == 0)
    pos = 12
    recon = None
    if quant == 1:
        qlo, qhi = p[pos], p[pos + 1]
        _need(qlo <= qhi)
        pos += 2
        recon = {q: struct.unpack_from("<f", p, pos + 4 * (q - qlo))[0] for q in range(qlo, qhi + 1)}
        pos += 4 * (qhi - qlo + 1)
    C = 65 if kind == 0 else 73
    tables = []  # (K, freq list of 256, slot -> token list)
    for _ in range(C):
        k = p[pos]
        pos += 1
        freq = [0] * 256
        if k == 0xFF:
            k, freq[0] = 0, 4096
        else:
            _need(k <= (7 if kind == 0 else 8))
            lo, count = p[pos], p[pos + 1] + 1
            _need(lo + count - 1 <= 255)
            pos += 2
            for t in range(lo, lo + count):
                value, shift_bits = 0, 0
                for i in range(3):
                    byte = p[pos]
                    pos += 1
                    value |= (byte & 127) << shift_bits
                    shift_bits += 7
                    if not byte & 128:
                        break
                else:
                    raise Corrupt()
                freq[t] = value
            _need(sum(freq) == 4096)
        cum = [0] * 257
        for t in range(256):
            cum[t + 1] = cum[t] + freq[t]
        slots = [0] * 4096
        for t in range(256):
            for z in range(cum[t], cum[t + 1]):
                slots[z] = t
        tables.append((k, freq, cum, slots))
    N = n // L
    B = -(-N // R)
    sizes = struct.unpack_from(f"<{B}I", p, pos)
    pos += 4 * B
    _need(pos + sum(sizes) == len(p))
    top = 256 if kind == 0 else 65536
    values = np.zeros(n, dtype=np.int64)
    for b in range(B):
        band = p[pos:pos + sizes[b]]
        pos += sizes[b]
        _need(len(band) >= 132)
        X = list(struct.unpack_from("<32I", band, 0))
        _need(all(2**15 <= x < 2**31 for x in X))
        W = struct.unpack_from("<I", band, 128)[0]
        _need(W % 2 == 0 and 132 + W <= len(band))
        words = struct.unpack_from(f"<{W // 2}H", band, 132)
        raw_bytes = band[132 + W:]
        raw_bits = "".join(format(byte, "08b")[::-1] for byte in raw_bytes)
        wpos, rpos = 0, 0

        def raw(bits):
            nonlocal rpos
            _need(rpos + bits <= len(raw_bits))
            r = int(raw_bits[rpos:rpos + bits][::-1] or "0", 2)
            rpos += bits
            return r

        first = b * R
        lines = []
        for y in range(min(R, N - first)):
            line, tokens, bases = [], [], []
            rows = [lines[max(y - k, 0)] for k in range(1, 5)] if y else None
            for x in range(L):
                if y == 0:
                    ctx, base = 0, None
                else:
                    def at(r, j):
                        return r[min(max(j, 0), L - 1)]
                    S = sum(at(rows[k], j) for k in range(4) for j in range(x - 4, x + 4))
                    base = (S + 16) >> 5
                    A = sum(abs(at(rows[0], j) - base) + abs(at(rows[1], j) - base)
                            for j in (x - 1, x, x + 1))
                    a = A >> shift
                    if kind == 0:
                        P = (S + 16) >> 3
                        ctx = 1 + (min(a, 15) << pbits) + ((P & 3) >> (2 - pbits))
                    else:
                        ctx = 1 + min(a, 71)
                k, freq, cum, slots = tables[ctx]
                j = x % 32
                z = X[j] & 4095
                t = slots[z]
                X[j] = freq[t] * (X[j] >> 12) + z - cum[t]
                if X[j] < 2**15:
                    _need(wpos < len(words))
                    X[j] = (X[j] << 16) | words[wpos]
                    wpos += 1
                tokens.append((t, k))
                bases.append(base)
            # residuals and values of the line, in order (the first line's
            # bases need its own values)
            for x, ((t, k), base) in enumerate(zip(tokens, bases)):
                if y == 0:
                    base = 0 if x == 0 else (sum(line[max(x - i, 0)] for i in range(1, 9)) + 4) >> 3
                if kind == 1 and t == 255:
                    u = raw(16)
                else:
                    u = (t << k) | raw(k)
                d = u >> 1 if u % 2 == 0 else -((u + 1) >> 1)
                line.append((base + d) % top)
            lines.append(line)
        _need(wpos == len(words) and all(x == 2**15 for x in X))
        _need(len(raw_bits) - rpos < 8 and "1" not in raw_bits[rpos:])
        values[first * L:(first + len(lines)) * L] = np.array(lines, dtype=np.int64).reshape(-1)
    dtype = [np.uint8, np.uint16, np.float32][fmt]
    if quant == 1:
        _need(all(v in recon for v in np.unique(values)))
        out = np.empty(n, dtype=dtype)
        for q in np.unique(values):
            r = recon[int(q)]
            if fmt == 2:
                v = r
            elif not r > 0:
                v = 0
            else:
                v = min(float(np.floor(np.float64(r) + 0.5)), 255.0 if fmt == 0 else 65535.0)
            out[values == q] = v
    else:
        out = values.astype(dtype)
    return out.reshape((w, h, dpt), order=order)
