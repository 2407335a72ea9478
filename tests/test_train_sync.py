"""The training loop without host syncs (issue 11, item 5).

* losses stay on the device between read-backs: counted by wrapping every Tensor method that
  hands a value to the host (item, float(), int(), bool(), tolist, numpy, cpu);
* the read-back cadence changes nothing computed: the same bits for --log-every 1 and 5, and
  each row is the mean of its window;
* a NaN between read-backs: never checkpointed, the weights rolled back, the first bad
  iteration named; non-finite weights with finite losses are caught before the checkpoint;
* --compile works on this machine or is a one-line error before anything is written;
* the CUDA options (fused Adam, channels-last, bf16) stay off on the CPU and resolve as documented.

Tiny everything: DnCNN depth 3, 4 features, 16x16 patches, a few iterations.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_train_fit import opts, smooth_images, tensors  # noqa: E402

from imgrestore.errors import UserError  # noqa: E402
from imgrestore.torch_compile import check_compile, compile_probe  # noqa: E402
from imgrestore.train.loop import LoopSettings, NonFiniteLoss, SupervisedStep, Trainer, make_optimizer, to_nchw  # noqa: E402
from imgrestore.train.options import device_speed  # noqa: E402
from imgrestore.train.stages import FitOptions, fit  # noqa: E402

TINY = {"depth": 3, "features": 4}


@pytest.fixture(autouse=True)
def _fresh_compile_probe():
    """The probe's result is cached per process; tests that break torch.compile must not see an
    earlier run's answer, nor leave theirs behind."""
    compile_probe.cache_clear()
    yield
    compile_probe.cache_clear()
HOST_READS = ("item", "__float__", "__int__", "__bool__", "tolist", "numpy", "cpu")


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory):
    return smooth_images(tmp_path_factory.mktemp("clean"), 4)


class HostReads:
    """Counts calls of the Tensor methods that move a value to the host (on CUDA each waits
    for the GPU to finish everything queued)."""

    def __init__(self, monkeypatch):
        self.n = 0
        for name in HOST_READS:
            orig = getattr(torch.Tensor, name)

            def wrapper(t, *a, _orig=orig, **k):
                self.n += 1
                return _orig(t, *a, **k)

            monkeypatch.setattr(torch.Tensor, name, wrapper)


