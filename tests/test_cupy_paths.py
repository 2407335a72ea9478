"""The CuPy paths outside the kernel launchers, run against the fake ``cupy`` (``tests/fake_cupy.py``).

``test_cuda_launch.py`` checks the launch code of ``kernels/*_cuda.py``. Here the rest of what
``--device cuda`` runs goes through the same stand-in: the backend (device choice with one fake
GPU, ``to_device`` / ``to_numpy``, the DLPack hand-offs ``to_torch`` / ``from_torch``), the
``awgn`` and ``jpeg`` plugins on CuPy batches (GPU noise keyed by (seed, index, stage) as docs/architecture.md says,
the same for a sample whatever the batch), a chain of every built-in degradation on a CuPy batch
(on GPU 0 and on GPU 1 while GPU 0 is current), ``imgrestore synth --device cuda`` in-process,
and ``SynthStream(gpu=True)`` handed to torch the way the training loop takes it.

What can be compared with the CPU: the fake runs no kernel code (a launch "writes" 0.25), except
the JPEG launcher, whose output is filled in by its Numba twin (proven equal to ``jpeg.cu`` by host
emulation), so ``jpeg`` pixels, the clean targets and crops, and every drawn parameter (host-side
draws: identical) are compared. GPU noise is checked against its documented key and launch
arguments instead, and kernel chains for shapes, dtypes, devices and valid launches.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

fake_cupy = pytest.importorskip("fake_cupy")
launch = pytest.importorskip("test_cuda_launch")  # per-kernel launch contracts (skips without kernels/*.cu)
try:
    import torch
except ImportError:  # the backend, plugin and synth paths need no torch
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _install(monkeypatch, device_count: int = 2):
    """Put a fresh fake ``cupy`` into ``sys.modules`` (launchers re-imported against it) and forget
    the cached GPU probe; returns the fake."""
    fake = fake_cupy.new_cupy(launch.CONTRACTS, device_count=device_count)
    fake_cupy.install(monkeypatch, fake)
    fake_cupy.forget_launchers(monkeypatch, reprobe=True)
    return fake


@pytest.fixture
def fake(monkeypatch):
    """A factory: ``fake(device_count)`` installs a fake ``cupy`` for this test (the last one wins)."""
    from imgrestore import backend

    yield lambda device_count=2: _install(monkeypatch, device_count)
    backend.gpu_status.cache_clear()  # the real probe again once monkeypatch has put sys.modules back


@pytest.fixture
def cp(fake, monkeypatch):
    cp = fake(2)
    _host_jpeg(cp, monkeypatch)
    return cp


def _host_jpeg(cp, monkeypatch) -> None:
    """Let the fake's JPEG launches produce real pixels: ``jpeg_cuda.roundtrip`` still runs (its
    launches are checked against ``jpeg.cu``'s signatures), then its output is overwritten with the
    Numba twin's result for the same input. That twin equals ``jpeg.cu`` byte for byte under host
    emulation (``test_jpeg_cuda_host.py``), so chains and synth runs through the fake can be
    compared with the CPU pixel for pixel."""
    from imgrestore.kernels import jpeg_cuda, jpeg_numba

    launched = jpeg_cuda.roundtrip

    def roundtrip(x, quality, sub):
        out = launched(x, quality, sub)
        out[...] = jpeg_numba.roundtrip(np.ascontiguousarray(x.get()), quality, sub)
        return out

    monkeypatch.setattr(jpeg_cuda, "roundtrip", roundtrip)


@pytest.fixture(autouse=True)
def _no_env_crf(monkeypatch, tmp_path):
    from imgrestore import crf

    monkeypatch.delenv(crf.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    warnings.filterwarnings("ignore", category=crf.CRFWarning)


def _rand(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def _dev(cp, a: np.ndarray, device: int | None = None):
    if device is None:
        return cp.asarray(a)
    with cp.cuda.Device(device):
        return cp.asarray(a)


def _on(cp, a, shape, device=0, dtype=np.float32):
    assert isinstance(a, cp.ndarray), f"expected a cupy array, got {type(a).__module__}.{type(a).__name__}"
    assert a.shape == tuple(shape) and a.dtype == dtype and a._dev == device, (a.shape, a.dtype, a._dev)
    assert not np.isnan(a.get()).any()


def _current(cp) -> int:
    return cp.cuda.runtime.getDevice()


# --------------------------------------------------------------------------------------------
# backend
# --------------------------------------------------------------------------------------------


def test_device_choice_with_one_fake_gpu(fake):
    from imgrestore import backend

    cp = fake(1)
    assert backend.gpu_status() == (True, "1 CUDA device(s)") and backend.gpu_available()
    assert backend.resolve_device("auto") == "cuda" and backend.resolve_device("CUDA") == "cuda"
    assert backend.resolve_device("cpu") == "cpu"
    assert backend.xp_for("cuda") is cp and backend.xp_for("cpu") is np


def test_device_choice_when_cupy_sees_no_gpu(fake):
    from imgrestore import backend
    from imgrestore.errors import DeviceError

    fake(0)  # CuPy's getDeviceCount raises cudaErrorNoDevice
    ok, why = backend.gpu_status()
    assert not ok and "cudaErrorNoDevice" in why
    assert backend.resolve_device("auto") == "cpu"
    with pytest.raises(DeviceError) as e:
        backend.resolve_device("cuda")
    assert "--device cuda" in str(e.value) and "\n" not in str(e.value)


def test_to_device_to_numpy_and_placement(cp):
    from imgrestore import backend

    a = _rand((2, 3, 4, 3))
    x = backend.to_device(a, "cuda")
    _on(cp, x, a.shape)
    np.testing.assert_array_equal(x.get(), a)
    assert backend.to_device(x, "cuda") is x and backend.to_device(a, "cpu") is a
    back = backend.to_device(x, "cpu")
    assert isinstance(back, np.ndarray) and np.array_equal(back, a) and not np.shares_memory(back, a)
    assert backend.to_numpy(a) is a and np.array_equal(backend.to_numpy(x), a)
    assert backend.device_of(x) == "cuda" and backend.device_of(a) == "cpu"
    assert backend.array_module(x) is cp and backend.array_module(a) is np
    x1 = _dev(cp, a, device=1)
    with backend.on_device_of(x1):
        assert _current(cp) == 1
        _on(cp, cp.zeros((1,), cp.float32), (1,), device=1)
    assert _current(cp) == 0
    with backend.on_device_of(a):  # numpy: no-op
        assert _current(cp) == 0


@needs_torch
def test_to_torch_is_a_zero_copy_nchw_view(cp):
    from imgrestore import backend

    a = _rand((2, 5, 7, 3))
    x = cp.asarray(a)
    t = backend.to_torch(x)
    assert tuple(t.shape) == (2, 3, 5, 7) and t.dtype == torch.float32
    assert t.data_ptr() == x.data.ptr  # no copy: the tensor reads the array's memory
    torch.testing.assert_close(t, torch.from_numpy(a).permute(0, 3, 1, 2))
    t[1, 2, 3, 4] = 42.0
    assert x.get()[1, 3, 4, 2] == 42.0
    u = backend.to_torch(x, nchw=False)
    assert tuple(u.shape) == (2, 5, 7, 3) and u.data_ptr() == x.data.ptr


@needs_torch
def test_from_torch_cuda_branch_detaches_and_shares_memory(cp):
    """A network output (requires grad) comes back as a CuPy view, as the CPU branch does; torch
    refuses to export a tensor that requires grad, so the CuPy branch must detach too."""
    from imgrestore import backend

    class _CudaLike(torch.Tensor):
        """A CPU tensor that says it is on CUDA: drives ``from_torch``'s CuPy branch into the fake
        (whose ``from_dlpack`` takes host memory as its device memory)."""

        @property
        def is_cuda(self):
            return True

    base = torch.rand(2, 3, 5, 4, requires_grad=True)
    t = (base * 2).as_subclass(_CudaLike)
    assert t.requires_grad and t.is_cuda
    x = backend.from_torch(t)
    _on(cp, x, (2, 5, 4, 3))
    assert x.data.ptr == t.data_ptr()
    np.testing.assert_array_equal(x.get(), t.detach().permute(0, 2, 3, 1).numpy())
    y = backend.from_torch(t.detach(), nhwc_from_nchw=False)
    _on(cp, y, (2, 3, 5, 4))


# --------------------------------------------------------------------------------------------
# awgn and jpeg on CuPy batches
# --------------------------------------------------------------------------------------------


def _awgn_launches(cp) -> list:
    """The fused awgn launches (the fake computes nothing: what each got is what is checked; the
    kernel's values are checked bit for bit against the CPU in test_noise_backends.py)."""
    return [L for L in cp._launches if L.name == "noise_awgn"]


def _sigma01(sigma255: list[float]) -> np.ndarray:
    return np.asarray([s / 255.0 for s in sigma255], np.float32).reshape(-1, 1, 1, 1)


def test_awgn_on_cupy_draws_noise_keyed_by_seed_index_and_stage(cp):
    from imgrestore.chain import Chain

    n, h, w, c = 3, 9, 11, 3
    a, idx, seed = _rand((n, h, w, c)), [4, 9, 2], 7
    chain = Chain.parse("awgn:sigma=0-55")
    pair = chain(cp.asarray(a), seed, idx)
    _on(cp, pair.input, (n, h, w, c))
    _on(cp, pair.side["sigma"], (n, h, w, 1))
    # parameters are host draws: the same on both backends
    cpu = chain(a, seed, idx)
    assert pair.params == cpu.params == [chain.draw(seed, i) for i in idx]
    sig = [p[0]["sigma"] for p in pair.params]
    np.testing.assert_array_equal(pair.side["sigma"].get(), np.broadcast_to(_sigma01(sig), (n, h, w, 1)))
    from imgrestore import rng

    (L,) = _awgn_launches(cp)  # one fused launch: keys of (seed, index, stage), per-image sigma
    np.testing.assert_array_equal(L["keys"].get(), rng.sample_keys(seed, idx, 0))
    np.testing.assert_array_equal(L["sigma"].get(), _sigma01(sig).ravel())
    np.testing.assert_array_equal(L["x"].get().reshape(a.shape), a)
    np.testing.assert_array_equal(pair.target.get(), a)


def test_awgn_on_cupy_is_the_same_whatever_the_batch(cp):
    """Each sample's noise key depends on (seed, index, stage) only, whatever the batch."""
    from imgrestore import rng
    from imgrestore.chain import Chain

    a = _rand((5, 8, 6, 1), seed=3)
    chain = Chain.parse("awgn:sigma=5-50 | awgn:sigma=10")

    def keys(rows, seed=11):
        cp._launches.clear()
        chain(cp.asarray(a[rows]), seed, rows)
        return [L["keys"].get() for L in _awgn_launches(cp)]  # one launch per stage

    whole = keys([0, 1, 2, 3, 4])
    assert [k.tolist() for k in whole] == [rng.sample_keys(11, range(5), st).tolist() for st in (0, 1)]
    for rows in ([3], [4, 1], [2, 0, 3]):
        assert [k.tolist() for k in keys(rows)] == [k[rows].tolist() for k in whole]
    # the two stages draw different fields; another seed draws others again
    other = keys([0, 1, 2, 3, 4], seed=12)
    assert not (whole[0] == whole[1]).all(axis=1).any() and not (whole[0] == other[0]).all(axis=1).any()


def test_awgn_clip_on_cupy(cp):
    from imgrestore.chain import Chain

    Chain.parse("awgn:sigma=200,clip=true")(cp.asarray(_rand((2, 6, 6, 3))), 0, [0, 1])
    Chain.parse("awgn:sigma=200")(cp.asarray(_rand((2, 6, 6, 3))), 0, [0, 1])
    assert [L["clip"] for L in _awgn_launches(cp)] == [1, 0]


@pytest.mark.parametrize("c", [3, 1])
def test_jpeg_on_cupy_is_bit_identical_to_the_cpu(cp, c):
    from imgrestore.chain import Chain

    a = _rand((3, 16, 24, c), seed=c)
    chain = Chain.parse("jpeg:quality=20-95,subsampling=420,444")
    gpu, cpu = chain(cp.asarray(a), 5, [7, 1, 30]), chain(a, 5, [7, 1, 30])
    _on(cp, gpu.input, a.shape)
    np.testing.assert_array_equal(gpu.input.get(), cpu.input)
    assert gpu.params == cpu.params


# --------------------------------------------------------------------------------------------
# a chain of every built-in degradation on a CuPy batch
# --------------------------------------------------------------------------------------------

MIXED = "moire:jpeg=true | bicubic:scale=2 | awgn:sigma=0-55 | jpeg:quality=30-95 | cbdnet:jpeg=true"


@pytest.mark.parametrize("device", [0, 1])
def test_mixed_chain_on_cupy_stays_on_the_batch_device(cp, device):
    """Every stage's output, side map and kernel launch on the batch's GPU, also when that is not
    the current one (stages that make arrays, like awgn's noise or jpeg's result, make them
    beside the batch)."""
    from imgrestore.chain import Chain

    chain = Chain.parse(MIXED)
    out_hw = (12, 10)
    src = chain.source_size(out_hw)
    n, idx, seed = 2, [3, 8], 4
    x = _dev(cp, _rand((n, *src, 3)), device=device)
    pair = chain(x, seed, idx)
    assert _current(cp) == 0
    launch._all_ok(cp)
    assert {L.device for L in cp._launches} == {device}
    hw = chain.output_size(src)
    assert hw == (6, 5)
    _on(cp, pair.input, (n, *hw, 3), device)
    _on(cp, pair.target, (n, *out_hw, 3), device)
    assert set(pair.side) == {"sigma"}
    _on(cp, pair.side["sigma"], (n, *hw, 3), device)
    assert [[p["name"] for p in r] for r in pair.params] == [["moire", "bicubic", "awgn", "jpeg", "cbdnet"]] * n
    assert pair.params == [chain.draw(seed, i) for i in idx]
    names = set(launch._names(cp))
    assert {"moire_decode", "moire_capture", "resize_h_f32", "resize_w_f32"} <= names


def test_awgn_jpeg_chain_on_a_non_current_gpu_equals_gpu_0(cp):
    from imgrestore.chain import Chain

    a = _rand((2, 10, 12, 3), seed=9)
    chain = Chain.parse("awgn:sigma=0-55 | jpeg:quality=30-95")
    on0 = chain(_dev(cp, a), 1, [5, 6])
    on1 = chain(_dev(cp, a, device=1), 1, [5, 6])
    _on(cp, on1.input, a.shape, device=1)
    _on(cp, on1.side["sigma"], (2, 10, 12, 1), device=1)
    np.testing.assert_array_equal(on1.input.get(), on0.input.get())


# --------------------------------------------------------------------------------------------
# imgrestore synth --device cuda
# --------------------------------------------------------------------------------------------


@pytest.fixture
def src(tmp_path):
    from imgrestore.io import write_image

    d = tmp_path / "src"
    rng = np.random.default_rng(0)
    for k in range(2):
        write_image(d / f"img{k}.png", rng.random((40, 44, 3), dtype=np.float32))
    write_image(d / "gray.png", rng.random((36, 36), dtype=np.float32))
    return d


def _synth(cli, spec, out: Path, device: str, *extra: str, src: Path | None = None, count: int = 6,
           patch: int = 16):
    args = ["synth", spec, "--out", str(out), "--count", str(count), "--patch", str(patch), "--seed", "2",
            "--device", device, "--workers", "1", *extra]
    if src is not None:
        args += ["--input", str(src)]
    code, _, err = cli(*args)
    assert code == 0, err
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def _pngs(out: Path, folder: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / folder).glob("*.png"))}


