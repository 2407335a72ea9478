"""Timing helpers: adaptive repeat counts, and the machine's copy bandwidth as the yardstick.

Our own loop although torch.utils.benchmark exists: importing torch costs ~1.5 s and its Timer
sets torch's thread count, both noise for the NumPy/Numba rows (torch rows use it: bench/net.py).

A timing calls the function in blocks of ``n`` calls, ``n`` grown until a block lasts at least
``min_block_s`` (so a 20 us kernel is timed over ~1000 calls and not quantised to the timer or
the launch/sync latency), then runs blocks until at least ``min_blocks`` are in and either their
interquartile range is within 10% of the median or ``max_time`` has passed. Reported per call:
median, IQR and min over the blocks. CPU blocks use ``time.perf_counter`` (the scheme of
``timeit.Timer.autorange``, with a stop rule on the spread); CUDA blocks are timed with CUDA
events around the block, one synchronisation per block. There is no fixed-repeat timer.

Every timing row carries ``bandwidth_fraction``: bytes the operation must move (input read +
output written) over the time, divided by this machine's measured copy bandwidth. A memory-bound
kernel cannot exceed 1; that is the hardware limit it is compared against. GPU rows use batches
of at least :data:`GPU_MIN_BYTES` of input (:func:`gpu_batch`), enough to fill the device.
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from typing import Any, Callable

import numpy as np

GPU_MIN_BYTES = 2**30  # GPU rows time inputs of at least 1 GiB
MAX_TIME = 1.0  # seconds of timing per row (after calibration), unless min_blocks needs more
MIN_BLOCK_S = 0.02  # a block of calls lasts at least this long


def gpu_batch(bytes_per_sample: int, min_bytes: int = GPU_MIN_BYTES) -> int:
    """The least batch whose input is at least ``min_bytes`` (>= 1)."""
    return max(1, math.ceil(min_bytes / max(1, bytes_per_sample)))


def _adaptive(block: Callable[[int], float], min_blocks: int, max_time: float, min_block_s: float) -> dict[str, Any]:
    """Per-call statistics of ``block(n)`` (seconds for n calls), n and the block count adaptive."""
    n = 1
    t0 = time.perf_counter()
    while True:
        t = block(n)
        if t >= min_block_s or n >= 1 << 20:
            break
        n *= min(100, max(2, math.ceil(1.2 * min_block_s / max(t, 1e-9))))
    times = [t / n]
    while len(times) < max(1, min_blocks) or (
            time.perf_counter() - t0 < max_time and (len(times) < 5 or _iqr(times) > 0.1 * statistics.median(times))):
        times.append(block(n) / n)
    return {"median_s": statistics.median(times), "iqr_s": _iqr(times), "min_s": min(times), "blocks": len(times),
            "calls_per_block": n}


def _iqr(times: list[float]) -> float:
    if len(times) < 2:
        return 0.0
    q = statistics.quantiles(times, n=4, method="inclusive")
    return q[2] - q[0]


def timed(fn: Callable[[], Any], min_blocks: int = 3, warmup: int = 1, sync: Callable[[], None] | None = None,
          max_time: float = MAX_TIME, min_block_s: float = MIN_BLOCK_S) -> dict[str, Any]:
    """Adaptive wall-clock timing of ``fn()`` (``sync`` after each block, e.g. a device sync):
    ``{"median_s", "iqr_s", "min_s", "blocks", "calls_per_block"}``, seconds per call."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()

    def block(n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if sync:
            sync()
        return time.perf_counter() - t0

    return _adaptive(block, min_blocks, max_time, min_block_s)


def cuda_timed(fn: Callable[[], Any], min_blocks: int = 3, warmup: int = 2, max_time: float = MAX_TIME,
               min_block_s: float = MIN_BLOCK_S) -> dict[str, Any]:
    """:func:`timed` for work queued on the current CUDA stream, measured with CUDA events."""
    import cupy

    for _ in range(warmup):
        fn()
    cupy.cuda.runtime.deviceSynchronize()

    def block(n: int) -> float:
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        for _ in range(n):
            fn()
        end.record()
        end.synchronize()
        return cupy.cuda.get_elapsed_time(start, end) / 1e3

    return _adaptive(block, min_blocks, max_time, min_block_s)


@functools.cache
def copy_bandwidth(device: str = "cpu", nbytes: int = 256 * 2**20) -> float:
    """Measured copy bandwidth in bytes/s (read + write counted) of a large array copy
    (:data:`GPU_MIN_BYTES` on a GPU, like the rows compared with it; median of the blocks)."""
    if device == "cuda":
        import cupy

        nbytes = max(nbytes, GPU_MIN_BYTES)
        a = cupy.ones(nbytes // 4, dtype=cupy.float32)
        b = cupy.empty_like(a)
        t = cuda_timed(lambda: cupy.copyto(b, a), min_blocks=9)["median_s"]
        del a, b
    else:
        a = np.ones(nbytes // 4, dtype=np.float32)
        b = np.empty_like(a)
        t = timed(lambda: np.copyto(b, a), min_blocks=9, warmup=2)["median_s"]
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


def row(impl: str, device: str, t: float | dict[str, Any], in_pixels: int, bytes_moved: int) -> dict[str, Any]:
    """One benchmark table row: median time, input megapixels/s, fraction of copy bandwidth.

    ``t`` is seconds, or a :func:`timed` / :func:`cuda_timed` result (its IQR, min and block
    counts are kept in the row)."""
    stats = t if isinstance(t, dict) else {"median_s": float(t)}
    seconds = stats["median_s"]
    return {
        "impl": impl,
        "device": device,
        **stats,
        "mpix_per_s": in_pixels / seconds / 1e6,
        "bandwidth_fraction": bytes_moved / seconds / copy_bandwidth(device),
        "bytes_moved": int(bytes_moved),
        "pixels": int(in_pixels),
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of benchmark rows (median per call, IQR as a share of it)."""
    head = f"{'implementation':<40} {'device':<6} {'median ms':>10} {'IQR':>6} {'Mpix/s':>9} {'of copy BW':>10}"
    lines = [head, "-" * len(head)]
    for r in rows:
        iqr = f"{100 * r['iqr_s'] / r['median_s']:>5.1f}%" if "iqr_s" in r else f"{'':>6}"
        lines.append(
            f"{r['impl']:<40} {r['device']:<6} {r['median_s'] * 1e3:>10.3f} {iqr} {r['mpix_per_s']:>9.1f} "
            f"{r['bandwidth_fraction'] * 100:>9.1f}%"
        )
    return "\n".join(lines)
