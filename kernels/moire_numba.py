"""Numba kernels of the moire simulator: the CPU twin of ``moire.cu`` (maths in ``moire_numpy.py``).

Longer than ~400 lines on purpose: the family's Numba kernels stay in one file, in the order of
the NumPy oracle and the CUDA file they mirror, so the twins can be read side by side.

* :func:`capture` fuses steps 1-5: for every sensor pixel, n x n supersamples tiling its
  aperture, each undistorted, mapped through the inverse homography onto the screen and reading
  the subpixel stripes of the pixel's CFA colour filtered over its footprint (a box, or with the
  optical low-pass a tent: ``moire_numpy.olpf_cells``); the ground truth reads the flat full-RGB
  screen box-filtered over the pixel. No upsampled screen is ever rendered.
* :func:`decode` (sRGB -> linear) before it;
* :func:`develop` fuses steps 6-8 after it, in bands of rows: glare, Poisson-Gaussian noise
  (Philox, drawn per row), saturation, the mirror-padded demosaic, the separable Gaussian
  in-camera denoise and the sRGB encoding of photo and ground truth; the encoding interpolates a
  2^16-interval table of the exact curve (error < 6e-7).

Arithmetic is float64 in the order of the oracle; images are float32 in memory.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from imgrestore.kernels import tone
from imgrestore.kernels.camera_numba import F0, F1, _bilinear_site, _malvar_site, _row_noise, cfa_colour
from imgrestore.kernels.moire_numpy import (G_CA, G_CS, G_CX, G_CY, G_FILL, G_FILLY, G_H, G_IRHO2, G_K1, G_K2,
                                            G_MDX, G_MDY, G_R, G_TENT, G_VIG, I_LAYOUT, I_RX, I_RY, MAX_FOOT)

BAND = 32  # output rows per task of develop

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
    the rest of ``out`` is left as it was (the capture never reads it).

    Screens and photos are 8-bit, so nearly every value is some float32(k) * float32(1/255): those
    take their result from a 256-entry table made here by the very same ``_decode`` (the same bits;
    4.3 -> 0.06 ms a 256^2 pair); any other value is computed."""
    n_s, hs = x.shape[0], x.shape[1]
    key = np.empty(256, np.float32)
    lut = np.empty(256, np.float32)
    for k in range(256):
        key[k] = np.float32(k) * np.float32(1.0 / 255.0)
        lut[k] = _decode(float(key[k]))
    for row in nb.prange(n_s * hs):
        s = row // hs
        y = row - s * hs
        if y < boxes[s, 0] or y >= boxes[s, 1]:
            continue
        for xx in range(boxes[s, 2], boxes[s, 3]):
            for c in range(3):
                v = x[s, y, xx, c]
                k = int(v * np.float32(255.0) + np.float32(0.5))
                if 0 <= k <= 255 and key[k] == v:
                    out[s, y, xx, c] = lut[k]
                else:
                    out[s, y, xx, c] = _decode(float(v))


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
    return tone.srgb_encode(np.arange(LUT_N + 1, dtype=np.float64) / LUT_N)


ENCODE_LUT = encode_table()


@nb.njit(inline="always", cache=True)
def _mirror(i, n):
    """Whole-sample reflection of the demosaic's pad (numpy.pad 'reflect', period 2 (n - 1)):
    -1 -> 1, n -> n - 2; an index keeps its parity, a Bayer site its colour."""
    if n == 1:
        return 0
    period = 2 * (n - 1)
    i = i % period  # Python semantics: non-negative
    return period - i if i >= n else i


@nb.njit(inline="always", cache=True)
def _raw(v, a, b, noisy, z):
    """A raw value after noise (x + sqrt(max(a x + b, 0)) z in float64, clipped) and saturation."""
    if noisy:
        d = float(v)
        d = d + math.sqrt(max(a * d + b, 0.0)) * float(z)
        v = np.float32(min(max(d, 0.0), 1.0))
    return min(max(v, F0), F1)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _raw_rows(cap, glare, s, p_lo, p_hi, W, nc, a, b, noisy, k0, k1, zbuf, R):
    """R[i] = the raw of row p_lo + i of sample s (its W nc values): capture + glare, noise from
    the sample's Philox stream (one row of quads at a time, vectorised), saturation."""
    n = W * nc
    has_glare = glare.shape[0] > 0
    for i in range(p_hi - p_lo):
        yy = p_lo + i
        off = _row_noise(noisy, yy * n, n, k0, k1, zbuf)  # zeros when not noisy (_raw ignores them)
        for xx in range(W):
            for c in range(nc):
                v = cap[s, yy, xx, c]
                if has_glare:
                    v = v + glare[s, yy, xx]
                R[i, xx * nc + c] = _raw(v, a, b, noisy, zbuf[off + xx * nc + c])


