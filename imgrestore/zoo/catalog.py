"""All known models (built-in, then plugins'), lookup by name, and each one's state here."""

from __future__ import annotations

import warnings

from imgrestore.errors import UserError, did_you_mean
from imgrestore.pretrained import BUILTIN, ModelEntry, Packaged
from imgrestore.zoo.cache import cached_path

NOT_PACKAGED = "not packaged in this build"


def all_models() -> dict[str, ModelEntry]:
    """name -> entry: the built-in models, then those plugins contribute (``imgrestore_models``)."""
    from imgrestore.registry import get_registry

    out = {m.name: m for m in BUILTIN}
    for name, entry in get_registry().models.items():
        if name in out:  # the registry already refuses these; a plugin added behind its back
            warnings.warn(f"model {name!r} from a plugin: the name is a built-in model; skipped", stacklevel=2)
            continue
        out[name] = entry
    return out


def get_model(name: str, option: str = "--model") -> ModelEntry:
    """The entry called `name`, or a one-line UserError listing the known names."""
    models = all_models()
    if name in models:
        return models[name]
    raise UserError(f"{option} {name!r}: no such model{did_you_mean(name, models)}; known: {', '.join(sorted(models))} "
                    "(see 'imgrestore models')")


def state(entry: ModelEntry) -> str:
    """``packaged``, ``not packaged in this build``, ``cached`` or ``not downloaded`` (cheap:
    no hashing; a cached file's hash is checked when it is used)."""
    if isinstance(entry.source, Packaged):
        return "packaged" if entry.source.path.is_file() else NOT_PACKAGED
    return "cached" if cached_path(entry).is_file() else "not downloaded"
