"""Counter-based Gaussian noise: Philox4x32-10 (Salmon et al., SC 2011) + Box-Muller.

Ours although NumPy, cuRAND and torch have Philox: none gives the same bits on NumPy, Numba and CUDA.

Why counter-based: the noise of pixel ``p`` of sample ``i`` is a pure function of
(key(seed, i, stage), p), so a kernel can generate it in parallel, in any order, on any
backend; the Numba kernels here and the CUDA kernels in ``camera.cu`` draw the very same
32-bit words (a NumPy version below is the test oracle; the Random123 known-answer vectors are
checked in the tests).

Layout: counter ``(q_lo, q_hi, stream, 0)`` for quad ``q = p // 4`` gives four 32-bit words
``x0..x3``; Box-Muller turns (x0, x1) and (x2, x3) into two pairs of standard normals, and
pixel ``p`` takes normal number ``p % 4``. The transform runs in float32 from the top 24 bits
of each word on every backend, with our own log and sin/cos (:func:`log_int24`,
:func:`sincos_turn`: the same float32 operations in NumPy, Numba and CUDA, no libm), so the
normals are bit-identical on every backend.
"""

from __future__ import annotations

import numba as nb
import numpy as np

M0 = np.uint32(0xD2511F53)
M1 = np.uint32(0xCD9E8D57)
W0 = np.uint32(0x9E3779B9)
W1 = np.uint32(0xBB67AE85)
ROUNDS = 10
# Box-Muller constants, float32 like the arithmetic (the float32 transform is ~3x faster than
# float64 and its 24-bit uniforms bound |z| by 5.77, a tail probability of 8e-9)
F1 = np.float32(1.0)
TWO_POW_M24 = np.float32(2.0**-24)
MINUS_TWO = np.float32(-2.0)
HALF = np.float32(0.5)
F0, F2, F24 = np.float32(0.0), np.float32(2.0), np.float32(24.0)
SQRT2 = np.float32(np.sqrt(2.0))
P16, P8, P4, P2 = np.float32(2.0**16), np.float32(2.0**8), np.float32(2.0**4), np.float32(2.0**2)
INV16, INV8, INV4, INV2 = np.float32(2.0**-16), np.float32(2.0**-8), np.float32(2.0**-4), np.float32(2.0**-2)
F16, F8 = np.float32(16.0), np.float32(8.0)
LN2 = np.float32(np.log(2.0))
L3, L5, L7, L9 = np.float32(1 / 3), np.float32(1 / 5), np.float32(1 / 7), np.float32(1 / 9)
F4 = np.float32(4.0)
HALF_PI = np.float32(np.pi / 2)
S3, S5, S7 = np.float32(-1 / 6), np.float32(1 / 120), np.float32(-1 / 5040)
C2, C4, C6, C8 = np.float32(-1 / 2), np.float32(1 / 24), np.float32(-1 / 720), np.float32(1 / 40320)


def sample_key(seed: int, index: int, stage: int) -> tuple[int, int]:
    """The Philox key (two uint32) of one sample's noise stream, from the run seed."""
    from imgrestore.rng import NOISE, sample_seed64

    k = sample_seed64(seed, index, stage, NOISE)
    return k & 0xFFFFFFFF, k >> 32


# -- Numba ------------------------------------------------------------------------------------
@nb.njit(inline="always", cache=True)
def _mulhilo(a, b):
    p = np.uint64(a) * np.uint64(b)
    return np.uint32(p >> np.uint64(32)), np.uint32(p & np.uint64(0xFFFFFFFF))


