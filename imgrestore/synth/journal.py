"""The resume journal of each shard (``.synth/shard-I-of-N.jsonl``) and the manifest merged from them.

A pair is trusted on resume only once its journal line is complete; a line cut by a kill is
dropped, and so are temporary files a killed shard left behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imgrestore.synth.config import STATE_DIR


def atomic_write_text(path: Path, text: str) -> None:
    from imgrestore.io import write_bytes_atomic

    write_bytes_atomic(path, text.encode("utf-8"))


def remove_stale_temps(out: Path, shard_i: int, shard_n: int) -> None:
    """Delete temp files a killed run of this shard left (``.00000012*.tmp*``); other shards' stay."""
    folders = [out / "input", out / "target", *((out / "side").glob("*") if (out / "side").is_dir() else [])]
    for folder in folders:
        for p in folder.glob(".*.tmp*") if folder.is_dir() else ():
            stem = p.name[1:9]
            if stem.isdigit() and int(stem) % shard_n == shard_i:
                p.unlink(missing_ok=True)


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Complete lines of a journal; a line cut by a kill is dropped (and the file rewritten)."""
    if not path.exists():
        return []
    raw = path.read_text(encoding="utf-8")
    good, dirty = [], False
    for line in raw.splitlines(keepends=True):
        try:
            if not line.endswith("\n"):
                raise ValueError
            good.append(json.loads(line))
        except ValueError:
            dirty = True
    if dirty:
        atomic_write_text(path, "".join(json.dumps(e) + "\n" for e in good))
    return good


def merge_manifest(out: Path, count: int, shard_n: int) -> Path | None:
    """Write OUT/manifest.jsonl from the shard journals once all `shard_n` shards are done."""
    state = out / STATE_DIR
    for i in range(shard_n):
        done = state / f"shard-{i}-of-{shard_n}.done"
        if not done.exists() or int(done.read_text().strip() or 0) < count:
            return None
    entries: dict[int, dict] = {}
    for i in range(shard_n):
        for e in read_journal(state / f"shard-{i}-of-{shard_n}.jsonl"):
            if e["index"] < count:
                entries[e["index"]] = e
    path = out / "manifest.jsonl"
    atomic_write_text(path, "".join(json.dumps(entries[i]) + "\n" for i in sorted(entries)))
    return path
