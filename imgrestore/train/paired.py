"""Stage 1 (``synthetic``) and the paired real stages (``transfer``, ``retrain``): supervised
training on pairs made on the fly by a degradation chain or read from ``--pairs``.

Every default comes from the network plugin's paper recipe; ``transfer`` (AINDNet+TF) updates only
the parameters the plugin declares for transfer, ``retrain`` (AINDNet+RT) all of them.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Callable

import torch

from imgrestore.errors import UserError
from imgrestore.synth import chain_content
from imgrestore.train import data as D
from imgrestore.train.ddp import Dist, wrap
from imgrestore.train.log import say
from imgrestore.train.loop import MODEL, SupervisedStep, Trainer, make_optimizer
from imgrestore.train.losses import TrainForward, get_criterion
from imgrestore.registry import get_spec
from imgrestore.train.network import build_net, check_patch, default_degrade, load_init, net_channels
from imgrestore.train.options import SURROGATE_DEFAULTS, DeviceSpeed, FitOptions, maybe_compile, screen_pool_size, as_json
from imgrestore.train.pairs import PairsStream, read_pairs
from imgrestore.train.rundir import (RunFolder, draw_figures, loop_settings, make_validator, open_log, run_outputs,
                                     train_and_score)

BUILTIN_CONTENT = {"photos": "scikit-image samples", "screens": "screens rendered in code"}


def _gpu_ok() -> bool:
    from imgrestore.backend import gpu_available

    return gpu_available()


def _frozen_bn(net: torch.nn.Module) -> list[torch.nn.Module]:
    from torch.nn.modules.batchnorm import _BatchNorm

    return [m for m in net.modules() if isinstance(m, _BatchNorm) and not any(p.requires_grad for p in m.parameters())]


def fit_paired(opts: FitOptions, dist: Dist, device: str, speed: DeviceSpeed,
               on_iteration: Callable[[int], None] | None) -> dict[str, Any]:
    """Stage 1 (synthetic), transfer and retrain: supervised training on pairs; `speed` is
    :func:`~imgrestore.train.options.device_speed` of the options, resolved once by ``fit``."""
    from imgrestore.chain import Chain

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
        entries = read_pairs(opts.pairs, "--pairs")
        patch = opts.patch or rec.patch
        # read as stored (no channel conversion), so a colour folder for a gray network is caught
        probe = PairsStream(opts.pairs, None, None, opts.seed, entries=entries[:1]).all()
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
        stream = PairsStream(opts.pairs, patch, channels, opts.seed, entries=entries)
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
        pool = screen_pool_size(opts, content, gpu)
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
        val_entries = read_pairs(opts.val_pairs, "--val-pairs")
        val_batch = PairsStream(opts.val_pairs, None, channels, 0, "--val-pairs", entries=val_entries).all()
        sample_from = ("pairs", opts.val_pairs, val_entries, "--val-pairs")

    # -- network, optimizer, run folder -------------------------------------------------------------
    net = init_model if init_model is not None else build_net(spec, config)
    criterion.check(net, spec.name, side_names)
    speed.place(net, device)
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
    fwd = maybe_compile(wrap(TrainForward(net, criterion.outputs), dist, device), speed)
    step = SupervisedStep(fwd, net, criterion, opt, device, speed.amp, frozen, speed.channels_last)
    workers = opts.workers if opts.workers is not None else (1 if chain is not None and not gpu else 0)
    ds = D.IterationDataset(stream, batch, dist.rank, dist.world, start, iters)
    validator = make_validator(net, val_batch, device)
    ls = loop_settings(opts, speed, iters, batch, lr, workers, lr_final)
    outputs = run_outputs(opts, spec, net, config, channels, device, sample_from, dist) if validator else None
    trainer = Trainer(step, ds, opts.out, spec.name, config, ls, dist, validator,
                      meta={"stage": opts.stage, "settings": settings}, prefix=f"fit {spec.name} {opts.stage}",
                      on_iteration=on_iteration)
    say(f"fit {spec.name} {opts.stage}: {data_desc}; {iters} iterations x batch {batch}"
        f"{f' x {dist.world} ranks' if dist.active else ''}, patch {patch}, loss {loss_name}, {optimizer} lr {lr:g}"
        f"{f' -> {lr_final:g}' if lr_final else ''}; {sum(p.numel() for p in params):,} trainable parameters"
        f"{f'; {speed.describe()}' if speed.describe() else ''}{f'; resuming at iteration {start}' if start else ''}", dist)
    log = open_log(opts.out, start, dist, {**settings, "val_every": opts.val_every, "ckpt_every": opts.ckpt_every,
                                           "snapshot_every": opts.snapshot_every, "precision": opts.precision}, outputs)
    scores = train_and_score(trainer, start, log, validator, dist.main)
    if dist.main and opts.figures:
        draw_figures(Path(opts.out), validator, grid=outputs is None or outputs.samples is None)
        if outputs is not None and outputs.samples is not None:
            outputs.write_samples(f"iteration {iters}")
    return {"stage": opts.stage, "out": str(opts.out), "model": str(Path(opts.out) / MODEL), "iters": iters,
            "val": scores, "main": dist.main, "best": outputs.summary() if outputs is not None else None}
