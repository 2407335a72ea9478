"""Gaussian noise that is the same on every backend: per-sample Philox fields and fused AWGN.

Dispatches on the array type: NumPy inputs run the Numba kernels (``noise_numba.py``), CuPy
inputs the CUDA kernels (``noise.cu`` via ``noise_cuda.py``); :func:`normal_fields_numpy` is
the oracle both are tested against. Keys come from :func:`imgrestore.rng.sample_keys`, so a
field depends on (seed, sample index, stage, stream) only. Counter layout: see ``philox.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from imgrestore.backend import array_module, on_device_of

Array = Any  # numpy.ndarray or cupy.ndarray


def _keys(keys) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(keys, dtype=np.uint64).reshape(-1, 2) & np.uint64(0xFFFFFFFF), np.uint32)


def normal_fields(xp, keys, shape: tuple[int, ...], stream: int = 0) -> Array:
    """Standard normals of shape (len(keys), *shape), float32, one field per key, on ``xp``."""
    k = _keys(keys)
    per = math.prod(shape)
    if xp is not np:
        from imgrestore.kernels import noise_cuda

        out = xp.empty((len(k), per), dtype=xp.float32)
        if out.size:
            noise_cuda.normal_fields(k, per, stream, out)
        return out.reshape((len(k), *shape))
    from imgrestore.kernels import noise_numba

    out = np.empty((len(k), per), dtype=np.float32)
    if out.size:
        noise_numba.normal_fields(out, k, np.uint32(stream))
    return out.reshape((len(k), *shape))


def awgn(x: Array, sigma, keys, clip: bool = False, stream: int = 0) -> Array:
    """``x + sigma[s] * n_s`` for each sample ``s`` of the NHWC batch ``x`` (float32), clipped to
    [0, 1] if ``clip``; ``n_s`` is :func:`normal_fields` of ``keys[s]``. One pass, one launch."""
    n, per = x.shape[0], math.prod(x.shape[1:])
    k = _keys(keys)
    sg = np.ascontiguousarray(np.asarray(sigma, dtype=np.float32).reshape(-1))
    if len(k) != n or len(sg) != n:
        raise ValueError(f"awgn: {n} samples but {len(k)} keys and {len(sg)} sigmas")
    xp = array_module(x)
    if xp is not np:
        from imgrestore.kernels import noise_cuda

        with on_device_of(x):
            flat = xp.ascontiguousarray(x, dtype=xp.float32).reshape(n, per)
            out = xp.empty_like(flat)
            if out.size:
                noise_cuda.awgn(flat, sg, k, stream, clip, out)
        return out.reshape(x.shape)
    from imgrestore.kernels import noise_numba

    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(n, per)
    out = np.empty_like(flat)
    if out.size:
        noise_numba.awgn(flat, sg, k, np.uint32(stream), bool(clip), out)
    return out.reshape(x.shape)


# -- NumPy oracle ------------------------------------------------------------------------------
def normal_fields_numpy(keys, shape: tuple[int, ...], stream: int = 0) -> np.ndarray:
    """NumPy statement of :func:`normal_fields` (the test oracle)."""
    from imgrestore.kernels.philox import normals_numpy

    per = math.prod(shape)
    k = _keys(keys)
    return np.stack([normals_numpy(per, (int(a), int(b)), stream) for a, b in k]).reshape((len(k), *shape)) \
        if len(k) else np.empty((0, *shape), np.float32)


def awgn_numpy(x: np.ndarray, sigma, keys, clip: bool = False, stream: int = 0) -> np.ndarray:
    """NumPy statement of :func:`awgn` (the test oracle)."""
    z = normal_fields_numpy(keys, x.shape[1:], stream)
    sg = np.asarray(sigma, dtype=np.float32).reshape((-1,) + (1,) * (x.ndim - 1))
    y = x.astype(np.float32) + sg * z
    return np.clip(y, np.float32(0), np.float32(1)) if clip else y