def batches(n, batch=2, size=16, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        y = rng.uniform(0.2, 0.8, (batch, size, size, 1)).astype(np.float32)
        out.append({"input": (y + rng.normal(0, 0.1, y.shape)).astype(np.float32), "target": y})
    return out


def tiny_trainer(tmp_path, iters, log_every, ckpt_every=10**6, optimizer="sgd", on_iteration=None, lr=1e-3):
    """A Trainer over in-memory batches: the loop alone, no data pipeline in the way."""
    from imgrestore.nets.dncnn import DnCNN
    from imgrestore.train.losses import TrainForward, get_criterion

    torch.manual_seed(0)
    net = DnCNN(channels=1, **TINY)
    crit = get_criterion("l2")
    opt = make_optimizer(optimizer, list(net.parameters()), lr)
    step = SupervisedStep(TrainForward(net, crit.outputs), net, crit, opt, "cpu")
    ls = LoopSettings(iters=iters, batch=2, lr=lr, val_every=10**6, ckpt_every=ckpt_every, log_every=log_every,
                      progress=False)
    trainer = Trainer(step, batches(iters), tmp_path, "dncnn-s", dict(TINY), ls, on_iteration=on_iteration)
    return trainer, net


def per_iteration_reads(monkeypatch, tmp_path, iters, log_every, optimizer="sgd"):
    counts = {}
    trainer, _ = tiny_trainer(tmp_path, iters, log_every, optimizer=optimizer,
                              on_iteration=lambda it: counts.__setitem__(it, reads.n))
    reads = HostReads(monkeypatch)
    trainer.run()
    monkeypatch.undo()
    return [counts[t] - counts.get(t - 1, 0) for t in range(1, iters + 1)]


def test_the_loop_reads_losses_back_only_every_log_every_iterations(monkeypatch, tmp_path):
    # SGD: its update reads nothing back. (Adam's step counters are CPU tensors it reads with
    # .item() -- host memory, no GPU wait -- and fused CUDA Adam keeps them on the GPU, unread.)
    d = per_iteration_reads(monkeypatch, tmp_path / "a", 12, 4)
    reads_at = [t for t, n in enumerate(d, 1) if n]
    assert reads_at == [4, 8, 12], d               # nothing in between
    assert max(d[3], d[7]) <= 2, d                  # one stacked tensor to the host, one tolist
    assert d[11] <= 4, d                            # the end: losses + one flag per weight tensor, together
    # the counter does see reads: the old cadence (every iteration) shows up as such
    d1 = per_iteration_reads(monkeypatch, tmp_path / "b", 6, 1)
    assert all(n >= 1 for n in d1), d1


def test_the_adversarial_step_reads_nothing_back(monkeypatch):
    from imgrestore.nets.discriminator import Discriminator
    from imgrestore.nets.dncnn import DnCNN
    from imgrestore.train.losses import TrainForward
    from imgrestore.train.surrogate import AdversarialStep, DiscriminatorPair

    torch.manual_seed(0)
    g, d = DnCNN(**TINY), Discriminator(channels=1, patch=16, features=2)
    opt_g, opt_d = torch.optim.SGD(g.parameters(), 1e-3), torch.optim.SGD(d.parameters(), 1e-3)
    step = AdversarialStep(TrainForward(g, "out"), g, DiscriminatorPair(d), d, opt_g, opt_d, 1e-3, "cpu")
    step.train_mode()
    item = {**batches(1)[0], "clean": batches(1, seed=1)[0]["target"]}
    reads = HostReads(monkeypatch)
    parts = step.run(item)
    n = reads.n
    monkeypatch.undo()
    assert n == 0 and list(parts) == ["loss", "l2", "adv", "d"]
    assert all(isinstance(v, torch.Tensor) and not v.requires_grad for v in parts.values())


def test_read_back_cadence_changes_no_bit_and_rows_are_window_means(clean_dir, tmp_path):
    fit(opts(tmp_path / "every1", clean_dir, iters=6, log_every=1, ckpt_every=6, val_count=0))
    fit(opts(tmp_path / "every5", clean_dir, iters=6, log_every=5, ckpt_every=6, val_count=0))
    a, b = tensors(tmp_path / "every1" / "checkpoint.safetensors"), tensors(tmp_path / "every5" / "checkpoint.safetensors")
    assert sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a if not k.startswith("rng/"))

    def rows(run):
        return [json.loads(x) for x in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]

    one, five = rows("every1"), rows("every5")
    assert [r["iter"] for r in five] == [5, 6]
    losses = [r["loss"] for r in one]
    assert five[0]["loss"] == sum(losses[:5]) / 5 and five[1]["loss"] == losses[5]
    assert list(five[0]) == list(one[0])  # the same columns


def _poison_loss_at(monkeypatch, bad_iteration):
    """The l2 loss becomes NaN at `bad_iteration` (1-based) and stays so (its gradient NaN too)."""
    from imgrestore.train import losses as L

    calls = {"n": 0}
    real = L.LOSSES["l2"]

    def fn(o, t, s):
        calls["n"] += 1
        v = L.l2(o["out"], t)
        if calls["n"] >= bad_iteration:
            v = v * float("nan")
        return v, {"l2": v}

    monkeypatch.setitem(L.LOSSES, "l2", L.Criterion("l2", real.doc, real.outputs, fn))


def test_nan_between_read_backs_is_never_checkpointed_and_rolls_back(clean_dir, tmp_path, monkeypatch):
    from imgrestore.registry import load_network
    from imgrestore.weights.checkpoint import read_checkpoint

    # NaN at iteration 6, after the checkpoint at 4, read back at the checkpoint of 8 (no log point there)
    _poison_loss_at(monkeypatch, 6)
    out = tmp_path / "nan"
    with pytest.raises(NonFiniteLoss) as exc:
        fit(opts(out, clean_dir, loss="l2", iters=30, log_every=20, ckpt_every=4, val_count=0))
    msg = str(exc.value)
    assert msg.startswith("iteration 6: non-finite loss (loss=nan)") and "stopped at iteration 8" in msg
    assert "--log-every" in msg and "try a lower --lr" in msg and "\n" not in msg
    assert f"the last good checkpoint {out / 'checkpoint.safetensors'} (iteration 4) is kept" in msg
    assert "rolled back" in msg
    assert read_checkpoint(out / "checkpoint.safetensors").meta["iteration"] == 4
    model, _, ck = load_network(out / "model.safetensors")
    assert ck.meta["iteration"] == 4 and all(torch.isfinite(v).all() for v in model.state_dict().values())
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows == []  # the window that held the NaN was never logged


