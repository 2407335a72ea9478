// LCD-screen / camera moire simulator over NHWC float32 batches: the CUDA twin of moire_numba.py
// (maths in moire_numpy.py). Kernels, each one pass over memory:
//   moire_decode      sRGB -> linear light inside each sample's support box of the screenshot;
//   moire_capture     steps 1-5 fused: per sensor pixel, n x n supersamples tiling its aperture,
//                     each undistorted and mapped through the inverse homography onto the screen,
//                     reading its CFA colour's subpixel stripes filtered over the sample's footprint
//                     (box, or tent of half-width G[MG_TENT] with the optical low-pass); the ground
//                     truth (flat full-RGB screen area-sampled over the pixel aperture) in the same
//                     pass;
//   moire_develop     steps 6-8 fused, one launch for photo and ground truth: per block of output
//                     pixels, the noisy saturated raw of the tile and its halo into shared memory
//                     (glare added, Poisson-Gaussian noise from normal4 of camera.cu: the same
//                     Philox words and float32 Box-Muller as philox.py, so the noise equals the
//                     CPU's), the demosaic of the tile widened by the denoise radius (the raw
//                     extended by the Bayer-phase-keeping 2-pixel mirror), the horizontal and
//                     vertical passes of the Gaussian denoise through shared memory, sRGB encoding
//                     of photo and ground truth. No intermediate image goes through global memory.
// Arithmetic is double where the Numba kernels use double, float where they use float32, in their
// order; compiled with --fmad=false (no contraction), so the results equal Numba's bit for bit.
// Loaded at run time by moire_cuda.py via NVRTC (include path: this folder).

#include "camera.cu"

// packed parameter rows (moire_numpy.py: G_*, I_*)
#define MG_H 0
#define MG_K1 9
#define MG_K2 10
#define MG_IRHO2 11
#define MG_FILL 12
#define MG_FILLY 13
#define MG_CA 14
#define MG_MDX 15
#define MG_MDY 16
#define MG_VIG 17
#define MG_CS 18
#define MG_R 19
#define MG_CX 20
#define MG_CY 21
#define MG_TENT 22
#define MG_N 23
#define MI_RY 0
#define MI_RX 1
#define MI_LAYOUT 2
#define MI_N 3
#define MAX_FOOT 4.0

__device__ __forceinline__ void mo_map(const double* g, double ud, double vd, double* x, double* y)
{
    const double r2 = (ud * ud + vd * vd) * g[MG_IRHO2];
    const double gg = 1.0 + r2 * (g[MG_K1] + g[MG_K2] * r2);
    const double u = ud * gg;
    const double v = vd * gg;
    const double iw = 1.0 / (g[MG_H + 6] * u + g[MG_H + 7] * v + g[MG_H + 8]);
    *x = (g[MG_H + 0] * u + g[MG_H + 1] * v + g[MG_H + 2]) * iw;
    *y = (g[MG_H + 3] * u + g[MG_H + 4] * v + g[MG_H + 5]) * iw;
}

// cumulative weight of a unit footprint (support [-1, 1]): box, or tent (box * box)
__device__ __forceinline__ double mo_cdf(double t, bool tent)
{
    t = t < -1.0 ? -1.0 : (t > 1.0 ? 1.0 : t);
    if (tent) return t < 0.0 ? 0.5 * (t + 1.0) * (t + 1.0) : 1.0 - 0.5 * (1.0 - t) * (1.0 - t);
    return 0.5 * (t + 1.0);
}

// weight of [b0, b1] under the footprint centred at X with half-width 1/ia
__device__ __forceinline__ double mo_iw(double X, double ia, double b0, double b1, bool tent)
{
    if (b1 <= b0) return 0.0;
    return mo_cdf((b1 - X) * ia, tent) - mo_cdf((b0 - X) * ia, tent);
}

