"""Built-in network plugin: RED10, RED20, RED30 and RED30 with stride-2 (Mao, Shen, Yang, NIPS 2016)."""

from __future__ import annotations

from typing import Any

from imgrestore.hookspecs import hookimpl
from imgrestore.netconfig import Option
from imgrestore.network import NetworkSpec, Recipe

# Section 4: Adam, learning rate 1e-4, 50x50 gray patches, L2 loss.
RECIPE = Recipe(loss="l2", optimizer="adam", lr=1e-4, batch=64, patch=50, iterations=200_000,
                extra={"paper": "Mao, Shen, Yang, Image Restoration Using Very Deep Convolutional "
                                "Encoder-Decoder Networks with Symmetric Skip Connections, NIPS 2016",
                       "unverified": ["batch", "iterations"]})


def build(**config: Any):
    """RED-Net; the spec's option table supplies the defaults (see options())."""
    from imgrestore.nets.rednet import REDNet

    return REDNet(**config)


def options(n: int, skips: bool, down: int) -> tuple[Option, ...]:
    """The builder options of imgrestore.nets.rednet.REDNet, with this variant's defaults."""
    return (
        Option("n", "int", n, "conv layers, each mirrored by a deconv (RED30: 15)", lo=2, hi=500),
        Option("channels", "int", 1, "image channels (1 gray, 3 colour)", lo=1, hi=4),
        Option("features", "int", 64, "feature maps of every layer", lo=1, hi=1024),
        Option("skips", "bool", skips, "symmetric skips every 2 layers and the input-to-output skip"),
        # the spec's size_multiple follows the variant, so the stride is fixed per network
        Option("down", "int", down, "stride of the first conv and the last deconv (fixed per network)",
               choices=(down,)),
    )


def _spec(name: str, n: int, skips: bool, down: int, summary: str) -> NetworkSpec:
    return NetworkSpec(name, build, task="denoise", in_channels=1, out_channels=1,
                       size_multiple=down, summary=summary, recipe=RECIPE, options=options(n, skips, down))


SPECS = [
    _spec("red10", 5, False, 1, "RED10: 5 conv + 5 deconv, no skips"),
    _spec("red20", 10, True, 1, "RED20: 10 conv + 10 deconv, symmetric skips every 2 layers"),
    _spec("red30", 15, True, 1, "RED30: 15 conv + 15 deconv, symmetric skips every 2 layers"),
    _spec("red30-s2", 15, True, 2, "RED30 with stride 2 in the first conv and last deconv (section 4.5)"),
]


@hookimpl
def imgrestore_networks():
    return list(SPECS)
