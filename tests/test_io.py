"""imgrestore.io: round trips, 16-bit colour PNG, odd modes, damaged files, atomic writes, folders."""

from __future__ import annotations

import os
import stat
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import SHARED_DATA
from imgrestore.errors import ImageReadError, UserError
from imgrestore.io import png16
from imgrestore.io import write as io_write
from imgrestore.io import (
    IMAGE_SUFFIXES,
    ImageWarning,
    from_uint,
    image_shape,
    list_images,
    read_image,
    sample_images,
    to_uint,
    write_image,
)


def _smooth(h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    """A smooth float32 test image (what JPEG handles well), values inside (0, 1)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    chans = [0.5 + 0.4 * np.sin(2 * np.pi * (rng.uniform(0.5, 2) * yy + rng.uniform(0.5, 2) * xx + rng.random()))
             for _ in range(c)]
    return np.stack(chans, axis=2).astype(np.float32)


# ---------------------------------------------------------------------------- round trips

LOSSLESS = [(".png", 8), (".png", 16), (".tif", 8), (".tiff", 16), (".bmp", 8)]


@pytest.mark.parametrize("suffix,bits", LOSSLESS)
@pytest.mark.parametrize("shape", [(23, 31), (23, 31, 1), (23, 31, 3)])
def test_lossless_round_trip_is_exact_quantisation(tmp_path, suffix, bits, shape):
    img = np.random.default_rng(1).random(shape, dtype=np.float32)
    p = tmp_path / f"x{suffix}"
    write_image(p, img, bits=bits)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImageWarning)
        got = read_image(p)
    want = from_uint(to_uint(img if img.ndim == 3 else img[:, :, None], bits))
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert np.abs(got - want).max() <= 0.5 / (2**bits - 1) + 1e-7
    assert np.abs(got - (img if img.ndim == 3 else img[:, :, None])).max() <= 0.5 / (2**bits - 1) + 1e-7
    assert image_shape(p) == got.shape


@pytest.mark.parametrize("shape", [(64, 80, 1), (64, 80, 3)])
def test_jpeg_round_trip_is_close(tmp_path, shape):
    img = _smooth(*shape)
    write_image(tmp_path / "x.jpg", img)
    write_image(tmp_path / "y.JPEG", img, quality=60)
    hi, lo = read_image(tmp_path / "x.jpg"), read_image(tmp_path / "y.JPEG")
    assert hi.shape == lo.shape == shape and hi.dtype == np.float32
    mse = lambda a: float(np.mean((a - img) ** 2))  # noqa: E731
    assert 10 * np.log10(1 / mse(hi)) > 40  # quality 95, 4:4:4, on a smooth image
    assert mse(lo) > mse(hi)
    assert image_shape(tmp_path / "x.jpg") == shape


def test_16bit_colour_png_keeps_16_bits(tmp_path):
    """Pillow alone truncates 16-bit RGB PNGs to 8 bits; ours must not."""
    rng = np.random.default_rng(2)
    img = rng.random((40, 50, 3), dtype=np.float32)
    p = tmp_path / "x16.png"
    write_image(p, img, bits=16)
    u16 = to_uint(img, 16)
    got = read_image(p)
    np.testing.assert_array_equal(got, from_uint(u16))
    assert len(np.unique(np.round(got * 65535) % 256)) > 200  # low bytes really are there
    # The file is a standard PNG: Pillow reads it (as 8-bit RGB, i.e. the high bytes).
    with Image.open(p) as im:
        assert im.mode == "RGB" and im.size == (50, 40)
        np.testing.assert_array_equal(np.asarray(im), (u16 >> 8).astype(np.uint8))


def test_16bit_gray_png_is_read_by_pillow_exactly(tmp_path):
    img = np.random.default_rng(3).random((30, 20), dtype=np.float32)
    p = tmp_path / "g16.png"
    write_image(p, img, bits=16)
    with Image.open(p) as im:
        assert im.mode.startswith("I;16")
        np.testing.assert_array_equal(np.asarray(im).astype(np.uint16), to_uint(img, 16))


def test_16bit_tiff_is_uint16_on_disk(tmp_path):
    img = np.random.default_rng(4).random((10, 12, 3), dtype=np.float32)
    write_image(tmp_path / "x.tif", img, bits=16)
    with tifffile.TiffFile(tmp_path / "x.tif") as t:
        assert t.pages[0].dtype == np.uint16
        np.testing.assert_array_equal(t.pages[0].asarray(), to_uint(img, 16))


# ------------------------------------------------------------- the PNG decoder vs Pillow


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _reference_filter(rows: np.ndarray, bpp: int, types: list[int]) -> bytes:
    """Straight transcription of the PNG spec's five filters (encoder side), row type by row."""
    out = bytearray()
    h, n = rows.shape
    for y in range(h):
        t = types[y % len(types)]
        out.append(t)
        for i in range(n):
            x = int(rows[y, i])
            a = int(rows[y, i - bpp]) if i >= bpp else 0
            b = int(rows[y - 1, i]) if y > 0 else 0
            c = int(rows[y - 1, i - bpp]) if y > 0 and i >= bpp else 0
            if t == 0:
                pred = 0
            elif t == 1:
                pred = a
            elif t == 2:
                pred = b
            elif t == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out.append((x - pred) % 256)
    return bytes(out)


def _reference_png(img: np.ndarray, depth: int, interlace: bool) -> bytes:
    """A PNG (colour type from the channel count) with every filter type in turn, optionally Adam7."""
    h, w, ch = img.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[ch]
    bpp = ch * depth // 8
    raw = img.astype(">u2" if depth == 16 else np.uint8)
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    data = b""
    for x0, y0, dx, dy in passes if interlace else [(0, 0, 1, 1)]:
        sub = raw[y0::dy, x0::dx]
        if sub.size:
            rows = np.ascontiguousarray(sub).view(np.uint8).reshape(sub.shape[0], -1)
            data += _reference_filter(rows, bpp, [0, 1, 2, 3, 4])
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, int(interlace))
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(data))
            + _png_chunk(b"IEND", b""))


