"""Time the moire simulator: Numba kernels vs the NumPy oracle (and CUDA on a GPU), and synth.

    python benchmarks/bench_moire.py [--size 256] [--repeats 5] [--device cpu|cuda] [--spec moire]
    python benchmarks/bench_moire.py --synth 320 [--input screenshots/]   # end to end, extrapolated

The first form prints the rows of ``imgrestore bench degrade moire`` (logic in
``imgrestore.bench.moire``): output Mpix/s of steps 1-8 per backend, the fused capture
kernel alone, the whole stage with JPEG, and the oracle. ``--synth N`` instead runs
``imgrestore synth SPEC --patch SIZE --count N`` into a temporary folder (rendered screens, or
``--input``) and extrapolates its wall and CPU time to the paper's 60,000 pairs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def synth(spec: str, size: int, count: int, input_dir: str | None) -> None:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "imgrestore", "synth", spec, "--out", out, "--patch", str(size),
               "--count", str(count)]
        if input_dir:
            cmd += ["--input", input_dir]
        t0, c0 = time.perf_counter(), os.times()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall, c1 = time.perf_counter() - t0, os.times()
    cpu = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
    load = os.getloadavg()[0]
    print(f"imgrestore synth {spec!r} --patch {size} --count {count}: {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"({wall / count * 1e3:.0f} ms wall, {cpu / count * 1e3:.0f} ms CPU per pair; load average {load:.1f} "
          f"on {os.cpu_count()} cores)")
    print(f"60,000 pairs: {wall / count * 60000 / 60:.0f} min at this wall rate, "
          f"{cpu / count * 60000 / 60 / os.cpu_count():.0f} min if all {os.cpu_count()} cores were ours")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256, help="output patch side (default 256; batch of 8)")
    ap.add_argument("--repeats", type=int, default=5, help="least number of timed blocks (adaptive timing); the median per call is reported (default 5)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--spec", default="moire", help="the moire stage spec (default: moire)")
    ap.add_argument("--synth", type=int, default=0, metavar="N", help="time `imgrestore synth` on N pairs instead")
    ap.add_argument("--input", default=None, help="screenshot folder for --synth (default: rendered screens)")
    args = ap.parse_args()
    if args.synth:
        synth(args.spec, args.size, args.synth, args.input)
        return

    import numba

    from imgrestore.bench.timing import copy_bandwidth, format_table, machine_name
    from imgrestore.chain import Chain
    from imgrestore.bench.moire import BATCH, bench_moire

    stage = Chain.parse(args.spec).stages[0]
    rows = bench_moire(stage, size=args.size, repeats=args.repeats, device=args.device)
    machine = machine_name(args.device)
    if args.device == "cpu":
        machine += f", numba {numba.get_num_threads()} threads ({numba.threading_layer()})"
    src = stage.source_size((args.size, args.size))
    print(f"moire, output {BATCH}x{args.size}x{args.size} pairs from {src[0]}x{src[1]} screenshot crops, "
          f">= {args.repeats} timed blocks, on {machine}")
    print(f"measured copy bandwidth: {copy_bandwidth(args.device) / 1e9:.1f} GB/s")
    print(format_table(rows))


if __name__ == "__main__":
    main()
