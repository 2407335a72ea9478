// Host driver for kernels/moire.cu (see tests/test_moire.py): runs the kernels on the CPU, one
// emulated thread after another, with the grid/block shapes of moire_cuda.py. An optional last
// argument caps the sample dimension of every grid (moire_cuda.py caps it at 65535), so that
// the kernels' loops striding over samples by gridDim run.
//   moire_driver capture [max_grid]   moire_decode + moire_capture
//     stdin:  int64 header [N, Hs, Ws, H, W, nc, n], then x (N Hs Ws 3 float32), boxes (N 4 int32),
//             G (N 23 float64), I (N 3 int32), wts (N n float64)
//     stdout: lin (N Hs Ws 3 float32, zero outside the boxes), capture (N H W nc), gt (N H W 3)
//   moire_driver post [max_grid]      moire_noise, then moire_blur_h + moire_blur_v_encode
//     stdin:  int64 header [N, H, W, C, T], then x (N H W C float32), ab (N 2 float64),
//             keys (N 2 uint32), taps (N T float64), radius (N int32)
//     stdout: noisy x, encoded (N H W C float32)
#include "shim.h"
#include "../../kernels/moire.cu"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

template <typename T> static std::vector<T> take(long long n)
{
    std::vector<T> v((size_t)n);
    if (n && std::fread(v.data(), sizeof(T), (size_t)n, stdin) != (size_t)n) {
        std::fprintf(stderr, "moire_driver: short input\n");
        std::exit(2);
    }
    return v;
}

template <typename F> static void launch(dim3 grid, dim3 block, F kernel)
{
    gridDim = grid;
    blockDim = block;
    for (blockIdx.z = 0; blockIdx.z < grid.z; ++blockIdx.z)
        for (blockIdx.y = 0; blockIdx.y < grid.y; ++blockIdx.y)
            for (blockIdx.x = 0; blockIdx.x < grid.x; ++blockIdx.x)
                for (threadIdx.z = 0; threadIdx.z < block.z; ++threadIdx.z)
                    for (threadIdx.y = 0; threadIdx.y < block.y; ++threadIdx.y)
                        for (threadIdx.x = 0; threadIdx.x < block.x; ++threadIdx.x) kernel();
}

static unsigned max_grid = 65535;

static unsigned grid_n(int n) { return (unsigned)n < max_grid ? (unsigned)n : max_grid; }

static int post()
{
    const auto hd = take<long long>(5);
    const int N = (int)hd[0], H = (int)hd[1], W = (int)hd[2], C = (int)hd[3], T = (int)hd[4];
    auto x = take<float>((long long)N * H * W * C);
    const auto ab = take<double>(2LL * N);
    const auto keys = take<unsigned int>(2LL * N);
    const auto taps = take<double>((long long)N * T);
    const auto radius = take<int>(N);
    const long long M = (long long)H * W * C;
    const long long quads = (M + 3) / 4;
    launch(dim3((unsigned)((quads + 255) / 256), grid_n(N), 1), dim3(256, 1, 1),
           [&] { moire_noise(x.data(), N, M, ab.data(), keys.data()); });
    std::vector<float> tmp(x.size(), -1.0f), out(x.size(), -1.0f);
    const dim3 block(32, 8, 1), grid((W + 31) / 32, (H + 7) / 8, grid_n(N));
    launch(grid, block, [&] { moire_blur_h(x.data(), taps.data(), radius.data(), T, N, H, W, C, tmp.data()); });
    launch(grid, block, [&] { moire_blur_v_encode(tmp.data(), taps.data(), radius.data(), T, N, H, W, C, out.data()); });
    std::fwrite(x.data(), sizeof(float), x.size(), stdout);
    std::fwrite(out.data(), sizeof(float), out.size(), stdout);
    return 0;
}

int main(int argc, char** argv)
{
    if (argc > 2) max_grid = (unsigned)std::atoi(argv[2]);
    if (argc > 1 && std::string(argv[1]) == "post") return post();
    const auto hd = take<long long>(7);
    const int N = (int)hd[0], Hs = (int)hd[1], Ws = (int)hd[2], H = (int)hd[3], W = (int)hd[4], nc = (int)hd[5];
    const int n = (int)hd[6];
    const auto x = take<float>((long long)N * Hs * Ws * 3);
    const auto boxes = take<int>(4LL * N);
    const auto G = take<double>(23LL * N);
    const auto I = take<int>(3LL * N);
    const auto wts = take<double>((long long)N * n);
    std::vector<float> lin(x.size(), 0.0f), cap((size_t)N * H * W * nc, -1.0f), gt((size_t)N * H * W * 3, -1.0f);
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
