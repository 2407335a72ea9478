"""Numba CPU kernels for the separable bicubic resize (tables and maths in ``resize.py``).

An NHWC float32 image is viewed as rows of ``W*C`` contiguous floats. The H pass is a weighted
sum of whole input rows, a contiguous loop the compiler vectorises; the W pass gathers the taps
inside one row (scalar, with two output pixels interleaved so their add chains overlap). When H
goes first (MATLAB's order unless the W scale is the smaller) the passes are fused per output row
through a per-thread scratch row that stays in cache, so no intermediate image touches memory.
Taps are summed in table order, the oracle's order: with float64 accumulation the result is the
float64 oracle rounded once to float32; float32 accumulation (the default, faster) is within a
few float32 ulps of it. Threads split the output rows into contiguous chunks (cache reuse of the
overlapping input rows).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

# Accumulation precision of the CPU kernels (weights and scratch rows use it). Measured on a
# 2-core AMD EPYC (Zen 5), 2048^2 RGB x4 down, one thread: float32 5.3 ms, float64 6.1 ms (+15 %).
ACCUMULATE = np.float32


@njit(cache=True, fastmath=False)
def _h_row(x, n, idx, w, i, o):
    """o[:] = sum_k w[i, k] * x[n, idx[i, k], :], taps summed in order, up to 4 taps per sweep of o."""
    T = idx.shape[1]
    R = o.shape[0]
    s0 = x[n, idx[i, 0]]
    w0 = w[i, 0]
    if T >= 4:
        s1 = x[n, idx[i, 1]]
        s2 = x[n, idx[i, 2]]
        s3 = x[n, idx[i, 3]]
        w1 = w[i, 1]
        w2 = w[i, 2]
        w3 = w[i, 3]
        for p in range(R):
            o[p] = w0 * s0[p] + w1 * s1[p] + w2 * s2[p] + w3 * s3[p]
        k = 4
    else:
        for p in range(R):
            o[p] = w0 * s0[p]
        k = 1
    while k + 4 <= T:
        s0 = x[n, idx[i, k]]
        s1 = x[n, idx[i, k + 1]]
        s2 = x[n, idx[i, k + 2]]
        s3 = x[n, idx[i, k + 3]]
        w0 = w[i, k]
        w1 = w[i, k + 1]
        w2 = w[i, k + 2]
        w3 = w[i, k + 3]
        for p in range(R):
            o[p] = o[p] + w0 * s0[p] + w1 * s1[p] + w2 * s2[p] + w3 * s3[p]
        k += 4
    while k + 2 <= T:
        s0 = x[n, idx[i, k]]
        s1 = x[n, idx[i, k + 1]]
        w0 = w[i, k]
        w1 = w[i, k + 1]
        for p in range(R):
            o[p] = o[p] + w0 * s0[p] + w1 * s1[p]
        k += 2
    if k < T:
        s0 = x[n, idx[i, k]]
        w0 = w[i, k]
        for p in range(R):
            o[p] = o[p] + w0 * s0[p]


@njit(cache=True, fastmath=False)
def _w_row_rgb(row, off, w, o):
    """One row, C = 3: o[3j + c] = sum_k w[j, k] * row[off[j, k] + c]; two pixels per iteration."""
    Wout, T = off.shape
    one = np.uint64(1)
    two = np.uint64(2)
    j = 0
    while j + 2 <= Wout:
        u = w[j, 0]
        v = w[j + 1, 0]
        s = np.uint64(off[j, 0])  # unsigned: no negative-index wraparound test per load
        r = np.uint64(off[j + 1, 0])
        a0 = u * row[s]
        a1 = u * row[s + one]
        a2 = u * row[s + two]
        b0 = v * row[r]
        b1 = v * row[r + one]
        b2 = v * row[r + two]
        for k in range(1, T):
            u = w[j, k]
            v = w[j + 1, k]
            s = np.uint64(off[j, k])
            r = np.uint64(off[j + 1, k])
            a0 += u * row[s]
            a1 += u * row[s + one]
            a2 += u * row[s + two]
            b0 += v * row[r]
            b1 += v * row[r + one]
            b2 += v * row[r + two]
        o[3 * j] = a0
        o[3 * j + 1] = a1
        o[3 * j + 2] = a2
        o[3 * j + 3] = b0
        o[3 * j + 4] = b1
        o[3 * j + 5] = b2
        j += 2
    if j < Wout:
        u = w[j, 0]
        s = np.uint64(off[j, 0])
        a0 = u * row[s]
        a1 = u * row[s + one]
        a2 = u * row[s + two]
        for k in range(1, T):
            u = w[j, k]
            s = np.uint64(off[j, k])
            a0 += u * row[s]
            a1 += u * row[s + one]
            a2 += u * row[s + two]
        o[3 * j] = a0
        o[3 * j + 1] = a1
        o[3 * j + 2] = a2


@njit(cache=True, fastmath=False)
def _w_row_any(row, off, w, o, C):
    """One row, any C: o[C j + c] = sum_k w[j, k] * row[off[j, k] + c]; two pixels per iteration."""
    Wout, T = off.shape
    j = 0
    while j + 2 <= Wout:
        for c in range(C):
            uc = np.uint64(c)
            a = w[j, 0] * row[np.uint64(off[j, 0]) + uc]
            b = w[j + 1, 0] * row[np.uint64(off[j + 1, 0]) + uc]
            for k in range(1, T):
                a += w[j, k] * row[np.uint64(off[j, k]) + uc]
                b += w[j + 1, k] * row[np.uint64(off[j + 1, k]) + uc]
            o[C * j + c] = a
            o[C * (j + 1) + c] = b
        j += 2
    if j < Wout:
        for c in range(C):
            uc = np.uint64(c)
            a = w[j, 0] * row[np.uint64(off[j, 0]) + uc]
            for k in range(1, T):
                a += w[j, k] * row[np.uint64(off[j, k]) + uc]
            o[C * j + c] = a


@njit(cache=True, fastmath=False)
def _w_row(row, off, w, o, C):
    if C == 3:
        _w_row_rgb(row, off, w, o)
    else:
        _w_row_any(row, off, w, o, C)


_NO_OFF = np.zeros((0, 0), np.intp)  # unused W tables of an H-only pass


@njit(parallel=True, nogil=True, cache=True, fastmath=False)
def resize_hw(x, ih, wh, off, ww, out, C, nchunks, fuse_w):
    """H pass, then (with ``fuse_w``) the W pass on each row while it is still in cache.

    x (N, Hin, Win*C) -> out (N, Hout, Wout*C) fused, or out (N, Hout, Win*C) for the H pass alone.
    """
    N, Hin, R = x.shape
    Hout = ih.shape[0]
    total = N * Hout
    for ch in prange(nchunks):
        t0 = ch * total // nchunks
        t1 = (ch + 1) * total // nchunks
        tmp = np.empty(R, wh.dtype)
        for t in range(t0, t1):
            n = t // Hout
            i = t - n * Hout
            _h_row(x, n, ih, wh, i, tmp)
            if fuse_w:
                _w_row(tmp, off, ww, out[n, i], C)
            else:
                o = out[n, i]
                for p in range(R):
                    o[p] = tmp[p]


@njit(parallel=True, nogil=True, cache=True, fastmath=False)
def resize_w(x, off, ww, out, C, nchunks):
    """W pass alone over independent rows: x (M, Win*C) -> out (M, Wout*C)."""
    M = x.shape[0]
    for ch in prange(nchunks):
        t0 = ch * M // nchunks
        t1 = (ch + 1) * M // nchunks
        for m in range(t0, t1):
            _w_row(x[m], off, ww, out[m], C)


def _is_identity(idx: np.ndarray, w: np.ndarray, in_len: int) -> bool:
    return idx.shape == (in_len, 1) and bool(np.all(w == 1.0)) and bool(np.all(idx[:, 0] == np.arange(in_len)))


def _chunks(rows: int) -> int:
    return max(1, min(rows, 4 * numba.get_num_threads()))


def resize_numba(x: np.ndarray, steps, accumulate=None) -> np.ndarray:
    """Apply the per-axis ``steps`` of :func:`imgrestore.kernels.resize.plan` to a NHWC batch.

    ``accumulate`` (float32 or float64, default :data:`ACCUMULATE`) is the precision of weights and
    sums; the result is float32. Identity passes (a scale of 1 on an unchanged length) are skipped.
    """
    acc = np.dtype(accumulate or ACCUMULATE)
    y = np.ascontiguousarray(x, dtype=np.float32)
    N, H, W, C = y.shape
    steps = [s for s in steps if not _is_identity(s[1], s[2], y.shape[s[0]])]
    if not steps:
        return y.copy() if y is x else y
    (a0, i0, w0), rest = steps[0], steps[1:]
    if a0 == 1 and rest:  # H then W, fused
        _, i1, w1 = rest[0]
        Ho, Wo = i0.shape[0], i1.shape[0]
        out = np.empty((N, Ho, Wo, C), np.float32)
        resize_hw(y.reshape(N, H, W * C), i0, w0.astype(acc), (i1.astype(np.intp) * C),
                  w1.astype(acc), out.reshape(N, Ho, Wo * C), C, _chunks(N * Ho), True)
        return out
    for step, (axis, idx, w) in enumerate(steps):
        N, H, W, C = y.shape
        last = step == len(steps) - 1
        dt = np.float32 if last else acc  # keep a float64 intermediate when accumulating in float64
        if axis == 1:
            out = np.empty((N, idx.shape[0], W, C), dt)
            resize_hw(y.reshape(N, H, W * C), idx, w.astype(acc), _NO_OFF, w[:0].astype(acc),
                      out.reshape(N, idx.shape[0], W * C), C, _chunks(N * idx.shape[0]), False)
        else:
            out = np.empty((N, H, idx.shape[0], C), dt)
            resize_w(y.reshape(N * H, W * C), idx.astype(np.intp) * C, w.astype(acc),
                     out.reshape(N * H, idx.shape[0] * C), C, _chunks(N * H))
        y = out
    return y