def test_synth_cuda_jpeg_equals_the_cpu_run(cp, cli, src, tmp_path):
    spec = "jpeg:quality=30-95"
    g = _synth(cli, spec, tmp_path / "gpu", "cuda", "--batch", "4", src=src)
    c = _synth(cli, spec, tmp_path / "cpu", "cpu", "--batch", "4", src=src)
    assert g == c and len(g) == 6
    for folder in ("input", "target"):
        assert _pngs(tmp_path / "gpu", folder) == _pngs(tmp_path / "cpu", folder)


def test_synth_cuda_awgn_is_the_same_whatever_the_batch(cp, cli, src, tmp_path):
    spec = "awgn:sigma=0-55 | jpeg:quality=30-95"
    a = _synth(cli, spec, tmp_path / "b1", "cuda", "--batch", "1", "--save-side", src=src)
    b = _synth(cli, spec, tmp_path / "b4", "cuda", "--batch", "4", "--save-side", src=src)
    c = _synth(cli, spec, tmp_path / "cpu", "cpu", "--batch", "4", src=src)
    assert a == b
    assert [e["params"] for e in a] == [e["params"] for e in c]  # same draws (noise: test_noise_backends.py)
    assert [(e["source"], e["crop"]) for e in a] == [(e["source"], e["crop"]) for e in c]
    for folder in ("input", "target"):
        assert _pngs(tmp_path / "b1", folder) == _pngs(tmp_path / "b4", folder)
    assert _pngs(tmp_path / "b1", "target") == _pngs(tmp_path / "cpu", "target")
    s = np.load(tmp_path / "b1" / a[0]["side"]["sigma"])
    assert s.shape == (16, 16, 1) and np.allclose(s, a[0]["params"][0]["sigma"] / 255.0)


