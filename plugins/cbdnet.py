"""Built-in plugin ``cbdnet``: realistic camera noise (Guo et al., CBDNet, CVPR 2019).

The model AINDNet (Kim et al., CVPR 2020) also trains on. Per image:

1. sRGB -> irradiance through the inverse of a camera response f (one of the 201 DoRF curves,
   CBDNet's nearest-bin lookup; see :mod:`imgrestore.crf`);
2. Bayer mosaic in one of four phases, or none (CBDNet skips the mosaic 1 time in 5: the
   default ``pattern`` list has five entries);
3. heteroscedastic Gaussian noise, variance ``L * sigma_s^2 + sigma_c^2`` (the paper's model,
   ``noise=paper``). The official MATLAB code adds ``sigma_s * L * randn``, i.e. variance
   ``sigma_s^2 * L^2 + sigma_c^2``: ``noise=matlab`` selects that. The noisy raw value is
   clipped to [0, 1] (``clip=false`` keeps it, for studying the noise itself);
4. demosaic: Malvar-He-Cutler (what MATLAB's ``demosaic`` implements), or bilinear;
5. back to sRGB through f;
6. JPEG at a quality drawn from 60-100 (``jpeg=false`` skips it).

Side output ``sigma`` (N, H, W, 3): the noise standard deviation each pixel and channel would
have in the sRGB image to first order, ``f'(L) * sigma(L)`` with L = f^-1(clean) and f' the
slope of the response; it ignores the mixing of demosaicing and JPEG. It is the noise-level map
a CBDNet/AINDNet estimator is trained against. Grayscale images take a monochrome-sensor path
(no mosaic; recorded as ``pattern=none``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from imgrestore.backend import array_module
from imgrestore.degrade import Degradation, Pair, Param, StageContext
from imgrestore.errors import SpecError
from imgrestore.hookspecs import hookimpl

PATTERN_CHOICES = ("RGGB", "GRBG", "GBRG", "BGGR", "none")


class CBDNetNoise(Degradation):
    """Camera noise through an inverse-CRF / mosaic / noise / demosaic / CRF / JPEG pipeline."""

    name = "cbdnet"
    summary = "realistic camera noise: inverse CRF, Bayer mosaic, signal-dependent noise, demosaic, CRF, JPEG"
    bench_size = 512
    params = {
        "crf": Param(int, "0-200", "camera response curve index (DoRF: 0-200)", min=0),
        "crf_file": Param(str, "", "DoRF dorfCurves.txt (default: $IMGRESTORE_CRF, else the built-in family)",
                          random=False),
        "pattern": Param(str, ",".join(PATTERN_CHOICES), "Bayer phase, or none (no mosaic)", choices=PATTERN_CHOICES),
        "sigma_s": Param(float, "0-0.16", "signal-dependent noise level", min=0, max=1),
        "sigma_c": Param(float, "0-0.06", "signal-independent noise level", min=0, max=1),
        "per_channel": Param(bool, False, "draw sigma_s and sigma_c for each colour channel", random=False),
        "noise": Param(str, "paper", "variance model: paper L*s^2+c^2, matlab (s*L)^2+c^2",
                       choices=("paper", "matlab"), random=False),
        "clip": Param(bool, True, "clip the noisy raw image to [0, 1]", random=False),
        "demosaic": Param(str, "malvar", "demosaicing method", choices=("malvar", "bilinear"), random=False),
        "jpeg": Param(bool, True, "JPEG-compress the result"),
        "quality": Param(int, "60-100", "JPEG quality factor", min=1, max=100),
        "side": Param(bool, True, "compute the sRGB noise sigma side map", random=False),
    }

    def validate(self) -> None:
        import os

        from imgrestore.crf import ENV, resolve_curves
        from imgrestore.degrade import Value

        if not self._setting("crf_file") and os.environ.get(ENV):
            # record the file the environment chose, so the spec (and a synth run's
            # fingerprint) says which curves were used
            self.settings.values["crf_file"] = Value("fixed", value=os.environ[ENV])
        self.curves = resolve_curves(self._setting("crf_file"))
        crf = self.settings.values["crf"]
        top = max(crf.options) if crf.kind == "choice" else (crf.hi if crf.kind == "range" else crf.value)
        if top >= len(self.curves):
            raise SpecError(f"cbdnet:crf: index {top} out of range; the curve set {self.curves.source} has "
                            f"{len(self.curves)} curves (0-{len(self.curves) - 1})")

    def _setting(self, key: str) -> Any:
        return self.settings.values[key].value

    def draw(self, rng: np.random.Generator) -> dict[str, Any]:
        d = self.settings.draw(rng)
        if d["per_channel"]:  # two more draws per channel, after the shared ones
            for key in ("sigma_s", "sigma_c"):
                d[key] = [self.settings.values[key].draw(rng) for _ in range(3)]
        d.pop("crf_file")
        d["crf_name"] = self.curves.names[d["crf"]]
        d["crf_source"] = self.curves.source
        if not d["jpeg"]:
            d["quality"] = None
        return d

    def apply(self, pair: Pair, drawn: list[dict], ctx: StageContext) -> Pair:
        from imgrestore.kernels.camera import CameraParams, camera_batch

        x = pair.input
        xp = array_module(x)
        n, h, w, c = x.shape
        if c not in (1, 3):
            raise SpecError(f"cbdnet: expected RGB (3 channels) or grayscale (1 channel) images, got {c} channels")
        if h < 2 or w < 2:
            raise SpecError(f"cbdnet: images must be at least 2x2 pixels for the Bayer mosaic, got {h}x{w}")
        if c == 1:
            for d in drawn:
                d["pattern"] = "none"
        params = CameraParams.from_drawn(drawn, ctx.seed, ctx.indices, ctx.stage)
        out, sigma = camera_batch(x.astype(xp.float32, copy=False), self.curves, params,
                                  model=self._setting("noise"), clip=self._setting("clip"),
                                  demosaic=self._setting("demosaic"), want_sigma=self._setting("side"))
        if any(d["jpeg"] for d in drawn):
            from imgrestore.kernels.jpeg import roundtrip

            # on the batch's device (Numba / CUDA); quality 0 leaves a jpeg=false sample as it is
            out = roundtrip(out, [d["quality"] if d["jpeg"] else 0 for d in drawn], "420")
        pair.input = out
        if sigma is not None:
            pair.side["sigma"] = sigma
        return pair


@hookimpl
def imgrestore_degradations():
    return [CBDNetNoise]
