"""Built-in network plugin: the SRGAN discriminator (Ledig et al., CVPR 2017) for the
adversarial term of stage-2 training."""

from __future__ import annotations

from typing import Any

from imgrestore.hookspecs import hookimpl
from imgrestore.network import NetworkSpec, Recipe


def build(**config: Any):
    """SRGAN discriminator; keyword arguments override imgrestore.nets.discriminator's defaults."""
    from imgrestore.nets.discriminator import Discriminator

    return Discriminator(**config)


SPEC = NetworkSpec(
    "srgan-discriminator", build, task="discriminator", out_channels=1, size_multiple=16,
    summary="SRGAN discriminator: 8 convs (BN, LeakyReLU), dense 1024, dense 1 (logit); 96x96 input",
    recipe=Recipe(loss="bce-adversarial", optimizer="adam", lr=1e-4, batch=16, patch=96, iterations=100_000,
                  extra={"adversarial_weight": 1e-3,
                         "paper": "Ledig et al., Photo-Realistic Single Image Super-Resolution Using a GAN, CVPR 2017"}),
)


@hookimpl
def imgrestore_networks():
    return [SPEC]
