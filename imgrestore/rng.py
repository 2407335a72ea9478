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


def sample_seed_sequence(seed: int, index: int, stage: int = 0, purpose: int = PARAMS) -> np.random.SeedSequence:
    if seed < 0 or index < 0:
        raise ValueError(f"seed and sample index must be >= 0 (got seed={seed}, index={index})")
    return np.random.SeedSequence([int(seed), int(index), int(stage), int(purpose)])


def sample_rng(seed: int, index: int, stage: int = 0, purpose: int = PARAMS) -> np.random.Generator:
    """A numpy Generator owned by one sample: same arguments, same numbers, anywhere."""
    return np.random.Generator(np.random.PCG64(sample_seed_sequence(seed, index, stage, purpose)))


def sample_seed64(seed: int, index: int, stage: int = 0, purpose: int = NOISE) -> int:
    """A 64-bit integer seed for a GPU generator owned by one sample."""
    return int(sample_seed_sequence(seed, index, stage, purpose).generate_state(1, np.uint64)[0])


def normal_field(xp, shape: tuple[int, ...], seed: int, index: int, stage: int):
    """Standard-normal float32 noise of `shape` for one sample, on the backend `xp`.

    CPU and GPU use different generators (PCG64 vs cuRAND), so they agree in distribution,
    not value by value; each is reproducible on its own backend.
    """
    if xp.__name__ == "cupy":
        # a numpy uint64 seed: CuPy 13.0-13.2 under NumPy 2 refuse Python ints (cupy#8392)
        rs = xp.random.RandomState(seed=np.uint64(sample_seed64(seed, index, stage, NOISE)))
        return rs.standard_normal(shape, dtype=xp.float32)
    return sample_rng(seed, index, stage, NOISE).standard_normal(shape, dtype=np.float32)
