// JPEG round trip decode(encode(x)) as libjpeg-turbo computes it with Pillow's defaults (baseline,
// slow integer DCT, fancy upsampling), without the entropy coding (Huffman is lossless).
// Why our own: no GPU library reproduces libjpeg's integer arithmetic bit for bit; twin of
// jpeg_numpy.py / jpeg_numba.py, launched by jpeg_cuda.py (NVRTC, --fmad=false; all integer).
//
// Two launches per batch (layout, traffic and the libjpeg source behind each step: docs/jpeg_cuda.md):
//   jpeg_blocks: one CUDA block of (8, JB_GROUPS) threads per 16x16-pixel tile (the largest MCU)
//     of a sample. The tile is loaded once (float -> uint8 -> YCbCr into shared memory, edges
//     replicated); its 8x8 blocks ("slots": 4 Y + 8, 4 or 2 chroma blocks for 4:4:4, 4:2:2,
//     4:2:0) go to the thread groups, 8 threads per block: thread t downsamples row t and does
//     the FDCT row pass; barrier; column t: FDCT, quantize, dequantize, IDCT column pass;
//     barrier; row t: IDCT row pass, saturating range limit, 8 bytes into the padded component
//     plane (N, C, Hb, Wb) uint8 of a scratch buffer.
//   jpeg_colour: one thread per output pixel: fancy chroma upsampling, YCbCr -> RGB, /255.
// Samples with quality 0 are copied unchanged (jpeg_blocks skips them, jpeg_colour copies x).

#define JB_GROUPS 8         // thread groups of 8 per CUDA block of jpeg_blocks: blockDim (8, JB_GROUPS)
#define JB_TILE 16          // tile edge in pixels (one 4:2:0 MCU; 4 MCUs of 4:4:4, 2 of 4:2:2)
#define JB_SLOTS 12         // most 8x8 blocks in a tile (4:4:4: 4 per component)
#define JB_TABLE_ROWS 4     // per quality and table: reciprocal, correction, shift, quant value
#define JB_QUALITIES 101    // tables for quality 0..100 (row 0 unused)

// libjpeg fixed point: colour conversion SCALEBITS 16, DCT CONST_BITS 13, PASS1_BITS 2
#define JC_ONE_HALF (1 << 15)
#define JC_CBCR_OFFSET (128 << 16)

__device__ __forceinline__ int jpeg_u8(float v)
{
    // clip(rint(v * 255), 0, 255); rintf rounds half to even like np.rint (NaN -> 0)
    return (int)fminf(fmaxf(rintf(v * 255.0f), 0.0f), 255.0f);
}

// Chroma factors of a subsampling code (0 4:4:4, 1 4:2:2, 2 4:2:0) for component c.
__device__ __forceinline__ int jpeg_hs(int sub, int c) { return (c > 0 && sub >= 1) ? 2 : 1; }
__device__ __forceinline__ int jpeg_vs(int sub, int c) { return (c > 0 && sub == 2) ? 2 : 1; }

// The 8x8 block that slot `slot` of tile (tx, ty) stands for: component c and block column /
// row (bx, by) in that component's plane. Slots 0-3 are the tile's luma blocks; then Cb, Cr.
__device__ __forceinline__ void jpeg_slot(int slot, int s, int tx, int ty, int* c, int* bx, int* by)
{
    if (slot < 4) {
        *c = 0;
        *bx = 2 * tx + (slot & 1);
        *by = 2 * ty + (slot >> 1);
    } else if (s == 0) {  // 4:4:4: 4 blocks per chroma component
        const int q = (slot - 4) & 3;
        *c = 1 + (slot - 4) / 4;
        *bx = 2 * tx + (q & 1);
        *by = 2 * ty + (q >> 1);
    } else if (s == 1) {  // 4:2:2: one column of 2 blocks per chroma component
        *c = 1 + (slot - 4) / 2;
        *bx = tx;
        *by = 2 * ty + ((slot - 4) & 1);
    } else {  // 4:2:0: one block per chroma component
        *c = slot - 3;
        *bx = tx;
        *by = ty;
    }
}

