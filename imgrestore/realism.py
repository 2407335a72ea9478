"""Image statistics that say how much a photo of a screen looks like a real one (issue 12).

Each function takes an H,W,3 float image in [0, 1] (sRGB-encoded, as read by
:func:`imgrestore.io.read_image`) and returns numbers a person can check by hand: exposure and
clipping, moiré energy by spatial frequency, orientation and colour (luminance Y vs chroma
Cb/Cr), fringe contrast, noise in flat areas, and edge sharpness. Real photos and synthetic
inputs go through the same functions at the same tile size, so their numbers compare directly.
``benchmarks/moire_realism.py`` tabulates them; docs/moire-realism.md explains each one.

Levels are reported in 8-bit units (x 255) because that is how people read pixel values;
frequencies are in cycles per pixel (0.5 is the Nyquist limit), periods in pixels.

Written here rather than taken from a library: no library we depend on computes banded,
windowed power spectra of chroma or 10-90 % edge widths; scipy.ndimage supplies the filters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# ITU-R BT.601 luma weights and the JPEG (full-range) colour-difference scales.
Y_WEIGHTS = (0.299, 0.587, 0.114)
CB_SCALE = 0.5 / (1 - 0.114)  # Cb = 0.564 (B - Y)
CR_SCALE = 0.5 / (1 - 0.299)  # Cr = 0.713 (R - Y)

# Radial frequency bands in cycles/pixel: large blobs (periods 16-64 px), medium fringes
# (4-16 px), fine fringes (2-4 px and the diagonal corners of the spectrum).
BANDS: dict[str, tuple[float, float]] = {"low": (1 / 64, 1 / 16), "mid": (1 / 16, 1 / 4), "high": (1 / 4, 1.0)}
MOIRE_BAND = (1 / 64, 1 / 4)  # where the orientation and the spectral peak are looked for
CLIP_LEVEL = 254 / 255
PLANES = ("R", "G", "B", "Y", "Cb", "Cr")


def _rgb(img: Any) -> np.ndarray:
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an H,W,3 image, got shape {a.shape}")
    return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a[..., :3]


def luma(img: Any) -> np.ndarray:
    """BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B of the sRGB-encoded values (H,W)."""
    a = _rgb(img)
    return a @ np.array(Y_WEIGHTS)


def ycbcr(img: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Y, Cb, Cr) as JPEG defines them (full range), with Cb and Cr centred on 0.

    Cb = 0.564 (B - Y), Cr = 0.713 (R - Y): a gray pixel has Cb = Cr = 0, so Cb/Cr carry colour
    moiré and Y luminance moiré (and the content's own edges)."""
    a = _rgb(img)
    y = a @ np.array(Y_WEIGHTS)
    return y, CB_SCALE * (a[..., 2] - y), CR_SCALE * (a[..., 0] - y)


def planes(img: Any) -> dict[str, np.ndarray]:
    """The six planes analysed: R, G, B, Y, Cb, Cr (H,W float64 each)."""
    a = _rgb(img)
    y, cb, cr = ycbcr(a)
    return {"R": a[..., 0], "G": a[..., 1], "B": a[..., 2], "Y": y, "Cb": cb, "Cr": cr}


# -- exposure --------------------------------------------------------------------------------------


