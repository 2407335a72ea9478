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

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from imgrestore.kernels import camera
from imgrestore.kernels.camera_numpy import NO_MOSAIC, RED_SITE
from imgrestore.kernels.philox import normals, philox4x32_numpy

from imgrestore.crf import parametric_curves

HERE = Path(__file__).resolve().parent / "cuda_host"
MAX_GRID = 65535  # camera_cuda._MAX_GRID


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Path:
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ is not on the PATH")
    exe = tmp_path_factory.mktemp("cuda_host") / "driver"
    res = subprocess.run([gxx, "-O1", "-std=c++17", "-ffp-contract=off", "-Wall", "-o", str(exe),
                          str(HERE / "driver.cpp")], capture_output=True, text=True, check=False)
    assert res.returncode == 0, f"g++ failed on the host build of camera.cu:\n{res.stderr[-4000:]}"
    return exe


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


def _call(exe: Path, mode: str, header, *arrays, args=()) -> bytes:
    req = np.asarray(header, np.int64).tobytes() + b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)
    res = subprocess.run([str(exe), mode, *map(str, args)], input=req, capture_output=True, check=True)
    return res.stdout


def _host_camera_batch(exe, tables, x, curves, params, model, clip, method, want_sigma, max_grid):
    """camera.camera_batch's CuPy branch, with the driver in place of camera_cuda."""
    n, h, w, c = x.shape
    pattern = params.pattern if c == 3 else np.full(n, NO_MOSAIC, np.int32)
    mos = np.flatnonzero(pattern < NO_MOSAIC).astype(np.int32)
    full = np.flatnonzero(pattern == NO_MOSAIC).astype(np.int32)
    header = [n, h, w, c, len(curves), camera.NOISE_MODELS.index(model), int(clip),
              camera.DEMOSAIC_METHODS.index(method), int(want_sigma), len(mos), len(full), max_grid]
    reply = _call(exe, "camera", header, x.astype(np.float32), params.crf, params.red, params.sigma_s,
                  params.sigma_c, params.keys, mos, full, args=[tables])
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
                reply = _call(driver, "demosaic", [3, h, w, camera.DEMOSAIC_METHODS.index(method), *RED_SITE[p],
                                                   max_grid], raw)
                got = np.frombuffer(reply, np.float32).reshape(want.shape)
                assert np.array_equal(got, want), f"{h}x{w} pattern {p} grid<={max_grid}"


@pytest.mark.parametrize("key", [(0, 0), (7, 11), (0xFFFFFFFF, 0x9E3779B9)])
def test_philox_words_and_normals(driver, key):
    nq = 300
    reply = _call(driver, "philox", [key[0], key[1], nq])
    words = np.frombuffer(reply[: 16 * nq], np.uint32).reshape(nq, 4)
    z = np.frombuffer(reply[16 * nq:], np.float32)
    q = np.arange(nq, dtype=np.uint64)
    ctr = np.stack([q & np.uint64(0xFFFFFFFF), q >> np.uint64(32), 0 * q, 0 * q], axis=-1).astype(np.uint32)
    assert np.array_equal(words, philox4x32_numpy(ctr, key))
    assert np.array_equal(z, normals(4 * nq, key))  # log_int24 and sincos_turn: no libm, bit-exact
