"""``imgrestore restore``: run a trained network over images of any size."""

from __future__ import annotations


import click

from imgrestore.cli.common import OutPath, device_option


def speed_options(f):
    """``--compile`` and ``--cuda-graphs/--no-cuda-graphs`` (docs/inference.md), shared by
    restore, eval and bench net."""
    f = click.option("--cuda-graphs/--no-cuda-graphs", "cuda_graphs", default=None,
                     help="Replay each tile shape through a captured CUDA graph (default: on with a CUDA "
                          "device; an error on CPU).")(f)
    return click.option("--compile", "use_compile", is_flag=True,
                        help="torch.compile the network (one compile per tile shape; checked before any work).")(f)


def check_inputs(files: list, channels: int, network: str) -> None:
    """Decode every input before the first is restored: all unreadable ones (or ones with a
    channel count the network cannot take) are reported in one line, and nothing is written."""
    from imgrestore.errors import UserError
    from imgrestore.io import read_image

    import warnings

    bad = []
    for f in files:
        try:
            with warnings.catch_warnings():  # said once, when the image is restored
                warnings.simplefilter("ignore")
                c = read_image(f).shape[2]
        except UserError as exc:
            bad.append(" ".join(str(exc).split()))
            continue
        if c != channels and (c, channels) not in ((3, 1), (1, 3)):
            bad.append(f"{f}: image with {c} channels; network {network} takes {channels}")
    if bad:
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        raise UserError(f"{len(bad)} of {len(files)} input(s) cannot be restored, nothing was written: "
                        f"{'; '.join(bad[:3])}{more}")


@click.command("restore")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--weights", default=None, type=click.Path(dir_okay=False), help="Checkpoint (.safetensors); or --model.")
@click.option("--model", "model_name", default=None, metavar="NAME",
              help="A pretrained model by name instead of --weights (see 'imgrestore models').")
@click.option("--plugin", "plugin", default=None,
              help="Network name; must match the checkpoint (default: the checkpoint's network).")
@click.option("--out", "out", required=True, type=OutPath(file_okay=False), help="Output folder.")
@click.option("--tile", type=int, default=512, show_default=True, help="Tile core size in pixels (0: no tiling).")
@click.option("--overlap", type=int, default=None,
              help="Tile context in pixels (default: the network's receptive-field radius, so tiles are exact).")
@click.option("--pad", type=int, default=None,
              help="Reflect the image by this many pixels on each side before restoring, then crop (default: the "
                   "network's receptive-field radius, so no border frame; 0 for the DnCNN family, whose published scores use "
                   "zero padding; 0: off). docs/borders.md")
@click.option("--ensemble", is_flag=True, help="x8 geometric self-ensemble (flips and rotations).")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True,
              help="Compute precision; bf16/fp16 on a CUDA GPU only.")
@click.option("--bits", type=click.Choice(["8", "16"]), default="8", show_default=True, help="Output bit depth.")
@speed_options
@device_option
def restore(inputs: tuple[str, ...], weights: str | None, model_name: str | None, plugin: str | None, out: str, tile: int, overlap: int | None,
            pad: int | None, ensemble: bool, precision: str, bits: str, use_compile: bool, cuda_graphs: bool | None,
            device: str) -> None:
    """Restore INPUTS (image files or folders) with a network, writing PNGs to --out."""
    from pathlib import Path

    from imgrestore.errors import UserError
    from imgrestore.io import read_image, write_image
    from imgrestore.restore import Restorer, adapt_channels, check_compile, check_cuda_graphs, iter_inputs, torch_device
    from imgrestore.zoo.load import load_weights_or_model

    from imgrestore.io import check_out_folder

    check_out_folder(out)  # before the network runs: a read-only or full --out is one line, not a traceback
    dev = torch_device(device)
    check_cuda_graphs(cuda_graphs, dev)
    if use_compile:
        check_compile(dev)
    files = list(iter_inputs(list(inputs)))
    names: dict[str, Path] = {}
    for f in files:
        key = f.stem + ".png"
        if key in names:
            raise UserError(f"{f} and {names[key]} would both be written as {Path(out) / key}; restore them separately")
        names[key] = f
    model, spec, ckpt = load_weights_or_model(weights, model_name, plugin)
    restorer = Restorer(model, spec, device=dev, precision=precision, tile=tile or None, overlap=overlap,
                        ensemble=ensemble, compile=use_compile, cuda_graphs=cuda_graphs, pad=pad)
    from imgrestore.preflight import ready
    from imgrestore.progress import bar

    ready()  # restore's checks end here (imgrestore run runs every step's checks before the first step)
    check_inputs(list(names.values()), spec.in_channels, ckpt.network)
    with bar(len(names), f"restore {ckpt.network}", unit="img") as overall:
        for key, f in names.items():
            img = read_image(f)
            img = adapt_channels(img, spec.in_channels, str(f), ckpt.network)
            n = len(restorer.tiles(img.shape[0], img.shape[1]))
            with bar(n, f"{f.name} ({n} tiles)", unit="tiles", position=1, leave=False) as tiles:
                result = restorer(img, progress=tiles.update)
            write_image(Path(out) / key, result, bits=int(bits))
            overall.update()
    click.echo(f"restored {len(names)} image(s) with {ckpt.network} into {out}")
