"""The benchmark plumbing, on the CPU: adaptive timing (imgrestore.bench), the goal table of
benchmarks/gpu_summary.py from fake JSON rows, and bench_train's one-line source error."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


def _summary():
    return load_script("gpu_summary")


# -- adaptive timing ---------------------------------------------------------------------------


def test_short_calls_are_timed_in_blocks_not_quantised():
    from imgrestore.bench.timing import timed

    x = np.ones(16, np.float32)
    t = timed(lambda: x.sum(), min_blocks=3, max_time=0.3)
    assert t["calls_per_block"] >= 100  # a ~us call is repeated until a block lasts >= 20 ms
    assert t["blocks"] >= 3 and 0 < t["min_s"] <= t["median_s"] < 1e-3 and t["iqr_s"] >= 0


def test_long_calls_get_one_call_per_block_and_the_least_blocks():
    from imgrestore.bench.timing import timed

    calls = []
    t = timed(lambda: (calls.append(1), time.sleep(0.05)), min_blocks=2, warmup=1, max_time=0.0)
    assert t["calls_per_block"] == 1 and t["blocks"] == 2 and len(calls) == 3
    assert 0.05 <= t["median_s"] < 0.5


def test_timed_median_is_seconds_per_call_and_sync_runs_per_block():
    from imgrestore.bench.timing import timed

    syncs = []
    s = timed(lambda: time.sleep(0.03), min_blocks=2, sync=lambda: syncs.append(1))["median_s"]
    assert 0.03 <= s < 0.3 and syncs


def test_rows_carry_the_spread_and_gpu_batches_fill_a_gib():
    from imgrestore.bench.timing import format_table, gpu_batch, row

    r = row("x", "cpu", {"median_s": 0.5, "iqr_s": 0.05, "min_s": 0.4, "blocks": 3, "calls_per_block": 1},
            1_000_000, 10)
    assert r["mpix_per_s"] == 2.0 and r["iqr_s"] == 0.05 and r["pixels"] == 1_000_000
    assert "10.0%" in format_table([r])
    assert row("y", "cpu", 0.5, 1_000_000, 10)["median_s"] == 0.5
    assert gpu_batch(512 * 512 * 12) == 342 and 342 * 512 * 512 * 12 >= 2**30 > 341 * 512 * 512 * 12
    assert gpu_batch(2**31) == 1


# -- the goal table ----------------------------------------------------------------------------


def _write(folder: Path, name: str, obj) -> None:
    (folder / name).write_text(json.dumps(obj))


def _deg(impl, dev, mpix, bw, pixels=1):
    return {"impl": impl, "device": dev, "median_s": 0.01, "mpix_per_s": mpix, "bandwidth_fraction": bw,
            "pixels": pixels}


def _fake_session(folder: Path, good: bool) -> None:
    gib_px = 2**30 // 12 + 1
    _write(folder, "degrade_moire.json", {"rows": [
        _deg("imgrestore cuda, steps 1-8", "cuda", 5000, 0.9),
        _deg("imgrestore cuda + JPEG (stage)", "cuda", 1500 if good else 400, 0.4)]})
    _write(folder, "degrade_cbdnet.json", {"rows": [
        _deg("imgrestore cuda, steps 1-5", "cuda", 9000, 0.8),
        _deg("imgrestore cuda + JPEG (stage)", "cuda", 900, 0.35 if good else 0.05)]})
    _write(folder, "degrade_bicubic.json", {"rows": [
        _deg("imgrestore cuda (cupy)", "cuda", 3000, 0.6, gib_px if good else 2048 * 2048),
        _deg("torch interpolate (NHWC view)", "cuda", 3000, 0.7, gib_px)]})
    # jpeg: missing file -> not measured
    _write(folder, "train_dncnn.json", {"rows": [
        {"label": "on the fly, 0 workers", "it_s": 50, "mpix_s": 13, "data_share": 0.02 if good else 0.3},
        {"label": "on the fly, 4 worker(s)", "it_s": 40, "mpix_s": 10, "data_share": 0.1},
        {"label": "--pairs from disk, 0 workers", "it_s": 60, "mpix_s": 15, "data_share": 0.0}]})
    _write(folder, "train_dmnet.json", {"rows": [
        {"label": "on the fly, 0 workers", "it_s": 70, "mpix_s": 73.4, "data_share": 0.03 if good else 0.2}]})
    _write(folder, "net_dncnn-b.json", {"device": "cuda", "rows": [
        {"size": 512, "batch": 1, "impl": "eager (plain PyTorch)", "precision": "fp32", "median_s": 4e-3},
        {"size": 512, "batch": 1, "impl": "imgrestore", "precision": "bf16", "median_s": 2.1e-3},
        {"size": 512, "batch": 1, "impl": "imgrestore + compile + graphs", "precision": "bf16",
         "median_s": 0.8e-3 if good else 1.5e-3},
        {"size": 512, "batch": 40, "impl": "imgrestore", "precision": "bf16", "median_s": 0.1e-3}]})


def test_summary_meets_and_misses_goals(tmp_path):
    gs = _summary()
    for good in (True, False):
        d = tmp_path / str(good)
        d.mkdir()
        _fake_session(d, good)
        goals = {g["source"]: g for g in gs.summarize(d)}
        assert len(goals) == 7
        assert goals["degrade_jpeg.json"]["met"] is None and goals["degrade_jpeg.json"]["measured"] == "not measured"
        for src in ("degrade_moire.json", "degrade_cbdnet.json", "degrade_bicubic.json", "train_dncnn.json",
                    "train_dmnet.json", "net_dncnn-b.json"):
            assert goals[src]["met"] is good, (src, goals[src])
    g = {x["source"]: x for x in gs.summarize(tmp_path / "True")}
    assert "1.500 Gpix/s" in g["degrade_moire.json"]["measured"]  # the stage row, not steps 1-8
    assert "0.80 ms (imgrestore + compile + graphs)" == g["net_dncnn-b.json"]["measured"]  # batch 1 only
    assert "73.4 Mpix/s, data wait 3.0%" in g["train_dmnet.json"]["measured"]
    assert "data wait 2.0% (on the fly, 0 workers" in g["train_dncnn.json"]["measured"]  # not the disk row
    # the CPU rows are not GPU results
    assert gs.summarize(tmp_path / "True", "cpu")[0]["met"] is None


def test_summary_cli_table_and_json(tmp_path):
    _fake_session(tmp_path, True)
    (tmp_path / "degrade_jpeg.json").write_text("{ not json")  # a half-written file: not measured
    _write(tmp_path, "degrade_cbdnet.json", {"rows": [{"impl": "imgrestore cuda (stage)", "device": "cuda"}]})
    out = tmp_path / "goals.json"
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_summary.py"), str(tmp_path), "--out",
                          str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[0] == "| goal | target | measured | met |" and len(lines) == 9
    goals = json.loads(out.read_text())["goals"]
    cb = [g for g in goals if g["source"].startswith("degrade_cbdnet.json")][0]
    assert cb["met"] is None and "unreadable: KeyError" in cb["source"]
    assert [g["met"] for g in goals].count(True) == 5
    bad = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_summary.py"), str(tmp_path / "nope")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().endswith("no such folder")


def test_gpu_session_script_parses_and_saves_every_goal_file():
    script = (ROOT / "benchmarks" / "gpu_session.sh").read_text()
    assert subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_session.sh")]).returncode == 0
    for name in ("degrade_moire", "degrade_cbdnet", "degrade_jpeg", "degrade_bicubic", "train_dncnn", "train_dmnet",
                 "net_dncnn-b"):
        assert script.count(f'--save "$J/{name}.json"') == 2, name  # checks and dry
    step_limits = [int(line.split()[2]) for line in script.split("  checks)")[1].split(";;")[0].splitlines()
                   if line.strip().startswith("step ")]
    assert sum(step_limits) <= 470 - 20  # the deadline cuts them anyway; the plan fits 8 minutes


# -- bench_train's sources ---------------------------------------------------------------------


def test_bench_train_sources_all_too_small_is_one_line(tmp_path):
    pytest.importorskip("skimage")
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_train.py"), "--patch", "4096",
                          "--iters", "2", "--warmup", "1"], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode != 0
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bench_train.py: --degrade") and "smaller" in err[0], res.stderr


def test_bench_save_to_an_unwritable_path_is_refused_before_the_run(tmp_path, cli):
    """--save is probed before any timing: one line naming the option, exit 2, nothing left."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = cli("bench", "degrade", "awgn", "--size", "64", "--repeats", "1",
                         "--save", str(blocker / "b.json"))
    assert code == 2
    assert err.strip().count("\n") == 0 and "--save" in err and "cannot write" in err
    assert "median" not in out  # no benchmark ran
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
