"""Decoding image files into float32 H, W, C arrays in [0, 1], and their shape from the header alone.

Pillow (through imageio's v3 API) reads PNG, JPEG, BMP and the rest; tifffile reads TIFF. Two
gaps of those libraries are filled here:

* Pillow cannot hold 16-bit colour: it silently truncates a 16-bit RGB(A) or gray+alpha PNG to
  8 bits. Such PNGs are sniffed from their header and decoded by libpng through
  :mod:`imgrestore.io.png16` (imagecodecs) instead.
* tifffile returns multi-page files and planar (RGBRGB... in separate planes) pages in their
  stored layout; :func:`read_image` always returns the first page as H, W, C.

Every decode failure becomes one :class:`~imgrestore.errors.ImageReadError` line naming the file.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from imgrestore.errors import ImageReadError
from imgrestore.io.convert import from_uint
from imgrestore.io.png16 import PNG_SIGNATURE, decode_png

_TIFF_SIGS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_GRAY_MODES = {"1", "L", "LA", "La", "I", "F"}  # Pillow modes that decode to one colour channel


class ImageWarning(UserWarning):
    """Something in an image file was not kept (e.g. transparency); the image is still usable."""


def _fail(path: Path | str, reason: str) -> ImageReadError:
    reason = " ".join(str(reason).split()) or "unknown error"
    if len(reason) > 300:
        reason = reason[:297] + "..."
    return ImageReadError(f"{path}: cannot read image: {reason}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, (IndexError, KeyError)):  # e.g. tifffile on a file with no valid page
        return "corrupt file (no readable image in it)"
    if isinstance(exc, zlib.error):
        return f"corrupt or truncated image data ({exc})"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _sniff(path: Path) -> tuple[str, bytes]:
    """('tiff' | 'png' | 'other', first 33 bytes). Opens the file, so missing files fail here."""
    with open(path, "rb") as f:
        head = f.read(33)
    if head[:4] in _TIFF_SIGS:
        return "tiff", head
    if head[:8] == PNG_SIGNATURE:
        return "png", head
    return "other", head


def _png_ihdr(head: bytes) -> tuple[int, int, int, int, int] | None:
    """(width, height, bit depth, colour type, interlace) from a PNG's first 33 bytes."""
    if len(head) < 33 or head[12:16] != b"IHDR":
        return None
    w, h, depth, ctype, _comp, _filt, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return w, h, depth, ctype, interlace


def _needs_own_png(head: bytes) -> bool:
    """16-bit colour or gray+alpha PNG: Pillow would truncate it to 8 bits."""
    ihdr = _png_ihdr(head)
    return ihdr is not None and ihdr[2] == 16 and ihdr[3] in (2, 4, 6)


def _warn_alpha(path: Path, alpha: np.ndarray, top: float) -> None:
    if alpha.size and float(alpha.min()) < top:
        warnings.warn(
            f"{path}: has transparency; the alpha channel is dropped (transparent pixels keep "
            "their stored colour)",
            ImageWarning,
            stacklevel=5,  # the caller of read_image
        )


