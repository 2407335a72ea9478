"""Resolving a step: TOML options and references -> a command line click has parsed, and its dependencies.

References (``{steps.NAME.out}``, ``{experiment.dir}``, ``{vars.X}``) are substituted, flags become
switches, and click parses the result now, so a bad value stops the run before any step starts.
"""

from __future__ import annotations

from typing import Any

from imgrestore.errors import UserError, did_you_mean
from imgrestore.experiment.commands import argv_value, flag_pair, option_table, find_command
from imgrestore.experiment.identity import digest, is_within, token_path
from imgrestore.experiment.model import OUT_FILE, OUT_PLACEHOLDER, REF_RE, STDOUT_FILE, Experiment, Step
from imgrestore.experiment.where import error_at


def _substitute(exp: Experiment, step: Step, value: Any, refs: set[str], what: str) -> Any:
    """Replace {steps.X.attr}, {experiment.attr} and {vars.X} in a TOML value."""
    if isinstance(value, list):
        return [_substitute(exp, step, v, refs, what) for v in value]
    if isinstance(value, dict):
        raise error_at(exp.source, step.name, f"{what}: a table is not a command-line value")
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
            raise error_at(exp.source, step.name, f"{what}: {{{ref}}}: no such variable in [vars]")
        val = exp.vars[rest]
        if isinstance(val, (dict, list)):
            raise error_at(exp.source, step.name, f"{what}: {{{ref}}}: variables must be strings, numbers or booleans")
        return val
    if kind == "experiment":
        if rest == "out":
            return str(exp.out)
        if rest == "dir":
            return str(exp.dir)
        raise error_at(exp.source, step.name, f"{what}: {{{ref}}}: expected {{experiment.out}} or {{experiment.dir}}")
    target, _, attr = rest.partition(".")
    names = [s.name for s in exp.steps]
    if target not in names:
        raise error_at(exp.source, step.name, f"{what}: {{{ref}}}: no step named {target!r} (steps: {', '.join(names)})")
    if target == step.name:
        raise error_at(exp.source, step.name, f"{what}: {{{ref}}}: a step cannot use its own output (a cycle)")
    other = exp.step(target)
    if other.index > step.index:
        raise error_at(exp.source, step.name, f"{what}: {{{ref}}}: step {target!r} comes later; steps run in file order, "
                                        "so a step can use only earlier steps' outputs")
    refs.add(target)
    if attr == "out":
        if other.out is None:
            raise error_at(exp.source, step.name, f"{what}: {{{ref}}}: {other.command} has no --out; "
                                            f"use {{steps.{target}.dir}} or {{steps.{target}.stdout}}")
        return str(other.out)
    if attr == "dir":
        return str(other.dir)
    if attr == "stdout":
        return str(other.dir / STDOUT_FILE)
    raise error_at(exp.source, step.name, f"{what}: {{{ref}}}: expected .out, .dir or .stdout after the step name")


def resolve_step(exp: Experiment, step: Step) -> None:
    """Turn a step's TOML options into a checked command line; find what it depends on."""
    import click

    if step.words[0] == "run":
        raise error_at(exp.source, step.name, "command run: an experiment cannot run another experiment")
    cmd = find_command(exp.commands, step.words)
    if cmd is None or isinstance(cmd, click.Group):
        top = exp.commands
        ctx = click.Context(top, info_name="imgrestore")
        grp = find_command(exp.commands, step.words[:1])
        if isinstance(grp, click.Group):
            subs = ", ".join(f"'{step.words[0]} {c}'" for c in grp.list_commands(ctx))
            raise error_at(exp.source, step.name, f"command {step.command!r}: expected one of {subs}")
        known = ", ".join(c for c in top.list_commands(ctx) if c != "run")
        raise error_at(exp.source, step.name, f"command {step.command!r}: no such imgrestore command (commands: {known})")
    step.dir = exp.out / step.name
    table = option_table(cmd)
    step.option_keys = frozenset(table)
    if "resume" in table and table["resume"][1] == "--resume" and "resume" not in step.options:
        step.resume_flag = "--resume"
    has_out = "out" in table and table["out"][1] is None
    if "out" in step.options:
        raise error_at(exp.source, step.name, f"out: set by the runner: each step writes into {exp.out}/{step.name}; "
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
            raise error_at(exp.source, step.name,
                           f"{step.command} has no option {key!r}{did_you_mean(key, names)} (options: {', '.join(names)})")
        param, flag = table[key]
        before = set(refs)
        value = _substitute(exp, step, raw, refs, key)
        if refs != before:
            ref_params.add(param.name)
        if flag is not None:  # a flag: true selects it, false its pair (or leaves it out)
            if not isinstance(value, bool):
                raise error_at(exp.source, step.name, f"{key} = {value!r}: {flag} is a switch; expected true or false")
            if value:
                argv.append(flag)
            else:
                other = flag_pair(param, flag)
                if other:
                    argv.append(other)
            continue
        values = value if isinstance(value, list) else [value]
        long = next(o for o in param.opts if o.startswith("--"))
        if any(isinstance(v, bool) for v in values) and not isinstance(param.type, click.types.BoolParamType):
            want = {"integer": "an integer", "float": "a number"}.get(param.type.name, f"a {param.type.name} value")
            raise error_at(exp.source, step.name, f"{key} = {argv_value(value)}: {long} takes {want}, not true/false",
                       key)
        if param.multiple and param.nargs == 1:
            for v in values:
                argv += [long, argv_value(v)]
            continue
        if isinstance(value, list) and param.nargs != len(values):
            raise error_at(exp.source, step.name, f"{key}: expected {param.nargs} value(s), got a list of {len(values)}")
        argv += [long, *(argv_value(v) for v in values)]
    if has_out:
        argv += ["--out", str(step.out)]
    before = set(refs)
    args = [argv_value(a) for a in _substitute(exp, step, step.args, refs, "args")]
    if refs != before:
        ref_params |= {p.name for p in cmd.params if isinstance(p, click.Argument)}
    if args:
        argv += ["--", *args]
    for a in step.after:
        if a not in [s.name for s in exp.steps]:
            raise error_at(exp.source, step.name, f"after: no step named {a!r}")
        if exp.step(a).index >= step.index:
            raise error_at(exp.source, step.name, f"after: step {a!r} does not come earlier; steps run in file order")
        refs.add(a)
    # a path written out by hand into an earlier step's folder is a dependency too
    for tok in argv:
        for other in exp.steps[:step.index]:
            if is_within(token_path(exp, tok), other.dir):
                refs.add(other.name)
    step.argv = argv
    step.deps = [s.name for s in exp.steps if s.name in refs]
    _check_values(exp, step, cmd, ref_params)
    step.portable_argv = [a.replace(str(exp.out), OUT_PLACEHOLDER) for a in argv]
    from imgrestore import __version__

    step.config = digest({"command": list(step.words), "argv": step.portable_argv, "version": __version__})


def _check_values(exp: Experiment, step: Step, cmd, ref_params: set[str]) -> None:
    """Let click parse the command line now, so bad values stop the run before any step runs."""
    import click

    try:
        with cmd.make_context(step.command, list(step.argv)) as ctx:
            params = dict(ctx.params)
    except click.BadParameter as exc:
        if exc.param is not None and exc.param.name in ref_params:
            return  # depends on an earlier step's output, which may not exist yet: checked when run
        raise error_at(exp.source, step.name, exc.format_message()) from None
    except click.ClickException as exc:
        raise error_at(exp.source, step.name, exc.format_message()) from None
    except UserError as exc:
        raise error_at(exp.source, step.name, str(exc)) from None
    step.params = params
