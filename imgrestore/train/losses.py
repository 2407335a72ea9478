"""The training losses of the source papers, as named, documented components.

Pure functions (tensors in, scalar tensor out) that the tests check against hand
computations, and :class:`Criterion` objects that know which outputs of a network a named loss
needs (``imgrestore fit --loss NAME``; :data:`LOSSES` lists them).

Conventions: every mean is over all elements (batch, channels, pixels), so the loss value does
not depend on the patch size; images are NCHW in [0, 1]; a noise map ``sigma`` is on the [0, 1]
scale (the degradations' ``sigma`` side output, NHWC, converted to NCHW by the data stream).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn
from torch.nn import functional as F

from imgrestore.errors import UserError

# AINDNet (Kim, Chung, Jung, CVPR 2020): estimator loss weights and asymmetry.
AIND_FULL_WEIGHT = 0.2
AIND_QUARTER_WEIGHT = 0.8
AIND_ALPHA = 0.25
AIND_ESTIMATOR_WEIGHT = 0.05


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error."""
    return (pred - target).abs().mean()


def l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error (per pixel): learning rates of most recipes assume this form."""
    return (pred - target).square().mean()


def l2_sum(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """DnCNN's eq. (1), ``1/(2N) sum_i ||R(y_i) - (y_i - x_i)||_F^2``: half the squared error
    summed over each patch, averaged over the N patches of the batch. It is :func:`l2` times
    C*H*W/2, so the paper's SGD learning rate of 0.1 only makes sense with this form."""
    return 0.5 * (pred - target).square().flatten(1).sum(1).mean()


