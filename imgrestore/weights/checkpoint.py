"""Our checkpoints: safetensors tensors plus one JSON metadata block.

The metadata (safetensors ``__metadata__`` key ``imgrestore``) names the network, its
configuration (keyword arguments of the plugin's builder) and the imgrestore version, so a
checkpoint rebuilds its own network. Loading parses the header as JSON and copies raw tensor
bytes: nothing in the file is ever executed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgrestore.errors import UserError

FORMAT = "imgrestore-checkpoint/1"
META_KEY = "imgrestore"


@dataclass
class Checkpoint:
    """A checkpoint read from disk: network name, builder config, tensors, other metadata."""

    path: Path
    network: str
    config: dict[str, Any]
    tensors: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: Path | str, network: str, config: Mapping[str, Any], state_dict: Mapping[str, Any],
                    **extra: Any) -> None:
    """Write `state_dict` (torch tensors) and its metadata to `path` atomically."""
    import torch
    from safetensors.torch import save

    from imgrestore import __version__
    from imgrestore.io import write_bytes_atomic

    meta = {"format": FORMAT, "network": network, "config": dict(config), "imgrestore_version": __version__, **extra}
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()
               if isinstance(v, torch.Tensor)}
    write_bytes_atomic(path, save(tensors, metadata={META_KEY: json.dumps(meta, sort_keys=True)}))


def read_checkpoint(path: Path | str) -> Checkpoint:
    """Read a checkpoint; a missing, corrupt or foreign file is a one-line UserError."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise UserError(f"--weights {path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw_meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        hint = ""
        if path.suffix.lower() in (".pth", ".pt", ".mat"):
            hint = "; convert foreign weights first with 'imgrestore import-weights'"
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise UserError(f"--weights {path}: not a readable safetensors checkpoint ({reason}){hint}") from None
    try:
        meta = json.loads(raw_meta[META_KEY])
        network, config = str(meta["network"]), dict(meta.get("config") or {})
    except (KeyError, ValueError, TypeError):
        raise UserError(f"--weights {path}: safetensors file without imgrestore metadata (network, config); "
                        "save checkpoints with imgrestore, or import foreign weights with 'imgrestore import-weights'") from None
    return Checkpoint(path, network, config, tensors, meta)


def load_state(model: Any, tensors: Mapping[str, Any], what: str) -> None:
    """Copy `tensors` into `model`, requiring the same names and shapes; a mismatch is a
    UserError naming the tensors (missing, unexpected, different shape)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    shapes = [f"{k} {tuple(tensors[k].shape)} vs {tuple(expected[k].shape)}" for k in expected
              if k in tensors and tuple(tensors[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape file vs network", shapes)):
            if items:
                more = f" and {len(items) - 4} more" if len(items) > 4 else ""
                parts.append(f"{label}: {', '.join(items[:4])}{more}")
        raise UserError(f"{what}: the weights do not fit the network ({'; '.join(parts)})")
    model.load_state_dict(dict(tensors), strict=True)


def load_network(path: Path | str, plugin: str | None = None, networks: Mapping[str, Any] | None = None):
    """Build the checkpoint's network from its plugin and load the weights.

    Returns ``(model, spec, checkpoint)``. `plugin`, when given, must match the network the
    checkpoint was saved for.
    """
    ckpt = read_checkpoint(path)
    if networks is None:
        from imgrestore.registry import get_registry

        networks = get_registry().networks
    if plugin is not None and plugin != ckpt.network:
        raise UserError(f"--weights {ckpt.path}: holds weights for network {ckpt.network!r}, not {plugin!r}")
    spec = networks.get(ckpt.network)
    if spec is None:
        raise UserError(f"--weights {ckpt.path}: network {ckpt.network!r} is not provided by any installed plugin "
                        f"(known: {', '.join(sorted(networks)) or 'none'})")
    try:
        model = spec.build(**ckpt.config)
    except (TypeError, ValueError) as exc:
        raise UserError(f"--weights {ckpt.path}: cannot build {ckpt.network!r} with config {ckpt.config}: {exc}") from None
    load_state(model, ckpt.tensors, f"--weights {ckpt.path} ({ckpt.network})")
    model.eval()
    return model, spec, ckpt
