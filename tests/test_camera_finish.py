"""The moiré camera's finishing steps (kernels/tone.py) against closed forms, and the plugin's use of them."""

import numpy as np
import pytest

from imgrestore.kernels import tone


def test_srgb_pair_matches_the_standard_and_inverts():
    v = np.linspace(0, 1, 1001, dtype=np.float32)
    lin = tone.srgb_decode(v)
    assert lin[0] == 0 and abs(lin[-1] - 1) < 1e-6
    # IEC 61966-2-1 at two points: the linear segment and mid-grey
    assert abs(tone.srgb_decode(np.float32(0.04)) - 0.04 / 12.92) < 1e-7
    assert abs(tone.srgb_decode(np.float32(0.5)) - ((0.5 + 0.055) / 1.055) ** 2.4) < 1e-6
    np.testing.assert_allclose(tone.srgb_encode(lin), v, atol=2e-6)


@pytest.mark.parametrize("e,knee", [(0.55, 0.6), (0.7, 0.5), (0.9, 0.6), (0.3, 0.2)])
def test_shoulder_is_identity_below_the_knee_smooth_and_reaches_one_at_saturation(e, knee):
    top = 1.0 / e
    v = np.linspace(0, top, 20001, dtype=np.float64)
    s = tone.shoulder(v, top, knee)
    below = v <= knee
    np.testing.assert_array_equal(s[below], v[below])
    assert abs(s[-1] - 1.0) < 1e-12  # the raw's saturation maps exactly to white
    assert np.all(np.diff(s) >= 0)  # monotone: no tone inversion
    d = np.diff(s) / np.diff(v)
    i = np.searchsorted(v, knee)
    assert abs(d[i + 1] - 1.0) < 1e-3  # slope 1 at the knee: no kink
    # closed form at one point: u = 1 (v = 2 knee - ... ) -> knee + (1 - knee)(1 + 1/m^2)/2
    m = (top - knee) / (1 - knee)
    if top > 1:
        vv = knee + (1 - knee)
        want = knee + (1 - knee) * (1 + 1 / m**2) / 2
        assert abs(tone.shoulder(np.array([vv]), top, knee)[0] - want) < 1e-12


def test_tone_is_identity_at_unit_exposure_and_gain_and_keeps_mid_tones():
    rng = np.random.default_rng(0)
    img = rng.random((2, 8, 8, 3)).astype(np.float32)
    assert tone.tone(img, [1, 1], 0.6) is img
    # mid-tones (linear below the knee) keep their value; brightest raw (1) becomes white
    lin = np.full((1, 4, 4, 3), 0.3, np.float32) * 0.7  # a raw exposed at e = 0.7 of a 0.3 scene level
    out = tone.tone(tone.srgb_encode(lin), [0.7], 0.6)
    np.testing.assert_allclose(tone.srgb_decode(out), 0.3, atol=2e-6)
    white = tone.tone(np.ones((1, 2, 2, 3), np.float32), [0.7], 0.6)
    np.testing.assert_allclose(white, 1.0, atol=1e-6)
    # gain scales linear light (then clips)
    g = tone.tone(tone.srgb_encode(lin), [0.7], 0.6, [1.2])
    np.testing.assert_allclose(tone.srgb_decode(g), 0.36, atol=3e-6)


def test_chroma_denoise_keeps_luma_and_flattens_colour_fringes():
    y = np.full((64, 64), 0.5, np.float32)
    xx = np.arange(64)[None, :]
    fringe = 0.1 * np.sin(2 * np.pi * xx / 4.0)  # a period-4 colour fringe on red vs green
    img = np.stack([y + fringe, y - fringe * 0.299 / 0.587, y + 0 * fringe], -1)[None].astype(np.float32)
    out = tone.chroma_denoise(img, [2.0])
    w = np.array(tone.LUMA, np.float32)
    np.testing.assert_allclose(out[0] @ w, img[0] @ w, atol=1e-6)  # luma untouched
    # a Gaussian of sigma 2 passes exp(-2 pi^2 sigma^2 / p^2) of a period-p sinusoid: 0.0072 at p = 4
    r_in = np.std(img[0, 16:48, 16:48, 0] - (img[0, 16:48, 16:48] @ w))
    r_out = np.std(out[0, 16:48, 16:48, 0] - (out[0, 16:48, 16:48] @ w))
    assert r_out / r_in == pytest.approx(np.exp(-2 * np.pi**2 * 4 / 16), abs=0.01)
    assert tone.chroma_denoise(img, [0.0]) is img


def test_sharpen_overshoot_of_a_step_and_flat_areas_untouched():
    img = np.full((1, 32, 64, 3), 0.3, np.float32)
    img[:, :, 32:] = 0.7
    out = tone.sharpen(img, [1.0], 1.0)
    row = out[0, 16, :, 0]
    # unsharp mask (amount a) of a step of height h with a Gaussian of sigma: the pixels beside the
    # edge (centres 0.5 px from it) overshoot by a h (1 - Phi(0.5 / sigma)), 0.31 a h at sigma 1
    from scipy.stats import norm

    h = 0.4
    assert row[32] - 0.7 == pytest.approx(h * (1 - norm.cdf(0.5)), abs=0.01)
    assert row[31] - 0.3 == pytest.approx(-h * (1 - norm.cdf(0.5)), abs=0.01)
    np.testing.assert_allclose(out[0, :, :20], 0.3, atol=1e-6)  # flat far from the edge
    np.testing.assert_allclose(out[0, :, 44:], 0.7, atol=1e-6)


def test_old_look_is_reachable_and_defaults_are_calibrated():
    from imgrestore.chain import Chain

    old = Chain.parse("moire:k=1.2-4,roll=0-20,tilt=0-20,pan=0-20,defocus=0,exposure=1,gain=1,sharpen=0,"
                      "chroma_denoise=0")
    v = old.stages[0].settings.values
    assert v["exposure"].value == 1 and v["sharpen"].value == 0
    new = Chain.parse("moire").stages[0].settings.values
    assert (new["k"].lo, new["k"].hi) == (0.7, 2.2)
    assert new["exposure"].hi < 1  # highlight headroom by default
    # with the finishing off, a mid-grey flat screen keeps its level; with it on, too (below the knee)
    for spec in ("moire:noise=false,jpeg=false,gain=1,sharpen=0,chroma_denoise=0,k=1.5",
                 "moire:noise=false,jpeg=false,gain=1,k=1.5"):
        chain = Chain.parse(spec)
        src = chain.source_size((32, 32))
        pair = chain(np.full((2, *src, 3), 0.5, np.float32), 0, [0, 1])
        lin = tone.srgb_decode(pair.input).mean()
        assert abs(lin / tone.srgb_decode(np.float32(0.5)) - 1) < 0.05
