"""What a network plugin declares about a restoration network (see hookspecs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

Task = Literal["denoise", "super-resolution", "demoire", "discriminator", "other"]


@dataclass(frozen=True)
class Recipe:
    """The paper's default training recipe."""

    loss: str = "l2"
    optimizer: str = "adam"
    lr: float = 1e-4
    batch: int = 16
    patch: int = 64
    iterations: int = 100_000
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NetworkSpec:
    """A restoration network as a plugin contributes it.

    ``build(**kwargs)`` returns a ``torch.nn.Module``; it is called only when the network is
    used. ``size_multiple`` is what input height and width must be divisible by (inference pads
    and crops to it). ``transfer`` lists parameter-name patterns a transfer stage updates.
    """

    name: str
    build: Callable[..., Any]
    task: Task = "other"
    summary: str = ""
    in_channels: int = 3
    out_channels: int = 3
    scale: int = 1
    size_multiple: int = 1
    recipe: Recipe = field(default_factory=Recipe)
    transfer: tuple[str, ...] = ()
