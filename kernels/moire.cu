// LCD-screen / camera moire simulator over NHWC float32 batches: the CUDA twin of moire_numba.py
// (maths in moire_numpy.py). Kernels, each one pass over memory:
//   moire_decode      sRGB -> linear light inside each sample's support box of the screenshot;
//   moire_capture     steps 1-5 fused: per sensor pixel, n x n supersamples tiling its aperture,
//                     each undistorted and mapped through the inverse homography onto the screen,
//                     reading its CFA colour's subpixel stripes filtered over the sample's footprint
//                     (box, or tent of half-width G[MG_TENT] with the optical low-pass); the ground
//                     truth (flat full-RGB screen area-sampled over the pixel aperture) in the same
//                     pass;
//   moire_noise       Poisson-Gaussian noise, Philox normals (normal4 of camera.cu: the same words
//                     and float32 Box-Muller as philox.py, so the noise equals the CPU's);
//   moire_blur_h / moire_blur_v_encode   separable Gaussian in-camera denoise, then sRGB encoding.
// Arithmetic is double, in the order of the Numba kernels; compiled with --fmad=false.
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

// sRGB -> linear light inside each sample's box [y0, y1, x0, x1]; 2-D blocks over (x, y), blockIdx.z = sample
extern "C" __global__ void moire_decode(const float* __restrict__ x, const int* __restrict__ boxes, int N, int Hs,
                                        int Ws, float* __restrict__ out)
{
    const int xx = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    for (int s = blockIdx.z; s < N; s += gridDim.z) {
        const int* bx = boxes + 4 * s;
        if (y < bx[0] || y >= bx[1] || xx < bx[2] || xx >= bx[3]) continue;
        const long long base = (((long long)s * Hs + y) * Ws + xx) * 3;
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

// x + sqrt(max(a x + b, 0)) z, clipped, in place on (N, M) planes; one thread per quad of 4 values,
// blockIdx.y strides the samples; z from normal4 (quad q of the sample's stream)
extern "C" __global__ void moire_noise(float* __restrict__ x, int N, long long M, const double* __restrict__ ab,
                                       const unsigned int* __restrict__ keys)
{
    const long long q = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (q * 4 >= M) return;
    for (int s = blockIdx.y; s < N; s += gridDim.y) {
        const double a = ab[2 * s], b = ab[2 * s + 1];
        float z[4];
        normal4((unsigned long long)q, keys[2 * s], keys[2 * s + 1], z);
        for (int j = 0; j < 4; ++j) {
            const long long p = q * 4 + j;
            if (p >= M) break;
            double v = (double)x[(long long)s * M + p];
            double var = a * v + b;
            var = var > 0.0 ? var : 0.0;
            v = v + sqrt(var) * (double)z[j];
            x[(long long)s * M + p] = (float)(v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v));
        }
    }
}

__device__ __forceinline__ int mo_refl(int i, int n)
{
    i = i < 0 ? -i - 1 : (i >= n ? 2 * n - i - 1 : i);
    return mo_clamp(i, n);
}

__device__ __forceinline__ double mo_encode(double v)
{
    v = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
    return v <= 0.0031308 ? v * 12.92 : 1.055 * pow(v, 1.0 / 2.4) - 0.055;
}

// horizontal pass of the separable Gaussian (radius 0: copy); x, tmp (N, H, W, C); taps (N, T)
extern "C" __global__ void moire_blur_h(const float* __restrict__ x, const double* __restrict__ taps,
                                        const int* __restrict__ radius, int T, int N, int H, int W, int C,
                                        float* __restrict__ tmp)
{
    const int xx = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (xx >= W || y >= H) return;
    for (int s = blockIdx.z; s < N; s += gridDim.z) {
        const int r = radius[s];
        const long long row = ((long long)s * H + y) * W;
        for (int c = 0; c < C; ++c) {
            if (r == 0) {
                tmp[(row + xx) * C + c] = x[(row + xx) * C + c];
            } else {
                double acc = 0.0;
                for (int t = 0; t < 2 * r + 1; ++t)
                    acc += taps[(long long)s * T + t] * (double)x[(row + mo_refl(xx + t - r, W)) * C + c];
                tmp[(row + xx) * C + c] = (float)acc;
            }
        }
    }
}

// vertical pass, then sRGB encoding (clipped)
extern "C" __global__ void moire_blur_v_encode(const float* __restrict__ tmp, const double* __restrict__ taps,
                                               const int* __restrict__ radius, int T, int N, int H, int W, int C,
                                               float* __restrict__ out)
{
    const int xx = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (xx >= W || y >= H) return;
    for (int s = blockIdx.z; s < N; s += gridDim.z) {
        const int r = radius[s];
        for (int c = 0; c < C; ++c) {
            double acc;
            if (r == 0) {
                acc = (double)tmp[(((long long)s * H + y) * W + xx) * C + c];
            } else {
                acc = 0.0;
                for (int t = 0; t < 2 * r + 1; ++t)
                    acc += taps[(long long)s * T + t] *
                           (double)tmp[(((long long)s * H + mo_refl(y + t - r, H)) * W + xx) * C + c];
            }
            out[(((long long)s * H + y) * W + xx) * C + c] = (float)mo_encode(acc);
        }
    }
}
