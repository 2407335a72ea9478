"""What an experiment file becomes: its steps, the experiment, and the runner's decision per step.

The names of the files and folders the runner owns are here too, so every part of the package
agrees on them.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    portable_argv: list[str] = field(default_factory=list)  # argv with the output folder as OUT_PLACEHOLDER
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
    commands: Any               # the click group the step commands belong to (``imgrestore``'s root)
    source: Any                 # the file's text (experiment.where.SourceText), for line numbers in errors

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


@dataclass
class Decision:
    """What the runner will do with a step and why."""

    step: Step
    run: bool
    reason: str
    clear: bool = False


def command_line(step: Step) -> str:
    """The step as a shell command line (what the plan and the log show)."""
    return shlex.join(["imgrestore", *step.words, *step.argv])
