"""One process at a time per output: a lock file holding the owner's pid.

Used by ``imgrestore run`` (one runner per experiment folder) and ``imgrestore synth`` (one
writer per shard of an output folder). The file is created with ``O_EXCL``; a lock left by a
process that no longer runs (killed, machine rebooted) is taken over, a live owner's is a
one-line :class:`~imgrestore.errors.UserError`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, Iterator

from imgrestore.errors import UserError


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (this process counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


@contextlib.contextmanager
def hold_lock(path: Path, busy: Callable[[int], str]) -> Iterator[None]:
    """Hold the lock file `path` for the ``with`` body; `busy(pid)` is the error line when a
    live process holds it. A stale lock (its pid is gone, or the file is unreadable) is taken
    over; the lock is removed on exit, also on an exception."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            _create(path)
            break
        except FileExistsError:
            try:
                pid = int(path.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid > 0 and pid_alive(pid):
                raise UserError(busy(pid)) from None
            path.unlink(missing_ok=True)
    else:
        raise UserError(f"{path}: cannot take the lock")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _create(path: Path) -> None:
    """Create `path` holding this pid, atomically: the pid is written to a private file that is
    then hard-linked into place, so no other process ever reads an empty lock (which it would
    take for a stale one). Where hard links are not supported, ``O_EXCL`` and a write."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(str(os.getpid()))
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        raise
    except OSError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, str(os.getpid()).encode())
    finally:
        os.close(fd)
