"""Fuzzing the pickle interpreter: it only ever returns a value or raises a PZFError.

Seeds are legitimate pickles (plain data in every protocol, numpy arrays,
``.psf`` and ``.sf`` layouts); mutations flip, insert, delete, duplicate
and splice bytes.  The run is time-boxed by ``PZF_FUZZ_SECONDS`` (default
10 s) and seeded by ``PZF_FUZZ_SEED`` (default 0), so a failure reproduces.
"""
from __future__ import annotations

import os
import pickle
import random
import time

import numpy as np
import pytest

import pzfcodec
from pzfcodec.budget import ReadBudget
from pzfcodec.pyme.safe_pickle import safe_loads
import pyme_fixtures as fx
from common import require_module

PLAIN = [
    None, True, False, 0, -1, 255, 65535, 2 ** 31, -2 ** 63, 2 ** 200, 1.5, -0.0, float("inf"), 1 + 2j,
    "", "text", "Zoë Ångström \u03bcm \0\n\\", b"", b"\0\xff" * 40, bytearray(b"ab"),
    (), (1,), (1, 2), (1, 2, 3), (1, (2, (3, None))), [], [1, [2, [3]]], {"a": 1, "b": [2.5, "c"]},
    {1: "x", (1, "k"): None, b"k": 2.0}, set(), {1, 2, "a"}, frozenset({(1, 2), "b"}),
    list(range(2500)), {str(i): i for i in range(1200)}, ["shared"] * 5,
]


def _arrays():
    out = []
    for dtype in ("<f4", ">f8", "<u2", "|u1", "<i8", "|b1", "S3", "<U2", "<c16"):
        a = np.arange(24).reshape(2, 3, 4).astype(dtype)
        out += [a, np.asfortranarray(a), a[0], np.zeros((0, 3), dtype)]
    return out + [np.float64(1.5), np.int32(-3), np.bytes_(b"um"), np.dtype(">u2")]


def _equal(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape \
            and np.array_equal(a, b) and a.flags.f_contiguous == b.flags.f_contiguous
    if isinstance(a, float) and a != a:
        return b != b
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("protocol", range(6))
def test_same_values_as_pickle_loads(protocol):
    for obj in PLAIN + _arrays():
        data = pickle.dumps(obj, protocol=protocol)
        theirs, ours = pickle.loads(data), safe_loads(data)
        assert _equal(theirs, ours), (protocol, obj, ours)
    shared = [[1, 2]] * 3
    assert safe_loads(pickle.dumps(shared, protocol=protocol)) == shared


def _seeds() -> list:
    seeds = [pickle.dumps(obj, protocol=p) for obj in PLAIN + _arrays() for p in (0, 2, 4, 5)]
    rng = np.random.default_rng(0)
    psf = rng.random((4, 3, 2)).astype(np.float32)
    for layout in ("legacy", "legacy-io", "legacy-nounits", "modern", "modern-voxelsize"):
        seeds.append(fx.psf_pickle(psf, (0.07, 0.07, 0.05), layout=layout))
    spline = (np.repeat([0.0, 10.0], 4), np.repeat([0.0, 8.0], 4), np.arange(16.0), (3, 3), 0.5)
    seeds += [fx.sf_pickle([spline, spline], legacy=legacy) for legacy in (True, False)]
    return seeds + list(fx.malicious_pickles().values())


def _mutate(rng: random.Random, data: bytes, seeds: list) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(6)
        pos = rng.randrange(len(out) + 1)
        if kind == 0 and out:  # flip a byte
            out[min(pos, len(out) - 1)] = rng.randrange(256)
        elif kind == 1:  # insert random bytes
            out[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        elif kind == 2:  # delete a run
            del out[pos:pos + rng.randint(1, 8)]
        elif kind == 3 and out:  # duplicate a slice (repeated opcodes, memo refs)
            end = min(len(out), pos + rng.randint(1, 16))
            out[pos:pos] = out[pos:end] * rng.randint(1, 50)
        elif kind == 4:  # splice another seed
            other = rng.choice(seeds)
            cut = rng.randrange(len(other) + 1)
            out[pos:] = other[cut:]
        else:  # an interesting integer in the next 4 bytes
            value = rng.choice([0, 1, 255, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000])
            out[pos:pos + 4] = value.to_bytes(4, "little")
    return bytes(out)


def run_fuzz(seconds: float, seed: int) -> int:
    """Mutate seeds for ``seconds``; return how many cases ran."""
    rng = random.Random(seed)
    seeds = _seeds()
    deadline = time.monotonic() + seconds
    cases = 0
    while time.monotonic() < deadline:
        data = _mutate(rng, rng.choice(seeds), seeds)
        try:
            safe_loads(data, max_decoded_size=ReadBudget(1 << 26))
        except pzfcodec.PZFError:
            pass
        except BaseException as exc:  # anything else is a bug: report the input
            raise AssertionError(f"{type(exc).__name__}: {exc} for input {data!r}") from exc
        cases += 1
    return cases


def test_fuzz_mutated_pickles():
    seconds = float(os.environ.get("PZF_FUZZ_SECONDS", "10"))
    cases = run_fuzz(seconds, int(os.environ.get("PZF_FUZZ_SEED", "0")))
    assert cases > 0
    print(f"pickle fuzz: {cases} cases in {seconds:g} s")


def test_fuzz_arbitrary_bytes():
    hypothesis = require_module("hypothesis")
    st = hypothesis.strategies
    opcodes = st.sampled_from(sorted(set(b"(tlde]})N\x85\x86\x87\x88\x89aubsRo\x81hjqr\x94\x93\x8c\x8f"
                                         b"JKMGIFLSVXUTBC\x8a\x8b\x96\x97\x98\x95\x80.0120")))
    chunks = st.lists(st.one_of(opcodes.map(lambda c: bytes([c])), st.binary(max_size=6)), max_size=60)

    @hypothesis.settings(max_examples=400, deadline=None, database=None)
    @hypothesis.given(chunks.map(b"".join))
    def check(data):
        try:
            safe_loads(b"\x80\x02" + data + b".", max_decoded_size=ReadBudget(1 << 24))
        except pzfcodec.PZFError:
            pass

    check()
