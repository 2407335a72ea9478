"""``imgrestore fit``: train a network (stage 1, surrogate/GAN stages, transfer, retrain).

Thin: parses options into :class:`imgrestore.train.stages.FitOptions` and runs
:func:`imgrestore.train.stages.fit`. Nothing heavy is imported until the command runs.
"""

from __future__ import annotations

import sys

import click

from imgrestore.cli.common import OutPath, crf_file_option, device_option


@click.command("fit")
@click.option("--plugin", required=True, help="Network to train (see 'imgrestore plugins'), e.g. dncnn-b.")
@click.option("--out", "out", required=True, type=OutPath(file_okay=False), help="Run folder.")
@click.option("--stage", type=click.Choice(["synthetic", "surrogate", "transfer", "retrain"]), default="synthetic",
              show_default=True, help="synthetic: stage 1; surrogate: stages 2..N; transfer/retrain: real pairs.")
@click.option("--clean", type=click.Path(file_okay=False), default=None,
              help="Clean images to degrade on the fly (default: scikit-image's samples).")
@click.option("--degrade", default=None, help="Degradation chain spec or .toml (default: the recipe's).")
@click.option("--pairs", type=click.Path(file_okay=False), default=None,
              help="Pairs folder (imgrestore synth output, or input/ + target/) instead of on-the-fly synthesis.")
@click.option("--init", type=click.Path(dir_okay=False), default=None, help="Starting weights (G0) for later stages.")
@click.option("--real", type=click.Path(file_okay=False), default=None, help="Real degraded images (surrogate stage).")
@click.option("--unpaired-clean", type=click.Path(file_okay=False), default=None,
              help="Clean images for the discriminator (surrogate stage).")
@click.option("--stages", type=int, default=2, show_default=True,
              help="Total stages counting stage 1: N-1 surrogate rounds, each from the previous model.")
@click.option("--iters", type=int, default=None, help="Iterations (default: recipe / 10^4 for later stages).")
@click.option("--batch", type=int, default=None, help="Batch size per process.")
@click.option("--patch", type=int, default=None, help="Target patch side in pixels.")
@click.option("--lr", type=float, default=None, help="Learning rate.")
@click.option("--lr-final", type=float, default=None, help="Decay the learning rate exponentially to this value.")
@click.option("--loss", default=None, help="l1, l2, l2-sum, l2-two-scale, l1+estimator (default: the recipe's).")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default=None, help="Default: the recipe's.")
@click.option("--adv-weight", type=float, default=None, help="lambda of the adversarial term (default 1e-3).")
@click.option("--seed", type=int, default=0, show_default=True, help="Sample i of the stream depends on (seed, i).")
@click.option("--workers", type=int, default=None, help="Data-loader processes (default: 1 for CPU synthesis).")
@click.option("--val-every", type=int, default=500, show_default=True, help="Validate every N iterations.")
@click.option("--val-count", type=int, default=None, help="Held-out validation samples (0: none).")
@click.option("--val-images", type=int, default=None, help="Clean images held out for validation (default 10%).")
@click.option("--val-pairs", type=click.Path(file_okay=False), default=None, help="Validate on these pairs instead.")
@click.option("--ckpt-every", type=int, default=1000, show_default=True, help="Checkpoint every N iterations.")
@click.option("--snapshot-every", type=int, default=0, show_default=True,
              help="Also keep the model of every N-th iteration as model_<N>.safetensors (0: never).")
@click.option("--log-every", type=int, default=50, show_default=True,
              help="Read the losses back from the device and write a metrics row (their mean) every N iterations.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--net-config", default=None,
              help="Builder options, e.g. 'depth=4,features=8'; 'imgrestore plugins NAME' lists a network's keys, "
                   "types and defaults. Checked before any work.")
@click.option("--disc-config", default=None,
              help="Discriminator builder options, e.g. 'features=16' (see 'imgrestore plugins srgan-discriminator').")
@click.option("--transfer-params", default=None, help="Parameter-name patterns to train (default: the plugin's).")
@click.option("--amp", is_flag=True, help="Same as --precision bf16 (kept for older commands).")
@click.option("--precision", type=click.Choice(["auto", "bf16", "fp32"]), default="auto", show_default=True,
              help="Forward passes under bf16 autocast (losses and optimizer in fp32) or fp32; auto: bf16 on CUDA, "
                   "fp32 on the CPU.")
