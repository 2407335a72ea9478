"""Time the cbdnet camera-noise pipeline: Numba kernels vs the NumPy oracle (and CUDA on a GPU).

    python benchmarks/bench_cbdnet.py [--size 512] [--repeats 7] [--rounds 5] [--device cpu|cuda] [--crf-file PATH]

Same rows as ``imgrestore bench degrade cbdnet``; the logic lives in
``imgrestore.bench.camera.bench_cbdnet``. On the CPU it then times the Numba pipeline
and the oracle in alternation (``--rounds`` rounds of 5 + 1 runs, ``bench.camera.speedup``) and
prints the speed-up from the minima and the medians: on a machine shared with other jobs the
minima are the fair comparison. Uses ../shared/data/crf/dorfCurves.txt when
present (else ``--crf-file`` / ``$IMGRESTORE_CRF``, else the built-in curve family).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

SHARED_CRF = Path(__file__).resolve().parents[2] / "shared" / "data" / "crf" / "dorfCurves.txt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="image side length (default 512; batch of 8)")
    ap.add_argument("--repeats", type=int, default=7, help="least number of timed blocks (adaptive timing); the median per call is reported (default 7)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating Numba/oracle rounds for the speed-up (cpu)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--crf-file", default=None, help="DoRF dorfCurves.txt")
    args = ap.parse_args()
    crf_file = args.crf_file or os.environ.get("IMGRESTORE_CRF") or (str(SHARED_CRF) if SHARED_CRF.exists() else "")

    import numba

    from imgrestore.bench.timing import copy_bandwidth, format_table, machine_name
    from imgrestore.chain import Chain
    from imgrestore.bench.camera import BATCH, bench_cbdnet, speedup

    stage = Chain.parse(f"cbdnet:crf_file={crf_file}" if crf_file else "cbdnet").stages[0]
    rows = bench_cbdnet(stage, size=args.size, repeats=args.repeats, device=args.device)
    machine = machine_name(args.device)
    if args.device == "cpu":
        machine += f", numba {numba.get_num_threads()} threads ({numba.threading_layer()})"
    print(f"cbdnet, input {BATCH}x{args.size}x{args.size}x3 float32, curves {stage.curves.source}, "
          f">= {args.repeats} timed blocks, on {machine}")
    print(f"measured copy bandwidth: {copy_bandwidth(args.device) / 1e9:.1f} GB/s")
    print(format_table(rows))
    if args.device == "cpu" and args.rounds > 0:
        sp = speedup(stage, size=args.size, rounds=args.rounds)
        print(f"numba vs numpy oracle, alternating ({args.rounds} rounds): numba {sp['numba_min_s'] * 1e3:.1f} ms "
              f"min / {sp['numba_median_s'] * 1e3:.1f} median, oracle {sp['oracle_min_s'] * 1e3:.1f} min / "
              f"{sp['oracle_median_s'] * 1e3:.1f} median: {sp['ratio_of_minima']:.1f}x (minima), "
              f"{sp['ratio_of_medians']:.1f}x (medians)")


if __name__ == "__main__":
    main()
