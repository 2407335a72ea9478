"""AINDNet (Kim, Chung, Jung: "Transfer Learning from Synthetic to Real-Noise Denoising with
Adaptive Instance Normalization", CVPR 2020).

Two parts:

* ``NoiseEstimator``: five 3x3 convs (32 features, ReLU) applied to the noisy image at full
  scale and, with their own weights, to its 4x average-pooled version; the 1/4-scale map is
  bilinearly up-sampled and the two are blended ``0.8 * up(coarse) + 0.2 * fine`` (the
  paper's weights: the coarse map is smoother, the fine one keeps spatial detail).
* A 3-scale U-Net (64/128/256 features; 2x average-pool down, 2x2 stride-2 transposed conv
  up, encoder features added to the decoder) built from AIN-ResBlocks:
  ``AIN -> LeakyReLU(0.2) -> conv3x3 -> AIN -> LeakyReLU(0.2) -> conv3x3`` plus identity.

AIN is a parameter-free instance norm followed by a per-pixel affine map computed from the
noise map (average-pooled to the block's scale): a shared 3x3 conv (map channels -> C) + ReLU,
then two 3x3 convs (C -> C) giving gamma and beta; ``out = norm(x) * (1 + gamma) + beta`` (the
``1 +`` makes a zero-initialised AIN the identity scale, as in SPADE).

Block counts are ours (the paper gives the total, about 13.7M parameters): 2 AIN-ResBlocks at
64 features and 3 at 128 on each side of the U, 2 at 256 in the bottleneck: 13,961,865
parameters for RGB (+1.9%; the nearest counts with whole blocks are 13.5M and 14.4M).
The output is the input plus the predicted residual. Input height and width must be
multiples of 4 (two 2x poolings; the estimator pools by 4).

The transfer stage of the paper updates only the AIN modules, the estimator and the last
conv: ``TRANSFER = ("estimator.*", "*.ain*", "tail.*")`` (fnmatch patterns on parameter names).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

TRANSFER = ("estimator.*", "*.ain*", "tail.*")


class NoiseEstimator(nn.Module):
    """Noise-level map at full and 1/4 scale, blended 0.8 (coarse) / 0.2 (fine)."""

    def __init__(self, channels: int = 3, features: int = 32, layers: int = 5) -> None:
        super().__init__()

        def branch() -> nn.Sequential:
            mods: list[nn.Module] = [nn.Conv2d(channels, features, 3, padding=1), nn.ReLU(inplace=True)]
            for _ in range(layers - 2):
                mods += [nn.Conv2d(features, features, 3, padding=1), nn.ReLU(inplace=True)]
            mods.append(nn.Conv2d(features, channels, 3, padding=1))
            return nn.Sequential(*mods)

        self.fine = branch()
        self.coarse = branch()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coarse = self.coarse(F.avg_pool2d(x, 4))
        up = F.interpolate(coarse, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return 0.8 * up + 0.2 * self.fine(x)


class AIN(nn.Module):
    """Instance norm without parameters, then a per-pixel scale and shift from the noise map."""

    def __init__(self, features: int, map_channels: int) -> None:
        super().__init__()
        self.shared = nn.Sequential(nn.Conv2d(map_channels, features, 3, padding=1), nn.ReLU(inplace=True))
        self.gamma = nn.Conv2d(features, features, 3, padding=1)
        self.beta = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor, noise_map: torch.Tensor) -> torch.Tensor:
        if noise_map.shape[-2:] != x.shape[-2:]:
            noise_map = F.adaptive_avg_pool2d(noise_map, x.shape[-2:])
        h = self.shared(noise_map)
        return F.instance_norm(x, eps=1e-5) * (1 + self.gamma(h)) + self.beta(h)


class AINResBlock(nn.Module):
    """AIN -> LeakyReLU -> conv -> AIN -> LeakyReLU -> conv, plus identity."""

    def __init__(self, features: int, map_channels: int) -> None:
        super().__init__()
        self.ain1 = AIN(features, map_channels)
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.ain2 = AIN(features, map_channels)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor, noise_map: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.leaky_relu(self.ain1(x, noise_map), 0.2))
        h = self.conv2(F.leaky_relu(self.ain2(h, noise_map), 0.2))
        return x + h


class Stage(nn.ModuleList):
    """A run of AIN-ResBlocks sharing one noise map."""

    def forward(self, x: torch.Tensor, noise_map: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for block in self:
            x = block(x, noise_map)
        return x


class AINDNet(nn.Module):
    """Noise estimator + AIN-ResBlock U-Net; ``forward_with_map`` also returns the noise map."""

    def __init__(self, channels: int = 3, features: tuple[int, int, int] = (64, 128, 256),
                 blocks: tuple[int, int, int] = (2, 3, 2)) -> None:
        super().__init__()
        f1, f2, f3 = features
        n1, n2, n3 = blocks
        self.estimator = NoiseEstimator(channels)
        self.head = nn.Conv2d(channels, f1, 3, padding=1)
        self.enc1 = Stage([AINResBlock(f1, channels) for _ in range(n1)])
        self.down1 = nn.Conv2d(f1, f2, 3, padding=1)
        self.enc2 = Stage([AINResBlock(f2, channels) for _ in range(n2)])
        self.down2 = nn.Conv2d(f2, f3, 3, padding=1)
        self.mid = Stage([AINResBlock(f3, channels) for _ in range(n3)])
        self.up2 = nn.ConvTranspose2d(f3, f2, 2, stride=2)
        self.dec2 = Stage([AINResBlock(f2, channels) for _ in range(n2)])
        self.up1 = nn.ConvTranspose2d(f2, f1, 2, stride=2)
        self.dec1 = Stage([AINResBlock(f1, channels) for _ in range(n1)])
        self.tail = nn.Conv2d(f1, channels, 3, padding=1)

    def forward_with_map(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.estimator(x)
        s1 = self.enc1(self.head(x), m)
        s2 = self.enc2(self.down1(F.avg_pool2d(s1, 2)), m)
        h = self.mid(self.down2(F.avg_pool2d(s2, 2)), m)
        h = self.dec2(self.up2(h) + s2, m)
        h = self.dec1(self.up1(h) + s1, m)
        return x + self.tail(h), m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_map(x)[0]
