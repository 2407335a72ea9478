"""Numba CPU kernel of the JPEG round trip (the maths and every rounding: ``jpeg_numpy.py``).

Longer than ~400 lines on purpose: the family's Numba kernels stay in one file, in the order of
the NumPy oracle and the CUDA file they mirror, so the twins can be read side by side.

Why our own: libjpeg needs the entropy coder and one call per image; this kernel does only the
lossy part (Huffman coding is lossless), on a whole float batch, in parallel, bit for bit.

Two phases per image:

1. **encode + decode** per MCU row: float -> uint8 (``clip(rint(x * 255))``) -> YCbCr of the MCU
   row's full-resolution rows (columns and rows past the image clamped to the last one: libjpeg's
   edge replication), chroma downsampling with the alternating bias (rows past the last real
   downsampled row copy it, as jcprepct pads after downsampling), then per 8-row block strip:
   level shift, forward DCT, quantize, dequantize, inverse DCT, saturate. The decoded component
   planes (uint8) go to a batch buffer.
2. **upsample + colour** per band of rows: fancy (triangle) chroma upsampling with the context
   rows above/below (phase 1 has finished every row), YCbCr -> RGB, ``u / 255`` in float32
   (IEEE division: the bits of NumPy's).

A batch of at least as many images as threads runs one image per task (one parallel region, no
barrier between the phases); a smaller one runs each phase parallel over MCU rows / row bands.

How the speed is had (single thread, 8 x 512^2 RGB q90 4:2:0: 6 ms phase 1 + 3 ms phase 2):

* The 8x8 transforms of a block strip work on planar layouts, sample (r, k) of block b at
  ``A[8 k + r, b]`` (row passes) or ``B[8 r + k, b]`` (column passes, quantizer): every 1-D
  pass is one scalar code path over 8 arrays, and the loop over blocks ``b`` vectorises
  (16 int32 lanes with AVX-512). The first and last passes read / write the natural layout
  directly (an interleaved access LLVM vectorises). Each pass writes its 8 outputs 8 rows
  apart: writing 8 adjacent rows measured 2-3x slower.
* int32 arithmetic: Numba widens int32 operations to int64 (half the lanes, and vpmullq), so
  every intermediate is cast back (``I32``), and the sums before each right shift too. All
  intermediates of the slow integer DCTs fit in 32 bits (libjpeg-turbo's SIMD code works in
  16/32-bit lanes as well).
* colour conversions compute libjpeg's table entries (``i * FIX(c)`` + rounding constant)
  arithmetically instead of reading tables (gathers); float -> uint8 rounds with the
  1.5 * 2**23 trick (Numba's ``np.rint`` is a function call per value, 10x slower).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from imgrestore.kernels import jpeg_numpy as J

# the slow integer DCTs' 13-bit constants and the colour conversions' 16-bit FIX(c), from the oracle
F_0_298, F_0_390, F_0_541, F_0_765 = (np.int32(v) for v in (J.F_0_298, J.F_0_390, J.F_0_541, J.F_0_765))
F_0_899, F_1_175, F_1_501, F_1_847 = (np.int32(v) for v in (J.F_0_899, J.F_1_175, J.F_1_501, J.F_1_847))
F_1_961, F_2_053, F_2_562, F_3_072 = (np.int32(v) for v in (J.F_1_961, J.F_2_053, J.F_2_562, J.F_3_072))
F255 = np.float32(255.0)
I32 = np.int32  # every intermediate is cast back: Numba widens int32 arithmetic to int64
F0 = np.float32(0.0)
MAGIC = np.float32(12582912.0)  # 1.5 * 2**23: float32 round-to-nearest-even
S16 = np.int32(J.SCALEBITS)
HALF16 = np.int32(J.ONE_HALF)
CBCR_ROUND = np.int32(J.CBCR_OFFSET + J.ONE_HALF - 1)
Y_R, Y_G, Y_B = (np.int32(J.fix(c, 16)) for c in (0.299, 0.587, 0.114))
CB_R, CB_G, C_HALF = np.int32(-J.fix(0.16874, 16)), np.int32(-J.fix(0.33126, 16)), np.int32(J.fix(0.5, 16))
CR_G, CR_B = np.int32(-J.fix(0.41869, 16)), np.int32(-J.fix(0.08131, 16))
R_CR, B_CB = np.int32(J.fix(1.402, 16)), np.int32(J.fix(1.772, 16))
G_CB, G_CR = np.int32(-J.fix(0.34414, 16)), np.int32(-J.fix(0.71414, 16))
BAND = 16  # output rows per phase-2 task

_OPTS = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False)


@nb.njit(inline="always", **_OPTS)
def fdct_1d(d0, d1, d2, d3, d4, d5, d6, d7):
    """One 1-D pass of the slow integer forward DCT, before descaling, in natural order: the
    even outputs 0 and 4 are unscaled sums, the rest carry the 13-bit constants."""
    tmp0 = I32(d0 + d7)
    tmp7 = I32(d0 - d7)
    tmp1 = I32(d1 + d6)
    tmp6 = I32(d1 - d6)
    tmp2 = I32(d2 + d5)
    tmp5 = I32(d2 - d5)
    tmp3 = I32(d3 + d4)
    tmp4 = I32(d3 - d4)
    tmp10 = I32(tmp0 + tmp3)
    tmp13 = I32(tmp0 - tmp3)
    tmp11 = I32(tmp1 + tmp2)
    tmp12 = I32(tmp1 - tmp2)
    z1 = I32((tmp12 + tmp13) * F_0_541)
    e2 = I32(z1 + tmp13 * F_0_765)
    e6 = I32(z1 - tmp12 * F_1_847)
    z1 = I32(tmp4 + tmp7)
    z2 = I32(tmp5 + tmp6)
    z3 = I32(tmp4 + tmp6)
    z4 = I32(tmp5 + tmp7)
    z5 = I32((z3 + z4) * F_1_175)
    z1 = I32(z1 * -F_0_899)
    z2 = I32(z2 * -F_2_562)
    z3 = I32(z3 * -F_1_961 + z5)
    z4 = I32(z4 * -F_0_390 + z5)
    return (I32(tmp10 + tmp11), I32(tmp7 * F_1_501 + z1 + z4), e2, I32(tmp6 * F_3_072 + z2 + z3),
            I32(tmp10 - tmp11), I32(tmp5 * F_2_053 + z2 + z4), e6, I32(tmp4 * F_0_298 + z1 + z3))


@nb.njit(inline="always", **_OPTS)
def idct_1d(x0, x1, x2, x3, x4, x5, x6, x7):
    """One 1-D pass of the slow integer inverse DCT, before descaling, in natural order."""
    z1 = I32((x2 + x6) * F_0_541)
    tmp2 = I32(z1 - x6 * F_1_847)
    tmp3 = I32(z1 + x2 * F_0_765)
    tmp0 = I32((x0 + x4) << 13)
    tmp1 = I32((x0 - x4) << 13)
    tmp10 = I32(tmp0 + tmp3)
    tmp13 = I32(tmp0 - tmp3)
    tmp11 = I32(tmp1 + tmp2)
    tmp12 = I32(tmp1 - tmp2)
    z1 = I32(x7 + x1)
    z2 = I32(x5 + x3)
    z3 = I32(x7 + x3)
    z4 = I32(x5 + x1)
    z5 = I32((z3 + z4) * F_1_175)
    z1 = I32(z1 * -F_0_899)
    z2 = I32(z2 * -F_2_562)
    z3 = I32(z3 * -F_1_961 + z5)
    z4 = I32(z4 * -F_0_390 + z5)
    t0 = I32(x7 * F_0_298 + z1 + z3)
    t1 = I32(x5 * F_2_053 + z2 + z4)
    t2 = I32(x3 * F_3_072 + z2 + z3)
    t3 = I32(x1 * F_1_501 + z1 + z4)
    return (I32(tmp10 + t3), I32(tmp11 + t2), I32(tmp12 + t1), I32(tmp13 + t0),
            I32(tmp13 - t0), I32(tmp12 - t1), I32(tmp11 - t2), I32(tmp10 - t3))


@nb.njit(**_OPTS)
def fdct_rows(src, r0, A, nb_):
    """Level shift and forward DCT pass 1 (along k) of the strip rows ``src[r0:r0+8]`` (natural
    layout, block b at columns 8b..8b+7) into ``A`` (horizontal-major), results scaled by 4."""
    for r in range(8):
        row = src[r0 + r]
        for b in range(nb_):
            o0, o1, o2, o3, o4, o5, o6, o7 = fdct_1d(
                row[8 * b + 0] - 128, row[8 * b + 1] - 128, row[8 * b + 2] - 128, row[8 * b + 3] - 128,
                row[8 * b + 4] - 128, row[8 * b + 5] - 128, row[8 * b + 6] - 128, row[8 * b + 7] - 128)
            A[0 * 8 + r, b] = o0 << 2
            A[4 * 8 + r, b] = o4 << 2
            A[2 * 8 + r, b] = np.int32(o2 + 1024) >> 11
            A[6 * 8 + r, b] = np.int32(o6 + 1024) >> 11
            A[7 * 8 + r, b] = np.int32(o7 + 1024) >> 11
            A[5 * 8 + r, b] = np.int32(o5 + 1024) >> 11
            A[3 * 8 + r, b] = np.int32(o3 + 1024) >> 11
            A[1 * 8 + r, b] = np.int32(o1 + 1024) >> 11


@nb.njit(**_OPTS)
def fdct_cols_quant(A, B, nb_, qt, dv):
    """Forward DCT pass 2 (along r), then quantize and dequantize in place.

    Reads ``A[8 k + r]`` (column k), writes ``B[8 r + k]`` (natural coefficient order), where
    coefficient ``i`` quantizes with ``dv[:, i]`` (reciprocal, correction, shift) and is
    multiplied back by ``qt[i]``.
    """
    for k in range(8):
        for b in range(nb_):
            o0, o1, o2, o3, o4, o5, o6, o7 = fdct_1d(
                A[k * 8 + 0, b], A[k * 8 + 1, b], A[k * 8 + 2, b], A[k * 8 + 3, b],
                A[k * 8 + 4, b], A[k * 8 + 5, b], A[k * 8 + 6, b], A[k * 8 + 7, b])
            B[0 * 8 + k, b] = np.int32(o0 + 2) >> 2
            B[4 * 8 + k, b] = np.int32(o4 + 2) >> 2
            B[2 * 8 + k, b] = np.int32(o2 + 16384) >> 15
            B[6 * 8 + k, b] = np.int32(o6 + 16384) >> 15
            B[7 * 8 + k, b] = np.int32(o7 + 16384) >> 15
            B[5 * 8 + k, b] = np.int32(o5 + 16384) >> 15
            B[3 * 8 + k, b] = np.int32(o3 + 16384) >> 15
            B[1 * 8 + k, b] = np.int32(o1 + 16384) >> 15
    for i in range(64):
        rec = dv[0, i]
        cor = dv[1, i]
        sh = dv[2, i]
        q = qt[i]
        row = B[i]
        for b in range(nb_):
            x = row[b]
            m = I32(np.int32((abs(x) + cor) * rec) >> sh)
            row[b] = (-m if x < 0 else m) * q


@nb.njit(**_OPTS)
def idct_cols(B, nb_):
    """Inverse DCT pass 1 (along r, each column k), results scaled by 4 (DESCALE by 11)."""
    for k in range(8):
        for b in range(nb_):
            o0, o1, o2, o3, o4, o5, o6, o7 = idct_1d(
                B[0 * 8 + k, b], B[1 * 8 + k, b], B[2 * 8 + k, b], B[3 * 8 + k, b],
                B[4 * 8 + k, b], B[5 * 8 + k, b], B[6 * 8 + k, b], B[7 * 8 + k, b])
            B[0 * 8 + k, b] = np.int32(o0 + 1024) >> 11
            B[7 * 8 + k, b] = np.int32(o7 + 1024) >> 11
            B[1 * 8 + k, b] = np.int32(o1 + 1024) >> 11
            B[6 * 8 + k, b] = np.int32(o6 + 1024) >> 11
            B[2 * 8 + k, b] = np.int32(o2 + 1024) >> 11
            B[5 * 8 + k, b] = np.int32(o5 + 1024) >> 11
            B[3 * 8 + k, b] = np.int32(o3 + 1024) >> 11
            B[4 * 8 + k, b] = np.int32(o4 + 1024) >> 11


@nb.njit(inline="always", **_OPTS)
def clamp_shift(v):
    """Descale by 18 and level-shift with saturation (libjpeg-turbo's SIMD range limit)."""
    v = I32((np.int32(v + 131072) >> 18) + 128)
    return min(max(v, 0), 255)


@nb.njit(**_OPTS)
def idct_rows(B, dst, d0, nb_):
    """Inverse DCT pass 2 (along k, each row r): DESCALE by 18, +128, clamp to 0..255, stored
    as uint8 into ``dst[d0:d0+8]`` (natural layout)."""
    for r in range(8):
        out = dst[d0 + r]
        for b in range(nb_):
            o0, o1, o2, o3, o4, o5, o6, o7 = idct_1d(
                B[r * 8 + 0, b], B[r * 8 + 1, b], B[r * 8 + 2, b], B[r * 8 + 3, b],
                B[r * 8 + 4, b], B[r * 8 + 5, b], B[r * 8 + 6, b], B[r * 8 + 7, b])
            out[8 * b + 0] = clamp_shift(o0)
            out[8 * b + 7] = clamp_shift(o7)
            out[8 * b + 1] = clamp_shift(o1)
            out[8 * b + 6] = clamp_shift(o6)
            out[8 * b + 2] = clamp_shift(o2)
            out[8 * b + 5] = clamp_shift(o5)
            out[8 * b + 3] = clamp_shift(o3)
            out[8 * b + 4] = clamp_shift(o4)


@nb.njit(**_OPTS)
def strip_roundtrip(src, r0, nb_, qt, dv, A, B, dst, d0):
    """Encode+decode the 8-row block strip ``src[r0:r0+8, :8 nb]`` into ``dst[d0:d0+8]`` (uint8).

    Sample (r, k) of block b lives at ``A[8 k + r, b]`` (horizontal-major) in the row passes
    and at ``B[8 r + k, b]`` (natural order) in the column passes and the quantizer: each pass
    writes its 8 outputs 8 rows apart, which measured 2-3x faster than 8 adjacent rows.
    """
    fdct_rows(src, r0, A, nb_)
    fdct_cols_quant(A, B, nb_, qt, dv)
    idct_cols(B, nb_)
    idct_rows(B, dst, d0, nb_)


@nb.njit(inline="always", **_OPTS)
def to_u8(v):
    """``clip(rint(v * 255), 0, 255)`` in float32, as the plugin converts.

    Clamping before rounding gives the same integers; adding and subtracting 1.5 * 2**23
    rounds a float32 in [0, 255] half to even like ``rint`` (and vectorises, where Numba's
    ``np.rint`` is a call per value, 10x slower).
    """
    v = min(max(v * F255, F0), F255)
    return np.int32((v + MAGIC) - MAGIC)


@nb.njit(**_OPTS)
def rgb_row_to_ycc(src, W, wm, yr, cbr, crr, tmp):
    """One float RGB row -> Y, Cb, Cr (jccolor.c), replicated from column W-1 up to ``wm``.

    libjpeg's tables hold ``i * FIX(c)`` (plus the rounding constants), so the sums of
    products below are the same integers. The float -> uint8 step runs first over the
    whole interleaved row (``tmp``, 3W values), which vectorises better than per pixel.
    """
    flat = src.reshape(3 * W)
    for c in range(3 * W):
        tmp[c] = to_u8(flat[c])
    for c in range(W):
        rv = tmp[3 * c]
        gv = tmp[3 * c + 1]
        bv = tmp[3 * c + 2]
        yr[c] = np.int32(Y_R * rv + Y_G * gv + Y_B * bv + HALF16) >> S16
        cbr[c] = np.int32(CB_R * rv + CB_G * gv + C_HALF * bv + CBCR_ROUND) >> S16
        crr[c] = np.int32(C_HALF * rv + CR_G * gv + CR_B * bv + CBCR_ROUND) >> S16
    for c in range(W, wm):
        yr[c] = yr[W - 1]
        cbr[c] = cbr[W - 1]
        crr[c] = crr[W - 1]


@nb.njit(**_OPTS)
def gray_row(src, W, wm, yr):
    """One float gray row -> samples, replicated from column W-1 up to ``wm``."""
    for c in range(W):
        yr[c] = to_u8(src[c, 0])
    for c in range(W, wm):
        yr[c] = yr[W - 1]


@nb.njit(**_OPTS)
def encode_mcu_row(x, n, m, hy, vy, qt, dv, dec, ybuf, cbuf, crbuf, dsbuf, A, B):
    """Phase 1 for MCU row ``m`` of image ``n``: decoded planes into ``dec[n, 0..C-1]``.

    With chroma subsampling, each chroma row is downsampled right after its ``vy`` full rows
    are converted (``cbuf``/``crbuf`` rows 0..vy-1, reused), into ``dsbuf`` rows 0-7 (Cb) and
    8-15 (Cr), so the full-resolution chroma never leaves the L1 cache.
    """
    _, H, W, C = x.shape
    rows = 8 * vy
    r0 = m * rows
    wm = ((W + 8 * hy - 1) // (8 * hy)) * 8 * hy  # full-resolution width of whole MCUs
    tmp = np.empty(3 * W, np.int32)
    hb_y = (H + 7) // 8
    wb_y = (W + 7) // 8
    if C == 1:
        for rr in range(rows):
            gray_row(x[n, min(r0 + rr, H - 1)], W, wm, ybuf[rr])
    elif hy == 1:  # 4:4:4: whole full-resolution rows (past the image they repeat row H-1)
        for rr in range(rows):
            rgb_row_to_ycc(x[n, min(r0 + rr, H - 1)], W, wm, ybuf[rr], cbuf[rr], crbuf[rr], tmp)
    else:
        dh = (H + vy - 1) // vy
        wc = 8 * ((((W + hy - 1) // hy) + 7) // 8)  # downsampled width of whole blocks
        for ii in range(8):
            for j in range(vy):
                rr = ii * vy + j
                rgb_row_to_ycc(x[n, min(r0 + rr, H - 1)], W, wm, ybuf[rr], cbuf[j], crbuf[j], tmp)
            if m * 8 + ii >= dh:  # below the last real downsampled row: a copy of it
                for k in range(wc):
                    dsbuf[ii, k] = dsbuf[dh - 1 - m * 8, k]
                    dsbuf[8 + ii, k] = dsbuf[8 + dh - 1 - m * 8, k]
            elif vy == 2:
                downsample_h2v2(cbuf[0], cbuf[1], dsbuf[ii], wc)
                downsample_h2v2(crbuf[0], crbuf[1], dsbuf[8 + ii], wc)
            else:
                downsample_h2v1(cbuf[0], dsbuf[ii], wc)
                downsample_h2v1(crbuf[0], dsbuf[8 + ii], wc)
    # luminance (or gray): vy block rows, skipping those past the last real block row
    for by in range(vy):
        brow = m * vy + by
        if brow < hb_y:
            strip_roundtrip(ybuf, 8 * by, wb_y, qt[0], dv[0], A, B, dec[n, 0], 8 * brow)
    if C == 1:
        return
    wb_c = (((W + hy - 1) // hy) + 7) // 8
    for comp in range(2):
        if hy == 1:
            strip_roundtrip(cbuf if comp == 0 else crbuf, 0, wb_c, qt[1], dv[1], A, B, dec[n, 1 + comp], 8 * m)
        else:
            strip_roundtrip(dsbuf, 8 * comp, wb_c, qt[1], dv[1], A, B, dec[n, 1 + comp], 8 * m)


@nb.njit(**_OPTS)
def downsample_h2v2(a, b, out, wc):
    """2x2 averages with jcsample's bias 1, 2, 1, 2, ... per output column."""
    for k in range(wc):
        out[k] = np.int32(a[2 * k] + a[2 * k + 1] + b[2 * k] + b[2 * k + 1] + 1 + (k & 1)) >> 2


@nb.njit(**_OPTS)
def downsample_h2v1(a, out, wc):
    """2x1 averages with jcsample's bias 0, 1, 0, 1, ... per output column."""
    for k in range(wc):
        out[k] = np.int32(a[2 * k] + a[2 * k + 1] + (k & 1)) >> 1

@nb.njit(**_OPTS)
def upsample_row(plane, i, far, dw, hy, vy, W, out, s):
    """Row of chroma at full resolution (``W`` samples) from the decoded plane, jdsample.c style.

    ``i`` is the nearest downsampled row, ``far`` the context row (h2v2 only).
    """
    row = plane[i]
    if hy == 1:
        for c in range(W):
            out[c] = row[c]
        return
    if dw <= 2:  # jdsample: no fancy upsampling of planes 1 or 2 samples wide
        for c in range(W):
            out[c] = row[c >> 1]
        return
    if vy == 1:
        out[0] = row[0]
        out[1] = np.int32(3 * np.int32(row[0]) + row[1] + 2) >> 2
        for k in range(1, dw - 1):  # both outputs in one loop: an interleaved store, vectorised
            v3 = 3 * np.int32(row[k])
            out[2 * k] = np.int32(v3 + row[k - 1] + 1) >> 2
            out[2 * k + 1] = np.int32(v3 + row[k + 1] + 2) >> 2
        out[2 * dw - 2] = np.int32(3 * np.int32(row[dw - 1]) + row[dw - 2] + 1) >> 2
        out[2 * dw - 1] = row[dw - 1]
        return
    frow = plane[far]
    for k in range(dw):
        s[k] = 3 * np.int32(row[k]) + frow[k]
    out[0] = np.int32(4 * s[0] + 8) >> 4
    out[1] = np.int32(3 * s[0] + s[1] + 7) >> 4
    for k in range(1, dw - 1):
        out[2 * k] = np.int32(3 * s[k] + s[k - 1] + 8) >> 4
        out[2 * k + 1] = np.int32(3 * s[k] + s[k + 1] + 7) >> 4
    out[2 * dw - 2] = np.int32(3 * s[dw - 1] + s[dw - 2] + 8) >> 4
    out[2 * dw - 1] = np.int32(4 * s[dw - 1] + 7) >> 4


@nb.njit(**_OPTS)
def scratch(W):
    """Phase-1 scratch buffers of one task: Y, Cb, Cr full-resolution rows x 16, downsampled
    Cb and Cr rows (16), the transform layouts A and B."""
    wpad = ((W + 15) // 16) * 16
    return (np.empty((16, wpad), np.int32), np.empty((16, wpad), np.int32), np.empty((16, wpad), np.int32),
            np.empty((16, wpad), np.int32), np.empty((64, wpad // 8), np.int32), np.empty((64, wpad // 8), np.int32))


@nb.njit(**_OPTS)
def encode_task(x, n, m, quality, hys, vys, qts, dvs, dec, buf):
    """Phase 1 of MCU row ``m`` of image ``n`` (no-op past the end or for quality 0)."""
    _, H, W, _ = x.shape
    vy = vys[n]
    if quality[n] == 0 or m * 8 * vy >= H:
        return
    encode_mcu_row(x, n, m, hys[n], vy, qts[n], dvs[n], dec, buf[0], buf[1], buf[2], buf[3], buf[4], buf[5])


@nb.njit(**_OPTS)
def decode_band(x, n, rb, quality, hys, vys, dec, out):
    """Phase 2 of rows ``[rb BAND, (rb + 1) BAND)`` of image ``n`` (a copy for quality 0)."""
    _, H, W, C = x.shape
    r_end = min(H, (rb + 1) * BAND)
    if quality[n] == 0:
        for r in range(rb * BAND, r_end):
            src = x[n, r].reshape(W * C)
            o = out[n, r].reshape(W * C)
            for c in range(W * C):
                o[c] = src[c]
        return
    if C == 1:
        for r in range(rb * BAND, r_end):
            yrow = dec[n, 0, r]
            o = out[n, r].reshape(W)
            for c in range(W):
                o[c] = np.float32(yrow[c]) / F255
        return
    hy = hys[n]
    vy = vys[n]
    dh = (H + vy - 1) // vy
    dw = (W + hy - 1) // hy
    wpad = ((W + 15) // 16) * 16
    cb = np.empty(wpad, np.int32)
    cr = np.empty(wpad, np.int32)
    s = np.empty(wpad, np.int32)
    for r in range(rb * BAND, r_end):
        if vy == 2:
            i = r >> 1
            far = max(i - 1, 0) if (r & 1) == 0 else min(i + 1, dh - 1)
        else:
            i = r
            far = r
        upsample_row(dec[n, 1], i, far, dw, hy, vy, W, cb, s)
        upsample_row(dec[n, 2], i, far, dw, hy, vy, W, cr, s)
        ycc_row_to_rgb(dec[n, 0, r], cb, cr, W, out[n, r].reshape(3 * W))


@nb.njit(parallel=True, **_OPTS)
def roundtrip_rows(x, quality, hys, vys, qts, dvs, dec, out):
    """Both phases, each parallel over (image, MCU row) / (image, band): for small batches."""
    N, H, W, C = x.shape
    n_mcu = (H + 7) // 8  # enough MCU rows for any sampling (8-row MCUs); unused ones skip
    for t in nb.prange(N * n_mcu):
        encode_task(x, t // n_mcu, t % n_mcu, quality, hys, vys, qts, dvs, dec, scratch(W))
    n_band = (H + BAND - 1) // BAND
    for t in nb.prange(N * n_band):
        decode_band(x, t // n_band, t % n_band, quality, hys, vys, dec, out)


@nb.njit(parallel=True, **_OPTS)
def roundtrip_images(x, quality, hys, vys, qts, dvs, dec, out):
    """Both phases of each image in one task, parallel over images: one parallel region and
    no barrier between the phases (for batches of at least as many images as threads)."""
    N, H, W, C = x.shape
    n_mcu = (H + 7) // 8
    n_band = (H + BAND - 1) // BAND
    for n in nb.prange(N):
        buf = scratch(W)
        for m in range(n_mcu):
            encode_task(x, n, m, quality, hys, vys, qts, dvs, dec, buf)
        for rb in range(n_band):
            decode_band(x, n, rb, quality, hys, vys, dec, out)


@nb.njit(**_OPTS)
def ycc_row_to_rgb(yrow, cb, cr, W, o):
    """Y, Cb, Cr -> RGB (jdcolor.c, clamped) -> float32 ``u / 255`` (the bits of NumPy's division)
    into the flat interleaved output row ``o`` (3W values)."""
    for c in range(W):
        y = np.int32(yrow[c])
        cbv = cb[c] - 128
        crv = cr[c] - 128
        rv = min(max(y + (np.int32(R_CR * crv + HALF16) >> S16), 0), 255)
        gv = min(max(y + (np.int32(G_CB * cbv + G_CR * crv + HALF16) >> S16), 0), 255)
        bv = min(max(y + (np.int32(B_CB * cbv + HALF16) >> S16), 0), 255)
        o[3 * c] = np.float32(rv) / F255
        o[3 * c + 1] = np.float32(gv) / F255
        o[3 * c + 2] = np.float32(bv) / F255


def roundtrip(x: np.ndarray, quality: np.ndarray, sub: np.ndarray) -> np.ndarray:
    """decode(encode(x)) of a C-contiguous float32 (N, H, W, C) batch, C in {1, 3}.

    ``quality`` (N,) int32, 0 = copy the sample unchanged; ``sub`` (N,) int32 codes of
    ``jpeg_numpy.SUBSAMPLING`` (ignored for C == 1). Returns a new float32 batch.
    """
    from imgrestore.kernels.jpeg_numpy import batch_constants

    n, h, w, c = x.shape
    x = np.ascontiguousarray(x, np.float32)
    quality = np.ascontiguousarray(quality, np.int32)
    sub = np.ascontiguousarray(sub, np.int32) if c == 3 else np.zeros(n, np.int32)
    hys = np.where(sub > 0, 2, 1).astype(np.int32)
    vys = np.where(sub == 2, 2, 1).astype(np.int32)
    qts, dvs = batch_constants(quality)
    dec = np.empty((n, c, ((h + 7) // 8) * 8, ((w + 15) // 16) * 16), np.uint8)
    out = np.empty(x.shape, np.float32)
    if n >= nb.get_num_threads():
        roundtrip_images(x, quality, hys, vys, qts, dvs, dec, out)
    else:
        roundtrip_rows(x, quality, hys, vys, qts, dvs, dec, out)
    return out