def test_rollback_restores_the_weights_in_memory(tmp_path, monkeypatch):
    """NaN at 7, checkpoints every 5, read-backs every 10: stopped at 10 with the net (and its
    optimizer) as the checkpoint of 5 holds them."""
    trainer, net = tiny_trainer(tmp_path, 30, log_every=10, ckpt_every=5, optimizer="adam")
    bn = next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))

    def poison(it):
        if it == 6:  # the conv weights NaN: iteration 7's loss is NaN
            with torch.no_grad():
                next(net.parameters()).fill_(float("nan"))

    trainer.on_iteration = poison
    with pytest.raises(NonFiniteLoss, match=r"^iteration 7: non-finite loss .*stopped at iteration 10 .*"
                                            r"\(iteration 5\) is kept and the weights were rolled back to it"):
        trainer.run()
    saved = tensors(tmp_path / "checkpoint.safetensors")
    for k, v in net.state_dict().items():
        assert torch.equal(v, saved[f"model/net/{k}"]), k
    assert trainer.step.opt.state[next(net.parameters())]["step"].item() == 5
    assert torch.isfinite(bn.running_mean).all()


def test_non_finite_weights_with_finite_losses_are_caught_before_the_checkpoint(tmp_path):
    """A BN running mean (unused by the training forward) turns NaN: the losses stay finite, the
    weight check before the checkpoint of 8 stops the run; the checkpoint of 4 stays."""
    trainer, net = tiny_trainer(tmp_path, 12, log_every=100, ckpt_every=4)
    bn = next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))

    def poison(it):
        if it == 6:
            bn.running_mean.fill_(float("nan"))

    trainer.on_iteration = poison
    with pytest.raises(NonFiniteLoss, match=r"^iteration 8: the net weights became non-finite \(.*running_mean, \.\.\.\)"
                                            r".*not saved; the last good checkpoint .*\(iteration 4\) is kept"):
        trainer.run()
    from imgrestore.weights.checkpoint import read_checkpoint

    assert read_checkpoint(tmp_path / "checkpoint.safetensors").meta["iteration"] == 4
    assert torch.isfinite(bn.running_mean).all()  # rolled back


def test_ctrl_c_after_a_nan_saves_nothing(tmp_path):
    """Ctrl-C between read-backs, a NaN pending: reported as the divergence, not checkpointed."""
    trainer, net = tiny_trainer(tmp_path, 30, log_every=10, ckpt_every=3)

    def poison_then_stop(it):
        if it == 4:
            with torch.no_grad():
                next(net.parameters()).fill_(float("inf"))
        if it == 5:
            raise KeyboardInterrupt

    trainer.on_iteration = poison_then_stop
    with pytest.raises(NonFiniteLoss, match=r"^iteration 5: non-finite loss .*\(iteration 3\) is kept"):
        trainer.run()
    from imgrestore.weights.checkpoint import read_checkpoint

    assert read_checkpoint(tmp_path / "checkpoint.safetensors").meta["iteration"] == 3


def test_log_every_must_be_positive(clean_dir, tmp_path, cli):
    code, _, err = cli("fit", "--plugin", "dncnn-s", "--clean", str(clean_dir), "--iters", "2", "--device", "cpu",
                       "--log-every", "0", "--out", str(tmp_path / "o"))
    assert code == 2 and err.strip() == "imgrestore: error: --log-every 0: expected a positive integer"
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------------
# --compile, --precision and the CUDA-only options


def _compile_works() -> bool:
    try:
        check_compile("cpu")
    except UserError:
        return False
    return True


def test_compile_probe_passes_or_is_one_line():
    try:
        check_compile("cpu")
    except UserError as exc:
        msg = str(exc)
        assert msg.startswith("--compile: torch cannot compile on cpu here (") and "\n" not in msg