__device__ __forceinline__ int jpeg_descale(int v, int n) { return (v + (1 << (n - 1))) >> n; }

// One 1-D pass of the slow integer forward DCT (jfdctint.c's butterfly) on d[0..7], in place.
// Row pass: out scaled by 2^PASS1_BITS; column pass: descaled by PASS1_BITS (output = DCT * 8).
__device__ __forceinline__ void jpeg_fdct_1d(int* d, bool rows)
{
    const int t0 = d[0] + d[7], t7 = d[0] - d[7], t1 = d[1] + d[6], t6 = d[1] - d[6];
    const int t2 = d[2] + d[5], t5 = d[2] - d[5], t3 = d[3] + d[4], t4 = d[3] - d[4];
    const int t10 = t0 + t3, t13 = t0 - t3, t11 = t1 + t2, t12 = t1 - t2;
    const int sh = rows ? 11 : 15;  // CONST_BITS -/+ PASS1_BITS
    d[0] = rows ? (t10 + t11) * 4 : jpeg_descale(t10 + t11, 2);
    d[4] = rows ? (t10 - t11) * 4 : jpeg_descale(t10 - t11, 2);
    int z1 = (t12 + t13) * 4433;
    d[2] = jpeg_descale(z1 + t13 * 6270, sh);
    d[6] = jpeg_descale(z1 - t12 * 15137, sh);
    z1 = t4 + t7;
    int z2 = t5 + t6, z3 = t4 + t6, z4 = t5 + t7;
    const int z5 = (z3 + z4) * 9633;
    const int a4 = t4 * 2446, a5 = t5 * 16819, a6 = t6 * 25172, a7 = t7 * 12299;
    z1 *= -7373;
    z2 *= -20995;
    z3 = z3 * -16069 + z5;
    z4 = z4 * -3196 + z5;
    d[7] = jpeg_descale(a4 + z1 + z3, sh);
    d[5] = jpeg_descale(a5 + z2 + z4, sh);
    d[3] = jpeg_descale(a6 + z2 + z3, sh);
    d[1] = jpeg_descale(a7 + z1 + z4, sh);
}

// One 1-D pass of the slow integer inverse DCT (jidctint.c) on in[0..7] into out[0..7], descaled
// by sh, in int32 like libjpeg-turbo's SIMD code (16-bit lanes between the passes, 32-bit
// products); the column pass outputs of encoder coefficients stay far inside 16 bits (measured
// < 7100 on 0/255 noise at quality 1, docs/jpeg_cuda.md), so no product or sum overflows.
// The zero-AC shortcuts of libjpeg equal the full butterfly, so there are none.
__device__ __forceinline__ void jpeg_idct_1d(const int* in, int* out, int sh)
{
    int z2 = in[2], z3 = in[6];
    int z1 = (z2 + z3) * 4433;
    int t2 = z1 + z3 * -15137, t3 = z1 + z2 * 6270;
    int t0 = (in[0] + in[4]) * 8192, t1 = (in[0] - in[4]) * 8192;
    const int t10 = t0 + t3, t13 = t0 - t3, t11 = t1 + t2, t12 = t1 - t2;
    t0 = in[7];
    t1 = in[5];
    t2 = in[3];
    t3 = in[1];
    z1 = t0 + t3;
    z2 = t1 + t2;
    z3 = t0 + t2;
    int z4 = t1 + t3;
    const int z5 = (z3 + z4) * 9633;
    t0 *= 2446;
    t1 *= 16819;
    t2 *= 25172;
    t3 *= 12299;
    z1 *= -7373;
    z2 *= -20995;
    z3 = z3 * -16069 + z5;
    z4 = z4 * -3196 + z5;
    t0 += z1 + z3;
    t1 += z2 + z4;
    t2 += z2 + z3;
    t3 += z1 + z4;
    const int half = 1 << (sh - 1);
    out[0] = (t10 + t3 + half) >> sh;
    out[7] = (t10 - t3 + half) >> sh;
    out[1] = (t11 + t2 + half) >> sh;
    out[6] = (t11 - t2 + half) >> sh;
    out[2] = (t12 + t1 + half) >> sh;
    out[5] = (t12 - t1 + half) >> sh;
    out[3] = (t13 + t0 + half) >> sh;
    out[4] = (t13 - t0 + half) >> sh;
}

