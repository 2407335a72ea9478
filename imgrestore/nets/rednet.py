"""RED-Net (Mao, Shen, Yang: "Image Restoration Using Very Deep Convolutional Encoder-Decoder
Networks with Symmetric Skip Connections", NIPS 2016).

``n`` 3x3 convolutions with 64 filters, then ``n`` mirrored 3x3 deconvolutions, a ReLU after
every layer. RED10 is n = 5 without skips; RED20 (n = 10) and RED30 (n = 15) pass the output
of every second conv layer (2, 4, ...) to its mirrored deconv: the conv feature is added to
that deconv's output, then the ReLU is applied. The input image is added to the last
deconv's output in the same way (the input-to-output skip), so the network learns a residual.

Padding keeps every feature map at the input size, so the skips line up for any input (the
paper's Caffe model used unpadded convs; the shapes of the sums are what matter).

``down=2`` is the variant of the paper's section 4.5: the first conv and the last deconv use
stride 2, so every layer in between runs at half resolution (4x fewer FLOPs); input height
and width must then be even.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class REDNet(nn.Module):
    """RED-Net with `n` conv and `n` deconv layers; `skips` turns on the symmetric skips."""

    def __init__(self, n: int = 15, channels: int = 3, features: int = 64, skips: bool = True,
                 down: int = 1) -> None:
        super().__init__()
        if n < 2:
            raise ValueError(f"RED-Net n={n}: expected at least 2 conv layers")
        if down not in (1, 2):
            raise ValueError(f"RED-Net down={down}: expected 1 or 2")
        self.n, self.skips, self.down = n, skips, down
        convs = [nn.Conv2d(channels, features, 3, stride=down, padding=1)]
        convs += [nn.Conv2d(features, features, 3, padding=1) for _ in range(n - 1)]
        deconvs = [nn.ConvTranspose2d(features, features, 3, padding=1) for _ in range(n - 1)]
        deconvs.append(nn.ConvTranspose2d(features, channels, 3, stride=down, padding=1,
                                          output_padding=down - 1))
        self.convs = nn.ModuleList(convs)
        self.deconvs = nn.ModuleList(deconvs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.n
        saved: dict[int, torch.Tensor] = {}
        h = x
        for j, conv in enumerate(self.convs, start=1):
            h = F.relu(conv(h))
            if self.skips and j % 2 == 0 and j < n:
                saved[n - j] = h  # conv j's output mirrors deconv (n - j)'s output
        for i, deconv in enumerate(self.deconvs, start=1):
            h = deconv(h)
            if i in saved:
                h = h + saved.pop(i)
            elif i == n and self.skips:
                h = h + x
            h = F.relu(h)
        return h
