"""Benchmark of the cbdnet camera-noise pipeline: NumPy oracle, Numba kernels, CUDA kernels.

Used by ``imgrestore bench degrade cbdnet`` and ``benchmarks/bench_cbdnet.py``. Every row gets
the same batch (8 x size x size x 3 float32, uniform [0, 1), seed 0) and the same drawn
parameters (the stage's settings, samples 0-7). Steps 1-5 are timed without JPEG (the goal is
stated for the pipeline without it; a separate row adds Pillow's JPEG round trip). Bytes moved
count the input read and the output and sigma map written. The demosaic step alone is also
timed against colour-demosaicing's Malvar 2004 (when installed), on the same Bayer planes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BATCH = 8


def _setup(stage, size: int, batch: int = BATCH):
    from imgrestore.chain import Chain
    from imgrestore.kernels.camera import CameraParams

    x = np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32)
    chain = Chain([stage])
    drawn = [chain.draw(0, i)[0] for i in range(batch)]
    params = CameraParams.from_drawn(drawn, 0, range(batch), 0)
    kw = dict(model=stage.settings.values["noise"].value, clip=stage.settings.values["clip"].value,
              demosaic=stage.settings.values["demosaic"].value)
    return x, chain, params, kw


def _oracle(x, curves, params, kw, philox: bool = True) -> None:
    """The oracle with its Philox noise (what the tests compare), or with NumPy's own faster
    PCG64 normals (same maths, other noise: the fastest plain-NumPy statement)."""
    from imgrestore.kernels.camera_numpy import camera
    from imgrestore.kernels.philox import normals_numpy

    model = 1 if kw["model"] == "matlab" else 0
    for s in range(len(x)):
        gen = np.random.default_rng(s)
        key = tuple(int(k) for k in params.keys[s])
        normal = (lambda n: normals_numpy(n, key)) if philox else (lambda n: gen.standard_normal(n, dtype=np.float32))
        camera(x[s], curves, int(params.crf[s]), int(params.pattern[s]), params.sigma_s[s], params.sigma_c[s],
               normal, model, kw["clip"], kw["demosaic"])


def speedup(stage, size: int = 512, rounds: int = 5, per_round: int = 5) -> dict[str, float]:
    """Numba steps 1-5 against the NumPy oracle (Philox noise), timed in alternation.

    Each round times the Numba pipeline ``per_round`` times, then the oracle once, so both see
    the same machine state; on a shared machine the minima are the fairest figures (the least
    disturbed run of each), the medians show the typical case. Returns seconds and ratios.
    """
    import statistics
    import time

    from imgrestore.kernels.camera import camera_batch

    x, _, params, kw = _setup(stage, size)
    ours = lambda: camera_batch(x, stage.curves, params, **kw)  # noqa: E731
    ours()
    t_ours, t_oracle = [], []
    for _ in range(max(1, rounds)):
        for _ in range(max(1, per_round)):
            t0 = time.perf_counter()
            ours()
            t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        _oracle(x, stage.curves, params, kw)
        t_oracle.append(time.perf_counter() - t0)
    res = {"numba_min_s": min(t_ours), "numba_median_s": statistics.median(t_ours),
           "oracle_min_s": min(t_oracle), "oracle_median_s": statistics.median(t_oracle)}
    res["ratio_of_minima"] = res["oracle_min_s"] / res["numba_min_s"]
    res["ratio_of_medians"] = res["oracle_median_s"] / res["numba_median_s"]
    return res


def bench_cbdnet(stage, size: int = 512, repeats: int = 7, device: str = "cpu") -> list[dict[str, Any]]:
    """Rows ``{"impl", "device", "median_s", "mpix_per_s", "bandwidth_fraction"}``, ours first."""
    from imgrestore.bench.timing import cuda_timed, gpu_batch, row, timed
    from imgrestore.kernels.camera import camera_batch, demosaic

    if device not in ("cpu", "cuda"):
        raise ValueError(f"bench_cbdnet: device must be 'cpu' or 'cuda', got {device!r}")
    # GPU rows fill the device: at least 1 GiB of input
    x, chain, params, kw = _setup(stage, size, gpu_batch(size * size * 12) if device == "cuda" else BATCH)
    px = x.shape[0] * size * size
    nbytes = 3 * x.nbytes  # input read, output + sigma map written
    raw = np.ascontiguousarray(x[..., 1])
    raw_bytes = raw.nbytes + x.nbytes
    rows = []
    if device == "cuda":
        import cupy

        xd, rawd = cupy.asarray(x), cupy.asarray(raw)
        rows.append(row("imgrestore cuda, steps 1-5", "cuda",
                        cuda_timed(lambda: camera_batch(xd, stage.curves, params, **kw), repeats), px, nbytes))
        rows.append(row("imgrestore cuda demosaic (step 4)", "cuda",
                        cuda_timed(lambda: demosaic(rawd, "RGGB", kw["demosaic"]), repeats), px, raw_bytes))
        rows.append(row("imgrestore cuda + host JPEG (stage)", "cuda",
                        timed(lambda: chain(xd, 0, range(len(x))), max(1, min(repeats, 3)),
                                    sync=cupy.cuda.runtime.deviceSynchronize), px, nbytes))
        return rows
    rows.append(row("imgrestore numba, steps 1-5", "cpu",
                    timed(lambda: camera_batch(x, stage.curves, params, **kw), repeats), px, nbytes))
    few = max(1, min(repeats, 3))
    rows.append(row("numpy oracle, steps 1-5", "cpu", timed(lambda: _oracle(x, stage.curves, params, kw), few),
                    px, nbytes))
    rows.append(row("numpy oracle, PCG64 normals", "cpu",
                    timed(lambda: _oracle(x, stage.curves, params, kw, philox=False), few), px, nbytes))
    rows.append(row("imgrestore numba + JPEG (stage)", "cpu", timed(lambda: chain(x, 0, range(BATCH)), few),
                    px, nbytes))
    rows.append(row(f"imgrestore numba demosaic {kw['demosaic']}", "cpu",
                    timed(lambda: demosaic(raw, "RGGB", kw["demosaic"]), repeats), px, raw_bytes))
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import colour_demosaicing as cd
    except ImportError:
        return rows
    peer = cd.demosaicing_CFA_Bayer_Malvar2004 if kw["demosaic"] == "malvar" else cd.demosaicing_CFA_Bayer_bilinear
    rows.append(row(f"colour-demosaicing {kw['demosaic']}", "cpu",
                    timed(lambda: [peer(r, "RGGB") for r in raw], few), px, raw_bytes))
    return rows
