"""Loading an experiment file: TOML -> :class:`Experiment`, every step resolved before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imgrestore.errors import UserError
from imgrestore.experiment.model import NAME_RE, RESERVED, Experiment, Step
from imgrestore.experiment.resolve import resolve_step
from imgrestore.experiment.where import SourceText, error_at


def load_experiment(path: Path | str, commands: Any, out: Path | str | None = None) -> Experiment:
    """Read and check an experiment file; every step is resolved before anything runs.

    `commands` is the click group whose commands the steps name (``imgrestore.cli.main.cli``);
    the caller hands it in, so the runner never imports the CLI that calls it.

    Bad input (TOML syntax, unknown keys, commands or options, references to unknown or later
    steps, option values a command rejects) is a one-line UserError naming the file and step.
    """
    import tomllib

    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such experiment file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder; expected an experiment .toml file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise UserError(f"{path}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                        "save the experiment file as UTF-8") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: TOML syntax error: {exc}") from None
    raw_list = doc.get("step") if isinstance(doc.get("step"), list) else []
    src = SourceText(path, text, [s.get("name") if isinstance(s, dict) else None for s in raw_list])
    unknown = sorted(set(doc) - {"experiment", "vars", "defaults", "step"})
    if unknown:
        what = "table" if isinstance(doc[unknown[0]], (dict, list)) else "key"
        raise error_at(src, None, f"unknown {what} {unknown[0]!r}; expected [experiment], [vars], [defaults] and "
                               "[[step]] (a step's options go inside its [[step]] table)")
    meta = _table(src, doc, "experiment")
    bad = sorted(set(meta) - {"out", "description"})
    if bad:
        raise error_at(src, None, f"[experiment] has no key {bad[0]!r}; expected out, description")
    vars_ = _table(src, doc, "vars")
    defaults = _table(src, doc, "defaults")
    raw_steps = doc.get("step", [])
    if not isinstance(raw_steps, list) or not raw_steps or not all(isinstance(s, dict) for s in raw_steps):
        raise error_at(src, None, "no steps; add [[step]] tables with name and command")
    folder = path.resolve().parent
    if out is not None:
        exp_out = Path(out).resolve()
    elif "out" in meta:
        if not isinstance(meta["out"], str) or not meta["out"]:
            raise error_at(src, None, "[experiment] out: expected a folder name")
        exp_out = (folder / meta["out"]).resolve()
    else:
        exp_out = (Path.cwd() / "runs" / path.stem).resolve()
    exp = Experiment(path=path, dir=folder, out=exp_out, steps=[], vars=vars_, defaults=defaults,
                     commands=commands, source=src)
    names: set[str] = set()
    for i, raw in enumerate(raw_steps):
        step = _parse_step(src, raw, i)
        if step.name in names:
            raise error_at(src, step.name, "a step of that name comes earlier; step names must be unique")
        names.add(step.name)
        exp.steps.append(step)
    for step in exp.steps:
        resolve_step(exp, step)
    for k in exp.defaults:
        if not any(k in s.option_keys for s in exp.steps):
            raise error_at(src, None, f"[defaults] {k}: no step's command has this option")
    return exp


def _table(src: SourceText, doc: dict, key: str) -> dict:
    val = doc.get(key, {})
    if not isinstance(val, dict):
        raise error_at(src, None, f"{key}: expected a table [{key}]")
    return val


def _parse_step(src: SourceText, raw: dict, index: int) -> Step:
    name = raw.get("name")
    label = name if isinstance(name, str) else f"#{index + 1}"
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise error_at(src, label, "name: expected letters, digits, '-' or '_' (it names the step's output folder)")
    command = raw.get("command")
    if not isinstance(command, str) or not command.split():
        raise error_at(src, name, "command: expected an imgrestore command such as synth, fit, eval or 'bench net'")
    args = raw.get("args", [])
    if isinstance(args, (str, int, float)):
        args = [args]
    if not isinstance(args, list):
        raise error_at(src, name, "args: expected a list of positional arguments")
    after = raw.get("after", [])
    if isinstance(after, str):
        after = [after]
    if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
        raise error_at(src, name, "after: expected a list of step names")
    options = {k: v for k, v in raw.items() if k not in RESERVED}
    extra = raw.get("options", {})
    if not isinstance(extra, dict):
        raise error_at(src, name, "options: expected a table of command options")
    for k, v in extra.items():
        if k in options:
            raise error_at(src, name, f"option {k!r} is given twice (in the step and in its options table)")
        options[k] = v
    return Step(name=name, words=tuple(command.split()), args=list(args), options=options, after=list(after),
                index=index)
