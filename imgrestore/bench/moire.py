"""Benchmark of the moire simulator: NumPy oracle, Numba kernels, CUDA kernels.

Used by ``imgrestore bench degrade moire`` and ``benchmarks/bench_moire.py``. ``size`` is the
side of the output patch; the input is the stage's screenshot crop for it (``source_size``),
uniform random [0, 1) with seed 0, and every row uses the stage's draws for samples 0-7.
Mpix/s count OUTPUT pixels (one moire photo and its target per pixel, both computed). Rows:
steps 1-8 (no JPEG) per backend, the fused capture kernel alone (steps 1-5), and the whole
stage with the host JPEG. Bytes moved: the screenshot crop read plus both outputs written.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BATCH = 8


def setup(stage, size: int, batch: int = BATCH):
    """(screenshot batch, packed MoireBatch, output size, chain) for the stage's first draws."""
    from imgrestore.chain import Chain
    from imgrestore.kernels.camera_numpy import RED_SITE
    from imgrestore.kernels.moire import pack_batch
    from imgrestore.kernels.philox import sample_key
    from imgrestore.plugins.moire import PATTERNS

    chain = Chain([stage])
    out_hw = (size, size)
    src = chain.source_size(out_hw)
    x = np.random.default_rng(0).random((batch, *src, 3), dtype=np.float32)
    samples = []
    for i in range(batch):
        d = chain.draw(0, i)[0]
        samples.append(dict(d, red=RED_SITE[PATTERNS.index(d["pattern"])] if d["cfa"] else (-1, -1),
                            shot=d["shot"] or 0.0, read=d["read"] or 0.0))
    b = pack_batch(samples, out_hw, src, stage.settings.values["ss"].value,
                   [sample_key(0, i, 0) for i in range(batch)])
    return x, b, out_hw, chain


def bench_moire(stage, size: int = 256, repeats: int = 5, device: str = "cpu") -> list[dict[str, Any]]:
    """Rows ``{"impl", "device", "median_s", "mpix_per_s", "bandwidth_fraction"}``, ours first."""
    from imgrestore.bench.timing import cuda_timed, gpu_batch, row, timed
    from imgrestore.kernels.moire import moire_batch

    if device not in ("cpu", "cuda"):
        raise ValueError(f"bench_moire: device must be 'cpu' or 'cuda', got {device!r}")
    batch = BATCH
    if device == "cuda":  # fill the device: at least 1 GiB of screenshot crops
        from imgrestore.chain import Chain

        hs, ws = Chain([stage]).source_size((size, size))
        batch = gpu_batch(hs * ws * 3 * 4)
    x, b, out_hw, chain = setup(stage, size, batch)
    dem = stage.settings.values["demosaic"].value
    px = batch * size * size
    nbytes = x.nbytes + 2 * px * 3 * 4
    few = max(1, min(repeats, 3))
    rows = []
    if device == "cuda":
        import cupy

        from imgrestore.kernels import moire_cuda

        xd = cupy.asarray(x)
        rows.append(row("imgrestore cuda, steps 1-8", "cuda",
                        cuda_timed(lambda: moire_batch(xd, b, out_hw, dem), repeats), px, nbytes))
        rows.append(row("imgrestore cuda capture (steps 1-5)", "cuda",
                        cuda_timed(lambda: moire_cuda.capture_only(xd, b, out_hw), repeats), px, nbytes))
        rows.append(row("imgrestore cuda, stage incl. JPEG kernels", "cuda",
                        timed(lambda: chain(xd, 0, range(batch)), few,
                                    sync=cupy.cuda.runtime.deviceSynchronize), px, nbytes))
        return rows
    from imgrestore.kernels import moire_numba as k

    rows.append(row("imgrestore numba, steps 1-8", "cpu",
                    timed(lambda: moire_batch(x, b, out_hw, dem), repeats), px, nbytes))
    lin = np.empty_like(x)
    k.decode(x, b.boxes, lin)
    cap = np.empty((BATCH, *out_hw, 1 if b.cfa else 3), np.float32)
    gt = np.empty((BATCH, *out_hw, 3), np.float32)
    rows.append(row("imgrestore numba capture (steps 1-5)", "cpu",
                    timed(lambda: k.capture(lin, b.G, b.I, b.wts, cap, gt), repeats), px, nbytes))
    rows.append(row("imgrestore numba, stage incl. JPEG kernels", "cpu", timed(lambda: chain(x, 0, range(BATCH)), few),
                    px, nbytes))
    one = slice(0, 1)  # the oracle is slow: one sample, its time times the batch
    from imgrestore.kernels.moire import MoireBatch

    b1 = MoireBatch(*(getattr(b, f)[one] for f in ("G", "I", "wts", "noise", "keys", "denoise", "glare", "boxes")))
    t1 = timed(lambda: moire_batch(x[one], b1, out_hw, dem, backend="numpy"), 1, warmup=0)["median_s"]
    rows.append(row("numpy oracle, steps 1-8 (1 pair x8)", "cpu", t1 * BATCH, px, nbytes))
    return rows
