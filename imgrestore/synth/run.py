"""One synthesis run: check everything, take the shard's lock, then hand over to the shard writer.

Every refusal (settings that differ from the folder's earlier run, a busy shard, a full disk)
is one UserError line; the pairs journaled so far always stay.
"""

from __future__ import annotations

import json
import sys
from typing import Callable

from imgrestore.errors import UserError
from imgrestore.sources.source import Source
from imgrestore.synth.checks import check_batch_memory, prepare_out
from imgrestore.synth.config import STATE_DIR, SynthConfig, SynthResult, check_count
from imgrestore.synth.journal import atomic_write_text
from imgrestore.synth.shard import write_shard


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
    from imgrestore.sources.pool import SourcePool, require_large_enough, screen_pool_size

    check_count(cfg.count)
    rendered = bool(sources) and all(s.render is not None for s in sources)
    screen_pool_size(cfg.pool, rendered, gpu=False)  # refuses a pool of photos; cfg.pool is already the run's size
    if cfg.pool is not None:
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
        atomic_write_text(run_file, json.dumps(fp, indent=1) + "\n")

    shard_i, shard_n = cfg.shard
    lock = state / f"shard-{shard_i}-of-{shard_n}.lock"
    busy = (lambda pid: f"--out {out}: another imgrestore synth (pid {pid}) is writing shard {shard_i}/{shard_n} "
            "there; wait for it, or give this run another --shard or --out")
    try:
        with hold_lock(lock, busy):
            return write_shard(cfg, sources, spool, rendered, src_hw, xp, progress, warn)
    except OSError as exc:
        raise UserError(f"{exc.filename or out}: cannot write ({exc.strerror or exc}); the pairs finished so far are "
                        "kept: free space (or fix the folder) and rerun the same command to resume") from None
