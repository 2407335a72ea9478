"""A step's command as click knows it: the command for its words, and TOML key -> option.

The click group is handed in by the caller (``imgrestore run`` gives its own root), so this package
never imports the CLI that calls it.
"""

from __future__ import annotations

from typing import Any


def find_command(commands: Any, words: tuple[str, ...]) -> Any:
    """The click command of `commands` (the root group) for words such as ("bench", "net"), or None."""
    import click

    cmd = commands
    ctx = click.Context(cmd, info_name="imgrestore")
    for w in words:
        if not isinstance(cmd, click.Group):
            return None
        cmd = cmd.get_command(ctx, w)
        if cmd is None:
            return None
    return cmd


def option_table(cmd) -> dict[str, tuple[Any, str | None]]:
    """TOML key -> (click option, the flag a true value selects or None for a valued option)."""
    import click

    table: dict[str, tuple[Any, str | None]] = {}
    for p in cmd.params:
        if not isinstance(p, click.Option):
            continue
        for flags, primary in ((p.opts, True), (p.secondary_opts, False)):
            for flag in flags:
                if not flag.startswith("--") or flag == "--help":
                    continue
                key = flag[2:]
                for k in {key, key.replace("-", "_")}:
                    table[k] = (p, flag if p.is_flag else None)
                    if p.is_flag and not primary:
                        table[k] = (p, flag)
    return table


def flag_pair(p, flag: str) -> str | None:
    """For a --x/--no-x flag, the other flag of the pair."""
    if flag in p.opts and p.secondary_opts:
        return p.secondary_opts[0]
    if flag in p.secondary_opts:
        return next((o for o in p.opts if o.startswith("--")), None)
    return None


def argv_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