def test_compile_that_cannot_work_is_a_one_line_error_before_anything_is_written(clean_dir, tmp_path, cli,
                                                                                monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found in torch._inductor.config.cpp.cxx\n"
                       "more lines of traceback")

    monkeypatch.setattr(torch, "compile", broken)
    code, _, err = cli("fit", "--plugin", "dncnn-s", "--clean", str(clean_dir), "--iters", "2", "--patch", "16",
                       "--net-config", "depth=3,features=4", "--device", "cpu", "--compile", "--out", str(tmp_path / "o"))
    assert code == 2, err
    assert err.strip().splitlines() == ["imgrestore: error: --compile: torch cannot compile on cpu here "
                                        "(RuntimeError: InvalidCxxCompiler: No working C++ compiler found in "
                                        "torch._inductor.config.cpp.cxx); run without --compile"]
    assert not (tmp_path / "o").exists()


def test_a_network_torch_cannot_compile_is_a_one_line_error_at_the_first_step(clean_dir, tmp_path, cli,
                                                                              monkeypatch):
    """The probe passes but the network's graph does not compile: one line naming --compile,
    raised at the first iteration, before any update or checkpoint."""
    from torch._dynamo.exc import Unsupported

    class Refuses(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *a):
            raise Unsupported("graph break in an op inductor does not know\nsecond line")

    monkeypatch.setattr(torch, "compile", lambda f, **k: Refuses(f) if isinstance(f, torch.nn.Module) else f)
    code, _, err = cli("fit", "--plugin", "dncnn-s", "--clean", str(clean_dir), "--iters", "2", "--patch", "16",
                       "--net-config", "depth=3,features=4", "--device", "cpu", "--compile", "--val-count", "0",
                       "--quiet", "--out", str(tmp_path / "o"))
    assert code == 2, err
    lines = [x for x in err.strip().splitlines() if x.startswith("imgrestore: error")]
    assert lines == ["imgrestore: error: --compile: torch could not compile the dncnn-s training step (Unsupported: "
                     "graph break in an op inductor does not know); run without --compile"], err
    assert not (tmp_path / "o" / "checkpoint.safetensors").exists()


@pytest.mark.slow
def test_compiled_training_matches_eager(clean_dir, tmp_path):
    """Where torch compiles here: a --compile run trains, and its first loss is the eager one
    (same maths, other kernels: equal to float rounding)."""
    if not _compile_works():
        pytest.skip("torch cannot compile on this machine (the one-line error is tested above)")
    kw = dict(iters=2, log_every=1, val_count=0, net_config=dict(TINY))
    fit(opts(tmp_path / "eager", clean_dir, **kw))
    r = fit(opts(tmp_path / "compiled", clean_dir, compile=True, **kw))
    assert r["iters"] == 2

    def losses(run):
        return [json.loads(x)["loss"] for x in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]

    a, b = losses("eager"), losses("compiled")
    assert len(b) == 2 and all(math.isfinite(v) for v in b)
    assert b[0] == pytest.approx(a[0], rel=1e-4)
    # the checkpoint names are the module's, not torch.compile's wrapper's
    assert sorted(tensors(tmp_path / "compiled" / "model.safetensors")) == sorted(
        tensors(tmp_path / "eager" / "model.safetensors"))


def test_precision_resolves_per_device_and_bad_combinations_are_one_line():
    base = dict(plugin="dncnn-s", out=Path("unused"))
    cpu = device_speed(FitOptions(**base), "cpu")
    assert (cpu.amp, cpu.channels_last, cpu.compile) == (False, False, False)  # CPU runs keep their bits
    gpu = device_speed(FitOptions(**base), "cuda")
    assert (gpu.amp, gpu.channels_last) == (True, True)
    assert device_speed(FitOptions(**base, precision="fp32"), "cuda").amp is False
    assert device_speed(FitOptions(**base, amp=False), "cuda").amp is False  # the older switch, off
    assert device_speed(FitOptions(**base, amp=True), "cuda:1").amp is True
    for kw, want in ((dict(precision="bf16"), "--precision bf16: bf16 autocast is for a CUDA GPU"),
                     (dict(amp=True), "--amp: bf16 autocast is for a CUDA GPU"),
                     (dict(amp=True, precision="fp32"), "--amp: means --precision bf16; it contradicts"),
                     (dict(precision="fp16"), "--precision 'fp16': expected one of auto, bf16, fp32")):
        with pytest.raises(UserError, match="^" + want.replace("(", r"\(").replace(")", r"\)")):
            device_speed(FitOptions(**base, **kw), "cpu")


