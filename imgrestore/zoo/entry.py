"""What a pretrained model is: a network plugin + config and where its weights come from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# importer formats a Remote source may name (see imgrestore.zoo.load)
FORMATS = ("imgrestore", "dncnn")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class Remote:
    """Weights at a public URL, fetched on first use into the cache.

    ``sha256`` and ``size`` (bytes) pin the exact file; ``format`` names the importer
    (``imgrestore``: our safetensors checkpoint; ``dncnn``: the DnCNN authors' MatConvNet .mat or
    KAIR .pth); ``filename`` is the name in the cache (default: the model name + the URL's suffix).
    """

    url: str
    sha256: str
    size: int
    format: str = "imgrestore"
    filename: str = ""


@dataclass(frozen=True)
class Packaged:
    """An imgrestore checkpoint (fp32 or fp16 safetensors) shipped inside a Python package."""

    path: Path


@dataclass(frozen=True, repr=False)
class ModelEntry:
    """One pretrained model as ``imgrestore models`` lists it and ``--model NAME`` loads it.

    ``config`` is the network builder's keyword arguments; ``None`` means "read from the
    checkpoint" (packaged files carry it). ``card`` is markdown; empty means a card is
    generated from the fields.
    """

    name: str
    network: str
    source: Remote | Packaged
    task: str = "other"
    color: Literal["color", "gray"] = "color"
    summary: str = ""
    config: dict[str, Any] | None = None
    card: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"ModelEntry({self.name!r}, network={self.network!r})"

    @property
    def origin(self) -> str:
        """Where the weights come from, in a few words."""
        if isinstance(self.source, Packaged):
            return "packaged"
        return self.source.url


def check_entry(item: Any, plugin: bool = True) -> str:
    """The entry's name, or a TypeError saying what is wrong with it (the registry calls this
    for every plugin contribution; a plugin may not take a built-in model's name)."""
    if not isinstance(item, ModelEntry):
        raise TypeError("expected an imgrestore.zoo.ModelEntry")
    if not NAME_RE.match(item.name):
        raise TypeError(f"model name {item.name!r}: use lower-case letters, digits, '.', '_' or '-'")
    src = item.source
    if isinstance(src, Remote):
        if not re.fullmatch(r"[0-9a-f]{64}", src.sha256 or ""):
            raise TypeError(f"model {item.name!r}: Remote.sha256 must be 64 lower-case hex digits")
        if not (isinstance(src.size, int) and src.size > 0):
            raise TypeError(f"model {item.name!r}: Remote.size must be the file's size in bytes")
        if src.format not in FORMATS:
            raise TypeError(f"model {item.name!r}: Remote.format {src.format!r} is not one of {', '.join(FORMATS)}")
        if not src.url.startswith(("https://", "http://")):
            raise TypeError(f"model {item.name!r}: Remote.url must be an http(s) URL")
    elif not isinstance(src, Packaged):
        raise TypeError(f"model {item.name!r}: source must be an imgrestore.zoo.Remote or Packaged")
    from imgrestore.zoo.builtin import BUILTIN_NAMES

    if plugin and item.name in BUILTIN_NAMES:
        raise TypeError(f"model name {item.name!r} is a built-in model")
    return item.name
