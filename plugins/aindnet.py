"""Built-in network plugin: AINDNet (Kim, Chung, Jung, CVPR 2020); see imgrestore.nets.aindnet."""

from __future__ import annotations

from typing import Any

from imgrestore.hookspecs import hookimpl
from imgrestore.network import NetworkSpec, Recipe

# The same patterns as imgrestore.nets.aindnet.TRANSFER (kept literal so no torch import here).
TRANSFER = ("estimator.*", "*.ain*", "tail.*")


def build(**config: Any):
    """AINDNet; keyword arguments override the defaults of imgrestore.nets.aindnet.AINDNet."""
    from imgrestore.nets.aindnet import AINDNet

    return AINDNet(**config)


SPEC = NetworkSpec(
    "aindnet", build, task="denoise", in_channels=3, out_channels=3, size_multiple=4,
    summary="AINDNet: noise-level estimator + AIN-ResBlock U-Net (synthetic-to-real transfer)",
    transfer=TRANSFER,
    recipe=Recipe(loss="l1+estimator", optimizer="adam", lr=1e-4, batch=16, patch=128, iterations=300_000,
                  extra={"transfer_lr": 5e-5, "unverified": ["batch", "iterations", "transfer_lr"],
                         "paper": "Kim, Chung, Jung, Transfer Learning from Synthetic to Real-Noise "
                                  "Denoising with Adaptive Instance Normalization, CVPR 2020"}),
)


@hookimpl
def imgrestore_networks():
    return [SPEC]
