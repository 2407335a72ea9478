"""Timing helpers: medians over repeats, and the machine's copy bandwidth as the yardstick.

Every timing row carries ``bandwidth_fraction``: bytes the operation must move (input read +
output written) over the time, divided by this machine's measured copy bandwidth. A memory-bound
kernel cannot exceed 1; that is the hardware limit it is compared against.
"""

from __future__ import annotations

import functools
import statistics
import time
from typing import Any, Callable

import numpy as np


def median_time(fn: Callable[[], Any], repeats: int = 7, warmup: int = 1, sync: Callable[[], None] | None = None) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cuda_median_time(fn: Callable[[], Any], repeats: int = 7) -> float:
    """Median seconds of ``fn`` on the current CUDA stream, timed with CUDA events after two warm-ups."""
    import cupy

    for _ in range(2):
        fn()
    cupy.cuda.runtime.deviceSynchronize()
    times = []
    for _ in range(max(1, repeats)):
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, end) / 1e3)
    return statistics.median(times)


@functools.cache
def copy_bandwidth(device: str = "cpu", nbytes: int = 256 * 2**20) -> float:
    """Measured copy bandwidth in bytes/s (read + write counted) of a large array copy."""
    if device == "cuda":
        import cupy

        a = cupy.ones(nbytes // 4, dtype=cupy.float32)
        b = cupy.empty_like(a)
        t = median_time(lambda: cupy.copyto(b, a), repeats=9, warmup=2, sync=cupy.cuda.runtime.deviceSynchronize)
    else:
        a = np.ones(nbytes // 4, dtype=np.float32)
        b = np.empty_like(a)
        t = median_time(lambda: np.copyto(b, a), repeats=9, warmup=2)
    return 2 * nbytes / t


def machine_name(device: str = "cpu") -> str:
    """What the timings ran on: the GPU's name, or the CPU model and core count."""
    import os
    import platform

    if device == "cuda":
        import cupy

        return cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def row(impl: str, device: str, seconds: float, in_pixels: int, bytes_moved: int) -> dict[str, Any]:
    """One benchmark table row: median time, input megapixels/s, fraction of copy bandwidth."""
    return {
        "impl": impl,
        "device": device,
        "median_s": seconds,
        "mpix_per_s": in_pixels / seconds / 1e6,
        "bandwidth_fraction": bytes_moved / seconds / copy_bandwidth(device),
    }


def bench_degradation(stage, device: str = "cpu", size: int = 512, repeats: int = 5, batch: int = 8) -> list[dict[str, Any]]:
    """Time one degradation stage on a random ``batch x size x size x 3`` float32 batch."""
    from imgrestore.backend import xp_for
    from imgrestore.degrade import Chain

    xp = xp_for(device)  # type: ignore[arg-type]
    x = xp.asarray(np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32))
    chain = Chain([stage])
    sync = None
    if device == "cuda":
        import cupy

        sync = cupy.cuda.runtime.deviceSynchronize
    out = chain(x, 0, range(batch))
    t = median_time(lambda: chain(x, 0, range(batch)), repeats=repeats, sync=sync)
    return [row(f"imgrestore {stage.name}", device, t, batch * size * size, x.nbytes + out.input.nbytes)]


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of benchmark rows."""
    head = f"{'implementation':<34} {'device':<6} {'median ms':>10} {'Mpix/s':>9} {'of copy BW':>10}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['impl']:<34} {r['device']:<6} {r['median_s'] * 1e3:>10.2f} {r['mpix_per_s']:>9.1f} "
            f"{r['bandwidth_fraction'] * 100:>9.1f}%"
        )
    return "\n".join(lines)
