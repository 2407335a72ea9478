"""CuPy launcher for the CBDNet camera kernels in ``camera.cu`` (twin of ``camera_numba.py``).

The source is compiled once per process and device with NVRTC and ``--fmad=false`` (the float
operations must not be contracted, so results match the CPU kernels bit for bit). The curve
tables are uploaded once per curve set and device. Imported only for CuPy inputs.
"""

from __future__ import annotations

import weakref

import cupy
import numpy as np

from imgrestore.kernels.nvrtc import MAX_GRID, module_functions

_BLOCK = 256
_NAMES = ("mosaic_noise", "full_colour", "demosaic_crf")
_TABLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _kernels(device_id: int) -> dict[str, cupy.RawKernel]:
    return module_functions(cupy, "camera.cu", _NAMES, ("--std=c++11", "--fmad=false"), device_id)


def _tables(curves, device_id: int):
    per_dev = _TABLES.setdefault(curves, {})
    if device_id not in per_dev:
        per_dev[device_id] = tuple(cupy.asarray(a) for a in (curves.inverse, curves.forward, curves.slope))
    return per_dev[device_id]


def _i32(a) -> cupy.ndarray:
    return cupy.asarray(np.ascontiguousarray(a, dtype=np.int32))


def camera_batch(x, curves, params, mos, full, model, clip, method, out, sigma) -> None:
    """Launch the pipeline kernels for the mosaic samples ``mos`` and no-mosaic samples ``full``."""
    x = cupy.ascontiguousarray(x, dtype=cupy.float32)
    n, h, w, c = x.shape
    with x.device:
        dev = x.device.id
        k = _kernels(dev)
        inv, fwd, slope = _tables(curves, dev)
        crf, red, ss, sc, keys = _params(params)
        if len(mos):
            sel = _i32(mos)
            raw = cupy.empty((len(mos), h, w), cupy.float32)
            _mosaic_noise(k, x, sel, inv, slope, crf, red, ss, sc, keys, model, clip, raw, sigma)
            _demosaic(k, raw, sel, fwd, crf, red, method, True, out)
        if len(full):
            per = h * w * c
            quads = (per + 3) // 4
            k["full_colour"](
                ((quads + _BLOCK - 1) // _BLOCK, min(len(full), MAX_GRID)), (_BLOCK,),
                (x, _i32(full), np.int32(len(full)), np.int64(per), np.int32(c), inv, fwd, slope, crf, ss, sc,
                 keys, np.int32(model), np.int32(clip), out, sigma, np.int32(sigma.shape[0] > 0)),
            )


def _params(params):
    """Device copies of the per-sample arrays: crf, red, sigma_s, sigma_c, keys."""
    as_dev = lambda a, t: cupy.asarray(np.ascontiguousarray(a, dtype=t))  # noqa: E731
    return (as_dev(params.crf, np.int32), as_dev(params.red, np.int32), as_dev(params.sigma_s, np.float32),
            as_dev(params.sigma_c, np.float32), as_dev(params.keys, np.uint32))


def _mosaic_noise(k, x, sel, inv, slope, crf, red, ss, sc, keys, model, clip, raw, sigma) -> None:
    m, h, w = raw.shape
    quads = (h * w + 3) // 4
    k["mosaic_noise"](
        ((quads + _BLOCK - 1) // _BLOCK, min(m, MAX_GRID)), (_BLOCK,),
        (x, sel, np.int32(m), np.int32(h), np.int32(w), inv, slope, crf, red, ss, sc, keys,
         np.int32(model), np.int32(clip), raw, sigma, np.int32(sigma.shape[0] > 0)),
    )


def mosaic_noise(x, curves, params, sel, model, clip, raw, sigma) -> None:
    """Steps 1-3 only, into ``raw`` (len(sel), H, W)."""
    x = cupy.ascontiguousarray(x, dtype=cupy.float32)
    with x.device:
        k = _kernels(x.device.id)
        inv, _, slope = _tables(curves, x.device.id)
        crf, red, ss, sc, keys = _params(params)
        _mosaic_noise(k, x, _i32(sel), inv, slope, crf, red, ss, sc, keys, model, clip, raw, sigma)


def _demosaic(k, raw, sel, fwd, crf, red, method, apply_crf, out) -> None:
    m, h, w = raw.shape
    block = (32, 8, 1)
    grid = ((w + 31) // 32, (h + 7) // 8, min(m, MAX_GRID))
    k["demosaic_crf"](grid, block, (raw, sel, np.int32(m), np.int32(h), np.int32(w), fwd, crf, red,
                                    np.int32(method), np.int32(apply_crf), out))


def demosaic(raw, sel, red, method, out) -> None:
    """Bare demosaic of every plane of ``raw`` (N, H, W) into ``out`` (N, H, W, 3)."""
    with raw.device:
        k = _kernels(raw.device.id)
        dummy = cupy.zeros((1, 1024), cupy.float32)
        _demosaic(k, raw, _i32(sel), dummy, _i32(np.zeros(len(sel))), _i32(red), method, False, out)