def test_synth_refuses_to_resume_a_cpu_folder_on_the_gpu(cp, cli, src, tmp_path):
    """bicubic agrees across backends to ~1 ulp, not bit for bit: one folder, one backend."""
    _synth(cli, "awgn:sigma=25 | bicubic:scale=2", tmp_path / "o", "cpu", "--count", "2", src=src)
    code, _, err = cli("synth", "awgn:sigma=25 | bicubic:scale=2", "--out", str(tmp_path / "o"), "--count", "6",
                       "--patch", "16", "--seed", "2", "--device", "cuda", "--input", str(src))
    assert code == 2 and "device: 'cpu', now 'cuda'" in err, err


def test_synth_resumes_an_awgn_folder_on_either_backend(cp, cli, src, tmp_path):
    """awgn gives the same bits on CPU and GPU (Philox): a folder may be continued on the other."""
    _synth(cli, "awgn:sigma=25", tmp_path / "o", "cpu", "--count", "2", src=src)
    code, _, err = cli("synth", "awgn:sigma=25", "--out", str(tmp_path / "o"), "--count", "4", "--patch", "16",
                       "--seed", "2", "--device", "cuda", "--input", str(src))
    assert code == 0, err
    assert json.loads((tmp_path / "o" / ".synth" / "run.json").read_text())["device"] == "any"


