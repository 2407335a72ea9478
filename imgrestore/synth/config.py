"""The settings of a synthesis run and what it reports back, with the checks of --count and --shard.

The fingerprint of a :class:`SynthConfig` is what a resume must match; it lives beside the
settings it is made of.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgrestore.chain import Chain
from imgrestore.errors import UserError
from imgrestore.sources.source import Source

STATE_DIR = ".synth"


def chain_content(chain: Chain) -> str:
    """Built-in content a chain asks for without --input: ``"screens"`` if any stage says so."""
    kinds = [getattr(s, "default_content", "photos") for s in chain.stages]
    return "screens" if "screens" in kinds else "photos"


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` (0 <= I < N) -> (I, N)."""
    try:
        i, n = (int(s) for s in text.split("/"))
    except ValueError:
        raise UserError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise UserError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4")
    return i, n


@dataclass
class SynthConfig:
    """Settings of a synthesis run (all of them but count and shard must match on resume)."""

    chain: Chain
    out: Path
    patch: int = 128
    count: int = 100
    seed: int = 0
    device: str = "cpu"
    shard: tuple[int, int] = (0, 1)
    bits: int = 8
    channels: int = 3
    batch: int = 16
    save_side: bool = False
    workers: int = 4
    pool: int | None = None  # rendered screens held whole where the chain runs (None: windows per crop)

    def fingerprint(self, sources: list[Source]) -> dict[str, Any]:
        names = "\n".join(f"{s.name}:{s.hw[0]}x{s.hw[1]}" for s in sources)
        return {
            "chain": self.chain.spec(),
            "seed": self.seed,
            "patch": self.patch,
            "bits": self.bits,
            "channels": self.channels,
            "save_side": self.save_side,
            # a pool of N screens draws from screens 0..N-1 (the per-crop path from 1,024): never mix them
            "pool": self.pool,
            "sources": hashlib.sha256(names.encode()).hexdigest()[:16],
            "n_sources": len(sources),
            # a chain whose stages all give the same bits on CPU and GPU may mix backends in one
            # folder; any other is made on one backend (float kernels that agree to ~1 ulp can
            # still round a saved 8-bit value differently)
            "device": "any" if all(getattr(s, "same_on_every_backend", False) for s in self.chain.stages) else self.device,
        }


@dataclass
class SynthResult:
    written: int = 0
    resumed: int = 0
    skipped: list[str] = field(default_factory=list)
    manifest: Path | None = None


MAX_COUNT = 2**63 - 1
"""Sample indices are int64 (numpy batches of indices, manifest readers)."""


def check_count(count: int) -> None:
    """--count is a positive number of pairs that fits an int64 index."""
    if count < 1:
        raise UserError(f"--count {count}: expected a positive number of pairs")
    if count > MAX_COUNT:
        raise UserError(f"--count {count}: more pairs than sample indices can number (at most {MAX_COUNT:,})")
