"""The moire plugin after the fused steps 6-8: its JPEG step (step 9) is the JPEG kernels', and
equals what Pillow (libjpeg) gives for the same photo and quality, byte for byte.

The fused CUDA kernel of steps 6-8 (``moire_develop``) is checked bit for bit against the Numba
path by host emulation (tests/test_cuda_host.py, tests/test_moire.py) and launch by launch with
the fake CuPy (tests/test_cuda_launch.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from imgrestore.chain import Chain


def _screens(src, n, seed=0):
    r = np.random.default_rng(seed)
    x = np.empty((n, *src, 3), np.float32)
    x[:] = r.random((n, 1, 1, 3))
    x[:, src[0] // 3:, src[1] // 4:] = r.random((n, src[0] - src[0] // 3, src[1] - src[1] // 4, 3)) > 0.5
    return x


@pytest.mark.parametrize("jpeg", ["true", "true,false"])
def test_jpeg_step_is_pillows_round_trip_of_the_photo(jpeg):
    """Photo with JPEG == Pillow's encode -> decode (4:2:0, the drawn quality) of the photo
    without it, for the same draws; samples drawn jpeg=false are left as they are."""
    from imgrestore.bench.jpeg import pillow_roundtrip  # Pillow itself: the reference (the plugin calls our kernel)

    spec = f"moire:jpeg={jpeg},quality=30-95,denoise=0-0.6"
    out = (19, 23)  # not whole MCUs: edge replication
    chain = Chain.parse(spec)
    src = chain.source_size(out)
    x = _screens(src, 5)
    idx = [4, 0, 7, 2, 9]
    got = chain(x.copy(), 11, idx)
    plain = Chain.parse(spec.replace(f"jpeg={jpeg}", "jpeg=false"))
    plain.source_size(out)
    ref = plain(x.copy(), 11, idx)
    draws = [p[0] for p in got.params]
    assert [{k: v for k, v in d.items() if k not in ("jpeg", "quality")} for d in draws] == \
        [{k: v for k, v in p[0].items() if k not in ("jpeg", "quality")} for p in ref.params]
    if jpeg == "true,false":
        assert {d["jpeg"] for d in draws} == {True, False}  # both kinds are in the batch
    np.testing.assert_array_equal(got.target, ref.target)
    for k, d in enumerate(draws):
        want = pillow_roundtrip(ref.input[k], d["quality"], "420") if d["jpeg"] else ref.input[k]
        np.testing.assert_array_equal(got.input[k], want, err_msg=f"sample {k}, quality {d['quality']}")
    assert not np.array_equal(got.input, ref.input)  # the JPEG step did something


def test_gray_screens_jpeg_before_the_gray_conversion():
    """Grayscale screens go through the colour camera and a colour JPEG, then back to gray."""
    from imgrestore.bench.jpeg import pillow_roundtrip
    from imgrestore.plugins.moire import GRAY, _finish

    spec = "moire:quality=50"
    chain = Chain.parse(spec)
    out = (16, 16)
    src = chain.source_size(out)
    x = _screens(src, 2, seed=3)[..., :1]
    got = chain(x.copy(), 2, [0, 1])
    plain = Chain.parse("moire:jpeg=false")
    plain.source_size(out)
    # the colour photo of the gray screen, before the gray conversion: the plugin's own path
    from imgrestore.kernels.camera_numpy import RED_SITE
    from imgrestore.kernels.moire import moire_batch, pack_batch
    from imgrestore.kernels.philox import sample_key
    from imgrestore.plugins.moire import PATTERNS

    samples = [dict(p[0], red=RED_SITE[PATTERNS.index(p[0]["pattern"])], shot=p[0]["shot"], read=p[0]["read"])
               for p in got.params]
    b = pack_batch(samples, out, src, 3, [sample_key(2, i, 0) for i in (0, 1)])
    photo, _ = moire_batch(np.repeat(x, 3, axis=3), b, out, "bilinear")
    photo = _finish(photo, [p[0] for p in got.params])  # tone, chroma denoise, sharpening
    w = np.array(GRAY, np.float32)
    for k in range(2):
        want = (pillow_roundtrip(photo[k], 50, "420") @ w)[..., None].astype(np.float32)
        np.testing.assert_array_equal(got.input[k], want)


@pytest.mark.gpu
@pytest.mark.parametrize("spec", ["moire", "moire:jpeg=true,false,demosaic=malvar,glare=0.3,denoise=0-2",
                                  "moire:cfa=false,quality=20-40", "moire:demosaic=none,noise=false"])
def test_plugin_on_the_gpu_equals_the_cpu(spec):
    """The whole stage on CuPy (decode, capture, moire_develop, JPEG kernels) gives the CPU's pairs
    bit for bit."""
    import cupy

    chain = Chain.parse(spec)
    out = (45, 70)  # several develop blocks, ragged edges, partial JPEG MCUs
    src = chain.source_size(out)
    x = _screens(src, 6, seed=5)
    cpu = chain(x.copy(), 4, range(6))
    gpu = chain(cupy.asarray(x), 4, range(6))
    np.testing.assert_array_equal(cupy.asnumpy(gpu.input), cpu.input)
    np.testing.assert_array_equal(cupy.asnumpy(gpu.target), cpu.target)
