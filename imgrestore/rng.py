"""Reproducible randomness: every draw is a function of (seed, sample index, stream) only.

A degradation never shares a generator across samples. Sample ``i`` of a run with seed ``s``
gets its own streams, derived with numpy's SeedSequence from ``(s, i, stage, purpose)``, so the
same pair comes out whatever the batch size, worker count, processing order or a resume.
"""

from __future__ import annotations

import numpy as np

# Purposes of the streams a stage may draw from; separate streams keep parameter draws
# unchanged when a stage changes how much noise it draws.
PARAMS = 0
NOISE = 1
CROP = 2

CROP_STAGE = 2**31 - 1  # stream id of the source/crop draw, apart from every chain stage


def sample_seed_sequence(seed: int, index: int, stage: int = 0, purpose: int = PARAMS) -> np.random.SeedSequence:
    if seed < 0 or index < 0:
        raise ValueError(f"seed and sample index must be >= 0 (got seed={seed}, index={index})")
    return np.random.SeedSequence([int(seed), int(index), int(stage), int(purpose)])


def sample_rng(seed: int, index: int, stage: int = 0, purpose: int = PARAMS) -> np.random.Generator:
    """A numpy Generator owned by one sample: same arguments, same numbers, anywhere."""
    return np.random.Generator(np.random.PCG64(sample_seed_sequence(seed, index, stage, purpose)))


def sample_seed64(seed: int, index: int, stage: int = 0, purpose: int = NOISE) -> int:
    """A 64-bit integer owned by one sample: the key of its counter-based (Philox) noise."""
    return int(sample_seed_sequence(seed, index, stage, purpose).generate_state(1, np.uint64)[0])


def sample_keys(seed: int, indices, stage: int) -> np.ndarray:
    """The Philox keys (N, 2) uint32 of the noise streams of samples ``indices`` of one stage.

    Key of sample ``i``: the low and high halves of :func:`sample_seed64` ``(seed, i, stage,
    NOISE)``. The noise kernels (``kernels/noise*``, ``camera*``, ``moire*``) draw every normal
    from Philox4x32-10 under this key, so a field depends on (seed, index, stage) only and is the
    same on every backend.
    """
    k = np.array([sample_seed64(seed, int(i), stage, NOISE) for i in indices], dtype=np.uint64).reshape(-1)
    return np.stack([k & np.uint64(0xFFFFFFFF), k >> np.uint64(32)], axis=-1).astype(np.uint32)
