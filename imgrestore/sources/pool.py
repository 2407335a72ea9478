"""Clean sources held where the chain runs: a pool of whole images (numpy or CuPy), one gather per batch.

The per-crop path of :mod:`imgrestore.synth` renders a screen window or slices a decoded photo
on the host for every sample, then uploads the batch. A :class:`SourcePool` instead holds every
source image whole, once, in one flat buffer on the chain's device (uint8 when the images are
exactly 8-bit, else float32), and cuts a batch's crops out of it with a single fancy-index
gather. Which source and crop sample ``i`` takes is drawn on the host exactly as the per-crop
path draws it (``source_order(seed, i, n)`` and the CROP stream of ``(seed, i)``), so a pool of
the same sources gives the same crops bit for bit; a pool of rendered screens only changes *how
many* screens there are (``--pool N``: screens 0..N-1 of the seed). See docs/sources.md.

Numpy/CuPy fancy indexing does the gather (no kernel of our own: it runs unchanged on both).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import numpy as np

from imgrestore import rng as _rng
from imgrestore.errors import ImageReadError, UserError

DEVICE_POOL_SCREENS = 256
"""Rendered screens a GPU run holds when no ``--pool`` is given (6.2 MB each at 1080x1920)."""

# uint8 -> float32 exactly as imgrestore.io.from_uint and screens.render_screen convert
LUT8 = np.arange(256, dtype=np.float32) * np.float32(1.0 / 255.0)


def source_order(seed: int, index: int, n_sources: int) -> int:
    """Which source sample `index` crops: a fresh permutation of the sources every epoch."""
    epoch, pos = divmod(index, n_sources)
    seq = np.random.SeedSequence([seed, epoch, _rng.CROP_STAGE])
    return int(np.random.Generator(np.random.PCG64(seq)).permutation(n_sources)[pos])


def to_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """An H,W,C image with `channels` channels: gray repeated to RGB, RGB to MATLAB's rgb2gray."""
    if img.shape[2] == channels:
        return img
    if channels == 3:
        return np.repeat(img[..., :1], 3, axis=2)
    # MATLAB rgb2gray weights
    return (img[..., :3] @ np.array([0.298936021293775, 0.587043074451121, 0.114020904255103], np.float32))[..., None]


