"""Study ``selfcheck``: cheap, seeded cells that check a backend computes what the others do.

Each seed draws a random tied RNN (width 4, ``steps`` steps) and a random walk of 32 steps;
its row holds the RNN's exact pieces and the walk's end, its curve the walk. Run it on a new
cluster (``bends run selfcheck --backend ray --address HOST:PORT``) and compare with a local
run: the stored numbers must be identical.

Two settings exist for testing the platform itself: ``delay`` (seconds of sleep per seed, so
a sweep can be interrupted midway) and ``crash_marker`` (a directory: the first attempt of
every cell kills its own process, as a lost machine would, and leaves a marker there so the
retry succeeds).

Example:
    >>> study = SelfCheck()
    >>> cell = study.cells(study.Config(seeds=1))[0]
    >>> study.run_cell(cell).rows[0]["pieces"] > 0
    True
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bends.errors import BendsError
from bends.nets.random import random_rnn
from bends.runner.config import StudyConfig, setting
from bends.runner.figures import Figures, new_figure
from bends.runner.grid import grid
from bends.runner.study import Cell, CellResult, Curve, StoredCell, Study, curves
from bends.runner.summaries import rows_of, table
from bends.tracing import trace


@dataclass(frozen=True)
class SelfCheckConfig(StudyConfig):
    seeds: int = setting(8, "number of random seeds")
    seeds_per_cell: int = setting(1, "seeds run together in one cell")
    steps: int = setting(12, "steps of each random tied RNN", at_least=1, at_most=10**6)
    delay: float = setting(
        0.0, "seconds to sleep per seed (for interruption tests)", at_least=0, at_most=3600
    )
    crash_marker: str = setting("", "directory: each cell's first attempt kills its process")

    def validate(self) -> None:
        super().validate()
        if self.crash_marker:  # made now, so that a path no cell can write is refused here
            try:
                Path(self.crash_marker).mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise BendsError(
                    f"crash_marker {self.crash_marker}: cannot make that directory ({err.strerror})"
                ) from None
            if not os.access(self.crash_marker, os.W_OK):
                raise BendsError(f"crash_marker {self.crash_marker}: not writable")


class SelfCheck(Study):
    name = "selfcheck"
    summary = "platform self-check: seeded random tied RNNs and random walks"
    Config = SelfCheckConfig

    def cells(self, config: SelfCheckConfig) -> list[Cell]:
        params = {"steps": config.steps, "delay": config.delay, "crash": config.crash_marker}
        return grid(self, {}, config.seed_groups(), params)

    def run_cell(self, cell: Cell) -> CellResult:
        if cell.params["crash"]:
            marker = Path(cell.params["crash"]) / cell.key
            if not marker.exists():
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
                os._exit(1)  # a lost worker: no exception, no cleanup
        result = CellResult()
        for seed in cell.seeds:
            time.sleep(cell.params["delay"])
            rng = np.random.default_rng(seed)
            pieces = trace(random_rnn(4, cell.params["steps"], rng)).pieces
            walk = np.cumsum(rng.standard_normal(32))
            result.rows.append({"seed": seed, "pieces": pieces, "walk_end": float(walk[-1])})
            result.curves.append(Curve("walk", seed, walk))
        return result

    def report(self, config: SelfCheckConfig, results: list[StoredCell], figures: Figures) -> str:
        figure, ax = new_figure(figsize=(5, 3), layout="constrained")
        for _, curve in curves(results, "walk"):
            ax.plot(curve.values, lw=1, label=f"seed {curve.seed}")
        ax.set(xlabel="step", ylabel="random walk", title="selfcheck curves")
        columns = {"pieces": "pieces", "walk end": "walk_end"}
        walks = figures.add(figure, "walks", "Random walks, one per seed")
        return f"{table(rows_of(results), ['seed'], columns)}\n\n{walks}"
