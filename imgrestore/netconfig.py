"""Network builder options: one declared table per network, used to show and to check them.

A network plugin declares its builder's keyword arguments as :class:`Option` rows (name, type,
default, one-line meaning, limits) on its :class:`~imgrestore.network.NetworkSpec`. The same
table

* is shown by ``imgrestore plugins -v`` and ``imgrestore plugins NAME``,
* checks ``--net-config`` (and ``--disc-config``) before any work: an unknown key is one line
  listing the valid keys, a bad value one line with the expected type and the value given,
* checks every build (:class:`CheckedBuild` wraps the spec's ``build``), so a checkpoint whose
  metadata asks for an absurd size is refused before anything is allocated,
* supplies the defaults the builder passes on (nothing is declared twice).

Old spellings stay valid through per-network ``aliases`` (alias -> canonical name): a
checkpoint saved with an old key still loads, and what is stored from now on uses the canonical
names. Nothing here imports torch, nor the registry (it sits above this module): checking a
network named by the user is :func:`imgrestore.registry.check_plugin_config`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imgrestore.errors import UserError

KINDS = ("int", "float", "bool", "str", "ints")

# Names other code bases (the papers' releases, KAIR, BasicSR) and other networks here use for a
# concept; only for the did-you-mean of an unknown key, never mapped silently.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "features": ("nc", "nf", "n_feats", "num_feat", "num_features", "width", "filters", "feats"),
    "channels": ("in_nc", "out_nc", "n_colors", "num_in_ch", "num_out_ch", "in_channels", "colors", "n_channels"),
    "blocks": ("nb", "n_resblocks", "num_block", "num_blocks", "n_blocks", "resblocks"),
    "depth": ("layers", "num_layers", "n_layers", "nl", "n", "nb"),
    "n": ("depth", "layers", "num_layers", "n_layers"),
    "fine_layers": ("depth", "layers", "num_layers", "n_layers"),
    "scale": ("upscale", "sf", "upscale_factor", "scale_factor"),
}


class NetConfigError(UserError, ValueError):
    """A builder option that the network does not take, or a value of the wrong type or range.

    Also a ValueError, so callers that wrap build errors with their own context (``--weights
    FILE: cannot build ...``) keep doing so."""


@dataclass(frozen=True)
class Option:
    """One keyword argument of a network builder.

    ``kind`` is ``int``, ``float``, ``bool``, ``str`` or ``ints`` (a tuple of ``length`` ints);
    ``lo``/``hi`` bound numbers (each element for ``ints``), ``choices`` lists the allowed
    values, ``multiple_of`` asks for a multiple. The limits are sanity limits that keep a typo or
    a crafted checkpoint from allocating terabytes, not the paper's values.
    """

    name: str
    kind: str
    default: Any
    help: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[Any, ...] | None = None
    length: int | None = None
    multiple_of: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Option {self.name}: kind {self.kind!r} is not one of {', '.join(KINDS)}")

    # -- words --------------------------------------------------------------------------------
    def type_text(self) -> str:
        """The expected type in words, with its limits: ``int 3-1000``, ``float > 0``, ``3 ints >= 1``."""
        if self.choices is not None:
            return f"{_kind_word(self.kind)}, one of {', '.join(_show(c) for c in self.choices)}"
        base = f"{self.length} ints" if self.kind == "ints" else self.kind
        lim = ""
        if self.lo is not None and self.hi is not None:
            lo, hi = _show(self.lo), _show(self.hi)
            lim = f" {lo}-{hi}" if "e" not in lo + hi and "-" not in lo + hi else f" from {lo} to {hi}"
        elif self.lo is not None:
            lim = f" >= {_show(self.lo)}"
        elif self.hi is not None:
            lim = f" <= {_show(self.hi)}"
        if self.multiple_of:
            lim += f", a multiple of {self.multiple_of}"
        return base + lim

    def default_text(self) -> str:
        if self.kind == "ints" and self.default is not None:
            return "[" + ",".join(str(v) for v in self.default) + "]"
        return _show(self.default)

    # -- checking -----------------------------------------------------------------------------
    def check(self, value: Any) -> Any:
        """`value` as the builder takes it (ints widened to float, lists to tuples); a value of
        the wrong type or out of range raises ValueError with the reason (no option name)."""
        k = self.kind
        if k == "bool":
            if isinstance(value, bool):
                out: Any = value
            elif isinstance(value, str) and value.lower() in ("true", "false"):
                out = value.lower() == "true"
            else:
                raise ValueError(self._expected(value))
        elif k == "int":
            out = self._int(value)
        elif k == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(self._expected(value))
            out = float(value)
            if not math.isfinite(out):
                raise ValueError(self._expected(value))
        elif k == "str":
            if not isinstance(value, str):
                raise ValueError(self._expected(value))
            out = value
        else:  # ints
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
                raise ValueError(self._expected(value))
            if self.length is not None and len(value) != self.length:
                raise ValueError(self._expected(value))
            out = tuple(self._int(v, whole=value) for v in value)
        if self.choices is not None and out not in self.choices:
            raise ValueError(self._expected(value))
        for v in (out if k == "ints" else (out,)):
            if k in ("int", "float", "ints"):
                if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
                    raise ValueError(self._expected(value))
                if self.multiple_of and v % self.multiple_of:
                    raise ValueError(self._expected(value))
        return out

    def _int(self, v: Any, whole: Any = None) -> int:
        if isinstance(v, bool):
            raise ValueError(self._expected(v if whole is None else whole))
        if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
            return int(v)
        if not isinstance(v, int):
            raise ValueError(self._expected(v if whole is None else whole))
        return v

    def _expected(self, value: Any) -> str:
        want = "true or false" if self.kind == "bool" else _article(self.type_text())
        return f"expected {want}, got {_given(value)}"


def _kind_word(kind: str) -> str:
    return "ints" if kind == "ints" else kind


def _article(text: str) -> str:
    if text[0].isdigit():
        return text
    return ("an " if text[0] in "aeiou" else "a ") + text


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):  # a crafted checkpoint may hold a huge list: the first few
        more = ",..." if len(v) > 8 else ""
        return "[" + ",".join(_show(x) if not isinstance(x, (list, tuple, dict)) else "[...]" for x in v[:8]) + more + "]"
    text = str(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _given(value: Any) -> str:
    """What the user gave, quoted, with its type in words: ``'abc' (text)``, ``3.5 (a float)``."""
    if isinstance(value, bool):
        what = "true/false"
    elif isinstance(value, int):
        what = "an int"
    elif isinstance(value, float):
        what = "a float"
    elif isinstance(value, str):
        what = "text"
    elif isinstance(value, (list, tuple)):
        what = f"a list of {len(value)}"
    elif value is None:
        what = "null"
    else:
        what = type(value).__name__
    text = _show(value) if not isinstance(value, str) else repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({what})"


def option_names(options: Sequence[Option]) -> str:
    """``depth (int), channels (int), bn (bool)``: the valid keys with their types."""
    return ", ".join(f"{o.name} ({o.kind if o.kind != 'ints' else f'{o.length} ints'})" for o in options)


def check_config(network: str, options: Sequence[Option], config: Mapping[str, Any], option: str = "--net-config",
                 aliases: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`config` checked against `options`: aliases renamed to their canonical keys, values
    normalised (:meth:`Option.check`). An unknown key or a bad value is a one-line
    :class:`NetConfigError` naming `option`, the key, what was expected and the valid keys."""
    table = {o.name: o for o in options}
    aliases = dict(aliases or {})
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = aliases.get(key, key)
        opt = table.get(name)
        if opt is None:
            key = str(key) if len(str(key)) <= 40 else str(key)[:37] + "..."
            close = difflib.get_close_matches(key, list(table) + list(aliases), n=1, cutoff=0.6)
            if not close:  # another code base's (or network's) word for one of ours
                close = [o.name for o in options if key.lower() in SYNONYMS.get(o.name, ())][:1]
            hint = ""
            if close:
                target = table[aliases.get(close[0], close[0])]
                hint = f" (did you mean {target.name!r}: {target.help}?)"
            raise NetConfigError(f"{option}: {network} has no option {key!r}{hint}; valid: "
                                 f"{option_names(options) or 'none'}")
        if name in out:
            raise NetConfigError(f"{option}: {network} option {name!r} is given twice ({key!r} is another name for it)")
        try:
            out[name] = opt.check(value)
        except ValueError as exc:
            shown = value if isinstance(value, str) else _show(value)
            raise NetConfigError(f"{option} {key}={shown}: {network} {name}: {exc}") from None
    return out