def test_bf16_on_the_cpu_is_refused_by_the_cli(clean_dir, tmp_path, cli):
    code, _, err = cli("fit", "--plugin", "dncnn-s", "--clean", str(clean_dir), "--iters", "2", "--device", "cpu",
                       "--precision", "bf16", "--out", str(tmp_path / "o"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--precision bf16" in err
    assert not (tmp_path / "o").exists()


def test_fused_adam_only_for_cuda_parameters_and_resume_keeps_this_process_choice(tmp_path):
    from imgrestore.train.state import load_state, save_state

    net = torch.nn.Conv2d(1, 2, 3)
    plain = make_optimizer("adam", list(net.parameters()), 1e-3)
    assert not plain.param_groups[0]["fused"]  # CPU: torch's default implementation, bits as before
    net(torch.ones(1, 1, 5, 5)).sum().backward()
    plain.step()
    save_state(tmp_path / "s.safetensors", "x", {}, {"net": net}, {"net": plain}, 1)
    # a checkpoint of a plain run loaded into a fused optimizer (as a CPU run resumed on a GPU):
    # the fused flag is this process's, and the step counter is moved where the fused kernel wants it
    fused = make_optimizer("adam", list(net.parameters()), 1e-3, fused=True)
    load_state(tmp_path / "s.safetensors", {"net": net}, {"net": fused})
    assert fused.param_groups[0]["fused"] is True
    st = fused.state[next(net.parameters())]["step"]
    assert st.dtype == torch.float32 and st.item() == 1
    # and the other way round
    again = make_optimizer("adam", list(net.parameters()), 1e-3)
    save_state(tmp_path / "f.safetensors", "x", {}, {"net": net}, {"net": fused}, 1)
    load_state(tmp_path / "f.safetensors", {"net": net}, {"net": again})
    assert not again.param_groups[0]["fused"]


def test_channels_last_batches_are_the_same_values_without_a_copy():
    x = np.random.default_rng(0).uniform(0, 1, (2, 5, 7, 3)).astype(np.float32)
    dense, cl = to_nchw(x, "cpu"), to_nchw(x, "cpu", channels_last=True)
    assert torch.equal(dense, cl) and dense.is_contiguous()
    assert cl.is_contiguous(memory_format=torch.channels_last) and cl.data_ptr() == torch.from_numpy(x).data_ptr()


@pytest.mark.gpu
def test_gpu_loop_is_sync_free_with_fused_adam_channels_last_and_bf16(clean_dir, tmp_path, monkeypatch):
    """On a GPU: the defaults are bf16 autocast, channels-last and fused Adam, and the loop
    reads nothing back between read-backs."""
    from imgrestore.nets.dncnn import DnCNN
    from imgrestore.train.losses import TrainForward, get_criterion

    torch.manual_seed(0)
    net = DnCNN(channels=1, **TINY).cuda().to(memory_format=torch.channels_last)
    crit = get_criterion("l2")
    opt = make_optimizer("adam", list(net.parameters()), 1e-3)
    assert opt.param_groups[0]["fused"] is True
    step = SupervisedStep(TrainForward(net, crit.outputs), net, crit, opt, "cuda", amp=True, channels_last=True)
    counts = {}
    ls = LoopSettings(iters=12, batch=2, lr=1e-3, val_every=10**6, ckpt_every=10**6, log_every=4, progress=False)
    trainer = Trainer(step, batches(12), tmp_path, "dncnn-s", dict(TINY), ls,
                      on_iteration=lambda it: counts.__setitem__(it, reads.n))
    reads = HostReads(monkeypatch)
    trainer.run()
    monkeypatch.undo()
    d = [counts[t] - counts.get(t - 1, 0) for t in range(1, 13)]
    assert [t for t, n in enumerate(d, 1) if n] == [4, 8, 12], d
    r = fit(opts(tmp_path / "fit", clean_dir, device="cuda", iters=4, log_every=2))
    assert r["val"]["psnr"] > 0
