"""Built-in plugin ``awgn``: additive white Gaussian noise (DnCNN's synthetic noise)."""

from __future__ import annotations

import numpy as np

from imgrestore.backend import array_module, on_device_of
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
    ``n`` is :meth:`StageContext.normal`'s field (Philox, keyed by seed, sample and stage): the
    same bits on the CPU and the GPU.
    """

    name = "awgn"
    same_on_every_backend = True  # Philox + float32 Box-Muller, fused add (tests/test_noise_backends.py)
    summary = "additive white Gaussian noise, sigma fixed or drawn per image (8-bit scale)"
    params = {
        "sigma": Param(float, 25.0, "noise standard deviation", min=0, max=255, unit="on the 0-255 scale"),
        "clip": Param(bool, False, "clip the noisy image to [0, 1]", random=False),
    }

    def apply(self, pair: Pair, drawn: list[dict], ctx: StageContext) -> Pair:
        from imgrestore.kernels.noise import awgn

        x = pair.input
        xp = array_module(x)
        n, h, w, c = x.shape
        sigma = np.asarray([d["sigma"] / 255.0 for d in drawn], dtype=np.float32)
        # one fused pass (one launch on the GPU); the normals are ctx.normal's, on every backend
        pair.input = awgn(x, sigma, ctx.keys(), clip=bool(drawn and drawn[0]["clip"]))
        with on_device_of(x):
            pair.side["sigma"] = xp.broadcast_to(xp.asarray(sigma).reshape(n, 1, 1, 1), (n, h, w, 1)).copy()
        return pair


@hookimpl
def imgrestore_degradations():
    return [AWGN]
