"""Numba kernels of the moire simulator: the CPU twin of ``moire.cu`` (maths in ``moire_numpy.py``).

* :func:`capture` fuses steps 1-5: for every sensor pixel, n x n supersamples tiling its
  aperture, each undistorted, mapped through the inverse homography onto the screen and reading
  the subpixel stripes of the pixel's CFA colour filtered over its footprint (a box, or with the
  optical low-pass a tent: ``moire_numpy.olpf_cells``); the ground truth reads the flat full-RGB
  screen box-filtered over the pixel. No upsampled screen is ever rendered.
* :func:`decode` (sRGB -> linear), :func:`add_noise` (Poisson-Gaussian), :func:`blur_encode`
  (separable Gaussian in-camera denoise + sRGB encode + clip) are the per-pixel steps; the
  encoding interpolates a 2^16-interval table of the exact curve (error < 6e-7).

Arithmetic is float64 in the order of the oracle; images are float32 in memory.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from imgrestore.kernels.moire_numpy import (G_CA, G_CS, G_CX, G_CY, G_FILL, G_FILLY, G_H, G_IRHO2, G_K1, G_K2,
                                            G_MDX, G_MDY, G_R, G_TENT, G_VIG, I_LAYOUT, I_RX, I_RY, MAX_FOOT)


@nb.njit(inline="always", cache=True)
def _map(G, s, ud, vd):
    r2 = (ud * ud + vd * vd) * G[s, G_IRHO2]
    g = 1.0 + r2 * (G[s, G_K1] + G[s, G_K2] * r2)
    u = ud * g
    v = vd * g
    iw = 1.0 / (G[s, G_H + 6] * u + G[s, G_H + 7] * v + G[s, G_H + 8])
    x = (G[s, G_H + 0] * u + G[s, G_H + 1] * v + G[s, G_H + 2]) * iw
    y = (G[s, G_H + 3] * u + G[s, G_H + 4] * v + G[s, G_H + 5]) * iw
    return x, y


@nb.njit(inline="always", cache=True)
def _cdf(t, tent):
    t = min(max(t, -1.0), 1.0)
    if tent:
        return 0.5 * (t + 1.0) * (t + 1.0) if t < 0.0 else 1.0 - 0.5 * (1.0 - t) * (1.0 - t)
    return 0.5 * (t + 1.0)


@nb.njit(inline="always", cache=True)
def _iw(X, ia, b0, b1, tent):
    """Weight of [b0, b1] under the footprint centred at X, half-width 1/ia (moire_numpy.interval_weight)."""
    if b1 <= b0:
        return 0.0
    return _cdf((b1 - X) * ia, tent) - _cdf((b0 - X) * ia, tent)


@nb.njit(inline="always", cache=True)
def _lit(layout, c, parity, fill):
    if layout == 2:
        if c == 1:
            return 0.5 + 0.25 * (1 - fill), 0.5 + 0.25 * (1 + fill), 2.0 / fill
        if (c == 0) == (parity == 0):
            return 0.25 * (1 - fill), 0.25 * (1 + fill), 4.0 / fill
        return 0.0, 0.0, 0.0
    q = c if layout == 0 else 2 - c
    return q / 3.0 + (1 - fill) / 6.0, q / 3.0 + (1 + fill) / 6.0, 3.0 / fill


@nb.njit(inline="always", cache=True)
def _clampi(i, n):
    return 0 if i < 0 else (n - 1 if i >= n else i)


@nb.njit(inline="always", cache=True)
def _stripe(scr, s, X, Y, ax, ay, c, lit, fill_y, tent):
    """Mean emission of colour c's subpixels under the footprint at (X, Y), half-widths ax, ay.

    ``lit`` = colour c's (start, end, amplitude) in even and in odd pixels. Only the rows and
    columns whose lit part meets the footprint are visited; the others weigh exactly 0 (the
    oracle and the CUDA kernel add those zeros), so the sums are the same.
    """
    hs, ws = scr.shape[1], scr.shape[2]
    iax, iay = 1.0 / ax, 1.0 / ay
    x0, x1, y0, y1 = X - ax, X + ax, Y - ay, Y + ay
    ly0, ly1 = 0.5 * (1 - fill_y), 0.5 * (1 + fill_y)
    i0 = max(int(math.floor(y0)), int(math.ceil(y0 - ly1)))
    i1 = min(int(math.floor(y1)), int(math.floor(y1 - ly0)))
    lo = min(lit[0] if lit[2] > 0 else 1.0, lit[3] if lit[5] > 0 else 1.0)
    hi = max(lit[1] if lit[2] > 0 else 0.0, lit[4] if lit[5] > 0 else 0.0)
    j0 = max(int(math.floor(x0)), int(math.ceil(x0 - hi)))
    j1 = min(int(math.floor(x1)), int(math.floor(x1 - lo)))
    acc = 0.0
    for i in range(i0, i1 + 1):
        wy = _iw(Y, iay, i + ly0, i + ly1, tent) / fill_y
        if wy == 0.0:
            continue
        ic = _clampi(i, hs)
        for j in range(j0, j1 + 1):
            if (i + j) & 1:
                wx = lit[5] * _iw(X, iax, j + lit[3], j + lit[4], tent)
            else:
                wx = lit[2] * _iw(X, iax, j + lit[0], j + lit[1], tent)
            acc += scr[s, ic, _clampi(j, ws), c] * (wx * wy)
    return acc


@nb.njit(inline="always", cache=True)
def _lits(layout, c, fill):
    e0, e1, ea = _lit(layout, c, 0, fill)
    o0, o1, oa = _lit(layout, c, 1, fill)
    return (e0, e1, ea, o0, o1, oa)


@nb.njit(inline="always", cache=True)
def _flat(scr, s, X, Y, ax, ay, tent):
    """Mean of the full-RGB screen under the footprint at (X, Y) (the ground truth's read)."""
    hs, ws = scr.shape[1], scr.shape[2]
    iax, iay = 1.0 / ax, 1.0 / ay
    i0, i1 = int(math.floor(Y - ay)), int(math.floor(Y + ay))
    j0, j1 = int(math.floor(X - ax)), int(math.floor(X + ax))
    r = 0.0
    g = 0.0
    b = 0.0
    for i in range(i0, i1 + 1):
        wy = _iw(Y, iay, float(i), i + 1.0, tent)
        ic = _clampi(i, hs)
        for j in range(j0, j1 + 1):
            wxy = _iw(X, iax, float(j), j + 1.0, tent) * wy
            jc = _clampi(j, ws)
            r += scr[s, ic, jc, 0] * wxy
            g += scr[s, ic, jc, 1] * wxy
            b += scr[s, ic, jc, 2] * wxy
    return r, g, b


@nb.njit(parallel=True, nogil=True, cache=True)
def capture(scr, G, I, wts, out, gt):
    """Steps 1-5 of every sample: ``out`` (N, H, W, 1) raw Bayer plane, or (N, H, W, 3) without a
    CFA (``I[s, 0] < 0``); ``gt`` (N, H, W, 3) the linear ground truth. ``scr`` is linear light."""
    n_s, h, w = gt.shape[0], gt.shape[1], gt.shape[2]
    n = wts.shape[1]
    for row in nb.prange(n_s * h):
        s = row // h
        y = row - s * h
        cs = G[s, G_CS]
        R = G[s, G_R]
        fill = G[s, G_FILL]
        fill_y = G[s, G_FILLY]
        ca = G[s, G_CA]
        mdx = G[s, G_MDX]
        mdy = G[s, G_MDY]
        layout = I[s, I_LAYOUT]
        ry = I[s, I_RY]
        rx = I[s, I_RX]
        tent = G[s, G_TENT] > 0.0
        half = G[s, G_TENT] if tent else 0.5 * cs  # footprint half-width in sensor pixels
        vc = y + 0.5 - G[s, G_CY]
        for x in range(w):
            uc = x + 0.5 - G[s, G_CX]
            X0, Y0 = _map(G, s, uc, vc)
            Xu, Yu = _map(G, s, uc + 1.0, vc)
            Xv, Yv = _map(G, s, uc, vc + 1.0)
            jx = math.sqrt((Xu - X0) ** 2 + (Xv - X0) ** 2)  # screen px per sensor px along x, y
            jy = math.sqrt((Yu - Y0) ** 2 + (Yv - Y0) ** 2)
            g0, g1, g2 = _flat(scr, s, X0, Y0, max(min(0.5 * jx, MAX_FOOT), 1e-9),
                               max(min(0.5 * jy, MAX_FOOT), 1e-9), False)
            ax = max(min(half * jx, MAX_FOOT), 1e-9)
            ay = max(min(half * jy, MAX_FOOT), 1e-9)
            if ry >= 0:
                red_row = (y & 1) == ry
                red_col = (x & 1) == rx
                c_lo = 0 if (red_row and red_col) else (2 if (not red_row and not red_col) else 1)
                c_hi = c_lo + 1
            else:
                c_lo = 0
                c_hi = 3
            m0 = 0.0
            m1 = 0.0
            m2 = 0.0
            for a in range(n):
                ov = -R + (a + 0.5) * cs
                for b in range(n):
                    ou = -R + (b + 0.5) * cs
                    wgt = wts[s, a] * wts[s, b]
                    t = (a * n + b + 0.5) / (n * n) - 0.5
                    mu = uc + ou + t * mdx
                    mv = vc + ov + t * mdy
                    for c in range(c_lo, c_hi):
                        sc = 1.0 + ca * (c - 1)
                        Xc, Yc = _map(G, s, mu * sc, mv * sc)
                        val = wgt * _stripe(scr, s, Xc, Yc, ax, ay, c, _lits(layout, c, fill), fill_y, tent)
                        if c == 0:
                            m0 += val
                        elif c == 1:
                            m1 += val
                        else:
                            m2 += val
            vig = 1.0 - G[s, G_VIG] * (uc * uc + vc * vc) * G[s, G_IRHO2]
            gt[s, y, x, 0] = g0
            gt[s, y, x, 1] = g1
            gt[s, y, x, 2] = g2
            if ry >= 0:
                out[s, y, x, 0] = (m0 if c_lo == 0 else (m1 if c_lo == 1 else m2)) * vig
            else:
                out[s, y, x, 0] = m0 * vig
                out[s, y, x, 1] = m1 * vig
                out[s, y, x, 2] = m2 * vig


@nb.njit(inline="always", cache=True)
def _decode(v):
    v = min(max(v, 0.0), 1.0)
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


@nb.njit(parallel=True, nogil=True, cache=True)
def decode(x, boxes, out):
    """sRGB -> linear light of each sample's box [y0, y1, x0, x1] of (N, Hs, Ws, 3) (clipped first);
    the rest of ``out`` is left as it was (the capture never reads it)."""
    n_s, hs = x.shape[0], x.shape[1]
    for row in nb.prange(n_s * hs):
        s = row // hs
        y = row - s * hs
        if y < boxes[s, 0] or y >= boxes[s, 1]:
            continue
        for xx in range(boxes[s, 2], boxes[s, 3]):
            for c in range(3):
                out[s, y, xx, c] = _decode(float(x[s, y, xx, c]))


@nb.njit(parallel=True, nogil=True, cache=True)
def add_noise(x, z, a, b):
    """In place on (N, P) flat planes: x + sqrt(max(a x + b, 0)) z, clipped to [0, 1]."""
    n_s, m = x.shape
    for q in nb.prange(n_s * m):
        s = q // m
        p = q - s * m
        v = float(x[s, p])
        v = v + math.sqrt(max(a[s] * v + b[s], 0.0)) * float(z[s, p])
        x[s, p] = min(max(v, 0.0), 1.0)


@nb.njit(inline="always", cache=True)
def _refl(i, n):
    i = -i - 1 if i < 0 else (2 * n - i - 1 if i >= n else i)
    return 0 if i < 0 else (n - 1 if i >= n else i)


@nb.njit(inline="always", cache=True)
def _encode(v, lut):
    """sRGB encoding by linear interpolation in a 2^16-interval table of the exact curve (error
    below 6e-7, at the kink of the curve; far below a 16-bit step; several times faster than pow)."""
    v = min(max(v, 0.0), 1.0)
    t = v * LUT_N
    k = min(int(t), LUT_N - 1)
    f = t - k
    return lut[k] + f * (lut[k + 1] - lut[k])


LUT_N = 65536


def encode_table() -> np.ndarray:
    """The exact sRGB encoding at v = k / LUT_N, k = 0..LUT_N (float64)."""
    v = np.arange(LUT_N + 1, dtype=np.float64) / LUT_N
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


ENCODE_LUT = encode_table()


@nb.njit(parallel=True, nogil=True, cache=True)
def blur_encode(x, taps, radius, tmp, out, lut):
    """Separable Gaussian (taps (N, T), radius (N,); radius 0: none) then sRGB encode.

    x, tmp, out: (N, H, W, C) float32; borders reflect half-sample (SciPy 'reflect')."""
    n_s, h, w, nc = x.shape
    for row in nb.prange(n_s * h):
        s = row // h
        y = row - s * h
        r = radius[s]
        for xx in range(w):
            for c in range(nc):
                if r == 0:
                    tmp[s, y, xx, c] = x[s, y, xx, c]
                else:
                    acc = 0.0
                    for t in range(2 * r + 1):
                        acc += taps[s, t] * x[s, y, _refl(xx + t - r, w), c]
                    tmp[s, y, xx, c] = acc
    for row in nb.prange(n_s * h):
        s = row // h
        y = row - s * h
        r = radius[s]
        for xx in range(w):
            for c in range(nc):
                if r == 0:
                    acc = float(tmp[s, y, xx, c])
                else:
                    acc = 0.0
                    for t in range(2 * r + 1):
                        acc += taps[s, t] * tmp[s, _refl(y + t - r, h), xx, c]
                out[s, y, xx, c] = _encode(acc, lut)
