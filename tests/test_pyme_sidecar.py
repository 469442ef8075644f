"""PYME metadata sidecars (.json, .md, .xml) are read without running code."""
from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

from pzfcodec.errors import CorruptDataError, UnsafePickleError, UnsupportedFormatError
from pzfcodec.pyme.sidecar import MetadataWarning, find_sidecar, read_metadata
from pzfcodec.pyme.spline import BivariateSpline
from common import require_module


# ---- pickles as Python 2 wrote them (protocol 0) ---------------------------

def py2_array_pickle(a: np.ndarray) -> str:
    """Protocol-0 text of a float64 1-D array as Python 2 + numpy 1.x pickled it."""
    raw = repr(np.asarray(a, "<f8").tobytes())[1:]  # Python 2 str repr == bytes repr minus b
    return (
        "cnumpy.core.multiarray\n_reconstruct\np1\n(cnumpy\nndarray\np2\n(I0\ntp3\nS'b'\np4\ntp5\nRp6\n"
        f"(I1\n(I{a.size}\ntp7\ncnumpy\ndtype\np8\n(S'f8'\np9\nI0\nI1\ntp10\nRp11\n"
        f"(I3\nS'<'\np12\nNNNI-1\nI-1\nI0\ntp13\nbI00\nS{raw}\np14\ntp15\nb"
    )


def py2_spline_pickle(tx, ty, c, fp: float) -> str:
    """Protocol-0 text of a scipy SmoothBivariateSpline as Python 2 pickled it."""
    return (
        "ccopy_reg\n_reconstructor\np0\n(cscipy.interpolate.fitpack2\nSmoothBivariateSpline\np1\n"
        "c__builtin__\nobject\np2\nNtp3\nRp4\n"
        f"(dp5\nS'fp'\np6\nF{fp!r}\nsS'tck'\np7\n("
        + py2_array_pickle(tx) + py2_array_pickle(ty) + py2_array_pickle(c)
        + "tp16\nsS'degrees'\np17\n(I3\nI3\ntp18\nsb."
    )


def fitted_spline():
    """A scipy spline fitted to a smooth shift field (coordinates in nm)."""
    from scipy.interpolate import SmoothBivariateSpline

    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 20000, 300), rng.uniform(0, 15000, 300)
    return SmoothBivariateSpline(x, y, 5 + 1e-3 * x - 2e-4 * y + rng.normal(0, 0.5, 300))


EXACT_TCK = (
    np.repeat([0.0, 16384.0], 4),  # exactly representable: the pickle text has no quote,
    np.repeat([0.0, 8192.0], 4),  # backslash or newline byte, so it embeds verbatim
    np.arange(16, dtype=float) * 0.5,
)


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


# ---- .json -----------------------------------------------------------------

def test_json(tmp_path):
    md = {
        "Camera.ADOffset": 100.0,
        "Camera.ElectronsPerCount": 0.45,
        "imageID": 12,
        "voxelsize.units": "um",
        "Sample.Notes": "Zoë Ångström",
        "Protocol.Filename": None,
        "Camera.IsEMCCD": False,
        "Multiview.ROIs": [[0, 0], [256, 0]],
    }
    p = tmp_path / "series.json"
    p.write_text(json.dumps(md), encoding="utf-8")
    out = read_metadata(p)
    assert type(out) is dict
    assert out == md
    assert list(out) == list(md)


@pytest.mark.parametrize(
    "text, where",
    [('{"Camera.ADOffset": 100.0,\n "x": }', "line 2"), ("[1, 2]", "JSON object"),
     ('{"a": ' + "[" * 100000 + "]" * 100000 + "}", "RecursionError"),
     ('{"a": ' + "7" * 5000 + "}", "digits")],
    ids=["syntax", "not an object", "nesting", "huge number"],
)
def test_json_errors(tmp_path, text, where):
    p = write(tmp_path / "bad.json", text)
    with pytest.raises(CorruptDataError, match=where) as info:
        read_metadata(p)
    assert "bad.json" in str(info.value)


