"""Camera response functions (CRFs): the DoRF database, a built-in fallback family, lookups.

A CRF ``f`` maps sensor irradiance L in [0, 1] to image brightness x = f(L) in [0, 1]. Every
curve here is tabulated on the uniform 1024-point grid ``I_k = k / 1023``:

* ``forward[c, k]  = f_c(I_k)``            (the DoRF ``B`` row)
* ``inverse[c, k]  = f_c^-1(I_k)``         (inverted by linear interpolation; flat stretches of
  ``f`` map to the middle of the stretch)
* ``slope[c, k]    = f_c'(I_k)``           (central differences; for the sigma side map)

Lookups follow CBDNet's nearest-bin semantics (its ``CRF_Map`` / ``ICRF_Map``): a value v in
[0, 1] reads bin ``k = floor(v * 1023 + 0.5)`` (the nearer grid point, ties to the upper one).
Values outside [0, 1] are clipped first.

The DoRF file (Grossberg & Nayar, PAMI 2004; 201 curves x 6 lines: name, type, ``I =``, 1024
values, ``B =``, 1024 values) is research data imgrestore does not ship: it is read from
``crf_file`` / ``--crf-file`` / ``$IMGRESTORE_CRF``, parsed once and cached as ``.npz`` under
``$XDG_CACHE_HOME/imgrestore`` (keyed by the file's SHA-256). Without it, :func:`parametric_curves`
gives the documented family ``gamma-scurve-v1`` (see there) and a warning says so once.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imgrestore.errors import UserError

BINS = 1024
ENV = "IMGRESTORE_CRF"
FAMILY = "gamma-scurve-v1"


class CRFWarning(UserWarning):
    """The DoRF database is not available and the parametric fallback is used."""


@dataclass(frozen=True, eq=False)
class CurveSet:
    """A set of tabulated CRFs plus where they came from (recorded in manifests)."""

    names: tuple[str, ...]
    forward: np.ndarray  # (C, 1024) float32
    inverse: np.ndarray  # (C, 1024) float32
    slope: np.ndarray  # (C, 1024) float32
    source: str  # "dorf:<sha256 prefix>" or "parametric:<family>"

    def __len__(self) -> int:
        return len(self.names)

    def apply(self, v: np.ndarray, index: int) -> np.ndarray:
        """f(v) with nearest-bin lookup (NumPy; the kernels fuse this)."""
        return self.forward[index][nearest_bin(v)]

    def apply_inverse(self, v: np.ndarray, index: int) -> np.ndarray:
        """f^-1(v) with nearest-bin lookup."""
        return self.inverse[index][nearest_bin(v)]


def nearest_bin(v: np.ndarray) -> np.ndarray:
    """CBDNet's bin of each value: nearest grid point k/1023, ties up, clipped to [0, 1023] (NaN: 0)."""
    v = np.clip(np.nan_to_num(np.asarray(v, dtype=np.float32), nan=0.0), 0.0, 1.0)
    return np.floor(v * np.float32(BINS - 1) + np.float32(0.5)).astype(np.int32)


def tabulate(names, forward: np.ndarray, source: str) -> CurveSet:
    """Build a CurveSet from forward curves sampled on the uniform grid."""
    forward = np.asarray(forward, dtype=np.float64)
    grid = np.arange(BINS) / (BINS - 1)
    inverse = np.empty_like(forward)
    for c, b in enumerate(forward):
        # np.interp needs strictly increasing sample points: collapse each flat run of b to
        # one point at the middle of its irradiance stretch.
        vals, first, counts = np.unique(b, return_index=True, return_counts=True)
        mid = grid[first] + (counts - 1) / 2 / (BINS - 1)
        inverse[c] = np.interp(grid, vals, mid)
    slope = np.gradient(forward, grid, axis=1)
    as32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return CurveSet(tuple(names), as32(forward), as32(inverse), as32(slope), source)


