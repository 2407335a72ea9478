"""The CUDA kernels of ``kernels/camera.cu``, run on the CPU by host emulation, against Numba.

``tests/cuda_host/shim.h`` turns the CUDA qualifiers and intrinsics into host C++ (``__umulhi``
as a 64-bit product, ``__ldg`` as a load, ``blockIdx``/``threadIdx``/``blockDim``/``gridDim`` as
globals), and ``tests/cuda_host/driver.cpp`` includes ``camera.cu`` unchanged and runs every
(block, thread) of each launch in turn, with the grid and block shapes of ``camera_cuda.py``
(including the ``blockIdx.y`` / ``blockIdx.z`` loops over samples, also with a grid capped at 2
so that the striding is exercised). It is built with ``g++ -O1 -std=c++17 -ffp-contract=off``,
the host counterpart of NVRTC ``--fmad=false``.

What this proves: the kernels' C logic (indexing, grid bounds and tails of odd sizes, the
reflecting borders, Bayer phases, no-mosaic and 1-channel paths, noise models, clip, the sigma
map, bare demosaic, Philox words and Box-Muller) computes the same float32 operations in the
same order as the Numba kernels. Everything is compared bit for bit, noise included: the
Philox words against the NumPy oracle, the normals (own log and sin/cos, no libm) against
``philox.normals``, and the outputs and sigma maps against ``camera.camera_batch`` /
``camera.demosaic``. Outputs start as NaN in the driver, so a value no thread writes fails.

What it cannot prove: anything GPU-specific. Whether NVRTC really compiles the source as
assumed (IEEE ``sqrtf`` and division, no flush-to-zero, no contraction with ``--fmad=false``),
device rounding or scheduling, races (threads run one at a time here, so two threads writing
the same value or reading a value another writes would go unnoticed, as would redundant work),
launch limits, and the CuPy side of ``camera_cuda.py`` (argument types and marshalling, the
table cache) are not exercised. ``tests/test_cuda_compile.py`` only checks that the source
compiles with nvcc; the ``gpu`` tests in ``test_camera.py`` cover the real device.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from host_build import build_driver, call_driver
from imgrestore.kernels import camera
from imgrestore.kernels.camera_numpy import NO_MOSAIC, RED_SITE
from imgrestore.kernels.moire import DEMOSAIC_METHODS as MOIRE_METHODS  # the develop kernels' method indices
from imgrestore.kernels.philox import normals, philox4x32_numpy

from imgrestore.crf import parametric_curves

MAX_GRID = 65535  # nvrtc.MAX_GRID


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Path:
    return build_driver(tmp_path_factory.mktemp("cuda_host"), "driver", "camera.cu")


@pytest.fixture(scope="module", autouse=True)
def _one_numba_thread():
    """The batches are tiny: one Numba thread avoids ~20 ms of pool wake-up per call on a busy host."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> Path:
    """The curve tables of parametric_curves() in one file (2.4 MB, read by the driver each call)."""
    curves = parametric_curves()
    path = tmp_path_factory.mktemp("cuda_host") / "tables.bin"
    path.write_bytes(b"".join(a.tobytes() for a in (curves.inverse, curves.forward, curves.slope)))
    return path


def _host_camera_batch(exe, tables, x, curves, params, model, clip, method, want_sigma, max_grid):
    """camera.camera_batch's CuPy branch, with the driver in place of camera_cuda."""
    n, h, w, c = x.shape
    pattern = params.pattern if c == 3 else np.full(n, NO_MOSAIC, np.int32)
    mos = np.flatnonzero(pattern < NO_MOSAIC).astype(np.int32)
    full = np.flatnonzero(pattern == NO_MOSAIC).astype(np.int32)
    header = [n, h, w, c, len(curves), camera.NOISE_MODELS.index(model), int(clip),
              camera.DEMOSAIC_METHODS.index(method), int(want_sigma), len(mos), len(full), max_grid]
    reply = call_driver(exe, ["camera", tables], header, x.astype(np.float32), params.crf, params.red,
                        params.sigma_s, params.sigma_c, params.keys, mos, full)
    got = np.frombuffer(reply, np.float32)
    size = x.size
    assert got.size == size * (2 if want_sigma else 1)
    return got[:size].reshape(x.shape), (got[size:].reshape(x.shape) if want_sigma else None)


