"""The Python side of every CUDA launch, checked without a GPU against a fake ``cupy``.

``test_cuda_compile.py`` compiles the kernels and ``test_cuda_host.py`` runs their C code on the
host; neither runs ``kernels/*_cuda.py``. Here ``tests/fake_cupy.py`` stands in for CuPy (put into
``sys.modules`` for one test at a time) and the launchers run through their real entry points: the
dispatchers ``resize.imresize``, ``camera.camera_batch`` / ``demosaic`` / ``mosaic_noise``,
``moire.moire_batch``, and the ``bicubic``, ``cbdnet`` and ``moire`` plugins on fake-CuPy batches.

Every launch is checked at the call, against the signature parsed from the ``.cu`` source the
module compiled: argument count; each scalar an exact NumPy scalar of the C type (``int`` ->
``np.int32``, ``long long`` -> ``np.int64``; a Python int would go as int64); each pointer a
C-contiguous CuPy array of the pointee's dtype on the launch's device; no written ``__restrict__``
pointer overlapping another; grid and block within CUDA's limits. Then a per-kernel contract
(:data:`CONTRACTS`) ties the arguments together the way the C code indexes them: buffer sizes
against the dimensions passed, index ranges (sample selections, table indices, curve numbers,
support boxes, blur radii), flags in {0, 1}, and a grid that covers the work. The tests then
check the data flow between launches (what one writes, the next reads), the shapes and device of
what the wrappers return, and that every kernel of each ``.cu`` file is launched.

What it cannot show: anything the kernels compute (the fake computes nothing: outputs are filled
with 0.25), NVRTC itself, or real CuPy behaviour the fake does not model (streams, memory pools).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

fake_cupy = pytest.importorskip("fake_cupy")

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ROOT / "kernels"
CU_FILES = {"resize": KERNELS / "resize.cu", "camera": KERNELS / "camera.cu", "moire": KERNELS / "moire.cu"}

if not all(p.is_file() for p in CU_FILES.values()):
    pytest.skip("the CUDA sources kernels/*.cu are not here", allow_module_level=True)


def _define(cu: Path, name: str) -> int:
    m = re.search(rf"^#define\s+{name}\s+(\d+)", cu.read_text(), flags=re.M)
    assert m, f"#define {name} not found in {cu.name}"
    return int(m.group(1))


MG_N = _define(CU_FILES["moire"], "MG_N")
MI_N = _define(CU_FILES["moire"], "MI_N")
BINS = 1024  # the curve tables' width (camera.cu: crf[s] * 1024)


# --------------------------------------------------------------------------------------------
# per-kernel contracts: how the C code indexes its arguments
# --------------------------------------------------------------------------------------------


def _problems(*checks) -> list[str]:
    return [msg for ok, msg in checks if not ok]


def _vals(a) -> np.ndarray:
    return a.get().ravel()


def _in(a, lo: int, hi: int) -> bool:
    """Every value of device array ``a`` in [lo, hi)."""
    v = _vals(a)
    return v.size == 0 or (int(v.min()) >= lo and int(v.max()) < hi)


def _covers(L, n_x: int, n_y: int | None = None, per_thread: int = 1) -> list[tuple[bool, str]]:
    (gx, gy, gz), (bx, by, bz) = L.grid, L.block
    out = [(gx * bx * per_thread >= n_x, f"grid.x*block.x*{per_thread} = {gx * bx * per_thread} < {n_x} (x extent)")]
    if n_y is None:
        out.append((by == bz == 1 and gz == 1, f"1-D kernel launched with block {L.block}, grid {L.grid}"))
    else:
        out.append((gy * by >= n_y, f"grid.y*block.y = {gy * by} < {n_y} (y extent)"))
        out.append((bz == 1, f"block.z = {bz}: the kernel strides samples over blockIdx.z only"))
    return out


def _shape(L, name: str, shape) -> tuple[bool, str]:
    """The array passed as ``name`` has the NHWC shape the kernel's indexing means (the C code sees
    only a pointer, but a swap of two equal-typed sizes shows up here)."""
    return L[name].shape == tuple(shape), f"{name} has shape {L[name].shape}, the kernel indexes it as {tuple(shape)}"


def _resize_h(L) -> list[str]:
    n, hin, hout, row, taps = L["n_batch"], L["hin"], L["hout"], L["row_len"], L["taps"]
    return _problems(
        (min(n, hin, hout, row, taps) >= 1, f"n_batch, hin, hout, row_len, taps must be >= 1: {n, hin, hout, row, taps}"),
        (L["x"].size == n * hin * row, f"x has {L['x'].size} values, n_batch*hin*row_len = {n * hin * row}"),
        (L["out"].size == n * hout * row, f"out has {L['out'].size} values, n_batch*hout*row_len = {n * hout * row}"),
        (L["idx"].size == L["w"].size == hout * taps, f"idx/w have {L['idx'].size}/{L['w'].size} values, hout*taps = {hout * taps}"),
        (_in(L["idx"], 0, hin), f"idx outside [0, hin={hin})"),
        _shape(L, "x", (n, hin, *L["x"].shape[2:])), _shape(L, "out", (n, hout, *L["x"].shape[2:])),
        *_covers(L, row),
    )


def _resize_w(L) -> list[str]:
    rows, win, wout, c, taps = L["rows"], L["win"], L["wout"], L["channels"], L["taps"]
    return _problems(
        (min(rows, win, wout, c, taps) >= 1, f"rows, win, wout, channels, taps must be >= 1: {rows, win, wout, c, taps}"),
        (L["x"].size == rows * win * c, f"x has {L['x'].size} values, rows*win*channels = {rows * win * c}"),
        (L["out"].size == rows * wout * c, f"out has {L['out'].size} values, rows*wout*channels = {rows * wout * c}"),
        (L["idx"].size == L["w"].size == wout * taps, f"idx/w have {L['idx'].size}/{L['w'].size} values, wout*taps = {wout * taps}"),
        (_in(L["idx"], 0, win), f"idx outside [0, win={win})"),
        _shape(L, "x", (*L["x"].shape[:2], win, c)), _shape(L, "out", (*L["x"].shape[:2], wout, c)),
        *_covers(L, wout * c),
    )


def _curves(L, *names: str) -> list[tuple[bool, str]]:
    t = [L[k] for k in names]
    k = t[0].shape[0] if t[0].ndim == 2 else -1
    return [(all(a.ndim == 2 and a.shape == (k, BINS) for a in t), f"curve tables {[a.shape for a in t]} are not (K, {BINS})"),
            (_in(L["crf"], 0, max(k, 0)), f"crf index outside the {k} curves")]


def _flags(L, *names: str) -> list[tuple[bool, str]]:
    return [(L[k] in (0, 1), f"{k} = {L[k]} not 0 or 1") for k in names]


def _per_sample(L, n: int, **sizes: int) -> list[tuple[bool, str]]:
    return [(L[k].size == m * n, f"{k} has {L[k].size} values, {m} per sample x {n} samples = {m * n}")
            for k, m in sizes.items()]


def _mosaic_noise(L) -> list[str]:
    n_sel, H, W = L["n_sel"], L["H"], L["W"]
    N = L["crf"].size
    return _problems(
        (H >= 2 and W >= 2 and n_sel >= 1, f"H, W >= 2 and n_sel >= 1 needed: {H, W, n_sel}"),
        (L["sel"].size == n_sel, f"sel has {L['sel'].size} entries, n_sel = {n_sel}"),
        (_in(L["sel"], 0, N), f"sel outside the {N} samples"),
        (L["x"].size == N * H * W * 3, f"x has {L['x'].size} values, N*H*W*3 = {N * H * W * 3}"),
        (L["raw"].size == n_sel * H * W, f"raw has {L['raw'].size} values, n_sel*H*W = {n_sel * H * W}"),
        *_per_sample(L, N, red=2, ss=3, sc=3, keys=2),
        (_in(L["red"], 0, 2), "red site outside {0, 1}"),
        *_curves(L, "inv", "slope"),
        *_flags(L, "model", "clip", "want_sigma"),
        (not L["want_sigma"] or L["sigma"].size == N * H * W * 3,
         f"want_sigma but sigma has {L['sigma'].size} values, N*H*W*3 = {N * H * W * 3}"),
        _shape(L, "x", (N, H, W, 3)), _shape(L, "raw", (n_sel, H, W)),
        *([_shape(L, "sigma", (N, H, W, 3))] if L["want_sigma"] else []),
        *_covers(L, H * W, per_thread=4),
    )


def _full_colour(L) -> list[str]:
    n_sel, per, C = L["n_sel"], L["per_sample"], L["C"]
    N = L["crf"].size
    return _problems(
        (C in (1, 3) and per >= C and per % C == 0, f"C = {C}, per_sample = {per}: not (H*W*C, C in 1, 3)"),
        (n_sel >= 1 and L["sel"].size == n_sel, f"sel has {L['sel'].size} entries, n_sel = {n_sel}"),
        (_in(L["sel"], 0, N), f"sel outside the {N} samples"),
        (L["x"].size == N * per, f"x has {L['x'].size} values, N*per_sample = {N * per}"),
        (L["out"].size == N * per, f"out has {L['out'].size} values, N*per_sample = {N * per}"),
        *_per_sample(L, N, ss=3, sc=3, keys=2),
        *_curves(L, "inv", "fwd", "slope"),
        *_flags(L, "model", "clip", "want_sigma"),
        (not L["want_sigma"] or L["sigma"].size == N * per,
         f"want_sigma but sigma has {L['sigma'].size} values, N*per_sample = {N * per}"),
        (L["x"].shape[0] == N and L["x"].shape[-1] == C, f"x has shape {L['x'].shape}: not N = {N} samples of C = {C}"),
        _shape(L, "out", L["x"].shape), *([_shape(L, "sigma", L["x"].shape)] if L["want_sigma"] else []),
        *_covers(L, per, per_thread=4),
    )


def _demosaic_crf(L) -> list[str]:
    n_sel, H, W = L["n_sel"], L["H"], L["W"]
    plane = H * W * 3
    N = L["out"].size // plane if plane else 0
    checks = [
        (H >= 2 and W >= 2 and n_sel >= 1, f"H, W >= 2 and n_sel >= 1 needed: {H, W, n_sel}"),
        (L["out"].size == N * plane, f"out has {L['out'].size} values, not a multiple of H*W*3 = {plane}"),
        (L["sel"].size == n_sel and _in(L["sel"], 0, N), f"sel ({L['sel'].size} entries) not n_sel = {n_sel} indices < {N}"),
        (L["raw"].size == n_sel * H * W, f"raw has {L['raw'].size} values, n_sel*H*W = {n_sel * H * W}"),
        *_per_sample(L, N, red=2, crf=1),
        (_in(L["red"], 0, 2), "red site outside {0, 1}"),
        (L["fwd"].ndim == 2 and L["fwd"].shape[1] == BINS, f"fwd {L['fwd'].shape} is not (K, {BINS})"),
        (L["method"] in (0, 1), f"method = {L['method']} not 0 (malvar) or 1 (bilinear)"),
        _shape(L, "raw", (n_sel, H, W)), _shape(L, "out", (N, H, W, 3)),
        *_flags(L, "apply_crf"),
        *_covers(L, W, H),
    ]
    if L["apply_crf"]:
        checks.append((_in(L["crf"], 0, L["fwd"].shape[0]), "crf index outside the curves"))
    return _problems(*checks)


def _moire_decode(L) -> list[str]:
    N, Hs, Ws = L["N"], L["Hs"], L["Ws"]
    b = _vals(L["boxes"]).reshape(-1, 4) if L["boxes"].size % 4 == 0 else np.zeros((0, 4))
    return _problems(
        (L["x"].size == L["out"].size == N * Hs * Ws * 3, f"x/out have {L['x'].size}/{L['out'].size} values, N*Hs*Ws*3 = {N * Hs * Ws * 3}"),
        (L["boxes"].size == 4 * N, f"boxes has {L['boxes'].size} values, 4*N = {4 * N}"),
        (np.all((0 <= b[:, 0]) & (b[:, 0] <= b[:, 1]) & (b[:, 1] <= Hs) & (0 <= b[:, 2]) & (b[:, 2] <= b[:, 3])
                & (b[:, 3] <= Ws)), f"a support box [y0, y1, x0, x1] is outside the {Hs}x{Ws} screenshot"),
        _shape(L, "x", (N, Hs, Ws, 3)), _shape(L, "out", (N, Hs, Ws, 3)),
        *_covers(L, Ws, Hs),
    )


def _moire_capture(L) -> list[str]:
    n, N, Hs, Ws, H, W, nc = (L[k] for k in ("n", "N", "Hs", "Ws", "H", "W", "nc"))
    I = _vals(L["Iall"]).reshape(-1, MI_N) if L["Iall"].size % MI_N == 0 else np.zeros((0, MI_N), np.int32)
    return _problems(
        (min(n, N, Hs, Ws, H, W) >= 1, f"n, N, Hs, Ws, H, W must be >= 1: {n, N, Hs, Ws, H, W}"),
        (L["scr"].size == N * Hs * Ws * 3, f"scr has {L['scr'].size} values, N*Hs*Ws*3 = {N * Hs * Ws * 3}"),
        *_per_sample(L, N, Gall=MG_N, Iall=MI_N, wall=n),
        (nc in (1, 3) and np.all((I[:, 0] >= 0) == (nc == 1)), f"nc = {nc} does not match the CFA rows of Iall (red row {I[:, 0]})"),
        (L["out"].size == N * H * W * nc, f"out has {L['out'].size} values, N*H*W*nc = {N * H * W * nc}"),
        (L["gt"].size == N * H * W * 3, f"gt has {L['gt'].size} values, N*H*W*3 = {N * H * W * 3}"),
        _shape(L, "scr", (N, Hs, Ws, 3)), _shape(L, "out", (N, H, W, nc)), _shape(L, "gt", (N, H, W, 3)),
        *_covers(L, W, H),
    )


def _moire_develop(L) -> list[str]:
    from imgrestore.kernels.moire import tile_floats

    N, H, W, nc, method, T, rmax = (L[k] for k in ("N", "H", "W", "nc", "method", "T", "rmax"))
    I = _vals(L["Iall"]).reshape(-1, MI_N) if L["Iall"].size % MI_N == 0 else np.zeros((0, MI_N), np.int32)
    bw, bh = L.block[:2]
    return _problems(
        (min(N, H, W, T) >= 1 and rmax >= 0, f"N, H, W, T must be >= 1, rmax >= 0: {N, H, W, T, rmax}"),
        (nc in (1, 3) and np.all((I[:, 0] >= 0) == (nc == 1)), f"nc = {nc} does not match the CFA rows of Iall"),
        (method in (0, 1, 2), f"method {method} not 0 (malvar), 1 (bilinear) or 2 (none)"),
        (nc == 3 or method == 2 or min(H, W) >= 2, f"a Bayer demosaic needs H, W >= 2: {H, W}"),
        *_flags(L, "has_glare"),
        (L["glare"].size == (N * H * W if L["has_glare"] else L["glare"].size) and L["glare"].size >= 1,
         f"glare has {L['glare'].size} values, N*H*W = {N * H * W} (has_glare = {L['has_glare']})"),
        *_per_sample(L, N, ab=2, keys=2, Iall=MI_N, taps=T, radius=1),
        (_in(L["radius"], 0, rmax + 1), f"a radius exceeds rmax = {rmax}: the shared tiles would overrun"),
        (2 * rmax + 1 <= T, f"rmax = {rmax} needs {2 * rmax + 1} taps per sample, T = {T}"),
        (L["lut"].size == 65537, f"lut has {L['lut'].size} values, the sRGB table has 65537"),
        (L.shared_mem == 4 * tile_floats(bw, bh, rmax, nc),
         f"shared_mem {L.shared_mem} != 4 * tile_floats({bw}, {bh}, {rmax}, {nc}) = {4 * tile_floats(bw, bh, rmax, nc)}"),
        _shape(L, "cap", (N, H, W, nc)), _shape(L, "gt", (N, H, W, 3)), _shape(L, "out", (N, H, W, 3)),
        _shape(L, "tgt", (N, H, W, 3)),
        *_covers(L, W, H),
    )


CONTRACTS = {
    "resize_h_f32": _resize_h, "resize_w_f32": _resize_w,
    "mosaic_noise": _mosaic_noise, "full_colour": _full_colour, "demosaic_crf": _demosaic_crf,
    "moire_decode": _moire_decode, "moire_capture": _moire_capture, "moire_develop": _moire_develop,
}


# --------------------------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture
def cp(monkeypatch):
    """The fake ``cupy`` in ``sys.modules`` for this test; the launchers imported fresh against it
    (:func:`fake_cupy.forget_launchers`: ``monkeypatch`` puts back whatever was there before)."""
    fake = fake_cupy.new_cupy(CONTRACTS)
    fake_cupy.install(monkeypatch, fake)
    fake_cupy.forget_launchers(monkeypatch)
    return fake


@pytest.fixture(autouse=True)
def _no_env_crf(monkeypatch, tmp_path):
    from imgrestore import crf

    monkeypatch.delenv(crf.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    warnings.filterwarnings("ignore", category=crf.CRFWarning)


def _dev(cp, shape, seed=0, dtype=np.float32, device=None):
    x = np.random.default_rng(seed).random(shape).astype(dtype)
    if device is None:
        return cp.asarray(x)
    with cp.cuda.Device(device):
        return cp.asarray(x)


def _names(cp) -> list[str]:
    return [L.name for L in cp._launches]


def _of(cp, name: str) -> list:
    return [L for L in cp._launches if L.name == name]


def _all_ok(cp):
    assert cp._launches, "nothing was launched"
    assert all(L.ok for L in cp._launches)


def _is_output(cp, a, shape, device=0):
    """``a`` is a fake-CuPy float32 array of ``shape`` on ``device``, written by the kernels (no NaN
    left of cupy.empty's fill)."""
    assert isinstance(a, cp.ndarray), f"expected a cupy array, got {type(a)}"
    assert a.shape == tuple(shape) and a.dtype == np.float32 and a._dev == device, (a.shape, a.dtype, a._dev)
    assert not np.isnan(a.get()).any(), "part of the returned array was never written"


# --------------------------------------------------------------------------------------------
# the signatures
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cu", sorted(CU_FILES.values()), ids=lambda p: p.name)
def test_every_kernel_signature_parses(cu: Path):
    kernels = fake_cupy.parse_kernels(cu.read_text())
    src = fake_cupy.strip_comments(cu.read_text())
    assert len(kernels) == len(re.findall(r"\b__global__\b", src)) >= 1
    for k in kernels.values():
        assert k.params and len({p.name for p in k.params}) == len(k.params)
        for p in k.params:  # outputs are float arrays written through non-const pointers
            assert p.const or not p.pointer or p.dtype.kind == "f", str(p)


def test_the_parser_reads_c_types_as_cupy_marshals_them():
    src = """
    // extern "C" __global__ void commented_out(int a)
    extern "C" __global__ void k(const unsigned int* __restrict__ a, unsigned b, long long c, int64_t d,
                                 uint32_t e, float* const f, double const* g, size_t h) {}
    extern "C" __global__ void __launch_bounds__(256) k2(void) {}
    """
    ks = fake_cupy.parse_kernels(src)
    assert set(ks) == {"k", "k2"} and ks["k2"].params == ()
    got = [(p.name, p.dtype.name, p.pointer, p.const, p.restrict) for p in ks["k"].params]
    assert got == [("a", "uint32", True, True, True), ("b", "uint32", False, False, False),
                   ("c", "int64", False, False, False), ("d", "int64", False, False, False),
                   ("e", "uint32", False, False, False), ("f", "float32", True, False, False),
                   ("g", "float64", True, True, False), ("h", "uint64", False, False, False)]
    with pytest.raises(fake_cupy.SignatureError):
        fake_cupy.parse_kernels('extern "C" __global__ void bad(my_t x) {}')
    with pytest.raises(fake_cupy.SignatureError):  # a __global__ the parser cannot read is not skipped
        fake_cupy.parse_kernels('template <int N> __global__ void t(int x) {}')


def test_the_fake_kernel_rejects_what_cupy_would_mismarshal(cp):
    k = cp.RawModule(code=CU_FILES["resize"].read_text()).get_function("resize_w_f32")
    x, out = cp.zeros((2, 3, 4, 1), cp.float32), cp.zeros((2, 3, 2, 1), cp.float32)
    idx, w = cp.asarray(np.zeros((2, 6), np.int32)), cp.asarray(np.full((2, 6), 1 / 6, np.float32))
    good = (x, out, idx, w, np.int64(6), np.int32(4), np.int32(2), np.int32(1), np.int32(6))
    k((1, 6), (256,), good)
    bad = {
        "Python int": good[:4] + (6,) + good[5:],
        "np.int32 for long long": good[:4] + (np.int32(6),) + good[5:],
        "arguments": good[:-1],
        "dtype": (cp.zeros((2, 3, 4, 1), cp.float64),) + good[1:],
        "contiguous": (x, cp.zeros((2, 3, 4, 2), cp.float32)[..., :1]) + good[2:],
        "numpy array": (x.get(),) + good[1:],
        "overlap": (x, x) + good[2:],
        "swapped win/wout": good[:5] + (np.int32(2), np.int32(4)) + good[7:],
    }
    for what, args in bad.items():
        with pytest.raises(fake_cupy.LaunchError):
            k((1, 6), (256,), args)
    for grid, block in [((1, 70000), (256,)), ((0, 6), (256,)), ((1, 6), (2048,)), ((1, 6), (32, 32, 2)),
                        ([1, 6], (256,)), ((1, 6), 256)]:
        with pytest.raises(fake_cupy.LaunchError):
            k(grid, block, good)
    with pytest.raises(TypeError):
        np.asarray(x)  # like CuPy: no implicit device -> host conversion
    with pytest.raises(TypeError):
        x + x.get()


# --------------------------------------------------------------------------------------------
# resize
# --------------------------------------------------------------------------------------------

RESIZE_CASES = [  # (shape, scale, out_hw)
    ((1, 7, 5, 3), 0.5, None),
    ((3, 17, 23, 1), 1 / 3, None),
    ((2, 9, 13, 3), 2.0, None),
    ((4, 16, 12, 3), (0.5, 3.0), None),  # H pass first (the smaller scale)
    ((2, 12, 16, 3), (3.0, 0.25), None),  # W pass first
    ((2, 10, 11, 3), None, (3, 7)),
    ((1, 1, 1, 1), 4.0, None),
    ((1, 66000, 2, 1), 1.0, None),  # n*hout > 65535: grid.y capped, rows strided
]


@pytest.mark.parametrize("shape,scale,out_hw", RESIZE_CASES)
def test_imresize_launches(cp, shape, scale, out_hw):
    from imgrestore.kernels.resize import imresize, plan

    x = _dev(cp, shape)
    steps = plan(shape[1:3], scale, out_hw)
    y = imresize(x, scale, out_hw)
    n, h, w, c = shape
    length = {axis: idx.shape[0] for axis, idx, _ in steps}
    _is_output(cp, y, (n, length[1], length[2], c))
    _all_ok(cp)
    assert _names(cp) == ["resize_h_f32" if axis == 1 else "resize_w_f32" for axis, _, _ in steps]
    first, second = cp._launches
    assert first["x"] is x and second["x"] is first["out"] and second["out"] is y  # H -> W data flow
    for L, (axis, idx, wts) in zip(cp._launches, steps):
        assert L["taps"] == idx.shape[1] and np.array_equal(L["idx"].get(), idx)
        np.testing.assert_array_equal(L["w"].get(), wts.astype(np.float32))
        assert L[("hout" if axis == 1 else "wout")] == idx.shape[0]
        assert L.grid[1] == min(L["out"].size // (L["out"].shape[2] * c), 65535)  # rows, capped


def test_imresize_of_a_strided_float64_view_and_the_table_cache(cp):
    from imgrestore.kernels.resize import imresize

    x = _dev(cp, (3, 20, 30, 3), dtype=np.float64)[:, ::2, 1::3]  # (3, 10, 10, 3), neither float32 nor contiguous
    y = imresize(x, 0.5)
    _is_output(cp, y, (3, 5, 5, 3))
    y2 = imresize(x, 0.5)
    _all_ok(cp)
    assert len(cp._launches) == 4
    assert cp._launches[0]["idx"] is cp._launches[2]["idx"]  # tables uploaded once, reused
    assert len(cp._modules) == 1  # compiled once per process and device
    _is_output(cp, y2, (3, 5, 5, 3))


@pytest.mark.parametrize("n,size,scale", [(1, 24, 4), (3, 17, 3), (2, 9, 2)])
def test_bicubic_plugin_on_cupy(cp, n, size, scale):
    from imgrestore.chain import Chain
    from imgrestore.kernels.resize import output_size

    pair = Chain.parse(f"bicubic:scale={scale}")(_dev(cp, (n, size, size + 1, 3)), 0, range(n))
    _is_output(cp, pair.input, (n, output_size(size, 1 / scale), output_size(size + 1, 1 / scale), 3))
    _all_ok(cp)
    assert sorted(_names(cp)) == ["resize_h_f32", "resize_w_f32"]


# --------------------------------------------------------------------------------------------
# camera (cbdnet)
# --------------------------------------------------------------------------------------------


def _params(n, patterns, noise=True, seed=0):
    from imgrestore.kernels.camera import CameraParams

    r = np.random.default_rng(seed)
    on = np.asarray(noise if np.ndim(noise) else [noise] * n, bool)
    return CameraParams.build(crf=r.integers(0, 201, n), pattern=patterns,
                              sigma_s=r.uniform(0.01, 0.16, (n, 3)) * on[:, None],
                              sigma_c=r.uniform(0.001, 0.06, (n, 3)) * on[:, None],
                              keys=r.integers(0, 2**32, (n, 2), dtype=np.uint64))


def _check_camera(cp, x, p, out, sigma, want_sigma, model, clip, demosaic, curves):
    from imgrestore.kernels.camera import DEMOSAIC_METHODS, NOISE_MODELS

    n, h, w, c = x.shape
    pattern = p.pattern if c == 3 else np.full(n, 4)
    mos, full = np.flatnonzero(pattern < 4), np.flatnonzero(pattern == 4)
    _is_output(cp, out, x.shape)
    if want_sigma:
        _is_output(cp, sigma, x.shape)
    else:
        assert sigma is None
    _all_ok(cp)
    expect = (["mosaic_noise", "demosaic_crf"] if len(mos) else []) + (["full_colour"] if len(full) else [])
    assert _names(cp) == expect
    for L in cp._launches:
        if "model" in L.named:
            assert (L["model"], L["clip"]) == (NOISE_MODELS.index(model), int(clip))
            assert L["want_sigma"] == int(want_sigma) and (not want_sigma or L["sigma"] is sigma)
            assert L["x"] is x and np.array_equal(L["crf"].get(), p.crf) and np.array_equal(L["keys"].get(), p.keys)
            np.testing.assert_array_equal(L["ss"].get(), p.sigma_s)
            np.testing.assert_array_equal(L["sc"].get(), p.sigma_c)
            np.testing.assert_array_equal(L["inv"].get(), curves.inverse)
    if len(mos):
        mn, dm = _of(cp, "mosaic_noise")[0], _of(cp, "demosaic_crf")[0]
        assert np.array_equal(mn["sel"].get(), mos) and np.array_equal(dm["sel"].get(), mos)
        assert dm["raw"] is mn["raw"] and dm["out"] is out and dm["apply_crf"] == 1
        assert dm["method"] == DEMOSAIC_METHODS.index(demosaic)
        assert np.array_equal(dm["red"].get(), p.red) and np.array_equal(mn["red"].get(), p.red)
        np.testing.assert_array_equal(dm["fwd"].get(), curves.forward)
        np.testing.assert_array_equal(mn["slope"].get(), curves.slope)
    if len(full):
        fc = _of(cp, "full_colour")[0]
        assert np.array_equal(fc["sel"].get(), full) and fc["out"] is out and fc["C"] == c
        assert fc["per_sample"] == h * w * c


CAMERA_SHAPES = [  # (n, h, w, c, patterns)
    (4, 5, 7, 3, [0, 1, 2, 3]),  # every Bayer phase, odd sizes: mosaic path only
    (3, 6, 6, 3, [4, 4, 4]),  # no mosaic: full_colour only
    (5, 9, 2, 3, [0, 4, 3, 4, 1]),  # mixed
    (2, 3, 5, 1, [0, 2]),  # grayscale: every sample takes the no-mosaic path
    (1, 2, 2, 3, [2]),  # smallest Bayer image
    (1, 1, 1, 3, [4]),  # 1 pixel, no mosaic
]


@pytest.mark.parametrize("n,h,w,c,patterns", CAMERA_SHAPES)
def test_camera_batch_shapes(cp, n, h, w, c, patterns):
    from imgrestore.crf import parametric_curves
    from imgrestore.kernels.camera import camera_batch

    curves = parametric_curves()
    x, p = _dev(cp, (n, h, w, c)), _params(n, patterns)
    out, sigma = camera_batch(x, curves, p)
    _check_camera(cp, x, p, out, sigma, True, "paper", True, "malvar", curves)


@pytest.mark.parametrize("demosaic", ["malvar", "bilinear"])
@pytest.mark.parametrize("want_sigma", [True, False])
@pytest.mark.parametrize("noise", [True, False, [True, False, False, True, True]])
@pytest.mark.parametrize("model,clip", [("paper", True), ("matlab", False)])
def test_camera_batch_modes(cp, demosaic, want_sigma, noise, model, clip):
    from imgrestore.crf import parametric_curves
    from imgrestore.kernels.camera import camera_batch

    curves = parametric_curves()
    x, p = _dev(cp, (5, 7, 10, 3)), _params(5, [3, 4, 0, 4, 2], noise)
    out, sigma = camera_batch(x, curves, p, model=model, clip=clip, demosaic=demosaic, want_sigma=want_sigma)
    _check_camera(cp, x, p, out, sigma, want_sigma, model, clip, demosaic, curves)
    if not want_sigma:
        assert all(L["sigma"].size == 0 for L in cp._launches if "sigma" in L.named)


def test_camera_batch_more_samples_than_a_grid_dimension(cp):
    """65537 mosaic and 65537 no-mosaic samples: grid.y / grid.z are capped at 65535 and the kernels
    stride over the samples."""
    from imgrestore.crf import parametric_curves
    from imgrestore.kernels.camera import camera_batch

    n = 2 * 65537
    curves = parametric_curves()
    x, p = _dev(cp, (n, 2, 2, 3)), _params(n, np.arange(n) % 2 * 4)
    out, sigma = camera_batch(x, curves, p)
    _check_camera(cp, x, p, out, sigma, True, "paper", True, "malvar", curves)
    assert _of(cp, "mosaic_noise")[0].grid[1] == _of(cp, "demosaic_crf")[0].grid[2] == 65535
    assert _of(cp, "full_colour")[0].grid[1] == 65535


@pytest.mark.parametrize("shape", [(7, 9), (3, 8, 5), (1, 2, 2)])
@pytest.mark.parametrize("method", ["malvar", "bilinear"])
@pytest.mark.parametrize("pattern", ["RGGB", "GRBG", "GBRG", 3])
def test_bare_demosaic(cp, shape, method, pattern):
    from imgrestore.kernels.camera import DEMOSAIC_METHODS, demosaic

    raw = _dev(cp, shape)
    out = demosaic(raw, pattern, method)
    _is_output(cp, out, shape + (3,))
    _all_ok(cp)
    (L,) = cp._launches
    assert L.name == "demosaic_crf" and L["apply_crf"] == 0 and L["method"] == DEMOSAIC_METHODS.index(method)
    assert L["n_sel"] == (1 if len(shape) == 2 else shape[0]) and (L["H"], L["W"]) == shape[-2:]


def test_mosaic_noise_alone(cp):
    from imgrestore.crf import parametric_curves
    from imgrestore.kernels.camera import mosaic_noise

    curves = parametric_curves()
    x, p = _dev(cp, (3, 5, 6, 3)), _params(3, [0, 3, 1])
    noisy, clean = mosaic_noise(x, curves, p, model="matlab", clip=False)
    for a in (noisy, clean):
        _is_output(cp, a, (3, 5, 6))
    _all_ok(cp)
    a, b = cp._launches
    assert _names(cp) == ["mosaic_noise"] * 2 and a["raw"] is noisy and b["raw"] is clean
    assert a["want_sigma"] == b["want_sigma"] == 0 and (a["model"], a["clip"]) == (1, 0)
    assert _vals(a["ss"]).any() and not _vals(b["ss"]).any() and not _vals(b["sc"]).any()


@pytest.mark.parametrize("spec,c", [
    ("cbdnet:jpeg=false", 3),
    ("cbdnet:jpeg=true,side=false,demosaic=bilinear,noise=matlab,clip=false,per_channel=true", 3),
    ("cbdnet:pattern=none,sigma_s=0,sigma_c=0,jpeg=false", 3),
    ("cbdnet:pattern=RGGB,jpeg=false", 3),
    ("cbdnet", 1),
    ("cbdnet:jpeg=false | bicubic:scale=2", 3),  # the sigma side map is resized too
])
def test_cbdnet_plugin_on_cupy(cp, spec, c):
    from imgrestore.chain import Chain

    n, h, w = 3, 11, 14
    chain = Chain.parse(spec)
    pair = chain(_dev(cp, (n, h, w, c)), seed=5, indices=range(n))
    _all_ok(cp)
    f = 2 if "bicubic" in spec else 1
    oh, ow = -(-h // f), -(-w // f)
    _is_output(cp, pair.input, (n, oh, ow, c))
    if "side=false" in spec:
        assert "sigma" not in pair.side
    else:
        _is_output(cp, pair.side["sigma"], (n, oh, ow, c))
    names = set(_names(cp))
    assert ("full_colour" in names) == (c == 1 or any(r[0]["pattern"] == "none" for r in pair.params))
    assert ("mosaic_noise" in names) == ("demosaic_crf" in names) == (c == 3 and any(r[0]["pattern"] != "none" for r in pair.params))


# --------------------------------------------------------------------------------------------
# moire
# --------------------------------------------------------------------------------------------


def _moire_batch(n, out_hw, src_hw, cfa=True, noise=True, glare=0.0, denoise=0.0, seed=0):
    """A synthetic MoireBatch (the launcher only reads its shapes, flags and indices)."""
    from imgrestore.kernels.moire import MoireBatch
    from imgrestore.kernels.moire_numpy import NG

    r = np.random.default_rng(seed)
    red = np.array([(0, 0), (0, 1), (1, 0), (1, 1)])[r.integers(0, 4, n)] if cfa else np.full((n, 2), -1)
    I = np.concatenate([red, np.zeros((n, 1))], axis=1).astype(np.int32)
    hs, ws = src_hw
    boxes = np.tile(np.array([1, hs - 1, 0, ws], np.int32), (n, 1))
    nz = np.array([[2e-3, 1e-5]] * n) * np.asarray(noise if np.ndim(noise) else [noise] * n, float)[:, None]
    return MoireBatch(G=r.random((n, NG)), I=I, wts=np.full((n, 3), 1 / 3), noise=nz,
                      keys=r.integers(0, 2**32, (n, 2), dtype=np.uint64).astype(np.uint32),
                      denoise=np.full(n, float(denoise)), glare=np.tile([glare, 0.5, 0.5, 0.3], (n, 1)), boxes=boxes)


def _check_moire(cp, screen, b, out_hw, demosaic, out, tgt, device=0):
    n = screen.shape[0]
    h, w = out_hw
    _is_output(cp, out, (n, h, w, 3), device)
    _is_output(cp, tgt, (n, h, w, 3), device)
    _all_ok(cp)
    assert all(L.device == device for L in cp._launches)
    dec, cap = _of(cp, "moire_decode"), _of(cp, "moire_capture")
    assert len(dec) == len(cap) == 1
    assert np.array_equal(dec[0]["x"].get(), screen.get()) and cap[0]["scr"] is dec[0]["out"]
    assert np.array_equal(dec[0]["boxes"].get(), b.boxes) and np.array_equal(cap[0]["Iall"].get(), b.I)
    assert cap[0]["nc"] == (1 if b.cfa else 3) and cap[0]["n"] == b.wts.shape[1]
    (Hs, Ws) = screen.shape[1:3]
    assert (cap[0]["H"], cap[0]["W"], cap[0]["Hs"], cap[0]["Ws"]) == (h, w, Hs, Ws)
    dv = _of(cp, "moire_develop")
    assert len(dv) == 1 and _names(cp) == ["moire_decode", "moire_capture", "moire_develop"]  # nothing between
    d = dv[0]
    assert d["cap"] is cap[0]["out"] and d["gt"] is cap[0]["gt"] and d["out"] is out and d["tgt"] is tgt
    assert d["nc"] == cap[0]["nc"] and d["method"] == ("malvar", "bilinear", "none").index(demosaic)
    np.testing.assert_array_equal(d["ab"].get(), b.noise)
    np.testing.assert_array_equal(d["keys"].get(), b.keys)
    taps, radius = b.taps()
    np.testing.assert_array_equal(d["taps"].get(), taps)
    np.testing.assert_array_equal(d["radius"].get(), radius)
    assert d["rmax"] == radius.max() and d["has_glare"] == int(np.any(b.glare[:, 0] > 0))
    if d["has_glare"]:
        from imgrestore.kernels.moire import glare_field

        np.testing.assert_array_equal(d["glare"].get(), glare_field(b, out_hw))


@pytest.mark.parametrize("n,out_hw,src_hw", [(1, (7, 9), (16, 18)), (3, (24, 20), (40, 37)), (2, (2, 2), (6, 6))])
@pytest.mark.parametrize("cfa,demosaic", [(True, "bilinear"), (True, "malvar"), (True, "none"), (False, "bilinear")])
@pytest.mark.parametrize("noise,glare,denoise", [(True, 0.0, 0.5), (False, 0.4, 0.0), ([True, False, True], 0.0, 0.0)])
def test_moire_batch_modes(cp, n, out_hw, src_hw, cfa, demosaic, noise, glare, denoise):
    from imgrestore.kernels.moire import moire_batch

    if np.ndim(noise) and len(noise) != n:
        noise = (noise * n)[:n]
    b = _moire_batch(n, out_hw, src_hw, cfa, noise, glare, denoise)
    screen = _dev(cp, (n, *src_hw, 3))
    out, tgt = moire_batch(screen, b, out_hw, demosaic)
    _check_moire(cp, screen, b, out_hw, demosaic, out, tgt)


def test_moire_batch_more_samples_than_a_grid_dimension(cp):
    from imgrestore.kernels.moire import moire_batch

    n = 65537
    b = _moire_batch(n, (2, 2), (4, 4))
    screen = _dev(cp, (n, 4, 4, 3))
    out, tgt = moire_batch(screen, b, (2, 2), "bilinear")
    _check_moire(cp, screen, b, (2, 2), "bilinear", out, tgt)
    assert {L.grid[2] for L in cp._launches} == {65535}


def test_moire_capture_only(cp):
    from imgrestore.kernels.moire_cuda import capture_only

    for cfa in (True, False):
        b = _moire_batch(2, (5, 6), (12, 12), cfa=cfa)
        cap, gt = capture_only(_dev(cp, (2, 12, 12, 3)), b, (5, 6))
        _is_output(cp, cap, (2, 5, 6, 1 if cfa else 3))
        _is_output(cp, gt, (2, 5, 6, 3))
    _all_ok(cp)
    assert _names(cp) == ["moire_decode", "moire_capture"] * 2


def test_launches_follow_the_arrays_device(cp):
    """Arrays on device 1 while device 0 is current: every launch runs on device 1 with device-1 arrays."""
    from imgrestore.kernels.moire import moire_batch
    from imgrestore.kernels.resize import imresize

    y = imresize(_dev(cp, (2, 9, 7, 3), device=1), 0.5)
    _is_output(cp, y, (2, 5, 4, 3), device=1)
    b = _moire_batch(2, (6, 5), (12, 12))
    screen = _dev(cp, (2, 12, 12, 3), device=1)
    out, tgt = moire_batch(screen, b, (6, 5), "malvar")
    resize_launches = cp._launches[:2]
    cp._launches[:] = cp._launches[2:]
    _check_moire(cp, screen, b, (6, 5), "malvar", out, tgt, device=1)
    assert all(L.device == 1 for L in resize_launches)


# outputs are allocated on the input's device (backend.on_device_of), where the kernels launch
def test_camera_batch_on_a_non_current_device(cp):
    from imgrestore.crf import parametric_curves
    from imgrestore.kernels.camera import camera_batch

    camera_batch(_dev(cp, (2, 4, 4, 3), device=1), parametric_curves(), _params(2, [0, 4]))


@pytest.mark.parametrize("spec,c", [
    ("moire:jpeg=false", 3),  # CFA, bilinear, noise, denoise
    ("moire:jpeg=false,demosaic=malvar,layout=pentile,vignette=0.4,ca=0.01,motion=3,glare=0.3,k1=-0.05", 3),
    ("moire:cfa=false,noise=false,denoise=0,jpeg=true", 3),
    ("moire:jpeg=false,demosaic=none,glare=0.5,denoise=0.5", 3),
    ("moire:jpeg=false", 1),
])
def test_moire_plugin_on_cupy(cp, spec, c):
    from imgrestore.chain import Chain

    chain = Chain.parse(spec)
    out_hw = (13, 11)
    src = chain.source_size(out_hw)
    n = 2
    pair = chain(_dev(cp, (n, *src, c)), seed=1, indices=[3, 8])
    _all_ok(cp)
    _is_output(cp, pair.input, (n, *out_hw, c))
    _is_output(cp, pair.target, (n, *out_hw, c))
    names = [m for m in _names(cp) if m.startswith("moire_")]  # (the JPEG kernels: test_jpeg_*)
    assert names == ["moire_decode", "moire_capture", "moire_develop"]
    d = _of(cp, "moire_develop")[0]
    assert (d["nc"] == 3) == ("cfa=false" in spec) and (d["method"] == 2) == ("demosaic=none" in spec)
    assert np.any(d["ab"].get() > 0) == ("noise=false" not in spec)
    assert d["has_glare"] == ("glare=" in spec)


# --------------------------------------------------------------------------------------------
# compile options and coverage
# --------------------------------------------------------------------------------------------


def test_every_kernel_is_launched_and_compiled_as_documented(cp):
    """One pass through every launcher; every kernel defined in each .cu file is launched."""
    from imgrestore.crf import parametric_curves
    from imgrestore.kernels.camera import camera_batch
    from imgrestore.kernels.moire import moire_batch
    from imgrestore.kernels.resize import imresize

    imresize(_dev(cp, (2, 9, 11, 3)), 0.5)
    camera_batch(_dev(cp, (2, 6, 5, 3)), parametric_curves(), _params(2, [1, 4]))
    moire_batch(_dev(cp, (2, 14, 14, 3)), _moire_batch(2, (6, 6), (14, 14), denoise=0.5), (6, 6), "malvar")
    _all_ok(cp)
    launched = set(_names(cp))
    for stem, cu in CU_FILES.items():
        defined = set(fake_cupy.parse_kernels(cu.read_text()))
        assert defined <= launched, f"{cu.name}: never launched: {sorted(defined - launched)}"
    opts = {L.name: L.options for L in cp._launches}
    for name in ("mosaic_noise", "full_colour", "demosaic_crf", "moire_capture", "moire_develop"):
        assert "--fmad=false" in opts[name], f"{name} must be compiled without FMA contraction (bit-exact twin)"
    # moire.cu includes camera.cu: it resolves on the module's -I path (the fake compiler expands it)
    assert any(o.startswith("-I") for o in opts["moire_capture"])
    assert len(cp._modules) == 3  # one module per source and device