def defaults(options: Sequence[Option]) -> dict[str, Any]:
    """The declared defaults, as the builder receives them."""
    return {o.name: o.default for o in options}


class CheckedBuild:
    """A network builder behind its option table: ``build(**config)`` checks `config` (aliases,
    types, ranges), fills in the declared defaults and calls the plugin's own builder."""

    def __init__(self, network: str, options: Sequence[Option], aliases: Mapping[str, str],
                 raw: Callable[..., Any]) -> None:
        self.network, self.options, self.aliases, self.raw = network, tuple(options), dict(aliases), raw
        self.__doc__ = getattr(raw, "__doc__", None)

    def check(self, config: Mapping[str, Any], option: str = "builder config") -> dict[str, Any]:
        return check_config(self.network, self.options, config, option, self.aliases)

    def __call__(self, **config: Any) -> Any:
        return self.raw(**{**defaults(self.options), **self.check(config)})

    def __repr__(self) -> str:
        return f"CheckedBuild({self.network!r}, {getattr(self.raw, '__qualname__', self.raw)!r})"


def check_network_config(spec: Any, config: Mapping[str, Any], option: str = "--net-config") -> dict[str, Any]:
    """`config` checked against `spec`'s declared options (unchanged when it declares none)."""
    if not getattr(spec, "options", None):
        return dict(config)
    return check_config(spec.name, spec.options, config, option, getattr(spec, "aliases", None))


def parse_config(text: str | None, option: str) -> dict[str, Any]:
    """``key=value,key=value`` -> dict; values are JSON when they parse (numbers, true/false,
    [lists]), else strings. ``features=[8,16,32]`` and ``depth=4`` both work."""
    import json

    out: dict[str, Any] = {}
    if not text:
        return out
    depth, cur, parts = 0, "", []
    for ch in text:  # split on commas outside brackets
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for piece in (p.strip() for p in parts):
        if not piece:
            continue
        key, eq, val = piece.partition("=")
        if not eq or not key.strip():
            raise UserError(f"{option} {text!r}: expected key=value pairs separated by commas, got {piece!r}")
        val = val.strip()
        try:
            v = json.loads(val.replace("(", "[").replace(")", "]"))
        except ValueError:
            v = val
        out[key.strip()] = tuple(v) if isinstance(v, list) else v
    return out


def parse_names(text: str) -> tuple[str, ...]:
    """``a, b,,c`` -> ``("a", "b", "c")``: a comma-separated list of names (``--transfer-params``)."""
    return tuple(p.strip() for p in text.split(",") if p.strip())
