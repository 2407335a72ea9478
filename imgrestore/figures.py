"""PNG figures for training runs without matplotlib: loss/PSNR curves and sample grids.

Lines are anti-aliased with ``skimage.draw.line_aa`` into a NumPy canvas, text is drawn with
Pillow's built-in font, and files are written atomically. Both functions return the layout they
drew (plot boxes and data ranges, image cells), so a caller or a test can find any datum's pixels.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

# Colour-blind-friendly palette (Okabe & Ito, 2008), RGB.
PALETTE = [(0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167), (86, 180, 233), (230, 159, 0),
           (0, 0, 0), (240, 228, 66)]
WHITE = (255, 255, 255)
GRID = (225, 225, 225)
FRAME = (60, 60, 60)
PANEL_W, PANEL_H = 420, 300
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 62, 14, 26, 40


@dataclass
class Axes:
    """One plot panel: its keys, plot box in pixels (x0, y0, x1, y1; inclusive) and data limits."""

    title: str
    keys: list[str]
    box: tuple[int, int, int, int]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    log: bool
    legend: tuple[int, int, int, int] | None = None  # its box (x0, y0, x1, y1 exclusive), if drawn

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """Data (x, y) -> (column, row) in the figure."""
        x0, y0, x1, y1 = self.box
        fx = (x - self.xlim[0]) / (self.xlim[1] - self.xlim[0])
        ty = math.log10(y) if self.log else y
        lo, hi = (math.log10(v) for v in self.ylim) if self.log else self.ylim
        fy = (ty - lo) / (hi - lo)
        return x0 + fx * (x1 - x0), y1 - fy * (y1 - y0)


@dataclass
class Cell:
    """Where sample_grid put one image: its cell and the pixel box it occupies (x0, y0, x1, y1 exclusive)."""

    row: int
    col: int
    box: tuple[int, int, int, int]
    scale: int


# --------------------------------------------------------------------------------------------
# curves


def read_metrics(path: Path | str) -> list[dict[str, Any]]:
    """Rows of a metrics JSONL file (blank and half-written last lines are ignored)."""
    from imgrestore.errors import UserError

    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"{path}: cannot read metrics: {exc}") from None
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            if n == len(lines):  # a line being written while we read
                continue
            raise UserError(f"{path}:{n}: not a JSON object") from None
        if isinstance(row, dict) and "iter" in row:
            rows.append(row)
    return rows


# Columns of a training log that are not curves to plot by default (rates, times, counters).
NOT_METRICS = frozenset({"iter", "lr", "learning_rate", "it_s", "its", "images_s", "data_share", "time", "elapsed",
                         "seconds", "epoch", "eta", "step"})


def _group(key: str) -> str:
    """The panel a column goes to: psnr, ssim, lr, its own name (rates, times), or loss (the rest)."""
    k = key.lower()
    for g in ("psnr", "ssim"):
        if g in k:
            return g
    if k in ("lr", "learning_rate"):
        return "lr"
    return key if k in NOT_METRICS else "loss"


_TITLES = {"loss": "loss", "psnr": "PSNR (dB)", "ssim": "SSIM", "lr": "learning rate"}


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def plot_curves(metrics_jsonl: Path | str, out_png: Path | str, keys: Sequence[str] | None = None,
                log_y: bool | None = None, title: str | None = None) -> list[Axes]:
    """Plot metrics against iteration: one panel per kind (loss, PSNR, SSIM, others), side by side.

    `keys`: the columns to plot (default: every numeric column but rates, times and counters
    such as ``iter``, ``lr``, ``it_s``; columns without psnr or ssim in their name are losses). `log_y`: logarithmic y for the loss
    and learning-rate panels (default: when all their values are positive). Missing and
    non-finite values leave gaps. Returns the panels drawn.
    """
    rows = read_metrics(metrics_jsonl)
    if keys is None:
        cols: list[str] = []
        for r in rows:
            cols += [k for k, v in r.items() if k != "iter" and _numeric(v) and k not in cols]
        keys = [k for k in cols if k.lower() not in NOT_METRICS] or cols
    keys = list(keys)
    groups: dict[str, list[str]] = {}
    for k in keys:
        groups.setdefault(_group(k), []).append(k)
    series = {k: _series(rows, k) for k in keys}
    n = max(1, len(groups))
    canvas = np.full((PANEL_H, PANEL_W * n, 3), 255, np.uint8)
    texts: list[tuple[tuple[float, float], str, tuple[int, int, int], str]] = []
    axes: list[Axes] = []
    colour = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(keys)}
    for i, (g, ks) in enumerate(groups.items()):
        ys = np.concatenate([series[k][1] for k in ks]) if ks else np.zeros(0)
        xs = np.concatenate([series[k][0] for k in ks]) if ks else np.zeros(0)
        fin = ys[np.isfinite(ys)]
        # a log axis for losses (unless asked not to), and only when it can show every value
        log = g in ("loss", "lr") and log_y is not False and len(fin) > 0 and bool((fin > 0).all())
        box = (i * PANEL_W + MARGIN_L, MARGIN_T, (i + 1) * PANEL_W - MARGIN_R, PANEL_H - MARGIN_B)
        ax = Axes(_TITLES.get(g, g) + (" (log)" if log else ""), ks, box, _xlim(xs), _ylim(ys, log), log)
        axes.append(ax)
        _draw_axes(canvas, ax, texts)
        for k in ks:
            _draw_series(canvas, ax, *series[k], colour[k])
        _legend(canvas, ax, [(k, colour[k]) for k in ks], texts)
    if not groups:
        texts.append(((PANEL_W / 2, PANEL_H / 2), "no metrics to plot", FRAME, "mm"))
    if title:
        texts.append(((canvas.shape[1] / 2, 2), title, FRAME, "mt"))
    _save(_draw_text(canvas, texts), out_png)
    return axes


def _series(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = sorted((float(r["iter"]), float(r[key])) for r in rows if _numeric(r.get(key)) and _numeric(r.get("iter")))
    if not pts:
        return np.zeros(0), np.zeros(0)
    a = np.array(pts, dtype=np.float64)
    return a[:, 0], a[:, 1]


def _xlim(xs: np.ndarray) -> tuple[float, float]:
    if not len(xs):
        return 0.0, 1.0
    lo, hi = float(xs.min()), float(xs.max())
    return (lo - 1, hi + 1) if hi == lo else (lo, hi)


def _ylim(ys: np.ndarray, log: bool) -> tuple[float, float]:
    ys = ys[np.isfinite(ys)] if len(ys) else ys
    if not len(ys):
        return (1.0, 10.0) if log else (0.0, 1.0)
    if log:
        lo, hi = math.log10(ys.min()), math.log10(ys.max())
        pad = 0.05 * (hi - lo) if hi > lo else 0.5
        return 10 ** (lo - pad), 10 ** (hi + pad)
    lo, hi = float(ys.min()), float(ys.max())
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(lo) * 0.05, 0.5)
    return lo - pad, hi + pad


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) inside [lo, hi]."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(target - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    # the 1-2-5 step whose tick count comes closest to the target (ties: the larger step)
    step = min((m * mag for m in (1, 2, 5, 10)), key=lambda st: (abs((hi - lo) / st + 1 - target), -st))
    first = math.ceil(lo / step - 1e-9)
    ticks = [(first + i) * step for i in range(int((hi - lo) / step) + 2)]
    return [round(t, 12) for t in ticks if lo - 1e-9 * step <= t <= hi + 1e-9 * step]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks of a log axis over [lo, hi] (> 0): decades, then 1-2-5, then plain round values."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    for mults in ((1,), (1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [m * 10.0 ** e for e in range(a, b + 1) for m in mults if lo <= m * 10.0 ** e <= hi]
        if len(ticks) >= 3:
            return ticks[:: max(1, len(ticks) // 8)]
    return [t for t in nice_ticks(lo, hi) if t > 0]


def format_tick(v: float, step: float | None = None) -> str:
    """Short tick labels: 0, 0.25, 30, 1e-4, 20k."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.4g}M"
    if a >= 1e4:
        return f"{v / 1e3:.4g}k"
    if a < 1e-3:
        m, e = f"{v:.1e}".split("e")
        m = m.rstrip("0").rstrip(".")
        return f"{m}e{int(e)}"
    if step is not None and step < 1:
        digits = max(0, -math.floor(math.log10(step) + 1e-9))
        return f"{v:.{digits}f}"
    return f"{v:g}"


