"""The CUDA JPEG kernels of ``kernels/jpeg.cu``, run on the CPU by host emulation, against Pillow.

``tests/cuda_host/jpeg_driver.cpp`` includes ``jpeg.cu`` unchanged through ``shim.h`` and runs
the two launches of ``jpeg_cuda.roundtrip`` with its grid and block shapes (also with the sample
dimension of the grids capped at 2, so the kernels' loops over samples stride). ``jpeg_blocks``
uses shared memory and ``__syncthreads``: the driver runs each block's threads as fibers, phase by
phase between barriers, in an order that is an option (forward, reverse, rotating per phase); the
results must not depend on it. Built with ``g++ -O1 -std=c++17 -ffp-contract=off``.

The reference is Pillow (libjpeg-turbo) encode -> decode of the uint8 image
``clip(rint(x * 255), 0, 255)``; the decoded pixels must come out byte for byte, as
``u8 / 255`` in float32, for every quality 1..100, each subsampling (4:4:4, 4:2:2, 4:2:0) and
gray, on random and natural images of awkward sizes, and in mixed batches with quality-0 copies.
Outputs start as NaN and planes as 0xA5, so a value that no thread writes shows up.

What this proves: the kernels' integer C logic (colour conversion, edge replication, the
downsampler's bias, FDCT, quantizer, IDCT, range limit, fancy upsampling with its edge cases,
YCbCr -> RGB, per-sample quality/subsampling, grid tails and striding) computes what libjpeg-turbo
computes, and that the barriers are placed so that no thread reads shared memory before the
threads that write it have written it (or after they overwrite it) for the orders tried. What it
cannot prove: anything GPU-specific (NVRTC's compilation, warp scheduling beyond the orders tried,
the alignment of the 8-byte stores on the device, launch limits, speed), nor the CuPy side of
``jpeg_cuda.py`` (``test_jpeg_cuda_launch.py`` checks that against a fake CuPy).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from host_build import build_driver, call_driver

from imgrestore.kernels.jpeg_numpy import SUBSAMPLING, quant_divisors, quant_tables

Image = pytest.importorskip("PIL.Image")

MODES = {"444": (3, 0), "422": (3, 1), "420": (3, 2), "gray": (1, 0)}  # name -> (C, sub code)


def tables() -> np.ndarray:
    """The (101, 2, 4, 64) table layout jpeg.cu reads (jpeg_cuda.host_tables; the launch test checks
    that the launcher uploads exactly this)."""
    out = np.zeros((101, 2, 4, 64), np.int32)
    for q in range(1, 101):
        qt = quant_tables(q)
        for k in range(2):
            out[q, k, :3] = quant_divisors(qt[k])
            out[q, k, 3] = qt[k]
    return out


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Path:
    return build_driver(tmp_path_factory.mktemp("cuda_host"), "jpeg_driver", "jpeg.cu")


@pytest.fixture(scope="module")
def table_bytes() -> bytes:
    return tables().tobytes()


def host_roundtrip(exe, table_bytes, x, quality, sub, max_grid=65535, order=0):
    """jpeg_cuda.roundtrip with the driver in place of the GPU: (out, planes)."""
    n, h, w, c = x.shape
    reply = call_driver(exe, ["roundtrip", max_grid, order], [n, h, w, c], np.asarray(x, np.float32),
                        np.asarray(quality, np.int32), np.asarray(sub, np.int32), np.frombuffer(table_bytes, np.uint8))
    out = np.frombuffer(reply[: x.size * 4], np.float32).reshape(x.shape)
    hb, wb = -(-h // 8) * 8, -(-w // 8) * 8
    planes = np.frombuffer(reply[x.size * 4:], np.uint8).reshape(n, c, hb, wb)
    return out, planes


def to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x.astype(np.float32) * np.float32(255)), 0, 255).astype(np.uint8)


def pillow(x: np.ndarray, quality: int, sub: int) -> np.ndarray:
    """Pillow's encode -> decode of one (H, W, C) sample, as float32 u8/255."""
    u8 = to_u8(x)
    im = Image.fromarray(u8[..., 0] if x.shape[-1] == 1 else u8)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=int(quality), subsampling=int(sub))
    buf.seek(0)
    dec = np.asarray(Image.open(buf)).reshape(x.shape)
    return dec.astype(np.float32) / np.float32(255)


def assert_matches_pillow(got, x, quality, sub, where):
    for i in range(len(x)):
        if quality[i] == 0:
            assert np.array_equal(got[i], x[i], equal_nan=True), f"{where}: sample {i} (quality 0) not copied"
            continue
        want = pillow(x[i], quality[i], sub[i])
        bad = got[i] != want
        if bad.any():
            d = np.abs(np.rint(got[i] * 255) - np.rint(want * 255))
            first = np.unravel_index(np.flatnonzero(bad)[0], bad.shape)
            pytest.fail(f"{where}: sample {i} quality {quality[i]} sub {sub[i]}: {bad.sum()}/{bad.size} values "
                        f"differ (max {d.max():.0f}/255), first at {first}")


