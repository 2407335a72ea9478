"""The stages of ``imgrestore fit``.

* ``synthetic`` (stage 1): pairs (M(X), X) made on the fly by a degradation chain (or read
  from ``--pairs``), the network plugin's paper recipe for every default.
* ``surrogate`` (stage 2..N, Liu, Shu and Wu): real degraded images Y with surrogate targets
  X_s = G_prev(Y), computed once per stage and cached; G starts from G_prev; loss
  ``L2(G(Y), X_s) + lambda * -log D(G(Y))`` with D trained by BCE against unpaired clean
  patches, one D and one G update per iteration (k = 1). ``--stages N`` counts stage 1, so
  N - 1 surrogate rounds run, each regenerating the surrogates with the previous round's G.
* ``transfer`` (AINDNet+TF): real pairs, L1, only the parameters the plugin declares for
  transfer are updated; ``retrain`` (AINDNet+RT): the same, all parameters.

Each stage writes into its folder: ``run.json`` (settings), ``checkpoint.safetensors``
(training state), ``model.safetensors`` (the network, for restore/eval), ``metrics.jsonl``,
``train.csv``, ``val.csv`` and the figures.
"""

from __future__ import annotations

import fnmatch
import json
import math
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from imgrestore.errors import UserError
from imgrestore.synth import chain_content
from imgrestore.train import data as D
from imgrestore.train.ddp import Dist, barrier, from_env, setup, teardown, wrap
from imgrestore.train.log import MetricsLog, write_file
from imgrestore.train.loop import (CHECKPOINT, MODEL, LoopSettings, SupervisedStep, Trainer, Validator, make_optimizer,
                                   to_nchw)
from imgrestore.train.losses import TrainForward, discriminator_bce, generator_adversarial, get_criterion, l2

STAGES = ("synthetic", "surrogate", "transfer", "retrain")
DISCRIMINATOR = "srgan-discriminator"
# Liu, Shu, Wu: stage-2 settings.
SURROGATE_DEFAULTS = {"batch": 32, "iters": 10_000, "adv_weight": 1e-3}
SURROGATE_LR = {"demoire": 1e-5, "super-resolution": 1e-4}
SURROGATE_PATCH = 96


@dataclass
class FitOptions:
    """Everything ``imgrestore fit`` accepts; None means the recipe's or the stage's default."""

    plugin: str
    out: Path
    stage: str = "synthetic"
    clean: Path | None = None
    degrade: str | None = None
    pairs: Path | None = None
    init: Path | None = None
    real: Path | None = None
    unpaired_clean: Path | None = None
    stages: int = 2
    iters: int | None = None
    batch: int | None = None
    patch: int | None = None
    lr: float | None = None
    lr_final: float | None = None
    loss: str | None = None
    optimizer: str | None = None
    adv_weight: float | None = None
    seed: int = 0
    device: str = "auto"
    workers: int | None = None
    val_every: int = 500
    val_count: int | None = None
    val_images: int | None = None
    val_pairs: Path | None = None
    ckpt_every: int = 1000
    log_every: int = 50
    resume: bool = False
    net_config: dict[str, Any] = field(default_factory=dict)
    disc_config: dict[str, Any] = field(default_factory=dict)
    transfer_params: tuple[str, ...] | None = None
    amp: bool | None = None         # the older switch: True = precision bf16, False = fp32
    precision: str = "auto"         # auto (bf16 on CUDA, fp32 on the CPU), bf16 or fp32
    compile: bool = False           # torch.compile the generator (and discriminator)
    pool: int | None = None  # rendered screens held whole where the chain runs (docs/sources.md)
    progress: bool = True
    figures: bool = True
    snapshot_every: int = 0  # keep model_<iter>.safetensors every N iterations (0: never)


def as_json(value: Any) -> Any:
    """`value` as it reads back from JSON (tuples become lists, paths strings): how settings
    and builder configs are compared with those stored in run.json and checkpoints."""
    return json.loads(json.dumps(value, default=str))


def say(msg: str, dist: Dist | None = None) -> None:
    if dist is None or dist.main:
        print(msg, file=sys.stderr, flush=True)


