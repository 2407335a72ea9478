"""The Python side of the JPEG CUDA launches (``kernels/jpeg_cuda.py``), checked against a fake CuPy.

``tests/fake_cupy.py`` stands in for CuPy (in ``sys.modules`` for one test at a time) and
``jpeg_cuda.roundtrip`` runs through its real entry points (directly and through the dispatcher
``kernels/jpeg.py``). Each launch is validated against the signatures parsed from ``jpeg.cu``
(argument count, exact NumPy scalar types, pointer dtypes, contiguity and device, grid/block
limits), then by the contracts below, which tie the arguments to how the C code indexes them:
buffer sizes and shapes, the plane geometry (H, W rounded up to 8), the grid of ``jpeg_blocks``
(one CUDA block per 16x16 tile, samples over grid.z capped at 65535), the block shape the kernels
assume, the uploaded quantizer tables (equal
to Pillow-checked ``jpeg_numpy`` tables, laid out as ``jpeg.cu`` reads them), the coverage of
``jpeg_colour``'s grid, and that ``jpeg_colour`` reads the planes ``jpeg_blocks`` wrote.

What it cannot show: anything the kernels compute (the fake computes nothing; see
``test_jpeg_cuda_host.py`` for the C logic against Pillow), NVRTC, or real CuPy behaviour.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from imgrestore.kernels.jpeg_numpy import quant_divisors, quant_tables

fake_cupy = pytest.importorskip("fake_cupy")

CU = Path(__file__).resolve().parents[1] / "kernels" / "jpeg.cu"
MAX_GRID = 65535


def _define(name: str) -> int:
    m = re.search(rf"^#define\s+{name}\s+(\d+)", CU.read_text(), flags=re.M)
    assert m, f"#define {name} not found in {CU.name}"
    return int(m.group(1))


GROUPS = _define("JB_GROUPS")
TILE = _define("JB_TILE")
QUALITIES = _define("JB_QUALITIES")
TABLE_ROWS = _define("JB_TABLE_ROWS")


def expected_tables() -> np.ndarray:
    out = np.zeros((QUALITIES, 2, TABLE_ROWS, 64), np.int32)
    for q in range(1, QUALITIES):
        qt = quant_tables(q)
        for k in range(2):
            out[q, k, :3] = quant_divisors(qt[k])
            out[q, k, 3] = qt[k]
    return out


TABLES = expected_tables()


def _common(L) -> list[tuple[bool, str]]:
    N, H, W, C = L["N"], L["H"], L["W"], L["C"]
    hb, wb = -(-H // 8) * 8, -(-W // 8) * 8
    q, s = L["quality"].get(), L["sub"].get()
    return [
        (min(N, H, W) >= 1 and C in (1, 3), f"N, H, W >= 1 and C in (1, 3) needed: {N, H, W, C}"),
        (L["x"].shape == (N, H, W, C), f"x has shape {L['x'].shape}, the kernel indexes (N, H, W, C) = {N, H, W, C}"),
        (L["quality"].shape == L["sub"].shape == (N,), f"quality/sub shapes {q.shape}/{s.shape}, N = {N}"),
        (q.size == 0 or (q.min() >= 0 and q.max() < QUALITIES), f"quality outside 0..{QUALITIES - 1}: {q}"),
        (C == 1 or s.size == 0 or (s.min() >= 0 and s.max() <= 2), f"subsampling code outside 0..2: {s}"),
        (L["planes"].shape == (N, C, hb, wb), f"planes {L['planes'].shape}, the kernel indexes {(N, C, hb, wb)}"),
        (L["planes"].data.ptr % 8 == 0, "planes not 8-byte aligned (jpeg_blocks stores 8 bytes at once)"),
        (L.grid[2] == min(N, MAX_GRID), f"grid.z = {L.grid[2]}, want min(N, {MAX_GRID}) = {min(N, MAX_GRID)}"),
    ]


def _blocks(L) -> list[str]:
    H, W = L["H"], L["W"]
    return [msg for ok, msg in [
        *_common(L),
        (L.block == (8, GROUPS, 1), f"block {L.block}: jpeg_blocks needs (8, JB_GROUPS={GROUPS}, 1)"),
        (L.grid[0] == -(-W // TILE), f"grid.x = {L.grid[0]}, one per {TILE}-pixel tile column: {-(-W // TILE)}"),
        (L.grid[1] == -(-H // TILE), f"grid.y = {L.grid[1]}, one per {TILE}-pixel tile row: {-(-H // TILE)}"),
        (L["tables"].shape == TABLES.shape and np.array_equal(L["tables"].get(), TABLES),
         "tables are not jpeg_numpy's quantizer (reciprocal, correction, shift, value) per quality"),
    ] if not ok]


def _colour(L) -> list[str]:
    H, W = L["H"], L["W"]
    return [msg for ok, msg in [
        *_common(L),
        (L.block == (32, 8, 1), f"block {L.block}: jpeg_colour is launched with (32, 8, 1)"),
        (L.grid[0] * 32 >= W and (L.grid[0] - 1) * 32 < W, f"grid.x = {L.grid[0]} does not tile W = {W} by 32"),
        (L.grid[1] * 8 >= H and (L.grid[1] - 1) * 8 < H, f"grid.y = {L.grid[1]} does not tile H = {H} by 8"),
        (L["out"].shape == L["x"].shape, f"out {L['out'].shape} != x {L['x'].shape}"),
    ] if not ok]


CONTRACTS = {"jpeg_blocks": _blocks, "jpeg_colour": _colour}


@pytest.fixture
def cp(monkeypatch):
    """The fake ``cupy`` in ``sys.modules``; the launchers (jpeg_cuda among them) imported fresh
    against it (:func:`fake_cupy.forget_launchers`)."""
    fake = fake_cupy.new_cupy(CONTRACTS)
    fake_cupy.install(monkeypatch, fake)
    fake_cupy.forget_launchers(monkeypatch)
    return fake


def _dev(cp, shape, device=None, seed=0):
    x = np.random.default_rng(seed).random(shape, dtype=np.float32)
    if device is None:
        return cp.asarray(x)
    with cp.cuda.Device(device):
        return cp.asarray(x)


def _check(cp, x, out, quality, device=0):
    """Launch sequence, data flow and the result of one roundtrip call."""
    assert all(L.ok for L in cp._launches)
    names = [L.name for L in cp._launches]
    want = ["jpeg_blocks", "jpeg_colour"] if (np.asarray(quality) > 0).any() else ["jpeg_colour"]
    assert names == want
    colour = cp._launches[-1]
    if len(names) == 2:
        blocks = cp._launches[0]
        assert blocks["planes"] is colour["planes"], "jpeg_colour must read the planes jpeg_blocks wrote"
        assert blocks["x"] is colour["x"] and blocks["quality"] is colour["quality"]
    assert all(L.device == device for L in cp._launches)
    assert isinstance(out, cp.ndarray) and out.shape == x.shape and out.dtype == np.float32 and out._dev == device
    assert colour["out"] is out and out is not x
    assert not np.isnan(out.get()).any(), "part of the returned array was never written"


SHAPES = [(1, 1, 1, 3), (2, 7, 9, 3), (3, 17, 33, 1), (2, 255, 257, 3), (4, 8, 16, 3), (1, 9, 1, 1)]


@pytest.mark.parametrize("shape", SHAPES, ids=["x".join(map(str, s)) for s in SHAPES])
def test_roundtrip_launches(cp, shape):
    from imgrestore.kernels import jpeg_cuda

    n = shape[0]
    rng = np.random.default_rng(n)
    quality = rng.integers(0, 101, n).astype(np.int32)
    quality[0] = max(quality[0], 1)
    sub = rng.integers(0, 3, n).astype(np.int32)
    x = _dev(cp, shape)
    out = jpeg_cuda.roundtrip(x, quality, sub)
    _check(cp, x, out, quality)
    geo = jpeg_cuda.geometry(*shape[1:])
    assert geo["scratch_bytes"] * n == cp._launches[0]["planes"].nbytes


def test_grid_geometry_by_hand(cp):
    """The numbers for one case, worked out by hand: 255 x 257 -> planes 256 x 264, tiles of 16:
    17 columns x 16 rows; jpeg_colour 9 x 32 columns, 32 x 8 rows."""
    from imgrestore.kernels import jpeg_cuda

    jpeg_cuda.roundtrip(_dev(cp, (2, 255, 257, 3)), np.array([50, 90], np.int32), np.array([2, 0], np.int32))
    blocks, colour = cp._launches
    assert blocks.grid == (17, 16, 2) and blocks.block == (8, 8, 1)
    assert blocks["planes"].shape == (2, 3, 256, 264)
    assert colour.grid == (9, 32, 2) and colour.block == (32, 8, 1)


def test_all_copies_skip_the_block_kernel(cp):
    from imgrestore.kernels import jpeg_cuda

    x = _dev(cp, (3, 5, 6, 3))
    q = np.zeros(3, np.int32)
    out = jpeg_cuda.roundtrip(x, q, np.zeros(3, np.int32))
    _check(cp, x, out, q)


def test_more_samples_than_a_grid_dimension(cp):
    from imgrestore.kernels import jpeg_cuda

    n = MAX_GRID + 3
    x = _dev(cp, (n, 1, 2, 1))
    q = np.full(n, 75, np.int32)
    out = jpeg_cuda.roundtrip(x, q, np.zeros(n, np.int32))
    _check(cp, x, out, q)
    assert all(L.grid[2] == MAX_GRID for L in cp._launches)


def test_launches_follow_the_arrays_device_and_compile_once(cp):
    """x on device 1 while device 0 is current: launches, scratch and output on device 1; one
    module (and one table upload) per device, compiled with --fmad=false."""
    from imgrestore.kernels import jpeg_cuda

    q, s = np.array([30, 0], np.int32), np.array([1, 1], np.int32)
    for _ in range(2):
        x = _dev(cp, (2, 10, 12, 3), device=1)
        out = jpeg_cuda.roundtrip(x, q, s)
        _check(cp, x, out, q, device=1)
        cp._launches.clear()
    x0 = _dev(cp, (2, 10, 12, 3))
    jpeg_cuda.roundtrip(x0, q, s)
    assert len(cp._modules) == 2
    assert all("--fmad=false" in opts for _, opts in cp._modules)


def test_strided_and_float64_input_is_made_contiguous_float32(cp):
    from imgrestore.kernels import jpeg_cuda

    x = cp.asarray(np.random.default_rng(3).random((2, 12, 10, 3)))  # float64
    x = x[:, ::2]  # a strided view
    out = jpeg_cuda.roundtrip(x, np.array([10, 95], np.int32), np.array([0, 2], np.int32))
    assert out.shape == (2, 6, 10, 3) and out.dtype == np.float32
    assert all(L.ok for L in cp._launches)


def test_the_launcher_uploads_the_checked_tables(cp):
    from imgrestore.kernels import jpeg_cuda

    assert np.array_equal(jpeg_cuda.host_tables(), TABLES)
    assert (jpeg_cuda.GROUPS, jpeg_cuda.QUALITIES) == (GROUPS, QUALITIES)


@pytest.mark.parametrize("shape,quality,sub", [
    ((2, 4, 4, 2), [50, 50], [0, 0]),  # two channels
    ((2, 4, 4, 3), [50, 101], [0, 0]),
    ((2, 4, 4, 3), [-1, 50], [0, 0]),
    ((2, 4, 4, 3), [50, 50], [0, 3]),
    ((2, 4, 4, 3), [50], [0, 0]),
])
def test_bad_arguments_are_refused_before_any_launch(cp, shape, quality, sub):
    from imgrestore.kernels import jpeg_cuda

    with pytest.raises(ValueError, match="jpeg_cuda.roundtrip"):
        jpeg_cuda.roundtrip(_dev(cp, shape), np.array(quality, np.int32), np.array(sub, np.int32))
    assert not cp._launches


def test_the_dispatcher_sends_cupy_batches_here(cp):
    """kernels/jpeg.py: a CuPy batch goes to jpeg_cuda by default, per-sample settings included."""
    from imgrestore.kernels import jpeg

    x = _dev(cp, (3, 9, 11, 3))
    out = jpeg.roundtrip(x, [0, 40, 100], ["420", "422", "444"])
    _check(cp, x, out, [0, 40, 100])
    assert cp._launches[0]["sub"].get().tolist() == [2, 1, 0]
    assert cp._launches[0]["quality"].get().tolist() == [0, 40, 100]


def test_every_kernel_is_launched(cp):
    from imgrestore.kernels import jpeg_cuda

    jpeg_cuda.roundtrip(_dev(cp, (2, 5, 5, 3)), np.array([1, 0], np.int32), np.array([2, 1], np.int32))
    assert {L.name for L in cp._launches} == set(fake_cupy.parse_kernels(CU.read_text()))


def test_the_contracts_catch_a_wrong_launch(cp):
    """The checks above are live: a grid other than the tiles, planes of the wrong size, other
    tables, a Python int for an int are refused at the launch."""
    from imgrestore.kernels import jpeg_cuda

    k = jpeg_cuda._kernels(0)
    n, h, w, c = 1, 17, 33, 3
    x, q, s = _dev(cp, (n, h, w, c)), cp.asarray(np.array([50], np.int32)), cp.asarray(np.array([2], np.int32))
    tables = jpeg_cuda._tables(0)
    dims = (np.int32(n), np.int32(h), np.int32(w), np.int32(c))
    good = cp.empty((n, c, 24, 40), cp.uint8)
    with pytest.raises(fake_cupy.LaunchError, match="grid.x"):
        k["jpeg_blocks"]((2, 2, n), (8, GROUPS, 1), (x, q, s, tables, *dims, good))  # 3 x 2 tiles
    with pytest.raises(fake_cupy.LaunchError, match="planes"):
        k["jpeg_blocks"]((3, 2, n), (8, GROUPS, 1), (x, q, s, tables, *dims, cp.empty((n, c, 17, 33), cp.uint8)))
    with pytest.raises(fake_cupy.LaunchError, match="tables"):
        k["jpeg_blocks"]((3, 2, n), (8, GROUPS, 1), (x, q, s, cp.zeros_like(tables), *dims, good))
    with pytest.raises(fake_cupy.LaunchError, match="np.int32"):
        k["jpeg_colour"]((2, 3, n), (32, 8, 1), (x, good, q, s, n, *dims[1:], cp.empty_like(x)))
