"""DM-Net (Liu, Shu, Wu: "Demoiréing of Camera-Captured Screen Images Using Deep Convolutional
Neural Network", 2018): a coarse-to-fine demoiréing network with outputs at two scales.

The paper's architecture figure with the exact kernel sizes was not available to us; every
choice below is ours, made to match the text (input downsampled by 4, 16 residual blocks in
the Gross & Wilber style, upsampled to full size, 20 more conv layers, both scales output for
the two-scale L2 loss of eq. (8)), and each is stated where it is made:

1. Down-sampling by 4: a 4x4 average pool (area down-sampling). Parameter-free, and averaging
   is the anti-aliasing choice: the moiré's high-frequency carrier is attenuated before the
   coarse network sees it, and the coarse target is the same area-downsampled clean image.
2. Coarse head: one 3x3 conv, 3 -> 64, + ReLU (3x3 everywhere: the receptive field at 1/4
   scale already spans 4x the pixels, so larger kernels are not needed for the low band).
3. 16 residual blocks as in Gross & Wilber ("Training and investigating residual nets", the
   fb.resnet.torch model): 3x3 conv - BN - ReLU - 3x3 conv - BN, identity added, and no ReLU
   after the addition (their finding: removing it helps).
4. Coarse tail: 3x3 conv 64 -> 3, added to the down-sampled input (the coarse net predicts a
   residual), giving the 1/4-scale output.
5. Up-sampling to full resolution: bilinear x4 of the 1/4-scale output (parameter-free, so
   the coarse output is the only thing carried up and the two-scale loss constrains it).
6. Fine network, 20 conv layers: its input is the full-resolution noisy image concatenated
   with the up-sampled coarse estimate (6 channels); 3x3 conv 6 -> 64 + ReLU, 18 x (3x3 conv
   64 -> 64 + ReLU), 3x3 conv 64 -> 3; its output is added to the up-sampled estimate, so it
   restores the detail the coarse path lost. No BN in the fine network (DnCNN-like plain
   stack; at full resolution BN statistics of small training patches are noisy).

Input height and width must be multiples of 4 (inference pads and crops).

Borders: the convs zero-pad by default (``padding="zeros"``, what every checkpoint before this
option was trained with; a checkpoint's config without the key keeps that meaning). With zero
padding the network sees the image border as a black frame, and at 1/4 scale one padded pixel
spans 4 image pixels, so the coarse path's 34 convs reach 4 x 35 + 3 px into the image.
:class:`imgrestore.restore.Restorer` therefore reflects the input by the receptive-field
radius (:attr:`DMNet.receptive_radius`) before running any network, which removes the frame
for old and new checkpoints alike (docs/borders.md). ``padding="reflect"`` (or
``"replicate"``) makes the convs pad like that too, so training crops have no zero border
either; it is stored in the checkpoint's config like any other builder argument.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


PADDINGS = ("zeros", "reflect", "replicate")


def conv3(cin: int, cout: int, padding: str = "zeros", bias: bool = True) -> nn.Conv2d:
    """A 3x3 conv keeping the size, padding its input with `padding` (a torch padding_mode)."""
    return nn.Conv2d(cin, cout, 3, padding=1, bias=bias, padding_mode=padding)


class ResBlock(nn.Module):
    """Gross & Wilber residual block: conv-BN-ReLU-conv-BN plus identity, no final ReLU."""

    def __init__(self, features: int, padding: str = "zeros") -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv3(features, features, padding, bias=False), nn.BatchNorm2d(features), nn.ReLU(inplace=True),
            conv3(features, features, padding, bias=False), nn.BatchNorm2d(features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DMNet(nn.Module):
    """Coarse (1/4 scale, 16 residual blocks) + fine (full scale, 20 convs) demoiréing net.

    ``forward`` returns the full-resolution output; ``forward_scales`` returns
    ``(full, quarter)`` for the two-scale loss.
    """

    def __init__(self, channels: int = 3, features: int = 64, blocks: int = 16, fine_layers: int = 20,
                 factor: int = 4, padding: str = "zeros") -> None:
        super().__init__()
        if padding not in PADDINGS:
            raise ValueError(f"padding {padding!r}: expected one of {', '.join(PADDINGS)}")
        self.factor = factor
        self.padding = padding
        self.head = nn.Sequential(conv3(channels, features, padding), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(*[ResBlock(features, padding) for _ in range(blocks)])
        self.tail = conv3(features, channels, padding)
        fine: list[nn.Module] = [conv3(2 * channels, features, padding), nn.ReLU(inplace=True)]
        for _ in range(fine_layers - 2):
            fine += [conv3(features, features, padding), nn.ReLU(inplace=True)]
        fine.append(conv3(features, channels, padding))
        self.fine = nn.Sequential(*fine)
        # full-resolution pixels an output pixel depends on, each way: the fine convs, plus the
        # coarse convs' reach in 1/factor pixels, one more for the bilinear up-sampling, and
        # factor - 1 for the pooling block the outermost coarse pixel averages
        self.receptive_radius = fine_layers + factor * (2 + 2 * blocks + 1) + factor - 1

    def forward_scales(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.factor
        if x.shape[-2] % f or x.shape[-1] % f:
            raise ValueError(f"DM-Net input {x.shape[-2]}x{x.shape[-1]}: height and width must be multiples of "
                             f"{f} (imgrestore.restore.Restorer pads and crops)")
        small = F.avg_pool2d(x, self.factor)
        low = small + self.tail(self.blocks(self.head(small)))
        up = F.interpolate(low, scale_factor=self.factor, mode="bilinear", align_corners=False)
        full = up + self.fine(torch.cat([x, up], dim=1))
        return full, low

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_scales(x)[0]
