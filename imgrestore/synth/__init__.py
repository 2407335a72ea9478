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

The work is split by job: :mod:`~imgrestore.synth.config` (settings, result, fingerprint),
:mod:`~imgrestore.synth.checks` (output folder and batch memory, before any work),
:mod:`~imgrestore.synth.journal` (per-shard journals, stale temporaries, the merged manifest),
:mod:`~imgrestore.synth.shard` (one shard's pipeline of crops, chain and files) and
:mod:`~imgrestore.synth.run` (:func:`synthesize`, which ties them together under the lock).
"""

from __future__ import annotations

from imgrestore.synth.checks import batch_bytes, check_batch_memory, prepare_out
from imgrestore.synth.config import MAX_COUNT, STATE_DIR, SynthConfig, SynthResult, chain_content, check_count, parse_shard
from imgrestore.synth.journal import merge_manifest
from imgrestore.synth.run import synthesize

__all__ = [
    "MAX_COUNT",
    "STATE_DIR",
    "SynthConfig",
    "SynthResult",
    "batch_bytes",
    "chain_content",
    "check_batch_memory",
    "check_count",
    "merge_manifest",
    "parse_shard",
    "prepare_out",
    "synthesize",
]
