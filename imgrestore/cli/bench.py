"""``imgrestore bench``: timings against the strongest peers and the hardware limit."""

from __future__ import annotations

import json

import click

from imgrestore.cli.common import crf_file_option, device_option, resolve


@click.group("bench")
def bench() -> None:
    """Time degradations against peers and the hardware limit."""


@bench.command("degrade")
@click.argument("name")
@click.option("--size", type=int, default=None, help="Input side length in pixels (default: the model's, e.g. 2048 bicubic, 512 cbdnet).")
@click.option("--repeats", type=int, default=7, show_default=True, help="Timed repeats (the median is reported).")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@crf_file_option
@device_option
def degrade(name: str, size: int | None, repeats: int, as_json: bool, device: str) -> None:
    """Benchmark the degradation NAME with its default settings."""
    from imgrestore.bench import copy_bandwidth, format_table, machine_name
    from imgrestore.degrade import Chain
    from imgrestore.errors import UserError

    dev = resolve(device)
    stage = Chain.parse(name).stages[0]
    size = stage.bench_size if size is None else size
    if size < 16 or repeats < 1:
        raise UserError(f"--size {size} / --repeats {repeats}: expected size >= 16 and repeats >= 1")
    rows = stage.benchmark(device=dev, size=size, repeats=repeats)
    machine = machine_name(dev)
    bw = copy_bandwidth(dev) / 1e9
    if as_json:
        click.echo(json.dumps({"machine": machine, "copy_bandwidth_GBps": bw, "rows": rows}, indent=1))
        return
    click.echo(f"bench degrade {stage.spec()}  size {size}  repeats {repeats}  on {machine}")
    click.echo(f"measured copy bandwidth: {bw:.1f} GB/s")
    click.echo(format_table(rows))


@bench.command("net")
@click.argument("name")
@click.option("--sizes", default="256,512,1024", show_default=True, help="Comma-separated image sides (output pixels).")
@click.option("--repeats", type=int, default=5, show_default=True, help="Timed repeats (the median is reported).")
@click.option("--compile", "use_compile", is_flag=True, help="Also torch.compile our path.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default=None,
              help="Precision of our path (default: bf16 on a GPU, fp32 on CPU).")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@device_option
def net(name: str, sizes: str, repeats: int, use_compile: bool, precision: str | None, as_json: bool,
        device: str) -> None:
    """Time network NAME: our restore path against plain eager PyTorch, same input, one run."""
    from imgrestore.benchnet import bench_network, format_rows
    from imgrestore.errors import UserError
    from imgrestore.restore import torch_device

    try:
        side = tuple(int(s) for s in sizes.split(","))
    except ValueError:
        raise UserError(f"--sizes {sizes!r}: expected comma-separated integers such as 256,512,1024") from None
    if not side or min(side) < 8 or repeats < 1:
        raise UserError(f"--sizes {sizes} / --repeats {repeats}: expected sides >= 8 and repeats >= 1")
    res = bench_network(name, side, torch_device(device), repeats, precision, use_compile)
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    peaks = ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in res["peak_flops"].items())
    click.echo(f"bench net {name}  repeats {repeats}  on {res['machine']} ({res['device']}, {res['threads']} threads)")
    click.echo(f"measured dense-kernel peak (best of GEMM, 3x3 conv): {peaks}")
    click.echo(format_rows(res))
