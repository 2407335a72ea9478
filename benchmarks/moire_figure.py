"""Realism figure: synthetic moiré crops beside real photos of screens, each with its spectrum.

    python benchmarks/moire_figure.py [--out fig.png] [--crop 256] [--count 6] [--spec moire]
                                      [--real N] [--data ../shared/data/moire] [--seed 0] [--device cpu]

One PNG, in four bands, each band a row of crops over a row of their log-magnitude spectra:

1. real: ``uhdm_page/*.jpg``, smartphone photos of an LCD (4032x3024), native-resolution crops
   (of nine candidate windows, the one with the most detail);
2. real: ``realscreen/moire/*.png`` (256x256 photos of a screen);
3. synthetic: the moiré inputs ``imgrestore synth SPEC`` writes from screens rendered in code
   (the public path: :func:`imgrestore.synth.synthesize` on :func:`screen_sources`);
4. their aligned ground-truth targets (no moiré), for reference.

The spectrum of a crop is ``log(1 + |FFT|)`` of each colour channel after removing the mean and
applying a 2-D Hann window (so the crop's borders add no cross), centred (zero frequency in the
middle), scaled per crop between its 1st and 99.9th percentile, and shown as RGB: where the
three channels agree it is gray; a coloured peak is a frequency that one colour channel has and
the others lack, the signature of colour moiré. Moiré shows as bright off-centre peaks or
arcs that the ground truth's spectrum lacks.

The photos under ../shared/data/moire are not part of the repository: without them the script
prints why and exits 0 without writing anything. The figure is written atomically.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "moire"
DEFAULT_OUT = Path(tempfile.gettempdir()) / "imgrestore-moire-figure.png"
GAP = 6  # pixels between cells
LABEL_H = 22  # height of a band's title line


def log_spectrum(img: np.ndarray) -> np.ndarray:
    """Centred log-magnitude spectrum of each channel of an H,W,C float image, as H,W,3 in [0, 1]."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    h, w = img.shape[:2]
    win = np.outer(np.hanning(h), np.hanning(w))[..., None] if min(h, w) > 1 else np.ones((h, w, 1))
    x = (img[..., :3] - img[..., :3].mean(axis=(0, 1))) * win
    mag = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(x, axes=(0, 1)), axes=(0, 1))))
    lo, hi = np.percentile(mag, [1.0, 99.9])
    return np.clip((mag - lo) / max(hi - lo, 1e-12), 0.0, 1.0).astype(np.float32)


def as_rgb(img: np.ndarray) -> np.ndarray:
    """An image as H,W,3 float32 (gray repeated, alpha dropped)."""
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 2:
        img = img[..., None]
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img[..., :3]


def detail_crop(img: np.ndarray, size: int) -> np.ndarray:
    """The size x size window (of a 3x3 grid of candidates) with the largest luminance std."""
    h, w = img.shape[:2]
    s = min(size, h, w)
    best, best_std = None, -1.0
    for fy in (0.25, 0.5, 0.75):
        for fx in (0.25, 0.5, 0.75):
            y = int(round(fy * (h - s)))
            x = int(round(fx * (w - s)))
            c = img[y : y + s, x : x + s]
            sd = float(c.mean(axis=2).std())
            if sd > best_std:
                best, best_std = c, sd
    return best


