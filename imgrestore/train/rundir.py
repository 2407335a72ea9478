"""A stage's run folder and what a stage writes there besides the checkpoints.

:class:`RunFolder` writes ``run.json`` and refuses to mix two runs in one folder (or to resume one
with other settings); :func:`run_outputs` wires ``model_best`` and ``samples.png``
(:mod:`imgrestore.train.outputs`); :func:`draw_figures` and :func:`surrogate_grid` draw the curves and
sample grids; :func:`val_batches` cuts the held-out batch for the :class:`~imgrestore.train.validate.Validator`.
Shared by the paired and the surrogate stages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imgrestore.errors import UserError
from imgrestore.train import data as D
from imgrestore.train.ddp import Dist
from imgrestore.train.log import MetricsLog, say, write_file
from imgrestore.train.loop import CHECKPOINT, LoopSettings, Trainer, to_nchw
from imgrestore.train.options import DeviceSpeed, FitOptions, as_json
from imgrestore.train.validate import Validator


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


def train_and_score(trainer: Trainer, start: int, log: Any, validator: Validator | None, main: bool) -> dict[str, float]:
    """Run the loop to its end (the log closed however it ends), then the final held-out scores."""
    try:
        trainer.run(start, log)
    finally:
        if log is not None:
            log.close()
    return validator() if (validator is not None and main) else {}


def val_batches(batch: Any, size: int) -> list[Any]:
    n = len(batch.indices)
    return [D.Batch(batch.input[k:k + size], batch.target[k:k + size], batch.indices[k:k + size]) for k in range(0, n, size)]


def make_validator(net: torch.nn.Module, val_batch: Any, device: str) -> Validator | None:
    """A Validator of `net` over the held-out batch in slices of 16; None without held-out data."""
    return Validator(net, val_batches(val_batch, 16), device) if val_batch is not None else None


def loop_settings(opts: FitOptions, speed: DeviceSpeed, iters: int, batch: int, lr: float, workers: int,
                  lr_final: float | None = None) -> LoopSettings:
    """The loop's settings: the stage's own schedule and workers, the cadences of the options."""
    return LoopSettings(iters=iters, batch=batch, lr=lr, lr_final=lr_final, val_every=opts.val_every,
                        ckpt_every=opts.ckpt_every, log_every=opts.log_every, workers=workers, compile=speed.compile,
                        progress=opts.progress, snapshot_every=opts.snapshot_every)


def open_log(folder: Path, start: int, dist: Dist, described: dict[str, Any], outputs: Any = None) -> MetricsLog | None:
    """The stage's metrics log on the main rank (None elsewhere), kept up to iteration `start`,
    with the run settings `described`; `outputs` (model_best, samples) picks up the best score of
    the kept rows and sees every validation row from here on."""
    if not dist.main:
        return None
    log = MetricsLog(folder, resume_at=start)
    log.describe(described)
    if outputs is not None:
        outputs.resume(log.rows)
        log.on_val = outputs
    return log


def draw_figures(folder: Path, val: Validator | None, prev: torch.nn.Module | None = None, k: int = 0,
             grid: bool = True) -> None:
    """Loss/PSNR curves and a sample grid via imgrestore.figures (input | output | target; with
    `prev`, the previous stage's model: input | G_prev | G | target); without `grid` only the
    curves (samples.png then comes from imgrestore.train.outputs)."""
    from imgrestore import figures

    try:
        figures.plot_curves(folder / "metrics.jsonl", folder / "curves.png")
        if grid and val is not None and val.outputs:
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


def surrogate_grid(folder: Path, g: torch.nn.Module, stream: Any, k: int, device: str) -> None:
    """samples_real.png: real crops Y | surrogate X_s (previous model) | G(Y) of this stage."""
    from imgrestore import figures

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
