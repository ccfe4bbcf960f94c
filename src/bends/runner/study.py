"""Studies and cells: a sweep is a study's settings expanded into independent cells.

A **study** is a named, typed configuration (a :class:`~bends.runner.config.StudyConfig`
dataclass) plus three pure functions:

* ``cells(config)`` expands the settings into cells (one parameter point × a group of seeds);
* ``run_cell(cell)`` computes a cell's metric rows and curves from the cell alone, so the same
  cell gives the same numbers on any machine, in any process, in any batch;
* ``report(config, results, figures)`` turns stored results into Markdown (tables, figures).

A cell's ``key`` hashes the study name, the study's ``version`` (bump it when ``run_cell``
changes its numbers), the parameters and the seeds: the results store skips cells whose key
is already done, which is how an interrupted sweep resumes.

Example:
    >>> cell = Cell("count-depth", 1, {"family": "sawtooth", "depth": 3}, (0,))
    >>> cell.key == Cell("count-depth", 1, {"depth": 3, "family": "sawtooth"}, (0,)).key
    True
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from bends.errors import BendsError
from bends.nets import Network
from bends.runner.config import StudyConfig
from bends.runner.figures import Figures

#: Values allowed in cell parameters and metric rows (they are stored as JSON).
Scalar = int | float | str | bool | None


@dataclass(frozen=True)
class Cell:
    """One unit of work: a parameter point of a study and the seeds it runs."""

    study: str
    version: int
    params: Mapping[str, Any]
    seeds: tuple[int, ...]

    @property
    def key(self) -> str:
        """A stable hash of everything that determines the cell's numbers."""
        payload = json.dumps(
            [self.study, self.version, dict(self.params), list(self.seeds)], sort_keys=True
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Curve:
    """A sequence of numbers recorded by one seed of a cell (e.g. loss per epoch)."""

    name: str
    seed: int
    values: np.ndarray


@dataclass(frozen=True)
class SavedNetwork:
    """A network a cell keeps for its report (e.g. the trained one of a seed), stored in the
    ``bends-network`` JSON format."""

    name: str
    seed: int
    network: Network


@dataclass
class CellResult:
    """What a cell computed: metric rows (dicts of scalars), curves and networks."""

    rows: list[dict[str, Scalar]] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)
    networks: list[SavedNetwork] = field(default_factory=list)


@dataclass(frozen=True)
class StoredCell:
    """A cell as read back from the results store."""

    key: str
    params: dict[str, Any]
    seeds: tuple[int, ...]
    status: str
    seconds: float | None
    error: str | None
    rows: list[dict[str, Scalar]]
    curves: list[Curve]
    networks: list[SavedNetwork] = field(default_factory=list)

    def network(self, seed: int, name: str = "trained") -> Network:
        """The network ``name`` this cell saved for ``seed``."""
        for saved in self.networks:
            if (saved.name, saved.seed) == (name, seed):
                return saved.network
        raise BendsError(
            f"cell {self.key} saved no {name!r} network for seed {seed} (results stored by an "
            "older bends: rerun with --fresh)"
        )


class Study(ABC):
    """A registered study; subclasses set the class attributes and the three methods."""

    name: ClassVar[str]
    summary: ClassVar[str]
    version: ClassVar[int] = 1
    Config: ClassVar[type[StudyConfig]]
    #: Settings of the small version that ``bends demo`` runs (None: not in the demo).
    demo: ClassVar[dict[str, Any] | None] = None
    #: The user guide page (relative to docs/).
    guide: ClassVar[str] = ""

    def cell(self, params: Mapping[str, Any], seeds: tuple[int, ...]) -> Cell:
        """A cell of this study."""
        return Cell(self.name, self.version, dict(params), tuple(seeds))

    @abstractmethod
    def cells(self, config: Any) -> list[Cell]:
        """Expand validated settings into cells."""

    @abstractmethod
    def run_cell(self, cell: Cell) -> CellResult:
        """Compute one cell; a pure function of ``cell``."""

    @abstractmethod
    def report(self, config: Any, results: list[StoredCell], figures: Figures) -> str:
        """Markdown body of the study's report from its stored results."""


def run_in_memory(study: Study, config: StudyConfig) -> list[StoredCell]:
    """Every cell of ``config`` computed in this process, in order, as a store would return
    them (no files; for notebooks and tests). ``bends run`` is the resumable way.

    Example:
        >>> from bends.studies import get_study
        >>> study = get_study("selfcheck")
        >>> cells = run_in_memory(study, study.Config(seeds=2, seeds_per_cell=1))
        >>> [cell.rows[0]["seed"] for cell in cells]
        [0, 1]
    """
    stored = []
    for cell in study.cells(config):
        result = study.run_cell(cell)
        stored.append(
            StoredCell(
                cell.key,
                dict(cell.params),
                cell.seeds,
                "done",
                0.0,
                None,
                result.rows,
                result.curves,
                result.networks,
            )
        )
    return stored


def curves(
    results: Iterable[StoredCell], name: str, where: Mapping[str, Any] | None = None
) -> Iterator[tuple[StoredCell, Curve]]:
    """Every stored curve called ``name``, with its cell, of the cells whose parameters
    include ``where``."""
    for cell in results:
        if all(cell.params.get(k) == v for k, v in (where or {}).items()):
            for curve in cell.curves:
                if curve.name == name:
                    yield cell, curve
