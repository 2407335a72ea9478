"""Built-in network plugin: SRResNet x4 (Ledig et al., CVPR 2017), the super-resolution
generator of the two-stage (synthetic, then real + adversarial) training scheme."""

from __future__ import annotations

from typing import Any

from imgrestore.hookspecs import hookimpl
from imgrestore.network import NetworkSpec, Recipe


def build(**config: Any):
    """SRResNet x4; keyword arguments override imgrestore.nets.srresnet.SRResNet's defaults."""
    from imgrestore.nets.srresnet import SRResNet

    return SRResNet(**{"scale": 4, **config})


SPEC = NetworkSpec(
    "srresnet", build, task="super-resolution", scale=4,
    summary="SRResNet x4: 16 residual blocks with BN, sub-pixel up-sampling",
    recipe=Recipe(loss="l2", optimizer="adam", lr=1e-4, batch=16, patch=96, iterations=1_000_000,
                  extra={"patch_is": "HR", "betas": [0.9, 0.999],
                         "paper": "Ledig et al., Photo-Realistic Single Image Super-Resolution Using a GAN, CVPR 2017"}),
)


@hookimpl
def imgrestore_networks():
    return [SPEC]
