"""benchmarks/moire_scores.py (honest scores, issue 12 item 6) and the no-reference measure it uses."""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import load_script


def test_moire_residual_closed_forms():
    from imgrestore.realism import moire_residual

    rng = np.random.default_rng(0)
    y = rng.random((256, 256, 1)).astype(np.float32) * 0.5 + 0.25
    xx = np.arange(256)[None, :, None]
    fringe = 0.08 * np.sin(2 * np.pi * xx / 24.0) * np.array([1.0, -0.299 / 0.587, 0.0])  # chroma only
    photo = np.clip(y + fringe, 0, 1).astype(np.float32)
    same = moire_residual(photo, photo)
    assert (same["chroma"], same["luma_low"], same["luma_mid"]) == (1.0, 1.0, 1.0)
    assert np.isnan(same["fine"])  # no colour at periods < 4 px in the input: no ratio to report
    half = np.clip(y + 0.5 * fringe, 0, 1).astype(np.float32)  # half the colour moiré removed
    r = moire_residual(photo, half)
    assert r["chroma"] == pytest.approx(0.5, abs=0.02)
    assert r["luma_low"] == pytest.approx(1.0, abs=0.01)  # luma untouched
    gray = np.repeat(y, 3, axis=2)
    assert moire_residual(photo, gray)["chroma"] < 1e-6


def _tiny_dmnet(path: Path) -> None:
    import torch

    from imgrestore.nets.dmnet import DMNet
    from imgrestore.train.state import save_model

    torch.manual_seed(0)
    cfg = {"features": 4, "blocks": 1, "fine_layers": 2}
    save_model(path, "dmnet", cfg, DMNet(**cfg))


def test_scores_script_on_a_tiny_model_and_fake_photos(tmp_path, capsys):
    bench = load_script("moire_scores")
    from imgrestore.io import write_image

    ck = tmp_path / "m.safetensors"
    _tiny_dmnet(ck)
    data = tmp_path / "moire"
    rng = np.random.default_rng(1)
    for sub, n, side in (("uhdm_page", 1, 300), ("realscreen/moire", 1, 256)):
        (data / sub).mkdir(parents=True)
        for i in range(n):
            img = rng.random((side, side, 3)).astype(np.float32)
            write_image(data / sub / f"{i}.{'jpg' if 'uhdm' in sub else 'png'}", img)
    js, fig = tmp_path / "s.json", tmp_path / "s.png"
    rc = bench.main(["--model", f"tiny={ck}", "--data", str(data), "--count", "2", "--crop", "256",
                     "--json", str(js), "--figure", str(fig)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "| input |" in out and "| tiny |" in out
    doc = json.loads(js.read_text())
    s = doc["scores"]
    assert set(s) == {"input", "tiny"} and len(s["input"]["per_pair_psnr"]) == 2
    assert set(s["tiny"]["real"]) == {"0"} or len(s["tiny"]["real"]) == 2
    assert fig.stat().st_size > 1000
    assert bench.main(["--model", "nonsense"]) == 2
    assert bench.main([]) == 2
    err = capsys.readouterr().err
    assert "moire_scores: error:" in err
