"""The stages of ``imgrestore fit``.

* ``synthetic`` (stage 1): pairs (M(X), X) made on the fly by a degradation chain (or read
  from ``--pairs``), the network plugin's paper recipe for every default.
* ``surrogate`` (stage 2..N, Liu, Shu and Wu): real degraded images Y with surrogate targets
  X_s = G_prev(Y), computed once per stage and cached; G starts from G_prev; loss
  ``L2(G(Y), X_s) + lambda * -log D(G(Y))`` with D trained by BCE against unpaired clean
  patches, one D and one G update per iteration (k = 1). ``--stages N`` counts stage 1, so
  N - 1 surrogate rounds run, each regenerating the surrogates with the previous round's G.
* ``transfer`` (AINDNet+TF): real pairs, L1, only the parameters the plugin declares for
  transfer are updated; ``retrain`` (AINDNet+RT): the same, all parameters.

Each stage writes into its folder: ``run.json`` (settings), ``checkpoint.safetensors``
(training state), ``model.safetensors`` (the network, for restore/eval), ``metrics.jsonl``,
``train.csv``, ``val.csv`` and the figures.

This module is the entry point (:func:`fit`, and :class:`FitOptions` for callers); the stages live
in :mod:`~imgrestore.train.paired` and :mod:`~imgrestore.train.surrogate`, the options and their
checks in :mod:`~imgrestore.train.options`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import torch

from imgrestore.errors import UserError
from imgrestore.train.ddp import from_env, setup, teardown
from imgrestore.registry import get_spec
from imgrestore.train.options import DISCRIMINATOR, STAGES, FitOptions, check_options, device_speed
from imgrestore.train.paired import fit_paired
from imgrestore.train.surrogate import fit_surrogate

__all__ = ["FitOptions", "fit"]


def fit(opts: FitOptions, on_iteration: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run the stage(s) `opts` asks for; returns a summary (folders, final model, scores)."""
    from imgrestore.restore import torch_device
    from imgrestore.torch_compile import check_compile

    if opts.stage not in STAGES:
        raise UserError(f"--stage {opts.stage!r}: expected one of {', '.join(STAGES)}")
    # builder options checked against the networks' declared tables before any work
    opts = replace(opts, net_config=get_spec(opts.plugin).check_config(dict(opts.net_config), "--net-config"))
    if opts.disc_config:
        opts = replace(opts, disc_config=get_spec(DISCRIMINATOR, "discriminator").check_config(
            dict(opts.disc_config), "--disc-config"))
    dist = from_env()
    device = torch_device(opts.device)
    speed = device_speed(opts, device)  # once, before any work (setup only adds a cuda rank index)
    if opts.compile:  # before anything is read, trained or written
        check_compile(device)
    check_options(opts)
    from imgrestore.preflight import ready

    ready()  # fit's checks end here (imgrestore run runs every step's checks before the first step)
    device = setup(dist, device)
    torch.manual_seed(opts.seed)
    try:
        if opts.stage == "surrogate":
            return fit_surrogate(opts, dist, device, speed, on_iteration)
        return fit_paired(opts, dist, device, speed, on_iteration)
    finally:
        teardown(dist)
