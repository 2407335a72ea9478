"""Writing one shard's pairs under its lock: read or render crops, run the chain, encode PNGs, journal.

Three steps overlap (crops of the next batch, the chain on this one, the files of the last one),
and none of them changes a sample: each is a function of (seed, index) only.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from imgrestore.errors import ImageReadError
from imgrestore.sources.cache import ImageLRU, source_loader
from imgrestore.sources.pool import source_order, to_channels as _to_channels
from imgrestore.sources.source import Source
from imgrestore.synth.config import STATE_DIR, SynthConfig, SynthResult
from imgrestore.synth.journal import atomic_write_text, read_journal, remove_stale_temps, merge_manifest


def _atomic_save_npy(path: Path, arr: np.ndarray) -> None:
    import io

    from imgrestore.io import write_bytes_atomic

    buf = io.BytesIO()
    np.save(buf, arr)
    write_bytes_atomic(path, buf.getvalue())


def write_shard(cfg: SynthConfig, sources: list[Source], spool: Any, rendered: bool, src_hw: tuple[int, int], xp: Any,
                 progress: Callable[[int, int], None] | None, warn: Callable[[str], None]) -> SynthResult:
    """The work of :func:`synthesize` for one shard, under its lock."""
    from imgrestore.backend import to_numpy
    from imgrestore.io import write_image
    from imgrestore.sources.pool import crop_yx

    out = cfg.out
    state = out / STATE_DIR
    shard_i, shard_n = cfg.shard
    journal = state / f"shard-{shard_i}-of-{shard_n}.jsonl"
    journaled = read_journal(journal)
    beyond = sum(1 for e in journaled if e["index"] >= cfg.count)
    if beyond:
        warn(f"imgrestore: --count {cfg.count}: {out} holds {beyond} pair(s) of shard {shard_i}/{shard_n} with index "
             f">= {cfg.count} from an earlier, larger run; they stay on disk and in {journal.name} but are left out "
             f"of manifest.jsonl (rerun with the larger --count to include them, or delete the folder to start over)")
    entries = {e["index"]: e for e in journaled if e["index"] < cfg.count}
    missing = [i for i, e in entries.items() if not ((out / e["input"]).exists() and (out / e["target"]).exists())]
    for i in missing:
        del entries[i]
    if missing:
        atomic_write_text(journal, "".join(json.dumps(entries[i]) + "\n" for i in sorted(entries)))
    remove_stale_temps(out, shard_i, shard_n)
    # the to-do list is streamed, never built: --count 10^9 starts at once and holds one batch
    n_todo = len(range(shard_i, cfg.count, shard_n)) - sum(1 for i in entries if i % shard_n == shard_i)

    def todo() -> Iterator[int]:
        return (i for i in range(shard_i, cfg.count, shard_n) if i not in entries)

    result = SynthResult(resumed=len(entries))

    images = ImageLRU([source_loader(s) for s in sources], cfg.channels, 8)
    if spool is not None and n_todo:
        result.skipped.extend(sources[k].name for k in sorted(spool.bad))
        # keys_for takes every source for two epochs' worth of indices or more: no need for more
        spool.fill(spool.keys_for(cfg.seed, list(islice(todo(), 2 * len(sources)))) if rendered else ())
    bad_sources: set[int] = set()
    batches = _chunks(todo(), cfg.batch)
    total, done = n_todo + len(entries), len(entries)
    if progress:
        progress(done, total)

    # Crops are written straight into one of three reused batch buffers (batch b into ring[b % 3]):
    # no fresh 77 MB np.stack per batch of 16 at --patch 256. Three, because while batch b is
    # degraded, b + 1 is being filled and b - 1's PNGs (a target may be the clean crop itself) may
    # still be encoding; those are waited for before b + 2 reuses b - 1's buffer.
    ring: list[np.ndarray | None] = [None, None, None]
    # A first stage that says which window of each crop it reads (``read_boxes``: moire) gets only
    # that window rendered; on the CPU only, where the Numba path provably reads nothing else
    read_boxes = getattr(cfg.chain.stages[0], "read_boxes", None) if cfg.device == "cpu" else None

    def gather(b: int, batch: list[int]) -> tuple[Any, list[dict], list[int]]:
        """Clean crops of batch number `b` (read or rendered), their manifest fields and indices."""
        if spool is not None:
            return spool.gather(cfg.seed, batch, src_hw)  # type: ignore[return-value]
        buf = ring[b % 3]
        if buf is None or buf.shape[0] < len(batch):
            buf = ring[b % 3] = np.empty((len(batch), *src_hw, cfg.channels), np.float32)
        metas, idx = [], []
        for i in batch:
            k = source_order(cfg.seed, i, len(sources))
            if k in bad_sources:
                continue
            src = sources[k]
            if src.render is None:
                try:
                    img = images.get(k)
                except ImageReadError as exc:
                    warn(f"imgrestore: {exc}; skipped")
                    bad_sources.add(k)
                    result.skipped.append(src.name)
                    continue
                full_hw = img.shape[:2]
            else:
                full_hw = src.hw
            h, w = src_hw
            y, x = crop_yx(cfg.seed, i, full_hw, src_hw, src.name)
            slot = buf[len(idx)]
            u8 = getattr(src.render, "u8", None)
            if src.render is None:
                slot[...] = img[y : y + h, x : x + w]
            elif u8 is not None and cfg.channels == 3 and read_boxes is not None:
                # only the window the first stage reads (moire on the CPU: ~6% of the crop, 1/3 of
                # the render time); zeros elsewhere, which that stage never reads
                y0, y1, x0, x1 = (int(v) for v in read_boxes([cfg.chain.draw_stage(0, cfg.seed, i)], (h, w))[0])
                slot[...] = 0.0
                if y1 > y0 and x1 > x0:
                    np.multiply(u8((y + y0, x + x0, y1 - y0, x1 - x0)), np.float32(1.0 / 255.0), out=slot[y0:y1, x0:x1])
            elif u8 is not None and cfg.channels == 3:
                # render_screen's own float32(k) * float32(1/255), written in place (same bits)
                np.multiply(u8((y, x, h, w)), np.float32(1.0 / 255.0), out=slot)
            else:
                slot[...] = _to_channels(src.render((y, x, h, w)), cfg.channels)
            metas.append({"source": sources[k].name, "crop": [y, x, h, w]})
            idx.append(i)
        return buf[: len(idx)], metas, idx

    def commit(jobs: list, lines: list[str], n: int) -> None:
        """Record a batch in the journal once its files are in place."""
        for job in jobs:
            job.result()
        if lines:
            # unbuffered: a failed write (full disk) leaves nothing for close() to retry; a line cut
            # short here is dropped by read_journal on the next run
            data = memoryview("".join(line + "\n" for line in lines).encode("utf-8"))
            try:
                while data:
                    data = data[jf.write(data):]
                os.fsync(jf.fileno())
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, str(journal)) from None
        result.written += len(lines)
        nonlocal done
        done += n
        if progress:
            progress(done, total)

    # A pipeline of three: while batch b is degraded on this thread, batch b+1's crops are read or
    # rendered on another and batch b-1's PNGs are encoded by the pool (rendering, Numba kernels
    # and zlib all release the GIL for most of their time). Which batch a step runs beside never
    # changes a sample: each is a function of (seed, index) only.
    with ThreadPoolExecutor(max_workers=max(1, cfg.workers)) as pool, ThreadPoolExecutor(max_workers=1) as ahead, \
            open(journal, "ab", buffering=0) as jf:
        pending: tuple[list, list[str], int] | None = None
        batch = next(batches, None)
        nxt = ahead.submit(gather, 0, batch) if batch is not None else None
        b = 0
        while nxt is not None:
            crops, metas, idx = nxt.result()
            following = next(batches, None)
            nxt = ahead.submit(gather, b + 1, following) if following is not None else None
            jobs, lines = [], []
            if idx:
                clean = crops if spool is not None else xp.asarray(crops, dtype=xp.float32)
                pair = cfg.chain(clean, cfg.seed, idx)
                inp, tgt = to_numpy(pair.input), to_numpy(pair.target)
                side = {k: to_numpy(v) for k, v in pair.side.items()} if cfg.save_side else {}
                for j, i in enumerate(idx):
                    name = f"{i:08d}"
                    entry = {"index": i, "input": f"input/{name}.png", "target": f"target/{name}.png",
                             **metas[j], "seed": cfg.seed, "params": pair.params[j]}
                    jobs.append(pool.submit(write_image, out / entry["input"], inp[j], cfg.bits))
                    jobs.append(pool.submit(write_image, out / entry["target"], tgt[j], cfg.bits))
                    if side:
                        entry["side"] = {k: f"side/{k}/{name}.npy" for k in side}
                        for k, v in side.items():
                            jobs.append(pool.submit(_atomic_save_npy, out / entry["side"][k], v[j]))
                    lines.append(json.dumps(entry))
            if pending is not None:
                commit(*pending)
            pending = (jobs, lines, len(batch))
            batch, b = following, b + 1
        if pending is not None:
            commit(*pending)

    (state / f"shard-{shard_i}-of-{shard_n}.done").write_text(f"{cfg.count}\n", encoding="utf-8")
    result.manifest = merge_manifest(out, cfg.count, shard_n)
    return result


def _chunks(items: Iterator[int], size: int) -> Iterator[list[int]]:
    """Consecutive lists of `size` items (the last may be shorter), drawn lazily."""
    while True:
        chunk = list(islice(items, size))
        if not chunk:
            return
        yield chunk
