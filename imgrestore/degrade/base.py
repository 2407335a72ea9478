"""The Degradation protocol and the Pair it produces.

A degradation maps a batch of clean float32 NHWC images (numpy or CuPy) to a degraded batch.
It declares its parameters as class attributes, draws each sample's values from that sample's
own generator (see :mod:`imgrestore.rng`), and applies them to the whole batch at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from imgrestore import rng as _rng
from imgrestore.degrade.params import Param, ParamSet, Value
from imgrestore.errors import SpecError

Array = Any  # numpy.ndarray or cupy.ndarray, float32 NHWC in [0, 1]


@dataclass
class Pair:
    """A batch of training pairs: degraded input, aligned target, side outputs, drawn params.

    ``params[i]`` is the list of per-stage records of sample ``indices[i]``: one dict per stage,
    ``{"name": stage name, **drawn values}``; enough to regenerate that sample.
    ``side`` maps names (e.g. ``"sigma"``) to NHW1 or NHWC arrays aligned with ``input``.
    """

    input: Array
    target: Array
    indices: list[int]
    params: list[list[dict[str, Any]]]
    side: dict[str, Array] = field(default_factory=dict)


@dataclass(frozen=True)
class StageContext:
    """What a stage needs besides pixels: the run seed, sample indices and its position."""

    seed: int
    indices: Sequence[int]
    stage: int

    def normal(self, xp, shape_per_sample: tuple[int, ...], stream: int = 0) -> Array:
        """Standard-normal float32 noise (N, *shape_per_sample), one field per sample, on ``xp``.

        Sample ``i``'s field is Philox4x32-10 under :func:`imgrestore.rng.sample_keys` (seed, i,
        stage) + Box-Muller (:mod:`imgrestore.kernels.noise`): a function of (seed, i, stage,
        stream) only, bit-identical on NumPy/Numba and CUDA. ``stream`` gives a stage further
        independent fields (0, 1, 2, ...).
        """
        from imgrestore.kernels.noise import normal_fields

        return normal_fields(xp, self.keys(), tuple(shape_per_sample), stream)

    def keys(self) -> np.ndarray:
        """The Philox keys (N, 2) uint32 of this stage's noise, one per sample."""
        return _rng.sample_keys(self.seed, self.indices, self.stage)

    def rng(self, k: int, purpose: int = _rng.NOISE) -> np.random.Generator:
        """A numpy generator owned by the k-th sample of the batch (host-side draws)."""
        return _rng.sample_rng(self.seed, self.indices[k], self.stage, purpose)


class Degradation:
    """Base class of every degradation model; subclass it in a plugin.

    Class attributes a subclass sets:
      name      registry name used in specs (``bicubic``)
      summary   one line for ``imgrestore plugins`` and error messages
      params    ``{name: Param}``, the parameter space
      default_content  which built-in clean images ``imgrestore synth`` crops when no
                ``--input`` is given: ``"photos"`` (scikit-image's sample photographs, the
                default) or ``"screens"`` (screens rendered in code by :mod:`imgrestore.sources.screens`:
                text, windows, UI; what a moiré model photographs). One ``"screens"`` stage makes
                the whole chain use screens.
      colour_only  True when the model's physics is colour (a colour screen seen through a
                Bayer CFA): it still renders 1-channel content for ``synth``, but training a
                1-channel network on it is refused as a mismatch (``imgrestore fit``).
      same_on_every_backend  True when CPU and GPU outputs are equal bit for bit (and a test
                shows it): ``synth`` then lets one output folder be resumed on either backend.
    Methods a subclass overrides: :meth:`apply` (required); :meth:`derive` to add values
    computed from the drawn ones; :meth:`source_size` when it needs a larger source crop than
    the target patch (a warp); :meth:`output_size` when it changes the input size.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[Mapping[str, Param]] = {}
    bench_size: ClassVar[int] = 512  # default image side of ``imgrestore bench degrade NAME``
    default_content: ClassVar[str] = "photos"  # built-in synth sources without --input: photos | screens
    colour_only: ClassVar[bool] = False  # colour physics: a 1-channel network cannot train on it
    same_on_every_backend: ClassVar[bool] = False  # NumPy/Numba and CUDA give the same bits (tested)

    def __init__(self, **settings: Any) -> None:
        unknown = sorted(set(settings) - set(self.params))
        if unknown:
            known = ", ".join(self.params) or "(none)"
            raise SpecError(f"{self.name}: unknown parameter {unknown[0]!r}; known parameters: {known}")
        values: dict[str, Value] = {}
        for key, p in self.params.items():
            raw = settings.get(key, p.default)
            if raw is None:
                raise SpecError(f"{self.name}:{key}: required; expected {p.describe()}")
            values[key] = p.parse(raw, f"{self.name}:{key}")
        self.settings = ParamSet(values)
        self.validate()

    # -- hooks for subclasses ------------------------------------------------------------------
    def validate(self) -> None:
        """Check relations between parameters (raise SpecError); single bounds are checked already."""

    def derive(self, drawn: dict[str, Any]) -> dict[str, Any]:
        """Values computed from the drawn ones, recorded with them (default: none)."""
        return drawn

    def source_size(self, out_hw: tuple[int, int]) -> tuple[int, int]:
        """Size of the clean crop this stage needs to produce an `out_hw` target."""
        return out_hw

    def output_size(self, in_hw: tuple[int, int]) -> tuple[int, int]:
        """Size of the degraded input this stage makes from an `in_hw` input."""
        return in_hw

    def apply(self, pair: Pair, drawn: list[dict[str, Any]], ctx: StageContext) -> Pair:
        """Degrade ``pair.input`` (and warp ``pair.target`` if the model moves pixels)."""
        raise NotImplementedError

    # -- used by the chain --------------------------------------------------------------------
    def draw(self, rng: np.random.Generator) -> dict[str, Any]:
        return self.derive(self.settings.draw(rng))

    def spec(self) -> str:
        """The one-line spec token that rebuilds this stage."""
        # an empty text setting is the default "unset" and is left out
        args = ",".join(f"{k}={v.spec()}" for k, v in self.settings.values.items() if v.spec() != "")
        return f"{self.name}:{args}" if args else self.name

    def config(self) -> dict[str, Any]:
        """JSON-able settings (fixed values, ranges and choice lists)."""
        return {"name": self.name, **{k: v.to_json() for k, v in self.settings.values.items()}}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec()}>"

    def benchmark(self, device: str, size: int, repeats: int) -> list[dict[str, Any]] | None:
        """Timing rows against the strongest peers (``imgrestore bench degrade NAME``), or None.

        None (the default) lets :mod:`imgrestore.bench.degrade` choose: the built-in peers of a
        built-in degradation, else this stage timed alone on random input. A plugin overrides it
        to time its own peers (the bench layer calls down to it; degrade/ never imports bench/).
        """
        return None