__device__ __forceinline__ void mo_lit(int layout, int c, int parity, double fill, double* l0, double* l1, double* amp)
{
    if (layout == 2) {
        if (c == 1) { *l0 = 0.5 + 0.25 * (1 - fill); *l1 = 0.5 + 0.25 * (1 + fill); *amp = 2.0 / fill; return; }
        if ((c == 0) == (parity == 0)) { *l0 = 0.25 * (1 - fill); *l1 = 0.25 * (1 + fill); *amp = 4.0 / fill; return; }
        *l0 = 0.0; *l1 = 0.0; *amp = 0.0;
        return;
    }
    const int q = layout == 0 ? c : 2 - c;
    *l0 = q / 3.0 + (1 - fill) / 6.0;
    *l1 = q / 3.0 + (1 + fill) / 6.0;
    *amp = 3.0 / fill;
}

__device__ __forceinline__ int mo_clamp(int i, int n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

// mean emission of colour c's subpixels under the footprint at (X, Y), half-widths ax, ay
__device__ double mo_stripe(const float* __restrict__ scr, int Hs, int Ws, double X, double Y, double ax, double ay,
                            int c, int layout, double fill, double fill_y, bool tent)
{
    const double iax = 1.0 / ax, iay = 1.0 / ay;
    const int i0 = (int)floor(Y - ay), i1 = (int)floor(Y + ay), j0 = (int)floor(X - ax), j1 = (int)floor(X + ax);
    const double ly0 = 0.5 * (1 - fill_y), ly1 = 0.5 * (1 + fill_y);
    double acc = 0.0;
    for (int i = i0; i <= i1; ++i) {
        const double wy = mo_iw(Y, iay, i + ly0, i + ly1, tent) / fill_y;
        if (wy == 0.0) continue;
        const int ic = mo_clamp(i, Hs);
        for (int j = j0; j <= j1; ++j) {
            double l0, l1, amp;
            mo_lit(layout, c, (i + j) & 1, fill, &l0, &l1, &amp);
            const double wx = amp * mo_iw(X, iax, j + l0, j + l1, tent);
            acc += (double)__ldg(scr + ((long long)ic * Ws + mo_clamp(j, Ws)) * 3 + c) * (wx * wy);
        }
    }
    return acc;
}

// mean of the full-RGB screen under the footprint (the ground truth's read)
__device__ void mo_flat(const float* __restrict__ scr, int Hs, int Ws, double X, double Y, double ax, double ay,
                        bool tent, double* r, double* g, double* b)
{
    const double iax = 1.0 / ax, iay = 1.0 / ay;
    const int i0 = (int)floor(Y - ay), i1 = (int)floor(Y + ay), j0 = (int)floor(X - ax), j1 = (int)floor(X + ax);
    double rr = 0.0, gg = 0.0, bb = 0.0;
    for (int i = i0; i <= i1; ++i) {
        const double wy = mo_iw(Y, iay, (double)i, i + 1.0, tent);
        const int ic = mo_clamp(i, Hs);
        for (int j = j0; j <= j1; ++j) {
            const double wxy = mo_iw(X, iax, (double)j, j + 1.0, tent) * wy;
            const float* p = scr + ((long long)ic * Ws + mo_clamp(j, Ws)) * 3;
            rr += (double)__ldg(p) * wxy;
            gg += (double)__ldg(p + 1) * wxy;
            bb += (double)__ldg(p + 2) * wxy;
        }
    }
    *r = rr;
    *g = gg;
    *b = bb;
}

// sRGB -> linear light inside each sample's box [y0, y1, x0, x1], 0 outside it (never read; written,
// so the launcher needs no zeroing pass); 2-D blocks over (x, y), blockIdx.z strides the samples
extern "C" __global__ void moire_decode(const float* __restrict__ x, const int* __restrict__ boxes, int N, int Hs,
                                        int Ws, float* __restrict__ out)
{
    const int xx = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (xx >= Ws || y >= Hs) return;
    for (int s = blockIdx.z; s < N; s += gridDim.z) {
        const int* bx = boxes + 4 * s;
        const long long base = (((long long)s * Hs + y) * Ws + xx) * 3;
        if (y < bx[0] || y >= bx[1] || xx < bx[2] || xx >= bx[3]) {
            out[base] = 0.0f;
            out[base + 1] = 0.0f;
            out[base + 2] = 0.0f;
            continue;
        }
        for (int c = 0; c < 3; ++c) {
            double v = (double)x[base + c];
            v = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
            out[base + c] = (float)(v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4));
        }
    }
}

