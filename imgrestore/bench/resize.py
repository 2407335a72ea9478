"""Benchmark of bicubic x4 downscaling: our kernels against torch and plain NumPy.

Used by ``imgrestore bench degrade bicubic`` and ``benchmarks/bench_bicubic.py``. Every peer gets
the same float32 NHWC batch (1 x size x size x 3, uniform [0, 1), seed 0); each row reports the
median of adaptive timing blocks (at least ``repeats``) after a warm-up (JIT, NVRTC, cuDNN
choices), input megapixels per second, and the fraction of this machine's measured copy bandwidth reached, counting input read
plus output written (the least traffic any implementation needs). Timing and bandwidth helpers
come from :mod:`imgrestore.bench.timing` so the rows agree with the CLI's header line.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

SCALE = 0.25  # MATLAB imresize factor: x4 downscaling


def _input(size: int) -> np.ndarray:
    return np.random.default_rng(0).random((1, size, size, 3), dtype=np.float32)


def _bench_cpu(size: int, repeats: int) -> list[dict[str, Any]]:
    import numba
    import torch

    from imgrestore.bench.timing import row, timed
    from imgrestore.kernels.resize import imresize, imresize_numpy, output_size, plan
    from imgrestore.kernels.resize_numba import resize_numba

    x = _input(size)
    o = output_size(size, SCALE)
    px, nbytes = size * size, x.nbytes + o * o * 3 * 4
    steps = plan((size, size), SCALE)
    rows = [
        row("imgrestore numba", "cpu", timed(lambda: imresize(x, SCALE), repeats), px, nbytes),
        row("imgrestore numba (f64 accumulate)", "cpu",
            timed(lambda: resize_numba(x, steps, np.float64), repeats), px, nbytes),
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(numba.get_num_threads())
    try:
        nhwc = torch.from_numpy(x).permute(0, 3, 1, 2)  # NCHW view of the NHWC batch (channels_last)
        nchw = nhwc.contiguous()

        def interp(t: torch.Tensor) -> Callable[[], Any]:
            return lambda: torch.nn.functional.interpolate(
                t, scale_factor=SCALE, mode="bicubic", antialias=True, align_corners=False)

        with torch.inference_mode():
            rows.append(row("torch interpolate (NHWC view)", "cpu", timed(interp(nhwc), repeats), px, nbytes))
            rows.append(row("torch interpolate (NCHW contig.)", "cpu", timed(interp(nchw), repeats), px, nbytes))
    finally:
        torch.set_num_threads(threads)
    rows.append(row("plain numpy (imresize_numpy)", "cpu",
                    timed(lambda: imresize_numpy(x, SCALE), max(1, min(repeats, 3))), px, nbytes))
    return rows


def _bench_cuda(size: int, repeats: int) -> list[dict[str, Any]]:
    import cupy

    from imgrestore.bench.timing import cuda_timed, gpu_batch, row
    from imgrestore.kernels.resize import imresize, output_size

    n = gpu_batch(size * size * 3 * 4)  # fill the device: at least 1 GiB of input
    x = cupy.random.RandomState(0).random_sample((n, size, size, 3), dtype=cupy.float32)
    o = output_size(size, SCALE)
    px, nbytes = n * size * size, x.nbytes + n * o * o * 3 * 4
    rows = [row("imgrestore cuda (cupy)", "cuda", cuda_timed(lambda: imresize(x, SCALE), repeats), px, nbytes)]
    try:
        import torch

        cuda_torch = torch.cuda.is_available()
    except Exception:  # torch without CUDA, or a driver mismatch: no GPU peer to time
        cuda_torch = False
    if cuda_torch:
        nhwc = torch.from_dlpack(x).permute(0, 3, 1, 2)
        nchw = nhwc.contiguous()
        with torch.inference_mode():
            for label, t in (("torch interpolate (NHWC view)", nhwc), ("torch interpolate (NCHW contig.)", nchw)):
                def fn(t=t):
                    return torch.nn.functional.interpolate(t, scale_factor=SCALE, mode="bicubic",
                                                           antialias=True, align_corners=False)
                rows.append(row(label, "cuda", cuda_timed(fn, repeats), px, nbytes))
    return rows


def bench_bicubic(size: int = 2048, repeats: int = 7, device: str = "cpu") -> list[dict[str, Any]]:
    """Time x4 bicubic downscaling of a 1 x size x size x 3 float32 batch on ``device`` (cpu|cuda).

    Rows: ``{"impl", "device", "median_s", "mpix_per_s", "bandwidth_fraction"}``, ours first.
    """
    if device == "cuda":
        return _bench_cuda(size, repeats)
    if device != "cpu":
        raise ValueError(f"bench_bicubic: device must be 'cpu' or 'cuda', got {device!r}")
    return _bench_cpu(size, repeats)
