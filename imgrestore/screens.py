"""Screen-like content rendered in code: the clean sources of ``imgrestore synth moire``.

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

import functools
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

RENDER_VERSION = 1
"""Bumped whenever a change alters rendered pixels (it is part of the synth source names)."""

DEFAULT_HW: tuple[int, int] = (1080, 1920)
"""Screen size (height, width) used by synthesis unless a chain needs larger crops."""

_STREAM = 0x5C4EE7  # keeps screen draws apart from every other (seed, index) stream

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), absolute screen pixels
RGB = tuple[int, int, int]


# ------------------------------------------------------------------------------------------
# display list


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


# ------------------------------------------------------------------------------------------
# resources (fonts, photos), loaded once per process


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


# ------------------------------------------------------------------------------------------
# layout

_SYL = ("ka", "lo", "mi", "ne", "ra", "to", "su", "vi", "de", "an", "el", "in", "or", "us", "ter",
        "con", "pro", "ing", "ment", "tion", "al", "er", "re", "st", "th", "ch", "be", "ma", "ol",
        "es", "im", "ge", "ca", "ti", "po", "ly", "ou", "wa", "pe", "ble")
_KEYWORDS = ("def", "return", "if", "else", "for", "in", "import", "from", "class", "while", "const",
             "let", "fn", "struct", "int", "float", "void", "self", "None", "True", "async", "await")
_LIGHT_THEMES = (
    # window bg, text, muted text, title bar, accent, border
    ((255, 255, 255), (30, 30, 30), (110, 110, 110), (236, 236, 236), (0, 102, 204), (200, 200, 200)),
    ((250, 250, 247), (20, 20, 20), (120, 120, 110), (222, 225, 230), (196, 43, 28), (190, 190, 190)),
    ((246, 248, 250), (36, 41, 47), (87, 96, 106), (255, 255, 255), (9, 105, 218), (208, 215, 222)),
)
_DARK_THEMES = (
    ((30, 30, 30), (212, 212, 212), (128, 128, 128), (50, 50, 52), (86, 156, 214), (70, 70, 70)),
    ((40, 44, 52), (171, 178, 191), (92, 99, 112), (33, 37, 43), (97, 175, 239), (24, 26, 31)),
    ((0, 43, 54), (147, 161, 161), (88, 110, 117), (7, 54, 66), (38, 139, 210), (0, 30, 38)),
)
_SYNTAX = ((197, 134, 192), (86, 156, 214), (206, 145, 120), (106, 153, 85), (220, 220, 170),
           (78, 201, 176), (181, 206, 168), (255, 121, 198), (241, 250, 140), (139, 233, 253))
_FLAT = ((231, 76, 60), (46, 204, 113), (52, 152, 219), (155, 89, 182), (241, 196, 15), (230, 126, 34),
         (26, 188, 156), (52, 73, 94), (236, 240, 241), (149, 165, 166), (255, 87, 34), (0, 150, 136),
         (63, 81, 181), (233, 30, 99), (255, 193, 7), (96, 125, 139))


@functools.lru_cache(maxsize=1)
def _corpus() -> tuple[str, np.ndarray]:
    """A fixed 200k-character text of pseudo-words (and the offsets where words start).

    Built once per process from its own fixed seed; screens draw their text as slices of it at
    random offsets, which costs one draw per line instead of one per syllable.
    """
    r = np.random.Generator(np.random.PCG64(np.random.SeedSequence([_STREAM, 1])))
    n = 36000
    nsyl = r.integers(1, 5, n)
    syl = r.integers(0, len(_SYL), int(nsyl.sum()))
    punct = r.random(n)
    words, k = [], 0
    for j in range(n):
        w = "".join(_SYL[t] for t in syl[k : k + nsyl[j]])
        k += nsyl[j]
        if punct[j] < 0.06:
            w += "."
        elif punct[j] < 0.1:
            w += ","
        words.append(w)
    text = " ".join(words)
    starts = np.flatnonzero(np.frombuffer(text.encode("ascii"), np.uint8) == ord(" ")) + 1
    return text, starts[starts < len(text) - 4000]


class _Ctx:
    """The generator and theme of one screen, with helpers that draw random content."""

    def __init__(self, rng: np.random.Generator):
        self.r = rng

    def pick(self, seq):
        return seq[int(self.r.integers(len(seq)))]

    def i(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi]."""
        return int(self.r.integers(lo, hi + 1)) if hi > lo else lo

    def colour(self) -> RGB:
        return tuple(int(v) for v in self.r.integers(0, 256, 3))  # type: ignore[return-value]

    def word(self, cap: bool = False) -> str:
        w = "".join(self.pick(_SYL) for _ in range(self.i(1, 4)))
        return w.capitalize() if cap else w

    def words(self, n_chars: int) -> str:
        """About `n_chars` characters of running text: a random slice of the shared corpus."""
        corpus, starts = _corpus()
        k = int(starts[int(self.r.integers(len(starts) - 1))])
        s = corpus[k : k + max(1, n_chars)].rstrip()
        return s[:1].upper() + s[1:]

    def number(self) -> str:
        kind = self.i(0, 3)
        v = float(self.r.lognormal(3, 2))
        return (f"{v:,.2f}", f"{int(v)}", f"{self.r.uniform(0, 100):.1f}%", f"${v:,.0f}")[kind]


