"""CuPy launcher for the CUDA bicubic resize kernels in ``resize.cu`` (twin of ``resize_numba.py``).

The .cu source is compiled once per process and device with NVRTC (``cupy.RawModule``); the
per-axis index/weight tables are uploaded once and cached on the device, so a call is only the
kernel launches. CuPy is imported here, and this module is only imported for CuPy inputs.
"""

from __future__ import annotations

from collections import OrderedDict

import cupy
import numpy as np

from imgrestore.kernels.nvrtc import MAX_GRID, module_functions

_BLOCK = 256
_TABLES: OrderedDict = OrderedDict()  # (device, id(idx), id(w)) -> (idx, w, idx_dev, w_dev)
_MAX_TABLES = 64


def _kernels(device_id: int) -> dict[str, cupy.RawKernel]:
    """The compiled kernels for one device (NVRTC, compiled at most once per process and device)."""
    return module_functions(cupy, "resize.cu", ("resize_h_f32", "resize_w_f32"), ("--std=c++11",), device_id)


def _device_tables(device_id: int, idx: np.ndarray, w: np.ndarray) -> tuple[cupy.ndarray, cupy.ndarray]:
    """Device copies of one axis' tables; keyed by the (cached, read-only) host arrays' identity."""
    key = (device_id, id(idx), id(w))
    hit = _TABLES.get(key)
    if hit is not None and hit[0] is idx and hit[1] is w:
        _TABLES.move_to_end(key)
        return hit[2], hit[3]
    idx_dev = cupy.asarray(np.ascontiguousarray(idx, dtype=np.int32))
    w_dev = cupy.asarray(np.ascontiguousarray(w, dtype=np.float32))
    _TABLES[key] = (idx, w, idx_dev, w_dev)  # holding the host arrays keeps their ids unique
    while len(_TABLES) > _MAX_TABLES:
        _TABLES.popitem(last=False)
    return idx_dev, w_dev


def _resize_h(x: cupy.ndarray, idx_dev: cupy.ndarray, w_dev: cupy.ndarray, hout: int, taps: int, kern) -> cupy.ndarray:
    n, hin, wid, c = x.shape
    out = cupy.empty((n, hout, wid, c), dtype=cupy.float32)
    row_len = wid * c
    grid = ((row_len + _BLOCK - 1) // _BLOCK, min(n * hout, MAX_GRID))
    if out.size == 0:
        return out
    kern["resize_h_f32"](
        grid, (_BLOCK,),
        (x, out, idx_dev, w_dev, np.int32(n), np.int32(hin), np.int32(hout), np.int64(row_len), np.int32(taps)),
    )
    return out


def _resize_w(x: cupy.ndarray, idx_dev: cupy.ndarray, w_dev: cupy.ndarray, wout: int, taps: int, kern) -> cupy.ndarray:
    n, h, win, c = x.shape
    out = cupy.empty((n, h, wout, c), dtype=cupy.float32)
    rows = n * h
    grid = ((wout * c + _BLOCK - 1) // _BLOCK, min(rows, MAX_GRID))
    if out.size == 0:
        return out
    kern["resize_w_f32"](
        grid, (_BLOCK,),
        (x, out, idx_dev, w_dev, np.int64(rows), np.int32(win), np.int32(wout), np.int32(c), np.int32(taps)),
    )
    return out


def resize_cuda(x: cupy.ndarray, steps) -> cupy.ndarray:
    """Apply the per-axis ``steps`` of :func:`imgrestore.kernels.resize.plan` to a CuPy NHWC batch (float32)."""
    y = cupy.ascontiguousarray(x, dtype=cupy.float32)
    with y.device:
        dev = y.device.id
        kern = _kernels(dev)
        for axis, idx, w in steps:
            idx_dev, w_dev = _device_tables(dev, idx, w)
            out_len, taps = idx.shape
            if axis == 1:
                y = _resize_h(y, idx_dev, w_dev, out_len, taps, kern)
            else:
                y = _resize_w(y, idx_dev, w_dev, out_len, taps, kern)
    return y
