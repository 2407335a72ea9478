"""Numba CPU kernels of the CBDNet camera pipeline (maths stated in ``camera_numpy.py``).

Longer than ~400 lines on purpose: the family's Numba kernels stay in one file, in the order of
the NumPy oracle and the CUDA file they mirror, so the twins can be read side by side.

Kernels (threads over samples and bands of rows):

* ``noise_tables``: per sample and channel, the noise std ``sqrt(sigma^2(L))`` and the sRGB
  sigma side value ``f'(L) sqrt(sigma^2(L))`` of each of the 1024 irradiance levels
  ``L = f^-1(bin)``. L = f^-1(x) takes only those 1024 values, so a pixel's noise std and
  sigma are one table read instead of a lookup, a variance and a square root; each entry is
  computed by the very operations the per-pixel code used, so every bit stays the same.
* ``camera_pipeline``: steps 1-5 of a whole batch in one parallel region. A Bayer sample is
  done in bands of rows, each in one pass: f^-1 lookup -> Bayer site -> + Philox noise -> clip
  into a band buffer (with a 2-row halo, recomputed by the neighbouring band: noise is a pure
  function of the pixel), the sigma side map from the same bins, then Malvar (or bilinear)
  demosaic -> f lookup straight into the output batch. The buffer stays in cache; no raw
  plane goes through memory. A no-mosaic sample (or grayscale) goes value by value:
  f^-1 -> noise -> clip -> f.
* ``mosaic_noise`` / ``demosaic_crf``: steps 1-3 and step 4(-5) alone, for the API and tests,
  built from the same row functions.

How the speed is had (measured on the 2-core AMD EPYC, single thread: 79 ms of CPU time for
the old per-pixel kernels on the benchmark batch, 16.5 ms for these): each row goes through
short loops that LLVM vectorises (AVX-512 here; checked in the assembly): bins of a whole row,
the Philox words and Box-Muller of a row (:func:`imgrestore.kernels.philox.normal_quads`), the
interior demosaic (columns 2 to W-3, an R/B site and a G site per step, no border reflection),
the noise arithmetic and clip. Table reads (gathers) run as tight scalar loops between them
(an AVX-512 gather was measured no faster than the scalar loop on this CPU). Three things
decide whether LLVM vectorises a loop, each found the hard way:

* ``error_model="numpy"``: Numba's default puts a divide-by-zero branch before every float
  division, which keeps the Box-Muller log (and the demosaic) scalar;
* indices LLVM can prove non-negative (views that start at the row, loop counts capped by
  :func:`bounded`, unsigned bins): otherwise Numba's negative-index wraparound leaves a select
  in every access and the loads are no longer consecutive;
* the vectorised loops are separate (not inlined) functions: inlined into the big parallel
  kernel body, the same loops stayed scalar.

Arithmetic is float32 in the oracle's operation order (constants are float32, no fastmath,
so no reassociation and no multiply-add contraction), so with noise off the kernels reproduce
the oracle bit for bit, CRF bin choices included; the noise is float32 too and equal on every
backend.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from imgrestore.kernels.philox import normal_quads

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
BINS = 1024
BINS_M1 = np.float32(BINS - 1)
BAND = 64  # rows per task of camera_pipeline: (64 + 4) x W floats of raw buffer stay in L2


@nb.njit(inline="always", cache=True)
def bounded(n):
    """n, capped at 2^28 (rows are far shorter): loop counts LLVM can bound.

    Numba wraps negative indices around (a compare and select per access). LLVM drops that
    select only when it can prove the index is non-negative, and for ``a[3 * i + 2]`` with
    ``i < n`` it can only if n is bounded; with the select left in, the accesses are not
    consecutive and the loop is not vectorised (measured: 5x slower demosaic). Every
    vectorised loop below runs over ``range(bounded(n))``.
    """
    return min(n, 1 << 28)


@nb.njit(inline="always", cache=True)
def nearest_bin(v):
    """CBDNet's bin of v: v clipped to [0, 1] (NaN -> 0), floor(1023 v + 0.5). Branch-free.

    Unsigned on purpose: Numba wraps negative indices around (a compare and select per read)
    for signed index types only; indices LLVM cannot prove non-negative also defeat its
    vectoriser. The same reason makes the row functions below index views from 0."""
    v = v if v > F0 else F0  # also catches NaN
    v = F1 if v > F1 else v
    return np.uint32(v * BINS_M1 + HALF)


@nb.njit(inline="always", cache=True)
def lookup(table, v):
    """table[nearest bin of v]; v clipped to [0, 1] (CBDNet's nearest-bin semantics)."""
    return table[nearest_bin(v)]


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
def add_noise(L, sd, z, clip):
    """L + sd z, clipped to [0, 1] when clip (sd = sqrt32(variance), as the oracle's sqrt(var))."""
    v = L + sd * z
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


@nb.njit(cache=True, error_model="numpy")
def noise_tables(inv, slope, crf, ss, sc, model, sd, sg):
    """sd[s, c, b] = sqrt(sigma^2(L)) and sg[s, c, b] = f'(L) * sd (if sg is sized), L = f^-1 bin b."""
    want_sigma = sg.shape[0] > 0
    for s in range(crf.shape[0]):
        ti = inv[crf[s]]
        sl = slope[crf[s]]
        for c in range(3):
            for b in range(BINS):
                L = ti[b]
                d = sqrt32(variance(L, ss[s, c], sc[s, c], model))
                sd[s, c, b] = d
                if want_sigma:
                    sg[s, c, b] = lookup(sl, L) * d


@nb.njit(inline="always", cache=True)
def _row_noise(noisy, p0, n, k0, k1, zbuf):
    """Normals of values p0 .. p0 + n - 1 of a sample's stream: zbuf[off + i]; returns off."""
    q0 = p0 >> 2
    if noisy:
        normal_quads(zbuf, q0, ((p0 + n - 1) >> 2) - q0 + 1, k0, k1, 0)
    else:
        for i in range(n + 8):
            zbuf[i] = F0
    return p0 - 4 * q0


@nb.njit(cache=True, error_model="numpy")
def _bins(src, n, ib):
    """ib[k] = nearest bin of src[k], k < n (vectorised)."""
    for k in range(bounded(n)):
        ib[k] = nearest_bin(src[k])


@nb.njit(cache=True, error_model="numpy")
def _raw_row(ib, W, c_even, c_odd, ti, sdt, z, clip, Lv, sv, raw):
    """One noisy Bayer row from the bins ib of its three channels (ib[3 x + c]); z[x] its normals."""
    ibe = ib[c_even:]
    ibo = ib[3 + c_odd:]
    sde = sdt[c_even]
    sdo = sdt[c_odd]
    for i in range(bounded(W >> 1)):  # table reads, two sites of known colour per step
        b0 = ibe[6 * i]
        b1 = ibo[6 * i]
        Lv[2 * i] = ti[b0]
        sv[2 * i] = sde[b0]
        Lv[2 * i + 1] = ti[b1]
        sv[2 * i + 1] = sdo[b1]
    if W & 1:
        b0 = ibe[3 * (W - 1)]
        Lv[W - 1] = ti[b0]
        sv[W - 1] = sde[b0]
    for xx in range(bounded(W)):  # vectorised
        raw[xx] = add_noise(Lv[xx], sv[xx], z[xx], clip)


@nb.njit(cache=True, error_model="numpy")
def _table_read(t, ib, n, dst):
    """dst[k] = t[ib[k]], k < n."""
    for k in range(bounded(n)):
        dst[k] = t[ib[k]]


@nb.njit(cache=True, error_model="numpy")
def _channel_reads(tabs, ib, n, C, dst):
    """dst[k] = tabs[c, ib[k]] for the n values of a row of C interleaved channels (c = k % C)."""
    if C == 3:
        t0 = tabs[0]
        t1 = tabs[1]
        t2 = tabs[2]
        for xx in range(bounded(n // 3)):
            dst[3 * xx] = t0[ib[3 * xx]]
            dst[3 * xx + 1] = t1[ib[3 * xx + 1]]
            dst[3 * xx + 2] = t2[ib[3 * xx + 2]]
    else:
        for k in range(bounded(n)):
            dst[k] = tabs[k % C, ib[k]]


@nb.njit(cache=True, error_model="numpy")
def _noisy_bins(Lv, sv, z, clip, n, ob):
    """ob[k] = bin of clip(Lv[k] + sv[k] z[k]) (vectorised)."""
    for k in range(bounded(n)):
        ob[k] = nearest_bin(add_noise(Lv[k], sv[k], z[k], clip))


@nb.njit(inline="always", cache=True)
def _mosaic_row(xr, y, W, ry, rx, noisy, k0, k1, ti, sdt, clip, ib, zbuf, Lv, sv, raw):
    """Steps 1-3 of row y (xr: its 3 W input values): raw[0:W] = clip(f^-1(x) + sigma z) at
    each site's CFA colour. Leaves the bins of the row's three channels in ib (for the sigma map)."""
    _bins(xr, 3 * W, ib)
    zoff = _row_noise(noisy, y * W, W, k0, k1, zbuf)
    red_row = (y & 1) == ry
    if red_row:
        c_even = 0 if rx == 0 else 1
        c_odd = 1 if rx == 0 else 0
    else:
        c_even = 1 if rx == 0 else 2
        c_odd = 2 if rx == 0 else 1
    _raw_row(ib, W, c_even, c_odd, ti, sdt, zbuf[zoff:], clip, Lv, sv, raw)


@nb.njit(inline="always", cache=True)
def _malvar_site(rm2, rm1, r0, rp1, rp2, xm2, xm1, xx, xp1, xp2, kind):
    """(R, G, B) at one site of a row; kind 0 R site, 1 G in a red row, 2 G in a blue row, 3 B site.
    The expressions of the oracle, operation for operation."""
    c = r0[xx]
    if kind == 0 or kind == 3:
        g = (F4 * c + F2 * (rm1[xx] + rp1[xx] + r0[xm1] + r0[xp1])
             - (rm2[xx] + rp2[xx] + r0[xm2] + r0[xp2])) / F8
        diag = rm1[xm1] + rm1[xp1] + rp1[xm1] + rp1[xp1]
        other = (F6 * c + F2 * diag - ONE_HALF * (rm2[xx] + rp2[xx] + r0[xm2] + r0[xp2])) / F8
        if kind == 0:
            return c, g, other
        return other, g, c
    diag = rm1[xm1] + rm1[xp1] + rp1[xm1] + rp1[xp1]
    along_row = (F5 * c + F4 * (r0[xm1] + r0[xp1]) - (r0[xm2] + r0[xp2]) - diag
                 + HALF * (rm2[xx] + rp2[xx])) / F8
    along_col = (F5 * c + F4 * (rm1[xx] + rp1[xx]) - (rm2[xx] + rp2[xx]) - diag
                 + HALF * (r0[xm2] + r0[xp2])) / F8
    if kind == 1:
        return along_row, c, along_col
    return along_col, c, along_row


@nb.njit(inline="always", cache=True)
def _bilinear_site(rm1, r0, rp1, ym1, y, yp1, xm1, xx, xp1, ry, rx):
    """(R, G, B) at one site: 3x3 weighted sums of each colour's sites (rows/columns already
    reflected; the colour of a neighbour is that of the site it reads)."""
    r = F0
    g = F0
    b = F0
    for dy in range(3):
        row = rm1 if dy == 0 else (r0 if dy == 1 else rp1)
        yy = ym1 if dy == 0 else (y if dy == 1 else yp1)
        for dx in range(3):
            xc = xm1 if dx == 0 else (xx if dx == 1 else xp1)
            v = row[xc]
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


@nb.njit(cache=True, error_model="numpy")
def _malvar_interior(rm2, rm1, r0, rp1, rp2, st, npairs, red_row, R, G, B):
    """Malvar at columns st .. st + 2 npairs - 1, all at least 2 from the border: the R/B site
    at xx = st + 2 j, the G site at xx + 1. No reflection, no branches: vectorised.

    The rows are read through views starting at column st - 2 (so column xx + d is index
    2 j + 2 + d, never negative) and the planes through views starting at st."""
    a2 = rm2[st - 2:]
    a1 = rm1[st - 2:]
    a0 = r0[st - 2:]
    b1 = rp1[st - 2:]
    b2 = rp2[st - 2:]
    Rv = R[st:]
    Gv = G[st:]
    Bv = B[st:]
    for j in range(bounded(npairs)):
        x = 2 * j + 2  # the R/B site, column st + 2 j
        # R or B site (kind 0 in a red row, 3 in a blue row)
        c = a0[x]
        g = (F4 * c + F2 * (a1[x] + b1[x] + a0[x - 1] + a0[x + 1])
             - (a2[x] + b2[x] + a0[x - 2] + a0[x + 2])) / F8
        diag = a1[x - 1] + a1[x + 1] + b1[x - 1] + b1[x + 1]
        other = (F6 * c + F2 * diag - ONE_HALF * (a2[x] + b2[x] + a0[x - 2] + a0[x + 2])) / F8
        Rv[2 * j] = c if red_row else other
        Gv[2 * j] = g
        Bv[2 * j] = other if red_row else c
        # G site (kind 1 in a red row, 2 in a blue row), column st + 2 j + 1
        x = 2 * j + 3
        c = a0[x]
        diag = a1[x - 1] + a1[x + 1] + b1[x - 1] + b1[x + 1]
        along_row = (F5 * c + F4 * (a0[x - 1] + a0[x + 1]) - (a0[x - 2] + a0[x + 2]) - diag
                     + HALF * (a2[x] + b2[x])) / F8
        along_col = (F5 * c + F4 * (a1[x] + b1[x]) - (a2[x] + b2[x]) - diag
                     + HALF * (a0[x - 2] + a0[x + 2])) / F8
        Rv[2 * j + 1] = along_row if red_row else along_col
        Gv[2 * j + 1] = c
        Bv[2 * j + 1] = along_col if red_row else along_row


@nb.njit(inline="always", cache=True)
def _demosaic_cols(rm2, rm1, r0, rp1, rp2, ym1, y, yp1, W, ry, rx, method, lo, hi, R, G, B):
    """Columns lo .. hi - 1 of a row, site by site with reflected columns (the borders)."""
    red_row = (y & 1) == ry
    for xx in range(lo, hi):
        xm1 = refl(xx - 1, W)
        xp1 = refl(xx + 1, W)
        if method == 0:
            red_col = (xx & 1) == rx
            if red_row:
                kind = 0 if red_col else 1
            else:
                kind = 2 if red_col else 3
            r, g, b = _malvar_site(rm2, rm1, r0, rp1, rp2, refl(xx - 2, W), xm1, xx, xp1, refl(xx + 2, W), kind)
        else:
            r, g, b = _bilinear_site(rm1, r0, rp1, ym1, y, yp1, xm1, xx, xp1, ry, rx)
        R[xx] = r
        G[xx] = g
        B[xx] = b


@nb.njit(inline="always", cache=True)
def interior_span(W, y, ry, rx):
    """(st, npairs): the Malvar columns of row y done by the vectorised interior loop, st .. st +
    2 npairs - 1, each an R/B site followed by a G site, all at least 2 columns from a border."""
    red_row = (y & 1) == ry
    # the R/B site of this row has column parity rx in a red row, 1 - rx in a blue row
    st = 2 + (rx if red_row else 1 - rx)
    if W - 4 - st < 0:
        return st, 0
    return st, (W - 4 - st) // 2 + 1


@nb.njit(inline="always", cache=True)
def _demosaic_row(rm2, rm1, r0, rp1, rp2, ym1, y, yp1, W, ry, rx, method, R, G, B):
    """Planes R, G, B [0:W] of row y from its five (already reflected) neighbour rows."""
    if method == 0:
        st, npairs = interior_span(W, y, ry, rx)
        _malvar_interior(rm2, rm1, r0, rp1, rp2, st, npairs, (y & 1) == ry, R, G, B)
        if npairs > 0:
            _demosaic_cols(rm2, rm1, r0, rp1, rp2, ym1, y, yp1, W, ry, rx, method, 0, st, R, G, B)
            _demosaic_cols(rm2, rm1, r0, rp1, rp2, ym1, y, yp1, W, ry, rx, method, st + 2 * npairs, W, R, G, B)
            return
    _demosaic_cols(rm2, rm1, r0, rp1, rp2, ym1, y, yp1, W, ry, rx, method, 0, W, R, G, B)


@nb.njit(cache=True, error_model="numpy")
def _crf_row(R, G, B, W, tf, apply_crf, ib, dst):
    """dst[3 x + c] = f(plane c [x]) (or the bare value when not apply_crf)."""
    if apply_crf:
        for xx in range(bounded(W)):  # vectorised
            ib[3 * xx] = nearest_bin(R[xx])
            ib[3 * xx + 1] = nearest_bin(G[xx])
            ib[3 * xx + 2] = nearest_bin(B[xx])
        _table_read(tf, ib, 3 * W, dst)
    else:
        for xx in range(bounded(W)):
            dst[3 * xx] = R[xx]
            dst[3 * xx + 1] = G[xx]
            dst[3 * xx + 2] = B[xx]


@nb.njit(inline="always", cache=True)
def _mosaic_band(xf, of, sf, s, y0, y1, H, W, inv, fwd, crf, red, sd, sg, keys, noisy, clip, method, want_sigma):
    """Steps 1-5 of rows y0 .. y1 - 1 of Bayer sample s: the raw rows plus a 2-row halo into a
    local buffer (with the sigma rows from the same bins), then demosaic and f into out."""
    ylo = max(0, y0 - 2)
    yhi = min(H, y1 + 2)
    buf = np.empty((yhi - ylo, W), np.float32)
    ib = np.empty(3 * W, np.uint32)
    zbuf = np.empty(W + 8, np.float32)
    Lv = np.empty(W, np.float32)
    sv = np.empty(W, np.float32)
    R = np.empty(W, np.float32)
    G = np.empty(W, np.float32)
    B = np.empty(W, np.float32)
    ry = red[s, 0]
    rx = red[s, 1]
    ti = inv[crf[s]]
    tf = fwd[crf[s]]
    sdt = sd[s]
    for yy in range(ylo, yhi):
        xbase = (s * H + yy) * W * 3
        _mosaic_row(xf[xbase:xbase + 3 * W], yy, W, ry, rx, noisy[s], keys[s, 0], keys[s, 1], ti, sdt, clip, ib,
                    zbuf, Lv, sv, buf[yy - ylo])
        if want_sigma and y0 <= yy < y1:
            _channel_reads(sg[s], ib, 3 * W, 3, sf[xbase:xbase + 3 * W])
    for y in range(y0, y1):
        ym2 = refl(y - 2, H)
        ym1 = refl(y - 1, H)
        yp1 = refl(y + 1, H)
        yp2 = refl(y + 2, H)
        _demosaic_row(buf[ym2 - ylo], buf[ym1 - ylo], buf[y - ylo], buf[yp1 - ylo], buf[yp2 - ylo], ym1, y, yp1, W,
                      ry, rx, method, R, G, B)
        base = (s * H + y) * W * 3
        _crf_row(R, G, B, W, tf, True, ib, of[base:base + 3 * W])


@nb.njit(inline="always", cache=True)
def _full_band(xf, of, sf, s, y0, y1, H, W, C, inv, fwd, crf, sd, sg, keys, noisy, clip, want_sigma):
    """Rows y0 .. y1 - 1 of no-mosaic sample s: f(clip(f^-1(x) + noise)) per value, and sigma."""
    n = W * C
    ti = inv[crf[s]]
    tf = fwd[crf[s]]
    sdt = sd[s]
    ib = np.empty(n, np.uint32)
    ob = np.empty(n, np.uint32)
    zbuf = np.empty(n + 8, np.float32)
    Lv = np.empty(n, np.float32)
    sv = np.empty(n, np.float32)
    for y in range(y0, y1):
        base = (s * H + y) * n
        _bins(xf[base:base + n], n, ib)
        z = zbuf[_row_noise(noisy[s], y * n, n, keys[s, 0], keys[s, 1], zbuf):]
        _table_read(ti, ib, n, Lv)
        _channel_reads(sdt, ib, n, C, sv)
        _noisy_bins(Lv, sv, z, clip, n, ob)
        _table_read(tf, ob, n, of[base:base + n])
        if want_sigma:
            _channel_reads(sg[s], ib, n, C, sf[base:base + n])


@nb.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def camera_pipeline(x, mos, full, inv, fwd, crf, red, sd, sg, keys, noisy, clip, method, band, out, sigma):
    """Steps 1-5 of a batch in one parallel region: Bayer samples ``mos`` (fused mosaic, noise,
    demosaic, f) and no-mosaic samples ``full``; sigma[s] too when ``sigma`` is sized.

    Threads over (sample, band of ``band`` rows); a Bayer band recomputes a 2-row halo of raw
    rows (the noise of a pixel is a pure function of it), so bands are independent.
    """
    H = x.shape[1]
    W = x.shape[2]
    C = x.shape[3]
    want_sigma = sigma.shape[0] > 0
    nband = (H + band - 1) // band
    n_mos = mos.shape[0] * nband
    xf = x.reshape(-1)
    of = out.reshape(-1)
    sf = sigma.reshape(-1)
    for tp in nb.prange(n_mos + full.shape[0] * nband):
        t = np.int64(tp)  # parfor indices may be unsigned: keep the index arithmetic signed
        u = t if t < n_mos else t - n_mos
        m = u // nband
        y0 = (u - m * nband) * band
        y1 = min(H, y0 + band)
        if t < n_mos:
            _mosaic_band(xf, of, sf, mos[m], y0, y1, H, W, inv, fwd, crf, red, sd, sg, keys, noisy, clip, method,
                         want_sigma)
        else:
            _full_band(xf, of, sf, full[m], y0, y1, H, W, C, inv, fwd, crf, sd, sg, keys, noisy, clip, want_sigma)


@nb.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def mosaic_noise(x, sel, inv, crf, red, sd, keys, noisy, clip, raw):
    """raw[m] = noisy Bayer plane of sample sel[m] (steps 1-3 alone); threads over bands of rows."""
    M = sel.shape[0]
    H = x.shape[1]
    W = x.shape[2]
    nband = (H + BAND - 1) // BAND
    xf = x.reshape(-1)
    for tp in nb.prange(M * nband):
        t = np.int64(tp)
        m = t // nband
        s = sel[m]
        y0 = (t - m * nband) * BAND
        ib = np.empty(3 * W, np.uint32)
        zbuf = np.empty(W + 8, np.float32)
        Lv = np.empty(W, np.float32)
        sv = np.empty(W, np.float32)
        for y in range(y0, min(H, y0 + BAND)):
            base = (s * H + y) * W * 3
            _mosaic_row(xf[base:base + 3 * W], y, W, red[s, 0], red[s, 1], noisy[s], keys[s, 0], keys[s, 1],
                        inv[crf[s]], sd[s], clip, ib, zbuf, Lv, sv, raw[m, y])


@nb.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def demosaic_crf(raw, sel, fwd, crf, red, method, apply_crf, out):
    """out[sel[m]] = f(demosaic(raw[m])), or the bare demosaic when not apply_crf; threads over
    bands of rows."""
    M = raw.shape[0]
    H = raw.shape[1]
    W = raw.shape[2]
    nband = (H + BAND - 1) // BAND
    of = out.reshape(-1)
    for tp in nb.prange(M * nband):
        t = np.int64(tp)
        m = t // nband
        s = sel[m]
        y0 = (t - m * nband) * BAND
        R = np.empty(W, np.float32)
        G = np.empty(W, np.float32)
        B = np.empty(W, np.float32)
        ib = np.empty(3 * W, np.uint32)
        for y in range(y0, min(H, y0 + BAND)):
            ym1 = refl(y - 1, H)
            yp1 = refl(y + 1, H)
            _demosaic_row(raw[m, refl(y - 2, H)], raw[m, ym1], raw[m, y], raw[m, yp1], raw[m, refl(y + 2, H)], ym1,
                          y, yp1, W, red[s, 0], red[s, 1], method, R, G, B)
            base = (s * H + y) * W * 3
            _crf_row(R, G, B, W, fwd[crf[s]], apply_crf, ib, of[base:base + 3 * W])