def centre_crop(img: np.ndarray, size: int) -> np.ndarray:
    """The centred size x size window of an image (the image itself when smaller)."""
    h, w = img.shape[:2]
    s = min(size, h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return img[y : y + s, x : x + s]


def real_crops(data: Path, size: int, limit: int | None = None) -> list[tuple[str, list[tuple[str, np.ndarray]]]]:
    """The real bands that exist under `data`: (title, [(name, crop), ...]), at most `limit` each."""
    from imgrestore.io import read_image

    bands = []
    uhdm = sorted((data / "uhdm_page").glob("*.jpg"))[:limit] if (data / "uhdm_page").is_dir() else []
    if uhdm:
        crops = [(p.stem, detail_crop(as_rgb(read_image(p)), size)) for p in uhdm]
        bands.append(("real: UHDM page photos of an LCD (4032x3024 JPEG), native-resolution crops", crops))
    folder = data / "realscreen" / "moire"
    rs = sorted(folder.glob("*.png"))[:limit] if folder.is_dir() else []
    if rs:
        crops = [(p.stem, centre_crop(as_rgb(read_image(p)), size)) for p in rs]
        bands.append(("real: realscreen photos of a screen (256x256)", crops))
    return bands


def synthetic_crops(spec: str, size: int, count: int, seed: int, device: str) -> tuple[list, list]:
    """(inputs, targets) of `count` pairs written by imgrestore's synth from rendered screens."""
    from imgrestore.chain import Chain
    from imgrestore.io import read_image
    from imgrestore.sources.source import screen_sources
    from imgrestore.synth import SynthConfig, synthesize

    chain = Chain.parse(spec)
    need = chain.source_size((size, size))
    with tempfile.TemporaryDirectory(prefix="moire-figure-") as tmp:
        out = Path(tmp)
        cfg = SynthConfig(chain=chain, out=out, patch=size, count=count, seed=seed, device=device,
                          batch=min(count, 8), workers=2)
        synthesize(cfg, screen_sources(seed, need), warn=lambda m: print(m, file=sys.stderr))
        names = [f"{i:08d}.png" for i in range(count)]
        inputs = [(f"#{i}", as_rgb(read_image(out / "input" / n))) for i, n in enumerate(names)]
        targets = [(f"#{i} target", as_rgb(read_image(out / "target" / n))) for i, n in enumerate(names)]
    return inputs, targets


def compose(bands: list[tuple[str, list[tuple[str, np.ndarray]]]], cell: int) -> np.ndarray:
    """One uint8 RGB canvas: per band a title, a row of crops and a row of their spectra."""
    from PIL import Image, ImageDraw, ImageFont

    ncol = max(len(crops) for _, crops in bands)
    width = GAP + ncol * (cell + GAP)
    width = max(width, 520)
    height = GAP + len(bands) * (LABEL_H + 2 * (cell + GAP))
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    try:
        font = ImageFont.load_default(size=13)
    except (TypeError, OSError, ImportError, AttributeError):
        font = ImageFont.load_default()
    y = GAP
    for title, crops in bands:
        draw.text((GAP, y + 3), title, fill=(0, 0, 0), font=font)
        y += LABEL_H
        for j, (_, crop) in enumerate(crops):
            x = GAP + j * (cell + GAP)
            for row, arr in enumerate((as_rgb(crop), log_spectrum(crop))):
                u8 = np.floor(np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
                h, w = u8.shape[:2]
                oy = y + row * (cell + GAP) + (cell - h) // 2
                canvas.paste(Image.fromarray(np.ascontiguousarray(u8), "RGB"), (x + (cell - w) // 2, oy))
        y += 2 * (cell + GAP)
    return np.asarray(canvas)


def write_png(path: Path, rgb: np.ndarray) -> None:
    import io

    from PIL import Image

    from imgrestore.io import write_bytes_atomic

    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, format="PNG", optimize=False)
    write_bytes_atomic(path, buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output PNG (default {DEFAULT_OUT})")
    ap.add_argument("--data", type=Path, default=DATA, help="folder holding uhdm_page/ and realscreen/ (default ../shared/data/moire)")
    ap.add_argument("--crop", type=int, default=256, help="crop side in pixels (default 256)")
    ap.add_argument("--count", type=int, default=6, help="synthetic pairs shown (default 6)")
    ap.add_argument("--real", type=int, default=None, help="at most this many photos per real band (default all)")
    ap.add_argument("--spec", default="moire", help="degradation chain that makes the synthetic crops (default moire)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    args = ap.parse_args(argv)
    if args.crop < 8 or args.count < 1 or (args.real is not None and args.real < 1):
        print(f"moire_figure: error: --crop {args.crop} / --count {args.count} / --real {args.real}: expected "
              "crop >= 8, count >= 1, real >= 1", file=sys.stderr)
        return 2
    bands = real_crops(args.data, args.crop, args.real) if args.data.is_dir() else []
    if not bands:
        print(f"moire_figure: no real moiré photos under {args.data} (uhdm_page/*.jpg, realscreen/moire/*.png; "
              "../shared/data is not part of the repository); skipped, nothing written", file=sys.stderr)
        return 0
    from imgrestore.backend import resolve_device
    from imgrestore.errors import UserError

    try:
        device = resolve_device(args.device)
        inputs, targets = synthetic_crops(args.spec, args.crop, args.count, args.seed, device)
    except UserError as exc:
        print(f"moire_figure: error: {exc}", file=sys.stderr)
        return 2
    bands.append((f"synthetic: imgrestore synth {args.spec!r} on screens rendered in code (input)", inputs))
    bands.append(("synthetic: the aligned ground truth of the pairs above (target)", targets))
    write_png(args.out, compose(bands, args.crop))
    print(f"moire_figure: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