@pytest.mark.parametrize("spec,in_side", [("bicubic:scale=2 | cbdnet:jpeg=true", 8),
                                          ("cbdnet:jpeg=false | awgn:sigma=5", 16)])
def test_synth_cuda_kernel_chains_run(cp, cli, src, tmp_path, spec, in_side):
    from imgrestore.io import read_image

    g = _synth(cli, spec, tmp_path / "gpu", "cuda", "--batch", "4", "--save-side", src=src)
    launch._all_ok(cp)
    e = g[0]
    assert read_image(tmp_path / "gpu" / e["input"]).shape == (in_side, in_side, 3)
    assert read_image(tmp_path / "gpu" / e["target"]).shape == (16, 16, 3)
    assert np.load(tmp_path / "gpu" / e["side"]["sigma"]).shape[:2] == (in_side, in_side)
    # sources, crops and parameters are drawn on the host: the CPU would write the same targets
    from imgrestore.chain import Chain

    chain = Chain.parse(spec)
    assert [x["params"] for x in g] == [chain.draw(2, x["index"]) for x in g]


def test_synth_cuda_moire_on_rendered_screens(cp, cli, tmp_path):
    g = _synth(cli, "moire:jpeg=true", tmp_path / "gpu", "cuda", "--batch", "2", count=2, patch=16)
    launch._all_ok(cp)
    assert [e["source"].split(":")[0] for e in g] == ["screen-v1"] * 2
    assert {"moire_decode", "moire_capture", "moire_develop"} <= set(launch._names(cp))


