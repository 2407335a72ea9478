"""Built-in network plugin: the SRGAN discriminator (Ledig et al., CVPR 2017) for the
adversarial term of stage-2 training."""

from __future__ import annotations

from typing import Any

from imgrestore.hookspecs import hookimpl
from imgrestore.netconfig import Option
from imgrestore.network import NetworkSpec, Recipe

# The builder options of imgrestore.nets.discriminator.Discriminator.
OPTIONS = (
    Option("channels", "int", 3, "image channels (1 gray, 3 colour)", lo=1, hi=4),
    Option("patch", "int", 96, "input side in pixels (the dense layer needs a fixed size)", lo=16, hi=1024,
           multiple_of=16),
    Option("features", "int", 64, "features of the first conv (doubling to 8x)", lo=1, hi=512),
)


def build(**config: Any):
    """SRGAN discriminator; keyword arguments override imgrestore.nets.discriminator's defaults."""
    from imgrestore.nets.discriminator import Discriminator

    return Discriminator(**config)


SPEC = NetworkSpec(
    "srgan-discriminator", build, task="discriminator", out_channels=1, size_multiple=16, options=OPTIONS,
    summary="SRGAN discriminator: 8 convs (BN, LeakyReLU), dense 1024, dense 1 (logit); 96x96 input",
    recipe=Recipe(loss="bce-adversarial", optimizer="adam", lr=1e-4, batch=16, patch=96, iterations=100_000,
                  extra={"adversarial_weight": 1e-3,
                         "paper": "Ledig et al., Photo-Realistic Single Image Super-Resolution Using a GAN, CVPR 2017"}),
)


@hookimpl
def imgrestore_networks():
    return [SPEC]
