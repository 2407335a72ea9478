"""Training pairs read from a folder (``--pairs``, ``--val-pairs``): an ``imgrestore synth`` folder
(``manifest.jsonl``) or any folder with ``input/`` and ``target/`` images of the same names.

:func:`read_pairs` lists and checks the entries (every path the manifest names must stay inside
the folder: :func:`inside`); :class:`PairsStream` serves them as batches cropped to the patch,
sample ``i`` a function of ``(seed, i)`` only, like the streams of :mod:`imgrestore.train.data`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from imgrestore import rng as _rng
from imgrestore.errors import ImageReadError, UserError
from imgrestore.rng import CROP_STAGE
from imgrestore.sources.pool import source_order
from imgrestore.sources.cache import ImageLoader, ImageLRU
from imgrestore.train.data import Batch


class PairsStream:
    """Pairs from a folder: OUT/manifest.jsonl of ``imgrestore synth`` when present, else the
    images of input/ and target/ matched by name. Sample i reads pair
    ``order(seed, i)`` (a fresh permutation every pass) and crops `patch` from the target (the
    matching region of the input for super-resolution)."""

    def __init__(self, folder: Path, patch: int | None, channels: int | None, seed: int, option: str = "--pairs",
                 entries: list[dict[str, Any]] | None = None):
        self.folder, self.patch, self.seed, self.option = Path(folder), patch, seed, option
        self.entries = entries if entries is not None else read_pairs(self.folder, option)
        self.inputs = ImageLRU([ImageLoader(self.folder / e["input"]) for e in self.entries], channels, 4096)
        self.targets = ImageLRU([ImageLoader(self.folder / e["target"]) for e in self.entries], channels, 4096)

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
