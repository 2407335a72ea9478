"""Screen-like content rendered in code: the clean sources of ``imgrestore synth moire``.

The renderer is split by job: ``screen_layout.py`` (what is on a screen), ``screen_items.py``
(drawing the display list), ``screen_assets.py`` (font and photos); this file is the entry point.

Moiré is what people get when they photograph a screen of text and UI, so a moiré simulator
needs screens to photograph. Without ``--input``, synthesis renders them here: desktops with
overlapping windows (title bars, buttons, toolbars), documents with paragraphs of text in
several sizes, dark-theme code editors, spreadsheets with 1-pixel grid lines, flat-colour UI
panels, gradients, and scikit-image's sample photographs pasted into windows, wallpapers and
web pages. One source pixel is one screen pixel: edges are pixel-aligned and text is
anti-aliased the way a screen shows it.

A screen is first laid out as a display list (rectangles, lines, text, gradients, photos, and
clipped groups for windows), drawn from its own generator seeded by ``(seed, index)``. The list
is then rasterised into any window ``box`` of the screen: items outside the box are skipped, so
a 256x256 crop costs a fraction of a full 1920x1080 screen, and the crop equals the same window
of the full render pixel for pixel (every item is drawn at integer coordinates, so drawing
translated is exact). Text uses Pillow's built-in scalable font (``ImageFont.load_default(size=)``,
Pillow >= 10.1 with FreeType) and falls back to Pillow's fixed bitmap font elsewhere: the
content is deterministic for one Pillow/FreeType build, not across builds. The words are
pseudo-words (syllables), not a language; long lines are drawn as chunks of words placed by a
per-character advance table, so a crop rasterises only the chunks it shows.

Pillow and scikit-image are imported when a screen is rendered, never at import time.
"""

from __future__ import annotations

import numpy as np

from imgrestore.sources.screen_items import _draw_items
from imgrestore.sources.screen_layout import screen_layout

RENDER_VERSION = 1
"""Bumped whenever a change alters rendered pixels (it is part of the synth source names)."""

DEFAULT_HW: tuple[int, int] = (1080, 1920)
"""Screen size (height, width) used by synthesis unless a chain needs larger crops."""


def render_screen(seed: int, index: int, height: int, width: int,
                  box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Screen `index` of `seed`, `height` x `width` pixels, as float32 H,W,3 in [0, 1].

    Deterministic: the same arguments give the same pixels (on one Pillow build). With
    ``box=(y, x, h, w)`` only that window of the screen is drawn and returned (h, w, 3); it
    equals ``render_screen(seed, index, height, width)[y:y+h, x:x+w]`` and costs less.
    """
    out = render_screen_u8(seed, index, height, width, box).astype(np.float32)
    out *= np.float32(1.0 / 255.0)
    return out


def render_screen_u8(seed: int, index: int, height: int, width: int,
                     box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """:func:`render_screen` as the screen's own 8-bit pixels (uint8 H,W,3): what a source pool holds
    (``render_screen`` is exactly this times ``float32(1/255)``)."""
    from PIL import Image, ImageDraw

    if height < 1 or width < 1:
        raise ValueError(f"screen size {height}x{width}: expected positive sides")
    y, x, h, w = box if box is not None else (0, 0, height, width)
    if h < 1 or w < 1 or y < 0 or x < 0 or y + h > height or x + w > width:
        raise ValueError(f"box {box}: expected (y, x, h, w) inside the {height}x{width} screen")
    img = Image.new("RGB", (w, h), (0, 0, 0))
    _draw_items(screen_layout(seed, index, height, width), img, ImageDraw.Draw(img), x, y)
    return np.asarray(img, dtype=np.uint8)
