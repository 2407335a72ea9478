"""Realism you can measure: real photos of screens against the moiré simulator, statistic by statistic.

    python benchmarks/moire_realism.py [--data ../shared/data/moire] [--count 32] [--patch 256]
        [--spec moire] [--calibrated SPEC] [--seed 0] [--json FILE] [--figure FILE]

Real photos (not part of the repository; `--data` or $IMGRESTORE_MOIRE_DATA, default
../shared/data/moire next to the project): ``uhdm_page/*.jpg`` (6 phone photos of an LCD,
4032x3024) and ``realscreen/moire/*.png`` (5 photos, 256x256), analysed at their native resolution
(``--uhdm-scale`` resizes the UHDM photos first); ``realscreen/defocus_blur/*.png`` (defocused,
moiré-free photos of the same screen) are a reference column. Synthetic inputs: ``--count`` pairs
of ``--patch`` x ``--patch`` made in-process by the chain ``--spec`` (the default simulator) and by
``--calibrated`` (default: the same spec) from screens rendered in code, as ``imgrestore synth``
and ``imgrestore fit`` make them (sample i depends on (seed, i) only); their aligned targets are a
reference column too.

Every image goes through :func:`imgrestore.realism.image_stats` with the same ``--tile`` (256):
exposure and clipping, band RMS of luma and chroma by spatial frequency, chroma/luma ratio,
spectral peak and orientation, fringe contrast, noise in flat areas, edge width (see
docs/moire-realism.md for what each means). The table printed to stdout has one row per statistic;
columns: the real photos (median [min, max] over all of them, then per source), the default and
the calibrated simulator (median over the pairs), and the references. A synthetic median outside
the real [min, max] is flagged with an arrow (above or below). ``--json`` writes every per-image
value and the mean radial spectra; ``--figure`` a PNG with example tiles and the mean luma / chroma
power spectra of each set. Files are written atomically. Without the real photos the script says so
and exits 0 without writing anything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("IMGRESTORE_MOIRE_DATA", ROOT.parent / "shared" / "data" / "moire"))
DEFAULT_FIGURE = Path(tempfile.gettempdir()) / "imgrestore-moire-realism.png"
T0 = time.perf_counter()
from imgrestore.plugins.moire import PREVIOUS_DEFAULTS  # noqa: E402  (a constant; the plugin imports no heavy module)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from moire_figure import as_rgb, centre_crop  # noqa: E402

# (key, label, format, flagged): the table's rows, in order.
ROWS: list[tuple[str, str, str, bool]] = [
    ("y_mean", "exposure: mean luma (0-255)", "{:.1f}", True),
    ("y_p99", "exposure: 99th pct luma (0-255)", "{:.1f}", True),
    ("white_level", "exposure: bright-area level, p95 of 16px block means", "{:.1f}", True),
    ("clip", "clipping: share of pixels with a channel >= 254 (%)", "{:.2f}", True),
    ("clip_R", "clipping: R >= 254 (%)", "{:.2f}", True),
    ("clip_G", "clipping: G >= 254 (%)", "{:.2f}", True),
    ("clip_B", "clipping: B >= 254 (%)", "{:.2f}", True),
    ("Y_low", "luma RMS, periods 16-64 px (levels)", "{:.2f}", True),
    ("Y_mid", "luma RMS, periods 4-16 px", "{:.2f}", True),
    ("Y_high", "luma RMS, periods < 4 px", "{:.2f}", True),
    ("C_low", "chroma RMS, periods 16-64 px (blobs)", "{:.2f}", True),
    ("C_mid", "chroma RMS, periods 4-16 px", "{:.2f}", True),
    ("C_high", "chroma RMS, periods < 4 px (fine fringes)", "{:.2f}", True),
    ("chroma_luma_ratio", "chroma / luma RMS, periods 4-64 px", "{:.2f}", True),
    ("chroma_period", "chroma spectral peak: period (px)", "{:.1f}", True),
    ("chroma_orient_share", "chroma orientation: share in the strongest 22.5 deg", "{:.2f}", True),
    ("chroma_angle", "chroma orientation: wave-vector angle (deg; pose-dependent)", "{:.0f}", False),
    ("chroma_pp", "fringe contrast: chroma peak-to-trough, flat half", "{:.2f}", True),
    ("luma_pp", "fringe contrast: luma peak-to-trough, flat half", "{:.2f}", True),
    ("noise", "noise: luma sigma of the fine residual, flattest 10% unclipped", "{:.2f}", True),
    ("edge_width", "edges: median 10-90% width (px)", "{:.2f}", True),
    ("hf_share", "edges: share of luma variance at periods < 4 px", "{:.3f}", True),
]
PERCENT = {"clip", "clip_R", "clip_G", "clip_B"}


def say(msg: str) -> None:
    sys.stderr.write(f"[{time.perf_counter() - T0:5.0f} s] {msg}\n")
    sys.stderr.flush()


# -- inputs ----------------------------------------------------------------------------------------


def real_sets(data: Path, uhdm_scale: float = 1.0) -> dict[str, list[tuple[str, np.ndarray]]]:
    """The real photos under `data`, by source: {"uhdm": [...], "realscreen": [...],
    "defocus": [...]} as (name, H,W,3 float image); empty lists where a folder is missing."""
    from imgrestore.io import read_image

    def load(p: Path, scale: float = 1.0) -> np.ndarray:
        img = as_rgb(read_image(p))
        if scale != 1.0:
            from PIL import Image

            u8 = np.floor(np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
            h, w = u8.shape[:2]
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            img = np.asarray(Image.fromarray(u8).resize(size, Image.LANCZOS), np.float32) / 255
        return img

    def files(sub: str, pattern: str) -> list[Path]:
        d = data / sub
        return sorted(d.glob(pattern)) if d.is_dir() else []

    return {"uhdm": [(p.stem, load(p, uhdm_scale)) for p in files("uhdm_page", "*.jpg")],
            "realscreen": [(p.stem, load(p)) for p in files("realscreen/moire", "*.png")],
            "defocus": [(p.stem, load(p)) for p in files("realscreen/defocus_blur", "*.png")]}


def synthetic_pairs(spec: str, count: int, patch: int, seed: int, batch: int = 8) -> tuple[list, list]:
    """`count` (input, target) pairs of `spec` made in-process, as `imgrestore fit` streams them:
    crops of screens rendered in code (seed), degraded by the chain; sample i depends on (seed, i)."""
    from imgrestore.chain import Chain
    from imgrestore.sources.source import screen_sources
    from imgrestore.train.data import SynthStream

    chain = Chain.parse(spec)
    stream = SynthStream(screen_sources(seed, chain.source_size((patch, patch))), chain, patch, 3, seed)
    inputs, targets = [], []
    for lo in range(0, count, batch):
        b = stream.batch(list(range(lo, min(count, lo + batch))))
        for k, i in enumerate(b.indices):
            inputs.append((f"#{i}", np.clip(np.asarray(b.input[k], np.float32), 0, 1)))
            targets.append((f"#{i} target", np.clip(np.asarray(b.target[k], np.float32), 0, 1)))
    return inputs, targets


# -- statistics ------------------------------------------------------------------------------------


def analyse(images: list[tuple[str, np.ndarray]], tile: int) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Per-image statistics and the set's mean spectra (luma Y and chroma C)."""
    from imgrestore.realism import image_stats

    rows, acc, n = [], {"Y": None, "C": None}, 0
    for name, img in images:
        st, psd = image_stats(img, tile)
        for k in PERCENT:
            st[k] = 100 * st[k]
        rows.append({"name": name, "hw": list(img.shape[:2]), **st})
        for key in acc:
            acc[key] = psd[key] if acc[key] is None else acc[key] + psd[key]
        n += 1
    return rows, {k: v / n for k, v in acc.items() if v is not None}


