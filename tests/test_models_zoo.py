"""Pretrained models by name: the catalog, ``imgrestore models``, ``--model`` in restore/eval,
downloads against a local HTTP server (success, wrong hash, cut-off transfer, server down,
corrupt cache), the ``imgrestore_models`` hook, and packaging a trained DM-Net as fp16."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import re
import socket
import threading
import types
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import shared_path
from imgrestore.errors import UserError
from imgrestore.hookspecs import hookimpl
from imgrestore.io import read_image, write_image
from imgrestore import pretrained
from imgrestore.pretrained import check_entry
from imgrestore.zoo import ModelEntry, Packaged, Remote, catalog
from imgrestore.zoo.download import DownloadError
from imgrestore.zoo.load import load_model

TINY = {"depth": 17, "channels": 1, "features": 4, "bn": False}


# ------------------------------------------------------------------------------------------
# fixtures: an isolated cache, a local HTTP server, an in-test plugin contributing models


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache; the packaged moire file is looked up in a
    temporary folder (so these tests do not depend on whether the real file is shipped)."""
    d = tmp_path / "cache"
    monkeypatch.setenv("IMGRESTORE_CACHE", str(d))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    moire = dataclasses.replace(pretrained.MOIRE, source=Packaged(tmp_path / "packaged" / "moire.safetensors"))
    monkeypatch.setattr(catalog, "BUILTIN", [moire, *pretrained.DNCNN])
    return d


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        srv = self.server
        srv.hits.append(self.path)
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.mode == "truncate":  # promise the whole file, send half, hang up
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.hits, srv.mode = {}, [], "ok"
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _tiny_dncnn_file(tmp_path: Path) -> tuple[bytes, torch.nn.Module]:
    """A real (small) DnCNN checkpoint in the KAIR state-dict format the importer reads."""
    from imgrestore.nets.dncnn import DnCNN

    torch.manual_seed(3)
    net = DnCNN(**TINY).eval()
    sd = {f"model.{k.split('.', 1)[1]}": v for k, v in net.state_dict().items()}  # KAIR's key names
    p = tmp_path / "tiny.pth"
    torch.save(sd, p)
    return p.read_bytes(), net


def _entry(name, url, body, **kw) -> ModelEntry:
    sha = kw.pop("sha256", hashlib.sha256(body).hexdigest())
    return ModelEntry(name=name, network="dncnn-s", task="denoise", color="gray", summary="tiny test DnCNN",
                      config=dict(TINY), source=Remote(url, sha, len(body), format="dncnn"), **kw)


@pytest.fixture
def with_plugin(monkeypatch):
    """Install an in-test plugin (a module object with an ``imgrestore_models`` hook) into a
    fresh registry that the whole process sees."""
    from imgrestore import registry as R

    def install(entries):
        mod = types.ModuleType("zoo_test_plugin")

        @hookimpl
        def imgrestore_models():
            return list(entries)

        mod.imgrestore_models = imgrestore_models
        msgs = []
        reg = R.new_registry(report=msgs.append)
        reg.add(mod, R.PluginInfo("zoo-test", "zoo_test_plugin", "zoo-test-dist", "1.0"))
        monkeypatch.setattr(R, "get_registry", lambda: reg)
        return reg, msgs

    return install


def _no_files(d: Path) -> list[Path]:
    return [p for p in d.rglob("*") if p.is_file()] if d.exists() else []


# ------------------------------------------------------------------------------------------
# the catalog


def test_builtin_entries_are_valid_and_pinned():
    names = [m.name for m in pretrained.BUILTIN]
    assert sorted(names) == sorted(["moire", "dncnn-s-15", "dncnn-s-25", "dncnn-s-50", "dncnn-b", "cdncnn-b", "dncnn-3"])
    for m in pretrained.BUILTIN:
        assert check_entry(m, plugin=False) == m.name
        assert m.summary
        if isinstance(m.source, Remote):
            # a raw URL pinned to a commit, so the bytes behind it cannot change
            assert re.match(r"https://github\.com/cszn/DnCNN/raw/[0-9a-f]{40}/model/", m.source.url)
            assert m.source.format == "dncnn" and 2_000_000 < m.source.size < 3_000_000
    with pytest.raises(TypeError, match="built-in model"):
        check_entry(pretrained.MOIRE)


