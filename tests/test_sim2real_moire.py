"""benchmarks/sim2real_moire.py end to end at the smallest scale: a tiny DM-Net, a few iterations,
a handful of pairs (about 30-40 s on the 2-core CPU), then the same command again, which must
reuse every finished step. The figure of the real photos is checked only where
../shared/data/moire is present; elsewhere the script must say it skipped it."""

import json
import math
import subprocess
import sys

from conftest import ROOT, SHARED_DATA

SCRIPT = ROOT / "benchmarks" / "sim2real_moire.py"
TINY = ["--device", "cpu", "--budget", "0.005", "--patch", "64", "--batch", "2", "--stage2-patch", "64",
        "--stage2-batch", "2", "--net-config", "features=8,blocks=1,fine_layers=3", "--disc-features", "8",
        "--screens", "4", "--real-count", "4", "--real-size", "96", "--unpaired-count", "4", "--unpaired-size", "64",
        "--test-count", "2", "--test-size", "64", "--val-count", "2", "--crop", "64", "--workers", "0",
        "--synth-procs", "0"]


def _run(args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_sim2real_moire_smoke_and_reuse(tmp_path):
    data = SHARED_DATA / "moire"
    have_photos = data.is_dir()
    args = TINY + ["--out", str(tmp_path / "run"), "--work", str(tmp_path / "work"),
                   "--data", str(data if have_photos else tmp_path / "no-photos")]
    r = _run(args)
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / "run"
    res = json.loads((out / "results.json").read_text())
    assert [row["model"].split(":")[0].split(" (")[0] for row in res["rows"]] == [
        "moiré input", "G0", "G after stage 2", "G after 3 stages", "upper bound"]
    for row in res["rows"]:
        for k in ("psnr_real", "ssim_real", "psnr_sim", "train_s"):
            assert math.isfinite(row[k]), (row, k)
        assert 0 < row["psnr_real"] < 100 and -1 <= row["ssim_real"] <= 1
    assert res["iters"] == {"stage1": 10, "stage2_each": 5, "upper": 5}
    table = (out / "results.md").read_text()
    assert "| G after 3 stages |" in table and table in r.stdout
    assert (out / "real_domain.png").stat().st_size > 0
    for run in ("g0", "g/stage2", "g/stage3", "upper"):
        assert (tmp_path / "work" / run / "model.safetensors").exists(), run
    for run in ("g0", "g-stage2", "g-stage3", "upper"):  # each run's small files beside the results
        assert (out / "runs" / run / "curves.png").exists() and (out / "runs" / run / "train.csv").exists(), run
    assert not list(out.rglob("*.safetensors"))
    if have_photos:
        assert (out / "real_photos.png").stat().st_size > 0
        from imgrestore.io import read_image

        assert read_image(out / "real_photos.png").shape[1] > 3 * 64
    else:
        assert not (out / "real_photos.png").exists() and "figure of real photos skipped" in r.stderr

    # the same command again: data, screens and the three training steps are reused, same numbers
    again = _run(args)
    assert again.returncode == 0, again.stderr[-3000:]
    for name in ("g0", "g", "upper"):
        assert f"step {name}: finished in an earlier run; reused" in again.stderr
    assert "pairs there already; reused" in again.stderr and "fit dmnet" not in again.stderr
    res2 = json.loads((out / "results.json").read_text())
    assert [(r["psnr_real"], r["ssim_real"], r["psnr_sim"]) for r in res2["rows"]] == \
        [(r["psnr_real"], r["ssim_real"], r["psnr_sim"]) for r in res["rows"]]
