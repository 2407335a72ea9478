"""The surrogate (+GAN) stages 2..N of Liu, Shu and Wu: real degraded images Y with surrogate
targets X_s = G_prev(Y), computed once per stage and cached; G starts from G_prev; loss
``L2(G(Y), X_s) + lambda * -log D(G(Y))`` with D trained by BCE against unpaired clean patches,
one D and one G update per iteration (k = 1).

``--stages N`` counts stage 1, so N - 1 surrogate rounds run, each in ``OUT/stage<k>`` and each
regenerating the surrogates with the previous round's G.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from imgrestore.errors import UserError
from imgrestore.train import data as D
from imgrestore.train.ddp import Dist, barrier, wrap
from imgrestore.train.log import say, write_file
from imgrestore.train.loop import CHECKPOINT, MODEL, Trainer, autocast_for, make_optimizer, to_nchw
from imgrestore.train.losses import TrainForward, discriminator_bce, generator_adversarial, l2
from imgrestore.registry import get_spec
from imgrestore.train.network import build_net, load_init, net_channels
from imgrestore.train.options import (DISCRIMINATOR, SURROGATE_DEFAULTS, SURROGATE_LR, SURROGATE_PATCH, FitOptions,
                                      DeviceSpeed, maybe_compile, as_json)
from imgrestore.train.pairs import PairsStream
from imgrestore.train.outputs import RunOutputs
from imgrestore.train.rundir import (RunFolder, draw_figures, loop_settings, make_validator, open_log, surrogate_grid,
                                     train_and_score)


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

    def run(self, item: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One D and one G update; the loss parts (detached, on the device, never read back here)."""
        cl = self.channels_last
        x, xs = to_nchw(item["input"], self.device, cl), to_nchw(item["target"], self.device, cl)
        clean = to_nchw(item["clean"], self.device, cl)
        with autocast_for(self.amp):
            out = self.g_fwd(x)["out"]
            real_logits, fake_logits = self.d_fwd(clean, out.detach())
        d_loss = discriminator_bce(real_logits.float(), fake_logits.float())
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        for p in self.d.parameters():
            p.requires_grad_(False)
        try:
            with autocast_for(self.amp):
                adv = generator_adversarial(self.d_score(out).float())
            rec = l2(out.float(), xs)
            total = rec + self.lam * adv
            self.opt_g.zero_grad(set_to_none=True)
            total.backward()
            self.opt_g.step()
        finally:
            for p in self.d.parameters():
                p.requires_grad_(True)
        return {"loss": total.detach(), "l2": rec.detach(), "adv": adv.detach(), "d": d_loss.detach()}

    def __call__(self, item: dict[str, Any]) -> dict[str, float]:
        """:meth:`run` with the parts read back as floats (one host sync; for direct callers)."""
        return {k: float(v) for k, v in self.run(item).items()}


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


def fit_surrogate(opts: FitOptions, dist: Dist, device: str, speed: DeviceSpeed,
                  on_iteration: Callable[[int], None] | None) -> dict[str, Any]:
    """Stages 2..N: surrogate ground truth from the previous stage's model plus the GAN term;
    `speed` as resolved once by ``fit``."""
    from imgrestore.registry import load_network

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
    val_batch = PairsStream(opts.val_pairs, None, channels, 0, "--val-pairs").all() if opts.val_pairs else None
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
        speed.place(g, device)
        # D's initial weights depend on (seed, stage) only, not on what ran before in this
        # process (a resumed run skips finished stages): resume stays bit-exact
        torch.manual_seed(int(np.random.SeedSequence([opts.seed, k]).generate_state(1)[0]))
        try:
            d = disc_spec.build(**{"channels": spec.out_channels if "channels" not in config else channels,
                                   "patch": patch, **opts.disc_config})
        except (TypeError, ValueError) as exc:
            raise UserError(f"--disc-config {opts.disc_config}: cannot build the discriminator: {exc}") from None
        speed.place(d, device)
        opt_g = make_optimizer("adam", list(g.parameters()), lr)
        opt_d = make_optimizer("adam", list(d.parameters()), lr)
        start = folder.resume_point({"net": g, "disc": d}, {"net": opt_g, "disc": opt_d}, spec.name)
        g_fwd = maybe_compile(wrap(TrainForward(g, "out"), dist, device), speed)
        d_fwd = maybe_compile(wrap(DiscriminatorPair(d), dist, device), speed)
        step = AdversarialStep(g_fwd, g, d_fwd, d, opt_g, opt_d, lam, device, speed.amp, speed.channels_last,
                               maybe_compile(d, speed))
        stream = D.RealStream(real, targets, patch, scale, opts.seed + k)
        clean = D.CleanStream(clean_src, patch, spec.out_channels if "channels" not in config else channels, opts.seed + k)
        ds = D.IterationDataset(stream, batch, dist.rank, dist.world, start, iters, clean=clean)
        validator = make_validator(g, val_batch, device)
        ls = loop_settings(opts, speed, iters, batch, lr, opts.workers or 0)
        trainer = Trainer(step, ds, folder_path, spec.name, config, ls, dist, validator,
                          meta={"stage": f"surrogate-{k}", "settings": settings},
                          prefix=f"fit {spec.name} stage {k}", on_iteration=on_iteration)
        say(f"fit {spec.name} surrogate stage {k}: {len(real)} real images, {len(clean_src)} unpaired clean; "
            f"{iters} iterations x batch {batch}, patch {patch}, L2 + {lam:g} x adversarial, adam lr {lr:g}"
            f"{f'; {speed.describe()}' if speed.describe() else ''}{f'; resuming at iteration {start}' if start else ''}",
            dist)
        # the run settings to TensorBoard; model_best by validation PSNR (no crops here)
        best = (RunOutputs(folder_path, g, spec.name, config, device, None, stage=f"surrogate-{k}")
                if validator is not None and dist.main else None)
        log = open_log(folder_path, start, dist, {**settings, "val_every": opts.val_every,
                                                  "snapshot_every": opts.snapshot_every}, best)
        scores = train_and_score(trainer, start, log, validator, dist.main)
        if dist.main and opts.figures:
            draw_figures(folder_path, validator, g_prev, k)
            surrogate_grid(folder_path, g, stream, k, device)
        results.append({"stage": k, "out": str(folder_path), "model": str(done), "val": scores})
        g_prev = g
    final = out_root / MODEL
    if dist.main:
        write_file(final, Path(results[-1]["model"]).read_bytes())
    return {"stage": "surrogate", "out": str(out_root), "model": str(final), "stages": results, "main": dist.main}
