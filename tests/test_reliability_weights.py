"""Issue 13 (items 2, 4, 9): weight files that must be refused in one line, before any work:
crafted metadata (depth 10^7), stride-0 tensor bombs, deeply nested pickles, foreign globals in
zip files, non-finite weights, training states and channel counts that do not fit."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import one_line  # noqa: E402
from imgrestore.errors import UserError  # noqa: E402
from imgrestore.weights import safe_pickle as sp  # noqa: E402
from imgrestore.registry import load_network  # noqa: E402
from imgrestore.weights.checkpoint import save_checkpoint  # noqa: E402


def _dncnn(depth=3, channels=1, features=4, bn=False):
    from imgrestore.nets.dncnn import DnCNN

    torch.manual_seed(0)
    return DnCNN(depth=depth, channels=channels, features=features, bn=bn).eval()


def _ckpt(path, config, network="dncnn-s"):
    """A checkpoint holding a 3-layer, 4-feature DnCNN whose metadata says `config` (over that)."""
    model = _dncnn()
    save_checkpoint(path, network, {"depth": 3, "features": 4, "bn": False, **config}, model.state_dict())
    return model


# --- item 2: resource bombs -------------------------------------------------------------------

@pytest.mark.parametrize("key,value", [("depth", 10**7), ("features", 10**6)])
def test_checkpoint_metadata_bomb_is_refused_before_building(tmp_path, key, value):
    path = tmp_path / "m.safetensors"
    _ckpt(path, {key: value})
    t0 = time.perf_counter()
    with pytest.raises(UserError) as e:
        load_network(path)
    assert time.perf_counter() - t0 < 10  # refused from the header, nothing built
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and f"{key}=" in msg


def test_checkpoint_config_that_would_not_fit_is_refused_on_the_meta_device(tmp_path):
    """features=200 passes the size bound of this 225-weight file, but its tensors are 4-feature
    ones: the mismatch is found on torch's meta device, before 200x200 convs are allocated."""
    path = tmp_path / "m.safetensors"
    _ckpt(path, {"features": 200})
    with pytest.raises(UserError, match=r"do not fit the network.*layers\.0\.weight"):
        load_network(path)


def _run_limited(code: str, limit_gb: float = 8.0) -> subprocess.CompletedProcess:
    """Run `code` in a child whose address space is capped: a regression that expands the bomb
    fails with MemoryError there instead of exhausting this machine."""
    import resource

    def cap():
        lim = int(limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=cap, timeout=300)


@pytest.mark.parametrize("zip_format", [True, False])
def test_stride0_tensor_of_11_gb_over_one_element_is_refused(tmp_path, zip_format):
    t = torch.zeros(1, 1, 1, 1).expand(1000, 1000, 55, 50)  # 2.75e9 float32 = 11 GB, one stored element
    src = tmp_path / "bomb.pth"
    torch.save({"layers.0.weight": t, "layers.0.bias": torch.zeros(1000)}, src,
               _use_new_zipfile_serialization=zip_format)
    assert src.stat().st_size < 100_000
    out = tmp_path / "out.safetensors"
    r = _run_limited(f"from imgrestore.cli.main import main; main(['import-weights', 'dncnn', {str(src)!r}, "
                     f"'--out', {str(out)!r}])")
    line = one_line(r.returncode, r.stderr)
    assert "layers.0.weight" in line and "2,750,000,000" in line and "storage of 1" in line
    assert not out.exists()


def test_legacy_module_tensor_view_larger_than_its_storage_is_refused():
    st = sp.StorageStandIn(np.dtype("<f4"), "0", 1, data=np.zeros(1, np.float32))
    bomb = sp.TensorStandIn(st, 0, (1000, 1000, 55, 50), (0, 0, 0, 0))
    with pytest.raises(pickle.UnpicklingError, match="more elements than its storage"):
        bomb.numpy()
    ok = sp.TensorStandIn(sp.StorageStandIn(np.dtype("<f4"), "1", 6, data=np.arange(6, dtype=np.float32)),
                          0, (2, 3), (3, 1))
    assert ok.numpy().tolist() == [[0, 1, 2], [3, 4, 5]]