def natural(h: int, w: int, c: int, seed: int) -> np.ndarray:
    data = pytest.importorskip("skimage.data")
    img = (data.astronaut() if c == 3 else data.camera()[..., None]).astype(np.float32) / 255
    rng = np.random.default_rng(seed)
    y0, x0 = rng.integers(0, img.shape[0] - h + 1), rng.integers(0, img.shape[1] - w + 1)
    return np.ascontiguousarray(img[y0:y0 + h, x0:x0 + w])


def test_the_modes_are_the_oracles_codes():
    assert {k: v[1] for k, v in MODES.items() if k != "gray"} == SUBSAMPLING


@pytest.mark.parametrize("mode", MODES)
def test_every_quality_matches_pillow(driver, table_bytes, mode):
    """Quality 1..100 in one batch (one quality per sample), random and natural 17 x 33 images."""
    c, s = MODES[mode]
    q = np.arange(1, 101, dtype=np.int32)
    rng = np.random.default_rng(len(mode) + c)
    x = rng.random((100, 17, 33, c), dtype=np.float32)
    x[::2] = np.stack([natural(17, 33, c, i) for i in range(50)])
    sub = np.full(100, s, np.int32)
    got, _ = host_roundtrip(driver, table_bytes, x, q, sub)
    assert_matches_pillow(got, x, q, sub, f"{mode} 17x33")


