"""What screens show inside windows: documents, code editors, spreadsheets, UI panels, image
viewers and browsers, drawn from pseudo-words (a fixed corpus) and a screen's generator."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from imgrestore.sources.screen_assets import _photos
from imgrestore.sources.screen_items import RGB, Box, _Ellipse, _Gradient, _Group, _Line, _Photo, _Rect, _Text

_STREAM = 0x5C4EE7  # keeps screen draws apart from every other (seed, index) stream

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
