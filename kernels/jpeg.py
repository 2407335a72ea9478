"""The JPEG round trip on a batch: decode(encode(x)) as Pillow/libjpeg-turbo gives it, byte for byte.

Per sample of an NHWC float32 batch in [0, 1]: ``u8 = clip(rint(x * 255), 0, 255)``, then
libjpeg's encoder and decoder without the (lossless) entropy coding: RGB -> YCbCr, edge
replication to whole MCUs, chroma downsampling, slow integer DCT, quantization with the
quality-scaled standard tables, dequantization, slow integer IDCT, fancy upsampling,
YCbCr -> RGB (every step and rounding: ``jpeg_numpy.py``); the result is ``u8 / 255`` in
float32. One channel is a gray JPEG (luminance table only).

Backends: ``numpy`` (the oracle, image by image), ``numba`` (CPU kernel, default for NumPy
input), ``cuda`` (default for CuPy input; ``jpeg_cuda.py``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from imgrestore.backend import array_module
from imgrestore.errors import SpecError
from imgrestore.kernels.jpeg_numpy import SUBSAMPLING

BACKENDS = ("numpy", "numba", "cuda")


def per_sample(quality: int | Sequence[int], subsampling: str | Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(N,) int32 qualities and subsampling codes, validated (a one-line SpecError otherwise).

    Quality 0 marks a sample that is passed through unchanged; 1-100 compress.
    """
    qs = [quality] * n if np.isscalar(quality) else list(quality)
    subs = [subsampling] * n if isinstance(subsampling, str) or np.isscalar(subsampling) else list(subsampling)
    if len(qs) != n or len(subs) != n:
        raise SpecError(f"jpeg: got {len(qs)} qualities and {len(subs)} subsamplings for a batch of {n}")
    for q in qs:
        try:
            ok = not isinstance(q, (bool, np.bool_, str)) and float(q).is_integer() and 0 <= float(q) <= 100
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise SpecError(f"jpeg: quality must be an integer 1-100 (0 = no compression), got {q!r}")
    for s in subs:
        if s not in SUBSAMPLING:
            raise SpecError(f"jpeg: subsampling must be one of {', '.join(SUBSAMPLING)}, got {s!r}")
    return np.array(qs, np.int32), np.array([SUBSAMPLING[s] for s in subs], np.int32)


def roundtrip_numba(x: np.ndarray, quality: np.ndarray, sub: np.ndarray) -> np.ndarray:
    """The Numba kernel on a float32 NHWC batch (see ``jpeg_numba.roundtrip``)."""
    from imgrestore.kernels.jpeg_numba import roundtrip

    return roundtrip(x, quality, sub)


def roundtrip_numpy(x: np.ndarray, quality: np.ndarray, sub: np.ndarray) -> np.ndarray:
    """The oracle, image by image, with the plugin's float <-> uint8 conversion."""
    from imgrestore.kernels.jpeg_numpy import roundtrip_u8

    names = {v: k for k, v in SUBSAMPLING.items()}
    out = np.empty(x.shape, np.float32)
    for k, img in enumerate(x):
        if quality[k] == 0:
            out[k] = img
            continue
        u8 = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
        out[k] = roundtrip_u8(u8, int(quality[k]), names[int(sub[k])]).astype(np.float32) / 255.0
    return out


def roundtrip(x: Any, quality: int | Sequence[int], subsampling: str | Sequence[str] = "420",
              backend: str | None = None) -> Any:
    """decode(encode(x)) of a float32 NHWC batch (NumPy or CuPy), 1 or 3 channels.

    ``quality`` (1-100, 0 = leave the sample unchanged) and ``subsampling`` ('444', '422',
    '420'; ignored for 1 channel) are one value or one per sample. ``backend`` defaults to
    ``numba`` for NumPy input and ``cuda`` for CuPy input. Returns a new float32 array on the
    input's device.
    """
    xp = array_module(x)
    if x.ndim != 4 or x.shape[3] not in (1, 3):
        raise SpecError(f"jpeg: expected an (N, H, W, 1|3) batch, got shape {tuple(x.shape)}")
    n = x.shape[0]
    q, sub = per_sample(quality, subsampling, n)
    backend = backend or ("numba" if xp is np else "cuda")
    if backend not in BACKENDS:
        raise SpecError(f"jpeg: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "cuda":
        from imgrestore.kernels import jpeg_cuda

        return jpeg_cuda.roundtrip(xp.ascontiguousarray(x, dtype=xp.float32), q, sub)
    if xp is not np:
        raise SpecError(f"jpeg: backend {backend!r} runs on NumPy arrays, got a {type(x).__module__} array")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if backend == "numpy":
        return roundtrip_numpy(x, q, sub)
    return roundtrip_numba(x, q, sub)
