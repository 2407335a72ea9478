"""What a training run leaves to look at, besides its metrics: the sample figure, the best model,
TensorBoard images.

* ``samples.png``: 4-6 crops (up to 160 px) from *different* held-out images, one row each:
  input | output | target, with the PSNR of the input (the baseline) and of the output against
  the target under each. Rewritten at every validation (atomically) and at the end.
* ``model_best.safetensors``: the network at the validation with the highest PSNR so far (its
  weights checked finite first; written atomically; ``val_psnr`` and ``iteration`` in its
  metadata). A resumed run takes the best score from the kept validation rows.
* TensorBoard (when installed): the sample figure as an image at every validation.

The input baseline of a super-resolution network is its input up-sampled bicubically (torch's
``interpolate``, clipped), so both PSNRs compare images of the target's size. The figure is
composed as arrays and labelled with Pillow (already used for the other figures).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_SIDE = 160     # target side of a sample crop (px), less when the images are smaller
SAMPLE_COUNT = 6      # crops from this many different held-out images (at most)
BEST = "model_best.safetensors"


def upsampled(inp: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """An NHWC/HWC input brought to `hw` for comparison with its target: itself when it has that
    size, else bicubic (torch, align_corners=False) clipped to [0, 1]."""
    a = np.asarray(inp, dtype=np.float32)
    if a.shape[-3:-1] == tuple(hw):
        return a
    import torch
    from torch.nn import functional as F

    t = torch.from_numpy(np.ascontiguousarray(a[None] if a.ndim == 3 else a)).permute(0, 3, 1, 2)
    up = F.interpolate(t, size=tuple(hw), mode="bicubic", align_corners=False).clamp(0, 1)
    out = up.permute(0, 2, 3, 1).numpy()
    return out[0] if a.ndim == 3 else out


def psnr_or_cap(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB with identical images capped at 100 dB (a NaN stays NaN)."""
    from imgrestore.metrics import psnr

    p = psnr(np.asarray(a, np.float32), np.asarray(b, np.float32))
    return 100.0 if p == math.inf else float(p)


def input_psnr(inputs: Any, targets: Any) -> list[float]:
    """PSNR of each input (up-sampled to its target's size when smaller) against its target."""
    t = np.asarray(_host(targets), np.float32)
    up = upsampled(np.asarray(_host(inputs), np.float32), t.shape[1:3])
    return [psnr_or_cap(np.clip(i, 0, 1), g) for i, g in zip(up, t)]


def sample_side(limit: int, multiple: int, want: int = SAMPLE_SIDE) -> int:
    """The largest multiple of `multiple` that is at most `want` and at most `limit` (0: none)."""
    side = min(want, limit)
    return max(0, side - side % max(1, multiple))


# ------------------------------------------------------------------------------------------------
# the crops


@dataclass
class SampleSet:
    """Held-out (input, target) crops, one per image, and what the network made of them."""

    inputs: list[np.ndarray]
    targets: list[np.ndarray]
    names: list[str] = field(default_factory=list)
    outputs: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.targets)

    def run(self, net: Any, device: str) -> list[np.ndarray]:
        """Outputs of `net` (eval mode, no gradients) for every crop, clipped to [0, 1]."""
        import torch

        from imgrestore.train.loop import to_nchw

        modes = [(m, m.training) for m in net.modules()]  # restored exactly (frozen BN stays in eval)
        net.eval()
        outs = []
        try:
            with torch.no_grad():
                for x in self.inputs:
                    y = net(to_nchw(x[None], device))
                    y = y[0] if isinstance(y, (tuple, list)) else y
                    outs.append(y.float().clamp(0, 1).permute(0, 2, 3, 1)[0].cpu().numpy())
        finally:
            for m, mode in modes:
                m.training = mode
        self.outputs = outs
        return outs

    def scores(self) -> list[tuple[float, float]]:
        """(input PSNR, output PSNR) per crop."""
        base = [input_psnr(i[None], t[None])[0] for i, t in zip(self.inputs, self.targets)]
        return [(b, psnr_or_cap(o, t)) for b, o, t in zip(base, self.outputs, self.targets)]


