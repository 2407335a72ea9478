"""``imgrestore bench net``: a network's inference time, our restore path against plain eager.

All rows run the same network on the same input in one process. "eager" is what a user
writes first: the network as built (BN layers unfolded), ``eval()``, ``torch.no_grad()``,
contiguous NCHW, fp32. "imgrestore" is the restore path (:meth:`Restorer.window`): BN folded
into the convs, channels-last memory, ``torch.inference_mode()``, the chosen precision (bf16 on
a GPU); with ``--compile`` / CUDA graphs a third row adds those. Every row prints achieved
FLOP/s (FLOPs counted by torch.utils.flop_counter over the median time) and its share of the
dense-kernel peak measured in the same run and precision (the better of a large GEMM and a
large 3x3 conv): the compute-bound limit. Times come from torch.utils.benchmark's adaptive
repeat counts (blocks of several calls for short kernels, so small sizes are not quantised to
the timer; CUDA is synchronised by its timer).
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable
from typing import Any

from imgrestore.bench.timing import machine_name


def time_call(fn: Callable[[], Any], min_blocks: int = 3, max_time: float = 5.0, warmup: int = 1) -> dict[str, Any]:
    """Seconds per ``fn()``: torch.utils.benchmark's adaptive_autorange (blocks of calls until
    the IQR is within 10% of the median or ``max_time`` passes), topped up to ``min_blocks``
    blocks; median and IQR over the blocks."""
    import torch
    from torch.utils.benchmark import Timer

    for _ in range(warmup):
        fn()
    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    m = timer.adaptive_autorange(threshold=0.1, min_run_time=0.01, max_run_time=max_time)
    times = list(m.times)
    while len(times) < min_blocks:
        times += list(timer.timeit(m.number_per_run).times)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {"median_s": statistics.median(times), "iqr_s": q[2] - q[0], "blocks": len(times),
            "calls_per_block": m.number_per_run}


def matmul_peak(device: str, dtype_name: str = "fp32", n: int = 2048, max_time: float = 2.0) -> dict[str, float]:
    """The compute-bound yardstick in FLOP/s: an n x n x n matrix multiply (8192 on a GPU) and a
    3x3, 256 -> 256 channel, channels-last convolution, timed here; "peak" is the better of the
    two (on CPUs oneDNN's conv kernels can beat the BLAS GEMM torch links). Not cached: bench
    net measures it before and after its rows and keeps the better, so a busy host during one
    of the two does not make the network look faster than the peak."""
    import torch
    from torch.nn import functional as F

    from imgrestore.restore import torch_dtype

    dtype = torch_dtype(dtype_name)
    side = 64
    if device == "cuda":
        n, side = max(n, 8192), 256
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    gemm = 2 * n**3 / time_call(lambda: a @ b, max_time=max_time)["median_s"]
    x = torch.randn(1, 256, side, side, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(256, 256, 3, 3, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        t = time_call(lambda: F.conv2d(x, w, padding=1), max_time=max_time)["median_s"]
    conv = 2 * side * side * 256 * 256 * 9 / t
    return {"gemm": gemm, "conv3x3": conv, "peak": max(gemm, conv)}


def count_flops(model: Any, x: Any) -> tuple[int, int]:
    """(FLOPs of one forward, counted by torch.utils.flop_counter; the widest activation in
    elements, for sizing a batch that fills the device)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    widest = 0

    def hook(m: Any, inp: Any, out: Any) -> None:
        nonlocal widest
        if isinstance(out, torch.Tensor):
            widest = max(widest, out.numel())

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return int(counter.get_total_flops()), widest


def fill_batch(device: str, act_bytes: int, target: int = 2**30) -> int:
    """A batch whose widest activation is at least `target` bytes (1 GiB: the device is busy for
    long enough that launch gaps vanish), halved until four such activations fit in free memory;
    1 on a CPU."""
    if device != "cuda":
        return 1
    import torch

    free, _ = torch.cuda.mem_get_info()
    batch = 1
    while batch * act_bytes < target:
        batch *= 2
    while batch > 1 and 4 * batch * act_bytes > free:
        batch //= 2
    return batch


def network_spec(name: str) -> Any:
    """The NetworkSpec `bench net NAME` times: a known network with a restore path (UserError otherwise)."""
    from imgrestore.errors import UserError
    from imgrestore.registry import get_spec

    spec = get_spec(name, "bench net")
    if spec.task == "discriminator":
        raise UserError(f"bench net {name!r}: a discriminator has no restore path to time")
    return spec


def bench_network(name: str, sizes: tuple[int, ...] = (256, 512, 1024), device: str = "cpu", repeats: int = 3,
                  precision: str | None = None, compile: bool = False, config: dict[str, Any] | None = None,
                  cuda_graphs: bool | None = None, batches: tuple[int | str, ...] | None = None,
                  max_time: float = 5.0) -> dict[str, Any]:
    """Time network `name` (random weights: timing does not depend on them) at each size and
    batch ("auto": :func:`fill_batch`); `repeats` is the least number of timed blocks."""
    import torch

    from imgrestore.restore import Restorer, check_compile, check_cuda_graphs

    spec = network_spec(name)
    precision = precision or ("bf16" if device == "cuda" else "fp32")
    graphs = check_cuda_graphs(cuda_graphs, device)
    if compile:
        check_compile(device)
    if batches is None:
        batches = (1, "auto") if device == "cuda" else (1,)
    torch.manual_seed(0)
    eager = spec.build(**(config or {})).eval().to(device)
    kw = dict(device=device, precision=precision, tile=None, cpu_bf16=True)
    impls = [("eager (plain PyTorch)", "fp32", None),
             ("imgrestore", precision, Restorer(copy.deepcopy(eager), spec, cuda_graphs=False, **kw))]
    if compile or graphs:
        label = "imgrestore" + (" + compile" if compile else "") + (" + graphs" if graphs else "")
        fast = Restorer(copy.deepcopy(eager), spec, compile=compile, cuda_graphs=graphs, **kw)
        impls.append((label, precision, fast))
    wanted = {"fp32", precision} | ({"bf16"} if device == "cuda" else set())
    peak_time = min(2.0, max_time)
    before = {p: matmul_peak(device, p, max_time=peak_time) for p in sorted(wanted)}
    itemsize = torch.finfo(impls[1][2].dtype).bits // 8
    rows = []
    for size in sizes:
        side = max(spec.size_multiple, size // spec.scale)
        side -= side % spec.size_multiple
        one = torch.rand(1, spec.in_channels, side, side, device=device)
        work1, widest = count_flops(eager, one)
        done = set()
        for b in batches:
            batch = fill_batch(device, widest * itemsize) if b == "auto" else int(b)
            if batch in done:  # "auto" is 1 on a CPU
                continue
            done.add(batch)
            x = one.expand(batch, -1, -1, -1).contiguous() if batch > 1 else one
            work = work1 * batch
            base = None
            for label, prec, ours in impls:
                if ours is None:
                    def fn(x: Any = x) -> None:
                        with torch.no_grad():
                            eager(x)
                else:
                    xo = x.to(ours.dtype).contiguous(memory_format=ours.memory_format)

                    def fn(x: Any = xo, ours: Any = ours) -> None:
                        with torch.inference_mode():
                            ours.window(x)
                if device == "cuda":  # plain eager as users run it; the Restorer turns cuDNN's autotuner on
                    torch.backends.cudnn.benchmark = ours is not None
                warm = 3 if ours is not None and ours.uniform else 1  # compile / capture before timing
                t = time_call(fn, min_blocks=repeats, max_time=max_time, warmup=warm)
                s = t["median_s"]
                row = {"size": size, "input": f"{batch}x{side}x{side}", "batch": batch, "impl": label,
                       "precision": prec, **t, "flop": work, "flops_per_s": work / s}
                if base is None:
                    base = s
                else:
                    row["speedup"] = base / s
                rows.append(row)
    peaks = {}
    for p, b in before.items():
        a = matmul_peak(device, p, max_time=peak_time)
        peaks[p] = {k: max(a[k], b[k]) for k in a}
    for row in rows:
        row["peak_fraction"] = row["flops_per_s"] / peaks[row["precision"]]["peak"]
        if "bf16" in peaks:
            row["bf16_peak_fraction"] = row["flops_per_s"] / peaks["bf16"]["peak"]
    return {"network": name, "device": device, "machine": machine_name(device) if device == "cpu" else
            torch.cuda.get_device_name(0), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "peak_flops": {p: v["peak"] for p, v in peaks.items()}, "peak_detail": peaks, "rows": rows}


def format_rows(res: dict[str, Any]) -> str:
    """A plain-text table of bench_network's result."""
    head = (f"{'size':>5} {'batch':>5} {'implementation':<34} {'prec':<5} {'median ms':>10} {'IQR %':>6} "
            f"{'GFLOP/s':>9} {'of peak':>8} {'speedup':>8}")
    lines = [head, "-" * len(head)]
    for r in res["rows"]:
        sp = f"{r['speedup']:.2f}x" if "speedup" in r else ""
        iqr = 100 * r["iqr_s"] / r["median_s"] if r["median_s"] else 0.0
        lines.append(f"{r['size']:>5} {r['batch']:>5} {r['impl']:<34} {r['precision']:<5} {r['median_s'] * 1e3:>10.2f} "
                     f"{iqr:>6.1f} {r['flops_per_s'] / 1e9:>9.1f} {r['peak_fraction'] * 100:>7.1f}% {sp:>8}")
    return "\n".join(lines)
