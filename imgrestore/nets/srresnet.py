"""SRResNet (Ledig et al.: "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network", CVPR 2017), the generator of SRGAN.

9x9 conv + PReLU; 16 residual blocks (3x3 conv - BN - PReLU - 3x3 conv - BN, plus identity);
3x3 conv + BN plus the long skip; two x2 sub-pixel up-sampling steps (3x3 conv 64 -> 256,
pixel shuffle, PReLU); 9x9 conv back to the image. PReLU slopes are per channel.
"""

from __future__ import annotations

import torch
from torch import nn


class ResBlock(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(features, features, 3, padding=1), nn.BatchNorm2d(features), nn.PReLU(features),
            nn.Conv2d(features, features, 3, padding=1), nn.BatchNorm2d(features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """SRResNet for `scale` in {2, 4, 8} (x2 sub-pixel steps)."""

    def __init__(self, scale: int = 4, channels: int = 3, features: int = 64, blocks: int = 16) -> None:
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"SRResNet scale={scale}: expected 2, 4 or 8")
        self.head = nn.Sequential(nn.Conv2d(channels, features, 9, padding=4), nn.PReLU(features))
        self.blocks = nn.Sequential(*[ResBlock(features) for _ in range(blocks)])
        self.mid = nn.Sequential(nn.Conv2d(features, features, 3, padding=1), nn.BatchNorm2d(features))
        up: list[nn.Module] = []
        for _ in range(scale.bit_length() - 1):
            up += [nn.Conv2d(features, 4 * features, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(features)]
        self.up = nn.Sequential(*up)
        self.tail = nn.Conv2d(features, channels, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        h = h + self.mid(self.blocks(h))
        return self.tail(self.up(h))