def test_pinned_hash_matches_the_authors_file_in_shared_data():
    """The SHA-256 and size pinned for dncnn-s-25 are those of the authors' file (copied from
    cszn/DnCNN into ../shared/data by someone else), and it imports as a 17-layer DnCNN-S."""
    f = shared_path("weights", "dncnn", "matconvnet_sigma25.mat")
    entry = catalog.get_model("dncnn-s-25")
    body = f.read_bytes()
    assert hashlib.sha256(body).hexdigest() == entry.source.sha256 and len(body) == entry.source.size


def test_models_lists_every_model_and_shows_a_card(cli):
    code, out, err = cli("models")
    assert code == 0, err
    for name in ("moire", "dncnn-s-15", "dncnn-s-25", "dncnn-s-50", "dncnn-b", "cdncnn-b", "dncnn-3"):
        assert re.search(rf"^{re.escape(name)}\s", out, re.M), name
    assert re.search(r"^moire\s+dmnet\s+demoire, color\s+packaged\s+not packaged in this build$", out, re.M)
    assert re.search(r"^dncnn-s-25\s+dncnn-s\s+denoise, gray\s+github.com/cszn/DnCNN\s+not downloaded$", out, re.M)
    code, out, err = cli("models", "dncnn-b")
    assert code == 0 and out.startswith("# dncnn-b") and "37f76da0b71dd2b2" in out and "GD_Gray_Blind.mat" in out
    code, out, err = cli("models", "--json")
    rows = {r["name"]: r for r in json.loads(out)["models"]}
    assert rows["moire"]["state"] == "not packaged in this build" and rows["cdncnn-b"]["color"] == "color"


# ------------------------------------------------------------------------------------------
# bad input: one line, no traceback, nothing written


def test_unknown_model_lists_the_known_ones(cli, tmp_path):
    img = tmp_path / "a.png"
    write_image(img, np.zeros((8, 8, 1), np.float32))
    code, out, err = cli("restore", str(img), "--model", "dncnn-s-52", "--out", str(tmp_path / "o"), "--device", "cpu")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "--model 'dncnn-s-52': no such model (did you mean 'dncnn-s-50'?); known: cdncnn-b, dncnn-3" in err
    assert not (tmp_path / "o").exists()


def test_weights_and_model_together_or_neither(cli, tmp_path):
    img = tmp_path / "a.png"
    write_image(img, np.zeros((8, 8, 1), np.float32))
    code, _, err = cli("restore", str(img), "--model", "dncnn-b", "--weights", "x.safetensors", "--out",
                       str(tmp_path / "o"), "--device", "cpu")
    assert code == 2 and "--weights x.safetensors and --model dncnn-b: give one of them" in err
    code, _, err = cli("restore", str(img), "--out", str(tmp_path / "o"), "--device", "cpu")
    assert code == 2 and "give --weights CHECKPOINT or --model NAME" in err
    code, _, err = cli("eval", "--clean", str(tmp_path), "--degrade", "awgn:sigma=5", "--device", "cpu")
    assert code == 2 and "give --weights CHECKPOINT or --model NAME" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_moire_not_packaged_is_one_line(cli, tmp_path):
    img = tmp_path / "a.png"
    write_image(img, np.zeros((8, 8, 3), np.float32))
    code, _, err = cli("restore", str(img), "--model", "moire", "--out", str(tmp_path / "o"), "--device", "cpu")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--model moire: model 'moire' is not packaged in this build" in err and "--weights" in err
    assert not (tmp_path / "o").exists()


def test_plugin_cannot_pass_another_network(tmp_path, server, with_plugin):
    body, _ = _tiny_dncnn_file(tmp_path)
    with_plugin([_entry("tiny", server.url + "/t.pth", body)])
    with pytest.raises(UserError, match="a model for network 'dncnn-s', but --plugin 'dmnet' was given"):
        load_model("tiny", plugin="dmnet")
    assert server.hits == []  # refused before any download


# ------------------------------------------------------------------------------------------
# downloads against a local server


