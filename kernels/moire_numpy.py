"""The LCD-screen / camera moire simulator stated plainly in NumPy: the oracle of the kernels.

One function per step of the pipeline (see :mod:`imgrestore.plugins.moire` for the parameters
and their ranges). Slow on purpose and written for reading; the Numba kernels
(``moire_numba.py``) and the CUDA kernels (``moire.cu``) compute the same maths, and the tests
compare them against these functions. The host-side geometry (pose homography, optical
low-pass cells, the packed per-sample parameter rows) is built here once and shared by every
backend.

Conventions
-----------
* Screen coordinates are in screen pixels, with pixel (i, j) of the screenshot covering
  ``x in [j, j + 1), y in [i, i + 1)``. Sensor coordinates are in sensor pixels, centred on
  the optical centre (the middle of the output patch), x right and y down.
* Sensor -> screen is ONE inverse mapping per sample point: radial undistortion
  ``p_u = p_d (1 + k1 r^2 + k2 r^4)`` (r = |p_d| over the patch's half-diagonal; k1 > 0 is
  barrel distortion), then the homography ``H`` of the camera pose (:func:`homography`).
* The screen emits linear light. Each screen pixel shows vertical R, G, B stripes one third of
  a pixel wide (layout RGB; BGR reverses them; PenTile RG/BG alternates two half-width
  subpixels), of which a centred fraction ``fill`` is lit across and ``fill_y`` along (the black
  matrix). Brightness is scaled so that each pixel's mean emission per colour equals its
  (linear) source value.
* Every sample point reads the screen filtered over its own footprint (the sub-cell it stands
  for, mapped through the local Jacobian to an axis-aligned screen footprint), analytically: the
  integral of stripes x content against the footprint is exact, so the supersampling adds no
  aliasing of its own. The n x n sample points always tile the pixel aperture (cells of 1/n).
  Without optical low-pass their footprints are boxes of one cell: together exactly the pixel
  aperture. With it they are tents (box * box) whose variance makes up the Gaussian's plus
  what the n points lack of the aperture's (:func:`olpf_cells`): the summed PSF has exactly the
  second moment of the flat-top Gaussian, equals it to within 0.03 of its MTF below 0.75
  cycles/pixel for sigma <= 0.4, and its stop band falls as 1/f^2 like the real filter's.
"""

from __future__ import annotations

import math
import numpy as np

from imgrestore.kernels import tone

# -- packed per-sample parameter rows (shared by NumPy, Numba and CUDA) ----------------------
# float64 row G[s]: homography (9), k1, k2, 1/rho^2, fill, fill_y, ca, motion dx, motion dy,
# vignette, cell size, half-width R of the sample points' span, sensor centre x, sensor centre y,
# tent footprint half-width in sensor pixels (0: box footprints of one cell)
G_H, G_K1, G_K2, G_IRHO2, G_FILL, G_FILLY, G_CA, G_MDX, G_MDY, G_VIG, G_CS, G_R, G_CX, G_CY, G_TENT = (
    0, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22)
NG = 23
# int32 row I[s]: red-site row, red-site column (-1, -1: no CFA, every pixel records R, G, B),
# layout (0 RGB, 1 BGR, 2 PenTile)
I_RY, I_RX, I_LAYOUT = 0, 1, 2
NI = 3
LAYOUTS = ("RGB", "BGR", "pentile")
MAX_FOOT = 4.0  # largest footprint half-width read, in screen pixels (the clamp is documented)


# -- step 1 / 10: colour encodings -------------------------------------------------------------
def srgb_decode(v: np.ndarray) -> np.ndarray:
    """sRGB-encoded [0, 1] -> linear light (IEC 61966-2-1), float32 (computed in float64)."""
    return tone.srgb_decode(np.asarray(v, np.float64)).astype(np.float32)


def srgb_encode(v: np.ndarray) -> np.ndarray:
    """Linear light -> sRGB-encoded [0, 1] (clipped first), float32 (computed in float64): the
    camera's output curve."""
    return tone.srgb_encode(np.asarray(v, np.float64)).astype(np.float32)


# -- step 2: camera pose ------------------------------------------------------------------------
def rotation(roll: float, tilt: float, pan: float) -> np.ndarray:
    """Camera-to-world rotation (degrees): Rz(-roll) Rx(tilt) Ry(pan)."""
    a, b, c = (math.radians(t) for t in (-roll, tilt, pan))
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    ry = np.array([[math.cos(c), 0, math.sin(c)], [0, 1, 0], [-math.sin(c), 0, math.cos(c)]])
    return rz @ rx @ ry


