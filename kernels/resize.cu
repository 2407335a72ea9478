// Separable bicubic resize (MATLAB imresize) over NHWC float32 images: the CUDA twin of
// resize_numba.py. Each kernel is one axis: out = sum_k w[k] * in[idx[k]] with the per-axis
// index/weight tables built on the host (resize.py). Threads run along the contiguous W*C axis so
// loads and stores coalesce. Taps are summed in table order with separate multiply and add
// (__fmul_rn/__fadd_rn, no FMA contraction), the same operations as the float32 Numba kernels,
// so CPU and GPU results agree bit for bit. Loaded at run time by resize_cuda.py via NVRTC.

// H pass: x (N, hin, row_len) -> out (N, hout, row_len), row_len = W*C.
// grid.x covers row_len, grid.y strides over the N*hout output rows.
extern "C" __global__ void resize_h_f32(const float* __restrict__ x, float* __restrict__ out,
                                        const int* __restrict__ idx, const float* __restrict__ w,
                                        int n_batch, int hin, int hout, long long row_len, int taps)
{
    const long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= row_len) return;
    const long long rows = (long long)n_batch * hout;
    for (long long t = blockIdx.y; t < rows; t += gridDim.y) {
        const long long n = t / hout;
        const int i = (int)(t - n * hout);
        const float* src = x + n * hin * row_len + p;
        const int* ii = idx + (long long)i * taps;
        const float* ww = w + (long long)i * taps;
        float acc = __fmul_rn(ww[0], src[(long long)ii[0] * row_len]);
        for (int k = 1; k < taps; ++k) {
            acc = __fadd_rn(acc, __fmul_rn(ww[k], src[(long long)ii[k] * row_len]));
        }
        out[t * row_len + p] = acc;
    }
}

// W pass: x (rows, win*C) -> out (rows, wout*C). Thread q = j*C + c of an output row.
// grid.x covers wout*C, grid.y strides over the rows (N*H).
extern "C" __global__ void resize_w_f32(const float* __restrict__ x, float* __restrict__ out,
                                        const int* __restrict__ idx, const float* __restrict__ w,
                                        long long rows, int win, int wout, int channels, int taps)
{
    const int out_len = wout * channels;
    const int q = blockIdx.x * blockDim.x + threadIdx.x;
    if (q >= out_len) return;
    const int j = q / channels;
    const int c = q - j * channels;
    const int* ii = idx + (long long)j * taps;
    const float* ww = w + (long long)j * taps;
    const long long in_len = (long long)win * channels;
    for (long long r = blockIdx.y; r < rows; r += gridDim.y) {
        const float* src = x + r * in_len + c;
        float acc = __fmul_rn(ww[0], src[ii[0] * channels]);
        for (int k = 1; k < taps; ++k) {
            acc = __fadd_rn(acc, __fmul_rn(ww[k], src[ii[k] * channels]));
        }
        out[r * out_len + q] = acc;
    }
}
