"""Clean source images as records: image files of a folder, scikit-image's samples, and screens
rendered in code, each cut into crops by window without holding more than it must."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from imgrestore.errors import ImageReadError, UserError

SCREEN_COUNT = 1024  # rendered screens a run without --input crops from, for "screens" chains


@dataclass
class Source:
    """One clean source image: a file, an in-memory built-in sample, or one rendered on demand.

    ``render((y, x, h, w))`` returns that window of the source (float32 H,W,C in [0, 1]) without
    ever holding the whole image: rendered screens are drawn crop by crop.
    """

    name: str
    hw: tuple[int, int]
    path: Path | None = None
    array: np.ndarray | None = None
    render: Callable[[tuple[int, int, int, int]], np.ndarray] | None = None


def builtin_sources() -> list[Source]:
    """The sample images that ship with scikit-image (no download needed)."""
    from imgrestore.io import sample_images

    return [Source(name, img.shape[:2], array=img) for name, img in sample_images()]


def screen_sources(seed: int, need_hw: tuple[int, int], count: int = SCREEN_COUNT) -> list[Source]:
    """`count` screens rendered in code (:mod:`imgrestore.sources.screens`), lazily, crop by crop.

    Each screen is 1080x1920 (larger when `need_hw` asks for it) and depends on (seed, k)
    only; the renderer version is part of the name, so a resume never mixes two renderers.
    """
    from imgrestore.sources.screens import DEFAULT_HW, RENDER_VERSION

    h, w = max(DEFAULT_HW[0], need_hw[0]), max(DEFAULT_HW[1], need_hw[1])
    return [Source(f"screen-v{RENDER_VERSION}:{k}", (h, w), render=ScreenWindow(seed, k, h, w)) for k in range(count)]


@dataclass(frozen=True)
class ScreenWindow:
    """Draws windows of rendered screen `index` of `seed` (picklable, for data-loader workers)."""

    seed: int
    index: int
    height: int
    width: int

    def __call__(self, box: tuple[int, int, int, int]) -> np.ndarray:
        from imgrestore.sources.screens import render_screen

        return render_screen(self.seed, self.index, self.height, self.width, box=box)

    def u8(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """The same window as the screen's 8-bit pixels (what a source pool stores)."""
        from imgrestore.sources.screens import render_screen_u8

        return render_screen_u8(self.seed, self.index, self.height, self.width, box=box)


def scan_sources(folder: Path, need_hw: tuple[int, int], warn: Callable[[str], None]) -> list[Source]:
    """Image files of `folder` usable for crops of `need_hw`; others are reported and skipped."""
    from imgrestore.io import image_shape, list_images

    out, small = [], []
    for path in list_images(folder):
        try:
            h, w, _ = image_shape(path)
        except ImageReadError as exc:
            warn(f"imgrestore: {exc}; skipped")
            continue
        if h < need_hw[0] or w < need_hw[1]:
            warn(f"imgrestore: {path}: {h}x{w} is smaller than the {need_hw[0]}x{need_hw[1]} crop needed; skipped")
            small.append((min(h - need_hw[0], w - need_hw[1]), h * w, path.relative_to(folder).as_posix(), h, w))
            continue
        out.append(Source(path.relative_to(folder).as_posix(), (h, w), path=path))
    if not out:
        largest = ""
        if small:
            _, _, name, h, w = max(small)
            largest = f"; largest: {name}, {h}x{w}"
        raise UserError(f"--input {folder}: no usable images (all unreadable or smaller than {need_hw[0]}x{need_hw[1]}"
                        f"{largest})")
    return out
