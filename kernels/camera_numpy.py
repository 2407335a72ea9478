"""The CBDNet camera pipeline stated plainly in NumPy: the oracle of the Numba/CUDA kernels.

Each step is one small function over whole arrays. It is slow on purpose (one pass over memory
per operation) and written for reading; ``tests/`` compare the fused kernels against it, and
``imgrestore bench degrade cbdnet`` times it as the baseline.

Conventions shared with the kernels (see :mod:`imgrestore.kernels.camera`):

* patterns: 0 RGGB, 1 GRBG, 2 GBRG, 3 BGGR (the colour of the top-left 2x2 block read row by
  row), 4 = no mosaic (full-colour sensor);
* borders: demosaic filters read the mosaic with half-sample symmetric reflection
  (``d c b a | a b c d``, SciPy's ``reflect``), as colour-demosaicing does;
* noise: ``sigma^2(L) = L * sigma_s^2 + sigma_c^2`` (``model=0``, the paper) or
  ``(sigma_s * L)^2 + sigma_c^2`` (``model=1``, the official MATLAB code).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

PATTERNS = ("RGGB", "GRBG", "GBRG", "BGGR")
NO_MOSAIC = 4
# (row, column) of the red site inside the 2x2 block, per pattern; blue is diagonal to it.
RED_SITE = ((0, 0), (0, 1), (1, 0), (1, 1))


def cfa_colour(h: int, w: int, pattern: int) -> np.ndarray:
    """(h, w) int8 map of the colour (0 R, 1 G, 2 B) each Bayer site records."""
    ry, rx = RED_SITE[pattern]
    red_row = (np.arange(h)[:, None] % 2) == ry
    red_col = (np.arange(w)[None, :] % 2) == rx
    return np.where(red_row & red_col, 0, np.where(~red_row & ~red_col, 2, 1)).astype(np.int8)


def mosaic(rgb: np.ndarray, pattern: int) -> np.ndarray:
    """Bayer raw (H, W) from a full-colour (H, W, 3) image: each site keeps its CFA colour."""
    cfa = cfa_colour(rgb.shape[0], rgb.shape[1], pattern)
    return np.take_along_axis(rgb, cfa[..., None].astype(np.intp), axis=2)[..., 0]


def noise_variance(L: np.ndarray, sigma_s, sigma_c, model: int = 0) -> np.ndarray:
    """Variance of the raw noise at irradiance L (see the module docstring)."""
    L = np.asarray(L, dtype=np.float32)
    ss = np.float32(sigma_s)
    sc = np.float32(sigma_c)
    return (ss * L) * (ss * L) + sc * sc if model == 1 else L * (ss * ss) + sc * sc


def _pad(raw: np.ndarray, r: int) -> np.ndarray:
    return np.pad(raw, r, mode="symmetric")  # NumPy "symmetric" is SciPy "reflect"


def _masks(h: int, w: int, pattern: int):
    ry, rx = RED_SITE[pattern]
    red_row = np.broadcast_to((np.arange(h)[:, None] % 2) == ry, (h, w))
    red_col = np.broadcast_to((np.arange(w)[None, :] % 2) == rx, (h, w))
    return red_row, red_col


def demosaic_malvar(raw: np.ndarray, pattern: int) -> np.ndarray:
    """Malvar-He-Cutler (ICASSP 2004) gradient-corrected bilinear demosaic of (H, W) -> (H, W, 3)."""
    h, w = raw.shape
    raw = raw.astype(np.float32)
    p = _pad(raw, 2)

    def at(dy: int, dx: int) -> np.ndarray:
        return p[2 + dy : 2 + dy + h, 2 + dx : 2 + dx + w]

    c = at(0, 0)
    n1, s1, w1, e1 = at(-1, 0), at(1, 0), at(0, -1), at(0, 1)
    n2, s2, w2, e2 = at(-2, 0), at(2, 0), at(0, -2), at(0, 2)
    diag = at(-1, -1) + at(-1, 1) + at(1, -1) + at(1, 1)
    g_at_rb = (4 * c + 2 * (n1 + s1 + w1 + e1) - (n2 + s2 + w2 + e2)) / 8
    along_row = (5 * c + 4 * (w1 + e1) - (w2 + e2) - diag + 0.5 * (n2 + s2)) / 8
    along_col = (5 * c + 4 * (n1 + s1) - (n2 + s2) - diag + 0.5 * (w2 + e2)) / 8
    across = (6 * c + 2 * diag - 1.5 * (n2 + s2 + w2 + e2)) / 8
    red_row, red_col = _masks(h, w, pattern)
    is_r = red_row & red_col
    is_b = ~red_row & ~red_col
    g_in_r_row = red_row & ~red_col
    g_in_b_row = ~red_row & red_col
    r = np.select([is_r, g_in_r_row, g_in_b_row, is_b], [c, along_row, along_col, across])
    g = np.where(is_r | is_b, g_at_rb, c)
    b = np.select([is_b, g_in_b_row, g_in_r_row, is_r], [c, along_row, along_col, across])
    return np.stack([r, g, b], axis=-1).astype(np.float32)


def demosaic_bilinear(raw: np.ndarray, pattern: int) -> np.ndarray:
    """Bilinear demosaic: each colour's sites averaged over the 3x3 neighbourhood."""
    h, w = raw.shape
    cfa = cfa_colour(h, w, pattern)
    k_rb = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 4
    k_g = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], np.float32) / 4
    out = np.zeros((h, w, 3), np.float32)
    for colour, k in ((0, k_rb), (1, k_g), (2, k_rb)):
        plane = _pad(np.where(cfa == colour, raw, 0).astype(np.float32), 1)
        for dy in range(3):
            for dx in range(3):
                if k[dy, dx]:
                    out[..., colour] += k[dy, dx] * plane[dy : dy + h, dx : dx + w]
    return out


