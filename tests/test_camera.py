"""The CBDNet camera kernels: demosaic against colour-demosaicing, kernels against the NumPy
oracle, noise statistics against sigma^2(L), Philox against the Random123 known answers."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from imgrestore.crf import parametric_curves
from imgrestore.kernels import camera
from imgrestore.kernels import camera_numpy as oracle
from imgrestore.kernels.philox import normals, normals_numpy, philox4x32, philox4x32_numpy


_SHARED_CRF = Path(__file__).resolve().parents[2] / "shared" / "data" / "crf" / "dorfCurves.txt"


def _colour_demosaicing():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # colour warns about matplotlib at import
        return pytest.importorskip("colour_demosaicing")


# Random123's kat_vectors for philox4x32-10: counter, key, expected output.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("ctr,key,want", KAT)
def test_philox_known_answers(ctr, key, want):
    assert tuple(int(v) for v in philox4x32(*ctr, *key)) == want
    assert tuple(int(v) for v in philox4x32_numpy(np.array(ctr, np.uint32), key)) == want


def test_philox_normals_match_oracle_and_are_standard():
    z = normals(400_003, (7, 11))
    assert np.allclose(z, normals_numpy(400_003, (7, 11)), rtol=0, atol=2e-6)
    assert abs(z.mean()) < 5 / np.sqrt(z.size) and abs(z.std() - 1) < 0.005
    # fourth moment of a Gaussian is 3; a broken transform shows here first
    assert abs(np.mean(z.astype(np.float64) ** 4) - 3) < 0.06
    assert not np.array_equal(normals(64, (7, 11)), normals(64, (7, 12)))


def _natural_rgb() -> np.ndarray:
    from skimage import data

    return data.astronaut()[100:164, 150:222].astype(np.float32) / 255  # 64 x 72


@pytest.mark.parametrize("pattern", oracle.PATTERNS)
@pytest.mark.parametrize("method", ["malvar", "bilinear"])
def test_demosaic_equals_colour_demosaicing(pattern, method):
    cd = _colour_demosaicing()
    ref_fn = cd.demosaicing_CFA_Bayer_Malvar2004 if method == "malvar" else cd.demosaicing_CFA_Bayer_bilinear
    rng = np.random.default_rng(1)
    p = oracle.PATTERNS.index(pattern)
    natural = oracle.mosaic(_natural_rgb(), p)
    for raw in (rng.random((31, 26), dtype=np.float32), natural, rng.random((2, 3), dtype=np.float32)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = ref_fn(raw.astype(np.float64), pattern)
        ours = camera.demosaic(raw, pattern, method)
        assert ours.dtype == np.float32 and ours.shape == raw.shape + (3,)
        # every pixel, borders included, to float32 rounding of values in about [-0.5, 1.5]
        np.testing.assert_allclose(ours, ref, rtol=0, atol=4e-7)
        assert np.array_equal(ours, oracle.DEMOSAIC[method](raw, p))


def _params(n, patterns, ss, sc, crf=None):
    crf = np.arange(n) * 37 % 201 if crf is None else crf
    return camera.CameraParams.build(crf, patterns, ss, sc, [(3 * i + 1, 5 * i + 2) for i in range(n)])


@pytest.mark.parametrize("model", ["paper", "matlab"])
@pytest.mark.parametrize("method", ["malvar", "bilinear"])
@pytest.mark.parametrize("noisy", [False, True])
def test_numba_pipeline_equals_oracle(model, method, noisy):
    curves = parametric_curves()
    rng = np.random.default_rng(2)
    x = rng.random((5, 13, 18, 3), dtype=np.float32)
    n = len(x)
    ss = rng.uniform(0, 0.16, (n, 3)) * noisy
    sc = rng.uniform(0, 0.06, (n, 3)) * noisy
    prm = _params(n, [0, 1, 2, 3, 4], ss, sc)
    out, sigma = camera.camera_batch(x, curves, prm, model=model, demosaic=method)
    for s in range(n):
        normal = (lambda k, s=s: normals_numpy(k, tuple(prm.keys[s]))) if noisy else None
        want, want_sigma = oracle.camera(x[s], curves, int(prm.crf[s]), int(prm.pattern[s]), prm.sigma_s[s],
                                         prm.sigma_c[s], normal, 1 if model == "matlab" else 0, True, method)
        # same float32 operations in the same order: equal bit for bit, CRF bins included
        assert np.array_equal(out[s], want), f"sample {s} pattern {prm.pattern[s]}"
        assert np.array_equal(sigma[s], want_sigma)


def test_grayscale_takes_the_monochrome_path():
    curves = parametric_curves()
    x = np.random.default_rng(3).random((2, 9, 11, 1), dtype=np.float32)
    prm = _params(2, [0, 2], [[0.1] * 3, [0.05] * 3], [[0.02] * 3] * 2)
    out, sigma = camera.camera_batch(x, curves, prm)
    assert out.shape == x.shape and sigma.shape == x.shape
    for s in range(2):
        want, _ = oracle.camera(x[s], curves, int(prm.crf[s]), oracle.NO_MOSAIC, prm.sigma_s[s], prm.sigma_c[s],
                                lambda k, s=s: normals_numpy(k, tuple(prm.keys[s])))
        assert np.array_equal(out[s], want)


def _flat_field_ramp(n=8, h=256, w=320) -> np.ndarray:
    """A ramp from 0.05 to 0.95 along x, identical rows and channels (identity CRF: L = x)."""
    ramp = np.repeat(np.linspace(0.05, 0.95, 10, dtype=np.float32), w // 10)
    return np.broadcast_to(ramp[None, None, :, None], (n, h, w, 3)).copy()


@pytest.mark.parametrize("model", ["paper", "matlab"])
@pytest.mark.parametrize("ss,sc", [(0.16, 0.0), (0.08, 0.03), (0.02, 0.06), (0.12, 0.01)])
def test_noise_variance_matches_model_per_intensity_bin(ss, sc, model, device="cpu"):
    curves = parametric_curves()
    assert curves.names[1] == "gamma1.000-s0.0"  # f(L) = L
    x = _flat_field_ramp()
    n = len(x)
    prm = _params(n, [0, 1, 2, 3] * (n // 4), [[ss] * 3] * n, [[sc] * 3] * n, crf=[1] * n)
    if device == "cuda":
        import cupy

        noisy, clean = (a.get() for a in camera.mosaic_noise(cupy.asarray(x), curves, prm, model, clip=False))
    else:
        noisy, clean = camera.mosaic_noise(x, curves, prm, model, clip=False)
    resid = (noisy - clean).astype(np.float64)
    levels = np.unique(clean)
    assert len(levels) == 10
    for L in levels:
        r = resid[clean == L]
        want = L * ss**2 + sc**2 if model == "paper" else (ss * L) ** 2 + sc**2
        assert abs(r.var() / want - 1) < 0.05, f"L={L:.3f}: variance {r.var():.3e}, model {want:.3e}"
        assert abs(r.mean()) < 5 * np.sqrt(want / r.size)


def test_per_channel_levels_apply_per_cfa_colour():
    curves = parametric_curves()
    x = np.full((4, 128, 128, 3), 0.5, np.float32)
    prm = _params(4, [0] * 4, [[0.0, 0.0, 0.0]] * 4, [[0.01, 0.03, 0.05]] * 4, crf=[1] * 4)
    noisy, clean = camera.mosaic_noise(x, curves, prm, clip=False)
    cfa = oracle.cfa_colour(128, 128, 0)
    for c, sd in enumerate((0.01, 0.03, 0.05)):
        assert abs((noisy - clean)[:, cfa == c].std() / sd - 1) < 0.03


def test_sigma_map_is_slope_times_raw_sigma():
    """Against a finite difference of the CRF: f(L + d) - f(L - d) over 2d, times sigma(L)."""
    curves = parametric_curves()
    x = np.full((1, 4, 4, 3), 0.4, np.float32)
    prm = _params(1, [0], [[0.1] * 3], [[0.02] * 3], crf=[0])  # sRGB curve
    _, sigma = camera.camera_batch(x, curves, prm)
    L = curves.apply_inverse(np.float32(0.4), 0)
    slope = (oracle_srgb(L + 1e-4) - oracle_srgb(L - 1e-4)) / 2e-4
    assert np.allclose(sigma, slope * np.sqrt(L * 0.01 + 0.0004), rtol=0.01)


def oracle_srgb(L):
    from imgrestore.crf import srgb_oetf

    return srgb_oetf(np.float64(L))


def test_same_seed_same_output_and_noise_off_is_deterministic_clean_pipeline():
    curves = parametric_curves()
    x = np.random.default_rng(4).random((3, 16, 16, 3), dtype=np.float32)
    prm = _params(3, [0, 3, 4], [[0.1] * 3] * 3, [[0.02] * 3] * 3)
    a, _ = camera.camera_batch(x, curves, prm)
    b, _ = camera.camera_batch(x, curves, prm)
    assert np.array_equal(a, b)
    one, _ = camera.camera_batch(x[1:2], curves, camera.CameraParams.build(
        prm.crf[1:2], prm.pattern[1:2], prm.sigma_s[1:2], prm.sigma_c[1:2], prm.keys[1:2]))
    assert np.array_equal(one[0], a[1])


def test_demosaic_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2x2"):
        camera.demosaic(np.zeros((1, 5), np.float32), "RGGB")
    with pytest.raises(ValueError, match="pattern"):
        camera.demosaic(np.zeros((4, 4), np.float32), "RGBG")


def test_demosaic_natural_image_is_close_to_truth():
    """Sanity: Malvar beats bilinear on a natural image (the paper's claim, by PSNR)."""
    rgb = _natural_rgb()
    raw = oracle.mosaic(rgb, 0)
    err = {m: np.mean((camera.demosaic(raw, "RGGB", m)[4:-4, 4:-4] - rgb[4:-4, 4:-4]) ** 2) for m in ("malvar", "bilinear")}
    assert err["malvar"] < err["bilinear"]


# -- the fast paths of the Numba kernels: each against the plain statement it replaces ----------
def test_normal_quads_equals_normal4():
    """The vectorised row generator draws the very normals of the scalar normal4, bit for bit
    (unaligned starts, short runs, a counter crossing 2^32, a non-zero stream)."""
    from imgrestore.kernels.philox import normal4, normal_quads

    for q0, nq, key, stream in [(0, 37, (7, 11), 0), (5, 1, (0, 0), 0), (2**32 - 3, 9, (0xFFFFFFFF, 5), 0),
                                (123, 20, (3, 4), 2), (9, 0, (1, 1), 0)]:
        out = np.full(4 * nq + 4, np.nan, np.float32)
        normal_quads(out, q0, nq, *key, stream)
        want = [normal4(np.uint64(q0 + i), np.uint32(stream), np.uint32(key[0]), np.uint32(key[1])) for i in range(nq)]
        assert np.array_equal(out[: 4 * nq], np.array(want, np.float32).reshape(-1))
        assert np.isnan(out[4 * nq:]).all()  # nothing written past the run


def test_noise_tables_are_the_per_pixel_formulas():
    """sd[s, c, b] and sg[s, c, b] equal the oracle's sqrt(variance) and sigma-map values at L = f^-1(bin b)."""
    curves = parametric_curves()
    prm = _params(3, [0, 1, 4], [[0.1, 0.0, 0.16], [0.02] * 3, [0.0] * 3], [[0.03, 0.06, 0.0], [0.0] * 3, [0.01] * 3])
    for model in (0, 1):
        sd, sg = camera._noise_tables(curves, prm, model, True)
        for s in range(3):
            L = curves.inverse[prm.crf[s]]
            for c in range(3):
                want_sd = np.sqrt(oracle.noise_variance(L, prm.sigma_s[s, c], prm.sigma_c[s, c], model))
                assert np.array_equal(sd[s, c], want_sd)
                grid = (np.arange(1024) / np.float32(1023)).astype(np.float32)  # a value in each bin
                want_sg = oracle.sigma_map(grid[:, None], curves, int(prm.crf[s]), prm.sigma_s[s, c:c + 1],
                                           prm.sigma_c[s, c:c + 1], model)[:, 0]
                assert np.array_equal(sg[s, c], want_sg)
    assert camera._noise_tables(curves, prm, 0, False)[1].shape[0] == 0


@pytest.mark.parametrize("method", ["malvar", "bilinear"])
def test_demosaic_interior_and_border_columns_of_every_width(method):
    """Malvar runs a vectorised interior (columns 2 .. W-3, an R/B site and a G site per step) and
    reflects only the border columns: every width from 2 to 13 (no interior, one step, many; odd
    and even) and every phase equal the oracle bit for bit."""
    from imgrestore.kernels.camera_numba import interior_span

    rng = np.random.default_rng(7)
    for w in range(2, 14):
        raw = rng.uniform(-0.2, 1.2, (2, 6, w)).astype(np.float32)
        for p in range(4):
            ours = camera.demosaic(raw, p, method)
            for m in range(2):
                assert np.array_equal(ours[m], oracle.DEMOSAIC[method](raw[m], p)), f"width {w} pattern {p}"
    # the span: R/B sites at the row's R/B parity, at least 2 columns from both borders
    for w in range(2, 14):
        for y in range(2):
            for ry, rx in oracle.RED_SITE:
                st, npairs = interior_span(w, y, ry, rx)
                if npairs:
                    assert st >= 2 and st + 2 * npairs - 1 <= w - 3
                    colour = oracle.cfa_colour(2, w, oracle.RED_SITE.index((ry, rx)))[y]
                    assert colour[st] != 1 and colour[st + 1] == 1
                    assert st + 2 * npairs + 1 > w - 3  # no room left for another pair


@pytest.mark.parametrize("noisy", [False, True])
def test_fused_bands_side_on_off_and_raw_steps_equal_the_oracle(noisy):
    """camera_mosaic works in bands of rows with a recomputed 2-row halo: any band height gives
    the same bits as the oracle, the sigma side map changes nothing when off, and the steps 1-3
    API (mosaic_noise) is the oracle's noisy raw plane."""
    from imgrestore.kernels import camera_numba as k

    curves = parametric_curves()
    rng = np.random.default_rng(8)
    x = rng.random((4, 11, 9, 3), dtype=np.float32)
    prm = _params(4, [0, 1, 2, 3], rng.uniform(0, 0.16, (4, 3)) * noisy, rng.uniform(0, 0.06, (4, 3)) * noisy)
    out, sigma = camera.camera_batch(x, curves, prm)
    out2, none = camera.camera_batch(x, curves, prm, want_sigma=False)
    assert none is None and np.array_equal(out, out2)
    out3, sigma3 = camera.camera_batch(np.asfortranarray(x), curves, prm)  # any input layout
    assert out3.flags.c_contiguous and np.array_equal(out3, out) and np.array_equal(sigma3, sigma)
    raw, _ = camera.mosaic_noise(x, curves, prm)
    for s in range(4):
        normal = (lambda n, s=s: normals_numpy(n, tuple(prm.keys[s]))) if noisy else None
        want, want_sigma = oracle.camera(x[s], curves, int(prm.crf[s]), int(prm.pattern[s]), prm.sigma_s[s],
                                         prm.sigma_c[s], normal)
        assert np.array_equal(out[s], want) and np.array_equal(sigma[s], want_sigma)
        L = curves.apply_inverse(x[s], int(prm.crf[s]))
        cfa = oracle.cfa_colour(11, 9, int(prm.pattern[s]))
        clean = oracle.mosaic(L, int(prm.pattern[s]))
        sd = np.sqrt(oracle.noise_variance(clean, prm.sigma_s[s][cfa], prm.sigma_c[s][cfa]))
        z = normal(99).reshape(11, 9) if noisy else np.float32(0)
        assert np.array_equal(raw[s], np.clip(clean + sd * z, 0, 1))
    # any band height, Bayer and no-mosaic samples in one region: the same bits
    prm.pattern[1] = oracle.NO_MOSAIC
    out, sigma = camera.camera_batch(x, curves, prm)
    mos, full = np.array([0, 2, 3], np.int32), np.array([1], np.int32)
    sd, sg = camera._noise_tables(curves, prm, 0, True)
    for band in (1, 2, 3, 5, 64):
        o = np.full_like(x, np.nan)
        sm = np.full_like(x, np.nan)
        k.camera_pipeline(x, mos, full, curves.inverse, curves.forward, prm.crf, prm.red, sd, sg, prm.keys,
                          camera._noisy(prm, 3), True, 0, band, o, sm)
        assert np.array_equal(o, out) and np.array_equal(sm, sigma), f"band {band}"


def test_speedup_helper_times_both_in_alternation():
    from imgrestore.chain import Chain
    from imgrestore.bench.camera import speedup

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stage = Chain.parse("cbdnet:crf_file=" + str(_SHARED_CRF) if _SHARED_CRF.exists() else "cbdnet").stages[0]
    sp = speedup(stage, size=16, rounds=1, per_round=1)
    assert sp["numba_min_s"] > 0 and sp["oracle_min_s"] > 0
    assert sp["ratio_of_minima"] == sp["oracle_min_s"] / sp["numba_min_s"]


# -- GPU: the CUDA kernels against the Numba kernels ----------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("method", ["malvar", "bilinear"])
def test_cuda_pipeline_equals_numba_without_noise(method):
    import cupy

    curves = parametric_curves()
    rng = np.random.default_rng(5)
    x = rng.random((5, 37, 29, 3), dtype=np.float32)
    prm = _params(5, [0, 1, 2, 3, 4], 0.0 * np.ones((5, 3)), 0.0 * np.ones((5, 3)))
    cpu, cpu_sigma = camera.camera_batch(x, curves, prm, demosaic=method)
    gpu, gpu_sigma = camera.camera_batch(cupy.asarray(x), curves, prm, demosaic=method)
    assert np.array_equal(cupy.asnumpy(gpu), cpu)
    assert np.array_equal(cupy.asnumpy(gpu_sigma), cpu_sigma)
    raw = rng.random((3, 21, 30), dtype=np.float32)
    assert np.array_equal(cupy.asnumpy(camera.demosaic(cupy.asarray(raw), "GBRG", method)),
                          camera.demosaic(raw, "GBRG", method))


@pytest.mark.gpu
def test_cuda_noise_matches_numba_to_float32_rounding():
    import cupy

    curves = parametric_curves()
    x = np.random.default_rng(6).random((4, 32, 40, 3), dtype=np.float32)
    prm = _params(4, [0, 1, 2, 3], np.full((4, 3), 0.1), np.full((4, 3), 0.03))
    cpu, _ = camera.mosaic_noise(x, curves, prm, clip=False)
    gpu, _ = camera.mosaic_noise(cupy.asarray(x), curves, prm, clip=False)
    np.testing.assert_allclose(cupy.asnumpy(gpu), cpu, rtol=0, atol=2e-6)


@pytest.mark.gpu
@pytest.mark.parametrize("model", ["paper", "matlab"])
def test_cuda_noise_variance_matches_model(model):
    test_noise_variance_matches_model_per_intensity_bin(0.08, 0.03, model, device="cuda")
