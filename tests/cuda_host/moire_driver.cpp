// Host driver for kernels/moire.cu (see tests/test_cuda_host.py and tests/test_moire.py): runs the
// kernels on the CPU with the grid/block shapes of moire_cuda.py. An optional argument caps the
// sample dimension of every grid (moire_cuda.py caps it at 65535), so that the kernels' loops
// striding over samples by gridDim run.
//   moire_driver capture [max_grid]   moire_decode + moire_capture (threads one after another)
//     stdin:  int64 header [N, Hs, Ws, H, W, nc, n], then x (N Hs Ws 3 float32), boxes (N 4 int32),
//             G (N 23 float64), I (N 3 int32), wts (N n float64)
//     stdout: lin (N Hs Ws 3 float32, zero outside the boxes), capture (N H W nc), gt (N H W 3);
//             every output starts at -1 (a value no thread writes shows)
//   moire_driver develop [max_grid] [order]   moire_develop
//     stdin:  int64 header [N, H, W, nc, method, T, rmax, has_glare, bw, bh], then cap (N H W nc
//             float32), gt (N H W 3 float32), glare (N H W float32, or 1 value), ab (N 2 float64),
//             keys (N 2 uint32), I (N 3 int32), taps (N T float64), radius (N int32),
//             lut (65537 float64)
//     stdout: out (N H W 3 float32), tgt (N H W 3 float32); NaN where no thread wrote
//
// moire_develop uses shared memory and __syncthreads(), so it runs as fibers, phase by phase
// (launch_fibers, described in launch.h), in the thread order that the `order` argument chooses.
// The dynamic shared memory starts as NaN in every block, so a read of a value no thread wrote
// shows up.
#include "shim.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

// dynamic shared memory: `extern __shared__ float mo_smem[];` declares this array
#undef __shared__
#define __shared__

#include "../../kernels/moire.cu"

float mo_smem[1 << 16];  // 256 KB, more than any launch's dynamic shared size

#include "launch.h"

// a fiber launch with `shared_floats` of dynamic shared memory, NaN at the start of every block
template <typename F> static void launch_shared(dim3 grid, dim3 block, size_t shared_floats, F kernel)
{
    if (shared_floats > sizeof(mo_smem) / sizeof(float)) {
        std::fprintf(stderr, "moire_driver: %zu shared floats exceed the emulated shared memory\n", shared_floats);
        std::exit(2);
    }
    launch_fibers(grid, block, kernel,
                  [&] { std::fill(mo_smem, mo_smem + shared_floats, std::numeric_limits<float>::quiet_NaN()); });
}

static int develop()
{
    const auto hd = take<long long>(10);
    const int N = (int)hd[0], H = (int)hd[1], W = (int)hd[2], nc = (int)hd[3], method = (int)hd[4];
    const int T = (int)hd[5], rmax = (int)hd[6], has_glare = (int)hd[7], bw = (int)hd[8], bh = (int)hd[9];
    const long long plane = (long long)H * W;
    const auto cap = take<float>(N * plane * nc);
    const auto gt = take<float>(N * plane * 3);
    const auto glare = take<float>(has_glare ? N * plane : 1);
    const auto ab = take<double>(2LL * N);
    const auto keys = take<unsigned int>(2LL * N);
    const auto I = take<int>(3LL * N);
    const auto taps = take<double>((long long)N * T);
    const auto radius = take<int>(N);
    const auto lut = take<double>(MO_LUT_N + 1);
    std::vector<float> out((size_t)(N * plane * 3), std::numeric_limits<float>::quiet_NaN()), tgt(out);
    int capD, capS;
    mo_tiles(bw, bh, rmax, nc, &capD, &capS);
    launch_shared(dim3((unsigned)((W + bw - 1) / bw), (unsigned)((H + bh - 1) / bh), grid_n(N)), dim3(bw, bh, 1),
                  (size_t)(capD + capS), [&] {
                      moire_develop(cap.data(), gt.data(), glare.data(), has_glare, ab.data(), keys.data(), I.data(),
                                    taps.data(), radius.data(), T, lut.data(), N, H, W, nc, method, rmax, out.data(),
                                    tgt.data());
                  });
    std::fwrite(out.data(), sizeof(float), out.size(), stdout);
    std::fwrite(tgt.data(), sizeof(float), tgt.size(), stdout);
    return 0;
}

int main(int argc, char** argv)
{
    driver_name = "moire_driver";
    if (argc > 2) max_grid = (unsigned)std::atoi(argv[2]);
    if (argc > 3) fiber_order = std::atoi(argv[3]);
    if (argc > 1 && std::string(argv[1]) == "develop") return develop();
    const auto hd = take<long long>(7);
    const int N = (int)hd[0], Hs = (int)hd[1], Ws = (int)hd[2], H = (int)hd[3], W = (int)hd[4], nc = (int)hd[5];
    const int n = (int)hd[6];
    const auto x = take<float>((long long)N * Hs * Ws * 3);
    const auto boxes = take<int>(4LL * N);
    const auto G = take<double>(23LL * N);
    const auto I = take<int>(3LL * N);
    const auto wts = take<double>((long long)N * n);
    std::vector<float> lin(x.size(), -1.0f), cap((size_t)N * H * W * nc, -1.0f), gt((size_t)N * H * W * 3, -1.0f);
    const dim3 block(32, 8, 1);
    launch(dim3((Ws + 31) / 32, (Hs + 7) / 8, grid_n(N)), block,
           [&] { moire_decode(x.data(), boxes.data(), N, Hs, Ws, lin.data()); });
    launch(dim3((W + 31) / 32, (H + 7) / 8, grid_n(N)), block, [&] {
        moire_capture(lin.data(), G.data(), I.data(), wts.data(), n, N, Hs, Ws, H, W, nc, cap.data(), gt.data());
    });
    std::fwrite(lin.data(), sizeof(float), lin.size(), stdout);
    std::fwrite(cap.data(), sizeof(float), cap.size(), stdout);
    std::fwrite(gt.data(), sizeof(float), gt.size(), stdout);
    return 0;
}
