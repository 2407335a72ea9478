"""The iteration loop every stage shares: data, steps, logging, validation, checkpoints.

What makes a run trustworthy lives here:

* iteration ``t`` sees the batch of samples :func:`~imgrestore.train.data.batch_indices` ``(t)``
  and the learning rate ``lr_at(t)``, nothing else, so a resumed run on CPU repeats an
  uninterrupted one bit for bit;
* a loss that is NaN or infinite stops the run *before* the update, with a message, and the
  last good checkpoint on disk is kept;
* Ctrl-C (SIGINT) asks the loop to stop after the current iteration and save a checkpoint; a
  second Ctrl-C interrupts at once (the last checkpoint on disk stays valid);
* checkpoints are written atomically (a full disk is a one-line error, nothing lost).
"""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from imgrestore.errors import UserError
from imgrestore.train.ddp import Dist, all_max
from imgrestore.train.log import MetricsLog, Progress
from imgrestore.train.state import save_model, save_state

CHECKPOINT = "checkpoint.safetensors"
MODEL = "model.safetensors"


class NonFiniteLoss(UserError):
    """A loss became NaN or infinite; the run stopped before applying it."""


class Interrupted(Exception):
    """The run was stopped by Ctrl-C; ``checkpoint`` names the saved state (or None)."""

    def __init__(self, iteration: int, checkpoint: Path | None):
        super().__init__(f"interrupted at iteration {iteration}")
        self.iteration, self.checkpoint = iteration, checkpoint


@dataclass
class LoopSettings:
    """How long and how often: iterations, batch, learning-rate schedule, cadences."""

    iters: int
    batch: int
    lr: float
    lr_final: float | None = None   # exponential decay from lr to lr_final over the run
    val_every: int = 500
    ckpt_every: int = 1000
    log_every: int = 10
    workers: int = 0
    device: str = "cpu"
    amp: bool = False               # bf16 autocast (CUDA only)
    progress: bool = True

    def lr_at(self, it: int) -> float:
        if not self.lr_final or self.iters <= 1:
            return self.lr
        return self.lr * (self.lr_final / self.lr) ** (it / (self.iters - 1))


