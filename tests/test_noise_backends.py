"""Gaussian noise that is the same on every backend (``kernels/noise*``, ``awgn``, ``StageContext.normal``).

Three statements of one generator, compared bit for bit: the NumPy oracle (``philox.normals_numpy``
per sample), the Numba kernels (``noise_numba.py``) and the CUDA kernels (``noise.cu``, run on the
host through ``tests/cuda_host/shim.h`` + ``noise_driver.cpp``, built like ``test_cuda_host.py``).
The Philox words themselves are checked against the Random123 known answers in ``test_camera.py``;
here the normals are checked against the standard normal with scipy's Kolmogorov-Smirnov test, and
``awgn``'s documented statistics (mean 0, std sigma, independence across samples, pixels and
stages; fields that depend on (seed, index, stage) only). The CuPy launch code runs against the
fake CuPy (``fake_cupy.py``): arguments, keys and sigmas per sample, grid coverage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from host_build import build_driver, call_driver

from imgrestore import rng
from imgrestore.chain import Chain
from imgrestore.degrade import StageContext
from imgrestore.kernels import noise

MAX_GRID = 65535  # nvrtc.MAX_GRID
SHAPES = [(1,), (3,), (5,), (7, 9, 1), (5, 7, 3), (33, 31, 3), (1027,)]


def _keys(n: int, seed: int = 3, stage: int = 1) -> np.ndarray:
    return rng.sample_keys(seed, [5 * i + 1 for i in range(n)], stage)


# -- NumPy oracle == Numba ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("stream", [0, 3])
def test_numba_fields_equal_the_oracle(shape, stream):
    k = _keys(3)
    got = noise.normal_fields(np, k, shape, stream)
    assert got.shape == (3, *shape) and got.dtype == np.float32
    assert np.array_equal(got, noise.normal_fields_numpy(k, shape, stream))


def test_stream_zero_is_the_camera_and_moire_stream():
    """Stream 0 of a key is what cbdnet and moire draw under that key (philox.normals)."""
    from imgrestore.kernels.philox import normals

    k = _keys(2)
    got = noise.normal_fields(np, k, (10001,))
    for i in range(2):
        assert np.array_equal(got[i], normals(10001, (int(k[i, 0]), int(k[i, 1]))))
    assert not np.array_equal(got, noise.normal_fields(np, k, (10001,), 1))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("clip", [False, True])
def test_numba_awgn_equals_the_oracle(shape, clip):
    r = np.random.default_rng(len(shape))
    x = r.uniform(-0.2, 1.2, (4, *shape)).astype(np.float32)
    x.reshape(-1)[:3] = [np.nan, 0.0, 1.0][: x.size]
    sigma = np.array([0.0, 0.1, 25 / 255, 1.0], np.float32)
    k = _keys(4)
    got = noise.awgn(x, sigma, k, clip)
    want = noise.awgn_numpy(x, sigma, k, clip)
    assert np.array_equal(got, want, equal_nan=True)
    assert np.isnan(got.reshape(-1)[0])  # NaN kept, as np.clip keeps it
    x0 = np.clip(x[0], 0, 1) if clip else x[0]
    assert np.array_equal(got[0], x0, equal_nan=True)  # sigma 0: the input, bit for bit


def test_parallel_and_serial_kernels_agree():
    """Inputs from SERIAL_BELOW values up run the parallel twin; both equal the oracle."""
    from imgrestore.kernels import noise_numba

    shape = (129, 131, 3)
    k = _keys(3)
    assert 3 * np.prod(shape) >= noise_numba.SERIAL_BELOW > np.prod(SHAPES[-2])
    want = noise.normal_fields_numpy(k, shape)
    assert np.array_equal(noise.normal_fields(np, k, shape), want)
    x = np.random.default_rng(4).random((3, *shape), dtype=np.float32)
    s = np.float32([0.1, 0.2, 0.3])
    want_y = noise.awgn_numpy(x, s, k, True)
    assert np.array_equal(noise.awgn(x, s, k, True), want_y)
    flat = x.reshape(3, -1)
    for fn in (noise_numba._awgn_ser, noise_numba._awgn_par):
        out = np.empty_like(flat)
        fn(flat, s, k, np.uint32(0), True, out)
        assert np.array_equal(out.reshape(x.shape), want_y)


def test_awgn_refuses_mismatched_keys():
    with pytest.raises(ValueError, match="3 samples but 2 keys"):
        noise.awgn(np.zeros((3, 4), np.float32), [0.1] * 3, _keys(2))


# -- the normals are standard normals (scipy as the independent reference) ----------------------


def test_fields_are_standard_normal_by_kolmogorov_smirnov():
    from scipy import stats

    z = noise.normal_fields(np, _keys(4), (50000,))
    for i in range(4):
        assert stats.kstest(z[i], "norm").pvalue > 1e-3
    flat = z.reshape(-1).astype(np.float64)
    assert abs(flat.mean()) < 4 / np.sqrt(flat.size) and abs(flat.std() - 1) < 0.01
    # independence: samples, neighbouring values (the four of one quad, and across quads)
    for a, b in ((z[0], z[1]), (z[2, :-1], z[2, 1:]), (z[3, :-4], z[3, 4:])):
        assert abs(np.corrcoef(a, b)[0, 1]) < 4 / np.sqrt(a.size)


# -- awgn: documented statistics and keying ---------------------------------------------------


def test_awgn_statistics_and_independence():
    x = np.full((3, 96, 96, 3), 0.5, np.float32)
    pair = Chain.parse("awgn:sigma=25 | awgn:sigma=0-55")(x, 7, [0, 1, 2])
    d1 = Chain.parse("awgn:sigma=25")(x, 7, [0, 1, 2]).input - x
    assert abs(d1.mean()) < 4 * (25 / 255) / np.sqrt(d1.size)
    assert abs(d1.std() / (25 / 255) - 1) < 0.02
    for a, b in ((d1[0], d1[1]), (d1[2], pair.input[2] - x[2] - d1[2])):  # samples; stages
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.02
    s = [r[1]["sigma"] for r in pair.params]
    assert np.allclose(pair.side["sigma"][:, 0, 0, 0], np.float32(s) / np.float32(255))
    # the second stage's noise has its per-image drawn sigma
    d2 = pair.input - x - d1
    for i in range(3):
        assert abs(d2[i].std() / (s[i] / 255) - 1) < 0.05 if s[i] > 1 else True


def test_fields_depend_on_seed_index_and_stage_only():
    chain = Chain.parse("awgn:sigma=5-50 | awgn:sigma=10")
    x = np.random.default_rng(1).random((5, 8, 6, 1), dtype=np.float32)
    whole = chain(x, 11, [0, 1, 2, 3, 4]).input
    for rows in ([3], [4, 1], [2, 0, 3]):
        assert np.array_equal(chain(x[rows], 11, rows).input, whole[rows])
    ctx = StageContext(seed=11, indices=[4, 1], stage=2)
    one = StageContext(seed=11, indices=[1], stage=2)
    assert np.array_equal(ctx.normal(np, (5, 3))[1], one.normal(np, (5, 3))[0])
    assert np.array_equal(ctx.normal(np, (15,)).reshape(2, 5, 3), ctx.normal(np, (5, 3)))  # a layout, not a draw
    other = [StageContext(12, [4, 1], 2), StageContext(11, [4, 1], 3)]
    for c in other:
        assert not np.allclose(c.normal(np, (5, 3)), ctx.normal(np, (5, 3)))
    assert not np.allclose(ctx.normal(np, (5, 3), stream=1), ctx.normal(np, (5, 3)))
    # the stage's keys are the sample keys of rng (what the GPU gets, see the fake-CuPy test)
    assert np.array_equal(ctx.keys(), rng.sample_keys(11, [4, 1], 2))


# -- CUDA kernels on the host ------------------------------------------------------------------


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Path:
    return build_driver(tmp_path_factory.mktemp("cuda_host"), "noise_driver", "noise.cu")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("max_grid", [MAX_GRID, 2])
def test_cuda_fields_equal_the_oracle(driver, shape, max_grid):
    k = _keys(5)
    per = int(np.prod(shape))
    for stream in (0, 7):
        got = np.frombuffer(call_driver(driver, ["fields", max_grid], [5, per, stream], k), np.float32)
        got = got.reshape(5, *shape)
        assert not np.isnan(got).any(), "values no thread wrote"
        assert np.array_equal(got, noise.normal_fields_numpy(k, shape, stream)), f"stream {stream}"


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("clip", [False, True])
def test_cuda_awgn_equals_the_oracle_and_numba(driver, shape, clip):
    r = np.random.default_rng(9)
    x = r.uniform(-0.2, 1.2, (5, *shape)).astype(np.float32)
    x.reshape(-1)[0] = np.nan
    sigma = np.array([0.0, 0.01, 25 / 255, 0.3, 2.0], np.float32)
    k = _keys(5, seed=8, stage=0)
    per = x[0].size
    for max_grid in (MAX_GRID, 2):
        got = np.frombuffer(call_driver(driver, ["awgn", max_grid], [5, per, 0, int(clip)], x, sigma, k), np.float32)
        got = got.reshape(x.shape)
        assert np.array_equal(got, noise.awgn_numpy(x, sigma, k, clip), equal_nan=True)
        assert np.array_equal(got, noise.awgn(x, sigma, k, clip), equal_nan=True)
        assert np.isnan(got.reshape(-1)[0]) and not np.isnan(got.reshape(-1)[1:]).any()


# -- the CuPy launch code, against the fake CuPy ----------------------------------------------


def _contract_common(L) -> list[str]:
    n, per = L["n"], L["per_sample"]
    gx, gy, _ = L.grid
    bad = []
    if n < 1 or per < 1:
        bad.append(f"n, per_sample must be >= 1: {n, per}")
    if L["keys"].size != 2 * n:
        bad.append(f"keys has {L['keys'].size} values, 2 per sample x {n}")
    if L["out"].size != n * per:
        bad.append(f"out has {L['out'].size} values, n*per_sample = {n * per}")
    if gx * L.block[0] * 4 < per:
        bad.append(f"grid.x*block.x*4 = {gx * L.block[0] * 4} < per_sample {per}")
    if L.block[1:] != (1, 1) or L.grid[2] != 1 or gy > n:
        bad.append(f"a 1-D kernel with samples over grid.y: block {L.block}, grid {L.grid}")
    return bad


def _awgn_contract(L) -> list[str]:
    bad = _contract_common(L)
    if L["x"].size != L["out"].size or L["sigma"].size != L["n"]:
        bad.append(f"x has {L['x'].size} values (out {L['out'].size}), sigma {L['sigma'].size} (n {L['n']})")
    if L["clip"] not in (0, 1):
        bad.append(f"clip {L['clip']} not 0/1")
    return bad


CONTRACTS = {"noise_fields": _contract_common, "noise_awgn": _awgn_contract}


@pytest.fixture
def cp(monkeypatch):
    fake_cupy = pytest.importorskip("fake_cupy")
    fake = fake_cupy.new_cupy(CONTRACTS)
    fake_cupy.install(monkeypatch, fake)
    fake_cupy.forget_launchers(monkeypatch)  # noise_cuda (and the other launchers) import afresh
    return fake


def _launches(cp, name):
    return [L for L in cp._launches if L.name == name]


@pytest.mark.parametrize("clip", [False, True])
def test_awgn_plugin_on_cupy_launches_one_fused_kernel(cp, clip):
    n, h, w, c = 3, 9, 11, 3
    a = np.random.default_rng(0).random((n, h, w, c), dtype=np.float32)
    seed, idx = 7, [4, 9, 2]
    chain = Chain.parse(f"awgn:sigma=0-55,clip={str(clip).lower()}")
    with cp.cuda.Device(1):
        x = cp.asarray(a)
    pair = chain(x, seed, idx)  # device 1 while device 0 is current: the kernel runs beside x
    (L,) = cp._launches
    assert L.name == "noise_awgn" and L.ok and L.device == 1
    assert np.array_equal(L["keys"].get(), rng.sample_keys(seed, idx, 0))
    sig = np.float32([p[0]["sigma"] / 255.0 for p in pair.params])  # on the 0-255 scale, as documented
    assert np.array_equal(L["sigma"].get(), sig) and L["clip"] == int(clip) and L["stream"] == 0
    assert np.array_equal(L["x"].get().reshape(a.shape), a)
    assert pair.input.shape == a.shape and pair.input._dev == 1 and not np.isnan(pair.input.get()).any()
    assert pair.side["sigma"]._dev == 1
    assert np.array_equal(pair.side["sigma"].get(), np.broadcast_to(sig.reshape(n, 1, 1, 1), (n, h, w, 1)))
    assert pair.params == chain(a, seed, idx).params  # parameter draws are host draws


def test_stage_context_normal_on_cupy(cp):
    ctx = StageContext(seed=2, indices=[0, 70000, 3], stage=4)
    z = ctx.normal(cp, (5, 7, 3), stream=2)
    (L,) = _launches(cp, "noise_fields")
    assert z.shape == (3, 5, 7, 3) and not np.isnan(z.get()).any()
    assert np.array_equal(L["keys"].get(), rng.sample_keys(2, [0, 70000, 3], 4)) and L["stream"] == 2


def test_many_samples_stride_the_grid(cp):
    k = rng.sample_keys(0, range(70000), 0)
    z = noise.normal_fields(cp, k, (2,))
    (L,) = _launches(cp, "noise_fields")
    assert L.grid[1] == MAX_GRID and z.shape == (70000, 2)


# -- the real GPU (pytest -m gpu) ----------------------------------------------------------------


@pytest.mark.gpu
def test_gpu_fields_awgn_and_chain_equal_the_cpu_bit_for_bit():
    import cupy

    k = _keys(6)
    for shape in ((1,), (7, 9, 1), (33, 31, 3), (256, 257, 3)):
        for stream in (0, 5):
            assert np.array_equal(cupy.asnumpy(noise.normal_fields(cupy, k, shape, stream)),
                                  noise.normal_fields(np, k, shape, stream)), (shape, stream)
        x = np.random.default_rng(2).uniform(-0.2, 1.2, (6, *shape)).astype(np.float32)
        sigma = np.linspace(0, 1, 6, dtype=np.float32)
        for clip in (False, True):
            assert np.array_equal(cupy.asnumpy(noise.awgn(cupy.asarray(x), sigma, k, clip)),
                                  noise.awgn(x, sigma, k, clip)), (shape, clip)
    chain = Chain.parse("awgn:sigma=0-55 | awgn:sigma=5,clip=true")
    x = np.random.default_rng(3).random((4, 40, 30, 3), dtype=np.float32)
    gpu, cpu = chain(cupy.asarray(x), 9, [3, 1, 4, 1]), chain(x, 9, [3, 1, 4, 1])
    assert np.array_equal(cupy.asnumpy(gpu.input), cpu.input)
    assert np.array_equal(cupy.asnumpy(gpu.side["sigma"]), cpu.side["sigma"])
