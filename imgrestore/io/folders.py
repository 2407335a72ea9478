"""Listing the image files of a folder, in a fixed order, for every command that takes --input.

Kept apart from decoding: a listing needs only file names, never a codec.
"""

from __future__ import annotations

import os
from pathlib import Path

from imgrestore.errors import UserError

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"})
"""File suffixes (compared lower-case) that :func:`list_images` treats as images."""


def list_images(folder: Path, recursive: bool = True) -> list[Path]:
    """The image files under `folder`, sorted by their relative POSIX path (deterministic).

    Hidden files and folders (name starting with '.') are skipped: they hold tool state (e.g.
    ``.synth/``) and :func:`write_image`'s in-flight temporary files, never source images.
    Symlinked folders are followed once (a link cycle is not walked twice).
    """
    folder = Path(folder)
    if not folder.exists():
        raise UserError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    found: list[tuple[str, Path]] = []
    seen: set[tuple[int, int]] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        st = os.stat(root)
        if (st.st_dev, st.st_ino) in seen:  # symlink cycle
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        for name in files:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
                continue
            p = Path(root, name)
            if p.is_file():
                found.append((p.relative_to(folder).as_posix(), p))
    if not found:
        where = "" if recursive else " (subfolders not searched)"
        raise UserError(f"no images (png, tif, jpg, bmp) in {folder}{where}")
    found.sort(key=lambda t: t[0])
    return [p for _, p in found]