@nb.njit(cache=True)
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of one counter (c0..c3) under key (k0, k1): four uint32 words."""
    return _philox4x32_inline(np.uint32(c0), np.uint32(c1), np.uint32(c2), np.uint32(c3),
                              np.uint32(k0), np.uint32(k1))


@nb.njit(inline="always", cache=True)
def sincos_turn(v):
    """(cos 2 pi v, sin 2 pi v) for v in [0, 1), to 4e-7, by polynomials the compiler vectorises.

    v is split into a quarter turn k and a remainder a in [-pi/4, pi/4]; the Taylor series
    of sin (to a^7) and cos (to a^8) are exact to float32 rounding there, and the quadrant
    rotates the pair. Written once here and once in camera.cu, operation for operation.
    """
    t = v * F4
    kf = np.float32(np.floor(t + HALF))  # Numba's scalar floor/sqrt return float64: cast back
    a = (t - kf) * HALF_PI
    k = np.int32(kf)
    a2 = a * a
    s = a + a * a2 * (S3 + a2 * (S5 + a2 * S7))
    c = F1 + a2 * (C2 + a2 * (C4 + a2 * (C6 + a2 * C8)))
    odd = (k & 1) == 1
    x = s if odd else c
    y = c if odd else s
    sx = -F1 if (k == 1 or k == 2) else F1
    sy = -F1 if (k == 2 or k == 3) else F1
    return sx * x, sy * y


@nb.njit(inline="always", cache=True)
def log_int24(a):
    """ln(a * 2^-24) for an integer 1 <= a <= 2^24, to 2e-7 relative, without libm.

    a = m * 2^e with m in [sqrt(1/2), sqrt(2)) by exact power-of-two scalings, then
    ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, by its series to s^9. Written once
    here, once in NumPy and once in camera.cu, operation for operation.
    """
    m = np.float32(a)
    e = F0
    # halve by 2^16, 2^8, ..., 2 while above sqrt(2) * that power (exact scalings, no loop, so
    # the compiler vectorises), then once more: m lands in [sqrt(1/2), sqrt(2))
    if m >= SQRT2 * P16:
        m = m * INV16
        e = e + F16
    if m >= SQRT2 * P8:
        m = m * INV8
        e = e + F8
    if m >= SQRT2 * P4:
        m = m * INV4
        e = e + F4
    if m >= SQRT2 * P2:
        m = m * INV2
        e = e + F2
    if m >= SQRT2 * F2:
        m = m * HALF
        e = e + F1
    if m >= SQRT2:
        m = m * HALF
        e = e + F1
    s = (m - F1) / (m + F1)
    s2 = s * s
    lm = F2 * s * (F1 + s2 * (L3 + s2 * (L5 + s2 * (L7 + s2 * L9))))
    return (e - F24) * LN2 + lm


@nb.njit(inline="always", cache=True)
def _box_muller(a, b):
    # 24-bit uniforms: u in (0, 1] for the radius (log finite), v in [0, 1) for the angle
    r = np.float32(np.sqrt(MINUS_TWO * log_int24((a >> np.uint32(8)) + np.uint32(1))))
    c, s = sincos_turn(np.float32(b >> np.uint32(8)) * TWO_POW_M24)
    return r * c, r * s


@nb.njit(cache=True)
def normal4(q, stream, k0, k1):
    """The four standard normals (float32) of quad ``q`` in ``stream``."""
    x0, x1, x2, x3 = philox4x32(np.uint32(q & 0xFFFFFFFF), np.uint32(q >> 32), stream, 0, k0, k1)
    z0, z1 = _box_muller(x0, x1)
    z2, z3 = _box_muller(x2, x3)
    return z0, z1, z2, z3


@nb.njit(parallel=True, nogil=True, cache=True)
def _normals_numba(out, k0, k1, stream):
    n = out.size
    nq = (n + 3) // 4
    for q in nb.prange(nq):
        z = normal4(np.uint64(q), stream, k0, k1)
        for j in range(4):
            p = q * 4 + j
            if p < n:
                out[p] = z[j]


@nb.njit(inline="always", cache=True)
def _philox4x32_inline(c0, c1, c2, c3, k0, k1):
    """:func:`philox4x32` as an inline body (uint32 in, uint32 out) for vectorised loops."""
    for r in range(ROUNDS):
        if r > 0:
            k0 = np.uint32(k0 + W0)
            k1 = np.uint32(k1 + W1)
        hi0, lo0 = _mulhilo(M0, c0)
        hi1, lo1 = _mulhilo(M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


@nb.njit(cache=True, error_model="numpy")
def normal_quads(out, q0, nq, k0, k1, stream):
    """out[4 i + j] = normal j of quad q0 + i, for i < nq: what :func:`normal4` gives, bit for bit.

    The same Philox words and float32 Box-Muller as :func:`normal4`, written as one loop with
    no calls or branches so that LLVM vectorises it (16 quads per AVX-512 step, ~10x the
    scalar :func:`normal4`). ``error_model="numpy"`` matters: Numba's default model puts a
    zero-divisor check before the division in :func:`log_int24` (never taken: m + 1 >= 1.7),
    and that branch alone keeps the loop scalar. Counter layout as :func:`normal4`:
    ``(q_lo, q_hi, stream, 0)``.
    """
    q0 = np.uint64(q0)
    k0 = np.uint32(k0)
    k1 = np.uint32(k1)
    c2 = np.uint32(stream)
    zero = np.uint32(0)
    for i in range(nq):
        q = q0 + np.uint64(i)
        x0, x1, x2, x3 = _philox4x32_inline(np.uint32(q & np.uint64(0xFFFFFFFF)), np.uint32(q >> np.uint64(32)),
                                            c2, zero, k0, k1)
        z0, z1 = _box_muller(x0, x1)
        z2, z3 = _box_muller(x2, x3)
        out[4 * i] = z0
        out[4 * i + 1] = z1
        out[4 * i + 2] = z2
        out[4 * i + 3] = z3


def normals(n: int, key: tuple[int, int], stream: int = 0, dtype=np.float32) -> np.ndarray:
    """The first ``n`` normals of a stream (Numba); element p equals what kernels use at p."""
    out = np.empty(n, dtype=dtype)
    _normals_numba(out, np.uint32(key[0]), np.uint32(key[1]), np.uint32(stream))
    return out


# -- NumPy oracle ----------------------------------------------------------------------------
def philox4x32_numpy(ctr: np.ndarray, key: tuple[int, int]) -> np.ndarray:
    """Philox4x32-10 of counters ``ctr`` (..., 4) uint32, vectorized; the test oracle."""
    c = [ctr[..., i].astype(np.uint64) for i in range(4)]
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    mask = np.uint64(0xFFFFFFFF)
    for r in range(ROUNDS):
        if r > 0:
            k0 = (k0 + np.uint64(W0)) & mask
            k1 = (k1 + np.uint64(W1)) & mask
        p0 = np.uint64(M0) * c[0]
        p1 = np.uint64(M1) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & mask, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & mask]
    return np.stack(c, axis=-1).astype(np.uint32)


def normals_numpy(n: int, key: tuple[int, int], stream: int = 0) -> np.ndarray:
    """NumPy statement of :func:`normals` (float32; NumPy's own SIMD log/sin/cos may differ
    from the kernels' libm in the last bit)."""
    q = np.arange((n + 3) // 4, dtype=np.uint64)
    ctr = np.stack([q & np.uint64(0xFFFFFFFF), q >> np.uint64(32),
                    np.full_like(q, stream), np.zeros_like(q)], axis=-1).astype(np.uint32)
    x = philox4x32_numpy(ctr, key) >> np.uint32(8)
    r = np.sqrt(MINUS_TWO * log_int24_numpy(x[:, 0::2] + np.uint32(1)))
    c, s = sincos_turn_numpy(x[:, 1::2].astype(np.float32) * TWO_POW_M24)
    z = np.stack([r[:, 0] * c[:, 0], r[:, 0] * s[:, 0], r[:, 1] * c[:, 1], r[:, 1] * s[:, 1]], axis=-1)
    return z.reshape(-1)[:n]


def log_int24_numpy(a: np.ndarray) -> np.ndarray:
    """NumPy statement of :func:`log_int24`."""
    m = a.astype(np.float32)
    e = np.zeros_like(m)
    for _ in range(25):
        big = m >= SQRT2
        m = np.where(big, m * HALF, m)
        e = np.where(big, e + F1, e)
    s = (m - F1) / (m + F1)
    s2 = s * s
    lm = F2 * s * (F1 + s2 * (L3 + s2 * (L5 + s2 * (L7 + s2 * L9))))
    return (e - F24) * LN2 + lm


def sincos_turn_numpy(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NumPy statement of :func:`sincos_turn` (float32, same operations)."""
    t = v * F4
    kf = np.floor(t + HALF)
    a = (t - kf) * HALF_PI
    k = kf.astype(np.int32)
    a2 = a * a
    s = a + a * a2 * (S3 + a2 * (S5 + a2 * S7))
    c = F1 + a2 * (C2 + a2 * (C4 + a2 * (C6 + a2 * C8)))
    odd = (k & 1) == 1
    x, y = np.where(odd, s, c), np.where(odd, c, s)
    sx = np.where((k == 1) | (k == 2), -F1, F1)
    sy = np.where((k == 2) | (k == 3), -F1, F1)
    return sx * x, sy * y
