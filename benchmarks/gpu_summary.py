"""The goals of issue 11 against what ``benchmarks/gpu_session.sh`` measured: one table, one JSON.

    python benchmarks/gpu_summary.py JSON_DIR [--device cuda|cpu] [--out goals.json]

JSON_DIR holds the files the session's benchmarks wrote (a missing or unreadable file makes its
goals "not measured", never a crash):

    degrade_{moire,cbdnet,jpeg,bicubic}.json  ``imgrestore bench degrade NAME --device cuda --save``
    net_dncnn-b.json                          ``imgrestore bench net dncnn-b --sizes 512 ... --save``
    train_dncnn.json, train_dmnet.json        ``benchmarks/bench_train.py ... --save``

How each goal reads its rows (row names are those of ``imgrestore/bench/*.py``, ``bench.timing.row``):
the stage rows (``"stage"`` in the name, on the GPU) are the whole degradation as a chain runs it,
JPEG included; bicubic is our CUDA row, whose input must be at least 1 GiB; training takes the
best on-the-fly row (data made while training, 0 or N workers); bench net takes our fastest row
at 512^2, batch 1. ``--device cpu`` reads the CPU rows instead (the script's dry run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

GiB = 2**30


def _load(folder: Path, name: str) -> dict[str, Any] | None:
    try:
        return json.loads((folder / name).read_text())
    except (OSError, ValueError):
        return None


def _dev_rows(res: dict[str, Any] | None, device: str) -> list[dict[str, Any]]:
    return [r for r in (res or {}).get("rows", []) if r.get("device") == device]


def _stage_row(res: dict[str, Any] | None, device: str) -> dict[str, Any] | None:
    """The whole-stage row (``stage`` in its name) on ``device``, else our first row there."""
    rows = _dev_rows(res, device)
    stage = [r for r in rows if "stage" in r.get("impl", "").lower()]
    ours = [r for r in rows if r.get("impl", "").lower().startswith("imgrestore")]
    return (stage or ours or [None])[0]


def _goal(name: str, target: str, measure: Callable[[], tuple[str, bool] | None], source: str) -> dict[str, Any]:
    try:
        got = measure()
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:  # a row without the expected fields
        got = None
        source = f"{source} (unreadable: {type(exc).__name__}: {exc})"
    if got is None:
        return {"goal": name, "target": target, "measured": "not measured", "met": None, "source": source}
    value, met = got
    return {"goal": name, "target": target, "measured": value, "met": bool(met), "source": source}


def _bw(row: dict[str, Any] | None, need: float) -> tuple[str, bool] | None:
    if row is None:
        return None
    f = row["bandwidth_fraction"]
    return f"{100 * f:.1f}% of copy BW ({row['mpix_per_s']:.0f} Mpix/s, {row['impl']})", f >= need


def _train(res: dict[str, Any] | None, min_mpix: float | None) -> tuple[str, bool] | None:
    rows = [r for r in (res or {}).get("rows", []) if r.get("label", "").startswith("on the fly")]
    if not rows:
        return None
    best = min(rows, key=lambda r: r["data_share"]) if min_mpix is None else max(rows, key=lambda r: r["mpix_s"])
    wait = f"data wait {100 * best['data_share']:.1f}%"
    if min_mpix is None:
        return f"{wait} ({best['label']}, {best['it_s']:.1f} it/s)", best["data_share"] < 0.05
    return (f"{best['mpix_s']:.1f} Mpix/s, {wait} ({best['label']})",
            best["mpix_s"] >= min_mpix and best["data_share"] < 0.05)


def _net(res: dict[str, Any] | None, size: int = 512) -> tuple[str, bool] | None:
    rows = [r for r in (res or {}).get("rows", []) if r.get("size") == size and r.get("batch") == 1
            and r.get("impl", "").startswith("imgrestore") and r.get("precision") == "bf16"]
    if not rows:
        return None
    best = min(rows, key=lambda r: r["median_s"])
    return f"{1e3 * best['median_s']:.2f} ms ({best['impl']})", best["median_s"] <= 1.0e-3


def _bicubic(res: dict[str, Any] | None, device: str) -> tuple[str, bool] | None:
    rows = [r for r in _dev_rows(res, device) if r.get("impl", "").startswith("imgrestore")]
    if not rows:
        return None
    r = rows[0]
    gb = r.get("pixels", 0) * 12 / GiB  # float32 RGB input
    value, met = _bw(r, 0.5)
    return f"{value}, input {gb:.2f} GiB", met and gb >= 1.0


def summarize(folder: Path, device: str = "cuda", net_size: int = 512) -> list[dict[str, Any]]:
    """One entry per goal of the issue's table: measured value (text) and met (True/False/None)."""
    moire, cbdnet = _load(folder, "degrade_moire.json"), _load(folder, "degrade_cbdnet.json")
    jpeg, bicubic = _load(folder, "degrade_jpeg.json"), _load(folder, "degrade_bicubic.json")
    dncnn, dmnet = _load(folder, "train_dncnn.json"), _load(folder, "train_dmnet.json")
    net = _load(folder, "net_dncnn-b.json")

    def moire_rate():
        r = _stage_row(moire, device)
        return None if r is None else (f"{r['mpix_per_s'] / 1e3:.3f} Gpix/s ({r['impl']})", r["mpix_per_s"] >= 1000)

    return [
        _goal("moire chain on GPU incl. JPEG (output pixels)", ">= 1 Gpix/s", moire_rate, "degrade_moire.json"),
        _goal("cbdnet full chain on GPU", ">= 30% of copy BW", lambda: _bw(_stage_row(cbdnet, device), 0.3),
              "degrade_cbdnet.json"),
        _goal("JPEG stage on GPU", ">= 30% of copy BW", lambda: _bw(_stage_row(jpeg, device), 0.3),
              "degrade_jpeg.json"),
        _goal("bicubic x4 on GPU, input >= 1 GiB", ">= 50% of copy BW", lambda: _bicubic(bicubic, device),
              "degrade_bicubic.json"),
        _goal("DnCNN-S training, awgn on the fly: data wait", "< 5%", lambda: _train(dncnn, None), "train_dncnn.json"),
        _goal("DM-Net training, moire on the fly", ">= 60 Mpix/s, data wait < 5%", lambda: _train(dmnet, 60.0),
              "train_dmnet.json"),
        _goal(f"bench net dncnn-b {net_size}^2 bf16 (batch 1)", "<= 1.0 ms", lambda: _net(net, net_size),
              "net_dncnn-b.json"),
    ]


def format_table(goals: list[dict[str, Any]]) -> str:
    """A Markdown table: goal, target, measured, met."""
    lines = ["| goal | target | measured | met |", "|---|---|---|---|"]
    for g in goals:
        met = {True: "yes", False: "**no**", None: "n/a"}[g["met"]]
        lines.append(f"| {g['goal']} | {g['target']} | {g['measured']} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="folder of the benchmarks' JSON files")
    ap.add_argument("--out", type=Path, default=None, help="write the goals as JSON here too")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="whose benchmark rows to read")
    ap.add_argument("--net-size", type=int, default=512, help="image side of the bench net goal (dry runs: smaller)")
    args = ap.parse_args(argv)
    if not args.folder.is_dir():
        print(f"gpu_summary.py: {args.folder}: no such folder", file=sys.stderr)
        return 2
    goals = summarize(args.folder, args.device, args.net_size)
    print(format_table(goals))
    if args.out is not None:
        from imgrestore.io import write_bytes_atomic

        write_bytes_atomic(args.out, (json.dumps({"device": args.device, "goals": goals}, indent=1) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