def _batch(rng, h, w, c, noisy):
    """Seven samples: every Bayer phase, two no-mosaic ones, awkward values, partly noiseless ones.

    A one-row/column image gets no-mosaic samples only (a Bayer image needs 2x2)."""
    n = 7
    x = rng.random((n, h, w, c), dtype=np.float32)
    flat = x.reshape(-1)
    k = rng.choice(flat.size, size=min(flat.size, 6), replace=False)
    flat[k] = np.array([0.0, 1.0, -0.25, 1.5, np.nan, 0.5 / 1023], np.float32)[: len(k)]
    patterns = [0, 1, 2, 3, NO_MOSAIC, 2, NO_MOSAIC] if min(h, w) >= 2 else [NO_MOSAIC] * n
    ss = rng.uniform(0.0, 0.16, (n, 3)).astype(np.float32)
    sc = rng.uniform(0.0, 0.06, (n, 3)).astype(np.float32)
    if not noisy:
        ss[:] = 0
        sc[:] = 0
    else:
        ss[5] = sc[5] = 0  # a noiseless sample inside a noisy batch (no Philox draw there)
        ss[3] = 0  # signal-independent noise only
        sc[1, 1] = 0
        ss[6, 0] = sc[6, 0] = 0  # noisy in G and B only: noiseless as a 1-channel sample
    crf = rng.integers(0, 201, n)
    keys = rng.integers(0, 2**32, (n, 2), dtype=np.uint64)
    return x, camera.CameraParams.build(crf, patterns, ss, sc, keys)


SHAPES = [(2, 2), (7, 9), (1, 5), (16, 21)]


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("noisy", [False, True], ids=["clean", "noisy"])
@pytest.mark.parametrize("model", camera.NOISE_MODELS)
@pytest.mark.parametrize("method", camera.DEMOSAIC_METHODS)
def test_camera_batch_matches_numba(driver, tables, channels, noisy, model, method):
    curves = parametric_curves()
    rng = np.random.default_rng([channels, noisy, len(model), len(method)])
    for i, (h, w) in enumerate(SHAPES):
        x, params = _batch(rng, h, w, channels, noisy)
        for clip, want_sigma in ((True, True), (False, False), (True, False), (False, True)):
            max_grid = 2 if (i + clip) % 2 else MAX_GRID
            want, want_sig = camera.camera_batch(x.copy(), curves, params, model, clip, method, want_sigma)
            got, got_sig = _host_camera_batch(driver, tables, x, curves, params, model, clip, method, want_sigma,
                                              max_grid)
            where = f"{h}x{w}x{channels} clip={clip} sigma={want_sigma} grid<={max_grid}"
            assert not np.isnan(got).any(), f"unwritten outputs, {where}"
            # bit-exact, noise included: the normals use no libm (log_int24, sincos_turn)
            bad = np.flatnonzero(got != want)
            assert bad.size == 0, f"{where}: {bad.size} values differ, first at {np.unravel_index(bad[0], x.shape)}"
            if want_sigma:
                assert np.array_equal(got_sig, want_sig), where
            if noisy and clip and want_sigma:  # the noise is really there (not two silent zeros)
                quiet = camera.CameraParams(params.crf, params.pattern, 0 * params.sigma_s, 0 * params.sigma_c,
                                            params.keys)
                assert not np.array_equal(got, camera.camera_batch(x, curves, quiet, model, clip, method)[0])


@pytest.mark.parametrize("method", camera.DEMOSAIC_METHODS)
def test_demosaic_matches_numba(driver, method):
    rng = np.random.default_rng(5)
    for h, w in [(2, 2), (7, 9), (2, 3), (3, 2), (9, 40)]:
        raw = rng.uniform(-0.2, 1.2, (3, h, w)).astype(np.float32)
        for p in range(NO_MOSAIC):
            want = camera.demosaic(raw, p, method)
            for max_grid in (MAX_GRID, 2):
                reply = call_driver(driver, ["demosaic"], [3, h, w, camera.DEMOSAIC_METHODS.index(method),
                                                           *RED_SITE[p], max_grid], raw)
                got = np.frombuffer(reply, np.float32).reshape(want.shape)
                assert np.array_equal(got, want), f"{h}x{w} pattern {p} grid<={max_grid}"


@pytest.mark.parametrize("key", [(0, 0), (7, 11), (0xFFFFFFFF, 0x9E3779B9)])
def test_philox_words_and_normals(driver, key):
    nq = 300
    reply = call_driver(driver, ["philox"], [key[0], key[1], nq])
    words = np.frombuffer(reply[: 16 * nq], np.uint32).reshape(nq, 4)
    z = np.frombuffer(reply[16 * nq:], np.float32)
    q = np.arange(nq, dtype=np.uint64)
    ctr = np.stack([q & np.uint64(0xFFFFFFFF), q >> np.uint64(32), 0 * q, 0 * q], axis=-1).astype(np.uint32)
    assert np.array_equal(words, philox4x32_numpy(ctr, key))
    assert np.array_equal(z, normals(4 * nq, key))  # log_int24 and sincos_turn: no libm, bit-exact


# --------------------------------------------------------------------------------------------
# moire.cu: moire_develop (steps 6-8 fused, shared memory and barriers) against moire.develop
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moire_driver(tmp_path_factory) -> Path:
    return build_driver(tmp_path_factory.mktemp("cuda_host"), "moire_driver", "moire.cu")