// Steps 1-5, one thread per sensor pixel; out (N, H, W, nc) with nc 1 (Bayer raw) or 3; gt (N, H, W, 3)
extern "C" __global__ void moire_capture(const float* __restrict__ scr, const double* __restrict__ Gall,
                                         const int* __restrict__ Iall, const double* __restrict__ wall, int n, int N,
                                         int Hs, int Ws, int H, int W, int nc, float* __restrict__ out,
                                         float* __restrict__ gt)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= W || y >= H) return;
    for (int s = blockIdx.z; s < N; s += gridDim.z) {
        const double* g = Gall + (long long)s * MG_N;
        const int* I = Iall + (long long)s * MI_N;
        const double* wts = wall + (long long)s * n;
        const float* sc_ = scr + (long long)s * Hs * Ws * 3;
        const double cs = g[MG_CS], R = g[MG_R], fill = g[MG_FILL], fill_y = g[MG_FILLY], ca = g[MG_CA];
        const double mdx = g[MG_MDX], mdy = g[MG_MDY];
        const int layout = I[MI_LAYOUT], ry = I[MI_RY], rx = I[MI_RX];
        const double vc = y + 0.5 - g[MG_CY];
        const double uc = x + 0.5 - g[MG_CX];
        double X0, Y0, Xu, Yu, Xv, Yv;
        mo_map(g, uc, vc, &X0, &Y0);
        mo_map(g, uc + 1.0, vc, &Xu, &Yu);
        mo_map(g, uc, vc + 1.0, &Xv, &Yv);
        const bool tent = g[MG_TENT] > 0.0;
        const double half = tent ? g[MG_TENT] : 0.5 * cs;  // footprint half-width in sensor pixels
        const double jx = sqrt((Xu - X0) * (Xu - X0) + (Xv - X0) * (Xv - X0));  // screen px per sensor px
        const double jy = sqrt((Yu - Y0) * (Yu - Y0) + (Yv - Y0) * (Yv - Y0));
        double gax = 0.5 * jx, gay = 0.5 * jy;  // the ground truth: one box over the pixel aperture
        gax = gax < MAX_FOOT ? gax : MAX_FOOT;
        gay = gay < MAX_FOOT ? gay : MAX_FOOT;
        gax = gax > 1e-9 ? gax : 1e-9;
        gay = gay > 1e-9 ? gay : 1e-9;
        double g0, g1, g2;
        mo_flat(sc_, Hs, Ws, X0, Y0, gax, gay, false, &g0, &g1, &g2);
        double ax = half * jx, ay = half * jy;
        ax = ax < MAX_FOOT ? ax : MAX_FOOT;
        ay = ay < MAX_FOOT ? ay : MAX_FOOT;
        ax = ax > 1e-9 ? ax : 1e-9;
        ay = ay > 1e-9 ? ay : 1e-9;
        int c_lo = 0, c_hi = 3;
        if (ry >= 0) {
            const bool red_row = (y & 1) == ry, red_col = (x & 1) == rx;
            c_lo = (red_row && red_col) ? 0 : ((!red_row && !red_col) ? 2 : 1);
            c_hi = c_lo + 1;
        }
        double m[3] = {0.0, 0.0, 0.0};
        for (int a = 0; a < n; ++a) {
            const double ov = -R + (a + 0.5) * cs;
            for (int b = 0; b < n; ++b) {
                const double ou = -R + (b + 0.5) * cs;
                const double wgt = wts[a] * wts[b];
                const double t = (a * n + b + 0.5) / (n * n) - 0.5;
                const double mu = uc + ou + t * mdx;
                const double mv = vc + ov + t * mdy;
                for (int c = c_lo; c < c_hi; ++c) {
                    const double sc = 1.0 + ca * (c - 1);
                    double Xc, Yc;
                    mo_map(g, mu * sc, mv * sc, &Xc, &Yc);
                    m[c] += wgt * mo_stripe(sc_, Hs, Ws, Xc, Yc, ax, ay, c, layout, fill, fill_y, tent);
                }
            }
        }
        const double vig = 1.0 - g[MG_VIG] * (uc * uc + vc * vc) * g[MG_IRHO2];
        const long long p = ((long long)s * H + y) * W + x;
        gt[p * 3] = (float)g0;
        gt[p * 3 + 1] = (float)g1;
        gt[p * 3 + 2] = (float)g2;
        if (ry >= 0) {
            out[p] = (float)(m[c_lo] * vig);
        } else {
            out[p * 3] = (float)(m[0] * vig);
            out[p * 3 + 1] = (float)(m[1] * vig);
            out[p * 3 + 2] = (float)(m[2] * vig);
        }
    }
}