# ---- .md -------------------------------------------------------------------

def test_md_reads_values_and_runs_nothing(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    spline = fitted_spline()
    realistic = py2_spline_pickle(*spline.tck, spline.fp)
    exact = py2_spline_pickle(*EXACT_TCK, 0.25)
    assert "\\\\" not in exact and "\\n" not in exact and "\\'" not in exact
    md_lines = [
        "#PYME Simple Metadata v1",
        "# written by hand, with comments",
        "import os",
        "md['Camera.ADOffset'] = 100.0  # ADU",
        "md['Camera.ReadNoise'] = 1.5",
        "md['Camera.TrueEMGain'] = -1",
        "md['Camera.IsEMCCD'] = False",
        "md['Sample.Labelled'] = True",
        "md['voxelsize.units'] = u'um'",
        "md['Sample.Creator'] = 'someone'",
        "md['Protocol.Filename'] = None",
        "md['Multiview.ROISize'] = (256, 256)",
        "md['Multiview.ROIs'] = [(0, 0), (256, 0), [1, [2, 3.5]]]",
        "md['Analysis.Settings'] = {'threshold': 1.5, 'fit': 'LatGaussFitFR'}",
        "md['chroma.dx'] = pickle.loads('''" + exact + "''')",
        # Escaped so that the literal holds the exact pickle text, whatever the bytes.
        "md['chroma.dy'] = pickle.loads('''" + realistic.replace("\\", "\\\\") + "''')",
        "md['Channels'] = pickle.loads('''(lp0\nVCy5\np1\naVCy3\np2\na.''')",
        "md['PSFFile'] = os.path.join(os.path.split(__file__)[0], 'astig_theory.tif')",
        "md['Dir'] = os.path.dirname(__file__)",
        "print('this must not be printed')",
        f"__import__('os').system('touch {marker}')",
        f"md['Evil'] = __import__('os').system('touch {marker}')",
        "md['Unhashable'] = {[1]: 2}",
        "x = 3",
    ]
    text = "\n".join(md_lines) + "\n"
    p = write(tmp_path / "series.md", text)
    file_lines = text.splitlines()
    skipped_lines = [file_lines.index(line) + 1 for line in md_lines[-5:]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        md = read_metadata(p)

    assert not marker.exists()
    assert capsys.readouterr().out == ""
    skipped = [str(w.message) for w in caught if issubclass(w.category, MetadataWarning)]
    assert len(skipped) == 5, skipped
    for line_no, message in zip(skipped_lines, skipped):
        assert f"series.md: line {line_no}:" in message
    assert "print(" in skipped[0] and "__import__" in skipped[1]

    assert md["Camera.ADOffset"] == 100.0
    assert md["Camera.TrueEMGain"] == -1
    assert md["Camera.IsEMCCD"] is False and md["Sample.Labelled"] is True
    assert md["voxelsize.units"] == "um" and md["Sample.Creator"] == "someone"
    assert md["Protocol.Filename"] is None
    assert md["Multiview.ROISize"] == (256, 256)
    assert md["Multiview.ROIs"] == [(0, 0), (256, 0), [1, [2, 3.5]]]
    assert md["Analysis.Settings"] == {"threshold": 1.5, "fit": "LatGaussFitFR"}
    assert md["Channels"] == ["Cy5", "Cy3"]
    assert md["PSFFile"] == str(tmp_path.resolve() / "astig_theory.tif")
    assert md["Dir"] == str(tmp_path.resolve())
    assert "Evil" not in md and "Unhashable" not in md and "x" not in md

    dx, dy = md["chroma.dx"], md["chroma.dy"]
    assert isinstance(dx, BivariateSpline) and isinstance(dy, BivariateSpline)
    for got, want in zip(dx.tck, EXACT_TCK):
        np.testing.assert_array_equal(got, want)
    assert dx.fp == 0.25 and dx.degrees == (3, 3)
    pts = np.random.default_rng(2).uniform(0, 15000, (2, 50))
    np.testing.assert_allclose(dy.ev(*pts), spline.ev(*pts), rtol=1e-12, atol=1e-9)


def test_md_unsafe_pickle(tmp_path):
    marker = tmp_path / "MARKER"
    p = write(
        tmp_path / "evil.md",
        f"md['a'] = 1\nmd['b'] = pickle.loads('''cos\nsystem\n(S'touch {marker}'\ntR.''')\n",
    )
    with pytest.raises(UnsafePickleError, match="os.system"):
        read_metadata(p)
    assert not marker.exists()


def test_md_python2_text(tmp_path):
    # Python 2 era files hold raw latin-1 bytes; a pickle's \\u escape is the pickle's own.
    text = "md['Sample.Notes'] = 'Zo\xeb'\nmd['units'] = pickle.loads('''V\\u03bcm\np0\n.''')\n"
    md = read_metadata(write(tmp_path / "old.md", text, encoding="latin-1"))
    assert md == {"Sample.Notes": "Zoë", "units": "\u03bcm"}


def test_md_syntax_error_names_the_line(tmp_path):
    p = write(tmp_path / "broken.md", "#PYME Simple Metadata v1\nmd['a'] = 1\nmd['b'] = [1, 2\n")
    with pytest.raises(CorruptDataError, match=r"broken\.md: line \d") as info:
        read_metadata(p)
    assert "PYME Simple Metadata" in str(info.value)


def test_md_corrupt_pickle(tmp_path):
    p = write(tmp_path / "trunc.md", "md['a'] = pickle.loads('''(lp0\nI1\na''')\n")
    with pytest.raises(CorruptDataError, match=r"trunc\.md: line 1"):
        read_metadata(p)


# ---- .xml ------------------------------------------------------------------

def xml_doc(entries: str, root: str = "PYMEImageData") -> str:
    return f'<?xml version="1.0" ?>\n<{root}>\n<MetaData>\n{entries}\n</MetaData>\n</{root}>\n'


def b64(obj_or_bytes) -> str:
    data = obj_or_bytes if isinstance(obj_or_bytes, bytes) else pickle.dumps(obj_or_bytes, protocol=2)
    return base64.b64encode(data).decode("ascii")


def test_xml_every_class(tmp_path):
    spline = fitted_spline()
    entries = f"""
<Camera>
  <ADOffset class="float" value="251.0"/>
  <ElectronsPerCount class="float" value="0.28"/>
  <ROIWidth class="int" value="512"/>
  <Big class="int" value="1099511627776L"/>
  <IsEMCCD class="int" value="False"/>
  <Name class="str" value="Andor Zyla"/>
</Camera>
<Sample><Notes class="unicode" value="Zo&#235; &#197;ngstr&#246;m"/><Labelled class="int" value="True"/></Sample>
<Positioning><Stage class="pickle" value="{b64([0.5, (1, 'a')])}"/></Positioning>
<chroma><dx class="pickle" value="{b64(py2_spline_pickle(*spline.tck, spline.fp).encode('latin-1'))}"/></chroma>
"""
    md = read_metadata(write(tmp_path / "series.xml", xml_doc(entries)))
    assert type(md) is dict
    dx = md.pop("chroma.dx")
    assert md == {
        "Camera.ADOffset": 251.0,
        "Camera.ElectronsPerCount": 0.28,
        "Camera.ROIWidth": 512,
        "Camera.Big": 2**40,
        "Camera.IsEMCCD": False,
        "Camera.Name": "Andor Zyla",
        "Sample.Notes": "Zoë Ångström",
        "Sample.Labelled": True,
        "Positioning.Stage": [0.5, (1, "a")],
    }
    assert md["Camera.IsEMCCD"] is False and md["Sample.Labelled"] is True
    assert isinstance(dx, BivariateSpline)
    np.testing.assert_allclose(dx.ev(1000.0, 2000.0), spline.ev(1000.0, 2000.0), rtol=1e-12)


def test_xml_malicious_pickle(tmp_path):
    marker = tmp_path / "MARKER"
    evil = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    p = write(tmp_path / "evil.xml", xml_doc(f'<A><B class="pickle" value="{b64(evil)}"/></A>'))
    with pytest.raises(UnsafePickleError, match="os.system"):
        read_metadata(p)
    assert not marker.exists()


@pytest.mark.parametrize(
    "text, error, match",
    [
        (xml_doc('<A><B class="int" value="1.5"/></A>'), CorruptDataError, r"line 4: <B> \(key 'A.B'\)"),
        (xml_doc('<A><B class="float"/></A>'), CorruptDataError, "missing the 'value'"),
        (xml_doc('<A><B class="pickle" value="@@@"/></A>'), CorruptDataError, "A.B"),
        (xml_doc('<A><B class="complex" value="1j"/></A>'), UnsupportedFormatError, "class 'complex'"),
        (xml_doc('<A><B class="int" value="1"/></A>', root="Other"), UnsupportedFormatError, "<Other>"),
        (xml_doc('<A><B class="int" value="1"></A>'), CorruptDataError, "line 4, column"),
        ('<?xml version="1.0"?>\n<!DOCTYPE PYMEImageData>\n<PYMEImageData/>', CorruptDataError, "line 2: DTDs"),
        (
            '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY e "x">]>\n' + xml_doc("&e;").split("\n", 1)[1],
            CorruptDataError,
            "line 2: DTDs",
        ),
    ],
)
def test_xml_errors(tmp_path, text, error, match):
    p = write(tmp_path / "bad.xml", text)
    with pytest.raises(error, match=match) as info:
        read_metadata(p)
    assert "bad.xml" in str(info.value)


# ---- pairing ---------------------------------------------------------------

def test_unknown_suffix(tmp_path):
    with pytest.raises(UnsupportedFormatError, match=r"\.txt"):
        read_metadata(write(tmp_path / "notes.txt", "x"))


def test_find_sidecar_pairing(tmp_path):
    image = tmp_path / "series.tif"
    assert find_sidecar(image) is None
    (tmp_path / "other.json").write_text("{}")
    (tmp_path / "series.tif.json").write_text("{}")
    assert find_sidecar(image) is None
    for suffix in (".json", ".md", ".xml"):  # each added one takes precedence (PYME's order)
        (tmp_path / f"series{suffix}").write_text("")
        assert find_sidecar(image) == tmp_path / f"series{suffix}"
    assert find_sidecar(tmp_path / "series.tiff") == tmp_path / "series.xml"
    assert find_sidecar(str(image)) == tmp_path / "series.xml"


# ---- robustness --------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".json", ".md", ".xml"])
def test_arbitrary_bytes_raise_only_library_errors(tmp_path, suffix):
    hypothesis = require_module("hypothesis")
    st = hypothesis.strategies
    seed = {
        ".json": b'{"a": [1, 2.5, "x"], "b": null}',
        ".md": b"md['c'] = {'k': (1, [2])}\nmd['a'] = (1, u'x', [2.5]) # c\nmd['b'] = pickle.loads('''(lp0\nI1\na.''')\n"
               b"md['d'] = 2**md['a'][0] * [md['b'], 3 % 2] + [-1.5 // 2, 'x' * 3]\n",
        ".xml": b'<PYMEImageData><MetaData><A><B class="int" value="1"/></A></MetaData></PYMEImageData>',
    }[suffix]
    # the seed with a few bytes replaced, inserted or cut off
    edits = st.lists(st.tuples(st.integers(0, len(seed)), st.binary(max_size=3), st.booleans()), max_size=4)
    mutated = edits.map(lambda es: _apply(seed, es))
    path = tmp_path / f"fuzz{suffix}"

    @hypothesis.settings(max_examples=150, deadline=None, database=None)
    @hypothesis.given(st.binary(max_size=200) | mutated)
    def check(data):
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MetadataWarning)
            try:
                assert type(read_metadata(path)) is dict
            except (CorruptDataError, UnsupportedFormatError, UnsafePickleError):
                pass

    check()


def _apply(seed: bytes, edits) -> bytes:
    out = seed
    for pos, new, cut in edits:
        out = out[:pos] if cut else out[:pos] + new + out[pos + len(new):]
    return out


# ---- .md expressions, side by side with PYME's own reader ----------------------

MD_EXPRESSIONS = [
    "md['Camera.Name'] = 'Zyla'",
    "md['Camera.ADOffset'] = 280/2.35",
    "md['Positioning.z'] = -125.0",
    "md['Analysis.AxialShift'] = 300",
    "md['Analysis.HalfShift'] = md['Analysis.AxialShift']*.5",
    "md['Ints'] = 2**10 + 7//2 - 7%3 - -4 + +1",
    "md['Floats'] = 1.5**2 / 3 % 0.7 // 0.1 - 2**-1",
    "md['Text'] = 'ab' + u'cd' + md['Camera.Name']",
    "md['List'] = [1, 2] * 2 + [md['Positioning.z']]",
    "md['Tuple'] = 2 * (1, 'a')",
    "md['Nested'] = {'k': [md['Ints'], -md['Positioning.z']], (1, 'x'): None}",
    "md['Neg'] = -(2**0.5)",
    "md['Complex'] = 1j * 2 + 1",
    "md['Big'] = 2**64 * 3",
    "md['Copy'] = md['List']",
]


def test_md_expressions_match_pyme(tmp_path):
    require_module("PYME")
    path = write(tmp_path / "expr.md", "#PYME Simple Metadata v1\nimport os\n" + "\n".join(MD_EXPRESSIONS) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", MetadataWarning)  # every form is read, none skipped
        ours = read_metadata(path)
    # PYME executes the file: only ever on a file written here
    out = tmp_path / "pyme.pickle"
    code = ("import pickle, sys\nfrom PYME.IO.MetaDataHandler import SimpleMDHandler\n"
            "md = SimpleMDHandler(sys.argv[1])\n"
            "pickle.dump({k: md.getEntry(k) for k in md.getEntryNames()}, open(sys.argv[2], 'wb'))\n")
    env = dict(os.environ, HOME=str(tmp_path), PYTHONWARNINGS="ignore")
    subprocess.run([sys.executable, "-c", code, str(path), str(out)], check=True, env=env,
                   cwd=tmp_path, capture_output=True, timeout=120)
    theirs = pickle.loads(out.read_bytes())  # our own file
    assert ours == theirs
    assert list(ours) == [line.split("'")[1] for line in MD_EXPRESSIONS]


@pytest.mark.parametrize("line, reason", [
    ("md['x'] = 10**10**10", "power is too large"),
    ("md['x'] = 'x' * 10**9", "repetition is too long"),
    ("md['x'] = [0] * 10**8", "repetition is too long"),
    ("md['x'] = (2**10000) * (2**10000)", "product is too large"),
    ("md['x'] = 1/0", "ZeroDivisionError"),
    ("md['x'] = 10.0**400.5", "OverflowError"),
    ("md['x'] = 'a%s' % 1", "Mod of str"),
    ("md['x'] = md['missing']", "not set earlier"),
    ("md['x'] = A()", ""),
    ("md['x'] = abs(-1)", ""),
], ids=lambda v: v if v.startswith("md") else None)
def test_md_expressions_refused_with_a_warning(tmp_path, line, reason):
    path = write(tmp_path / "x.md", "class A: pass\nmd['ok'] = 1\n" + line + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        md = read_metadata(path)
    assert md == {"ok": 1}
    messages = [str(w.message) for w in caught if issubclass(w.category, MetadataWarning)]
    assert "x.md: line 1:" in messages[0] and "class A" in messages[0]
    assert "x.md: line 3:" in messages[1] and reason in messages[1], messages


def test_md_many_skipped_statements_warn_once_past_a_hundred(tmp_path):
    path = write(tmp_path / "many.md", "x = 1\n" * 500 + "md['a'] = 2\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert read_metadata(path) == {"a": 2}
    messages = [str(w.message) for w in caught]
    assert len(messages) == 101 and "400 more statements skipped" in messages[-1]