def _legacy_file(object_pickle: bytes) -> bytes:
    buf = io.BytesIO()
    for head in (sp.LEGACY_MAGIC, sp.LEGACY_PROTOCOL, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(head, buf, protocol=2)
    buf.write(object_pickle)
    pickle.dump([], buf, protocol=2)
    return buf.getvalue()


def _nested_modules(depth: int) -> bytes:
    """A pickle of DnCNN modules nested `depth` levels through ``_modules`` (built opcode by
    opcode: pickling such an object would itself recurse)."""

    def text(s: str) -> bytes:
        b = s.encode()
        return b"\x8c" + bytes([len(b)]) + b

    obj = b"c__main__\nDnCNN\n)\x81"
    level = obj + b"}" + text("_modules") + b"}" + text("a")
    return b"\x80\x04" + level * depth + obj + b"ssb" * depth + b"."


def test_pickle_nested_50000_levels_is_one_line(tmp_path, cli):
    src = tmp_path / "deep.pth"
    src.write_bytes(_legacy_file(_nested_modules(50_000)))
    code, _, err = cli("import-weights", "dncnn", str(src), "--out", str(tmp_path / "o.safetensors"))
    line = one_line(code, err)
    assert str(src) in line and "nested" in line
    # the zip flavour (a data.pkl of 50,000 nested lists) is one line too
    template = tmp_path / "t.pth"
    torch.save({"a": torch.zeros(1)}, template)
    deep = tmp_path / "deep_zip.pth"
    with zipfile.ZipFile(template) as z, zipfile.ZipFile(deep, "w") as out:
        for name in z.namelist():
            data = z.read(name)
            out.writestr(name, b"\x80\x02" + b"]" * 50_000 + b"a" * 49_999 + b"." if name.endswith("data.pkl") else data)
    code, _, err = cli("import-weights", "dncnn", str(deep), "--out", str(tmp_path / "o.safetensors"))
    assert str(deep) in one_line(code, err)


def test_module_walk_keeps_state_dict_order():
    """The iterative walk lists parameters, buffers, then children depth first: the order of
    nn.Module.state_dict() for the same tree."""
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2),
                                torch.nn.Sequential(torch.nn.Conv2d(2, 1, 3)))
    storage = sp.StorageStandIn(np.dtype("<f4"), "0", 1, data=np.zeros(1, np.float32))

    def stand_in(mod):
        m = sp.ModuleStandIn()
        m.state = {"_parameters": {k: sp.TensorStandIn(storage, 0, (), ()) for k, _ in mod.named_parameters(recurse=False)},
                   "_buffers": {k: sp.TensorStandIn(storage, 0, (), ()) for k, _ in mod.named_buffers(recurse=False)},
                   "_modules": {k: stand_in(c) for k, c in mod.named_children()}}
        return m

    obj = stand_in(model)
    assert list(sp.module_state_dict(obj)) == list(model.state_dict())
    assert [p for p, _, _ in sp.module_attrs(obj)] == ["", "0", "1", "2", "2.0"]


# --- item 9: the zip refusal names the global --------------------------------------------------

class _Evil:
    def __reduce__(self):
        return (os.system, ("echo PWNED > /dev/null",))


def test_zip_pth_refusal_names_the_blocked_global(tmp_path, cli):
    import argparse

    for obj, name in ((_Evil(), "system"), (argparse.Namespace(a=1), "argparse.Namespace")):
        src = tmp_path / "x.pth"
        torch.save({"layers.0.weight": torch.zeros(2, 1, 3, 3), "x": obj}, src)
        code, _, err = cli("import-weights", "dncnn", str(src), "--out", str(tmp_path / "o.safetensors"))
        line = one_line(code, err)
        assert name in line and "allow-list" in line, line
        assert "weights_only" not in line and "trusted" not in line, line
        assert not (tmp_path / "o.safetensors").exists()


# --- item 4: weights that do not fit, non-finite, training states -----------------------------

def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path, cli):
    model = _dncnn()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd["layers.2.weight"][0, 0, 0, 0] = float("nan")
    sd["layers.4.bias"][0] = float("inf")
    path = tmp_path / "nan.safetensors"
    save_checkpoint(path, "dncnn-s", {"depth": 3, "features": 4, "bn": False}, sd)
    with pytest.raises(UserError, match=r"tensor layers\.2\.weight holds 1 non-finite"):
        load_network(path)
    # and at import (a KAIR-style state dict with an infinity)
    src = tmp_path / "inf.pth"
    torch.save(sd, src)
    code, _, err = cli("import-weights", "dncnn", str(src), "--out", str(tmp_path / "o.safetensors"))
    line = one_line(code, err)
    assert "conv layer 2 of 3" in line and "non-finite" in line and not (tmp_path / "o.safetensors").exists()


