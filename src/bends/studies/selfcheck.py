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

from bends.nets.random import random_rnn
from bends.runner.config import StudyConfig, require, setting
from bends.runner.report import Figures, markdown_table
from bends.runner.study import Cell, CellResult, Curve, StoredCell, Study
from bends.tracing import trace


@dataclass(frozen=True)
class SelfCheckConfig(StudyConfig):
    seeds: int = setting(8, "number of random seeds")
    seeds_per_cell: int = setting(1, "seeds run together in one cell")
    steps: int = setting(12, "steps of each random tied RNN")
    delay: float = setting(0.0, "seconds to sleep per seed (for interruption tests)")
    crash_marker: str = setting("", "directory: each cell's first attempt kills its process")

    def validate(self) -> None:
        super().validate()
        require(self.steps >= 1, "steps must be at least 1")
        require(self.delay >= 0, "delay must be non-negative")


class SelfCheck(Study):
    name = "selfcheck"
    summary = "platform self-check: seeded random tied RNNs and random walks"
    Config = SelfCheckConfig

    def cells(self, config: SelfCheckConfig) -> list[Cell]:
        params = {"steps": config.steps, "delay": config.delay, "crash": config.crash_marker}
        return [self.cell(params, group) for group in config.seed_groups()]

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
        import matplotlib.pyplot as plt

        rows = sorted((r for cell in results for r in cell.rows), key=lambda r: r["seed"])
        table = markdown_table(
            ["seed", "pieces", "walk end"], [[r["seed"], r["pieces"], r["walk_end"]] for r in rows]
        )
        figure, ax = plt.subplots(figsize=(5, 3))
        for cell in results:
            for curve in cell.curves:
                ax.plot(curve.values, lw=1, label=f"seed {curve.seed}")
        ax.set(xlabel="step", ylabel="random walk", title="selfcheck curves")
        return f"{table}\n\n{figures.add(figure, 'walks', 'Random walks, one per seed')}"
