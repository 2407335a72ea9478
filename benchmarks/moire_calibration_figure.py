"""The before/after figure of the moiré calibration (docs/images/moire-calibration.png).

    python benchmarks/moire_calibration_figure.py --realism REALISM.json [--out FILE] [--count 4]

Top rows: synthetic photos of the same screens with the simulator's defaults before the
calibration (``PREVIOUS_DEFAULTS``) and after it, with the moiré-free targets; bottom: the mean
radial power spectra of luma and chroma of the real photos and of both simulators, read from the
JSON of ``benchmarks/moire_realism.py --json`` (statistics only: the real photos themselves are
not ours to publish and are not drawn).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from moire_realism import synthetic_pairs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LABELS = {"uhdm": "real: UHDM phone photos", "realscreen": "real: realscreen", "default": "before calibration",
          "calibrated": "after calibration (defaults)"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realism", type=Path, required=True, help="JSON written by moire_realism.py --json")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "moire-calibration.png")
    ap.add_argument("--count", type=int, default=4, help="example photos per simulator")
    ap.add_argument("--patch", type=int, default=192)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args(argv)
    try:
        doc = json.loads(args.realism.read_text())
        radial = doc["radial_spectra_levels2"]
        specs = doc["settings"]["spec"], doc["settings"]["calibrated"]
    except (OSError, ValueError, KeyError) as exc:
        print(f"moire_calibration_figure: error: --realism {args.realism}: not a moire_realism.py JSON ({exc})",
              file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imgrestore.figures import save_figure

    before, _ = synthetic_pairs(specs[0], args.count, args.patch, args.seed)
    after, targets = synthetic_pairs(specs[1], args.count, args.patch, args.seed)
    rows = (("before", before), ("after", after), ("target (after)", targets))
    n = args.count
    fig = plt.figure(figsize=(2.2 * n, 2.2 * 3 + 3.4), dpi=90)
    gs = fig.add_gridspec(4, n, height_ratios=[1, 1, 1, 1.6])
    for r, (title, imgs) in enumerate(rows):
        for j, (_, img) in enumerate(imgs[:n]):
            ax = fig.add_subplot(gs[r, j])
            ax.imshow(np.clip(img, 0, 1), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(title, fontsize=9)
    half = n // 2
    for k, (plane, name) in enumerate((("Y", "luma"), ("C", "chroma"))):
        ax = fig.add_subplot(gs[3, k * half:(k + 1) * half if k == 0 else n])
        for key in ("uhdm", "realscreen", "default", "calibrated"):
            if key not in radial:
                continue
            f, p = np.array(radial[key]["freq"], float), np.array(radial[key][plane], dtype=float)
            ok = np.isfinite(p) & (p > 0)
            ax.loglog(f[ok], p[ok], "--" if key in ("uhdm", "realscreen") else "-", label=LABELS[key], lw=1.4)
        ax.set_xlabel("cycles/pixel")
        ax.set_title(f"mean power spectrum, {name}", fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    size = save_figure(fig, args.out)
    plt.close(fig)
    print(f"wrote {args.out} ({size // 1024} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