@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize("ch", [1, 2, 3, 4])
def test_png_decoder_undoes_every_filter_and_adam7(tmp_path, ch, interlace):
    rng = np.random.default_rng(ch)
    img8 = (np.clip(_smooth(13, 11, ch) + rng.normal(0, 0.05, (13, 11, ch)), 0, 1) * 255).astype(np.uint8)
    arr, depth = png16.decode_png(_reference_png(img8, 8, interlace))
    assert depth == 8
    np.testing.assert_array_equal(arr, img8)
    # and Pillow agrees on the 8-bit file
    p = tmp_path / "r.png"
    p.write_bytes(_reference_png(img8, 8, interlace))
    with Image.open(p) as im:
        np.testing.assert_array_equal(np.asarray(im).reshape(img8.shape), img8)
    img16 = (img8.astype(np.uint16) << 8) | rng.integers(0, 256, img8.shape, dtype=np.uint16)
    arr16, depth = png16.decode_png(_reference_png(img16, 16, interlace))
    assert depth == 16 and arr16.dtype == np.uint16
    np.testing.assert_array_equal(arr16, img16)


def test_png_decoder_matches_pillow_on_pillow_files(tmp_path):
    """Files from another encoder (Pillow/zlib, its own filter choices) decode identically."""
    rng = np.random.default_rng(5)
    base = (_smooth(57, 43, 4) * 255).astype(np.uint8) + rng.integers(0, 3, (57, 43, 4), dtype=np.uint8)
    cases = {"L": base[:, :, 0], "LA": base[:, :, :2], "RGB": base[:, :, :3], "RGBA": base}
    for mode, a in cases.items():
        p = tmp_path / f"{mode}.png"
        Image.fromarray(a).save(p)
        arr, _ = png16.decode_png(p.read_bytes())
        np.testing.assert_array_equal(arr.reshape(a.shape), a)
    g16 = (_smooth(33, 29, 1)[:, :, 0] * 65535).astype(np.uint16)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    arr, depth = png16.decode_png((tmp_path / "g16.png").read_bytes())
    assert depth == 16
    np.testing.assert_array_equal(arr[:, :, 0], g16)


