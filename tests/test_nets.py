"""The network plugins: registration, parameter counts against the papers, output shapes."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from imgrestore.registry import get_registry

# name -> (learnable parameters, input (C, H, W), output shape). Counts include BN gamma/beta,
# not running statistics. Paper figures are checked separately below.
EXPECTED = {
    "dncnn-s": (556_096, (1, 32, 32), (1, 1, 32, 32)),
    "dncnn-b": (667_072, (1, 32, 32), (1, 1, 32, 32)),
    "dncnn-3": (667_072, (1, 32, 32), (1, 1, 32, 32)),
    "cdncnn-b": (669_376, (3, 32, 32), (1, 3, 32, 32)),
    "red10": (296_641, (1, 32, 32), (1, 1, 32, 32)),
    "red20": (665_921, (1, 32, 32), (1, 1, 32, 32)),
    "red30": (1_035_201, (1, 32, 32), (1, 1, 32, 32)),
    "red30-s2": (1_035_201, (1, 32, 32), (1, 1, 32, 32)),
    "dmnet": (1_857_222, (3, 32, 32), (1, 3, 32, 32)),
    "aindnet": (13_961_865, (3, 32, 32), (1, 3, 32, 32)),
    "srresnet": (1_550_659, (3, 8, 8), (1, 3, 32, 32)),
    "edsr": (43_089_923, (3, 8, 8), (1, 3, 32, 32)),
    "edsr-baseline": (1_517_571, (3, 8, 8), (1, 3, 32, 32)),
    "srgan-discriminator": (23_565_505, (3, 96, 96), (1, 1)),
}


def _count(model) -> int:
    from imgrestore.nets.util import count_params

    return count_params(model)


def test_every_network_is_registered_as_a_builtin_plugin():
    reg = get_registry()
    assert set(EXPECTED) <= set(reg.networks)
    owners = {name: p for p in reg.plugins for name in p.provides.get("network", [])}
    for name in EXPECTED:
        assert owners[name].builtin, name
        spec = reg.networks[name]
        assert spec.task in ("denoise", "super-resolution", "demoire", "discriminator")
        assert spec.recipe.lr > 0 and spec.recipe.batch > 0 and spec.recipe.patch > 0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parameter_count_and_output_shape(name):
    params, chw, out_shape = EXPECTED[name]
    spec = get_registry().networks[name]
    model = spec.build().eval()
    assert _count(model) == params
    torch.manual_seed(0)
    with torch.inference_mode():
        y = model(torch.rand(1, *chw))
    assert tuple(y.shape) == out_shape
    assert torch.isfinite(y).all()
    if spec.task != "discriminator":
        assert chw[0] == spec.in_channels and out_shape[1] == spec.out_channels
        assert out_shape[-1] == chw[-1] * spec.scale


def test_paper_parameter_figures():
    """The figures the papers print: EDSR x4 43M and EDSR-baseline 1.5M (Lim et al., Table 1),
    AINDNet about 13.7M (Kim et al.); ours within the papers' rounding (AINDNet: 2%, see its file)."""
    assert round(EXPECTED["edsr"][0] / 1e6) == 43
    assert round(EXPECTED["edsr-baseline"][0] / 1e5) == 15
    assert abs(EXPECTED["aindnet"][0] / 13.7e6 - 1) < 0.02


def test_dncnn_count_equals_the_authors_released_module():
    """The authors' own 2018 PyTorch module (the file, not our code) has exactly our DnCNN-S count."""
    from conftest import shared_path

    from imgrestore.weights import safe_pickle as sp

    path = shared_path("weights", "dncnn", "pytorch2018_sigma25_pickled_module.pth")
    tensors = sp.module_state_dict(sp.load_legacy(path.read_bytes()))
    n = sum(t.numpy().size for k, t in tensors.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert n == EXPECTED["dncnn-s"][0] == 640 + 15 * (36_864 + 128) + 576


def test_dncnn_folded_form_and_bn_folding_agree():
    from imgrestore.nets.dncnn import DnCNN
    from imgrestore.nets.util import fold_bn

    torch.manual_seed(0)
    net = DnCNN(depth=5)
    for m in net.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    net.eval()
    x = torch.rand(1, 1, 24, 24)
    with torch.inference_mode():
        ref = net(x)
        folded = fold_bn(net)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
        torch.testing.assert_close(folded(x), ref, atol=1e-5, rtol=1e-5)
    assert _count(DnCNN(17, bn=False)) == 555_137  # 17 convs with biases, as released (folded)


def test_rednet_skips_and_stride2():
    from imgrestore.nets.rednet import REDNet

    x = torch.rand(1, 1, 16, 16)
    plain = REDNet(n=5, channels=1, skips=False)
    with torch.no_grad():
        for p in plain.parameters():
            p.zero_()
    assert torch.equal(plain(x), torch.zeros_like(x))  # no input skip in RED10
    skip = REDNet(n=10, channels=1)
    with torch.no_grad():
        for p in skip.parameters():
            p.zero_()
    assert torch.equal(skip(x), x)  # input-to-output skip (then ReLU; x >= 0)
    assert REDNet(n=15, channels=1, down=2)(x).shape == x.shape


def test_dmnet_outputs_two_scales():
    from imgrestore.nets.dmnet import DMNet

    full, quarter = DMNet().eval().forward_scales(torch.rand(2, 3, 32, 32))
    assert full.shape == (2, 3, 32, 32) and quarter.shape == (2, 3, 8, 8)


def test_aindnet_noise_map_and_transfer_set():
    import fnmatch

    spec = get_registry().networks["aindnet"]
    model = spec.build().eval()
    with torch.inference_mode():
        out, noise_map = model.forward_with_map(torch.rand(1, 3, 32, 32))
    assert out.shape == noise_map.shape == (1, 3, 32, 32)
    names = [n for n, _ in model.named_parameters()]
    chosen = [n for n in names if any(fnmatch.fnmatch(n, pat) for pat in spec.transfer)]
    assert any(n.startswith("estimator.") for n in chosen)
    assert any(".ain1." in n for n in chosen) and "tail.weight" in chosen
    assert not any(n.endswith("conv1.weight") for n in chosen)  # the block convs stay frozen
    assert 0 < len(chosen) < len(names)


def test_flops_counter():
    from imgrestore.bench.net import count_flops
    from imgrestore.nets.dncnn import DnCNN

    n, _ = count_flops(DnCNN(17, bn=False), torch.rand(1, 1, 10, 10))
    assert n == 2 * 100 * (9 * 64 + 15 * 9 * 64 * 64 + 9 * 64)


def test_plugin_loading_does_not_import_torch():
    code = ("import sys; from imgrestore.registry import get_registry\n"
            "r = get_registry(); assert 'dncnn-s' in r.networks and 'aindnet' in r.networks\n"
            "print('TORCH', 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "TORCH False" in out, out
    code = ("import sys; from imgrestore.cli.main import main\n"
            "try:\n    main(['plugins', '--device', 'cpu'])\nexcept SystemExit:\n    pass\n"
            "print('TORCH', 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "network dncnn-s:" in out and "TORCH False" in out, out
