"""Benchmark of the JPEG round trip: Numba kernel vs Pillow (libjpeg-turbo) vs the NumPy oracle.

Used by ``imgrestore bench degrade jpeg``. Every row gets the same batch: 8 natural images
(scikit-image's samples resized to ``size`` x ``size`` with Pillow's bicubic; random noise if
scikit-image is missing), float32 NHWC in [0, 1], and the same per-sample quality and
subsampling (the stage's draws for samples 0-7). Every row includes the float <-> uint8
conversions (``clip(rint(x * 255))`` in, ``u8 / 255`` out): that is what the plugin needs,
and what the plugin did around Pillow before the kernels existed. Bytes moved count the
float32 input read and output written.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

BATCH = 8
SAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina", "cat", "colorwheel")


def natural_batch(size: int, n: int = BATCH) -> np.ndarray:
    """(n, size, size, 3) float32: scikit-image samples resized (random values without it)."""
    from PIL import Image

    try:
        import skimage.data as sd
    except ImportError:
        return np.random.default_rng(0).random((n, size, size, 3), dtype=np.float32)
    imgs = []
    for name in SAMPLES:
        try:
            im = np.asarray(getattr(sd, name)())
        except Exception:  # noqa: BLE001 - a sample missing from this scikit-image: skip it
            continue
        im = im[..., None].repeat(3, 2) if im.ndim == 2 else im[..., :3]
        imgs.append(np.asarray(Image.fromarray(im.astype(np.uint8)).resize((size, size), Image.BICUBIC)))
    while len(imgs) < n:
        imgs.append(imgs[len(imgs) % max(1, len(imgs))] if imgs else np.zeros((size, size, 3), np.uint8))
    return np.stack(imgs[:n]).astype(np.float32) / np.float32(255.0)


def pillow_roundtrip(img: np.ndarray, quality: int, subsampling: str) -> np.ndarray:
    """One float HWC image through Pillow's JPEG encoder and decoder (the reference)."""
    from PIL import Image

    u8 = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    gray = u8.shape[2] == 1
    im = Image.fromarray(u8[..., 0] if gray else u8, mode="L" if gray else "RGB")
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=int(quality), subsampling={"444": 0, "422": 1, "420": 2}[subsampling])
    buf.seek(0)
    out = np.asarray(Image.open(buf), dtype=np.float32) / 255.0
    return out[..., None] if gray else out


def pillow_batch(x: np.ndarray, quality, subsampling) -> np.ndarray:
    """Pillow image by image over a batch."""
    return np.stack([pillow_roundtrip(img, int(q), s) for img, q, s in zip(x, quality, subsampling)])


def speedup(size: int = 512, quality: int = 90, subsampling: str = "420", rounds: int = 5,
            natural: bool = True) -> dict[str, float]:
    """Numba against Pillow on the same batch in one run, timed in alternation.

    Each round times the Numba kernel once and Pillow once (both with float <-> uint8), so
    both see the same machine state; on a shared machine the minima are the fairest figures.
    Also reports the CPU time (all threads) of each, which load on the machine inflates less.
    """
    import statistics
    import time

    from imgrestore.kernels.jpeg import roundtrip

    x = natural_batch(size) if natural else np.random.default_rng(0).random((BATCH, size, size, 3), np.float32)
    qs, subs = [quality] * len(x), [subsampling] * len(x)
    roundtrip(x, qs, subs)
    wall = {"numba": [], "pillow": []}
    cpu = {"numba": [], "pillow": []}
    for _ in range(max(1, rounds)):
        for name, fn in (("numba", lambda: roundtrip(x, qs, subs)), ("pillow", lambda: pillow_batch(x, qs, subs))):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    res: dict[str, float] = {}
    for name in wall:
        res[f"{name}_min_s"] = min(wall[name])
        res[f"{name}_median_s"] = statistics.median(wall[name])
        res[f"{name}_cpu_min_s"] = min(cpu[name])
    res["ratio_of_minima"] = res["pillow_min_s"] / res["numba_min_s"]
    res["ratio_of_medians"] = res["pillow_median_s"] / res["numba_median_s"]
    res["ratio_of_cpu"] = res["pillow_cpu_min_s"] / res["numba_cpu_min_s"]
    return res


def bench_jpeg(stage, size: int = 512, repeats: int = 7, device: str = "cpu",
               oracle_size: int = 64) -> list[dict[str, Any]]:
    """Rows ``{"impl", "device", "median_s", "mpix_per_s", "bandwidth_fraction", ...}``, ours first.

    The NumPy oracle is timed on an ``oracle_size`` batch (it runs at ~1 Mpix/s).
    """
    from imgrestore.bench.timing import cuda_timed, gpu_batch, row, timed
    from imgrestore.chain import Chain
    from imgrestore.kernels.jpeg import roundtrip

    if device not in ("cpu", "cuda"):
        raise ValueError(f"bench_jpeg: device must be 'cpu' or 'cuda', got {device!r}")
    chain = Chain([stage])
    x = natural_batch(size)
    drawn = [chain.draw(0, i)[0] for i in range(BATCH)]
    qs, subs = [d["quality"] for d in drawn], [d["subsampling"] for d in drawn]
    tag = f"q {qs[0]}{'..' if len(set(qs)) > 1 else ''} {subs[0]}"
    if device == "cuda":
        import cupy

        n = max(BATCH, gpu_batch(x[0].nbytes))
        reps = -(-n // BATCH)
        xd = cupy.asarray(np.concatenate([x] * reps)[:n])
        qn, sn = (qs * reps)[:n], (subs * reps)[:n]
        t = cuda_timed(lambda: roundtrip(xd, qn, sn), min_blocks=repeats)
        return [row(f"imgrestore cuda jpeg ({tag}, batch {n})", "cuda", t, n * size * size, 2 * xd.nbytes)]
    px, nbytes = x.shape[0] * size * size, 2 * x.nbytes
    rows = [row(f"imgrestore numba jpeg ({tag})", "cpu", timed(lambda: roundtrip(x, qs, subs), min_blocks=repeats),
                px, nbytes),
            row("Pillow encode+decode (libjpeg-turbo)", "cpu", timed(lambda: pillow_batch(x, qs, subs),
                                                                      min_blocks=max(1, min(repeats, 5))), px, nbytes)]
    small = natural_batch(oracle_size)
    rows.append(row(f"numpy oracle ({oracle_size}x{oracle_size})", "cpu",
                    timed(lambda: roundtrip(small, qs, subs, backend="numpy"), min_blocks=3, max_time=0.5),
                    small.shape[0] * oracle_size ** 2, 2 * small.nbytes))
    return rows