def _finish(path: Path, arr: np.ndarray, bits: int | None = None) -> np.ndarray:
    """Stored pixels (H,W) or (H,W,C) -> float32 H,W,1 or H,W,3 in [0, 1]; alpha dropped."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] < 1:
        raise _fail(path, f"unexpected pixel layout {arr.shape}")
    if arr.dtype.kind == "i":  # Pillow 'I' mode or signed TIFF samples
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise _fail(path, f"unsupported pixel type {arr.dtype} with values outside 0..65535")
        arr = arr.astype(np.uint16)
    if arr.dtype.kind not in "buf":
        raise _fail(path, f"unsupported pixel type {arr.dtype}")
    c = arr.shape[2]
    if c == 2 or c >= 4:  # gray + alpha, or RGB + alpha (+ further extra samples)
        keep = 1 if c == 2 else 3
        if arr.dtype.kind == "u":
            top = float(2**bits - 1) if bits else float(np.iinfo(arr.dtype).max)
        else:
            top = 1.0
        _warn_alpha(path, arr[:, :, keep], top)
        arr = arr[:, :, :keep]
    return np.ascontiguousarray(from_uint(arr, bits))


def _pillow_plan(meta: dict[str, Any]) -> tuple[str | None, int]:
    """(mode to convert to or None, colour channels after alpha is dropped) for a Pillow image."""
    mode = meta.get("mode", "")
    if mode in ("P", "PA"):
        pal = meta.get("palette")
        gray = pal is not None and len(pal) > 0 and bool(np.all(pal[:, :3] == pal[:, :1]))
        alpha = mode == "PA" or "transparency" in meta
        return ("LA" if alpha else "L") if gray else ("RGBA" if alpha else "RGB"), 1 if gray else 3
    if mode == "1":
        return "L", 1
    if mode == "La":
        return "LA", 1
    if mode == "RGBa":
        return "RGBA", 3
    if mode in _GRAY_MODES or mode.startswith("I;16"):
        return None, 1
    if mode in ("RGB", "RGBA"):
        return None, 3
    return "RGB", 3  # RGBX, CMYK, YCbCr, LAB, HSV, ...


def _open_pillow(path: Path):
    import imageio.v3 as iio

    try:
        return iio.imopen(path, "r", plugin="pillow")
    except Exception as exc:
        # imageio hides Pillow's reason ("can not handle the given uri"); ask Pillow for it.
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                im.size  # noqa: B018
        except UnidentifiedImageError:
            raise _fail(path, "not a recognised image format (unknown type or corrupt header)") from None
        except Exception as exc2:
            raise _fail(path, _reason(exc2)) from None
        raise _fail(path, _reason(exc)) from None


def _read_pillow(path: Path) -> np.ndarray:
    with _open_pillow(path) as f:
        meta = f.metadata(index=0, exclude_applied=False)
        mode, _ = _pillow_plan(meta)
        arr = f.read(index=0, mode=mode)
    return _finish(path, np.asarray(arr))


def _shape_pillow(path: Path) -> tuple[int, int, int]:
    with _open_pillow(path) as f:
        meta = f.metadata(index=0, exclude_applied=False)
    w, h = meta["shape"]
    return int(h), int(w), _pillow_plan(meta)[1]


# TIFF ---------------------------------------------------------------------------------------


def _tiff_page(tif):
    """The first page (a full TiffPage, never a TiffFrame)."""
    pages = tif.pages
    return pages.first if hasattr(pages, "first") else pages[0]


def _tiff_channels(page) -> int:
    from tifffile import PHOTOMETRIC

    ph = page.photometric
    if ph == PHOTOMETRIC.PALETTE:
        cmap = page.colormap
        return 1 if cmap is not None and np.all(cmap == cmap[:1]) else 3
    if ph in (PHOTOMETRIC.RGB, PHOTOMETRIC.SEPARATED, PHOTOMETRIC.YCBCR):
        need = 4 if ph == PHOTOMETRIC.SEPARATED else 3
        if page.samplesperpixel < need:  # a damaged header (found by tests/test_fuzz.py)
            raise ValueError(f"TIFF says {ph.name} but holds {page.samplesperpixel} sample(s) per pixel")
        return 3
    if ph in (PHOTOMETRIC.MINISBLACK, PHOTOMETRIC.MINISWHITE):
        return 1 if page.samplesperpixel <= 2 else 3
    raise ValueError(f"unsupported TIFF photometric interpretation {ph.name}")


def _tiff_hwc(page, arr: np.ndarray) -> np.ndarray:
    """A decoded page in tifffile's layout (axes like YX, YXS, SYX) -> H, W, S."""
    axes = page.axes
    if arr.ndim != len(axes):
        arr = arr.reshape(page.shape)
    drop = [i for i, a in enumerate(axes) if a not in "YXS"]
    if any(arr.shape[i] != 1 for i in drop):
        raise ValueError(f"unsupported TIFF layout {axes} {arr.shape} (volume or stack in one page)")
    arr = arr.reshape([n for i, n in enumerate(arr.shape) if i not in drop])
    axes = "".join(a for a in axes if a in "YXS")
    if "S" not in axes:
        arr, axes = arr[..., None], axes + "S"
    return np.moveaxis(arr, [axes.index("Y"), axes.index("X"), axes.index("S")], [0, 1, 2])


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile
    from tifffile import PHOTOMETRIC

    try:
        with tifffile.TiffFile(path) as tif:
            page = _tiff_page(tif)
            _tiff_channels(page)  # rejects unsupported photometrics before decoding
            if page.photometric == PHOTOMETRIC.YCBCR:
                # tifffile returns non-JPEG YCbCr samples unconverted; libtiff converts to RGB
                return _read_pillow(path)
            try:
                arr = page.asarray()
            except Exception as exc:
                # e.g. LZW/JPEG compression without the optional 'imagecodecs' package: Pillow
                # (libtiff) decodes those, but only at 8 bits per colour sample.
                if page.bitspersample <= 8 or page.samplesperpixel == 1:
                    try:
                        return _read_pillow(path)
                    except Exception:
                        pass  # report tifffile's reason, which names the missing codec
                raise exc
            arr = _tiff_hwc(page, arr)
            ph, bits = page.photometric, page.bitspersample
            if ph == PHOTOMETRIC.PALETTE:
                cmap = np.asarray(page.colormap).astype(np.int64)
                if cmap.max() < 256:  # some writers store an 8-bit map
                    cmap, scale = cmap, 255.0
                elif not (cmap & 0xFF).any():  # 8-bit values shifted up (v * 256), e.g. Pillow
                    cmap, scale = cmap >> 8, 255.0
                else:  # true 16-bit map (8-bit writers use v * 257)
                    scale = 65535.0
                rgb = cmap[:, arr[:, :, 0]].transpose(1, 2, 0).astype(np.float32) / np.float32(scale)
                return np.ascontiguousarray(rgb[:, :, :1] if _tiff_channels(page) == 1 else rgb)
            if ph == PHOTOMETRIC.MINISWHITE:
                if arr.dtype == np.bool_:
                    arr = ~arr
                elif arr.dtype.kind == "u":
                    arr = (2**bits - 1 if bits < arr.dtype.itemsize * 8 else np.iinfo(arr.dtype).max) - arr
                else:
                    arr = 1.0 - arr
            if ph == PHOTOMETRIC.SEPARATED:  # CMYK, naive conversion as Pillow does
                x = from_uint(arr[:, :, :4], _odd_bits(arr, bits))
                return np.ascontiguousarray((1 - x[:, :, :3]) * (1 - x[:, :, 3:4]))
            return _finish(path, arr, _odd_bits(arr, bits))
    except ImageReadError:
        raise
    except Exception as exc:
        raise _fail(path, _reason(exc)) from None


