// CBDNet camera pipeline over NHWC float32 batches: the CUDA twin of camera_numba.py (maths in
// camera_numpy.py). Three kernels, each one pass over memory:
//   mosaic_noise  sRGB -> f^-1 lookup -> Bayer site -> + Philox noise -> clip -> raw plane,
//                 plus the sRGB sigma side map;
//   demosaic_crf  Malvar / bilinear demosaic with reflecting borders -> clip -> f lookup;
//   full_colour   the no-mosaic / grayscale path, f^-1 -> noise -> clip -> f per value.
// Float32 operations are written in the order of the Numba kernels and the module is compiled
// with --fmad=false (no multiply-add contraction), so CPU and GPU agree bit for bit with noise
// off, and with noise on too: Philox4x32-10 on counter (quad, 0, 0, 0) under the sample's key,
// Box-Muller in float32 with our own log and sin/cos (no libm), four normals per quad of
// consecutive values, exactly as philox.py.
// Loaded at run time by camera_cuda.py via NVRTC.

#define BINS_M1 1023.0f
#define NO_MOSAIC 4

__device__ __forceinline__ void philox4x32(unsigned int c[4], unsigned int k0, unsigned int k1)
{
    for (int r = 0; r < 10; ++r) {
        if (r > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        const unsigned int hi0 = __umulhi(0xD2511F53u, c[0]);
        const unsigned int lo0 = 0xD2511F53u * c[0];
        const unsigned int hi1 = __umulhi(0xCD9E8D57u, c[2]);
        const unsigned int lo1 = 0xCD9E8D57u * c[2];
        const unsigned int n0 = hi1 ^ c[1] ^ k0;
        const unsigned int n2 = hi0 ^ c[3] ^ k1;
        c[0] = n0; c[1] = lo1; c[2] = n2; c[3] = lo0;
    }
}

// ln(a * 2^-24) for an integer 1 <= a <= 2^24 without libm: the same float32 operations as
// log_int24 in philox.py (exact power-of-two scalings to m in [sqrt(1/2), sqrt(2)), then
// 2 atanh((m - 1) / (m + 1)) by its series), so GPU noise equals CPU noise bit for bit.
__device__ __forceinline__ float log_int24(unsigned int a)
{
    const float SQRT2 = 1.41421353816986083984375f;  // (float)sqrt(2)
    float m = (float)a, e = 0.0f;
    if (m >= SQRT2 * 65536.0f) { m = m * 1.52587890625e-05f; e = e + 16.0f; }
    if (m >= SQRT2 * 256.0f) { m = m * 0.00390625f; e = e + 8.0f; }
    if (m >= SQRT2 * 16.0f) { m = m * 0.0625f; e = e + 4.0f; }
    if (m >= SQRT2 * 4.0f) { m = m * 0.25f; e = e + 2.0f; }
    if (m >= SQRT2 * 2.0f) { m = m * 0.5f; e = e + 1.0f; }
    if (m >= SQRT2) { m = m * 0.5f; e = e + 1.0f; }
    const float s = (m - 1.0f) / (m + 1.0f);
    const float s2 = s * s;
    const float L3 = 0.3333333432674407958984375f, L5 = 0.20000000298023223876953125f;
    const float L7 = 0.14285714924335479736328125f, L9 = 0.111111111938953399658203125f;
    const float lm = 2.0f * s * (1.0f + s2 * (L3 + s2 * (L5 + s2 * (L7 + s2 * L9))));
    return (e - 24.0f) * 0.693147182464599609375f + lm;
}

// (cos 2 pi v, sin 2 pi v) for v in [0, 1): sincos_turn in philox.py, operation for operation.
__device__ __forceinline__ void sincos_turn(float v, float* c_out, float* s_out)
{
    const float t = v * 4.0f;
    const float kf = floorf(t + 0.5f);
    const float a = (t - kf) * 1.57079637050628662109375f;  // (float)(pi / 2)
    const int k = (int)kf;
    const float a2 = a * a;
    const float S3 = -0.16666667163372039794921875f, S5 = 0.008333333767950534820556640625f;
    const float S7 = -0.000198412701138295233249664306640625f;
    const float C2 = -0.5f, C4 = 0.0416666679084300994873046875f;
    const float C6 = -0.001388888922519981861114501953125f, C8 = 2.4801587642286904e-05f;
    const float s = a + a * a2 * (S3 + a2 * (S5 + a2 * S7));
    const float c = 1.0f + a2 * (C2 + a2 * (C4 + a2 * (C6 + a2 * C8)));
    const bool odd = (k & 1) == 1;
    const float x = odd ? s : c, y = odd ? c : s;
    const float sx = (k == 1 || k == 2) ? -1.0f : 1.0f;
    const float sy = (k == 2 || k == 3) ? -1.0f : 1.0f;
    *c_out = sx * x;
    *s_out = sy * y;
}

// Box-Muller on the top 24 bits of two words: a + 1 in [1, 2^24] for the radius, b for the angle.
__device__ __forceinline__ void box_muller(unsigned int a, unsigned int b, float* z0, float* z1)
{
    const float r = sqrtf(-2.0f * log_int24((a >> 8) + 1u));
    float c, s;
    sincos_turn((float)(b >> 8) * 5.9604644775390625e-08f, &c, &s);
    *z0 = r * c;
    *z1 = r * s;
}

// The four standard normals of quad q of the stream keyed (k0, k1).
__device__ __forceinline__ void normal4(unsigned long long q, unsigned int k0, unsigned int k1, float z[4])
{
    unsigned int c[4] = {(unsigned int)(q & 0xFFFFFFFFull), (unsigned int)(q >> 32), 0u, 0u};
    philox4x32(c, k0, k1);
    box_muller(c[0], c[1], &z[0], &z[1]);
    box_muller(c[2], c[3], &z[2], &z[3]);
}

// table[nearest bin of v], v clipped to [0, 1] (NaN -> 0): CBDNet's nearest-bin lookup.
__device__ __forceinline__ float lookup(const float* __restrict__ table, float v)
{
    if (!(v > 0.0f)) v = 0.0f;
    else if (v > 1.0f) v = 1.0f;
    return __ldg(table + (int)(v * BINS_M1 + 0.5f));
}

__device__ __forceinline__ float variance(float L, float ss, float sc, int model)
{
    if (model == 1) { const float a = ss * L; return a * a + sc * sc; }
    return L * (ss * ss) + sc * sc;
}

__device__ __forceinline__ float add_noise(float L, float var, float z, int clip)
{
    float v = L + sqrtf(var) * z;
    if (clip) v = fminf(fmaxf(v, 0.0f), 1.0f);
    return v;
}

__device__ __forceinline__ int cfa_colour(int y, int x, int ry, int rx)
{
    const bool red_row = (y & 1) == ry, red_col = (x & 1) == rx;
    return (red_row && red_col) ? 0 : ((!red_row && !red_col) ? 2 : 1);
}

__device__ __forceinline__ int refl(int i, int n)
{
    return i < 0 ? -i - 1 : (i >= n ? 2 * n - i - 1 : i);
}

// One thread per quad of 4 consecutive raw values of a selected sample (blockIdx.y strides over
// the selected samples). raw: (M, H, W); sigma: (N, H, W, 3) or empty (want_sigma == 0).
extern "C" __global__ void mosaic_noise(
    const float* __restrict__ x, const int* __restrict__ sel, int n_sel, int H, int W,
    const float* __restrict__ inv, const float* __restrict__ slope, const int* __restrict__ crf,
    const int* __restrict__ red, const float* __restrict__ ss, const float* __restrict__ sc,
    const unsigned int* __restrict__ keys, int model, int clip, float* __restrict__ raw,
    float* __restrict__ sigma, int want_sigma)
{
    const long long plane = (long long)H * W;
    const long long q = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (q * 4 >= plane) return;
    for (int m = blockIdx.y; m < n_sel; m += gridDim.y) {
        const int s = sel[m];
        const float* ti = inv + (long long)crf[s] * 1024;
        const float* sl = slope + (long long)crf[s] * 1024;
        const int ry = red[2 * s], rx = red[2 * s + 1];
        const float* ssv = ss + 3 * s;
        const float* scv = sc + 3 * s;
        const bool noisy = ssv[0] > 0 || ssv[1] > 0 || ssv[2] > 0 || scv[0] > 0 || scv[1] > 0 || scv[2] > 0;
        float z[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (noisy) normal4((unsigned long long)q, keys[2 * s], keys[2 * s + 1], z);
        const float* xs = x + (long long)s * plane * 3;
        for (int j = 0; j < 4; ++j) {
            const long long p = q * 4 + j;
            if (p >= plane) break;
            const int y = (int)(p / W), xx = (int)(p - (long long)y * W);
            const int c = cfa_colour(y, xx, ry, rx);
            const float L = lookup(ti, xs[p * 3 + c]);
            raw[(long long)m * plane + p] = add_noise(L, variance(L, ssv[c], scv[c], model), z[j], clip);
            if (want_sigma) {
                for (int cc = 0; cc < 3; ++cc) {
                    const float Lc = lookup(ti, xs[p * 3 + cc]);
                    sigma[((long long)s * plane + p) * 3 + cc] = lookup(sl, Lc) * sqrtf(variance(Lc, ssv[cc], scv[cc], model));
                }
            }
        }
    }
}

// No mosaic: one thread per quad of 4 consecutive values (H*W*C per sample).
extern "C" __global__ void full_colour(
    const float* __restrict__ x, const int* __restrict__ sel, int n_sel, long long per_sample, int C,
    const float* __restrict__ inv, const float* __restrict__ fwd, const float* __restrict__ slope,
    const int* __restrict__ crf, const float* __restrict__ ss, const float* __restrict__ sc,
    const unsigned int* __restrict__ keys, int model, int clip, float* __restrict__ out,
    float* __restrict__ sigma, int want_sigma)
{
    const long long q = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (q * 4 >= per_sample) return;
    for (int m = blockIdx.y; m < n_sel; m += gridDim.y) {
        const int s = sel[m];
        const float* ti = inv + (long long)crf[s] * 1024;
        const float* tf = fwd + (long long)crf[s] * 1024;
        const float* sl = slope + (long long)crf[s] * 1024;
        bool noisy = false;
        for (int c = 0; c < C; ++c) noisy = noisy || ss[3 * s + c] > 0 || sc[3 * s + c] > 0;
        float z[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (noisy) normal4((unsigned long long)q, keys[2 * s], keys[2 * s + 1], z);
        const long long base = (long long)s * per_sample;
        for (int j = 0; j < 4; ++j) {
            const long long p = q * 4 + j;
            if (p >= per_sample) break;
            const int c = (int)(p % C);
            const float L = lookup(ti, x[base + p]);
            const float var = variance(L, ss[3 * s + c], sc[3 * s + c], model);
            out[base + p] = lookup(tf, add_noise(L, var, z[j], clip));
            if (want_sigma) sigma[base + p] = lookup(sl, L) * sqrtf(var);
        }
    }
}

// Demosaic one selected sample's raw plane; 2-D blocks over (x, y), blockIdx.z strides samples.
// method 0 Malvar-He-Cutler, 1 bilinear; apply_crf 0 writes the bare demosaic.
extern "C" __global__ void demosaic_crf(
    const float* __restrict__ raw, const int* __restrict__ sel, int n_sel, int H, int W,
    const float* __restrict__ fwd, const int* __restrict__ crf, const int* __restrict__ red,
    int method, int apply_crf, float* __restrict__ out)
{
    const int xx = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (xx >= W || y >= H) return;
    const long long plane = (long long)H * W;
    for (int m = blockIdx.z; m < n_sel; m += gridDim.z) {
        const int s = sel[m];
        const int ry = red[2 * s], rx = red[2 * s + 1];
        const float* r0 = raw + (long long)m * plane;
#define RAW(yy, xc) __ldg(r0 + (long long)(yy) * W + (xc))
        const int ym2 = refl(y - 2, H), ym1 = refl(y - 1, H), yp1 = refl(y + 1, H), yp2 = refl(y + 2, H);
        const int xm2 = refl(xx - 2, W), xm1 = refl(xx - 1, W), xp1 = refl(xx + 1, W), xp2 = refl(xx + 2, W);
        float r, g, b;
        if (method == 0) {
            const bool red_row = (y & 1) == ry, red_col = (xx & 1) == rx;
            const int kind = red_row ? (red_col ? 0 : 1) : (red_col ? 2 : 3);
            const float c = RAW(y, xx);
            const float diag = RAW(ym1, xm1) + RAW(ym1, xp1) + RAW(yp1, xm1) + RAW(yp1, xp1);
            if (kind == 0 || kind == 3) {
                const float gg = (4.0f * c + 2.0f * (RAW(ym1, xx) + RAW(yp1, xx) + RAW(y, xm1) + RAW(y, xp1))
                                  - (RAW(ym2, xx) + RAW(yp2, xx) + RAW(y, xm2) + RAW(y, xp2))) / 8.0f;
                const float other = (6.0f * c + 2.0f * diag
                                     - 1.5f * (RAW(ym2, xx) + RAW(yp2, xx) + RAW(y, xm2) + RAW(y, xp2))) / 8.0f;
                g = gg;
                r = kind == 0 ? c : other;
                b = kind == 0 ? other : c;
            } else {
                const float along_row = (5.0f * c + 4.0f * (RAW(y, xm1) + RAW(y, xp1)) - (RAW(y, xm2) + RAW(y, xp2)) - diag
                                         + 0.5f * (RAW(ym2, xx) + RAW(yp2, xx))) / 8.0f;
                const float along_col = (5.0f * c + 4.0f * (RAW(ym1, xx) + RAW(yp1, xx)) - (RAW(ym2, xx) + RAW(yp2, xx)) - diag
                                         + 0.5f * (RAW(y, xm2) + RAW(y, xp2))) / 8.0f;
                g = c;
                r = kind == 1 ? along_row : along_col;
                b = kind == 1 ? along_col : along_row;
            }
        } else {
            r = 0.0f; g = 0.0f; b = 0.0f;
            const int ys[3] = {ym1, y, yp1};
            const int xs[3] = {xm1, xx, xp1};
            for (int dy = 0; dy < 3; ++dy) {
                for (int dx = 0; dx < 3; ++dx) {
                    const float v = RAW(ys[dy], xs[dx]);
                    const int col = cfa_colour(ys[dy], xs[dx], ry, rx);
                    if (col == 1) {
                        if (dy == 1 || dx == 1) g += ((dy == 1 && dx == 1) ? 1.0f : 0.25f) * v;
                    } else {
                        const float w = (dy == 1 && dx == 1) ? 1.0f : ((dy == 1 || dx == 1) ? 0.5f : 0.25f);
                        if (col == 0) r += w * v; else b += w * v;
                    }
                }
            }
        }
#undef RAW
        float* o = out + (((long long)s * H + y) * W + xx) * 3;
        if (apply_crf) {
            const float* tf = fwd + (long long)crf[s] * 1024;
            o[0] = lookup(tf, r); o[1] = lookup(tf, g); o[2] = lookup(tf, b);
        } else {
            o[0] = r; o[1] = g; o[2] = b;
        }
    }
}
