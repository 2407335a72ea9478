"""Bicubic baselines of the SR literature, reproduced end to end with our resize and metrics.

The bicubic rows of the super-resolution tables (VDSR, Kim et al. 2016, Table 2; repeated by
EDSR and RCAN) on Set5, x2 33.66 / 0.9299, x3 30.39 / 0.8682, x4 28.42 / 0.8104, follow the
SRCNN/VDSR evaluation code: the image is cropped to a multiple of the scale, converted to the
luma of MATLAB ``rgb2ycbcr`` on uint8 (so Y is rounded to uint8), downscaled and upscaled with
``imresize`` on that uint8 Y (each result rounded to uint8), and PSNR / SSIM are taken on Y with a
`scale`-pixel border shaved. We land within 0.015 dB and 0.0004 SSIM of every entry (the tables
print 2 and 4 decimals; their MATLAB SSIM code differs slightly in details we cannot see).
"""

import numpy as np
import pytest

from conftest import shared_path
from imgrestore.io import read_image, to_uint
from imgrestore.kernels.resize import imresize
from imgrestore.metrics import psnr, rgb_to_y, ssim

TABLE = {2: (33.66, 0.9299), 3: (30.39, 0.8682), 4: (28.42, 0.8104)}


def _u8(x: np.ndarray) -> np.ndarray:
    """Round to uint8 levels, as MATLAB does when it returns uint8."""
    return to_uint(np.clip(x, 0, 1), 8).astype(np.float32) / 255


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_set5_bicubic_row(scale):
    folder = shared_path("images", "Set5")
    ps, ss = [], []
    for path in sorted(folder.glob("*.bmp")):
        hr = read_image(path)
        h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
        y = _u8(rgb_to_y(hr[:h, :w].astype(np.float64)))
        lr = _u8(imresize(y[None].astype(np.float32), 1 / scale)[0])
        sr = _u8(imresize(lr[None], scale)[0])
        ps.append(psnr(sr, y, crop=scale))
        ss.append(ssim(sr, y, crop=scale))
    want_p, want_s = TABLE[scale]
    assert float(np.mean(ps)) == pytest.approx(want_p, abs=0.015)
    assert float(np.mean(ss)) == pytest.approx(want_s, abs=0.0004)
