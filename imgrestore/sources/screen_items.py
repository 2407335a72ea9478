"""The display list of a rendered screen: rectangles, ellipses, lines, text, gradients, photos and
clipped groups, each drawn at integer coordinates into any window of the screen (exact when
translated, so a crop equals the same window of the full render)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from imgrestore.sources.screen_assets import _CHUNK, _advances, _chunks, _fitted_photo, _font

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), absolute screen pixels
RGB = tuple[int, int, int]


def _meets(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _clip(a: Box, b: Box) -> Box:
    return max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])


@dataclass
class _Rect:
    box: Box
    fill: RGB | None
    outline: RGB | None = None
    radius: int = 0

    def bbox(self) -> Box:
        return self.box

    def draw(self, img, d, ox: int, oy: int) -> None:
        x0, y0, x1, y1 = self.box
        if x1 <= x0 or y1 <= y0:
            return
        xy = (x0 - ox, y0 - oy, x1 - ox - 1, y1 - oy - 1)
        if self.radius > 0:
            d.rounded_rectangle(xy, radius=self.radius, fill=self.fill, outline=self.outline)
        else:
            d.rectangle(xy, fill=self.fill, outline=self.outline)


@dataclass
class _Ellipse:
    box: Box
    fill: RGB | None
    outline: RGB | None = None

    def bbox(self) -> Box:
        return self.box

    def draw(self, img, d, ox: int, oy: int) -> None:
        x0, y0, x1, y1 = self.box
        if x1 <= x0 or y1 <= y0:
            return
        d.ellipse((x0 - ox, y0 - oy, x1 - ox - 1, y1 - oy - 1), fill=self.fill, outline=self.outline)


@dataclass
class _Line:
    pts: tuple[int, int, int, int]
    fill: RGB
    width: int = 1

    def bbox(self) -> Box:
        x0, y0, x1, y1 = self.pts
        w = self.width
        return min(x0, x1) - w, min(y0, y1) - w, max(x0, x1) + w + 1, max(y0, y1) + w + 1

    def draw(self, img, d, ox: int, oy: int) -> None:
        x0, y0, x1, y1 = self.pts
        d.line((x0 - ox, y0 - oy, x1 - ox, y1 - oy), fill=self.fill, width=self.width)


@dataclass
class _Text:
    x: int
    y: int
    text: str
    size: int
    fill: RGB

    def bbox(self) -> Box:
        # a superset: no glyph of the font is wider than 1.1 em or taller than 1.6 em
        return self.x - 2, self.y - 2, self.x + int(1.1 * self.size * len(self.text)) + 4, self.y + int(1.6 * self.size) + 4

    def draw(self, img, d, ox: int, oy: int) -> None:
        font = _font(self.size)
        if len(self.text) <= 2 * _CHUNK:
            d.text((self.x - ox, self.y - oy), self.text, fill=self.fill, font=font)
            return
        # A long line is drawn as chunks of words at integer positions that depend on the text
        # only (widths from a per-character advance table), so a crop rasterises just the chunks
        # it shows and still equals the same window of the full screen.
        adv = _advances(self.size)
        x, lo, hi = self.x, ox, ox + img.width
        for piece in _chunks(self.text):
            w = sum(adv.get(ch, self.size) for ch in piece)
            if x - 2 < hi and x + int(1.1 * w) + 4 > lo:
                d.text((x - ox, self.y - oy), piece, fill=self.fill, font=font)
            x += int(np.ceil(w))


def _visible(box: Box, img, ox: int, oy: int) -> Box | None:
    """The part of screen box `box` inside the window `img` drawn at offset (ox, oy), or None."""
    x0, y0, x1, y1 = box
    cx0, cy0 = max(x0, ox), max(y0, oy)
    cx1, cy1 = min(x1, ox + img.width), min(y1, oy + img.height)
    return (cx0, cy0, cx1, cy1) if cx0 < cx1 and cy0 < cy1 else None


@dataclass
class _Gradient:
    box: Box
    c0: RGB
    c1: RGB
    kind: str = "linear"  # linear | radial
    angle: float = 0.0  # radians, linear only

    def bbox(self) -> Box:
        return self.box

    def draw(self, img, d, ox: int, oy: int) -> None:
        from PIL import Image

        x0, y0, x1, y1 = self.box
        vis = _visible(self.box, img, ox, oy)
        if vis is None:
            return
        cx0, cy0, cx1, cy1 = vis
        xs = ((np.arange(cx0, cx1) - x0 + 0.5) / (x1 - x0) - 0.5).astype(np.float32)
        ys = ((np.arange(cy0, cy1) - y0 + 0.5) / (y1 - y0) - 0.5).astype(np.float32)
        if self.kind == "radial":
            t = np.sqrt(xs[None, :] ** 2 + ys[:, None] ** 2) * np.float32(1 / np.sqrt(0.5))
        else:
            c, s = np.cos(self.angle), np.sin(self.angle)
            k = np.float32(1.0 / (abs(c) + abs(s)))
            t = (xs * np.float32(c) * k + np.float32(0.5))[None, :] + (ys * np.float32(s) * k)[:, None]
        # t in [0, 1] -> one of 256 colour steps through a lookup table (a screen shows 8 bits)
        q = np.clip(t * np.float32(255) + np.float32(0.5), 0, 255).astype(np.uint8)
        c0 = np.asarray(self.c0, np.float64)
        lut = np.floor(c0 + (np.asarray(self.c1, np.float64) - c0) * (np.arange(256)[:, None] / 255) + 0.5)
        img.paste(Image.fromarray(lut.astype(np.uint8)[q], "RGB"), (cx0 - ox, cy0 - oy))


@dataclass
class _Photo:
    box: Box
    photo: int  # index into _photos()

    def bbox(self) -> Box:
        return self.box

    def draw(self, img, d, ox: int, oy: int) -> None:
        x0, y0, x1, y1 = self.box
        vis = _visible(self.box, img, ox, oy)
        if vis is not None:
            cx0, cy0, cx1, cy1 = vis
            full = _fitted_photo(self.photo, x1 - x0, y1 - y0)
            img.paste(full.crop((cx0 - x0, cy0 - y0, cx1 - x0, cy1 - y0)), (cx0 - ox, cy0 - oy))


@dataclass
class _Group:
    """Items drawn clipped to `clip` (a window): nothing of them shows outside it."""

    clip: Box
    items: list[Any] = field(default_factory=list)

    def bbox(self) -> Box:
        return self.clip

    def draw(self, img, d, ox: int, oy: int) -> None:
        from PIL import ImageDraw

        view = (ox, oy, ox + img.width, oy + img.height)
        c = _clip(self.clip, view)
        if c[0] >= c[2] or c[1] >= c[3]:
            return
        sub = img.crop((c[0] - ox, c[1] - oy, c[2] - ox, c[3] - oy))
        _draw_items(self.items, sub, ImageDraw.Draw(sub), c[0], c[1])
        img.paste(sub, (c[0] - ox, c[1] - oy))


def _draw_items(items: Sequence[Any], img, d, ox: int, oy: int) -> None:
    view = (ox, oy, ox + img.width, oy + img.height)
    for it in items:
        if _meets(it.bbox(), view):
            it.draw(img, d, ox, oy)
