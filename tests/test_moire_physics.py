"""Physics of the ``moire`` simulator against closed-form answers no one here wrote.

* A uniform pure-red screen seen by a sensor without CFA is a grating of red stripes of period
  k sensor pixels, turned by the roll angle: its frequency is f = (cos t, sin t) / k cycles per
  pixel. Sampling on the integer lattice folds it to f - round(f) (aliasing); the dominant
  fringe (2-D FFT peak) must sit there within 3 %.
* With the Bayer CFA on, a white screen's red channel is the same grating sampled on the red
  sites, a lattice of period 2: it folds to f - round(2 f) / 2.
* The optical low-pass is the flat-top Gaussian: the fringe amplitude of a red grating (no CFA,
  fill 1) is its Fourier coefficient 2 sinc(1/3) times the closed-form MTF
  ``sinc(f) exp(-2 pi^2 sigma^2 f^2)`` at the grating frequency f = 1/k, aliased or not, within
  0.03 (in MTF units) for sigma 0-0.4 px.
* A far camera (k = 0.6: 1.7 screen pixels per sensor pixel) with a strong optical low-pass
  shows no fringes: contrast below 1 % at sigma = 0.6 px (below 0.1 % at 1 px), where the same
  shot without the low-pass has contrast above 10 %. (k is sensor pixels per screen pixel, so a
  far screen is small k; a near one, k > 4, resolves the subpixels and has no moire to remove.)
* Alignment: phase correlation between the low-passed photo and its ground truth finds no
  shift above 0.1 pixel at the centre and at the four corners, under strong pose and lens
  distortion (a mismatch of homography or distortion between the two would show there); and
  the red and blue channels sit k/3 sensor pixels left and right of green, where their
  subpixel stripes are on the screen.
* Pose and lens in closed form: isolated screen pixels land at k times their offset from the
  optical axis, moved by the radial model p_d (1 + k1 r^2 + k2 r^4) = p_u (barrel for k1 > 0),
  within 0.1 px.
"""

from __future__ import annotations

import numpy as np
import pytest

from imgrestore.chain import Chain

# capture physics only: no defocus, and the camera finishing of issue 12 (tone, chroma denoise, sharpening) off
CAMERA_OFF = "defocus=0,exposure=1,gain=1,sharpen=0,chroma_denoise=0"
FIXED = ("signs=false,tilt=0,pan=0,k1=0,k2=0,noise=false,jpeg=false,denoise=0,fill=1,fill_y=1,phase_x=0.3,phase_y=0.6,"
         + CAMERA_OFF)


def _shoot(spec: str, colour, out: int = 128, index: int = 0):
    chain = Chain.parse(spec)
    src = chain.source_size((out, out))
    x = np.broadcast_to(np.asarray(colour, np.float32), (1, *src, 3)).copy()
    pair = chain(x, 0, [index])
    assert pair.input.shape == (1, out, out, 3) and pair.target.shape == (1, out, out, 3)
    return pair.input[0], pair.target[0]


def _fft_peak(img: np.ndarray) -> np.ndarray:
    """(fx, fy) cycles/pixel of the strongest non-DC peak: Hann window, Gaussian peak interpolation."""
    n = img.shape[0]
    w = np.hanning(n)
    mag = np.abs(np.fft.fft2((img - img.mean()) * w[:, None] * w[None, :]))
    f = np.fft.fftfreq(n)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    mag[np.hypot(fx, fy) < 0.03] = 0
    iy, ix = np.unravel_index(np.argmax(mag), mag.shape)
    lg = np.log(mag + 1e-30)

    def sub(lm, l0, lp):
        return 0.5 * (lm - lp) / (lm - 2 * l0 + lp)

    dy = sub(lg[(iy - 1) % n, ix], lg[iy, ix], lg[(iy + 1) % n, ix])
    dx = sub(lg[iy, (ix - 1) % n], lg[iy, ix], lg[iy, (ix + 1) % n])
    return np.array([f[ix] + dx / n, f[iy] + dy / n])


def _rel_err(measured: np.ndarray, predicted: np.ndarray) -> float:
    # a real image's spectrum is symmetric: the peak may be found at -f
    return min(np.linalg.norm(measured - predicted), np.linalg.norm(measured + predicted)) / np.linalg.norm(predicted)


def _grating(k: float, theta: float) -> np.ndarray:
    return np.array([np.cos(np.radians(theta)), np.sin(np.radians(theta))]) / k