# --------------------------------------------------------------------------------------------
# training: SynthStream(gpu=True) handed to torch
# --------------------------------------------------------------------------------------------


@needs_torch
def test_synth_stream_gpu_is_synth_pair_i_and_goes_to_torch_without_a_host_copy(cp, cli, src, tmp_path):
    from imgrestore import backend
    from imgrestore.chain import Chain
    from imgrestore.io import read_image
    from imgrestore.train import data as D
    from imgrestore.train.loop import to_nchw
    from imgrestore.train.losses import side_to_nchw

    spec = "awgn:sigma=0-55 | jpeg:quality=30-95"  # JPEG last: values on the 8-bit grid, PNG exact
    entries = _synth(cli, spec, tmp_path / "pairs", "cuda", "--batch", "3", src=src)
    chain = Chain.parse(spec)
    sources = D.load_sources(src, (16, 16), "--clean")
    stream = D.SynthStream(sources, chain, 16, 3, 2, gpu=True)
    ds = D.IterationDataset(stream, batch=3, start=0, stop=2)
    item = ds[1]  # iteration 1: samples 3, 4, 5
    assert item["iteration"] == 1
    for k in ("input", "target"):
        _on(cp, item[k], (3, 16, 16, 3))
    _on(cp, item["side"]["sigma"], (3, 16, 16, 1))
    u8 = lambda v: np.rint(np.asarray(v, np.float64) * 255).astype(np.uint8)  # noqa: E731
    for j, i in enumerate(range(3, 6)):
        e = entries[i]
        for k in ("input", "target"):
            np.testing.assert_array_equal(u8(item[k].get()[j]), u8(read_image(tmp_path / "pairs" / e[k])))
            assert np.abs(item[k].get()[j] - read_image(tmp_path / "pairs" / e[k])).max() < 1e-6
    # the GPU stream is the CPU stream where the maths is the same (crops; JPEG of the same pixels)
    cpu = D.SynthStream(sources, chain, 16, 3, 2).batch([3, 4, 5])
    np.testing.assert_array_equal(item["target"].get(), cpu.target)
    # to torch: NCHW float32, the side maps as zero-copy views of the CuPy arrays
    x = to_nchw(item["input"], "cpu")
    assert tuple(x.shape) == (3, 3, 16, 16) and x.dtype == torch.float32 and x.is_contiguous()
    torch.testing.assert_close(x, torch.from_numpy(item["input"].get()).permute(0, 3, 1, 2), rtol=0, atol=0)
    side = side_to_nchw(item["side"])
    assert tuple(side["sigma"].shape) == (3, 1, 16, 16)
    assert side["sigma"].data_ptr() == item["side"]["sigma"].data.ptr
    assert backend.to_torch(item["target"]).data_ptr() == item["target"].data.ptr


@needs_torch
def test_synth_stream_gpu_with_kernel_stages(cp, src):
    from imgrestore.chain import Chain
    from imgrestore.train import data as D
    from imgrestore.train.loop import to_nchw

    chain = Chain.parse("cbdnet:jpeg=false | bicubic:scale=2")
    stream = D.SynthStream(D.load_sources(src, (16, 16), "--clean"), chain, 16, 3, 0, gpu=True)
    b = stream.batch([0, 1])
    launch._all_ok(cp)
    _on(cp, b.input, (2, 8, 8, 3))
    _on(cp, b.target, (2, 16, 16, 3))
    _on(cp, b.side["sigma"], (2, 8, 8, 3))
    assert tuple(to_nchw(b.input, "cpu").shape) == (2, 3, 8, 8)
