"""Built-in network plugin: DM-Net demoiréing (Liu, Shu, Wu, 2018); see imgrestore.nets.dmnet."""

from __future__ import annotations

from typing import Any

from imgrestore.hookspecs import hookimpl
from imgrestore.netconfig import Option
from imgrestore.network import NetworkSpec, Recipe

# The builder options of imgrestore.nets.dmnet.DMNet (size_multiple 4 allows factors 1, 2, 4).
OPTIONS = (
    Option("channels", "int", 3, "image channels (1 gray, 3 colour)", lo=1, hi=4),
    Option("features", "int", 64, "feature maps of both networks", lo=1, hi=1024),
    Option("blocks", "int", 16, "residual blocks of the 1/4-scale network", lo=0, hi=500),
    Option("fine_layers", "int", 20, "conv layers of the full-scale refinement network", lo=2, hi=500),
    Option("factor", "int", 4, "down-sampling factor of the coarse path", choices=(1, 2, 4)),
    Option("padding", "str", "zeros", "how the convs pad their input (zeros: every checkpoint before this option; "
           "docs/borders.md)", choices=("zeros", "reflect", "replicate")),
)


def build(**config: Any):
    """DM-Net; keyword arguments override the defaults of imgrestore.nets.dmnet.DMNet."""
    from imgrestore.nets.dmnet import DMNet

    return DMNet(**config)


SPEC = NetworkSpec(
    "dmnet", build, task="demoire", in_channels=3, out_channels=3, size_multiple=4, options=OPTIONS,
    summary="DM-Net: 1/4-scale 16-block residual net + 20-layer full-scale refinement, two outputs",
    recipe=Recipe(loss="l2-two-scale", optimizer="adam", lr=1e-4, batch=16, patch=256, iterations=200_000,
                  extra={"loss_weights": {"full": 1.0, "quarter": 1.0}, "eq": "(8)",
                         "unverified": ["lr", "batch", "patch", "iterations", "loss_weights"],
                         "paper": "Liu, Shu, Wu, Demoireing of Camera-Captured Screen Images Using Deep CNN, 2018"}),
)


@hookimpl
def imgrestore_networks():
    return [SPEC]
