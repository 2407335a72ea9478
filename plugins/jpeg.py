"""Built-in plugin ``jpeg``: JPEG compression at a fixed or drawn quality, decoded back.

The round trip is computed by the JPEG kernels (:mod:`imgrestore.kernels.jpeg`): libjpeg-turbo's
arithmetic as Pillow calls it, byte for byte, without the lossless entropy coding; Numba on the
CPU, CUDA on the GPU (no host round trip). Pillow remains the reference in the tests.
"""

from __future__ import annotations

from imgrestore.degrade import Degradation, Pair, Param, StageContext
from imgrestore.hookspecs import hookimpl


def jpeg_roundtrip(img, quality: int, subsampling: str = "420"):
    """decode(encode(img)) of one float HWC image in [0, 1] (NumPy or CuPy), as Pillow gives it.

    The image is quantized to 8 bits (``clip(rint(img * 255), 0, 255)``), JPEG-compressed at
    libjpeg quality ``quality`` (1-100) with chroma ``subsampling`` ('420', '422', '444';
    ignored for 1 channel) and decoded; returns float32 ``u8 / 255`` of the same shape.
    """
    from imgrestore.kernels.jpeg import roundtrip

    return roundtrip(img[None], int(quality), subsampling)[0]


class JPEG(Degradation):
    """JPEG compression artefacts (libjpeg-turbo's baseline round trip, standard tables).

    ``quality`` is the libjpeg quality factor 1-100, fixed or a range drawn per image (e.g.
    ``30-95``). ``subsampling`` is the chroma subsampling of colour images. The whole batch
    goes through the JPEG kernels on the device it lives on (Numba on the CPU, CUDA on a GPU);
    the decoded pixels equal Pillow's encode -> decode byte for byte.
    """

    name = "jpeg"
    summary = "JPEG compression at a fixed or drawn quality (1-100), decoded back to float"
    params = {
        "quality": Param(int, 90, "libjpeg quality factor", min=1, max=100),
        "subsampling": Param(str, "420", "chroma subsampling", choices=("420", "422", "444")),
    }

    def apply(self, pair: Pair, drawn: list[dict], ctx: StageContext) -> Pair:
        from imgrestore.kernels.jpeg import roundtrip

        pair.input = roundtrip(pair.input, [d["quality"] for d in drawn], [d["subsampling"] for d in drawn])
        return pair


@hookimpl
def imgrestore_degradations():
    return [JPEG]
