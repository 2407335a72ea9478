"""Package a trained network as a model shipped inside imgrestore: an fp16 safetensors file
plus its model card.

    python -m imgrestore.zoo.package RUN_OR_CHECKPOINT --name moire --card CARD.md

RUN_OR_CHECKPOINT is what ``imgrestore fit`` (or ``imgrestore run``) wrote: a run folder
holding ``model.safetensors``, that file itself, or a training-state ``checkpoint.safetensors``
(its ``model/net/*`` tensors are taken). The weights are checked against the network they name,
cast to fp16 (overflow is an error; the largest relative change and the change of the output
on a fixed test image are measured and written into the card), and written atomically to
``imgrestore/zoo/packaged/NAME.safetensors``; the card goes to ``imgrestore/zoo/cards/NAME.md``.
Loading (:func:`imgrestore.zoo.load.load_model`) casts back to fp32.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from imgrestore.errors import UserError
from imgrestore.pretrained import BUILTIN, CARDS_DIR, PACKAGED_DIR

MODEL_FILE = "model.safetensors"
STATE_FILE = "checkpoint.safetensors"
FP16_MAX = 65504.0
TEST_SIDE = 64


def find_checkpoint(src: Path | str) -> Path:
    """The network checkpoint inside a run folder, or `src` itself when it is a file."""
    src = Path(src)
    if src.is_file():
        return src
    if not src.is_dir():
        raise UserError(f"{src}: no such run folder or checkpoint file")
    if (src / MODEL_FILE).is_file():
        return src / MODEL_FILE
    found = sorted(src.rglob(MODEL_FILE))
    if len(found) == 1:
        return found[0]
    if not found:
        raise UserError(f"{src}: no {MODEL_FILE} in this folder or below; give the fit run folder or its {MODEL_FILE}")
    more = f" and {len(found) - 4} more" if len(found) > 4 else ""
    raise UserError(f"{src}: {len(found)} {MODEL_FILE} files below this folder "
                    f"({', '.join(str(p) for p in found[:4])}{more}); name the one to package")


def _network_tensors(path: Path) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(network, config, fp32 tensors, metadata) of a model or training-state checkpoint."""
    from imgrestore.weights.checkpoint import TRAIN_STATE, read_checkpoint

    ckpt = read_checkpoint(path)
    tensors = ckpt.tensors
    if ckpt.meta.get("kind") == TRAIN_STATE:
        prefix = "model/net/"
        tensors = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if not tensors:
            raise UserError(f"{path}: a training-state checkpoint without model/net/* tensors")
    return ckpt.network, ckpt.config, {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}, ckpt.meta


def to_fp16(tensors: dict[str, Any], where: str) -> tuple[dict[str, Any], float, int]:
    """Floating tensors cast to fp16: (tensors, largest relative change of a weight, number of
    non-zero values that became zero). A value beyond fp16's range is a UserError."""
    import torch

    out, worst, flushed = {}, 0.0, 0
    for k, v in tensors.items():
        if not v.is_floating_point():
            out[k] = v
            continue
        if not torch.isfinite(v).all():
            raise UserError(f"{where}: tensor {k} holds inf/NaN values; not packaging it")
        big = float(v.abs().max()) if v.numel() else 0.0
        if big > FP16_MAX:
            raise UserError(f"{where}: tensor {k} has a value of {big:g}, beyond fp16's range (65504)")
        h = v.to(torch.float16)
        back = h.float()
        flushed += int(((v != 0) & (back == 0)).sum())
        scale = v.abs().max().clamp_min(1e-30)
        worst = max(worst, float(((back - v).abs().max() / scale)) if v.numel() else 0.0)
        out[k] = h
    return out, worst, flushed


def _output_change(spec: Any, config: dict[str, Any], t32: dict[str, Any], t16: dict[str, Any]) -> float:
    """Largest |out(fp32 weights) - out(fp16 weights cast back)| on a fixed 64x64 test image in
    [0, 1] (seeded noise plus a gradient), computed in fp32."""
    import numpy as np
    import torch

    from imgrestore.weights.checkpoint import load_state

    rng = np.random.default_rng(0)
    c = spec.in_channels if "channels" not in config else int(config["channels"])
    ramp = np.linspace(0, 1, TEST_SIDE, dtype=np.float32)[None, None, None, :]
    x = torch.from_numpy((0.5 * ramp + 0.5 * rng.random((1, c, TEST_SIDE, TEST_SIDE))).astype(np.float32))
    outs = []
    for tensors in (t32, {k: (v.float() if v.is_floating_point() else v) for k, v in t16.items()}):
        net = spec.build(**config)
        load_state(net, tensors, "package")
        net.eval()
        with torch.no_grad():
            outs.append(net(x))
    return float((outs[0] - outs[1]).abs().max())


