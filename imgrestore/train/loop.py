"""The iteration loop every stage shares: data, steps, logging, validation, checkpoints.

Longer than ~400 lines because it is one job: :class:`Trainer` (about half the file) and the
step and optimizer it drives share the guarantees below, read best in one place.

What makes a run trustworthy lives here:

* iteration ``t`` sees the batch of samples :func:`~imgrestore.train.data.batch_indices` ``(t)``
  and the learning rate ``lr_at(t)``, nothing else, so a resumed run on CPU repeats an
  uninterrupted one bit for bit;
* losses stay on the device: the loop reads them back to the host once every ``log_every``
  iterations and before every checkpoint (one read-back of the whole window), not once per
  iteration, so a GPU is never made to wait for the host in between (docs/training-speed.md);
* a loss that is NaN or infinite, found in that read-back, or non-finite weights, found before
  every checkpoint, stop the run: no checkpoint with non-finite weights is ever written, the
  weights are rolled back to the last good checkpoint (which stays on disk) and the message
  names the first bad iteration;
* so does a run that explodes but stays finite (a too-high --lr): a loss over
  ``DIVERGE_RATIO`` times the median of the recent losses (or over ``HUGE_LOSS``), found in the
  same read-back, or a weight or statistic (e.g. a BN running variance) over ``HUGE_WEIGHT``,
  found before every checkpoint;
* Ctrl-C (SIGINT) asks the loop to stop after the current iteration and save a checkpoint (under
  torchrun: at the next read-back, where the ranks agree); a second Ctrl-C interrupts at once
  (the last checkpoint on disk stays valid). Data-loader workers are started with SIGINT
  blocked, so a terminal's Ctrl-C (sent to the whole process group) reaches only the main
  process and the workers keep serving batches until it has saved;
* checkpoints are written atomically (a full disk is a one-line error, nothing lost).
"""

from __future__ import annotations

import math
import signal
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from imgrestore.errors import UserError
from imgrestore.torch_compile import compile_error, first_line
from imgrestore.train.ddp import Dist, all_max
from imgrestore.train.log import MetricsLog, Progress
from imgrestore.train.state import save_model, save_state

CHECKPOINT = "checkpoint.safetensors"
MODEL = "model.safetensors"

# Divergence that stays finite. Image losses (pixels in [0, 1]) move by a few times between
# batches; a jump of a thousand times over the median of the recent losses is a blow-up. The
# absolute limits hold for any loss and network of this project: an l2-sum over a 512x512x3
# patch with errors of 10 per pixel is 4e8; trained weights and BN statistics are O(1e3), and a
# BN running variance of 1e15 means activations with a standard deviation of 3e7 on [0, 1]
# images (the --lr 1e6 run of issue 13 reached 4e26), still far below float32's 3e38.
DIVERGE_RATIO = 1e3
DIVERGE_HISTORY = 8        # losses seen before the ratio test applies
HUGE_LOSS = 1e12
HUGE_WEIGHT = 1e15


class NonFiniteLoss(UserError):
    """A loss or the weights became NaN or infinite, or exploded (see DIVERGE_RATIO); the run
    stopped and rolled back."""


