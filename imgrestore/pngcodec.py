"""A small PNG codec for what Pillow cannot hold: 16-bit colour (and gray+alpha) PNG.

Pillow truncates 16-bit RGB(A) PNGs to 8 bits when reading and refuses to write them, so
imgrestore decodes and encodes those files itself: zlib plus the five PNG row filters, with
chunk checksums verified. The row unfiltering loop is compiled with numba when available.
"""

from __future__ import annotations

import functools
import struct
import zlib

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"



def _unfilter_py(data: np.ndarray, start: int, rows: int, rowbytes: int, bpp: int, out: np.ndarray) -> int:
    """Undo the PNG row filters of `rows` rows of `data` from offset `start` into out (rows, rowbytes).

    Returns the offset after the last row, or -1 on an invalid filter type. Plain Python so that
    numba can compile it; it also runs (slowly) without numba.
    """
    pos = start
    for y in range(rows):
        ft = data[pos]
        pos += 1
        for i in range(rowbytes):
            x = np.int32(data[pos + i])
            a = np.int32(out[y, i - bpp]) if i >= bpp else np.int32(0)
            b = np.int32(out[y - 1, i]) if y > 0 else np.int32(0)
            if ft == 0:
                v = x
            elif ft == 1:
                v = x + a
            elif ft == 2:
                v = x + b
            elif ft == 3:
                v = x + ((a + b) >> 1)
            elif ft == 4:
                c = np.int32(out[y - 1, i - bpp]) if (y > 0 and i >= bpp) else np.int32(0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                if pa <= pb and pa <= pc:
                    v = x + a
                elif pb <= pc:
                    v = x + b
                else:
                    v = x + c
            else:
                return -1
            out[y, i] = v & 0xFF
        pos += rowbytes
    return pos


@functools.cache
def _unfilter_impl():
    try:
        import numba

        return numba.njit(cache=True, nogil=True)(_unfilter_py)
    except Exception:  # numba missing or unable to compile here: correct but slow
        return _unfilter_py


_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def decode_png(buf: bytes) -> tuple[np.ndarray, int]:
    """Decode a PNG of bit depth 8 or 16 and colour type 0, 2, 4 or 6 -> ((H, W, C) uint array, depth).

    Checks chunk CRCs and that the zlib stream is complete; raises ValueError otherwise.
    """
    if buf[:8] != PNG_SIGNATURE:
        raise ValueError("not a PNG file")
    pos, ihdr, idat = 8, None, []
    while True:
        if pos + 8 > len(buf):
            raise ValueError("truncated file (no IEND chunk)")
        (n,) = struct.unpack(">I", buf[pos : pos + 4])
        ctype = buf[pos + 4 : pos + 8]
        body = buf[pos + 8 : pos + 8 + n]
        crc = buf[pos + 8 + n : pos + 12 + n]
        if len(body) < n or len(crc) < 4:
            raise ValueError(f"truncated file (inside a {ctype.decode('latin-1')} chunk)")
        if ctype in (b"IHDR", b"IDAT") and struct.unpack(">I", crc)[0] != zlib.crc32(ctype + body):
            raise ValueError(f"broken PNG file (bad {ctype.decode('latin-1')} checksum)")
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
        pos += 12 + n
    if ihdr is None or not idat:
        raise ValueError("broken PNG file (no IHDR or IDAT chunk)")
    w, h, depth, ctype_, comp, filt, interlace = ihdr
    if depth not in (8, 16) or ctype_ not in _PNG_CHANNELS or comp or filt or interlace > 1:
        raise ValueError(f"unsupported PNG variant (bit depth {depth}, colour type {ctype_})")
    if w == 0 or h == 0:
        raise ValueError("empty image")
    d = zlib.decompressobj()
    try:
        raw = d.decompress(b"".join(idat))
    except zlib.error as exc:
        raise ValueError(f"corrupt image data ({exc})") from None
    if not d.eof:
        raise ValueError("truncated image data")
    data = np.frombuffer(raw, np.uint8)
    ch = _PNG_CHANNELS[ctype_]
    bpp = ch * depth // 8
    unfilter = _unfilter_impl()
    out = np.empty((h, w * bpp), np.uint8) if interlace else None
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    pos = 0
    for x0, y0, dx, dy in passes:
        pw, ph = (w - x0 + dx - 1) // dx, (h - y0 + dy - 1) // dy
        if pw <= 0 or ph <= 0:
            continue
        need = ph * (1 + pw * bpp)
        if pos + need > len(data):
            raise ValueError("truncated image data")
        sub = np.empty((ph, pw * bpp), np.uint8)
        pos = unfilter(data, pos, ph, pw * bpp, bpp, sub)
        if pos < 0:
            raise ValueError("corrupt image data (invalid row filter)")
        if interlace:
            out.reshape(h, w, bpp)[y0::dy, x0::dx] = sub.reshape(ph, pw, bpp)
        else:
            out = sub
    dtype = np.dtype(">u2") if depth == 16 else np.dtype(np.uint8)
    return out.view(dtype).reshape(h, w, ch).astype(dtype.newbyteorder("=")), depth


def _png_filter_rows(x: np.ndarray, bpp: int) -> np.ndarray:
    """Filter a (rows, rowbytes) uint8 block (first row has no predecessor): per row, the
    filter with the smallest sum of absolute signed residuals (libpng's heuristic)."""
    x = x.astype(np.int16)
    zero_col = np.zeros((x.shape[0], bpp), np.int16)
    a = np.concatenate([zero_col, x[:, :-bpp]], axis=1)
    b = np.concatenate([np.zeros((1, x.shape[1]), np.int16), x[:-1]], axis=0)
    c = np.concatenate([zero_col, b[:, :-bpp]], axis=1)
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    cands = np.stack([x, x - a, x - b, x - ((a + b) >> 1), x - paeth]) & 0xFF
    cost = np.abs(cands.astype(np.uint8).view(np.int8).astype(np.int32)).sum(axis=2)
    best = cost.argmin(axis=0)
    rows = cands[best, np.arange(x.shape[0])].astype(np.uint8)
    return np.concatenate([best.astype(np.uint8)[:, None], rows], axis=1)


def encode_png16(arr: np.ndarray) -> bytes:
    """(H, W, C) uint16, C in 1..4 -> bytes of a 16-bit PNG (gray, gray+alpha, RGB, RGBA)."""
    h, w, ch = arr.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[ch]
    bpp = 2 * ch
    rows = np.ascontiguousarray(arr, dtype=">u2").view(np.uint8).reshape(h, w * bpp)
    comp = zlib.compressobj(6)
    parts = []
    step = max(1, (1 << 22) // max(1, w * bpp))  # ~4 MB of rows at a time
    for y in range(0, h, step):
        # include the previous row so that Up/Avg/Paeth see the true predecessor
        blk = rows[max(0, y - 1) : y + step]
        filt = _png_filter_rows(blk, bpp)
        parts.append(comp.compress(filt[1:] if y else filt))
    parts.append(comp.flush())

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
