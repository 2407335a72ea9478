"""Synthesis of training pairs to disk: sources -> crops -> chain -> PNG pairs + JSONL manifest.

Layout of an output folder::

    OUT/input/00000012.png      degraded input of sample 12
    OUT/target/00000012.png     aligned clean target of sample 12
    OUT/side/sigma/00000012.npy side outputs (with save_side)
    OUT/manifest.jsonl          one line per pair, in index order, once every shard is done
    OUT/.synth/run.json         the run's settings (a resume must match them)
    OUT/.synth/shard-I-of-N.jsonl   journal of finished pairs of shard I (what resume trusts)

Sample ``i`` depends only on (seed, i): its source image, crop and every drawn parameter, so a
resumed, re-batched or sharded run writes exactly the same files. Shard ``I`` of ``N`` owns the
indices with ``i % N == I``. Files are written to a temporary name and renamed, and a sample is
journaled only after both of its files exist, so a kill never leaves a half-written pair behind.

With ``pool`` (``--pool N``; 256 by default on the GPU) rendered screens are held whole in a
:class:`imgrestore.sources.pool.SourcePool` where the chain runs and a batch's crops are one gather;
photos are held that way on the GPU too. See docs/sources.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from itertools import islice
from typing import Any, Callable, Iterator

import numpy as np

from imgrestore.degrade import Chain
from imgrestore.errors import ImageReadError, UserError
from imgrestore.sources.pool import source_order, to_channels as _to_channels
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


def _atomic_write_text(path: Path, text: str) -> None:
    from imgrestore.io import write_bytes_atomic

    write_bytes_atomic(path, text.encode("utf-8"))


def _atomic_save_npy(path: Path, arr: np.ndarray) -> None:
    import io

    from imgrestore.io import write_bytes_atomic

    buf = io.BytesIO()
    np.save(buf, arr)
    write_bytes_atomic(path, buf.getvalue())


def prepare_out(out: Path) -> None:
    """Create the output folder or fail with one line naming it (read-only, a file, a full disk)."""
    from imgrestore.io import check_out_folder

    check_out_folder(out)
    try:
        (out / STATE_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot create it ({exc.strerror or exc})") from None
    check_out_folder(out / STATE_DIR)  # an existing folder may be writable while its .synth/ is not


MAX_COUNT = 2**63 - 1
"""Sample indices are int64 (numpy batches of indices, manifest readers)."""


def check_count(count: int) -> None:
    """--count is a positive number of pairs that fits an int64 index."""
    if count < 1:
        raise UserError(f"--count {count}: expected a positive number of pairs")
    if count > MAX_COUNT:
        raise UserError(f"--count {count}: more pairs than sample indices can number (at most {MAX_COUNT:,})")


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


def _remove_stale_temps(out: Path, shard_i: int, shard_n: int) -> None:
    """Delete temp files a killed run of this shard left (``.00000012*.tmp*``); other shards' stay."""
    folders = [out / "input", out / "target", *((out / "side").glob("*") if (out / "side").is_dir() else [])]
    for folder in folders:
        for p in folder.glob(".*.tmp*") if folder.is_dir() else ():
            stem = p.name[1:9]
            if stem.isdigit() and int(stem) % shard_n == shard_i:
                p.unlink(missing_ok=True)


def _read_journal(path: Path) -> list[dict[str, Any]]:
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
        _atomic_write_text(path, "".join(json.dumps(e) + "\n" for e in good))
    return good


class _ImageCache:
    """A small LRU of decoded source images, keyed by source position."""

    def __init__(self, sources: list[Source], channels: int, size: int = 8):
        self.sources, self.channels, self.size = sources, channels, size
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def get(self, k: int) -> np.ndarray:
        if k in self.cache:
            self.cache.move_to_end(k)
            return self.cache[k]
        from imgrestore.io import read_image

        src = self.sources[k]
        img = src.array if src.array is not None else read_image(src.path)
        img = _to_channels(img, self.channels)
        self.cache[k] = img
        if len(self.cache) > self.size:
            self.cache.popitem(last=False)
        return img


