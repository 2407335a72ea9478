"""Sample streams for training: sample ``i`` is a function of ``(seed, i)`` only.

Every stream answers ``batch(indices) -> Batch`` (float32 NHWC numpy arrays, or CuPy on the
GPU path), so the batch of iteration ``t`` on rank ``r`` of ``w`` is the same whatever the number
of data-loader workers, a resume, or the process that computes it (:func:`batch_indices`).

* :class:`SynthStream`  clean crops degraded on the fly by a chain. Crop and source choice use
  the very draws of ``imgrestore synth``, so on-the-fly sample ``i`` is synth pair ``i`` before
  PNG rounding.
* :class:`RealStream`   real degraded images with surrogate targets (stage 2), cropped jointly.
* :class:`CleanStream`  unpaired clean crops for the discriminator.

Pairs read from a folder (``--pairs``) are :class:`imgrestore.train.pairs.PairsStream`, built on
:class:`Batch` and :class:`imgrestore.sources.cache.ImageLRU`.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from imgrestore import rng as _rng
from imgrestore.errors import UserError
from imgrestore.rng import CROP_STAGE
from imgrestore.sources.cache import ImageLRU, source_loader
from imgrestore.sources.pool import source_order, to_channels as _to_channels
from imgrestore.sources.source import Source, scan_sources

VAL_SEED_OFFSET = 1_000_003  # validation draws use seed + this: never a training sample
CLEAN_SEED_OFFSET = 2_000_003  # the discriminator's unpaired clean stream


@dataclass
class Batch:
    """A training batch: input, target (NHWC float32) and side maps, with sample indices."""

    input: Any
    target: Any
    indices: list[int]
    side: dict[str, Any] = field(default_factory=dict)


def batch_indices(iteration: int, rank: int, world: int, batch: int) -> list[int]:
    """Sample indices of iteration `iteration` on rank `rank` of `world`: the ranks together
    cover exactly the indices a single process with batch ``world * batch`` would use."""
    start = (iteration * world + rank) * batch
    return list(range(start, start + batch))


def _warn(msg: str) -> None:
    print(msg, file=sys.stderr)


def load_sources(folder: Path | None, need_hw: tuple[int, int], option: str, content: str = "photos",
                 seed: int = 0, screens: int | None = None) -> list[Source]:
    """Usable images of `folder` for crops of `need_hw`; unreadable or too small ones are
    reported and skipped; none left is a UserError. Without a folder: the built-in `content`
    that ``imgrestore synth`` would use (scikit-image's samples, or `screens` screens rendered in
    code, 1,024 by default); samples all smaller than the crop are a UserError naming the sizes."""
    from imgrestore.sources.pool import require_large_enough
    from imgrestore.sources.source import SCREEN_COUNT, builtin_sources, screen_sources

    if folder is None:
        if content == "screens":
            return screen_sources(seed, need_hw, screens or SCREEN_COUNT)
        builtin = builtin_sources()
        require_large_enough(builtin, need_hw, f"{option} (default: scikit-image's samples)")
        return [s for s in builtin if s.hw[0] >= need_hw[0] and s.hw[1] >= need_hw[1]]
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{option} {folder}: no such folder")
    try:
        return scan_sources(folder, need_hw, _warn)
    except UserError as exc:
        msg = str(exc)
        prefix = f"--input {folder}: "
        raise UserError(f"{option} {folder}: {msg[len(prefix):] if msg.startswith(prefix) else msg}") from None


def split_sources(sources: list[Source], n_val: int | None, seed: int) -> tuple[list[Source], list[Source]]:
    """Hold out `n_val` source images for validation (default 10%, at least 1 when there are
    two or more), chosen by a seeded permutation; returns (train, val)."""
    n = len(sources)
    if n_val is None:
        n_val = max(1, round(0.1 * n)) if n >= 2 else 0
    if n_val >= n:
        n_val = n - 1
    perm = np.random.Generator(np.random.PCG64([seed, 77])).permutation(n)
    held = set(int(k) for k in perm[:n_val])
    return [s for k, s in enumerate(sources) if k not in held], [s for k, s in enumerate(sources) if k in held]


class CropSource:
    """Random crops of a list of images: sample i crops image ``source_order(seed, i, n)`` at
    the position drawn from its own CROP stream (the draws of ``imgrestore synth``)."""

    def __init__(self, sources: list[Source], channels: int | None, hw: tuple[int, int]):
        from imgrestore.sources.pool import require_large_enough

        require_large_enough(sources, hw, "sources")
        self.sources, self.hw, self.channels = sources, hw, channels
        self.images = ImageLRU([source_loader(s) for s in sources], channels)

    def crop(self, seed: int, i: int) -> np.ndarray:
        k = source_order(seed, i, len(self.sources))
        src = self.sources[k]
        img = self.images.get(k) if src.render is None else None
        full = src.hw if img is None else img.shape[:2]
        from imgrestore.sources.pool import crop_yx

        h, w = self.hw
        y, x = crop_yx(seed, i, full, self.hw, src.name)
        if img is None:  # rendered on demand (screens): draw just this window
            win = src.render((y, x, h, w))
            return _to_channels(win, self.channels) if self.channels else win
        return img[y:y + h, x:x + w]

    def crops(self, seed: int, indices: Sequence[int]) -> np.ndarray:
        return np.ascontiguousarray(np.stack([self.crop(seed, i) for i in indices]), dtype=np.float32)


class SynthStream:
    """Clean crops degraded on the fly by `chain` (numpy/Numba; `gpu` runs it on CuPy).

    With `pool` the sources are held whole where the chain runs (a :class:`SourcePool`: on the GPU
    with `gpu`, else in host RAM) and each batch is one gather; otherwise crops are cut (screens
    rendered window by window) on the host per sample and uploaded. Sample ``i`` takes the same
    source and crop either way (docs/sources.md)."""

    def __init__(self, sources: list[Source], chain: Any, patch: int, channels: int, seed: int, gpu: bool = False,
                 pool: bool = False):
        self.chain, self.seed, self.patch, self.gpu = chain, seed, patch, gpu
        hw = chain.source_size((patch, patch))
        self.crops = CropSource(sources, channels, hw)
        self.pool = None
        if pool:
            from imgrestore.backend import xp_for
            from imgrestore.sources.pool import SourcePool

            rendered = all(s.render is not None for s in sources)
            self.pool = SourcePool(sources, channels, xp_for("cuda" if gpu else "cpu"), hw,
                                   "--pool" if rendered else "--clean", warn=_warn)

    def prefill(self, n_samples: int) -> int:
        """Render into the pool every screen samples 0..n_samples-1 take (before training starts, so the
        loop never waits for a render); returns how many were rendered."""
        if self.pool is None or not self.pool.rendered:
            return 0
        return self.pool.fill(self.pool.keys_for(self.seed, range(n_samples)))

    def batch(self, indices: Sequence[int]) -> Batch:
        if self.pool is not None:
            clean, _, kept = self.pool.gather(self.seed, indices, self.crops.hw)
            if len(kept) != len(indices):
                bad = sorted(self.pool.bad)[0]
                raise UserError(f"source {self.pool.sources[bad].name}: unreadable (see the warning above)")
        else:
            clean = self.crops.crops(self.seed, indices)
            if self.gpu:
                import cupy

                clean = cupy.asarray(clean)
        pair = self.chain(clean, self.seed, list(indices))
        return Batch(pair.input, pair.target, list(indices), dict(pair.side))


class RealStream:
    """Real degraded images `inputs[k]` (H,W,C) with surrogate targets `targets[k]` (H*s,W*s,C):
    sample i crops image ``source_order(seed, i, n)`` at its drawn position, the same region
    from both."""

    def __init__(self, inputs: list[np.ndarray], targets: list[np.ndarray], patch: int, scale: int, seed: int):
        self.inputs, self.targets, self.patch, self.scale, self.seed = inputs, targets, patch, scale, seed

    def batch(self, indices: Sequence[int]) -> Batch:
        q, s = self.patch // self.scale, self.scale
        xs, ys = [], []
        for i in indices:
            k = source_order(self.seed, i, len(self.inputs))
            inp, tgt = self.inputs[k], self.targets[k]
            r = _rng.sample_rng(self.seed, i, CROP_STAGE, _rng.CROP)
            y = int(r.integers(0, inp.shape[0] - q + 1))
            x = int(r.integers(0, inp.shape[1] - q + 1))
            xs.append(inp[y:y + q, x:x + q])
            ys.append(tgt[y * s:y * s + self.patch, x * s:x * s + self.patch])
        return Batch(np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32), list(indices))


class CleanStream:
    """Unpaired clean crops (the discriminator's 'real' class)."""

    def __init__(self, sources: list[Source], patch: int, channels: int, seed: int):
        self.seed = seed + CLEAN_SEED_OFFSET
        self.crops = CropSource(sources, channels, (patch, patch))

    def batch(self, indices: Sequence[int]) -> np.ndarray:
        return self.crops.crops(self.seed, indices)


class IterationDataset:
    """Map-style dataset for torch's DataLoader: item `t` is the whole batch of iteration t on
    this rank (``batch_size=None``), so workers can prefetch ahead without changing what
    each iteration sees."""

    def __init__(self, stream: Any, batch: int, rank: int = 0, world: int = 1, start: int = 0, stop: int = 0,
                 clean: CleanStream | None = None):
        self.stream, self.batch, self.rank, self.world = stream, batch, rank, world
        self.start, self.stop, self.clean = start, stop, clean

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __getitem__(self, k: int) -> dict[str, Any]:
        it = self.start + k
        idx = batch_indices(it, self.rank, self.world, self.batch)
        b = self.stream.batch(idx)
        item = {"iteration": it, "input": b.input, "target": b.target, "side": dict(b.side)}
        if self.clean is not None:
            item["clean"] = self.clean.batch(idx)
        return item


def probe_chain(chain: Any, channels: int, patch: int, network: str, scale: int = 1,
                option: str = "--degrade") -> set[str]:
    """Run `chain` on one clean batch of the network's channel count and patch; a stage that
    cannot take it, inputs of another channel count, or inputs whose size times the network's
    scale is not the target's, are one-line UserErrors. Returns the side-output names."""
    hw = chain.source_size((patch, patch))
    clean = np.full((1, hw[0], hw[1], channels), 0.5, np.float32)
    what = f"{option} {chain.spec()!r} does not fit network {network}"
    colour = [s.name for s in chain.stages if getattr(s, "colour_only", False)]
    if channels == 1 and colour:
        raise UserError(f"{option}: {colour[0]!r} simulates colour physics (its plugin declares colour_only) and "
                        f"network {network} takes 1 channel; use a colour network (e.g. dmnet, cdncnn-b) or "
                        "--net-config channels=3 where the network has that setting")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pair = chain(clean, 0, [0])
    except (UserError, ValueError, TypeError, IndexError) as exc:
        raise UserError(f"{what} ({channels} channel(s)): {exc}") from None
    c = pair.input.shape[-1]
    if c != channels:
        raise UserError(f"{what}: it makes {c}-channel inputs; the network takes {channels}")
    ih, iw = pair.input.shape[1:3]
    th, tw = pair.target.shape[1:3]
    if (ih * scale, iw * scale) != (th, tw):
        raise UserError(f"{what}: it makes {ih}x{iw} inputs for {th}x{tw} targets; the network's scale is {scale}")
    return set(pair.side)
