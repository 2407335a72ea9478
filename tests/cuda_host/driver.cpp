// Host driver for kernels/camera.cu: runs the CUDA kernels on the CPU, one emulated thread after
// another, with exactly the grid/block shapes that kernels/camera_cuda.py launches them with.
//
//   driver camera T  < request > reply    camera_cuda.camera_batch (mosaic_noise, demosaic_crf, full_colour)
//   driver demosaic  < request > reply    camera_cuda.demosaic (bare demosaic_crf)
//   driver philox    < request > reply    the Philox words and normals of normal4()
//
// A request is an int64 header followed by the raw little-endian arrays, in the order read below;
// the reply is the raw output arrays. Outputs start as NaN so a value no thread writes shows up.
// T is a file holding the curve tables (inverse, forward, slope), sent once rather than per call.
#include "shim.h"
#include "../../kernels/camera.cu"
#include "launch.h"  // launch(): every (block, thread) in turn (camera.cu has no barriers); take()

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

template <typename T> static void write(const std::vector<T>& v)
{
    std::fwrite(v.data(), sizeof(T), v.size(), stdout);
}

static const unsigned int BLOCK = 256;  // camera_cuda._BLOCK

static std::vector<float> nans(long long n)
{
    return std::vector<float>((size_t)n, std::numeric_limits<float>::quiet_NaN());
}

// camera_cuda._demosaic
static void run_demosaic(const float* raw, const int* sel, int m, int h, int w, const float* fwd, const int* crf,
                         const int* red, int method, int apply_crf, float* out, unsigned int max_grid)
{
    launch(dim3((w + 31) / 32, (h + 7) / 8, std::min((unsigned int)m, max_grid)), dim3(32, 8, 1),
           [&] { demosaic_crf(raw, sel, m, h, w, fwd, crf, red, method, apply_crf, out); });
}

static int camera(const char* tables)
{
    const std::vector<long long> hd = take<long long>(12);
    const long long n = hd[0], h = hd[1], w = hd[2], c = hd[3], ncurves = hd[4];
    const int model = (int)hd[5], clip = (int)hd[6], method = (int)hd[7], want_sigma = (int)hd[8];
    const long long n_mos = hd[9], n_full = hd[10];
    const unsigned int max_grid = (unsigned int)hd[11];  // camera_cuda._MAX_GRID (smaller to test striding)
    const long long size = n * h * w * c;
    const auto x = take<float>(size);
    FILE* t = std::fopen(tables, "rb");
    if (!t) { std::perror(tables); return 2; }
    const auto inv = take<float>(ncurves * 1024, t), fwd = take<float>(ncurves * 1024, t);
    const auto slope = take<float>(ncurves * 1024, t);
    std::fclose(t);
    const auto crf = take<int>(n), red = take<int>(2 * n);
    const auto ss = take<float>(3 * n), sc = take<float>(3 * n);
    const auto keys = take<unsigned int>(2 * n);
    const auto mos = take<int>(n_mos), full = take<int>(n_full);
    auto out = nans(size);
    auto sigma = nans(want_sigma ? size : 0);
    float* sig = want_sigma ? sigma.data() : nullptr;  // CuPy passes an empty (0, 1, 1, 1) array

    if (n_mos) {  // camera_cuda._mosaic_noise, then _demosaic with apply_crf
        const int m = (int)n_mos;
        auto raw = nans(n_mos * h * w);
        const long long quads = (h * w + 3) / 4;
        launch(dim3((unsigned int)((quads + BLOCK - 1) / BLOCK), std::min((unsigned int)m, max_grid)), dim3(BLOCK),
               [&] { mosaic_noise(x.data(), mos.data(), m, (int)h, (int)w, inv.data(), slope.data(), crf.data(),
                                  red.data(), ss.data(), sc.data(), keys.data(), model, clip, raw.data(), sig,
                                  want_sigma); });
        run_demosaic(raw.data(), mos.data(), m, (int)h, (int)w, fwd.data(), crf.data(), red.data(), method, 1,
                     out.data(), max_grid);
    }
    if (n_full) {
        const long long per = h * w * c, quads = (per + 3) / 4;
        launch(dim3((unsigned int)((quads + BLOCK - 1) / BLOCK), std::min((unsigned int)n_full, max_grid)), dim3(BLOCK),
               [&] { full_colour(x.data(), full.data(), (int)n_full, per, (int)c, inv.data(), fwd.data(),
                                 slope.data(), crf.data(), ss.data(), sc.data(), keys.data(), model, clip,
                                 out.data(), sig, want_sigma); });
    }
    write(out);
    write(sigma);
    return 0;
}

static int demosaic()  // camera_cuda.demosaic: sel = 0..n-1, crf 0, a dummy zero table, apply_crf 0
{
    const std::vector<long long> hd = take<long long>(7);
    const int n = (int)hd[0], h = (int)hd[1], w = (int)hd[2], method = (int)hd[3];
    const int ry = (int)hd[4], rx = (int)hd[5];
    const unsigned int max_grid = (unsigned int)hd[6];
    const auto raw = take<float>((long long)n * h * w);
    std::vector<int> sel(n), crf(n, 0), red(2 * n);
    for (int i = 0; i < n; ++i) { sel[i] = i; red[2 * i] = ry; red[2 * i + 1] = rx; }
    const std::vector<float> dummy(1024, 0.0f);
    auto out = nans((long long)n * h * w * 3);
    run_demosaic(raw.data(), sel.data(), n, h, w, dummy.data(), crf.data(), red.data(), method, 0, out.data(),
                 max_grid);
    write(out);
    return 0;
}

static int philox()  // quads 0..nq-1 of key (k0, k1): the four words, then the four normals
{
    const std::vector<long long> hd = take<long long>(3);
    const unsigned int k0 = (unsigned int)hd[0], k1 = (unsigned int)hd[1];
    const long long nq = hd[2];
    std::vector<unsigned int> words(4 * nq);
    std::vector<float> z(4 * nq);
    for (long long q = 0; q < nq; ++q) {
        unsigned int ctr[4] = {(unsigned int)(q & 0xFFFFFFFFull), (unsigned int)((unsigned long long)q >> 32), 0u, 0u};
        philox4x32(ctr, k0, k1);
        std::memcpy(&words[4 * q], ctr, sizeof ctr);
        normal4((unsigned long long)q, k0, k1, &z[4 * q]);
    }
    write(words);
    write(z);
    return 0;
}

int main(int argc, char** argv)
{
    const char* mode = argc > 1 ? argv[1] : "";
    if (!std::strcmp(mode, "camera") && argc > 2) return camera(argv[2]);
    if (!std::strcmp(mode, "demosaic")) return demosaic();
    if (!std::strcmp(mode, "philox")) return philox();
    std::fprintf(stderr, "usage: driver camera TABLES|demosaic|philox < request > reply\n");
    return 2;
}
