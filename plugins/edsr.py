"""Built-in network plugin: EDSR x4 at the paper's size and EDSR-baseline x4 (Lim et al., CVPRW 2017)."""

from __future__ import annotations

from typing import Any

from imgrestore.hookspecs import hookimpl
from imgrestore.network import NetworkSpec, Recipe

PAPER = "Lim et al., Enhanced Deep Residual Networks for Single Image Super-Resolution, CVPRW 2017"
# Section 4.2: L1 loss, Adam (0.9, 0.999), lr 1e-4 halved every 2e5 updates, batch 16 of
# 48x48 LR patches; the x4 model is initialised from the trained x2 model.
RECIPE = Recipe(loss="l1", optimizer="adam", lr=1e-4, batch=16, patch=48, iterations=300_000,
                extra={"patch_is": "LR", "lr_halve_every": 200_000, "init_from": "x2 model", "paper": PAPER})


def build(**config: Any):
    """EDSR x4, paper size (32 blocks, 256 features, residual scaling 0.1)."""
    from imgrestore.nets.edsr import EDSR

    return EDSR(**{"scale": 4, **config})


def build_baseline(**config: Any):
    """EDSR-baseline x4 (16 blocks, 64 features, no residual scaling)."""
    from imgrestore.nets.edsr import EDSR

    return EDSR(**{"scale": 4, "features": 64, "blocks": 16, "res_scale": 1.0, **config})


SPECS = [
    NetworkSpec("edsr", build, task="super-resolution", scale=4, recipe=RECIPE,
                summary="EDSR x4, paper size: 32 blocks, 256 features, residual scaling 0.1"),
    NetworkSpec("edsr-baseline", build_baseline, task="super-resolution", scale=4, recipe=RECIPE,
                summary="EDSR-baseline x4: 16 blocks, 64 features"),
]


@hookimpl
def imgrestore_networks():
    return list(SPECS)
