"""The composer: a chain of degradations built from a one-line spec or a TOML table.

Spec grammar (whitespace around separators is ignored)::

    chain  := stage ("|" stage)*
    stage  := NAME [":" arg ("," arg)*]
    arg    := KEY "=" value ("," value)*      # extra values form a list of choices
    value  := NUMBER | LO "-" HI | WORD

e.g. ``bicubic:scale=4 | awgn:sigma=0-55 | jpeg:quality=30-95``. The TOML form is an array of
tables, one per stage, in order::

    [[degradation]]
    name = "awgn"
    sigma = "0-55"          # or {min = 0, max = 55}, or a list of choices
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Mapping, Sequence

from imgrestore import rng as _rng
from imgrestore.backend import on_device_of
from imgrestore.degrade.base import Array, Degradation, Pair, StageContext
from imgrestore.errors import SpecError, UserError

DegradationTable = Mapping[str, type[Degradation]]


def _known(table: DegradationTable) -> str:
    return ", ".join(sorted(table)) or "(none)"


def _lookup(name: str, table: DegradationTable, token: str) -> type[Degradation]:
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name, list(table), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise SpecError(f"unknown degradation {name!r} in {token!r}{hint}; known degradations: {_known(table)}")


def _parse_stage(token: str, table: DegradationTable) -> Degradation:
    name, _, argtext = token.partition(":")
    name = name.strip()
    if not name:
        raise SpecError(f"empty degradation name in {token!r}; known degradations: {_known(table)}")
    cls = _lookup(name, table, token)
    settings: dict[str, Any] = {}
    key = None
    for piece in (p.strip() for p in argtext.split(",")) if argtext.strip() else ():
        if "=" in piece:
            key, _, val = piece.partition("=")
            key = key.strip()
            if not key:
                raise SpecError(f"{token!r}: missing parameter name before '=' in {piece!r}")
            if key in settings:
                raise SpecError(f"{token!r}: parameter {key!r} given twice")
            settings[key] = val.strip()
        elif key is None or not piece:
            raise SpecError(
                f"{token!r}: expected KEY=VALUE, got {piece!r}; parameters of {name}: {', '.join(cls.params) or '(none)'}"
            )
        else:  # a further choice for the previous key: phase=RGGB,BGGR
            prev = settings[key]
            settings[key] = (prev if isinstance(prev, list) else [prev]) + [piece]
    return cls(**settings)


class Chain:
    """An ordered list of degradation stages applied to clean batches."""

    def __init__(self, stages: Sequence[Degradation]):
        if not stages:
            raise SpecError("empty degradation chain")
        self.stages = list(stages)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str, table: DegradationTable | None = None) -> "Chain":
        """Build a chain from a one-line spec (see the module docstring)."""
        table = _table(table)
        tokens = [t.strip() for t in text.split("|")]
        if not any(tokens):
            raise SpecError(f"empty degradation spec; known degradations: {_known(table)}")
        for t in tokens:
            if not t:
                raise SpecError(f"empty stage in spec {text!r} (two '|' in a row?)")
        return cls([_parse_stage(t, table) for t in tokens])

    @classmethod
    def from_toml(cls, path: str | Path, table: DegradationTable | None = None) -> "Chain":
        """Build a chain from a TOML file holding ``[[degradation]]`` tables."""
        table = _table(table)
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UserError(f"{path}: cannot read chain file ({exc.strerror or exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"{path}: invalid TOML ({exc})") from None
        return cls.from_config(data.get("degradation"), table, where=str(path))

    @classmethod
    def from_config(cls, stages: Any, table: DegradationTable | None = None, where: str = "config") -> "Chain":
        """Build a chain from a list of ``{"name": .., **params}`` dicts (TOML / JSON form)."""
        table = _table(table)
        if not isinstance(stages, list) or not stages:
            raise SpecError(f"{where}: expected a non-empty [[degradation]] array of tables")
        built = []
        for k, entry in enumerate(stages):
            if not isinstance(entry, dict) or "name" not in entry:
                raise SpecError(f"{where}: degradation #{k + 1} has no name; known degradations: {_known(table)}")
            entry = dict(entry)
            name = str(entry.pop("name"))
            built.append(_lookup(name, table, f"{where}: degradation #{k + 1}")(**entry))
        return cls(built)

    @classmethod
    def load(cls, name_or_spec: str, table: DegradationTable | None = None) -> "Chain":
        """A chain from a spec string, or from a ``.toml`` file when given one."""
        if name_or_spec.strip().lower().endswith(".toml"):
            return cls.from_toml(name_or_spec.strip(), table)
        return cls.parse(name_or_spec, table)

    # -- description ----------------------------------------------------------------------------
    def spec(self) -> str:
        return " | ".join(s.spec() for s in self.stages)

    def config(self) -> list[dict[str, Any]]:
        return [s.config() for s in self.stages]

    def __repr__(self) -> str:
        return f"Chain({self.spec()!r})"

    # -- geometry -------------------------------------------------------------------------------
    def source_size(self, out_hw: tuple[int, int]) -> tuple[int, int]:
        """Clean crop size needed for a target of `out_hw` (stages asked last to first)."""
        hw = out_hw
        for stage in reversed(self.stages):
            hw = stage.source_size(hw)
        return hw

    def output_size(self, in_hw: tuple[int, int]) -> tuple[int, int]:
        hw = in_hw
        for stage in self.stages:
            hw = stage.output_size(hw)
        return hw

    # -- running --------------------------------------------------------------------------------
    def draw_stage(self, k: int, seed: int, index: int) -> dict[str, Any]:
        """What stage `k` draws for sample `index` of run `seed` (its own PARAMS stream)."""
        return self.stages[k].draw(_rng.sample_rng(seed, index, k, _rng.PARAMS))

    def draw(self, seed: int, index: int) -> list[dict[str, Any]]:
        """The parameters every stage draws for sample `index` (no pixels touched)."""
        return [{"name": s.name, **self.draw_stage(k, seed, index)} for k, s in enumerate(self.stages)]

    def __call__(self, clean: Array, seed: int, indices: Sequence[int]) -> Pair:
        """Degrade a clean NHWC batch whose rows are samples `indices` of run `seed`."""
        indices = [int(i) for i in indices]
        if clean.ndim != 4 or clean.shape[0] != len(indices):
            raise ValueError(f"expected an NHWC batch of {len(indices)} images, got shape {tuple(clean.shape)}")
        pair = Pair(input=clean, target=clean, indices=indices, params=[[] for _ in indices])
        # CuPy allocates on the current device: make the batch's device current, so what a stage
        # creates (noise, JPEG results, tables) lies beside the batch, not on GPU 0
        with on_device_of(clean):
            for k, stage in enumerate(self.stages):
                drawn = [self.draw_stage(k, seed, i) for i in indices]
                pair = stage.apply(pair, drawn, StageContext(seed=seed, indices=indices, stage=k))
                for rec, d in zip(pair.params, drawn):
                    rec.append({"name": stage.name, **d})
        return pair


def _table(table: DegradationTable | None) -> DegradationTable:
    if table is not None:
        return table
    from imgrestore.registry import get_registry

    return get_registry().degradations