def focal(out_w: int, fov: float) -> float:
    """Focal length in sensor pixels for a horizontal field of view ``fov`` degrees over the patch."""
    return (out_w / 2.0) / math.tan(math.radians(fov) / 2.0)


def homography(k: float, roll: float, tilt: float, pan: float, fov: float, out_hw: tuple[int, int],
               src_hw: tuple[int, int], phase: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """3x3 map from undistorted, centred sensor coordinates (u, v, 1) to screen (x, y, 1).

    A pinhole camera of focal length F (from ``fov``) looks at the screen plane from distance
    D = F / k along its optical axis, which passes through the screen point at the centre of
    the source crop shifted by ``phase`` (screen pixels). The camera is rotated by ``R``
    (:func:`rotation`); a sensor ray d = (u, v, F) meets the plane at
    X = C + t R d with C = -D R e_z. Fronto-parallel (tilt = pan = 0) this is
    ``x = (u cos(roll) + v sin(roll)) / k + cx``: k sensor pixels per screen pixel and the screen's
    rows turned by ``roll`` degrees (clockwise on the image, y down).
    """
    R = rotation(roll, tilt, pan)
    F = focal(out_hw[1], fov)
    M = np.array([
        [(R[2, 2] * R[0, 0] - R[0, 2] * R[2, 0]) / k, (R[2, 2] * R[0, 1] - R[0, 2] * R[2, 1]) / k, 0.0],
        [(R[2, 2] * R[1, 0] - R[1, 2] * R[2, 0]) / k, (R[2, 2] * R[1, 1] - R[1, 2] * R[2, 1]) / k, 0.0],
        [R[2, 0] / F, R[2, 1] / F, R[2, 2]],
    ])
    cx = src_hw[1] / 2.0 + phase[0]
    cy = src_hw[0] / 2.0 + phase[1]
    M[0] += cx * M[2]
    M[1] += cy * M[2]
    return M


# -- step 3: radial distortion + the whole inverse mapping -------------------------------------
def map_points(Hm: np.ndarray, k1: float, k2: float, irho2: float, ud: np.ndarray, vd: np.ndarray):
    """Screen (x, y) seen by distorted, centred sensor points (ud, vd): undistort, then ``Hm``."""
    r2 = (ud * ud + vd * vd) * irho2
    g = 1.0 + r2 * (k1 + k2 * r2)
    u = ud * g
    v = vd * g
    iw = 1.0 / (Hm[2, 0] * u + Hm[2, 1] * v + Hm[2, 2])
    return (Hm[0, 0] * u + Hm[0, 1] * v + Hm[0, 2]) * iw, (Hm[1, 0] * u + Hm[1, 1] * v + Hm[1, 2]) * iw


# -- step 4: optical low-pass -------------------------------------------------------------------
def olpf_cells(n: int, sigma: float) -> tuple[float, float, np.ndarray, float]:
    """(half-width R of the points' span, cell size, 1-D point weights (n,), tent half-width h).

    The PSF is the unit pixel aperture convolved with a Gaussian of ``sigma`` sensor pixels (the
    flat-top Gaussian ``Phi((d + 1/2) / sigma) - Phi((d - 1/2) / sigma)`` per axis). The n x n
    sample points tile the aperture (cell 1/n, equal weights). With sigma = 0 each reads the
    screen under a box footprint of one cell (h = 0): together the exact box integral. With
    sigma > 0 each reads it under a tent of half-width h, ``h^2 / 6 = sigma^2 + cs^2 / 12``
    (the tent's variance makes up the Gaussian's and the variance cs^2 / 12 that n points lack
    of the box's): the summed PSF ``comb_n * tent_h`` has the flat-top Gaussian's variance
    1/12 + sigma^2, tends to the box as sigma -> 0, and its MTF
    ``(1/n) sum cos(2 pi f d_i) sinc^2(h f)`` is within 0.03 of ``sinc(f) exp(-2 pi^2 sigma^2 f^2)``
    below 0.75 cycles/pixel for sigma <= 0.4 (points spread over the whole PSF support and read
    under tents of a cell's width, the scheme this replaces, blurred three times too much at
    sigma = 0.1).
    """
    cs = 1.0 / n
    h = math.sqrt(6.0 * sigma * sigma + 0.5 * cs * cs) if sigma > 0 else 0.0
    return 0.5, cs, np.full(n, 1.0 / n), h


def pack(sample: dict, out_hw: tuple[int, int], src_hw: tuple[int, int], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The packed rows (G float64 (NG,), I int32 (NI,), cell weights float64 (n,)) of one sample.

    ``sample`` holds the drawn values: k, roll, tilt, pan, fov, phase_x, phase_y, k1, k2, olpf,
    defocus, fill, fill_y, layout, cfa (bool), red (row, col), ca, motion, motion_angle, vignette.
    """
    h, w = out_hw
    Hm = homography(sample["k"], sample["roll"], sample["tilt"], sample["pan"], sample["fov"], out_hw, src_hw,
                    (sample["phase_x"], sample["phase_y"]))
    sigma = math.hypot(sample["olpf"], sample["defocus"])
    R, cs, wts, half = olpf_cells(n, sigma)
    G = np.zeros(NG, np.float64)
    G[G_H:G_H + 9] = Hm.reshape(-1)
    G[G_K1], G[G_K2] = sample["k1"], sample["k2"]
    G[G_IRHO2] = 4.0 / (h * h + w * w)
    G[G_FILL], G[G_FILLY] = sample["fill"], sample["fill_y"]
    G[G_CA] = sample["ca"]
    ang = math.radians(sample["motion_angle"])
    G[G_MDX], G[G_MDY] = sample["motion"] * math.cos(ang), sample["motion"] * math.sin(ang)
    G[G_VIG] = sample["vignette"]
    G[G_CS], G[G_R] = cs, R
    G[G_CX], G[G_CY] = w / 2.0, h / 2.0
    G[G_TENT] = half
    I = np.zeros(NI, np.int32)
    I[I_RY], I[I_RX] = (sample["red"] if sample["cfa"] else (-1, -1))
    I[I_LAYOUT] = LAYOUTS.index(sample["layout"])
    return G, I, wts


def lit_interval(layout: int, c: int, parity: int, fill: float) -> tuple[float, float, float]:
    """(start, end, amplitude) of colour c's lit subpixel inside a screen pixel, cell-local x.

    Amplitude makes the pixel's mean emission of colour c equal its source value; a colour a
    PenTile pixel lacks gets an empty interval.
    """
    if layout == 2:  # PenTile: R|G in even pixels (i + j), B|G in odd ones; R, B shared by two
        if c == 1:
            return 0.5 + 0.25 * (1 - fill), 0.5 + 0.25 * (1 + fill), 2.0 / fill
        if (c == 0) == (parity == 0):
            return 0.25 * (1 - fill), 0.25 * (1 + fill), 4.0 / fill
        return 0.0, 0.0, 0.0
    q = c if layout == 0 else 2 - c
    return q / 3.0 + (1 - fill) / 6.0, q / 3.0 + (1 + fill) / 6.0, 3.0 / fill


def footprint_cdf(t, tent: bool):
    """Cumulative weight of a unit footprint (support [-1, 1]) up to t: box or tent."""
    t = np.clip(t, -1.0, 1.0)
    if tent:
        return np.where(t < 0.0, 0.5 * (t + 1.0) * (t + 1.0), 1.0 - 0.5 * (1.0 - t) * (1.0 - t))
    return 0.5 * (t + 1.0)


def interval_weight(X, ia, b0, b1, tent: bool):
    """Weight of [b0, b1] under the footprint centred at X with half-width 1/ia (0 when empty)."""
    w = footprint_cdf((b1 - X) * ia, tent) - footprint_cdf((b0 - X) * ia, tent)
    return np.where(b1 > b0, w, 0.0)


def read_screen(screen: np.ndarray, X, Y, ax, ay, c: int, stripes: bool, layout: int, fill: float, fill_y: float,
                tent: bool):
    """Mean emission of colour c (or the flat screen, ``stripes=False``) under footprints at (X, Y).

    Footprints have half-widths ax, ay (screen pixels); vectorised over the points; content
    outside the screenshot is clamped to its edge.
    """
    hs, ws = screen.shape[:2]
    iax, iay = 1.0 / ax, 1.0 / ay
    i0, j0 = np.floor(Y - ay), np.floor(X - ax)
    acc = np.zeros_like(X)
    ly0, ly1 = 0.5 * (1 - fill_y), 0.5 * (1 + fill_y)
    ncell = int(2 * MAX_FOOT) + 1
    for di in range(ncell):
        i = i0 + di
        inside_i = i <= np.floor(Y + ay)
        if stripes:
            wy = interval_weight(Y, iay, i + ly0, i + ly1, tent) / fill_y
        else:
            wy = interval_weight(Y, iay, i, i + 1.0, tent)
        ic = np.clip(i, 0, hs - 1).astype(np.intp)
        for dj in range(ncell):
            j = j0 + dj
            inside = inside_i & (j <= np.floor(X + ax))
            jc = np.clip(j, 0, ws - 1).astype(np.intp)
            if stripes:
                par = ((i + j).astype(np.int64) & 1)
                wx = np.zeros_like(X)
                for p in (0, 1):
                    l0, l1, amp = lit_interval(layout, c, p, fill)
                    if amp:
                        wx = np.where(par == p, amp * interval_weight(X, iax, j + l0, j + l1, tent), wx)
            else:
                wx = interval_weight(X, iax, j, j + 1.0, tent)
            acc = acc + np.where(inside, screen[ic, jc, c] * (wx * wy), 0.0)
    return acc


def capture(screen_lin: np.ndarray, G: np.ndarray, I: np.ndarray, wts: np.ndarray, out_hw: tuple[int, int]):
    """Steps 1-5 for one sample: (moire linear capture, ground truth linear RGB (H, W, 3)).

    The capture is the raw Bayer plane (H, W) with a CFA, else (H, W, 3). ``screen_lin`` is the
    screenshot in linear light (Hs, Ws, 3), float32. The ground truth is the flat full-RGB
    screen area-sampled over each pixel's aperture (one box footprint: the pixel mapped through
    the local Jacobian), sharp like the screenshot: no stripes, optical low-pass, defocus, motion,
    chromatic aberration or vignetting.
    """
    h, w = out_hw
    n = len(wts)
    Hm = G[G_H:G_H + 9].reshape(3, 3)
    k1, k2, irho2 = G[G_K1], G[G_K2], G[G_IRHO2]
    fill, fill_y, ca = G[G_FILL], G[G_FILLY], G[G_CA]
    cs, R = G[G_CS], G[G_R]
    layout = int(I[I_LAYOUT])
    scr = screen_lin.astype(np.float64)
    uc = np.arange(w)[None, :] + 0.5 - G[G_CX] + np.zeros((h, 1))
    vc = np.arange(h)[:, None] + 0.5 - G[G_CY] + np.zeros((1, w))
    X0, Y0 = map_points(Hm, k1, k2, irho2, uc, vc)
    Xu, Yu = map_points(Hm, k1, k2, irho2, uc + 1.0, vc)
    Xv, Yv = map_points(Hm, k1, k2, irho2, uc, vc + 1.0)
    jx = np.sqrt((Xu - X0) ** 2 + (Xv - X0) ** 2)  # screen pixels per sensor pixel along x, y
    jy = np.sqrt((Yu - Y0) ** 2 + (Yv - Y0) ** 2)
    gax = np.maximum(np.minimum(0.5 * jx, MAX_FOOT), 1e-9)
    gay = np.maximum(np.minimum(0.5 * jy, MAX_FOOT), 1e-9)
    gt = np.stack([read_screen(scr, X0, Y0, gax, gay, c, False, layout, fill, fill_y, False) for c in range(3)], -1)
    tent = G[G_TENT] > 0
    half = G[G_TENT] if tent else 0.5 * cs  # footprint half-width in sensor pixels
    ax = np.maximum(np.minimum(half * jx, MAX_FOOT), 1e-9)
    ay = np.maximum(np.minimum(half * jy, MAX_FOOT), 1e-9)
    cfa = I[I_RY] >= 0
    if cfa:
        red_row = (np.arange(h)[:, None] % 2) == I[I_RY]
        red_col = (np.arange(w)[None, :] % 2) == I[I_RX]
        colour = np.where(red_row & red_col, 0, np.where(~red_row & ~red_col, 2, 1))
    cap = np.zeros((h, w, 3))
    for a in range(n):
        for b in range(n):
            ou = -R + (b + 0.5) * cs
            ov = -R + (a + 0.5) * cs
            wgt = wts[a] * wts[b]
            t = (a * n + b + 0.5) / (n * n) - 0.5
            mu = uc + ou + t * G[G_MDX]
            mv = vc + ov + t * G[G_MDY]
            for c in range(3):
                sc = 1.0 + ca * (c - 1)
                Xc, Yc = map_points(Hm, k1, k2, irho2, mu * sc, mv * sc)
                cap[..., c] += wgt * read_screen(scr, Xc, Yc, ax, ay, c, True, layout, fill, fill_y, tent)
    vig = 1.0 - G[G_VIG] * (uc * uc + vc * vc) * irho2
    cap *= vig[..., None]
    if cfa:
        raw = np.take_along_axis(cap, colour[..., None], axis=2)[..., 0]
        return raw.astype(np.float32), gt.astype(np.float32)
    return cap.astype(np.float32), gt.astype(np.float32)


# -- step 6: sensor noise -----------------------------------------------------------------------
def add_noise(x: np.ndarray, a: float, b: float, z: np.ndarray) -> np.ndarray:
    """Poisson-Gaussian raw noise: ``x + sqrt(max(a x + b, 0)) z``, clipped to [0, 1].

    ``a`` (shot-noise gain) and ``b`` (read-noise variance) in units of the linear [0, 1] signal;
    ``z`` standard normals of the same shape (the sample's Philox stream, flat index order).
    """
    xd = x.astype(np.float64)
    v = xd + np.sqrt(np.maximum(a * xd + b, 0.0)) * z.reshape(x.shape).astype(np.float64)
    return np.clip(v, 0.0, 1.0).astype(np.float32)


# -- step 8: in-camera denoise --------------------------------------------------------------------
def gauss_taps(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """SciPy's ``gaussian_filter1d`` taps: radius int(truncate sigma + 0.5), normalised, float64."""
    r = int(truncate * sigma + 0.5)
    x = np.arange(-r, r + 1, dtype=np.float64)
    t = np.exp(-0.5 * (x / sigma) ** 2)
    return t / t.sum()


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian of an (H, W, C) image, borders half-sample reflected (SciPy 'reflect')."""
    if sigma <= 0:
        return img.astype(np.float32)
    taps = gauss_taps(sigma)
    r = len(taps) // 2
    out = img.astype(np.float64)
    for axis in (1, 0):  # along rows first, like the kernels
        n = out.shape[axis]
        idx = np.arange(-r, n + r)
        idx = np.where(idx < 0, -idx - 1, idx)
        idx = np.where(idx >= n, 2 * n - idx - 1, idx)
        idx = np.clip(idx, 0, n - 1)  # images narrower than the radius: reflect once, then clamp
        pad = np.take(out, idx, axis=axis)
        acc = np.zeros_like(out)
        for t in range(2 * r + 1):
            sl = [slice(None)] * out.ndim
            sl[axis] = slice(t, t + n)
            acc += taps[t] * pad[tuple(sl)]
        out = acc.astype(np.float32).astype(np.float64)  # the kernels keep the pass in float32
    return out.astype(np.float32)


def support_box(G: np.ndarray, out_hw: tuple[int, int], src_hw: tuple[int, int]) -> np.ndarray:
    """[y0, y1, x0, x1] int32: the screenshot rows/columns one sample's capture can read.

    The patch border, pushed out by the low-pass support, half the motion path and the
    chromatic-aberration scaling, is mapped onto the screen and padded by the largest footprint;
    only this box is decoded to linear light (the crop is sized for the worst draw).
    """
    h, w = out_hw
    Hm = G[G_H:G_H + 9].reshape(3, 3)
    m = G[G_R] + 0.5 * math.hypot(G[G_MDX], G[G_MDY]) + 1.0
    t = np.linspace(0.0, 1.0, 33)
    ud = np.concatenate([-w / 2 - m + t * (w + 2 * m), np.full(33, w / 2 + m), w / 2 + m - t * (w + 2 * m),
                         np.full(33, -w / 2 - m)])
    vd = np.concatenate([np.full(33, -h / 2 - m), -h / 2 - m + t * (h + 2 * m), np.full(33, h / 2 + m),
                         h / 2 + m - t * (h + 2 * m)])
    ca = abs(G[G_CA])
    ud = np.concatenate([ud * (1 - ca), ud * (1 + ca)])
    vd = np.concatenate([vd * (1 - ca), vd * (1 + ca)])
    X, Y = map_points(Hm, G[G_K1], G[G_K2], G[G_IRHO2], ud, vd)
    pad = MAX_FOOT + 2.0
    box = [math.floor(Y.min() - pad), math.ceil(Y.max() + pad), math.floor(X.min() - pad), math.ceil(X.max() + pad)]
    return np.array([max(box[0], 0), min(box[1], src_hw[0]), max(box[2], 0), min(box[3], src_hw[1])], np.int32)
