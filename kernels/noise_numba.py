"""Numba kernels: per-sample standard-normal fields and fused AWGN (CPU twin of ``noise.cu``).

Every normal is :func:`imgrestore.kernels.philox.normal_quads` of the sample's key: value ``p`` of
sample ``s`` is normal ``p % 4`` of quad ``p // 4`` of stream ``stream`` under ``keys[s]``, so the
field depends on (key, stream, p) only, not on the batch, the thread count or the backend.
Work items are (sample, chunk of quads); each draws its chunk into a small buffer with the
vectorised ``normal_quads`` and then writes (or adds) it. Each kernel is compiled twice from one
body: parallel, and serial (``*_serial``) for inputs under :data:`SERIAL_BELOW` values, where
waking the thread pool costs more than the work (20-30 ms on a loaded 2-core host).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from imgrestore.kernels.philox import normal_quads

CHUNK = 2048  # quads per work item: 32 KiB of normals, cache-resident
SERIAL_BELOW = 1 << 15  # values: smaller inputs run the serial twin


@nb.njit(inline="always", nogil=True, cache=True)
def _chunk(t, nc, m, keys, stream):
    """Work item ``t`` of (sample, chunk of quads), ``nc`` chunks per sample of ``m`` values:
    (s, p0, k, buf), buf holding the normals of values p0 .. p0 + k - 1 of sample s."""
    s = t // nc
    q0 = (t - s * nc) * CHUNK
    cnt = min(CHUNK, (m + 3) // 4 - q0)
    buf = np.empty(4 * cnt, np.float32)
    normal_quads(buf, q0, cnt, keys[s, 0], keys[s, 1], stream)
    p0 = 4 * q0
    return s, p0, min(4 * cnt, m - p0), buf


def _normal_fields(out, keys, stream):
    """out[s, p] = normal p of sample s's stream (out: (N, M) float32, keys: (N, 2) uint32)."""
    n, m = out.shape
    nc = ((m + 3) // 4 + CHUNK - 1) // CHUNK
    for t in nb.prange(n * nc):
        s, p0, k, buf = _chunk(t, nc, m, keys, stream)
        for j in range(k):
            out[s, p0 + j] = buf[j]


def _awgn(x, sigma, keys, stream, clip, out):
    """out[s, p] = x[s, p] + sigma[s] * normal p of sample s, in float32, then clipped to [0, 1]
    if ``clip`` (NaN kept, as ``np.clip``). x, out: (N, M) float32; sigma: (N,) float32."""
    n, m = x.shape
    nc = ((m + 3) // 4 + CHUNK - 1) // CHUNK
    for t in nb.prange(n * nc):
        s, p0, k, buf = _chunk(t, nc, m, keys, stream)
        sg = sigma[s]
        for j in range(k):
            v = x[s, p0 + j] + sg * buf[j]
            if clip:
                if v < np.float32(0.0):
                    v = np.float32(0.0)
                elif v > np.float32(1.0):
                    v = np.float32(1.0)
            out[s, p0 + j] = v


_normal_fields_par = nb.njit(parallel=True, nogil=True, cache=True)(_normal_fields)
_normal_fields_ser = nb.njit(nogil=True, cache=True)(_normal_fields)
_awgn_par = nb.njit(parallel=True, nogil=True, cache=True)(_awgn)
_awgn_ser = nb.njit(nogil=True, cache=True)(_awgn)


def normal_fields(out: np.ndarray, keys: np.ndarray, stream) -> None:
    """out[s, p] = normal p of sample s's stream (out: (N, M) float32, keys: (N, 2) uint32)."""
    (_normal_fields_ser if out.size < SERIAL_BELOW else _normal_fields_par)(out, keys, stream)


def awgn(x: np.ndarray, sigma: np.ndarray, keys: np.ndarray, stream, clip: bool, out: np.ndarray) -> None:
    """out = x + sigma[s] * normals, clipped if ``clip`` (see :func:`_awgn`)."""
    (_awgn_ser if x.size < SERIAL_BELOW else _awgn_par)(x, sigma, keys, stream, clip, out)