def fmt_bytes(n: float) -> str:
    """Bytes as a short human string (GiB/MiB)."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def check_pool_size(n: int | None, option: str = "--pool") -> None:
    """A pool size must be a positive number of screens."""
    if n is not None and n < 1:
        raise UserError(f"{option} {n}: expected a positive number of screens (>= 1)")


def screen_pool_size(pool: int | None, screens: bool, gpu: bool, source_option: str = "--input") -> int | None:
    """Screens a run holds in its pool: `pool` (--pool), :data:`DEVICE_POOL_SCREENS` on the GPU, None
    (windows per crop) on the CPU. Only rendered screens have a pool: `screens` says the run renders
    them (a chain that photographs a screen, without `source_option`); photos are held whole anyway.
    The one decision ``imgrestore synth``, ``imgrestore fit`` and :func:`imgrestore.synth.synthesize` make."""
    check_pool_size(pool)
    if pool is not None and not screens:
        raise UserError(f"--pool {pool}: sets how many rendered screens a run holds (chains that photograph a "
                        f"screen, without {source_option}); image files and built-in photos are always held "
                        "whole once")
    if pool is None and screens and gpu:
        return DEVICE_POOL_SCREENS
    return pool


def require_large_enough(sources: Sequence[Any], need_hw: tuple[int, int], option: str) -> None:
    """One-line error when no source is as large as the crop `need_hw`: names the size needed and the
    largest source (what ``ValueError: high <= 0`` used to say)."""
    if not sources:
        raise UserError(f"{option}: no source images (crops of {need_hw[0]}x{need_hw[1]} are needed)")
    if any(s.hw[0] >= need_hw[0] and s.hw[1] >= need_hw[1] for s in sources):
        return
    big = max(sources, key=lambda s: (min(s.hw[0] - need_hw[0], s.hw[1] - need_hw[1]), s.hw[0] * s.hw[1]))
    raise UserError(f"{option}: every source is smaller than the {need_hw[0]}x{need_hw[1]} crop needed "
                    f"(largest: {big.name}, {big.hw[0]}x{big.hw[1]}); give larger images or a smaller --patch")


def too_small(name: str, hw: tuple[int, int], need_hw: tuple[int, int], option: str = "source") -> UserError:
    """The one-line error for one source that is smaller than its crop."""
    return UserError(f"{option} {name}: {hw[0]}x{hw[1]} is smaller than the {need_hw[0]}x{need_hw[1]} crop needed")


def available_bytes(xp: Any) -> tuple[int, int, str]:
    """(free, total, where) memory a pool on `xp` may take: the current GPU's, or the host's MemAvailable."""
    if xp.__name__ == "cupy":
        free, total = xp.cuda.runtime.memGetInfo()
        return int(free), int(total), f"GPU {xp.cuda.runtime.getDevice()}"
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    free = total
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return int(free), int(total), "host RAM"


def check_memory(need: int, xp: Any, what: str, option: str = "--pool") -> None:
    """A pool that would not fit is a one-line error saying how much it needs and how much there is."""
    free, total, where = available_bytes(xp)
    if need > free:
        raise UserError(f"{option}: {what} needs {fmt_bytes(need)} of {where}; {fmt_bytes(free)} is free "
                        f"(of {fmt_bytes(total)}); use a smaller --pool or fewer/smaller images")


def crop_yx(seed: int, i: int, full_hw: tuple[int, int], hw: tuple[int, int], name: str) -> tuple[int, int]:
    """Top-left corner of sample `i`'s `hw` crop of source `name` (`full_hw`), drawn from the
    sample's CROP stream: the one draw of synth, CropSource and the pool. A source smaller than
    the crop is the one-line error of :func:`too_small`."""
    if full_hw[0] < hw[0] or full_hw[1] < hw[1]:
        raise too_small(name, full_hw, hw)
    r = _rng.sample_rng(seed, i, _rng.CROP_STAGE, _rng.CROP)
    y = int(r.integers(0, full_hw[0] - hw[0] + 1))
    x = int(r.integers(0, full_hw[1] - hw[1] + 1))
    return y, x


class SourcePool:
    """Every source of a run whole in one buffer on `xp` (numpy or cupy); batches gathered in one go.

    Rendered sources (screens) are drawn whole the first time a sample needs them (or all at once
    by :meth:`fill`), on host threads, and copied into their slot; their contents depend only on
    ``(seed, k)``. Photo sources are decoded once when the pool is made. The whole buffer is
    allocated (and checked against free memory) up front.
    """

    def __init__(self, sources: Sequence[Any], channels: int, xp: Any = np, need_hw: tuple[int, int] | None = None,
                 option: str = "--pool", warn: Any = None, threads: int | None = None):
        self.sources, self.channels, self.xp = list(sources), int(channels), xp
        self.option = option
        self.threads = threads or max(1, min(16, os.cpu_count() or 1))
        if need_hw is not None:
            require_large_enough(self.sources, need_hw, option)
        self.rendered = all(s.render is not None for s in self.sources)
        if not self.rendered and any(s.render is not None for s in self.sources):
            raise ValueError("a pool holds rendered sources or image sources, not both")
        self.bad: set[int] = set()  # unreadable photos: their samples are skipped, like synth does
        hws = [tuple(int(v) for v in s.hw) for s in self.sources]
        host: list[np.ndarray | None] = [None] * len(self.sources)
        if self.rendered:
            # screens are 8-bit RGB: exact in uint8 unless converted to gray
            self.dtype = np.dtype(np.uint8 if self.channels == 3 else np.float32)
        else:
            check_memory(sum(h * w for h, w in hws) * self.channels, np, f"decoding {len(hws)} source images", option)
            host = self._decode_all(warn)
            for k, img in enumerate(host):
                if img is not None:
                    hws[k] = img.shape[:2]
            self.dtype = np.dtype(np.uint8 if all(a is None or a.dtype == np.uint8 for a in host) else np.float32)
            if self.dtype != np.uint8:
                host = [a if a is None or a.dtype != np.uint8 else LUT8[a] for a in host]
        self.hw = np.array(hws, np.int64).reshape(-1, 2)
        sizes = self.hw[:, 0] * self.hw[:, 1]
        self.offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)  # in pixels
        self.nbytes = int(sizes.sum()) * self.channels * self.dtype.itemsize
        kind = f"{len(hws)} rendered screens" if self.rendered else f"{len(hws)} source images"
        check_memory(self.nbytes, xp, f"a pool of {kind} ({self.dtype.name})", option)
        self.buf = xp.zeros((int(sizes.sum()), self.channels), dtype=self.dtype)
        self.filled = np.zeros(len(hws), bool)
        for k, img in enumerate(host):
            if img is not None:
                self._put(k, img)
            elif not self.rendered:
                self.filled[k] = True  # unreadable: never gathered

    # -- filling -----------------------------------------------------------------------------------
    def _decode_all(self, warn: Any) -> list[np.ndarray | None]:
        from imgrestore.io import read_image
        def one(k: int) -> np.ndarray | None:
            src = self.sources[k]
            try:
                img = src.array if src.array is not None else read_image(src.path)
            except ImageReadError as exc:
                if warn is not None:
                    warn(f"imgrestore: {exc}; skipped")
                self.bad.add(k)
                return None
            return self._pack(to_channels(img, self.channels))

        with ThreadPoolExecutor(self.threads) as ex:
            return list(ex.map(one, range(len(self.sources))))

    @staticmethod
    def _pack(img: np.ndarray) -> np.ndarray:
        """uint8 when `img` is exactly LUT8 of some uint8 image (8-bit files, screens), else float32."""
        img = np.ascontiguousarray(img, dtype=np.float32)
        u8 = np.rint(np.clip(img, 0.0, 1.0) * np.float32(255.0)).astype(np.uint8)
        return u8 if np.array_equal(LUT8[u8], img) else img

    def _put(self, k: int, img: np.ndarray) -> None:
        h, w = (int(v) for v in self.hw[k])
        if img.shape[:2] != (h, w):
            raise ValueError(f"source {self.sources[k].name}: {img.shape[:2]} but {h}x{w} was announced")
        if img.dtype != self.dtype:
            if self.dtype == np.uint8:
                raise ValueError(f"source {self.sources[k].name}: not exactly 8-bit, cannot go to a uint8 pool")
            img = LUT8[img] if img.dtype == np.uint8 else img
        o = int(self.offset[k])
        self.buf[o:o + h * w] = self.xp.asarray(np.ascontiguousarray(img).reshape(h * w, self.channels))
        self.filled[k] = True

    def _render(self, k: int) -> np.ndarray:
        h, w = (int(v) for v in self.hw[k])
        render = self.sources[k].render
        if self.dtype == np.uint8 and hasattr(render, "u8"):  # a screen's own 8-bit pixels, no round trip
            return np.ascontiguousarray(render.u8((0, 0, h, w)))
        img = to_channels(render((0, 0, h, w)), self.channels)
        return self._pack(img) if self.dtype == np.uint8 else np.ascontiguousarray(img, np.float32)

    def fill(self, keys: Sequence[int] | None = None) -> int:
        """Make sure sources `keys` (default: all) are in the pool; returns how many were made now."""
        todo = sorted({int(k) for k in (range(len(self.sources)) if keys is None else keys) if not self.filled[k]})
        if not todo:
            return 0
        with ThreadPoolExecutor(min(self.threads, len(todo))) as ex:
            for k, img in zip(todo, ex.map(self._render, todo)):
                self._put(k, img)
        return len(todo)

    def keys_for(self, seed: int, indices: Sequence[int]) -> set[int]:
        """The sources samples `indices` take; for two epochs' worth of samples or more, simply all of them
        (a superset at worst: a source missed here is made when first gathered)."""
        n = len(self.sources)
        if len(indices) >= 2 * n:
            return set(range(n))
        return {source_order(seed, i, n) for i in indices}

    # -- gathering ---------------------------------------------------------------------------------
    def draws(self, seed: int, indices: Sequence[int], hw: tuple[int, int]) -> list[tuple[int, int, int]]:
        """(source, y, x) of each sample (host draws, the same as the per-crop path's)."""
        n = len(self.sources)
        out = []
        for i in indices:
            k = source_order(seed, i, n)
            full = (int(self.hw[k, 0]), int(self.hw[k, 1]))
            out.append((k, *crop_yx(seed, i, full, hw, self.sources[k].name)))
        return out

    def gather(self, seed: int, indices: Sequence[int], hw: tuple[int, int]) -> tuple[Any, list[dict], list[int]]:
        """Crops of samples `indices` as one float32 (n, h, w, C) array on the pool's device, their
        manifest fields (source name, crop box) and the indices kept (samples of unreadable photos
        are dropped, as synth drops them)."""
        xp = self.xp
        draws = [(i, d) for i, d in zip(indices, self.draws(seed, indices, hw)) if d[0] not in self.bad]
        idx = [i for i, _ in draws]
        metas = [{"source": self.sources[k].name, "crop": [y, x, hw[0], hw[1]]} for _, (k, y, x) in draws]
        if not draws:
            return xp.zeros((0, hw[0], hw[1], self.channels), xp.float32), metas, idx
        if self.rendered:
            self.fill({k for _, (k, _, _) in draws})
        d = np.array([v for _, v in draws], np.int64)
        h, w = hw
        if xp is np:  # host: a slice per sample is a plain copy (cheaper than an index per pixel)
            crops = np.empty((len(d), h, w, self.channels), np.float32)
            for j, (k, y, x) in enumerate(d):
                o, (H, W) = int(self.offset[k]), self.hw[k]
                win = self.buf[o:o + H * W].reshape(H, W, self.channels)[y:y + h, x:x + w]
                if self.dtype == np.uint8:
                    np.multiply(win, np.float32(1.0 / 255.0), out=crops[j])
                else:
                    crops[j] = win
            return crops, metas, idx
        k = d[:, 0]
        # pixel index of each crop's top-left corner and its image width: (n,) vectors, the rest on the device
        base = xp.asarray(self.offset[k] + d[:, 1] * self.hw[k, 1] + d[:, 2])
        width = xp.asarray(self.hw[k, 1])
        rows = xp.arange(h, dtype=xp.int64)
        cols = xp.arange(w, dtype=xp.int64)
        pix = base[:, None, None] + rows[None, :, None] * width[:, None, None] + cols[None, None, :]
        crops = self.buf[pix]  # (n, h, w, C): the one gather of the batch
        if self.dtype == np.uint8:  # exactly LUT8 (the same float32 product), elementwise on the device
            crops = crops.astype(xp.float32)
            crops *= np.float32(1.0 / 255.0)
        return crops, metas, idx

    def crops(self, seed: int, indices: Sequence[int], hw: tuple[int, int]) -> Any:
        """Just the crops (every source readable)."""
        return self.gather(seed, indices, hw)[0]

    # -- pickling (data-loader workers): the buffer is not sent, a worker fills its own lazily ---------
    def __getstate__(self) -> dict[str, Any]:
        if not self.rendered:
            raise TypeError("a pool of decoded images stays in its process; build it in the worker")
        st = dict(self.__dict__)
        st.update(buf=None, xp=None, filled=None)
        return st

    def __setstate__(self, st: dict[str, Any]) -> None:
        self.__dict__.update(st)
        self.xp = np
        self.buf = np.zeros((int((self.hw[:, 0] * self.hw[:, 1]).sum()), self.channels), dtype=self.dtype)
        self.filled = np.zeros(len(self.sources), bool)
