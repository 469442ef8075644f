"""Helpers shared by every test module.

``require_module`` / ``require_tool`` skip a test when an optional peer is
missing on a developer's machine, but fail it under CI (``CI=true``), where
everything must be installed.
"""
from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
VECTORS = DATA / "vectors"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_module(name: str):
    """Import and return module ``name``; skip (locally) or fail (CI) if absent."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"{name} must be installed under CI: {exc}")
        pytest.skip(f"{name} is not installed")


def require_tool(name: str) -> str:
    """Return the path of command ``name``; skip (locally) or fail (CI) if absent."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"command {name!r} must be installed under CI")
        pytest.skip(f"command {name!r} is not installed")
    return path


def vector_cases(kind: str | None = None) -> list[dict]:
    """Cases of the golden-vector manifest, optionally of one kind (pzf/huffman)."""
    manifest = json.loads((VECTORS / "manifest.json").read_text())
    return [c for c in manifest["cases"] if kind is None or c["kind"] == kind]


def load_vector(case: dict, role: str):
    """Load a case file: ``role`` is 'input', 'expected' (arrays) or 'blob' (bytes)."""
    path = VECTORS / case["files"][role]
    return path.read_bytes() if role == "blob" else np.load(path)


def assert_bits_equal(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal dtype, shape and bits (float32 compared as uint32, so NaN/-0 count)."""
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    if actual.dtype == np.float32:
        actual, expected = actual.view(np.uint32), expected.view(np.uint32)
    np.testing.assert_array_equal(actual, expected)
