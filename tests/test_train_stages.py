"""Later stages of `imgrestore fit`: surrogate + GAN rounds, transfer (only the declared set
moves, bit for bit), retrain, and their bad input. Tiny networks, a few iterations."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from imgrestore.errors import UserError  # noqa: E402
from imgrestore.io import write_image  # noqa: E402
from imgrestore.train.stages import FitOptions, fit  # noqa: E402
from imgrestore.train.state import save_model  # noqa: E402

from test_train_fit import TINY, smooth_images, tensors  # noqa: E402


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("stages")
    clean = smooth_images(root / "clean", 3, size=40)
    real = root / "real"
    rng = np.random.default_rng(1)
    for k, img in enumerate(sorted(clean.iterdir())):
        from imgrestore.io import read_image

        x = read_image(img)
        write_image(real / f"r{k}.png", np.clip(x + rng.normal(0, 0.08, x.shape), 0, 1).astype(np.float32))
    g0 = root / "g0"
    fit(FitOptions(plugin="dncnn-s", out=g0, clean=clean, degrade="awgn:sigma=20", iters=2, batch=2, patch=16,
                   lr=1e-3, optimizer="adam", device="cpu", workers=0, val_count=0, net_config=dict(TINY),
                   progress=False, figures=False))
    return {"root": root, "clean": clean, "real": real, "g0": g0 / "model.safetensors"}


def surrogate_opts(folders, out, **kw):
    base = dict(plugin="dncnn-s", out=out, stage="surrogate", init=folders["g0"], real=folders["real"],
                unpaired_clean=folders["clean"], stages=3, iters=2, batch=2, patch=16, device="cpu",
                disc_config={"features": 2}, log_every=1, progress=False, figures=False)
    base.update(kw)
    return FitOptions(**base)


def test_surrogate_rounds_regenerate_targets_with_the_previous_model(folders, tmp_path, capsys):
    from imgrestore.io import read_image
    from imgrestore.restore import Restorer
    from imgrestore.registry import load_network

    out = tmp_path / "s"
    r = fit(surrogate_opts(folders, out, figures=True))
    assert [s["stage"] for s in r["stages"]] == [2, 3]
    assert (out / "model.safetensors").exists()
    real0 = read_image(sorted(folders["real"].iterdir())[0])
    for k, prev in ((2, folders["g0"]), (3, out / "stage2" / "model.safetensors")):
        model, spec, _ = load_network(prev)
        want = Restorer(model, spec, tile=None)(real0)
        got = np.load(out / f"stage{k}" / "surrogates" / "00000.npy")
        np.testing.assert_allclose(got, want, atol=1e-5)
    ck = tensors(out / "stage2" / "checkpoint.safetensors")
    assert any(k.startswith("model/disc/") for k in ck) and any(k.startswith("optim/disc/") for k in ck)
    import importlib.util

    if importlib.util.find_spec("imgrestore.figures") is not None:
        assert (out / "stage3" / "samples_real.png").exists() and (out / "stage3" / "curves.png").exists()
    rows = (out / "stage3" / "metrics.jsonl").read_text()
    assert '"adv"' in rows and '"d"' in rows and '"l2"' in rows
    # a finished run resumed again skips its complete stages
    fit(surrogate_opts(folders, out, resume=True))
    assert "stage 2 is complete" in capsys.readouterr().err


def test_surrogate_resume_after_ctrl_c_is_bit_exact(folders, tmp_path):
    from imgrestore.train.loop import Interrupted

    fit(surrogate_opts(folders, tmp_path / "a", stages=2, iters=4))

    def stop(it):
        if it == 2:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        fit(surrogate_opts(folders, tmp_path / "b", stages=2, iters=4), on_iteration=stop)
    fit(surrogate_opts(folders, tmp_path / "b", stages=2, iters=4, resume=True))
    a, b = tensors(tmp_path / "a" / "stage2" / "checkpoint.safetensors"), tensors(tmp_path / "b" / "stage2" / "checkpoint.safetensors")
    for k in a:
        if not k.startswith("rng/"):
            assert torch.equal(a[k], b[k]), k


def _aind_pairs(folder: Path, n: int = 4, size: int = 16) -> Path:
    rng = np.random.default_rng(3)
    for k in range(n):
        clean = rng.uniform(0.2, 0.8, (size, size, 3)).astype(np.float32)
        write_image(folder / "target" / f"{k}.png", clean)
        write_image(folder / "input" / f"{k}.png", np.clip(clean + rng.normal(0, 0.05, clean.shape), 0, 1).astype(np.float32))
    return folder


@pytest.fixture(scope="module")
def aind(tmp_path_factory):
    from imgrestore.nets.aindnet import AINDNet

    root = tmp_path_factory.mktemp("aind")
    torch.manual_seed(0)
    cfg = {"features": (4, 4, 4), "blocks": (1, 1, 1)}
    save_model(root / "g0.safetensors", "aindnet", cfg, AINDNet(**cfg))
    return {"g0": root / "g0.safetensors", "pairs": _aind_pairs(root / "pairs")}


def _paired(aind, out, stage, **kw):
    base = dict(plugin="aindnet", out=out, stage=stage, init=aind["g0"], pairs=aind["pairs"], iters=2, batch=2,
                device="cpu", progress=False, figures=False, lr=1e-3)
    base.update(kw)
    return FitOptions(**base)


def test_transfer_moves_only_the_declared_parameters(aind, tmp_path):
    import fnmatch

    from imgrestore.plugins.aindnet import TRANSFER

    before = tensors(aind["g0"])
    fit(_paired(aind, tmp_path / "tf", "transfer"))
    after = tensors(tmp_path / "tf" / "model.safetensors")
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    declared = {k for k in before if any(fnmatch.fnmatchcase(k, p) for p in TRANSFER)}
    assert moved and moved <= declared
    assert "tail.weight" in moved
    for k in set(before) - declared:
        assert torch.equal(before[k], after[k]), k
    # the optimizer holds the declared parameters and nothing else
    from imgrestore.nets.aindnet import AINDNet
    from imgrestore.weights.checkpoint import read_checkpoint

    net = AINDNet(features=(4, 4, 4), blocks=(1, 1, 1))
    n_declared = sum(any(fnmatch.fnmatchcase(k, p) for p in TRANSFER) for k, _ in net.named_parameters())
    groups = read_checkpoint(tmp_path / "tf" / "checkpoint.safetensors").meta["optimizers"]["net"]["param_groups"]
    assert sum(len(g["params"]) for g in groups) == n_declared < len(list(net.parameters()))

    fit(_paired(aind, tmp_path / "rt", "retrain"))
    after = tensors(tmp_path / "rt" / "model.safetensors")
    assert not torch.equal(before["head.weight"], after["head.weight"])


def test_transfer_keeps_frozen_batchnorm_statistics(folders, tmp_path):
    """DnCNN declares no transfer set; with --transfer-params only the last conv moves, and the
    frozen BN layers keep their running statistics."""
    pairs = tmp_path / "pairs"
    rng = np.random.default_rng(0)
    for k in range(3):
        c = rng.uniform(0.2, 0.8, (16, 16, 1)).astype(np.float32)
        write_image(pairs / "target" / f"{k}.png", c)
        write_image(pairs / "input" / f"{k}.png", np.clip(c + rng.normal(0, 0.1, c.shape), 0, 1).astype(np.float32))
    with pytest.raises(UserError, match="declares no transfer set"):
        fit(FitOptions(plugin="dncnn-s", out=tmp_path / "x", stage="transfer", init=folders["g0"], pairs=pairs,
                       iters=1, device="cpu", progress=False, figures=False))
    fit(FitOptions(plugin="dncnn-s", out=tmp_path / "t", stage="transfer", init=folders["g0"], pairs=pairs, iters=2,
                   batch=2, device="cpu", progress=False, figures=False, transfer_params=("layers.5.*",)))
    before, after = tensors(folders["g0"]), tensors(tmp_path / "t" / "model.safetensors")
    assert not torch.equal(before["layers.5.weight"], after["layers.5.weight"])
    for k in before:
        if not k.startswith("layers.5."):
            assert torch.equal(before[k], after[k]), k


def test_bad_input_of_later_stages(folders, aind, tmp_path, cli, capsys):
    small = tmp_path / "small"
    write_image(small / "a.png", np.full((8, 8, 1), 0.5, np.float32))
    with pytest.raises(UserError, match=r"--real .*smaller than 16x16"):
        fit(surrogate_opts(folders, tmp_path / "o1", real=small))
    with pytest.raises(UserError, match="holds weights for network 'aindnet', not 'dncnn-s'"):
        fit(surrogate_opts(folders, tmp_path / "o2", init=aind["g0"]))
    with pytest.raises(UserError, match="needs --init"):
        fit(surrogate_opts(folders, tmp_path / "o3", real=None))
    capsys.readouterr()
    code, _, err = cli("fit", "--plugin", "dncnn-s", "--stage", "transfer", "--init", str(aind["g0"]), "--pairs",
                       str(aind["pairs"]), "--out", str(tmp_path / "o4"), "--device", "cpu")
    assert code == 2 and "--init" in err and "holds weights for network 'aindnet'" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("fit", "--plugin", "aindnet", "--stage", "transfer", "--init", str(aind["g0"]), "--pairs",
                       str(tmp_path / "nothing"), "--out", str(tmp_path / "o5"), "--device", "cpu")
    assert code == 2 and "--pairs" in err and "no such folder" in err
    # colour pairs for a gray network: an error, not a silent conversion to gray
    code, _, err = cli("fit", "--plugin", "dncnn-s", "--stage", "retrain", "--init", str(folders["g0"]), "--pairs",
                       str(aind["pairs"]), "--out", str(tmp_path / "o6"), "--iters", "1", "--batch", "2", "--device", "cpu")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--pairs" in err and "3-channel images for the 1-channel network dncnn-s" in err
    # a run's training state given as --init: pointed to the model beside it
    state = folders["g0"].with_name("checkpoint.safetensors")
    with pytest.raises(UserError, match=r"--init .*checkpoint.safetensors: a training-state checkpoint; .*model.safetensors"):
        fit(surrogate_opts(folders, tmp_path / "o7", init=state))


def test_discriminator_scores_clean_and_restored_batches_separately():
    """D's BN statistics in its update are those of clean-only and restored-only batches, as
    when G is scored (D sees G(Y) alone there), not of one concatenated batch."""
    import copy

    from imgrestore.nets.discriminator import Discriminator
    from imgrestore.nets.dncnn import DnCNN
    from imgrestore.train.losses import TrainForward, discriminator_bce
    from imgrestore.train.surrogate import AdversarialStep, DiscriminatorPair

    torch.manual_seed(0)
    g, d = DnCNN(depth=3, features=4), Discriminator(channels=1, patch=16, features=2)
    g0, d0 = copy.deepcopy(g), copy.deepcopy(d)
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
    rng = np.random.default_rng(0)
    item = {"input": rng.uniform(0, 1, (4, 16, 16, 1)).astype(np.float32),
            "target": rng.uniform(0, 1, (4, 16, 16, 1)).astype(np.float32),
            "clean": rng.uniform(0.3, 0.7, (4, 16, 16, 1)).astype(np.float32)}
    step = AdversarialStep(TrainForward(g, "out"), g, DiscriminatorPair(d), d, opt_g, opt_d, 1e-3, "cpu")
    step.train_mode()
    got = step(item)
    d0.train()
    nchw = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2)  # noqa: E731
    with torch.no_grad():
        want = discriminator_bce(d0(nchw(item["clean"])), d0(g0(nchw(item["input"]))))
    assert got["d"] == pytest.approx(want.item(), rel=1e-5)


def test_resume_after_a_finished_stage_is_bit_exact(folders, tmp_path):
    """Killed after stage 2 finished and before stage 3 saved anything: the resumed run skips
    stage 2 and ends with the bits of an uninterrupted run (D's initial weights included)."""
    from test_train_fit import assert_same_tensors

    fit(surrogate_opts(folders, tmp_path / "a", ckpt_every=100))
    calls = []

    def kill(it):  # a hard kill (no Ctrl-C checkpoint) at stage 3's first iteration
        calls.append(it)
        if len(calls) == 3:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        fit(surrogate_opts(folders, tmp_path / "b", ckpt_every=100), on_iteration=kill)
    assert not (tmp_path / "b" / "stage3" / "checkpoint.safetensors").exists()
    fit(surrogate_opts(folders, tmp_path / "b", ckpt_every=100, resume=True))
    assert_same_tensors(tmp_path / "a" / "stage3" / "checkpoint.safetensors",
                        tmp_path / "b" / "stage3" / "checkpoint.safetensors")


def test_surrogates_of_another_model_are_made_again(folders, tmp_path):
    """A stage killed before its first checkpoint leaves surrogates in its folder; started
    again with another --init, the folder's surrogates are those of the new model."""
    from imgrestore.io import read_image
    from imgrestore.nets.dncnn import DnCNN
    from imgrestore.restore import Restorer
    from imgrestore.registry import load_network

    def kill(it):
        raise RuntimeError("killed")

    out = tmp_path / "s"
    with pytest.raises(RuntimeError, match="killed"):
        fit(surrogate_opts(folders, out, stages=2, ckpt_every=100), on_iteration=kill)
    torch.manual_seed(5)
    other = tmp_path / "other.safetensors"
    save_model(other, "dncnn-s", TINY, DnCNN(channels=1, **TINY))
    fit(surrogate_opts(folders, out, stages=2, init=other))
    model, spec, _ = load_network(other)
    real0 = read_image(sorted(folders["real"].iterdir())[0])
    want = Restorer(model, spec, tile=None)(real0)
    np.testing.assert_allclose(np.load(out / "stage2" / "surrogates" / "00000.npy"), want, atol=1e-5)


def test_resume_and_init_with_a_list_valued_net_config(aind, tmp_path):
    """Tuples in --net-config (AINDNet's features/blocks) read back from JSON as lists: neither
    --resume nor --init with the same --net-config may call that a change."""
    cfg = {"features": (4, 4, 4), "blocks": (1, 1, 1)}
    o = dict(stage="synthetic", init=None, loss="l1", patch=16, val_count=0, net_config=cfg)
    fit(_paired(aind, tmp_path / "r", **o))
    fit(_paired(aind, tmp_path / "r", **{**o, "iters": 3, "resume": True}))
    fit(_paired(aind, tmp_path / "rt", "retrain", init=tmp_path / "r" / "model.safetensors", net_config=cfg))
    with pytest.raises(UserError, match="was trained with"):
        fit(_paired(aind, tmp_path / "rt2", "retrain", init=tmp_path / "r" / "model.safetensors",
                    net_config={"features": (4, 4, 8), "blocks": (1, 1, 1)}))
