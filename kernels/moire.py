"""The moire simulator on a batch: dispatch to the NumPy oracle, the Numba kernels or CUDA.

Per sample of an NHWC float32 sRGB screenshot batch (maths and conventions in
``moire_numpy.py``; the parameters in :mod:`imgrestore.plugins.moire`):

1-5. decode to linear light, then ONE fused inverse mapping per sensor pixel: LCD subpixel
     stripes, camera pose, radial distortion, flat-top Gaussian optical low-pass, Bayer
     sampling; the ground truth (full-RGB screen, same geometry) comes out of the same pass;
6.   Poisson-Gaussian noise from the sample's Philox stream (identical on every backend), then
     the sensor's saturation: the raw is clipped to [0, 1] with or without noise;
7.   demosaic (``camera.demosaic``: bilinear or Malvar, shared with the cbdnet plugin) of the raw
     extended by 2 pixels of mirror reflection that keeps the Bayer phase (:data:`DEMOSAIC_PAD`):
     the patch is a window of a larger sensor, so its border pixels get their colours from
     like-coloured neighbours, not from the half-sample reflection of ``camera.demosaic``, which
     puts a site of another colour beside the edge (a flat grey came out 0.25-2.25x in red and
     blue along the border);
8.   optional Gaussian in-camera denoise, then sRGB encoding (moire and ground truth alike).
JPEG (step 9) is the plugin's (``kernels.jpeg.roundtrip``, on the batch's device).

Steps 6-8 are one CUDA launch (``moire_develop``; docs/moire-gpu.md) and, on the CPU,
:func:`develop` below; both give the same bits.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from imgrestore.backend import array_module
from imgrestore.kernels.moire_numpy import I_RX, I_RY, NG, NI, gauss_taps

BACKENDS = ("numpy", "numba", "cuda")
DEMOSAIC_METHODS = ("malvar", "bilinear", "none")  # the method argument of both develop kernels
DEMOSAIC_PAD = 2  # even (keeps the Bayer phase) and >= the 5x5 Malvar kernel's reach
MAX_SHARED = 48 * 1024  # bytes of dynamic shared memory a CUDA block may use without opting in


def tile_floats(bw: int, bh: int, rmax: int, nc: int) -> int:
    """Shared-memory floats of one ``moire_develop`` block of bw x bh threads (``mo_tiles`` of
    moire.cu): the demosaiced tile with the denoise halo (3 channels), then the raw tile with the
    demosaic's halo too (1 channel; none without a CFA), reused for the horizontal pass."""
    cap_d = (bh + 2 * rmax) * (bw + 2 * rmax) * 3
    raw = (bh + 2 * rmax + 2 * DEMOSAIC_PAD) * (bw + 2 * rmax + 2 * DEMOSAIC_PAD) if nc == 1 else 0
    return cap_d + max(raw, (bh + 2 * rmax) * bw * 3)


def develop_block(rmax: int, nc: int) -> tuple[int, int]:
    """The (x, y) block shape of ``moire_develop``: 32 x 8 threads, narrowed while its tiles need
    more than :data:`MAX_SHARED` (a denoise radius above 16, sigma above ~4 pixels)."""
    bw, bh = 32, 8
    while 4 * tile_floats(bw, bh, rmax, nc) > MAX_SHARED and bw > 8:
        bw //= 2
    if 4 * tile_floats(bw, bh, rmax, nc) > MAX_SHARED:
        raise ValueError(f"moire: a denoise radius of {rmax} pixels needs more shared memory than a CUDA block has")
    return bw, bh