def summary(rows: list[dict[str, Any]], key: str) -> dict[str, float] | None:
    v = np.array([r[key] for r in rows], dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()), "n": int(v.size)}


def _plain(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python numbers, NaN and infinities to null."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def flag(value: float | None, real: dict[str, float] | None) -> str:
    """'' inside the real range, 'above' / 'below' outside it."""
    if value is None or real is None or not np.isfinite(value):
        return ""
    return "above" if value > real["max"] else "below" if value < real["min"] else ""


def build_table(sets: dict[str, list[dict[str, Any]]], cols: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """One entry per statistic: the real range and every column's summary, with flags."""
    real_rows = sets.get("uhdm", []) + sets.get("realscreen", [])
    table = []
    for key, label, fmt, flagged in ROWS:
        real = summary(real_rows, key)
        entry: dict[str, Any] = {"key": key, "label": label, "fmt": fmt, "real": real, "flagged": flagged}
        for name, _ in cols:
            s = summary(sets[name], key) if sets.get(name) else None
            entry[name] = s
            if flagged and name in ("default", "calibrated"):
                entry[f"{name}_flag"] = flag(s["median"] if s else None, real)
        table.append(entry)
    return table


def format_table(table: list[dict[str, Any]], cols: list[tuple[str, str]]) -> str:
    """The table as GitHub markdown: one row per statistic, real range then one column per set."""
    arrow = {"above": " ↑", "below": " ↓", "": ""}
    header = ["statistic", "real: median [min, max]"] + [title for _, title in cols]
    lines = []
    for e in table:
        fmt = e["fmt"]
        r = e["real"]
        cells = [e["label"], f"{fmt.format(r['median'])} [{fmt.format(r['min'])}, {fmt.format(r['max'])}]" if r else "-"]
        for name, _ in cols:
            s = e.get(name)
            cells.append(fmt.format(s["median"]) + arrow[e.get(f"{name}_flag", "")] if s else "-")
        lines.append(cells)
    out = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    out += ["| " + " | ".join(c) + " |" for c in lines]
    return "\n".join(out) + "\n"


# -- figure ----------------------------------------------------------------------------------------


def draw_figure(path: Path, examples: list[tuple[str, np.ndarray]], spectra: dict[str, dict[str, np.ndarray]],
                labels: dict[str, str]) -> None:
    """Example tiles on top; the mean radial power spectra of luma and chroma below (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imgrestore.figures import save_figure
    from imgrestore.realism import radial_profile

    per_row = max(2, (len(examples) + 1) // 2)
    rows = max(1, -(-len(examples) // per_row))
    fig = plt.figure(figsize=(max(12, 2.6 * per_row), 2.8 * rows + 5.5), dpi=100)
    gs = fig.add_gridspec(rows + 1, per_row, height_ratios=[1] * rows + [2.0])
    for j, (title, img) in enumerate(examples):
        ax = fig.add_subplot(gs[j // per_row, j % per_row])
        ax.imshow(np.clip(img, 0, 1), interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    half = per_row // 2
    for k, (plane, name) in enumerate((("Y", "luma Y"), ("C", "chroma Cb+Cr"))):
        ax = fig.add_subplot(gs[rows, k * half:(k + 1) * half if k == 0 else per_row])
        for s, psd in spectra.items():
            f, p = radial_profile(psd[plane])
            ok = np.isfinite(p)
            f, p = f[ok], p[ok]
            ls = "--" if s in ("target", "defocus") else "-"
            ax.loglog(f, p * 255**2, ls, label=labels.get(s, s), lw=1.5)
        for edge in (1 / 64, 1 / 16, 1 / 4):
            ax.axvline(edge, color="0.8", lw=0.8, zorder=0)
        ax.set_xlabel("spatial frequency (cycles/pixel); bands: periods 64 | 16 | 4 px")
        ax.set_ylabel("mean power (levels^2 per bin)")
        ax.set_title(f"mean power spectrum, {name}", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


# -- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="folder holding uhdm_page/ and realscreen/ "
                    "(default $IMGRESTORE_MOIRE_DATA or ../shared/data/moire)")
    ap.add_argument("--spec", default=f"moire:{PREVIOUS_DEFAULTS}",
                    help="the uncalibrated simulator's chain (default: moire with its defaults before the "
                    "calibration, plugins/moire.py PREVIOUS_DEFAULTS)")
    ap.add_argument("--calibrated", default="moire", help="the calibrated simulator's chain (default: moire, "
                    "whose defaults are the calibrated ones)")
    ap.add_argument("--count", type=int, default=16, help="synthetic photos per simulator (default 16)")
    ap.add_argument("--patch", type=int, default=768, help="synthetic photo side (default 768: whole-photo "
                    "statistics, like the real photos; 256 gives the statistics of training crops)")
    ap.add_argument("--tile", type=int, default=256, help="FFT tile side for every image (default 256)")
    ap.add_argument("--uhdm-scale", type=float, default=1.0, help="resize the UHDM photos by this factor first "
                    "(default 1: native resolution)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="write every value here (JSON)")
    ap.add_argument("--figure", type=Path, default=DEFAULT_FIGURE, help=f"figure PNG (default {DEFAULT_FIGURE})")
    ap.add_argument("--no-figure", action="store_true", help="do not draw the figure")
    ap.add_argument("--public-figure", action="store_true",
                    help="show example tiles of the simulators only (the real photos are not ours to publish; "
                    "their spectra, which are statistics, stay)")
    args = ap.parse_args(argv)
    calibrated = args.calibrated
    bad = []
    if args.count < 1:
        bad.append(f"--count {args.count}: expected >= 1")
    if args.patch < 32:
        bad.append(f"--patch {args.patch}: expected >= 32")
    if not 16 <= args.tile <= args.patch:
        bad.append(f"--tile {args.tile}: expected 16 <= tile <= --patch ({args.patch})")
    if not 0.05 <= args.uhdm_scale <= 4:
        bad.append(f"--uhdm-scale {args.uhdm_scale}: expected 0.05-4")
    if bad:
        print(f"moire_realism: error: {bad[0]}", file=sys.stderr)
        return 2
    from imgrestore.chain import Chain
    from imgrestore.errors import UserError

    try:
        for spec in (args.spec, calibrated):  # both understood before loading photos and synthesising
            Chain.parse(spec)
    except UserError as exc:
        print(f"moire_realism: error: {exc}", file=sys.stderr)
        return 2
    real = real_sets(args.data, args.uhdm_scale) if args.data.is_dir() else {}
    if not real or not (real["uhdm"] or real["realscreen"]):
        print(f"moire_realism: no real moiré photos under {args.data} (uhdm_page/*.jpg, realscreen/moire/*.png; "
              "../shared/data is not part of the repository; set --data or IMGRESTORE_MOIRE_DATA); skipped, "
              "nothing written", file=sys.stderr)
        return 0
    small = [n for s in ("uhdm", "realscreen") for n, im in real[s] if min(im.shape[:2]) < args.tile]
    if small:
        print(f"moire_realism: error: real photo {small[0]} is smaller than --tile {args.tile}", file=sys.stderr)
        return 2

    try:
        say(f"synthesising {args.count} pairs of {args.spec!r}")
        d_in, d_tgt = synthetic_pairs(args.spec, args.count, args.patch, args.seed)
        if calibrated.strip() == args.spec.strip():
            c_in = d_in
        else:
            say(f"synthesising {args.count} pairs of {calibrated!r}")
            c_in, _ = synthetic_pairs(calibrated, args.count, args.patch, args.seed)
    except UserError as exc:
        print(f"moire_realism: error: {exc}", file=sys.stderr)
        return 2

    images = {"uhdm": real["uhdm"], "realscreen": real["realscreen"], "default": d_in, "calibrated": c_in,
              "target": d_tgt, "defocus": real["defocus"]}
    sets, spectra = {}, {}
    for name, imgs in images.items():
        if not imgs:
            continue
        if name == "calibrated" and c_in is d_in:
            sets[name], spectra[name] = sets["default"], spectra["default"]
            continue
        say(f"analysing {name}: {len(imgs)} images")
        sets[name], spectra[name] = analyse(imgs, args.tile)
    cols = [("uhdm", f"UHDM ({len(real['uhdm'])})"), ("realscreen", f"realscreen ({len(real['realscreen'])})"),
            ("default", "uncalibrated sim"), ("calibrated", "calibrated sim (defaults)"), ("target", "sim target (ref)"),
            ("defocus", "real defocused (ref)")]
    cols = [c for c in cols if sets.get(c[0])]
    table = build_table(sets, cols)
    print(f"# moire realism: real photos under {args.data} vs default {args.spec!r} and calibrated "
          f"{calibrated!r}; {args.count} pairs of {args.patch}x{args.patch}, seed {args.seed}, tile {args.tile}, "
          f"uhdm scale {args.uhdm_scale:g}")
    print("# ↑ / ↓: the simulator's median lies above / below the range of the real photos")
    print(format_table(table, cols))
    outside = {n: [e["key"] for e in table if e.get(f"{n}_flag")] for n in ("default", "calibrated")}
    for n, keys in outside.items():
        print(f"# {n}: {len(keys)} of {sum(1 for e in table if e['flagged'])} statistics outside the real range"
              + (f": {', '.join(keys)}" if keys else ""))

    from imgrestore.io import write_bytes_atomic
    from imgrestore.realism import radial_profile

    if args.json:
        radial = {}
        for name, psd in spectra.items():
            f, py = radial_profile(psd["Y"])
            _, pc = radial_profile(psd["C"])
            radial[name] = {"freq": f.tolist(), "Y": (py * 255**2).tolist(), "C": (pc * 255**2).tolist()}
        doc = {"command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
               "settings": {"data": str(args.data), "spec": args.spec, "calibrated": calibrated,
                            "count": args.count, "patch": args.patch, "tile": args.tile, "seed": args.seed,
                            "uhdm_scale": args.uhdm_scale},
               "table": [{k: v for k, v in e.items() if k != "fmt"} for e in table],
               "outside": outside, "images": sets, "radial_spectra_levels2": radial}
        write_bytes_atomic(args.json, (json.dumps(_plain(doc), indent=1, allow_nan=False) + "\n").encode())
        say(f"wrote {args.json}")
    if not args.no_figure:
        examples = []
        shown = (("uhdm", "real UHDM"), ("realscreen", "real realscreen"), ("default", "uncalibrated sim"),
                 ("calibrated", "calibrated sim"), ("target", "sim target"))
        for name, title in shown[2:] if args.public_figure else shown:
            for nm, img in images.get(name, [])[:2 if not args.public_figure else 3]:
                examples.append((f"{title} {nm}", centre_crop(img, args.tile)))
        labels = {k: t for k, t in cols}
        draw_figure(args.figure, examples, {k: v for k, v in spectra.items() if k != "calibrated" or c_in is not d_in},
                    labels)
        say(f"wrote {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
