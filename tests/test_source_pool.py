"""Source pools (imgrestore.sources.pool): sources held whole where the chain runs, one gather per batch.

What is checked: sample i's crop is a function of (seed, i) only, whatever the batch, order or
shard; a pooled screen is a function of (seed, k) only and equals the renderer's full screen; a
pool of the same sources gives the per-crop path's crops (and synth's PNG pairs) bit for bit; the
gather on the fake CuPy equals the numpy gather; the CPU path without a pool is unchanged (no
``pool`` in an old run.json still resumes); pools too large for the memory, sizes <= 0, sources
all smaller than the crop, and a resume with another pool setting are one-line errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from imgrestore.chain import Chain
from imgrestore.errors import UserError
from imgrestore.io import write_image
from imgrestore.sources.pool import LUT8, SourcePool, require_large_enough
from imgrestore.sources.source import ScreenWindow, Source, screen_sources
from imgrestore.synth import SynthConfig, synthesize

SEED = 5
H, W = 72, 96  # small screens keep the tests fast; the pool does not care about the size


def _screens(n: int, seed: int = SEED) -> list[Source]:
    return [Source(f"screen-v1:{k}", (H, W), render=ScreenWindow(seed, k, H, W)) for k in range(n)]


def _photos(tmp_path: Path) -> list[Source]:
    """8-bit colour files of different sizes, an in-memory 8-bit array and a gray one."""
    from imgrestore.io import from_uint
    from imgrestore.sources.source import scan_sources

    rng = np.random.default_rng(1)
    d = tmp_path / "photos"
    for k, (h, w) in enumerate([(40, 52), (33, 47), (64, 30)]):
        write_image(d / f"p{k}.png", rng.random((h, w, 3), dtype=np.float32))
    write_image(d / "g.png", rng.random((36, 36), dtype=np.float32))
    srcs = scan_sources(d, (24, 24), warn=lambda m: None)
    arr = from_uint(rng.integers(0, 256, (30, 41, 3), dtype=np.uint8))
    return srcs + [Source("array", arr.shape[:2], array=arr)]


# -- determinism -----------------------------------------------------------------------------------


def test_sample_i_is_the_same_whatever_the_batch_order_or_shard():
    pool = SourcePool(_screens(4), 3, np, (20, 24))
    idx = list(range(11))
    whole = pool.crops(SEED, idx, (20, 24))
    assert whole.dtype == np.float32 and whole.shape == (11, 20, 24, 3)
    shuffled = [7, 2, 10, 0, 5]
    np.testing.assert_array_equal(pool.crops(SEED, shuffled, (20, 24)), whole[shuffled])
    for i in idx:  # batch of one
        np.testing.assert_array_equal(pool.crops(SEED, [i], (20, 24))[0], whole[i])
    # shard 1 of 3 in another process's pool (a fresh one, filled in another order)
    other = SourcePool(_screens(4), 3, np, (20, 24))
    other.fill([3, 1])
    np.testing.assert_array_equal(other.crops(SEED, idx[1::3], (20, 24)), whole[1::3])


def test_a_pooled_screen_depends_on_seed_and_k_only_and_is_the_full_render():
    from imgrestore.sources.screens import render_screen

    small, big = SourcePool(_screens(2), 3, np), SourcePool(_screens(5), 3, np)
    small.fill(), big.fill()
    assert small.dtype == np.uint8 and small.nbytes == 2 * H * W * 3
    for k in range(2):
        a = small.buf[k * H * W:(k + 1) * H * W]
        np.testing.assert_array_equal(a, big.buf[k * H * W:(k + 1) * H * W])
        np.testing.assert_array_equal(LUT8[a].reshape(H, W, 3), render_screen(SEED, k, H, W))
    other = SourcePool(_screens(2, seed=SEED + 1), 3, np)
    other.fill()
    assert not np.array_equal(other.buf, small.buf)


def test_pool_crop_is_the_per_crop_path_crop_bit_for_bit(tmp_path):
    from imgrestore.sources.screens import render_screen
    from imgrestore.train.data import CropSource

    hw = (20, 24)
    for sources in (_screens(3), _photos(tmp_path)):
        pool = SourcePool(sources, 3, np, hw)
        ref = CropSource(sources, 3, hw)
        idx = list(range(9))
        crops, metas, kept = pool.gather(SEED, idx, hw)
        assert kept == idx
        np.testing.assert_array_equal(crops, ref.crops(SEED, idx))
        if sources[0].render is not None:  # the crop is the window of the whole screen the manifest names
            for j in range(3):
                y, x, h, w = metas[j]["crop"]
                k = int(metas[j]["source"].split(":")[1])
                np.testing.assert_array_equal(crops[j], render_screen(SEED, k, H, W)[y:y + h, x:x + w])


def test_photos_pool_is_uint8_for_8bit_files_and_float32_otherwise(tmp_path):
    from imgrestore.train.data import CropSource

    gray_screens = SourcePool(_screens(3), 1, np, (20, 24))  # gray from colour screens: float32, same crops
    assert gray_screens.dtype == np.float32
    np.testing.assert_array_equal(gray_screens.crops(SEED, range(8), (20, 24)),
                                  CropSource(_screens(3), 1, (20, 24)).crops(SEED, range(8)))

    photos = _photos(tmp_path)
    assert SourcePool(photos, 3, np, (24, 24)).dtype == np.uint8
    # gray from colour (a weighted sum) is not 8-bit: the pool keeps float32, still exact
    gray = SourcePool(photos, 1, np, (24, 24))
    assert gray.dtype == np.float32
    np.testing.assert_array_equal(gray.crops(3, range(6), (24, 24)), CropSource(photos, 1, (24, 24)).crops(3, range(6)))
    # a 16-bit file
    d = tmp_path / "p16"
    write_image(d / "deep.png", np.random.default_rng(2).random((30, 30, 3), dtype=np.float32), bits=16)
    from imgrestore.sources.source import scan_sources

    deep = scan_sources(d, (16, 16), warn=lambda m: None)
    p = SourcePool(deep, 3, np, (16, 16))
    assert p.dtype == np.float32
    np.testing.assert_array_equal(p.crops(0, [0, 1], (16, 16)), CropSource(deep, 3, (16, 16)).crops(0, [0, 1]))


# -- the device gather (fake CuPy) -----------------------------------------------------------------


@pytest.fixture
def fake_cp(monkeypatch):
    fake_cupy = pytest.importorskip("fake_cupy")
    from imgrestore import backend

    cp = fake_cupy.new_cupy({}, device_count=1)
    fake_cupy.install(monkeypatch, cp)
    fake_cupy.forget_launchers(monkeypatch, reprobe=True)  # CUDA launchers re-import against this fake
    yield cp
    backend.gpu_status.cache_clear()


def test_device_gather_on_the_fake_cupy_equals_the_cpu_gather(fake_cp, tmp_path):
    hw = (20, 24)
    for sources in (_screens(3), _photos(tmp_path)):
        dev, host = SourcePool(sources, 3, fake_cp, hw), SourcePool(sources, 3, np, hw)
        assert isinstance(dev.buf, fake_cp.ndarray)
        crops, metas, kept = dev.gather(SEED, [4, 0, 9, 2], hw)
        assert isinstance(crops, fake_cp.ndarray) and crops.dtype == np.float32
        ref, ref_metas, _ = host.gather(SEED, [4, 0, 9, 2], hw)
        np.testing.assert_array_equal(crops.get(), ref)
        assert metas == ref_metas and kept == [4, 0, 9, 2]


def test_synth_stream_gpu_pool_equals_the_cpu_stream(fake_cp, tmp_path):
    from imgrestore.train import data as D

    chain = Chain.parse("jpeg:quality=40-90")  # host JPEG on both: comparable bit for bit
    sources = _photos(tmp_path)
    gpu = D.SynthStream(sources, chain, 16, 3, SEED, gpu=True, pool=True)
    assert gpu.pool is not None and isinstance(gpu.pool.buf, fake_cp.ndarray)
    cpu = D.SynthStream(sources, chain, 16, 3, SEED)
    a, b = gpu.batch([3, 1, 8]), cpu.batch([3, 1, 8])
    assert isinstance(a.target, fake_cp.ndarray)
    np.testing.assert_array_equal(a.target.get(), b.target)  # the clean crops


def test_synth_cuda_holds_256_screens_and_draws_like_a_cpu_run_with_that_pool(fake_cp, cli, tmp_path):
    args = ["synth", "moire:jpeg=false", "--count", "3", "--patch", "16", "--seed", "4", "--batch", "2",
            "--workers", "1"]
    code, _, err = cli(*args, "--out", str(tmp_path / "gpu"), "--device", "cuda")
    assert code == 0, err
    code, _, err = cli(*args, "--out", str(tmp_path / "cpu"), "--device", "cpu", "--pool", "256")
    assert code == 0, err
    g, c = (_pairs(tmp_path / d)[0] for d in ("gpu", "cpu"))
    assert json.loads((tmp_path / "gpu" / ".synth" / "run.json").read_text())["pool"] == 256
    assert [(e["source"], e["crop"], e["params"]) for e in g] == [(e["source"], e["crop"], e["params"]) for e in c]
    assert all(int(e["source"].split(":")[1]) < 256 for e in g)


def test_a_pool_larger_than_the_gpu_is_one_line(fake_cp):
    fake_cp._mem_free = 10 * H * W * 3 - 1
    SourcePool(_screens(9), 3, fake_cp)  # 9 screens fit
    with pytest.raises(UserError) as e:
        SourcePool(_screens(10), 3, fake_cp)
    msg = str(e.value)
    assert "\n" not in msg and "--pool" in msg and "GPU 0" in msg and "needs 0.2 MiB" in msg and "free" in msg


# -- synth: the pool path, the unchanged CPU path, resume --------------------------------------------


def _synth(out: Path, sources, pool=None, count=8, batch=3, shard=(0, 1), spec="awgn:sigma=5-30", patch=16):
    cfg = SynthConfig(Chain.parse(spec), out, patch=patch, count=count, seed=SEED, pool=pool, batch=batch,
                      workers=1, shard=shard)
    return synthesize(cfg, sources, warn=lambda m: None)


def _pairs(out: Path) -> tuple[list[dict], dict[str, bytes]]:
    man = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    return man, {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))}


def test_synth_pool_equals_windows_of_the_same_screens_whatever_batch_and_shard(tmp_path):
    win = _pairs(_synth(tmp_path / "win", _screens(3)).manifest.parent)
    pooled = _synth(tmp_path / "pool", _screens(3), pool=3, batch=5)
    assert _pairs(pooled.manifest.parent) == win
    for i in range(2):
        _synth(tmp_path / "sh", _screens(3), pool=3, shard=(i, 2), batch=2)
    assert _pairs(tmp_path / "sh") == win
    run = json.loads((tmp_path / "pool" / ".synth" / "run.json").read_text())
    assert run["pool"] == 3 and json.loads((tmp_path / "win" / ".synth" / "run.json").read_text())["pool"] is None


def test_a_pool_of_n_uses_screens_below_n(tmp_path):
    res = _synth(tmp_path / "o", _screens(6), pool=2, count=10)
    man, _ = _pairs(res.manifest.parent)
    assert {e["source"] for e in man} == {"screen-v1:0", "screen-v1:1"}


def test_cpu_run_without_pool_resumes_from_an_old_run_json(tmp_path):
    """Folders written before pools existed have no "pool" key: the per-crop path still resumes them."""
    out = tmp_path / "o"
    _synth(out, _screens(3), count=4)
    run = out / ".synth" / "run.json"
    old = json.loads(run.read_text())
    del old["pool"]
    run.write_text(json.dumps(old))
    res = _synth(out, _screens(3), count=8)
    assert res.resumed == 4 and res.written == 4


def test_resume_refuses_a_changed_pool(tmp_path):
    out = tmp_path / "o"
    _synth(out, _screens(3), pool=2, count=4)
    for pool, said in ((3, "pool: 2, now 3"), (None, "pool: 2, now None")):
        with pytest.raises(UserError, match=said):
            _synth(out, _screens(3), pool=pool, count=8)


def test_synth_cli_pool_errors(cli, tmp_path):
    src = tmp_path / "src"
    write_image(src / "a.png", np.zeros((40, 40, 3), np.float32))
    base = ["synth", "awgn:sigma=5", "--out", str(tmp_path / "o"), "--count", "2", "--patch", "16", "--device", "cpu"]
    for extra, said in ((["--pool", "0"], "--pool 0: expected a positive number"),
                        (["--pool", "-3"], "--pool -3: expected a positive number"),
                        (["--pool", "4", "--input", str(src)], "--pool 4: sets how many rendered screens")):
        code, _, err = cli(*base, *extra)
        assert code == 2 and said in err and len(err.strip().splitlines()) == 1, err


def test_a_host_pool_larger_than_the_ram_is_one_line(cli, tmp_path):
    from imgrestore.sources.pool import available_bytes

    n = 2 * available_bytes(np)[1] // (1080 * 1920 * 3)  # twice the host's RAM: never free
    code, _, err = cli("synth", "moire", "--out", str(tmp_path / "o"), "--count", "2", "--patch", "16",
                       "--device", "cpu", "--pool", str(n))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"--pool: a pool of {n} rendered screens (uint8) needs" in err and "of host RAM" in err and "free" in err
    assert not (tmp_path / "o").exists()  # refused before anything was written


# -- sources too small for the crop ----------------------------------------------------------------


def test_sources_all_too_small_are_one_line_errors(tmp_path):
    from imgrestore.train.data import CropSource, SynthStream

    small = [Source("a", (20, 30), array=np.zeros((20, 30, 3), np.float32)),
             Source("b", (28, 25), array=np.zeros((28, 25, 3), np.float32))]
    with pytest.raises(UserError, match=r"every source is smaller than the 32x32 crop needed \(largest: b, 28x25\)"):
        require_large_enough(small, (32, 32), "sources")
    # what used to be `ValueError: high <= 0` in synth's gather
    with pytest.raises(UserError, match="smaller than the 32x32 crop needed"):
        _synth(tmp_path / "o", small, patch=32)
    with pytest.raises(UserError, match="smaller than the 32x32 crop needed"):
        CropSource(small, 3, (32, 32))
    with pytest.raises(UserError, match="smaller than the 32x32 crop needed"):
        SynthStream(small, Chain.parse("awgn:sigma=5"), 32, 3, 0, pool=True)
    assert not (tmp_path / "o" / "input").exists()


def test_one_too_small_source_among_good_ones_is_a_one_line_error_when_drawn():
    from imgrestore.train.data import CropSource

    mixed = [Source("big", (64, 64), array=np.zeros((64, 64, 3), np.float32)),
             Source("tiny", (8, 8), array=np.zeros((8, 8, 3), np.float32))]
    with pytest.raises(UserError, match="source tiny: 8x8 is smaller than the 16x16 crop needed"):
        CropSource(mixed, 3, (16, 16)).crops(0, range(4))
    with pytest.raises(UserError, match="source tiny: 8x8 is smaller than the 16x16 crop needed"):
        SourcePool(mixed, 3, np, (16, 16)).crops(0, range(4), (16, 16))


def test_builtin_samples_smaller_than_the_moire_window(cli, tmp_path):
    """benchmarks/bench_train.py --degrade moire handed synthesize scikit-image's samples (<= 512 px)."""
    pytest.importorskip("skimage")
    from imgrestore.sources.source import builtin_sources

    chain = Chain.parse("moire")
    need = chain.source_size((512, 512))
    with pytest.raises(UserError) as e:
        synthesize(SynthConfig(chain, tmp_path / "o", patch=512, count=2), builtin_sources())
    assert f"smaller than the {need[0]}x{need[1]} crop needed (largest: skimage:" in str(e.value)
    code, _, err = cli("synth", "awgn:sigma=5", "--out", str(tmp_path / "p"), "--patch", "4096", "--count", "1")
    assert code == 2 and "every source is smaller than the 4096x4096 crop needed (largest: skimage:" in err, err
    from imgrestore.train.data import load_sources

    with pytest.raises(UserError, match=r"--clean \(default: scikit-image's samples\): every source is smaller"):
        load_sources(None, (4096, 4096), "--clean")


