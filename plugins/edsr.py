"""Built-in network plugin: EDSR x4 at the paper's size and EDSR-baseline x4 (Lim et al., CVPRW 2017)."""

from __future__ import annotations

from typing import Any

from imgrestore.hookspecs import hookimpl
from imgrestore.netconfig import Option
from imgrestore.network import NetworkSpec, Recipe

PAPER = "Lim et al., Enhanced Deep Residual Networks for Single Image Super-Resolution, CVPRW 2017"
# Section 4.2: L1 loss, Adam (0.9, 0.999), lr 1e-4 halved every 2e5 updates, batch 16 of
# 48x48 LR patches; the x4 model is initialised from the trained x2 model.
RECIPE = Recipe(loss="l1", optimizer="adam", lr=1e-4, batch=16, patch=48, iterations=300_000,
                extra={"patch_is": "LR", "lr_halve_every": 200_000, "init_from": "x2 model", "paper": PAPER})


def build(**config: Any):
    """EDSR x4; each spec's option table supplies the defaults (paper size or baseline)."""
    from imgrestore.nets.edsr import EDSR

    return EDSR(**config)


def options(features: int, blocks: int, res_scale: float) -> tuple[Option, ...]:
    """The builder options of imgrestore.nets.edsr.EDSR (the specs are x4, so scale is fixed)."""
    return (
        Option("scale", "int", 4, "up-scaling factor (this network is x4)", choices=(4,)),
        Option("channels", "int", 3, "image channels (1 gray, 3 colour)", lo=1, hi=4),
        Option("features", "int", features, "feature maps", lo=1, hi=1024),
        Option("blocks", "int", blocks, "residual blocks", lo=0, hi=500),
        Option("res_scale", "float", res_scale, "residual scaling of every block", lo=1e-6, hi=10.0),
    )


SPECS = [
    NetworkSpec("edsr", build, task="super-resolution", scale=4, recipe=RECIPE, options=options(256, 32, 0.1),
                summary="EDSR x4, paper size: 32 blocks, 256 features, residual scaling 0.1"),
    NetworkSpec("edsr-baseline", build, task="super-resolution", scale=4, recipe=RECIPE,
                options=options(64, 16, 1.0),
                summary="EDSR-baseline x4: 16 blocks, 64 features"),
]


@hookimpl
def imgrestore_networks():
    return list(SPECS)
