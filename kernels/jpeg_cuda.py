"""CuPy launcher for the JPEG round-trip kernels in ``jpeg.cu`` (twin of ``jpeg_numba.py``).

Two launches per batch, no host round trip of pixel data: ``jpeg_blocks`` (one CUDA block per
16x16-pixel tile: colour conversion, downsampling, FDCT, quantization, dequantization, IDCT of the
tile's 8x8 blocks into padded uint8 component planes in a scratch buffer) and ``jpeg_colour``
(chroma upsampling, YCbCr -> RGB, float output; quality-0 samples copied). The source is
compiled once per process and device with NVRTC and ``--fmad=false`` (integer maths only, but
the float -> uint8 step must not contract); the quantizer tables of every quality are uploaded
once per device. Imported only for CuPy inputs. Layout and checks: docs/jpeg_cuda.md.
"""

from __future__ import annotations

import functools

import cupy
import numpy as np

from imgrestore.backend import on_device_of
from imgrestore.kernels.jpeg_numpy import quant_divisors, quant_tables
from imgrestore.kernels.nvrtc import MAX_GRID, module_functions

GROUPS = 8  # jpeg.cu JB_GROUPS: thread groups (8 threads per 8x8 block) of jpeg_blocks, block (8, GROUPS)
TILE = 16  # jpeg.cu JB_TILE: pixels per tile edge, one CUDA block of jpeg_blocks per tile
QUALITIES = 101  # jpeg.cu JB_QUALITIES: table rows for quality 0..100 (row 0 unused)
_BLOCK2 = (32, 8, 1)
_NAMES = ("jpeg_blocks", "jpeg_colour")


def _kernels(device_id: int) -> dict[str, cupy.RawKernel]:
    return module_functions(cupy, "jpeg.cu", _NAMES, ("--std=c++11", "--fmad=false"), device_id)


def host_tables() -> np.ndarray:
    """(101, 2, 4, 64) int32: per quality, [luma, chroma] x (reciprocal, correction, shift, quant
    value), natural order; quality 0 (a copy) is all zero and never read."""
    out = np.zeros((QUALITIES, 2, 4, 64), np.int32)
    for q in range(1, QUALITIES):
        qt = quant_tables(q)
        for k in range(2):
            out[q, k, :3] = quant_divisors(qt[k])
            out[q, k, 3] = qt[k]
    return out


@functools.cache
def _tables(device_id: int) -> cupy.ndarray:
    with cupy.cuda.Device(device_id):
        return cupy.asarray(host_tables())


def geometry(h: int, w: int, c: int) -> dict[str, int]:
    """Launch geometry of a batch of (h, w, c) images: the padded plane size (Hb, Wb), the tiles
    of jpeg_blocks' grid, jpeg_colour's grid and the scratch bytes per sample."""
    hb, wb = -(-h // 8) * 8, -(-w // 8) * 8
    return {"Hb": hb, "Wb": wb, "tiles_x": -(-w // TILE), "tiles_y": -(-h // TILE),
            "grid_colour_x": -(-w // 32), "grid_colour_y": -(-h // 8), "scratch_bytes": c * hb * wb}


def roundtrip(x, quality: np.ndarray, sub: np.ndarray):
    """decode(encode(x)) as Pillow/libjpeg-turbo gives it, per sample: ``x`` (N, H, W, C) float32
    CuPy, C in {1, 3}; ``quality`` (N,) int32 in 0..100 (0: copied unchanged); ``sub`` (N,) int32
    subsampling codes (jpeg_numpy.SUBSAMPLING; ignored for C == 1). Returns a new array on x's
    device."""
    x = cupy.ascontiguousarray(x, dtype=cupy.float32)
    n, h, w, c = x.shape
    quality = np.ascontiguousarray(quality, dtype=np.int32).reshape(-1)
    sub = np.ascontiguousarray(sub, dtype=np.int32).reshape(-1)
    if c not in (1, 3) or quality.shape != (n,) or sub.shape != (n,):
        raise ValueError(f"jpeg_cuda.roundtrip: x {x.shape} needs C in (1, 3) and quality/sub of {n} values, "
                         f"got {quality.shape}/{sub.shape}")
    if n and (quality.min() < 0 or quality.max() > 100 or (c == 3 and (sub.min() < 0 or sub.max() > 2))):
        raise ValueError("jpeg_cuda.roundtrip: quality must be in 0..100 and sub in 0..2")
    if -(-h // 8) > MAX_GRID:
        raise ValueError(f"jpeg_cuda.roundtrip: height {h} exceeds {8 * MAX_GRID} rows (grid.y of jpeg_colour)")
    with on_device_of(x):
        out = cupy.empty_like(x)
        if x.size == 0:
            return out
        dev = x.device.id
        k = _kernels(dev)
        geo = geometry(h, w, c)
        q_dev, s_dev = cupy.asarray(quality), cupy.asarray(sub)
        # allocated (uninitialised) even when all samples are copies: jpeg_colour takes the pointer
        planes = cupy.empty((n, c, geo["Hb"], geo["Wb"]), cupy.uint8)
        dims = (np.int32(n), np.int32(h), np.int32(w), np.int32(c))
        grid_n = min(n, MAX_GRID)
        if (quality > 0).any():
            k["jpeg_blocks"]((geo["tiles_x"], geo["tiles_y"], grid_n), (8, GROUPS, 1),
                             (x, q_dev, s_dev, _tables(dev), *dims, planes))
        k["jpeg_colour"]((geo["grid_colour_x"], geo["grid_colour_y"], grid_n), _BLOCK2,
                         (x, planes, q_dev, s_dev, *dims, out))
        return out
