"""Built-in plugin ``awgn``: additive white Gaussian noise (DnCNN's synthetic noise)."""

from __future__ import annotations

from imgrestore.backend import array_module
from imgrestore.degrade import Degradation, Pair, Param, StageContext
from imgrestore.hookspecs import hookimpl


class AWGN(Degradation):
    """y = x + sigma * n, n ~ N(0, 1) i.i.d. per pixel and channel; sigma drawn per image.

    ``sigma`` is on the 8-bit scale (25 means 25/255), as papers quote it; a range such as
    ``0-55`` draws sigma uniformly per image, as DnCNN-B does. Side output ``sigma``: the
    per-pixel noise standard deviation (N, H, W, 1) on the [0, 1] scale, the map noise-level
    estimators are trained against. By default values outside [0, 1] are kept: that is the noise
    model DnCNN and most denoising papers train and test with (clipping at sigma 25 costs DnCNN
    about 0.1 dB on Set12). ``clip=true`` clips; saved 8-bit/16-bit pairs are clipped either way.
    """

    name = "awgn"
    summary = "additive white Gaussian noise, sigma fixed or drawn per image (8-bit scale)"
    params = {
        "sigma": Param(float, 25.0, "noise standard deviation", min=0, max=255, unit="on the 0-255 scale"),
        "clip": Param(bool, False, "clip the noisy image to [0, 1]", random=False),
    }

    def apply(self, pair: Pair, drawn: list[dict], ctx: StageContext) -> Pair:
        x = pair.input
        xp = array_module(x)
        n, h, w, c = x.shape
        sigma = xp.asarray([d["sigma"] / 255.0 for d in drawn], dtype=xp.float32).reshape(n, 1, 1, 1)
        y = x + sigma * ctx.normal(xp, (h, w, c))
        if drawn and drawn[0]["clip"]:
            y = xp.clip(y, 0.0, 1.0)
        pair.input = y.astype(xp.float32, copy=False)
        pair.side["sigma"] = xp.broadcast_to(sigma, (n, h, w, 1)).copy()
        return pair


@hookimpl
def imgrestore_degradations():
    return [AWGN]