def _moire_params(rng, n, cfa, sigmas, noisy, glare):
    """A MoireBatch with what steps 6-8 read (the geometry rows are not read there)."""
    from imgrestore.kernels.moire import MoireBatch
    from imgrestore.kernels.moire_numpy import NG, NI

    I = np.zeros((n, NI), np.int32)
    I[:, :2] = np.array(RED_SITE)[np.arange(n) % 4] if cfa else -1
    noise = np.column_stack([rng.uniform(5e-4, 4e-2, n), rng.uniform(1e-6, 4e-3, n)])
    noise[~np.asarray(noisy)] = 0.0
    glare_rows = np.column_stack([np.full(n, glare), rng.uniform(0.2, 0.8, (n, 2)), rng.uniform(0.2, 0.5, n)])
    return MoireBatch(G=np.zeros((n, NG)), I=I, wts=np.ones((n, 1)), noise=noise,
                      keys=rng.integers(0, 2**32, (n, 2), dtype=np.uint64).astype(np.uint32),
                      denoise=np.asarray(sigmas, np.float64), glare=glare_rows, boxes=np.zeros((n, 4), np.int32))


def _host_develop(exe, cap, gt, b, method, max_grid, order):
    """moire_cuda.moire_batch's develop launch, with the driver in place of the GPU."""
    from imgrestore.kernels.moire import develop_block, glare_field
    from imgrestore.kernels.moire_numba import ENCODE_LUT

    n, h, w, nc = cap.shape
    taps, radius = b.taps()
    rmax = int(radius.max())
    bw, bh = develop_block(rmax, nc)
    field = glare_field(b, (h, w))
    glare = field if field is not None else np.zeros(1, np.float32)
    header = [n, h, w, nc, MOIRE_METHODS.index(method), taps.shape[1], rmax, int(field is not None), bw, bh]
    reply = call_driver(exe, ["develop", max_grid, order], header, cap, gt, glare, b.noise,
                        b.keys.astype(np.uint32), b.I.astype(np.int32), taps, radius.astype(np.int32), ENCODE_LUT)
    got = np.frombuffer(reply, np.float32)
    assert got.size == 2 * n * h * w * 3
    return got[: got.size // 2].reshape(n, h, w, 3), got[got.size // 2:].reshape(n, h, w, 3)


# (H, W): one pixel short of a block, several blocks each way with ragged edges, a 2x2 Bayer minimum
MOIRE_SHAPES = [(2, 2), (7, 9), (17, 40), (9, 33)]


@pytest.mark.parametrize("method", MOIRE_METHODS + ("no CFA",))
@pytest.mark.parametrize("sigmas", [(0.0, 0.0, 0.0), (0.6, 0.0, 0.35), (4.5, 1.2, 0.0)],
                         ids=["no denoise", "mixed radii", "wide radius"])
def test_moire_develop_matches_numba(moire_driver, method, sigmas):
    """Noise (Philox, recomputed inside the fused kernel), saturation, glare, the mirror-padded
    demosaic of the raw tile, the two blur passes through shared memory and the sRGB table equal
    moire.develop (the Numba kernels) bit for bit, for every shape, block grid (with the sample
    dimension capped at 1: the sample loop runs) and thread order within a phase (a race or a
    missing barrier would change the result with the order; unwritten shared memory is NaN)."""
    from imgrestore.kernels.moire import develop, develop_block

    cfa = method != "no CFA"
    dem = method if cfa else "bilinear"
    rng = np.random.default_rng([len(method), int(10 * sigmas[0])])
    n = 3
    for i, (h, w) in enumerate(MOIRE_SHAPES):
        nc = 1 if cfa else 3
        # capture values beyond [0, 1] too: subpixels of bright content exceed full scale
        cap = rng.uniform(-0.05, 1.3, (n, h, w, nc)).astype(np.float32)
        gt = rng.uniform(-0.05, 1.05, (n, h, w, 3)).astype(np.float32)
        b = _moire_params(rng, n, cfa, sigmas, noisy=[True, False, True], glare=0.3 * (i % 2))
        want, want_t = develop(cap.copy(), gt, b, dem)
        if sigmas[0] > 4:
            assert develop_block(int(b.taps()[1].max()), nc)[0] < 32  # the narrowed block is exercised
        for max_grid, order in ((MAX_GRID, 0), (1, 1), (2, 2)):
            got, got_t = _host_develop(moire_driver, cap, gt, b, dem, max_grid, order)
            where = f"{h}x{w} grid<={max_grid} order {order}"
            assert not np.isnan(got).any() and not np.isnan(got_t).any(), f"unwritten outputs, {where}"
            bad = np.flatnonzero(got != want)
            assert bad.size == 0, f"{where}: {bad.size} values differ, first at {np.unravel_index(bad[0], want.shape)}"
            assert np.array_equal(got_t, want_t), where
    # the noise is really there (the first sample is noisy): not two silent zeros
    quiet = _moire_params(np.random.default_rng(0), n, cfa, sigmas, noisy=[False] * n, glare=0.0)
    quiet.I, quiet.keys = b.I, b.keys
    assert not np.array_equal(_host_develop(moire_driver, cap, gt, quiet, dem, MAX_GRID, 0)[0][0], want[0])
