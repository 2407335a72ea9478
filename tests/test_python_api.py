"""The Python API: docs/python-api.md's examples run as written; the guards refuse or convert
what the issue found silently wrong (uint8, NCHW, 0-255 floats, torch tensors); import is lazy."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "python-api.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_docs_examples_run(tmp_path, monkeypatch, capsys):
    blocks = _blocks()
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMGRESTORE_PROGRESS", "0")
    scope: dict = {"__name__": "python_api_doc"}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{DOC.name} block {i + 1}", "exec"), scope)  # noqa: S102 - our own docs
    out = capsys.readouterr().out
    assert "(1, 512, 512, 1) float32" in out and "(2, 64, 64, 3)" in out and "(200, 200, 1)" in out
    assert "looks channels-first" in out and "0-255 data? divide by 255" in out
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_import_is_lazy():
    code = ("import sys, imgrestore; heavy = [m for m in ('torch', 'numba', 'skimage', 'numpy', 'imgrestore.api') "
            "if m in sys.modules]; print(heavy); imgrestore.psnr; print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "True"


def test_every_public_name_resolves():
    import imgrestore

    for name in imgrestore.__all__:
        assert getattr(imgrestore, name) is not None
    with pytest.raises(AttributeError):
        imgrestore.no_such_name  # noqa: B018


def test_nchw_is_refused_not_reread():
    """bicubic turned (2,3,64,64) into (2,1,16,64) before: NCHW read as NHWC."""
    import imgrestore

    x = np.random.default_rng(0).random((2, 3, 64, 64)).astype(np.float32)
    with pytest.raises(imgrestore.ArrayError, match=r"channels-first .*transpose\(0, 2, 3, 1\)"):
        imgrestore.Chain.load("bicubic:scale=4")(x, 0, [0, 1])
    y = imgrestore.Chain.load("bicubic:scale=4")(x.transpose(0, 2, 3, 1), 0, [0, 1]).input
    assert y.shape == (2, 16, 16, 3)


def test_uint8_is_scaled_like_the_float_image():
    import imgrestore

    u8 = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    a = imgrestore.synthesize("awgn:sigma=15", u8, seed=3).input
    b = imgrestore.synthesize("awgn:sigma=15", u8.astype(np.float32) / 255, seed=3).input
    np.testing.assert_array_equal(a, b)


def test_psnr_refuses_0_255_floats_and_uint8_and_agrees_with_skimage():
    """-21.8 dB silently before; the accepted path equals scikit-image's PSNR."""
    from skimage.metrics import peak_signal_noise_ratio

    import imgrestore

    rng = np.random.default_rng(2)
    a = rng.random((24, 24, 3))
    b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1)
    with pytest.raises(ValueError, match="0-255 data"):
        imgrestore.psnr(a * 255, b * 255)
    with pytest.raises(TypeError, match="uint8"):
        imgrestore.psnr((a * 255).astype(np.uint8), (b * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        imgrestore.psnr(np.full_like(a, np.nan), b)
    assert imgrestore.psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0), rel=1e-12)


def test_torch_tensors_are_converted():
    """AttributeError: 'Tensor' object has no attribute 'astype' before."""
    torch = pytest.importorskip("torch")
    import imgrestore

    a = torch.rand(20, 20, 3, requires_grad=True)
    b = (a.detach() * 0.9).clone()
    assert imgrestore.psnr(a, b) == pytest.approx(imgrestore.psnr(a.detach().numpy(), b.numpy()))
    assert imgrestore.synthesize("awgn:sigma=5", torch.rand(2, 16, 16, 1)).input.shape == (2, 16, 16, 1)
    with pytest.raises(imgrestore.ArrayError, match="permute"):
        imgrestore.psnr(torch.rand(3, 20, 20), torch.rand(3, 20, 20))


def test_restorer_guards(tmp_path):
    torch = pytest.importorskip("torch")
    import imgrestore
    from imgrestore.nets.dncnn import DnCNN
    from imgrestore.registry import get_registry

    cfg = {"depth": 3, "channels": 1, "features": 4}
    torch.manual_seed(0)
    imgrestore.save_checkpoint(tmp_path / "m.safetensors", "dncnn-s", cfg, DnCNN(**cfg).state_dict())
    model, spec, _ = imgrestore.load_network(tmp_path / "m.safetensors")
    r = imgrestore.Restorer(model, spec, tile=None)
    img = np.random.default_rng(3).random((20, 24)).astype(np.float32)
    out = r(img)  # H,W: one channel
    assert out.shape == (20, 24, 1)
    np.testing.assert_allclose(r((img * 255).round().astype(np.uint8)), r((img * 255).round() / 255), atol=1e-6)
    with pytest.raises(imgrestore.ArrayError, match="values from"):
        r(img * 255)
    with pytest.raises(imgrestore.ArrayError, match="one image"):
        r(img[None, :, :, None].repeat(2, 0))
    assert get_registry().networks["dncnn-s"].in_channels == 1


def test_fit_refuses_unknown_options(tmp_path):
    import imgrestore

    with pytest.raises(imgrestore.UserError, match=r"no option 'iter' \(did you mean 'iters'\?\)"):
        imgrestore.fit("dncnn-s", tmp_path / "r", iter=5)
    with pytest.raises(imgrestore.UserError, match=r"^--iters 0: expected a positive integer$"):
        imgrestore.fit("dncnn-s", tmp_path / "r", iters=0, device="cpu")
    with pytest.raises(imgrestore.UserError, match=r"^--plugin 'dncnn-bb': no such network"):
        imgrestore.fit("dncnn-bb", tmp_path / "r", device="cpu")
    assert not (tmp_path / "r").exists()
