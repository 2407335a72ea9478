"""Time MATLAB-exact bicubic x4 downscaling: imgrestore's kernels vs torch and plain NumPy.

    python benchmarks/bench_bicubic.py [--size 2048] [--repeats 7] [--device cpu|cuda]

Same rows as ``imgrestore bench degrade bicubic``; the logic lives in
``imgrestore.bench.resize.bench_bicubic``.
"""

from __future__ import annotations

import argparse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048, help="input side length (default 2048)")
    ap.add_argument("--repeats", type=int, default=7, help="least number of timed blocks (adaptive timing); the median per call is reported (default 7)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = ap.parse_args()

    import numba

    from imgrestore.bench.timing import copy_bandwidth, format_table, machine_name
    from imgrestore.bench.resize import bench_bicubic

    rows = bench_bicubic(size=args.size, repeats=args.repeats, device=args.device)
    machine = machine_name(args.device)
    if args.device == "cpu":
        machine += f", numba {numba.get_num_threads()} threads ({numba.threading_layer()})"
    n = "1" if args.device == "cpu" else "N"  # the GPU rows time N images, N such that the input is >= 1 GiB
    print(f"bicubic x4 down, input {n}x{args.size}x{args.size}x3 float32, >= {args.repeats} timed blocks, on {machine}")
    print(f"measured copy bandwidth: {copy_bandwidth(args.device) / 1e9:.1f} GB/s")
    print(format_table(rows))


if __name__ == "__main__":
    main()
