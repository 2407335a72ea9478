"""Parameter spaces of degradations: declared once per class, validated once per chain.

A degradation declares each parameter with a :class:`Param` (type, bounds, default, help).
A user sets it to a fixed value (``sigma=25``), a uniform range (``sigma=0-55``, drawn per
sample) or a list of choices (``phase=RGGB,BGGR``, one drawn per sample). The parsed setting is
a :class:`Value`; ``Value.draw(rng)`` gives one sample's value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imgrestore.errors import SpecError

_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_RANGE = re.compile(rf"^\s*({_NUM})\s*(?:-|\.\.|:)\s*({_NUM})\s*$")


@dataclass(frozen=True)
class Value:
    """A parameter setting: fixed, uniform in [lo, hi], or a choice among options."""

    kind: str  # "fixed" | "range" | "choice"
    value: Any = None
    lo: float | None = None
    hi: float | None = None
    options: tuple = ()
    integer: bool = False

    def draw(self, rng: np.random.Generator) -> Any:
        # Every Value consumes exactly one draw, so a stage's parameters keep their streams
        # aligned whatever the user fixes or ranges.
        u = rng.random()
        if self.kind == "fixed":
            return self.value
        if self.kind == "choice":
            return self.options[min(int(u * len(self.options)), len(self.options) - 1)]
        if self.integer:
            return int(self.lo + min(math.floor(u * (self.hi - self.lo + 1)), self.hi - self.lo))
        return float(self.lo + u * (self.hi - self.lo))

    @property
    def is_random(self) -> bool:
        return self.kind != "fixed"

    def spec(self) -> str:
        """The text form that parses back to this value."""
        if self.kind == "fixed":
            return _fmt(self.value)
        if self.kind == "choice":
            return ",".join(_fmt(o) for o in self.options)
        return f"{_fmt(self.lo)}-{_fmt(self.hi)}"

    def to_json(self) -> Any:
        if self.kind == "fixed":
            return self.value
        if self.kind == "choice":
            return {"choices": list(self.options)}
        return {"min": self.lo, "max": self.hi}


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _quote(raw: Any) -> str:
    """What the user typed, quoted; a very long value is shortened to its ends and length."""
    text = str(raw)
    if len(text) > 40:
        return repr(f"{text[:16]}...{text[-8:]}") + f" ({len(text):,} characters)"
    return repr(raw)


@dataclass(frozen=True)
class Param:
    """Declaration of one degradation parameter.

    ``type`` is int, float, str or bool. ``min``/``max`` bound every value the user may give
    (inclusive unless ``min_open``/``max_open``); ``choices`` restricts str parameters;
    ``random=False`` forbids ranges and choice lists (e.g. a scale that fixes output size).
    """

    type: type
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    choices: tuple = ()
    random: bool = True
    unit: str = ""

    def describe(self) -> str:
        parts = [self.type.__name__]
        if self.choices:
            parts.append("one of " + "|".join(map(str, self.choices)))
        if self.min is not None or self.max is not None:
            lo = "(" if self.min_open else "["
            hi = ")" if self.max_open else "]"
            parts.append(f"in {lo}{_fmt(self.min) if self.min is not None else '-inf'}, "
                         f"{_fmt(self.max) if self.max is not None else 'inf'}{hi}")
        if self.unit:
            parts.append(self.unit)
        parts.append(f"default {_fmt(self.default) if self.default is not None else 'none'}")
        if self.random:
            parts.append("range or list allowed")
        return ", ".join(parts)

    # -- validation ---------------------------------------------------------------
    def check_scalar(self, v: Any, where: str) -> Any:
        """Convert one scalar to this parameter's type and check its bounds."""
        t = self.type
        raw = v  # errors quote what the user typed, not what float() made of it (inf)
        try:
            if t is bool:
                if isinstance(v, str):
                    low = v.strip().lower()
                    if low not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                        raise ValueError
                    v = low in ("true", "1", "yes", "on")
                else:
                    v = bool(v)
            elif t is int:
                if isinstance(v, float) and not v.is_integer():
                    raise ValueError
                if isinstance(v, str):
                    try:
                        v = int(v.strip())  # exact for any number of digits
                    except ValueError:
                        f = float(v)  # "1e3"
                        if not f.is_integer():
                            raise ValueError from None
                        v = int(f)
                v = int(v)
            elif t is float:
                v = float(v)
                if not math.isfinite(v):
                    raise ValueError
            else:
                v = str(v).strip()
        except (TypeError, ValueError, OverflowError):
            raise SpecError(f"{where}: {_quote(raw)} is not a valid {t.__name__}; expected {self.describe()}") from None
        if self.choices and v not in self.choices:
            raise SpecError(f"{where}: {v!r} is not one of {', '.join(map(str, self.choices))}")
        if t in (int, float):
            bad = (
                (self.min is not None and (v < self.min or (self.min_open and v == self.min)))
                or (self.max is not None and (v > self.max or (self.max_open and v == self.max)))
            )
            if bad:
                shown = _quote(raw) if isinstance(raw, str) and len(raw.strip()) > 24 else _fmt(v)
                raise SpecError(f"{where}: {shown} is out of range; expected {self.describe()}")
        return v

    def parse(self, raw: Any, where: str) -> Value:
        """Parse a user setting (text from a spec, or a TOML value) into a Value."""
        integer = self.type is int
        if isinstance(raw, Value):
            return raw
        if isinstance(raw, dict):  # TOML table form: {min=.., max=..} or {choices=[..]}
            if set(raw) == {"min", "max"}:
                return self._range(raw["min"], raw["max"], where, integer)
            if set(raw) == {"choices"} and isinstance(raw["choices"], list):
                return self._choice(raw["choices"], where)
            raise SpecError(f"{where}: a table must be {{min=.., max=..}} or {{choices=[..]}}, got {raw!r}")
        if isinstance(raw, (list, tuple)):
            return self._choice(list(raw), where)
        if isinstance(raw, str) and self.type in (int, float):
            m = _RANGE.match(raw)
            if m and not raw.strip().startswith("-"):
                return self._range(m.group(1), m.group(2), where, integer)
        if isinstance(raw, str) and "," in raw:
            return self._choice([s for s in raw.split(",")], where)
        return Value("fixed", value=self.check_scalar(raw, where), integer=integer)

    def _range(self, lo: Any, hi: Any, where: str, integer: bool) -> Value:
        if not self.random:
            raise SpecError(f"{where}: takes a single value, not a range")
        lo_v, hi_v = self.check_scalar(lo, where), self.check_scalar(hi, where)
        if lo_v > hi_v:
            raise SpecError(f"{where}: range {_fmt(lo_v)}-{_fmt(hi_v)} is empty (low end above high end)")
        if lo_v == hi_v:
            return Value("fixed", value=lo_v, integer=integer)
        return Value("range", lo=lo_v, hi=hi_v, integer=integer)

    def _choice(self, items: list, where: str) -> Value:
        if not self.random:
            raise SpecError(f"{where}: takes a single value, not a list")
        if not items:
            raise SpecError(f"{where}: empty list of choices")
        opts = tuple(self.check_scalar(i, where) for i in items)
        if len(opts) == 1:
            return Value("fixed", value=opts[0], integer=self.type is int)
        return Value("choice", options=opts, integer=self.type is int)


@dataclass
class ParamSet:
    """The validated settings of one degradation instance, by parameter name."""

    values: dict[str, Value] = field(default_factory=dict)

    def draw(self, rng: np.random.Generator) -> dict[str, Any]:
        return {k: v.draw(rng) for k, v in self.values.items()}
