"""Checking every step before the first one starts, as its own command would check it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from imgrestore.errors import UserError
from imgrestore.experiment.commands import find_command
from imgrestore.experiment.identity import is_within
from imgrestore.experiment.model import Experiment, Step
from imgrestore.experiment.where import error_at, key_of


def _produced_by_earlier(exp: Experiment, step: Step) -> Callable[[Path], bool]:
    """Whether a path lies in the folder of a step before `step` (written by it when it runs)."""
    folders = [s.dir for s in exp.steps[:step.index]]
    return lambda p: any(is_within(Path(os.path.abspath(p)), f) for f in folders)


def check_experiment(exp: Experiment) -> None:
    """Every step checked before the first one starts, as its command would check it: input files
    that exist or that an earlier step writes, then the command's own up-front checks (network
    names, chain specs, net-config keys and values, ranges, patch sizes). A one-line UserError
    naming the file, line and step."""
    for step in exp.steps:
        if step.params is not None:
            _preflight(exp, step, find_command(exp.commands, step.words), step.params)


def _missing_input(cmd: Any, params: dict[str, Any], base: Path, produced: Callable[[Path], bool],
                   extra: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """The first input path (a ``click.Path`` option or argument that is not an output, or a
    parameter named in `extra`) that does not exist and that no earlier step writes:
    ``(flag, value)``, else None."""
    import click

    outputs = {"out", "save"}
    for p in cmd.params:
        if p.name in outputs or p.name not in params:
            continue
        if not (isinstance(p.type, click.Path) or p.name in extra):
            continue
        value = params[p.name]
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if v is None or v == "" or isinstance(v, bool):
                continue
            path = Path(v) if Path(v).is_absolute() else base / v
            if path.exists() or produced(path):
                continue
            flag = next((o for o in getattr(p, "opts", ()) if o.startswith("--")), None) or p.human_readable_name
            return flag, str(v)
    return None


def _preflight(exp: Experiment, step: Step, cmd, params: dict[str, Any]) -> None:
    """Before any step runs: inputs that exist or an earlier step writes, then the command's own
    up-front checks, run by its own code in check mode (:mod:`imgrestore.preflight`)."""
    import click

    from imgrestore.preflight import check_command

    extra = ("inputs",) if step.words == ("restore",) else ()
    try:
        miss = _missing_input(cmd, params, exp.dir, _produced_by_earlier(exp, step), extra)
        if miss is not None:
            raise UserError(f"{miss[0]} {miss[1]}: no such file or folder, and no earlier step writes it")
        check_command(cmd, step.words, step.argv, exp.dir)
    except click.ClickException as exc:
        raise error_at(exp.source, step.name, exc.format_message()) from None
    except UserError as exc:
        msg = str(exc)
        if any(str(exp.step(d).dir) in msg for d in step.deps):
            return  # about an earlier step's output, not there yet: checked when the step runs
        key = key_of(msg)
        if step.args and (key is None or (key not in step.options and key not in step.option_keys)):
            key = "args"  # not about an option: about the positional arguments (a chain spec, a name)
        raise error_at(exp.source, step.name, msg, key) from None
