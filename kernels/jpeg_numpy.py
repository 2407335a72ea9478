"""JPEG round trip as libjpeg-turbo computes it (the NumPy oracle of the JPEG kernels).

Why our own: no library returns decode(encode(x)) without entropy coding, and the GPU and Numba
kernels must reproduce libjpeg's integer arithmetic bit for bit; this file is their reference.

Tables and quantizer constants (shared by the Numba and CUDA twins, computed on the host):
:func:`quant_tables` is ``jpeg_set_quality(quality, force_baseline=TRUE)`` as Pillow calls it
(the quality-scaled ITU-T T.81 Annex K tables, clamped to 1..255); :func:`quant_divisors` is
libjpeg-turbo's reciprocal quantizer for the slow integer DCT, whose output is scaled by 8.

The round trip (:func:`roundtrip_u8`, one uint8 image) is a chain of small functions, one per
libjpeg step, on whole planes in int64: :func:`rgb_to_ycc`, :func:`downsample_plane` (edge
replication where libjpeg does it), :func:`fdct_islow`, :func:`quantize`, :func:`idct_islow`
with :func:`range_limit`, :func:`upsample_plane`, :func:`ycc_to_rgb`. It equals Pillow's
encode -> decode byte for byte (tests/test_jpeg_kernels.py). One deliberate choice: the IDCT
output saturates, as libjpeg-turbo's SIMD code (which Pillow runs) does, where the portable C
code's range-limit table would wrap (see :func:`range_limit`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

DCTSIZE2 = 64
SUBSAMPLING: dict[str, int] = {"444": 0, "422": 1, "420": 2}  # code per chroma subsampling

# ITU-T T.81 Annex K.1, row-major (natural) order
STD_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99], np.int64)
STD_CHROMINANCE = np.full(DCTSIZE2, 99, np.int64)
STD_CHROMINANCE[[0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 24, 25]] = [17, 18, 24, 47, 18, 21, 26, 66, 24, 26, 56, 47, 66]


def quality_scaling(quality: int) -> int:
    """The percentage scale of the basic tables for a quality factor (libjpeg's curve)."""
    q = min(max(int(quality), 1), 100)
    return 5000 // q if q < 50 else 200 - 2 * q


def quant_tables(quality: int) -> np.ndarray:
    """(2, 64) int32 quantization tables, natural order: [0] luminance, [1] chrominance."""
    scale = quality_scaling(quality)
    out = np.empty((2, DCTSIZE2), np.int32)
    for k, base in enumerate((STD_LUMINANCE, STD_CHROMINANCE)):
        out[k] = np.clip((base * scale + 50) // 100, 1, 255)
    return out


def quant_divisors(qtable: np.ndarray) -> np.ndarray:
    """(3, 64) int32 rows (reciprocal, correction, shift) of libjpeg-turbo's quantizer.

    A DCT coefficient ``x`` (scaled by 8) quantizes to
    ``sign(x) * (((|x| + correction) * reciprocal) >> shift)``, the integer form of rounding
    ``x / (8 q)`` half away from zero that ``compute_reciprocal`` sets up (16-bit reciprocal).
    """
    out = np.empty((3, DCTSIZE2), np.int32)
    for i, q in enumerate(np.asarray(qtable, np.int64).ravel()):
        divisor = int(q) << 3
        b = divisor.bit_length() - 1
        r = 16 + b
        fq, fr = divmod(1 << r, divisor)
        c = divisor // 2
        if fr == 0:  # a power of two: the reciprocal needs one bit less
            fq >>= 1
            r -= 1
        elif fr <= divisor // 2:
            c += 1
        else:
            fq += 1
        out[:, i] = (fq, c, r)
    return out


# --- the round trip, step by step (each step on whole planes, int64, libjpeg's arithmetic) ---

SCALEBITS = 16  # fixed-point fraction bits of the colour conversions
ONE_HALF = 1 << (SCALEBITS - 1)
CBCR_OFFSET = 128 << SCALEBITS
CONST_BITS = 13  # fixed-point fraction bits of the slow integer DCTs
PASS1_BITS = 2  # extra precision kept between the two DCT passes
# (h, v) sampling factors of Y and of the chroma components, per subsampling code
FACTORS = {0: ((1, 1), (1, 1)), 1: ((2, 1), (1, 1)), 2: ((2, 2), (1, 1))}


def fix(x: float, bits: int) -> int:
    """libjpeg's FIX(x): x in fixed point with ``bits`` fraction bits, rounded."""
    return int(x * (1 << bits) + 0.5)


# the 12 rotation constants of the LL&M slow integer DCT, FIX(c) with 13 fraction bits
F_0_298 = fix(0.298631336, CONST_BITS)
F_0_390 = fix(0.390180644, CONST_BITS)
F_0_541 = fix(0.541196100, CONST_BITS)
F_0_765 = fix(0.765366865, CONST_BITS)
F_0_899 = fix(0.899976223, CONST_BITS)
F_1_175 = fix(1.175875602, CONST_BITS)
F_1_501 = fix(1.501321110, CONST_BITS)
F_1_847 = fix(1.847759065, CONST_BITS)
F_1_961 = fix(1.961570560, CONST_BITS)
F_2_053 = fix(2.053119869, CONST_BITS)
F_2_562 = fix(2.562915447, CONST_BITS)
F_3_072 = fix(3.072711026, CONST_BITS)


def descale(x: np.ndarray, n: int) -> np.ndarray:
    """Round ``x / 2**n`` half up (libjpeg's DESCALE: add half, arithmetic shift right)."""
    return (x + (1 << (n - 1))) >> n


def rgb_to_ycc(img: np.ndarray) -> np.ndarray:
    """(3, H, W) int64 Y, Cb, Cr of an RGB uint8 image: jccolor.c's 16-bit fixed point.

    Y adds one half before the shift (rounds to nearest); Cb and Cr add 128 and one half
    less one (so 255 cannot round up to 256). Python ints floor like C's arithmetic shift.
    """
    r, g, b = (img[..., k].astype(np.int64) for k in range(3))
    y = (fix(0.299, 16) * r + fix(0.587, 16) * g + fix(0.114, 16) * b + ONE_HALF) >> SCALEBITS
    off = CBCR_OFFSET + ONE_HALF - 1
    cb = (-fix(0.16874, 16) * r - fix(0.33126, 16) * g + fix(0.5, 16) * b + off) >> SCALEBITS
    cr = (fix(0.5, 16) * r - fix(0.41869, 16) * g - fix(0.08131, 16) * b + off) >> SCALEBITS
    return np.stack([y, cb, cr])


def plane_geometry(height: int, width: int, h: int, v: int, hmax: int, vmax: int) -> tuple[int, int, int, int]:
    """(downsampled height, width, height in blocks, width in blocks) of one component."""
    dh = -(-height * v // vmax)
    dw = -(-width * h // hmax)
    return dh, dw, -(-dh // 8), -(-dw // 8)


def downsample_plane(plane: np.ndarray, h: int, v: int, hmax: int, vmax: int) -> np.ndarray:
    """One full-resolution component -> the (8 hb, 8 wb) plane the encoder transforms.

    Padding is done where libjpeg does it, because the downsampler's alternating bias makes
    the order matter: the full-resolution rows are replicated to the right up to the whole
    block width (jcsample expand_right_edge) and downward only to the row group of
    ``vmax`` rows (jcprepct); after downsampling, the last downsampled row is replicated
    down to whole blocks. Averages of 2 pixels add bias 0,1,0,1,... per output column, of
    2x2 pixels bias 1,2,1,2,... (then shift right by 1 or 2).
    """
    height, width = plane.shape
    _, _, hb, wb = plane_geometry(height, width, h, v, hmax, vmax)
    sx, sy = hmax // h, vmax // v
    rows = -(-height // vmax) * vmax
    p = np.pad(plane, ((0, rows - height), (0, wb * 8 * sx - width)), mode="edge")
    cols = np.arange(p.shape[1] // sx)
    if sx == 2 and sy == 2:
        p = (p[0::2, 0::2] + p[0::2, 1::2] + p[1::2, 0::2] + p[1::2, 1::2] + 1 + (cols & 1)) >> 2
    elif sx == 2 and sy == 1:
        p = (p[:, 0::2] + p[:, 1::2] + (cols & 1)) >> 1
    elif sx != 1 or sy != 1:
        raise ValueError(f"unsupported sampling factors {h}x{v} of {hmax}x{vmax}")
    return np.pad(p[: hb * 8], ((0, max(0, hb * 8 - p.shape[0])), (0, 0)), mode="edge")


def to_blocks(plane: np.ndarray) -> np.ndarray:
    """(8 hb, 8 wb) plane -> (hb, wb, 8, 8) blocks."""
    hb, wb = plane.shape[0] // 8, plane.shape[1] // 8
    return plane.reshape(hb, 8, wb, 8).transpose(0, 2, 1, 3)


def from_blocks(blocks: np.ndarray) -> np.ndarray:
    """(hb, wb, 8, 8) blocks -> (8 hb, 8 wb) plane."""
    hb, wb = blocks.shape[:2]
    return blocks.transpose(0, 2, 1, 3).reshape(hb * 8, wb * 8)


def _fdct_1d(d: list[np.ndarray], even_shift: int, odd_shift: int, even_descale: bool) -> list[np.ndarray]:
    """One pass of jfdctint.c's LL&M forward DCT on 8 arrays (a row or column of each block)."""
    tmp0, tmp7 = d[0] + d[7], d[0] - d[7]
    tmp1, tmp6 = d[1] + d[6], d[1] - d[6]
    tmp2, tmp5 = d[2] + d[5], d[2] - d[5]
    tmp3, tmp4 = d[3] + d[4], d[3] - d[4]
    tmp10, tmp13 = tmp0 + tmp3, tmp0 - tmp3
    tmp11, tmp12 = tmp1 + tmp2, tmp1 - tmp2
    out = [None] * 8
    if even_descale:  # pass 2: remove the PASS1_BITS scaling
        out[0], out[4] = descale(tmp10 + tmp11, even_shift), descale(tmp10 - tmp11, even_shift)
    else:  # pass 1: keep PASS1_BITS more bits
        out[0], out[4] = (tmp10 + tmp11) << PASS1_BITS, (tmp10 - tmp11) << PASS1_BITS
    z1 = (tmp12 + tmp13) * F_0_541
    out[2] = descale(z1 + tmp13 * F_0_765, odd_shift)
    out[6] = descale(z1 - tmp12 * F_1_847, odd_shift)
    z1, z2, z3, z4 = tmp4 + tmp7, tmp5 + tmp6, tmp4 + tmp6, tmp5 + tmp7
    z5 = (z3 + z4) * F_1_175
    tmp4, tmp5, tmp6, tmp7 = tmp4 * F_0_298, tmp5 * F_2_053, tmp6 * F_3_072, tmp7 * F_1_501
    z1, z2 = z1 * -F_0_899, z2 * -F_2_562
    z3, z4 = z3 * -F_1_961 + z5, z4 * -F_0_390 + z5
    out[7] = descale(tmp4 + z1 + z3, odd_shift)
    out[5] = descale(tmp5 + z2 + z4, odd_shift)
    out[3] = descale(tmp6 + z2 + z3, odd_shift)
    out[1] = descale(tmp7 + z1 + z4, odd_shift)
    return out


def fdct_islow(blocks: np.ndarray) -> np.ndarray:
    """jpeg_fdct_islow on (..., 8, 8) level-shifted samples: DCT coefficients scaled by 8.

    Rows first (results kept with 2 extra bits), then columns; every product is rounded by
    DESCALE with 13 (+-2) fraction bits as in jfdctint.c.
    """
    b = blocks.astype(np.int64)
    rows = _fdct_1d([b[..., k] for k in range(8)], 0, CONST_BITS - PASS1_BITS, False)
    b = np.stack(rows, axis=-1)
    cols = _fdct_1d([b[..., k, :] for k in range(8)], PASS1_BITS, CONST_BITS + PASS1_BITS, True)
    return np.stack(cols, axis=-2)


def quantize(coef: np.ndarray, divisors: np.ndarray) -> np.ndarray:
    """libjpeg-turbo's quantizer: ``sign(x) * (((|x| + correction) * reciprocal) >> shift)``.

    Equals rounding ``x / (8 q)`` to nearest, halves away from zero, with the 16-bit
    reciprocal of :func:`quant_divisors` (``coef`` is (..., 8, 8), natural order).
    """
    recip, corr, shift = (divisors[k].astype(np.int64).reshape(8, 8) for k in range(3))
    mag = ((np.abs(coef) + corr) * recip) >> shift
    return np.where(coef < 0, -mag, mag)


def range_limit(x: np.ndarray) -> np.ndarray:
    """Level shift and clamp of the IDCT output: ``clip(x + 128, 0, 255)``.

    This is what Pillow's libjpeg-turbo computes: its SIMD inverse DCTs (SSE2/AVX2 on x86-64,
    NEON on ARM) pack the descaled values to bytes with signed saturation and add 128.
    libjpeg's portable C code instead looks ``x & 1023`` up in jdmaster.c's table, which
    agrees for ``x`` in [-512, 511] but wraps beyond (e.g. -561 -> 255). Such values occur
    only at the lowest qualities on adversarial blocks; the tests pin the saturating form
    against Pillow with one (see :data:`WRAP_BLOCK` in tests/test_jpeg_kernels.py).
    """
    return np.clip(x + 128, 0, 255)


def idct_islow(qcoef: np.ndarray, qtable: np.ndarray, limit: bool = True) -> np.ndarray:
    """jpeg_idct_islow: dequantize (``coef * q``), columns then rows, range-limit to 0..255.

    Pass 1 keeps 2 extra bits (DESCALE by 11); pass 2 descales by 18 (13 + 2 + 3). The
    shortcuts of jidctint.c for all-zero AC columns and rows give the same values as the
    full computation, so none are needed here. ``limit=False`` returns the descaled values
    before the level shift and range limit.
    """
    d = qcoef.astype(np.int64) * np.asarray(qtable, np.int64).reshape(8, 8)

    def one_pass(x: list[np.ndarray], shift: int) -> list[np.ndarray]:
        z2, z3 = x[2], x[6]
        z1 = (z2 + z3) * F_0_541
        tmp2, tmp3 = z1 - z3 * F_1_847, z1 + z2 * F_0_765
        tmp0, tmp1 = (x[0] + x[4]) << CONST_BITS, (x[0] - x[4]) << CONST_BITS
        tmp10, tmp13, tmp11, tmp12 = tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2
        tmp0, tmp1, tmp2, tmp3 = x[7], x[5], x[3], x[1]
        z1, z2, z3, z4 = tmp0 + tmp3, tmp1 + tmp2, tmp0 + tmp2, tmp1 + tmp3
        z5 = (z3 + z4) * F_1_175
        tmp0, tmp1, tmp2, tmp3 = tmp0 * F_0_298, tmp1 * F_2_053, tmp2 * F_3_072, tmp3 * F_1_501
        z1, z2 = z1 * -F_0_899, z2 * -F_2_562
        z3, z4 = z3 * -F_1_961 + z5, z4 * -F_0_390 + z5
        tmp0, tmp1, tmp2, tmp3 = tmp0 + z1 + z3, tmp1 + z2 + z4, tmp2 + z2 + z3, tmp3 + z1 + z4
        return [descale(a, shift) for a in (tmp10 + tmp3, tmp11 + tmp2, tmp12 + tmp1, tmp13 + tmp0,
                                            tmp13 - tmp0, tmp12 - tmp1, tmp11 - tmp2, tmp10 - tmp3)]

    ws = np.stack(one_pass([d[..., k, :] for k in range(8)], CONST_BITS - PASS1_BITS), axis=-2)
    out = np.stack(one_pass([ws[..., k] for k in range(8)], CONST_BITS + PASS1_BITS + 3), axis=-1)
    return range_limit(out) if limit else out  # limit=False: the centred values, for the tests


def upsample_plane(plane: np.ndarray, sx: int, sy: int, fancy: bool = True) -> np.ndarray:
    """A decoded (dh, dw) component -> (sy dh, sx dw), as jdsample.c does it.

    Fancy (triangle) upsampling when the plane is wider than 2 samples: output pixels weigh
    the nearer input sample 3/4 and the farther 1/4 in each doubled direction. h2v1 rounds
    ``(3 a + b + 1) >> 2`` left and ``+ 2`` right; h2v2 forms column sums ``3 near + far``
    over rows (the row above row 0 is row 0, the row below the last is the last) and then
    ``(3 s + s' + 8) >> 4`` / ``+ 7``. The outermost output columns copy the edge sample
    (h2v1) or use ``4 s`` (h2v2). Otherwise each sample is replicated.
    """
    if sx == 1 and sy == 1:
        return plane
    dh, dw = plane.shape
    if not fancy or dw <= 2 or sx != 2:
        return np.repeat(np.repeat(plane, sy, axis=0), sx, axis=1)
    if sy == 1:
        left = np.concatenate([plane[:, :1], plane[:, :-1]], axis=1)
        right = np.concatenate([plane[:, 1:], plane[:, -1:]], axis=1)
        out = np.empty((dh, 2 * dw), np.int64)
        out[:, 0::2] = (3 * plane + left + 1) >> 2
        out[:, 1::2] = (3 * plane + right + 2) >> 2
        out[:, 0], out[:, -1] = plane[:, 0], plane[:, -1]
        return out
    above = np.concatenate([plane[:1], plane[:-1]], axis=0)
    below = np.concatenate([plane[1:], plane[-1:]], axis=0)
    out = np.empty((2 * dh, 2 * dw), np.int64)
    for v, far in enumerate((above, below)):
        s = 3 * plane + far  # column sums, nearer row weighted 3
        left = np.concatenate([s[:, :1], s[:, :-1]], axis=1)
        right = np.concatenate([s[:, 1:], s[:, -1:]], axis=1)
        even = (3 * s + left + 8) >> 4
        odd = (3 * s + right + 7) >> 4
        even[:, 0] = (4 * s[:, 0] + 8) >> 4
        odd[:, -1] = (4 * s[:, -1] + 7) >> 4
        out[v::2, 0::2], out[v::2, 1::2] = even, odd
    return out


def ycc_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB from Y, Cb, Cr: jdcolor.c's tables, clamped to 0..255.

    R = Y + round(1.402 (Cr-128)), B = Y + round(1.772 (Cb-128)) (each rounded on its own,
    half up), G = Y + ((-0.71414 (Cr-128) - 0.34414 (Cb-128) + 1/2) >> 16) in 16-bit fixed point.
    """
    cbx, crx = cb.astype(np.int64) - 128, cr.astype(np.int64) - 128
    r = y + ((fix(1.402, 16) * crx + ONE_HALF) >> SCALEBITS)
    b = y + ((fix(1.772, 16) * cbx + ONE_HALF) >> SCALEBITS)
    g = y + ((-fix(0.71414, 16) * crx - fix(0.34414, 16) * cbx + ONE_HALF) >> SCALEBITS)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def compress_plane(plane: np.ndarray, qtable: np.ndarray) -> np.ndarray:
    """Encode and decode one padded component plane: level shift, FDCT, quantize, IDCT."""
    blocks = to_blocks(plane) - 128
    q = quantize(fdct_islow(blocks), quant_divisors(qtable))
    return from_blocks(idct_islow(q, qtable))


def roundtrip_u8(img: np.ndarray, quality: int, subsampling: str = "420") -> np.ndarray:
    """decode(encode(img)) as Pillow + libjpeg-turbo compute it, for one (H, W, C) uint8 image.

    C is 3 (RGB, converted to YCbCr, chroma subsampled per ``subsampling``: '444', '422',
    '420') or 1 (one gray component with the luminance table; ``subsampling`` is ignored).
    """
    img = np.asarray(img, np.uint8)
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ValueError(f"roundtrip_u8: expected (H, W, 1|3) uint8, got shape {img.shape}")
    if subsampling not in SUBSAMPLING:
        raise ValueError(f"roundtrip_u8: subsampling must be one of {', '.join(SUBSAMPLING)}, got {subsampling!r}")
    height, width, c = img.shape
    tables = quant_tables(quality)
    if c == 1:
        comps, factors = [img[..., 0].astype(np.int64)], [(1, 1)]
    else:
        comps = list(rgb_to_ycc(img))
        luma, chroma = FACTORS[SUBSAMPLING[subsampling]]
        factors = [luma, chroma, chroma]
    hmax, vmax = max(f[0] for f in factors), max(f[1] for f in factors)
    out = []
    for k, (plane, (h, v)) in enumerate(zip(comps, factors)):
        dh, dw, _, _ = plane_geometry(height, width, h, v, hmax, vmax)
        dec = compress_plane(downsample_plane(plane, h, v, hmax, vmax), tables[min(k, 1)])[:dh, :dw]
        out.append(upsample_plane(dec, hmax // h, vmax // v)[:height, :width])
    if c == 1:
        return out[0].astype(np.uint8)[..., None]
    return ycc_to_rgb(*out)


# --- host-side constants of the Numba and CUDA twins ---


@lru_cache(maxsize=128)
def quality_constants(quality: int) -> tuple[np.ndarray, np.ndarray]:
    """(2, 64) quantization tables and (2, 3, 64) quantizer divisors of a quality (int32)."""
    qt = quant_tables(max(quality, 1))
    return qt, np.stack([quant_divisors(t) for t in qt])


def batch_constants(quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2, 64) tables and (N, 2, 3, 64) divisors of per-sample qualities."""
    pairs = [quality_constants(int(q)) for q in quality]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
