"""imgrestore-blur: Gaussian blur as an imgrestore degradation plugin (an example to copy)."""

from __future__ import annotations

import numpy as np

from imgrestore.backend import array_module
from imgrestore.degrade import Degradation, Pair, Param, StageContext
from imgrestore.hookspecs import hookimpl


def gaussian_kernel(sigma: float, radius: int | None = None) -> np.ndarray:
    """Normalised 1-D Gaussian taps; radius defaults to ceil(3 sigma)."""
    r = int(np.ceil(3 * sigma)) if radius is None else radius
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / max(sigma, 1e-6)) ** 2)
    return (k / k.sum()).astype(np.float32)


def _blur_axis(xp, img, taps, axis):
    r = len(taps) // 2
    pad = [(0, 0)] * img.ndim
    pad[axis] = (r, r)
    p = xp.pad(img, pad, mode="reflect")
    out = xp.zeros_like(img)
    n = img.shape[axis]
    for k, t in enumerate(taps):
        sl = [slice(None)] * img.ndim
        sl[axis] = slice(k, k + n)
        out += float(t) * p[tuple(sl)]
    return out


class Blur(Degradation):
    """Separable isotropic Gaussian blur; sigma in pixels, fixed or drawn per image."""

    name = "blur"
    summary = "isotropic Gaussian blur, sigma in pixels (example third-party plugin)"
    params = {"sigma": Param(float, 1.0, "Gaussian standard deviation", min=0.1, max=10, unit="pixels")}

    def apply(self, pair: Pair, drawn: list[dict], ctx: StageContext) -> Pair:
        xp = array_module(pair.input)
        out = []
        for img, d in zip(pair.input, drawn):
            taps = gaussian_kernel(d["sigma"])
            out.append(_blur_axis(xp, _blur_axis(xp, img, taps, 0), taps, 1))
        pair.input = xp.stack(out).astype(xp.float32)
        return pair


@hookimpl
def imgrestore_degradations():
    return [Blur]


@hookimpl
def imgrestore_commands():
    import click

    @click.command("blur-kernel")
    @click.option("--sigma", type=float, default=1.0, show_default=True, help="Standard deviation in pixels.")
    def blur_kernel(sigma: float) -> None:
        """Print the 1-D Gaussian taps the blur degradation uses."""
        click.echo(" ".join(f"{t:.5f}" for t in gaussian_kernel(sigma)))

    return [blur_kernel]
