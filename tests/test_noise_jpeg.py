"""AWGN and JPEG built-ins: statistics against closed form, side outputs, ranges."""

import numpy as np

from imgrestore.chain import Chain


def test_awgn_statistics_match_sigma():
    chain = Chain.parse("awgn:sigma=25,clip=false")
    clean = np.full((4, 64, 64, 3), 0.5, np.float32)
    pair = chain(clean, seed=0, indices=range(4))
    resid = (pair.input - clean).ravel()
    assert abs(resid.std() - 25 / 255) / (25 / 255) < 0.02
    assert abs(resid.mean()) < 3 * (25 / 255) / np.sqrt(resid.size)
    assert np.all(pair.side["sigma"] == np.float32(25 / 255))


def test_awgn_dncnn_b_range_draws_per_image():
    chain = Chain.parse("awgn:sigma=0-55,clip=false")
    clean = np.full((8, 48, 48, 1), 0.5, np.float32)
    pair = chain(clean, seed=3, indices=range(8))
    sig = np.array([p[0]["sigma"] for p in pair.params]) / 255
    assert np.all((sig >= 0) & (sig <= 55 / 255)) and len(set(sig)) == 8
    measured = (pair.input - clean).reshape(8, -1).std(axis=1)
    assert np.allclose(measured, sig, rtol=0.06, atol=1e-3)
    assert np.allclose(pair.side["sigma"][:, 5, 7, 0], sig)


def test_awgn_keeps_overshoot_by_default_and_clips_on_request():
    clean = np.full((1, 32, 32, 3), 0.98, np.float32)
    assert Chain.parse("awgn:sigma=50")(clean, 0, [0]).input.max() > 1  # DnCNN's noise model
    pair = Chain.parse("awgn:sigma=50,clip=true")(clean, 0, [0])
    assert pair.input.min() >= 0 and pair.input.max() <= 1


def test_jpeg_quality_orders_error_and_matches_libjpeg():
    from PIL import Image
    import io

    rng = np.random.default_rng(0)
    base = rng.random((1, 8, 8, 3), dtype=np.float32)
    img = np.kron(base, np.ones((1, 8, 8, 1), np.float32)) * 0.8 + 0.1  # blocky, compressible
    errs = []
    for q in (10, 50, 95):
        out = Chain.parse(f"jpeg:quality={q}")(img, 0, [0]).input
        errs.append(float(np.abs(out - img).mean()))
    assert errs[0] > errs[1] > errs[2]
    # the same bytes as libjpeg through Pillow directly
    u8 = np.rint(img[0] * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="JPEG", quality=50, subsampling=2)
    ref = np.asarray(Image.open(io.BytesIO(buf.getvalue())), np.float32) / 255
    assert np.array_equal(Chain.parse("jpeg:quality=50")(img, 0, [0]).input[0], ref)


def test_jpeg_gray_and_range():
    img = np.random.default_rng(1).random((3, 32, 32, 1), dtype=np.float32)
    pair = Chain.parse("jpeg:quality=30-95")(img, 5, [0, 1, 2])
    assert pair.input.shape == img.shape and pair.input.dtype == np.float32
    qs = [p[0]["quality"] for p in pair.params]
    assert all(30 <= q <= 95 and isinstance(q, int) for q in qs)
