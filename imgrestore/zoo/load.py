"""Load a model by name: find or fetch its file, convert it (fp16 -> fp32, DnCNN releases ->
our layout) and build the network. Torch is imported here, never at CLI start-up."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from imgrestore.errors import UserError
from imgrestore.pretrained import ModelEntry, Packaged, Remote
from imgrestore.zoo.catalog import NOT_PACKAGED, get_model


def model_file(entry: ModelEntry, what: str, quiet: bool = False) -> Path:
    """The entry's weights file on this machine: the packaged file, or the cached download
    (its SHA-256 checked on every use; a wrong one is deleted and fetched again)."""
    from imgrestore.zoo.cache import cached_path
    from imgrestore.zoo.download import download, sha256_file

    src = entry.source
    if isinstance(src, Packaged):
        if not src.path.is_file():
            raise UserError(f"{what}: model {entry.name!r} is {NOT_PACKAGED} (no {src.path}); "
                            "pass --weights with a checkpoint, or see 'imgrestore models " + entry.name + "'")
        return src.path
    assert isinstance(src, Remote)
    path = cached_path(entry)
    if path.is_file():
        digest = sha256_file(path)
        if digest == src.sha256:
            return path
        warnings.warn(f"{what}: cached file {path} has SHA-256 {digest}, expected {src.sha256}; "
                      "deleted, downloading it again", stacklevel=2)
        path.unlink()
    from imgrestore.preflight import ready

    ready()  # `imgrestore run` checking a step: the name is valid; downloading is work, not a check
    return download(src.url, path, src.sha256, src.size, what, quiet=quiet)


def _dncnn_tensors(path: Path, entry: ModelEntry, what: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    import torch

    from imgrestore.weights.dncnn_import import VARIANTS, check_chain, choose_network, dncnn_state, read_dncnn

    convs, fmt = read_dncnn(path)
    depth, channels, features = check_chain(convs, str(path))
    if entry.network in VARIANTS:
        choose_network(entry.network, depth, channels, f"{what} ({path})")
    config = {"depth": depth, "channels": channels, "features": features, "bn": False}
    want = entry.config or {}
    diff = {k: (want[k], v) for k, v in config.items() if k in want and want[k] != v}
    if diff:
        raise UserError(f"{what}: {path} holds a DnCNN with "
                        f"{', '.join(f'{k}={v[1]}' for k, v in diff.items())}, the model entry says "
                        f"{', '.join(f'{k}={v[0]}' for k, v in diff.items())}")
    tensors = {k: v.to(torch.float32) for k, v in dncnn_state(convs).items()}
    return tensors, config, fmt


def _imgrestore_tensors(path: Path, entry: ModelEntry, what: str) -> tuple[dict[str, Any], dict[str, Any], dict]:
    from imgrestore.weights.checkpoint import read_checkpoint

    ckpt = read_checkpoint(path, f"{what}: {path}")
    if ckpt.network != entry.network:
        raise UserError(f"{what}: {path} holds weights for network {ckpt.network!r}, the model entry says "
                        f"{entry.network!r}")
    # packaged files may be fp16; every floating tensor is brought back to fp32 here
    tensors = {k: (v.float() if v.is_floating_point() else v) for k, v in ckpt.tensors.items()}
    return tensors, dict(entry.config if entry.config is not None else ckpt.config), ckpt.meta


def load_model(name: str, plugin: str | None = None, quiet: bool = False):
    """Build the model called `name` with its weights, in eval mode.

    Returns ``(model, spec, checkpoint)`` like :func:`imgrestore.registry.load_network`;
    ``checkpoint.meta["model"]`` is the model name. `plugin`, when given, must be its network.
    """
    from imgrestore.registry import get_registry
    from imgrestore.weights.checkpoint import Checkpoint, load_state, network_spec

    entry = get_model(name)
    what = f"--model {name}"
    if plugin is not None and plugin != entry.network:
        raise UserError(f"{what}: a model for network {entry.network!r}, but --plugin {plugin!r} was given")
    spec = network_spec(entry.network, what, get_registry().networks)
    path = model_file(entry, what, quiet=quiet)
    fmt = "imgrestore" if isinstance(entry.source, Packaged) else entry.source.format
    if fmt == "dncnn":
        tensors, config, source_format = _dncnn_tensors(path, entry, what)
        meta: dict[str, Any] = {"source_format": source_format}
    else:
        tensors, config, meta = _imgrestore_tensors(path, entry, what)
    try:
        model = spec.build(**config)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{what}: cannot build {entry.network!r} with config {config}: {exc}") from None
    load_state(model, tensors, f"{what} ({path})")
    model.eval()
    return model, spec, Checkpoint(path, entry.network, config, tensors, {**meta, "model": entry.name})


def load_weights_or_model(weights: str | None, model: str | None, plugin: str | None = None):
    """What ``restore``/``eval`` load: exactly one of ``--weights FILE`` and ``--model NAME``."""
    if weights and model:
        raise UserError(f"--weights {weights} and --model {model}: give one of them (a checkpoint file, "
                        "or a model name from 'imgrestore models')")
    if model:
        return load_model(model, plugin)
    if not weights:
        raise UserError("no network: give --weights CHECKPOINT or --model NAME (see 'imgrestore models')")
    from imgrestore.registry import load_network

    return load_network(weights, plugin)
