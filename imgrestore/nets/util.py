"""Helpers shared by the networks: parameter and FLOP counts, BatchNorm folding."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    """Learnable parameters (BN gamma/beta included, running statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


def flops(model: nn.Module, *inputs: Any) -> int:
    """FLOPs of one forward pass (2 per multiply-add) of the conv, transposed-conv and linear
    layers, counted with forward hooks; elementwise work (ReLU, BN, norm) is left out, as
    papers do."""
    total = 0

    def conv_hook(m: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        k = m.weight[0].numel()  # in/groups * kh * kw
        if isinstance(m, nn.ConvTranspose2d):  # every input pixel scatters a k x k x Cout patch
            x = inp[0]
            total += 2 * x.numel() * m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3] // m.groups
        else:
            total += 2 * out.numel() * k

    def linear_hook(m: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        total += 2 * out.numel() * m.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    try:
        with torch.inference_mode():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total


def fold_bn(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm2d that directly follows a Conv2d inside an nn.Sequential
    into that conv (in place; the BN becomes Identity). Inference only: the result computes the
    same function with one layer fewer per pair."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model.eval()
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                seq._modules[a] = fuse_conv_bn_eval(conv, bn)
                seq._modules[b] = nn.Identity()
    return model