def _draw_axes(canvas: np.ndarray, ax: Axes, texts: list) -> None:
    x0, y0, x1, y1 = ax.box
    xt = nice_ticks(*ax.xlim)
    if ax.xlim[1] - ax.xlim[0] >= 2:  # iterations are whole numbers
        xt = [t for t in xt if float(t).is_integer()]
    xstep = xt[1] - xt[0] if len(xt) > 1 else None
    for t in xt:
        c = round(ax.to_pixel(t, ax.ylim[0])[0])
        canvas[y0:y1 + 1, c] = GRID
        canvas[y1 + 1:y1 + 5, c] = FRAME
        texts.append(((c, y1 + 6), format_tick(t, xstep), FRAME, "mt"))
    yt = log_ticks(*ax.ylim) if ax.log else nice_ticks(*ax.ylim)
    ystep = None if ax.log or len(yt) < 2 else yt[1] - yt[0]
    for t in yt:
        r = round(ax.to_pixel(ax.xlim[0], t)[1])
        canvas[r, x0:x1 + 1] = GRID
        canvas[r, x0 - 4:x0] = FRAME
        texts.append(((x0 - 6, r), format_tick(t, ystep), FRAME, "rm"))
    canvas[y0, x0:x1 + 1] = FRAME
    canvas[y1, x0:x1 + 1] = FRAME
    canvas[y0:y1 + 1, x0] = FRAME
    canvas[y0:y1 + 1, x1] = FRAME
    texts.append((((x0 + x1) / 2, y0 - 4), ax.title, FRAME, "md"))
    texts.append((((x0 + x1) / 2, y1 + 22), "iteration", FRAME, "mt"))


