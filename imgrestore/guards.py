"""Guards of the Python API: the one place that checks arrays handed to public entry points.

imgrestore computes on float images in [0, 1], channels last: one image H,W,C (or H,W for one
channel), a batch N,H,W,C. What arrives otherwise is either converted, as documented here, or
refused with one message that says what was given and what to do:

* torch tensors: converted with ``.detach().cpu().numpy()`` (a CUDA tensor is copied to the host);
  their usual channels-first layout is refused like NumPy's (below), never silently reread.
* uint8 / uint16: scaled to [0, 1] (divided by 255 / 65535) where images go in
  (:class:`~imgrestore.chain.Chain`, :class:`~imgrestore.restore.Restorer`); refused by the
  metrics, which compare values and must not guess a scale. Other integer and bool dtypes: refused.
* float16/float64: converted to float32 (images) or float64 (metrics).
* channels first (C,H,W or N,C,H,W with C in 1, 3, 4 and a last axis that is not): refused,
  naming the transpose to apply.
* floats far outside [0, 1] (0-255 floats): refused, naming the maximum found; values a little
  outside (noise, an unclipped network output) pass.

Errors are :class:`ArrayError`: a UserError (one line on the command line) that is also a
TypeError (dtype) or ValueError (shape, range) for Python callers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from imgrestore.errors import UserError

# floats whose largest magnitude exceeds this many times the data range are taken as 0-255 data
RANGE_FACTOR = 2.0
CHANNELS = (1, 3, 4)


class ArrayError(UserError, TypeError, ValueError):
    """An array of the wrong type, layout or range given to a public function."""


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _is_cupy(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "cupy"  # as imgrestore.backend.array_module decides


def to_array(x: Any, what: str, keep_device: bool = False) -> Any:
    """`x` as a NumPy array (torch tensors detached and copied to the host; CuPy arrays kept
    with `keep_device`, else copied to the host). Lists of equal-shape images are stacked."""
    if _is_torch(x):
        return x.detach().cpu().numpy()
    if _is_cupy(x):
        return x if keep_device else x.get()
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple)) and x and all(_is_torch(v) for v in x):
        x = [v.detach().cpu().numpy() for v in x]
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise ArrayError(f"{what}: expected an image array (NumPy, or a torch tensor), got {type(x).__name__}: "
                         f"{exc}") from None
    if arr.dtype == object:
        raise ArrayError(f"{what}: expected an image array, got {type(x).__name__} of mixed shapes or types")
    return arr


def to_float(x: Any, what: str, integers: str = "scale", dtype: Any = np.float32) -> Any:
    """Float pixels: uint8/uint16 scaled to [0, 1] (``integers="scale"``) or refused
    (``"refuse"``); other non-float dtypes refused; floats cast to `dtype`."""
    kind = x.dtype.kind
    if kind == "f":
        return x if x.dtype == dtype else x.astype(dtype)
    if kind == "u" and x.dtype.itemsize in (1, 2):
        top = 255 if x.dtype.itemsize == 1 else 65535
        if integers == "scale":
            return x.astype(dtype) / dtype(top)
        raise ArrayError(f"{what}: got {x.dtype} pixels; expected floats in [0, 1] (divide by {top}, or "
                         "read files with imgrestore.io.read_image)")
    raise ArrayError(f"{what}: got {x.dtype} pixels; expected floats in [0, 1] (or uint8/uint16 images)")


def check_range(x: Any, what: str, data_range: float = 1.0) -> None:
    """Refuse floats far outside [0, `data_range`] (0-255 data given as [0, 1]); NaN is refused too."""
    if x.size == 0:
        return
    lo, hi = float(x.min()), float(x.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ArrayError(f"{what}: holds NaN or infinite values; expected floats in [0, {data_range:g}]")
    limit = RANGE_FACTOR * data_range
    if hi > limit or lo < -limit + data_range:
        scale = " (0-255 data? divide by 255)" if hi > 2.0 and hi <= 255.5 * data_range else ""
        raise ArrayError(f"{what}: values from {lo:.4g} to {hi:.4g}; expected floats in [0, {data_range:g}]{scale}")


def _channels_first(shape: tuple[int, ...]) -> bool:
    return len(shape) >= 3 and shape[-3] in CHANNELS and shape[-1] not in CHANNELS


def check_layout(x: Any, what: str, batch: bool) -> Any:
    """H,W,C (or H,W -> H,W,1) with `batch` False; N,H,W,C (or one H,W,C -> 1,H,W,C, one H,W ->
    1,H,W,1) with `batch` True. Channels-first arrays are refused naming the transpose."""
    shape = tuple(x.shape)
    if _channels_first(shape):
        perm = "(0, 2, 3, 1)" if len(shape) == 4 else "(1, 2, 0)"
        want = "N,H,W,C" if len(shape) == 4 else "H,W,C"
        raise ArrayError(f"{what}: shape {shape} looks channels-first ({'N,C,H,W' if len(shape) == 4 else 'C,H,W'}); "
                         f"imgrestore takes channels last ({want}): x.transpose{perm} "
                         f"(torch: x.permute{perm})")
    if batch:
        if x.ndim == 2:
            x = x[None, :, :, None]
        elif x.ndim == 3:
            x = x[None]
        if x.ndim != 4:
            raise ArrayError(f"{what}: shape {shape}; expected a batch N,H,W,C or one image H,W,C or H,W")
    else:
        if x.ndim == 2:
            x = x[:, :, None]
        if x.ndim != 3:
            raise ArrayError(f"{what}: shape {shape}; expected one image H,W,C or H,W"
                             f"{' (a batch: one image at a time)' if x.ndim == 4 else ''}")
    if not 1 <= x.shape[-1] <= max(CHANNELS):
        raise ArrayError(f"{what}: {x.shape[-1]} channels in shape {shape}; expected 1, 3 or 4 (channels last)")
    return x


def image(x: Any, what: str) -> np.ndarray:
    """One image for a public entry point: float32 H,W,C in about [0, 1] (see the module)."""
    arr = to_array(x, what)
    arr = check_layout(arr, what, batch=False)
    arr = to_float(arr, what)
    check_range(arr, what)
    return np.ascontiguousarray(arr)


def batch(x: Any, what: str) -> Any:
    """A batch for a public entry point: float32 N,H,W,C in about [0, 1]; CuPy arrays stay on
    their device (dtype and layout checked, range not: no host round trip)."""
    arr = to_array(x, what, keep_device=True)
    arr = check_layout(arr, what, batch=True)
    if _is_cupy(arr):
        if arr.dtype.kind != "f":
            raise ArrayError(f"{what}: got {arr.dtype} pixels on the GPU; expected float32 in [0, 1]")
        return arr
    arr = to_float(arr, what)
    check_range(arr, what)
    return arr


def metric_pair(a: Any, b: Any, what: str, data_range: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Two images for a metric: NumPy floats (uint8 refused: a metric must not guess a scale),
    both in [0, `data_range`] give or take noise."""
    out = []
    for x in (a, b):
        arr = to_array(x, what)
        if arr.ndim >= 3 and _channels_first(tuple(arr.shape)):
            check_layout(arr, what, batch=arr.ndim == 4)
        arr = to_float(arr, what, integers="refuse", dtype=arr.dtype if arr.dtype.kind == "f" else np.float64)
        check_range(arr, what, data_range)
        out.append(arr)
    return out[0], out[1]
