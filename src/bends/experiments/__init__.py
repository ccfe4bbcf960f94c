"""The registered studies, one module each; ``bends run NAME`` runs them on the platform.

Example:
    >>> sorted(STUDIES)  # doctest: +NORMALIZE_WHITESPACE
    ['conjecture', 'conjecture-local', 'count-depth', 'depth-width', 'manifold-tables',
     'memory-approx', 'memory-lorenz', 'memory-plateau', 'random-baselines', 'selfcheck']
    >>> get_study("count-depth").summary
    'exact pieces vs depth: sawtooth, Yarotsky, random MLPs and tied RNNs'
"""

from __future__ import annotations

from bends.errors import BendsError
from bends.experiments.conjecture import Conjecture
from bends.experiments.conjecture_local import ConjectureLocal
from bends.experiments.count_depth import CountDepth
from bends.experiments.depth_width import DepthWidth
from bends.experiments.manifold_tables import ManifoldTables
from bends.experiments.memory_approx import MemoryApprox
from bends.experiments.memory_lorenz import MemoryLorenz
from bends.experiments.memory_plateau import MemoryPlateau
from bends.experiments.random_baselines import RandomBaselines
from bends.experiments.selfcheck import SelfCheck
from bends.runner.study import Study

STUDIES: dict[str, Study] = {
    study.name: study
    for study in (
        Conjecture(),
        ConjectureLocal(),
        CountDepth(),
        DepthWidth(),
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
