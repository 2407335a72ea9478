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
TRAIN_STATE = "train-state"  # meta "kind" of a training state (imgrestore.train.state.KIND)
MAX_HEADER = 100 << 20  # a safetensors header (JSON) larger than this is refused, not read


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


def read_checkpoint(path: Path | str, what: str | None = None) -> Checkpoint:
    """Read a checkpoint; a missing, corrupt or foreign file is a one-line UserError starting
    with `what` (default ``--weights PATH``)."""
    from safetensors import safe_open

    path = Path(path)
    what = f"--weights {path}" if what is None else what
    if not path.is_file():
        raise UserError(f"{what}: no such file")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw_meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        hint = ""
        if path.suffix.lower() in (".pth", ".pt", ".mat"):
            hint = "; convert foreign weights first with 'imgrestore import-weights'"
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise UserError(f"{what}: not a readable safetensors checkpoint ({reason}){hint}") from None
    try:
        meta = json.loads(raw_meta[META_KEY])
        network, config = str(meta["network"]), dict(meta.get("config") or {})
    except (KeyError, ValueError, TypeError, RecursionError):
        raise UserError(f"{what}: safetensors file without imgrestore metadata (network, config); "
                        "save checkpoints with imgrestore, or import foreign weights with 'imgrestore import-weights'") from None
    return Checkpoint(path, network, config, tensors, meta)


def read_meta(path: Path | str) -> dict[str, Any]:
    """The imgrestore metadata of a checkpoint from its header alone (no tensor is read), or
    ``{}`` for a file that is not one of ours. For quick checks before any work."""
    import struct

    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > MAX_HEADER:
                return {}
            header = json.loads(f.read(n))
        meta = json.loads(header.get("__metadata__", {}).get(META_KEY, "{}"))
    except (OSError, ValueError, struct.error, AttributeError, TypeError, RecursionError):
        return {}
    return meta if isinstance(meta, dict) else {}


def check_finite(tensors: Mapping[str, Any], what: str) -> None:
    """Refuse weights holding NaN or infinity, naming the first such tensor: a network loaded
    from them would write NaN images (or train from a broken start)."""
    import torch

    for name, t in tensors.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise UserError(f"{what}: tensor {name} holds {bad:,} non-finite value(s) (NaN or infinity) of "
                            f"{t.numel():,}; these weights are broken (a diverged training?) and are not loaded")


def _check_sizes(config: Mapping[str, Any], tensors: Mapping[str, Any], what: str) -> None:
    """A size setting (an int of the config) larger than the file's whole weight count cannot be
    what the file holds: crafted or corrupt metadata (depth 10^7) is refused before any build."""
    total = sum(int(t.numel()) for t in tensors.values() if hasattr(t, "numel"))

    def ints(v: Any):
        if isinstance(v, bool):
            return
        if isinstance(v, int):
            yield v
        elif isinstance(v, (list, tuple)):
            for x in v:
                yield from ints(x)

    for key, v in config.items():
        for n in ints(v):
            if abs(n) > max(total, 1):
                raise UserError(f"{what}: the metadata says {key}={v!r}, but the file holds only {total:,} weights in "
                                "all; corrupt or crafted metadata, not loaded")


def _fit_check(spec: Any, config: Mapping[str, Any], tensors: Mapping[str, Any], what: str) -> None:
    """Build the network on torch's meta device (no memory) and check, before anything real is
    allocated, that the file's tensors have its names and shapes and that it takes and returns
    images with the channel counts of its plugin. Networks that cannot be built or run on the
    meta device skip the part that fails."""
    import torch

    try:
        with torch.device("meta"):
            model = spec.build(**config)
    except UserError:
        raise
    except Exception:
        return  # checked again by the real build below
    load_state(model, tensors, what, shapes_only=True)
    ch = config.get("channels")
    if isinstance(ch, int) and not isinstance(ch, bool) and ch != spec.in_channels:
        raise UserError(f"{what}: the weights are for {ch}-channel images, but {getattr(spec, 'name', 'the network')} "
                        f"takes {spec.in_channels}-channel ones (1 gray, 3 colour); these weights cannot run here")
    m = max(1, int(getattr(spec, "size_multiple", 1) or 1))
    side = m * max(1, -(-32 // m))
    try:
        with torch.no_grad():
            y = model.eval()(torch.empty(1, spec.in_channels, side, side, device="meta"))
    except Exception as exc:
        first = " ".join(str(exc).split())[:160]
        if "channel" not in first.lower():  # an op the meta device lacks, a fixed input size: not ours to judge
            return
        raise UserError(f"{what}: the weights do not fit the network's {spec.in_channels}-channel input "
                        f"(config {dict(config)}): {first}") from None
    if isinstance(y, torch.Tensor) and y.ndim == 4 and y.shape[1] != spec.out_channels:
        raise UserError(f"{what}: the network built from these weights returns {y.shape[1]} channels; "
                        f"{getattr(spec, 'name', 'the network')} returns {spec.out_channels}")


def load_state(model: Any, tensors: Mapping[str, Any], what: str, shapes_only: bool = False) -> None:
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
    if not shapes_only:
        model.load_state_dict(dict(tensors), strict=True)


def network_spec(name: str, what: str, networks: Mapping[str, Any]) -> Any:
    """The installed network `name` from `networks` (the registry's table, handed down by the
    caller: this package sits below the registry), or a one-line error starting with `what` that
    lists the known ones."""
    spec = networks.get(name)
    if spec is None:
        raise UserError(f"{what}: network {name!r} is not provided by any installed plugin "
                        f"(known: {', '.join(sorted(networks)) or 'none'})")
    return spec


def load_network(path: Path | str, plugin: str | None = None, *, networks: Mapping[str, Any]):
    """Build the checkpoint's network from its plugin (looked up in `networks`) and load the weights.

    Returns ``(model, spec, checkpoint)``. `plugin`, when given, must match the network the
    checkpoint was saved for. :func:`imgrestore.registry.load_network` (``imgrestore.load_network``)
    calls this with the installed plugins' networks.
    """
    ckpt = read_checkpoint(path)
    if ckpt.meta.get("kind") == TRAIN_STATE:
        it = ckpt.meta.get("iteration")
        raise UserError(f"--weights {ckpt.path}: this is a training state{f' (iteration {it})' if it is not None else ''}"
                        f", not a model; use model.safetensors (in {ckpt.path.parent}) instead")
    if plugin is not None and plugin != ckpt.network:
        raise UserError(f"--weights {ckpt.path}: holds weights for network {ckpt.network!r}, not {plugin!r}")
    spec = network_spec(ckpt.network, f"--weights {ckpt.path}", networks)
    what = f"--weights {ckpt.path} ({ckpt.network})"
    check_finite(ckpt.tensors, what)
    _check_sizes(ckpt.config, ckpt.tensors, what)
    config = dict(ckpt.config)
    if hasattr(spec, "check_config"):  # the plugin's option table: names, types, ranges
        config = spec.check_config(config, f"--weights {ckpt.path}: metadata config")
    try:
        _fit_check(spec, config, ckpt.tensors, what)
        model = spec.build(**config)
    except (TypeError, ValueError) as exc:
        raise UserError(f"--weights {ckpt.path}: cannot build {ckpt.network!r} with config {ckpt.config}: {exc}") from None
    load_state(model, ckpt.tensors, what)
    model.eval()
    return model, spec, ckpt