@click.option("--compile", "use_compile", is_flag=True,
              help="torch.compile the network (and discriminator); checked before training starts.")
@click.option("--pool", type=int, default=None,
              help="Render N screens whole once and crop every sample from them where the chain runs "
                   "(default 256 on the GPU; on the CPU windows are rendered per crop from 1,024 screens). "
                   "Only for rendered screens (moire without --clean). See docs/sources.md.")
@click.option("--quiet", is_flag=True, help="No progress line.")
@device_option
@crf_file_option
def fit(plugin: str, out: str, stage: str, clean: str | None, degrade: str | None, pairs: str | None, init: str | None,
        real: str | None, unpaired_clean: str | None, stages: int, iters: int | None, batch: int | None,
        patch: int | None, lr: float | None, lr_final: float | None, loss: str | None, optimizer: str | None,
        adv_weight: float | None, seed: int, workers: int | None, val_every: int, val_count: int | None,
        val_images: int | None, val_pairs: str | None, ckpt_every: int, log_every: int, resume: bool,
        net_config: str | None, disc_config: str | None, transfer_params: str | None, amp: bool, quiet: bool,
        device: str, pool: int | None = None, precision: str = "auto", use_compile: bool = False,
        snapshot_every: int = 0) -> None:
    """Train a network; every default comes from the network plugin's paper recipe.

    \b
      imgrestore fit --plugin dncnn-b --clean photos/ --out runs/g0
      imgrestore fit --plugin dncnn-b --stage surrogate --init runs/g0/model.safetensors \\
          --real real/ --unpaired-clean photos/ --stages 3 --out runs/g
      imgrestore fit --plugin aindnet --stage transfer --init g0.safetensors --pairs real_pairs/ --out runs/tf
    """
    from pathlib import Path

    from imgrestore.netconfig import parse_config, parse_names
    from imgrestore.train.loop import Interrupted
    from imgrestore.train.stages import FitOptions, fit as run_fit

    # the ranges of the numbers are checked by imgrestore.train.options.check_numbers (the Python API's fit too)
    from imgrestore.io import check_out_folder

    check_out_folder(out)  # a read-only or full --out fails here, not at the first checkpoint
    opts = FitOptions(
        plugin=plugin, out=Path(out), stage=stage, clean=Path(clean) if clean else None, degrade=degrade,
        pairs=Path(pairs) if pairs else None, init=Path(init) if init else None, real=Path(real) if real else None,
        unpaired_clean=Path(unpaired_clean) if unpaired_clean else None, stages=stages, iters=iters, batch=batch,
        patch=patch, lr=lr, lr_final=lr_final, loss=loss, optimizer=optimizer, adv_weight=adv_weight, seed=seed,
        device=device, workers=workers, val_every=val_every, val_count=val_count, val_images=val_images,
        val_pairs=Path(val_pairs) if val_pairs else None, ckpt_every=ckpt_every, log_every=log_every, resume=resume,
        net_config=parse_config(net_config, "--net-config"), disc_config=parse_config(disc_config, "--disc-config"),
        transfer_params=parse_names(transfer_params) if transfer_params else None,
        amp=True if amp else None, precision=precision, compile=use_compile, progress=not quiet, pool=pool,
        snapshot_every=snapshot_every)
    try:
        result = run_fit(opts)
    except Interrupted as exc:
        where = f"checkpoint {exc.checkpoint}" if exc.checkpoint else "no new checkpoint"
        click.echo(f"imgrestore: interrupted at iteration {exc.iteration}; {where}; continue with the same "
                   "command and --resume", err=True)
        sys.exit(130)
    if not result.get("main", True):
        return
    val = result.get("val") or {}
    extra = "  ".join(f"{k} {v:.4f}" for k, v in val.items())
    best = result.get("best")
    best_text = f"; best {best['model']} (psnr {best['psnr']:.4f} at iteration {best['iter']})" if best else ""
    click.echo(f"fit: done; model {result['model']}{'  validation ' + extra if extra else ''}{best_text}")
