"""PNG figures of training runs: loss/PSNR curves (matplotlib) and sample grids (Pillow).

Curves are drawn by matplotlib (its Agg canvas, no pyplot state) with its tick locators and
formatters, so a log axis is labelled over its whole height, and its legend placed where it
hides the fewest data points. Sample grids stay our own small composition with Pillow: each
image must land pixel for pixel in its cell (no resampling), which a plotting library does not
promise. Both functions write atomically and return the layout they drew (plot boxes and data
ranges, image cells), so a caller or a test can find any datum's pixels.
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
GRID = (225, 225, 225)
FRAME = (60, 60, 60)
PANEL_W, PANEL_H = 420, 300  # pixels per panel
DPI = 100
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
    yticks: list[float] | None = None  # the y values that carry a tick label

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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(PANEL_W * n / DPI, PANEL_H / DPI), dpi=DPI, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    width, height = PANEL_W * n, PANEL_H
    axes: list[Axes] = []
    mpl_axes = []
    colour = {k: _rgb(PALETTE[i % len(PALETTE)]) for i, k in enumerate(keys)}
    for i, (g, ks) in enumerate(groups.items()):
        ys = np.concatenate([series[k][1] for k in ks]) if ks else np.zeros(0)
        xs = np.concatenate([series[k][0] for k in ks]) if ks else np.zeros(0)
        fin = ys[np.isfinite(ys)]
        # a log axis for losses (unless asked not to), and only when it can show every value
        log = g in ("loss", "lr") and log_y is not False and len(fin) > 0 and bool((fin > 0).all())
        box = (i * PANEL_W + MARGIN_L, MARGIN_T, (i + 1) * PANEL_W - MARGIN_R, PANEL_H - MARGIN_B)
        ax = Axes(_TITLES.get(g, g) + (" (log)" if log else ""), ks, box, _xlim(xs), _ylim(ys, log), log)
        axes.append(ax)
        x0, y0, x1, y1 = box
        # data (x, y) lands on pixel index Axes.to_pixel(x, y): Agg's pixel i spans [i, i + 1)
        m = fig.add_axes(((x0 + 0.5) / width, (height - y1 - 0.5) / height, (x1 - x0) / width, (y1 - y0) / height))
        mpl_axes.append(m)
        if log:
            from matplotlib.ticker import FuncFormatter, NullFormatter, NullLocator

            m.set_yscale("log")
            m.yaxis.set_major_locator(_log_locator(*ax.ylim))
            m.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            m.yaxis.set_minor_locator(NullLocator())
            m.yaxis.set_minor_formatter(NullFormatter())
        m.set_xlim(*ax.xlim)
        m.set_ylim(*ax.ylim)
        if ax.xlim[1] - ax.xlim[0] >= 2:  # iterations are whole numbers
            m.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        m.grid(True, which="major", color=_rgb(GRID), linewidth=0.8)
        m.set_axisbelow(True)
        m.tick_params(labelsize=7, colors=_rgb(FRAME))
        m.yaxis.get_offset_text().set_fontsize(7)
        for side in m.spines.values():
            side.set_color(_rgb(FRAME))
        m.set_title(ax.title, fontsize=8, color=_rgb(FRAME), pad=3)
        m.set_xlabel("iteration", fontsize=7, color=_rgb(FRAME), labelpad=1)
        for k in ks:
            sx, sy = series[k]
            ok = np.isfinite(sy) & ((sy > 0) if log else True)
            sy = np.where(ok, sy, np.nan)  # a gap where a value is missing or not finite
            m.plot(sx, sy, color=colour[k], linewidth=1.5, label=k, solid_capstyle="butt",
                   zorder=3)  # over the frame, as the data is
            # a point with no finite neighbour draws no line: a dot shows it
            alone = ok & ~np.r_[False, ok[:-1]] & ~np.r_[ok[1:], False]
            if alone.any():
                m.plot(sx[alone], sy[alone], linestyle="none", marker="o", markersize=3, color=colour[k], zorder=3)
        if ks:
            m.legend(loc="best", fontsize=7, frameon=True, framealpha=1.0, edgecolor=_rgb(GRID),
                     handlelength=1.5, borderaxespad=0.4)
    if not groups:
        fig.text(0.5, 0.5, "no metrics to plot", ha="center", va="center", fontsize=8, color=_rgb(FRAME))
    if title:
        fig.text(0.5, 1 - 2 / height, title, ha="center", va="top", fontsize=8, color=_rgb(FRAME))
    canvas.draw()
    renderer = canvas.get_renderer()
    for ax, m in zip(axes, mpl_axes):
        lo, hi = sorted(ax.ylim)
        ax.yticks = sorted(t.get_position()[1] for t in m.yaxis.get_ticklabels(which="both")
                           if t.get_visible() and t.get_text() and lo <= t.get_position()[1] <= hi)
        leg = m.get_legend()
        if leg is not None:
            b = leg.get_window_extent(renderer)
            ax.legend = (math.floor(b.x0), math.floor(height - b.y1), math.ceil(b.x1) + 1, math.ceil(height - b.y0) + 1)
    from PIL import Image

    _save(Image.fromarray(np.asarray(canvas.buffer_rgba())[:, :, :3].copy()), out_png)
    return axes


def _log_locator(lo: float, hi: float) -> Any:
    """Ticks of a log axis with a label in every third of its height: the first of matplotlib's
    decades, 1-2-5 or 1..9 times the decades, or its linear choice (narrow ranges) that has one."""
    from matplotlib.ticker import FixedLocator, LogLocator, MaxNLocator

    a, b = math.log10(lo), math.log10(hi)

    def covers(ticks: list[float]) -> bool:
        where = [(math.log10(t) - a) / (b - a) for t in ticks]
        return all(any(k / 3 <= f <= (k + 1) / 3 for f in where) for k in range(3))

    choices = [LogLocator(base=10, subs=subs, numticks=30)
               for subs in ((1.0,), (1.0, 2.0, 5.0), tuple(float(k) for k in range(1, 10)))]
    choices += [MaxNLocator(nbins=6), MaxNLocator(nbins=10)]
    for loc in choices:
        ticks = [t for t in loc.tick_values(lo, hi) if lo <= t <= hi and t > 0]
        if covers(ticks) and len(ticks) <= 11:
            break
    return FixedLocator(ticks)


def _rgb(c: tuple[int, int, int]) -> tuple[float, float, float]:
    return (c[0] / 255, c[1] / 255, c[2] / 255)


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


def save_figure(fig: Any, out_png: Path | str, **savefig: Any) -> int:
    """A matplotlib figure written as PNG (temp file, then rename); returns the file's size in bytes."""
    from imgrestore.io import write_bytes_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png", **savefig)
    write_bytes_atomic(out_png, buf.getvalue())
    return len(buf.getvalue())


def _save(img, out_png: Path | str) -> None:
    from imgrestore.io import write_bytes_atomic

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    write_bytes_atomic(out_png, buf.getvalue())
