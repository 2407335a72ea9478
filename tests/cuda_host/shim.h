// Host shim: lets kernels/camera.cu compile as plain C++ (g++) so its logic can be run on the CPU.
// CUDA qualifiers become nothing / inline, the built-in index variables become globals that the
// driver sets before each emulated thread, and the few intrinsics get their exact host meaning.
#pragma once
#include <cmath>
#include <cstdint>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// __restrict__ is understood by g++ as is.

struct uint3 { unsigned int x, y, z; };
struct dim3 {
    unsigned int x, y, z;
    dim3(unsigned int a = 1, unsigned int b = 1, unsigned int c = 1) : x(a), y(b), z(c) {}
};

// One emulated thread at a time: plain globals are enough (the kernels use no shared memory,
// no barriers and no atomics).
static uint3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;

static inline unsigned int __umulhi(unsigned int a, unsigned int b)
{
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}

template <typename T> static inline T __ldg(const T* p) { return *p; }

using std::fminf;
using std::fmaxf;
