"""The one way zoo derives a seed from several integers, for every generator it re-seeds.

Used for the global torch RNG before each training step and evaluation batch (:mod:`zoo.tasks.optim`),
the per-epoch shuffling of time-series windows and the per-epoch dynamic binarisation of images. Each
value depends on (seed, position in the stream, rank) only, which is what makes a resumed run continue
exactly and an evaluation give the same numbers in every process. (Generators that numpy seeds itself
take the integers directly, ``numpy.random.default_rng([seed, ...])``, which mixes them with SeedSequence.)
"""

from __future__ import annotations


def mix_seed(seed: int, position: int, rank: int = 0) -> int:
    """``(seed * 1_000_003 + position) * 1_009 + rank``: distinct for positions below a million.

    Args:
        seed: the run's seed (``seed_everything``, a data module's ``seed``).
        position: where in the stream: a global step, an epoch, or a negative index for evaluation batches.
        rank: the process's global rank (0 on one device).
    """
    return (seed * 1_000_003 + position) * 1_009 + rank
