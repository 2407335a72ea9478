"""Encoding float images into PNG/TIFF/JPEG/BMP files, and writing any bytes atomically.

Every file the project writes (images, checkpoints, journals, tables) goes through
:func:`write_bytes_atomic`: a hidden temporary in the same folder, fsynced, then renamed, so a
kill or a full disk never leaves a partial file under the name the user asked for.
"""

from __future__ import annotations

import io as _bytesio
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from imgrestore.errors import UserError
from imgrestore.io.convert import to_uint
from imgrestore.io.png16 import encode_png16

_FORMATS = {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "__cuda_array_interface__") and hasattr(x, "get"):  # CuPy
        x = x.get()
    return np.asarray(x)


def _encode(img: np.ndarray, fmt: str, bits: int, quality: int) -> bytes:
    """uint8/uint16 (H, W, C) pixels -> the bytes of a file in `fmt`."""
    ch = img.shape[2]
    if fmt == "PNG" and bits == 16:
        return encode_png16(img)
    buf = _bytesio.BytesIO()
    if fmt == "TIFF":
        import tifffile

        photometric = "minisblack" if ch <= 2 else "rgb"
        extrasamples = ("unassalpha",) if ch in (2, 4) else None
        tifffile.imwrite(buf, img[:, :, 0] if ch == 1 else img, photometric=photometric,
                         extrasamples=extrasamples, compression="zlib")
        return buf.getvalue()
    from PIL import Image

    pil = Image.fromarray(img[:, :, 0] if ch == 1 else img)  # L, LA, RGB or RGBA (I;16 unused)
    if fmt == "JPEG":
        if ch in (2, 4):
            pil = pil.convert("L" if ch == 2 else "RGB")
        pil.save(buf, format="JPEG", quality=quality, subsampling=0)
    elif fmt == "BMP":  # readers ignore BMP alpha: do not pretend to store it
        if ch in (2, 4):
            pil = pil.convert("L" if ch == 2 else "RGB")
        pil.save(buf, format="BMP")
    else:
        pil.save(buf, format="PNG")
    return buf.getvalue()


def write_image(path: Path | str, img: np.ndarray, bits: int = 8, *, quality: int = 95) -> None:
    """Write a float image in [0, 1] (H, W or H, W, C with C in 1..4) atomically.

    Format by suffix: .png (8 or 16 bit), .tif/.tiff (8 or 16 bit, deflate), .jpg/.jpeg
    (8 bit, `quality`, no chroma subsampling), .bmp (8 bit). Values are clipped and rounded
    with :func:`to_uint`. The file is encoded in memory, written to a hidden temporary file
    ``.NAME.RANDOM.tmp.SUFFIX`` in the same folder and renamed over `path` with ``os.replace``,
    so `path` never holds a partial file; the temporary is removed on any failure. Parent
    folders are created.
    """
    if bits not in (8, 16):
        raise ValueError(f"bits={bits!r}: expected 8 or 16")
    path = Path(path)
    suffix = path.suffix.lower()
    fmt = _FORMATS.get(suffix)
    if fmt is None:
        raise UserError(f"{path}: cannot write images of type {path.suffix or '(no suffix)'!r}; "
                        "use .png, .tif, .tiff, .jpg, .jpeg or .bmp")
    if bits == 16 and fmt in ("JPEG", "BMP"):
        raise UserError(f"{path}: {fmt} holds 8 bits per sample only; use .png or .tif for 16 bits")
    arr = _as_numpy(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or not 1 <= arr.shape[2] <= 4 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{path}: expected an H,W or H,W,C image with C in 1..4, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"{path}: expected float pixels in [0, 1], got {arr.dtype}")
    if np.isnan(arr).any():
        raise ValueError(f"{path}: image contains NaN")
    write_bytes_atomic(path, _encode(to_uint(arr, bits), fmt, bits, quality))


def write_bytes_atomic(path: Path | str, data: bytes) -> None:
    """Write `data` to `path` so that `path` never holds a partial file.

    The bytes go to a hidden ``.NAME.RANDOM.tmp.SUFFIX`` in the same folder, are fsynced and
    renamed over `path`; the temporary is removed on any failure. Parent folders are created.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise _named(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise _named(exc, path) from None
        raise


def _named(exc: OSError, path: Path) -> OSError:
    """The same OSError (same errno and class: callers test for ENOSPC) naming `path`, the file
    the user asked for, rather than a temporary name or nothing (a failed write() names none)."""
    if exc.errno is None:
        return exc
    return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))
