"""Random streams and the draws the entities share.

Every stream is derived from the seed and a purpose, so that each entity (and each
delivery file) draws independently of the others.
"""

from __future__ import annotations

import zlib

import numpy as np

from orchestration.demo.timeline import _HOUR


def _rng(seed: int, purpose: str) -> np.random.Generator:
    """An independent stream per purpose, so that changing one entity leaves the others."""
    return np.random.default_rng([seed, zlib.crc32(purpose.encode("utf-8"))])


def _local_hours(rng: np.random.Generator, mean: np.ndarray, sd: float, tz: np.ndarray):
    """Seconds after UTC midnight for events at local hour ``mean`` ± ``sd``.

    The local hour is shifted to UTC and wrapped into the same UTC day, so that every
    event stays on the day it was drawn for (and never after the last day).
    """
    local = np.clip(rng.normal(mean, sd), 0.0, 23.99)
    return ((local - tz) % 24.0) * _HOUR + rng.uniform(0, 59, size=np.shape(local))


def _spread(rng: np.random.Generator, n: int, weights: np.ndarray) -> np.ndarray:
    """Draw ``n`` events over the cells of ``weights``; returns each event's flat cell."""
    p = weights.ravel() / weights.sum()
    counts = rng.multinomial(n, p)
    return np.repeat(np.arange(p.size), counts)