DEMOSAIC = {"malvar": demosaic_malvar, "bilinear": demosaic_bilinear}


def sigma_map(x: np.ndarray, curves, crf: int, sigma_s, sigma_c, model: int) -> np.ndarray:
    """Noise std in the sRGB domain per pixel and channel: f'(L) * sigma(L), L = f^-1(x)."""
    L = curves.apply_inverse(x, crf)
    sd = np.sqrt(noise_variance(L, np.asarray(sigma_s, np.float32), np.asarray(sigma_c, np.float32), model))
    from imgrestore.crf import nearest_bin

    return (curves.slope[crf][nearest_bin(L)] * sd).astype(np.float32)


def camera(
    x: np.ndarray,
    curves,
    crf: int,
    pattern: int,
    sigma_s: np.ndarray,
    sigma_c: np.ndarray,
    normal: Callable[[int], np.ndarray] | None,
    model: int = 0,
    clip: bool = True,
    demosaic: str = "malvar",
) -> tuple[np.ndarray, np.ndarray]:
    """One image (H, W, C) in [0, 1] through the pipeline: (noisy sRGB, sRGB sigma map).

    ``normal(n)`` returns the n standard normals of this sample's stream (None: no noise).
    ``sigma_s`` / ``sigma_c`` are per channel (length C).
    """
    h, w, ch = x.shape
    ss = np.asarray(sigma_s, np.float32)[:ch]
    sc = np.asarray(sigma_c, np.float32)[:ch]
    L = curves.apply_inverse(x, crf)  # 1. sRGB -> irradiance
    if pattern == NO_MOSAIC:
        var = noise_variance(L, ss, sc, model)  # 3. per pixel and channel
        z = normal(h * w * ch).reshape(h, w, ch).astype(np.float32) if normal else np.float32(0)
        lin = L + np.sqrt(var) * z
        if clip:
            lin = np.clip(lin, 0.0, 1.0)
    else:
        raw = mosaic(L, pattern)  # 2.
        cfa = cfa_colour(h, w, pattern)
        var = noise_variance(raw, ss[cfa], sc[cfa], model)  # 3.
        z = normal(h * w).reshape(h, w).astype(np.float32) if normal else np.float32(0)
        raw = raw + np.sqrt(var) * z
        if clip:
            raw = np.clip(raw, 0.0, 1.0)
        lin = DEMOSAIC[demosaic](raw, pattern)  # 4.
    out = curves.apply(lin, crf)  # 5. (clips to [0, 1]); 6. JPEG is applied by the plugin
    return out.astype(np.float32), sigma_map(x, curves, crf, ss, sc, model)