// ------------------------------------------------------------------------------------------------
// Steps 6-8: moire_develop

#define MO_PAD 2     // the demosaic's mirror pad (moire.py DEMOSAIC_PAD): even, >= the Malvar reach
#define MO_LUT_N 65536

// SciPy 'reflect' (half-sample) index of the blur, then clamped (moire_numba._refl)
__device__ __forceinline__ int mo_refl(int i, int n)
{
    i = i < 0 ? -i - 1 : (i >= n ? 2 * n - i - 1 : i);
    return mo_clamp(i, n);
}

// whole-sample reflection (numpy.pad 'reflect', period 2 (n - 1)) of the demosaic pad: -1 -> 1,
// n -> n - 2, so an index keeps its parity and a Bayer site its colour
__device__ __forceinline__ int mo_mirror(int i, int n)
{
    if (n == 1) return 0;
    const int period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i >= n ? period - i : i;
}

// sRGB encoding by linear interpolation in the 2^16-interval table of moire_numba.ENCODE_LUT
__device__ __forceinline__ float mo_encode(double v, const double* __restrict__ lut)
{
    v = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
    const double t = v * (double)MO_LUT_N;
    int k = (int)t;
    k = k < MO_LUT_N - 1 ? k : MO_LUT_N - 1;
    const double f = t - (double)k;
    const double lo = __ldg(lut + k);
    return (float)(lo + f * (__ldg(lut + k + 1) - lo));
}

// Value p of sample s's raw plane after glare, noise and saturation (moire.py steps 6): the
// capture value, + the glare field (float32, as numpy's cap += field), + sqrt(max(a v + b, 0)) z
// in double with z the normal p of the sample's Philox stream (normal4 of quad p / 4; a
// sample with a = b = 0 adds exactly 0 and skips it), clipped to [0, 1] either way.
__device__ __forceinline__ float mo_raw(float v, double a, double b, bool noisy, float z)
{
    if (noisy) {
        double d = (double)v;
        double var = a * d + b;
        var = var > 0.0 ? var : 0.0;
        d = d + sqrt(var) * (double)z;
        v = (float)(d < 0.0 ? 0.0 : (d > 1.0 ? 1.0 : d));
    }
    return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
}

