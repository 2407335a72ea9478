"""Training-state checkpoints: everything a resumed run needs, in one safetensors file.

Written with :func:`imgrestore.weights.checkpoint.save_checkpoint` (atomic: temporary file,
fsync, rename), so a kill or a full disk never leaves a half-written checkpoint and the previous
one stays valid. Tensor names:

* ``model/<name>/<param or buffer>``  each trained module (``net``; ``disc`` for the GAN stage)
* ``optim/<name>/<param id>/<key>``    optimizer state tensors (Adam moments, step; SGD momentum)
* ``rng/torch``, ``rng/cuda``          torch's generator states (CPU; this process's CUDA device)

The JSON metadata (``imgrestore`` key) adds ``kind: "train-state"``, the iteration, the
optimizers' param groups and non-tensor state, and the run settings. The trained network alone
is also written as an ordinary checkpoint (``model.safetensors``) that ``imgrestore restore``
and ``eval`` load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from imgrestore.errors import UserError
from imgrestore.train.log import write_failure

KIND = "train-state"
# optimizer param-group keys that say how the update is computed, not what it is
IMPLEMENTATION = ("fused", "foreach", "capturable")


class CheckpointWriteError(UserError):
    """A checkpoint could not be written (full disk, permissions); the previous one is intact."""


def _write(path: Path, network: str, config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor],
           **meta: Any) -> None:
    from imgrestore.weights.checkpoint import save_checkpoint

    try:
        save_checkpoint(path, network, config, tensors, **meta)
    except OSError as exc:
        raise CheckpointWriteError(f"cannot write checkpoint {path}: {write_failure(exc)}; the previous checkpoint "
                                   f"(if any) is intact; free space and rerun with --resume") from None


def save_model(path: Path, network: str, config: Mapping[str, Any], net: torch.nn.Module, **meta: Any) -> None:
    """The network alone, as a checkpoint ``imgrestore restore/eval --weights`` loads."""
    _write(path, network, config, net.state_dict(), **meta)


def save_state(path: Path, network: str, config: Mapping[str, Any], modules: Mapping[str, torch.nn.Module],
               optimizers: Mapping[str, torch.optim.Optimizer], iteration: int, **meta: Any) -> None:
    """Write modules, optimizer states and RNG states at `iteration` (completed steps)."""
    tensors: dict[str, torch.Tensor] = {}
    for name, mod in modules.items():
        for k, v in mod.state_dict().items():
            tensors[f"model/{name}/{k}"] = v
    optim_meta: dict[str, Any] = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for pid, st in sd["state"].items():
            for k, v in st.items():
                if isinstance(v, torch.Tensor):
                    tensors[f"optim/{name}/{pid}/{k}"] = v
                else:
                    scalars.setdefault(str(pid), {})[k] = v
        optim_meta[name] = {"param_groups": sd["param_groups"], "scalars": scalars,
                            "state_ids": [int(p) for p in sd["state"]]}
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        # this process's device only: get_rng_state_all would open a context on every GPU in
        # every rank of a torchrun job
        tensors["rng/cuda"] = torch.cuda.get_rng_state()
    _write(path, network, config, tensors, kind=KIND, iteration=int(iteration), optimizers=optim_meta, **meta)


def load_state(path: Path, modules: Mapping[str, torch.nn.Module], optimizers: Mapping[str, torch.optim.Optimizer],
               network: str | None = None) -> dict[str, Any]:
    """Restore what :func:`save_state` wrote into `modules` and `optimizers`; returns the
    metadata (``iteration``, settings). A foreign or mismatched file is a one-line UserError."""
    from imgrestore.weights.checkpoint import load_state as load_tensors
    from imgrestore.weights.checkpoint import read_checkpoint

    ck = read_checkpoint(path)
    if ck.meta.get("kind") != KIND:
        raise UserError(f"--resume: {path} is not a training-state checkpoint")
    if network is not None and ck.network != network:
        raise UserError(f"--resume: {path} holds a run of network {ck.network!r}, not {network!r}")
    for name, mod in modules.items():
        pre = f"model/{name}/"
        load_tensors(mod, {k[len(pre):]: v for k, v in ck.tensors.items() if k.startswith(pre)}, f"--resume {path} ({name})")
    for name, opt in optimizers.items():
        om = ck.meta["optimizers"][name]
        state: dict[int, dict[str, Any]] = {}
        for pid in om["state_ids"]:
            st = dict(om["scalars"].get(str(pid), {}))
            pre = f"optim/{name}/{pid}/"
            st.update({k[len(pre):]: v for k, v in ck.tensors.items() if k.startswith(pre)})
            state[int(pid)] = st
        # how the step runs (fused CUDA kernel, foreach, capturable) is this process's choice, not
        # the saved run's: a CPU checkpoint resumed on a GPU gets the fused kernel (and its step
        # counters on the device), a GPU checkpoint resumed on the CPU the plain one
        groups = [{**g, **{k: live[k] for k in IMPLEMENTATION if k in live}}
                  for g, live in zip(om["param_groups"], opt.param_groups)]
        opt.load_state_dict({"state": state, "param_groups": groups})
    torch.set_rng_state(ck.tensors["rng/torch"])
    if "rng/cuda" in ck.tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(ck.tensors["rng/cuda"])
    return ck.meta
