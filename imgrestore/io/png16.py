"""16-bit colour (and gray+alpha) PNG, which Pillow cannot hold: libpng through imagecodecs.

Pillow truncates 16-bit RGB(A) PNGs to 8 bits when reading and refuses to write them;
:mod:`imgrestore.io.read` and :mod:`imgrestore.io.write` send those files here. This module only
adapts shapes: libpng (via imagecodecs) checks the chunk checksums, undoes the row filters and
Adam7 interlacing, and chooses filters when writing.
"""

from __future__ import annotations

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decode_png(buf: bytes) -> tuple[np.ndarray, int]:
    """Decode a PNG of bit depth 8 or 16 -> ((H, W, C) uint8/uint16 array, bit depth).

    Raises ValueError on a file that is not a PNG, is truncated or fails its checksums.
    """
    import imagecodecs

    if buf[:8] != PNG_SIGNATURE:
        raise ValueError("not a PNG file")
    try:
        arr = imagecodecs.png_decode(buf)
    except imagecodecs.PngError as exc:
        raise ValueError(f"broken PNG file ({' '.join(str(exc).split())})") from None
    if arr.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"unsupported PNG variant ({arr.dtype})")
    arr = arr.reshape(arr.shape[0], arr.shape[1], -1)
    return arr, arr.dtype.itemsize * 8


def encode_png16(arr: np.ndarray) -> bytes:
    """(H, W, C) uint16, C in 1..4 -> bytes of a 16-bit PNG (gray, gray+alpha, RGB, RGBA),
    zlib level 6 and libpng's adaptive row filters."""
    import imagecodecs

    arr = np.ascontiguousarray(arr, dtype=np.uint16)
    return bytes(imagecodecs.png_encode(arr[:, :, 0] if arr.shape[2] == 1 else arr, level=6))