def make_optimizer(name: str, params: list[torch.nn.Parameter], lr: float, momentum: float = 0.9,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """adam or sgd (momentum, weight decay) over `params`."""
    name = name.lower()
    if not params:
        raise UserError("no trainable parameters (check --transfer-params / the plugin's transfer set)")
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise UserError(f"--optimizer {name!r}: expected adam or sgd")


def to_nchw(x: Any, device: str) -> torch.Tensor:
    """An NHWC batch (torch tensor, numpy, or CuPy via DLPack) as a dense NCHW float tensor."""
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(x)
    elif isinstance(x, torch.Tensor):
        t = x
    else:
        from imgrestore.backend import to_torch

        return to_torch(x).contiguous().to(device)
    return t.permute(0, 3, 1, 2).contiguous().to(device, non_blocking=True)


def _finite(v: torch.Tensor) -> bool:
    return bool(torch.isfinite(v.detach()).all())


class SupervisedStep:
    """One update of `net` on (input, target): forward through `fwd` (a TrainForward, maybe
    DDP-wrapped), the named criterion, backward, optimizer step."""

    def __init__(self, fwd: torch.nn.Module, net: torch.nn.Module, criterion: Any, optimizer: torch.optim.Optimizer,
                 device: str, amp: bool = False, frozen_eval: list[torch.nn.Module] | None = None):
        self.fwd, self.net, self.criterion, self.opt = fwd, net, criterion, optimizer
        self.device, self.amp = device, amp
        self.frozen_eval = frozen_eval or []

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": self.opt}

    def train_mode(self) -> None:
        self.net.train()
        for m in self.frozen_eval:  # modules with no trainable parameters keep their statistics
            m.eval()

    def __call__(self, item: dict[str, Any], check: Callable[[dict[str, torch.Tensor]], None]) -> dict[str, float]:
        from imgrestore.train.losses import side_to_nchw

        x, y = to_nchw(item["input"], self.device), to_nchw(item["target"], self.device)
        side = {k: v.to(self.device) for k, v in side_to_nchw(item.get("side") or {}).items()}
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
            out = self.fwd(x)
        out = {k: v.float() for k, v in out.items()}
        total, parts = self.criterion(out, y, side)
        parts = {"loss": total, **parts} if len(parts) > 1 else {"loss": total}
        check(parts)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        return {k: float(v.detach()) for k, v in parts.items()}


class Trainer:
    """Runs `step` from iteration `start` to ``settings.iters`` with logging, validation,
    checkpoints, NaN and Ctrl-C handling. ``on_iteration(t)`` (tests) runs after step t."""

    def __init__(self, step: Any, dataset: Any, out: Path, network: str, config: dict[str, Any],
                 settings: LoopSettings, dist: Dist | None = None,
                 validate: Callable[[], dict[str, float]] | None = None, meta: dict[str, Any] | None = None,
                 prefix: str = "fit", on_iteration: Callable[[int], None] | None = None):
        self.step, self.dataset, self.out, self.network, self.config = step, dataset, Path(out), network, config
        self.s, self.dist = settings, dist or Dist()
        self.validate, self.meta, self.prefix, self.on_iteration = validate, meta or {}, prefix, on_iteration
        self.stop_requested = False
        self.last_checkpoint: tuple[int, Path] | None = None

    # -- pieces -----------------------------------------------------------------------------------
    def _loader(self) -> Iterator[dict[str, Any]]:
        if self.s.workers > 0:
            from torch.utils.data import DataLoader

            return iter(DataLoader(self.dataset, batch_size=None, shuffle=False, num_workers=self.s.workers,
                                   prefetch_factor=4, multiprocessing_context="spawn", persistent_workers=False))
        return (self.dataset[k] for k in range(len(self.dataset)))

    def checkpoint(self, it: int) -> Path | None:
        if not self.dist.main:
            return None
        path = self.out / CHECKPOINT
        for name, mod in self.step.modules().items():
            bad = [k for k, v in mod.state_dict().items() if v.is_floating_point() and not _finite(v)]
            if bad:
                kept = (f"the last good checkpoint {self.last_checkpoint[1]} (iteration {self.last_checkpoint[0]}) is kept"
                        if self.last_checkpoint else "no checkpoint was written yet")
                raise NonFiniteLoss(f"iteration {it}: the {name} weights became non-finite ({bad[0]}, ...): the run "
                                    f"diverged; not saved; {kept}; try a lower --lr")
        save_state(path, self.network, self.config, self.step.modules(), self.step.optimizers(), it, **self.meta)
        save_model(self.out / MODEL, self.network, self.config, self.step.modules()["net"], iteration=it,
                   stage=self.meta.get("stage"))
        self.last_checkpoint = (it, path)
        return path

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self.stop_requested:
            raise KeyboardInterrupt
        self.stop_requested = True

    def _check(self, parts: dict[str, torch.Tensor], it: int) -> None:
        bad = [k for k, v in parts.items() if not _finite(v)]
        if self.dist.active:  # every rank must stop at the same iteration
            flags = all_max([1.0 if bad else 0.0, 1.0 if self.stop_requested else 0.0], self.dist)
            if flags[1] > 0:
                self.stop_requested = True
            if flags[0] > 0 and not bad:
                bad = ["loss (on another rank)"]
        if bad:
            vals = ", ".join(f"{k}={float(v.detach().float().mean()) if v.numel() else v}" for k, v in parts.items())
            kept = (f"the last good checkpoint {self.last_checkpoint[1]} (iteration {self.last_checkpoint[0]}) is kept"
                    if self.last_checkpoint else "no checkpoint was written yet")
            raise NonFiniteLoss(f"iteration {it + 1}: non-finite loss ({vals}); stopped before the update; {kept}; "
                                "try a lower --lr")

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, start: int = 0, log: MetricsLog | None = None) -> int:
        """Train until ``settings.iters``; returns the last completed iteration."""
        s = self.s
        progress = Progress(s.iters, start, self.prefix, every=max(s.log_every, 1), enabled=s.progress and self.dist.main)
        old_handler = None
        if threading.current_thread() is threading.main_thread():
            old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        it = start
        window: dict[str, list[float]] = {}
        wait = 0.0
        t_window = time.perf_counter()
        try:
            self.step.train_mode()
            loader = self._loader()
            in_update = False
            try:
                while it < s.iters:
                    if self.stop_requested:
                        raise KeyboardInterrupt
                    t0 = time.perf_counter()
                    item = next(loader)
                    wait += time.perf_counter() - t0
                    lr = s.lr_at(it)
                    for opt in self.step.optimizers().values():
                        for g in opt.param_groups:
                            g["lr"] = lr
                    in_update = True
                    losses = self.step(item, lambda parts, it=it: self._check(parts, it))
                    it += 1  # before leaving the update: a Ctrl-C in between never saves a model one step ahead
                    in_update = False
                    for k, v in losses.items():
                        window.setdefault(k, []).append(v)
                    progress.update(it, losses)
                    if self.dist.main and log is not None and (it % s.log_every == 0 or it == s.iters):
                        dt = time.perf_counter() - t_window
                        n = len(next(iter(window.values())))
                        log.add({"kind": "train", "iter": it, "lr": lr, "it_s": n / dt if dt > 0 else 0.0,
                                 "data_share": wait / dt if dt > 0 else 0.0,
                                 **{k: sum(v) / len(v) for k, v in window.items()}})
                        window, wait, t_window = {}, 0.0, time.perf_counter()
                    if self.validate is not None and self.dist.main and (it % s.val_every == 0 or it == s.iters):
                        scores = self.validate()
                        self.step.train_mode()
                        if log is not None:
                            log.add({"kind": "val", "iter": it, **scores})
                        progress.message(f"{self.prefix} {it}/{s.iters}  validation  "
                                         + "  ".join(f"{k} {v:.4f}" for k, v in scores.items()))
                    if it % s.ckpt_every == 0 or it == s.iters:
                        self.checkpoint(it)
                    if self.on_iteration is not None:
                        self.on_iteration(it)
            except KeyboardInterrupt:
                progress.close()
                path = None
                if not in_update:  # the model is exactly the state after `it` iterations
                    path = self.checkpoint(it)
                raise Interrupted(it, path if path else (self.last_checkpoint[1] if self.last_checkpoint else None)) from None
        finally:
            progress.close()
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)
        return it


@dataclass
class Validator:
    """Scores the network on fixed held-out batches: mean PSNR and SSIM (imgrestore.metrics,
    outputs clipped to [0, 1]) and keeps the first outputs for the sample grid."""

    net: torch.nn.Module
    batches: list[Any]
    device: str
    outputs: list[np.ndarray] = field(default_factory=list)

    def __call__(self) -> dict[str, float]:
        from imgrestore.metrics import psnr, ssim

        self.net.eval()
        ps, ss, kept = [], [], []
        with torch.no_grad():
            for b in self.batches:
                out = self.net(to_nchw(b.input, self.device))
                out = out[0] if isinstance(out, (tuple, list)) else out
                out = out.float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
                tgt = np.asarray(b.target)
                for o, t in zip(out, tgt):
                    p = psnr(o, t)
                    ps.append(p if math.isfinite(p) else 100.0)
                    ss.append(ssim(o, t) if min(t.shape[:2]) >= 11 else float("nan"))
                    kept.append(o)
        self.outputs = kept
        ss_ok = [v for v in ss if math.isfinite(v)]
        scores = {"psnr": float(np.mean(ps))}
        if ss_ok:
            scores["ssim"] = float(np.mean(ss_ok))
        return scores
