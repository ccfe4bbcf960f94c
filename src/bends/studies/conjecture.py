r"""Study ``conjecture``: do trained tied ReLU RNNs have exponentially many pieces in k?

The conjecture (rnn-affine-pieces-conjecture.txt): for some finite data set, W with standard
normal entries trained by gradient flow on the squared loss of
:math:`f_k(W, x) = ((\mathrm{ReLU}\circ W)^k x)_0` has, in expectation, a number of affine
pieces exponential in k.

Each seed draws :math:`W_0 \sim N(0, 1)^{w\times w}` from its own seed — the *same* W₀ for
every k, so the k-sweep is paired — and trains it on a data set of
:data:`bends.training.tied.DATASETS` (each on its construction's line, with the construction's
W* beside it) by the flow followed to its end (:func:`bends.training.flows.follow_flow`),
SciPy's Runge–Kutta flow, GD or Adam. The cells are data set × width × k (× placement × n:
sweeping those is the search over data sets). Pieces of :math:`f_k(W_0, \cdot)` and of the
trained :math:`f_k(W, \cdot)` are counted exactly on the data's range of t and on a wider
window; a count over the tracer's memory budget is recorded as censored.

The report gives, per data set and width, L(W*), how the runs ended, E[pieces] over all runs
and over the runs live at initialisation with bootstrap intervals, their distribution, the
growth laws by AIC, the exponential rate with a paired bootstrap interval over all k and over
the upper half of k (an exponential law keeps its rate there, a power law's falls), and the
data sets ranked by E[pieces | live] at the largest k.

Example:
    >>> study = Conjecture()
    >>> config = study.Config(steps=(2,), widths=(7,), datasets=("staircase",), seeds=2,
    ...                       seeds_per_cell=2, points=(16,), max_steps=50)
    >>> rows = study.run_cell(study.cells(config)[0]).rows
    >>> [row["k"] for row in rows], all(row["pieces"] >= 1 for row in rows)
    ([2, 2], True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bends.errors import BendsError
from bends.runner.config import require, setting
from bends.runner.counting import Count, count
from bends.runner.figures import Figures
from bends.runner.grid import grid
from bends.runner.study import Cell, CellResult, Curve, SavedNetwork, StoredCell, Study
from bends.studies._conjecture_report import report
from bends.studies._params import typed
from bends.studies._tied import Training, TrainingSettings, train_runs
from bends.training.tied import (
    DATASETS,
    TiedProblem,
    dataset_problem,
    outputs,
    tied_construction,
)


@dataclass(frozen=True)
class ConjectureConfig(TrainingSettings):
    trainer: Literal["flow", "limit", "gd", "adam"] = setting(
        "limit", "the flow followed to its end (limit), gradient flow (SciPy RK), GD or Adam"
    )
    widths: tuple[int, ...] = setting(
        (4, 7), "widths w of W (10 with n = 4w² costs ~3x all of 4 and 7)", at_least=2
    )
    steps: tuple[int, ...] = setting((1, 2, 4, 8, 12, 16, 24, 32), "steps k", at_least=1)
    seeds: int = setting(32, "W₀ per k (seed s gives the same W₀ for every k)")
    seeds_per_cell: int = setting(16, "runs per cell")
    datasets: tuple[str, ...] = setting(
        tuple(DATASETS), "data sets on their lines, with their known solutions W*: staircase "
        "(F_{k−1}), cantor, candidate, parabola, control (none known); custom: target, "
        "origin, direction. A data set needs the width of its W* (staircase, cantor, "
        "candidate: 7; parabola: 4); narrower cells are left out",
    )  # fmt: skip
    target: str = setting("cantor", "custom: cantor, cantor-J, parabola, candidate or a CSV file")
    points: tuple[int, ...] = setting(
        (), "data points n (several: a search); none: n = data_scale·w² at each width",
        at_least=1,
    )  # fmt: skip
    data_scale: float = setting(
        4.0, "with no points given, n = data_scale·w² (the blog's n ≫ w²)", above=0
    )
    placements: tuple[str, ...] = setting(("uniform",), "where the t_i lie: uniform, random, "
                                          "avoid (several: a search)")  # fmt: skip
    data_seed: int = setting(0, "seed of random placements")
    origin: tuple[float, ...] = setting((), "custom: the line's point at t = 0 (default e₁)")
    direction: tuple[float, ...] = setting((), "custom: the line's direction (default e₀)")
    window_low: float = setting(-1.0, "wide window: lowest t")
    window_high: float = setting(2.0, "wide window: highest t")
    checkpoints: int = setting(6, "pieces counted at this many recorded times per run", at_least=2)
    stall_windows: int = setting(
        10, "limit: also stalled after this many still stall checks in a row at flow time ≥ 1 "
            "(0: only when the flow time doubled)", at_least=0)  # fmt: skip

    def validate(self) -> None:
        super().validate()
        for name in self.datasets:
            require(name in (*DATASETS, "custom"),
                    f"data sets are {', '.join(DATASETS)} or custom, got {name!r}")  # fmt: skip
        for placement in self.placements:
            require(placement in ("uniform", "random", "avoid"),
                    f"placements are uniform, random or avoid, got {placement!r}")  # fmt: skip
        require(self.window_low < self.window_high, "need window_low < window_high")
        require(bool(self.combinations()), "no data set fits any of these widths")
        for params in self.combinations():
            if params["dataset"] == "custom":
                for name in ("origin", "direction"):
                    given = getattr(self, name)
                    require(len(given) in (0, params["width"]),
                            f"{name} needs {params['width']} coordinates")  # fmt: skip
            line_problem(
                typed(Params, {**params, "k": 1})
            )  # a bad target, CSV file or line fails here

    def combinations(self) -> list[dict]:
        """The (data set, width, placement, n) combinations that can run: a data set with a
        known W* needs at least W*'s width (the same W* at every k, zero-padded)."""
        return [
            {"dataset": d, "width": w, "placement": placement, "points": n, **self.fixed(
                "steps", "widths", "datasets", "points", "placements", "data_scale")}
            for d in self.datasets for w in sorted(self.widths, reverse=True)
            for placement in self.placements
            for n in (self.points or (int(np.ceil(self.data_scale * w * w)),))
            if w >= solution_width(d)
        ]  # fmt: skip