def test_download_import_and_cache(tmp_path, server, with_plugin, cache, cli):
    body, ref = _tiny_dncnn_file(tmp_path)
    server.files["/m/tiny.pth"] = body
    reg, msgs = with_plugin([_entry("tiny-dncnn", server.url + "/m/tiny.pth", body)])
    assert reg.models["tiny-dncnn"].network == "dncnn-s" and msgs == []
    model, spec, ckpt = load_model("tiny-dncnn", quiet=True)
    cached = cache / "models" / "tiny-dncnn.pth"
    assert ckpt.path == cached and hashlib.sha256(cached.read_bytes()).hexdigest() == hashlib.sha256(body).hexdigest()
    assert _no_files(cache) == [cached]  # no temporary left behind
    x = torch.rand(1, 1, 24, 20, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # the imported network computes what the original torch module does
        torch.testing.assert_close(model(x), ref(x), rtol=0, atol=1e-6)
    load_model("tiny-dncnn", quiet=True)
    assert server.hits == ["/m/tiny.pth"]  # the second use reads the cache
    # the CLI end to end: restore with --model, and the list says "cached"
    img = tmp_path / "in" / "a.png"
    write_image(img, np.random.default_rng(0).random((20, 24, 1), dtype=np.float32))
    code, out, err = cli("restore", str(img), "--model", "tiny-dncnn", "--out", str(tmp_path / "o"), "--device", "cpu")
    assert code == 0, err
    assert read_image(tmp_path / "o" / "a.png").shape == (20, 24, 1)
    code, out, _ = cli("models")
    assert re.search(r"^tiny-dncnn\s+dncnn-s\s+denoise, gray\s+127\.0\.0\.1:\d+\s+cached$", out, re.M)


def test_wrong_hash_is_deleted(tmp_path, server, with_plugin, cache):
    body, _ = _tiny_dncnn_file(tmp_path)
    server.files["/t.pth"] = body
    with_plugin([_entry("tiny", server.url + "/t.pth", body, sha256="0" * 64)])
    with pytest.raises(DownloadError) as e:
        load_model("tiny", quiet=True)
    msg = str(e.value)
    assert "\n" not in msg and f"has SHA-256 {hashlib.sha256(body).hexdigest()}, expected {'0' * 64}" in msg
    assert "deleted" in msg and _no_files(cache) == []


def test_cut_off_download_leaves_nothing(tmp_path, server, with_plugin, cache):
    body, _ = _tiny_dncnn_file(tmp_path)
    server.files["/t.pth"] = body
    server.mode = "truncate"
    with_plugin([_entry("tiny", server.url + "/t.pth", body)])
    with pytest.raises(DownloadError, match=rf"after {len(body) // 2} of {len(body)} bytes; nothing was saved"):
        load_model("tiny", quiet=True)
    assert _no_files(cache) == []
    server.mode = "ok"  # a later run downloads it whole
    load_model("tiny", quiet=True)
    assert [p.name for p in _no_files(cache)] == ["tiny.pth"]


def test_server_down_says_where_to_put_the_file(tmp_path, with_plugin, cache, cli):
    body, _ = _tiny_dncnn_file(tmp_path)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    url = f"http://127.0.0.1:{port}/t.pth"
    with_plugin([_entry("tiny", url, body)])
    img = tmp_path / "a.png"
    write_image(img, np.zeros((8, 8, 1), np.float32))
    code, _, err = cli("restore", str(img), "--model", "tiny", "--out", str(tmp_path / "o"), "--device", "cpu")
    lines = [l for l in err.strip().splitlines() if l.startswith("imgrestore: error")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err
    assert f"cannot reach {url}" in lines[0]
    assert f"save it as {cache / 'models' / 'tiny.pth'} (SHA-256 {hashlib.sha256(body).hexdigest()})" in lines[0]
    assert "--weights" in lines[0] and _no_files(cache) == [] and not (tmp_path / "o").exists()


def test_http_error_is_one_line(tmp_path, server, with_plugin, cache):
    body, _ = _tiny_dncnn_file(tmp_path)
    with_plugin([_entry("tiny", server.url + "/gone.pth", body)])
    with pytest.raises(DownloadError, match=r"answered HTTP 404"):
        load_model("tiny", quiet=True)
    assert _no_files(cache) == []


def test_corrupt_cached_file_is_replaced(tmp_path, server, with_plugin, cache):
    body, _ = _tiny_dncnn_file(tmp_path)
    server.files["/t.pth"] = body
    with_plugin([_entry("tiny", server.url + "/t.pth", body)])
    cached = cache / "models" / "tiny.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(body[:-10] + b"0123456789")
    with pytest.warns(UserWarning, match=r"cached file .*tiny\.pth has SHA-256 [0-9a-f]{64}, expected .*deleted, downloading it again"):
        load_model("tiny", quiet=True)
    assert cached.read_bytes() == body and server.hits == ["/t.pth"]


def test_plugin_models_cannot_take_builtin_names(tmp_path, with_plugin):
    body, _ = _tiny_dncnn_file(tmp_path)
    reg, msgs = with_plugin([_entry("moire", "http://127.0.0.1:1/x.pth", body), _entry("ok-one", "http://127.0.0.1:1/y.pth", body),
                             "not an entry"])
    assert list(reg.models) == ["ok-one"]
    assert any("model name 'moire' is a built-in model" in m for m in msgs)
    assert any("expected an imgrestore.zoo.ModelEntry" in m for m in msgs)
    assert set(catalog.all_models()) >= {"moire", "ok-one", "dncnn-b"}
    assert catalog.all_models()["moire"].network == "dmnet"


def test_authors_release_through_the_server_denoises_like_the_paper(tmp_path, server, cache):
    """dncnn-s-25 fetched (from a local copy of the authors' file, same pinned hash), imported
    and run on Set12 'C.man' at sigma 25: the paper's Table III gives 30.18 dB."""
    f = shared_path("weights", "dncnn", "matconvnet_sigma25.mat")
    clean = read_image(shared_path("images", "Set12", "01.png"))
    server.files["/sigma=25.mat"] = f.read_bytes()
    entry = catalog.get_model("dncnn-s-25")
    local = dataclasses.replace(entry, source=dataclasses.replace(entry.source, url=server.url + "/sigma=25.mat"))
    catalog.BUILTIN[catalog.BUILTIN.index(entry)] = local  # the fixture's list, restored after the test
    model, spec, ckpt = load_model("dncnn-s-25", quiet=True)
    assert ckpt.path == cache / "models" / "dncnn-s-25.mat" and ckpt.network == "dncnn-s"
    from imgrestore.metrics import psnr
    from imgrestore.restore import Restorer

    noisy = clean + np.random.default_rng(0).normal(0, 25 / 255, clean.shape).astype(np.float32)
    out = np.clip(np.round(Restorer(model, spec, tile=None)(noisy) * 255), 0, 255) / 255
    p = psnr(out, clean)
    assert 29.9 < p < 30.5, p


# ------------------------------------------------------------------------------------------
# packaging a trained DM-Net


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny DM-Net trained for 3 iterations by ``imgrestore fit`` on 6 tiny pairs."""
    from imgrestore.cli.main import main

    root = tmp_path_factory.mktemp("dmnet_run")
    rng = np.random.default_rng(0)
    for i in range(6):
        t = rng.random((32, 32, 3), dtype=np.float32)
        fringe = 0.1 * np.sin(np.arange(32) / 2)[None, :, None]
        write_image(root / "pairs" / "target" / f"{i}.png", t)
        write_image(root / "pairs" / "input" / f"{i}.png", np.clip(t + fringe, 0, 1).astype(np.float32))
    try:
        main(["fit", "--plugin", "dmnet", "--pairs", str(root / "pairs"), "--out", str(root / "run"), "--iters", "3",
              "--batch", "2", "--patch", "32", "--net-config", "features=8,blocks=2,fine_layers=3", "--device", "cpu",
              "--val-count", "0", "--quiet"])
    except SystemExit as exc:
        assert not exc.code
    return root / "run"


def _packaged_moire(monkeypatch, path: Path) -> None:
    moire = dataclasses.replace(pretrained.MOIRE, source=Packaged(path))
    monkeypatch.setattr(catalog, "BUILTIN", [moire, *pretrained.DNCNN])


def test_package_writes_fp16_and_loads_back_as_fp32(tiny_run, tmp_path, monkeypatch, cli):
    from safetensors import safe_open

    from imgrestore.registry import load_network
    from imgrestore.zoo.package import package

    card = tmp_path / "card.md"
    card.write_text("# moire\n\nTrained for a test.\n")
    s = package(tiny_run, "moire", card, out_dir=tmp_path / "pk", cards_dir=tmp_path / "cards")
    out = tmp_path / "pk" / "moire.safetensors"
    assert s["file"] == str(out) and s["network"] == "dmnet" and s["iteration"] == 3
    with safe_open(str(out), framework="pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
        meta = json.loads(f.metadata()["imgrestore"])
    assert torch.float16 in dtypes and torch.float32 not in dtypes
    assert meta["dtype"] == "float16" and meta["config"] == {"features": 8, "blocks": 2, "fine_layers": 3}
    text = (tmp_path / "cards" / "moire.md").read_text()
    assert text.startswith("# moire\n\nTrained for a test.") and "## Packaging" in text and "iteration 3" in text
    # the loader brings it back to fp32; outputs match the fp32 network to fp16 rounding
    _packaged_moire(monkeypatch, out)
    model, spec, ckpt = load_model("moire")
    ref, _, _ = load_network(tiny_run / "model.safetensors")
    assert all(p.dtype == torch.float32 for p in model.state_dict().values() if p.is_floating_point())
    x = torch.rand(1, 3, 32, 40, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = float((model(x) - ref(x)).abs().max())
    assert 0 < diff < 2e-3 and diff <= 10 * s["max_output_change"] + 1e-6
    # and the CLI uses it by name
    img = tmp_path / "photo.png"
    write_image(img, np.random.default_rng(2).random((30, 34, 3), dtype=np.float32))
    code, _, err = cli("restore", str(img), "--model", "moire", "--out", str(tmp_path / "o"), "--device", "cpu")
    assert code == 0, err
    assert (tmp_path / "o" / "photo.png").is_file()
    code, out_text, _ = cli("models")
    assert re.search(r"^moire\s+dmnet\s+demoire, color\s+packaged\s+packaged$", out_text, re.M)


def test_package_from_training_state_equals_from_model(tiny_run, tmp_path):
    from safetensors.torch import load_file

    from imgrestore.zoo.package import package

    package(tiny_run, "moire", None, out_dir=tmp_path / "a", cards_dir=tmp_path / "a")
    package(tiny_run / "checkpoint.safetensors", "moire", None, out_dir=tmp_path / "b", cards_dir=tmp_path / "b")
    a, b = load_file(str(tmp_path / "a" / "moire.safetensors")), load_file(str(tmp_path / "b" / "moire.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_package_refuses_bad_input_and_writes_nothing(tiny_run, tmp_path):
    from imgrestore.weights.checkpoint import read_checkpoint, save_checkpoint
    from imgrestore.zoo.package import main, package

    with pytest.raises(UserError, match="no such run folder"):
        package(tmp_path / "nope", "moire", None, out_dir=tmp_path / "pk", cards_dir=tmp_path / "pk")
    ck = read_checkpoint(tiny_run / "model.safetensors")
    big = dict(ck.tensors)
    k = next(k for k, v in big.items() if v.is_floating_point() and v.ndim == 4)
    big[k] = big[k].clone()
    big[k][0, 0, 0, 0] = 1e6
    save_checkpoint(tmp_path / "big.safetensors", "dmnet", ck.config, big)
    with pytest.raises(UserError, match=rf"tensor {re.escape(k)} has a value of 1e\+06, beyond fp16's range"):
        package(tmp_path / "big.safetensors", "moire", None, out_dir=tmp_path / "pk", cards_dir=tmp_path / "pk")
    from imgrestore.nets.dncnn import DnCNN

    save_checkpoint(tmp_path / "dn.safetensors", "dncnn-s", TINY, DnCNN(**TINY).state_dict())
    with pytest.raises(UserError, match="holds a 'dncnn-s' network; model 'moire' is a 'dmnet'"):
        package(tmp_path / "dn.safetensors", "moire", None, out_dir=tmp_path / "pk", cards_dir=tmp_path / "pk")
    assert not (tmp_path / "pk").exists()
    assert main([str(tmp_path / "nope"), "--name", "moire", "--card", str(tmp_path / "c.md"),
                 "--out-dir", str(tmp_path / "pk")]) == 2