def exposure(img: Any, block: int = 16) -> dict[str, float]:
    """Exposure and clipping of the screen's whites.

    - ``y_mean``: mean luma (0-255);
    - ``y_p99``: 99th percentile of luma (0-255): where the brightest content sits;
    - ``white_level``: 95th percentile of the luma of ``block`` x ``block`` block means (0-255):
      the level of bright areas once fringes and subpixels are averaged out;
    - ``clip``: share of pixels with at least one channel >= 254/255; ``clip_R/G/B`` per channel.
    """
    a = _rgb(img)
    y = a @ np.array(Y_WEIGHTS)
    h, w = y.shape
    b = max(1, min(block, h, w))
    blocks = y[: h // b * b, : w // b * b].reshape(h // b, b, w // b, b).mean(axis=(1, 3))
    hot = a >= CLIP_LEVEL
    out = {"y_mean": 255 * float(y.mean()), "y_p99": 255 * float(np.percentile(y, 99)),
           "white_level": 255 * float(np.percentile(blocks, 95)), "clip": float(hot.any(axis=2).mean())}
    for i, c in enumerate("RGB"):
        out[f"clip_{c}"] = float(hot[..., i].mean())
    return out


# -- spectra ---------------------------------------------------------------------------------------


def tiles(h: int, w: int, tile: int) -> list[tuple[int, int]]:
    """Top-left corners of the non-overlapping ``tile`` x ``tile`` windows that fit, centred in
    the image (the leftover margin split evenly)."""
    if h < tile or w < tile:
        return []
    ny, nx = h // tile, w // tile
    oy, ox = (h - ny * tile) // 2, (w - nx * tile) // 2
    return [(oy + i * tile, ox + j * tile) for i in range(ny) for j in range(nx)]


def mean_psd(plane: np.ndarray, tile: int = 256) -> np.ndarray:
    """Mean power spectral density of a plane over its ``tile`` x ``tile`` tiles (unshifted FFT
    order; index [0, 0] is zero frequency).

    Each tile has its mean removed, is multiplied by a 2-D Hann window w and transformed;
    P = |F|^2 / sum(w^2). With that scaling white noise of variance s^2 has P = s^2 in every bin
    and ``P.sum() / tile**2`` is the tile's variance (Parseval), so summing P over a band and
    dividing by tile^2 gives the variance carried by that band. Images smaller than ``tile`` are
    analysed as one tile of their largest centred square."""
    p = np.asarray(plane, dtype=np.float64)
    h, w = p.shape
    t = min(tile, h, w)
    win = np.outer(np.hanning(t + 2)[1:-1], np.hanning(t + 2)[1:-1])  # no zero rows at the edges
    norm = float((win * win).sum())
    acc = np.zeros((t, t))
    corners = tiles(h, w, t)
    for y, x in corners:
        c = p[y : y + t, x : x + t]
        f = np.fft.fft2((c - c.mean()) * win)
        acc += (f.real**2 + f.imag**2) / norm
    return acc / len(corners)


def frequencies(t: int) -> tuple[np.ndarray, np.ndarray]:
    """(radius in cycles/pixel, angle of the wave vector in degrees [0, 180)) of each FFT bin of a
    t x t tile, in unshifted order. The angle is that of the fringes' normal, measured from the
    x axis (image rows run along x) towards +y (down)."""
    f = np.fft.fftfreq(t)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    return np.hypot(fx, fy), np.degrees(np.arctan2(fy, fx)) % 180.0


def band_rms(psd: np.ndarray, bands: dict[str, tuple[float, float]] = BANDS) -> dict[str, float]:
    """RMS amplitude (0-255 levels) of the fluctuations in each radial band [lo, hi) of a
    :func:`mean_psd`: sqrt(sum of P over the band / tile^2). A sinusoid of amplitude A inside a
    band gives A / sqrt(2) there."""
    t = psd.shape[0]
    r, _ = frequencies(t)
    return {k: 255 * math.sqrt(float(psd[(r >= lo) & (r < hi)].sum()) / (t * t)) for k, (lo, hi) in bands.items()}


def radial_profile(psd: np.ndarray, nbins: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres in cycles/pixel, mean P per bin) over log-spaced radii from 1.5/t to 0.5
    (bins that hold no FFT bin are NaN)."""
    t = psd.shape[0]
    r, _ = frequencies(t)
    edges = np.geomspace(1.5 / t, 0.5, nbins + 1)
    idx = np.digitize(r, edges) - 1
    ok = (idx >= 0) & (idx < nbins)
    s = np.bincount(idx[ok], weights=psd[ok], minlength=nbins)
    n = np.bincount(idx[ok], minlength=nbins)
    centres = np.sqrt(edges[:-1] * edges[1:])
    return centres, np.where(n > 0, s / np.maximum(n, 1), np.nan)


def orientation(psd: np.ndarray, band: tuple[float, float] = MOIRE_BAND, sector: float = 22.5) -> tuple[float, float]:
    """Dominant orientation of the energy in a radial band, and how concentrated it is.

    Returns (angle, share): ``angle`` (degrees, [0, 180)) is the direction of the wave vector of the
    strongest ``sector``-wide angular bin (the fringes run perpendicular to it); ``share`` is the
    fraction of the band's energy within that sector: 1 for a single grating, sector/180 (0.125)
    for energy spread evenly over orientations."""
    t = psd.shape[0]
    r, ang = frequencies(t)
    m = (r >= band[0]) & (r < band[1])
    total = float(psd[m].sum())
    if total <= 0:
        return float("nan"), float("nan")
    nb = 180
    hist = np.bincount(np.minimum((ang[m]).astype(int), nb - 1), weights=psd[m], minlength=nb)
    half = int(round(sector / 2))
    ext = np.concatenate([hist[-half:], hist, hist[:half + 1]])
    win = np.convolve(ext, np.ones(2 * half + 1), mode="valid")[:nb]
    k = int(np.argmax(win))
    return float(k) + 0.5, float(win[k] / total)


def peak_period(psd: np.ndarray, band: tuple[float, float] = MOIRE_BAND) -> float:
    """Period in pixels (1 / radius) of the spectral peak inside a radial band: the bin with the
    most energy per octave, P(f) f^2 (a natural image's ~1/f^2 spectrum is flat in that measure, so
    the peak is where a grating or blob scale stands out, not simply the lowest frequency), after a
    3x3 smoothing of the spectrum (so one noisy bin does not win)."""
    from scipy.ndimage import uniform_filter

    t = psd.shape[0]
    r, _ = frequencies(t)
    sm = np.fft.ifftshift(uniform_filter(np.fft.fftshift(psd), 3, mode="wrap")) * r * r
    m = (r >= band[0]) & (r < band[1])
    if not m.any():
        return float("nan")
    k = int(np.argmax(np.where(m, sm, -np.inf)))
    return float(1.0 / r.flat[k])


def spectra(img: Any, tile: int = 256) -> dict[str, np.ndarray]:
    """Mean PSD per plane (R, G, B, Y, Cb, Cr) plus ``C`` = Cb + Cr (the chroma power)."""
    out = {k: mean_psd(v, tile) for k, v in planes(img).items()}
    out["C"] = out["Cb"] + out["Cr"]
    return out


def spectral_stats(psds: dict[str, np.ndarray]) -> dict[str, float]:
    """Scalar summaries of :func:`spectra`:

    - ``{plane}_{band}``: RMS (0-255) per band for every plane, with ``C`` the chroma magnitude;
    - ``chroma_luma_ratio``: C RMS / Y RMS over 1/64-1/4 cycles/px (> 1: colour moiré dominates);
    - ``hf_share``: share of the luma variance above 1/4 cycles/px among all above 1/64 (fine
      detail: sharp edges, fine fringes, noise);
    - ``chroma_period``: period (px) of the chroma spectrum's peak in 1/64-1/4 cycles/px;
    - ``chroma_angle``, ``chroma_orient_share``: :func:`orientation` of the chroma energy there.
    """
    out: dict[str, float] = {}
    for k, p in psds.items():
        for b, v in band_rms(p).items():
            out[f"{k}_{b}"] = v
    moire = {"m": MOIRE_BAND}
    cy = band_rms(psds["Y"], moire)["m"]
    cc = band_rms(psds["C"], moire)["m"]
    out["chroma_luma_ratio"] = cc / max(cy, 0.01)  # luma RMS floored at 0.01 levels
    y_all = band_rms(psds["Y"], {"all": (BANDS["low"][0], 1.0)})["all"]
    out["hf_share"] = (out["Y_high"] / y_all) ** 2 if y_all > 0.01 else float("nan")
    out["chroma_period"] = peak_period(psds["C"])
    out["chroma_angle"], out["chroma_orient_share"] = orientation(psds["C"])
    return out


# -- local measures -------------------------------------------------------------------------------


def _blocks(a: np.ndarray, b: int) -> np.ndarray:
    h, w = a.shape
    return a[: h // b * b, : w // b * b].reshape(h // b, b, w // b, b).swapaxes(1, 2).reshape(-1, b * b)


def _structure(y: np.ndarray, b: int) -> np.ndarray:
    """Per block: mean gradient magnitude of the luma smoothed by a Gaussian of sigma 2 px (the
    content's structure; pixel noise and the finest fringes are averaged away)."""
    from scipy.ndimage import gaussian_filter, sobel

    s = gaussian_filter(y, 2.0, mode="reflect")
    g = np.hypot(sobel(s, 0, mode="reflect"), sobel(s, 1, mode="reflect")) / 8
    return _blocks(g, b).mean(axis=1)


def _flattest(score: np.ndarray, share: float) -> np.ndarray:
    k = max(1, int(round(share * score.size)))
    return np.argsort(score, kind="stable")[:k]


def fringe_contrast(img: Any, block: int = 32, sigma: float = 16.0, share: float = 0.5) -> dict[str, float]:
    """Peak-to-trough contrast (0-255) of the fringes in the flattest half of the image.

    The planes are high-passed by subtracting a Gaussian local mean (``sigma`` 16 px: fringes and
    blobs with periods up to ~50 px pass at >= 90 %). The image is cut in ``block`` x ``block``
    blocks; the ``share`` with the least content structure (:func:`_structure`) are kept, and
    in them the RMS of the high-passed chroma magnitude sqrt(Cb^2 + Cr^2) and of the luma are
    taken; x 2 sqrt(2) turns an RMS into the peak-to-trough of a sinusoid. Returns
    ``chroma_pp``, ``luma_pp`` (medians over the kept blocks). A chroma sinusoid
    Cr = a sin(.) of period p reads chroma_pp = 2 a (1 - exp(-2 pi^2 sigma^2 / p^2))."""
    from scipy.ndimage import gaussian_filter

    y, cb, cr = ycbcr(img)
    h, w = y.shape
    b = max(4, min(block, h, w))
    hp = [v - gaussian_filter(v, sigma, mode="reflect") for v in (y, cb, cr)]
    keep = _flattest(_structure(y, b), share)
    ly = np.sqrt((_blocks(hp[0], b) ** 2).mean(axis=1))[keep]
    lc = np.sqrt((_blocks(hp[1], b) ** 2 + _blocks(hp[2], b) ** 2).mean(axis=1))[keep]
    k = 255 * 2 * math.sqrt(2)
    return {"chroma_pp": k * float(np.median(lc)), "luma_pp": k * float(np.median(ly))}


# Immerkaer's noise mask (Computer Vision and Image Understanding 64(2), 1996): the difference of
# two Laplacians, blind to planes and to linear ramps. Divided by 6 (its L2 norm), white noise of
# std s comes out as std s.
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64) / 6.0


def noise_sigma(img: Any, block: int = 16, share: float = 0.1) -> float:
    """Noise standard deviation (0-255) of the luma in the flattest areas.

    The luma is filtered by Immerkaer's mask (normalised so white noise keeps its std); blocks
    of ``block`` x ``block`` with a clipped pixel (a channel >= 254/255 or <= 1/255, where noise
    cannot show) are left out; the ``share`` (10 %) of the others with the least content
    structure (:func:`_structure`) are pooled, and the robust std 1.4826 x median |residual| is
    returned (NaN when every block is clipped). Fine fringes and the screen's pixel grid
    (periods of 2-3 px) pass the mask too, so on a moiré photo this is an upper bound of the
    sensor noise left after the camera's processing."""
    from scipy.ndimage import convolve

    a = _rgb(img)
    y = a @ np.array(Y_WEIGHTS)
    h, w = y.shape
    b = max(4, min(block, h, w))
    r = convolve(y, _IMMERKAER, mode="reflect")
    clipped = ((a >= CLIP_LEVEL) | (a <= 1 / 255)).any(axis=2)
    ok = np.flatnonzero(~_blocks(clipped, b).any(axis=1))
    if ok.size == 0:
        return float("nan")
    keep = ok[_flattest(_structure(y, b)[ok], share)]
    res = _blocks(r, b)[keep]
    return 255 * 1.4826 * float(np.median(np.abs(res)))


def edge_width(img: Any, count: int = 2000, radius: float = 8.0, min_step: float = 0.1) -> dict[str, float]:
    """Median 10-90 % rise width (px) of the strongest luma edges, and how many were measured.

    Candidates are the local maxima (3x3) of the Sobel gradient magnitude of the luma; the
    ``count`` strongest are followed along their gradient direction for +-``radius`` px
    (cubic-spline samples every 0.25 px). An edge counts if its two ends (the outer 2 px on each side)
    differ by at least ``min_step`` (25 levels); its profile is normalised to go from 0 to 1 and
    the distance between the crossings of 0.1 and 0.9 nearest the centre is its width. A step
    blurred by a Gaussian of sigma s has width 2 x 1.2816 s = 2.563 s."""
    from scipy.ndimage import map_coordinates, maximum_filter, sobel

    y = luma(img)
    gy, gx = sobel(y, 0, mode="reflect") / 8, sobel(y, 1, mode="reflect") / 8
    g = np.hypot(gx, gy)
    h, w = y.shape
    m = int(math.ceil(radius)) + 1
    peak = (g == maximum_filter(g, 3, mode="constant")) & (g > 0)
    peak[:m] = peak[-m:] = False
    peak[:, :m] = peak[:, -m:] = False
    cand = np.flatnonzero(peak)
    if cand.size == 0:
        return {"edge_width": float("nan"), "edges": 0}
    if cand.size > count:
        cand = cand[np.argpartition(g.flat[cand], -count)[-count:]]
    cy, cx = np.unravel_index(cand, g.shape)
    ny, nx = gy[cy, cx] / g[cy, cx], gx[cy, cx] / g[cy, cx]
    t = np.arange(-radius, radius + 1e-9, 0.25)
    py = cy[:, None] + ny[:, None] * t[None, :]
    px = cx[:, None] + nx[:, None] * t[None, :]
    prof = map_coordinates(y, [py.ravel(), px.ravel()], order=3, mode="nearest").reshape(py.shape)
    end = int(round(2 / 0.25))
    lo, hi = prof[:, :end].mean(axis=1), prof[:, -end:].mean(axis=1)
    ok = (hi - lo) >= min_step
    widths = []
    mid = len(t) // 2
    for q in (prof[ok] - lo[ok, None]) / (hi - lo)[ok, None]:
        a10, a90 = _crossing(q, t, 0.1, mid), _crossing(q, t, 0.9, mid)
        if a10 is not None and a90 is not None:
            widths.append(abs(a90 - a10))
    if not widths:
        return {"edge_width": float("nan"), "edges": 0}
    return {"edge_width": float(np.median(widths)), "edges": len(widths)}


def _crossing(q: np.ndarray, t: np.ndarray, level: float, mid: int) -> float | None:
    """Position (linear interpolation) of the crossing of `level` nearest index `mid`."""
    s = np.sign(q - level)
    idx = np.flatnonzero(s[:-1] * s[1:] <= 0)
    idx = idx[s[idx] != s[idx + 1]] if idx.size else idx
    if idx.size == 0:
        return None
    i = int(idx[np.argmin(np.abs(idx + 0.5 - mid))])
    a, b = q[i] - level, q[i + 1] - level
    return float(t[i] + (t[i + 1] - t[i]) * a / (a - b))


# -- all together ----------------------------------------------------------------------------------


def image_stats(img: Any, tile: int = 256) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Every scalar statistic of one image (a flat dict) and its per-plane mean spectra."""
    a = _rgb(img)
    psds = spectra(a, tile)
    out: dict[str, float] = {}
    out.update(exposure(a))
    out.update(spectral_stats(psds))
    out.update(fringe_contrast(a))
    out["noise"] = noise_sigma(a)
    out.update(edge_width(a))
    return out, psds


# -- no-reference moiré score of a restoration ------------------------------------------------------


def moire_residual(inp: Any, out: Any, tile: int = 256) -> dict[str, float]:
    """How much of a photo's moiré a restoration ``out`` left, measured against its input ``inp``
    without any ground truth, from the spectra above (both H,W,3 in [0, 1], same size):

    - ``chroma``: chroma RMS of ``out`` over periods 4-64 px divided by that of ``inp``: the colour
      moiré left (1: untouched, 0: all colour variation at those scales gone);
    - ``fine``: the same for the chroma at periods < 4 px (fine colour fringes);
    - ``luma_low``: luma RMS at periods 16-64 px, out / in: the content's large-scale structure
      kept (a network that blurs everything lowers ``chroma`` too; this shows it);
    - ``luma_mid``: luma RMS at periods 4-16 px, out / in (luma fringes and text strokes).
    The content's own colour counts as "moiré" here, so 0 is not the goal; compare models on the
    same photos, lower ``chroma`` at ``luma_low`` near 1 being better."""
    a, b = spectra(inp, tile), spectra(out, tile)
    moire = {"m": MOIRE_BAND}

    def ratio(p: str, band: dict[str, tuple[float, float]], key: str) -> float:
        den = band_rms(a[p], band)[key]
        return band_rms(b[p], band)[key] / den if den > 1e-3 else float("nan")

    return {"chroma": ratio("C", moire, "m"), "fine": ratio("C", BANDS, "high"),
            "luma_low": ratio("Y", BANDS, "low"), "luma_mid": ratio("Y", BANDS, "mid")}
