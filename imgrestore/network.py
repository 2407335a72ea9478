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

    ``options`` declares the builder's keyword arguments (:class:`imgrestore.netconfig.Option`:
    name, type, default, meaning, limits) and ``aliases`` maps older spellings to them. When
    options are declared, ``build`` is wrapped so every build checks its config against them
    and receives the declared defaults (``build.raw`` is the plugin's own function); a plugin
    that declares none keeps its builder as it is.

    ``reflect_margin`` (default True): inference reflects the image outward by the network's
    receptive-field radius before running it and crops back (:class:`imgrestore.restore.Restorer`),
    so no kept pixel sees the zero padding of the convs (docs/borders.md). False keeps the
    network's own zero padding at the image border, for networks whose published scores were
    measured that way (the DnCNN family).
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
    options: tuple[Any, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    reflect_margin: bool = True

    def __post_init__(self) -> None:
        if self.options:
            from imgrestore.netconfig import CheckedBuild

            raw = self.build.raw if isinstance(self.build, CheckedBuild) else self.build
            object.__setattr__(self, "build", CheckedBuild(self.name, self.options, self.aliases, raw))

    def check_config(self, config: dict[str, Any], option: str = "--net-config") -> dict[str, Any]:
        """`config` checked against the declared options (one-line error naming `option`) and
        normalised (aliases renamed, lists as tuples); unchanged when none are declared."""
        from imgrestore.netconfig import check_network_config

        return check_network_config(self, config, option)