// Range limit after the IDCT: v + 128 saturated to 0..255. This is what libjpeg-turbo's SIMD
// IDCTs do (x86 SSE2/AVX2 and Arm Neon pack with signed saturation, then add 128), and so what
// Pillow computes; the C fallback's table (jdmaster.c) wraps instead for |v| > 511 (values past
// 640 or below -384, which quality-1 blocks of 0/255 pixels do reach: tests/test_jpeg_cuda_host.py).
__device__ __forceinline__ unsigned int jpeg_range_limit(int v)
{
    return (unsigned int)(v < -128 ? 0 : v > 127 ? 255 : v + 128);
}

// x (N, H, W, C) float32; quality, sub (N) int32; tables (101, 2, 4, 64) int32 natural order;
// planes (N, C, Hb, Wb) uint8 with Hb, Wb = H, W rounded up to 8.
// Grid (ceil(W / 16), ceil(H / 16), samples strided over z); block (8, JB_GROUPS).
extern "C" __global__ void jpeg_blocks(const float* __restrict__ x, const int* __restrict__ quality,
                                       const int* __restrict__ sub, const int* __restrict__ tables, int N, int H,
                                       int W, int C, unsigned char* __restrict__ planes)
{
    __shared__ unsigned char ycc[3][JB_TILE][JB_TILE];  // the tile's YCbCr, edges replicated
    __shared__ int ws[JB_SLOTS][8][9];                 // one 8x8 block per slot, rows padded (banks)
    const int t = threadIdx.x, g = threadIdx.y, tid = g * 8 + t;
    const int tx = blockIdx.x, ty = blockIdx.y;
    const int Hb = (H + 7) & ~7, Wb = (W + 7) & ~7;
    for (int n = blockIdx.z; n < N; n += gridDim.z) {
        // everything that decides whether the block works or skips is uniform over the block
        const int q = quality[n];
        if (q <= 0) continue;
        const int s = C == 3 ? sub[n] : 0;
        const int nslots = C == 1 ? 4 : s == 0 ? 12 : s == 1 ? 8 : 6;

        // the tile: row r / column k hold full-res pixel (min(ty*16 + r, H-1), min(tx*16 + k, W-1))
        const float* img = x + (long long)n * H * W * C;
        for (int p = tid; p < JB_TILE * JB_TILE; p += 8 * JB_GROUPS) {
            const int r = p / JB_TILE, k = p % JB_TILE;
            const float* px = img + ((long long)min(ty * JB_TILE + r, H - 1) * W + min(tx * JB_TILE + k, W - 1)) * C;
            if (C == 1) {
                ycc[0][r][k] = (unsigned char)jpeg_u8(px[0]);
                continue;
            }
            const int R = jpeg_u8(px[0]), G = jpeg_u8(px[1]), B = jpeg_u8(px[2]);  // jccolor.c
            ycc[0][r][k] = (unsigned char)((19595 * R + 38470 * G + 7471 * B + JC_ONE_HALF) >> 16);
            const int off = JC_CBCR_OFFSET + JC_ONE_HALF - 1;
            ycc[1][r][k] = (unsigned char)((-11059 * R - 21709 * G + 32768 * B + off) >> 16);
            ycc[2][r][k] = (unsigned char)((32768 * R - 27439 * G - 5329 * B + off) >> 16);
        }
        __syncthreads();

        // row t of each slot's block: downsampling (jcsample.c) and the FDCT row pass. Rows of
        // the plane past the last real downsampled row repeat it (jcprepct.c pads after
        // downsampling); columns past the image were replicated at full resolution before it.
        int v[8];
        for (int slot = g; slot < nslots; slot += JB_GROUPS) {
            int c, bx, by;
            jpeg_slot(slot, s, tx, ty, &c, &bx, &by);
            const int hs = jpeg_hs(s, c), vs = jpeg_vs(s, c);
            const int dh = (H + vs - 1) / vs;
            const int rr = min(by * 8 + t, dh - 1);
            const unsigned char* r0 = ycc[c][vs * rr - ty * JB_TILE];  // in 0..15: see docs/jpeg_cuda.md
            const unsigned char* r1 = r0 + (vs - 1) * JB_TILE;
            const int k0 = bx * 8 * hs - tx * JB_TILE;
            for (int i = 0; i < 8; ++i) {
                const int k = k0 + hs * i;
                int val;
                if (hs == 1) val = r0[k];
                else if (vs == 1) val = (r0[k] + r0[k + 1] + (i & 1)) >> 1;  // h2v1: bias 0, 1, 0, 1
                else val = (r0[k] + r0[k + 1] + r1[k] + r1[k + 1] + 1 + (i & 1)) >> 2;  // h2v2: 1, 2, 1, 2
                v[i] = val - 128;
            }
            jpeg_fdct_1d(v, true);
            for (int i = 0; i < 8; ++i) ws[slot][t][i] = v[i];
        }
        __syncthreads();

        // column t: FDCT, quantize (jcdctmgr.c), dequantize, IDCT column pass
        for (int slot = g; slot < nslots; slot += JB_GROUPS) {
            const int* tab = tables + ((long long)q * 2 + (slot >= 4)) * (JB_TABLE_ROWS * 64);
            for (int j = 0; j < 8; ++j) v[j] = ws[slot][j][t];
            jpeg_fdct_1d(v, false);
            for (int j = 0; j < 8; ++j) {
                const int k = j * 8 + t;
                const int xv = v[j];
                const unsigned int mag = (unsigned int)(xv < 0 ? -xv : xv);
                const unsigned int qm = ((mag + (unsigned int)__ldg(tab + 64 + k)) * (unsigned int)__ldg(tab + k))
                                        >> __ldg(tab + 128 + k);
                v[j] = (xv < 0 ? -(int)qm : (int)qm) * __ldg(tab + 192 + k);
            }
            int u[8];
            jpeg_idct_1d(v, u, 11);  // CONST_BITS - PASS1_BITS
            for (int j = 0; j < 8; ++j) ws[slot][j][t] = u[j];
        }
        __syncthreads();

        // row t: IDCT row pass, range limit, 8 bytes of the block's row in its plane
        for (int slot = g; slot < nslots; slot += JB_GROUPS) {
            int c, bx, by;
            jpeg_slot(slot, s, tx, ty, &c, &bx, &by);
            const int hs = jpeg_hs(s, c), vs = jpeg_vs(s, c);
            const int bw = ((W + hs - 1) / hs + 7) >> 3, bh = ((H + vs - 1) / vs + 7) >> 3;
            if (bx >= bw || by >= bh) continue;  // a luma block past the image's last block
            for (int i = 0; i < 8; ++i) v[i] = ws[slot][t][i];
            int o[8];
            jpeg_idct_1d(v, o, 18);  // CONST_BITS + PASS1_BITS + 3
            unsigned long long packed = 0;
            for (int i = 0; i < 8; ++i) packed |= (unsigned long long)jpeg_range_limit(o[i]) << (8 * i);
            unsigned char* dst = planes + (((long long)n * C + c) * Hb + by * 8 + t) * Wb + bx * 8;
            *(unsigned long long*)dst = packed;  // 8-byte aligned: Wb and bx * 8 are multiples of 8
        }
        // No barrier before the next sample: its tile load writes ycc, last read before the
        // second barrier, and its row pass writes ws only after its first barrier, which every
        // thread reaches after finishing this row pass (skipped samples are skipped by all).
    }
}

