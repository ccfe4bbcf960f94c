"""The registered studies, one module each; ``bends run NAME`` runs them on the platform.

Example:
    >>> sorted(STUDIES)  # doctest: +NORMALIZE_WHITESPACE
    ['conjecture', 'conjecture-local', 'count-depth', 'depth-width', 'local-complexity',
     'manifold-tables', 'memory-approx', 'memory-lorenz', 'memory-plateau', 'random-baselines',
     'selfcheck']
    >>> get_study("count-depth").summary
    'exact pieces vs depth: sawtooth, Yarotsky, random MLPs and tied RNNs'
"""

from __future__ import annotations

from bends.errors import BendsError
from bends.runner.study import Study
from bends.studies.conjecture import Conjecture
from bends.studies.conjecture_local import ConjectureLocal
from bends.studies.count_depth import CountDepth
from bends.studies.depth_width import DepthWidth
from bends.studies.local_complexity import LocalComplexity
from bends.studies.manifold_tables import ManifoldTables
from bends.studies.memory_approx import MemoryApprox
from bends.studies.memory_lorenz import MemoryLorenz
from bends.studies.memory_plateau import MemoryPlateau
from bends.studies.random_baselines import RandomBaselines
from bends.studies.selfcheck import SelfCheck

STUDIES: dict[str, Study] = {
    study.name: study
    for study in (
        Conjecture(),
        ConjectureLocal(),
        CountDepth(),
        DepthWidth(),
        LocalComplexity(),
        ManifoldTables(),
        MemoryApprox(),
        MemoryLorenz(),
        MemoryPlateau(),
        RandomBaselines(),
        SelfCheck(),
    )
}


def get_study(name: str) -> Study:
    """The registered study ``name``; BendsError listing the studies otherwise."""
    if name not in STUDIES:
        raise BendsError(f"unknown study {name!r}; studies: {', '.join(sorted(STUDIES))}")
    return STUDIES[name]


__all__ = ["STUDIES", "get_study"]