def test_input_folder_all_too_small_names_the_largest(cli, tmp_path):
    src = tmp_path / "src"
    write_image(src / "a.png", np.zeros((20, 30, 3), np.float32))
    write_image(src / "b.png", np.zeros((26, 26, 3), np.float32))
    code, _, err = cli("synth", "awgn:sigma=5", "--input", str(src), "--out", str(tmp_path / "o"), "--patch", "32")
    assert code == 2 and "smaller than 32x32; largest: b.png, 26x26)" in err, err


def test_fit_pool_option_rules():
    from imgrestore.train.options import FitOptions, screen_pool_size

    o = FitOptions(plugin="dmnet", out=Path("x"))
    assert screen_pool_size(o, "screens", gpu=False) is None  # CPU: windows per crop, as before
    assert screen_pool_size(o, "screens", gpu=True) == 256
    assert screen_pool_size(FitOptions(plugin="dmnet", out=Path("x"), pool=8), "screens", False) == 8
    with pytest.raises(UserError, match="--pool 0: expected a positive"):
        screen_pool_size(FitOptions(plugin="dmnet", out=Path("x"), pool=0), "screens", False)
    with pytest.raises(UserError, match="--pool 8: sets how many rendered screens"):
        screen_pool_size(FitOptions(plugin="dmnet", out=Path("x"), pool=8), "photos", False)


