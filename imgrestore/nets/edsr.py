"""EDSR (Lim, Son, Kim, Nah, Lee: "Enhanced Deep Residual Networks for Single Image
Super-Resolution", CVPRW 2017).

Residual blocks without BN (3x3 conv - ReLU - 3x3 conv, scaled by ``res_scale``, plus
identity), a 3x3 conv and the long skip, then sub-pixel up-sampling (x2 steps: 3x3 conv
F -> 4F, pixel shuffle; x3: one conv F -> 9F, shuffle 3) and a 3x3 conv to the image. The
DIV2K RGB mean is subtracted at the input and added back at the output (fixed, not learned).

Two sizes: the paper's EDSR (32 blocks, 256 features, res_scale 0.1; 43M parameters at x4)
and EDSR-baseline (16 blocks, 64 features, res_scale 1; 1.5M at x4), both as in Table 1.
"""

from __future__ import annotations

import torch
from torch import nn

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class ResBlock(nn.Module):
    def __init__(self, features: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(features, features, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(features, features, 3, padding=1))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale


class EDSR(nn.Module):
    """EDSR for `scale` in {2, 3, 4}; defaults are the paper-size x4 model."""

    def __init__(self, scale: int = 4, channels: int = 3, features: int = 256, blocks: int = 32,
                 res_scale: float = 0.1) -> None:
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"EDSR scale={scale}: expected 2, 3 or 4")
        mean = DIV2K_RGB_MEAN if channels == 3 else (0.5,) * channels
        self.register_buffer("mean", torch.tensor(mean).view(1, channels, 1, 1), persistent=False)
        self.head = nn.Conv2d(channels, features, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(features, res_scale) for _ in range(blocks)],
                                  nn.Conv2d(features, features, 3, padding=1))
        up: list[nn.Module] = []
        if scale == 3:
            up += [nn.Conv2d(features, 9 * features, 3, padding=1), nn.PixelShuffle(3)]
        else:
            for _ in range(scale.bit_length() - 1):
                up += [nn.Conv2d(features, 4 * features, 3, padding=1), nn.PixelShuffle(2)]
        self.up = nn.Sequential(*up, nn.Conv2d(features, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x - self.mean)
        h = h + self.body(h)
        return self.up(h) + self.mean