@pytest.mark.parametrize("k,theta", [(1.3, 0), (1.3, 10), (1.6, 25), (1.15, -15), (1.45, 35)])
def test_mono_sensor_fringe_is_the_alias_of_the_red_grating(k, theta):
    photo, _ = _shoot(f"moire:{FIXED},k={k},roll={theta},cfa=false,olpf=0", (0.6, 0.0, 0.0))
    f = _grating(k, theta)
    alias = f - np.round(f)
    assert _rel_err(_fft_peak(photo[..., 0]), alias) < 0.03


@pytest.mark.parametrize("k,theta", [(2.6, 10), (3.2, 0), (1.7, 20), (2.3, -30)])
def test_cfa_red_channel_fringe_is_the_alias_on_the_red_sites(k, theta):
    photo, _ = _shoot(f"moire:{FIXED},k={k},roll={theta},cfa=true,pattern=RGGB,demosaic=bilinear,olpf=0",
                      (0.6, 0.6, 0.6))
    f = _grating(k, theta)
    alias = f - np.round(2 * f) / 2
    assert _rel_err(_fft_peak(photo[..., 0]), alias) < 0.03


def test_strong_optical_low_pass_removes_the_fringes_of_a_far_screen():
    def contrast(k, olpf):
        photo, _ = _shoot(f"moire:{FIXED},k={k},roll=10,cfa=false,olpf={olpf}", (0.6, 0.0, 0.0), out=64)
        r = photo[8:-8, 8:-8, 0]
        return (np.percentile(r, 99) - np.percentile(r, 1)) / r.mean()

    # 1/0.6 screen pixels per sensor pixel: the red grating (1.67 cycles/pixel) aliases to 0.33
    assert contrast(0.6, 0.0) > 0.1  # the test has teeth: without the OLPF the fringes are strong
    # a Gaussian of sigma 0.6 px passes exp(-2 pi^2 sigma^2 f^2) ~ 3e-9 of it; the simulator's
    # PSF (olpf_cells: three points across the aperture, tents of the Gaussian's variance, whose
    # sinc^2 stop band falls as 1/f^2) passes 1.5% of the box-filtered fringe there: 24% -> 0.66%,
    # about one 8-bit step. The bound: under 1% (a 24x drop), and under 0.1% at sigma = 1.
    assert contrast(0.6, 0.6) < 1e-2
    assert contrast(0.55, 1.0) < 1e-3


@pytest.mark.parametrize("k", [1.37, 1.9, 2.37])
@pytest.mark.parametrize("sigma", [0.0, 0.1, 0.25, 0.4])
def test_optical_low_pass_has_the_flat_top_gaussian_mtf(k, sigma):
    """Fringe amplitude of a red grating = its Fourier coefficient x the closed-form MTF.

    Fronto-parallel, no roll, no CFA, fill 1: the red stripes are a pulse train of period k
    sensor pixels and duty 1/3 along x, whose fundamental has amplitude 2 sinc(1/3) times the
    mean. The pixel aperture convolved with the Gaussian passes ``sinc(f) exp(-2 pi^2 s^2 f^2)``
    of it at f = 1/k, and sampling moves it to the alias f - round(f) (k = 1.37, 1.9) or leaves
    it (k = 2.37). The k are chosen so that no other harmonic aliases onto the same frequency.
    """
    from imgrestore.kernels.moire_numpy import srgb_decode

    photo, _ = _shoot(f"moire:{FIXED},k={k},roll=0,cfa=false,olpf={sigma}", (0.6, 0.0, 0.0))
    r = srgb_decode(photo[..., 0]).astype(np.float64)  # linear light: the fringe is additive there
    f = 1.0 / k
    n = r.shape[0]
    w = np.outer(np.hanning(n), np.hanning(n))
    xx = np.arange(n)[None, :]
    amp = 2 * abs((w * (r - r.mean()) * np.exp(-2j * np.pi * (f - round(f)) * xx)).sum()) / w.sum()
    measured = amp / r.mean() / (2 * np.sinc(1 / 3))
    mtf = abs(np.sinc(f)) * np.exp(-2 * np.pi**2 * sigma**2 * f**2)
    assert abs(measured - mtf) < 0.03, (measured, mtf)


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    r = np.random.default_rng(seed)
    t = gaussian_filter(r.random((h, w)), 3) + 0.5 * gaussian_filter(r.random((h, w)), 4)
    t = (t - t.min()) / (t.max() - t.min())
    return (0.1 + 0.8 * np.stack([t, np.roll(t, 7, 0), np.roll(t, 5, 1)], -1)).astype(np.float32)


