"""Built-in network plugin: DnCNN-S, DnCNN-B, DnCNN-3 and CDnCNN-B (Zhang et al., TIP 2017).

The torch module lives in :mod:`imgrestore.nets.dncnn`; it is imported only when a network is
built, so loading this plugin costs nothing.
"""

from __future__ import annotations

from typing import Any

from imgrestore.hookspecs import hookimpl
from imgrestore.netconfig import Option
from imgrestore.network import NetworkSpec, Recipe

PAPER = "Zhang et al., Beyond a Gaussian Denoiser, TIP 2017"
ALIASES = {"layers": "depth"}


def options(depth: int, channels: int) -> tuple[Option, ...]:
    """The builder options of imgrestore.nets.dncnn.DnCNN, with this variant's defaults."""
    return (
        Option("depth", "int", depth, "conv layers in all (the paper's D)", lo=3, hi=1000),
        Option("channels", "int", channels, "image channels (1 gray, 3 colour)", lo=1, hi=4),
        Option("features", "int", 64, "feature maps of the hidden layers", lo=1, hi=1024),
        Option("bn", "bool", True, "BatchNorm after the hidden convs (false: the folded inference form)"),
        Option("eps", "float", 1e-4, "BatchNorm epsilon", lo=1e-12, hi=1.0),
    )


def build(**config: Any):
    """DnCNN; the spec's option table supplies the defaults (see options())."""
    from imgrestore.nets.dncnn import DnCNN

    return DnCNN(**config)


def _spec(name: str, depth: int, channels: int, **kw: Any) -> NetworkSpec:
    # reflect_margin=False: the authors trained on patches and scored whole images with the convs'
    # zero padding; a reflected margin lowers Set12 sigma 25 from 30.445 to 30.421 dB (their weights)
    return NetworkSpec(name, build, in_channels=channels, out_channels=channels,
                       options=options(depth, channels), aliases=ALIASES, reflect_margin=False, **kw)


def _recipe(patch: int, iterations: int, **extra: Any) -> Recipe:
    # Loss: eq. (1), half the squared residual error summed per patch, mean over the batch.
    # Section IV-A trains with SGD (momentum 0.9, weight decay 1e-4, batch 128, lr 1e-1 -> 1e-4
    # over 50 epochs); on eq. (1) that step size diverges within a few iterations without
    # gradient clipping, so the default follows the authors' own PyTorch training code (Adam,
    # lr 1e-3, the same sum/2 loss), decayed to 1e-4. `--optimizer sgd --lr 0.1` gives the paper's.
    return Recipe(loss="l2-sum", optimizer="adam", lr=1e-3, batch=128, patch=patch, iterations=iterations,
                  extra={"lr_final": 1e-4, "epochs": 50, "residual": True, "paper": PAPER,
                         "paper_optimizer": "sgd, momentum 0.9, weight decay 1e-4, lr 1e-1 -> 1e-4", **extra})


SPECS = [
    _spec("dncnn-s", 17, 1, task="denoise",
          summary="DnCNN-S: 17 layers, gray, one known noise level (residual learning, BN)",
          recipe=_recipe(40, 50 * 1600, noise="awgn:sigma=25")),
    _spec("dncnn-b", 20, 1, task="denoise",
          summary="DnCNN-B: 20 layers, gray, blind Gaussian denoising (sigma 0-55)",
          recipe=_recipe(50, 50 * 3000, noise="awgn:sigma=0-55")),
    _spec("dncnn-3", 20, 1, task="denoise",
          summary="DnCNN-3: 20 layers, gray (Y), one model for denoising, x2-4 SISR and JPEG deblocking",
          recipe=_recipe(50, 50 * 8000, tasks=["awgn:sigma=0-55", "bicubic:scale=2,3,4 (down, then up)",
                                            "jpeg:quality=5-99"])),
    _spec("cdncnn-b", 20, 3, task="denoise",
          summary="CDnCNN-B: 20 layers, colour, blind Gaussian denoising (sigma 0-55)",
          recipe=_recipe(50, 50 * 3000, noise="awgn:sigma=0-55")),
]


@hookimpl
def imgrestore_networks():
    return list(SPECS)
