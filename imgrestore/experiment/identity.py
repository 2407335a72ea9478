"""Fingerprints: a digest of a step's settings, and the identity of the files it names outside the run.

Cheap by design (sizes and modification times, no file is read), so planning a large experiment is
instant; a changed input file makes its step run again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from imgrestore.experiment.model import MAX_IDENTITY_FILES, Experiment, Step


def token_path(exp: Experiment, token: str) -> Path | None:
    if not token or token.startswith("-") or "\n" in token or len(token) > 1024:
        return None
    try:
        p = Path(token)
        return p if p.is_absolute() else exp.dir / p
    except (ValueError, OSError):
        return None


def is_within(p: Path | None, folder: Path) -> bool:
    if p is None:
        return False
    try:
        Path(os.path.normpath(p)).relative_to(folder)
        return True
    except ValueError:
        return False


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def input_identity(exp: Experiment, step: Step) -> str:
    """Size and modification time of the files and folders a step names outside the experiment.

    Cheap by design: no file is read. A folder contributes its files' relative names, sizes and
    times (up to MAX_IDENTITY_FILES files, then their count).
    """
    ident = []
    for tok in step.argv:
        p = token_path(exp, tok)
        if p is None or is_within(p, exp.out):
            continue
        try:
            if p.is_file():
                st = p.stat()
                ident.append([tok, st.st_size, st.st_mtime_ns])
            elif p.is_dir():
                ident.append([tok, _folder_identity(p)])
        except OSError:
            continue
    return digest(ident)


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