def synthesize(
    cfg: SynthConfig,
    sources: list[Source],
    progress: Callable[[int, int], None] | None = None,
    warn: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> SynthResult:
    """Write this shard's pairs of the run `cfg`, skipping those an earlier run finished.

    One process writes a shard at a time (``.synth/shard-I-of-N.lock``; a dead owner's lock is
    taken over). A write that fails (full disk, read-only folder) is one UserError line; the
    pairs journaled so far stay, and the same command resumes.
    """
    from imgrestore.backend import xp_for
    from imgrestore.lockfile import hold_lock
    from imgrestore.sources.pool import SourcePool, check_pool_size, require_large_enough

    check_count(cfg.count)
    check_pool_size(cfg.pool)
    rendered = bool(sources) and all(s.render is not None for s in sources)
    if cfg.pool is not None:
        if not rendered:
            raise UserError(f"--pool {cfg.pool}: sets how many rendered screens a run holds; image files and "
                            "built-in photos are always held whole once (drop --pool)")
        sources = sources[:cfg.pool]
    src_hw = cfg.chain.source_size((cfg.patch, cfg.patch))
    require_large_enough(sources, src_hw, "--input" if sources and sources[0].path is not None else "sources")
    xp = xp_for(cfg.device)  # type: ignore[arg-type]
    check_batch_memory(cfg.chain, src_hw, cfg.batch, cfg.channels, xp)
    # sources held whole where the chain runs: a screen pool (--pool), or every photo on the GPU. Made (and
    # checked against free memory) before anything is written; screens are rendered once the todo list is known
    spool = None
    if cfg.pool is not None or (cfg.device == "cuda" and not rendered):
        spool = SourcePool(sources, cfg.channels, xp, src_hw, "--pool" if rendered else "--input", warn=warn)
    out = cfg.out
    prepare_out(out)
    state = out / STATE_DIR
    run_file = state / "run.json"
    fp = cfg.fingerprint(sources)
    if run_file.exists():
        old = json.loads(run_file.read_text(encoding="utf-8"))
        diff = [k for k in fp if old.get(k) != fp[k]]
        if diff:
            k = diff[0]
            raise UserError(
                f"--out {out}: holds a run with other settings ({k}: {old.get(k)!r}, now {fp[k]!r}); "
                "use another --out folder or the same settings to resume"
            )
    else:
        _atomic_write_text(run_file, json.dumps(fp, indent=1) + "\n")

    shard_i, shard_n = cfg.shard
    lock = state / f"shard-{shard_i}-of-{shard_n}.lock"
    busy = (lambda pid: f"--out {out}: another imgrestore synth (pid {pid}) is writing shard {shard_i}/{shard_n} "
            "there; wait for it, or give this run another --shard or --out")
    try:
        with hold_lock(lock, busy):
            return _write_shard(cfg, sources, spool, rendered, src_hw, xp, progress, warn)
    except OSError as exc:
        raise UserError(f"{exc.filename or out}: cannot write ({exc.strerror or exc}); the pairs finished so far are "
                        "kept: free space (or fix the folder) and rerun the same command to resume") from None


def _write_shard(cfg: SynthConfig, sources: list[Source], spool: Any, rendered: bool, src_hw: tuple[int, int], xp: Any,
                 progress: Callable[[int, int], None] | None, warn: Callable[[str], None]) -> SynthResult:
    """The work of :func:`synthesize` for one shard, under its lock."""
    from imgrestore.backend import to_numpy
    from imgrestore.io import write_image
    from imgrestore.sources.pool import crop_yx

    out = cfg.out
    state = out / STATE_DIR
    shard_i, shard_n = cfg.shard
    journal = state / f"shard-{shard_i}-of-{shard_n}.jsonl"
    journaled = _read_journal(journal)
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
        _atomic_write_text(journal, "".join(json.dumps(entries[i]) + "\n" for i in sorted(entries)))
    _remove_stale_temps(out, shard_i, shard_n)
    # the to-do list is streamed, never built: --count 10^9 starts at once and holds one batch
    n_todo = len(range(shard_i, cfg.count, shard_n)) - sum(1 for i in entries if i % shard_n == shard_i)

    def todo() -> Iterator[int]:
        return (i for i in range(shard_i, cfg.count, shard_n) if i not in entries)

    result = SynthResult(resumed=len(entries))

    images = _ImageCache(sources, cfg.channels)
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
            # short here is dropped by _read_journal on the next run
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


def merge_manifest(out: Path, count: int, shard_n: int) -> Path | None:
    """Write OUT/manifest.jsonl from the shard journals once all `shard_n` shards are done."""
    state = out / STATE_DIR
    for i in range(shard_n):
        done = state / f"shard-{i}-of-{shard_n}.done"
        if not done.exists() or int(done.read_text().strip() or 0) < count:
            return None
    entries: dict[int, dict] = {}
    for i in range(shard_n):
        for e in _read_journal(state / f"shard-{i}-of-{shard_n}.jsonl"):
            if e["index"] < count:
                entries[e["index"]] = e
    path = out / "manifest.jsonl"
    _atomic_write_text(path, "".join(json.dumps(entries[i]) + "\n" for i in sorted(entries)))
    return path
