"""The SRGAN discriminator (Ledig et al., CVPR 2017, Fig. 4), used for the adversarial term of
stage-2 training.

3x3 conv 64 + LeakyReLU(0.2); seven conv - BN - LeakyReLU blocks (64 s2, 128, 128 s2, 256,
256 s2, 512, 512 s2); dense 1024 + LeakyReLU; dense 1 (a logit: the sigmoid lives in the loss,
``BCEWithLogits``, for numerical stability). The dense layer needs a fixed input: `patch`
pixels square (96 in the paper, giving 6x6x512 features).
"""

from __future__ import annotations

import torch
from torch import nn


class Discriminator(nn.Module):
    """SRGAN discriminator for `patch` x `patch` inputs (`patch` divisible by 16)."""

    def __init__(self, channels: int = 3, patch: int = 96, features: int = 64) -> None:
        super().__init__()
        if patch % 16:
            raise ValueError(f"discriminator patch={patch}: expected a multiple of 16")
        f = features
        plan = [(f, f, 2), (f, 2 * f, 1), (2 * f, 2 * f, 2), (2 * f, 4 * f, 1), (4 * f, 4 * f, 2),
                (4 * f, 8 * f, 1), (8 * f, 8 * f, 2)]
        layers: list[nn.Module] = [nn.Conv2d(channels, f, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        for cin, cout, stride in plan:
            layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout),
                       nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        side = patch // 16
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(8 * f * side * side, 1024),
                                        nn.LeakyReLU(0.2, inplace=True), nn.Linear(1024, 1))
        self.patch = patch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.patch, self.patch):
            raise ValueError(f"discriminator expects {self.patch}x{self.patch} inputs, got "
                             f"{x.shape[-2]}x{x.shape[-1]}")
        return self.classifier(self.features(x))