def _text_block(c: _Ctx, box: Box, size: int, fg: RGB, spacing: float, link: RGB | None = None) -> list:
    """Paragraphs of words filling `box` line by line (ragged right, blank line between)."""
    x0, y0, x1, y1 = box
    items: list[Any] = []
    lh = max(size + 2, int(round(size * spacing)))
    cpl = max(4, int((x1 - x0) / (0.52 * size)))  # characters per line
    y = y0
    while y + lh <= y1:
        for _ in range(c.i(2, 7)):
            if y + lh > y1:
                break
            n = cpl - c.i(0, cpl // 6) if c.r.random() < 0.85 else c.i(cpl // 4, cpl * 3 // 4)
            col = link if (link is not None and c.r.random() < 0.08) else fg
            items.append(_Text(x0, y, c.words(n), size, col))
            y += lh
        y += lh // 2 + c.i(0, lh)
    return items


def _document(c: _Ctx, box: Box, th) -> list:
    bg, fg, muted, _, accent, border = th
    x0, y0, x1, y1 = box
    items: list[Any] = [_Rect(box, bg)]
    m = c.i(12, max(12, (x1 - x0) // 8))
    y = y0 + c.i(8, 30)
    size = c.pick((10, 11, 12, 13, 14, 15, 16, 18))
    while y < y1 - 20:
        roll = c.r.random()
        if roll < 0.2:  # heading
            hs = c.i(size + 6, size * 2 + 8)
            items.append(_Text(x0 + m, y, c.words(c.i(8, 40)), hs, fg if c.r.random() < 0.7 else accent))
            y += int(hs * 1.8)
        elif roll < 0.3:  # bullet list
            for _ in range(c.i(2, 6)):
                items.append(_Ellipse((x0 + m + 4, y + size // 2 - 2, x0 + m + 9, y + size // 2 + 3), fg))
                items.append(_Text(x0 + m + 18, y, c.words(c.i(10, 60)), size, fg))
                y += int(size * 1.6)
            y += size
        elif roll < 0.38 and _photos():  # figure
            fh = c.i(80, 260)
            fw = min(x1 - x0 - 2 * m, int(fh * c.r.uniform(1.2, 1.8)))
            if fw > 20:
                items.append(_Photo((x0 + m, y, x0 + m + fw, y + fh), c.i(0, 99)))
                items.append(_Text(x0 + m, y + fh + 6, c.words(c.i(20, 60)), max(9, size - 2), muted))
            y += fh + 2 * size + 10
        elif roll < 0.43:  # rule
            items.append(_Line((x0 + m, y, x1 - m, y), border))
            y += size
        else:
            ph = c.i(2, 8) * int(size * 1.5)
            sub = _text_block(c, (x0 + m, y, x1 - m, min(y1, y + ph)), size, fg, c.r.uniform(1.25, 1.7), accent)
            items += sub
            y += ph + size
    return items


def _code(c: _Ctx, box: Box, th) -> list:
    bg, fg, muted, _, accent, border = th
    x0, y0, x1, y1 = box
    size = c.pick((11, 12, 13, 14, 15))
    lh = int(size * c.r.uniform(1.3, 1.6))
    gutter = int(size * 3.2)
    items: list[Any] = [_Rect(box, bg), _Rect((x0, y0, x0 + gutter, y1), tuple(max(0, v - 8) for v in bg))]
    cw = 0.6 * size
    indent, n = 0, c.i(1, 400)
    y = y0 + 4
    hl = c.i(0, 40)
    while y + lh <= y1:
        if hl == 0:
            items.append(_Rect((x0 + gutter, y, x1, y + lh), tuple(min(255, v + 14) for v in bg)))
        hl -= 1
        items.append(_Text(x0 + 4, y, f"{n:>4}", size - 1, muted))
        n += 1
        if c.r.random() < 0.12:  # blank line
            y += lh
            continue
        if c.r.random() < 0.25:
            indent = max(0, indent + c.pick((-1, 1, 1)))
        indent = min(indent, 6)
        x = x0 + gutter + 8 + int(indent * 4 * cw)
        if c.r.random() < 0.1:
            items.append(_Text(x, y, "# " + c.words(c.i(10, 60)), size, (106, 153, 85)))
        else:
            for _ in range(c.i(1, 7)):
                r = c.r.random()
                tok = (c.pick(_KEYWORDS) if r < 0.3 else f'"{c.word()}"' if r < 0.4 else
                       c.pick(("(", ")", "=", ":", ".", "[", "]", "{", "}", "+", "->", ",")) if r < 0.6 else c.word())
                col = c.pick(_SYNTAX) if r < 0.45 else fg
                items.append(_Text(x, y, tok, size, col))
                x += int((len(tok) + 1) * cw)
                if x > x1:
                    break
        y += lh
    return items


def _sheet(c: _Ctx, box: Box, th) -> list:
    bg, fg, muted, bar, accent, border = th
    x0, y0, x1, y1 = box
    size = c.pick((10, 11, 12, 13))
    rh = int(size * c.r.uniform(1.6, 2.1))
    head_w = int(size * 3)
    grid = c.pick(((218, 220, 224), (200, 200, 200), (226, 226, 226), border))
    items: list[Any] = [_Rect(box, bg), _Rect((x0, y0, x1, y0 + rh), bar), _Rect((x0, y0, x0 + head_w, y1), bar)]
    cols, x = [], x0 + head_w
    while x < x1:
        w = c.i(size * 5, size * 11)
        cols.append((x, x + w))
        x += w
    rows = list(range(y0 + rh, y1, rh))
    for ci, (a, b) in enumerate(cols):  # column header letters
        items.append(_Text(a + (b - a) // 2 - size // 3, y0 + (rh - size) // 2, chr(65 + ci % 26), size, muted))
    for ri, y in enumerate(rows):
        items.append(_Text(x0 + 4, y + (rh - size) // 2, str(ri + 1), size, muted))
    for _ in range(c.i(0, 3)):  # coloured cell ranges
        ca, rb = c.i(0, max(0, len(cols) - 1)), c.i(0, max(0, len(rows) - 1))
        a = cols[ca][0] if cols else x0
        b = cols[min(len(cols) - 1, ca + c.i(0, 3))][1] if cols else x1
        y = rows[rb] if rows else y0
        items.append(_Rect((a, y, b, y + rh * c.i(1, 6)), c.pick(((255, 242, 204), (226, 239, 218), (222, 235, 247), (252, 228, 214)))))
    dense = c.r.uniform(0.4, 0.95)
    for y in rows:
        for (a, b) in cols:
            if c.r.random() < dense:
                t = c.number() if c.r.random() < 0.7 else c.word(cap=True)
                items.append(_Text(a + 4, y + (rh - size) // 2, t[: max(1, int((b - a - 6) / (0.55 * size)))], size, fg))
    for (a, _) in cols:
        items.append(_Line((a, y0, a, y1), grid))
    for y in rows:
        items.append(_Line((x0, y, x1, y), grid))
    if rows and cols:  # selected cell
        ca, rb = c.i(0, len(cols) - 1), c.i(0, len(rows) - 1)
        items.append(_Rect((cols[ca][0], rows[rb], cols[ca][1] + 1, rows[rb] + rh + 1), None, accent))
    return items


def _ui(c: _Ctx, box: Box, th) -> list:
    bg, fg, muted, bar, accent, border = th
    x0, y0, x1, y1 = box
    items: list[Any] = [_Rect(box, bg)]
    size = c.pick((11, 12, 13, 14, 16))
    side = c.i(0, min(260, (x1 - x0) // 3))
    if side > 60:  # sidebar with menu items
        sc = c.pick(_FLAT) if c.r.random() < 0.5 else bar
        items.append(_Rect((x0, y0, x0 + side, y1), sc))
        tc = (255, 255, 255) if sum(sc) < 380 else (30, 30, 30)
        y = y0 + 16
        while y < y1 - 30:
            if c.r.random() < 0.15:
                items.append(_Rect((x0 + 6, y - 4, x0 + side - 6, y + size + 8), accent, radius=c.i(0, 6)))
            items.append(_Rect((x0 + 14, y + 1, x0 + 14 + size, y + 1 + size), c.pick(_FLAT), radius=c.i(0, 4)))
            items.append(_Text(x0 + 22 + size, y, c.words(c.i(5, 18)), size, tc))
            y += int(size * c.r.uniform(2.0, 2.8))
        x0 += side
    y = y0 + 12
    top = items
    while y < y1 - 40:
        ch = c.i(60, 240)
        x = x0 + 12
        while x < x1 - 60:
            cw = c.i(120, 380)
            col = c.pick(_FLAT) if c.r.random() < 0.45 else tuple(min(255, v + 10) if sum(bg) < 380 else max(0, v - 8) for v in bg)
            rad = c.pick((0, 4, 8, 12))
            card = _Group((x, y, x + cw, y + ch))  # a card clips its own content
            items.append(card)
            items = card.items
            items.append(_Rect((x, y, x + cw, y + ch), col, border if c.r.random() < 0.5 else None, rad))
            tc = (255, 255, 255) if sum(col) < 380 else (25, 25, 25)
            items.append(_Text(x + 12, y + 10, c.words(c.i(6, 24)), size + c.i(0, 6), tc))
            kind = c.i(0, 4)
            if kind == 0 and ch > 80:  # bar chart
                nb = c.i(4, 14)
                bw = max(3, (cw - 24) // (2 * nb))
                for k in range(nb):
                    bh = c.i(5, ch - 60)
                    bx = x + 12 + 2 * k * bw
                    items.append(_Rect((bx, y + ch - 10 - bh, bx + bw, y + ch - 10), c.pick(_FLAT)))
            elif kind == 1 and ch > 70:  # button + toggle
                bw = c.i(60, min(160, cw - 24))
                items.append(_Rect((x + 12, y + ch - 44, x + 12 + bw, y + ch - 14), accent, radius=c.i(0, 15)))
                items.append(_Text(x + 22, y + ch - 37, c.words(c.i(3, 10)), size, (255, 255, 255)))
                if cw > bw + 80:
                    tx = x + cw - 56
                    items.append(_Rect((tx, y + ch - 40, tx + 40, y + ch - 18), c.pick(_FLAT), radius=11))
                    items.append(_Ellipse((tx + 20, y + ch - 38, tx + 38, y + ch - 20), (255, 255, 255)))
            elif kind == 2 and ch > 70:  # progress bar + caption
                items.append(_Rect((x + 12, y + ch - 30, x + cw - 12, y + ch - 22), border, radius=4))
                items.append(_Rect((x + 12, y + ch - 30, x + 12 + c.i(4, max(5, cw - 24)), y + ch - 22), accent, radius=4))
                items.append(_Text(x + 12, y + 16 + 2 * size, c.number(), size * 2, tc))
            elif kind == 3 and ch > 90 and _photos():
                items.append(_Photo((x + 12, y + 34, x + cw - 12, y + ch - 10), c.i(0, 99)))
            else:
                items += _text_block(c, (x + 12, y + 16 + 2 * size, x + cw - 12, y + ch - 8), max(9, size - 2), tc, 1.4)
            items = top
            x += cw + c.i(8, 24)
        y += ch + c.i(8, 24)
    return items


def _viewer(c: _Ctx, box: Box, th) -> list:
    x0, y0, x1, y1 = box
    bg = c.pick(((24, 24, 24), (40, 40, 40), (240, 240, 240)))
    items: list[Any] = [_Rect(box, bg)]
    m = c.i(0, 40)
    if x1 - x0 > 2 * m + 10 and y1 - y0 > 2 * m + 10:
        items.append(_Photo((x0 + m, y0 + m, x1 - m, y1 - m), c.i(0, 99)))
    return items


def _browser(c: _Ctx, box: Box, th) -> list:
    bg, fg, muted, bar, accent, border = th
    x0, y0, x1, y1 = box
    items: list[Any] = [_Rect(box, bg), _Rect((x0, y0, x1, y0 + 40), bar)]
    items.append(_Rect((x0 + 90, y0 + 7, x1 - 60, y0 + 33), bg, border, radius=c.i(4, 13)))
    items.append(_Text(x0 + 104, y0 + 13, "https://" + c.word() + ".com/" + c.word(), 13, muted))
    for k in range(3):
        items.append(_Ellipse((x0 + 10 + 24 * k, y0 + 12, x0 + 26 + 24 * k, y0 + 28), muted))
    y = y0 + 40
    hh = c.i(0, 320)
    if hh > 60:  # hero banner
        if c.r.random() < 0.5 and _photos():
            items.append(_Photo((x0, y, x1, y + hh), c.i(0, 99)))
        else:
            items.append(_Gradient((x0, y, x1, y + hh), c.pick(_FLAT), c.pick(_FLAT), "linear", c.r.uniform(0, 6.3)))
        items.append(_Text(x0 + 40, y + hh // 3, c.words(c.i(10, 30)), c.i(28, 56), (255, 255, 255)))
        y += hh
    ncol = c.i(1, 3)
    colw = (x1 - x0 - 40) // ncol
    for k in range(ncol):
        items += _document(c, (x0 + 20 + k * colw, y, x0 + 20 + (k + 1) * colw - 10, y1), th)[1:]
    return items


_APPS = (_document, _document, _document, _code, _code, _sheet, _sheet, _ui, _viewer, _browser, _browser)


def _window(c: _Ctx, box: Box, dark: bool) -> _Group:
    th = c.pick(_DARK_THEMES if dark else _LIGHT_THEMES)
    bg, fg, muted, bar, accent, border = th
    x0, y0, x1, y1 = box
    th_h = c.i(22, 38)
    g = _Group(box)
    g.items.append(_Rect(box, bar, border))
    if c.r.random() < 0.5:  # traffic lights on the left
        for k, col in enumerate(((255, 95, 86), (255, 189, 46), (39, 201, 63))):
            cy = y0 + th_h // 2
            g.items.append(_Ellipse((x0 + 10 + 20 * k, cy - 6, x0 + 22 + 20 * k, cy + 6), col))
        tx = x0 + 80
    else:  # minimise, maximise, close on the right
        bw = th_h + 12
        for k in range(3):
            bx = x1 - (3 - k) * bw
            cy = y0 + th_h // 2
            if k == 2 and c.r.random() < 0.3:
                g.items.append(_Rect((bx, y0, bx + bw, y0 + th_h), (232, 17, 35)))
            if k == 0:
                g.items.append(_Line((bx + bw // 2 - 5, cy, bx + bw // 2 + 5, cy), fg))
            elif k == 1:
                g.items.append(_Rect((bx + bw // 2 - 5, cy - 5, bx + bw // 2 + 6, cy + 6), None, fg))
            else:
                g.items.append(_Line((bx + bw // 2 - 5, cy - 5, bx + bw // 2 + 5, cy + 5), fg))
                g.items.append(_Line((bx + bw // 2 - 5, cy + 5, bx + bw // 2 + 5, cy - 5), fg))
        tx = x0 + 12
    g.items.append(_Text(tx, y0 + (th_h - 12) // 2, c.words(c.i(8, 40)), 12 if th_h < 30 else 14, fg))
    y = y0 + th_h
    if c.r.random() < 0.5:  # toolbar of icons
        tb = c.i(26, 44)
        g.items.append(_Rect((x0 + 1, y, x1 - 1, y + tb), bar))
        g.items.append(_Line((x0, y + tb - 1, x1, y + tb - 1), border))
        x = x0 + 8
        while x < x1 - tb:
            s = tb - 12
            g.items.append(_Rect((x, y + 6, x + s, y + 6 + s), c.pick(_FLAT) if c.r.random() < 0.5 else muted, radius=c.i(0, 4)))
            x += s + c.i(6, 14)
            if c.r.random() < 0.1:
                x += 12
        y += tb
    app = c.pick(_APPS)
    if y < y1 - 2 and x1 - x0 > 4:
        g.items += app(c, (x0 + 1, y, x1 - 1, y1 - 1), th)
    return g


def _wallpaper(c: _Ctx, box: Box) -> list:
    r = c.r.random()
    if r < 0.35:
        return [_Gradient(box, c.colour(), c.colour(), c.pick(("linear", "radial")), c.r.uniform(0, 6.3))]
    if r < 0.6 and _photos():
        return [_Photo(box, c.i(0, 99))]
    return [_Rect(box, c.pick(_FLAT) if c.r.random() < 0.6 else c.colour())]


def screen_layout(seed: int, index: int, height: int, width: int) -> list:
    """The display list of screen `index` of `seed` (cached: a layout is reused by many crops)."""
    return _layout(int(seed), int(index), int(height), int(width))


@functools.lru_cache(maxsize=16)
def _layout(seed: int, index: int, height: int, width: int) -> list:
    c = _Ctx(np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, index, _STREAM]))))
    full = (0, 0, width, height)
    dark = c.r.random() < 0.35
    items: list[Any] = _wallpaper(c, full)
    kind = c.r.random()
    bar_h = c.i(24, 48)
    top = c.r.random() < 0.4  # menu bar on top, else taskbar at the bottom
    area = (0, bar_h, width, height) if top else (0, 0, width, height - bar_h)
    if kind < 0.35:  # one maximised application
        items.append(_window(c, area, dark))
    elif kind < 0.55:  # two side by side
        split = c.i(area[2] // 3, area[2] * 2 // 3)
        items.append(_window(c, (area[0], area[1], split, area[3]), dark))
        items.append(_window(c, (split, area[1], area[2], area[3]), c.r.random() < 0.5))
    else:  # overlapping windows
        for _ in range(c.i(1, 5)):
            w = c.i(min(320, width), max(min(320, width), width * 3 // 4))
            h = c.i(min(200, height), max(min(200, height), height * 3 // 4))
            x = c.i(-w // 8, max(-w // 8, width - w * 7 // 8))
            y = c.i(area[1], max(area[1], area[3] - h // 2))
            items.append(_window(c, (x, y, x + w, y + h), c.r.random() < 0.5 if dark else c.r.random() < 0.2))
    bar = (0, 0, width, bar_h) if top else (0, height - bar_h, width, height)
    bc = c.pick(((32, 32, 32), (236, 236, 236), (20, 30, 48), (243, 243, 243)))
    tc = (240, 240, 240) if sum(bc) < 380 else (20, 20, 20)
    items.append(_Rect(bar, bc))
    if top:
        x = 16
        for _ in range(c.i(3, 8)):
            t = c.word(cap=True)
            items.append(_Text(x, (bar_h - 13) // 2, t, 13, tc))
            x += int(len(t) * 8) + 20
    else:
        s = bar_h - 12
        x = c.i(8, width // 3)
        for _ in range(c.i(3, 12)):
            items.append(_Rect((x, bar[1] + 6, x + s, bar[1] + 6 + s), c.pick(_FLAT), radius=c.i(0, s // 3)))
            x += s + 10
    items.append(_Text(width - 80, bar[1] + (bar_h - 13) // 2, f"{c.i(0, 23):02d}:{c.i(0, 59):02d}", 13, tc))
    return items


# ------------------------------------------------------------------------------------------
# public API


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