def test_a_screen_pool_goes_to_data_loader_workers_without_its_buffer():
    """Workers get the pool's recipe, not its pixels, and render what they use into their own pool."""
    import pickle

    from imgrestore.train.data import SynthStream

    stream = SynthStream(_screens(3), Chain.parse("awgn:sigma=5"), 16, 3, SEED, pool=True)
    stream.prefill(12)
    blob = pickle.dumps(stream)
    assert len(blob) < stream.pool.nbytes // 2
    worker = pickle.loads(blob)
    assert not worker.pool.filled.any()
    np.testing.assert_array_equal(worker.batch([2, 7]).target, stream.batch([2, 7]).target)
    assert worker.pool.filled.any()


@pytest.mark.gpu
def test_real_cupy_pool_gather_equals_numpy(tmp_path):
    """On a machine with a GPU: the real CuPy gather and uint8 -> float32 product equal numpy's, and the
    default-size screen pool's memory is what docs/sources.md says."""
    import cupy

    hw = (20, 24)
    for sources in (_screens(3), _photos(tmp_path)):
        dev, host = SourcePool(sources, 3, cupy, hw), SourcePool(sources, 3, np, hw)
        idx = list(range(13))
        np.testing.assert_array_equal(cupy.asnumpy(dev.crops(SEED, idx, hw)), host.crops(SEED, idx, hw))
    big = SourcePool(screen_sources(0, (616, 650), 2), 3, cupy, (616, 650))
    assert big.nbytes == 2 * 6_220_800