def start_workers_without_sigint(make: Callable[[], Any]) -> Any:
    """``make()`` with SIGINT blocked in this thread, so the processes it starts inherit the
    blocked signal (the mask survives fork and exec). A terminal's Ctrl-C goes to the whole
    process group: a data-loader worker that died of it left the main process a dangling
    shared-memory handle (FileNotFoundError / ConnectionResetError in torch's resource_sharer)
    instead of the batch it was waiting for. A SIGINT that arrives meanwhile stays pending and
    reaches this process when the mask is restored."""
    if not hasattr(signal, "pthread_sigmask"):
        return make()
    try:  # multiprocessing's resource tracker unblocks SIGINT once it has started: start it first
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    except Exception:  # noqa: BLE001 - no tracker on this platform: nothing unblocks the mask
        pass
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return make()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def ignore_sigint(worker_id: int) -> None:
    """Data-loader ``worker_init_fn``: the worker ignores SIGINT for good (the main process
    decides when to stop; it shuts the workers down itself)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Interrupted(Exception):
    """The run was stopped by Ctrl-C; ``checkpoint`` names the saved state (or None)."""

    def __init__(self, iteration: int, checkpoint: Path | None):
        super().__init__(f"interrupted at iteration {iteration}")
        self.iteration, self.checkpoint = iteration, checkpoint


@dataclass
class LoopSettings:
    """How long and how often: iterations, batch, learning-rate schedule, cadences, data-loader
    workers, and whether the step's forward modules went through torch.compile (the step itself
    holds the device, bf16 autocast and channels-last)."""

    iters: int
    batch: int
    lr: float
    lr_final: float | None = None   # exponential decay from lr to lr_final over the run
    val_every: int = 500
    ckpt_every: int = 1000
    snapshot_every: int = 0         # also keep model_<iter>.safetensors every N iterations (0: never)
    log_every: int = 50             # losses are read back to the host this often (and at checkpoints)
    workers: int = 0
    compile: bool = False           # the step's forward modules went through torch.compile
    progress: bool = True

    def lr_at(self, it: int) -> float:
        if not self.lr_final or self.iters <= 1:
            return self.lr
        return self.lr * (self.lr_final / self.lr) ** (it / (self.iters - 1))


def make_optimizer(name: str, params: list[torch.nn.Parameter], lr: float, momentum: float = 0.9,
                   weight_decay: float = 0.0, fused: bool | None = None) -> torch.optim.Optimizer:
    """adam or sgd (momentum, weight decay) over `params`. Adam is the fused CUDA kernel (one
    launch for all parameters, no host reads) when every parameter is a CUDA float tensor;
    `fused` False forces the default implementation. On the CPU nothing changes, so CPU runs
    keep their bits."""
    name = name.lower()
    if not params:
        raise UserError("no trainable parameters (check --transfer-params / the plugin's transfer set)")
    if name == "adam":
        if fused is None:
            fused = all(p.is_cuda and p.is_floating_point() for p in params)
        if fused:
            return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise UserError(f"--optimizer {name!r}: expected adam or sgd")


def to_nchw(x: Any, device: str, channels_last: bool = False) -> torch.Tensor:
    """An NHWC batch (torch tensor, numpy, or CuPy via DLPack) as an NCHW float tensor on
    `device`: dense NCHW, or with `channels_last` the NHWC memory as it is (the permuted view
    already has channels-last strides, so no copy beyond the transfer)."""
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(x)
    elif isinstance(x, torch.Tensor):
        t = x
    else:
        from imgrestore.backend import to_torch

        v = to_torch(x)  # an NCHW view of the NHWC array
        if channels_last:
            return v.to(device).contiguous(memory_format=torch.channels_last)
        return v.contiguous().to(device)
    if channels_last:
        return t.permute(0, 3, 1, 2).to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
    return t.permute(0, 3, 1, 2).contiguous().to(device, non_blocking=True)


def autocast_for(amp: bool) -> torch.autocast:
    """The steps' forward-pass context: bf16 autocast on CUDA when `amp`, else a no-op."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp)