SIZES = [(1, 1), (2, 1), (1, 2), (1, 5), (5, 1), (7, 9), (9, 17), (2, 6), (17, 33), (31, 16), (255, 257)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("h,w", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
def test_awkward_sizes_match_pillow(driver, table_bytes, mode, h, w):
    """Every edge case of the padding and the (fancy or replicating) upsampling: widths whose
    downsampled width is 1, 2 or 3, odd heights, partial blocks and MCUs."""
    c, s = MODES[mode]
    q = np.array([1, 23, 50, 75, 90, 100] if h * w < 10_000 else [5, 75, 97], np.int32)
    rng = np.random.default_rng([h, w, c, s])
    x = rng.random((len(q), h, w, c), dtype=np.float32)
    if h <= 512 and w <= 512 and h * w >= 4:
        x[1] = natural(h, w, c, h * w)
    x[0].reshape(-1)[: 4] = [-0.3, 1.7, 0.5 / 255, 254.5 / 255][: x[0].size]  # clipped / halfway values
    sub = np.full(len(q), s, np.int32)
    got, _ = host_roundtrip(driver, table_bytes, x, q, sub)
    assert_matches_pillow(got, x, q, sub, f"{mode} {h}x{w}")


@pytest.mark.parametrize("c", [3, 1])
def test_mixed_batch_strided_grid_and_thread_orders(driver, table_bytes, c):
    """Per-sample qualities and subsamplings with quality-0 copies; the grid capped at 2 samples;
    the block's threads run forward, backward and in a per-phase rotation: the same bytes."""
    rng = np.random.default_rng(c)
    n, h, w = 9, 19, 26
    q = np.array([0, 1, 100, 37, 0, 75, 12, 88, 60], np.int32)
    sub = np.array([2, 0, 1, 2, 1, 0, 2, 1, 2], np.int32)
    x = rng.random((n, h, w, c), dtype=np.float32)
    x[4, 0, 0, 0] = np.nan  # a copied sample keeps even a NaN
    x[0, 3, 5, 0] = 1.5
    x[3] = natural(h, w, c, 3)
    ref, ref_planes = host_roundtrip(driver, table_bytes, x, q, sub)
    assert not np.isnan(np.delete(ref, 4, axis=0)).any(), "unwritten outputs"
    assert_matches_pillow(ref, x, q, sub, f"mixed C={c}")
    for max_grid, order in ((2, 0), (65535, 1), (3, 2)):
        got, planes = host_roundtrip(driver, table_bytes, x, q, sub, max_grid=max_grid, order=order)
        assert np.array_equal(got, ref, equal_nan=True), f"grid<={max_grid} order {order}"
        assert np.array_equal(planes, ref_planes), f"grid<={max_grid} order {order}: planes differ"


# 8x8 blocks of 0/255 pixels (bit 63 = top-left) whose quality-1 IDCT leaves [-512, 511] (found by
# a search over random blocks): libjpeg's C range-limit table would wrap there (3 pixels differ
# from Pillow), libjpeg-turbo's SIMD IDCT, which Pillow runs, saturates
EXTREME_BLOCKS = (0xD2923A08F65BCB6B, 0x714316ABA3CF296E, 0xCDD3463277FEA402, 0x774FF1DA89567D09)


@pytest.mark.parametrize("c", [1, 3])
def test_idct_range_limit_saturates_like_pillow(driver, table_bytes, c):
    bits = np.array([[(b >> (63 - i)) & 1 for i in range(64)] for b in EXTREME_BLOCKS], np.float32)
    img = np.concatenate(list(bits.reshape(4, 8, 8)), axis=1)  # 8 x 32
    x = np.repeat(img[None, :, :, None], c, axis=3)
    q, sub = np.array([1], np.int32), np.array([0], np.int32)
    got, _ = host_roundtrip(driver, table_bytes, x, q, sub)
    assert_matches_pillow(got, x, q, sub, f"extreme blocks C={c}")


def test_planes_cover_exactly_the_blocks(driver, table_bytes):
    """jpeg_blocks writes every 8x8 block of each component's padded plane and nothing outside it
    (the 4:2:0 chroma planes occupy their top-left ceil/16 x 8 corner; copies write nothing)."""
    h, w = 21, 35
    x = np.random.default_rng(1).random((4, h, w, 3), dtype=np.float32)
    q = np.array([50, 50, 50, 0], np.int32)
    sub = np.array([0, 1, 2, 2], np.int32)
    _, planes = host_roundtrip(driver, table_bytes, x, q, sub)
    hb, wb = 24, 40
    for i, s in enumerate(sub):
        for comp in range(3):
            hs = 2 if comp and s >= 1 else 1
            vs = 2 if comp and s == 2 else 1
            bh, bw = -(-(-(-h // vs)) // 8) * 8, -(-(-(-w // hs)) // 8) * 8
            written = planes[i, comp] != 0xA5
            expect = np.zeros((hb, wb), bool)
            if q[i]:
                expect[:bh, :bw] = True
            # a written byte may equal 0xA5 by chance: only require no write outside the blocks
            assert not (written & ~expect).any(), f"sample {i} comp {comp}: writes outside the blocks"
            assert not q[i] or written[expect].mean() > 0.9, f"sample {i} comp {comp}: blocks left unwritten"


def test_against_the_numba_twin(driver, table_bytes):
    """When the Numba twin exists, the CUDA kernels equal it on a mixed batch (both equal Pillow)."""
    try:
        from imgrestore.kernels import jpeg_numba
    except ImportError:
        pytest.skip("kernels/jpeg_numba.py is not here yet")
    rng = np.random.default_rng(11)
    x = rng.random((6, 13, 22, 3), dtype=np.float32)
    q = np.array([3, 0, 50, 75, 99, 20], np.int32)
    sub = np.array([2, 0, 1, 0, 2, 1], np.int32)
    got, _ = host_roundtrip(driver, table_bytes, x, q, sub)
    want = jpeg_numba.roundtrip(x.copy(), q, sub)
    assert np.array_equal(got, want)


# -- GPU: the real device (skipped without one) against Pillow and the host emulation ----------
@pytest.mark.gpu
@pytest.mark.parametrize("mode", MODES)
def test_gpu_every_quality_matches_pillow_and_the_emulation(driver, table_bytes, mode):
    import cupy

    from imgrestore.kernels import jpeg_cuda

    c, s = MODES[mode]
    q = np.arange(0, 101, dtype=np.int32)  # quality 0: a copy
    rng = np.random.default_rng(100 + c + s)
    x = rng.random((101, 23, 41, c), dtype=np.float32)
    x[1::2] = np.stack([natural(23, 41, c, i) for i in range(50)])
    sub = np.full(101, s, np.int32)
    got = cupy.asnumpy(jpeg_cuda.roundtrip(cupy.asarray(x), q, sub))
    assert_matches_pillow(got, x, q, sub, f"GPU {mode} 23x41")
    host, _ = host_roundtrip(driver, table_bytes, x, q, sub)
    assert np.array_equal(got, host)


@pytest.mark.gpu
def test_gpu_large_mixed_batch_matches_the_emulation(driver, table_bytes):
    import cupy

    from imgrestore.kernels import jpeg

    rng = np.random.default_rng(7)
    x = rng.random((6, 255, 257, 3), dtype=np.float32)
    x[::2] = np.stack([natural(255, 257, 3, i) for i in range(3)])
    q = np.array([0, 1, 50, 75, 95, 100], np.int32)
    names = ["420", "444", "422", "420", "422", "444"]
    sub = np.array([SUBSAMPLING[k] for k in names], np.int32)
    got = cupy.asnumpy(jpeg.roundtrip(cupy.asarray(x), q.tolist(), names))
    assert_matches_pillow(got, x, q, sub, "GPU mixed 255x257")
    host, _ = host_roundtrip(driver, table_bytes, x, q, sub)
    assert np.array_equal(got, host)