def synth_samples(sources: Sequence[Any], chain: Any, channels: int, seed: int, multiple: int,
                  count: int = SAMPLE_COUNT) -> SampleSet | None:
    """One crop from each of up to `count` held-out source images, degraded by `chain` (seeded
    apart from training and validation); with fewer than 4 images, crops at other positions of
    the same ones fill 4 rows. The side is the largest allowed multiple of `multiple` up to
    160 px that every chosen image holds; None when no image holds even one."""
    from imgrestore.train import data as D

    sources = list(sources)
    if not sources:
        return None
    chosen = [sources[k % len(sources)] for k in range(min(count, max(4, len(sources))))]
    side = sample_side(SAMPLE_SIDE, multiple)
    while side > 0:
        need = chain.source_size((side, side))
        if all(s.hw[0] >= need[0] and s.hw[1] >= need[1] for s in chosen):
            break
        side -= max(1, multiple)
    if side <= 0:
        return None
    inputs, targets = [], []
    for k, src in enumerate(chosen):
        b = D.SynthStream([src], chain, side, channels, seed + D.VAL_SEED_OFFSET + 17).batch([k])
        inputs.append(np.asarray(_host(b.input)[0], np.float32))
        targets.append(np.asarray(_host(b.target)[0], np.float32))
    return SampleSet(inputs, targets, [s.name for s in chosen])


