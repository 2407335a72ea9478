"""Sample streams for training: sample ``i`` is a function of ``(seed, i)`` only.

Every stream answers ``batch(indices) -> Batch`` (float32 NHWC numpy arrays, or CuPy on the
GPU path), so the batch of iteration ``t`` on rank ``r`` of ``w`` is the same whatever the number
of data-loader workers, a resume, or the process that computes it (:func:`batch_indices`).

* :class:`SynthStream`  clean crops degraded on the fly by a chain. Crop and source choice use
  the very draws of ``imgrestore synth``, so on-the-fly sample ``i`` is synth pair ``i`` before
  PNG rounding.
* :class:`PairsStream`  pairs read from an ``imgrestore synth`` folder (or any folder with
  ``input/`` and ``target/`` images of the same names), cropped to the patch.
* :class:`RealStream`   real degraded images with surrogate targets (stage 2), cropped jointly.
* :class:`CleanStream`  unpaired clean crops for the discriminator.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from imgrestore import rng as _rng
from imgrestore.errors import ImageReadError, UserError
from imgrestore.rng import CROP_STAGE
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


class ImageLRU:
    """Decoded images by position, converted to `channels`, keeping the last `size`."""

    def __init__(self, loaders: Sequence[Callable[[], np.ndarray]], channels: int | None, size: int = 64):
        self.loaders, self.channels, self.size = loaders, channels, size
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def get(self, k: int) -> np.ndarray:
        if k in self.cache:
            self.cache.move_to_end(k)
            return self.cache[k]
        img = self.loaders[k]()
        if self.channels:
            img = _to_channels(img, self.channels)
        self.cache[k] = img
        if len(self.cache) > self.size:
            self.cache.popitem(last=False)
        return img


class _Loader:
    """A picklable image loader (data-loader workers are spawned): a file or an array."""

    def __init__(self, path: Path | None = None, array: np.ndarray | None = None):
        self.path, self.array = path, array

    def __call__(self) -> np.ndarray:
        if self.array is not None:
            return self.array
        from imgrestore.io import read_image

        return read_image(self.path)


def _source_loader(src: Source) -> Callable[[], np.ndarray]:
    return _Loader(src.path, src.array)


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
        self.images = ImageLRU([_source_loader(s) for s in sources], channels)

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


class PairsStream:
    """Pairs from a folder: OUT/manifest.jsonl of ``imgrestore synth`` when present, else the
    images of input/ and target/ matched by name. Sample i reads pair
    ``order(seed, i)`` (a fresh permutation every pass) and crops `patch` from the target (the
    matching region of the input for super-resolution)."""

    def __init__(self, folder: Path, patch: int | None, channels: int | None, seed: int, option: str = "--pairs",
                 entries: list[dict[str, Any]] | None = None):
        self.folder, self.patch, self.seed, self.option = Path(folder), patch, seed, option
        self.entries = entries if entries is not None else read_pairs(self.folder, option)
        self.inputs = ImageLRU([_Loader(self.folder / e["input"]) for e in self.entries], channels, 4096)
        self.targets = ImageLRU([_Loader(self.folder / e["target"]) for e in self.entries], channels, 4096)

    def subset(self, lo: int, hi: int) -> "PairsStream":
        return PairsStream(self.folder, self.patch, self.inputs.channels, self.seed, self.option, self.entries[lo:hi])

    def __len__(self) -> int:
        return len(self.entries)

    def pair(self, k: int, r: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        e = self.entries[k]
        try:
            inp, tgt = self.inputs.get(k), self.targets.get(k)
        except ImageReadError as exc:
            raise UserError(f"{self.option} {self.folder}: {exc}") from None
        s = tgt.shape[0] // max(1, inp.shape[0])
        if s < 1 or inp.shape[0] * s != tgt.shape[0] or inp.shape[1] * s != tgt.shape[1]:
            raise UserError(f"{self.option} {self.folder}: pair {e['input']} / {e['target']}: input "
                            f"{inp.shape[0]}x{inp.shape[1]} and target {tgt.shape[0]}x{tgt.shape[1]} are not aligned")
        side = {name: _load_side(self.folder / rel, self.option) for name, rel in (e.get("side") or {}).items()}
        p = self.patch
        if p is None or (p == tgt.shape[0] and p == tgt.shape[1]):
            return inp, tgt, side
        if p % s or p > tgt.shape[0] or p > tgt.shape[1]:
            raise UserError(f"{self.option} {self.folder}: pair {e['target']} is {tgt.shape[0]}x{tgt.shape[1]}, "
                            f"smaller than --patch {p} (or the patch is not a multiple of the scale {s})")
        q = p // s
        r = r if r is not None else np.random.Generator(np.random.PCG64(0))
        y = int(r.integers(0, inp.shape[0] - q + 1))
        x = int(r.integers(0, inp.shape[1] - q + 1))
        side = {n: v[y:y + q, x:x + q] for n, v in side.items()}
        return inp[y:y + q, x:x + q], tgt[y * s:y * s + p, x * s:x * s + p], side

    def batch(self, indices: Sequence[int]) -> Batch:
        rows = [self.pair(source_order(self.seed, i, len(self)), _rng.sample_rng(self.seed, i, CROP_STAGE, _rng.CROP))
                for i in indices]
        return _stack(rows, indices)

    def all(self) -> Batch:
        """Every pair once, in order (validation)."""
        return _stack([self.pair(k, None) for k in range(len(self))], list(range(len(self))))


def _stack(rows: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]], indices: Sequence[int]) -> Batch:
    shapes = {r[1].shape for r in rows}
    if len(shapes) > 1:
        raise UserError(f"pairs of different sizes {sorted(shapes)[:2]} in one batch: give --patch to crop them")
    side = {k: np.stack([r[2][k] for r in rows]) for k in rows[0][2]} if rows and rows[0][2] else {}
    return Batch(np.stack([r[0] for r in rows]).astype(np.float32), np.stack([r[1] for r in rows]).astype(np.float32),
                 list(indices), side)


def inside(folder: Path, rel: Any, what: str) -> Path:
    """``folder / rel`` for a relative path `rel` that stays inside `folder` once resolved
    (symlinks followed); anything else is a UserError starting with `what`. A pairs folder is
    self-contained: its manifest may not lead the run to files the user did not name."""
    if not isinstance(rel, str) or not rel or "\0" in rel:
        raise UserError(f"{what}: expected a relative path inside the folder, got {rel!r}")
    if Path(rel).is_absolute() or rel.startswith("\\"):
        raise UserError(f"{what}: {rel!r} is an absolute path; the manifest may only name files inside the folder")
    if ".." in Path(rel.replace("\\", "/")).parts:
        raise UserError(f"{what}: {rel!r} leads out of the folder ('..'); the manifest may only name files inside it")
    root = Path(folder).resolve()
    try:
        target = (root / rel).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise UserError(f"{what}: {rel!r} cannot be resolved ({exc})") from None
    if target != root and root not in target.parents:
        raise UserError(f"{what}: {rel!r} is a link to a file outside the folder; the manifest may only name files "
                        "inside it")
    return Path(folder) / rel


def _checked_entry(folder: Path, manifest: Path, n: int, e: Any, option: str) -> dict[str, Any]:
    """One manifest line: an object whose input, target (and side maps) lie inside `folder`."""
    where = f"{option} {manifest}, line {n}"
    if not isinstance(e, dict):
        raise UserError(f"{where}: expected a JSON object with \"input\" and \"target\" paths")
    for key in ("input", "target"):
        if key not in e:
            raise UserError(f"{where}: no {key!r} path")
        inside(folder, e[key], f"{where}, {key}")
    side = e.get("side")
    if side is not None:
        if not isinstance(side, dict):
            raise UserError(f"{where}: 'side' must be an object of name: path")
        for name, rel in side.items():
            inside(folder, rel, f"{where}, side {name}")
    return e


def _load_side(path: Path, option: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False).astype(np.float32)
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"{option} {path}: unreadable side map ({exc})") from None


def read_pairs(folder: Path, option: str) -> list[dict[str, Any]]:
    """The pair entries of a folder (manifest.jsonl, or input/ and target/ matched by name)."""
    from imgrestore.io import list_images

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{option} {folder}: no such folder")
    manifest = folder / "manifest.jsonl"
    if manifest.is_file():
        try:
            entries = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, ValueError) as exc:
            raise UserError(f"{option} {manifest}: unreadable manifest ({exc})") from None
        if not entries:
            raise UserError(f"{option} {manifest}: the manifest lists no pairs")
        return [_checked_entry(folder, manifest, n, e, option) for n, e in enumerate(entries, 1)]
    if not (folder / "input").is_dir() or not (folder / "target").is_dir():
        raise UserError(f"{option} {folder}: expected an imgrestore synth folder (manifest.jsonl) or input/ and "
                        "target/ subfolders with images of the same names")
    ins = {p.relative_to(folder / "input").with_suffix("").as_posix(): p for p in list_images(folder / "input")}
    tgs = {p.relative_to(folder / "target").with_suffix("").as_posix(): p for p in list_images(folder / "target")}
    names = sorted(set(ins) & set(tgs))
    if not names:
        raise UserError(f"{option} {folder}: no input/ and target/ images with matching names")
    return [{"index": k, "input": ins[n].relative_to(folder).as_posix(), "target": tgs[n].relative_to(folder).as_posix()}
            for k, n in enumerate(names)]


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
