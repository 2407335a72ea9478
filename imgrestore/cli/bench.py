"""``imgrestore bench``: timings against the strongest peers and the hardware limit."""

from __future__ import annotations

import json

import click

from imgrestore.cli.common import device_option, resolve


@click.group("bench")
def bench() -> None:
    """Time degradations against peers and the hardware limit."""


@bench.command("degrade")
@click.argument("name")
@click.option("--size", type=int, default=2048, show_default=True, help="Input side length in pixels.")
@click.option("--repeats", type=int, default=7, show_default=True, help="Timed repeats (the median is reported).")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@device_option
def degrade(name: str, size: int, repeats: int, as_json: bool, device: str) -> None:
    """Benchmark the degradation NAME with its default settings."""
    from imgrestore.bench import copy_bandwidth, format_table, machine_name
    from imgrestore.degrade import Chain
    from imgrestore.errors import UserError

    if size < 16 or repeats < 1:
        raise UserError(f"--size {size} / --repeats {repeats}: expected size >= 16 and repeats >= 1")
    dev = resolve(device)
    stage = Chain.parse(name).stages[0]
    rows = stage.benchmark(device=dev, size=size, repeats=repeats)
    machine = machine_name(dev)
    bw = copy_bandwidth(dev) / 1e9
    if as_json:
        click.echo(json.dumps({"machine": machine, "copy_bandwidth_GBps": bw, "rows": rows}, indent=1))
        return
    click.echo(f"bench degrade {stage.spec()}  size {size}  repeats {repeats}  on {machine}")
    click.echo(f"measured copy bandwidth: {bw:.1f} GB/s")
    click.echo(format_table(rows))