# -------------------------------------------------------------------- modes and layouts


def test_rgba_alpha_is_dropped_with_a_warning(tmp_path):
    rgb = (_smooth(20, 24, 3) * 255).astype(np.uint8)
    alpha = np.full((20, 24, 1), 255, np.uint8)
    alpha[3:7, 5:9] = 0
    p = tmp_path / "a.png"
    Image.fromarray(np.concatenate([rgb, alpha], axis=2)).save(p)
    with pytest.warns(ImageWarning, match="a.png") as rec:
        got = read_image(p)
    assert "alpha" in str(rec[0].message)
    assert got.shape == (20, 24, 3) and image_shape(p) == (20, 24, 3)
    np.testing.assert_array_equal(got, from_uint(rgb))


def test_opaque_alpha_is_dropped_silently(tmp_path):
    rgba = np.concatenate([(_smooth(8, 9, 3) * 255).astype(np.uint8), np.full((8, 9, 1), 255, np.uint8)], axis=2)
    Image.fromarray(rgba).save(tmp_path / "o.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImageWarning)
        assert read_image(tmp_path / "o.png").shape == (8, 9, 3)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_rgba_and_gray_alpha(tmp_path, suffix):
    img = np.random.default_rng(7).random((12, 10, 4), dtype=np.float32)
    img[..., 3] = 1.0
    img[0, 0, 3] = 0.2
    for ch, keep in ((4, 3), (2, 1)):
        x = img[:, :, :ch] if ch == 4 else img[:, :, [0, 3]]
        p = tmp_path / f"a{ch}{suffix}"
        write_image(p, x, bits=16)
        with pytest.warns(ImageWarning):
            got = read_image(p)
        assert got.shape == (12, 10, keep) == image_shape(p)
        np.testing.assert_array_equal(got, from_uint(to_uint(x[:, :, :keep], 16)))


def test_palette_images(tmp_path):
    rng = np.random.default_rng(8)
    colour = Image.fromarray((rng.random((16, 16, 3)) * 255).astype(np.uint8)).quantize(16)
    colour.save(tmp_path / "p.png")
    got = read_image(tmp_path / "p.png")
    assert got.shape == (16, 16, 3) == image_shape(tmp_path / "p.png")
    np.testing.assert_array_equal(got, from_uint(np.asarray(colour.convert("RGB"))))
    # a palette of grays is a gray image
    gray = Image.fromarray((rng.random((16, 16)) * 255).astype(np.uint8)).convert("P")
    gray.putpalette([v for k in range(256) for v in (k, k, k)])
    gray.save(tmp_path / "g.png")
    assert read_image(tmp_path / "g.png").shape == (16, 16, 1) == image_shape(tmp_path / "g.png")
    np.testing.assert_array_equal(read_image(tmp_path / "g.png")[:, :, 0], from_uint(np.asarray(gray)))
    # transparency in a palette counts as alpha
    colour.save(tmp_path / "t.png", transparency=0)
    with pytest.warns(ImageWarning, match="t.png"):
        assert read_image(tmp_path / "t.png").shape == (16, 16, 3)
    # palette TIFF (tifffile path) gives the same colours
    colour.save(tmp_path / "p.tif")
    assert image_shape(tmp_path / "p.tif") == (16, 16, 3)
    np.testing.assert_allclose(read_image(tmp_path / "p.tif"), got, atol=1e-6)


def test_bilevel_and_cmyk(tmp_path):
    bw = Image.fromarray(np.random.default_rng(9).random((10, 10)) > 0.5)
    bw.save(tmp_path / "bw.png")
    got = read_image(tmp_path / "bw.png")
    assert got.shape == (10, 10, 1) and set(np.unique(got)) <= {0.0, 1.0}
    cmyk = Image.fromarray((_smooth(10, 10, 3) * 255).astype(np.uint8)).convert("CMYK")
    cmyk.save(tmp_path / "c.jpg", quality=98)
    assert read_image(tmp_path / "c.jpg").shape == (10, 10, 3) == image_shape(tmp_path / "c.jpg")


def test_tiff_planar_multipage_float_and_lzw(tmp_path):
    rgb = (np.random.default_rng(10).random((9, 11, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb, 2, 0), photometric="rgb", planarconfig="separate")
    assert image_shape(tmp_path / "planar.tif") == (9, 11, 3)
    np.testing.assert_array_equal(read_image(tmp_path / "planar.tif"), from_uint(rgb))

    with tifffile.TiffWriter(tmp_path / "multi.tif") as tw:
        tw.write(rgb, photometric="rgb")
        tw.write(255 - rgb, photometric="rgb")
    np.testing.assert_array_equal(read_image(tmp_path / "multi.tif"), from_uint(rgb))
    assert image_shape(tmp_path / "multi.tif") == (9, 11, 3)

    f = np.linspace(-0.5, 1.5, 9 * 11, dtype=np.float32).reshape(9, 11)
    f[0, 0] = np.nan
    tifffile.imwrite(tmp_path / "f.tif", f)
    got = read_image(tmp_path / "f.tif")
    assert got.shape == (9, 11, 1) and got.min() == 0.0 and got.max() == 1.0
    np.testing.assert_array_equal(got[1:, :, 0], np.clip(f[1:], 0, 1))

    # LZW needs the optional imagecodecs package in tifffile; Pillow (libtiff) reads it instead
    Image.fromarray(rgb).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    np.testing.assert_array_equal(read_image(tmp_path / "lzw.tif"), from_uint(rgb))


def test_skimage_multipage_sample_gives_first_page():
    import skimage.data

    p = Path(os.path.dirname(skimage.data.__file__)) / "multipage.tif"
    if not p.exists():
        pytest.skip("skimage's multipage.tif not bundled")
    got = read_image(p)
    assert got.shape == image_shape(p) == (15, 10, 1)
    np.testing.assert_array_equal(got[:, :, 0], from_uint(tifffile.imread(p, key=0)))


# ------------------------------------------------------------------------ damaged files


def _check_error(exc: ImageReadError, path: Path) -> None:
    msg = str(exc)
    assert isinstance(exc, UserError)
    assert str(path) in msg and "cannot read image" in msg
    assert "\n" not in msg and len(msg) < 500


def _damaged(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(11)
    files = {}
    files["random.png"] = rng.bytes(2000)
    files["empty.png"] = b""
    files["text.jpg"] = b"this is not a picture\n" * 20
    files["random_header.tif"] = b"II*\x00" + rng.bytes(500)
    good8, good16 = tmp_path / "g8.png", tmp_path / "g16.png"
    img = rng.random((64, 64, 3), dtype=np.float32)
    write_image(good8, img)
    write_image(good16, img, bits=16)
    b8, b16 = good8.read_bytes(), good16.read_bytes()
    files["trunc8.png"] = b8[: len(b8) // 2]
    files["trunc16.png"] = b16[: len(b16) // 2]
    bad_crc = bytearray(b16)
    bad_crc[60] ^= 0xFF  # inside IDAT
    files["crc16.png"] = bytes(bad_crc)
    write_image(tmp_path / "g.tif", img)
    t = (tmp_path / "g.tif").read_bytes()
    files["trunc.tif"] = t[: len(t) // 3]
    out = {}
    for name, data in files.items():
        p = tmp_path / "bad" / name
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(data)
        out[name] = p
    return out


def test_damaged_files_raise_one_line_image_read_error(tmp_path):
    for name, p in _damaged(tmp_path).items():
        with pytest.raises(ImageReadError) as ei:
            read_image(p)
        _check_error(ei.value, p)


def test_image_shape_rejects_unreadable_headers(tmp_path):
    bad = _damaged(tmp_path)
    for name in ("random.png", "empty.png", "text.jpg", "random_header.tif"):
        with pytest.raises(ImageReadError) as ei:
            image_shape(bad[name])
        _check_error(ei.value, bad[name])


def test_missing_file_and_folder(tmp_path):
    for p in (tmp_path / "nope.png", tmp_path):
        with pytest.raises(ImageReadError) as ei:
            read_image(p)
        _check_error(ei.value, p)
        with pytest.raises(ImageReadError):
            image_shape(p)


# ---------------------------------------------------------------------------- writing


def _listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("suffix,bits", LOSSLESS + [(".jpg", 8)])
def test_encoder_failure_leaves_nothing(tmp_path, monkeypatch, suffix, bits):
    def boom(*a, **k):
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(io_write, "_encode", boom)
    with pytest.raises(RuntimeError, match="exploded"):
        write_image(tmp_path / "out" / f"x{suffix}", np.zeros((4, 4, 3), np.float32), bits=bits)
    assert not (tmp_path / "out").exists() or _listing(tmp_path / "out") == []


@pytest.mark.parametrize("stage", ["fsync", "replace"])
def test_failure_while_writing_removes_temp_and_keeps_old_file(tmp_path, monkeypatch, stage):
    final = tmp_path / "x.png"
    write_image(final, np.zeros((4, 4, 3), np.float32))
    old = final.read_bytes()

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io_write.os, stage, boom)
    with pytest.raises(OSError, match="No space"):
        write_image(final, np.ones((8, 8, 3), np.float32))
    monkeypatch.undo()
    assert _listing(tmp_path) == ["x.png"]
    assert final.read_bytes() == old


def test_temp_file_is_hidden_beside_the_target_and_mode_follows_umask(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((Path(src), Path(dst), Path(src).read_bytes()[:8]))
        real_replace(src, dst)

    monkeypatch.setattr(io_write.os, "replace", spy)
    write_image(tmp_path / "sub" / "deep" / "y.png", np.zeros((3, 3), np.float32))
    (src, dst, head), = seen
    assert src.parent == dst.parent == tmp_path / "sub" / "deep"
    assert src.name.startswith(".y.png.") and src.name.endswith(".tmp.png")
    assert head == b"\x89PNG\r\n\x1a\n"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(dst).st_mode) == 0o666 & ~umask
    assert _listing(dst.parent) == ["y.png"]


def test_write_image_rejects_bad_arguments(tmp_path):
    img = np.zeros((4, 4, 3), np.float32)
    with pytest.raises(ValueError, match="bits"):
        write_image(tmp_path / "a.png", img, bits=12)
    with pytest.raises(UserError, match="8 bits"):
        write_image(tmp_path / "a.jpg", img, bits=16)
    with pytest.raises(UserError, match="a.webp"):
        write_image(tmp_path / "a.webp", img)
    with pytest.raises(ValueError, match="shape"):
        write_image(tmp_path / "a.png", np.zeros((4, 4, 5), np.float32))
    with pytest.raises(TypeError):
        write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    bad = img.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_image(tmp_path / "a.png", bad)
    assert _listing(tmp_path) == []


def test_values_are_clipped_on_write(tmp_path):
    img = np.array([[[-0.5, 0.25, 1.5]]], np.float32)
    write_image(tmp_path / "c.png", img)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "c.png")), [[[0, 64, 255]]])


def test_to_uint_and_from_uint():
    for bits, top in ((8, 255), (16, 65535)):
        levels = np.arange(top + 1).astype(np.uint16 if bits == 16 else np.uint8)
        np.testing.assert_array_equal(to_uint(from_uint(levels), bits), levels)
    # half-up rounding, as MATLAB im2uint8 (np.round would give 0 and 2 for the ties below)
    assert to_uint(np.array([0.5, 2.5], np.float64) / 255, 8).tolist() == [1, 3]
    assert to_uint(np.array([0.49, 1.49]) / 255, 8).tolist() == [0, 1]
    assert to_uint(np.array([np.float16(1.0)]), 16).tolist() == [65535]
    with pytest.raises(ValueError):
        to_uint(np.zeros(3), 10)
    assert from_uint(np.array([0, 4095], np.uint16), bits=12).tolist() == [0.0, 1.0]
    assert from_uint(np.array([True, False])).dtype == np.float32


# ---------------------------------------------------------------------------- folders


def test_list_images_sorted_recursive_case_insensitive_hidden_skipped(tmp_path):
    img = np.zeros((4, 4, 3), np.float32)
    names = ["b.png", "a/z.TIF", "a/b/c.JPeg", "A.bmp", "c.tiff", "d.jpg", ".hidden.png", ".synth/x.png",
             ".x.png.1234.tmp.png"]
    for n in names:
        p = tmp_path / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "dir.png").mkdir()
    write_image(tmp_path / "e.png", img)
    got = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert got == ["A.bmp", "a/b/c.JPeg", "a/z.TIF", "b.png", "c.tiff", "d.jpg", "e.png"]
    flat = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path, recursive=False)]
    assert flat == ["A.bmp", "b.png", "c.tiff", "d.jpg", "e.png"]
    assert {s.lower() for s in IMAGE_SUFFIXES} == {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"}


def test_list_images_errors(tmp_path):
    with pytest.raises(UserError, match="no such folder") as ei:
        list_images(tmp_path / "missing")
    assert str(tmp_path / "missing") in str(ei.value)
    (tmp_path / "f.png").write_bytes(b"")
    with pytest.raises(UserError, match="not a folder"):
        list_images(tmp_path / "f.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"no images \(png, tif, jpg, bmp\) in .*empty"):
        list_images(tmp_path / "empty")
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "readme.txt").write_text("hi")
    with pytest.raises(UserError, match="no images"):
        list_images(tmp_path / "txt")
    (tmp_path / "deep" / "sub").mkdir(parents=True)
    (tmp_path / "deep" / "sub" / "x.png").write_bytes(b"")
    assert len(list_images(tmp_path / "deep")) == 1
    with pytest.raises(UserError, match="subfolders not searched"):
        list_images(tmp_path / "deep", recursive=False)


def test_list_images_survives_a_symlink_cycle(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.png").write_bytes(b"")
    try:
        os.symlink(tmp_path, tmp_path / "d" / "loop")
    except OSError:
        pytest.skip("no symlinks here")
    assert [p.name for p in list_images(tmp_path)] == ["x.png"]


# ---------------------------------------------------------------------------- samples


def test_sample_images():
    samples = sample_images()
    assert len(samples) >= 5
    names = [n for n, _ in samples]
    assert len(set(names)) == len(names) and all(n.startswith("skimage:") for n in names)
    for name, img in samples:
        assert img.dtype == np.float32 and img.ndim == 3 and img.shape[2] in (1, 3), name
        assert min(img.shape[:2]) >= 256, name
        assert 0.0 <= img.min() and img.max() <= 1.0 and img.max() > img.min(), name
    assert {"skimage:camera", "skimage:astronaut"} <= set(names)
    cam = dict(samples)["skimage:camera"]
    assert cam.shape == (512, 512, 1)


# ------------------------------------------------------------------- reference data


def test_reference_images_read_consistently():
    """Every image of ../shared/data/images decodes, and image_shape agrees with read_image."""
    folder = SHARED_DATA / "images"
    if not folder.is_dir():
        pytest.skip(f"reference data {folder} not present (../shared/data is not part of the repo)")
    paths = list_images(folder)
    assert len(paths) > 50
    for p in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ImageWarning)
            img = read_image(p)
        assert img.shape == image_shape(p), p
        assert img.dtype == np.float32 and 0.0 <= img.min() and img.max() <= 1.0
        if p.parent.name in ("Set12", "RNI6") or p.name == "bridge.bmp":
            assert img.shape[2] == 1, p
        else:
            assert img.shape[2] == 3, p
    # the PNG decoder agrees with Pillow on real-world PNGs too
    for p in sorted((folder / "Kodak24").glob("*.png"))[:3]:
        arr, _ = png16.decode_png(p.read_bytes())
        with Image.open(p) as im:
            np.testing.assert_array_equal(arr, np.asarray(im))
