"""Check a command line without doing its work: the very checks the command runs, stopped at its start.

``imgrestore run`` must refuse a bad step (an unknown network, a chain spec or net-config key
that does not parse, a patch or range a command rejects) before the first step starts, not hours
later when the step is reached. Rather than a second copy of every command's checks, each built-in
command calls :func:`ready` at the point where its checks end and its work begins (before it reads
an input that an earlier step may produce, and before it writes anything). In check mode
(:func:`check_command`) ``ready()`` raises :class:`Checked`, so the command's own code has run
exactly its own checks and nothing else; outside check mode ``ready()`` does nothing.

Only commands known to call ``ready()`` before any work are run this way (:data:`CHECKED`); a
plugin's command is checked by click's parsing alone.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# commands whose code calls ready() before reading inputs or writing anything
CHECKED = frozenset({"synth", "fit", "eval", "restore", "import-weights", "bench net", "bench degrade"})

_checking: contextvars.ContextVar[bool] = contextvars.ContextVar("imgrestore_checking", default=False)


class Checked(Exception):
    """Raised by :func:`ready` in check mode: the command's up-front checks all passed."""


def ready() -> None:
    """Mark where a command's checks end and its work begins (a no-op unless checking)."""
    if _checking.get():
        raise Checked()


@contextlib.contextmanager
def _check_mode() -> Iterator[None]:
    token = _checking.set(True)
    try:
        yield
    finally:
        _checking.reset(token)


def check_command(cmd: Any, words: tuple[str, ...], argv: list[str], cwd: Path) -> None:
    """Run click command `cmd` (``imgrestore WORDS ARGV``) in check mode in folder `cwd`.

    Returns when its checks pass; raises its UserError (or click's error) otherwise. Output the
    checks print (warnings included) is dropped: the step prints it again when it runs.
    """
    import click

    name = " ".join(words)
    if name not in CHECKED:
        return
    here = os.getcwd()
    sink = io.StringIO()
    try:
        os.chdir(cwd)
        with _check_mode(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with cmd.make_context(name, list(argv)) as ctx:
                    cmd.invoke(ctx)
            except (Checked, click.exceptions.Exit):
                pass  # its checks passed (or it exited by itself, as --help does)
    finally:
        os.chdir(here)
