"""CuPy launcher for the moire kernels in ``moire.cu`` (twin of the Numba path of ``moire.py``).

The source is compiled once per process and device with NVRTC and ``--fmad=false`` (no
multiply-add contraction, so the double arithmetic follows the CPU kernels'), with this folder
on the include path (``moire.cu`` includes ``camera.cu`` for the Philox normals). Imported only
for CuPy inputs.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cupy
import numpy as np

_BLOCK2 = (32, 8, 1)
_BLOCK = 256
_MAX_GRID = 65535
_NAMES = ("moire_decode", "moire_capture", "moire_noise", "moire_blur_h", "moire_blur_v_encode")


@functools.cache
def _kernels(device_id: int) -> dict[str, cupy.RawKernel]:
    here = Path(__file__).resolve().parent
    src = (here / "moire.cu").read_text()
    with cupy.cuda.Device(device_id):
        mod = cupy.RawModule(code=src, options=("--std=c++11", "--fmad=false", f"-I{here}"))
        return {k: mod.get_function(k) for k in _NAMES}


def _grid2(w: int, h: int, n: int) -> tuple[int, int, int]:
    return ((w + 31) // 32, (h + 7) // 8, min(n, _MAX_GRID))


def _capture(k, screen, b, out_hw):
    n, hs, ws, _ = screen.shape
    h, w = out_hw
    lin = cupy.zeros_like(screen)  # outside the support boxes: never read
    k["moire_decode"](_grid2(ws, hs, n), _BLOCK2,
                      (screen, cupy.asarray(np.ascontiguousarray(b.boxes, np.int32)), np.int32(n), np.int32(hs),
                       np.int32(ws), lin))
    nc = 1 if b.cfa else 3
    cap = cupy.empty((n, h, w, nc), cupy.float32)
    gt = cupy.empty((n, h, w, 3), cupy.float32)
    k["moire_capture"](_grid2(w, h, n), _BLOCK2,
                       (lin, cupy.asarray(np.ascontiguousarray(b.G, np.float64)),
                        cupy.asarray(np.ascontiguousarray(b.I, np.int32)),
                        cupy.asarray(np.ascontiguousarray(b.wts, np.float64)), np.int32(b.wts.shape[1]), np.int32(n),
                        np.int32(hs), np.int32(ws), np.int32(h), np.int32(w), np.int32(nc), cap, gt))
    return cap, gt


def capture_only(screen, b, out_hw):
    """Steps 1-5 alone (decode + fused capture): (capture, linear ground truth)."""
    screen = cupy.ascontiguousarray(screen, dtype=cupy.float32)
    with screen.device:
        return _capture(_kernels(screen.device.id), screen, b, out_hw)


def _blur_encode(k, x, taps, radius):
    n, h, w, c = x.shape
    tmp = cupy.empty_like(x)
    out = cupy.empty_like(x)
    t = cupy.asarray(np.ascontiguousarray(taps, np.float64))
    r = cupy.asarray(np.ascontiguousarray(radius, np.int32))
    args = (t, r, np.int32(taps.shape[1]), np.int32(n), np.int32(h), np.int32(w), np.int32(c))
    k["moire_blur_h"](_grid2(w, h, n), _BLOCK2, (x, *args, tmp))
    k["moire_blur_v_encode"](_grid2(w, h, n), _BLOCK2, (tmp, *args, out))
    return out


def moire_batch(screen, b, out_hw, demosaic: str):
    """Steps 1-8 on the GPU: (moire sRGB, target sRGB), CuPy (N, H, W, 3) float32."""
    from imgrestore.kernels.moire import _demosaic, glare_field

    screen = cupy.ascontiguousarray(screen, dtype=cupy.float32)
    n = screen.shape[0]
    h, w = out_hw
    with screen.device:
        k = _kernels(screen.device.id)
        cap, gt = _capture(k, screen, b, out_hw)
        field = glare_field(b, out_hw)
        if field is not None:
            cap += cupy.asarray(field)[..., None]
        if np.any(b.noise > 0):
            m = h * w * cap.shape[3]
            quads = (m + 3) // 4
            k["moire_noise"](((quads + _BLOCK - 1) // _BLOCK, min(n, _MAX_GRID)), (_BLOCK,),
                             (cap, np.int32(n), np.int64(m), cupy.asarray(np.ascontiguousarray(b.noise, np.float64)),
                              cupy.asarray(np.ascontiguousarray(b.keys, np.uint32))))
        cupy.clip(cap, 0.0, 1.0, out=cap)  # saturation (a no-op where the noise kernel clipped already)
        rgb = _demosaic(cap, b, demosaic) if b.cfa else cap
        taps, radius = b.taps()
        out = _blur_encode(k, cupy.ascontiguousarray(rgb), taps, radius)
        tgt = _blur_encode(k, gt, taps[:, :1], np.zeros(n, np.int32))
    return out, tgt