@dataclass
class MoireBatch:
    """Packed per-sample parameters of a batch (host arrays)."""

    G: np.ndarray  # (N, NG) float64 geometry / screen / optics rows
    I: np.ndarray  # (N, NI) int32: red-site row/col (-1: no CFA), layout
    wts: np.ndarray  # (N, n) float64 optical low-pass cell weights
    noise: np.ndarray  # (N, 2) float64 (a, b) of the variance a x + b; all zero: no noise
    keys: np.ndarray  # (N, 2) uint32 Philox keys
    denoise: np.ndarray  # (N,) float64 Gaussian sigma of the in-camera denoise (0: none)
    glare: np.ndarray  # (N, 4) float64 strength, centre x, centre y (fractions), width (fraction)
    boxes: np.ndarray  # (N, 4) int32 [y0, y1, x0, x1] screenshot region each capture reads
    exposure: np.ndarray | None = None  # (N,) float32 raw gain before noise and saturation (None: 1)

    def gain(self) -> np.ndarray | None:
        """(N, 1, 1, 1) float32 exposure gains, or None when every gain is 1 (nothing to do)."""
        if self.exposure is None or np.all(self.exposure == 1):
            return None
        return np.asarray(self.exposure, np.float32).reshape(-1, 1, 1, 1)

    @property
    def cfa(self) -> bool:
        return bool(self.I[0, I_RY] >= 0)

    def taps(self) -> tuple[np.ndarray, np.ndarray]:
        """(N, T) float64 Gaussian taps and (N,) int32 radii of the denoise blur."""
        rows = [gauss_taps(s) if s > 0 else np.ones(1) for s in self.denoise]
        width = max(len(r) for r in rows)
        taps = np.zeros((len(rows), width))
        for k, r in enumerate(rows):
            taps[k, : len(r)] = r
        radius = np.array([len(r) // 2 for r in rows], np.int32)
        return taps, radius


def pack_batch(samples: list[dict], out_hw, src_hw, n: int, keys) -> MoireBatch:
    """A :class:`MoireBatch` from per-sample drawn values (see ``moire_numpy.pack``)."""
    from imgrestore.kernels.moire_numpy import pack, support_box

    rows = [pack(s, out_hw, src_hw, n) for s in samples]
    G = np.stack([r[0] for r in rows]).reshape(-1, NG)
    I = np.stack([r[1] for r in rows]).reshape(-1, NI)
    wts = np.stack([r[2] for r in rows])
    noise = np.array([[s["shot"], s["read"] ** 2] if s["noise"] else [0.0, 0.0] for s in samples], np.float64)
    glare = np.array([[s["glare"], *s.get("glare_at", (0.5, 0.5, 0.5))] for s in samples], np.float64)
    boxes = np.stack([support_box(g, out_hw, src_hw) for g in G]).astype(np.int32)
    return MoireBatch(G, I, wts, noise.reshape(-1, 2), np.asarray(keys, np.uint32).reshape(-1, 2),
                      np.array([s["denoise"] for s in samples], np.float64), glare.reshape(-1, 4), boxes,
                      np.array([s.get("exposure", 1.0) for s in samples], np.float32))


def glare_field(b: MoireBatch, out_hw) -> np.ndarray | None:
    """(N, H, W) additive linear-light reflection layer (a broad Gaussian blob), or None."""
    if not np.any(b.glare[:, 0] > 0):
        return None
    h, w = out_hw
    yy = (np.arange(h) + 0.5)[:, None] / h
    xx = (np.arange(w) + 0.5)[None, :] / w
    g = b.glare
    field = g[:, 0, None, None] * np.exp(-((xx[None] - g[:, 1, None, None]) ** 2 + (yy[None] - g[:, 2, None, None]) ** 2)
                                         / (2 * np.maximum(g[:, 3, None, None], 1e-3) ** 2))
    return field.astype(np.float32)


def moire_batch(screen: Any, b: MoireBatch, out_hw, demosaic: str = "bilinear", backend: str | None = None):
    """(moire sRGB (N, H, W, 3), ground-truth sRGB (N, H, W, 3)) of a screenshot batch.

    ``backend`` defaults to ``numba`` for numpy input and ``cuda`` for CuPy input; ``numpy``
    runs the oracle sample by sample.
    """
    xp = array_module(screen)
    backend = backend or ("numba" if xp is np else "cuda")
    if backend == "numpy":
        return _oracle(np.asarray(screen), b, out_hw, demosaic)
    if backend == "cuda":
        from imgrestore.kernels import moire_cuda

        return moire_cuda.moire_batch(screen, b, out_hw, demosaic)
    if backend != "numba":
        raise ValueError(f"moire_batch: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    from imgrestore.kernels import moire_numba as k

    n = screen.shape[0]
    h, w = out_hw
    scr = np.ascontiguousarray(screen, np.float32)
    nc = 1 if b.cfa else 3
    cap = np.empty((n, h, w, nc), np.float32)
    gt = np.empty((n, h, w, 3), np.float32)
    lin = _linear_scratch(scr.shape)
    try:
        k.decode(scr, b.boxes, lin)
        k.capture(lin, b.G, b.I, b.wts, cap, gt)
    finally:  # back to all zeros for the next batch: clear what decode wrote
        for s, (y0, y1, x0, x1) in enumerate(b.boxes):
            lin[s, y0:y1, x0:x1] = 0.0
    g = b.gain()
    if g is not None:  # exposure: one float32 multiply per raw value, the same on every backend
        cap *= g
    return develop(cap, gt, b, demosaic)


_scratch = threading.local()


def _linear_scratch(shape: tuple[int, ...]) -> np.ndarray:
    """This thread's float32 buffer of `shape`, all zeros: the linear-light copy of a batch's crops.

    It is 0 outside the support boxes (never read, but deterministic if it were), as a fresh
    ``np.zeros`` would be; kept from batch to batch and cleared box by box after use, because a
    fresh one costs page faults and the zeroing of whole (transparent huge) pages wherever decode
    writes: 1.4 of 1.5 ms of decode per 256^2 pair (synth's crops are 77 MB a batch of 16)."""
    buf = getattr(_scratch, "buf", None)
    if buf is None or buf.shape != tuple(shape):
        buf = _scratch.buf = None  # drop the old one before making the new one
        buf = _scratch.buf = np.zeros(shape, np.float32)
    return buf


def develop(cap: np.ndarray, gt: np.ndarray, b: MoireBatch, demosaic: str = "bilinear"):
    """Steps 6-8 on the CPU (one Numba kernel) from the capture ``cap`` (N, H, W, 1 or 3) and the
    linear ground truth ``gt`` (N, H, W, 3): (moire sRGB, target sRGB). The reference of the CUDA
    kernel ``moire_develop`` (bit for bit)."""
    from imgrestore.kernels import moire_numba as k

    n, h, w, nc = cap.shape
    field = glare_field(b, (h, w))
    taps, radius = b.taps()
    red = np.ascontiguousarray(b.I[:, [I_RY, I_RX]], np.int32)
    out = np.empty((n, h, w, 3), np.float32)
    tgt = np.empty((n, h, w, 3), np.float32)
    k.develop(np.ascontiguousarray(cap, np.float32), np.ascontiguousarray(gt, np.float32),
              field if field is not None else np.zeros((0, 0, 0), np.float32),
              np.ascontiguousarray(b.noise, np.float64), np.ascontiguousarray(b.keys, np.uint32), red,
              DEMOSAIC_METHODS.index(demosaic), taps, radius, k.ENCODE_LUT, out, tgt)
    return out, tgt


def _mirror(n: int) -> np.ndarray:
    """Indices of 0..n-1 extended by DEMOSAIC_PAD on each side by whole-sample reflection
    (-1 -> 1, n -> n - 2: an index keeps its parity, so a Bayer site keeps its colour)."""
    return np.pad(np.arange(n), DEMOSAIC_PAD, mode="reflect")


def _oracle(screen: np.ndarray, b: MoireBatch, out_hw, demosaic: str):
    from imgrestore.kernels.moire_numpy import capture, srgb_decode, srgb_encode
    from imgrestore.kernels.philox import normals_numpy
    from imgrestore.kernels.moire_numpy import add_noise, gaussian_blur
    from imgrestore.kernels.camera_numpy import DEMOSAIC, RED_SITE, cfa_colour

    field = glare_field(b, out_hw)
    outs, tgts = [], []
    for s in range(len(screen)):
        cap, gt = capture(srgb_decode(screen[s]), b.G[s], b.I[s], b.wts[s], out_hw)
        if b.gain() is not None:
            cap = cap.astype(np.float32) * b.gain()[s, 0]
        if field is not None:
            cap = (cap + (field[s] if cap.ndim == 2 else field[s][..., None])).astype(np.float32)
        if np.any(b.noise[s] > 0):
            z = normals_numpy(cap.size, (int(b.keys[s, 0]), int(b.keys[s, 1])))
            cap = add_noise(cap, b.noise[s, 0], b.noise[s, 1], z)
        cap = np.clip(cap, 0.0, 1.0)  # the sensor saturates, noise or not
        if cap.ndim == 2:
            p = RED_SITE.index((int(b.I[s, I_RY]), int(b.I[s, I_RX])))
            if demosaic == "none":
                rgb = np.zeros(cap.shape + (3,), np.float32)
                np.put_along_axis(rgb, cfa_colour(*cap.shape, p)[..., None].astype(np.intp), cap[..., None], axis=2)
            else:
                e = DEMOSAIC_PAD
                rgb = DEMOSAIC[demosaic](cap[_mirror(cap.shape[0])][:, _mirror(cap.shape[1])], p)[e:-e, e:-e]
        else:
            rgb = cap
        outs.append(srgb_encode(gaussian_blur(rgb, b.denoise[s])))
        tgts.append(srgb_encode(gt))
    return np.stack(outs), np.stack(tgts)
