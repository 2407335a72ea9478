"""Held-out scoring during training: mean PSNR/SSIM of fixed batches, and the inputs' own PSNR."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from imgrestore.train.loop import to_nchw
from imgrestore.train.outputs import input_psnr, psnr_or_cap


@dataclass
class Validator:
    """Scores the network on fixed held-out batches: mean PSNR and SSIM (imgrestore.metrics,
    outputs clipped to [0, 1]) and keeps the first outputs for the sample grid."""

    net: torch.nn.Module
    batches: list[Any]
    device: str
    outputs: list[np.ndarray] = field(default_factory=list)
    baseline: float | None = None   # mean PSNR of the inputs themselves (train.outputs.input_psnr)

    def __call__(self) -> dict[str, float]:
        from imgrestore.metrics import SSIM_WINDOW, ssim

        self.net.eval()
        ps, ss, kept = [], [], []
        with torch.no_grad():
            for b in self.batches:
                out = self.net(to_nchw(b.input, self.device))
                out = out[0] if isinstance(out, (tuple, list)) else out
                out = out.float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
                tgt = np.asarray(b.target)
                for o, t in zip(out, tgt):
                    ps.append(psnr_or_cap(o, t))  # both float32 already (Batch), so no cast changes them
                    ss.append(ssim(o, t) if min(t.shape[:2]) >= SSIM_WINDOW else float("nan"))
                    kept.append(o)
        self.outputs = kept
        ss_ok = [v for v in ss if math.isfinite(v)]
        scores = {"psnr": float(np.mean(ps))}
        if ss_ok:
            scores["ssim"] = float(np.mean(ss_ok))
        if self.baseline is None:  # the same batches every time: computed once
            self.baseline = float(np.mean([v for b in self.batches for v in input_psnr(b.input, b.target)]))
        scores["input_psnr"] = self.baseline
        return scores
