// Host shim: lets kernels/camera.cu compile as plain C++ (g++) so its logic can be run on the CPU.
// CUDA qualifiers become nothing / inline, the built-in index variables become globals that the
// driver sets before each emulated thread, and the few intrinsics get their exact host meaning.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <algorithm>

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

// One emulated thread at a time: plain globals are enough (no atomics; for shared memory and
// barriers see __shared__ / __syncthreads below).
static uint3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;

static inline unsigned int __umulhi(unsigned int a, unsigned int b)
{
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}

template <typename T> static inline T __ldg(const T* p) { return *p; }

// CUDA's integer min/max (device functions without a namespace).
using std::min;
using std::max;

// Shared memory and barriers, for kernels that use them (kernels/jpeg.cu). A __shared__ array
// becomes a function-local static: one copy, reused by each emulated block in turn, as blocks run
// one after another. __syncthreads() calls the hook of a driver that runs a block's threads as
// fibers, phase by phase (launch_fibers in tests/cuda_host/launch.h); without one it aborts, so a
// driver that runs threads to completion one after another cannot silently skip a barrier.
#define __shared__ static
static void (*cuda_host_barrier)() = nullptr;
static inline void __syncthreads()
{
    if (!cuda_host_barrier) std::abort();
    cuda_host_barrier();
}

using std::fminf;
using std::fmaxf;
