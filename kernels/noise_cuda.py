"""CuPy launcher for ``noise.cu`` (twin of ``noise_numba.py``): Philox normal fields and fused AWGN.

Compiled once per process and device with NVRTC, ``--fmad=false`` (``x + sigma * z`` must not
become a multiply-add, so the result equals the CPU's bit for bit) and this folder on the include
path (``noise.cu`` includes ``camera.cu`` for Philox and Box-Muller). Imported only for CuPy inputs.
"""

from __future__ import annotations

import cupy
import numpy as np

from imgrestore.kernels.nvrtc import KERNEL_DIR, MAX_GRID, module_functions

_BLOCK = 256
_OPTIONS = ("--std=c++11", "--fmad=false", f"-I{KERNEL_DIR}")


def _kernels(device_id: int) -> dict[str, cupy.RawKernel]:
    return module_functions(cupy, "noise.cu", ("noise_fields", "noise_awgn"), _OPTIONS, device_id)


def _grid(n: int, per: int) -> tuple[int, int]:
    quads = (per + 3) // 4
    return ((quads + _BLOCK - 1) // _BLOCK, min(n, MAX_GRID))


def normal_fields(keys: np.ndarray, per: int, stream: int, out) -> None:
    """Fill ``out`` (N, per) float32 on the current device with the samples' normals."""
    n = out.shape[0]
    k = _kernels(out.device.id)
    k["noise_fields"](_grid(n, per), (_BLOCK,),
                      (cupy.asarray(keys), np.int32(n), np.int64(per), np.uint32(stream), out))


def awgn(x, sigma: np.ndarray, keys: np.ndarray, stream: int, clip: bool, out) -> None:
    """out = x + sigma[s] * normals (clipped if ``clip``); x, out: (N, per) float32 on one device."""
    n, per = x.shape
    k = _kernels(x.device.id)
    k["noise_awgn"](_grid(n, per), (_BLOCK,),
                    (x, cupy.asarray(sigma), cupy.asarray(keys), np.int32(n), np.int64(per), np.uint32(stream),
                     np.int32(bool(clip)), out))
