"""The CBDNet camera pipeline on a batch: dispatch to the Numba (CPU) or CUDA (GPU) kernels.

Per sample ``s`` of an NHWC float32 batch in [0, 1] (see ``camera_numpy.py`` for each step):

1. irradiance ``L = f^-1(x)`` (nearest-bin lookup in curve ``crf[s]``);
2. Bayer mosaic with ``pattern[s]`` (0 RGGB, 1 GRBG, 2 GBRG, 3 BGGR; 4 = none);
3. ``L + sigma(L) * z``, ``z`` from the sample's Philox stream (``keys[s]``), clipped to [0, 1];
4. demosaic (Malvar-He-Cutler or bilinear);
5. back through ``f``.

The CPU and GPU kernels compute the same float32 operations in the same order, so with noise
off they agree bit for bit; with noise on they draw the same Philox words and differ only by
the last bits of the float32 log/sin/cos of each math library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from imgrestore.backend import array_module, on_device_of
from imgrestore.kernels.camera_numpy import NO_MOSAIC, PATTERNS, RED_SITE

DEMOSAIC_METHODS = ("malvar", "bilinear")
NOISE_MODELS = ("paper", "matlab")


@dataclass
class CameraParams:
    """Per-sample settings of one batch (host arrays; copied to the GPU when needed)."""

    crf: np.ndarray  # (N,) int32 curve index
    pattern: np.ndarray  # (N,) int32, 0-3 Bayer phase, 4 no mosaic
    sigma_s: np.ndarray  # (N, 3) float32 per channel
    sigma_c: np.ndarray  # (N, 3) float32
    keys: np.ndarray  # (N, 2) uint32 Philox key of each sample's noise

    @classmethod
    def build(cls, crf, pattern, sigma_s, sigma_c, keys) -> "CameraParams":
        n = len(crf)
        as3 = lambda v: np.broadcast_to(np.asarray(v, np.float32).reshape(n, -1), (n, 3)).copy()  # noqa: E731
        return cls(
            np.asarray(crf, np.int32).reshape(n),
            np.asarray(pattern, np.int32).reshape(n),
            as3(sigma_s),
            as3(sigma_c),
            np.asarray(keys, np.uint32).reshape(n, 2),
        )

    @classmethod
    def from_drawn(cls, drawn: list[dict], seed: int, indices, stage: int) -> "CameraParams":
        """The batch's settings from the cbdnet stage's per-sample draws and noise keys."""
        from imgrestore.kernels.philox import sample_key

        return cls.build(
            crf=[d["crf"] for d in drawn],
            pattern=[pattern_index(d["pattern"]) for d in drawn],
            sigma_s=[d["sigma_s"] for d in drawn],
            sigma_c=[d["sigma_c"] for d in drawn],
            keys=[sample_key(seed, i, stage) for i in indices],
        )

    @property
    def red(self) -> np.ndarray:
        """(N, 2) row/column of the red site in the 2x2 block (0, 0 for no mosaic)."""
        return np.array([RED_SITE[p] if p < NO_MOSAIC else (0, 0) for p in self.pattern], np.int32).reshape(-1, 2)


def pattern_index(name: str) -> int:
    """0-3 for RGGB/GRBG/GBRG/BGGR, 4 for 'none'."""
    if name == "none":
        return NO_MOSAIC
    if name not in PATTERNS:
        raise ValueError(f"Bayer pattern must be one of {', '.join(PATTERNS)} or none, got {name!r}")
    return PATTERNS.index(name)


def _noise_tables(curves, params: CameraParams, model: int, want_sigma: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per sample and channel, noise std and sRGB sigma of each of the 1024 levels f^-1(bin)
    (the Numba kernels read these instead of recomputing them per pixel; same bits)."""
    from imgrestore.kernels.camera_numba import BINS, noise_tables

    n = len(params.crf)
    sd = np.empty((n, 3, BINS), np.float32)
    sg = np.empty((n if want_sigma else 0, 3, BINS), np.float32)
    noise_tables(curves.inverse, curves.slope, params.crf, params.sigma_s, params.sigma_c, model, sd, sg)
    return sd, sg


def _noisy(params: CameraParams, channels: int) -> np.ndarray:
    """(N,) bool: does sample s draw noise (a noise level above 0 in one of its channels)."""
    return (params.sigma_s[:, :channels] > 0).any(axis=1) | (params.sigma_c[:, :channels] > 0).any(axis=1)


