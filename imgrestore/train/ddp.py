"""torchrun / DistributedDataParallel: the same ``imgrestore fit`` command on N processes.

Under ``torchrun --nproc_per_node N`` the environment carries RANK, WORLD_SIZE and LOCAL_RANK;
:func:`setup` joins the process group (gloo on CPU, NCCL on CUDA). Each rank synthesizes its
own samples (:func:`imgrestore.train.data.batch_indices`: disjoint, and together the indices a
single process with N times the batch would see); rank 0 alone validates and writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def from_env() -> Dist:
    """The rank layout torchrun put in the environment (a single process without it)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return Dist()
    return Dist(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(dist: Dist, device: str) -> str:
    """Join the process group; returns the torch device string of this rank."""
    if not dist.active:
        return device
    import torch
    import torch.distributed as td

    if device == "cuda":
        torch.cuda.set_device(dist.local_rank)
        try:  # CuPy keeps its own current device: synthesize on this rank's GPU, not on GPU 0
            import cupy
        except ImportError:
            pass
        else:
            cupy.cuda.Device(dist.local_rank).use()
        if not td.is_initialized():
            td.init_process_group("nccl")
        return f"cuda:{dist.local_rank}"
    if not td.is_initialized():
        td.init_process_group("gloo")
    return device


def wrap(module: Any, dist: Dist, device: str) -> Any:
    """`module` wrapped in DistributedDataParallel when running distributed."""
    if not dist.active:
        return module
    import warnings

    from torch.nn.parallel import DistributedDataParallel as DDP

    # 1-channel convs have grads whose strides differ from the bucket's; harmless, and noisy
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    ids = [dist.local_rank] if device.startswith("cuda") else None
    return DDP(module, device_ids=ids)


def all_max(values: list[float], dist: Dist) -> list[float]:
    """Element-wise max over ranks (one small all-reduce): every rank sees a NaN loss or a
    stop request any rank saw, so they stop at the same iteration."""
    if not dist.active:
        return values
    import torch
    import torch.distributed as td

    t = torch.tensor(values, dtype=torch.float64)
    if td.get_backend() == "nccl":
        t = t.cuda()
    nan = torch.isnan(t)
    t = torch.where(nan, torch.full_like(t, float("inf")), t)
    td.all_reduce(t, op=td.ReduceOp.MAX)
    return [float(v) for v in t.cpu()]


def barrier(dist: Dist) -> None:
    if dist.active:
        import torch.distributed as td

        td.barrier()


def teardown(dist: Dist) -> None:
    if dist.active:
        import torch.distributed as td

        if td.is_initialized():
            td.destroy_process_group()
