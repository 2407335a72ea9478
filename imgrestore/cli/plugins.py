"""``imgrestore plugins``: every plugin, its distribution and version, and what it provides."""

from __future__ import annotations

import json

import click

from imgrestore.cli.common import device_option, resolve


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--verbose", "-v", is_flag=True, help="Also list each degradation's parameters.")
@device_option
def plugins(as_json: bool, verbose: bool, device: str) -> None:
    """List plugins, their distribution and version, and what each provides."""
    from imgrestore.backend import gpu_status
    from imgrestore.registry import get_registry

    reg = get_registry()
    dev = resolve(device)
    if as_json:
        rows = [
            {"name": p.name, "target": p.target, "dist": p.dist, "version": p.version,
             "provides": p.provides, "error": p.error}
            for p in reg.plugins
        ]
        click.echo(json.dumps({"device": dev, "plugins": rows}, indent=1))
        return
    for p in reg.plugins:
        origin = "built-in" if p.builtin else "third-party"
        click.echo(f"{p.name}  ({p.dist} {p.version}, {origin}, {p.target})")
        if p.error:
            click.echo(f"    ERROR: {p.error}")
        for kind, names in p.provides.items():
            for n in names:
                desc = ""
                if kind == "degradation":
                    desc = reg.degradations[n].summary
                elif kind == "network":
                    desc = reg.networks[n].summary
                elif kind == "command":
                    desc = reg.commands[n].get_short_help_str(70)
                click.echo(f"    {kind} {n}: {desc}")
                if verbose and kind == "degradation":
                    for pname, param in reg.degradations[n].params.items():
                        click.echo(f"        {pname}: {param.help} ({param.describe()})")
    ok, why = gpu_status()
    click.echo(f"device: {dev} ({why})")