def quarter(x: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """Area down-sampling by `factor` (average pool): how the 1/4-scale targets are made."""
    return F.avg_pool2d(x, factor)


def two_scale_l2(full: torch.Tensor, low: torch.Tensor, target: torch.Tensor, w_full: float = 1.0,
                 w_low: float = 1.0, factor: int = 4) -> torch.Tensor:
    """DM-Net eq. (8): L2 of the full-resolution output against the target plus L2 of the
    1/`factor`-scale output against the area-down-sampled target, ``w_full * l2 + w_low * l2``."""
    return w_full * l2(full, target) + w_low * l2(low, quarter(target, factor))


def asymmetric(est: torch.Tensor, sigma: torch.Tensor, alpha: float = AIND_ALPHA) -> torch.Tensor:
    """CBDNet's asymmetric loss, ``mean(|alpha - 1[est - sigma < 0]| * (est - sigma)^2)``:
    with alpha < 0.5 under-estimating the noise (weight 1 - alpha) costs more than
    over-estimating it (weight alpha), because a denoiser told too little noise leaves it in."""
    d = est - sigma
    w = (alpha - (d < 0).to(d.dtype)).abs()
    return (w * d.square()).mean()


def multiscale_asymmetric(fine: torch.Tensor, coarse: torch.Tensor, sigma: torch.Tensor,
                          alpha: float = AIND_ALPHA, w_full: float = AIND_FULL_WEIGHT,
                          w_quarter: float = AIND_QUARTER_WEIGHT) -> torch.Tensor:
    """AINDNet's estimator loss: asymmetric loss of the full-scale map against sigma (weight
    0.2) plus that of the 1/4-scale map against the 4x area-down-sampled sigma (weight 0.8)."""
    return w_full * asymmetric(fine, sigma, alpha) + w_quarter * asymmetric(coarse, quarter(sigma), alpha)


def generator_adversarial(d_fake_logits: torch.Tensor) -> torch.Tensor:
    """L_A = mean(-log D(G(y))) with D = sigmoid(logit); computed as softplus(-logit), which
    is the same value without overflow."""
    return F.softplus(-d_fake_logits).mean()


def discriminator_bce(d_real_logits: torch.Tensor, d_fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of D: ``mean(-log D(x)) + mean(-log(1 - D(G(y))))``, clean
    patches labelled 1 and restored ones 0."""
    return F.softplus(-d_real_logits).mean() + F.softplus(d_fake_logits).mean()


# ---------------------------------------------------------------------------------------------
# criteria: a named loss plus the network outputs it needs


class TrainForward(nn.Module):
    """Wraps a network so one ``forward`` returns every output a criterion needs, as a dict
    (``out``; ``low`` for DM-Net; ``fine``/``coarse`` noise maps for AINDNet). Wrapping the
    whole computation in one module keeps DistributedDataParallel's gradient hooks working."""

    def __init__(self, net: nn.Module, outputs: str = "out") -> None:
        super().__init__()
        self.net = net
        self.outputs = outputs

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.outputs == "two-scale":
            full, low = self.net.forward_scales(x)
            return {"out": full, "low": low}
        if self.outputs == "estimator":
            est = self.net.estimator
            return {"out": self.net(x), "fine": est.fine(x), "coarse": est.coarse(quarter(x))}
        out = self.net(x)
        return {"out": out[0] if isinstance(out, (tuple, list)) else out}


@dataclass(frozen=True)
class Criterion:
    """A named training loss: ``outputs`` says which :class:`TrainForward` mode it needs,
    ``fn(outputs, target, side) -> (total, {part: value})``."""

    name: str
    doc: str
    outputs: str
    fn: Callable[[dict[str, torch.Tensor], torch.Tensor, dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, torch.Tensor]]]
    needs_side: tuple[str, ...] = ()

    def __call__(self, outputs: dict[str, torch.Tensor], target: torch.Tensor,
                 side: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.fn(outputs, target, side or {})

    def check(self, net: nn.Module, network: str, side_names: set[str] | None) -> None:
        """One-line UserError when `net` lacks the outputs or the data lacks the side maps."""
        if self.outputs == "two-scale" and not hasattr(net, "forward_scales"):
            raise UserError(f"--loss {self.name}: needs a network with two output scales (DM-Net); {network} has one")
        if self.outputs == "estimator" and not hasattr(net, "estimator"):
            raise UserError(f"--loss {self.name}: needs a network with a noise estimator (AINDNet); {network} has none")
        if side_names is not None:
            for s in self.needs_side:
                if s not in side_names:
                    raise UserError(f"--loss {self.name}: needs the degradation's {s!r} side output "
                                    f"(awgn or cbdnet make one; with --pairs, synthesize with --save-side)")


def _plain(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], name: str):
    def run(o, t, s):
        v = fn(o["out"], t)
        return v, {name: v}

    return run


def _two_scale(o, t, s):
    full, low = l2(o["out"], t), l2(o["low"], quarter(t))
    return full + low, {"l2_full": full, "l2_quarter": low}


def _aind(o, t, s):
    rec = l1(o["out"], t)
    est = multiscale_asymmetric(o["fine"], o["coarse"], s["sigma"])
    return rec + AIND_ESTIMATOR_WEIGHT * est, {"l1": rec, "estimator": est}


LOSSES: dict[str, Criterion] = {c.name: c for c in (
    Criterion("l1", "mean absolute error", "out", _plain(l1, "l1")),
    Criterion("l2", "mean squared error", "out", _plain(l2, "l2")),
    Criterion("l2-sum", "DnCNN eq. (1): half the squared error summed per patch, mean over the batch", "out",
              _plain(l2_sum, "l2_sum")),
    Criterion("l2-two-scale", "DM-Net eq. (8): L2 at full and 1/4 scale (area-down-sampled target)", "two-scale",
              _two_scale),
    Criterion("l1+estimator", "AINDNet: L1 + 0.05 x (0.2 full + 0.8 quarter-scale asymmetric estimator loss, "
              "alpha 0.25)", "estimator", _aind, needs_side=("sigma",)),
)}


def get_criterion(name: str) -> Criterion:
    """The criterion called `name`; an unknown name is a one-line UserError listing the known."""
    try:
        return LOSSES[name]
    except KeyError:
        raise UserError(f"--loss {name!r}: unknown loss; known: {', '.join(LOSSES)}") from None


def side_to_nchw(side: dict[str, Any]) -> dict[str, torch.Tensor]:
    """NHWC side maps (numpy, torch or CuPy) as NCHW tensors."""
    import numpy as np

    out = {}
    for k, v in side.items():
        if isinstance(v, torch.Tensor):
            out[k] = v.permute(0, 3, 1, 2)
        elif isinstance(v, np.ndarray):
            out[k] = torch.from_numpy(v).permute(0, 3, 1, 2)
        else:  # CuPy: zero-copy through DLPack
            from imgrestore.backend import to_torch

            out[k] = to_torch(v)
    return out
