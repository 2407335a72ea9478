"""Draw the README's picture: synthetic moiré pairs (input | target) from our own simulator.

    python docs/images/make_moire_pair.py [--out docs/images/moire-pair.png]

Every pixel comes from ``imgrestore synth`` on screens rendered in code (no photo of anyone's),
so the picture may be redistributed with the repository. The spec puts the pitch ratio k near 2,
where the red and blue sites' lattice nearly matches the subpixel pitch and the colour moiré
becomes large swirls (see docs/moire.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SPEC = "moire:k=1.85-2.15"
SEED = 0
PICK = (0, 4)  # pair indices shown: a document page and a photo in a viewer
SIDE = 256
GAP = 4
LABEL_H = 18


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("moire-pair.png"))
    args = ap.parse_args(argv)

    from PIL import Image, ImageDraw

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "imgrestore", "synth", SPEC, "--out", tmp, "--count", str(max(PICK) + 1),
               "--patch", str(SIDE), "--seed", str(SEED), "--device", "cpu"]
        subprocess.run(cmd, check=True)
        cells = [[Image.open(Path(tmp) / kind / f"{i:08d}.png").convert("RGB") for kind in ("input", "target")]
                 for i in PICK]
        width = 2 * SIDE + GAP
        height = LABEL_H + len(cells) * SIDE + (len(cells) - 1) * GAP
        canvas = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(canvas)
        for col, label in enumerate(("input: simulated photo of an LCD", "target: the screen, same geometry")):
            draw.text((col * (SIDE + GAP) + 4, 3), label, fill="black")
        for row, pair in enumerate(cells):
            for col, img in enumerate(pair):
                canvas.paste(img, (col * (SIDE + GAP), LABEL_H + row * (SIDE + GAP)))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        part = args.out.with_name(args.out.name + ".part")
        canvas.save(part, format="PNG", optimize=True)
        os.replace(part, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