def pair_samples(folder: Path, entries: Sequence[dict[str, Any]], channels: int, multiple: int,
                 option: str = "--pairs", count: int = SAMPLE_COUNT) -> SampleSet | None:
    """The centre crop (up to 160 px of the target) of each of up to `count` held-out pairs."""
    from imgrestore.train.pairs import PairsStream

    entries = list(entries)[:count]
    if not entries:
        return None
    stream = PairsStream(Path(folder), None, channels, 0, option, entries=entries)
    pairs = [stream.pair(k, None)[:2] for k in range(len(entries))]
    scale = max(1, pairs[0][1].shape[0] // max(1, pairs[0][0].shape[0]))
    side = sample_side(min(min(t.shape[:2]) for _, t in pairs), multiple * scale)
    if side <= 0:
        return None
    inputs, targets = [], []
    for inp, tgt in pairs:
        y, x = (tgt.shape[0] - side) // 2 // scale * scale, (tgt.shape[1] - side) // 2 // scale * scale
        targets.append(np.asarray(tgt[y:y + side, x:x + side], np.float32))
        inputs.append(np.asarray(inp[y // scale:(y + side) // scale, x // scale:(x + side) // scale], np.float32))
    return SampleSet(inputs, targets, [str(e.get("target", k)) for k, e in enumerate(entries)])


def _host(a: Any) -> np.ndarray:
    get = getattr(a, "get", None)  # CuPy
    return np.asarray(get() if callable(get) and not isinstance(a, np.ndarray) else a)


# ------------------------------------------------------------------------------------------------
# the figure


def _rgb8(a: np.ndarray, side: tuple[int, int]) -> np.ndarray:
    """Float [0, 1] H,W,C -> uint8 RGB of `side` (smaller inputs enlarged by pixel repetition)."""
    a = np.asarray(a, np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    k = max(1, side[0] // a.shape[0])
    if k > 1:
        a = np.repeat(np.repeat(a, k, 0), k, 1)
    a = np.round(np.clip(np.nan_to_num(a[:, :, :3]), 0, 1) * 255).astype(np.uint8)
    return np.repeat(a, 3, 2) if a.shape[2] == 1 else a


def sample_figure(samples: SampleSet, title: str = "") -> np.ndarray:
    """The figure as an H,W,3 uint8 array: a row per crop, input | output | target, each with its
    PSNR against the target underneath."""
    from PIL import Image, ImageDraw, ImageFont

    pad, head, cap = 6, 20, 16
    side = samples.targets[0].shape[:2]
    rows = len(samples)
    W = 3 * side[1] + 4 * pad
    H = head + rows * (side[0] + cap + pad) + pad
    canvas = np.full((H, W, 3), 255, np.uint8)
    texts: list[tuple[tuple[int, int], str]] = []
    cols = [pad + j * (side[1] + pad) for j in range(3)]
    for j, label in enumerate(("input", "output", "target")):
        texts.append(((cols[j] + 2, 4), label if j or not title else f"{label}   ({title})"))
    y = head
    names = list(samples.names) + [""] * len(samples)
    for k, ((inp, out, tgt), (pin, pout)) in enumerate(zip(zip(samples.inputs, samples.outputs, samples.targets),
                                                          samples.scores())):
        for j, img in enumerate((inp, out, tgt)):
            a = _rgb8(img, side)
            canvas[y:y + a.shape[0], cols[j]:cols[j] + a.shape[1]] = a
        texts.append(((cols[0] + 2, y + side[0] + 2), f"{pin:.2f} dB"))
        texts.append(((cols[1] + 2, y + side[0] + 2), f"{pout:.2f} dB ({pout - pin:+.2f})"))
        name = Path(names[k]).name if names[k] else ""
        name = name if len(name) <= 18 else name[:17] + "~"
        texts.append(((cols[2] + 2, y + side[0] + 2), f"{name} {side[1]}x{side[0]}".strip()))
        y += side[0] + cap + pad
    img = Image.fromarray(canvas)
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.load_default(size=12)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    for xy, s in texts:
        draw.text(xy, s, fill=(30, 30, 30), font=font)
    return np.asarray(img)


def write_png(path: Path, rgb: np.ndarray) -> None:
    """`rgb` as a PNG, atomically (a full disk is a one-line UserError)."""
    from PIL import Image

    from imgrestore.train.log import write_file

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    write_file(Path(path), buf.getvalue())


# ------------------------------------------------------------------------------------------------
# what happens at each validation


class RunOutputs:
    """Called with every validation row (``MetricsLog.on_val``): keeps ``model_best``, redraws
    ``samples.png`` and sends it to TensorBoard."""

    def __init__(self, folder: Path, net: Any, network: str, config: dict[str, Any], device: str,
                 samples: SampleSet | None, stage: str | None = None) -> None:
        self.folder, self.net, self.network, self.config = Path(folder), net, network, config
        self.device, self.samples, self.stage = device, samples, stage
        self.best = -math.inf
        self.best_iter: int | None = None

    def resume(self, rows: Sequence[dict[str, Any]]) -> None:
        """The best validation PSNR among the rows kept from before a resume."""
        finite = [(float(r["psnr"]), int(r["iter"])) for r in rows if r.get("kind") == "val"
                  and isinstance(r.get("psnr"), (int, float)) and math.isfinite(r["psnr"])]
        self.best, self.best_iter = max(finite, default=(-math.inf, None))

    def summary(self) -> dict[str, Any] | None:
        """Where the best model is and what it scored (None before any finite validation)."""
        if self.best_iter is None or not (self.folder / BEST).exists():
            return None
        return {"model": str(self.folder / BEST), "psnr": self.best, "iter": self.best_iter}

    def draw(self, title: str = "") -> np.ndarray | None:
        if self.samples is None or not len(self.samples):
            return None
        self.samples.run(self.net, self.device)
        return sample_figure(self.samples, title)

    def write_samples(self, title: str = "") -> np.ndarray | None:
        fig = self.draw(title)
        if fig is not None:
            write_png(self.folder / "samples.png", fig)
        return fig

    def _finite(self) -> bool:
        import torch

        flags = [torch.isfinite(v).all() for v in self.net.state_dict().values() if v.is_floating_point()]
        return bool(torch.stack(flags).all()) if flags else True

    def __call__(self, row: dict[str, Any], tb: Any = None) -> None:
        it = int(row["iter"])
        p = row.get("psnr")
        if isinstance(p, (int, float)) and math.isfinite(p) and p > self.best and self._finite():
            from imgrestore.train.state import save_model

            save_model(self.folder / BEST, self.network, self.config, self.net, iteration=it, stage=self.stage,
                       val_psnr=float(p))
            self.best, self.best_iter = float(p), it
        from imgrestore.errors import UserError

        try:
            fig = self.write_samples(f"iteration {it}")
            if fig is not None and tb is not None:
                tb.add_image("samples", fig, it, dataformats="HWC")
        except UserError:  # a full disk: one line, like every other write
            raise
        except Exception as exc:  # a figure is a convenience: never lose a run over it
            import sys

            print(f"imgrestore: warning: samples.png not written ({type(exc).__name__}: {exc})", file=sys.stderr)