def package(src: Path | str, name: str, card: Path | str | None = None, out_dir: Path | str = PACKAGED_DIR,
            cards_dir: Path | str = CARDS_DIR) -> dict[str, Any]:
    """Write ``out_dir/NAME.safetensors`` (fp16) and ``cards_dir/NAME.md`` from a trained run.

    Returns a summary (paths, network, config, number of stored values, fp16 errors, bytes).
    """
    from imgrestore import __version__
    from imgrestore.io import write_bytes_atomic
    from imgrestore.registry import get_registry
    from imgrestore.weights.checkpoint import load_state, save_checkpoint
    from imgrestore.zoo.download import sha256_file

    path = find_checkpoint(src)
    card_body = ""
    if card is not None:
        card = Path(card)
        if not card.is_file():
            raise UserError(f"--card {card}: no such file")
        card_body = card.read_text(encoding="utf-8")
    network, config, t32, meta = _network_tensors(path)
    builtin = {m.name: m for m in BUILTIN}
    if name in builtin and builtin[name].network != network:
        raise UserError(f"{path}: holds a {network!r} network; model {name!r} is a {builtin[name].network!r}")
    spec = get_registry().networks.get(network)
    if spec is None:
        raise UserError(f"{path}: network {network!r} is not provided by any installed plugin")
    try:
        net = spec.build(**config)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{path}: cannot build {network!r} with config {config}: {exc}") from None
    load_state(net, t32, str(path))  # the weights fit the network they name
    t16, rel, flushed = to_fp16(t32, str(path))
    out_change = _output_change(spec, config, t32, t16)
    source_sha = sha256_file(path)
    info = {"iteration": meta.get("iteration"), "stage": meta.get("stage")}
    out = Path(out_dir) / f"{name}.safetensors"
    save_checkpoint(out, network, config, t16, dtype="float16", model=name, packaged_from=path.name,
                    source_sha256=source_sha, packaged_with=__version__,
                    **{k: v for k, v in info.items() if v is not None})
    params = sum(int(v.numel()) for v in t32.values() if v.is_floating_point())
    summary = {"model": name, "file": str(out), "bytes": out.stat().st_size, "network": network, "config": config,
               "values": params, "source": str(path), "source_sha256": source_sha, **info,
               "max_relative_weight_change": rel, "flushed_to_zero": flushed,
               "max_output_change": out_change}
    when = "".join(f", {k} {v}" for k, v in info.items() if v is not None)
    footer = ["", "## Packaging", "",
              f"Written by `python -m imgrestore.zoo.package` (imgrestore {__version__}) from `{path.name}` "
              f"(SHA-256 `{source_sha[:16]}...`){when}.",
              f"Network `{network}` ({', '.join(f'{k}={v}' for k, v in config.items()) or 'defaults'}), "
              f"{params:,} values (weights and BN statistics), stored as fp16 ({out.stat().st_size:,} bytes), loaded as fp32.",
              f"fp16 rounding: largest weight change {rel:.2e} of the tensor's largest magnitude, "
              f"{flushed} weights flushed to zero; largest output change on a fixed 64x64 test image "
              f"{out_change:.2e} (of 1.0)."]
    write_bytes_atomic(Path(cards_dir) / f"{name}.md", (card_body.rstrip() + "\n" + "\n".join(footer) + "\n").lstrip().encode())
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m imgrestore.zoo.package",
                                description="Package a trained run as an fp16 model inside imgrestore.")
    p.add_argument("src", metavar="RUN_OR_CHECKPOINT", help="fit run folder, its model.safetensors, or checkpoint.safetensors")
    p.add_argument("--name", required=True, help="model name (e.g. moire)")
    p.add_argument("--card", required=True, help="model card (markdown) to ship with it")
    p.add_argument("--out-dir", default=str(PACKAGED_DIR), help="where NAME.safetensors goes (default: the package)")
    p.add_argument("--cards-dir", default=str(CARDS_DIR), help="where NAME.md goes (default: the package)")
    args = p.parse_args(argv)
    try:
        s = package(args.src, args.name, args.card, args.out_dir, args.cards_dir)
    except UserError as exc:
        print(f"imgrestore: error: {exc}", file=sys.stderr)
        return 2
    print(f"packaged {s['source']} as model {s['model']!r}: {s['file']} ({s['bytes']:,} bytes, fp16, "
          f"{s['values']:,} values); largest output change from fp16 {s['max_output_change']:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