@pytest.mark.parametrize("geometry,sensor", [
    ("k=2.2,roll=12,tilt=10,pan=-8,k1=0.08,k2=0.03,fov=50", "cfa=false,fill=1,fill_y=1"),
    ("k=1.5,roll=-18,tilt=-15,pan=16,k1=0.1,k2=0.05,fov=45", "cfa=false,fill=1,fill_y=1"),
    ("k=3.1,roll=5,tilt=18,pan=12,k1=-0.05,k2=0,fov=30", "cfa=false,fill=1,fill_y=1"),
    ("k=1.5,roll=-18,tilt=-15,pan=16,k1=0.1,k2=0.05,fov=45", "cfa=true,pattern=RGGB,fill=1,fill_y=1"),
    ("k=3.1,roll=5,tilt=18,pan=12,k1=-0.05,k2=0,fov=30", "cfa=true,pattern=GBRG,fill=1,fill_y=1"),
])
def test_photo_and_target_are_aligned_at_centre_and_corners(geometry, sensor):
    from scipy.ndimage import gaussian_filter
    from skimage.registration import phase_cross_correlation

    from imgrestore.kernels.moire_numpy import srgb_decode

    out, win = 96, 40
    chain = Chain.parse(f"moire:{geometry},signs=false,noise=false,jpeg=false,denoise=0,olpf=0.3,{sensor},{CAMERA_OFF}")
    x = _texture(*chain.source_size((out, out)))[None]
    pair = chain(x, 0, [5])
    # green in linear light: the green stripe is centred in its pixel (red and blue sit a third
    # of a screen pixel left and right, a real LCD offset the target keeps), and the stripes
    # average to the content in linear light (sRGB would bend them)
    a = gaussian_filter(srgb_decode(pair.input[0])[..., 1], 2.5)
    b = gaussian_filter(srgb_decode(pair.target[0])[..., 1], 2.5)
    e = out - win - 2
    for y0, x0 in [((out - win) // 2,) * 2, (2, 2), (2, e), (e, 2), (e, e)]:
        shift, _, _ = phase_cross_correlation(b[y0:y0 + win, x0:x0 + win], a[y0:y0 + win, x0:x0 + win],
                                              upsample_factor=100, normalization=None)
        assert np.hypot(*shift) < 0.1, (y0, x0, shift)


def _dot_centroids(photo_spec: str, target_spec: str | None = None, out: int = 96, step: int = 9):
    """(photo, target) centroids (K, 2) per channel-summed blob of a screen of isolated white pixels.

    Centroids are first moments, which every linear step of the pipeline preserves: they test
    the geometry itself, free of the moire of extended content. ``target_spec`` renders the
    target with other settings (to show the test catches a geometry mismatch).
    """
    from scipy import ndimage as ndi

    from imgrestore.kernels.moire_numpy import srgb_decode

    def shoot(chain):  # dots placed relative to the crop centre, so any crop shows the same screen
        h, w = chain.source_size((out, out))
        x = np.zeros((1, h, w, 3), np.float32)
        x[0, (h // 2 + step // 2) % step::step, (w // 2 + step // 2) % step::step, :] = 1.0
        return chain(x, 0, [0])

    photo = shoot(Chain.parse(photo_spec)).input[0]
    target = shoot(Chain.parse(target_spec or photo_spec)).target[0]
    a, b = srgb_decode(photo), srgb_decode(target)
    lab, _ = ndi.label(ndi.binary_dilation(b.sum(-1) > 0.02 * b.sum(-1).max(), iterations=2))
    ca, cb = [], []
    for sl in ndi.find_objects(lab):
        if min(sl[0].start, sl[1].start) == 0 or max(sl[0].stop, sl[1].stop) == out:
            continue  # cut by the frame
        ca.append([ndi.center_of_mass(a[sl][..., c]) for c in range(3)] + [ndi.center_of_mass(a[sl].sum(-1))])
        cb.append([ndi.center_of_mass(b[sl][..., c]) for c in range(3)] + [ndi.center_of_mass(b[sl].sum(-1))])
    return np.array(ca), np.array(cb)  # (K, 4 = R, G, B, sum, 2)


GEOMETRIES = ["k=2.2,roll=12,tilt=10,pan=-8,k1=0.08,k2=0.03,fov=50",
              "k=1.5,roll=-18,tilt=-15,pan=16,k1=0.1,k2=0.05,fov=45",
              "k=3.1,roll=5,tilt=18,pan=12,k1=-0.05,k2=0,fov=30"]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_isolated_pixels_land_where_the_target_has_them(geometry):
    spec = f"moire:{geometry},signs=false,noise=false,jpeg=false,denoise=0,olpf=0.3,cfa=false,{CAMERA_OFF}"
    ca, cb = _dot_centroids(spec)
    assert len(ca) >= 10  # spread over the frame, corners included
    err = np.hypot(*(ca[:, 3] - cb[:, 3]).T)
    assert err.max() < 0.1
    # teeth: a target rendered with a slightly different lens is caught
    k1 = float(geometry.split("k1=")[1].split(",")[0])
    wrong = spec.replace(f"k1={geometry.split('k1=')[1].split(',')[0]}", f"k1={k1 + 0.03:g}")
    ca2, cb2 = _dot_centroids(spec, wrong)
    assert np.hypot(*(ca2[:, 3] - cb2[:, 3]).T).max() > 0.3


def test_red_and_blue_subpixels_sit_a_third_of_a_screen_pixel_off():
    k = 3.0
    ca, cb = _dot_centroids(f"moire:k={k},roll=0,{FIXED},cfa=false,olpf=0.3")
    d = ca - cb  # (K, channel, (y, x))
    np.testing.assert_allclose(d[:, :, 0], 0, atol=0.05)
    np.testing.assert_allclose(d[:, 0, 1], -k / 3, atol=0.05)
    np.testing.assert_allclose(d[:, 1, 1], 0, atol=0.05)
    np.testing.assert_allclose(d[:, 2, 1], k / 3, atol=0.05)


@pytest.mark.parametrize("k1,k2", [(0.1, 0.05), (-0.08, 0.0)])
def test_isolated_pixels_land_where_the_pinhole_and_lens_model_puts_them(k1, k2):
    """Barrel (k1 > 0) or pincushion, in closed form: a screen point at offset (x, y) screen
    pixels from the optical axis lands, fronto-parallel, at the undistorted sensor offset
    p_u = k (x, y), and the lens moves it to the p_d solving p_d (1 + k1 r^2 + k2 r^4) = p_u,
    r = |p_d| over the half-diagonal (so k1 > 0 pulls the corners in). The centroid of each dot
    (white, fill 1: its R, G, B stripes average to the pixel centre) must sit there within
    0.1 px; the opposite sign of k1 would move the outer dots by pixels."""
    from scipy import ndimage as ndi

    from imgrestore.kernels.moire_numpy import srgb_decode

    k, out, step, phase = 2.0, 96, 11, (0.3, 0.6)
    chain = Chain.parse(f"moire:{CAMERA_OFF},k={k},roll=0,tilt=0,pan=0,signs=false,k1={k1},k2={k2},phase_x={phase[0]},"
                        f"phase_y={phase[1]},fill=1,fill_y=1,cfa=false,olpf=0.3,noise=false,jpeg=false,denoise=0")
    hs, ws = chain.source_size((out, out))
    x = np.zeros((1, hs, ws, 3), np.float32)
    x[0, 3::step, 5::step] = 0.3  # 0.3 sRGB: the subpixels (3x the mean) stay below saturation
    lum = srgb_decode(chain(x, 0, [0]).input[0]).sum(-1)
    lab, _ = ndi.label(lum > 0.02 * lum.max())
    got = [ndi.center_of_mass(lum[sl]) + np.array([sl[0].start, sl[1].start]) for sl in ndi.find_objects(lab)
           if min(sl[0].start, sl[1].start) > 0 and max(sl[0].stop, sl[1].stop) < out]
    assert len(got) >= 12
    # closed form: dot (i, j) has its centre at screen (j + 0.5, i + 0.5); the optical axis meets
    # the screen at (ws / 2 + phase_x, hs / 2 + phase_y); sensor index = offset + out / 2 - 0.5
    ii, jj = np.mgrid[3:hs:step, 5:ws:step]
    pu = k * np.stack([ii.ravel() + 0.5 - (hs / 2 + phase[1]), jj.ravel() + 0.5 - (ws / 2 + phase[0])], -1)
    rho2 = (out * out + out * out) / 4.0
    ru = np.hypot(*pu.T)
    rd = ru.copy()
    for _ in range(50):  # Newton on rd (1 + k1 rd^2 / rho2 + k2 rd^4 / rho2^2) = ru
        q = rd * rd / rho2
        rd -= (rd * (1 + k1 * q + k2 * q * q) - ru) / (1 + 3 * k1 * q + 5 * k2 * q * q)
    want = pu * (rd / np.maximum(ru, 1e-12))[:, None] + out / 2 - 0.5
    err = [np.min(np.hypot(*(want - g).T)) for g in got]
    assert max(err) < 0.1, max(err)
    shift = np.abs(np.hypot(*(want - out / 2 + 0.5).T) - np.hypot(*(pu).T))  # what the lens moved
    assert shift[np.hypot(*(want - out / 2 + 0.5).T) < out / 2].max() > 1.0  # ... by pixels: the test has teeth
