"""Resources of the rendered screens, loaded once per process: Pillow's font, text advance
tables, scikit-image's sample photographs fitted to a window."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np


@functools.lru_cache(maxsize=64)
def _font(size: int):
    """Pillow's built-in scalable font at `size` px, or its bitmap font where that is missing."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, AttributeError, OSError, ImportError):  # Pillow < 10.1 or no FreeType
        return ImageFont.load_default()


_CHUNK = 20  # characters per chunk of a long text line (see _Text.draw)


def _chunks(text: str) -> list[str]:
    """`text` cut after a space once a piece has at least _CHUNK characters."""
    out, start = [], 0
    while start < len(text):
        cut = text.find(" ", start + _CHUNK)
        end = len(text) if cut < 0 else cut + 1
        out.append(text[start:end])
        start = end
    return out


@functools.lru_cache(maxsize=64)
def _advances(size: int) -> dict[str, float]:
    """Advance width in pixels of every printable ASCII character at `size`."""
    import string

    font = _font(size)
    return {c: float(font.getlength(c)) for c in string.printable if c not in "\t\n\r\x0b\x0c"}


@functools.lru_cache(maxsize=1)
def _photos() -> tuple[Any, ...]:
    """scikit-image's sample photographs as Pillow RGB images (empty if unavailable)."""
    from PIL import Image

    try:
        from imgrestore.io import sample_images

        imgs = sample_images()
    except Exception:  # scikit-image missing or broken: screens simply show no photos
        return ()
    out = []
    for _, img in imgs:
        u8 = np.floor(np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
        if u8.shape[2] == 1:
            u8 = np.repeat(u8, 3, axis=2)
        out.append(Image.fromarray(np.ascontiguousarray(u8[:, :, :3]), "RGB"))
    return tuple(out)


@functools.lru_cache(maxsize=12)
def _fitted_photo(k: int, w: int, h: int):
    """Photo k cropped to the aspect of w x h (centred) and resized to fill it (antialiased)."""
    from PIL import Image

    photos = _photos()
    if not photos:
        return Image.new("RGB", (w, h), (96, 96, 96))
    p = photos[k % len(photos)]
    pw, ph = p.size
    if pw * h > ph * w:  # too wide: crop the sides
        cw = max(1, round(ph * w / h))
        box = ((pw - cw) // 2, 0, (pw - cw) // 2 + cw, ph)
    else:
        ch = max(1, round(pw * h / w))
        box = (0, (ph - ch) // 2, pw, (ph - ch) // 2 + ch)
    return p.resize((w, h), Image.Resampling.BILINEAR, box=box)
