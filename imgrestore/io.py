"""Image files in and out: float32 HWC arrays in [0, 1] on one side, PNG/TIFF/JPEG/BMP on the other.

Reading goes through imageio's v3 API (Pillow plugin) for PNG, JPEG, BMP and anything else
Pillow knows, and through tifffile for TIFF. Two gaps of those libraries are filled here:

* Pillow cannot hold 16-bit colour: it silently truncates a 16-bit RGB(A) or gray+alpha PNG to
  8 bits when reading and refuses to write one. Such PNGs are decoded and encoded by the small
  PNG codec below (zlib + the five PNG row filters), so 16-bit output round-trips exactly.
* tifffile returns multi-page files and planar (RGBRGB... in separate planes) pages in their
  stored layout; :func:`read_image` always returns the first page as H, W, C.

Every decode failure becomes one :class:`~imgrestore.errors.ImageReadError` line naming the file,
so the CLI can report it (or skip the file) without a traceback.
"""

from __future__ import annotations

import io as _bytesio
import os
import secrets
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from imgrestore.errors import ImageReadError, UserError
from imgrestore.pngcodec import PNG_SIGNATURE, decode_png, encode_png16

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"})
"""File suffixes (compared lower-case) that :func:`list_images` treats as images."""

_TIFF_SIGS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_GRAY_MODES = {"1", "L", "LA", "La", "I", "F"}  # Pillow modes that decode to one colour channel


class ImageWarning(UserWarning):
    """Something in an image file was not kept (e.g. transparency); the image is still usable."""


# --------------------------------------------------------------------------------------------
# folders


def list_images(folder: Path, recursive: bool = True) -> list[Path]:
    """The image files under `folder`, sorted by their relative POSIX path (deterministic).

    Hidden files and folders (name starting with '.') are skipped: they hold tool state (e.g.
    ``.synth/``) and :func:`write_image`'s in-flight temporary files, never source images.
    Symlinked folders are followed once (a link cycle is not walked twice).
    """
    folder = Path(folder)
    if not folder.exists():
        raise UserError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    found: list[tuple[str, Path]] = []
    seen: set[tuple[int, int]] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        st = os.stat(root)
        if (st.st_dev, st.st_ino) in seen:  # symlink cycle
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        for name in files:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
                continue
            p = Path(root, name)
            if p.is_file():
                found.append((p.relative_to(folder).as_posix(), p))
    if not found:
        where = "" if recursive else " (subfolders not searched)"
        raise UserError(f"no images (png, tif, jpg, bmp) in {folder}{where}")
    found.sort(key=lambda t: t[0])
    return [p for _, p in found]


# --------------------------------------------------------------------------------------------
# value conversion


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


# --------------------------------------------------------------------------------------------
# reading


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


# --------------------------------------------------------------------------------------------
# writing

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


# --------------------------------------------------------------------------------------------
# output locations, checked before any long work

MIN_FREE_BYTES = 1 << 20
"""An output folder with less free space than this is refused up front (a full disk)."""


def _check_location(path: Path | str, option: str, folder: bool) -> Path:
    """Shared part of :func:`check_out_folder` and :func:`check_out_file`."""
    import shutil

    kind = "folder" if folder else "file"
    if isinstance(path, str) and not path.strip():  # Path("") would be the current folder
        raise UserError(f"{option} {path!r}: empty path; name the {kind} to write")
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: is a file, expected a folder")
    if not folder and path.is_dir():
        raise UserError(f"{option} {path}: is a folder, expected a file name")
    start = path if folder else path.parent
    anc = start
    while not anc.exists() and anc.parent != anc:  # the nearest folder that exists: the first write
        anc = anc.parent
    if anc.exists() and not anc.is_dir():
        raise UserError(f"{option} {path}: not writable ({anc} is a file, not a folder)")
    probe = anc / f".imgrestore-probe-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        where = "" if anc == start else f"; {anc} does not take new files"
        raise UserError(f"{option} {path}: not writable ({exc.strerror or exc}{where})") from None
    try:
        free = shutil.disk_usage(anc).free
    except OSError:
        return path
    if free < MIN_FREE_BYTES:
        raise UserError(f"{option} {path}: the disk is full ({free:,} bytes free)")
    return path


def check_out_folder(path: Path | str, option: str = "--out") -> Path:
    """Prove that the output folder `path` can be written, without creating it, or raise one
    UserError line naming `option` and the path: an empty name (a str ``""``; ``Path("")`` is
    the current folder already), a file in the way, a read-only or foreign folder, a full disk.
    Called before any long work; returns ``Path(path)``."""
    return _check_location(path, option, folder=True)


def check_out_file(path: Path | str, option: str = "--out") -> Path:
    """As :func:`check_out_folder`, for an output file: its folder must be writable and the name
    must not be a folder."""
    return _check_location(path, option, folder=False)


# --------------------------------------------------------------------------------------------
# built-in samples

# skimage.data loader name -> its file in skimage's own data folder. Natural photos and textures
# of at least 256 px per side; binary, tiny, synthetic or mostly-black images are left out.
_SAMPLES = {
    "astronaut": "astronaut.png",
    "camera": "camera.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "moon": "moon.png",
    "coins": "coins.png",
}


def sample_images() -> list[tuple[str, np.ndarray]]:
    """The sample images shipped inside scikit-image's package (never downloaded).

    Returns ``("skimage:NAME", float32 H,W,C in [0, 1])`` pairs (gray as H,W,1), only for images
    whose file is present in ``skimage/data`` and that are at least 256 px on each side.
    """
    import skimage.data

    folder = os.path.dirname(skimage.data.__file__)
    out = []
    for name, fname in _SAMPLES.items():
        if not os.path.isfile(os.path.join(folder, fname)):
            continue
        arr = np.asarray(getattr(skimage.data, name)())
        img = from_uint(arr[:, :, None] if arr.ndim == 2 else arr[:, :, :3])
        if min(img.shape[:2]) >= 256:
            out.append((f"skimage:{name}", np.ascontiguousarray(img)))
    return out
