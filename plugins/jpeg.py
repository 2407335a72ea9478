"""Built-in plugin ``jpeg``: JPEG compression at a fixed or drawn quality, decoded back."""

from __future__ import annotations

import io

import numpy as np

from imgrestore.backend import array_module, to_numpy
from imgrestore.degrade import Degradation, Pair, Param, StageContext
from imgrestore.hookspecs import hookimpl


def jpeg_roundtrip(img: np.ndarray, quality: int, subsampling: str = "420") -> np.ndarray:
    """Encode one float HWC image in [0, 1] as 8-bit JPEG with libjpeg (Pillow) and decode it."""
    from PIL import Image

    u8 = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    gray = u8.shape[2] == 1
    im = Image.fromarray(u8[..., 0] if gray else u8, mode="L" if gray else "RGB")
    buf = io.BytesIO()
    sub = {"444": 0, "422": 1, "420": 2}[subsampling]
    im.save(buf, format="JPEG", quality=int(quality), subsampling=sub)
    buf.seek(0)
    out = np.asarray(Image.open(buf), dtype=np.float32) / 255.0
    return out[..., None] if gray else out


class JPEG(Degradation):
    """JPEG compression artefacts (libjpeg via Pillow, baseline, standard tables).

    ``quality`` is the libjpeg quality factor 1-100, fixed or a range drawn per image (e.g.
    ``30-95``). ``subsampling`` is the chroma subsampling of colour images. Runs on the CPU:
    on a GPU backend the batch is copied to the host and back.
    """

    name = "jpeg"
    summary = "JPEG compression at a fixed or drawn quality (1-100), decoded back to float"
    params = {
        "quality": Param(int, 90, "libjpeg quality factor", min=1, max=100),
        "subsampling": Param(str, "420", "chroma subsampling", choices=("420", "422", "444")),
    }

    def apply(self, pair: Pair, drawn: list[dict], ctx: StageContext) -> Pair:
        xp = array_module(pair.input)
        host = to_numpy(pair.input)
        out = np.stack([jpeg_roundtrip(img, d["quality"], d["subsampling"]) for img, d in zip(host, drawn)])
        pair.input = xp.asarray(out, dtype=xp.float32)
        return pair


@hookimpl
def imgrestore_degradations():
    return [JPEG]
