"""CuPy launcher for the moire kernels in ``moire.cu`` (twin of the Numba path of ``moire.py``).

The source is compiled once per process and device with NVRTC and ``--fmad=false`` (no
multiply-add contraction, so the double arithmetic follows the CPU kernels'), with this folder
on the include path (``moire.cu`` includes ``camera.cu`` for the Philox normals). Imported only
for CuPy inputs.
"""

from __future__ import annotations

import functools

import cupy
import numpy as np

from imgrestore.kernels.nvrtc import KERNEL_DIR, MAX_GRID, module_functions

_BLOCK2 = (32, 8, 1)
_NAMES = ("moire_decode", "moire_capture", "moire_develop")
_OPTIONS = ("--std=c++11", "--fmad=false", f"-I{KERNEL_DIR}")


def _kernels(device_id: int) -> dict[str, cupy.RawKernel]:
    return module_functions(cupy, "moire.cu", _NAMES, _OPTIONS, device_id)


def _grid2(w: int, h: int, n: int) -> tuple[int, int, int]:
    return ((w + 31) // 32, (h + 7) // 8, min(n, MAX_GRID))


def _capture(k, screen, b, out_hw):
    n, hs, ws, _ = screen.shape
    h, w = out_hw
    lin = cupy.empty_like(screen)  # moire_decode writes it all (0 outside the support boxes)
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


@functools.cache
def _lut(device_id: int) -> cupy.ndarray:
    from imgrestore.kernels.moire_numba import ENCODE_LUT

    with cupy.cuda.Device(device_id):
        return cupy.asarray(ENCODE_LUT)


def moire_batch(screen, b, out_hw, demosaic: str):
    """Steps 1-8 on the GPU in three launches (decode, capture, develop): (moire sRGB, target sRGB),
    CuPy (N, H, W, 3) float32. Only parameters go host -> device; nothing comes back."""
    from imgrestore.kernels.moire import DEMOSAIC_METHODS, develop_block, glare_field, tile_floats

    screen = cupy.ascontiguousarray(screen, dtype=cupy.float32)
    n = screen.shape[0]
    h, w = out_hw
    with screen.device:
        dev = screen.device.id
        k = _kernels(dev)
        cap, gt = _capture(k, screen, b, out_hw)
        if b.gain() is not None:  # exposure, as the Numba path: one float32 multiply per raw value
            cap *= cupy.asarray(b.gain())
        nc = cap.shape[3]
        field = glare_field(b, out_hw)
        glare = cupy.asarray(field) if field is not None else cupy.empty(1, cupy.float32)  # unread then
        taps, radius = b.taps()
        rmax = int(radius.max())
        bw, bh = develop_block(rmax, nc)
        out = cupy.empty((n, h, w, 3), cupy.float32)
        tgt = cupy.empty((n, h, w, 3), cupy.float32)
        k["moire_develop"](
            ((w + bw - 1) // bw, (h + bh - 1) // bh, min(n, MAX_GRID)), (bw, bh, 1),
            (cap, gt, glare, np.int32(field is not None), cupy.asarray(np.ascontiguousarray(b.noise, np.float64)),
             cupy.asarray(np.ascontiguousarray(b.keys, np.uint32)), cupy.asarray(np.ascontiguousarray(b.I, np.int32)),
             cupy.asarray(np.ascontiguousarray(taps, np.float64)), cupy.asarray(np.ascontiguousarray(radius, np.int32)),
             np.int32(taps.shape[1]), _lut(dev), np.int32(n), np.int32(h), np.int32(w), np.int32(nc),
             np.int32(DEMOSAIC_METHODS.index(demosaic)), np.int32(rmax), out, tgt),
            shared_mem=4 * tile_floats(bw, bh, rmax, nc))
    return out, tgt
