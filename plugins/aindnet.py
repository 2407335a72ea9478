"""Built-in network plugin: AINDNet (Kim, Chung, Jung, CVPR 2020); see imgrestore.nets.aindnet."""

from __future__ import annotations

from typing import Any

from imgrestore.hookspecs import hookimpl
from imgrestore.netconfig import Option
from imgrestore.network import NetworkSpec, Recipe

# The builder options of imgrestore.nets.aindnet.AINDNet.
OPTIONS = (
    Option("channels", "int", 3, "image channels (1 gray, 3 colour)", lo=1, hi=4),
    Option("features", "ints", (64, 128, 256), "features at full, 1/2 and 1/4 scale", lo=1, hi=1024, length=3),
    Option("blocks", "ints", (2, 3, 2), "AIN-ResBlocks at full and 1/2 scale (each side of the U) and in the "
           "bottleneck", lo=0, hi=100, length=3),
)

# The same patterns as imgrestore.nets.aindnet.TRANSFER (kept literal so no torch import here).
TRANSFER = ("estimator.*", "*.ain*", "tail.*")


def build(**config: Any):
    """AINDNet; keyword arguments override the defaults of imgrestore.nets.aindnet.AINDNet."""
    from imgrestore.nets.aindnet import AINDNet

    return AINDNet(**config)


SPEC = NetworkSpec(
    "aindnet", build, task="denoise", in_channels=3, out_channels=3, size_multiple=4,
    summary="AINDNet: noise-level estimator + AIN-ResBlock U-Net (synthetic-to-real transfer)",
    transfer=TRANSFER, options=OPTIONS,
    recipe=Recipe(loss="l1+estimator", optimizer="adam", lr=1e-4, batch=16, patch=128, iterations=300_000,
                  extra={"transfer_lr": 5e-5, "unverified": ["batch", "iterations", "transfer_lr"],
                         "paper": "Kim, Chung, Jung, Transfer Learning from Synthetic to Real-Noise "
                                  "Denoising with Adaptive Instance Normalization, CVPR 2020"}),
)


@hookimpl
def imgrestore_networks():
    return [SPEC]