def get_spec(name: str, option: str = "--plugin") -> Any:
    from imgrestore.registry import get_registry

    nets = get_registry().networks
    if name not in nets:
        import difflib

        close = difflib.get_close_matches(name, list(nets), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(f"{option} {name!r}: no such network{hint}; known: {', '.join(sorted(nets))}")
    return nets[name]


def load_init(path: Path, plugin: str) -> tuple[torch.nn.Module, Any, Any]:
    """load_network for --init: the same checks, errors naming --init."""
    from imgrestore.weights.checkpoint import load_network

    try:
        return load_network(path, plugin)
    except UserError as exc:
        if _is_train_state(path):
            raise UserError(f"--init {path}: a training-state checkpoint; give the network beside it, "
                            f"{Path(path).with_name(MODEL)}") from None
        msg = str(exc)
        raise UserError("--init" + msg[len("--weights"):] if msg.startswith("--weights") else msg) from None


def _is_train_state(path: Path) -> bool:
    """Whether `path` is a ``checkpoint.safetensors`` of a run (reads the header only)."""
    from imgrestore.train.state import KIND
    from imgrestore.weights.checkpoint import META_KEY

    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return json.loads((f.metadata() or {})[META_KEY]).get("kind") == KIND
    except Exception:
        return False


def build_net(spec: Any, config: dict[str, Any]) -> torch.nn.Module:
    try:
        return spec.build(**config)
    except (TypeError, ValueError) as exc:
        raise UserError(f"--net-config {config}: cannot build {spec.name}: {exc}") from None


def net_channels(spec: Any, config: dict[str, Any]) -> int:
    return int(config.get("channels", spec.in_channels))


BUILTIN_CONTENT = {"photos": "scikit-image samples", "screens": "screens rendered in code"}


def default_degrade(spec: Any) -> str:
    """The recipe's degradation, else one that fits the task."""
    extra = spec.recipe.extra
    if extra.get("degrade") or extra.get("noise"):
        return str(extra.get("degrade") or extra.get("noise"))
    if spec.recipe.loss == "l1+estimator":
        return "cbdnet"  # AINDNet's synthetic noise
    if spec.task == "super-resolution":
        return f"bicubic:scale={spec.scale}"
    if spec.task == "demoire":
        return "moire"
    return "awgn:sigma=0-55"


def check_patch(patch: int, spec: Any) -> None:
    m = max(1, spec.size_multiple) * max(1, spec.scale)
    if patch < 1 or patch % m:
        raise UserError(f"--patch {patch}: network {spec.name} needs a multiple of {m}")


def _gpu_ok() -> bool:
    from imgrestore.backend import gpu_available

    return gpu_available()


def _screen_pool(opts: FitOptions, content: str, gpu: bool) -> int | None:
    """Screens in the run's pool: --pool, 256 on the GPU, None (windows per crop) on the CPU; only
    rendered screens have a pool (photos are held whole on the GPU anyway)."""
    from imgrestore.sources.pool import DEVICE_POOL_SCREENS, check_pool_size

    check_pool_size(opts.pool)
    screens = opts.clean is None and content == "screens"
    if opts.pool is not None and not screens:
        raise UserError(f"--pool {opts.pool}: sets how many rendered screens a run holds (chains that photograph "
                        "a screen, without --clean); image files and built-in photos are held whole once")
    if opts.pool is None and screens and gpu:
        return DEVICE_POOL_SCREENS
    return opts.pool


class RunFolder:
    """A stage's output folder: refuses to mix runs, finds the checkpoint to resume."""

    def __init__(self, path: Path, settings: dict[str, Any], resume: bool, dist: Dist):
        self.path, self.settings, self.dist = Path(path), settings, dist
        self.ckpt = self.path / CHECKPOINT
        run = self.path / "run.json"
        if self.ckpt.exists() and not resume:
            raise UserError(f"--out {path}: holds a run already ({self.ckpt}); add --resume to continue it, "
                            "or choose another --out")
        if run.exists() and resume:
            old = json.loads(run.read_text(encoding="utf-8"))
            now = as_json(settings)
            diff = [k for k in now if k not in ("iters", "workers", "device") and old.get(k) != now[k]]
            if diff:
                k = diff[0]
                raise UserError(f"--resume {path}: the run there has {k}={old.get(k)!r}, now {now[k]!r}; "
                                "resume with the same settings or choose another --out")
        if resume and self.ckpt.exists():  # fewer iterations than are done would rewrite run.json to a lie
            from imgrestore.weights.checkpoint import read_meta

            done, iters = read_meta(self.ckpt).get("iteration"), settings.get("iters")
            if isinstance(done, int) and isinstance(iters, int) and iters < done:
                raise UserError(f"--resume --iters {iters}: the run in {path} has done {done} iterations already; "
                                f"give --iters {done} or more to continue it, or choose another --out")
        elif resume:
            say(f"imgrestore: warning: --resume: nothing to resume in {path} (no {CHECKPOINT}); training from "
                "iteration 0", dist)
        if dist.main:
            self.path.mkdir(parents=True, exist_ok=True)
            write_file(run, (json.dumps(settings, indent=1, default=str) + "\n").encode())

    def resume_point(self, modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                     network: str) -> int:
        from imgrestore.train.state import load_state

        if not self.ckpt.exists():
            return 0
        meta = load_state(self.ckpt, modules, optimizers, network)
        return int(meta["iteration"])


def _frozen_bn(net: torch.nn.Module) -> list[torch.nn.Module]:
    from torch.nn.modules.batchnorm import _BatchNorm

    return [m for m in net.modules() if isinstance(m, _BatchNorm) and not any(p.requires_grad for p in m.parameters())]


def _val_batches(batch: Any, size: int) -> list[Any]:
    n = len(batch.indices)
    return [D.Batch(batch.input[k:k + size], batch.target[k:k + size], batch.indices[k:k + size]) for k in range(0, n, size)]


def _figures(folder: Path, val: Validator | None, prev: torch.nn.Module | None = None, k: int = 0,
             grid: bool = True) -> None:
    """Loss/PSNR curves and a sample grid via imgrestore.figures (input | output | target; with
    `prev`, the previous stage's model: input | G_prev | G | target); without `grid` only the
    curves (samples.png then comes from imgrestore.train.outputs)."""
    try:
        from imgrestore import figures
    except ImportError:
        return  # hook point: imgrestore.figures (plot_curves, sample_grid) not installed yet
    try:
        if hasattr(figures, "plot_curves"):
            figures.plot_curves(folder / "metrics.jsonl", folder / "curves.png")
        if grid and val is not None and val.outputs and hasattr(figures, "sample_grid"):
            b = val.batches[0]
            m = min(4, len(b.indices))
            before = None
            if prev is not None:
                prev.eval()
                with torch.no_grad():
                    before = prev(to_nchw(b.input[:m], val.device)).float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
            rows = []
            for j in range(m):
                row = [np.asarray(b.input[j])]
                if before is not None:
                    row.append(before[j])
                rows.append(row + [val.outputs[j], np.asarray(b.target[j])])
            labels = (["input", f"stage {k - 1}", f"stage {k}", "target"] if before is not None
                      else ["input", "output", "target"])
            figures.sample_grid(rows, labels, folder / "samples.png")
    except Exception as exc:  # figures are a convenience: never lose a run over them
        say(f"imgrestore: warning: figures not written ({type(exc).__name__}: {exc})")


def run_outputs(opts: FitOptions, spec: Any, net: torch.nn.Module, config: dict[str, Any], channels: int,
                device: str, sample_from: tuple[Any, ...] | None, dist: Dist) -> Any:
    """model_best and samples.png at each validation (imgrestore.train.outputs); the sample crops
    come from the held-out images (`sample_from`); a failure to cut them only drops the figure."""
    from imgrestore.train import outputs as O

    samples = None
    multiple = max(1, spec.size_multiple) * max(1, spec.scale)
    if opts.figures and sample_from is not None and dist.main:
        try:
            if sample_from[0] == "synth":
                samples = O.synth_samples(sample_from[1], sample_from[2], channels, opts.seed, multiple)
            else:
                samples = O.pair_samples(sample_from[1], sample_from[2], channels, max(1, spec.size_multiple),
                                         sample_from[3])
        except UserError:
            raise
        except Exception as exc:
            say(f"imgrestore: warning: no sample crops for samples.png ({type(exc).__name__}: {exc})", dist)
    return O.RunOutputs(Path(opts.out), net, spec.name, config, device, samples, stage=opts.stage)


def _surrogate_grid(folder: Path, g: torch.nn.Module, stream: Any, k: int, device: str) -> None:
    """samples_real.png: real crops Y | surrogate X_s (previous model) | G(Y) of this stage."""
    try:
        from imgrestore import figures
    except ImportError:
        return  # hook point: imgrestore.figures.sample_grid
    try:
        b = stream.batch(list(range(4)))
        g.eval()
        with torch.no_grad():
            out = g(to_nchw(b.input, device)).float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
        s = b.target.shape[1] // b.input.shape[1]
        rows = [[b.input[j].repeat(s, 0).repeat(s, 1), b.target[j], out[j]] for j in range(len(out))]
        figures.sample_grid(rows, ["input Y", f"X_s (stage {k - 1})", f"G (stage {k})"], folder / "samples_real.png")
    except Exception as exc:
        say(f"imgrestore: warning: figures not written ({type(exc).__name__}: {exc})")


# ---------------------------------------------------------------------------------------------
# stage 1 and the paired stages


PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class DeviceSpeed:
    """How the step runs on the device: bf16 autocast of forward passes (losses and optimizer
    stay fp32), channels-last network and batches, torch.compile. On the CPU all off unless
    asked (compile), so CPU runs keep their bits; on CUDA bf16 and channels-last are the
    default (docs/training-speed.md)."""

    amp: bool = False
    channels_last: bool = False
    compile: bool = False

    def describe(self) -> str:
        words = [w for w, on in (("bf16 autocast", self.amp), ("channels-last", self.channels_last),
                                 ("torch.compile", self.compile)) if on]
        return ", ".join(words)


def device_speed(opts: FitOptions, device: str) -> DeviceSpeed:
    """--precision/--amp/--compile resolved for `device`; a bad combination is a one-line error."""
    if opts.precision not in PRECISIONS:
        raise UserError(f"--precision {opts.precision!r}: expected one of {', '.join(PRECISIONS)}")
    cuda = device.startswith("cuda")
    precision = opts.precision
    if opts.amp is not None:
        want = "bf16" if opts.amp else "fp32"
        if precision not in ("auto", want):
            raise UserError(f"--amp: means --precision bf16; it contradicts --precision {precision}")
        precision = want
        if opts.amp and not cuda:
            raise UserError("--amp: bf16 autocast is for a CUDA GPU; leave it off on the CPU")
    if precision == "bf16" and not cuda:
        raise UserError(f"--precision bf16: bf16 autocast is for a CUDA GPU; use fp32 (the default) on {device}")
    amp = precision == "bf16" or (precision == "auto" and cuda)
    return DeviceSpeed(amp=amp, channels_last=cuda, compile=opts.compile)


def _compiled(module: Any, speed: DeviceSpeed) -> Any:
    """`module` through torch.compile when asked; the module itself (its state dict, the
    checkpoints) is unchanged, only the callable the step uses."""
    return torch.compile(module) if speed.compile else module


def fit(opts: FitOptions, on_iteration: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run the stage(s) `opts` asks for; returns a summary (folders, final model, scores)."""
    from imgrestore.restore import torch_device
    from imgrestore.torch_compile import check_compile

    if opts.stage not in STAGES:
        raise UserError(f"--stage {opts.stage!r}: expected one of {', '.join(STAGES)}")
    # builder options checked against the networks' declared tables before any work
    opts = replace(opts, net_config=get_spec(opts.plugin).check_config(dict(opts.net_config), "--net-config"))
    if opts.disc_config:
        opts = replace(opts, disc_config=get_spec(DISCRIMINATOR, "discriminator").check_config(
            dict(opts.disc_config), "--disc-config"))
    dist = from_env()
    device = torch_device(opts.device)
    device_speed(opts, device)
    if opts.compile:  # before anything is read, trained or written
        check_compile(device)
    check_options(opts)
    from imgrestore.preflight import ready

    ready()  # fit's checks end here (imgrestore run runs every step's checks before the first step)
    device = setup(dist, device)
    torch.manual_seed(opts.seed)
    try:
        if opts.stage == "surrogate":
            return fit_surrogate(opts, dist, device, on_iteration)
        return fit_paired(opts, dist, device, on_iteration)
    finally:
        teardown(dist)


def check_numbers(opts: FitOptions) -> None:
    """The ranges of fit's numeric options (named as on the command line)."""
    def bad(v: Any, ok: Callable[[Any], bool]) -> bool:
        return v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not ok(v))

    for name, v in (("--iters", opts.iters), ("--batch", opts.batch), ("--patch", opts.patch),
                    ("--val-every", opts.val_every), ("--ckpt-every", opts.ckpt_every),
                    ("--log-every", opts.log_every)):
        if bad(v, lambda x: x >= 1 and x == int(x)):
            raise UserError(f"{name} {v}: expected a positive integer")
    for name, v in (("--val-count", opts.val_count), ("--val-images", opts.val_images), ("--workers", opts.workers),
                    ("--snapshot-every", opts.snapshot_every), ("--seed", opts.seed)):
        if bad(v, lambda x: x >= 0 and x == int(x)):
            raise UserError(f"{name} {v}: expected 0 or a positive integer")
    if bad(opts.stages, lambda x: x >= 1 and x == int(x)):
        raise UserError(f"--stages {opts.stages}: expected a positive integer (it counts stage 1)")
    for name, v in (("--lr", opts.lr), ("--lr-final", opts.lr_final)):
        if bad(v, lambda x: x > 0 and math.isfinite(x)):
            raise UserError(f"{name} {v}: expected a positive learning rate")
    if bad(opts.adv_weight, lambda x: x >= 0 and math.isfinite(x)):
        raise UserError(f"--adv-weight {opts.adv_weight}: expected 0 or a positive weight")


def check_options(opts: FitOptions) -> None:
    """What a stage needs, checked before anything is read or written: the numbers' ranges, the
    network, the options each stage requires or refuses, the chain spec and the patch size (the
    network's multiple; the discriminator's 16 for surrogate stages). Input files are read
    later, by the stage."""
    from imgrestore.degrade import Chain

    check_numbers(opts)
    spec = get_spec(opts.plugin)
    if opts.stage in ("transfer", "retrain") and (opts.init is None or opts.pairs is None):
        raise UserError(f"--stage {opts.stage}: needs --init G0 (a stage-1 model) and --pairs REAL_PAIRS")
    if opts.stage == "surrogate":
        if opts.init is None or opts.real is None or opts.unpaired_clean is None:
            raise UserError("--stage surrogate: needs --init G0, --real DIR (real degraded images) and "
                            "--unpaired-clean DIR (clean images for the discriminator)")
        if opts.stages < 2:
            raise UserError(f"--stages {opts.stages}: counts stage 1, so at least 2 (one surrogate stage)")
        patch = opts.patch or SURROGATE_PATCH
        check_patch(patch, spec)
        if patch % 16:
            raise UserError(f"--patch {patch}: the discriminator needs a multiple of 16")
        return
    if opts.pairs is not None:
        if opts.degrade or opts.clean:
            raise UserError("--pairs: give either --pairs or --clean/--degrade, not both")
        if opts.pool is not None:
            raise UserError(f"--pool {opts.pool}: holds rendered screens for on-the-fly synthesis; not with --pairs")
    else:
        Chain.load(opts.degrade or default_degrade(spec))
        check_patch(opts.patch or spec.recipe.patch, spec)
    if opts.patch is not None:
        check_patch(opts.patch, spec)


def fit_paired(opts: FitOptions, dist: Dist, device: str, on_iteration: Callable[[int], None] | None) -> dict[str, Any]:
    """Stage 1 (synthetic), transfer and retrain: supervised training on pairs."""
    from imgrestore.degrade import Chain

    spec = get_spec(opts.plugin)
    rec = spec.recipe
    paired_real = opts.stage in ("transfer", "retrain")  # what each stage needs: check_options
    config = dict(opts.net_config)
    init_model = None
    if opts.init is not None:
        init_model, _, ck = load_init(opts.init, spec.name)
        if opts.net_config and as_json(opts.net_config) != as_json(ck.config):
            raise UserError(f"--net-config {opts.net_config}: --init {opts.init} was trained with {ck.config}")
        config = dict(ck.config)
    channels = net_channels(spec, config)
    loss_name = opts.loss or ("l1" if paired_real else rec.loss)
    criterion = get_criterion(loss_name)
    same_opt = (opts.optimizer or rec.optimizer) == rec.optimizer
    optimizer = opts.optimizer or rec.optimizer
    if paired_real:
        lr = opts.lr or float(rec.extra.get("transfer_lr", rec.lr))
        lr_final = opts.lr_final
        iters = opts.iters or SURROGATE_DEFAULTS["iters"]
    else:
        lr = opts.lr or rec.lr
        lr_final = opts.lr_final if opts.lr_final is not None else (
            rec.extra.get("lr_final") if same_opt and opts.lr is None else None)
        iters = opts.iters or rec.iterations
    batch = opts.batch or rec.batch
    momentum = float(rec.extra.get("momentum", 0.9))
    weight_decay = float(rec.extra.get("weight_decay", 0.0)) if optimizer == "sgd" else 0.0

    # -- data ---------------------------------------------------------------------------------------
    val_batch: Any = None
    sample_from: tuple[Any, ...] | None = None  # where samples.png crops come from (held-out images)
    side_names: set[str] | None = None
    chain = None
    pool: int | None = None  # screens in the source pool (synthetic stage on screens only)
    if opts.pairs is not None:
        entries = D.read_pairs(opts.pairs, "--pairs")
        patch = opts.patch or rec.patch
        # read as stored (no channel conversion), so a colour folder for a gray network is caught
        probe = D.PairsStream(opts.pairs, None, None, opts.seed, entries=entries[:1]).all()
        side_names = set(probe.side)
        tgt_hw = probe.target.shape[1:3]
        if opts.patch is None:  # the recipe's patch, or whole pairs when they are smaller
            patch = min(patch, *tgt_hw)
            m = max(1, spec.size_multiple) * max(1, spec.scale)
            patch -= patch % m
        if probe.input.shape[-1] != channels:
            raise UserError(f"--pairs {opts.pairs}: {probe.input.shape[-1]}-channel images for the {channels}-channel "
                            f"network {spec.name} (synthesize them with imgrestore synth --channels {channels})")
        check_patch(patch, spec)
        stream = D.PairsStream(opts.pairs, patch, channels, opts.seed, entries=entries)
        n_val = opts.val_count if opts.val_count is not None else (0 if paired_real else min(16, len(stream) // 10))
        if n_val and opts.val_pairs is None:
            if n_val >= len(stream):
                raise UserError(f"--val-count {n_val}: --pairs {opts.pairs} has only {len(stream)} pairs")
            val_batch = stream.subset(len(stream) - n_val, len(stream)).all()
            sample_from = ("pairs", opts.pairs, entries[len(stream) - n_val:], "--pairs")
            stream = stream.subset(0, len(stream) - n_val)
        data_desc = f"pairs from {opts.pairs} ({len(stream)} for training)"
    else:
        if paired_real:
            raise UserError(f"--stage {opts.stage}: needs --pairs REAL_PAIRS")
        spec_text = opts.degrade or default_degrade(spec)
        chain = Chain.load(spec_text)
        patch = opts.patch or rec.patch
        check_patch(patch, spec)
        side_names = D.probe_chain(chain, channels, patch, spec.name, max(1, spec.scale))
        content = chain_content(chain)
        gpu = device.startswith("cuda") and not opts.workers and _gpu_ok()
        pool = _screen_pool(opts, content, gpu)
        sources = D.load_sources(opts.clean, chain.source_size((patch, patch)), "--clean", content, opts.seed, pool)
        if opts.clean is None and content == "photos":
            say(f"imgrestore: warning: no --clean or --pairs: training on the {len(sources)} scikit-image sample "
                "images (a demonstration, not a training set); give --clean FOLDER or --pairs FOLDER", dist)
        train_src, val_src = D.split_sources(sources, opts.val_images, opts.seed)
        if not val_src:
            say(f"imgrestore: warning: --clean has {len(sources)} usable image(s): validation crops come from the "
                "training images (give more images for a held-out split)", dist)
            val_src = train_src
        # CuPy chain on the GPU in the training process, handed to torch by DLPack, its sources held
        # there whole (with --workers the chain runs on the CPU in the workers instead)
        stream = D.SynthStream(train_src, chain, patch, channels, opts.seed, gpu, pool=gpu or pool is not None)
        if gpu and pool is not None:
            import time

            t0 = time.perf_counter()
            made = stream.prefill(iters * batch * dist.world)
            say(f"fit: rendered {made} screens into the GPU pool in {time.perf_counter() - t0:.1f} s", dist)
        n_val = 16 if opts.val_count is None else opts.val_count
        if n_val and opts.val_pairs is None:
            vs = D.SynthStream(val_src, chain, patch, channels, opts.seed + D.VAL_SEED_OFFSET)
            val_batch = vs.batch(list(range(n_val)))
            sample_from = ("synth", val_src, chain)
        data_desc = (f"{chain.spec()} on the fly from {opts.clean or BUILTIN_CONTENT[content]}"
                     f"{f' (pool of {pool})' if pool is not None else ''} "
                     f"({len(train_src)} training / {len(val_src) if val_src is not train_src else 0} held-out images)")
    if opts.val_pairs is not None:
        val_batch = D.PairsStream(opts.val_pairs, None, channels, 0, "--val-pairs").all()
        sample_from = ("pairs", opts.val_pairs, D.read_pairs(opts.val_pairs, "--val-pairs"), "--val-pairs")

    # -- network, optimizer, run folder -------------------------------------------------------------
    net = init_model if init_model is not None else build_net(spec, config)
    criterion.check(net, spec.name, side_names)
    speed = device_speed(opts, device)
    net.to(device)
    if speed.channels_last:
        net.to(memory_format=torch.channels_last)
    frozen: list[torch.nn.Module] = []
    if opts.stage == "transfer":
        patterns = opts.transfer_params or spec.transfer
        if not patterns:
            raise UserError(f"--stage transfer: network {spec.name} declares no transfer set; give --transfer-params "
                            "PATTERNS (fnmatch on parameter names) or use --stage retrain")
        chosen = 0
        for name, p in net.named_parameters():
            p.requires_grad_(any(fnmatch.fnmatchcase(name, pat) for pat in patterns))
            chosen += int(p.requires_grad)
        if not chosen:
            raise UserError(f"--transfer-params {','.join(patterns)}: matches no parameter of {spec.name}")
        frozen = _frozen_bn(net)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = make_optimizer(optimizer, params, lr, momentum, weight_decay)
    settings = {"plugin": spec.name, "stage": opts.stage, "pool": pool, "data": data_desc, "seed": opts.seed, "batch": batch,
                "patch": patch, "loss": loss_name, "optimizer": optimizer, "lr": lr, "lr_final": lr_final,
                "iters": iters, "net_config": config, "init": str(opts.init) if opts.init else None,
                "transfer_params": list(opts.transfer_params or spec.transfer) if opts.stage == "transfer" else None,
                "world": dist.world, "device": device}
    folder = RunFolder(opts.out, settings, opts.resume, dist)
    start = folder.resume_point({"net": net}, {"net": opt}, spec.name)
    fwd = _compiled(wrap(TrainForward(net, criterion.outputs), dist, device), speed)
    step = SupervisedStep(fwd, net, criterion, opt, device, speed.amp, frozen, speed.channels_last)
    workers = opts.workers if opts.workers is not None else (1 if chain is not None and not gpu else 0)
    ds = D.IterationDataset(stream, batch, dist.rank, dist.world, start, iters)
    validator = Validator(net, _val_batches(val_batch, 16), device) if val_batch is not None else None
    ls = LoopSettings(iters=iters, batch=batch, lr=lr, lr_final=lr_final, val_every=opts.val_every,
                      ckpt_every=opts.ckpt_every, log_every=opts.log_every, workers=workers, device=device,
                      amp=speed.amp, channels_last=speed.channels_last, compile=speed.compile, progress=opts.progress,
                      snapshot_every=opts.snapshot_every)
    outputs = run_outputs(opts, spec, net, config, channels, device, sample_from, dist) if validator else None
    trainer = Trainer(step, ds, opts.out, spec.name, config, ls, dist, validator,
                      meta={"stage": opts.stage, "settings": settings}, prefix=f"fit {spec.name} {opts.stage}",
                      on_iteration=on_iteration)
    say(f"fit {spec.name} {opts.stage}: {data_desc}; {iters} iterations x batch {batch}"
        f"{f' x {dist.world} ranks' if dist.active else ''}, patch {patch}, loss {loss_name}, {optimizer} lr {lr:g}"
        f"{f' -> {lr_final:g}' if lr_final else ''}; {sum(p.numel() for p in params):,} trainable parameters"
        f"{f'; {speed.describe()}' if speed.describe() else ''}{f'; resuming at iteration {start}' if start else ''}", dist)
    log = MetricsLog(opts.out, resume_at=start) if dist.main else None
    if log is not None:
        log.describe({**settings, "val_every": opts.val_every, "ckpt_every": opts.ckpt_every,
                      "snapshot_every": opts.snapshot_every, "precision": opts.precision})
        if outputs is not None:
            outputs.resume(log.rows)
            log.on_val = outputs
    try:
        trainer.run(start, log)
    finally:
        if log is not None:
            log.close()
    scores = validator() if (validator is not None and dist.main) else {}
    if dist.main and opts.figures:
        _figures(Path(opts.out), validator, grid=outputs is None or outputs.samples is None)
        if outputs is not None and outputs.samples is not None:
            outputs.write_samples(f"iteration {iters}")
    return {"stage": opts.stage, "out": str(opts.out), "model": str(Path(opts.out) / MODEL), "iters": iters,
            "val": scores, "main": dist.main, "best": outputs.summary() if outputs is not None else None}


# ---------------------------------------------------------------------------------------------
# surrogate (+GAN) stages


class DiscriminatorPair(torch.nn.Module):
    """D applied to the clean batch and to the restored batch in two separate passes (one
    forward, so DistributedDataParallel's hooks see D once). Separate passes keep D's batch
    norm statistics those of one kind of image, as in the G update, where D sees G(Y) alone;
    a concatenated batch would train D under statistics it never sees when G is scored."""

    def __init__(self, d: torch.nn.Module) -> None:
        super().__init__()
        self.d = d

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.d(real), self.d(fake)


class AdversarialStep:
    """One iteration of stage 2: a D update (BCE, clean patches vs G(Y)) then a G update
    (``L2(G(Y), X_s) + lambda * -log D(G(Y))``), k = 1. `d_fwd` is a
    :class:`DiscriminatorPair` (maybe DDP-wrapped)."""

    def __init__(self, g_fwd: Any, g: torch.nn.Module, d_fwd: Any, d: torch.nn.Module, opt_g: torch.optim.Optimizer,
                 opt_d: torch.optim.Optimizer, adv_weight: float, device: str, amp: bool = False,
                 channels_last: bool = False, d_score: Any = None):
        self.g_fwd, self.g, self.d_fwd, self.d = g_fwd, g, d_fwd, d
        self.opt_g, self.opt_d, self.lam, self.device, self.amp = opt_g, opt_d, adv_weight, device, amp
        self.channels_last = channels_last
        self.d_score = d_score if d_score is not None else d  # D for the G update (maybe compiled)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"net": self.g, "disc": self.d}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": self.opt_g, "disc": self.opt_d}

    def train_mode(self) -> None:
        self.g.train()
        self.d.train()

    def run(self, item: dict[str, Any], check: Callable[[dict[str, torch.Tensor]], None] | None = None
            ) -> dict[str, torch.Tensor]:
        """One D and one G update; the loss parts (detached, on the device). `check`, when
        given, sees each loss before its update (the loop passes none: no host reads)."""
        check = check or (lambda parts: None)
        cl = self.channels_last
        x, xs = to_nchw(item["input"], self.device, cl), to_nchw(item["target"], self.device, cl)
        clean = to_nchw(item["clean"], self.device, cl)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
            out = self.g_fwd(x)["out"]
            real_logits, fake_logits = self.d_fwd(clean, out.detach())
        d_loss = discriminator_bce(real_logits.float(), fake_logits.float())
        check({"d": d_loss})
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        for p in self.d.parameters():
            p.requires_grad_(False)
        try:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
                adv = generator_adversarial(self.d_score(out).float())
            rec = l2(out.float(), xs)
            total = rec + self.lam * adv
            check({"loss": total, "l2": rec, "adv": adv})
            self.opt_g.zero_grad(set_to_none=True)
            total.backward()
            self.opt_g.step()
        finally:
            for p in self.d.parameters():
                p.requires_grad_(True)
        return {"loss": total.detach(), "l2": rec.detach(), "adv": adv.detach(), "d": d_loss.detach()}

    def __call__(self, item: dict[str, Any], check: Callable[[dict[str, torch.Tensor]], None]) -> dict[str, float]:
        """:meth:`run` with the parts read back as floats (one host sync; for direct callers)."""
        return {k: float(v) for k, v in self.run(item, check).items()}


def load_real(folder: Path, channels: int, min_side: int, option: str = "--real") -> tuple[list[str], list[np.ndarray]]:
    """The real degraded images of `folder` (converted to `channels`); images smaller than
    `min_side` are reported and skipped; none left is a UserError."""
    from imgrestore.sources.pool import to_channels as _to_channels

    sources = D.load_sources(folder, (min_side, min_side), option)
    out = []
    for s in sources:
        from imgrestore.io import read_image

        out.append(np.ascontiguousarray(_to_channels(read_image(s.path), channels)))
    return [s.name for s in sources], out


def _weights_digest(model: torch.nn.Module) -> str:
    import hashlib

    h = hashlib.sha256()
    for name, v in model.state_dict().items():
        h.update(name.encode())
        h.update(v.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def make_surrogates(model: torch.nn.Module, spec: Any, images: list[np.ndarray], names: list[str], cache: Path,
                    device: str, dist: Dist) -> list[np.ndarray]:
    """X_s = model(Y) for every real image, computed once (rank 0, with progress) and cached
    as ``cache/NNNNN.npy``; later calls and other ranks read the cache. ``cache/source.json``
    records the model's weights (a digest) and the images the cache was made from: a cache
    left by another model (a run killed before its first checkpoint, then started again with
    another --init) is made again, never reused."""
    import copy

    from imgrestore.restore import Restorer

    cache.mkdir(parents=True, exist_ok=True)
    files = [cache / f"{k:05d}.npy" for k in range(len(images))]
    if dist.main:
        marker = cache / "source.json"
        source = as_json({"model": _weights_digest(model), "images": names, "shapes": [im.shape for im in images]})
        try:
            same = json.loads(marker.read_text(encoding="utf-8")) == source
        except (OSError, ValueError):
            same = False
        if not same:
            for f in cache.glob("*.npy"):
                f.unlink()
            write_file(marker, json.dumps(source).encode())
    if dist.main and not all(f.exists() for f in files):
        import io as _io
        import time

        from imgrestore.progress import bar

        restorer = Restorer(copy.deepcopy(model), spec, device=device.split(":")[0], tile=None)
        t0 = time.perf_counter()
        todo = [(img, f) for img, f in zip(images, files) if not f.exists()]
        with bar(len(images), "surrogates", unit="img", initial=len(images) - len(todo)) as shown:
            for img, f in todo:
                buf = _io.BytesIO()
                np.save(buf, restorer(img).astype(np.float32))
                write_file(f, buf.getvalue())
                shown.update()
        print(f"surrogates: {len(todo)} of {len(images)} images made in {time.perf_counter() - t0:.1f} s, cached in "
              f"{cache}", file=sys.stderr, flush=True)
    barrier(dist)
    return [np.load(f) for f in files]


def fit_surrogate(opts: FitOptions, dist: Dist, device: str, on_iteration: Callable[[int], None] | None) -> dict[str, Any]:
    """Stages 2..N: surrogate ground truth from the previous stage's model plus the GAN term."""
    from imgrestore.weights.checkpoint import load_network

    spec = get_spec(opts.plugin)  # the options were checked by check_options
    g_prev, _, ck = load_init(opts.init, spec.name)
    config = dict(ck.config)
    channels = net_channels(spec, config)
    scale = max(1, spec.scale)
    patch = opts.patch or SURROGATE_PATCH
    batch = opts.batch or SURROGATE_DEFAULTS["batch"]
    iters = opts.iters or SURROGATE_DEFAULTS["iters"]
    lr = opts.lr or SURROGATE_LR.get(spec.task, 1e-4)
    lam = SURROGATE_DEFAULTS["adv_weight"] if opts.adv_weight is None else opts.adv_weight
    names, real = load_real(opts.real, channels, patch // scale)
    clean_src = D.load_sources(opts.unpaired_clean, (patch, patch), "--unpaired-clean")
    disc_spec = get_spec(DISCRIMINATOR, "discriminator")
    val_batch = D.PairsStream(opts.val_pairs, None, channels, 0, "--val-pairs").all() if opts.val_pairs else None
    out_root = Path(opts.out)
    results = []
    for k in range(2, opts.stages + 1):
        folder_path = out_root / f"stage{k}"
        settings = {"plugin": spec.name, "stage": "surrogate", "round": k, "init": str(opts.init), "real": str(opts.real),
                    "unpaired_clean": str(opts.unpaired_clean), "seed": opts.seed, "batch": batch, "patch": patch,
                    "lr": lr, "adv_weight": lam, "iters": iters, "net_config": config,
                    "disc_config": dict(opts.disc_config), "world": dist.world, "device": device}
        done = folder_path / MODEL
        if opts.resume and done.exists() and (folder_path / CHECKPOINT).exists():
            from imgrestore.weights.checkpoint import read_checkpoint

            if int(read_checkpoint(done).meta.get("iteration", -1)) >= iters:
                say(f"fit {spec.name} surrogate: stage {k} is complete ({done}); skipped", dist)
                g_prev, _, _ = load_network(done, spec.name)
                results.append({"stage": k, "out": str(folder_path), "model": str(done)})
                continue
        folder = RunFolder(folder_path, settings, opts.resume, dist)
        g_prev.to(device)
        say(f"fit {spec.name} surrogate stage {k}: surrogates X_s = G(Y) with the stage-{k - 1} model for {len(real)} real images", dist)
        targets = make_surrogates(g_prev, spec, real, names, folder_path / "surrogates", device, dist)
        g = build_net(spec, config)
        g.load_state_dict(g_prev.state_dict())
        g.to(device)
        speed = device_speed(opts, device)
        if speed.channels_last:
            g.to(memory_format=torch.channels_last)
        # D's initial weights depend on (seed, stage) only, not on what ran before in this
        # process (a resumed run skips finished stages): resume stays bit-exact
        torch.manual_seed(int(np.random.SeedSequence([opts.seed, k]).generate_state(1)[0]))
        try:
            d = disc_spec.build(**{"channels": spec.out_channels if "channels" not in config else channels,
                                   "patch": patch, **opts.disc_config})
        except (TypeError, ValueError) as exc:
            raise UserError(f"--disc-config {opts.disc_config}: cannot build the discriminator: {exc}") from None
        d.to(device)
        if speed.channels_last:
            d.to(memory_format=torch.channels_last)
        opt_g = make_optimizer("adam", list(g.parameters()), lr)
        opt_d = make_optimizer("adam", list(d.parameters()), lr)
        start = folder.resume_point({"net": g, "disc": d}, {"net": opt_g, "disc": opt_d}, spec.name)
        g_fwd = _compiled(wrap(TrainForward(g, "out"), dist, device), speed)
        d_fwd = _compiled(wrap(DiscriminatorPair(d), dist, device), speed)
        step = AdversarialStep(g_fwd, g, d_fwd, d, opt_g, opt_d, lam, device, speed.amp, speed.channels_last,
                               _compiled(d, speed))
        stream = D.RealStream(real, targets, patch, scale, opts.seed + k)
        clean = D.CleanStream(clean_src, patch, spec.out_channels if "channels" not in config else channels, opts.seed + k)
        ds = D.IterationDataset(stream, batch, dist.rank, dist.world, start, iters, clean=clean)
        validator = Validator(g, _val_batches(val_batch, 16), device) if val_batch is not None else None
        ls = LoopSettings(iters=iters, batch=batch, lr=lr, val_every=opts.val_every, ckpt_every=opts.ckpt_every,
                          log_every=opts.log_every, workers=opts.workers or 0, device=device, amp=speed.amp,
                          channels_last=speed.channels_last, compile=speed.compile, progress=opts.progress,
                          snapshot_every=opts.snapshot_every)
        trainer = Trainer(step, ds, folder_path, spec.name, config, ls, dist, validator,
                          meta={"stage": f"surrogate-{k}", "settings": settings},
                          prefix=f"fit {spec.name} stage {k}", on_iteration=on_iteration)
        say(f"fit {spec.name} surrogate stage {k}: {len(real)} real images, {len(clean_src)} unpaired clean; "
            f"{iters} iterations x batch {batch}, patch {patch}, L2 + {lam:g} x adversarial, adam lr {lr:g}"
            f"{f'; {speed.describe()}' if speed.describe() else ''}{f'; resuming at iteration {start}' if start else ''}",
            dist)
        log = MetricsLog(folder_path, resume_at=start) if dist.main else None
        if log is not None:  # the run settings to TensorBoard; model_best by validation PSNR (no crops here)
            log.describe({**settings, "val_every": opts.val_every, "snapshot_every": opts.snapshot_every})
            if validator is not None:
                from imgrestore.train.outputs import RunOutputs

                best = RunOutputs(folder_path, g, spec.name, config, device, None, stage=f"surrogate-{k}")
                best.resume(log.rows)
                log.on_val = best
        try:
            trainer.run(start, log)
        finally:
            if log is not None:
                log.close()
        scores = validator() if (validator is not None and dist.main) else {}
        if dist.main and opts.figures:
            _figures(folder_path, validator, g_prev, k)
            _surrogate_grid(folder_path, g, stream, k, device)
        results.append({"stage": k, "out": str(folder_path), "model": str(done), "val": scores})
        g_prev = g
    final = out_root / MODEL
    if dist.main:
        write_file(final, Path(results[-1]["model"]).read_bytes())
    return {"stage": "surrogate", "out": str(out_root), "model": str(final), "stages": results, "main": dist.main}


def options_dict(opts: FitOptions) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}
