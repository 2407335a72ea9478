"""Which steps run and why: recorded fingerprints against the current ones, in file order."""

from __future__ import annotations

from typing import Any

from imgrestore.errors import UserError
from imgrestore.experiment.identity import input_identity
from imgrestore.experiment.model import Decision, Experiment, Step, command_line


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
            d = Decision(step, True, f"settings changed ({_argv_change(st.get('argv', []), step.portable_argv)})",
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


def _argv_change(old: list[str], new: list[str]) -> str:
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


def format_plan(exp: Experiment, decisions: list[Decision]) -> str:
    """The plan as text: one line per step (run/skip and why), with the command line of each run."""
    lines = [f"experiment {exp.path} -> {exp.out} ({len(decisions)} steps)"]
    width = max(len(d.step.name) for d in decisions)
    for d in decisions:
        lines.append(f"  {'run ' if d.run else 'skip'}  {d.step.name:<{width}}  {d.step.command:<14} {d.reason}")
        if d.run:
            lines.append(f"        $ {command_line(d.step)}")
    return "\n".join(lines)
