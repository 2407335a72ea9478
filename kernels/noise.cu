// Per-sample standard-normal fields and fused AWGN over float32 batches: the CUDA twin of
// noise_numba.py. Value p of sample s is normal p % 4 of quad p / 4 of Philox4x32-10 on counter
// (quad lo, quad hi, stream, 0) under the sample's key, turned into normals by the float32
// Box-Muller of camera.cu (own log and sin/cos, no libm; compiled with --fmad=false), so the
// fields equal philox.py's NumPy oracle and the Numba kernels bit for bit.
// One thread per quad of 4 consecutive values; blockIdx.y strides over the samples.
// Loaded at run time by noise_cuda.py via NVRTC, with kernels/ on the include path.

#include "camera.cu"

// normal4 of camera.cu (which uses stream 0) for any stream.
__device__ __forceinline__ void normal4_stream(unsigned long long q, unsigned int stream, unsigned int k0,
                                               unsigned int k1, float z[4])
{
    unsigned int c[4] = {(unsigned int)(q & 0xFFFFFFFFull), (unsigned int)(q >> 32), stream, 0u};
    philox4x32(c, k0, k1);
    box_muller(c[0], c[1], &z[0], &z[1]);
    box_muller(c[2], c[3], &z[2], &z[3]);
}

// out: (n, per_sample) normals; keys: (n, 2).
extern "C" __global__ void noise_fields(const unsigned int* __restrict__ keys, int n, long long per_sample,
                                        unsigned int stream, float* __restrict__ out)
{
    const long long q = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (q * 4 >= per_sample) return;
    for (int s = blockIdx.y; s < n; s += gridDim.y) {
        float z[4];
        normal4_stream((unsigned long long)q, stream, keys[2 * s], keys[2 * s + 1], z);
        float* o = out + (long long)s * per_sample;
        for (int j = 0; j < 4; ++j) {
            const long long p = q * 4 + j;
            if (p >= per_sample) break;
            o[p] = z[j];
        }
    }
}

// out = x + sigma[s] * normal (float32, no contraction), clipped to [0, 1] if clip (NaN kept).
extern "C" __global__ void noise_awgn(const float* __restrict__ x, const float* __restrict__ sigma,
                                      const unsigned int* __restrict__ keys, int n, long long per_sample,
                                      unsigned int stream, int clip, float* __restrict__ out)
{
    const long long q = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (q * 4 >= per_sample) return;
    for (int s = blockIdx.y; s < n; s += gridDim.y) {
        float z[4];
        normal4_stream((unsigned long long)q, stream, keys[2 * s], keys[2 * s + 1], z);
        const float sg = sigma[s];
        const long long base = (long long)s * per_sample;
        for (int j = 0; j < 4; ++j) {
            const long long p = q * 4 + j;
            if (p >= per_sample) break;
            float v = x[base + p] + sg * z[j];
            if (clip) {
                if (v < 0.0f) v = 0.0f;
                else if (v > 1.0f) v = 1.0f;
            }
            out[base + p] = v;
        }
    }
}
