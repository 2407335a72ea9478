"""Checks made before a synthesis run writes anything: the output folder, and a batch's memory.

A run that cannot write its folder or whose batch cannot fit in memory fails here, in one line,
before any source is rendered or any file is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imgrestore.chain import Chain
from imgrestore.errors import UserError
from imgrestore.synth.config import STATE_DIR


def prepare_out(out: Path) -> None:
    """Create the output folder or fail with one line naming it (read-only, a file, a full disk)."""
    from imgrestore.io import check_out_folder

    check_out_folder(out)
    try:
        (out / STATE_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot create it ({exc.strerror or exc})") from None
    check_out_folder(out / STATE_DIR)  # an existing folder may be writable while its .synth/ is not


def batch_bytes(chain: Chain, src_hw: tuple[int, int], batch: int, channels: int) -> tuple[int, tuple[int, int]]:
    """Host/device bytes a batch of the chain holds at its largest (three float32 arrays of the
    largest size any stage takes or makes: input, output and one intermediate), and that size."""
    sizes = [src_hw]
    hw = src_hw
    for stage in chain.stages:
        hw = stage.output_size(hw)
        sizes.append(hw)
    big = max(sizes, key=lambda t: t[0] * t[1])
    return 3 * batch * big[0] * big[1] * max(channels, 3) * 4, big


def check_batch_memory(chain: Chain, src_hw: tuple[int, int], batch: int, channels: int, xp: Any) -> None:
    """Refuse up front, in one line, a chain whose batch cannot fit in memory (e.g. an upscale by
    1000 makes 128000 x 128000 images from a 128-pixel patch): before anything is allocated."""
    from imgrestore.sources.pool import available_bytes, fmt_bytes

    need, big = batch_bytes(chain, src_hw, batch, channels)
    free, total, where = available_bytes(xp)
    if need > free:
        size = f"{big[0]}x{big[1]}"
        raise UserError(f"{chain.spec()}: a batch of {batch} reaches {size} pixels per image and needs about "
                        f"{fmt_bytes(need)} of {where}; {fmt_bytes(free)} is free (of {fmt_bytes(total)}); "
                        "use a smaller --patch or --batch, or other stage settings")
