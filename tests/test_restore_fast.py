"""Inference at the limit, checked on a CPU: one window shape per image, the CUDA-graph
bookkeeping (static buffers, copy-out before the next replay, one capture per shape) with a fake
graph, torch.compile equal to eager, bench net's FLOP count and timing, and the option errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from imgrestore.registry import get_registry
from imgrestore.restore import Restorer, check_cuda_graphs, tile_grid
from imgrestore.tilegraphs import Captured, GraphRunner
from test_restore import TILE_CASES, _checkpoint, _img, _randomized  # noqa: E402  (pytest puts tests/ on sys.path: rootdir, prepend import mode)


class FakeGraphs:
    """Stands in for CUDA graph capture: records what was captured and replays fn(static_in) into
    the one static output, overwriting it as a real replay does."""

    def __init__(self):
        self.captured_shapes, self.replays, self.inputs_seen = [], 0, set()

    def __call__(self, fn, static_in):
        def traced(t):
            self.inputs_seen.add(t.data_ptr())
            return fn(t)

        static_out = traced(static_in)  # capture allocates the output once
        self.captured_shapes.append(tuple(static_in.shape))

        def replay():
            static_out.copy_(traced(static_in))
            self.replays += 1

        return Captured(static_in, static_out, replay)


def _with_fake_graphs(r: Restorer, max_graphs: int = 4) -> FakeGraphs:
    fake = FakeGraphs()
    r.uniform = True
    r.graphs = GraphRunner(r._run, r.device, r.dtype, capture=fake, max_graphs=max_graphs)
    return fake


@pytest.mark.parametrize("h, w, tile, overlap, m", [(100, 64, 30, 7, 4), (50, 70, 16, 8, 1), (9, 200, 16, 5, 1),
                                                    (37, 37, 36, 0, 1), (64, 64, 16, 30, 2)])
def test_uniform_windows_are_one_shape_and_cover_the_image(h, w, tile, overlap, m):
    tiles = tile_grid(h, w, tile, overlap, multiple=m, uniform=True)
    t_m = max(m, tile - tile % m)
    o_m = -(-overlap // m) * m
    span = t_m + 2 * o_m
    assert {(t.window[1] - t.window[0], t.window[3] - t.window[2]) for t in tiles} == {(min(span, h), min(span, w))}
    cover = np.zeros((h, w), int)
    for t, plain in zip(tiles, tile_grid(h, w, tile, overlap, multiple=m)):
        y0, y1, x0, x1 = t.core
        wy0, wy1, wx0, wx1 = t.window
        assert t.core == plain.core
        assert 0 <= wy0 <= y0 < y1 <= wy1 <= h and 0 <= wx0 <= x0 < x1 <= wx1 <= w
        # at least the plain window's context: the shifted window contains it
        assert wy0 <= plain.window[0] and plain.window[1] <= wy1 and wx0 <= plain.window[2] and plain.window[3] <= wx1
        assert all(v % m == 0 for v in t.window)
        cover[y0:y1, x0:x1] += 1
    assert (cover == 1).all()


@pytest.mark.parametrize("name, config, shape, tile, overlap", TILE_CASES)
def test_graph_path_tiles_equal_untiled_with_one_capture(name, config, shape, tile, overlap):
    spec = get_registry().networks[name]
    torch.manual_seed(0)
    model = _randomized(spec.build(**config))
    img = _img(*shape)
    whole = Restorer(model, spec, tile=None)(img)
    r = Restorer(model, spec, tile=tile, overlap=overlap)
    fake = _with_fake_graphs(r)
    n = len(r.tiles(*shape[:2]))
    assert n > 4
    out = r(img)
    np.testing.assert_allclose(out, whole, atol=1e-4, rtol=0)
    assert len(fake.captured_shapes) == 1 and fake.replays == n  # one graph serves every tile
    assert len(fake.inputs_seen) == 1  # the network only ever read the one static input buffer
    r(_img(*shape, seed=5))  # a second image of the same size: no new capture
    assert len(fake.captured_shapes) == 1 and fake.replays == 2 * n


def test_graph_path_with_ensemble_and_small_images():
    spec = get_registry().networks["dncnn-s"]
    torch.manual_seed(1)
    model = _randomized(spec.build(depth=4))
    img = _img(40, 18, 1, seed=3)  # narrower than a window: that axis is the whole image
    # pad=0: no reflection margin, so the image sizes below are the window sizes (test_borders.py pads)
    ref = Restorer(model, spec, tile=None, ensemble=True, pad=0)(img)
    r = Restorer(model, spec, tile=8, overlap=6, ensemble=True, pad=0)
    fake = _with_fake_graphs(r)
    np.testing.assert_allclose(r(img), ref, atol=1e-4)
    assert fake.captured_shapes == [(1, 1, 20, 18)]
    r(_img(12, 10, 1))  # smaller than a window both ways: one more shape
    assert fake.captured_shapes[-1] == (1, 1, 12, 10)


def test_runner_copies_outputs_out_and_evicts_old_shapes():
    fake = FakeGraphs()
    runner = GraphRunner(lambda t: t * 2 + 1, "cpu", torch.float32, capture=fake, max_graphs=2)
    a, b = torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4)
    ya = runner(a)
    static_out = runner.graphs[runner.key(a)].static_out
    yb = runner(b)
    torch.testing.assert_close(ya, a * 2 + 1)  # not overwritten by the second replay
    torch.testing.assert_close(yb, b * 2 + 1)
    assert ya.data_ptr() != static_out.data_ptr() and yb.data_ptr() != static_out.data_ptr()
    runner(torch.rand(1, 1, 4, 6, dtype=torch.float64))  # cast into the float32 static buffer
    runner(torch.rand(1, 1, 6, 4))
    assert runner.captures == 3 and len(runner.graphs) == 2  # oldest shape evicted
    runner(a)
    assert runner.captures == 4
    runner.reset()
    assert not runner.graphs


def test_failed_capture_falls_back_to_eager_with_a_warning():
    spec = get_registry().networks["dncnn-s"]
    model = _randomized(spec.build(depth=3))
    img = _img(20, 20, 1)
    ref = Restorer(model, spec, tile=8, overlap=4)(img)
    r = Restorer(model, spec, tile=8, overlap=4)

    def broken(fn, static_in):
        raise RuntimeError("operation not permitted when stream is capturing\nmore")

    r.uniform, r.graphs = True, GraphRunner(r._run, "cpu", r.dtype, capture=broken)
    with pytest.warns(UserWarning, match="--cuda-graphs: capturing dncnn-s failed .operation not permitted"):
        out = r(img)
    assert r.graphs is None
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_cuda_graphs_default_and_cpu_error():
    from imgrestore.errors import UserError

    assert check_cuda_graphs(None, "cuda") is True and check_cuda_graphs(None, "cpu") is False
    assert check_cuda_graphs(False, "cuda") is False
    with pytest.raises(UserError, match="--cuda-graphs: CUDA graphs need a CUDA GPU, this run is on cpu"):
        check_cuda_graphs(True, "cpu")
    spec = get_registry().networks["dncnn-s"]
    assert Restorer(spec.build(depth=3), spec).graphs is None


def _compile_works() -> str | None:
    from imgrestore.torch_compile import compile_probe

    return compile_probe("cpu")


def test_compile_equals_eager():
    why = _compile_works()
    if why is not None:
        pytest.skip(f"torch cannot compile here: {why}")
    spec = get_registry().networks["dncnn-s"]
    torch.manual_seed(2)
    model = _randomized(spec.build(depth=4))
    img = _img(40, 52, 1, seed=4)
    ref = Restorer(model, spec, tile=None)(img)
    r = Restorer(model, spec, tile=16, overlap=8, compile=True)
    assert r.uniform and len({(t.window[1] - t.window[0], t.window[3] - t.window[2]) for t in r.tiles(40, 52)}) == 1
    np.testing.assert_allclose(r(img), ref, atol=1e-5, rtol=0)


def test_compile_unavailable_is_a_one_line_error_before_any_work(tmp_path, cli, monkeypatch):
    from imgrestore import torch_compile

    def no_compiler(*a, **k):
        raise RuntimeError("Compiler: cc is not found.\ndetails")

    torch_compile.compile_probe.cache_clear()
    monkeypatch.setattr(torch, "compile", no_compiler)
    try:
        missing = str(tmp_path / "missing.safetensors")  # never read: the probe comes first
        for args in (("restore", str(tmp_path / "nope.png"), "--weights", missing, "--out", str(tmp_path / "o")),
                     ("eval", "--weights", missing, "--clean", str(tmp_path), "--degrade", "awgn:sigma=25"),
                     ("bench", "net", "dncnn-s", "--sizes", "16")):
            code, out, err = cli(*args, "--compile", "--device", "cpu")
            assert code == 2, err
            assert err.count("\n") == 1 and "--compile: torch" in err and "cannot compile on cpu here" in err
            assert "RuntimeError: Compiler: cc is not found." in err and "Traceback" not in err
        assert not (tmp_path / "o").exists()
    finally:
        monkeypatch.undo()
        torch_compile.compile_probe.cache_clear()


def test_cuda_graphs_on_cpu_and_bad_bench_options_are_one_line_errors(tmp_path, cli, monkeypatch):
    ckpt = _checkpoint(tmp_path, depth=3)
    from imgrestore.io import write_image

    write_image(tmp_path / "a.png", _img(8, 8, 1))
    code, _, err = cli("restore", str(tmp_path / "a.png"), "--weights", str(ckpt), "--out", str(tmp_path / "o"),
                       "--cuda-graphs", "--device", "cpu")
    assert code == 2 and "--cuda-graphs: CUDA graphs need a CUDA GPU" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
    code, _, err = cli("bench", "net", "dncnn-s", "--sizes", "16", "--cuda-graphs", "--device", "cpu")
    assert code == 2 and "--cuda-graphs" in err
    monkeypatch.setenv("IMGRESTORE_COMPILE_MODE", "fastest")
    code, _, err = cli("bench", "net", "dncnn-s", "--sizes", "16", "--compile", "--device", "cpu")
    monkeypatch.delenv("IMGRESTORE_COMPILE_MODE")
    assert code == 2 and "$IMGRESTORE_COMPILE_MODE 'fastest': expected one of default" in err
    code, _, err = cli("bench", "net", "dncnn-s", "--sizes", "16,x", "--device", "cpu")
    assert code == 2 and "--sizes '16,x'" in err
    code, _, err = cli("bench", "net", "dncnn-s", "--size", "4", "--device", "cpu")
    assert code == 2 and "--sizes 4" in err
    code, _, err = cli("bench", "net", "dncnn-s", "--sizes", "16", "--batch", "0,auto", "--device", "cpu")
    assert code == 2 and "--batch '0,auto'" in err
    code, _, err = cli("bench", "net", "dncnn-s", "--sizes", "16", "--max-time", "0", "--device", "cpu")
    assert code == 2 and "--max-time 0" in err


def test_flop_counter_counts_conv_transposed_conv_and_linear_by_hand():
    from imgrestore.bench.net import count_flops

    # 2 FLOPs per multiply-add: conv 3->8 3x3 on 16x16 out, transposed conv 8->4 3x3 stride 2 (every
    # input pixel scatters a 3x3x4 patch), linear 4*33*33 -> 10; ReLU and the rest are not counted
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.ConvTranspose2d(8, 4, 3, stride=2), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 33 * 33, 10)).eval()
    total, widest = count_flops(net, torch.rand(1, 3, 16, 16))
    assert total == 2 * (16 * 16 * 8 * 27 + 16 * 16 * 8 * 9 * 4 + 4 * 33 * 33 * 10)
    assert widest == 4 * 33 * 33
    # DnCNN-B (20 layers, 64 features) by hand: 2 * pixels * (9 * 64 + 18 * 9 * 64 * 64 + 9 * 64)
    total, widest = count_flops(get_registry().networks["dncnn-b"].build().eval(), torch.rand(1, 1, 16, 16))
    assert total == 2 * 256 * (9 * 64 * 2 + 18 * 9 * 64 * 64) and widest == 64 * 256


def test_bench_net_rows_json_and_batches(tmp_path, cli):
    save = tmp_path / "res" / "net.json"
    code, out, err = cli("bench", "net", "dncnn-s", "--sizes", "16,24", "--batch", "1,3", "--max-time", "0.2",
                         "--repeats", "2", "--device", "cpu", "--precision", "bf16", "--save", str(save))
    assert code == 0, err
    assert "eager (plain PyTorch)" in out and "imgrestore" in out and "of peak" in out
    res = json.loads(save.read_text())
    assert [(r["size"], r["batch"]) for r in res["rows"]] == [(16, 1), (16, 1), (16, 3), (16, 3), (24, 1), (24, 1),
                                                                (24, 3), (24, 3)]
    assert set(res["peak_flops"]) == {"fp32", "bf16"} and res["rows"][1]["precision"] == "bf16"
    for r in res["rows"]:
        assert r["blocks"] >= 2 and r["median_s"] > 0 and r["flop"] > 0
    assert res["rows"][2]["flop"] == 3 * res["rows"][0]["flop"]
    assert not list(save.parent.glob("*.tmp"))


def test_time_call_blocks_short_calls():
    from imgrestore.bench.net import time_call

    t = time_call(lambda: None, min_blocks=5, max_time=0.2)
    assert t["blocks"] >= 5 and t["calls_per_block"] > 1 and 0 < t["median_s"] < 1e-3


@pytest.mark.gpu
def test_cuda_graphs_equal_eager_on_gpu():
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA GPU")
    spec = get_registry().networks["dncnn-b"]
    torch.manual_seed(0)
    model = _randomized(spec.build())
    img = _img(300, 700, 1)
    plain = Restorer(model, spec, device="cuda", precision="bf16", tile=128, overlap=24, cuda_graphs=False)(img)
    r = Restorer(model, spec, device="cuda", precision="bf16", tile=128, overlap=24)
    assert r.graphs is not None  # on by default on CUDA
    out = r(img)
    assert r.graphs.captures == 1 and len(r.tiles(300, 700)) > 4
    np.testing.assert_allclose(out, plain, atol=2e-2)  # bf16: same kernels, cuDNN may pick others
    assert np.abs(out - plain).mean() < 2e-3
