"""MATLAB-exact bicubic ``imresize`` for float32 NHWC batches: weight tables, a NumPy oracle, dispatch.

Ours because no library reproduces MATLAB's antialiased bicubic (torch, Pillow, skimage differ at edges and scale).

MATLAB's ``imresize(A, scale)`` (method 'bicubic', antialiasing on) is the reference degradation of
super-resolution papers; results are only comparable to published figures when it is reproduced
exactly. It is separable: every output sample along one axis is a weighted sum of a few input
samples, given by a table of indices and weights per axis (:func:`resize_weights`). The tables are
computed here once, in float64, exactly as MATLAB's ``contributions`` does; the kernels (Numba on
CPU, CUDA via CuPy on GPU) only apply them. Importing this module is cheap: numba and cupy are
imported on first use.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import numpy as np

# MATLAB's bicubic kernel has support [-2, 2] (Keys cubic, a = -0.5).
_KERNEL_WIDTH = 4.0


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``), evaluated elementwise."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1.0)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1.0) & (ax <= 2.0))
    return inner + outer


def output_size(in_len: int, scale: float) -> int:
    """Output length ``ceil(scale * in_len)`` (MATLAB's rule), robust to float error in ``scale``.

    A product that is an integer up to float error (``30 * 0.1 == 3.0000000000000004``) counts as that
    integer, so ``scale = 1 / factor`` gives ``in_len / factor`` whenever that divides evenly.
    """
    if in_len < 1 or not scale > 0:
        raise ValueError(f"output_size: need in_len >= 1 and scale > 0, got {in_len}, {scale}")
    p = float(scale) * int(in_len)
    r = round(p)
    if abs(p - r) <= 1e-9 * max(1.0, p):
        return max(1, int(r))
    return max(1, math.ceil(p))


@functools.lru_cache(maxsize=128)
def _weights_cached(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    # Follows MATLAB's imresize>contributions line by line, in 1-based coordinates, in float64.
    width = _KERNEL_WIDTH
    if scale < 1.0:  # antialiasing: stretch the kernel by 1/scale and keep its integral at 1
        width = _KERNEL_WIDTH / scale

        def h(t: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * t)
    else:
        h = _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)[:, None]
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # output sample centre, in input coordinates
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    ind = left + np.arange(taps, dtype=np.float64)[None, :]  # 1-based, may fall outside [1, in_len]
    w = h(u - ind)
    w = w / w.sum(axis=1, keepdims=True)
    # Symmetric padding: aux = [1..n, n..1] indexed modulo 2n (0-based here: [0..n-1, n-1..0]).
    m = np.mod(ind.astype(np.int64) - 1, 2 * in_len)
    ind0 = np.where(m < in_len, m, 2 * in_len - 1 - m)
    keep = np.any(w != 0.0, axis=0)  # MATLAB drops tap columns that are zero for every output
    ind0 = np.ascontiguousarray(ind0[:, keep], dtype=np.int32)
    w = np.ascontiguousarray(w[:, keep])
    ind0.setflags(write=False)
    w.setflags(write=False)
    return ind0, w


def resize_weights(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``imresize`` contributions along one axis: ``(indices, weights)``, each ``[out_len, taps]``.

    ``out[i] = sum_k weights[i, k] * in[indices[i, k]]`` with 0-based int32 indices (mirrored at the
    edges by MATLAB's symmetric rule) and float64 weights whose rows sum to 1. For ``scale < 1``
    the cubic is widened to ``4 / scale`` input samples (antialiasing). The arrays are cached and
    read-only.
    """
    if in_len < 1 or out_len < 1 or not scale > 0:
        raise ValueError(f"resize_weights: need lengths >= 1 and scale > 0, got {in_len}, {out_len}, {scale}")
    return _weights_cached(int(in_len), int(out_len), float(scale))


def _axis_scales(scale: float | Sequence[float]) -> tuple[float, float]:
    if isinstance(scale, (int, float, np.floating, np.integer)):
        s = float(scale)
        return s, s
    sh, sw = (float(v) for v in scale)
    return sh, sw


def plan(
    in_hw: tuple[int, int], scale: float | Sequence[float] | None, out_hw: tuple[int, int] | None = None
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Per-axis work list ``[(axis, indices, weights), ...]`` in MATLAB's order of dimensions.

    ``axis`` is 1 (H) or 2 (W) of an NHWC array. With ``scale=None`` the scales are ``out / in`` per
    axis, as MATLAB derives them from an output size. MATLAB resizes the dimension with the smaller
    scale first (a stable sort of the scales, so rows first on ties); the order matters only to rounding.
    """
    h, w = int(in_hw[0]), int(in_hw[1])
    if scale is None:
        if out_hw is None:
            raise ValueError("imresize: give a scale or an output size")
        scale = (out_hw[0] / h, out_hw[1] / w)
    sh, sw = _axis_scales(scale)
    if not (sh > 0 and sw > 0):
        raise ValueError(f"imresize: scale must be > 0, got {scale!r}")
    if out_hw is None:
        out_hw = (output_size(h, sh), output_size(w, sw))
    oh, ow = int(out_hw[0]), int(out_hw[1])
    steps = {1: (1, *resize_weights(h, oh, sh)), 2: (2, *resize_weights(w, ow, sw))}
    order = (2, 1) if sw < sh else (1, 2)
    return [steps[a] for a in order]


def _check_nhwc(x: Any) -> None:
    if getattr(x, "ndim", None) != 4:
        raise ValueError(f"imresize: expected an NHWC array (4 dimensions), got shape {getattr(x, 'shape', None)}")


def imresize(x: Any, scale: float | Sequence[float] | None, out_hw: tuple[int, int] | None = None) -> Any:
    """MATLAB ``imresize(x, scale)`` bicubic of a float32 NHWC batch, on the array's own backend.

    ``scale`` is MATLAB's factor (0.25 shrinks by 4, 4 enlarges), one float or ``(scale_h, scale_w)``;
    ``out_hw`` overrides the output size (``ceil(scale * size)`` by default) while ``scale`` still
    sets the kernel; ``scale=None`` with ``out_hw`` uses ``out / in`` per axis, like MATLAB's size
    form. NumPy arrays run the Numba kernels, CuPy arrays the CUDA kernels. The result is float32
    NHWC and is not clipped: bicubic overshoots [0, 1] next to sharp edges, as MATLAB's double does.
    """
    _check_nhwc(x)
    steps = plan(x.shape[1:3], scale, out_hw)
    if type(x).__module__.startswith("cupy"):
        from imgrestore.kernels.resize_cuda import resize_cuda

        return resize_cuda(x, steps)
    from imgrestore.kernels.resize_numba import resize_numba

    return resize_numba(np.asarray(x), steps)


def imresize_numpy(x: np.ndarray, scale: float | Sequence[float] | None, out_hw: tuple[int, int] | None = None) -> np.ndarray:
    """The same resize in plain NumPy (gather + weighted sum, float64): the tests' oracle and a benchmark peer."""
    _check_nhwc(x)
    y = np.asarray(x, dtype=np.float64)
    for axis, ind, w in plan(y.shape[1:3], scale, out_hw):
        shape = [1, 1, 1, 1]
        shape[axis] = -1
        acc = np.zeros(y.shape[:axis] + (ind.shape[0],) + y.shape[axis + 1:], dtype=np.float64)
        for k in range(ind.shape[1]):
            acc += w[:, k].reshape(shape) * np.take(y, ind[:, k], axis=axis)
        y = acc
    return y.astype(np.float32)
