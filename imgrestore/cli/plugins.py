"""``imgrestore plugins [NAME]``: every plugin, its distribution and version, and what it provides.

With ``-v`` (or a NAME) each network also shows its builder options (the keys ``--net-config``
takes: name, type and limits, default, meaning), its paper recipe and its transfer set, and
each degradation its parameters. NAME is a plugin, a network, a degradation or a command.
"""

from __future__ import annotations

import json
from typing import Any

import click

from imgrestore.cli.common import device_option, resolve


def network_detail(spec: Any) -> dict[str, Any]:
    """What ``plugins`` shows of a network, as plain data (the JSON form)."""
    from dataclasses import asdict

    return {
        "summary": spec.summary, "task": spec.task, "in_channels": spec.in_channels,
        "out_channels": spec.out_channels, "scale": spec.scale, "size_multiple": spec.size_multiple,
        "options": [{"name": o.name, "type": o.type_text(), "default": o.default, "help": o.help,
                     "aliases": sorted(a for a, c in spec.aliases.items() if c == o.name)}
                    for o in spec.options],
        "recipe": asdict(spec.recipe),
        "transfer": list(spec.transfer),
    }


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_short(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_short(x)}" for k, x in v.items()) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def network_lines(spec: Any, indent: str = "        ") -> list[str]:
    """The builder options, recipe and transfer set of `spec` as text lines."""
    lines = [f"{indent}{spec.task}, {spec.in_channels} -> {spec.out_channels} channels"
             f"{f', x{spec.scale}' if spec.scale > 1 else ''}"
             f"{f', height and width multiples of {spec.size_multiple}' if spec.size_multiple > 1 else ''}"]
    if spec.options:
        flag = "--disc-config" if spec.task == "discriminator" else "--net-config"
        lines.append(f"{indent}builder options ({flag} key=value,...):")
        rows = []
        for o in spec.options:
            also = sorted(a for a, c in spec.aliases.items() if c == o.name)
            rows.append((o.name, o.type_text(), o.default_text(),
                         o.help + (f" (also: {', '.join(also)})" if also else "")))
        w = [max(len(r[k]) for r in rows + [("key", "type", "default")]) for k in range(3)]
        lines.append(f"{indent}  {'key'.ljust(w[0])}  {'type'.ljust(w[1])}  {'default'.ljust(w[2])}  meaning")
        for r in rows:
            lines.append(f"{indent}  {r[0].ljust(w[0])}  {r[1].ljust(w[1])}  {r[2].ljust(w[2])}  {r[3]}")
    else:
        lines.append(f"{indent}builder options: not declared by the plugin (--net-config is passed on unchecked)")
    rec = spec.recipe
    lines.append(f"{indent}recipe: loss {rec.loss}, {rec.optimizer} lr {rec.lr:g}, batch {rec.batch}, "
                 f"patch {rec.patch}, {rec.iterations:,} iterations")
    for k, v in rec.extra.items():
        lines.append(f"{indent}  {k}: {_short(v)}")
    if spec.task == "discriminator":
        pass
    elif spec.transfer:
        lines.append(f"{indent}transfer set (--stage transfer trains these): {', '.join(spec.transfer)}")
    else:
        lines.append(f"{indent}transfer set: none declared (--stage transfer needs --transfer-params)")
    return lines


def _item_lines(reg: Any, kind: str, n: str, verbose: bool) -> list[str]:
    desc = ""
    if kind == "degradation":
        desc = reg.degradations[n].summary
    elif kind == "network":
        desc = reg.networks[n].summary
    elif kind == "command":
        desc = reg.commands[n].get_short_help_str(70)
    elif kind == "model" and n in reg.models:
        m = reg.models[n]
        desc = f"{m.summary} (network {m.network}; 'imgrestore models {n}')".lstrip()
    lines = [f"    {kind} {n}: {desc}"]
    if verbose and kind == "degradation":
        for pname, param in reg.degradations[n].params.items():
            lines.append(f"        {pname}: {param.help} ({param.describe()})")
    if verbose and kind == "network":
        lines += network_lines(reg.networks[n])
    return lines


def _find(reg: Any, name: str) -> tuple[list[Any], str | None]:
    """The plugins to show for NAME, and the one item to detail (None: the whole plugin)."""
    from imgrestore.errors import UserError, did_you_mean

    by_plugin = [p for p in reg.plugins if p.name == name]
    if by_plugin:
        return by_plugin, None
    for p in reg.plugins:
        for names in p.provides.values():
            if name in names:
                return [p], name
    known = sorted({p.name for p in reg.plugins} | {n for p in reg.plugins for ns in p.provides.values() for n in ns})
    hint = did_you_mean(name, known)
    raise UserError(f"plugins {name!r}: no plugin, network, degradation or command of that name{hint}; "
                    "'imgrestore plugins' lists them")


@click.command("plugins")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--verbose", "-v", is_flag=True,
              help="Also list each degradation's parameters and each network's builder options, recipe and "
                   "transfer set.")
@device_option
def plugins(name: str | None, as_json: bool, verbose: bool, device: str) -> None:
    """List plugins, their distribution and version, and what each provides.

    NAME shows one plugin, network, degradation or command in full, e.g.
    'imgrestore plugins dncnn-b' for the keys --net-config takes.
    """
    from imgrestore.backend import gpu_status
    from imgrestore.registry import get_registry

    reg = get_registry()
    shown, item = _find(reg, name) if name else (reg.plugins, None)
    if name:
        verbose = True
    if as_json:
        rows = [
            {"name": p.name, "target": p.target, "dist": p.dist, "version": p.version,
             "provides": p.provides, "error": p.error}
            for p in shown
        ]
        nets = {n: network_detail(reg.networks[n]) for p in shown for n in p.provides.get("network", [])
                if item is None or n == item}
        click.echo(json.dumps({"device": resolve(device), "plugins": rows, "networks": nets}, indent=1,
                              default=str))
        return
    dev = resolve(device)
    for p in shown:
        origin = "built-in" if p.builtin else "third-party"
        click.echo(f"{p.name}  ({p.dist} {p.version}, {origin}, {p.target})")
        if p.error:
            click.echo(f"    ERROR: {p.error}")
        for kind, names in p.provides.items():
            for n in names:
                if item is None or n == item:
                    for line in _item_lines(reg, kind, n, verbose):
                        click.echo(line)
    if name is None:
        ok, why = gpu_status()
        click.echo(f"device: {dev} ({why})")
