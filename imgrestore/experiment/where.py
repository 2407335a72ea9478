"""Where a key is in an experiment file, so an error can name its line.

tomllib returns values without line numbers; the experiment keeps its file's text (a
:class:`SourceText`) and finds the line of a step, a table or a key again for the one-line error
``FILE: line N: step 'S': msg``.
"""

from __future__ import annotations

import re
from pathlib import Path

from imgrestore.errors import UserError


def error_at(src: "SourceText", step: str | None, msg: str, key: str | None = None) -> UserError:
    """``FILE: line N: step 'NAME': msg`` -- the line of the step's key (or of the step, or table)."""
    line = src.line(step, key or key_of(msg))
    where = f"{src.path}: line {line}" if line else str(src.path)
    return UserError(f"{where}: step '{step}': {msg}" if step else f"{where}: {msg}")


_KEY_PATTERNS = (re.compile(r"^\[(?:experiment|defaults|vars)\] has no key '([^']+)'"),
                 re.compile(r"^\[(?:experiment|defaults|vars)\] ([A-Za-z0-9_-]+)[: ]"),
                 re.compile(r"^unknown (?:table|key) '([^']+)'"),
                 re.compile(r"^--([A-Za-z0-9_-]+)[ :]"),
                 re.compile(r"has no option '([^']+)'"),
                 re.compile(r"^option '([^']+)' is given twice"),
                 re.compile(r"'--([A-Za-z0-9_-]+)'"),
                 re.compile(r"^([A-Za-z0-9_-]+)(?: =|:)"))


def key_of(msg: str) -> str | None:
    """The TOML key an error message is about (messages start with the key, as options do)."""
    for pat in _KEY_PATTERNS:
        m = pat.search(msg)
        if m:
            return m.group(1)
    return None


class SourceText:
    """Where things are in an experiment file's text: tomllib gives values but no line numbers."""

    HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?\s*(#.*)?$")

    def __init__(self, path: Path, text: str, step_names: list[str | None]) -> None:
        self.path = path
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