// Upsampled chroma value at full-res (y, x) from a downsampled plane p (row stride Wb).
__device__ __forceinline__ int jpeg_upsample(const unsigned char* __restrict__ p, int Wb, int H, int W, int s, int y,
                                             int x)
{
    if (s == 0) return p[(long long)y * Wb + x];
    const int dw = (W + 1) >> 1, k = x >> 1;
    if (s == 1) {  // h2v1
        const unsigned char* r = p + (long long)y * Wb;
        if (dw <= 2) return r[k];
        const int cur = 3 * r[k];
        if ((x & 1) == 0) return k == 0 ? r[0] : (cur + r[k - 1] + 1) >> 2;
        return k == dw - 1 ? r[k] : (cur + r[k + 1] + 2) >> 2;
    }
    const int i = y >> 1;  // h2v2
    if (dw <= 2) return p[(long long)i * Wb + k];
    const int dh = (H + 1) >> 1;
    const int i2 = (y & 1) ? min(i + 1, dh - 1) : max(i - 1, 0);  // context rows repeat the edge rows
    const unsigned char* r0 = p + (long long)i * Wb;
    const unsigned char* r1 = p + (long long)i2 * Wb;
    const int cur = 3 * r0[k] + r1[k];
    if ((x & 1) == 0) return k == 0 ? (cur * 4 + 8) >> 4 : (cur * 3 + 3 * r0[k - 1] + r1[k - 1] + 8) >> 4;
    return k == dw - 1 ? (cur * 4 + 7) >> 4 : (cur * 3 + 3 * r0[k + 1] + r1[k + 1] + 7) >> 4;
}

