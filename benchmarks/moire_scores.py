"""Honest scores of demoiréing models (issue 12, item 6): held-out synthetic pairs with ground
truth, and the real screen photos of ../shared/data/moire without it.

    python benchmarks/moire_scores.py --model g0=runs/release-moire/g0/model.safetensors \
        --model g=runs/release-moire/g/model.safetensors [--count 32] [--crop 1024] \
        [--json FILE] [--figure FILE] [--device cpu]

``--model NAME=PATH`` (repeatable; PATH a checkpoint, or a name from `imgrestore models`).
For each model, printed as a markdown table and written to ``--json``:

- PSNR / SSIM (RGB, 8-bit, as `imgrestore eval`) on ``--count`` held-out pairs of 256^2 from the
  calibrated simulator (``--spec``, default ``moire``) made in-process with seed 404: screens no
  training run of the release recipe sees (training streams seed 0). The input's own scores are
  the baseline row.
- On the real photos (6 UHDM phone photos, centre ``--crop`` x ``--crop`` pixels of each 4032 x
  3024 frame, and the 5 realscreen photos whole): the no-reference moiré measure
  :func:`imgrestore.realism.moire_residual` of output against input (median over photos): chroma
  RMS at periods 4-64 px and < 4 px left (1: untouched), luma RMS at 16-64 px kept (1: content kept).
- A figure, one row per real photo: input | each model (``--figure``, default in $TMPDIR). The
  real photos are not ours to redistribute (../shared/data/README.md): keep the figure out of
  the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from moire_figure import centre_crop  # noqa: E402
from moire_realism import DATA, real_sets, synthetic_pairs  # noqa: E402

DEFAULT_FIGURE = Path(tempfile.gettempdir()) / "imgrestore-moire-scores.png"
T0 = time.perf_counter()


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.0f} s] {msg}", file=sys.stderr, flush=True)


def load_model(ref: str, device: str):
    """A Restorer for a checkpoint path or a packaged model name (reflection-padded, tiled)."""
    from imgrestore.restore import Restorer

    path = Path(ref)
    if path.suffix == ".safetensors" or path.exists():
        from imgrestore.registry import load_network

        model, spec, _ = load_network(path)
    else:
        from imgrestore.zoo.load import load_weights_or_model

        model, spec, _ = load_weights_or_model(None, ref)
    return Restorer(model, spec, device=device, tile=512)


def scores(models: dict[str, Any], pairs: tuple[list, list], real: list[tuple[str, np.ndarray]],
           tile: int) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
    """Per model: synthetic PSNR/SSIM and real no-reference measures; plus the real outputs."""
    from imgrestore.metrics import psnr, ssim
    from imgrestore.realism import moire_residual

    inputs, targets = pairs
    res: dict[str, Any] = {}
    outs: dict[str, list[np.ndarray]] = {}
    for name, fn in [("input", None), *models.items()]:
        say(f"scoring {name}")
        p, s = [], []
        for (_, x), (_, t) in zip(inputs, targets):
            y = x if fn is None else np.clip(fn(x), 0, 1)
            p.append(psnr(y, t))
            s.append(ssim(y, t))
        row: dict[str, Any] = {"psnr": float(np.mean(p)), "ssim": float(np.mean(s)), "per_pair_psnr": p}
        if fn is not None and real:
            per, outs[name] = {}, []
            for nm, x in real:
                y = np.clip(fn(x), 0, 1)
                outs[name].append(y)
                per[nm] = moire_residual(x, y, min(tile, *x.shape[:2]))
            row["real"] = per
            for k in ("chroma", "fine", "luma_low", "luma_mid"):
                v = [r[k] for r in per.values() if np.isfinite(r[k])]
                row[f"real_{k}"] = float(np.median(v)) if v else float("nan")
        res[name] = row
    return res, outs


def table(res: dict[str, Any]) -> str:
    lines = ["| model | held-out synthetic PSNR (dB) | SSIM | real: chroma moiré left (4-64 px) | "
             "fine colour fringes left (< 4 px) | luma structure kept (16-64 px) |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, r in res.items():
        real = [f"{r[k]:.2f}" if k in r else "1 (input)" for k in ("real_chroma", "real_fine", "real_luma_low")]
        lines.append(f"| {name} | {r['psnr']:.2f} | {r['ssim']:.3f} | " + " | ".join(real) + " |")
    return "\n".join(lines) + "\n"


def draw(path: Path, real: list[tuple[str, np.ndarray]], outs: dict[str, list[np.ndarray]], side: int = 384) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imgrestore.figures import save_figure

    cols = ["input", *outs]
    fig, axes = plt.subplots(len(real), len(cols), figsize=(2.6 * len(cols), 2.6 * len(real)), squeeze=False)
    for i, (nm, x) in enumerate(real):
        for j, c in enumerate(cols):
            img = x if c == "input" else outs[c][i]
            ax = axes[i, j]
            ax.imshow(centre_crop(img, side), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(c)
            if j == 0:
                ax.set_ylabel(nm, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=[], help="NAME=PATH (checkpoint) or NAME=MODEL (packaged)")
    ap.add_argument("--data", type=Path, default=DATA, help="folder holding uhdm_page/ and realscreen/")
    ap.add_argument("--spec", default="moire", help="the held-out pairs' chain (default: moire)")
    ap.add_argument("--count", type=int, default=32, help="held-out synthetic pairs (default 32)")
    ap.add_argument("--seed", type=int, default=404, help="held-out pairs' seed (default 404)")
    ap.add_argument("--crop", type=int, default=1024, help="centre crop of the UHDM photos (0: whole)")
    ap.add_argument("--tile", type=int, default=256, help="FFT tile of the no-reference measure")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--figure", type=Path, default=DEFAULT_FIGURE)
    ap.add_argument("--no-figure", action="store_true")
    args = ap.parse_args(argv)
    models: dict[str, str] = {}
    for m in args.model:
        name, sep, ref = m.partition("=")
        if not sep or not name or not ref:
            print(f"moire_scores: error: --model {m!r}: expected NAME=PATH", file=sys.stderr)
            return 2
        models[name] = ref
    if not models:
        print("moire_scores: error: give at least one --model NAME=PATH", file=sys.stderr)
        return 2
    if args.count < 1:
        print(f"moire_scores: error: --count {args.count}: expected >= 1", file=sys.stderr)
        return 2
    from imgrestore.errors import UserError

    try:
        fns = {n: load_model(r, args.device) for n, r in models.items()}
    except UserError as exc:
        print(f"moire_scores: error: {exc}", file=sys.stderr)
        return 2
    say(f"synthesising {args.count} held-out pairs of {args.spec!r} (seed {args.seed})")
    pairs = synthetic_pairs(args.spec, args.count, 256, args.seed)
    real: list[tuple[str, np.ndarray]] = []
    if args.data.is_dir():
        sets = real_sets(args.data)
        real = [(n, centre_crop(im, args.crop) if args.crop > 0 else im) for n, im in sets["uhdm"]] + sets["realscreen"]
    if not real:
        say(f"no real photos under {args.data}: synthetic scores only")
    res, outs = scores(fns, pairs, real, args.tile)
    print(f"# moiré scores: {args.count} held-out pairs of {args.spec!r} (seed {args.seed}); {len(real)} real photos "
          f"(UHDM centre {args.crop} px); no-reference ratios are medians over the photos")
    print(table(res))
    if args.json:
        from imgrestore.io import write_bytes_atomic

        doc = {"models": models, "settings": vars(args) | {"data": str(args.data), "json": str(args.json),
                                                            "figure": str(args.figure)}, "scores": res}
        write_bytes_atomic(args.json, (json.dumps(doc, indent=1, default=float) + "\n").encode())
        say(f"wrote {args.json}")
    if real and not args.no_figure:
        draw(args.figure, real, outs)
        say(f"wrote {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
