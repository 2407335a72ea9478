"""Time restoration networks: imgrestore's restore path vs plain eager PyTorch, same input.

    python benchmarks/bench_net.py [dncnn-b ...] [--sizes 256,512,1024] [--repeats 5]
                                   [--device cpu|cuda] [--compile] [--table]

Same rows as ``imgrestore bench net NAME`` (logic in ``imgrestore.bench.net``). ``--table``
prints each registered network's parameter count and FLOPs per megapixel (the README table).
"""

from __future__ import annotations

import argparse


def network_table() -> None:
    import torch

    from imgrestore.bench.net import count_flops
    from imgrestore.nets.util import count_params
    from imgrestore.registry import get_registry

    print(f"{'network':<20} {'task':<17} {'params':>12} {'GFLOP/Mpix':>11}")
    for name, spec in sorted(get_registry().networks.items()):
        model = spec.build().eval()
        side = 96 if spec.task == "discriminator" else 64
        x = torch.rand(1, spec.in_channels, side, side)
        per_mpix = count_flops(model, x)[0] / (side * side) * 1e6 / 1e9
        print(f"{name:<20} {spec.task:<17} {count_params(model):>12,} {per_mpix:>11.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=["dncnn-b"], help="networks to time (default dncnn-b, DnCNN-20)")
    ap.add_argument("--sizes", default="256,512,1024", help="image sides (default 256,512,1024: DnCNN's Table IV)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats; the median is reported (default 5)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--compile", action="store_true", help="torch.compile our path")
    ap.add_argument("--table", action="store_true", help="print parameters and FLOPs of every network and stop")
    args = ap.parse_args()
    if args.table:
        network_table()
        return

    from imgrestore.bench.net import bench_network, format_rows

    sizes = tuple(int(s) for s in args.sizes.split(","))
    for name in args.names:
        res = bench_network(name, sizes, args.device, args.repeats, compile=args.compile)
        peaks = ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in res["peak_flops"].items())
        print(f"{name}, median of {args.repeats}, on {res['machine']} ({res['device']}, {res['threads']} threads); "
              f"dense-kernel peak {peaks}")
        print(format_rows(res))


if __name__ == "__main__":
    main()
