"""``imgrestore eval``: degrade, restore and score a folder of clean images."""

from __future__ import annotations

import csv
import io
import json

import click

from imgrestore.cli.common import OutPath, device_option
from imgrestore.cli.restore import speed_options


@click.command("eval")
@click.option("--weights", default=None, type=click.Path(dir_okay=False), help="Checkpoint (.safetensors); or --model.")
@click.option("--model", "model_name", default=None, metavar="NAME",
              help="A pretrained model by name instead of --weights (see 'imgrestore models').")
@click.option("--plugin", "plugin", default=None, help="Network name; must match the checkpoint.")
@click.option("--clean", "clean", required=True, type=click.Path(file_okay=False), help="Folder of clean images.")
@click.option("--degrade", "degrade", default=None, help='Degradation chain, e.g. "awgn:sigma=25" (or a .toml).')
@click.option("--input", "input_dir", default=None, type=click.Path(file_okay=False),
              help="Folder of degraded inputs named like the clean images (instead of --degrade).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the degradation draws.")
@click.option("--y/--rgb", "y_channel", default=None, help="Score the luma (Y) or all channels (default: Y for colour SR).")
@click.option("--crop", type=int, default=None, help="Border pixels ignored (default: the scale for SR, else 0).")
@click.option("--no-round", is_flag=True, help="Score float outputs instead of uint8-rounded ones.")
@click.option("--tile", type=int, default=0, show_default=True, help="Tile core size (0: whole images).")
@click.option("--overlap", type=int, default=None,
              help="Tile context in pixels (default: the network's receptive-field radius, so tiles are exact).")
@click.option("--pad", type=int, default=None,
              help="Reflection margin on each side (default: the network's receptive-field radius; 0 for the DnCNN "
                   "family, whose published scores use zero padding; 0: off).")
@click.option("--ensemble", is_flag=True, help="x8 geometric self-ensemble.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True)
@click.option("--out", "out", default=None, type=OutPath(file_okay=False), help="Also write restored images here.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the scores as CSV.")
@speed_options
@device_option
def eval_(weights: str | None, model_name: str | None, plugin: str | None, clean: str, degrade: str | None, input_dir: str | None, seed: int,
          y_channel: bool | None, crop: int | None, no_round: bool, tile: int, overlap: int | None, pad: int | None, ensemble: bool,
          precision: str, out: str | None, as_json: bool, as_csv: bool, use_compile: bool, cuda_graphs: bool | None,
          device: str) -> None:
    """Print PSNR/SSIM per image and the mean for a network on --clean images."""
    from pathlib import Path

    from imgrestore.chain import Chain
    from imgrestore.errors import UserError
    from imgrestore.evaluate import as_rows, evaluate, format_table, summary
    from imgrestore.restore import Restorer, check_compile, check_cuda_graphs, torch_device
    from imgrestore.zoo.load import load_weights_or_model

    if as_json and as_csv:
        raise UserError("--json and --csv: choose one output format")
    if crop is not None and crop < 0:
        raise UserError(f"--crop {crop}: expected a non-negative number of pixels")
    if seed < 0:
        raise UserError(f"--seed {seed}: expected 0 or a positive integer")
    if out is not None:
        from imgrestore.io import check_out_folder

        check_out_folder(out)  # before any image is restored
    dev = torch_device(device)
    check_cuda_graphs(cuda_graphs, dev)
    if use_compile:
        check_compile(dev)
    chain = Chain.load(degrade) if degrade else None
    model, spec, ckpt = load_weights_or_model(weights, model_name, plugin)
    source = weights if weights else f"model {model_name}"
    restorer = Restorer(model, spec, device=dev, precision=precision, tile=tile or None, overlap=overlap,
                        ensemble=ensemble, compile=use_compile, cuda_graphs=cuda_graphs, pad=pad)
    scores = evaluate(restorer, ckpt.network, Path(clean), chain, seed, Path(input_dir) if input_dir else None,
                      y_channel, crop, not no_round, Path(out) if out else None, progress=True)
    if as_json:
        click.echo(json.dumps({"network": ckpt.network, "weights": weights, "model": model_name, "degrade": chain.spec() if chain else None,
                               "seed": seed, "images": as_rows(scores), "mean": summary(scores)}, indent=1))
    elif as_csv:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["image", "psnr", "ssim", "input_psnr"])
        for s in scores:
            w.writerow([s.image, f"{s.psnr:.4f}", f"{s.ssim:.6f}", "" if s.input_psnr is None else f"{s.input_psnr:.4f}"])
        m = summary(scores)
        w.writerow(["mean", f"{m['psnr']:.4f}", f"{m['ssim']:.6f}", "" if m["input_psnr"] is None else f"{m['input_psnr']:.4f}"])
        click.echo(buf.getvalue(), nl=False)
    else:
        what = chain.spec() if chain else f"inputs from {input_dir}"
        click.echo(f"eval {ckpt.network} ({source}) on {clean}, {what}, seed {seed}")
        click.echo(format_table(scores))
