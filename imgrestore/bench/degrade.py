"""``imgrestore bench degrade NAME``: which rows a degradation stage is timed with.

The bench side looks degradations up, never the reverse (degrade/ sits below bench/): a stage
whose class overrides :meth:`Degradation.benchmark` (a third-party plugin's peers) gets its own
rows; the built-in degradations get their peer benchmarks from :data:`PEERS` (by name, which a
third party cannot take over: built-in plugins load first); any other stage is timed alone on
random input by :func:`bench_degradation`.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from imgrestore.bench.timing import gpu_batch, row, timed


def _awgn(stage, device: str, size: int, repeats: int) -> list[dict[str, Any]]:
    from imgrestore.bench.noise import bench_awgn

    return bench_awgn(stage, size=size, repeats=repeats, device=device)


def _jpeg(stage, device: str, size: int, repeats: int) -> list[dict[str, Any]]:
    from imgrestore.bench.jpeg import bench_jpeg

    return bench_jpeg(stage, size=size, repeats=repeats, device=device)


def _cbdnet(stage, device: str, size: int, repeats: int) -> list[dict[str, Any]]:
    from imgrestore.bench.camera import bench_cbdnet

    return bench_cbdnet(stage, size=size, repeats=repeats, device=device)


def _bicubic(stage, device: str, size: int, repeats: int) -> list[dict[str, Any]]:
    from imgrestore.bench.resize import bench_bicubic

    return bench_bicubic(size=size, repeats=repeats, device=device)


def _moire(stage, device: str, size: int, repeats: int) -> list[dict[str, Any]]:
    from imgrestore.bench.moire import bench_moire

    return bench_moire(stage, size=size, repeats=repeats, device=device)


# built-in degradation name -> its benchmark against the strongest peers
PEERS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "awgn": _awgn, "jpeg": _jpeg, "cbdnet": _cbdnet, "bicubic": _bicubic, "moire": _moire}


def benchmark_stage(stage, device: str = "cpu", size: int = 512, repeats: int = 5) -> list[dict[str, Any]]:
    """Timing rows for one stage: its plugin's own (``stage.benchmark``), the built-in peers, or
    the stage alone."""
    rows = stage.benchmark(device=device, size=size, repeats=repeats)
    if rows is not None:
        return rows
    peers = PEERS.get(stage.name)
    if peers is not None:
        return peers(stage, device, size, repeats)
    return bench_degradation(stage, device=device, size=size, repeats=repeats)


def bench_degradation(stage, device: str = "cpu", size: int = 512, repeats: int = 5, batch: int = 8) -> list[dict[str, Any]]:
    """Time one degradation stage on a random ``batch x size x size x 3`` float32 batch (on the
    GPU, batches of at least :data:`~imgrestore.bench.timing.GPU_MIN_BYTES`)."""
    from imgrestore.backend import xp_for
    from imgrestore.chain import Chain

    if device == "cuda":
        batch = max(batch, gpu_batch(size * size * 3 * 4))
    xp = xp_for(device)  # type: ignore[arg-type]
    x = xp.asarray(np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32))
    chain = Chain([stage])
    sync = None
    if device == "cuda":
        import cupy

        sync = cupy.cuda.runtime.deviceSynchronize
    out = chain(x, 0, range(batch))
    t = timed(lambda: chain(x, 0, range(batch)), min_blocks=repeats, sync=sync)
    return [row(f"imgrestore {stage.name} (stage, batch {batch})", device, t, batch * size * size,
                x.nbytes + out.input.nbytes)]
