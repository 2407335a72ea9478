"""``imgrestore bench``: timings against the strongest peers and the hardware limit."""

from __future__ import annotations

import json

import click

from imgrestore.cli.common import crf_file_option, device_option, resolve
from imgrestore.cli.restore import speed_options


@click.group("bench")
def bench() -> None:
    """Time degradations against peers and the hardware limit."""


@bench.command("degrade")
@click.argument("name")
@click.option("--size", type=int, default=None, help="Input side length in pixels (default: the model's, e.g. 2048 bicubic, 512 cbdnet).")
@click.option("--repeats", type=int, default=7, show_default=True,
              help="Least number of timed blocks per row (calls per block and further blocks are adaptive; "
                   "the median per call is reported).")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.option("--save", "save", default=None, type=click.Path(dir_okay=False), help="Also write the JSON to this file.")
@crf_file_option
@device_option
def degrade(name: str, size: int | None, repeats: int, as_json: bool, save: str | None, device: str) -> None:
    """Benchmark the degradation NAME with its default settings."""
    from imgrestore.bench.degrade import benchmark_stage
    from imgrestore.bench.timing import copy_bandwidth, format_table, machine_name
    from imgrestore.chain import Chain
    from imgrestore.errors import UserError

    dev = resolve(device)
    stage = Chain.parse(name).stages[0]
    size = stage.bench_size if size is None else size
    if size < 16 or repeats < 1:
        raise UserError(f"--size {size} / --repeats {repeats}: expected size >= 16 and repeats >= 1")
    from imgrestore.preflight import ready
    from imgrestore.progress import activity

    ready()  # the checks end here (imgrestore run runs every step's checks before the first step)
    if save:
        _check_save(save)
    with activity(f"bench degrade {stage.name}"):
        rows = benchmark_stage(stage, device=dev, size=size, repeats=repeats)
    machine = machine_name(dev)
    bw = copy_bandwidth(dev) / 1e9
    res = {"stage": stage.spec(), "size": size, "machine": machine, "copy_bandwidth_GBps": bw, "rows": rows}
    if save:
        _save(save, res)
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    click.echo(f"bench degrade {stage.spec()}  size {size}  repeats {repeats}  on {machine}")
    click.echo(f"measured copy bandwidth: {bw:.1f} GB/s")
    click.echo(format_table(rows))


@bench.command("net")
@click.argument("name")
@click.option("--sizes", "--size", "sizes", default="256,512,1024", show_default=True,
              help="Comma-separated image sides (output pixels).")
@click.option("--batch", "batch", default=None,
              help="Comma-separated batch sizes; 'auto' fills the device (widest activation >= 1 GiB). "
                   "Default: 1,auto on a GPU, 1 on CPU.")
@click.option("--repeats", type=int, default=3, show_default=True,
              help="Least number of timed blocks (repeat counts are adaptive; the median is reported).")
@click.option("--max-time", "max_time", type=float, default=5.0, show_default=True,
              help="Seconds of adaptive timing per row at most (before topping up to --repeats blocks).")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default=None,
              help="Precision of our path (default: bf16 on a GPU, fp32 on CPU; bf16 also runs on CPU here).")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.option("--save", "save", default=None, type=click.Path(dir_okay=False), help="Also write the JSON to this file.")
@speed_options
@device_option
def net(name: str, sizes: str, batch: str | None, repeats: int, max_time: float, precision: str | None,
        as_json: bool, save: str | None, use_compile: bool, cuda_graphs: bool | None, device: str) -> None:
    """Time network NAME: our restore path against plain eager PyTorch, same input, one run."""
    from imgrestore.errors import UserError

    try:
        side = tuple(int(s) for s in sizes.split(","))
    except ValueError:
        raise UserError(f"--sizes {sizes!r}: expected comma-separated integers such as 256,512,1024") from None
    if not side or min(side) < 8 or repeats < 1:
        raise UserError(f"--sizes {sizes} / --repeats {repeats}: expected sides >= 8 and repeats >= 1")
    if not max_time > 0:
        raise UserError(f"--max-time {max_time}: expected a positive number of seconds")
    batches = None
    if batch is not None:
        parts = [b.strip().lower() for b in batch.split(",")]
        if not parts or not all(b == "auto" or (b.isdigit() and int(b) >= 1) for b in parts):
            raise UserError(f"--batch {batch!r}: expected comma-separated positive integers or 'auto', e.g. 1,auto")
        batches = tuple(b if b == "auto" else int(b) for b in parts)

    from imgrestore.bench.net import bench_network, format_rows, network_spec
    from imgrestore.restore import check_compile, check_cuda_graphs, torch_device

    dev = torch_device(device)
    check_cuda_graphs(cuda_graphs, dev)
    if use_compile:
        check_compile(dev)
    from imgrestore.preflight import ready
    from imgrestore.progress import activity

    network_spec(name)
    ready()  # the checks end here (imgrestore run runs every step's checks before the first step)
    if save:
        _check_save(save)
    with activity(f"bench net {name}"):
        res = bench_network(name, side, dev, repeats, precision, use_compile, cuda_graphs=cuda_graphs,
                            batches=batches, max_time=max_time)
    if save:
        _save(save, res)
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    peaks = ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in res["peak_flops"].items())
    click.echo(f"bench net {name}  on {res['machine']} ({res['device']}, {res['threads']} threads, "
               f"torch {res['torch']})")
    click.echo(f"measured dense-kernel peak (best of GEMM, 3x3 conv): {peaks}")
    click.echo(format_rows(res))


def _check_save(path: str) -> None:
    """Refuse an unwritable ``--save`` before the benchmark runs (the same write, of nothing)."""
    from pathlib import Path

    from imgrestore.errors import UserError
    from imgrestore.io import write_bytes_atomic

    target = Path(path)
    probe = target.with_name(f".{target.name}.probe")
    try:
        write_bytes_atomic(probe, b"")
        probe.unlink()
    except OSError as e:
        raise UserError(f"--save {path}: cannot write: {e.strerror or e}") from None


def _save(path: str, res: dict) -> None:
    """Write a benchmark's JSON atomically (no half-written file), as a one-line error on failure."""
    from imgrestore.errors import UserError
    from imgrestore.io import write_bytes_atomic

    try:
        write_bytes_atomic(path, (json.dumps(res, indent=1) + "\n").encode())
    except OSError as e:
        raise UserError(f"--save {path}: cannot write: {e.strerror or e}") from None
