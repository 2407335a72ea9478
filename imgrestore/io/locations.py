"""Checking output folders and files before any long work: writable, not a file in the way, disk not full.

A run that would fail at its first write after an hour of work fails here instead, in one line
naming the option and the path.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from imgrestore.errors import UserError

MIN_FREE_BYTES = 1 << 20
"""An output folder with less free space than this is refused up front (a full disk)."""


def _check_location(path: Path | str, option: str, folder: bool) -> Path:
    """Shared part of :func:`check_out_folder` and :func:`check_out_file`."""
    import shutil

    kind = "folder" if folder else "file"
    if isinstance(path, str) and not path.strip():  # Path("") would be the current folder
        raise UserError(f"{option} {path!r}: empty path; name the {kind} to write")
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: is a file, expected a folder")
    if not folder and path.is_dir():
        raise UserError(f"{option} {path}: is a folder, expected a file name")
    start = path if folder else path.parent
    anc = start
    while not anc.exists() and anc.parent != anc:  # the nearest folder that exists: the first write
        anc = anc.parent
    if anc.exists() and not anc.is_dir():
        raise UserError(f"{option} {path}: not writable ({anc} is a file, not a folder)")
    probe = anc / f".imgrestore-probe-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        where = "" if anc == start else f"; {anc} does not take new files"
        raise UserError(f"{option} {path}: not writable ({exc.strerror or exc}{where})") from None
    try:
        free = shutil.disk_usage(anc).free
    except OSError:
        return path
    if free < MIN_FREE_BYTES:
        raise UserError(f"{option} {path}: the disk is full ({free:,} bytes free)")
    return path


def check_out_folder(path: Path | str, option: str = "--out") -> Path:
    """Prove that the output folder `path` can be written, without creating it, or raise one
    UserError line naming `option` and the path: an empty name (a str ``""``; ``Path("")`` is
    the current folder already), a file in the way, a read-only or foreign folder, a full disk.
    Called before any long work; returns ``Path(path)``."""
    return _check_location(path, option, folder=True)


def check_out_file(path: Path | str, option: str = "--out") -> Path:
    """As :func:`check_out_folder`, for an output file: its folder must be writable and the name
    must not be a folder."""
    return _check_location(path, option, folder=False)