class SupervisedStep:
    """One update of `net` on (input, target): forward through `fwd` (a TrainForward, maybe
    DDP-wrapped and/or compiled), the named criterion in fp32, backward, optimizer step.
    :meth:`run` returns the loss parts as device tensors and never reads them back."""

    def __init__(self, fwd: torch.nn.Module, net: torch.nn.Module, criterion: Any, optimizer: torch.optim.Optimizer,
                 device: str, amp: bool = False, frozen_eval: list[torch.nn.Module] | None = None,
                 channels_last: bool = False):
        self.fwd, self.net, self.criterion, self.opt = fwd, net, criterion, optimizer
        self.device, self.amp, self.channels_last = device, amp, channels_last
        self.frozen_eval = frozen_eval or []

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": self.opt}

    def train_mode(self) -> None:
        self.net.train()
        for m in self.frozen_eval:  # modules with no trainable parameters keep their statistics
            m.eval()

    def run(self, item: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One update; the loss parts (detached, on the device, never read back here)."""
        from imgrestore.train.losses import side_to_nchw

        x = to_nchw(item["input"], self.device, self.channels_last)
        y = to_nchw(item["target"], self.device, self.channels_last)
        side = {k: v.to(self.device) for k, v in side_to_nchw(item.get("side") or {}).items()}
        with autocast_for(self.amp):
            out = self.fwd(x)
        out = {k: v.float() for k, v in out.items()}
        total, parts = self.criterion(out, y, side)
        parts = {"loss": total, **parts} if len(parts) > 1 else {"loss": total}
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        return {k: v.detach() for k, v in parts.items()}

    def __call__(self, item: dict[str, Any]) -> dict[str, float]:
        """:meth:`run` with the parts read back as floats (one host sync; for direct callers)."""
        return {k: float(v) for k, v in self.run(item).items()}


class Trainer:
    """Runs `step` from iteration `start` to ``settings.iters`` with logging, validation,
    checkpoints, NaN and Ctrl-C handling. ``on_iteration(t)`` (tests) runs after step t.

    The step's loss parts stay on the device in ``_pending`` until a read-back (every
    ``log_every`` iterations, before every checkpoint, at the end): one stacked tensor, one
    transfer. Log rows hold the mean over their window of iterations, as before."""

    def __init__(self, step: Any, dataset: Any, out: Path, network: str, config: dict[str, Any],
                 settings: LoopSettings, dist: Dist | None = None,
                 validate: Callable[[], dict[str, float]] | None = None, meta: dict[str, Any] | None = None,
                 prefix: str = "fit", on_iteration: Callable[[int], None] | None = None):
        self.step, self.dataset, self.out, self.network, self.config = step, dataset, Path(out), network, config
        self.s, self.dist = settings, dist or Dist()
        self.validate, self.meta, self.prefix, self.on_iteration = validate, meta or {}, prefix, on_iteration
        self.stop_requested = False
        self._stop_agreed = False   # under torchrun: every rank saw the stop request at a read-back
        self.last_checkpoint: tuple[int, Path] | None = None
        self._pending: list[tuple[int, dict[str, torch.Tensor]]] = []   # (iteration, parts on the device)
        self._window: dict[str, list[float]] = {}                     # read-back values since the last row
        self._n_window = 0
        self.shown: dict[str, float] = {}                             # what the progress line shows
        self._recent: deque[float] = deque(maxlen=256)                # recent finite losses (divergence level)

    # -- pieces -----------------------------------------------------------------------------------
    def _loader(self) -> Iterator[dict[str, Any]]:
        if self.s.workers > 0:
            from torch.utils.data import DataLoader

            loader = DataLoader(self.dataset, batch_size=None, shuffle=False, num_workers=self.s.workers,
                                prefetch_factor=4, multiprocessing_context="spawn", persistent_workers=False,
                                worker_init_fn=ignore_sigint)
            return start_workers_without_sigint(lambda: iter(loader))
        return (self.dataset[k] for k in range(len(self.dataset)))

    def _kept(self) -> str:
        if self.last_checkpoint is None:
            return "no checkpoint was written yet"
        return f"the last good checkpoint {self.last_checkpoint[1]} (iteration {self.last_checkpoint[0]}) is kept"

    def _rollback(self) -> str:
        """Load the last good checkpoint back into the modules and optimizers, so the state in
        memory is the one on disk again; returns the words for the message."""
        if self.last_checkpoint is None:
            return ""
        from imgrestore.train.state import load_state

        try:
            load_state(self.last_checkpoint[1], self.step.modules(), self.step.optimizers(), self.network)
        except Exception as exc:  # the message about the divergence matters more
            return f" (rolling the weights back failed: {first_line(exc)})"
        return " and the weights were rolled back to it"

    def _weight_flags(self) -> tuple[list[str], list[torch.Tensor]]:
        """One flag per floating-point tensor: 1 fine, 0 non-finite, 2 finite but over HUGE_WEIGHT."""
        names, flags = [], []
        for name, mod in self.step.modules().items():
            for k, v in mod.state_dict().items():
                if v.is_floating_point():
                    v = v.detach()
                    names.append(f"{name}/{k}")
                    fin = torch.isfinite(v).all()
                    big = (v.abs() > HUGE_WEIGHT).any()
                    flags.append(torch.where(fin, torch.where(big, 2.0, 1.0), 0.0))
        return names, flags

    def _diverged_weights(self, it: int, bad: str, code: float = 0.0) -> NonFiniteLoss:
        name, _, key = bad.partition("/")
        kept = self._kept()
        what = "non-finite" if code != 2.0 else f"huge (a value over {HUGE_WEIGHT:.0e}, still finite)"
        return NonFiniteLoss(f"iteration {it}: the {name} weights became {what} ({key}, ...): the run diverged; "
                             f"not saved; {kept}{self._rollback()}; try a lower --lr")

    def _exploded(self, row: dict[str, float]) -> str | None:
        """Why the (finite) losses of one iteration mean the run diverged, or None; a loss that
        passes joins the running level."""
        v = abs(row.get("loss", next(iter(row.values()), 0.0)))
        level = statistics.median(self._recent) if len(self._recent) >= DIVERGE_HISTORY else None
        if v > HUGE_LOSS:
            return f"over {HUGE_LOSS:.0e}"
        if level is not None and level > 0 and v > DIVERGE_RATIO * level:
            return f"{v / level:.3g} times the median {level:.4g} of the last {len(self._recent)} losses"
        self._recent.append(v)
        return None

    def readback(self, it: int, weights: bool = False, collective: bool = True) -> None:
        """Read the pending loss parts (and, with `weights`, one finite flag per weight tensor)
        back in one transfer; append them to the log window. A non-finite value stops the run:
        rolled back to the last good checkpoint, NonFiniteLoss naming the first bad iteration.
        Under torchrun (`collective`) the ranks agree on divergence and stop requests here."""
        pending, self._pending = self._pending, []
        values = [v.float().reshape(()) for _, parts in pending for v in parts.values()]
        names, flags = self._weight_flags() if weights else ([], [])
        host: list[float] = []
        if values or flags:
            dev = (values or flags)[0].device
            host = torch.cat([torch.stack(values).to(dev) if values else torch.zeros(0, device=dev),
                              torch.stack(flags).float().to(dev) if flags else torch.zeros(0, device=dev)]).cpu().tolist()
        first_bad: tuple[int, dict[str, float]] | None = None
        exploded: str | None = None
        k = 0
        for t, parts in pending:
            row = dict(zip(parts, host[k:k + len(parts)]))
            k += len(parts)
            if first_bad is None and not all(math.isfinite(v) for v in row.values()):
                first_bad = (t, row)
            if first_bad is None:
                exploded = self._exploded(row)
                if exploded is not None:
                    first_bad = (t, row)
            if first_bad is None:
                for name, v in row.items():
                    self._window.setdefault(name, []).append(v)
                self._n_window += 1
        flagged = [(n, f) for n, f in zip(names, host[k:]) if f != 1.0]
        # a non-finite tensor is named before a merely huge one
        bad_weight, bad_code = min(flagged, key=lambda nf: nf[1] != 0.0) if flagged else (None, 0.0)
        other = False
        if collective and self.dist.active:  # every rank stops at the same iteration
            flags_all = all_max([1.0 if (first_bad or bad_weight) else 0.0, 1.0 if self.stop_requested else 0.0],
                                self.dist)
            if flags_all[1] > 0:
                self.stop_requested = self._stop_agreed = True
            other = flags_all[0] > 0 and not (first_bad or bad_weight)
        if first_bad is not None or other:
            t, row = first_bad if first_bad is not None else (it, {})
            vals = ", ".join(f"{n}={v:.6g}" for n, v in row.items()) if row else "on another rank"
            where = "" if t == it else f" at iteration {it} (losses are read back every --log-every iterations)"
            kept = self._kept()
            what = "non-finite loss" if exploded is None else f"exploding loss, {exploded}"
            how = "" if exploded is None else " like a non-finite loss"
            raise NonFiniteLoss(f"iteration {t}: {what} ({vals}); the run diverged; stopped{how}{where}; "
                                f"{kept}{self._rollback()}; try a lower --lr")
        if bad_weight is not None:
            raise self._diverged_weights(it, bad_weight, bad_code)

    def checkpoint(self, it: int) -> Path | None:
        """Write the training state and the model at iteration `it` (main rank). The caller has
        just read back and checked the pending losses and the weights (:meth:`readback` with
        `weights`): non-finite weights are never saved."""
        if not self.dist.main:
            return None
        path = self.out / CHECKPOINT
        save_state(path, self.network, self.config, self.step.modules(), self.step.optimizers(), it, **self.meta)
        save_model(self.out / MODEL, self.network, self.config, self.step.modules()["net"], iteration=it,
                   stage=self.meta.get("stage"))
        self.last_checkpoint = (it, path)
        return path

    def snapshot(self, it: int) -> Path:
        """Keep the model at iteration `it` as ``model_<it>.safetensors`` (weights already
        checked by the read-back before it; written atomically)."""
        path = self.out / f"model_{it}.safetensors"
        save_model(path, self.network, self.config, self.step.modules()["net"], iteration=it,
                   stage=self.meta.get("stage"))
        return path

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self.stop_requested:
            raise KeyboardInterrupt
        self.stop_requested = True

    def _step(self, item: dict[str, Any], first: bool) -> dict[str, torch.Tensor]:
        try:
            return self.step.run(item)
        except Exception as exc:
            if first and self.s.compile and compile_error(exc):
                raise UserError(f"--compile: torch could not compile the {self.network} training step "
                                f"({first_line(exc)}); run without --compile") from None
            raise

    def _row(self, it: int, lr: float, dt: float, wait: float) -> dict[str, Any]:
        n = self._n_window
        means = {k: sum(v) / len(v) for k, v in self._window.items()}
        self.shown = means
        return {"kind": "train", "iter": it, "lr": lr, "it_s": n / dt if dt > 0 else 0.0,
                "data_share": wait / dt if dt > 0 else 0.0, **means}

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, start: int = 0, log: MetricsLog | None = None) -> int:
        """Train until ``settings.iters``; returns the last completed iteration."""
        s = self.s
        progress = Progress(s.iters, start, self.prefix, every=max(s.log_every, 1), enabled=s.progress and self.dist.main)
        old_handler = None
        if threading.current_thread() is threading.main_thread():
            old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        if start and self.last_checkpoint is None and self.dist.main and (self.out / CHECKPOINT).exists():
            self.last_checkpoint = (start, self.out / CHECKPOINT)  # resumed from it: the rollback target
        it = start
        self._pending, self._window, self._n_window = [], {}, 0
        wait = 0.0
        t_window = time.perf_counter()
        try:
            self.step.train_mode()
            loader = self._loader()
            in_update = False
            try:
                while it < s.iters:
                    # one process: honour Ctrl-C at once; torchrun: where the ranks agreed on it
                    if self._stop_agreed or (self.stop_requested and not self.dist.active):
                        raise KeyboardInterrupt
                    t0 = time.perf_counter()
                    item = next(loader)
                    wait += time.perf_counter() - t0
                    lr = s.lr_at(it)
                    for opt in self.step.optimizers().values():
                        for g in opt.param_groups:
                            g["lr"] = lr
                    in_update = True
                    parts = self._step(item, it == start)
                    it += 1  # before leaving the update: a Ctrl-C in between never saves a model one step ahead
                    in_update = False
                    self._pending.append((it, parts))
                    due_log = it % s.log_every == 0 or it == s.iters
                    due_ckpt = it % s.ckpt_every == 0 or it == s.iters
                    due_snap = bool(s.snapshot_every) and it % s.snapshot_every == 0
                    if due_log or due_ckpt or due_snap:
                        self.readback(it, weights=due_ckpt or due_snap)
                    if due_log:
                        dt = time.perf_counter() - t_window
                        row = self._row(it, lr, dt, wait)
                        if self.dist.main and log is not None:
                            log.add(row)
                        self._window, self._n_window, wait, t_window = {}, 0, 0.0, time.perf_counter()
                    progress.update(it, self.shown)
                    if self.validate is not None and self.dist.main and (it % s.val_every == 0 or it == s.iters):
                        scores = self.validate()
                        self.step.train_mode()
                        if log is not None:
                            log.add({"kind": "val", "iter": it, **scores})
                        progress.message(f"{self.prefix} {it}/{s.iters}  validation  "
                                         + "  ".join(f"{k} {v:.4f}" for k, v in scores.items()))
                    if due_ckpt:
                        self.checkpoint(it)
                    if due_snap and self.dist.main:
                        self.snapshot(it)
                    if self.on_iteration is not None:
                        self.on_iteration(it)
            except KeyboardInterrupt:
                progress.close()
                path = None
                if not in_update:  # the model is exactly the state after `it` iterations
                    # this rank's losses and the weights, read back here: a diverged run is
                    # rolled back and reported, never saved
                    self.readback(it, weights=True, collective=False)
                    path = self.checkpoint(it)
                raise Interrupted(it, path if path else (self.last_checkpoint[1] if self.last_checkpoint else None)) from None
        finally:
            progress.close()
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)
        return it