def test_training_state_given_to_weights_says_use_the_model(tmp_path, cli):
    from imgrestore.train.state import save_state

    net = _dncnn()
    opt = torch.optim.Adam(net.parameters())
    state = tmp_path / "run" / "checkpoint.safetensors"
    save_state(state, "dncnn-s", {"depth": 3, "features": 4, "bn": False}, {"net": net}, {"net": opt}, 10)
    img = tmp_path / "a.png"
    from imgrestore.io import write_image

    write_image(img, np.full((16, 16, 1), 0.5, np.float32))
    code, _, err = cli("restore", str(img), "--weights", str(state), "--out", str(tmp_path / "o"), "--device", "cpu")
    line = one_line(code, err)
    assert "this is a training state" in line and "model.safetensors" in line and "iteration 10" in line
    assert "model/net" not in line  # no tensor-name dump


def test_two_channel_dncnn_is_refused_at_import_and_at_restore(tmp_path, cli):
    src = tmp_path / "ch2.pth"
    torch.save(_dncnn(channels=2).state_dict(), src)
    code, _, err = cli("import-weights", "dncnn", str(src), "--out", str(tmp_path / "o.safetensors"))
    line = one_line(code, err)
    assert "2 channels" in line and not (tmp_path / "o.safetensors").exists()
    # a checkpoint written some other way still cannot reach the network
    ck = tmp_path / "ch2.safetensors"
    save_checkpoint(ck, "dncnn-s", {"depth": 3, "channels": 2, "features": 4, "bn": False}, _dncnn(channels=2).state_dict())
    from imgrestore.io import write_image

    write_image(tmp_path / "a.png", np.full((16, 16, 1), 0.5, np.float32))
    code, _, err = cli("restore", str(tmp_path / "a.png"), "--weights", str(ck), "--out", str(tmp_path / "r"),
                       "--device", "cpu")
    line = one_line(code, err)
    assert "2-channel" in line and "dncnn-s" in line
    assert not (tmp_path / "r").exists()


def test_good_checkpoint_still_loads_and_runs(tmp_path):
    """The checks above do not get in the way of a normal checkpoint (same outputs as the model)."""
    path = tmp_path / "ok.safetensors"
    model = _ckpt(path, {})
    loaded, spec, _ = load_network(path)
    x = torch.rand(1, 1, 16, 16)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))


def test_every_builtin_network_passes_the_meta_device_check():
    """The meta-device fit check never refuses a network's own default weights."""
    from imgrestore.registry import get_registry
    from imgrestore.weights.checkpoint import _fit_check

    for name, spec in sorted(get_registry().networks.items()):
        model = spec.build()
        _fit_check(spec, {}, model.state_dict(), name)


def test_legacy_storage_size_field_claiming_gigabytes_is_refused_without_allocating(tmp_path):
    """A legacy (non-zip) file whose pickle says a storage holds 2e9 floats (8 GB) but whose data
    holds 777: torch's own legacy loader allocates the claimed size before reading (found by the
    fuzz suite); the importer reads legacy files only through our unpickler, which checks sizes
    against the file first. Run with a 3 GB address-space cap: an allocation would fail there."""
    src = tmp_path / "claims.pth"
    torch.save({"layers.0.weight": torch.zeros(7, 111), "layers.0.bias": torch.zeros(5)}, src,
               _use_new_zipfile_serialization=False)
    raw = src.read_bytes()
    size_777 = b"M\x09\x03"  # BININT2 777: the storage's element count in its persistent id
    assert raw.count(size_777) == 1
    src.write_bytes(raw.replace(size_777, b"J" + (2_000_000_000).to_bytes(4, "little")))
    out = tmp_path / "out.safetensors"
    r = _run_limited(f"from imgrestore.cli.main import main; main(['import-weights', 'dncnn', {str(src)!r}, "
                     f"'--out', {str(out)!r}])", limit_gb=3.0)
    line = one_line(r.returncode, r.stderr)
    assert str(src) in line and not out.exists()
