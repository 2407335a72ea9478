"""Camera response curves: the DoRF reader, its cache and errors, lookups, the fallback family."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from imgrestore import crf
from imgrestore.errors import UserError

from conftest import shared_path


@pytest.fixture
def dorf_file() -> Path:
    return shared_path("crf", "dorfCurves.txt")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    crf._load_dorf.cache_clear()
    yield
    crf._load_dorf.cache_clear()


def test_dorf_has_201_monotone_curves(dorf_file):
    cs = crf.load_dorf(dorf_file)
    assert len(cs) == 201 and cs.forward.shape == (201, 1024)
    assert cs.names[0] == "agfacolor-futura-100CDRed"
    assert cs.source.startswith("dorf:")
    for table in (cs.forward, cs.inverse):
        assert np.all(np.diff(table, axis=1) >= 0)  # monotone curves stay monotone
        assert np.allclose(table[:, 0], 0) and np.allclose(table[:, -1], 1)


def _round_trip_bound(cs, c, x):
    """|f(f^-1(x)) - x| <= half a bin of x + the step of f at the bin f^-1(x) lands in."""
    j = crf.nearest_bin(cs.apply_inverse(x, c))
    b = cs.forward[c].astype(np.float64)
    step = np.maximum(b[np.minimum(j + 1, 1023)] - b[j], b[j] - b[np.maximum(j - 1, 0)])
    return 0.5 / 1023 + step + 1e-6


@pytest.mark.parametrize("which", ["dorf", "parametric"])
def test_round_trip_to_lookup_precision(which, request):
    cs = crf.load_dorf(request.getfixturevalue("dorf_file")) if which == "dorf" else crf.parametric_curves()
    x = np.linspace(0, 1, 20001, dtype=np.float32)
    for c in range(0, len(cs), 10):
        err = np.abs(cs.apply(cs.apply_inverse(x, c), c) - x)
        assert np.all(err <= _round_trip_bound(cs, c, x)), f"curve {c} {cs.names[c]}"
        # and in bulk it is a fraction of a bin: most curves are smooth
    err = np.abs(cs.apply(cs.apply_inverse(x, 100), 100) - x)
    assert np.median(err) < 1 / 1023


def test_nearest_bin_is_cbdnet_rounding():
    # nearer grid point wins; an exact tie goes to the upper bin; outside [0, 1] clips
    k = np.array([0.0, 0.4 / 1023, 0.6 / 1023, 2.5 / 1023, 1.0, 1.7, -3.0, np.nan], np.float32)
    assert crf.nearest_bin(k).tolist() == [0, 0, 1, 3, 1023, 1023, 0, 0]


def test_parse_is_cached_on_disk(dorf_file, tmp_path):
    t0 = time.perf_counter()
    first = crf.load_dorf(dorf_file)
    cold = time.perf_counter() - t0
    assert list((tmp_path / "cache" / "imgrestore").glob("crf-*.npz"))
    crf._load_dorf.cache_clear()  # a new process: only the disk cache is left
    t0 = time.perf_counter()
    second = crf.load_dorf(dorf_file)
    warm = time.perf_counter() - t0
    assert np.array_equal(first.forward, second.forward) and first.names == second.names
    assert warm < cold


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bad_files_name_file_and_line(dorf_file, tmp_path):
    lines = dorf_file.read_text().splitlines()
    with pytest.raises(UserError, match=r"not found"):
        crf.load_dorf(tmp_path / "missing.txt")
    trunc = _write(tmp_path / "trunc.txt", lines[:6] + lines[6:11] + [lines[11][:500]])
    with pytest.raises(UserError, match=r"trunc\.txt line 12: expected 1024 brightness B values, found \d+"):
        crf.load_dorf(trunc)
    short = _write(tmp_path / "short.txt", lines[:9])
    with pytest.raises(UserError, match=r"short\.txt line 10: file ends early"):
        crf.load_dorf(short)
    junk = _write(tmp_path / "junk.txt", ["hello", "world", "this is not dorf"])
    with pytest.raises(UserError, match=r"junk\.txt line 3: expected 'I ='"):
        crf.load_dorf(junk)
    bad_num = _write(tmp_path / "badnum.txt", lines[:3] + [lines[3].replace("9.775171e-004", "x.y", 1)] + lines[4:6])
    with pytest.raises(UserError, match=r"badnum\.txt line 4: expected 1024 numbers"):
        crf.load_dorf(bad_num)
    falling = lines[:5] + [" ".join(reversed(lines[5].split()))]
    with pytest.raises(UserError, match=r"line 6: brightness must rise monotonically"):
        crf.load_dorf(_write(tmp_path / "falling.txt", falling))
    with pytest.raises(UserError, match="empty"):
        crf.load_dorf(_write(tmp_path / "empty.txt", []))


def test_parametric_family_is_documented_and_monotone():
    cs = crf.parametric_curves()
    assert len(cs) == 201 and cs.source == "parametric:gamma-scurve-v1"
    assert cs.names[0] == "srgb"
    grid = np.arange(1024) / 1023
    assert np.allclose(cs.forward[0], crf.srgb_oetf(grid), atol=1e-6)
    assert np.all(np.diff(cs.forward, axis=1) >= 0) and np.all(np.diff(cs.inverse, axis=1) >= 0)
    # gamma 1, s 0 is the identity; the largest gamma brightens mid-tones
    assert np.allclose(cs.forward[1], grid, atol=1e-6)
    assert cs.forward[200][512] > 0.7


def test_resolve_prefers_argument_then_environment_then_fallback(dorf_file, monkeypatch):
    monkeypatch.delenv(crf.ENV, raising=False)
    crf._warn_fallback.cache_clear()
    with pytest.warns(crf.CRFWarning, match="gamma-scurve-v1"):
        assert crf.resolve_curves("").source == "parametric:gamma-scurve-v1"
    monkeypatch.setenv(crf.ENV, str(dorf_file))
    assert crf.resolve_curves("").source.startswith("dorf:")
    assert crf.resolve_curves(str(dorf_file)).source.startswith("dorf:")
