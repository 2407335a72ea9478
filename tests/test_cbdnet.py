"""The ``cbdnet`` degradation plugin: draws, manifest records, chains, CLI, bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from imgrestore import crf
from imgrestore.chain import Chain
from imgrestore.errors import SpecError, UserError

from conftest import shared_path


@pytest.fixture(autouse=True)
def _no_env_crf(monkeypatch, tmp_path):
    monkeypatch.delenv(crf.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    warnings.filterwarnings("ignore", category=crf.CRFWarning)


def _batch(n=4, size=24, c=3, seed=0):
    return np.random.default_rng(seed).random((n, size, size, c), dtype=np.float32)


def test_records_every_drawn_parameter():
    chain = Chain.parse("cbdnet")
    pair = chain(_batch(), seed=1, indices=range(4))
    assert pair.input.shape == (4, 24, 24, 3) and pair.input.dtype == np.float32
    assert pair.side["sigma"].shape == (4, 24, 24, 3)
    for rec in pair.params:
        d = rec[0]
        assert d["name"] == "cbdnet" and 0 <= d["crf"] <= 200
        assert d["crf_name"] == crf.parametric_curves().names[d["crf"]]
        assert d["crf_source"] == "parametric:gamma-scurve-v1"
        assert d["pattern"] in ("RGGB", "GRBG", "GBRG", "BGGR", "none")
        assert 0 <= d["sigma_s"] <= 0.16 and 0 <= d["sigma_c"] <= 0.06
        assert 60 <= d["quality"] <= 100
        json.dumps(d)  # goes into manifest.jsonl as is


def test_pattern_none_about_one_in_five():
    chain = Chain.parse("cbdnet")
    drawn = [chain.draw(0, i)[0]["pattern"] for i in range(2000)]
    assert abs(drawn.count("none") / 2000 - 0.2) < 0.03
    assert set(drawn) == {"RGGB", "GRBG", "GBRG", "BGGR", "none"}


def test_sample_is_the_same_in_any_batch():
    chain = Chain.parse("cbdnet:jpeg=false")
    x = _batch(6)
    full = chain(x, seed=9, indices=range(10, 16))
    again = chain(x, seed=9, indices=range(10, 16))
    part = chain(x[3:5], seed=9, indices=[13, 14])
    assert np.array_equal(full.input, again.input)
    assert np.array_equal(full.input[3:5], part.input)
    other = chain(x, seed=10, indices=range(10, 16))
    assert not np.array_equal(full.input, other.input)


def test_noise_off_no_mosaic_is_the_crf_round_trip():
    chain = Chain.parse("cbdnet:sigma_s=0,sigma_c=0,pattern=none,jpeg=false,crf=1")  # identity curve
    x = _batch()
    out = chain(x, seed=0, indices=range(4)).input
    assert np.abs(out - x).max() <= 0.5 / 1023 + 1e-6
    assert np.all(chain(x, 0, range(4)).side["sigma"] == 0)


def test_noise_level_shows_in_the_output():
    x = np.full((2, 64, 64, 3), 0.5, np.float32)
    quiet = Chain.parse("cbdnet:sigma_s=0.01,sigma_c=0.002,jpeg=false,crf=1")(x, 0, range(2)).input
    loud = Chain.parse("cbdnet:sigma_s=0.16,sigma_c=0.06,jpeg=false,crf=1")(x, 0, range(2)).input
    assert (loud - x).std() > 5 * (quiet - x).std()


def test_per_channel_levels_are_recorded():
    chain = Chain.parse("cbdnet:per_channel=true")
    d = chain.draw(0, 3)[0]
    assert len(d["sigma_s"]) == 3 and len(d["sigma_c"]) == 3 and len(set(d["sigma_s"])) == 3
    pair = chain(_batch(1), 0, [3])
    assert pair.params[0][0]["sigma_s"] == d["sigma_s"]


def test_jpeg_off_records_no_quality_and_matches_kernel_output():
    smooth = np.broadcast_to(np.linspace(0.2, 0.8, 32, dtype=np.float32)[None, None, :, None], (2, 32, 32, 3))
    chain = Chain.parse("cbdnet:jpeg=false,sigma_s=0.02,sigma_c=0.005")
    pair = chain(smooth, 0, range(2))
    assert all(p[0]["quality"] is None for p in pair.params)
    with_jpeg = Chain.parse("cbdnet:jpeg=true,quality=60,sigma_s=0.02,sigma_c=0.005")(smooth, 0, range(2)).input
    assert not np.array_equal(with_jpeg, pair.input)
    assert np.abs(with_jpeg - pair.input).mean() < 0.03


def test_grayscale_is_a_monochrome_sensor():
    pair = Chain.parse("cbdnet")(_batch(3, c=1), 0, range(3))
    assert pair.input.shape == (3, 24, 24, 1)
    assert all(p[0]["pattern"] == "none" for p in pair.params)


def test_in_a_chain_after_bicubic():
    pair = Chain.parse("bicubic:scale=2 | cbdnet:jpeg=false")(_batch(2, size=32), 0, range(2))
    assert pair.input.shape == (2, 16, 16, 3) and pair.target.shape == (2, 32, 32, 3)
    assert pair.side["sigma"].shape == (2, 16, 16, 3)


@pytest.mark.parametrize("spec,msg", [
    ("cbdnet:sigma_s=-0.1", r"cbdnet:sigma_s"),
    ("cbdnet:sigma_c=0-2", r"cbdnet:sigma_c"),
    ("cbdnet:quality=0", r"cbdnet:quality"),
    ("cbdnet:quality=50-101", r"cbdnet:quality"),
    ("cbdnet:crf=250", r"cbdnet:crf: index 250 out of range.*201 curves"),
    ("cbdnet:pattern=RGBG", r"cbdnet:pattern"),
    ("cbdnet:noise=poisson", r"cbdnet:noise"),
    ("cbdnet:demosaic=ahd", r"cbdnet:demosaic"),
])
def test_bad_parameters_are_one_line_errors(spec, msg):
    with pytest.raises(SpecError, match=msg):
        Chain.parse(spec)


def test_bad_images_are_clear_errors():
    chain = Chain.parse("cbdnet")
    with pytest.raises(SpecError, match="expected RGB .* got 2 channels"):
        chain(_batch(1, c=2), 0, [0])
    with pytest.raises(SpecError, match="at least 2x2"):
        chain(np.zeros((1, 1, 5, 3), np.float32), 0, [0])


def test_missing_crf_file_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match=r"missing\.txt: not found"):
        Chain.parse(f"cbdnet:crf_file={tmp_path / 'missing.txt'}")


def test_synth_cli_with_dorf_file_and_side_maps(cli, tmp_path):
    dorf = shared_path("crf", "dorfCurves.txt")
    out = tmp_path / "pairs"
    code, _, err = cli("synth", "cbdnet", "--out", str(out), "--count", "3", "--patch", "32",
                       "--crf-file", str(dorf), "--save-side", "--device", "cpu")
    assert code == 0, err
    assert "parametric" not in err
    recs = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(recs) == 3
    stage = recs[0]["params"][0]
    assert stage["crf_source"].startswith("dorf:") and stage["crf_name"]
    assert len(list((out / "input").iterdir())) == 3
    side = np.load(next((out / "side" / "sigma").iterdir()))
    assert side.shape == (32, 32, 3)


def test_synth_cli_without_crf_says_so_once(run_with_plugins, tmp_path):
    import os

    env_before = os.environ.pop(crf.ENV, None)
    try:
        res = run_with_plugins("synth", "cbdnet:jpeg=false", "--out", str(tmp_path / "p"), "--count", "2",
                               "--patch", "16", "--device", "cpu")
    finally:
        if env_before is not None:
            os.environ[crf.ENV] = env_before
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("gamma-scurve-v1") == 1
    assert "imgrestore: warning:" in res.stderr


def test_bench_cli_rows(cli):
    code, out, err = cli("bench", "degrade", "cbdnet", "--size", "32", "--repeats", "1", "--json", "--device", "cpu")
    assert code == 0, err
    rows = json.loads(out)["rows"]
    names = [r["impl"] for r in rows]
    assert names[0].startswith("imgrestore numba") and any("numpy oracle" in n for n in names)
    assert all(r["mpix_per_s"] > 0 for r in rows)