# -- the DoRF file ---------------------------------------------------------------------------
def parse_dorf(path: Path, data: bytes | None = None) -> tuple[list[str], np.ndarray]:
    """Read a DoRF ``dorfCurves.txt``: curve names and the (C, 1024) brightness table.

    ``data`` is the file's bytes when the caller has read them already. Every problem is a
    UserError naming the file and the 1-based line.
    """
    try:
        text = (path.read_bytes() if data is None else data).decode("latin-1")
    except OSError as exc:
        raise UserError(f"camera-response file {path}: cannot read ({exc.strerror or exc})") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise UserError(f"camera-response file {path}: empty; expected the DoRF dorfCurves.txt format")
    names: list[str] = []
    rows: list[np.ndarray] = []
    grid = np.arange(BINS) / (BINS - 1)

    def numbers(k: int, what: str) -> np.ndarray:
        if k >= len(lines):
            raise UserError(f"{path} line {k + 1}: file ends early; expected {BINS} {what} values (truncated file?)")
        try:
            vals = np.array(lines[k].split(), dtype=np.float64)
        except ValueError:
            raise UserError(f"{path} line {k + 1}: expected {BINS} numbers ({what})") from None
        if vals.size != BINS:
            raise UserError(f"{path} line {k + 1}: expected {BINS} {what} values, found {vals.size} (truncated file?)")
        if not np.all(np.isfinite(vals)):
            raise UserError(f"{path} line {k + 1}: {what} values must be finite numbers")
        return vals

    def header(k: int, want: str) -> None:
        if k >= len(lines):
            raise UserError(f"{path} line {k + 1}: file ends early; expected {want!r} (truncated file?)")
        if lines[k].strip() != want:
            raise UserError(
                f"{path} line {k + 1}: expected {want!r} (DoRF format: name, type, 'I =', {BINS} values, "
                f"'B =', {BINS} values per curve); got {lines[k][:40]!r}"
            )

    for k in range(0, len(lines), 6):
        header(k + 2, "I =")
        irr = numbers(k + 3, "irradiance I")
        header(k + 4, "B =")
        bright = numbers(k + 5, "brightness B")
        if np.abs(irr - grid).max() > 1e-5:
            raise UserError(f"{path} line {k + 4}: irradiance values must be k/1023, k = 0..1023")
        if np.any(np.diff(bright) < 0) or abs(bright[0]) > 1e-6 or abs(bright[-1] - 1) > 1e-6:
            raise UserError(f"{path} line {k + 6}: brightness must rise monotonically from 0 to 1")
        names.append(lines[k].strip())
        rows.append(bright)
    return names, np.stack(rows)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "imgrestore"


@functools.lru_cache(maxsize=8)
def _load_dorf(path: str, size: int, mtime_ns: int) -> CurveSet:
    p = Path(path)
    data = p.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    cache = _cache_dir() / f"crf-{sha[:24]}.npz"
    source = f"dorf:{sha[:12]}"
    try:
        with np.load(cache, allow_pickle=False) as z:
            return tabulate([str(s) for s in z["names"]], z["forward"], source)
    except (OSError, KeyError, ValueError):
        pass
    names, forward = parse_dorf(p, data)
    try:
        from imgrestore.io import write_bytes_atomic

        buf = io.BytesIO()
        np.savez(buf, names=np.array(names), forward=forward)
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(cache, buf.getvalue())
    except OSError:
        pass  # a read-only home still works, only slower
    return tabulate(names, forward, source)


def load_dorf(path: str | os.PathLike) -> CurveSet:
    """The DoRF curves of ``path``, parsed once per file content and cached on disk."""
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except OSError:
        raise UserError(f"camera-response file {p}: not found (expected the DoRF dorfCurves.txt)") from None
    if not p.is_file():
        raise UserError(f"camera-response file {p}: not a file")
    return _load_dorf(str(p.resolve()), st.st_size, st.st_mtime_ns)


# -- the built-in fallback -------------------------------------------------------------------
def srgb_oetf(L: np.ndarray) -> np.ndarray:
    """The sRGB transfer curve (IEC 61966-2-1), linear light to encoded value."""
    return np.where(L <= 0.0031308, 12.92 * L, 1.055 * np.power(np.maximum(L, 0), 1 / 2.4) - 0.055)


@functools.cache
def parametric_curves() -> CurveSet:
    """``gamma-scurve-v1``: 201 monotone curves made in code, used when DoRF is absent.

    Curve 0 is the sRGB curve. Curves 1-200 are ``f(L) = (1 - s) * g + s * g^2 * (3 - 2 g)``
    with ``g = L^(1/gamma)``: a power-law response with a film-like S-shaped contrast mix.
    ``gamma`` takes 20 values spaced evenly in log between 1.0 and 3.0 and ``s`` 10 values
    0, 0.1, ..., 0.9 (both terms rise monotonically on [0, 1], so every curve does; f(0) = 0,
    f(1) = 1). Real responses (DoRF) lie mostly within this range of shapes.
    """
    grid = np.arange(BINS) / (BINS - 1)
    names = ["srgb"]
    rows = [srgb_oetf(grid)]
    for gamma in np.geomspace(1.0, 3.0, 20):
        g = grid ** (1.0 / gamma)
        for s in np.arange(10) / 10:
            names.append(f"gamma{gamma:.3f}-s{s:.1f}")
            rows.append((1 - s) * g + s * g * g * (3 - 2 * g))
    return tabulate(names, np.stack(rows), f"parametric:{FAMILY}")


def resolve_curves(crf_file: str | None) -> CurveSet:
    """The curve set for a stage: ``crf_file``, else ``$IMGRESTORE_CRF``, else the fallback."""
    path = crf_file or os.environ.get(ENV, "")
    if path:
        return load_dorf(path)
    _warn_fallback()
    return parametric_curves()


@functools.cache
def _warn_fallback() -> None:
    warnings.warn(
        f"no DoRF camera-response file (--crf-file or ${ENV}); using the built-in parametric "
        f"family {FAMILY} (201 curves: sRGB + gamma/S-curve mixes)",
        CRFWarning,
        stacklevel=3,
    )
