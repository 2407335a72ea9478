"""``imgrestore bench net``: a network's inference time, our restore path against plain eager.

Both rows run the same network on the same input in one process. "eager" is what a user
writes first: the network as built (BN layers unfolded), ``eval()``, ``torch.no_grad()``,
contiguous NCHW, fp32. "imgrestore" is the restore path: BN folded into the convs,
channels-last memory, ``torch.inference_mode()``, and on a GPU bf16 (optionally
``torch.compile``). Every row prints achieved FLOP/s (conv/linear multiply-adds x 2 over the
median time) and its fraction of the dense-kernel peak measured on the same machine in the
same precision (the better of a large GEMM and a large 3x3 conv): the compute-bound limit.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from imgrestore.bench import machine_name, median_time


@functools.cache
def matmul_peak(device: str, dtype_name: str = "fp32", n: int = 2048) -> float:
    """The compute-bound yardstick: the best measured FLOP/s of two large dense kernels in this
    precision, an n x n x n matrix multiply and a 3x3, 256 -> 256 channel, channels-last
    convolution (on CPUs oneDNN's conv kernels can beat the BLAS GEMM torch links)."""
    import torch
    from torch.nn import functional as F

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype_name]
    side = 64
    if device == "cuda":
        n, side = max(n, 8192), 256
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device == "cuda" else None
    best = 2 * n**3 / median_time(lambda: a @ b, repeats=5, warmup=2, sync=sync)
    x = torch.randn(1, 256, side, side, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(256, 256, 3, 3, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        t = median_time(lambda: F.conv2d(x, w, padding=1), repeats=5, warmup=2, sync=sync)
    return max(best, 2 * side * side * 256 * 256 * 9 / t)


def bench_network(name: str, sizes: tuple[int, ...] = (256, 512, 1024), device: str = "cpu", repeats: int = 5,
                  precision: str | None = None, compile: bool = False, config: dict[str, Any] | None = None,
                  networks: Any = None) -> dict[str, Any]:
    """Time network `name` (random weights: timing does not depend on them) at each size."""
    import torch

    from imgrestore.errors import UserError
    from imgrestore.nets.util import flops
    from imgrestore.restore import Restorer

    if networks is None:
        from imgrestore.registry import get_registry

        networks = get_registry().networks
    spec = networks.get(name)
    if spec is None:
        raise UserError(f"bench net {name!r}: no such network; known: {', '.join(sorted(networks))}")
    if spec.task == "discriminator":
        raise UserError(f"bench net {name!r}: a discriminator has no restore path to time")
    precision = precision or ("bf16" if device == "cuda" else "fp32")
    torch.manual_seed(0)
    eager = spec.build(**(config or {})).eval().to(device)
    ours = Restorer(copy.deepcopy(eager), spec, device=device, precision=precision, tile=None, compile=compile)
    sync = torch.cuda.synchronize if device == "cuda" else None
    peak = {p: matmul_peak(device, p) for p in {"fp32", precision}}
    rows = []
    for size in sizes:
        side = max(spec.size_multiple, size // spec.scale)
        side -= side % spec.size_multiple
        x = torch.rand(1, spec.in_channels, side, side, device=device)
        work = flops(eager, x)

        def run_eager(x: Any = x) -> None:
            with torch.no_grad():
                eager(x)

        xo = x.to(ours.dtype).contiguous(memory_format=ours.memory_format)

        def run_ours(xo: Any = xo) -> None:
            with torch.inference_mode():
                ours._run(xo)

        for impl, fn, prec in (("eager (plain PyTorch)", run_eager, "fp32"),
                               ("imgrestore" + (" + compile" if compile else ""), run_ours, precision)):
            t = median_time(fn, repeats=repeats, warmup=2 if compile else 1, sync=sync)
            rows.append({"size": size, "input": f"{side}x{side}", "impl": impl, "precision": prec, "median_s": t,
                         "flop": work, "flops_per_s": work / t, "peak_fraction": work / t / peak[prec]})
        rows[-1]["speedup"] = rows[-2]["median_s"] / rows[-1]["median_s"]
    return {"network": name, "device": device, "machine": machine_name(device) if device == "cpu" else
            torch.cuda.get_device_name(0), "threads": torch.get_num_threads(), "peak_flops": peak, "rows": rows}


def format_rows(res: dict[str, Any]) -> str:
    """A plain-text table of bench_network's result."""
    head = f"{'size':>5} {'implementation':<26} {'prec':<5} {'median ms':>10} {'GFLOP/s':>9} {'of peak':>8} {'speedup':>8}"
    lines = [head, "-" * len(head)]
    for r in res["rows"]:
        sp = f"{r['speedup']:.2f}x" if "speedup" in r else ""
        lines.append(f"{r['size']:>5} {r['impl']:<26} {r['precision']:<5} {r['median_s'] * 1e3:>10.2f} "
                     f"{r['flops_per_s'] / 1e9:>9.1f} {r['peak_fraction'] * 100:>7.1f}% {sp:>8}")
    return "\n".join(lines)