// Shared-memory floats one block of (bw, bh) threads needs at blur radius rmax (the launcher's
// dynamic shared size / 4): the demosaiced tile with the blur halo (3 channels), then a region that
// first holds the raw tile (demosaic halo MO_PAD more, 1 channel) and then the horizontal pass.
__device__ __forceinline__ void mo_tiles(int bw, int bh, int rmax, int nc, int* capD, int* capS)
{
    *capD = (bh + 2 * rmax) * (bw + 2 * rmax) * 3;
    const int raw = nc == 1 ? (bh + 2 * rmax + 2 * MO_PAD) * (bw + 2 * rmax + 2 * MO_PAD) : 0;
    const int hp = (bh + 2 * rmax) * bw * 3;
    *capS = raw > hp ? raw : hp;
}

// Steps 6-8 of photo and ground truth in one pass; 2-D blocks over output (x, y), blockIdx.z strides
// the samples. cap (N, H, W, nc) capture (nc 1: Bayer raw, 3: no CFA), gt (N, H, W, 3) linear ground
// truth, glare (N, H, W) if has_glare, ab (N, 2) noise (a, b), keys (N, 2) Philox keys, Iall (N, MI_N)
// CFA rows, taps (N, T) and radius (N,) of the Gaussian denoise (radius 0: none; rmax >= every
// radius), lut the sRGB table (MO_LUT_N + 1 doubles); method 0 Malvar, 1 bilinear, 2 none (each
// site's value in its colour). out, tgt (N, H, W, 3) sRGB. Dynamic shared memory: mo_tiles floats.
//
// Per sample, with [x0, x1) x [y0, y1) the block's output pixels and r the sample's radius, the
// blur reads the demosaiced image at reflected positions: all inside [max(0, x0 - r), min(W, x1 + r))
// (same for y), the tile D; its demosaic reads the raw at mirrored positions, inside the tile
// widened by MO_PAD and cut to the image, the raw tile R. So every array is indexed by image
// coordinates minus the tile's origin, and each value is computed once per block: the raw (with its
// noise) in quads of 4 consecutive values, so each Philox quad is drawn once per row of the tile.
extern "C" __global__ void moire_develop(const float* __restrict__ cap, const float* __restrict__ gt,
                                         const float* __restrict__ glare, int has_glare,
                                         const double* __restrict__ ab, const unsigned int* __restrict__ keys,
                                         const int* __restrict__ Iall, const double* __restrict__ taps,
                                         const int* __restrict__ radius, int T, const double* __restrict__ lut,
                                         int N, int H, int W, int nc, int method, int rmax,
                                         float* __restrict__ out, float* __restrict__ tgt)
{
    extern __shared__ float mo_smem[];
    const int bw = (int)blockDim.x, bh = (int)blockDim.y;
    const int nthr = bw * bh, tid = (int)(threadIdx.y * blockDim.x + threadIdx.x);
    int capD, capS;
    mo_tiles(bw, bh, rmax, nc, &capD, &capS);
    float* D = mo_smem;  // demosaiced tile (3 channels)
    float* S = mo_smem + capD;  // raw tile, then the horizontal pass (3 channels)
    const int x0 = (int)blockIdx.x * bw, y0 = (int)blockIdx.y * bh;
    const int x1 = x0 + bw < W ? x0 + bw : W, y1 = y0 + bh < H ? y0 + bh : H;
    const int x = x0 + (int)threadIdx.x, y = y0 + (int)threadIdx.y;
    const long long plane = (long long)H * W;
    for (int s = blockIdx.z; s < N; s += gridDim.z) {
        const int r = radius[s];
        const double a = ab[2 * s], b = ab[2 * s + 1];
        const bool noisy = a != 0.0 || b != 0.0;
        const unsigned int k0 = keys[2 * s], k1 = keys[2 * s + 1];
        const int ry = Iall[(long long)s * MI_N + MI_RY], rx = Iall[(long long)s * MI_N + MI_RX];
        const float* cs = cap + (long long)s * plane * nc;
        const float* gl = glare + (has_glare ? (long long)s * plane : 0);
        const int ya = y0 - r > 0 ? y0 - r : 0, yb = y1 + r < H ? y1 + r : H;
        const int xa = x0 - r > 0 ? x0 - r : 0, xb = x1 + r < W ? x1 + r : W;
        const int dw = xb - xa, nd = (yb - ya) * dw;
        if (nc == 1 && method < 2) {
            // the raw tile, in quads of the sample's stream: row yy's values are p = yy W + qa .. yy W + qb - 1
            const int pa = ya - MO_PAD > 0 ? ya - MO_PAD : 0, pb = yb + MO_PAD < H ? yb + MO_PAD : H;
            const int qa = xa - MO_PAD > 0 ? xa - MO_PAD : 0, qb = xb + MO_PAD < W ? xb + MO_PAD : W;
            const int cols = qb - qa, qmax = (cols + 3) / 4 + 1;
            for (int k = tid; k < (pb - pa) * qmax; k += nthr) {
                const int yy = pa + k / qmax;
                const long long p0 = (long long)yy * W + qa, p1 = p0 + cols;
                const long long q = (p0 >> 2) + k % qmax;
                if (q * 4 >= p1) continue;
                float z[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                if (noisy) normal4((unsigned long long)q, k0, k1, z);
                for (int j = 0; j < 4; ++j) {
                    const long long p = q * 4 + j;
                    if (p < p0 || p >= p1) continue;
                    const int xx = qa + (int)(p - p0);
                    float v = cs[p];
                    if (has_glare) v = v + gl[p];
                    S[(yy - pa) * cols + (xx - qa)] = mo_raw(v, a, b, noisy, z[j]);
                }
            }
            __syncthreads();
            // the demosaic of D's sites: the raw at mirrored positions (rows/columns outside the
            // image come from inside it with the same parity, i.e. the same CFA colour)
#define RAW(yy, xx) S[(mo_mirror(yy, H) - pa) * cols + (mo_mirror(xx, W) - qa)]
            for (int k = tid; k < nd; k += nthr) {
                const int yy = ya + k / dw, xx = xa + k % dw;
                float rr, g, bb;
                if (method == 0) {
                    const bool red_row = (yy & 1) == ry, red_col = (xx & 1) == rx;
                    const int kind = red_row ? (red_col ? 0 : 1) : (red_col ? 2 : 3);
                    const float c = RAW(yy, xx);
                    const float diag = RAW(yy - 1, xx - 1) + RAW(yy - 1, xx + 1) + RAW(yy + 1, xx - 1) + RAW(yy + 1, xx + 1);
                    if (kind == 0 || kind == 3) {
                        const float gg = (4.0f * c + 2.0f * (RAW(yy - 1, xx) + RAW(yy + 1, xx) + RAW(yy, xx - 1) + RAW(yy, xx + 1))
                                          - (RAW(yy - 2, xx) + RAW(yy + 2, xx) + RAW(yy, xx - 2) + RAW(yy, xx + 2))) / 8.0f;
                        const float other = (6.0f * c + 2.0f * diag
                                             - 1.5f * (RAW(yy - 2, xx) + RAW(yy + 2, xx) + RAW(yy, xx - 2) + RAW(yy, xx + 2))) / 8.0f;
                        g = gg;
                        rr = kind == 0 ? c : other;
                        bb = kind == 0 ? other : c;
                    } else {
                        const float along_row = (5.0f * c + 4.0f * (RAW(yy, xx - 1) + RAW(yy, xx + 1)) - (RAW(yy, xx - 2) + RAW(yy, xx + 2))
                                                 - diag + 0.5f * (RAW(yy - 2, xx) + RAW(yy + 2, xx))) / 8.0f;
                        const float along_col = (5.0f * c + 4.0f * (RAW(yy - 1, xx) + RAW(yy + 1, xx)) - (RAW(yy - 2, xx) + RAW(yy + 2, xx))
                                                 - diag + 0.5f * (RAW(yy, xx - 2) + RAW(yy, xx + 2))) / 8.0f;
                        g = c;
                        rr = kind == 1 ? along_row : along_col;
                        bb = kind == 1 ? along_col : along_row;
                    }
                } else {
                    rr = 0.0f; g = 0.0f; bb = 0.0f;
                    for (int dy = -1; dy <= 1; ++dy) {
                        for (int dx = -1; dx <= 1; ++dx) {
                            const float v = RAW(yy + dy, xx + dx);
                            const int col = cfa_colour(yy + dy, xx + dx, ry, rx);
                            if (col == 1) {
                                if (dy == 0 || dx == 0) g += ((dy == 0 && dx == 0) ? 1.0f : 0.25f) * v;
                            } else {
                                const float w = (dy == 0 && dx == 0) ? 1.0f : ((dy == 0 || dx == 0) ? 0.5f : 0.25f);
                                if (col == 0) rr += w * v; else bb += w * v;
                            }
                        }
                    }
                }
                D[3 * k] = rr;
                D[3 * k + 1] = g;
                D[3 * k + 2] = bb;
            }
#undef RAW
        } else {
            // no demosaic: each value of D is its own raw value (no CFA: 3 per pixel), or, with
            // method 2, the site's value in its colour and 0 in the other two
            for (int k = tid; k < nd; k += nthr) {
                const int yy = ya + k / dw, xx = xa + k % dw;
                const long long pix = (long long)yy * W + xx;
                const int c_site = nc == 1 ? cfa_colour(yy, xx, ry, rx) : 0;
                for (int c = 0; c < nc; ++c) {
                    const long long p = pix * nc + c;
                    float z[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                    if (noisy) normal4((unsigned long long)(p >> 2), k0, k1, z);
                    float v = cs[p];
                    if (has_glare) v = v + gl[pix];
                    v = mo_raw(v, a, b, noisy, z[p & 3]);
                    if (nc == 3) {
                        D[3 * k + c] = v;
                    } else {
                        D[3 * k] = c_site == 0 ? v : 0.0f;
                        D[3 * k + 1] = c_site == 1 ? v : 0.0f;
                        D[3 * k + 2] = c_site == 2 ? v : 0.0f;
                    }
                }
            }
        }
        __syncthreads();
        // horizontal pass over D's rows, the block's columns (float32 result, as Numba's tmp)
        const int hw = x1 - x0, nh = (yb - ya) * hw;
        for (int k = tid; k < nh; k += nthr) {
            const int row = k / hw, xx = x0 + k % hw;
            for (int c = 0; c < 3; ++c) {
                if (r == 0) {
                    S[3 * k + c] = D[3 * (row * dw + xx - xa) + c];
                } else {
                    double acc = 0.0;
                    for (int t = 0; t < 2 * r + 1; ++t)
                        acc += taps[(long long)s * T + t] * (double)D[3 * (row * dw + mo_refl(xx + t - r, W) - xa) + c];
                    S[3 * k + c] = (float)acc;
                }
            }
        }
        __syncthreads();
        // vertical pass and sRGB encoding of the photo; the ground truth is encoded as it is
        if (x < x1 && y < y1) {
            const long long o = ((long long)s * plane + (long long)y * W + x) * 3;
            for (int c = 0; c < 3; ++c) {
                double acc;
                if (r == 0) {
                    acc = (double)S[3 * ((y - ya) * hw + x - x0) + c];
                } else {
                    acc = 0.0;
                    for (int t = 0; t < 2 * r + 1; ++t)
                        acc += taps[(long long)s * T + t] * (double)S[3 * ((mo_refl(y + t - r, H) - ya) * hw + x - x0) + c];
                }
                out[o + c] = mo_encode(acc, lut);
                tgt[o + c] = mo_encode((double)gt[o + c], lut);
            }
        }
        __syncthreads();  // the next sample reuses the tiles
    }
}
