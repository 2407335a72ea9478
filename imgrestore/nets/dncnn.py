"""DnCNN (Zhang, Zuo, Chen, Meng, Zhang: "Beyond a Gaussian Denoiser", TIP 2017).

Layer 1 is conv + ReLU, layers 2..D-1 are conv + BN + ReLU, layer D is a conv back to the image
channels; 3x3 kernels, 64 features, zero padding so the size is kept. The network predicts the
residual (the noise), and the restored image is ``y - R(y)``.

Biases follow the authors' PyTorch release (cszn/DnCNN, and the pickled 2018 module): the first
conv has a bias, the BN convs have none (BN's beta is their bias), the last conv has none.
DnCNN-S (D = 17, gray) then has 556,096 learnable parameters (BN gamma/beta counted, running
statistics not): 640 + 15 * (36,864 + 128) + 576.

``bn=False`` is the inference ("folded") form of the released MatConvNet/KAIR models: the same
D convs, each with a bias and no BN (BN folded into the preceding conv).
"""

from __future__ import annotations

import torch
from torch import nn


class DnCNN(nn.Module):
    """DnCNN with `depth` conv layers on `channels`-channel images; output = input - noise."""

    def __init__(self, depth: int = 17, channels: int = 1, features: int = 64, bn: bool = True,
                 eps: float = 1e-4) -> None:
        super().__init__()
        if depth < 3:
            raise ValueError(f"DnCNN depth={depth}: expected at least 3 layers")
        layers: list[nn.Module] = [nn.Conv2d(channels, features, 3, padding=1, bias=True), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers.append(nn.Conv2d(features, features, 3, padding=1, bias=not bn))
            if bn:
                layers.append(nn.BatchNorm2d(features, eps=eps, momentum=0.05))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(features, channels, 3, padding=1, bias=not bn))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.layers(x)
