"""``imgrestore restore``: run a trained network over images of any size."""

from __future__ import annotations

import sys

import click

from imgrestore.cli.common import device_option


def speed_options(f):
    """``--compile`` and ``--cuda-graphs/--no-cuda-graphs`` (docs/inference.md), shared by
    restore, eval and bench net."""
    f = click.option("--cuda-graphs/--no-cuda-graphs", "cuda_graphs", default=None,
                     help="Replay each tile shape through a captured CUDA graph (default: on with a CUDA "
                          "device; an error on CPU).")(f)
    return click.option("--compile", "use_compile", is_flag=True,
                        help="torch.compile the network (one compile per tile shape; checked before any work).")(f)


@click.command("restore")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--weights", required=True, type=click.Path(dir_okay=False), help="Checkpoint (.safetensors).")
@click.option("--plugin", "plugin", default=None,
              help="Network name; must match the checkpoint (default: the checkpoint's network).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--tile", type=int, default=512, show_default=True, help="Tile core size in pixels (0: no tiling).")
@click.option("--overlap", type=int, default=32, show_default=True,
              help="Context added on each side of a tile (>= the receptive-field radius for seamless, exact tiles).")
@click.option("--ensemble", is_flag=True, help="x8 geometric self-ensemble (flips and rotations).")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True,
              help="Compute precision; bf16/fp16 on a CUDA GPU only.")
@click.option("--bits", type=click.Choice(["8", "16"]), default="8", show_default=True, help="Output bit depth.")
@speed_options
@device_option
def restore(inputs: tuple[str, ...], weights: str, plugin: str | None, out: str, tile: int, overlap: int,
            ensemble: bool, precision: str, bits: str, use_compile: bool, cuda_graphs: bool | None,
            device: str) -> None:
    """Restore INPUTS (image files or folders) with a network, writing PNGs to --out."""
    from pathlib import Path

    from imgrestore.errors import UserError
    from imgrestore.io import read_image, write_image
    from imgrestore.restore import Restorer, adapt_channels, check_compile, check_cuda_graphs, iter_inputs, torch_device
    from imgrestore.weights.checkpoint import load_network

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
    model, spec, ckpt = load_network(weights, plugin)
    restorer = Restorer(model, spec, device=dev, precision=precision, tile=tile or None, overlap=overlap,
                        ensemble=ensemble, compile=use_compile, cuda_graphs=cuda_graphs)
    for key, f in names.items():
        img = read_image(f)
        img = adapt_channels(img, spec.in_channels, str(f), ckpt.network)
        n = len(restorer.tiles(img.shape[0], img.shape[1]))
        with click.progressbar(length=n, label=f"{f.name} ({n} tiles)", file=sys.stderr) as bar:
            result = restorer(img, progress=bar.update)
        write_image(Path(out) / key, result, bits=int(bits))
    click.echo(f"restored {len(names)} image(s) with {ckpt.network} into {out}")