def _draw_series(canvas: np.ndarray, ax: Axes, xs: np.ndarray, ys: np.ndarray, colour) -> None:
    """Anti-aliased polyline, 2 px wide, broken at non-finite values; dots when points are few."""
    from skimage.draw import line_aa

    x0, y0, x1, y1 = ax.box
    alpha = np.zeros(canvas.shape[:2], np.float32)
    ok = np.isfinite(ys) & ((ys > 0) if ax.log else True)
    pts = [ax.to_pixel(x, y) if good else None for x, y, good in zip(xs, ys, ok)]
    for p, q in zip(pts, pts[1:]):
        if p is None or q is None:
            continue
        c0, r0, c1, r1 = (int(round(v)) for v in (*p, *q))
        steep = abs(r1 - r0) > abs(c1 - c0)
        for dr, dc in ((0, 0), (0, 1) if steep else (1, 0)):
            rr, cc, val = line_aa(r0 + dr, c0 + dc, r1 + dr, c1 + dc)
            np.maximum.at(alpha, (rr.clip(0, alpha.shape[0] - 1), cc.clip(0, alpha.shape[1] - 1)), val)
    good = [p for p in pts if p is not None]
    if len(good) <= 40 or len(good) == 1:
        for c, r in good:
            c, r = int(round(c)), int(round(r))
            alpha[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2] = 1.0
    clip = np.zeros_like(alpha)
    clip[y0 + 1:y1, x0 + 1:x1] = 1  # keep inside the frame
    a = (alpha * clip)[..., None]
    canvas[:] = np.round(canvas * (1 - a) + np.asarray(colour, np.float32) * a).astype(np.uint8)


def _legend(canvas: np.ndarray, ax: Axes, entries: list[tuple[str, tuple]], texts: list) -> None:
    if not entries:
        return
    font = _font()
    width = max(_text_width(font, k) for k, _ in entries) + 30
    h = 15 * len(entries) + 6
    bx0, by0, bx1, by1 = ax.box
    corners = [(bx1 - 6 - width, by0 + 6), (bx0 + 6, by0 + 6), (bx1 - 6 - width, by1 - 6 - h), (bx0 + 6, by1 - 6 - h)]

    def covered(c: tuple[int, int]) -> int:  # curve pixels the legend would hide
        x, y = c
        patch = canvas[y:y + h, max(x, 0):x + width]
        plain = (patch == WHITE).all(axis=2) | (patch == GRID).all(axis=2)
        return int((~plain).sum())

    x0, y = min(corners, key=covered)
    x1 = x0 + width
    ax.legend = (x0, y, x1, y + h)
    canvas[y:y + h, x0:x1] = WHITE
    canvas[y, x0:x1] = GRID
    canvas[y + h - 1, x0:x1] = GRID
    canvas[y:y + h, x0] = GRID
    canvas[y:y + h, x1 - 1] = GRID
    for i, (k, col) in enumerate(entries):
        r = y + 10 + 15 * i
        canvas[r - 1:r + 1, x0 + 5:x0 + 22] = col
        texts.append(((x0 + 26, r), k, FRAME, "lm"))


# --------------------------------------------------------------------------------------------
# sample grids


