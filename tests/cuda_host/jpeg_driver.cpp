// Host driver for kernels/jpeg.cu (see tests/test_jpeg_cuda_host.py): runs both kernels on the CPU
// with the grid/block shapes of kernels/jpeg_cuda.py.
//
// jpeg_blocks uses shared memory and __syncthreads(), so its threads cannot run one after another
// to completion: it runs as fibers, phase by phase (launch_fibers, described in launch.h), in the
// thread order that the `order` argument chooses.
//
//   jpeg_driver roundtrip [max_grid] [order]
//     stdin:  int64 header [N, H, W, C], x (N H W C float32), quality (N int32), sub (N int32),
//             tables (101 2 4 64 int32)
//     stdout: out (N H W C float32), then planes (N C Hb Wb uint8; 0xA5 where nothing wrote)
#include "shim.h"
#include "../../kernels/jpeg.cu"

#include "launch.h"

#include <cmath>
#include <string>
#include <vector>

// ---- the launches of jpeg_cuda.roundtrip -----------------------------------------------------
static int roundtrip()
{
    const auto hd = take<long long>(4);
    const int N = (int)hd[0], H = (int)hd[1], W = (int)hd[2], C = (int)hd[3];
    const auto x = take<float>((long long)N * H * W * C);
    const auto quality = take<int>(N);
    const auto sub = take<int>(N);
    const auto tables = take<int>((long long)JB_QUALITIES * 2 * JB_TABLE_ROWS * 64);
    const int Hb = (H + 7) / 8 * 8, Wb = (W + 7) / 8 * 8;
    std::vector<unsigned char> planes((size_t)N * C * Hb * Wb, 0xA5);
    std::vector<float> out(x.size(), std::nanf(""));
    bool any = false;
    for (int q : quality) any = any || q > 0;
    if (any)  // jpeg_cuda.py skips the launch when every sample is a copy
        launch_fibers(dim3((unsigned)((W + JB_TILE - 1) / JB_TILE), (unsigned)((H + JB_TILE - 1) / JB_TILE), grid_n(N)),
                      dim3(8, JB_GROUPS, 1),
                      [&] {
                          jpeg_blocks(x.data(), quality.data(), sub.data(), tables.data(), N, H, W, C, planes.data());
                      });
    launch(dim3((unsigned)((W + 31) / 32), (unsigned)((H + 7) / 8), grid_n(N)), dim3(32, 8, 1),
                 [&] { jpeg_colour(x.data(), planes.data(), quality.data(), sub.data(), N, H, W, C, out.data()); });
    std::fwrite(out.data(), sizeof(float), out.size(), stdout);
    std::fwrite(planes.data(), 1, planes.size(), stdout);
    std::fprintf(stderr, "barriers passed: %lld\n", barriers_passed);
    return 0;
}

int main(int argc, char** argv)
{
    driver_name = "jpeg_driver";
    if (argc > 2) max_grid = (unsigned)std::atoi(argv[2]);
    if (argc > 3) fiber_order = std::atoi(argv[3]);
    if (argc > 1 && std::string(argv[1]) == "roundtrip") return roundtrip();
    std::fprintf(stderr, "usage: jpeg_driver roundtrip [max_grid] [order]\n");
    return 2;
}
