"""Training throughput: pairs synthesized on the fly vs pre-synthesized pairs read from disk.

Same network, batch, patch and degradation in one run; prints iterations/s, images/s and the
share of each step spent waiting for data (time in ``next(loader)`` over wall time, measured by
the training loop and logged as ``data_share`` in ``train.csv``), plus a stage-2 row (surrogate
+ GAN iteration) for the cost of stage 2 relative to stage 1.

    python benchmarks/bench_train.py [--plugin dncnn-s] [--net-config depth=17] [--iters 60]
        [--batch 16] [--patch 40] [--degrade "awgn:sigma=0-55"] [--device cpu|cuda]

Rows: on the fly with 0 workers (synthesis in the training process: on the device when training
on a GPU), with --workers N (spawned data-loader processes prefetching whole iterations), and
--pairs from an ``imgrestore synth`` folder written first with the same chain. The first
``--warmup`` iterations (JIT, worker start-up) are excluded. The clean sources are what
``imgrestore synth`` / ``fit`` use without --input: rendered screens for chains that photograph a
screen (moire), scikit-image's samples otherwise. ``--save FILE`` also writes the JSON (rows with
it/s, images/s, Mpix/s of patches and the data-wait share) for ``benchmarks/gpu_summary.py``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rate(folder: Path, warmup: int) -> tuple[float, float]:
    rows = list(csv.DictReader(open(folder / "train.csv")))
    rows = [r for r in rows if int(r["iter"]) > warmup]
    its = [float(r["it_s"]) for r in rows]
    share = [float(r["data_share"]) for r in rows]
    # every row covers the same number of iterations: the mean rate is the harmonic mean
    return len(its) / sum(1 / v for v in its), sum(share) / len(share)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plugin", default="dncnn-s")
    ap.add_argument("--net-config", default="")
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=40)
    ap.add_argument("--degrade", default="awgn:sigma=0-55")
    ap.add_argument("--workers", type=int, default=1, help="data-loader processes of the second row (0: no such row)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--stage2-iters", type=int, default=20, help="iterations of the stage-2 row (0: skip it)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--save", default=None, help="also write the JSON result to this file")
    ap.add_argument("--no-disk", action="store_true", help="skip the --pairs-from-disk row (and writing the pairs)")
    args = ap.parse_args()

    from imgrestore.netconfig import parse_config
    from imgrestore.chain import Chain
    from imgrestore.errors import UserError
    from imgrestore.synth import SynthConfig, chain_content, synthesize
    from imgrestore.train.data import load_sources
    from imgrestore.train.stages import FitOptions, fit

    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    import atexit
    import shutil

    atexit.register(shutil.rmtree, tmp, True)
    net = parse_config(args.net_config, "--net-config")
    common = dict(plugin=args.plugin, iters=args.iters, batch=args.batch, patch=args.patch, lr=1e-4, optimizer="adam",
                  device=args.device, val_count=0, log_every=max(1, args.warmup), ckpt_every=10**9, progress=False,
                  figures=False, net_config=net)
    rows = []

    def run(label: str, **kw) -> None:
        out = tmp / label.replace(" ", "_")
        t = time.perf_counter()
        fit(FitOptions(out=out, **{**common, **kw}))
        wall = time.perf_counter() - t
        its, share = rate(out, args.warmup)
        rows.append({"label": label, "it_s": its, "img_s": its * args.batch,
                     "mpix_s": its * args.batch * args.patch**2 / 1e6, "data_share": share, "wall_s": wall})

    from imgrestore.registry import get_registry

    spec = get_registry().networks[args.plugin]
    channels = int(net.get("channels", spec.in_channels))
    chain = Chain.parse(args.degrade)
    need = chain.source_size((args.patch, args.patch))
    content = chain_content(chain)
    try:  # what synth/fit take without --input: screens for moire, photos otherwise (too small: one line)
        sources = load_sources(None, need, "--degrade", content, seed=0)
    except UserError as exc:
        sys.exit(f"bench_train.py: {exc}")
    run("on the fly, 0 workers", degrade=args.degrade, workers=0)
    if args.workers > 0:
        run(f"on the fly, {args.workers} worker(s)", degrade=args.degrade, workers=args.workers)
    synth_s = None
    if not args.no_disk:
        t = time.perf_counter()
        synthesize(SynthConfig(chain, tmp / "pairs", patch=args.patch, count=args.iters * args.batch,
                               seed=0, channels=channels, workers=2), sources, warn=lambda m: None)
        synth_s = time.perf_counter() - t
        run("--pairs from disk, 0 workers", pairs=tmp / "pairs", workers=0, patch=args.patch)
    if args.stage2_iters:
        # stage 2 (surrogates + GAN) from the first run's model: real = the chain applied to the
        # sample images, patch rounded up to a multiple of 16 for the discriminator
        import numpy as np

        from imgrestore.io import write_image
        from imgrestore.sources.pool import to_channels as _to_channels

        for k, src in enumerate(sources[:8]):  # photos whole; rendered screens: one window each
            full = src.array if src.render is None else src.render((0, 0, *need))
            img = _to_channels(full, channels)[None].astype(np.float32)
            write_image(tmp / "real" / f"{k}.png", chain(img, 9, [k]).input[0].clip(0, 1))
            write_image(tmp / "clean" / f"{k}.png", img[0])
        p2 = -(-args.patch // 16) * 16
        t2 = {**common, "iters": args.stage2_iters}
        out = tmp / "stage2"
        fit(FitOptions(out=out, **{**t2, "stage": "surrogate", "init": tmp / "on_the_fly,_0_workers" / "model.safetensors",
                                   "real": tmp / "real", "unpaired_clean": tmp / "clean", "patch": p2,
                                   "net_config": {}}))
        its, share = rate(out / "stage2", min(args.warmup, args.stage2_iters // 2))
        rows.append({"label": f"stage 2 (G + D, patch {p2})", "it_s": its, "img_s": its * args.batch,
                     "mpix_s": its * args.batch * p2**2 / 1e6, "data_share": share, "wall_s": 0.0})
    result = {"rows": rows, "synth_s": synth_s, "content": content, "args": vars(args)}
    if args.save:
        from imgrestore.io import write_bytes_atomic

        write_bytes_atomic(args.save, json.dumps(result, indent=1).encode())
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"bench train {args.plugin} {args.net_config or '(paper size)'}  batch {args.batch}  patch {args.patch}  "
          f"{args.degrade}  device {args.device}  ({args.iters} iterations, first {args.warmup} excluded)")
    print(f"{'data':34s} {'it/s':>8s} {'img/s':>8s} {'Mpix/s':>8s} {'data wait':>10s}")
    for r in rows:
        print(f"{r['label']:34s} {r['it_s']:8.3g} {r['img_s']:8.3g} {r['mpix_s']:8.3g} {100 * r['data_share']:9.1f}%")
    if synth_s is not None:
        print(f"(writing the {args.iters * args.batch} pairs to disk first took {synth_s:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
