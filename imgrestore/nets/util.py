"""Helpers shared by the networks: parameter counts, BatchNorm folding (FLOPs: bench/net.py)."""

from __future__ import annotations

from torch import nn


def count_params(model: nn.Module) -> int:
    """Learnable parameters (BN gamma/beta included, running statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


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
