"""Rung geometry of successive halving and Hyperband.

Rung levels follow the ASHA paper: rungs lie at ``r_min * eta**k`` for every
k that stays below ``r_max``, and at ``r_max`` itself, the top rung (reaching
it completes a trial). A study whose ``r_max`` was raised keeps its earlier
tops as rungs too, so every result keeps the rung it was reached at.

Rungs are numbered by these levels in every bracket: bracket ``s`` (ASHA's
"minimum early-stopping rate") starts its trials at rung ``s``, so Hyperband's
brackets are ASHA brackets ``0 .. s_max`` and results of different brackets at
the same rung are comparable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hpo.spec import Resource

RELATIVE_TOLERANCE = 1e-9


def rung_levels(resource: Resource) -> tuple[float, ...]:
    """Resource level of each rung, lowest first; the last one is ``r_max``."""
    levels = set(resource.earlier_r_max)
    level = resource.r_min
    while level < resource.r_max * (1 - RELATIVE_TOLERANCE):
        if not any(abs(level - kept) <= RELATIVE_TOLERANCE * kept for kept in levels):
            levels.add(level)
        level *= resource.eta
    return (*sorted(levels), resource.r_max)


def top_levels(resource: Resource) -> tuple[float, ...]:
    """The rungs of a study without early stopping: ``r_max`` and the earlier tops."""
    return (*resource.earlier_r_max, resource.r_max)


def crossed_rung(levels: tuple[float, ...], resource: float) -> int:
    """Index of the highest level that ``resource`` reaches, or -1 below the first."""
    reached = -1
    for index, level in enumerate(levels):
        if resource >= level * (1 - RELATIVE_TOLERANCE):
            reached = index
    return reached


def top_k(n_results: int, eta: float) -> int:
    """How many of ``n_results`` at a rung form its top 1/eta (floor, as in the papers)."""
    return math.floor(n_results / eta + RELATIVE_TOLERANCE)


@dataclass(frozen=True)
class HyperbandBracket:
    """One bracket of synchronous Hyperband: ``n[i]`` configurations run with resource ``r[i]``."""

    s: int
    asha_bracket: int
    n: tuple[int, ...]
    r: tuple[float, ...]


def hyperband_brackets(resource: Resource) -> list[HyperbandBracket]:
    """The bracket table of Hyperband (Li et al., Algorithm 1), most exploratory bracket first.

    With ``R = r_max / r_min`` and ``s_max`` halvings, bracket ``s`` starts
    ``n = ceil((s_max + 1) / (s + 1) * eta**s)`` configurations at
    ``r_max * eta**-s`` and keeps ``floor(n * eta**-i)`` of them at round ``i``.
    """
    levels = rung_levels(resource)
    s_max = len(levels) - 1
    brackets = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) / (s + 1) * resource.eta**s - RELATIVE_TOLERANCE)
        sizes = tuple(math.floor(n * resource.eta**-i + RELATIVE_TOLERANCE) for i in range(s + 1))
        brackets.append(HyperbandBracket(s, s_max - s, sizes, levels[s_max - s :]))
    return brackets
