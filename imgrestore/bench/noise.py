"""Benchmark of awgn: our Philox kernels against the fastest generators of NumPy, torch and CuPy.

Used by ``imgrestore bench degrade awgn``. Every row computes ``y = x + sigma * n`` (float32,
NHWC, sigma per image) on the same batch: 8 x size x size x 3 on the CPU, at least 1 GiB on the
GPU. Peers draw their own generator's normals (PCG64 in NumPy, torch's Philox/MT, cuRAND's XORWOW
in CuPy): they are the speed to beat, not the same bits. Bytes moved: input read + output written
(the normals are made in registers). The whole stage (host parameter draws and keys included) is
the last row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BATCH = 8


def bench_awgn(stage, size: int = 512, repeats: int = 5, device: str = "cpu") -> list[dict[str, Any]]:
    """Rows ``{"impl", "device", "median_s", "iqr_s", "min_s", "mpix_per_s", "bandwidth_fraction", ...}``."""
    from imgrestore.bench.degrade import bench_degradation
    from imgrestore.bench.timing import cuda_timed, gpu_batch, row, timed
    from imgrestore.kernels.noise import awgn
    from imgrestore.rng import sample_keys

    if device not in ("cpu", "cuda"):
        raise ValueError(f"bench_awgn: device must be 'cpu' or 'cuda', got {device!r}")
    n = gpu_batch(size * size * 12) if device == "cuda" else BATCH
    keys = sample_keys(0, range(n), 0)
    sigma = np.full(n, 25 / 255, np.float32)
    px = n * size * size
    nbytes = 2 * px * 3 * 4
    rows = []
    if device == "cuda":
        import cupy

        x = cupy.random.RandomState(0).random_sample((n, size, size, 3), dtype=cupy.float32)
        sg = cupy.asarray(sigma).reshape(n, 1, 1, 1)
        rows.append(row("imgrestore cuda (fused Philox)", "cuda", cuda_timed(lambda: awgn(x, sigma, keys), repeats),
                        px, nbytes))
        rs = cupy.random.RandomState(0)
        peer = lambda: x + sg * rs.standard_normal(x.shape, dtype=cupy.float32)  # noqa: E731
        rows.append(row("cupy standard_normal + add", "cuda", cuda_timed(peer, repeats), px, nbytes))
        try:
            import torch

            if torch.cuda.is_available():
                xt, st = torch.from_dlpack(x), torch.from_dlpack(sg)
                rows.append(row("torch randn_like + add", "cuda",
                                cuda_timed(lambda: xt + st * torch.randn_like(xt), repeats), px, nbytes))
        except ImportError:
            pass
        del x
    else:
        x = np.random.default_rng(0).random((n, size, size, 3), dtype=np.float32)
        sg = sigma.reshape(n, 1, 1, 1)
        rows.append(row("imgrestore numba (fused Philox)", "cpu", timed(lambda: awgn(x, sigma, keys), repeats),
                        px, nbytes))
        g = np.random.default_rng(0)
        rows.append(row("numpy PCG64 standard_normal + add", "cpu",
                        timed(lambda: x + sg * g.standard_normal(x.shape, dtype=np.float32), repeats), px, nbytes))
        try:
            import torch

            xt, st = torch.from_numpy(x), torch.from_numpy(sg)
            rows.append(row(f"torch randn_like + add ({torch.get_num_threads()} threads)", "cpu",
                            timed(lambda: xt + st * torch.randn_like(xt), repeats), px, nbytes))
        except ImportError:
            pass
    return rows + bench_degradation(stage, device=device, size=size, repeats=repeats, batch=BATCH)
