"""The Python API's two functions that are not a class or module of their own: :func:`synthesize`
(degrade images in memory) and :func:`fit` (train, as ``imgrestore fit``). Everything public is
exported lazily from :mod:`imgrestore`; see docs/python-api.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imgrestore.errors import UserError, did_you_mean


def synthesize(chain: Any, images: Any, seed: int = 0, start: int = 0) -> Any:
    """Degrade clean `images` with `chain` (a spec such as ``"bicubic:scale=4 | awgn:sigma=25"``,
    a ``.toml`` file or a :class:`~imgrestore.chain.Chain`); returns a
    :class:`~imgrestore.degrade.Pair` (``input``, ``target``: N,H,W,C float32, ``params``).

    `images`: one H,W,C (or H,W) image or an N,H,W,C batch, float in [0, 1] (uint8/uint16 are
    scaled, torch tensors converted; see :mod:`imgrestore.guards`). Image i is sample
    ``start + i`` of run `seed`: the same (seed, index) always gives the same degradation, as in
    ``imgrestore synth``.
    """
    from imgrestore.chain import Chain
    from imgrestore.guards import batch

    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"synthesize: seed={seed!r}: expected 0 or a positive integer")
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise UserError(f"synthesize: start={start!r}: expected 0 or a positive integer")
    if not isinstance(chain, Chain):
        if not isinstance(chain, (str, Path)):
            raise UserError(f"synthesize: chain={type(chain).__name__}: expected a spec string, a .toml path "
                            "or an imgrestore.Chain")
        chain = Chain.load(str(chain))
    clean = batch(images, "synthesize")
    return chain(clean, seed, list(range(start, start + int(clean.shape[0]))))


def fit(plugin: str, out: str | Path, **options: Any) -> dict[str, Any]:
    """Train network `plugin` into the run folder `out`, as ``imgrestore fit`` does; returns the
    summary (``model``: the final weights, ``val``: validation scores, stage folders).

    `options` are the command's options with underscores (``iters=200``, ``clean="photos/"``,
    ``degrade="awgn:sigma=25"``, ``net_config={"depth": 8}``, ``device="cpu"``); unknown names are
    refused with the list of valid ones. Defaults come from the network's recipe.
    """
    import dataclasses

    from imgrestore.train.stages import FitOptions, fit as run_fit

    fields = {f.name: f for f in dataclasses.fields(FitOptions)}
    unknown = sorted(set(options) - set(fields))
    if unknown:
        hint = did_you_mean(unknown[0], fields)
        raise UserError(f"fit: no option {unknown[0]!r}{hint}; options: {', '.join(sorted(set(fields) - {'plugin', 'out'}))}")
    paths = {"clean", "pairs", "init", "real", "unpaired_clean", "val_pairs"}
    kw = {k: (Path(v) if k in paths and v is not None else v) for k, v in options.items()}
    if isinstance(kw.get("net_config"), str) or isinstance(kw.get("disc_config"), str):
        from imgrestore.netconfig import parse_config

        for k in ("net_config", "disc_config"):
            if isinstance(kw.get(k), str):
                kw[k] = parse_config(kw[k], "--" + k.replace("_", "-"))
    if isinstance(kw.get("transfer_params"), str):
        from imgrestore.netconfig import parse_names

        kw["transfer_params"] = parse_names(kw["transfer_params"])
    return run_fit(FitOptions(plugin=plugin, out=Path(out), **kw))
