"""Experiments: one TOML file runs synth -> fit stages -> restore/eval -> bench, skipping finished steps.

An experiment is a list of ``[[step]]`` tables run in file order. Each step is one ``imgrestore``
command (``synth``, ``fit``, ``restore``, ``eval``, ``bench net``, ``import-weights``, or a
plugin's), given its options as TOML keys named like the command-line options, and run in-process
through the click group, so the runner knows nothing of the commands' internals:

.. code-block:: toml

    [experiment]
    out = "runs/demo"              # optional; relative to this file (or `imgrestore run --out`)

    [vars]                         # {vars.NAME} anywhere in a value
    sigma = 25

    [defaults]                     # given to every step whose command has the option
    device = "cpu"

    [[step]]
    name = "pairs"
    command = "synth"
    args = ["awgn:sigma={vars.sigma}"]       # positional arguments
    patch = 40
    count = 64

    [[step]]
    name = "score"
    command = "eval"
    weights = "{steps.train.out}/final.safetensors"
    clean = "../shared/data/images/Set12"
    json = true

Every step writes into its own folder ``OUT/NAME`` (passed as ``--out`` to commands that have
that option) and its standard output is kept as ``OUT/NAME/stdout.txt``. ``{steps.NAME.out}`` is
an earlier step's ``--out`` value, ``{steps.NAME.dir}`` its folder, ``{steps.NAME.stdout}`` its
captured output; ``{experiment.out}`` and ``{experiment.dir}`` are the output folder and the
folder of the experiment file. Relative paths are relative to the experiment file: each step runs
with that folder as its working directory.

A step's *fingerprint* is its command line (with the output folder written as a placeholder, so
an experiment folder can be moved), the identity (size, modification time) of the files and
folders it names outside the experiment, and the imgrestore version. State lives in
``OUT/.experiment/state.json``, rewritten atomically after every change. A step is skipped when
its fingerprint equals the recorded one, it finished, its output folder is there, and every step
it depends on (named by a reference, a path into that step's folder, or ``after = [...]``) is the
very run it was built from. Otherwise it runs, and so does every step that depends on it. A step
that changed, or whose inputs were redone, starts from an empty folder; one that was interrupted
or failed with the same settings keeps its folder, so commands that resume (synth) resume.

Nothing runs before every step has been checked (:func:`check_experiment`, also for
``--dry-run``): click parses each command line, input paths must exist or lie in an earlier
step's folder, and each built-in command then runs its own up-front checks in check mode
(:mod:`imgrestore.preflight`), stopping where its work would begin. Errors name the file, the
line of the key (``exp.toml: line 12: step 'train': --patch 4: ...``) and the step.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import shlex
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from imgrestore.errors import UserError

STATE_DIR = ".experiment"
STATE_FILE = "state.json"
STDOUT_FILE = "stdout.txt"
RESULTS_FILE = "results.json"
RESERVED = ("name", "command", "args", "after", "options")
# Commands whose --out is a file, not a folder: the file name used inside the step's folder.
OUT_FILE = {"import-weights": "model.safetensors"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
REF_RE = re.compile(r"\{(steps\.[^{}.]+\.[^{}.]+|experiment\.[^{}.]+|vars\.[^{}.]+)\}")
OUT_PLACEHOLDER = "{experiment.out}"
MAX_IDENTITY_FILES = 5000


@dataclass
class Step:
    """One ``[[step]]`` table as written, plus what resolving it against the commands found."""

    name: str
    words: tuple[str, ...]          # command words, e.g. ("bench", "net")
    args: list[Any]
    options: dict[str, Any]
    after: list[str]
    index: int
    argv: list[str] = field(default_factory=list)      # resolved, after the command words
    deps: list[str] = field(default_factory=list)
    out: Path | None = None                           # the value given as --out (None: no --out option)
    dir: Path = Path()
    config: str = ""
    inputs: str = ""
    resume_flag: str | None = None                   # the command's --resume switch, if it has one
    option_keys: frozenset[str] = frozenset()        # the TOML keys its command accepts
    params: dict[str, Any] | None = None              # its options as click parsed them (None: not parsed)

    @property
    def command(self) -> str:
        return " ".join(self.words)


@dataclass
class Experiment:
    """A parsed experiment file with every step resolved to a command line."""

    path: Path
    dir: Path
    out: Path
    steps: list[Step]
    vars: dict[str, Any]
    defaults: dict[str, Any]

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


@dataclass
class Decision:
    """What the runner will do with a step and why."""

    step: Step
    run: bool
    reason: str
    clear: bool = False


# --------------------------------------------------------------------------------------------
# loading


def _err(path: Path, step: str | None, msg: str, key: str | None = None) -> UserError:
    """``FILE: line N: step 'NAME': msg`` -- the line of the step's key (or of the step, or table)."""
    line = _SOURCES[str(path)].line(step, key or _key_of(msg)) if str(path) in _SOURCES else None
    where = f"{path}: line {line}" if line else str(path)
    return UserError(f"{where}: step '{step}': {msg}" if step else f"{where}: {msg}")


