"""Built-in network plugin: SRResNet x4 (Ledig et al., CVPR 2017), the super-resolution
generator of the two-stage (synthetic, then real + adversarial) training scheme."""

from __future__ import annotations

from typing import Any

from imgrestore.hookspecs import hookimpl
from imgrestore.netconfig import Option
from imgrestore.network import NetworkSpec, Recipe

# The builder options of imgrestore.nets.srresnet.SRResNet (the spec is x4, so scale is fixed).
OPTIONS = (
    Option("scale", "int", 4, "up-scaling factor (this network is x4)", choices=(4,)),
    Option("channels", "int", 3, "image channels (1 gray, 3 colour)", lo=1, hi=4),
    Option("features", "int", 64, "feature maps", lo=1, hi=1024),
    Option("blocks", "int", 16, "residual blocks", lo=0, hi=500),
)


def build(**config: Any):
    """SRResNet x4; the option table above supplies the defaults."""
    from imgrestore.nets.srresnet import SRResNet

    return SRResNet(**config)


SPEC = NetworkSpec(
    "srresnet", build, task="super-resolution", scale=4, options=OPTIONS,
    summary="SRResNet x4: 16 residual blocks with BN, sub-pixel up-sampling",
    recipe=Recipe(loss="l2", optimizer="adam", lr=1e-4, batch=16, patch=96, iterations=1_000_000,
                  extra={"patch_is": "HR", "betas": [0.9, 0.999],
                         "paper": "Ledig et al., Photo-Realistic Single Image Super-Resolution Using a GAN, CVPR 2017"}),
)


@hookimpl
def imgrestore_networks():
    return [SPEC]