@nb.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def develop(cap, gt, glare, ab, keys, red, method, taps, radius, lut, out, tgt):
    """Steps 6-8 of every sample in one parallel pass (the CPU twin of ``moire_develop`` in moire.cu).

    cap (N, H, W, nc): the capture (nc 1: Bayer raw with red site ``red[s]``, 3: no CFA); gt (N,
    H, W, 3) the linear ground truth; glare (N, H, W) added before the noise, or shape (0, 0, 0);
    ab (N, 2) noise (a, b), 0 0: none; keys (N, 2) Philox keys; method 0 Malvar, 1 bilinear, 2
    none; taps (N, T), radius (N,) the Gaussian denoise (0: none); out, tgt (N, H, W, 3) sRGB.

    Threads over (sample, band of BAND rows). A band makes the raw of its rows widened by the
    blur radius r and the demosaic's 2 (noise drawn row by row: no noise plane), demosaics the
    rows it blurs (the mirrored pad read in place, not copied), blurs across then down (half-sample
    reflection) and encodes; halo rows are recomputed by both bands, which is exact (the noise is
    a pure function of the value's index). Every value is computed by the operations, in the
    order, of the separate steps this replaced (the demosaic by camera_numba's site functions),
    so the results are theirs bit for bit.
    """
    n_s, H, W, nc = cap.shape
    nband = (H + BAND - 1) // BAND
    demosaic = nc == 1 and method < 2
    for tp in nb.prange(n_s * nband):
        s = tp // nband
        y0 = (tp - s * nband) * BAND
        y1 = min(H, y0 + BAND)
        r = radius[s]
        a = ab[s, 0]
        b = ab[s, 1]
        noisy = a != 0.0 or b != 0.0
        ry = red[s, 0]
        rx = red[s, 1]
        ya = max(0, y0 - r)
        yb = min(H, y1 + r)
        pa = max(0, ya - 2) if demosaic else ya
        pb = min(H, yb + 2) if demosaic else yb
        zbuf = np.empty(W * nc + 8, np.float32)
        R = np.empty((pb - pa, W * nc), np.float32)
        _raw_rows(cap, glare, s, pa, pb, W, nc, a, b, noisy, keys[s, 0], keys[s, 1], zbuf, R)
        D = np.empty((yb - ya, W, 3), np.float32)
        for j in range(yb - ya):
            yy = ya + j
            if demosaic:
                rm2 = R[_mirror(yy - 2, H) - pa]
                rm1 = R[_mirror(yy - 1, H) - pa]
                r0 = R[yy - pa]
                rp1 = R[_mirror(yy + 1, H) - pa]
                rp2 = R[_mirror(yy + 2, H) - pa]
                red_row = (yy & 1) == ry
                for xx in range(W):
                    xm1 = _mirror(xx - 1, W)
                    xp1 = _mirror(xx + 1, W)
                    if method == 0:
                        red_col = (xx & 1) == rx
                        if red_row:
                            kind = 0 if red_col else 1
                        else:
                            kind = 2 if red_col else 3
                        rr, gg, bb = _malvar_site(rm2, rm1, r0, rp1, rp2, _mirror(xx - 2, W), xm1, xx, xp1,
                                                  _mirror(xx + 2, W), kind)
                    else:
                        rr, gg, bb = _bilinear_site(rm1, r0, rp1, yy - 1, yy, yy + 1, xm1, xx, xp1, ry, rx)
                    D[j, xx, 0] = rr
                    D[j, xx, 1] = gg
                    D[j, xx, 2] = bb
            elif nc == 1:  # method 'none': each site's value in its colour, 0 in the others
                for xx in range(W):
                    col = cfa_colour(yy, xx, ry, rx)
                    v = R[yy - pa, xx]
                    for c in range(3):
                        D[j, xx, c] = v if c == col else F0
            else:
                for xx in range(W):
                    for c in range(3):
                        D[j, xx, c] = R[yy - pa, 3 * xx + c]
        Hb = np.empty((yb - ya, W, 3), np.float32)
        for j in range(yb - ya):
            for xx in range(W):
                for c in range(3):
                    if r == 0:
                        Hb[j, xx, c] = D[j, xx, c]
                    else:
                        acc = 0.0
                        for t in range(2 * r + 1):
                            acc += taps[s, t] * D[j, _refl(xx + t - r, W), c]
                        Hb[j, xx, c] = acc
        for y in range(y0, y1):
            for xx in range(W):
                for c in range(3):
                    if r == 0:
                        acc = float(Hb[y - ya, xx, c])
                    else:
                        acc = 0.0
                        for t in range(2 * r + 1):
                            acc += taps[s, t] * Hb[_refl(y + t - r, H) - ya, xx, c]
                    out[s, y, xx, c] = _encode(acc, lut)
                    tgt[s, y, xx, c] = _encode(float(gt[s, y, xx, c]), lut)
