"""Running the planned steps in-process through the click group, one runner per folder at a time.

Each step's standard output is kept beside its outputs, its state recorded before and after it
runs, and an interrupted step resumes in its own folder the next time.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from imgrestore.errors import UserError
from imgrestore.experiment.checks import check_experiment
from imgrestore.experiment.model import (NAME_RE, RESULTS_FILE, STATE_DIR, STDOUT_FILE, Decision,
                                         Experiment, Step, command_line)
from imgrestore.experiment.plan import plan
from imgrestore.experiment.state import read_state, write_state


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
    entry = {"status": "running", "command": step.command, "argv": step.portable_argv,
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
            code = exp.commands.main(args=[*step.words, *argv], prog_name="imgrestore", standalone_mode=False)
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
