"""Built-in plugin ``bicubic``: MATLAB-exact ``imresize`` bicubic downscaling."""

from __future__ import annotations

from imgrestore.backend import array_module
from imgrestore.degrade import Degradation, Pair, Param, StageContext
from imgrestore.hookspecs import hookimpl


class Bicubic(Degradation):
    """Downscale by ``scale`` exactly as MATLAB ``imresize(x, 1/scale)`` (bicubic, antialiased).

    Cubic kernel with a = -0.5, widened by the scale when shrinking (antialiasing), symmetric
    edge padding, output size ceil(n / scale); clipped to [0, 1] unless ``clip=false``. ``scale`` may be any factor > 0 (2, 3, 4, 1.5;
    below 1 it upscales). Numba kernel on CPU, CUDA kernel on GPU. Side outputs of earlier
    stages are resized with the same kernel so they stay aligned with the input.
    """

    name = "bicubic"
    summary = "MATLAB-exact imresize bicubic downscaling by any factor (Numba / CUDA)"
    bench_size = 2048
    params = {
        "scale": Param(float, 4.0, "downscaling factor", min=0, min_open=True, max=64, random=False),
        "clip": Param(bool, True, "clip the result to [0, 1] (bicubic overshoots at sharp edges)", random=False),
    }

    @property
    def factor(self) -> float:
        return float(self.settings.values["scale"].value)

    def output_size(self, in_hw: tuple[int, int]) -> tuple[int, int]:
        from imgrestore.kernels.resize import output_size

        return output_size(in_hw[0], 1.0 / self.factor), output_size(in_hw[1], 1.0 / self.factor)

    def apply(self, pair: Pair, drawn: list[dict], ctx: StageContext) -> Pair:
        from imgrestore.kernels.resize import imresize

        pair.input = imresize(pair.input, 1.0 / self.factor)
        if self.settings.values["clip"].value:
            xp = array_module(pair.input)
            pair.input = xp.clip(pair.input, 0.0, 1.0, out=pair.input)
        pair.side = {k: imresize(v, 1.0 / self.factor) for k, v in pair.side.items()}
        return pair


@hookimpl
def imgrestore_degradations():
    return [Bicubic]
