// Host driver for kernels/noise.cu (see tests/test_noise_backends.py): runs its kernels on the
// CPU, one emulated thread after another, with the grid/block shapes of noise_cuda.py. The last
// argument caps grid.y (noise_cuda.py caps it at 65535), so the loop over samples by gridDim.y runs.
//   noise_driver fields max_grid
//     stdin:  int64 header [N, per_sample, stream], then keys (N 2 uint32)
//     stdout: normals (N per_sample float32)
//   noise_driver awgn max_grid
//     stdin:  int64 header [N, per_sample, stream, clip], then x (N per_sample float32),
//             sigma (N float32), keys (N 2 uint32)
//     stdout: out (N per_sample float32)
#include "shim.h"
#include "../../kernels/noise.cu"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "launch.h"

// noise_cuda._grid: one thread per quad, 256 threads a block, samples over grid.y (capped: grid_n)
static dim3 grid_of(int n, long long per)
{
    const long long quads = (per + 3) / 4;
    return dim3((unsigned)((quads + 255) / 256), grid_n(n), 1);
}

static void put(const std::vector<float>& v)
{
    std::fwrite(v.data(), sizeof(float), v.size(), stdout);
}

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: noise_driver fields|awgn max_grid < request\n");
        return 2;
    }
    const std::string mode = argv[1];
    driver_name = "noise_driver";
    max_grid = (unsigned)std::atoi(argv[2]);
    if (mode == "fields") {
        const auto hd = take<long long>(3);
        const int N = (int)hd[0];
        const long long per = hd[1];
        const unsigned stream = (unsigned)hd[2];
        const auto keys = take<unsigned int>(2LL * N);
        std::vector<float> out((size_t)(N * per), NAN);  // NaN: a value no thread writes shows up
        launch(grid_of(N, per), dim3(256, 1, 1),
               [&] { noise_fields(keys.data(), N, per, stream, out.data()); });
        put(out);
        return 0;
    }
    if (mode == "awgn") {
        const auto hd = take<long long>(4);
        const int N = (int)hd[0];
        const long long per = hd[1];
        const unsigned stream = (unsigned)hd[2];
        const int clip = (int)hd[3];
        const auto x = take<float>(N * per);
        const auto sigma = take<float>(N);
        const auto keys = take<unsigned int>(2LL * N);
        std::vector<float> out((size_t)(N * per), NAN);
        launch(grid_of(N, per), dim3(256, 1, 1),
               [&] { noise_awgn(x.data(), sigma.data(), keys.data(), N, per, stream, clip, out.data()); });
        put(out);
        return 0;
    }
    std::fprintf(stderr, "noise_driver: unknown mode %s\n", mode.c_str());
    return 2;
}
