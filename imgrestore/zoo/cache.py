"""Where downloaded models live: ``$IMGRESTORE_CACHE``, else ``$XDG_CACHE_HOME/imgrestore``,
else ``~/.cache/imgrestore``; model files go to its ``models/`` folder."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from imgrestore.pretrained import ModelEntry, Remote

ENV = "IMGRESTORE_CACHE"


def cache_dir() -> Path:
    """imgrestore's cache folder (not created here)."""
    own = os.environ.get(ENV)
    if own:
        return Path(own).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "imgrestore"


def cached_path(entry: ModelEntry) -> Path:
    """The path a Remote model's file has (or will have) in the cache."""
    src = entry.source
    assert isinstance(src, Remote)
    name = src.filename or entry.name + PurePosixPath(urlsplit(src.url).path).suffix
    return cache_dir() / "models" / name
