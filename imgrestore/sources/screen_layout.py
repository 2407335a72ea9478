"""Screen layouts: one display list per (seed, index), drawn from the screen's own generator:
a wallpaper, windows (maximised, side by side or overlapping) holding apps, a menu bar or taskbar."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from imgrestore.sources.screen_apps import _APPS, _Ctx, _DARK_THEMES, _FLAT, _LIGHT_THEMES, _STREAM
from imgrestore.sources.screen_items import Box, _Ellipse, _Gradient, _Group, _Line, _Photo, _Rect, _Text
from imgrestore.sources.screen_assets import _photos


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