def camera_batch(
    x: Any,
    curves,
    params: CameraParams,
    model: str = "paper",
    clip: bool = True,
    demosaic: str = "malvar",
    want_sigma: bool = True,
) -> tuple[Any, Any | None]:
    """Run steps 1-5 on an NHWC batch (numpy or CuPy): (output, sRGB sigma map or None).

    Channels must be 3, or 1 (a monochrome sensor: every sample takes the no-mosaic path).
    """
    xp = array_module(x)
    n, h, w, c = x.shape
    if c not in (1, 3):
        raise ValueError(f"cbdnet: expected 1 or 3 channels, got {c}")
    pattern = params.pattern if c == 3 else np.full(n, NO_MOSAIC, np.int32)
    if (h < 2 or w < 2) and np.any(pattern < NO_MOSAIC):
        raise ValueError(f"camera_batch: a Bayer mosaic needs at least 2x2 pixels, got {h}x{w}")
    mos = np.flatnonzero(pattern < NO_MOSAIC).astype(np.int32)
    full = np.flatnonzero(pattern == NO_MOSAIC).astype(np.int32)
    # C-contiguous float32 whatever the layout of x (a broadcast or strided view): the kernels
    # index the outputs as dense NHWC
    with on_device_of(x):
        out = xp.empty(x.shape, xp.float32)
        sigma = xp.empty(x.shape, xp.float32) if want_sigma else xp.empty((0, 1, 1, 1), xp.float32)
    m = NOISE_MODELS.index(model)
    meth = DEMOSAIC_METHODS.index(demosaic)
    if xp is np:
        from imgrestore.kernels import camera_numba as k

        x = np.ascontiguousarray(x, dtype=np.float32)
        sd, sg = _noise_tables(curves, params, m, want_sigma)
        noisy = _noisy(params, c)
        k.camera_pipeline(x, mos, full, curves.inverse, curves.forward, params.crf, params.red, sd, sg, params.keys,
                          noisy, clip, meth, k.BAND, out, sigma)
    else:
        from imgrestore.kernels import camera_cuda

        camera_cuda.camera_batch(x, curves, params, mos, full, m, clip, meth, out, sigma)
    return out, (sigma if want_sigma else None)


def demosaic(raw: Any, pattern: str | int, method: str = "malvar") -> Any:
    """Demosaic Bayer planes (N, H, W) or (H, W) to RGB (..., 3); numpy -> Numba, CuPy -> CUDA.

    Borders reflect half-sample symmetrically (SciPy ``reflect``), as colour-demosaicing does.
    """
    xp = array_module(raw)
    squeeze = raw.ndim == 2
    raw = raw[None] if squeeze else raw
    n, h, w = raw.shape
    if h < 2 or w < 2:
        raise ValueError(f"demosaic: a Bayer image needs at least 2x2 pixels, got {h}x{w}")
    p = pattern_index(pattern) if isinstance(pattern, str) else int(pattern)
    if not 0 <= p < NO_MOSAIC:
        raise ValueError(f"demosaic: pattern must be one of {', '.join(PATTERNS)}, got {pattern!r}")
    red = np.tile(np.array(RED_SITE[p], np.int32), (n, 1))
    sel = np.arange(n, dtype=np.int32)
    crf = np.zeros(n, np.int32)
    with on_device_of(raw):
        out = xp.empty((n, h, w, 3), xp.float32)
    meth = DEMOSAIC_METHODS.index(method)
    if xp is np:
        from imgrestore.kernels.camera_numba import demosaic_crf

        demosaic_crf(np.ascontiguousarray(raw, np.float32), sel, np.zeros((1, 1024), np.float32), crf, red, meth,
                     False, out)
    else:
        from imgrestore.kernels import camera_cuda

        camera_cuda.demosaic(xp.ascontiguousarray(raw, xp.float32), sel, red, meth, out)
    return out[0] if squeeze else out


def mosaic_noise(x: Any, curves, params: CameraParams, model: str = "paper", clip: bool = True) -> tuple[Any, Any]:
    """Steps 1-3 alone for Bayer samples: (noisy raw, clean raw), each (N, H, W).

    The clean raw is the same computation with the noise levels set to zero; the pair is what
    the noise-statistics tests measure.
    """
    xp = array_module(x)
    n, h, w, _ = x.shape
    if np.any(params.pattern >= NO_MOSAIC):
        raise ValueError("mosaic_noise: every sample needs a Bayer pattern (0-3)")
    zero = CameraParams(params.crf, params.pattern, np.zeros_like(params.sigma_s), np.zeros_like(params.sigma_c),
                        params.keys)
    sel = np.arange(n, dtype=np.int32)
    m = NOISE_MODELS.index(model)
    res = []
    for p in (params, zero):
        with on_device_of(x):
            raw = xp.empty((n, h, w), xp.float32)
            nosig = xp.empty((0, 1, 1, 1), xp.float32)
        if xp is np:
            from imgrestore.kernels.camera_numba import mosaic_noise as kernel

            kernel(np.ascontiguousarray(x, np.float32), sel, curves.inverse, p.crf, p.red,
                   _noise_tables(curves, p, m, False)[0], p.keys, _noisy(p, 3), clip, raw)
        else:
            from imgrestore.kernels import camera_cuda

            camera_cuda.mosaic_noise(x, curves, p, sel, m, clip, raw, nosig)
        res.append(raw)
    return res[0], res[1]