def solution_width(dataset: str) -> int:
    """The smallest width whose W* fits ``dataset`` (2 where none is known)."""
    construction = DATASETS.get(dataset, (None, None))[1]
    return 2 if construction is None else tied_construction(f"{construction}-1").width


@dataclass(frozen=True)
class Params:
    """What a cell's science reads of its parameters (training settings: :mod:`._tied`)."""

    dataset: str
    width: int
    placement: str
    points: int
    k: int
    target: str
    data_seed: int
    origin: Sequence[float]
    direction: Sequence[float]
    window_low: float
    window_high: float
    checkpoints: int
    loss_threshold: float


def line_problem(p: Params) -> TiedProblem:
    """The data set of a cell on its line, for ``p.k`` steps."""
    return solved_problem(p)[0]


def solved_problem(p: Params) -> tuple[TiedProblem, np.ndarray | None]:
    """The data set of a cell for ``p.k`` steps and its known solution W* (None: none known,
    or a custom data set)."""
    if p.dataset != "custom":
        return dataset_problem(p.dataset, p.width, p.k, p.points, p.placement, p.data_seed)
    problem = TiedProblem.from_target(
        p.target, p.width, p.k, p.points, p.placement, p.data_seed,
        p.origin or None, p.direction or None,
    )  # fmt: skip
    return problem, None


class Conjecture(Study):
    name = "conjecture"
    summary = "pieces of gradient-flow-trained tied ReLU RNNs vs steps k, against initialisation"
    Config = ConjectureConfig
    guide = "studies/conjecture.md"
    version = 5  # 4: sliding, n = 4w², 30,000 steps; 5: stalled after 10 still checks in a row
    demo = {"steps": [1, 2, 4, 8], "seeds": 8, "seeds_per_cell": 8,  # noqa: RUF012
            "widths": [7], "datasets": ["staircase", "control"], "points": [32],
            "max_steps": 2000}  # fmt: skip

    def cells(self, config: ConjectureConfig) -> list[Cell]:
        ks = sorted(set(config.steps), reverse=True)  # longest first: workers finish together
        return [
            cell
            for shared in config.combinations()
            for cell in grid(self, {"k": ks}, config.seed_groups(), shared)
        ]

    def run_cell(self, cell: Cell) -> CellResult:
        p = typed(Params, cell.params)
        problem, solution = solved_problem(p)
        loss_solution = None if solution is None else float(problem.losses(solution))
        starts = np.array(
            [np.random.default_rng(s).standard_normal((p.width, p.width)) for s in cell.seeds]
        )
        wide = problem.segment(p.window_low, p.window_high)
        result = CellResult()
        data = {"dataset": p.dataset, "width": p.width, "placement": p.placement,
                "points": p.points}  # fmt: skip
        runs = train_runs(problem, starts, typed(Training, cell.params))
        for seed, start, run in zip(cell.seeds, starts, runs, strict=True):
            first, last = problem.network(start), problem.network(run.weight)
            counts = [_count(first), _count(last), _count(first, *wide), _count(last, *wide)]
            marks = np.unique(np.linspace(0, len(run.times) - 1, p.checkpoints).astype(int))
            result.rows.append(
                {
                    **data,
                    "k": p.k,
                    "seed": seed,
                    "loss_solution": loss_solution,
                    "live_init": bool(np.any(outputs(start, problem.inputs, p.k) != 0)),
                    "loss_init": float(run.losses[0]),
                    "loss": float(run.loss),
                    "zero_loss": bool(run.loss < p.loss_threshold),
                    "dead": not np.any(outputs(run.weight, problem.inputs, p.k) != 0),
                    "stopped": run.stopped,
                    "evaluations": int(run.evaluations),
                    "train_time": float(run.times[-1]),
                    "pieces_init": counts[0].pieces,
                    "pieces": counts[1].pieces,
                    "wide_pieces_init": counts[2].pieces,
                    "wide_pieces": counts[3].pieces,
                    "censored": any(c.pieces < 0 for c in counts),
                    "resolved": all(c.resolved for c in counts),
                }
            )
            checkpoints = [_count(problem.network(run.weights[m])).pieces for m in marks]
            result.curves += [
                Curve("loss", seed, run.losses),
                Curve("loss_time", seed, run.times),
                Curve("pieces", seed, np.array(checkpoints)),
                Curve("pieces_time", seed, run.times[marks]),
            ]
            result.networks.append(SavedNetwork("trained", seed, last))
        return result

    def report(self, config: ConjectureConfig, results: list[StoredCell], figures: Figures) -> str:
        return report(config, results, figures)


def _count(net, *segment) -> Count:
    """:func:`count`, or pieces −1 (censored) where the trace exceeds the memory budget (near
    the staircase's W* at k = 32, 2³² − 1 pieces)."""
    try:
        return count(net, *segment)
    except BendsError:
        return Count(-1, -1, True)
