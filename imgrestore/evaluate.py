"""``imgrestore eval``'s work: degrade clean images (or read given inputs), restore, score.

Scores follow the papers' conventions through :mod:`imgrestore.metrics`: both images rounded
to uint8 levels first (as when the result is saved); PSNR/SSIM on the luma for colour
super-resolution (crop = scale), on all channels otherwise (crop 0). Image i of the sorted
clean folder is degraded as sample i of run `seed`, so a run is reproducible.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imgrestore.errors import UserError


@dataclass
class Score:
    """One evaluated image: PSNR/SSIM of the restored image and of the degraded input."""

    image: str
    psnr: float
    ssim: float
    input_psnr: float | None = None


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop bottom/right so height and width are multiples of `scale` (SR evaluation)."""
    if scale <= 1:
        return img
    h, w = img.shape[0] - img.shape[0] % scale, img.shape[1] - img.shape[1] % scale
    return img[:h, :w]


def check_sizes(paths: list[Path], clean_dir: Path, scale: int, crop: int) -> None:
    """Every clean image (after the SR modcrop) must keep pixels after the border `crop` and
    hold SSIM's 11x11 window in what is left: checked from the file headers, before any image is
    restored or written, so a run never stops half-way on a size."""
    from imgrestore.io import image_shape
    from imgrestore.metrics import SSIM_WINDOW

    for path in paths:
        h, w, _ = image_shape(path)
        h, w = (h - h % scale, w - w % scale) if scale > 1 else (h, w)
        rel = path.relative_to(clean_dir).as_posix()
        size = f"{w}x{h}" + (f" after the x{scale} modcrop" if scale > 1 else "")
        if 2 * crop >= min(h, w):
            raise UserError(f"--crop {crop}: larger than image {rel} ({size}); the border ignored on each side "
                            f"must leave pixels (here --crop below {(min(h, w) + 1) // 2})")
        if min(h, w) - 2 * crop < SSIM_WINDOW:
            raise UserError(f"{rel}: {size} leaves {w - 2 * crop}x{h - 2 * crop} after --crop {crop}; SSIM needs "
                            f"at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels (its Gaussian window); use larger images or "
                            "a smaller --crop")


def evaluate(restorer: Any, network: str, clean_dir: Path, chain: Any = None, seed: int = 0,
             input_dir: Path | None = None, y_channel: bool | None = None, crop: int | None = None,
             round_uint8: bool = True, out_dir: Path | None = None,
             on_image: Callable[[Score], None] | None = None, progress: bool = False) -> list[Score]:
    """Score `restorer` on every image of `clean_dir`; see the module docstring. `progress`: a
    per-image bar on stderr (:mod:`imgrestore.progress`)."""
    from imgrestore.io import list_images, read_image, write_image
    from imgrestore.metrics import psnr, ssim
    from imgrestore.restore import adapt_channels

    spec = restorer.spec
    scale = restorer.scale
    if (chain is None) == (input_dir is None):
        raise UserError("eval: give either --degrade SPEC (degrade the clean images) or --input DIR (degraded inputs)")
    if y_channel is None:
        y_channel = scale > 1 and spec.out_channels == 3
    if crop is None:
        crop = scale if scale > 1 else 0
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"--seed {seed}: expected 0 or a positive integer")
    if isinstance(crop, bool) or not isinstance(crop, int) or crop < 0:
        raise UserError(f"--crop {crop}: expected a non-negative number of pixels")
    paths = list_images(clean_dir)
    check_sizes(paths, clean_dir, scale, crop)
    from imgrestore.preflight import ready
    from imgrestore.progress import bar

    ready()  # eval's checks end here (imgrestore run runs every step's checks before the first step)
    shown = bar(len(paths), f"eval {network}", unit="img", disable=not progress)
    scores: list[Score] = []
    for i, path in enumerate(paths):
        rel = path.relative_to(clean_dir)
        clean = modcrop(read_image(path), scale)
        clean = adapt_channels(clean, spec.out_channels, str(path), network)
        if chain is not None:
            noisy = chain(clean[None], seed, [i]).input[0]
        else:
            cand = [p for p in (input_dir / rel, *(input_dir / rel.parent).glob(rel.stem + ".*")) if p.is_file()]
            if not cand:
                raise UserError(f"--input {input_dir}: no degraded image for {rel} (expected {input_dir / rel.parent / rel.stem}.*)")
            noisy = read_image(cand[0])
        noisy = np.asarray(noisy, np.float32)
        expect = (clean.shape[0] // scale, clean.shape[1] // scale) if scale > 1 else clean.shape[:2]
        if noisy.shape[:2] != expect:
            raise UserError(f"{rel}: degraded input is {noisy.shape[1]}x{noisy.shape[0]}, expected "
                            f"{expect[1]}x{expect[0]} for x{scale} {network}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the clean image was already adapted (and warned about)
            noisy_in = adapt_channels(noisy, spec.in_channels, str(path), network)
        restored = restorer(noisy_in)
        restored = np.clip(restored, 0.0, 1.0)
        kw = dict(y_channel=y_channel, crop=crop, round_uint8=round_uint8)
        in_psnr = psnr(np.clip(noisy, 0, 1), clean, **kw) if scale == 1 and noisy.shape == clean.shape else None
        score = Score(rel.as_posix(), psnr(restored, clean, **kw), ssim(restored, clean, **kw), in_psnr)
        if out_dir is not None:
            write_image(Path(out_dir) / rel.with_suffix(".png"), restored)
        scores.append(score)
        if on_image is not None:
            on_image(score)
        shown.update()
    shown.close()
    return scores


def summary(scores: list[Score]) -> dict[str, Any]:
    """Mean PSNR/SSIM (and input PSNR when known) over the images, as tables report."""
    finite = [s.psnr for s in scores if math.isfinite(s.psnr)]
    out: dict[str, Any] = {"images": len(scores), "psnr": float(np.mean(finite)) if finite else math.inf,
                           "ssim": float(np.mean([s.ssim for s in scores]))}
    ins = [s.input_psnr for s in scores if s.input_psnr is not None and math.isfinite(s.input_psnr)]
    out["input_psnr"] = float(np.mean(ins)) if ins else None
    return out


def format_table(scores: list[Score]) -> str:
    """Plain-text table: one row per image and the mean."""
    width = max([len("image"), len("mean")] + [len(s.image) for s in scores])
    head = f"{'image':<{width}}  {'PSNR dB':>8}  {'SSIM':>7}  {'input PSNR':>10}"
    lines = [head, "-" * len(head)]

    def fmt(name: str, p: float, s: float, ip: float | None) -> str:
        ipt = f"{ip:10.2f}" if ip is not None else f"{'-':>10}"
        return f"{name:<{width}}  {p:8.2f}  {s:7.4f}  {ipt}"

    for s in scores:
        lines.append(fmt(s.image, s.psnr, s.ssim, s.input_psnr))
    m = summary(scores)
    lines.append("-" * len(head))
    lines.append(fmt("mean", m["psnr"], m["ssim"], m["input_psnr"]))
    return "\n".join(lines)


def as_rows(scores: list[Score]) -> list[dict[str, Any]]:
    return [asdict(s) for s in scores]
