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

from imgrestore.errors import UserError

# commands whose code calls ready() before reading inputs or writing anything
CHECKED = frozenset({"synth", "fit", "eval", "restore", "import-weights", "bench net", "bench degrade"})

_checking: contextvars.ContextVar[bool] = contextvars.ContextVar("imgrestore_checking", default=False)


class Checked(Exception):
    """Raised by :func:`ready` in check mode: the command's up-front checks all passed."""


def ready() -> None:
    """Mark where a command's checks end and its work begins (a no-op unless checking)."""
    if _checking.get():
        raise Checked()


def checking_now() -> bool:
    """True inside :func:`check_command` (for code that must not even start slow probes)."""
    return _checking.get()


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
            except Checked:
                return
            except click.exceptions.Exit:
                return
    finally:
        os.chdir(here)
    # the command returned without reaching ready(): nothing of its work is left to check
    return


def missing_inputs(cmd: Any, params: dict[str, Any], base: Path, produced: Any,
                   extra: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """The first input path (a ``click.Path`` option or argument that is not an output, or a
    parameter named in `extra`) that does not exist and that `produced(path)` says no earlier
    step writes: ``(flag, value)``, else None."""
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


def ensure_inputs(cmd: Any, params: dict[str, Any], base: Path, produced: Any, extra: tuple[str, ...] = ()) -> None:
    """:func:`missing_inputs` as a one-line UserError."""
    miss = missing_inputs(cmd, params, base, produced, extra)
    if miss is not None:
        flag, value = miss
        raise UserError(f"{flag} {value}: no such file or folder, and no earlier step writes it")
