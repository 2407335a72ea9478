"""Helpers shared by the sim-to-real demonstrations (benchmarks/sim2real_cpu.py,
benchmarks/sim2real_moire.py): training time of a finished run, atomic result files, and the
markdown results table."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Sequence


def train_seconds(folder: Path) -> float:
    """Training time of a run from its train.csv (iterations per row / it/s): also right for a
    finished run that was reused instead of trained again."""
    path = Path(folder) / "train.csv"
    if not path.exists():
        return 0.0
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    prev, total = 0, 0.0
    for r in rows:
        it, rate = int(r["iter"]), float(r["it_s"])
        if rate > 0:
            total += (it - prev) / rate
        prev = it
    return total


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically (temporary file, fsync, rename)."""
    from imgrestore.io import write_bytes_atomic

    write_bytes_atomic(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    """Write a JSON file atomically."""
    write_text(path, json.dumps(obj, indent=1, default=str) + "\n")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub markdown table; `align` is one letter per column (l or r, default: l then r)."""
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "|".join(sep) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
