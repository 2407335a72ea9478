// Host launches of CUDA kernels for the cuda_host drivers (include after shim.h and the .cu file).
//
// launch(): every (block, thread) of a grid runs to completion, one after another: enough for
// kernels without barriers (a __syncthreads() there aborts).
// launch_fibers(): kernels with shared memory and __syncthreads(). Each thread of a block is a
// fiber (ucontext) and the block runs phase by phase: every live thread runs up to its next
// barrier (or its end) before any passes it, as on the GPU. The order in which a phase runs its
// threads is `fiber_order` (0 forward, 1 reverse, 2 a rotation that changes every phase), so a
// result that depends on it (a race on shared memory, a missing barrier) differs between orders.
// A barrier that some threads of a block reach while others have returned is an error (undefined
// behaviour on the GPU). `before_block` runs before each block (e.g. to poison shared memory).
#pragma once

#include <ucontext.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

static const char* driver_name = "driver";  // the prefix of error messages; set by main()
static unsigned max_grid = 65535;             // cap on the sample dimension of the grid (argv)
static int fiber_order = 0;

static inline unsigned grid_n(int n) { return (unsigned)n < max_grid ? (unsigned)n : max_grid; }

// the next `n` values of type T from `f` (the request on stdin, or a side file); exit 2 if short
template <typename T> static std::vector<T> take(long long n, FILE* f = stdin)
{
    std::vector<T> v((size_t)n);
    if (n && std::fread(v.data(), sizeof(T), (size_t)n, f) != (size_t)n) {
        std::fprintf(stderr, "%s: short input\n", driver_name);
        std::exit(2);
    }
    return v;
}

template <typename F> static void launch(dim3 grid, dim3 block, F kernel)
{
    cuda_host_barrier = nullptr;  // a barrier here aborts
    gridDim = grid;
    blockDim = block;
    for (blockIdx.z = 0; blockIdx.z < grid.z; ++blockIdx.z)
        for (blockIdx.y = 0; blockIdx.y < grid.y; ++blockIdx.y)
            for (blockIdx.x = 0; blockIdx.x < grid.x; ++blockIdx.x)
                for (threadIdx.z = 0; threadIdx.z < block.z; ++threadIdx.z)
                    for (threadIdx.y = 0; threadIdx.y < block.y; ++threadIdx.y)
                        for (threadIdx.x = 0; threadIdx.x < block.x; ++threadIdx.x) kernel();
}

// ---- fibers ----------------------------------------------------------------------------------
struct Fiber {
    ucontext_t ctx;
    std::vector<char> stack;
    uint3 tid;
    bool done;
};

static ucontext_t sched_ctx;
static std::vector<Fiber> fibers;
static size_t cur;
static std::function<void()> body;
static long long barriers_passed = 0;

static inline void fiber_entry()
{
    body();
    fibers[cur].done = true;  // returning resumes sched_ctx (uc_link)
}

static inline void fiber_barrier() { swapcontext(&fibers[cur].ctx, &sched_ctx); }

static inline size_t pick(size_t i, size_t n, int phase)
{
    if (fiber_order == 1) return n - 1 - i;
    if (fiber_order == 2) return (i * 7 + (size_t)phase * 13) % n;  // a permutation when 7 does not divide n
    return i;
}

template <typename F, typename B> static void launch_fibers(dim3 grid, dim3 block, F kernel, B before_block)
{
    body = kernel;
    cuda_host_barrier = fiber_barrier;
    gridDim = grid;
    blockDim = block;
    const size_t nt = (size_t)block.x * block.y * block.z;
    if (fiber_order == 2 && nt % 7 == 0) {
        std::fprintf(stderr, "%s: order 2 needs a block size coprime to 7\n", driver_name);
        std::exit(2);
    }
    fibers.resize(nt);
    for (auto& f : fibers) f.stack.resize(1 << 16);
    for (blockIdx.z = 0; blockIdx.z < grid.z; ++blockIdx.z)
        for (blockIdx.y = 0; blockIdx.y < grid.y; ++blockIdx.y)
            for (blockIdx.x = 0; blockIdx.x < grid.x; ++blockIdx.x) {
                before_block();
                for (size_t i = 0; i < nt; ++i) {
                    Fiber& f = fibers[i];
                    f.tid = {(unsigned)(i % block.x), (unsigned)(i / block.x % block.y),
                             (unsigned)(i / ((size_t)block.x * block.y))};
                    f.done = false;
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = f.stack.data();
                    f.ctx.uc_stack.ss_size = f.stack.size();
                    f.ctx.uc_link = &sched_ctx;
                    makecontext(&f.ctx, fiber_entry, 0);
                }
                for (int phase = 0;; ++phase) {
                    size_t live = 0, ended = 0;
                    for (size_t k = 0; k < nt; ++k) {
                        cur = pick(k, nt, phase);
                        if (fibers[cur].done) continue;
                        threadIdx = fibers[cur].tid;
                        swapcontext(&sched_ctx, &fibers[cur].ctx);
                        if (fibers[cur].done) ++ended;
                        else ++live;
                    }
                    if (live == 0) break;
                    if (ended) {
                        std::fprintf(stderr, "%s: block (%u,%u,%u): %zu threads wait at barrier %d, %zu returned\n",
                                     driver_name, blockIdx.x, blockIdx.y, blockIdx.z, live, phase + 1, ended);
                        std::exit(3);
                    }
                    ++barriers_passed;
                }
            }
    cuda_host_barrier = nullptr;
}

template <typename F> static void launch_fibers(dim3 grid, dim3 block, F kernel)
{
    launch_fibers(grid, block, kernel, [] {});
}
