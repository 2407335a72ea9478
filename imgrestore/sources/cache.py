"""Decoded source images kept in memory: picklable loaders and a small LRU over them.

Shared by ``imgrestore synth`` and on-the-fly training (and ``--pairs`` reading), so a source is
decoded once while its crops are cut and never held beyond the cache's size.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from imgrestore.sources.pool import to_channels
from imgrestore.sources.source import Source


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
            img = to_channels(img, self.channels)
        self.cache[k] = img
        if len(self.cache) > self.size:
            self.cache.popitem(last=False)
        return img


class ImageLoader:
    """A picklable image loader (data-loader workers are spawned): a file or an array."""

    def __init__(self, path: Path | None = None, array: np.ndarray | None = None):
        self.path, self.array = path, array

    def __call__(self) -> np.ndarray:
        if self.array is not None:
            return self.array
        from imgrestore.io import read_image

        return read_image(self.path)


def source_loader(src: Source) -> Callable[[], np.ndarray]:
    """The loader of one clean source: its array when it has one (samples, screens), else its file."""
    return ImageLoader(src.path, src.array)