def _odd_bits(arr: np.ndarray, bits: int) -> int | None:
    """Bits per sample when an integer TIFF stores fewer bits than its dtype holds (e.g. 12)."""
    if arr.dtype.kind == "u" and 1 < bits < arr.dtype.itemsize * 8:
        return int(bits)
    return None


def _shape_tiff(path: Path) -> tuple[int, int, int]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = _tiff_page(tif)
        return int(page.imagelength), int(page.imagewidth), _tiff_channels(page)


def _read_png_own(path: Path) -> np.ndarray:
    arr, depth = decode_png(path.read_bytes())
    return _finish(path, arr)


# public readers -----------------------------------------------------------------------------


def read_image(path: Path | str) -> np.ndarray:
    """Decode an image file into a float32 H, W, C array in [0, 1] (C = 1 gray, 3 colour).

    8-bit and 16-bit files are scaled by 255 / 65535 (TIFFs with e.g. 12 bits per sample by
    4095); float TIFFs are clipped to [0, 1]. Palette images become RGB (or gray when the
    palette is all gray); an alpha channel is dropped, with an :class:`ImageWarning` when the
    file has any transparent pixel. Multi-page files give their first page. Pixels are returned
    as stored (no EXIF rotation, no colour management). Any failure raises ImageReadError.
    """
    path = Path(path)
    try:
        kind, head = _sniff(path)
        if kind == "tiff":
            return _read_tiff(path)
        if kind == "png" and _needs_own_png(head):
            return _read_png_own(path)
        return _read_pillow(path)
    except ImageReadError:
        raise
    except Exception as exc:
        raise _fail(path, _reason(exc)) from None


def image_shape(path: Path | str) -> tuple[int, int, int]:
    """(H, W, C) that :func:`read_image` would return, from the file header (no pixel decoding).

    A file whose header is fine but whose pixel data is damaged passes here and fails in
    :func:`read_image`.
    """
    path = Path(path)
    try:
        kind, head = _sniff(path)
        if kind == "tiff":
            return _shape_tiff(path)
        if kind == "png" and _needs_own_png(head):
            w, h, _, ctype, _ = _png_ihdr(head)  # type: ignore[misc]
            return h, w, 1 if ctype == 4 else 3  # (Pillow calls 16-bit gray+alpha 'RGBA')
        return _shape_pillow(path)
    except ImageReadError:
        raise
    except Exception as exc:
        raise _fail(path, _reason(exc)) from None
