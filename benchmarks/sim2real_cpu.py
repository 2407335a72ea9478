"""The CPU sim-to-real demonstration (issue 6): a small gray DnCNN trained on AWGN (stage 1),
applied to a "real" domain the synthesizer does not model: CBDNet camera noise (DoRF response
curve, signal-dependent noise; a monochrome sensor for gray) followed by JPEG. The real
ground truth is hidden from training and used only to score.

Images: ../shared/data/images/Kodak24, converted to gray (BT.601 luma):
  kodim01-12  clean images for stage 1 (AWGN on the fly) and the discriminator's unpaired clean
  kodim13-20  the real domain's training images: only their degraded versions Y are used
              (8 real pairs for transfer and all of them for the upper bound do use their truth)
  kodim21-24  the real domain's test images: degraded, restored and scored (PSNR, 8-bit)

Rows: the noisy input; G0 (stage 1); G after stage 2 (surrogates + GAN); after 3 stages;
transfer with 8 real 64x64 pairs (BN affine parameters + last conv, the AIN-style set of a
network without AIN); retrain on the same 8 pairs (all parameters); and a network trained
directly on real pairs from kodim13-20 for the stage-1 budget (the upper bound).

    python benchmarks/sim2real_cpu.py [--budget 1.0] [--out /tmp/sim2real]

``--budget`` scales every iteration count (0.05 for a smoke run). About 10 minutes at 1.0 on
the project's 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim2real_common import train_seconds, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
KODAK = DATA / "images" / "Kodak24"
REAL_SPEC = "cbdnet:sigma_s=0.04-0.12,sigma_c=0.01-0.03,quality=60-85"
NET = {"depth": 6, "features": 16}


def gray(img: np.ndarray) -> np.ndarray:
    from imgrestore.sources.pool import to_channels as _to_channels

    return np.ascontiguousarray(_to_channels(img, 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=1.0)
    ap.add_argument("--out", default="/tmp/sim2real")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--adv-weight", type=float, default=1e-3, help="lambda of stages 2..N (paper: 1e-3)")
    ap.add_argument("--tag", default="", help="suffix of the surrogate stages' folder (variants beside one run)")
    ap.add_argument("--stage2-iters", type=int, default=200, help="iterations per surrogate stage (x budget)")
    args = ap.parse_args()
    if not KODAK.is_dir():
        sys.exit(f"sim2real: {KODAK} not present (../shared/data is not part of the repo)")
    crf = DATA / "crf" / "dorfCurves.txt"
    if crf.exists():
        os.environ.setdefault("IMGRESTORE_CRF", str(crf))

    import torch

    from imgrestore.chain import Chain
    from imgrestore.io import read_image, write_image
    from imgrestore.metrics import psnr
    from imgrestore.restore import Restorer
    from imgrestore.train.stages import FitOptions, fit
    from imgrestore.registry import load_network

    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n = lambda k: max(2, int(round(k * args.budget)))  # noqa: E731
    files = sorted(KODAK.glob("kodim*.png"))
    clean = {f.stem: gray(read_image(f)) for f in files}
    names = sorted(clean)
    stage1_names, real_train, real_test = names[:12], names[12:20], names[20:24]

    # -- the folders each step reads ----------------------------------------------------------------
    def write_set(folder: Path, keys: list[str], degrade: bool, seed: int) -> None:
        chain = Chain.parse(REAL_SPEC)
        for j, k in enumerate(keys):
            img = clean[k]
            if degrade:
                img = chain(img[None], seed, [j]).input[0]
            write_image(folder / f"{k}.png", img)

    t0 = time.perf_counter()
    write_set(out / "clean1", stage1_names, False, 0)
    write_set(out / "real", real_train, True, 101)            # Y only: what stage 2 sees
    write_set(out / "real_gt", real_train, False, 0)          # hidden truth of those (transfer/upper bound)
    write_set(out / "test_in", real_test, True, 202)
    write_set(out / "test_gt", real_test, False, 0)
    # 8 real pairs: one 64x64 crop from each real-train image, its truth beside it
    rng = np.random.default_rng(args.seed)
    for k in real_train:
        y, x = rng.integers(0, 500 - 64, 2)
        write_image(out / "pairs8" / "input" / f"{k}.png", read_image(out / "real" / f"{k}.png")[y:y + 64, x:x + 64])
        write_image(out / "pairs8" / "target" / f"{k}.png", clean[k][y:y + 64, x:x + 64])
    # all real pairs (upper bound): the whole real-train images
    for k in real_train:
        write_image(out / "pairs_all" / "input" / f"{k}.png", read_image(out / "real" / f"{k}.png"))
        write_image(out / "pairs_all" / "target" / f"{k}.png", clean[k])
    print(f"data ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    def score(model_path: Path | None) -> float:
        vals = []
        if model_path is not None:
            model, spec, _ = load_network(model_path)
            r = Restorer(model, spec, tile=None)
        for k in real_test:
            y = read_image(out / "test_in" / f"{k}.png")
            x = read_image(out / "test_gt" / f"{k}.png")
            o = y if model_path is None else np.clip(r(y), 0, 1)
            vals.append(psnr(o, x, round_uint8=True))
        return float(np.mean(vals))

    # resume=True: a step whose run folder holds a finished run is not trained again
    common = dict(plugin="dncnn-s", device="cpu", seed=args.seed, progress=True, log_every=50, val_every=10**9,
                  ckpt_every=10**9, figures=True, resume=True)
    rows, times = [], {}

    def step(label: str, **kw) -> Path:
        t = time.perf_counter()
        r = fit(FitOptions(**{**common, **kw}))
        times[label] = time.perf_counter() - t
        folders = [Path(x["out"]) for x in r["stages"]] if "stages" in r else [Path(r["out"])]
        times[label] = sum(train_seconds(f) for f in folders) or times[label]
        return Path(r["model"])

    rows.append(("noisy input (no network)", score(None), 0.0))
    g0 = step("G0", out=out / "g0", clean=out / "clean1", degrade="awgn:sigma=0-50", iters=n(1000), batch=8, patch=40,
              lr=1e-3, optimizer="adam", net_config=dict(NET), val_count=8, workers=1)
    rows.append(("G0: stage 1 on AWGN", score(g0), times["G0"]))
    g = out / f"g{args.tag}"
    s = step("stages", out=g, stage="surrogate", init=g0, real=out / "real", unpaired_clean=out / "clean1",
             stages=3, iters=n(args.stage2_iters), batch=8, patch=48, lr=1e-4, disc_config={"features": 16},
             adv_weight=args.adv_weight)
    rows.append(("G after stage 2 (surrogate + GAN)", score(g / "stage2" / "model.safetensors"),
                 times["stages"] / 2))
    rows.append(("G after 3 stages", score(s), times["stages"]))
    model, _, _ = load_network(g0)
    from torch.nn.modules.batchnorm import _BatchNorm

    bn = [name for name, m in model.named_modules() if isinstance(m, _BatchNorm)]
    last = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)][-1]
    tf_params = tuple(f"{b}.*" for b in bn) + (f"{last}.*",)
    tf = step("transfer", out=out / "tf", stage="transfer", init=g0, pairs=out / "pairs8", iters=n(200), batch=8,
              patch=48, lr=1e-3, optimizer="adam", transfer_params=tf_params)
    rows.append(("transfer, 8 real pairs (BN affine + last conv)", score(tf), times["transfer"]))
    rt = step("retrain", out=out / "rt", stage="retrain", init=g0, pairs=out / "pairs8", iters=n(200), batch=8,
              patch=48, lr=1e-3, optimizer="adam")
    rows.append(("retrain, 8 real pairs (all parameters)", score(rt), times["retrain"]))
    ub = step("upper", out=out / "upper", pairs=out / "pairs_all", iters=n(1000), batch=8, patch=40, lr=1e-3,
              optimizer="adam", loss="l2", net_config=dict(NET), val_count=0)
    rows.append(("upper bound: trained on real pairs", score(ub), times["upper"]))

    print(f"\nsim2real CPU: DnCNN depth {NET['depth']}, {NET['features']} features, gray; real = {REAL_SPEC}; "
          f"budget {args.budget}; stages 2-3: {n(args.stage2_iters)} iterations each, lambda {args.adv_weight:g}")
    print(f"{'model':50s} {'PSNR real test (dB)':>20s} {'train s':>8s}")
    for label, p, t in rows:
        print(f"{label:50s} {p:20.2f} {t:8.0f}")
    write_json(out / "results.json", {"rows": rows, "spec": REAL_SPEC, "budget": args.budget})


if __name__ == "__main__":
    main()
