"""``imgrestore import-weights``: convert released weights into an imgrestore checkpoint."""

from __future__ import annotations

import click

from imgrestore.cli.common import OutPath


@click.command("import-weights")
@click.argument("network")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out", "out", required=True, type=OutPath(dir_okay=False),
              help="Checkpoint to write (.safetensors).")
def import_weights(network: str, file: str, out: str) -> None:
    """Convert the weights FILE of NETWORK into a safetensors checkpoint.

    \b
    NETWORK: dncnn (variant chosen from the file) or dncnn-s, dncnn-b, dncnn-3, cdncnn-b.
    FILE: MatConvNet .mat (MATLAB v7.3; BN folded or with bnorm layers, folded here),
    a KAIR-style torch state dict, or the 2018 pickled DnCNN module (read through a strict
    allow-list; nothing in the file is executed).
    """
    from pathlib import Path

    from imgrestore.errors import UserError
    from imgrestore.weights.dncnn_import import FAMILY, VARIANTS, import_dncnn

    if network != FAMILY and network not in VARIANTS:
        raise UserError(f"import-weights {network!r}: weights can be imported for dncnn and its variants "
                        f"({', '.join(VARIANTS)}) so far")
    from imgrestore.io import check_out_file

    check_out_file(out)  # a read-only or full destination fails before the file is read
    from imgrestore.preflight import ready
    from imgrestore.progress import activity

    ready()  # the checks end here (imgrestore run runs every step's checks before the first step)
    with activity(f"import-weights {Path(file).name}"):
        info = import_dncnn(file, out, network)
    cfg = ", ".join(f"{k}={v}" for k, v in info["config"].items())
    click.echo(f"{file}: {info['format']} -> {out}: {info['network']} ({cfg}), {info['params']:,} parameters")
