"""Clean sources for on-the-fly moiré training data: a pool of whole screens vs windows rendered per crop.

    python benchmarks/bench_source_pool.py [--patch 256] [--batch 16] [--batches 4] [--pool 16] [--repeats 3]

Reports, on this machine's CPU: the pool build time (screens rendered whole, per screen and in all),
the bytes per pooled screen, and for the clean crops alone and for whole moiré pairs (crops + the
chain) the pairs/s of the per-window path (``SynthStream`` without a pool: each crop renders its
window of one of 1,024 screens) and of the pool path (``SynthStream(pool=True)``: one gather from
the rendered screens). Times are min and median over --repeats runs of the same batches.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patch", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--pool", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="Also write the numbers here.")
    a = ap.parse_args()

    from imgrestore.chain import Chain
    from imgrestore.sources.source import SCREEN_COUNT, screen_sources
    from imgrestore.train.data import SynthStream

    chain = Chain.parse("moire")
    need = chain.source_size((a.patch, a.patch))
    batches = [list(range(b * a.batch, (b + 1) * a.batch)) for b in range(a.batches)]
    n = a.batch * a.batches

    def timed(fn) -> tuple[float, float]:
        ts = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            for idx in batches:
                fn(idx)
            ts.append(time.perf_counter() - t)
        return min(ts), statistics.median(ts)

    win = SynthStream(screen_sources(a.seed, need, SCREEN_COUNT), chain, a.patch, 3, a.seed)
    t = time.perf_counter()
    pooled = SynthStream(screen_sources(a.seed, need, a.pool), chain, a.patch, 3, a.seed, pool=True)
    made = pooled.prefill(n)
    build = time.perf_counter() - t
    chain(win.crops.crops(a.seed, batches[0][:1]), a.seed, [0])  # compile/warm the chain once

    rows = {
        "crops_window": timed(lambda idx: win.crops.crops(a.seed, idx)),
        "crops_pool": timed(lambda idx: pooled.pool.crops(a.seed, idx, pooled.crops.hw)),
        "pairs_window": timed(win.batch),
        "pairs_pool": timed(pooled.batch),
    }
    out = {
        "machine": f"{os.cpu_count()} CPU cores, load {os.getloadavg()[0]:.1f}",
        "patch": a.patch, "window": list(need), "batch": a.batch, "pairs": n, "repeats": a.repeats,
        "pool_screens": a.pool, "pool_rendered": made, "pool_build_s": round(build, 2),
        "pool_build_per_screen_ms": round(1e3 * build / max(1, made), 1),
        "pool_bytes_per_screen": pooled.pool.nbytes // a.pool,
        **{f"{k}_per_s": [round(n / v[0], 1), round(n / v[1], 1)] for k, v in rows.items()},
    }
    for k, v in out.items():
        print(f"{k:28s} {v}")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