__device__ __forceinline__ int jpeg_clamp255(int v) { return min(max(v, 0), 255); }

// planes as written by jpeg_blocks -> out (N, H, W, C) float32; quality-0 samples copy x.
// Grid ((W+31)/32, (H+7)/8, samples strided over z); block (32, 8).
extern "C" __global__ void jpeg_colour(const float* __restrict__ x, const unsigned char* __restrict__ planes,
                                       const int* __restrict__ quality, const int* __restrict__ sub, int N, int H,
                                       int W, int C, float* __restrict__ out)
{
    const int px = blockIdx.x * blockDim.x + threadIdx.x, py = blockIdx.y * blockDim.y + threadIdx.y;
    if (px >= W || py >= H) return;
    const int Hb = (H + 7) & ~7, Wb = (W + 7) & ~7;
    const long long plane = (long long)Hb * Wb;
    for (int n = blockIdx.z; n < N; n += gridDim.z) {
        const long long o = (((long long)n * H + py) * W + px) * C;
        if (quality[n] <= 0) {
            for (int ch = 0; ch < C; ++ch) out[o + ch] = x[o + ch];
            continue;
        }
        const unsigned char* p = planes + (long long)n * C * plane;
        const int yv = p[(long long)py * Wb + px];
        if (C == 1) {
            out[o] = (float)yv / 255.0f;
            continue;
        }
        const int s = sub[n];
        const int cb = jpeg_upsample(p + plane, Wb, H, W, s, py, px) - 128;
        const int cr = jpeg_upsample(p + 2 * plane, Wb, H, W, s, py, px) - 128;
        // jdcolor.c: Cr_r, Cb_b rounded tables; green from the unrounded sum (ONE_HALF in Cb_g)
        const int r = yv + ((91881 * cr + JC_ONE_HALF) >> 16);
        const int g = yv + ((-22554 * cb + JC_ONE_HALF - 46802 * cr) >> 16);
        const int b = yv + ((116130 * cb + JC_ONE_HALF) >> 16);
        out[o] = (float)jpeg_clamp255(r) / 255.0f;
        out[o + 1] = (float)jpeg_clamp255(g) / 255.0f;
        out[o + 2] = (float)jpeg_clamp255(b) / 255.0f;
    }
}