def _as_rgb8(img: np.ndarray, where: str) -> np.ndarray:
    a = np.asarray(img)
    if hasattr(img, "detach"):  # a torch tensor (C,H,W) or (H,W)
        a = img.detach().cpu().float().numpy()
        if a.ndim == 3 and a.shape[0] in (1, 3):
            a = a.transpose(1, 2, 0)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or 0 in a.shape:
        raise ValueError(f"sample_grid {where}: expected an H,W or H,W,C image with C in 1, 3, 4; got shape {a.shape}")
    a = a[:, :, :3]
    if a.dtype == np.uint8:
        out = a
    elif np.issubdtype(a.dtype, np.floating):
        out = np.round(np.clip(np.nan_to_num(a, nan=0.0), 0, 1) * 255).astype(np.uint8)
    elif a.dtype == np.uint16:
        out = np.round(a / 257.0).astype(np.uint8)
    else:
        raise ValueError(f"sample_grid {where}: expected float in [0, 1], uint8 or uint16 pixels, got {a.dtype}")
    return np.repeat(out, 3, axis=2) if out.shape[2] == 1 else out


def sample_grid(rows: list[list[np.ndarray]], labels: list[str], out_png: Path | str, pad: int = 4,
                upscale: bool = True) -> list[Cell]:
    """Images in a grid with a label over each column (e.g. input | G0 | G | target).

    Images are float in [0, 1] (clipped), uint8 or uint16; gray ones are shown gray. Each row is
    as tall and each column as wide as its largest image (or its label); an image smaller than
    its row's largest by a whole factor (an SR input) is enlarged by pixel repetition when
    `upscale`, and every image is centred in its cell. Returns where each image went.
    """
    if not rows or not all(isinstance(r, (list, tuple)) and r for r in rows):
        raise ValueError("sample_grid: expected a non-empty list of non-empty rows of images")
    ncol = max(len(r) for r in rows)
    if len(labels) != ncol:
        raise ValueError(f"sample_grid: {len(labels)} labels for {ncol} columns")
    imgs = [[_as_rgb8(im, f"row {i} column {j}") for j, im in enumerate(r)] for i, r in enumerate(rows)]
    scales = []
    for r in imgs:
        hmax, wmax = max(a.shape[0] for a in r), max(a.shape[1] for a in r)
        row_s = []
        for a in r:
            k = hmax // a.shape[0]
            ok = upscale and k > 1 and a.shape[0] * k == hmax and a.shape[1] * k <= wmax
            row_s.append(k if ok else 1)
        scales.append(row_s)
    heights = [max(a.shape[0] * s for a, s in zip(r, sr)) for r, sr in zip(imgs, scales)]
    font = _font()
    # a column is at least as wide as its label, so the labels of small images never overlap
    widths = [max(max((r[j].shape[1] * sr[j] for r, sr in zip(imgs, scales) if j < len(r)), default=1),
                  _text_width(font, labels[j]) + 2 * pad)
              for j in range(ncol)]
    header = 18
    H = header + sum(heights) + pad * (len(imgs) + 1)
    W = sum(widths) + pad * (ncol + 1)
    canvas = np.full((H, W, 3), 255, np.uint8)
    cells: list[Cell] = []
    texts = []
    xs = [pad + sum(widths[:j]) + pad * j for j in range(ncol)]
    for j, lab in enumerate(labels):
        texts.append(((xs[j] + widths[j] / 2, header / 2 + 1), lab, FRAME, "mm"))
    y = header + pad
    for i, (r, sr) in enumerate(zip(imgs, scales)):
        for j, (a, s) in enumerate(zip(r, sr)):
            if s > 1:
                a = np.repeat(np.repeat(a, s, axis=0), s, axis=1)
            top = y + (heights[i] - a.shape[0]) // 2
            left = xs[j] + (widths[j] - a.shape[1]) // 2
            canvas[top:top + a.shape[0], left:left + a.shape[1]] = a
            cells.append(Cell(i, j, (left, top, left + a.shape[1], top + a.shape[0]), s))
        y += heights[i] + pad
    _save(_draw_text(canvas, texts), out_png)
    return cells


# --------------------------------------------------------------------------------------------
# text and files


def _font():
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=11)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _text_width(font, s: str) -> int:
    try:
        box = font.getbbox(s)
        return int(box[2] - box[0])
    except AttributeError:
        return 6 * len(s)


def _draw_text(canvas: np.ndarray, texts: list) -> "Any":
    """Canvas + (position, string, colour, anchor) items -> a Pillow image."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(canvas)
    draw = ImageDraw.Draw(img)
    font = _font()
    for (x, y), s, col, anchor in texts:
        try:
            draw.text((x, y), s, fill=col, font=font, anchor=anchor)
        except (ValueError, TypeError):  # bitmap fonts take no anchor
            draw.text((x, y), s, fill=col, font=font)
    return img


def _save(img, out_png: Path | str) -> None:
    from imgrestore.io import write_bytes_atomic

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    write_bytes_atomic(out_png, buf.getvalue())
