"""Built-in plugin ``moire``: photos of an LCD screen, with the aligned screenshot as target.

After Liu, Shu and Wu (DM-Net): a simulator that follows the display of an image on an LCD and
its capture by a camera, with the clean ground truth warped by the same geometry. Each step,
its parameter and the default range drawn per pair (angles in degrees, lengths in sensor pixels
unless said otherwise):

1. **LCD display.** Each screenshot pixel becomes vertical R, G, B subpixel stripes, one third
   of a pixel wide (``layout``: RGB; BGR and ``pentile`` (RG/BG, two half-width subpixels,
   R and B shared by two pixels) as extras). A centred fraction ``fill`` (0.7-0.95) of each
   stripe is lit across and ``fill_y`` (0.85-1) along it: the black matrix. The screenshot is
   decoded from sRGB to linear light and each pixel's mean emission per colour equals it.
2. **Camera pose.** A pinhole camera with field of view ``fov`` (20-50 across the patch) at a
   distance giving ``k`` (0.7-2.2) sensor pixels per screen pixel at the centre, rotated by
   ``roll`` (0-10), ``tilt`` (about the horizontal axis, 0-15) and ``pan`` (about the vertical
   axis, 0-15), each with a random sign (``signs=false`` keeps them as given), aimed at a
   random sub-pixel ``phase_x``, ``phase_y`` (0-1 screen pixel). Moire needs k below ~2 for
   the luminance grating (period k) and below ~4 for colour moire (the red and blue CFA sites
   sample at period 2).
3. **Radial lens distortion** ``p_u = p_d (1 + k1 r^2 + k2 r^4)``, r over the patch's
   half-diagonal: ``k1`` 0-0.1, ``k2`` 0-0.05 (barrel; negative values give pincushion).
4. **Optical low-pass.** Pixel aperture convolved with a Gaussian of ``olpf`` (0.1-0.4)
   sensor pixels, widened in quadrature by ``defocus`` (0-0.6): a flat-top Gaussian, integrated by
   ``ss`` x ``ss`` (3 x 3) supersamples tiling the aperture that each read the screen integrated
   in closed form under their footprint: boxes of one cell without low-pass (exactly the
   aperture), with it tents of half-width ``sqrt(6 sigma^2 + 1 / (2 ss^2))`` (exactly the flat-top
   Gaussian's variance; its MTF within 0.03 below 0.75 cycles/pixel for sigma <= 0.4).
   Footprints are capped at 4 screen pixels (``MAX_FOOT``), which narrows blurs wider than
   about 1.6 / (screen pixels per sensor pixel) sensor pixels of sigma.
5. **Bayer CFA** in a random ``pattern`` (RGGB, GRBG, GBRG, BGGR); ``cfa=false`` records R, G
   and B at every pixel (no mosaic, no demosaic).
   Steps 1-5 are one inverse mapping per sensor pixel, fused in one kernel (Numba / CUDA).
6. **Exposure** (``exposure``, 0.55-0.9): the raw is scaled so that a screen white reads
   ``exposure``: highlight headroom for the subpixel peaks (up to 3/fill times the mean) instead
   of systematic clipping. **Sensor noise** (``noise``): Poisson-Gaussian, variance ``shot * x + read^2`` on the linear
   raw value x (``shot`` 0.0005-0.004, ``read`` 0.001-0.006); normals from the sample's Philox
   stream, bit-identical on every backend. The raw then saturates at 1 (clipped to [0, 1]), noise
   or not: the subpixels of bright content reach 3/fill times the pixel mean.
7. **Demosaic**: ``bilinear`` (default) or ``malvar`` (the cbdnet plugin's kernels) of the raw
   extended by a Bayer-phase-preserving mirror of 2 pixels, so the patch border demosaics like
   the inside of a larger sensor; ``none`` leaves each site's value in its colour channel.
8. **In-camera denoise**: Gaussian of ``denoise`` (0-0.6) pixels, then sRGB encoding.
   **Finishing** (``kernels/tone.py``): the tone curve maps v = raw / exposure back, identity up
   to ``knee`` (0.6, linear) and a shoulder reaching white at the raw's saturation; times
   ``gain`` (0.95-1.2, the auto-exposure's brightness bias: > 1 clips the brightest whites);
   chroma noise reduction (Gaussian of ``chroma_denoise``, 1-3 px, on the colour differences:
   what leaves the soft colour blobs of real photos); luma unsharp mask of ``sharpen`` (0-0.8)
   and radius ``sharpen_sigma`` (1 px).
9. **JPEG** (``jpeg``) at ``quality`` 70-95, 4:2:0: libjpeg's round trip as kernels
   (``kernels/jpeg*``, byte for byte Pillow's), on the batch's device.
10. The decoded image is the moire input.

Ground truth: the same geometry (homography, distortion, k, phase) applied to the screen drawn
as full-RGB pixels, area-sampled over each pixel's aperture, with no stripes, optical low-pass,
CFA, noise, denoise or JPEG, sRGB-encoded: it looks like the screenshot, aligned with the photo
(the photo's red and blue carry the real third-of-a-screen-pixel offset of their subpixels).
After other stages (``awgn | moire``) the target is their clean target under the same geometry,
not the warped degraded input; a stage before moire that changes the size is an error.
Side outputs of earlier stages are dropped (they would no longer be aligned).
Both cover the same sensor region, fully inside the screenshot crop: :meth:`Moire.source_size`
sizes the crop for the worst case of the parameter ranges, so ``--patch 256`` gives 256 x 256
pairs.

The defaults were calibrated against real screen photos (docs/moire-calibration.md,
``benchmarks/moire_realism.py``); ``moire:`` + :data:`PREVIOUS_DEFAULTS` gives the earlier look.

Extras, off by default, for a harder "real" domain: ``layout`` BGR / pentile, ``vignette``
(relative fall-off at the corners, 1 - v r^2), ``ca`` (lateral chromatic aberration: red and blue
sample the screen at sensor radii scaled by 1 -+ ca), ``glare`` (a broad additive reflection
blob of this linear strength at a random place), ``motion`` (linear motion blur of this length
at ``motion_angle``, spreading the supersamples along the path).
Grayscale images go through the colour camera as gray screens and come back as gray.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from imgrestore.backend import array_module
from imgrestore.degrade import Degradation, Pair, Param, StageContext
from imgrestore.errors import SpecError
from imgrestore.hookspecs import hookimpl

PATTERNS = ("RGGB", "GRBG", "GBRG", "BGGR")
GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)  # MATLAB rgb2gray, as synth
# The look of the defaults before the calibration against real photos (docs/moire-calibration.md):
# fine, regular, high-contrast fringes; ``moire:<this>`` brings it back.
PREVIOUS_DEFAULTS = "k=1.2-4,roll=0-20,tilt=0-20,pan=0-20,defocus=0,exposure=1,gain=1,sharpen=0,chroma_denoise=0"
class _Horizon(SpecError):
    """The pose makes the screen plane reach the horizon inside the frame (no covered region)."""


MARGIN = 6  # screen pixels around the mapped patch: footprints (<= 4), phase (< 1), rounding


class Moire(Degradation):
    """LCD screen photographed by a camera: subpixels, pose, lens, OLPF, CFA, noise, demosaic, JPEG."""

    name = "moire"
    summary = "photo of an LCD screen: subpixel stripes, pose, lens distortion, OLPF, Bayer, noise, demosaic, JPEG"
    bench_size = 256
    default_content = "screens"
    colour_only = True  # RGB subpixels through a Bayer CFA: a gray network would learn luma of colour moiré
    params = {
        "k": Param(float, "0.7-2.2", "sensor pixels per screen pixel at the centre", min=0.25, max=16),
        "roll": Param(float, "0-10", "rotation about the optical axis", min=-60, max=60, unit="degrees"),
        "tilt": Param(float, "0-15", "rotation about the horizontal axis", min=-45, max=45, unit="degrees"),
        "pan": Param(float, "0-15", "rotation about the vertical axis", min=-45, max=45, unit="degrees"),
        "signs": Param(bool, True, "give roll, tilt and pan a random sign each", random=False),
        "fov": Param(float, "20-50", "field of view across the patch", min=1, max=120, unit="degrees"),
        "phase_x": Param(float, "0-1", "sub-pixel phase of the screen", min=0, max=1, unit="screen pixels"),
        "phase_y": Param(float, "0-1", "sub-pixel phase of the screen", min=0, max=1, unit="screen pixels"),
        "k1": Param(float, "0-0.1", "radial distortion r^2 coefficient (> 0 barrel)", min=-0.3, max=0.3),
        "k2": Param(float, "0-0.05", "radial distortion r^4 coefficient", min=-0.3, max=0.3),
        "olpf": Param(float, "0.1-0.4", "optical low-pass Gaussian sigma", min=0, max=3, unit="sensor pixels"),
        "defocus": Param(float, "0-0.6", "defocus blur sigma, added in quadrature", min=0, max=3, unit="sensor pixels"),
        "ss": Param(int, 3, "supersamples per axis per pixel", min=1, max=8, random=False),
        "fill": Param(float, "0.7-0.95", "lit fraction of each subpixel's width", min=0.05, max=1),
        "fill_y": Param(float, "0.85-1", "lit fraction of each pixel's height", min=0.05, max=1),
        "layout": Param(str, "RGB", "subpixel layout", choices=("RGB", "BGR", "pentile")),
        "cfa": Param(bool, True, "Bayer colour filter (false: R, G, B at every pixel)", random=False),
        "pattern": Param(str, ",".join(PATTERNS), "Bayer phase", choices=PATTERNS),
        "noise": Param(bool, True, "add Poisson-Gaussian sensor noise", random=False),
        "shot": Param(float, "0.0005-0.004", "shot-noise gain a (variance a x + read^2)", min=0, max=1),
        "read": Param(float, "0.001-0.006", "read-noise standard deviation", min=0, max=1),
        "demosaic": Param(str, "bilinear", "demosaicing method", choices=("bilinear", "malvar", "none"),
                          random=False),
        "denoise": Param(float, "0-0.6", "in-camera Gaussian denoise sigma (0: none)", min=0, max=5,
                         unit="pixels"),
        "exposure": Param(float, "0.55-0.9", "raw level of a screen white (< 1: highlight headroom, rolled off by "
                          "the tone curve; 1: none, whites' subpixel peaks clip)", min=0.05, max=1),
        "knee": Param(float, 0.6, "linear level where the tone curve's highlight roll-off starts", min=0, max=0.95),
        "chroma_denoise": Param(float, "1-3", "in-camera chroma noise reduction: Gaussian sigma on Cb, Cr (0: none)",
                                min=0, max=16, unit="pixels"),
        "gain": Param(float, "0.95-1.2", "output brightness after the tone curve (auto-exposure bias; > 1 clips "
                      "the brightest whites)", min=0.25, max=4),
        "sharpen": Param(float, "0-0.8", "in-camera unsharp-mask amount on luma (0: none)", min=0, max=4),
        "sharpen_sigma": Param(float, 1.0, "unsharp-mask radius (Gaussian sigma)", min=0.3, max=5, unit="pixels"),
        "jpeg": Param(bool, True, "JPEG-compress the photo"),
        "quality": Param(int, "70-95", "JPEG quality factor", min=1, max=100),
        "vignette": Param(float, 0.0, "vignetting: gain 1 - v r^2 (r = 1 at the corners)", min=0, max=0.95),
        "ca": Param(float, 0.0, "lateral chromatic aberration (relative radius change of R, B)", min=0, max=0.05),
        "glare": Param(float, 0.0, "strength of a reflection blob added in linear light", min=0, max=2),
        "motion": Param(float, 0.0, "motion blur length", min=0, max=16, unit="sensor pixels"),
        "motion_angle": Param(float, "0-180", "motion blur direction", min=0, max=360, unit="degrees"),
    }

    def validate(self) -> None:
        v = self.settings.values
        k1, k2 = _ends(v["k1"]), _ends(v["k2"])
        # the undistortion must stay monotone out to the corners (plus margin): r (1 + k1 r^2 + k2 r^4)
        rr = np.linspace(0, 1.1, 56) ** 2
        for a in k1:
            for b in k2:
                if np.min(1 + 3 * a * rr + 5 * b * rr * rr) <= 0.05:
                    raise SpecError(f"moire: k1={a:g}, k2={b:g}: the lens distortion folds over inside the "
                                    "frame, so no region of the photo maps to the screen one to one; use smaller "
                                    "|k1|, |k2|")
        self._sizes: dict[tuple[int, int], tuple[int, int]] = {}
        self._halves: dict[tuple[int, int], tuple[float, float]] = {}
        self._half((64, 64))  # fail at parse time on ranges that reach the horizon

    def _s(self, key: str) -> Any:
        return self.settings.values[key].value

    # -- geometry of the crop ------------------------------------------------------------------
    def _half(self, out_hw: tuple[int, int]) -> tuple[float, float]:
        """Worst-case half extent (x, y) in screen pixels of the patch's mapped support."""
        if out_hw in self._halves:
            return self._halves[out_hw]
        from imgrestore.kernels.moire_numpy import homography

        v = self.settings.values
        signs = self._s("signs")
        k = min(_ends(v["k"]))

        def angles(key: str, many: bool) -> list[float]:
            e = _ends(v[key])
            vals = set(e)
            if many and v[key].kind == "range":
                vals |= set(np.linspace(v[key].lo, v[key].hi, 9).tolist())
            if signs:
                vals |= {-a for a in vals}
            return sorted(vals)

        h, w = out_hw
        sigma = math.hypot(max(_ends(v["olpf"])), max(_ends(v["defocus"])))
        m = 0.5 + 2 * sigma + max(_ends(v["motion"])) / 2 + 1.0
        t = np.linspace(0, 1, 17)
        ud = np.concatenate([-w / 2 - m + t * (w + 2 * m), np.full(17, w / 2 + m), w / 2 + m - t * (w + 2 * m),
                             np.full(17, -w / 2 - m)])
        vd = np.concatenate([np.full(17, -h / 2 - m), -h / 2 - m + t * (h + 2 * m), np.full(17, h / 2 + m),
                             h / 2 + m - t * (h + 2 * m)])
        ca = max(_ends(v["ca"]))
        ud = np.concatenate([ud * (1 - ca), ud * (1 + ca)])
        vd = np.concatenate([vd * (1 - ca), vd * (1 + ca)])
        r2 = (ud * ud + vd * vd) * 4.0 / (h * h + w * w)
        hx = hy = 0.0
        for k1 in _ends(v["k1"]):
            for k2 in _ends(v["k2"]):
                g = 1 + r2 * (k1 + k2 * r2)
                u, vv = ud * g, vd * g
                for fov in _ends(v["fov"]):
                    for roll in angles("roll", True):
                        for tilt in angles("tilt", False):
                            for pan in angles("pan", False):
                                Hm = homography(k, roll, tilt, pan, fov, out_hw, (0, 0))
                                den = Hm[2, 0] * u + Hm[2, 1] * vv + Hm[2, 2]
                                if np.min(den) < 0.05:
                                    raise _Horizon(
                                        f"moire: tilt={tilt:g}, pan={pan:g}, fov={fov:g}: the screen plane reaches "
                                        "the horizon inside the frame, so no region of the photo is covered by "
                                        "the screen; use smaller tilt, pan or fov")
                                X = (Hm[0, 0] * u + Hm[0, 1] * vv) / den
                                Y = (Hm[1, 0] * u + Hm[1, 1] * vv) / den
                                hx = max(hx, float(np.max(np.abs(X))))
                                hy = max(hy, float(np.max(np.abs(Y))))
        self._halves[out_hw] = (hx, hy)
        return hx, hy

    def source_size(self, out_hw: tuple[int, int]) -> tuple[int, int]:
        """The screenshot crop that covers an ``out_hw`` photo for every parameter in the ranges."""
        hx, hy = self._half(tuple(out_hw))
        src = (2 * math.ceil(hy + MARGIN), 2 * math.ceil(hx + MARGIN))
        self._sizes[src] = tuple(out_hw)  # the latest request wins: synth asks right before it crops
        return src

    def output_size(self, in_hw: tuple[int, int]) -> tuple[int, int]:
        """The largest photo a screenshot of ``in_hw`` covers (same aspect), for every draw."""
        in_hw = tuple(in_hw)
        if in_hw in self._sizes:
            return self._sizes[in_hw]
        h_in, w_in = in_hw

        def fits(p: int) -> bool:
            out = (p, max(1, round(p * w_in / h_in)))
            try:
                s = self.source_size(out)
            except _Horizon:  # a patch of a few pixels: the margins alone reach the horizon
                return False
            return s[0] <= h_in and s[1] <= w_in

        lo, hi = 0, 4 * max(h_in, w_in) + 8
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(mid):
                lo = mid
            else:
                hi = mid - 1
        if lo < 1:
            raise SpecError(f"moire: a {h_in}x{w_in} screenshot covers no photo pixel for every draw of "
                            f"k={self.settings.values['k'].spec()}, roll/tilt/pan="
                            f"{self.settings.values['roll'].spec()}/{self.settings.values['tilt'].spec()}/"
                            f"{self.settings.values['pan'].spec()}, k1={self.settings.values['k1'].spec()}; "
                            "use larger images or narrower ranges")
        out = (lo, max(1, round(lo * w_in / h_in)))
        self._sizes[in_hw] = out
        return out

    # -- draws -----------------------------------------------------------------------------------
    def draw(self, rng: np.random.Generator) -> dict[str, Any]:
        d = self.settings.draw(rng)
        flips = rng.random(3)  # always drawn, so later streams do not depend on `signs`
        at = rng.random(3)
        if d.pop("signs"):
            for key, u in zip(("roll", "tilt", "pan"), flips):
                if u < 0.5:
                    d[key] = -d[key]
        d.pop("ss")
        if d["glare"] > 0:
            d["glare_at"] = [0.1 + 0.8 * float(at[0]), 0.1 + 0.8 * float(at[1]), 0.2 + 0.4 * float(at[2])]
        if not d["jpeg"]:
            d["quality"] = None
        if not d["noise"]:
            d["shot"] = d["read"] = None
        if not d["cfa"]:
            d["pattern"] = "none"
        return d

    # -- pixels ------------------------------------------------------------------------------------
    def apply(self, pair: Pair, drawn: list[dict], ctx: StageContext) -> Pair:
        from imgrestore.kernels.moire import moire_batch, pack_batch
        from imgrestore.kernels.philox import sample_key

        x = pair.input
        xp = array_module(x)
        n, h, w, c = x.shape
        if c not in (1, 3):
            raise SpecError(f"moire: expected RGB (3 channels) or grayscale (1 channel) screenshots, got {c} channels")
        # First in a chain, input and target are the same screenshot; after another stage the
        # target is the clean one, and it must be warped by the same geometry (not replaced by
        # the warped degraded input).
        own_target = pair.target is not x
        if own_target and tuple(pair.target.shape) != tuple(x.shape):
            raise SpecError(f"moire: the stages before moire made a {'x'.join(map(str, pair.target.shape[1:]))} target "
                            f"for a {h}x{w}x{c} input, and one camera geometry cannot warp both; put stages that "
                            "change the size (bicubic) after moire")
        out_hw = self.output_size((h, w))
        if self._s("cfa") and (out_hw[0] < 2 or out_hw[1] < 2):
            raise SpecError(f"moire: the {out_hw[0]}x{out_hw[1]} photo is too small for the Bayer mosaic (2x2)")

        def screen(img):
            img = img.astype(xp.float32, copy=False)
            return xp.repeat(img, 3, axis=3) if c == 1 else img

        scr = screen(x)
        keys = [sample_key(ctx.seed, i, ctx.stage) for i in ctx.indices]
        b = pack_batch(self._samples(drawn), out_hw, (h, w), self._s("ss"), keys)
        out, tgt = moire_batch(scr, b, out_hw, self._s("demosaic"))
        out = _finish(out, drawn)
        if own_target:  # the same draws and geometry on the clean screenshot (its photo is dropped)
            _, tgt = moire_batch(screen(xp.asarray(pair.target)), b, out_hw, self._s("demosaic"))
        if any(d["jpeg"] for d in drawn):  # on the batch's device; quality 0 passes a sample through
            from imgrestore.kernels.jpeg import roundtrip

            out = roundtrip(out, [int(d["quality"]) if d["jpeg"] else 0 for d in drawn], "420")
        if c == 1:
            wts = xp.asarray(np.array(GRAY, np.float32))
            out = (out @ wts)[..., None].astype(xp.float32)
            tgt = (tgt @ wts)[..., None].astype(xp.float32)
        pair.input = out
        pair.target = tgt
        pair.side = {}
        return pair

    def read_boxes(self, drawn: list[dict], in_hw: tuple[int, int]) -> np.ndarray:
        """(N, 4) int32 [y0, y1, x0, x1]: the part of each `in_hw` screenshot that :meth:`apply`
        reads, on the CPU and as the first stage (the support boxes: the Numba path decodes
        only these, so no pixel outside one can change a bit of the result). ``synth`` renders
        just these windows of its screens (docs/moire-gpu.md, "CPU synth speed")."""
        from imgrestore.kernels.moire import pack_batch

        return pack_batch(self._samples(drawn), self.output_size(in_hw), in_hw, self._s("ss"),
                          np.zeros((len(drawn), 2))).boxes

    @staticmethod
    def _samples(drawn: list[dict]) -> list[dict]:
        """The drawn values as the kernels take them: the red site of the Bayer pattern ((-1, -1)
        without a CFA) and zero shot/read noise where noise is off."""
        from imgrestore.kernels.camera_numpy import RED_SITE

        return [dict(d, red=RED_SITE[PATTERNS.index(d["pattern"])] if d["cfa"] else (-1, -1),
                     shot=d["shot"] or 0.0, read=d["read"] or 0.0) for d in drawn]


def _finish(out: Any, drawn: list[dict]) -> Any:
    """The camera's tone curve (exposure headroom rolled off above the knee) and luma sharpening,
    on the developed sRGB batch before JPEG (``kernels/tone.py``)."""
    from imgrestore.kernels.tone import chroma_denoise, sharpen, tone

    out = tone(out, [d["exposure"] for d in drawn], [d["knee"] for d in drawn], [d["gain"] for d in drawn])
    out = chroma_denoise(out, [d["chroma_denoise"] for d in drawn])
    amounts = [d["sharpen"] for d in drawn]
    if any(a > 0 for a in amounts):
        sig = {d["sharpen_sigma"] for d in drawn if d["sharpen"] > 0}
        for s in sorted(sig):  # one blur radius per call
            pick = [a if d["sharpen_sigma"] == s else 0.0 for a, d in zip(amounts, drawn)]
            out = sharpen(out, pick, s)
    return out


def _ends(v) -> list[float]:
    """The extreme values a setting can take: the value, the range ends, or the choices."""
    if v.kind == "fixed":
        return [v.value]
    if v.kind == "range":
        return [v.lo, v.hi]
    return list(v.options)


@hookimpl
def imgrestore_degradations():
    return [Moire]
