"""Numba CPU kernels of the CBDNet camera pipeline (maths stated in ``camera_numpy.py``).

Three fused passes, each one sweep over memory, threads over (sample, row):

* ``mosaic_noise``: sRGB -> f^-1 lookup -> Bayer site -> + Philox noise -> clip, into a raw
  plane; optionally also the sRGB sigma side map (it needs the same input row).
* ``demosaic_crf``: Malvar or bilinear demosaic of the raw plane (reflecting borders) -> clip
  -> f lookup, written straight into the output batch.
* ``full_colour``: the no-mosaic path (and grayscale): f^-1 -> noise -> clip -> f per value.

Arithmetic is float32 in the oracle's operation order (constants are float32, no fastmath),
so with noise off the kernels reproduce the oracle bit for bit, CRF bin choices included; the
noise is float32 too.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from imgrestore.kernels.philox import normal4

F0 = np.float32(0.0)
F1 = np.float32(1.0)
F2 = np.float32(2.0)
F4 = np.float32(4.0)
F5 = np.float32(5.0)
F6 = np.float32(6.0)
F8 = np.float32(8.0)
HALF = np.float32(0.5)
ONE_HALF = np.float32(1.5)
QUARTER = np.float32(0.25)
BINS_M1 = np.float32(1023.0)


@nb.njit(inline="always", cache=True)
def lookup(table, v):
    """table[nearest bin of v]; v clipped to [0, 1] (CBDNet's nearest-bin semantics)."""
    if not v > F0:  # also catches NaN
        v = F0
    elif v > F1:
        v = F1
    return table[np.int32(v * BINS_M1 + HALF)]


@nb.njit(inline="always", cache=True)
def sqrt32(v):
    """Correctly rounded float32 sqrt (Numba's scalar np.sqrt returns float64)."""
    return np.float32(np.sqrt(v))


@nb.njit(inline="always", cache=True)
def variance(L, ss, sc, model):
    if model == 1:
        a = ss * L
        return a * a + sc * sc
    return L * (ss * ss) + sc * sc


@nb.njit(inline="always", cache=True)
def add_noise(L, var, z, clip):
    v = L + sqrt32(var) * z
    if clip:
        v = min(max(v, F0), F1)
    return v


@nb.njit(inline="always", cache=True)
def cfa_colour(y, x, ry, rx):
    red_row = (y & 1) == ry
    red_col = (x & 1) == rx
    if red_row and red_col:
        return 0
    if (not red_row) and (not red_col):
        return 2
    return 1


@nb.njit(inline="always", cache=True)
def refl(i, n):
    if i < 0:
        return -i - 1
    if i >= n:
        return 2 * n - i - 1
    return i


@nb.njit(inline="always", cache=True)
def _pick(z0, z1, z2, z3, j):
    if j == 0:
        return z0
    if j == 1:
        return z1
    if j == 2:
        return z2
    return z3


@nb.njit(parallel=True, cache=True)
def mosaic_noise(x, sel, inv, slope, crf, red, ss, sc, keys, model, clip, raw, sigma):
    """raw[m] = noisy Bayer plane of sample sel[m]; sigma[sel[m]] = sRGB std map (if sized)."""
    M = sel.shape[0]
    H = x.shape[1]
    W = x.shape[2]
    want_sigma = sigma.shape[0] > 0
    for t in nb.prange(M * H):
        m = t // H
        y = t - m * H
        s = sel[m]
        table = inv[crf[s]]
        ry = red[s, 0]
        rx = red[s, 1]
        noisy = ss[s, 0] > 0 or ss[s, 1] > 0 or ss[s, 2] > 0 or sc[s, 0] > 0 or sc[s, 1] > 0 or sc[s, 2] > 0
        p0 = y * W
        p1 = p0 + W
        z0 = z1 = z2 = z3 = F0
        for q in range(p0 >> 2, ((p1 - 1) >> 2) + 1):
            if noisy:
                z0, z1, z2, z3 = normal4(np.uint64(q), np.uint32(0), keys[s, 0], keys[s, 1])
            for j in range(4):
                p = q * 4 + j
                if p < p0 or p >= p1:
                    continue
                xx = p - p0
                c = cfa_colour(y, xx, ry, rx)
                L = lookup(table, x[s, y, xx, c])
                raw[m, y, xx] = add_noise(L, variance(L, ss[s, c], sc[s, c], model), _pick(z0, z1, z2, z3, j), clip)
        if want_sigma:
            sl = slope[crf[s]]
            for xx in range(W):
                for c in range(3):
                    L = lookup(table, x[s, y, xx, c])
                    sigma[s, y, xx, c] = lookup(sl, L) * sqrt32(variance(L, ss[s, c], sc[s, c], model))


@nb.njit(parallel=True, cache=True)
def full_colour(x, sel, inv, fwd, slope, crf, ss, sc, keys, model, clip, out, sigma):
    """No mosaic: out[sel[m]] = f(clip(f^-1(x) + noise)) per value; sigma map as above."""
    M = sel.shape[0]
    H = x.shape[1]
    W = x.shape[2]
    C = x.shape[3]
    want_sigma = sigma.shape[0] > 0
    for t in nb.prange(M * H):
        m = t // H
        y = t - m * H
        s = sel[m]
        ti = inv[crf[s]]
        tf = fwd[crf[s]]
        sl = slope[crf[s]]
        noisy = False
        for c in range(C):
            noisy = noisy or ss[s, c] > 0 or sc[s, c] > 0
        p0 = y * W * C
        p1 = p0 + W * C
        z0 = z1 = z2 = z3 = F0
        for q in range(p0 >> 2, ((p1 - 1) >> 2) + 1):
            if noisy:
                z0, z1, z2, z3 = normal4(np.uint64(q), np.uint32(0), keys[s, 0], keys[s, 1])
            for j in range(4):
                p = q * 4 + j
                if p < p0 or p >= p1:
                    continue
                xx = (p - p0) // C
                c = (p - p0) - xx * C
                L = lookup(ti, x[s, y, xx, c])
                var = variance(L, ss[s, c], sc[s, c], model)
                out[s, y, xx, c] = lookup(tf, add_noise(L, var, _pick(z0, z1, z2, z3, j), clip))
                if want_sigma:
                    sigma[s, y, xx, c] = lookup(sl, L) * sqrt32(var)


@nb.njit(inline="always", cache=True)
def malvar_pixel(raw, m, ym2, ym1, y, yp1, yp2, xm2, xm1, xx, xp1, xp2, kind):
    """(R, G, B) at one site; kind 0 R site, 1 G in a red row, 2 G in a blue row, 3 B site."""
    c = raw[m, y, xx]
    if kind == 0 or kind == 3:
        g = (F4 * c + F2 * (raw[m, ym1, xx] + raw[m, yp1, xx] + raw[m, y, xm1] + raw[m, y, xp1])
             - (raw[m, ym2, xx] + raw[m, yp2, xx] + raw[m, y, xm2] + raw[m, y, xp2])) / F8
        diag = raw[m, ym1, xm1] + raw[m, ym1, xp1] + raw[m, yp1, xm1] + raw[m, yp1, xp1]
        other = (F6 * c + F2 * diag
                 - ONE_HALF * (raw[m, ym2, xx] + raw[m, yp2, xx] + raw[m, y, xm2] + raw[m, y, xp2])) / F8
        if kind == 0:
            return c, g, other
        return other, g, c
    diag = raw[m, ym1, xm1] + raw[m, ym1, xp1] + raw[m, yp1, xm1] + raw[m, yp1, xp1]
    along_row = (F5 * c + F4 * (raw[m, y, xm1] + raw[m, y, xp1]) - (raw[m, y, xm2] + raw[m, y, xp2]) - diag
                 + HALF * (raw[m, ym2, xx] + raw[m, yp2, xx])) / F8
    along_col = (F5 * c + F4 * (raw[m, ym1, xx] + raw[m, yp1, xx]) - (raw[m, ym2, xx] + raw[m, yp2, xx]) - diag
                 + HALF * (raw[m, y, xm2] + raw[m, y, xp2])) / F8
    if kind == 1:
        return along_row, c, along_col
    return along_col, c, along_row


@nb.njit(inline="always", cache=True)
def bilinear_pixel(raw, m, ym1, y, yp1, xm1, xx, xp1, ry, rx):
    """(R, G, B) at one site: 3x3 weighted sums of each colour's sites (SciPy-reflect borders)."""
    r = F0
    g = F0
    b = F0
    for dy in range(3):
        yy = ym1 if dy == 0 else (y if dy == 1 else yp1)
        for dx in range(3):
            xc = xm1 if dx == 0 else (xx if dx == 1 else xp1)
            v = raw[m, yy, xc]
            col = cfa_colour(yy, xc, ry, rx)
            if col == 1:
                if dy == 1 or dx == 1:
                    g += (F1 if dy == 1 and dx == 1 else QUARTER) * v
            else:
                wgt = F1 if (dy == 1 and dx == 1) else (HALF if (dy == 1 or dx == 1) else QUARTER)
                if col == 0:
                    r += wgt * v
                else:
                    b += wgt * v
    return r, g, b


@nb.njit(parallel=True, cache=True)
def demosaic_crf(raw, sel, fwd, crf, red, method, apply_crf, out):
    """out[sel[m]] = f(clip(demosaic(raw[m]))), or the bare demosaic when not apply_crf."""
    M = raw.shape[0]
    H = raw.shape[1]
    W = raw.shape[2]
    for t in nb.prange(M * H):
        m = t // H
        y = t - m * H
        s = sel[m]
        ry = red[s, 0]
        rx = red[s, 1]
        tf = fwd[crf[s]]
        ym2 = refl(y - 2, H)
        ym1 = refl(y - 1, H)
        yp1 = refl(y + 1, H)
        yp2 = refl(y + 2, H)
        red_row = (y & 1) == ry
        for xx in range(W):
            xm2 = refl(xx - 2, W)
            xm1 = refl(xx - 1, W)
            xp1 = refl(xx + 1, W)
            xp2 = refl(xx + 2, W)
            if method == 0:
                red_col = (xx & 1) == rx
                if red_row:
                    kind = 0 if red_col else 1
                else:
                    kind = 2 if red_col else 3
                r, g, b = malvar_pixel(raw, m, ym2, ym1, y, yp1, yp2, xm2, xm1, xx, xp1, xp2, kind)
            else:
                r, g, b = bilinear_pixel(raw, m, ym1, y, yp1, xm1, xx, xp1, ry, rx)
            if apply_crf:
                out[s, y, xx, 0] = lookup(tf, r)
                out[s, y, xx, 1] = lookup(tf, g)
                out[s, y, xx, 2] = lookup(tf, b)
            else:
                out[s, y, xx, 0] = r
                out[s, y, xx, 1] = g
                out[s, y, xx, 2] = b
