"""What ``imgrestore fit`` accepts (:class:`FitOptions`) and the checks made before any work.

The stage names and the surrogate stage's defaults, the ranges of the numeric options, what each
stage requires or refuses (:func:`check_options`), and the options resolved for the device:
--precision/--amp/--compile (:func:`device_speed`) and --pool (:func:`screen_pool_size`). One place, so
the command, the Python API and the stages refuse bad input with the same one-line errors.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from imgrestore.errors import UserError
from imgrestore.registry import get_spec
from imgrestore.train.network import check_patch, default_degrade

STAGES = ("synthetic", "surrogate", "transfer", "retrain")
DISCRIMINATOR = "srgan-discriminator"
# Liu, Shu, Wu: stage-2 settings.
SURROGATE_DEFAULTS = {"batch": 32, "iters": 10_000, "adv_weight": 1e-3}
SURROGATE_LR = {"demoire": 1e-5, "super-resolution": 1e-4}
SURROGATE_PATCH = 96
PRECISIONS = ("auto", "bf16", "fp32")


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


def options_dict(opts: FitOptions) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}


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
    from imgrestore.chain import Chain

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

    def place(self, module: torch.nn.Module, device: str) -> torch.nn.Module:
        """`module` moved to `device` (in place, as ``Module.to``), in channels-last memory when
        that is on; returns it."""
        module.to(device)
        if self.channels_last:
            module.to(memory_format=torch.channels_last)
        return module


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


def maybe_compile(module: Any, speed: DeviceSpeed) -> Any:
    """`module` through torch.compile when asked; the module itself (its state dict, the
    checkpoints) is unchanged, only the callable the step uses."""
    return torch.compile(module) if speed.compile else module


def screen_pool_size(opts: FitOptions, content: str, gpu: bool) -> int | None:
    """Screens in the run's pool: --pool, 256 on the GPU, None (windows per crop) on the CPU; only
    rendered screens have a pool (photos are held whole on the GPU anyway)."""
    from imgrestore.sources.pool import screen_pool_size as decide

    return decide(opts.pool, opts.clean is None and content == "screens", gpu, "--clean")
