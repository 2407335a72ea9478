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
import re
import tomllib
from pathlib import Path
from typing import Any, Mapping, Sequence

from imgrestore import rng as _rng
from imgrestore.backend import on_device_of
from imgrestore.degrade.base import Array, Degradation, Pair, StageContext
from imgrestore.errors import SpecError, UserError, did_you_mean

DegradationTable = Mapping[str, type[Degradation]]


def _known(table: DegradationTable) -> str:
    return ", ".join(sorted(table)) or "(none)"


def _lookup(name: str, table: DegradationTable, token: str) -> type[Degradation]:
    if name in table:
        return table[name]
    hint = did_you_mean(name, table)
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
        """Build a chain from a TOML file holding ``[[degradation]]`` tables, checked like the
        command line: anything else in the file (another table, a top-level key, a key a stage
        does not take, a value of the wrong type) is a one-line SpecError naming the file, the
        line and the key."""
        table = _table(table)
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise UserError(f"{path}: cannot read chain file ({exc.strerror or exc})") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise SpecError(f"{path}, line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                            f"{exc.start}); a chain file is TOML in UTF-8") from None
        try:
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, ValueError) as exc:  # ValueError: an integer past Python's digit limit
            raise SpecError(f"{path}: invalid TOML ({_one_line(str(exc))})") from None
        where = _TomlPlaces(path, text)
        for key in data:
            if key != "degradation":
                close = difflib.get_close_matches(key, ["degradation"], n=1)
                hint = " (did you mean [[degradation]]?)" if close else ""
                raise SpecError(f"{where.top(key)}: unknown key {key!r}{hint}; a chain file holds only "
                                "[[degradation]] tables (name = ..., then the stage's parameters)")
        stages = data.get("degradation")
        if not isinstance(stages, list) or not stages or not all(isinstance(e, dict) for e in stages):
            raise SpecError(f"{where.top('degradation')}: expected one or more [[degradation]] tables "
                            "(an array of tables, one per stage)")
        return cls.from_config(stages, table, where=str(path), places=where)

    @classmethod
    def from_config(cls, stages: Any, table: DegradationTable | None = None, where: str = "config",
                    places: "_TomlPlaces | None" = None) -> "Chain":
        """Build a chain from a list of ``{"name": .., **params}`` dicts (TOML / JSON form).

        Values keep their TOML/JSON types and are checked against them: a boolean is never a
        number, a number never a switch. `places` (from :meth:`from_toml`) adds the file line of
        each key to the messages."""
        table = _table(table)
        if not isinstance(stages, list) or not stages:
            raise SpecError(f"{where}: expected a non-empty [[degradation]] array of tables")
        built = []
        for k, entry in enumerate(stages):
            at = places.stage(k) if places is not None else f"{where}: degradation #{k + 1}"
            if not isinstance(entry, dict) or "name" not in entry:
                raise SpecError(f"{at}: no name = \"...\" (the kind of stage); known degradations: {_known(table)}")
            entry = dict(entry)
            name = entry.pop("name")
            key_at = places.key(k, "name") if places is not None else at
            if not isinstance(name, str):
                raise SpecError(f"{key_at}: the name is {_toml_type(name)}; expected the name of a degradation in "
                                f"quotes; known degradations: {_known(table)}")
            stage_cls = _lookup(name, table, key_at)
            for key, value in entry.items():
                key_at = places.key(k, key) if places is not None else at
                if key not in stage_cls.params:
                    hint = did_you_mean(key, stage_cls.params)
                    raise SpecError(f"{key_at}: {name}: unknown key {key!r}{hint}; known parameters: "
                                    f"{', '.join(stage_cls.params) or '(none)'}")
                p = stage_cls.params[key]
                bad = _type_problem(p, value)
                if bad:
                    raise SpecError(f"{key_at}: {name}:{key} = {_toml_repr(value)} is {bad}; expected {p.describe()}")
                try:
                    p.parse(value, f"{name}:{key}")
                except SpecError as exc:
                    raise SpecError(f"{key_at}: {exc}") from None
            try:
                built.append(stage_cls(**entry))
            except SpecError as exc:
                raise SpecError(f"{at}: {exc}") from None
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
        """Degrade a clean NHWC batch whose rows are samples `indices` of run `seed`.

        `clean`: float32 N,H,W,C in [0, 1] (NumPy or CuPy); uint8/uint16 are scaled to [0, 1],
        torch tensors converted, channels-first and 0-255 floats refused (:mod:`imgrestore.guards`)."""
        from imgrestore.guards import batch

        clean = batch(clean, "Chain")
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


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _toml_type(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "a table"
    return f"a {type(v).__name__}"  # TOML dates and times


def _toml_repr(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    try:
        text = repr(v)
    except ValueError:  # an integer too long to print
        return "a very long number"
    return text if len(text) <= 60 else text[:57] + "..."


def _type_problem(p: Any, value: Any) -> str | None:
    """Why a TOML value cannot be a setting of parameter `p` (None: its type fits). Strings are
    left to the parser (ranges such as "0-55" and lists such as "420,444" are text)."""
    if isinstance(value, dict):
        if set(value) == {"min", "max"}:
            return next((_type_problem(p, v) for v in value.values() if _type_problem(p, v)), None)
        if set(value) == {"choices"} and isinstance(value["choices"], list):
            return next((_type_problem(p, v) for v in value["choices"] if _type_problem(p, v)), None)
        return None  # the parser names the table forms it takes
    if isinstance(value, list):
        return next((_type_problem(p, v) for v in value if _type_problem(p, v)), None)
    if isinstance(value, str):
        return None
    t = p.type
    if t is bool:
        return None if isinstance(value, bool) else f"{_toml_type(value)}, not true or false"
    if t in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{_toml_type(value)}, not a number"
        return None
    # text parameters take strings (and whole numbers, e.g. subsampling = 420)
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    return f"{_toml_type(value)}, not a string"


_HEADER = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"^\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)\s*[=.]")


class _TomlPlaces:
    """Where things are in a chain file's text, for messages: ``FILE, line N, key 'k'``.

    tomllib returns values without positions; this scan of the (already valid) text finds the
    line of a top-level key or table, of the k-th ``[[degradation]]`` header and of a key inside
    it. Inline forms (``degradation = [{...}]``) fall back to the line that opens them."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()
        self.headers: list[tuple[int, str, bool]] = []  # (line index, table name, array-of-tables)
        for i, line in enumerate(self.lines):
            m = _HEADER.match(line)
            if m:
                name = ".".join(part.strip().strip("\"'") for part in m.group(1).split("."))
                self.headers.append((i, name, line.lstrip().startswith("[[")))

    def _fmt(self, line: int | None, key: str | None = None) -> str:
        where = f"{self.path}, line {line + 1}" if line is not None else str(self.path)
        return f"{where}, key {key!r}" if key is not None else where

    def _top_key_line(self, key: str) -> int | None:
        end = self.headers[0][0] if self.headers else len(self.lines)
        for i in range(end):
            m = _KEY.match(self.lines[i])
            if m and m.group(1).strip("\"'") == key:
                return i
        for i, name, _ in self.headers:
            if name == key or name.split(".")[0] == key:
                return i
        return None

    def top(self, key: str) -> str:
        return self._fmt(self._top_key_line(key), key)

    def _stage_range(self, k: int) -> tuple[int, int] | None:
        mine = [n for n, (i, name, arr) in enumerate(self.headers) if name == "degradation" and arr]
        if k >= len(mine):
            return None
        n = mine[k]
        start = self.headers[n][0]
        end = self.headers[n + 1][0] if n + 1 < len(self.headers) else len(self.lines)
        return start, end

    def stage(self, k: int) -> str:
        rng = self._stage_range(k)
        line = rng[0] if rng else self._top_key_line("degradation")
        return f"{self._fmt(line)}, degradation #{k + 1}"

    def key(self, k: int, key: str) -> str:
        rng = self._stage_range(k)
        if rng is None:
            return self._fmt(self._top_key_line("degradation"), key)
        for i in range(rng[0] + 1, rng[1]):
            m = _KEY.match(self.lines[i])
            if m and m.group(1).strip("\"'") == key:
                return self._fmt(i, key)
        return self._fmt(rng[0], key)