_KEY_PATTERNS = (re.compile(r"^\[(?:experiment|defaults|vars)\] has no key '([^']+)'"),
                 re.compile(r"^\[(?:experiment|defaults|vars)\] ([A-Za-z0-9_-]+)[: ]"),
                 re.compile(r"^unknown (?:table|key) '([^']+)'"),
                 re.compile(r"^--([A-Za-z0-9_-]+)[ :]"),
                 re.compile(r"has no option '([^']+)'"),
                 re.compile(r"^option '([^']+)' is given twice"),
                 re.compile(r"'--([A-Za-z0-9_-]+)'"),
                 re.compile(r"^([A-Za-z0-9_-]+)(?: =|:)"))


def _key_of(msg: str) -> str | None:
    """The TOML key an error message is about (messages start with the key, as options do)."""
    for pat in _KEY_PATTERNS:
        m = pat.search(msg)
        if m:
            return m.group(1)
    return None


class _Source:
    """Where things are in an experiment file's text: tomllib gives values but no line numbers."""

    HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?\s*(#.*)?$")

    def __init__(self, text: str, step_names: list[str | None]) -> None:
        self.lines = text.splitlines()
        self.headers = [(i + 1, m.group(1).replace('"', "").replace("'", "").replace(" ", ""),
                         line.strip().startswith("[["))
                        for i, line in enumerate(self.lines) if (m := self.HEADER.match(line))]
        self.steps = [n for n, name, arr in self.headers if arr and name == "step"]
        self.names = step_names

    def _key_line(self, key: str, start: int, stop: int) -> int | None:
        keys = "|".join(re.escape(k) for k in {key, key.replace("-", "_"), key.replace("_", "-")})
        pat = re.compile(rf"^\s*[\"']?(?:{keys})[\"']?\s*=")
        for n in range(start, min(stop, len(self.lines)) + 1):
            if pat.match(self.lines[n - 1]):
                return n
        return None

    def line(self, step: str | None, key: str | None) -> int | None:
        if step is not None:
            idx = self._step_index(step)
            if idx is None or idx >= len(self.steps):
                return None
            start = self.steps[idx]
            stop = self.steps[idx + 1] - 1 if idx + 1 < len(self.steps) else len(self.lines)
            return (self._key_line(key, start, stop) if key else None) or start
        if key is None:
            return None
        for n, name, _ in self.headers:  # a table: [key] / [[key]], or the key inside [experiment] etc.
            if name == key:
                return n
        bounds = [n for n, _, _ in self.headers] + [len(self.lines) + 1]
        first = bounds[0] - 1
        found = self._key_line(key, 1, first)  # top-level keys come before any table
        for (n, name, _), stop in zip(self.headers, bounds[1:]):
            if found:
                break
            if name in ("experiment", "defaults", "vars"):
                found = self._key_line(key, n, stop - 1)
        return found

    def _step_index(self, step: str) -> int | None:
        if step.startswith("#") and step[1:].isdigit():
            return int(step[1:]) - 1
        hits = [i for i, n in enumerate(self.names) if n == step]
        return hits[-1] if hits else None


_SOURCES: dict[str, _Source] = {}


def load_experiment(path: Path | str, out: Path | str | None = None) -> Experiment:
    """Read and check an experiment file; every step is resolved before anything runs.

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
    _SOURCES[str(path)] = _Source(text, [s.get("name") if isinstance(s, dict) else None for s in raw_list])
    unknown = sorted(set(doc) - {"experiment", "vars", "defaults", "step"})
    if unknown:
        what = "table" if isinstance(doc[unknown[0]], (dict, list)) else "key"
        raise _err(path, None, f"unknown {what} {unknown[0]!r}; expected [experiment], [vars], [defaults] and "
                               "[[step]] (a step's options go inside its [[step]] table)")
    meta = _table(path, doc, "experiment")
    bad = sorted(set(meta) - {"out", "description"})
    if bad:
        raise _err(path, None, f"[experiment] has no key {bad[0]!r}; expected out, description")
    vars_ = _table(path, doc, "vars")
    defaults = _table(path, doc, "defaults")
    raw_steps = doc.get("step", [])
    if not isinstance(raw_steps, list) or not raw_steps or not all(isinstance(s, dict) for s in raw_steps):
        raise _err(path, None, "no steps; add [[step]] tables with name and command")
    folder = path.resolve().parent
    if out is not None:
        exp_out = Path(out).resolve()
    elif "out" in meta:
        if not isinstance(meta["out"], str) or not meta["out"]:
            raise _err(path, None, "[experiment] out: expected a folder name")
        exp_out = (folder / meta["out"]).resolve()
    else:
        exp_out = (Path.cwd() / "runs" / path.stem).resolve()
    exp = Experiment(path=path, dir=folder, out=exp_out, steps=[], vars=vars_, defaults=defaults)
    names: set[str] = set()
    for i, raw in enumerate(raw_steps):
        step = _parse_step(path, raw, i)
        if step.name in names:
            raise _err(path, step.name, "a step of that name comes earlier; step names must be unique")
        names.add(step.name)
        exp.steps.append(step)
    for step in exp.steps:
        _resolve(exp, step)
    for k in exp.defaults:
        if not any(k in s.option_keys for s in exp.steps):
            raise _err(path, None, f"[defaults] {k}: no step's command has this option")
    return exp


def _table(path: Path, doc: dict, key: str) -> dict:
    val = doc.get(key, {})
    if not isinstance(val, dict):
        raise _err(path, None, f"{key}: expected a table [{key}]")
    return val


def _parse_step(path: Path, raw: dict, index: int) -> Step:
    name = raw.get("name")
    label = name if isinstance(name, str) else f"#{index + 1}"
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _err(path, label, "name: expected letters, digits, '-' or '_' (it names the step's output folder)")
    command = raw.get("command")
    if not isinstance(command, str) or not command.split():
        raise _err(path, name, "command: expected an imgrestore command such as synth, fit, eval or 'bench net'")
    args = raw.get("args", [])
    if isinstance(args, (str, int, float)):
        args = [args]
    if not isinstance(args, list):
        raise _err(path, name, "args: expected a list of positional arguments")
    after = raw.get("after", [])
    if isinstance(after, str):
        after = [after]
    if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
        raise _err(path, name, "after: expected a list of step names")
    options = {k: v for k, v in raw.items() if k not in RESERVED}
    extra = raw.get("options", {})
    if not isinstance(extra, dict):
        raise _err(path, name, "options: expected a table of command options")
    for k, v in extra.items():
        if k in options:
            raise _err(path, name, f"option {k!r} is given twice (in the step and in its options table)")
        options[k] = v
    return Step(name=name, words=tuple(command.split()), args=list(args), options=options, after=list(after),
                index=index)


# --------------------------------------------------------------------------------------------
# resolving a step against its click command


def _root():
    from imgrestore.cli.main import cli

    return cli


def find_command(words: tuple[str, ...]):
    """The click command for command words such as ("bench", "net"), or None."""
    import click

    cmd = _root()
    ctx = click.Context(cmd, info_name="imgrestore")
    for w in words:
        if not isinstance(cmd, click.Group):
            return None
        cmd = cmd.get_command(ctx, w)
        if cmd is None:
            return None
    return cmd


def _option_table(cmd) -> dict[str, tuple[Any, str | None]]:
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


def _flag_pair(p, flag: str) -> str | None:
    """For a --x/--no-x flag, the other flag of the pair."""
    if flag in p.opts and p.secondary_opts:
        return p.secondary_opts[0]
    if flag in p.secondary_opts:
        return next((o for o in p.opts if o.startswith("--")), None)
    return None


def _substitute(exp: Experiment, step: Step, value: Any, refs: set[str], what: str) -> Any:
    """Replace {steps.X.attr}, {experiment.attr} and {vars.X} in a TOML value."""
    if isinstance(value, list):
        return [_substitute(exp, step, v, refs, what) for v in value]
    if isinstance(value, dict):
        raise _err(exp.path, step.name, f"{what}: a table is not a command-line value")
    if not isinstance(value, str):
        return value
    whole = REF_RE.fullmatch(value)
    if whole and whole.group(1).startswith("vars."):
        return _ref(exp, step, whole.group(1), refs, what)  # keep the variable's type
    return REF_RE.sub(lambda m: str(_ref(exp, step, m.group(1), refs, what)), value)


def _ref(exp: Experiment, step: Step, ref: str, refs: set[str], what: str) -> Any:
    kind, _, rest = ref.partition(".")
    if kind == "vars":
        if rest not in exp.vars:
            raise _err(exp.path, step.name, f"{what}: {{{ref}}}: no such variable in [vars]")
        val = exp.vars[rest]
        if isinstance(val, (dict, list)):
            raise _err(exp.path, step.name, f"{what}: {{{ref}}}: variables must be strings, numbers or booleans")
        return val
    if kind == "experiment":
        if rest == "out":
            return str(exp.out)
        if rest == "dir":
            return str(exp.dir)
        raise _err(exp.path, step.name, f"{what}: {{{ref}}}: expected {{experiment.out}} or {{experiment.dir}}")
    target, _, attr = rest.partition(".")
    names = [s.name for s in exp.steps]
    if target not in names:
        raise _err(exp.path, step.name, f"{what}: {{{ref}}}: no step named {target!r} (steps: {', '.join(names)})")
    if target == step.name:
        raise _err(exp.path, step.name, f"{what}: {{{ref}}}: a step cannot use its own output (a cycle)")
    other = exp.step(target)
    if other.index > step.index:
        raise _err(exp.path, step.name, f"{what}: {{{ref}}}: step {target!r} comes later; steps run in file order, "
                                        "so a step can use only earlier steps' outputs")
    refs.add(target)
    if attr == "out":
        if other.out is None:
            raise _err(exp.path, step.name, f"{what}: {{{ref}}}: {other.command} has no --out; "
                                            f"use {{steps.{target}.dir}} or {{steps.{target}.stdout}}")
        return str(other.out)
    if attr == "dir":
        return str(other.dir)
    if attr == "stdout":
        return str(other.dir / STDOUT_FILE)
    raise _err(exp.path, step.name, f"{what}: {{{ref}}}: expected .out, .dir or .stdout after the step name")


def _argv_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _resolve(exp: Experiment, step: Step) -> None:
    """Turn a step's TOML options into a checked command line; find what it depends on."""
    import click

    if step.words[0] == "run":
        raise _err(exp.path, step.name, "command run: an experiment cannot run another experiment")
    cmd = find_command(step.words)
    if cmd is None or isinstance(cmd, click.Group):
        top = _root()
        ctx = click.Context(top, info_name="imgrestore")
        grp = find_command(step.words[:1])
        if isinstance(grp, click.Group):
            subs = ", ".join(f"'{step.words[0]} {c}'" for c in grp.list_commands(ctx))
            raise _err(exp.path, step.name, f"command {step.command!r}: expected one of {subs}")
        known = ", ".join(c for c in top.list_commands(ctx) if c != "run")
        raise _err(exp.path, step.name, f"command {step.command!r}: no such imgrestore command (commands: {known})")
    step.dir = exp.out / step.name
    table = _option_table(cmd)
    step.option_keys = frozenset(table)
    if "resume" in table and table["resume"][1] == "--resume" and "resume" not in step.options:
        step.resume_flag = "--resume"
    has_out = "out" in table and table["out"][1] is None
    if "out" in step.options:
        raise _err(exp.path, step.name, f"out: set by the runner: each step writes into {exp.out}/{step.name}; "
                                        "use {steps.NAME.out} to read an earlier step's output")
    if has_out:
        step.out = step.dir / OUT_FILE[step.words[0]] if step.words[0] in OUT_FILE else step.dir
    refs: set[str] = set()
    ref_params: set[str] = set()
    opts = dict(step.options)
    for k, v in exp.defaults.items():
        if k in table and k not in opts and k != "out":
            opts[k] = v
    argv: list[str] = []
    for key, raw in opts.items():
        if key not in table:
            names = sorted({k for k in table if "_" not in k or k.replace("_", "-") not in table})
            import difflib

            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _err(exp.path, step.name, f"{step.command} has no option {key!r}{hint} (options: {', '.join(names)})")
        param, flag = table[key]
        before = set(refs)
        value = _substitute(exp, step, raw, refs, key)
        if refs != before:
            ref_params.add(param.name)
        if flag is not None:  # a flag: true selects it, false its pair (or leaves it out)
            if not isinstance(value, bool):
                raise _err(exp.path, step.name, f"{key} = {value!r}: {flag} is a switch; expected true or false")
            if value:
                argv.append(flag)
            else:
                other = _flag_pair(param, flag)
                if other:
                    argv.append(other)
            continue
        values = value if isinstance(value, list) else [value]
        long = next(o for o in param.opts if o.startswith("--"))
        if any(isinstance(v, bool) for v in values) and not isinstance(param.type, click.types.BoolParamType):
            want = {"integer": "an integer", "float": "a number"}.get(param.type.name, f"a {param.type.name} value")
            raise _err(exp.path, step.name, f"{key} = {_argv_value(value)}: {long} takes {want}, not true/false",
                       key)
        if param.multiple and param.nargs == 1:
            for v in values:
                argv += [long, _argv_value(v)]
            continue
        if isinstance(value, list) and param.nargs != len(values):
            raise _err(exp.path, step.name, f"{key}: expected {param.nargs} value(s), got a list of {len(values)}")
        argv += [long, *(_argv_value(v) for v in values)]
    if has_out:
        argv += ["--out", str(step.out)]
    before = set(refs)
    args = [_argv_value(a) for a in _substitute(exp, step, step.args, refs, "args")]
    if refs != before:
        ref_params |= {p.name for p in cmd.params if isinstance(p, click.Argument)}
    if args:
        argv += ["--", *args]
    for a in step.after:
        if a not in [s.name for s in exp.steps]:
            raise _err(exp.path, step.name, f"after: no step named {a!r}")
        if exp.step(a).index >= step.index:
            raise _err(exp.path, step.name, f"after: step {a!r} does not come earlier; steps run in file order")
        refs.add(a)
    # a path written out by hand into an earlier step's folder is a dependency too
    for tok in argv:
        for other in exp.steps[:step.index]:
            if _is_within(_abspath(exp, tok), other.dir):
                refs.add(other.name)
    step.argv = argv
    step.deps = [s.name for s in exp.steps if s.name in refs]
    _check_values(exp, step, cmd, ref_params)
    shown = [a.replace(str(exp.out), OUT_PLACEHOLDER) for a in argv]
    from imgrestore import __version__

    step.config = _digest({"command": list(step.words), "argv": shown, "version": __version__})


def _check_values(exp: Experiment, step: Step, cmd, ref_params: set[str]) -> None:
    """Let click parse the command line now, so bad values stop the run before any step runs."""
    import click

    try:
        with cmd.make_context(step.command, list(step.argv)) as ctx:
            params = dict(ctx.params)
    except click.BadParameter as exc:
        if exc.param is not None and exc.param.name in ref_params:
            return  # depends on an earlier step's output, which may not exist yet: checked when run
        raise _err(exp.path, step.name, exc.format_message()) from None
    except click.ClickException as exc:
        raise _err(exp.path, step.name, exc.format_message()) from None
    except UserError as exc:
        raise _err(exp.path, step.name, str(exc)) from None
    step.params = params


def _produced_by_earlier(exp: Experiment, step: Step) -> Callable[[Path], bool]:
    """Whether a path lies in the folder of a step before `step` (written by it when it runs)."""
    folders = [s.dir for s in exp.steps[:step.index]]
    return lambda p: any(_is_within(Path(os.path.abspath(p)), f) for f in folders)


def check_experiment(exp: Experiment) -> None:
    """Every step checked before the first one starts, as its command would check it: input files
    that exist or that an earlier step writes, then the command's own up-front checks (network
    names, chain specs, net-config keys and values, ranges, patch sizes). A one-line UserError
    naming the file, line and step."""
    for step in exp.steps:
        if step.params is not None:
            _preflight(exp, step, find_command(step.words), step.params)


def _preflight(exp: Experiment, step: Step, cmd, params: dict[str, Any]) -> None:
    """Before any step runs: inputs that exist or an earlier step writes, then the command's own
    up-front checks, run by its own code in check mode (:mod:`imgrestore.preflight`)."""
    import click

    from imgrestore.preflight import check_command, ensure_inputs

    produced = _produced_by_earlier(exp, step)
    extra = ("inputs",) if step.words == ("restore",) else ()
    try:
        ensure_inputs(cmd, params, exp.dir, produced, extra)
        check_command(cmd, step.words, step.argv, exp.dir)
    except click.ClickException as exc:
        raise _err(exp.path, step.name, exc.format_message()) from None
    except UserError as exc:
        msg = str(exc)
        if any(str(exp.step(d).dir) in msg for d in step.deps):
            return  # about an earlier step's output, not there yet: checked when the step runs
        key = _key_of(msg)
        if step.args and (key is None or (key not in step.options and key not in step.option_keys)):
            key = "args"  # not about an option: about the positional arguments (a chain spec, a name)
        raise _err(exp.path, step.name, msg, key) from None


def _abspath(exp: Experiment, token: str) -> Path | None:
    if not token or token.startswith("-") or "\n" in token or len(token) > 1024:
        return None
    try:
        p = Path(token)
        return p if p.is_absolute() else exp.dir / p
    except (ValueError, OSError):
        return None


def _is_within(p: Path | None, folder: Path) -> bool:
    if p is None:
        return False
    try:
        Path(os.path.normpath(p)).relative_to(folder)
        return True
    except ValueError:
        return False


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def input_identity(exp: Experiment, step: Step) -> str:
    """Size and modification time of the files and folders a step names outside the experiment.

    Cheap by design: no file is read. A folder contributes its files' relative names, sizes and
    times (up to MAX_IDENTITY_FILES files, then their count).
    """
    ident = []
    for tok in step.argv:
        p = _abspath(exp, tok)
        if p is None or _is_within(p, exp.out):
            continue
        try:
            if p.is_file():
                st = p.stat()
                ident.append([tok, st.st_size, st.st_mtime_ns])
            elif p.is_dir():
                ident.append([tok, _folder_identity(p)])
        except OSError:
            continue
    return _digest(ident)


def _folder_identity(folder: Path) -> list:
    """(relative name, size, mtime) of a folder's files in sorted walk order, at most MAX_IDENTITY_FILES."""
    files: list = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for n in sorted(names):
            if len(files) >= MAX_IDENTITY_FILES:
                files.append(["...more"])
                return files
            f = Path(root) / n
            try:
                st = f.stat()
            except OSError:
                continue
            files.append([str(f.relative_to(folder)), st.st_size, st.st_mtime_ns])
    return files


# --------------------------------------------------------------------------------------------
# state


def read_state(out: Path) -> dict[str, Any]:
    f = out / STATE_DIR / STATE_FILE
    if not f.is_file():
        return {"steps": {}}
    try:
        state = json.loads(f.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{f}: unreadable experiment state ({exc}); delete it to run every step again") from None
    state.setdefault("steps", {})
    return state


def write_state(out: Path, state: dict[str, Any]) -> None:
    from imgrestore.io import write_bytes_atomic

    write_bytes_atomic(out / STATE_DIR / STATE_FILE, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode())


def _has_output(step: Step) -> bool:
    if step.out is not None and step.out != step.dir:
        return step.out.exists()
    return step.dir.is_dir() and any(step.dir.iterdir())


def plan(exp: Experiment, state: dict[str, Any], from_step: str | None = None) -> list[Decision]:
    """Decide, in file order, which steps run and why (nothing is touched)."""
    names = [s.name for s in exp.steps]
    if from_step is not None and from_step not in names:
        raise UserError(f"--from {from_step}: no such step in {exp.path} (steps: {', '.join(names)})")
    start = names.index(from_step) if from_step is not None else len(names)
    recorded = state.get("steps", {})
    runs: set[str] = set()
    out: list[Decision] = []
    for step in exp.steps:
        step.inputs = input_identity(exp, step)
        st = recorded.get(step.name)
        d: Decision
        if step.index >= start:
            d = Decision(step, True, f"--from {from_step}", clear=True)
        elif st is None:
            d = Decision(step, True, "never run", clear=True)
        elif st.get("config") != step.config:
            d = Decision(step, True, f"settings changed ({_argv_change(st.get('argv', []), step.argv, exp.out)})",
                         clear=True)
        elif st.get("inputs") != step.inputs:
            d = Decision(step, True, "input files changed", clear=True)
        elif any(dep in runs for dep in step.deps):
            dep = next(dep for dep in step.deps if dep in runs)
            d = Decision(step, True, f"uses {dep}, which runs", clear=True)
        elif any(st.get("deps", {}).get(dep) != recorded.get(dep, {}).get("run_id") for dep in step.deps):
            dep = next(dep for dep in step.deps if st.get("deps", {}).get(dep) != recorded.get(dep, {}).get("run_id"))
            d = Decision(step, True, f"{dep} was redone since", clear=True)
        elif st.get("status") != "done":
            d = Decision(step, True, f"{st.get('status', 'unfinished')} last time (resumes in its folder)")
        elif not _has_output(step):
            d = Decision(step, True, "output missing", clear=True)
        else:
            d = Decision(step, False, f"done {st.get('finished', '')}, unchanged")
        if d.run:
            runs.add(step.name)
        out.append(d)
    return out


def _argv_change(old: list[str], new: list[str], out: Path) -> str:
    new = [a.replace(str(out), OUT_PLACEHOLDER) for a in new]
    gone = [a for a in old if a not in new]
    added = [a for a in new if a not in old]
    if not gone and not added:
        return "imgrestore version or option order"
    parts = []
    if gone:
        parts.append("was " + " ".join(gone[:4]))
    if added:
        parts.append("now " + " ".join(added[:4]))
    return ", ".join(parts)


# --------------------------------------------------------------------------------------------
# running


class _Tee(io.TextIOBase):
    """Writes to a stream and keeps a copy (a step's standard output)."""

    def __init__(self, stream):
        self.stream = stream
        self.copy = io.StringIO()

    def write(self, s: str) -> int:
        self.copy.write(s)
        return self.stream.write(s)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str:
        return getattr(self.stream, "errors", None) or "strict"


def _lock(out: Path):
    """One runner per experiment folder at a time (a stale lock of a dead process is taken over)."""
    from imgrestore.lockfile import hold_lock

    return hold_lock(out / STATE_DIR / "lock",
                     lambda pid: f"{out}: another imgrestore run (pid {pid}) is running this experiment")


def _check_out(exp: Experiment) -> None:
    out = exp.out
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: experiment output exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / STATE_DIR).is_dir():
        raise UserError(f"{out}: folder exists, is not empty and is not an experiment's output "
                        f"(no {STATE_DIR}/); choose another --out")


def _clear(step: Step, exp: Experiment) -> None:
    """Empty a step's own folder (only ever OUT/NAME, a folder the runner owns)."""
    d = step.dir
    if d.parent != exp.out or not NAME_RE.match(d.name):  # never anything else
        raise AssertionError(f"refusing to clear {d}")
    if d.exists():
        trash = exp.out / STATE_DIR / f"trash-{d.name}-{secrets.token_hex(3)}"
        os.replace(d, trash)
        shutil.rmtree(trash, ignore_errors=True)


def command_line(step: Step) -> str:
    return shlex.join(["imgrestore", *step.words, *step.argv])


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


def run_experiment(exp: Experiment, from_step: str | None = None, dry_run: bool = False,
                   echo: Callable[[str], None] | None = None) -> list[Decision]:
    """Run the steps that need to run, in order; a failing step stops the run (UserError).

    Returns the decisions. With `dry_run` only the plan is made; nothing is written.
    """
    log = echo or (lambda s: print(s, file=sys.stderr, flush=True))
    if from_step is not None and from_step not in [s.name for s in exp.steps]:
        plan(exp, {"steps": {}}, from_step)  # raises the one-line error before anything is written
    check_experiment(exp)  # every step, before the first one starts (and before anything is written)
    if dry_run:
        return plan(exp, read_state(exp.out) if exp.out.is_dir() else {"steps": {}}, from_step)
    _check_out(exp)
    exp.out.mkdir(parents=True, exist_ok=True)
    with _lock(exp.out):
        state = read_state(exp.out)
        state["experiment"] = str(exp.path.resolve())
        decisions = plan(exp, state, from_step)
        total = len(decisions)
        t_all = time.perf_counter()
        try:
            for i, d in enumerate(decisions, 1):
                step = d.step
                if not d.run:
                    log(f"[{i}/{total}] {step.name}: skip ({d.reason})")
                    continue
                log(f"[{i}/{total}] {step.name}: run ({d.reason})\n  $ {command_line(step)}")
                _run_step(exp, state, step, d.clear, log)
        finally:
            _write_results(exp, state)
        ran = sum(d.run for d in decisions)
        log(f"experiment {exp.path.name}: {ran} step(s) run, {total - ran} skipped, "
            f"{time.perf_counter() - t_all:.1f} s; outputs in {exp.out}")
    return decisions


def _run_step(exp: Experiment, state: dict, step: Step, clear: bool, log: Callable[[str], None]) -> None:
    import click

    steps = state["steps"]
    if clear:
        _clear(step, exp)
    step.dir.mkdir(parents=True, exist_ok=True)
    entry = {"status": "running", "command": step.command, "argv": [a.replace(str(exp.out), OUT_PLACEHOLDER)
                                                                     for a in step.argv],
             "config": step.config, "inputs": step.inputs, "started": _now(),
             "deps": {d: steps.get(d, {}).get("run_id") for d in step.deps}}
    steps[step.name] = entry
    write_state(exp.out, state)
    argv = list(step.argv)
    if not clear and step.resume_flag and any(step.dir.iterdir()):
        argv.insert(0, step.resume_flag)  # continue the interrupted run (not part of the fingerprint)
        log(f"  (resuming: {step.resume_flag})")
    tee = _Tee(sys.stdout)
    cwd = os.getcwd()
    t0 = time.perf_counter()
    error: str | None = None
    try:
        os.chdir(exp.dir)
        with contextlib.redirect_stdout(tee):
            code = _root().main(args=[*step.words, *argv], prog_name="imgrestore", standalone_mode=False)
        if isinstance(code, int) and code != 0:
            error = f"exited with status {code}"
    except SystemExit as exc:  # a command that exits by itself (fit exits 130 when interrupted)
        if exc.code == 130:
            entry.update(status="interrupted", seconds=round(time.perf_counter() - t0, 3))
            write_state(exp.out, state)
            raise
        if exc.code not in (0, None):
            error = f"exited with status {exc.code}"
    except UserError as exc:
        error = str(exc)
    except click.ClickException as exc:
        error = exc.format_message()
    except (KeyboardInterrupt, click.exceptions.Abort):  # Ctrl-C: resumable, like a killed run
        entry.update(status="interrupted", seconds=round(time.perf_counter() - t0, 3))
        write_state(exp.out, state)
        raise
    except Exception as exc:  # a bug in a command: keep its traceback beside the state
        tb = exp.out / STATE_DIR / f"{step.name}.traceback.txt"
        tb.write_text(traceback.format_exc())
        error = f"{type(exc).__name__}: {exc} (traceback in {tb})"
    finally:
        os.chdir(cwd)
    seconds = round(time.perf_counter() - t0, 3)
    from imgrestore.io import write_bytes_atomic

    write_bytes_atomic(step.dir / STDOUT_FILE, tee.copy.getvalue().encode())
    if error is not None:
        entry.update(status="failed", error=error.splitlines()[0] if error else "", seconds=seconds)
        write_state(exp.out, state)
        raise UserError(f"{exp.path}: step '{step.name}' ({step.command}) failed: {error}")
    entry.update(status="done", finished=_now(), seconds=seconds, run_id=secrets.token_hex(8))
    write_state(exp.out, state)


def _write_results(exp: Experiment, state: dict) -> None:
    """OUT/results.json: each step's status, time, output and (when it printed JSON) its result."""
    from imgrestore.io import write_bytes_atomic

    res = {}
    for step in exp.steps:
        st = state["steps"].get(step.name, {})
        row: dict[str, Any] = {"command": step.command, "status": st.get("status"), "seconds": st.get("seconds"),
                               "finished": st.get("finished"), "out": str(step.out or step.dir)}
        f = step.dir / STDOUT_FILE
        if f.is_file():
            try:
                row["result"] = json.loads(f.read_text())
            except ValueError:
                pass
        res[step.name] = row
    write_bytes_atomic(exp.out / RESULTS_FILE, (json.dumps(res, indent=1) + "\n").encode())


def format_plan(exp: Experiment, decisions: list[Decision]) -> str:
    """The plan as text: one line per step (run/skip and why), with the command line of each run."""
    lines = [f"experiment {exp.path} -> {exp.out} ({len(decisions)} steps)"]
    width = max(len(d.step.name) for d in decisions)
    for d in decisions:
        lines.append(f"  {'run ' if d.run else 'skip'}  {d.step.name:<{width}}  {d.step.command:<14} {d.reason}")
        if d.run:
            lines.append(f"        $ {command_line(d.step)}")
    return "\n".join(lines)
