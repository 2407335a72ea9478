"""The network a stage trains: the plugin by name, built from --net-config or loaded from --init,
and the recipe's defaults that depend on it (the degradation chain, the patch multiple).

Kept apart from the stages so the option checks (:mod:`imgrestore.train.options`) and every stage
use one look-up and one set of one-line errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from imgrestore.errors import UserError
from imgrestore.train.loop import MODEL


def load_init(path: Path, plugin: str) -> tuple[torch.nn.Module, Any, Any]:
    """load_network for --init: the same checks, errors naming --init."""
    from imgrestore.registry import load_network

    try:
        return load_network(path, plugin)
    except UserError as exc:
        if _is_train_state(path):
            raise UserError(f"--init {path}: a training-state checkpoint; give the network beside it, "
                            f"{Path(path).with_name(MODEL)}") from None
        msg = str(exc)
        raise UserError("--init" + msg[len("--weights"):] if msg.startswith("--weights") else msg) from None


def _is_train_state(path: Path) -> bool:
    """Whether `path` is a ``checkpoint.safetensors`` of a run (reads the header only)."""
    from imgrestore.train.state import KIND
    from imgrestore.weights.checkpoint import META_KEY

    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return json.loads((f.metadata() or {})[META_KEY]).get("kind") == KIND
    except Exception:
        return False


def build_net(spec: Any, config: dict[str, Any]) -> torch.nn.Module:
    try:
        return spec.build(**config)
    except (TypeError, ValueError) as exc:
        raise UserError(f"--net-config {config}: cannot build {spec.name}: {exc}") from None


def net_channels(spec: Any, config: dict[str, Any]) -> int:
    return int(config.get("channels", spec.in_channels))


def default_degrade(spec: Any) -> str:
    """The recipe's degradation, else one that fits the task."""
    extra = spec.recipe.extra
    if extra.get("degrade") or extra.get("noise"):
        return str(extra.get("degrade") or extra.get("noise"))
    if spec.recipe.loss == "l1+estimator":
        return "cbdnet"  # AINDNet's synthetic noise
    if spec.task == "super-resolution":
        return f"bicubic:scale={spec.scale}"
    if spec.task == "demoire":
        return "moire"
    return "awgn:sigma=0-55"


def check_patch(patch: int, spec: Any) -> None:
    m = max(1, spec.size_multiple) * max(1, spec.scale)
    if patch < 1 or patch % m:
        raise UserError(f"--patch {patch}: network {spec.name} needs a multiple of {m}")
