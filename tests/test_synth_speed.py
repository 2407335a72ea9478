"""The CPU synth speed-ups change no bit: box-only screen rendering, the decode table, reused buffers."""


import numpy as np
import pytest

from imgrestore.chain import Chain


def _run(tmp, name, spec="moire", count=7, patch=64, batch=3, seed=11):
    from imgrestore.sources.source import screen_sources
    from imgrestore.synth import SynthConfig, synthesize

    chain = Chain.load(spec)
    out = tmp / name
    cfg = SynthConfig(chain=chain, out=out, patch=patch, count=count, seed=seed, batch=batch)
    synthesize(cfg, screen_sources(seed, chain.source_size((patch, patch)), 16), warn=lambda m: None)
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))}
    return files, (out / "manifest.jsonl").read_text()


@pytest.mark.parametrize("spec", ["moire", "moire:cfa=false,glare=0-0.2,ca=0-0.01,motion=0-2 | awgn:sigma=3"])
def test_box_rendering_writes_the_same_pairs(tmp_path, monkeypatch, spec):
    """Rendering only the window the moire stage reads gives the files of full-crop rendering."""
    from imgrestore.plugins import moire as plugin

    calls = []
    real = plugin.Moire.read_boxes

    def spy(self, drawn, in_hw):
        boxes = real(self, drawn, in_hw)
        calls.append(boxes)
        return boxes

    monkeypatch.setattr(plugin.Moire, "read_boxes", spy)
    boxed = _run(tmp_path, "boxed", spec)
    assert len(calls) == 7  # one per sample: the box path ran
    area = sum(int((b[0, 1] - b[0, 0]) * (b[0, 3] - b[0, 2])) for b in calls)
    h, w = Chain.load(spec).source_size((64, 64))
    assert area < 0.5 * 7 * h * w  # and it rendered much less than the crops
    monkeypatch.delattr(plugin.Moire, "read_boxes")  # the plain path: whole crops
    full = _run(tmp_path, "full", spec)
    assert len(boxed[0]) == len(full[0]) == 14
    assert boxed == full


def test_decode_table_gives_the_bits_of_the_formula():
    """moire_numba.decode's 256-entry table (and its fallback for other values) against the sRGB
    formula of IEC 61966-2-1 evaluated by NumPy in float64 (moire_numpy.srgb_decode)."""
    from imgrestore.kernels.moire_numba import decode
    from imgrestore.kernels.moire_numpy import srgb_decode

    grid = np.arange(256, dtype=np.float32) * np.float32(1 / 255)
    rng = np.random.default_rng(1)
    off = np.concatenate([np.nextafter(grid, np.float32(2)), np.nextafter(grid, np.float32(-1)),
                          rng.uniform(-0.2, 1.2, 2000).astype(np.float32), np.float32([np.nan, np.inf, -np.inf])])
    vals = np.concatenate([grid, off])
    n = -(-vals.size // 3)
    x = np.zeros((2, 2, n, 3), np.float32)  # sample 0 row 1 holds the values; the rest stays outside the box
    x[0, 1].reshape(-1)[: vals.size] = vals
    boxes = np.array([[1, 2, 0, n], [0, 0, 0, 0]], np.int32)
    out = np.full(x.shape, 7.0, np.float32)
    decode(x, boxes, out)
    got = out[0, 1].reshape(-1)[: vals.size]
    want = srgb_decode(np.nan_to_num(vals, nan=0.0))  # the kernel clips NaN to 0 too (min/max)
    fin = np.isfinite(vals)
    assert np.array_equal(got[fin].view(np.uint32), want[fin].view(np.uint32))
    assert (out[0, 0] == 7.0).all() and (out[1] == 7.0).all()  # nothing outside the boxes written
