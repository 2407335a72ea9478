"""Pixel values between stored integers and float32 in [0, 1], one rounding rule for every writer.

Readers and writers both go through these two functions so that a file read, restored and
written back is scaled and rounded the same way everywhere.
"""

from __future__ import annotations

import numpy as np


def from_uint(arr: np.ndarray, bits: int | None = None) -> np.ndarray:
    """Integer (or bool, or float) pixels -> float32 in [0, 1].

    Integers are divided by the largest value of their dtype (255 for uint8, 65535 for uint16),
    or by ``2**bits - 1`` when `bits` is given (e.g. 12-bit data stored in uint16). Floats are
    taken to be on the [0, 1] scale already: NaN becomes 0 and everything is clipped.
    """
    arr = np.asarray(arr)
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        out = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0, copy=False)
        return np.clip(out, 0.0, 1.0, out=out)
    if np.issubdtype(arr.dtype, np.unsignedinteger):
        top = float(2**bits - 1) if bits else float(np.iinfo(arr.dtype).max)
        out = arr.astype(np.float32)
        out *= np.float32(1.0 / top)
        return np.clip(out, 0.0, 1.0, out=out) if bits else out
    raise TypeError(f"unsupported pixel type {arr.dtype} (expected unsigned integers or floats)")


def to_uint(img: np.ndarray, bits: int = 8) -> np.ndarray:
    """Float pixels in [0, 1] -> uint8 (bits=8) or uint16 (bits=16).

    Values are clipped to [0, 1], scaled by 255 or 65535 and rounded half up
    (``floor(x + 0.5)``, which is MATLAB's ``im2uint8`` rounding for non-negative values; it
    differs from ``np.round``'s half-to-even only at exact .5 ties). NaN raises ValueError.
    """
    if bits not in (8, 16):
        raise ValueError(f"bits={bits!r}: expected 8 or 16")
    img = np.asarray(img)
    if not np.issubdtype(img.dtype, np.floating):
        raise TypeError(f"to_uint expects float pixels in [0, 1], got {img.dtype}")
    if np.isnan(img).any():
        raise ValueError("image contains NaN")
    ftype = np.promote_types(img.dtype, np.float32)  # float16 cannot hold 65535
    x = np.clip(img.astype(ftype, copy=False), 0.0, 1.0)
    x *= 255.0 if bits == 8 else 65535.0
    x += 0.5
    np.floor(x, out=x)
    return x.astype(np.uint8 if bits == 8 else np.uint16)
